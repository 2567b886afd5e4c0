// spool_writer_test.cc -- the group-commit writer against a real ring and a real directory.
//
// Method: drive a SpoolWriter on its own io_uring until every append has an outcome, then
// read the directory back with spool::recover, which is what hubd does after a crash.
// A failing write is produced with RLIMIT_FSIZE (EFBIG), which needs no root and no
// special filesystem, and proves that a failed batch is never recovered.
#include "engine/spool_writer.h"
#include "engine/limits.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "engine/spool_test_support.h"
#include "gtest/gtest.h"
#include "spool/limits.h"

namespace hub::engine {
namespace {

class SpoolWriterTest : public SpoolOnRingTest {
protected:
    // Runs completions until the writer is idle; returns the outcomes.
    std::vector<CommitOutcome> run(SpoolWriter& writer) {
        std::vector<CommitOutcome> outcomes;
        for (int step = 0; step < 10000 && !writer.idle(); step++) {
            turn(writer, outcomes);
        }
        return outcomes;
    }

    // Runs completions until none arrives for 200 ms (the writer may be waiting for a tick,
    // which run() would wait for in vain); returns the outcomes.
    std::vector<CommitOutcome> settle(SpoolWriter& writer) {
        std::vector<CommitOutcome> outcomes;
        settle_ring([&](Tag tag, int result) { writer.on_completion(tag.op, result); },
                    [&] {
                        outcomes.insert(outcomes.end(), writer.finished().begin(),
                                        writer.finished().end());
                        writer.finished().clear();
                    });
        return outcomes;
    }

    void append(SpoolWriter& writer, std::uint32_t slot, std::size_t body_bytes) {
        spool::MessageMeta meta = test_meta(writer.next_id());
        std::string body = "Message-ID: <m" + std::to_string(slot) + "@test>\r\n\r\n" +
                           std::string(body_bytes, 'x') + "\r\n";
        writer.append(meta, "Received: test\r\n", std::move(body), CommitWaiter{slot, 1});
    }

    // One turn of the ring: waits for a completion and hands every one to the writer.
    void turn(SpoolWriter& writer, std::vector<CommitOutcome>& outcomes) {
        SpoolOnRingTest::turn([&](Tag tag, int result) { writer.on_completion(tag.op, result); });
        outcomes.insert(outcomes.end(), writer.finished().begin(), writer.finished().end());
        writer.finished().clear();
    }

    // A stream being fed the way the shard feeds one: the next slice only once the writer
    // holds none of it, the rest and the commit at the end (or abandoned there).
    struct Feed {
        spool::QueueId id;
        std::string content;
        std::size_t handed = 0;
        bool abandon = false;
        bool ended = false;
    };

    // Feeds every stream to its end, running the ring between; returns the outcomes.
    std::vector<CommitOutcome> feed_streams(SpoolWriter& writer, std::vector<Feed>& feeds) {
        std::vector<CommitOutcome> outcomes;
        constexpr std::size_t slice = spool::slice_content_bytes_max;
        for (int round = 0; round < 100000; round++) {
            bool all_ended = true;
            for (std::uint32_t index = 0; index < feeds.size(); index++) {
                Feed& feed = feeds[index];
                if (feed.ended) {
                    continue;
                }
                all_ended = false;
                if (writer.stream_holds_slice(feed.id)) {
                    continue;
                }
                std::size_t left = feed.content.size() - feed.handed;
                if (left > slice) {
                    writer.append_slice(feed.id, feed.content.substr(feed.handed, slice));
                    feed.handed += slice;
                } else if (feed.abandon) {
                    writer.abandon_stream(feed.id);
                    feed.ended = true;
                } else {
                    writer.commit_stream(test_meta(feed.id), feed.content.substr(feed.handed),
                                         CommitWaiter{index, 1});
                    feed.ended = true;
                }
            }
            if (all_ended && writer.idle()) {
                break;
            }
            turn(writer, outcomes);
        }
        return outcomes;
    }

    std::string read_back(SpoolWriter& writer, std::uint32_t seq, std::uint64_t offset,
                          std::uint64_t bytes) {
        std::string record(bytes, '\0');
        int fd = writer.segment_fd(seq);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(pread(fd, record.data(), record.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(record.size()));
        return record;
    }

    // A streamed message of `slices` full slices and a bit, committed in segment 1, which
    // is then full (the writer rotates to segment 2). Returns its outcome.
    CommitOutcome streamed_original(SpoolWriter& writer, std::vector<Feed>& feeds) {
        writer.start();
        feeds.resize(1);
        feeds[0].id = writer.begin_stream();
        feeds[0].content = numbered_content(3 * spool::slice_content_bytes_max + 77, 'c');
        std::vector<CommitOutcome> outcomes = feed_streams(writer, feeds);
        settle(writer);  // The rotation.
        EXPECT_EQ(outcomes.size(), 1u);
        if (outcomes.empty()) {
            return {};
        }
        EXPECT_EQ(outcomes[0].status, CommitStatus::durable);
        EXPECT_EQ(outcomes[0].location.segment_seq, 1u);
        EXPECT_EQ(outcomes[0].slices.size(), 4u);
        return outcomes[0];
    }

    // Copies the original's slices through a copy stream, one at a time (the next only once
    // the writer holds none), a small message appended between each; stops before the
    // commit.
    void copy_slices(SpoolWriter& writer, const CommitOutcome& original,
                     std::vector<CommitOutcome>& outcomes) {
        ASSERT_TRUE(writer.can_begin_stream());
        writer.begin_copy_stream(original.id);
        for (std::size_t n = 0; n < original.slices.size(); n++) {
            const spool::SliceExtent& slice = original.slices[n];
            ASSERT_FALSE(writer.stream_holds_slice(original.id));
            writer.append_copy_slice(original.id,
                                     read_back(writer, 1, slice.record_offset, slice.record_bytes),
                                     static_cast<std::uint32_t>(slice.content_bytes));
            append(writer, 200 + static_cast<std::uint32_t>(n), 100);
            for (int spin = 0; spin < 100 && writer.stream_holds_slice(original.id); spin++) {
                turn(writer, outcomes);
            }
            ASSERT_FALSE(writer.stream_broken(original.id));
        }
        for (int spin = 0; spin < 100 && !writer.idle(); spin++) {
            turn(writer, outcomes);
        }
    }
};

TEST_F(SpoolWriterTest, EveryAppendBecomesDurableAndRecoverable) {
    SpoolWriter writer(ring_, 0, dir_fd_, 5, 1 << 20);
    writer.start();
    for (std::uint32_t slot = 0; slot < 10; slot++) {
        append(writer, slot, 100);
    }
    std::vector<CommitOutcome> outcomes = run(writer);
    ASSERT_EQ(outcomes.size(), 10u);
    for (const CommitOutcome& outcome : outcomes) {
        EXPECT_EQ(outcome.status, CommitStatus::durable);
    }
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 10u);
    EXPECT_EQ(recovery->messages[0].meta.id, outcomes[0].id);
    EXPECT_EQ(recovery->next_segment_seq[0], 6u);
}

// Large bodies are written where they are (one vectored write with the small records and
// an administrator's record between them), more than a batch may hold by reference too; all
// come back byte for byte, each at the location its outcome names.
TEST_F(SpoolWriterTest, HeldBodiesAreWrittenInPlaceAndReadBack) {
    SpoolWriter writer(ring_, 0, dir_fd_, 2, 64u << 20);
    writer.start();
    std::vector<std::size_t> sizes;
    for (std::uint32_t slot = 0; slot < held_bodies_per_batch_max * 3 / 2 + 6; slot++) {
        sizes.push_back(slot % 3 == 1 ? 100 : held_body_bytes_min + slot * 7);
    }
    for (std::uint32_t slot = 0; slot < sizes.size(); slot++) {
        append(writer, slot, sizes[slot]);
    }
    std::vector<CommitOutcome> outcomes = run(writer);
    ASSERT_EQ(outcomes.size(), sizes.size());
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), sizes.size());
    for (std::size_t index = 0; index < sizes.size(); index++) {
        SCOPED_TRACE(index);
        EXPECT_EQ(outcomes[index].status, CommitStatus::durable);
        const spool::RecoveredMessage& message = recovery->messages[index];
        EXPECT_EQ(outcomes[index].location.offset, message.record_offset);
        EXPECT_EQ(outcomes[index].location.bytes, message.record_bytes);
        auto content = spool::read_content(message);
        ASSERT_TRUE(content);
        std::string expected = "Received: test\r\nMessage-ID: <m" + std::to_string(index) +
                               "@test>\r\n\r\n" + std::string(sizes[index], 'x') + "\r\n";
        EXPECT_TRUE(*content == expected);
    }
}

TEST_F(SpoolWriterTest, RotatesSegmentsAndRecoversAll) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 4096);
    writer.start();
    std::size_t durable = 0;
    for (std::uint32_t slot = 0; slot < 40; slot++) {
        append(writer, slot, 1000);
        for (const CommitOutcome& outcome : run(writer)) {
            durable += outcome.status == CommitStatus::durable ? 1 : 0;
        }
    }
    EXPECT_EQ(durable, 40u);
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    EXPECT_EQ(recovery->messages.size(), 40u);
    EXPECT_GT(recovery->segments.size(), 5u);
}

TEST_F(SpoolWriterTest, FailedBatchIsAnsweredAndNeverRecovered) {
    signal(SIGXFSZ, SIG_IGN);  // Let the write fail with EFBIG instead of a signal.
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1 << 20);
    writer.start();
    append(writer, 0, 100);
    ASSERT_EQ(run(writer).size(), 1u);
    std::uintmax_t first_bytes = std::filesystem::file_size(root_ + "/shard-0/00000001.seg");

    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit small = saved;
    small.rlim_cur = first_bytes + 1500;  // Room for one more record, not three.
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    for (std::uint32_t slot = 1; slot <= 3; slot++) {
        append(writer, slot, 1000);
    }
    std::vector<CommitOutcome> failed = run(writer);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    std::size_t durable_during_limit = 0;
    for (const CommitOutcome& outcome : failed) {
        durable_during_limit += outcome.status == CommitStatus::durable ? 1 : 0;
    }
    EXPECT_LT(durable_during_limit, 3u);

    append(writer, 4, 100);
    append(writer, 5, 100);
    for (const CommitOutcome& outcome : run(writer)) {
        EXPECT_EQ(outcome.status, CommitStatus::durable);
    }
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    // Exactly the acknowledged ones: the first, any that landed under the limit, 4 and 5.
    EXPECT_EQ(recovery->messages.size(), 3u + durable_during_limit);
    for (const auto& message : recovery->messages) {
        bool was_failed = false;
        for (const CommitOutcome& outcome : failed) {
            if (outcome.id == message.meta.id && outcome.status != CommitStatus::durable) {
                was_failed = true;
            }
        }
        EXPECT_FALSE(was_failed) << "a message answered 451/452 was recovered";
    }
}

TEST_F(SpoolWriterTest, LocationsReadBackAndStatusRecordsRetireRecipients) {
    SpoolWriter writer(ring_, 0, dir_fd_, 3, 1 << 20);
    writer.start();
    append(writer, 0, 100);
    append(writer, 1, 5000);
    std::vector<CommitOutcome> outcomes = run(writer);
    ASSERT_EQ(outcomes.size(), 2u);
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 2u);
    for (std::size_t index = 0; index < 2; index++) {
        EXPECT_EQ(outcomes[index].location.segment_seq, 3u);
        EXPECT_EQ(outcomes[index].location.offset, recovery->messages[index].record_offset);
        EXPECT_EQ(outcomes[index].location.bytes, recovery->messages[index].record_bytes);
    }
    writer.append_status(outcomes[0].id, 0, spool::RecipientStatus::delivered);
    EXPECT_TRUE(run(writer).empty());  // Nobody waits for a status record.
    auto after = spool::recover(root_, 1);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->messages.size(), 1u);  // The delivered one is no longer live.
    EXPECT_EQ(after->messages[0].meta.id, outcomes[1].id);
}

TEST_F(SpoolWriterTest, MessageStatusRecordsAreAnsweredWhenDurable) {
    SpoolWriter writer(ring_, 0, dir_fd_, 3, 1 << 20);
    writer.start();
    append(writer, 0, 100);
    append(writer, 1, 100);
    std::vector<CommitOutcome> messages = run(writer);
    ASSERT_EQ(messages.size(), 2u);
    CommitWaiter admin{0, 0, false, true};
    writer.append_message_status(messages[0].id, spool::MessageStatus::held, 1000, admin);
    writer.append_message_status(messages[1].id, spool::MessageStatus::deleted, 1001, admin);
    std::vector<CommitOutcome> outcomes = run(writer);
    ASSERT_EQ(outcomes.size(), 2u);  // The administrator waits for each record.
    for (std::size_t index = 0; index < 2; index++) {
        EXPECT_TRUE(outcomes[index].waiter.admin);
        EXPECT_EQ(outcomes[index].status, CommitStatus::durable);
        EXPECT_EQ(outcomes[index].id, messages[index].id);
    }
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 1u);  // The deleted one is gone.
    EXPECT_EQ(recovery->messages[0].meta.id, messages[0].id);
    EXPECT_TRUE(recovery->messages[0].held);
}

TEST_F(SpoolWriterTest, StatusRecordsOfAFailedBatchAreRetriedUntilDurable) {
    signal(SIGXFSZ, SIG_IGN);
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1 << 20);
    writer.start();
    append(writer, 0, 100);
    std::vector<CommitOutcome> first = run(writer);
    ASSERT_EQ(first.size(), 1u);
    std::uintmax_t bytes = std::filesystem::file_size(root_ + "/shard-0/00000001.seg");

    // The disk "fills": a batch of a status record and a large message fails.
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit small = saved;
    small.rlim_cur = bytes + 16;  // Not even a status record (40 bytes) fits.
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    writer.append_status(first[0].id, 0, spool::RecipientStatus::delivered);
    append(writer, 1, 2000);
    std::vector<CommitOutcome> failed = settle(writer);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_NE(failed[0].status, CommitStatus::durable);
    EXPECT_TRUE(writer.durable_statuses().empty());
    // Still failing at the next tick: staged again, new mail refused meanwhile.
    writer.on_tick();
    append(writer, 2, 100);
    std::vector<CommitOutcome> refused = settle(writer);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].status, CommitStatus::no_space);
    EXPECT_TRUE(writer.durable_statuses().empty());
    EXPECT_FALSE(writer.idle());

    // Space comes back: the next tick makes the status record durable.
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    writer.on_tick();
    settle(writer);
    ASSERT_EQ(writer.durable_statuses().size(), 1u);
    EXPECT_EQ(writer.durable_statuses()[0].id, first[0].id);
    EXPECT_TRUE(writer.idle());
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    EXPECT_TRUE(recovery->messages.empty()) << "the delivered message is final on disk";
    append(writer, 3, 100);  // And new mail is taken again.
    std::vector<CommitOutcome> again = run(writer);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].status, CommitStatus::durable);
}

TEST_F(SpoolWriterTest, DeadSegmentsAreDeletedAndCompactionCopiesForward) {
    // One message per segment (the size limit is tiny), then: the first two released, a
    // copy of the third written forward and the original released.
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);
    writer.start();
    std::vector<CommitOutcome> stored;
    for (std::uint32_t slot = 0; slot < 3; slot++) {
        append(writer, slot, 500);
        std::vector<CommitOutcome> outcomes = run(writer);
        ASSERT_EQ(outcomes.size(), 1u);
        stored.push_back(outcomes[0]);
    }
    settle(writer);  // The rotation to segment 4.
    EXPECT_EQ(stored[2].location.segment_seq, 3u);
    ASSERT_TRUE(segment_exists(1) && segment_exists(2) && segment_exists(3) && segment_exists(4));
    writer.on_tick();
    settle(writer);
    EXPECT_TRUE(segment_exists(1)) << "still live: nothing may be deleted";

    writer.release(stored[1].location);  // Segment 2 dead, but 1 is older and live.
    writer.on_tick();
    settle(writer);
    EXPECT_TRUE(segment_exists(2));
    writer.release(stored[0].location);
    writer.on_tick();
    settle(writer);
    EXPECT_FALSE(segment_exists(1));
    EXPECT_FALSE(segment_exists(2));
    EXPECT_EQ(writer.segment_fd(1), -1);
    EXPECT_TRUE(segment_exists(3));

    // Compaction of segment 3: the head is entirely live, so there is no plan...
    EXPECT_FALSE(writer.compaction_plan().has_value());
    // ...but a copy written forward works the same way whoever asks for it.
    std::string record(stored[2].location.bytes, '\0');
    ASSERT_EQ(pread(writer.segment_fd(3), record.data(), record.size(),
                    static_cast<off_t>(stored[2].location.offset)),
              static_cast<ssize_t>(record.size()));
    std::vector<StatusNote> statuses;  // One recipient, still pending: nothing to carry.
    writer.append_copy(record, stored[2].id, stored[2].location, statuses);
    settle(writer);
    ASSERT_EQ(writer.copies_done().size(), 1u);
    CopyOutcome copy = writer.copies_done()[0];
    EXPECT_TRUE(copy.durable);
    EXPECT_EQ(copy.to.segment_seq, 4u);
    auto both = spool::recover(root_, 1);  // As after a crash before the old one went.
    ASSERT_TRUE(both);
    ASSERT_EQ(both->messages.size(), 1u) << "two copies, one message";
    EXPECT_EQ(both->messages[0].segment_seq, 4u);
    EXPECT_EQ(both->messages[0].record_offset, copy.to.offset);

    writer.release(copy.from);
    writer.on_tick();
    settle(writer);
    EXPECT_FALSE(segment_exists(3));
    auto after = spool::recover(root_, 1);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->messages.size(), 1u);
    EXPECT_EQ(after->messages[0].meta.id, stored[2].id);
    auto content = spool::read_content(after->messages[0]);
    ASSERT_TRUE(content.has_value());
    EXPECT_NE(content->find("Message-ID: <m2@test>"), std::string::npos);
}

// A held message's hold record may live in a segment that dies before the message's
// copy does (a hold written into a later segment than the message, then the message
// compacted past it): the copy carries a fresh hold record, so the hold outlives both.
TEST_F(SpoolWriterTest, CompactionCopyOfAHeldMessageStaysHeld) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 1);  // One message per segment.
    writer.start();
    append(writer, 0, 500);
    std::vector<CommitOutcome> stored = run(writer);
    ASSERT_EQ(stored.size(), 1u);
    CommitWaiter admin{0, 0, false, true};
    writer.append_message_status(stored[0].id, spool::MessageStatus::held, 1000, admin);
    ASSERT_EQ(run(writer).size(), 1u);
    settle(writer);

    std::string record(stored[0].location.bytes, '\0');
    int fd = writer.segment_fd(stored[0].location.segment_seq);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(
        pread(fd, record.data(), record.size(), static_cast<off_t>(stored[0].location.offset)),
        static_cast<ssize_t>(record.size()));
    writer.append_copy(record, stored[0].id, stored[0].location, {}, 2000);
    settle(writer);
    ASSERT_EQ(writer.copies_done().size(), 1u);
    CopyOutcome copy = writer.copies_done()[0];
    ASSERT_TRUE(copy.durable);
    writer.release(copy.from);
    for (int tick = 0; tick < 4; tick++) {  // One deletion in flight at a time.
        writer.on_tick();
        settle(writer);
    }
    // Every segment older than the copy's is gone, the first hold record with them.
    for (std::uint32_t seq = 1; seq < copy.to.segment_seq; seq++) {
        EXPECT_FALSE(segment_exists(seq)) << seq;
    }
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 1u);
    EXPECT_EQ(recovery->messages[0].meta.id, stored[0].id);
    EXPECT_TRUE(recovery->messages[0].held);
}

// Streams fed side by side with small messages between them: each is durable only after
// its commit, comes back whole in its own segment with exactly its slices, and an
// abandoned one is dead bytes, not a message.
TEST_F(SpoolWriterTest, StreamedMessagesAreRecoveredWholeAndAbandonedOnesNever) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64u << 20);
    writer.start();
    constexpr std::size_t slice = spool::slice_content_bytes_max;
    std::vector<Feed> feeds;
    const std::size_t sizes[] = {5 * slice + 123, slice + 1, 3 * slice, 2 * slice + 7};
    for (std::size_t index = 0; index < 4; index++) {
        ASSERT_TRUE(writer.can_begin_stream());
        Feed feed;
        feed.id = writer.begin_stream();
        feed.content = numbered_content(sizes[index], static_cast<char>('a' + index));
        feed.abandon = index == 3;
        feeds.push_back(std::move(feed));
        append(writer, 100 + static_cast<std::uint32_t>(index), 100);  // A record in between.
    }
    EXPECT_EQ(writer.open_streams(), 4u);
    std::vector<CommitOutcome> outcomes = feed_streams(writer, feeds);
    for (int spin = 0; spin < 100 && !writer.idle(); spin++) {
        turn(writer, outcomes);
    }
    EXPECT_EQ(writer.open_streams(), 0u);
    std::map<std::uint32_t, const CommitOutcome*> streamed;  // By ordinal.
    std::size_t durable = 0;
    for (const CommitOutcome& outcome : outcomes) {
        ASSERT_EQ(outcome.status, CommitStatus::durable);
        durable++;
        if (outcome.streamed) {
            streamed[outcome.id.ordinal] = &outcome;
        }
    }
    EXPECT_EQ(durable, 3u + 4u);  // Three streams, four small records.
    ASSERT_EQ(streamed.size(), 3u);

    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 7u);
    ASSERT_EQ(recovery->segments.size(), 1u);
    EXPECT_EQ(recovery->segments[0].abandoned_streams, 1u);
    for (std::size_t index = 0; index < 3; index++) {
        const spool::RecoveredMessage* found = nullptr;
        for (const spool::RecoveredMessage& message : recovery->messages) {
            if (message.meta.id == feeds[index].id) {
                found = &message;
            }
        }
        ASSERT_NE(found, nullptr) << index;
        ASSERT_TRUE(found->streamed());
        auto content = spool::read_content(*found);
        ASSERT_TRUE(content);
        EXPECT_TRUE(*content == feeds[index].content) << index;
        EXPECT_EQ(found->message_id,
                  "<s" + std::string(1, static_cast<char>('a' + index)) + "@test>");
        // The outcome names the records recovery found.
        const CommitOutcome& outcome = *streamed.at(feeds[index].id.ordinal);
        EXPECT_EQ(outcome.location.offset, found->record_offset);
        EXPECT_EQ(outcome.location.bytes, found->record_bytes);
        ASSERT_EQ(outcome.slices.size(), found->slices.size());
        for (std::size_t n = 0; n < outcome.slices.size(); n++) {
            EXPECT_EQ(outcome.slices[n].record_offset, found->slices[n].record_offset);
            EXPECT_EQ(outcome.slices[n].record_bytes, found->slices[n].record_bytes);
            EXPECT_EQ(outcome.slices[n].content_offset, found->slices[n].content_offset);
            EXPECT_EQ(outcome.slices[n].content_bytes, found->slices[n].content_bytes);
        }
        EXPECT_EQ(outcome.stored_bytes(), found->stored_bytes());
    }
}

// A full segment does not rotate while a stream begun in it is open (its slices and commit
// must share the segment); no stream begins meanwhile, records keep coming, and it rotates
// once the stream ends.
TEST_F(SpoolWriterTest, RotationWaitsForTheStreamsOfTheFullSegment) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64 * 1024);
    writer.start();
    std::vector<Feed> feeds(1);
    feeds[0].id = writer.begin_stream();
    feeds[0].content = numbered_content(3 * spool::slice_content_bytes_max + 5, 'r');
    std::vector<CommitOutcome> outcomes;
    writer.append_slice(feeds[0].id, feeds[0].content.substr(0, spool::slice_content_bytes_max));
    feeds[0].handed = spool::slice_content_bytes_max;
    append(writer, 7, 100);
    for (int spin = 0; spin < 100 && !writer.idle(); spin++) {
        turn(writer, outcomes);
    }
    EXPECT_FALSE(writer.can_begin_stream());  // Full, and waiting for the open stream.
    append(writer, 8, 100);                   // Still written to the full segment.
    outcomes = feed_streams(writer, feeds);
    for (int spin = 0; spin < 100 && !writer.idle(); spin++) {
        turn(writer, outcomes);
    }
    EXPECT_TRUE(writer.can_begin_stream());  // Rotating once the stream was committed.
    append(writer, 9, 100);
    for (const CommitOutcome& outcome : run(writer)) {
        EXPECT_EQ(outcome.status, CommitStatus::durable);
        EXPECT_EQ(outcome.location.segment_seq, 2u);
    }
    EXPECT_TRUE(segment_exists(2));
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    EXPECT_EQ(recovery->messages.size(), 4u);
    for (const spool::RecoveredMessage& message : recovery->messages) {
        if (message.streamed()) {
            EXPECT_EQ(message.segment_seq, 1u);
            auto content = spool::read_content(message);
            ASSERT_TRUE(content);
            EXPECT_TRUE(*content == feeds[0].content);
        }
    }
}

// A batch that fails takes a stream's slice with it: the stream's commit is answered with
// the failure (never 250), nothing of it is recovered, and the next stream works.
TEST_F(SpoolWriterTest, AStreamThatLostASliceIsAnsweredFailedAndNeverRecovered) {
    signal(SIGXFSZ, SIG_IGN);
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64u << 20);
    writer.start();
    append(writer, 0, 100);
    ASSERT_EQ(run(writer).size(), 1u);
    std::uintmax_t first_bytes = std::filesystem::file_size(root_ + "/shard-0/00000001.seg");
    std::vector<Feed> feeds(1);
    feeds[0].id = writer.begin_stream();
    feeds[0].content = numbered_content(3 * spool::slice_content_bytes_max, 'f');
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit small = saved;
    small.rlim_cur = first_bytes + spool::slice_content_bytes_max + 4096;  // One slice.
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    std::vector<CommitOutcome> outcomes = feed_streams(writer, feeds);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_NE(outcomes[0].status, CommitStatus::durable);
    EXPECT_EQ(writer.open_streams(), 0u);

    std::vector<Feed> next(1);
    next[0].id = writer.begin_stream();
    next[0].content = numbered_content(2 * spool::slice_content_bytes_max + 9, 'g');
    outcomes = feed_streams(writer, next);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].status, CommitStatus::durable);
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    ASSERT_EQ(recovery->messages.size(), 2u);
    for (const spool::RecoveredMessage& message : recovery->messages) {
        EXPECT_NE(message.meta.id, feeds[0].id) << "a stream answered 451/452 was recovered";
    }
}

// Compaction of a streamed message: a copy stream writes its slice records one at a time
// (other records land between them), then its commit with the statuses and hold; the
// copy is reported with its new slices, and recovery finds the message at the copy.
TEST_F(SpoolWriterTest, ACopyStreamLandsSliceBySliceAndIsRecoveredAtItsCopy) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64 * 1024);
    std::vector<Feed> feeds;
    CommitOutcome original = streamed_original(writer, feeds);
    ASSERT_FALSE(original.slices.empty());
    std::vector<CommitOutcome> outcomes;
    copy_slices(writer, original, outcomes);
    EXPECT_TRUE(writer.copies_done().empty()) << "nothing is a copy before its commit";
    writer.commit_copy_stream(
        read_back(writer, 1, original.location.offset, original.location.bytes), original.id,
        RecordLocation{1, original.location.offset, original.stored_bytes()}, {}, 3000);
    settle(writer);
    ASSERT_EQ(writer.copies_done().size(), 1u);
    CopyOutcome copy = writer.copies_done()[0];
    ASSERT_TRUE(copy.durable);
    EXPECT_TRUE(copy.streamed);
    EXPECT_EQ(copy.to.segment_seq, 2u);
    EXPECT_EQ(copy.to.bytes, original.stored_bytes()) << "the copy pins all of it";
    ASSERT_EQ(copy.slices.size(), original.slices.size());
    EXPECT_GT(copy.slices[1].record_offset,
              copy.slices[0].record_offset + copy.slices[0].record_bytes)
        << "a record landed between two slices";
    EXPECT_EQ(writer.open_streams(), 0u);

    auto recovery = spool::recover(root_, 1);  // As after a crash before the old one went.
    ASSERT_TRUE(recovery);
    const spool::RecoveredMessage* found = nullptr;
    for (const spool::RecoveredMessage& message : recovery->messages) {
        if (message.meta.id == original.id) {
            EXPECT_EQ(found, nullptr) << "two copies, one message";
            found = &message;
        }
    }
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->segment_seq, 2u);
    EXPECT_EQ(found->record_offset, copy.to.offset);
    EXPECT_TRUE(found->held) << "the copy carries a fresh hold record";
    ASSERT_EQ(found->slices.size(), copy.slices.size());
    for (std::size_t n = 0; n < copy.slices.size(); n++) {
        EXPECT_EQ(found->slices[n].record_offset, copy.slices[n].record_offset);
        EXPECT_EQ(found->slices[n].content_offset, copy.slices[n].content_offset);
    }
    auto content = spool::read_content(*found);
    ASSERT_TRUE(content);
    EXPECT_TRUE(*content == feeds[0].content);
}

// A crash in the middle of a copy stream (its slices durable, its commit never written) or
// a copy abandoned there: recovery drops the copy's slices as an uncommitted stream and
// finds the original, whole, where it was.
TEST_F(SpoolWriterTest, ATornCopyStreamIsDroppedAndTheOriginalStays) {
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64 * 1024);
    std::vector<Feed> feeds;
    CommitOutcome original = streamed_original(writer, feeds);
    ASSERT_FALSE(original.slices.empty());
    std::vector<CommitOutcome> outcomes;
    copy_slices(writer, original, outcomes);
    EXPECT_TRUE(std::filesystem::file_size(root_ + "/shard-0/00000002.seg") >
                original.stored_bytes())
        << "the copy's slices are on disk";

    auto recovery = spool::recover(root_, 1);  // The crash: no commit.
    ASSERT_TRUE(recovery);
    const spool::RecoveredMessage* found = nullptr;
    for (const spool::RecoveredMessage& message : recovery->messages) {
        if (message.meta.id == original.id) {
            EXPECT_EQ(found, nullptr);
            found = &message;
        }
    }
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->segment_seq, 1u) << "the original, not the torn copy";
    EXPECT_EQ(found->record_offset, original.location.offset);
    auto content = spool::read_content(*found);
    ASSERT_TRUE(content);
    EXPECT_TRUE(*content == feeds[0].content);
    for (const spool::SegmentSummary& segment : recovery->segments) {
        if (segment.segment_seq == 2) {
            EXPECT_EQ(segment.abandoned_streams, 1u);
        }
    }

    // Abandoned instead: nothing is reported, the stream is gone, the next stream begins.
    writer.abandon_stream(original.id);
    settle(writer);
    EXPECT_TRUE(writer.copies_done().empty());
    EXPECT_EQ(writer.open_streams(), 0u);
    EXPECT_TRUE(writer.can_begin_stream());
}

// A failed batch takes a copy slice with it: the copy stream is broken, its commit is
// reported not durable, nothing of it is recovered, and the original stays.
TEST_F(SpoolWriterTest, ACopyStreamThatLostASliceIsNotCopied) {
    signal(SIGXFSZ, SIG_IGN);
    SpoolWriter writer(ring_, 0, dir_fd_, 1, 64 * 1024);
    std::vector<Feed> feeds;
    CommitOutcome original = streamed_original(writer, feeds);
    ASSERT_FALSE(original.slices.empty());
    std::vector<CommitOutcome> outcomes;
    append(writer, 9, 100);  // Segment 2 begins: its header and first record.
    ASSERT_EQ(run(writer).size(), 1u);
    std::uintmax_t second_bytes = std::filesystem::file_size(root_ + "/shard-0/00000002.seg");
    ASSERT_TRUE(writer.can_begin_stream());
    writer.begin_copy_stream(original.id);
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit small = saved;
    small.rlim_cur = second_bytes + spool::slice_content_bytes_max + 4096;  // One slice.
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    for (std::size_t n = 0; n < 2; n++) {
        const spool::SliceExtent& slice = original.slices[n];
        writer.append_copy_slice(original.id,
                                 read_back(writer, 1, slice.record_offset, slice.record_bytes),
                                 static_cast<std::uint32_t>(slice.content_bytes));
        settle(writer);
        EXPECT_FALSE(writer.stream_holds_slice(original.id));
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    EXPECT_TRUE(writer.stream_broken(original.id));
    writer.commit_copy_stream(
        read_back(writer, 1, original.location.offset, original.location.bytes), original.id,
        RecordLocation{1, original.location.offset, original.stored_bytes()}, {});
    settle(writer);
    ASSERT_EQ(writer.copies_done().size(), 1u);
    EXPECT_FALSE(writer.copies_done()[0].durable);
    EXPECT_EQ(writer.open_streams(), 0u);
    auto recovery = spool::recover(root_, 1);
    ASSERT_TRUE(recovery);
    std::size_t found = 0;
    for (const spool::RecoveredMessage& message : recovery->messages) {
        if (message.meta.id == original.id) {
            found++;
            EXPECT_EQ(message.segment_seq, 1u);
        }
    }
    EXPECT_EQ(found, 1u);
}

}  // namespace
}  // namespace hub::engine
