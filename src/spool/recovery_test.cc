// recovery_test.cc -- recover() over real spool directories in a temporary directory.
//
// Method: write segments with the encoders, damage them the ways a crash, a disk or a
// person can (truncation at every byte of the last record, a flipped byte, a zero-filled
// tail, stray files of every kind), and check what recovery keeps: every record before the
// damage, nothing after it, and never a crash or a modified file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spool/limits.h"
#include "spool/spool_format.h"
#include "spool/test_messages.h"

namespace hub::spool {
namespace {

namespace fs = std::filesystem;
using testing::sample_body;
using testing::sample_meta;
using testing::sample_received;

class SpoolDir : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "hub-spool-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(std::uint8_t shard, std::uint32_t seq) const {
        return dir_ + "/" + segment_relative_path(shard, seq);
    }

    void write_file(const std::string& file, const std::string& bytes) {
        fs::create_directories(fs::path(file).parent_path());
        std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    }

    // A segment with count messages (ids shard/seq/0..count-1); offsets of each record.
    std::string segment(std::uint8_t shard, std::uint32_t seq, int count,
                        std::vector<std::size_t>* offsets = nullptr) {
        std::string bytes;
        append_segment_header(shard, seq, bytes);
        for (int i = 0; i < count; i++) {
            if (offsets != nullptr) {
                offsets->push_back(bytes.size());
            }
            append_message_record(
                sample_meta(QueueId{shard, seq, static_cast<std::uint32_t>(i)}, i),
                sample_received(i), sample_body(i), bytes);
        }
        return bytes;
    }

    Recovery recover_ok(std::uint32_t shard_count = 1) {
        auto recovered = recover(dir_, shard_count);
        EXPECT_TRUE(recovered.has_value()) << (recovered ? "" : recovered.error().detail);
        return recovered ? std::move(*recovered) : Recovery{};
    }

    std::string dir_;
};

std::vector<std::string> ids(const Recovery& recovery) {
    std::vector<std::string> out;
    for (const RecoveredMessage& message : recovery.messages) {
        out.push_back(message.meta.id.to_string());
    }
    return out;
}

TEST_F(SpoolDir, EmptyAndMissingSpools) {
    Recovery empty = recover_ok(4);
    EXPECT_TRUE(empty.messages.empty());
    EXPECT_TRUE(empty.segments.empty());
    EXPECT_EQ(empty.next_segment_seq, (std::vector<std::uint32_t>{0, 0, 0, 0}));
    auto missing = recover(dir_ + "/nope", 1);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().error, RecoveryError::unreadable_dir);
    EXPECT_NE(missing.error().detail.find(dir_ + "/nope"), std::string::npos);
}

TEST_F(SpoolDir, ManyShardsAndSegmentsInSpoolOrder) {
    write_file(path(2, 5), segment(2, 5, 1));
    write_file(path(0, 1), segment(0, 1, 2));
    write_file(path(0, 0), segment(0, 0, 3));
    write_file(path(0, 0x10), segment(0, 0x10, 1));
    Recovery recovery = recover_ok(4);
    EXPECT_EQ(ids(recovery),
              (std::vector<std::string>{"0000000000000000", "0000000000000001", "0000000000000002",
                                        "0000000001000000", "0000000001000001", "0000000010000000",
                                        "0200000005000000"}));
    EXPECT_EQ(recovery.next_segment_seq, (std::vector<std::uint32_t>{0x11, 0, 6, 0}));
    ASSERT_EQ(recovery.segments.size(), 4u);
    for (const SegmentSummary& summary : recovery.segments) {
        EXPECT_EQ(summary.problem, SegmentProblem::none) << summary.path;
        EXPECT_EQ(summary.valid_bytes, summary.file_bytes);
        EXPECT_EQ(summary.live_count, summary.message_count);
    }
    EXPECT_EQ(recovery.segments[0].path, path(0, 0));
    EXPECT_EQ(recovery.segments[0].message_count, 3u);
    const RecoveredMessage& last = recovery.messages.back();
    EXPECT_EQ(last.segment_path, path(2, 5));
    EXPECT_EQ(last.message_id, "<m0@partner1.gov.uk>");
    EXPECT_EQ(last.meta.envelope.mail_from, "alice0@partner1.gov.uk");
    auto content = read_content(last);
    ASSERT_TRUE(content.has_value()) << content.error().detail;
    EXPECT_EQ(*content, sample_received(0) + sample_body(0));
}

TEST_F(SpoolDir, NextSegmentSeqCoversShardsBeyondShardCount) {
    write_file(path(7, 3), segment(7, 3, 1));
    Recovery recovery = recover_ok(2);
    ASSERT_EQ(recovery.next_segment_seq.size(), 8u);
    EXPECT_EQ(recovery.next_segment_seq[7], 4u);
    EXPECT_EQ(recovery.next_segment_seq[0], 0u);
}

TEST_F(SpoolDir, TornTailAtEveryByteOfTheLastRecord) {
    std::vector<std::size_t> offsets;
    std::string full = segment(0, 0, 3, &offsets);
    std::size_t last = offsets.back();
    for (std::size_t cut = last; cut < full.size(); cut++) {
        write_file(path(0, 0), full.substr(0, cut));
        Recovery recovery = recover_ok();
        ASSERT_EQ(recovery.messages.size(), 2u) << "cut at " << cut;
        ASSERT_EQ(recovery.segments.size(), 1u);
        EXPECT_EQ(recovery.segments[0].valid_bytes, last) << "cut at " << cut;
        EXPECT_EQ(recovery.segments[0].file_bytes, cut);
        EXPECT_EQ(recovery.segments[0].problem,
                  cut == last ? SegmentProblem::none : SegmentProblem::torn_tail)
            << "cut at " << cut << ": " << recovery.segments[0].problem_detail;
        EXPECT_EQ(recovery.next_segment_seq[0], 1u);
        EXPECT_EQ(fs::file_size(path(0, 0)), cut);  // Never modified.
    }
    write_file(path(0, 0), full);
    EXPECT_EQ(recover_ok().messages.size(), 3u);
}

TEST_F(SpoolDir, TornSegmentHeader) {
    std::string full = segment(0, 0, 1);
    for (std::size_t cut = 1; cut < 32; cut++) {
        write_file(path(0, 0), full.substr(0, cut));
        Recovery recovery = recover_ok();
        EXPECT_TRUE(recovery.messages.empty());
        EXPECT_EQ(recovery.segments[0].problem, SegmentProblem::torn_tail) << cut;
        EXPECT_EQ(recovery.next_segment_seq[0], 1u);  // The name is taken all the same.
    }
}

TEST_F(SpoolDir, FlippedByteStopsTheSegmentAtThatRecord) {
    std::vector<std::size_t> offsets;
    std::string full = segment(0, 0, 3, &offsets);
    std::size_t begin = offsets[1];
    std::size_t end = offsets[2];
    // In memory first, every byte of the middle record.
    for (std::size_t at = begin; at < end; at++) {
        std::string damaged = full;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
        DecodedSegment decoded =
            decode_segment(std::span<const char>(damaged.data(), damaged.size()));
        ASSERT_EQ(decoded.messages.size(), 1u) << "flip at " << at;
        EXPECT_EQ(decoded.summary.valid_bytes, begin) << "flip at " << at;
        // Mostly corrupt_record; a flip that pushes the length past the end reads as torn.
        EXPECT_NE(decoded.summary.problem, SegmentProblem::none) << "flip at " << at;
    }
    // And once through the file system, with a second segment left intact.
    std::string damaged = full;
    damaged[(begin + end) / 2] ^= 1;
    write_file(path(0, 0), damaged);
    write_file(path(0, 1), segment(0, 1, 1));
    Recovery recovery = recover_ok();
    EXPECT_EQ(ids(recovery), (std::vector<std::string>{"0000000000000000", "0000000001000000"}));
    EXPECT_EQ(recovery.segments[0].problem, SegmentProblem::corrupt_record);
    EXPECT_NE(recovery.segments[0].problem_detail.find(std::to_string(begin)), std::string::npos)
        << recovery.segments[0].problem_detail;
}

TEST_F(SpoolDir, ZeroFilledTailIsTorn) {
    std::vector<std::size_t> offsets;
    std::string full = segment(0, 0, 3, &offsets);
    // A preallocated or punched range after the last record.
    write_file(path(0, 0), full + std::string(8192, '\0'));
    Recovery recovery = recover_ok();
    EXPECT_EQ(recovery.messages.size(), 3u);
    EXPECT_EQ(recovery.segments[0].problem, SegmentProblem::torn_tail);
    EXPECT_EQ(recovery.segments[0].valid_bytes, full.size());
    // The last record's bytes zeroed from its middle on, the file keeping its length
    // (a write whose data never reached the disk).
    std::string holed = full;
    std::size_t middle = (offsets[2] + full.size()) / 2;
    std::fill(holed.begin() + static_cast<std::ptrdiff_t>(middle), holed.end(), '\0');
    write_file(path(0, 0), holed + std::string(4096, '\0'));
    recovery = recover_ok();
    EXPECT_EQ(recovery.messages.size(), 2u);
    EXPECT_EQ(recovery.segments[0].valid_bytes, offsets[2]);
    // The whole last record zeroed (a punched failed batch).
    std::string punched = full;
    std::fill(punched.begin() + static_cast<std::ptrdiff_t>(offsets[2]), punched.end(), '\0');
    write_file(path(0, 0), punched);
    recovery = recover_ok();
    EXPECT_EQ(recovery.messages.size(), 2u);
    EXPECT_EQ(recovery.segments[0].problem, SegmentProblem::torn_tail);
}

TEST_F(SpoolDir, StrayFilesAreIgnoredOrReportedNeverFatal) {
    write_file(path(0, 2), segment(0, 2, 1));
    std::string garbage;
    for (int i = 0; i < 5000; i++) {
        garbage.push_back(static_cast<char>((i * 7919) % 251));
    }
    write_file(path(0, 3), garbage);                                // Garbage under a segment name.
    write_file(path(0, 4), "");                                     // Created, nothing written yet.
    write_file(path(0, 5), segment(0, 9, 1));                       // Header names another segment.
    write_file(path(1, 0), segment(0, 0, 1));                       // Header names another shard.
    write_file(dir_ + "/shard-0/junk.txt", garbage);                // Not a segment name.
    write_file(dir_ + "/shard-0/0000000A.seg", segment(0, 10, 1));  // Upper case: not ours.
    write_file(dir_ + "/shard-0/ffffffff.seg", segment(0, 0xFFFFFFFF, 1));  // Out of range.
    write_file(dir_ + "/shard-01/00000000.seg", segment(1, 0, 1));  // Leading zero: not ours.
    write_file(dir_ + "/shard-256/00000000.seg", "x");
    write_file(dir_ + "/shard-x/00000000.seg", "x");
    write_file(dir_ + "/shard-3", "a file, not a directory");
    write_file(dir_ + "/README", "hello");
    fs::create_directories(path(0, 6));                // A directory.
    fs::create_symlink(path(0, 2), path(0, 7));        // A symlink.
    ASSERT_EQ(::mkfifo(path(0, 8).c_str(), 0600), 0);  // A FIFO: must not block.
    Recovery recovery = recover_ok();
    EXPECT_EQ(ids(recovery), (std::vector<std::string>{"0000000002000000"}));
    EXPECT_EQ(recovery.next_segment_seq, (std::vector<std::uint32_t>{9, 1}));
    std::vector<SegmentProblem> problems;
    for (const SegmentSummary& summary : recovery.segments) {
        problems.push_back(summary.problem);
    }
    EXPECT_EQ(problems, (std::vector<SegmentProblem>{
                            SegmentProblem::none, SegmentProblem::corrupt_record,
                            SegmentProblem::none, SegmentProblem::bad_segment_header,
                            SegmentProblem::not_regular_file, SegmentProblem::not_regular_file,
                            SegmentProblem::not_regular_file, SegmentProblem::bad_segment_header}));
}

TEST_F(SpoolDir, StatusRecordsEndAMessagesLife) {
    std::string first;
    append_segment_header(0, 0, first);
    QueueId a{0, 0, 0};
    QueueId b{0, 0, 1};
    QueueId c{0, 0, 2};
    append_message_record(sample_meta(a, 0), "", sample_body(0), first);  // 2 recipients.
    append_message_record(sample_meta(b, 1), "", sample_body(1), first);
    append_message_record(sample_meta(c, 2), "", sample_body(2), first);
    append_status_record(a, 0, RecipientStatus::delivered, first);
    append_status_record(b, 0, RecipientStatus::bounced, first);
    append_status_record(QueueId{9, 9, 9}, 0, RecipientStatus::delivered, first);  // Unknown.
    append_status_record(c, 7, RecipientStatus::delivered, first);  // No such recipient.
    write_file(path(0, 0), first);
    Recovery recovery = recover_ok();
    ASSERT_EQ(ids(recovery),
              (std::vector<std::string>{a.to_string(), b.to_string(), c.to_string()}));
    EXPECT_EQ(recovery.messages[0].recipient_status,
              (std::vector<RecipientStatus>{RecipientStatus::delivered, RecipientStatus::pending}));

    // Later outcomes, written by another shard into its own segment.
    std::string second;
    append_segment_header(1, 4, second);
    append_status_record(a, 1, RecipientStatus::bounced, second);
    append_status_record(b, 1, RecipientStatus::delivered, second);
    write_file(path(1, 4), second);
    recovery = recover_ok();
    EXPECT_EQ(ids(recovery), (std::vector<std::string>{c.to_string()}));
    EXPECT_EQ(recovery.segments[0].message_count, 3u);
    EXPECT_EQ(recovery.segments[0].live_count, 1u);
    EXPECT_EQ(recovery.segments[1].live_count, 0u);
    EXPECT_EQ(recovery.next_segment_seq, (std::vector<std::uint32_t>{1, 5}));

    // A torn status record does not count.
    std::string torn = second.substr(0, second.size() - 3);
    write_file(path(1, 4), torn);
    recovery = recover_ok();
    EXPECT_EQ(ids(recovery), (std::vector<std::string>{b.to_string(), c.to_string()}));
}

TEST_F(SpoolDir, MessageStatusRecordsHoldReleaseAndDelete) {
    QueueId a{0, 1, 0};
    QueueId b{0, 1, 1};
    QueueId c{0, 1, 2};
    std::string first = segment(0, 1, 3);
    append_message_status_record(a, MessageStatus::held, 1000, first);
    append_message_status_record(b, MessageStatus::held, 1001, first);
    append_status_record(b, 0, RecipientStatus::delivered, first);
    append_message_status_record(b, MessageStatus::released, 1002, first);
    append_message_status_record(c, MessageStatus::deleted, 1003, first);
    write_file(path(0, 1), first);
    Recovery recovery = recover_ok();
    // c is gone although none of its recipients reached a final status.
    ASSERT_EQ(ids(recovery), (std::vector<std::string>{a.to_string(), b.to_string()}));
    EXPECT_TRUE(recovery.messages[0].held);
    EXPECT_FALSE(recovery.messages[1].held);
    // b's history, in file order, statuses interleaved with the administrator's records.
    const auto& history = recovery.messages[1].history;
    ASSERT_EQ(history.size(), 3u);
    EXPECT_EQ(history[0].type, RecordType::message_status);
    EXPECT_EQ(history[0].message_status, MessageStatus::held);
    EXPECT_EQ(history[0].time_unix_ms, 1001u);
    EXPECT_EQ(history[1].type, RecordType::status);
    EXPECT_EQ(history[1].recipient_index, 0u);
    EXPECT_EQ(history[1].recipient_status, RecipientStatus::delivered);
    EXPECT_EQ(history[2].message_status, MessageStatus::released);
    EXPECT_EQ(recovery.segments[0].live_count, 2u);

    // Later records in a later segment win: a released, b held again (as hubctl writes
    // them into a stopped hub's spool, in a new segment of the owning shard's directory).
    std::string second;
    append_segment_header(0, 2, second);
    append_message_status_record(a, MessageStatus::released, 2000, second);
    append_message_status_record(b, MessageStatus::held, 2001, second);
    write_file(path(0, 2), second);
    recovery = recover_ok();
    ASSERT_EQ(recovery.messages.size(), 2u);
    EXPECT_FALSE(recovery.messages[0].held);
    EXPECT_TRUE(recovery.messages[1].held);
    EXPECT_EQ(recovery.messages[0].history.size(), 2u);
    EXPECT_EQ(recovery.next_segment_seq, (std::vector<std::uint32_t>{3}));

    // A torn admin record does not count: b is released again.
    write_file(path(0, 2), second.substr(0, second.size() - 5));
    recovery = recover_ok();
    ASSERT_EQ(recovery.messages.size(), 2u);
    EXPECT_FALSE(recovery.messages[0].held);
    EXPECT_FALSE(recovery.messages[1].held);
}

TEST_F(SpoolDir, DuplicateIdsKeepTheLastCopy) {
    // A compaction that crashed after copying a message and before deleting its source:
    // the newer copy wins, so the old segment is dead again and can simply be deleted.
    QueueId id{0, 0, 0};
    write_file(path(0, 0), segment(0, 0, 1));
    std::string copy;
    append_segment_header(0, 3, copy);
    append_message_record(sample_meta(id, 0), sample_received(0), sample_body(0), copy);
    write_file(path(0, 3), copy);
    Recovery recovery = recover_ok();
    ASSERT_EQ(ids(recovery), (std::vector<std::string>{id.to_string()}));
    EXPECT_EQ(recovery.messages[0].segment_path, path(0, 3));
    EXPECT_EQ(recovery.messages[0].segment_seq, 3u);
    ASSERT_EQ(recovery.segments.size(), 2u);
    EXPECT_EQ(recovery.segments[0].live_count, 0u) << "the source holds no live copy";
    EXPECT_EQ(recovery.segments[1].live_count, 1u);
    auto content = read_content(recovery.messages[0]);
    ASSERT_TRUE(content.has_value()) << content.error().detail;
    EXPECT_EQ(*content, sample_received(0) + sample_body(0));
}

TEST_F(SpoolDir, StatusesApplyToTheMessageWhicheverCopyWins) {
    // Message a: recipient 0 delivered before the compaction (the status is in segment 1
    // and was copied along), recipient 1 delivered after it (segment 2 only). Message b:
    // copied, then finished; the status names the id, so the old copy stays dead too.
    QueueId a{0, 0, 0};
    QueueId b{0, 0, 1};
    write_file(path(0, 0), segment(0, 0, 2));
    std::string one;
    append_segment_header(0, 1, one);
    append_status_record(a, 0, RecipientStatus::delivered, one);
    write_file(path(0, 1), one);
    std::string two;
    append_segment_header(0, 2, two);
    append_message_record(sample_meta(a, 0), sample_received(0), sample_body(0), two);
    append_status_record(a, 0, RecipientStatus::delivered, two);  // Copied with it.
    append_message_record(sample_meta(b, 1), sample_received(1), sample_body(1), two);
    append_status_record(b, 0, RecipientStatus::delivered, two);
    append_status_record(b, 1, RecipientStatus::bounced, two);
    write_file(path(0, 2), two);
    Recovery recovery = recover_ok();
    ASSERT_EQ(ids(recovery), (std::vector<std::string>{a.to_string()}));
    EXPECT_EQ(recovery.messages[0].recipient_status,
              (std::vector<RecipientStatus>{RecipientStatus::delivered, RecipientStatus::pending}));
    // The source deleted (the compaction finished): the same answer.
    std::filesystem::remove(path(0, 0));
    Recovery after = recover_ok();
    ASSERT_EQ(ids(after), (std::vector<std::string>{a.to_string()}));
    EXPECT_EQ(after.messages[0].recipient_status, recovery.messages[0].recipient_status);
    // Segment 1 deleted too (oldest first): still the same.
    std::filesystem::remove(path(0, 1));
    EXPECT_EQ(ids(recover_ok()), (std::vector<std::string>{a.to_string()}));
}

TEST_F(SpoolDir, TornCompactionKeepsTheSourceCopy) {
    // The copy's write was cut at every byte: the message is never lost (the source still
    // has it) and never doubled.
    QueueId id{0, 0, 0};
    write_file(path(0, 0), segment(0, 0, 1));
    std::string copy;
    append_segment_header(0, 1, copy);
    std::size_t header_bytes = copy.size();
    append_message_record(sample_meta(id, 0), sample_received(0), sample_body(0), copy);
    for (std::size_t cut = header_bytes + 1; cut < copy.size(); cut++) {
        write_file(path(0, 1), copy.substr(0, cut));
        Recovery recovery = recover_ok();
        ASSERT_EQ(ids(recovery), (std::vector<std::string>{id.to_string()})) << "cut " << cut;
        EXPECT_EQ(recovery.messages[0].segment_path, path(0, 0)) << "cut " << cut;
        EXPECT_EQ(recovery.segments[1].problem, SegmentProblem::torn_tail) << "cut " << cut;
    }
}

TEST_F(SpoolDir, ReadContentRechecksTheRecord) {
    write_file(path(0, 0), segment(0, 0, 2));
    Recovery recovery = recover_ok();
    ASSERT_EQ(recovery.messages.size(), 2u);
    auto content = read_content(recovery.messages[1]);
    ASSERT_TRUE(content.has_value());
    EXPECT_EQ(*content, sample_received(1) + sample_body(1));
    // The file changed under us: the record no longer checks out.
    std::string bytes = segment(0, 0, 2);
    bytes[recovery.messages[1].record_offset + 40] ^= 1;
    write_file(path(0, 0), bytes);
    content = read_content(recovery.messages[1]);
    ASSERT_FALSE(content.has_value());
    EXPECT_EQ(content.error().error, RecoveryError::unreadable_file);
    fs::remove(path(0, 0));
    content = read_content(recovery.messages[1]);
    ASSERT_FALSE(content.has_value());
    EXPECT_NE(content.error().detail.find(path(0, 0)), std::string::npos);
}

TEST_F(SpoolDir, LargeMessageAcrossReadChunks) {
    std::string body = sample_body(0) + std::string(read_chunk_bytes * 3 + 5, 'z');
    std::string bytes;
    append_segment_header(0, 0, bytes);
    append_message_record(sample_meta(QueueId{0, 0, 0}), sample_received(0), body, bytes);
    append_message_record(sample_meta(QueueId{0, 0, 1}), sample_received(1), sample_body(1), bytes);
    write_file(path(0, 0), bytes);
    Recovery recovery = recover_ok();
    ASSERT_EQ(recovery.messages.size(), 2u);
    EXPECT_EQ(recovery.messages[0].message_id, "<m0@partner1.gov.uk>");
    EXPECT_EQ(recovery.messages[0].content_bytes, sample_received(0).size() + body.size());
    auto content = read_content(recovery.messages[0]);
    ASSERT_TRUE(content.has_value());
    EXPECT_EQ(*content, sample_received(0) + body);
}

// A streamed message (slices, then its commit) recovers from a file, its statuses apply
// from a later segment, and read_content reassembles it; a stream whose commit is torn or
// missing never recovers as a message, whatever else the segment holds.
TEST_F(SpoolDir, StreamedMessagesRecoverOnlyWithTheirCommit) {
    std::string content = sample_received(0) + sample_body(0);
    while (content.size() < 5 * slice_content_bytes_max / 2) {
        content += ".dot line and more text " + std::to_string(content.size()) + "\r\n";
    }
    std::string bytes;
    append_segment_header(0, 0, bytes);
    StreamedMessageEncoder kept(QueueId{0, 0, 0});
    StreamedMessageEncoder torn(QueueId{0, 0, 2});
    std::string_view view(content);
    for (std::size_t at = 0; at < content.size(); at += slice_content_bytes_max) {
        kept.append_slice(view.substr(at, slice_content_bytes_max), bytes);
        torn.append_slice(view.substr(at, 1000), bytes);
    }
    kept.append_commit(sample_meta(QueueId{0, 0, 0}), bytes);
    append_message_record(sample_meta(QueueId{0, 0, 1}, 1), sample_received(1), sample_body(1),
                          bytes);
    std::size_t torn_commit = bytes.size();
    torn.append_commit(sample_meta(QueueId{0, 0, 2}, 2), bytes);
    write_file(path(0, 0), bytes.substr(0, torn_commit + 30));  // The commit cut short.
    std::string later;
    append_segment_header(0, 1, later);
    append_status_record(QueueId{0, 0, 0}, 0, RecipientStatus::delivered, later);
    write_file(path(0, 1), later);

    Recovery recovery = recover_ok();
    ASSERT_EQ(recovery.messages.size(), 2u);
    const RecoveredMessage& streamed = recovery.messages[0];
    EXPECT_TRUE(streamed.streamed());
    EXPECT_EQ(streamed.meta.id, (QueueId{0, 0, 0}));
    EXPECT_EQ(streamed.message_id, "<m0@partner1.gov.uk>");
    EXPECT_EQ(streamed.recipient_status[0], RecipientStatus::delivered);
    EXPECT_EQ(streamed.recipient_status[1], RecipientStatus::pending);
    EXPECT_EQ(streamed.stored_bytes(), kept.stored_bytes());
    EXPECT_EQ(recovery.segments[0].problem, SegmentProblem::torn_tail);
    EXPECT_EQ(recovery.segments[0].abandoned_streams, 1u);
    auto read = read_content(streamed);
    ASSERT_TRUE(read.has_value()) << read.error().detail;
    EXPECT_EQ(*read, content);

    // A flipped byte in a middle slice: read_content refuses rather than returning it.
    std::string damaged = bytes.substr(0, torn_commit);
    damaged[streamed.slices[1].content_offset + 100] ^= 1;
    write_file(path(0, 0), damaged);
    read = read_content(streamed);
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().error, RecoveryError::unreadable_file);
    // And recovery of that file stops at the damaged slice: the message is not recovered.
    Recovery again = recover_ok();
    EXPECT_EQ(again.messages.size(), 0u);
    EXPECT_EQ(again.segments[0].problem, SegmentProblem::corrupt_record);
}

}  // namespace
}  // namespace hub::spool
