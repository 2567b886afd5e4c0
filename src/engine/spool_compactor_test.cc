// spool_compactor_test.cc -- compaction rounds carried out on a real ring and a real writer.
//
// Method: a SpoolWriter with segments so small that each message gets one of its own; the
// test plays the shard (a map of the messages it holds, answering CompactionHost's
// questions) and the reactor (completions to the writer or the compactor, take_copies()
// each turn, on_tick() when told). Then spool::recover reads the directory back, as hubd
// does after a crash. The decisions themselves are spool::Compaction's and tested there
// (spool/compaction_test.cc); this checks the I/O around them.
#include "engine/spool_compactor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "engine/spool_test_support.h"
#include "gtest/gtest.h"
#include "spool/limits.h"

namespace hub::engine {
namespace {

constexpr std::uint64_t t0 = 1'000'000;

class SpoolCompactorTest : public SpoolOnRingTest {
protected:
    // The shard's part: the messages it holds, by ordinal, and what it was told.
    struct Held {
        RecordLocation location;
        bool statuses_pending = false;
        std::vector<spool::SliceExtent> slices;  // A streamed message's.
    };
    std::map<std::uint32_t, std::pair<spool::QueueId, Held>> held_;
    std::vector<std::pair<spool::QueueId, RecordLocation>> relocated_;

    CompactionHost host() {
        CompactionHost host;
        host.live_records = [this](std::uint32_t seq,
                                   std::vector<spool::CompactionCandidate>& out) {
            for (const auto& [ordinal, entry] : held_) {
                if (entry.second.location.segment_seq == seq) {
                    out.push_back({entry.first, entry.second.location, entry.second.slices,
                                   entry.second.statuses_pending});
                }
            }
        };
        host.source = [this](const spool::QueueId& id) -> std::optional<spool::CompactionSource> {
            auto entry = held_.find(id.ordinal);
            if (entry == held_.end() || !(entry->second.first == id)) {
                return std::nullopt;
            }
            return spool::CompactionSource{entry->second.second.location,
                                           entry->second.second.statuses_pending, false};
        };
        host.companions = [](const spool::QueueId&, std::vector<StatusNote>&,
                             std::optional<std::uint64_t>&) {};
        host.relocated = [this](const spool::QueueId& id, const RecordLocation& to,
                                std::span<const spool::SliceExtent> copied_slices) {
            relocated_.emplace_back(id, to);
            Held& held = held_.at(id.ordinal).second;
            if (copied_slices.empty()) {
                held.location = spool::relocate_copy(held.slices, to);
            } else {
                held.location = spool::relocate_stream_copy(held.slices, copied_slices, to);
            }
        };
        return host;
    }

    void append(SpoolWriter& writer, std::uint32_t n) {
        spool::MessageMeta meta = test_meta(writer.next_id());
        std::string body =
            "Message-ID: <m" + std::to_string(n) + "@test>\r\n\r\n" + std::string(500, 'x');
        writer.append(meta, "Received: test\r\n", std::move(body), CommitWaiter{n, 1});
    }

    // Runs completions until none arrives for 200 ms, as the reactor would: spool ops to
    // the writer, compact_read to the compactor, then the copies the writer reported.
    void settle(SpoolWriter& writer, SpoolCompactor* compactor,
                std::vector<CommitOutcome>* outcomes = nullptr) {
        settle_ring(
            [&](Tag tag, int result) {
                if (tag.op != Op::compact_read) {
                    writer.on_completion(tag.op, result);
                } else if (compactor == nullptr) {
                    ADD_FAILURE() << "a compaction read with no compactor";
                } else {
                    compactor->on_read_done(tag.index, tag.generation, result);
                }
            },
            [&] {
                if (outcomes != nullptr) {
                    outcomes->insert(outcomes->end(), writer.finished().begin(),
                                     writer.finished().end());
                }
                writer.finished().clear();
                if (compactor != nullptr) {
                    compactor->take_copies();
                }
            });
    }

    // Four messages in segments 1-4, the append segment 5; the shard holds only the first
    // (the others were delivered and released), so segment 1 is a head worth compacting.
    void fill(SpoolWriter& writer) {
        writer.start();
        std::vector<CommitOutcome> stored;
        for (std::uint32_t n = 0; n < 4; n++) {
            append(writer, n);
            settle(writer, nullptr, &stored);
        }
        ASSERT_EQ(stored.size(), 4u);
        for (std::uint32_t n = 0; n < 4; n++) {
            ASSERT_EQ(stored[n].status, CommitStatus::durable);
            ASSERT_EQ(stored[n].location.segment_seq, n + 1);
        }
        for (std::uint32_t n = 1; n < 4; n++) {
            writer.release(stored[n].location);
        }
        held_[stored[0].id.ordinal] = {stored[0].id, Held{stored[0].location, false, {}}};
        first_ = stored[0];
    }

    // A streamed message of `bytes` of content, fed to the writer the way the shard feeds
    // one (the next slice only once the writer holds none) and committed; its outcome.
    CommitOutcome stream(SpoolWriter& writer, const std::string& content) {
        spool::QueueId id = writer.begin_stream();
        constexpr std::size_t slice = spool::slice_content_bytes_max;
        std::size_t handed = 0;
        std::vector<CommitOutcome> outcomes;
        for (int round = 0; round < 100000 && outcomes.empty(); round++) {
            if (handed != content.size() && !writer.stream_holds_slice(id)) {
                if (content.size() - handed > slice) {
                    writer.append_slice(id, content.substr(handed, slice));
                    handed += slice;
                } else {
                    writer.commit_stream(test_meta(id), content.substr(handed), CommitWaiter{1, 1});
                    handed = content.size();
                }
            }
            turn([&](Tag tag, int result) { writer.on_completion(tag.op, result); });
            outcomes.insert(outcomes.end(), writer.finished().begin(), writer.finished().end());
            writer.finished().clear();
        }
        EXPECT_EQ(outcomes.size(), 1u);
        if (outcomes.empty()) {
            return {};
        }
        EXPECT_EQ(outcomes[0].status, CommitStatus::durable);
        settle(writer, nullptr);  // The full segment rotates.
        return outcomes[0];
    }

    CommitOutcome first_;
};

TEST_F(SpoolCompactorTest, ARoundCopiesTheHeadForwardAndTheHeadGoes) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);  // One message per segment.
    fill(writer);
    ASSERT_TRUE(writer.compaction_plan().has_value());
    EXPECT_EQ(writer.compaction_plan()->seq, 1u);

    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    EXPECT_TRUE(compactor.busy()) << "the head's record is being read";
    settle(writer, &compactor);
    EXPECT_FALSE(compactor.busy()) << "read, copied, released";

    ASSERT_EQ(relocated_.size(), 1u);
    EXPECT_EQ(relocated_[0].first, first_.id);
    RecordLocation to = relocated_[0].second;
    EXPECT_GT(to.segment_seq, 4u) << "copied into the append segment";
    EXPECT_EQ(to.bytes, first_.location.bytes);
    // As after a crash before the head went: the released messages (no status records in
    // this test) are still there, and the copied one is there once, at its copy.
    auto both = spool::recover(root_, 1);
    ASSERT_TRUE(both);
    EXPECT_EQ(both->messages.size(), 4u);
    int copies = 0;
    for (const spool::RecoveredMessage& message : both->messages) {
        if (message.meta.id == first_.id) {
            copies++;
            EXPECT_EQ(message.segment_seq, to.segment_seq) << "recovery keeps the newer";
        }
    }
    EXPECT_EQ(copies, 1) << "two copies, one message";

    for (int tick = 0; tick < 6; tick++) {  // One deletion in flight at a time.
        writer.on_tick();
        settle(writer, &compactor);
    }
    for (std::uint32_t seq = 1; seq <= 4; seq++) {
        EXPECT_FALSE(segment_exists(seq)) << seq << ": the old head and the dead run behind it";
    }
    auto after = spool::recover(root_, 1);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->messages.size(), 1u);
    EXPECT_EQ(after->messages[0].meta.id, first_.id);
    EXPECT_EQ(after->messages[0].record_offset, to.offset);
    auto content = spool::read_content(after->messages[0]);
    ASSERT_TRUE(content.has_value());
    EXPECT_NE(content->find("Message-ID: <m0@test>"), std::string::npos);
}

TEST_F(SpoolCompactorTest, AHeadPinnedByAMessageTheShardDoesNotHoldIsLeftAlone) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);
    fill(writer);
    held_.clear();  // The head's message routes nowhere: the shard does not hold it.
    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    EXPECT_FALSE(compactor.busy()) << "nothing to read";
    settle(writer, &compactor);
    writer.on_tick();
    settle(writer, &compactor);
    EXPECT_TRUE(segment_exists(1)) << "pinned: kept";
    EXPECT_TRUE(relocated_.empty());
}

TEST_F(SpoolCompactorTest, AMessageWithStatusesInFlightWaitsForThem) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);
    fill(writer);
    held_.begin()->second.second.statuses_pending = true;
    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    EXPECT_FALSE(compactor.busy()) << "waits for its status records";
    held_.begin()->second.second.statuses_pending = false;
    compactor.start(t0 + 1);  // The next tick: no pinned wait for this one.
    EXPECT_TRUE(compactor.busy());
    settle(writer, &compactor);
    EXPECT_EQ(relocated_.size(), 1u);
}

TEST_F(SpoolCompactorTest, AMessageFinishedWhileItsCopyWasWrittenLeavesTheCopyDead) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);
    fill(writer);
    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    // Run until the copy is queued (the reads are in), then finish the message before the
    // writer reports the copy: the copy is released, not the message moved.
    for (int step = 0; step < 100 && compactor.busy(); step++) {
        bool copy_queued = false;
        turn([&](Tag tag, int result) {
            if (tag.op == Op::compact_read) {
                compactor.on_read_done(tag.index, tag.generation, result);
                copy_queued = true;
            } else {
                writer.on_completion(tag.op, result);
            }
        });
        if (copy_queued) {
            writer.release(first_.location);  // Delivered: the shard lets go of it.
            held_.clear();
        }
        writer.finished().clear();
        compactor.take_copies();
    }
    EXPECT_FALSE(compactor.busy());
    EXPECT_TRUE(relocated_.empty());
    for (int tick = 0; tick < 8; tick++) {
        writer.on_tick();
        settle(writer, &compactor);
    }
    for (std::uint32_t seq = 1; seq <= 4; seq++) {
        EXPECT_FALSE(segment_exists(seq)) << seq;
    }
    EXPECT_EQ(writer.ledger().live_bytes(), 0u) << "the copy was released too: nothing is live";
}

// A streamed message larger than a round's byte bound is copied slice by slice: the
// round never holds more than its bound (one slice record of it at a time), the copy's
// records land in one segment, the shard is told their new places, and the head goes.
TEST_F(SpoolCompactorTest, AStreamedMessageIsCopiedSliceBySliceWithinTheRoundsMemory) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1u << 20);  // Each stream fills its segment.
    writer.start();
    constexpr std::size_t slice = spool::slice_content_bytes_max;
    std::string content = numbered_content(33 * slice + 1000, 'a');  // > 8 MiB.
    CommitOutcome big = stream(writer, content);
    ASSERT_EQ(big.location.segment_seq, 1u);
    ASSERT_GT(big.stored_bytes(), spool::compaction_round_bytes_max);
    CommitOutcome dead = stream(writer, numbered_content(40 * slice, 'b'));
    ASSERT_EQ(dead.location.segment_seq, 2u);
    writer.release(RecordLocation{2, dead.location.offset, dead.stored_bytes()});  // Delivered.
    held_[big.id.ordinal] = {big.id, Held{big.location, false, big.slices}};
    ASSERT_TRUE(writer.compaction_plan().has_value());
    ASSERT_EQ(writer.compaction_plan()->seq, 1u);

    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    EXPECT_TRUE(compactor.busy());
    settle(writer, &compactor);
    EXPECT_FALSE(compactor.busy()) << "read, copied slice by slice, committed, released";
    EXPECT_LE(compactor.buffer_bytes_peak(), spool::compaction_round_memory_bytes_max);
    EXPECT_LE(compactor.buffer_bytes_peak(), spool::slice_record_bytes_max)
        << "one record of the message at a time";
    std::printf("streamed message of %llu stored bytes copied; round buffers peaked at %llu\n",
                static_cast<unsigned long long>(big.stored_bytes()),
                static_cast<unsigned long long>(compactor.buffer_bytes_peak()));

    ASSERT_EQ(relocated_.size(), 1u);
    EXPECT_EQ(relocated_[0].first, big.id);
    const Held& moved = held_.at(big.id.ordinal).second;
    EXPECT_EQ(moved.location.segment_seq, 3u) << "copied into the append segment";
    EXPECT_EQ(moved.location.bytes, big.location.bytes);
    ASSERT_EQ(moved.slices.size(), big.slices.size());
    for (const spool::SliceExtent& extent : moved.slices) {
        EXPECT_LT(extent.record_offset, moved.location.offset) << "slices before the commit";
    }

    for (int tick = 0; tick < 6; tick++) {  // One deletion in flight at a time.
        writer.on_tick();
        settle(writer, &compactor);
    }
    EXPECT_FALSE(segment_exists(1)) << "the old head";
    EXPECT_FALSE(segment_exists(2)) << "the dead segment behind it";
    auto after = spool::recover(root_, 1);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->messages.size(), 1u);
    const spool::RecoveredMessage& found = after->messages[0];
    EXPECT_EQ(found.meta.id, big.id);
    EXPECT_EQ(found.segment_seq, 3u);
    EXPECT_EQ(found.record_offset, moved.location.offset);
    ASSERT_EQ(found.slices.size(), moved.slices.size());
    for (std::size_t n = 0; n < moved.slices.size(); n++) {
        EXPECT_EQ(found.slices[n].record_offset, moved.slices[n].record_offset);
        EXPECT_EQ(found.slices[n].content_offset, moved.slices[n].content_offset);
    }
    auto read = spool::read_content(found);
    ASSERT_TRUE(read.has_value());
    EXPECT_TRUE(*read == content);
}

// The message finishes while its copy stream is under way: the copy is abandoned (its
// slices are dead bytes), nothing moves, and nothing of the copy is live.
TEST_F(SpoolCompactorTest, AStreamedMessageFinishedMidCopyIsAbandoned) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1u << 20);
    writer.start();
    constexpr std::size_t slice = spool::slice_content_bytes_max;
    CommitOutcome big = stream(writer, numbered_content(6 * slice + 10, 'c'));
    CommitOutcome dead = stream(writer, numbered_content(12 * slice, 'd'));
    writer.release(RecordLocation{2, dead.location.offset, dead.stored_bytes()});
    held_[big.id.ordinal] = {big.id, Held{big.location, false, big.slices}};
    SpoolCompactor compactor(ring_, writer, 0, host());
    compactor.start(t0);
    ASSERT_TRUE(compactor.busy());
    int reads = 0;
    for (int step = 0; step < 1000 && compactor.busy(); step++) {
        turn([&](Tag tag, int result) {
            if (tag.op == Op::compact_read) {
                if (++reads == 3 && !held_.empty()) {
                    writer.release(RecordLocation{1, big.location.offset, big.stored_bytes()});
                    held_.clear();  // Delivered between two slices.
                }
                compactor.on_read_done(tag.index, tag.generation, result);
            } else {
                writer.on_completion(tag.op, result);
            }
        });
        writer.finished().clear();
        compactor.take_copies();
    }
    EXPECT_FALSE(compactor.busy());
    EXPECT_EQ(reads, 3) << "no read after the message finished";
    EXPECT_TRUE(relocated_.empty());
    EXPECT_TRUE(writer.copies_done().empty());
    EXPECT_EQ(writer.open_streams(), 0u) << "the copy stream was abandoned";
    EXPECT_EQ(writer.ledger().live_bytes(), 0u) << "its slices pin nothing";
    // No status records in this test: recovery still finds both originals, and only them.
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 2u);
    for (const spool::RecoveredMessage& message : recovery->messages) {
        EXPECT_LT(message.segment_seq, 3u) << "the torn copy is no message";
    }
}

}  // namespace
}  // namespace hub::engine
