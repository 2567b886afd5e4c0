// compaction_test.cc -- the decisions of a compaction round, without I/O.
//
// Method: a segment is built in memory from real records (spool_format's encoders). The
// test plays the engine's part: it answers each read of reads() by copying bytes out of
// that segment (or a short read, an error, a damaged byte), then plays the shard's answers
// (where the message is now, statuses or an administrator's command in flight) and the
// writer's (a copy durable or not). Time is the now_ms passed in: the pinned head's retry
// is crossed by moving a number, not by waiting.
#include "spool/compaction.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "spool/test_messages.h"

namespace hub::spool {
namespace {

constexpr std::uint32_t head_seq = 3;
constexpr std::uint64_t t0 = 1'700'000'000'000;

QueueId qid(std::uint32_t n) {
    return QueueId{0, head_seq, n};
}

CompactionPlan plan_of(std::uint32_t live, std::uint64_t live_bytes = 1000) {
    return CompactionPlan{head_seq, live, live_bytes, 10 * live_bytes};
}

// A message of `bytes` at `offset` of the head (for decisions that read nothing).
CompactionCandidate sized(std::uint32_t n, std::uint64_t offset, std::uint64_t bytes,
                          bool statuses_pending = false) {
    CompactionCandidate candidate;
    candidate.id = qid(n);
    candidate.location = RecordLocation{head_seq, offset, bytes};
    candidate.statuses_pending = statuses_pending;
    return candidate;
}

std::vector<QueueId> ids_of(const Compaction& compaction) {
    std::vector<QueueId> ids;
    for (const CompactionCopy& copy : compaction.copies()) {
        ids.push_back(copy.id);
    }
    return ids;
}

// The head segment as bytes, with the messages appended to it.
struct Segment {
    std::string bytes;

    CompactionCandidate message(std::uint32_t n) {
        std::uint64_t at = bytes.size();
        append_message_record(testing::sample_meta(qid(n), static_cast<int>(n)),
                              testing::sample_received(static_cast<int>(n)),
                              testing::sample_body(static_cast<int>(n)), bytes);
        CompactionCandidate candidate;
        candidate.id = qid(n);
        candidate.location = RecordLocation{head_seq, at, bytes.size() - at};
        return candidate;
    }

    CompactionCandidate streamed(std::uint32_t n, std::vector<std::string> contents) {
        StreamedMessageEncoder encoder(qid(n));
        CompactionCandidate candidate;
        candidate.id = qid(n);
        for (const std::string& content : contents) {
            std::uint64_t at = bytes.size();
            encoder.append_slice(content, bytes);
            candidate.slices.push_back(SliceExtent{
                at, bytes.size() - at, at + record_header_bytes + content_slice_fixed_bytes,
                static_cast<std::uint32_t>(content.size())});
        }
        std::uint64_t at = bytes.size();
        encoder.append_commit(testing::sample_meta(qid(n), static_cast<int>(n)), bytes);
        candidate.location = RecordLocation{head_seq, at, bytes.size() - at};
        return candidate;
    }

    // Answers every read of the round as the ring would, from these bytes.
    std::vector<CopyReadNote> answer_all(Compaction& compaction) const {
        std::vector<CopyReadNote> notes;
        std::vector<CompactionRead> reads(compaction.reads().begin(), compaction.reads().end());
        for (const CompactionRead& read : reads) {
            EXPECT_EQ(read.segment_seq, head_seq);
            std::memcpy(read.into.data(), bytes.data() + read.offset, read.into.size());
            notes.push_back(compaction.read_done(read.copy_index, read.part,
                                                 static_cast<int>(read.into.size())));
        }
        return notes;
    }
};

CompactionSource at(const RecordLocation& location) {
    return CompactionSource{location, false, false};
}

TEST(Compaction, LooksAtAHeadUnlessBusyOrFoundPinnedLately) {
    Compaction compaction;
    std::optional<CompactionPlan> none;
    EXPECT_FALSE(compaction.looks_at(none, t0)) << "no plan: compacting does not pay";
    std::optional<CompactionPlan> plan = plan_of(2);
    EXPECT_TRUE(compaction.looks_at(plan, t0));

    // One live record of the two is not a message the shard holds: pinned.
    std::vector<CompactionCandidate> held = {sized(1, 0, 64)};
    RoundStartNote note = compaction.begin(plan, held, t0);
    EXPECT_EQ(note.start, RoundStart::pinned);
    EXPECT_EQ(note.held, 1u);
    EXPECT_FALSE(compaction.busy());
    EXPECT_TRUE(compaction.copies().empty()) << "nothing of a pinned head is read";

    struct Row {
        const char* name;
        std::uint32_t seq;
        std::uint64_t now_ms;
        bool looks;
    };
    const Row rows[] = {
        {"just after", head_seq, t0 + 1, false},
        {"a millisecond before the retry", head_seq, t0 + compaction_pinned_head_retry_ms - 1,
         false},
        {"at the retry", head_seq, t0 + compaction_pinned_head_retry_ms, true},
        {"another head at once", head_seq + 1, t0 + 1, true},
    };
    for (const Row& row : rows) {
        std::optional<CompactionPlan> other = plan_of(2);
        other->seq = row.seq;
        EXPECT_EQ(compaction.looks_at(other, row.now_ms), row.looks) << row.name;
    }
    RoundStartNote again = compaction.begin(plan, held, t0 + 5);
    EXPECT_EQ(again.start, RoundStart::pinned) << "still within the retry time";
}

TEST(Compaction, BeginDecidesFromWhatTheShardHolds) {
    struct Row {
        const char* name;
        bool plan;
        std::uint32_t plan_live;
        std::vector<bool> statuses_pending;  // One held message each.
        RoundStart start;
        std::uint32_t copies;
    };
    const std::vector<Row> rows = {
        {"no plan", false, 0, {}, RoundStart::no_plan, 0},
        {"every live record held", true, 3, {false, false, false}, RoundStart::started, 3},
        {"one live record not held", true, 3, {false, false}, RoundStart::pinned, 0},
        {"more held than the ledger counts", true, 1, {false, false}, RoundStart::pinned, 0},
        {"some wait for their statuses", true, 3, {true, false, true}, RoundStart::started, 1},
        {"all wait for their statuses", true, 2, {true, true}, RoundStart::waiting_for_statuses, 0},
        {"pinned although some wait", true, 3, {true, false}, RoundStart::pinned, 0},
    };
    for (const Row& row : rows) {
        Compaction compaction;
        std::vector<CompactionCandidate> held;
        for (std::uint32_t i = 0; i < row.statuses_pending.size(); i++) {
            held.push_back(sized(i, i * 64, 64, row.statuses_pending[i]));
        }
        std::optional<CompactionPlan> plan;
        if (row.plan) {
            plan = plan_of(row.plan_live);
        }
        RoundStartNote note = compaction.begin(plan, held, t0);
        EXPECT_EQ(note.start, row.start) << row.name;
        EXPECT_EQ(note.copies, row.copies) << row.name;
        EXPECT_EQ(compaction.copies().size(), row.copies) << row.name;
        EXPECT_EQ(compaction.busy(), row.start == RoundStart::started) << row.name;
        for (const CompactionCopy& copy : compaction.copies()) {
            EXPECT_FALSE(row.statuses_pending[copy.id.ordinal]) << row.name;
        }
    }
}

TEST(Compaction, ARoundIsBoundedInMessagesAndBytes) {
    struct Row {
        const char* name;
        std::vector<std::uint64_t> sizes;  // Message n has sizes[n] bytes.
        std::vector<std::uint32_t> taken;
    };
    // Small limits, so that the bounds show with small messages.
    const CompactionLimits limits{3, 1000, compaction_pinned_head_retry_ms};
    const std::vector<Row> rows = {
        {"the message bound", {100, 100, 100, 100}, {0, 1, 2}},
        {"a later smaller one still fits", {600, 600, 300}, {0, 2}},
        {"exactly the byte bound", {500, 500, 8}, {0, 1}},
        {"the first one whatever its size", {5000, 100}, {0}},
        {"one too large for the rest", {100, 5000, 100}, {0, 2}},
    };
    for (const Row& row : rows) {
        Compaction compaction(limits);
        std::vector<CompactionCandidate> held;
        std::uint64_t offset = 0;
        for (std::uint32_t i = 0; i < row.sizes.size(); i++) {
            held.push_back(sized(i, offset, row.sizes[i]));
            offset += row.sizes[i];
        }
        RoundStartNote note =
            compaction.begin(plan_of(static_cast<std::uint32_t>(held.size())), held, t0);
        ASSERT_EQ(note.start, RoundStart::started) << row.name;
        std::vector<QueueId> expected;
        std::uint64_t bytes = 0;
        for (std::uint32_t n : row.taken) {
            expected.push_back(qid(n));
            bytes += row.sizes[n];
        }
        EXPECT_EQ(ids_of(compaction), expected) << row.name;
        EXPECT_EQ(note.copy_bytes, bytes) << row.name;
    }
}

TEST(Compaction, TheRealLimitsBoundARound) {
    Compaction compaction;
    std::vector<CompactionCandidate> held;
    for (std::uint32_t i = 0; i < compaction_round_messages_max + 10; i++) {
        held.push_back(sized(i, i * 64, 64));
    }
    RoundStartNote note =
        compaction.begin(plan_of(static_cast<std::uint32_t>(held.size())), held, t0);
    ASSERT_EQ(note.start, RoundStart::started);
    EXPECT_EQ(note.copies, compaction_round_messages_max);
    EXPECT_EQ(compaction.reads().size(), compaction_round_messages_max);
}

// Answers the stream copy's next read from the segment's bytes; returns the read.
CompactionRead answer_stream_read(Compaction& compaction, const Segment& segment,
                                  int result_delta = 0) {
    CompactionRead read = compaction.stream_read();
    EXPECT_EQ(read.copy_index, stream_copy_index);
    EXPECT_EQ(read.segment_seq, head_seq);
    std::memcpy(read.into.data(), segment.bytes.data() + read.offset, read.into.size());
    EXPECT_TRUE(compaction.stream_read_done(static_cast<int>(read.into.size()) + result_delta));
    return read;
}

TEST(Compaction, AStreamedMessageIsCopiedOneRecordAtATime) {
    Segment segment;
    CompactionCandidate plain = segment.message(0);
    CompactionCandidate streamed = segment.streamed(1, {"first slice\r\n", "second\r\n", "x"});
    CompactionCandidate streamed_too = segment.streamed(2, {"another"});
    std::vector<CompactionCandidate> held = {plain, streamed, streamed_too};
    Compaction compaction;
    RoundStartNote note = compaction.begin(plan_of(3), held, t0);
    ASSERT_EQ(note.start, RoundStart::started);
    EXPECT_EQ(note.copies, 2u) << "one streamed message per round";

    // The message record is read whole, as before; the streamed one is not in copies().
    ASSERT_EQ(compaction.copies().size(), 1u);
    ASSERT_EQ(compaction.reads().size(), 1u);
    EXPECT_EQ(compaction.reads()[0].offset, plain.location.offset);
    const StreamCopy* stream = compaction.stream();
    ASSERT_NE(stream, nullptr);
    std::uint64_t stored = streamed.location.bytes;
    for (const SliceExtent& slice : streamed.slices) {
        stored += slice.record_bytes;
    }
    EXPECT_EQ(stream->id, qid(1));
    EXPECT_EQ(stream->from.offset, streamed.location.offset) << "named by its commit's place";
    EXPECT_EQ(stream->from.bytes, stored) << "and pinning its slices too";
    EXPECT_EQ(stream->commit_bytes, streamed.location.bytes);

    // Each slice: one read into the one buffer, then the writer takes it; the next read
    // only once the writer no longer holds it.
    for (std::uint32_t part = 0; part < 3; part++) {
        CompactionRead read = answer_stream_read(compaction, segment);
        EXPECT_EQ(read.part, part);
        EXPECT_EQ(read.offset, streamed.slices[part].record_offset);
        EXPECT_EQ(read.into.size(), streamed.slices[part].record_bytes);
        EXPECT_LE(read.into.size(), slice_record_bytes_max);
        EXPECT_EQ(compaction.stream_next(at(stream->from), true),
                  part == 0 ? StreamStep::begin_and_append : StreamStep::append);
        EXPECT_EQ(compaction.take_stream_record(),
                  segment.bytes.substr(read.offset, read.into.size()))
            << "the slice record as it lies";
        EXPECT_EQ(stream->state, StreamCopyState::in_writer);
        EXPECT_TRUE(compaction.stream_slice_ended(false));
    }
    CompactionRead commit = answer_stream_read(compaction, segment);
    EXPECT_EQ(commit.part, 3u);
    EXPECT_EQ(commit.offset, streamed.location.offset);
    EXPECT_EQ(compaction.stream_next(at(stream->from), true), StreamStep::commit);
    EXPECT_EQ(compaction.take_stream_record(),
              segment.bytes.substr(streamed.location.offset, streamed.location.bytes));
    EXPECT_EQ(compaction.copies_in_flight(), 1u);

    // The message record's copy goes too; the round ends once both are reported.
    std::vector<CopyReadNote> notes = segment.answer_all(compaction);
    ASSERT_TRUE(notes.back().all_read);
    EXPECT_TRUE(compaction.queue_copy(0, at(compaction.copies()[0].from)));
    compaction.reads_finished();
    EXPECT_TRUE(compaction.busy());
    RecordLocation from = stream->from;
    EXPECT_EQ(compaction.copy_done(true, from, from), CopyVerdict::moved);
    EXPECT_EQ(compaction.stream()->state, StreamCopyState::ended);
    EXPECT_TRUE(compaction.busy()) << "the message record's copy is still in flight";
    EXPECT_EQ(compaction.copy_done(true, plain.location, plain.location), CopyVerdict::moved);
    EXPECT_FALSE(compaction.busy());
    EXPECT_EQ(compaction.copied(), 2u);
}

TEST(Compaction, AStreamedMessageCountsInTheRoundsBounds) {
    Segment segment;
    CompactionCandidate streamed = segment.streamed(0, {"slice"});
    CompactionCandidate first = segment.message(1);
    CompactionCandidate second = segment.message(2);
    std::vector<CompactionCandidate> held = {streamed, first, second};
    // Two messages a round: the streamed one and the first record. Its commit counts in
    // the round's bytes, its slices do not (they are read one at a time).
    const std::uint64_t bytes = streamed.location.bytes + first.location.bytes;
    Compaction compaction(CompactionLimits{2, bytes, compaction_pinned_head_retry_ms});
    RoundStartNote note = compaction.begin(plan_of(3), held, t0);
    ASSERT_EQ(note.start, RoundStart::started);
    EXPECT_EQ(note.copies, 2u);
    ASSERT_NE(compaction.stream(), nullptr);
    EXPECT_EQ(ids_of(compaction), std::vector<QueueId>{qid(1)});
}

TEST(Compaction, AStreamedMessageAloneMakesARound) {
    Segment segment;
    CompactionCandidate streamed = segment.streamed(1, {"only"});
    std::vector<CompactionCandidate> held = {streamed};
    Compaction compaction;
    ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started);
    EXPECT_TRUE(compaction.reads().empty());
    compaction.reads_finished();
    EXPECT_TRUE(compaction.busy()) << "its stream copy is still to come";
    answer_stream_read(compaction, segment);
    EXPECT_EQ(compaction.stream_next(at(streamed.location), true), StreamStep::begin_and_append);
    compaction.take_stream_record();
    EXPECT_TRUE(compaction.stream_slice_ended(false));
    answer_stream_read(compaction, segment);
    EXPECT_EQ(compaction.stream_next(at(streamed.location), true), StreamStep::commit);
    compaction.take_stream_record();
    EXPECT_TRUE(compaction.busy());
    RecordLocation from = compaction.stream()->from;
    EXPECT_EQ(compaction.copy_done(false, from, from), CopyVerdict::not_copied)
        << "a commit that did not become durable moves nothing";
    EXPECT_FALSE(compaction.busy());
    EXPECT_EQ(compaction.copied(), 0u);
}

// A copy that cannot complete is abandoned at the step where that shows; the original
// stays (nothing was queued as a copy, nothing is released) and the round ends.
TEST(Compaction, AStreamCopyThatCannotCompleteIsAbandoned) {
    enum class Event { finished, moved, statuses_pending, admin_pending, no_room, batch_failed };
    struct Row {
        const char* name;
        std::uint32_t at_part;  // The record at which it happens (2: the commit).
        Event event;
        bool begun;  // The writer's copy stream was begun (abandon it).
    };
    const Row rows[] = {
        {"finished before the first slice", 0, Event::finished, false},
        {"finished between slices", 1, Event::finished, true},
        {"finished before the commit", 2, Event::finished, true},
        {"moved meanwhile", 1, Event::moved, true},
        {"a status in flight", 1, Event::statuses_pending, true},
        {"a status in flight at the commit", 2, Event::statuses_pending, true},
        {"an administrator's command in flight", 2, Event::admin_pending, true},
        {"no room for a stream in the append segment", 0, Event::no_room, false},
        {"a failed batch lost the first slice", 0, Event::batch_failed, true},
        {"a failed batch lost the second slice", 1, Event::batch_failed, true},
    };
    for (const Row& row : rows) {
        Segment segment;
        CompactionCandidate streamed = segment.streamed(1, {"abcdefgh", "ijklmnop"});
        std::vector<CompactionCandidate> held = {streamed};
        Compaction compaction;
        ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started) << row.name;
        compaction.reads_finished();
        RecordLocation from = compaction.stream()->from;
        bool abandoned = false;
        for (std::uint32_t part = 0; part <= 2 && !abandoned; part++) {
            answer_stream_read(compaction, segment);
            std::optional<CompactionSource> now = at(from);
            bool may_begin = true;
            if (part == row.at_part) {
                switch (row.event) {
                    case Event::finished:
                        now.reset();
                        break;
                    case Event::moved:
                        now->location.offset += 64;
                        break;
                    case Event::statuses_pending:
                        now->statuses_pending = true;
                        break;
                    case Event::admin_pending:
                        now->admin_pending = true;
                        break;
                    case Event::no_room:
                        may_begin = false;
                        break;
                    case Event::batch_failed:
                        break;
                }
            }
            StreamStep step = compaction.stream_next(now, may_begin);
            if (step == StreamStep::abandon) {
                abandoned = true;
                break;
            }
            ASSERT_NE(step, StreamStep::commit) << row.name << ": every case ends earlier";
            compaction.take_stream_record();
            bool broken = part == row.at_part && row.event == Event::batch_failed;
            abandoned = !compaction.stream_slice_ended(broken);
        }
        EXPECT_TRUE(abandoned) << row.name;
        EXPECT_EQ(compaction.stream()->begun, row.begun) << row.name;
        EXPECT_EQ(compaction.stream()->state, StreamCopyState::ended) << row.name;
        EXPECT_TRUE(compaction.stream()->record.empty()) << row.name << ": its buffer goes";
        EXPECT_EQ(compaction.copies_in_flight(), 0u) << row.name;
        EXPECT_FALSE(compaction.busy()) << row.name;
        EXPECT_EQ(compaction.begin(plan_of(1), held, t0 + 1).start, RoundStart::started)
            << row.name << ": the next round tries again";
    }
}

TEST(Compaction, AStreamCopyEndsEarlyWhenAskedBetweenItsRecords) {
    for (bool after_first_slice : {false, true}) {
        Segment segment;
        CompactionCandidate streamed = segment.streamed(1, {"abcdefgh", "ijklmnop"});
        std::vector<CompactionCandidate> held = {streamed};
        Compaction compaction;
        ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started);
        compaction.reads_finished();
        answer_stream_read(compaction, segment);
        if (after_first_slice) {
            ASSERT_EQ(compaction.stream_next(at(streamed.location), true),
                      StreamStep::begin_and_append);
            compaction.take_stream_record();
        }
        EXPECT_EQ(compaction.abandon_stream(), after_first_slice)
            << "the writer's copy stream is abandoned only if it was begun";
        EXPECT_EQ(compaction.stream()->state, StreamCopyState::ended);
        EXPECT_FALSE(compaction.busy());
        EXPECT_EQ(compaction.copies_in_flight(), 0u);
    }
}

TEST(Compaction, ARecordReadBackIsCheckedAgain) {
    enum class Fault { none, short_read, error, flipped_byte, another_message, slices_swapped };
    struct Row {
        const char* name;
        bool streamed;
        Fault fault;
    };
    const Row rows[] = {
        {"message read back whole", false, Fault::none},
        {"message: a short read", false, Fault::short_read},
        {"message: a read error", false, Fault::error},
        {"message: a damaged byte", false, Fault::flipped_byte},
        {"message: another message's record", false, Fault::another_message},
        {"streamed read back whole", true, Fault::none},
        {"streamed: a short read", true, Fault::short_read},
        {"streamed: a read error", true, Fault::error},
        {"streamed: a damaged byte", true, Fault::flipped_byte},
        {"streamed: slices out of order", true, Fault::slices_swapped},
    };
    for (const Row& row : rows) {
        Segment segment;
        CompactionCandidate other = segment.message(7);
        CompactionCandidate candidate =
            row.streamed ? segment.streamed(1, {"abcdefgh", "ijklmnop"}) : segment.message(1);
        if (row.fault == Fault::another_message) {
            candidate.location = other.location;  // The shard's note points at the wrong one.
        }
        if (row.fault == Fault::slices_swapped) {
            std::swap(candidate.slices[0], candidate.slices[1]);
        }
        Compaction compaction;
        std::vector<CompactionCandidate> held = {candidate};
        ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started) << row.name;
        bool ok = row.fault == Fault::none;
        if (row.streamed) {
            // One record at a time; the fault in the first read ends the copy there.
            compaction.reads_finished();
            bool all_checked = true;
            for (std::uint32_t part = 0; part <= 2; part++) {
                CompactionRead read = compaction.stream_read();
                std::memcpy(read.into.data(), segment.bytes.data() + read.offset, read.into.size());
                int result = static_cast<int>(read.into.size());
                if (part == 0 && row.fault == Fault::short_read) {
                    result -= 8;
                } else if (part == 0 && row.fault == Fault::error) {
                    result = -EIO;
                } else if (part == 0 && row.fault == Fault::flipped_byte) {
                    read.into[read.into.size() / 2] ^= 0x20;
                }
                if (!compaction.stream_read_done(result)) {
                    all_checked = false;
                    break;
                }
                StreamStep step = compaction.stream_next(at(compaction.stream()->from), true);
                compaction.take_stream_record();
                if (step == StreamStep::commit) {
                    break;
                }
                compaction.stream_slice_ended(false);
            }
            EXPECT_EQ(all_checked, ok) << row.name;
            EXPECT_EQ(compaction.copies_in_flight(), ok ? 1u : 0u)
                << row.name << ": a copy not read back whole is never committed";
            continue;
        }
        std::vector<CompactionRead> reads(compaction.reads().begin(), compaction.reads().end());
        CopyReadNote last;
        for (std::size_t i = 0; i < reads.size(); i++) {
            const CompactionRead& read = reads[i];
            std::memcpy(read.into.data(), segment.bytes.data() + read.offset, read.into.size());
            int result = static_cast<int>(read.into.size());
            if (i == 0 && row.fault == Fault::short_read) {
                result -= 8;
            } else if (i == 0 && row.fault == Fault::error) {
                result = -EIO;
            } else if (i == 0 && row.fault == Fault::flipped_byte) {
                read.into[read.into.size() / 2] ^= 0x20;
            }
            last = compaction.read_done(read.copy_index, read.part, result);
            EXPECT_EQ(last.all_read, i + 1 == reads.size()) << row.name;
        }
        EXPECT_EQ(compaction.copies()[0].read_ok, ok) << row.name;
        EXPECT_EQ(last.copy_failed, !ok) << row.name;
        EXPECT_EQ(compaction.queue_copy(0, at(compaction.copies()[0].from)), ok)
            << row.name << ": a copy not read back whole never goes forward";
    }
}

TEST(Compaction, ACopyGoesForwardOnlyIfTheMessageIsStillWhereItWasRead) {
    struct Row {
        const char* name;
        std::optional<CompactionSource> now;  // The message as the shard holds it then.
        bool queued;
    };
    Segment segment;
    segment.message(9);  // Something before it, so that its offset is not 0.
    CompactionCandidate candidate = segment.message(1);
    const RecordLocation read_at = candidate.location;
    auto source = [](RecordLocation location, bool statuses, bool admin) {
        return std::optional<CompactionSource>(CompactionSource{location, statuses, admin});
    };
    const RecordLocation later_in_head{head_seq, read_at.offset + 8, read_at.bytes};
    const RecordLocation in_another{head_seq + 1, read_at.offset, read_at.bytes};
    const std::vector<Row> rows = {
        {"still there", source(read_at, false, false), true},
        {"finished meanwhile", std::nullopt, false},
        {"moved in the same segment", source(later_in_head, false, false), false},
        {"moved to another segment", source(in_another, false, false), false},
        {"status records in flight", source(read_at, true, false), false},
        {"an administrator's command in flight", source(read_at, false, true), false},
    };
    for (const Row& row : rows) {
        Compaction compaction;
        std::vector<CompactionCandidate> held = {candidate};
        ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started);
        segment.answer_all(compaction);
        ASSERT_TRUE(compaction.copies()[0].read_ok) << row.name;
        EXPECT_EQ(compaction.queue_copy(0, row.now), row.queued) << row.name;
        EXPECT_EQ(compaction.copies_in_flight(), row.queued ? 1u : 0u) << row.name;
        compaction.reads_finished();
        EXPECT_TRUE(compaction.copies().empty()) << row.name << ": buffers freed";
        EXPECT_EQ(compaction.busy(), row.queued)
            << row.name << ": a round with no copy queued ends with its reads";
    }
}

TEST(Compaction, ALandedCopyReleasesTheOldRecordsOrItself) {
    enum class Now { at_old_place, finished, moved_elsewhere };
    struct Row {
        const char* name;
        bool durable;
        Now now;  // Where the message is when the writer reports its copy.
        CopyVerdict verdict;
        std::uint32_t copied;
    };
    const Row rows[] = {
        {"durable, still at the old place", true, Now::at_old_place, CopyVerdict::moved, 1},
        {"durable, finished meanwhile", true, Now::finished, CopyVerdict::copy_dead, 1},
        {"durable, moved meanwhile", true, Now::moved_elsewhere, CopyVerdict::copy_dead, 1},
        {"not durable", false, Now::at_old_place, CopyVerdict::not_copied, 0},
        {"not durable, finished meanwhile", false, Now::finished, CopyVerdict::not_copied, 0},
    };
    for (const Row& row : rows) {
        Segment segment;
        std::vector<CompactionCandidate> held = {segment.message(1)};
        Compaction compaction;
        ASSERT_EQ(compaction.begin(plan_of(1), held, t0).start, RoundStart::started);
        segment.answer_all(compaction);
        RecordLocation from = compaction.copies()[0].from;
        ASSERT_TRUE(compaction.queue_copy(0, at(from)));
        compaction.reads_finished();
        EXPECT_TRUE(compaction.busy()) << row.name << ": the copy is in flight";
        std::optional<RecordLocation> now;
        if (row.now == Now::at_old_place) {
            now = held[0].location;
        } else if (row.now == Now::moved_elsewhere) {
            now = RecordLocation{head_seq + 9, 64, from.bytes};
        }
        EXPECT_EQ(compaction.copy_done(row.durable, from, now), row.verdict) << row.name;
        EXPECT_EQ(compaction.copied(), row.copied) << row.name;
        EXPECT_FALSE(compaction.busy()) << row.name << ": the round's last copy ends it";
    }
}

TEST(Compaction, RoundsFollowOneAnother) {
    Segment segment;
    std::vector<CompactionCandidate> held = {segment.message(1), segment.message(2)};
    Compaction compaction;
    std::optional<CompactionPlan> plan = plan_of(2);
    ASSERT_EQ(compaction.begin(plan, held, t0).start, RoundStart::started);
    EXPECT_EQ(compaction.segment_seq(), head_seq);
    EXPECT_FALSE(compaction.looks_at(plan, t0)) << "one round at a time";
    EXPECT_EQ(compaction.begin(plan, held, t0).start, RoundStart::busy);
    segment.answer_all(compaction);
    EXPECT_EQ(compaction.reads_pending(), 0u);
    ASSERT_TRUE(compaction.queue_copy(0, at(compaction.copies()[0].from)));
    ASSERT_TRUE(compaction.queue_copy(1, at(compaction.copies()[1].from)));
    RecordLocation first = compaction.copies()[0].from;
    RecordLocation second = compaction.copies()[1].from;
    compaction.reads_finished();
    EXPECT_EQ(compaction.copy_done(true, first, first), CopyVerdict::moved);
    EXPECT_TRUE(compaction.busy()) << "one copy still in flight";
    EXPECT_EQ(compaction.copy_done(false, second, second), CopyVerdict::not_copied);
    EXPECT_FALSE(compaction.busy());
    EXPECT_EQ(compaction.copied(), 1u);

    // The second message stayed (its copy failed): the next round takes it alone.
    std::vector<CompactionCandidate> left = {held[1]};
    RoundStartNote next = compaction.begin(plan_of(1), left, t0 + 1);
    ASSERT_EQ(next.start, RoundStart::started);
    EXPECT_EQ(ids_of(compaction), std::vector<QueueId>{qid(2)});
    EXPECT_EQ(compaction.copied(), 0u) << "counted per round";
}

TEST(Compaction, ACopyRelocatesAStreamedMessageSlicesFirst) {
    std::vector<SliceExtent> slices = {
        {1000, 96, 1040, 40},
        {1096, 64, 1136, 10},
    };
    // Slices of 96 and 64 bytes then a commit of 200, copied to offset 8192 of segment 9.
    RecordLocation commit = relocate_copy(slices, RecordLocation{9, 8192, 96 + 64 + 200});
    EXPECT_EQ(commit.segment_seq, 9u);
    EXPECT_EQ(commit.offset, 8192u + 96 + 64);
    EXPECT_EQ(commit.bytes, 200u);
    EXPECT_EQ(slices[0].record_offset, 8192u);
    EXPECT_EQ(slices[0].content_offset, 8192u + 40) << "content keeps its place in its record";
    EXPECT_EQ(slices[1].record_offset, 8192u + 96);
    EXPECT_EQ(slices[1].content_offset, 8192u + 96 + 40);
    EXPECT_EQ(slices[1].record_bytes, 64u);
    EXPECT_EQ(slices[1].content_bytes, 10u);

    std::vector<SliceExtent> none;
    RecordLocation record = relocate_copy(none, RecordLocation{9, 64, 312});
    EXPECT_EQ(record.offset, 64u);
    EXPECT_EQ(record.bytes, 312u) << "a message record is the whole copy";
}

TEST(Compaction, ACopyStreamRelocatesToItsSlicesWhereverTheyLanded) {
    std::vector<SliceExtent> slices = {
        {1000, 96, 1040, 40},
        {1096, 64, 1136, 10},
    };
    // A copy stream's slices land batch by batch, other records between them.
    const std::vector<SliceExtent> copied = {
        {8192, 96, 8232, 40},
        {9000, 64, 9040, 10},
    };
    RecordLocation commit = relocate_stream_copy(slices, copied, RecordLocation{9, 12000, 360});
    EXPECT_EQ(commit.segment_seq, 9u);
    EXPECT_EQ(commit.offset, 12000u);
    EXPECT_EQ(commit.bytes, 200u) << "to.bytes counts every record of the copy";
    EXPECT_EQ(slices[0].record_offset, 8192u);
    EXPECT_EQ(slices[1].record_offset, 9000u);
    EXPECT_EQ(slices[1].content_offset, 9040u);
}

}  // namespace
}  // namespace hub::spool
