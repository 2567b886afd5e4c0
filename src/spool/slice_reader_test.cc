// slice_reader_test.cc -- SliceReader: which record next, each checked, none skipped.
#include "spool/slice_reader.h"

#include <gtest/gtest.h>

#include <string>

#include "spool/segment_source.h"
#include "spool/test_messages.h"

namespace hub::spool {
namespace {

using testing::sample_meta;

std::span<const char> as_span(std::string_view bytes) {
    return std::span<const char>(bytes.data(), bytes.size());
}

struct Image {
    std::string bytes;
    RecoveredMessage message;
    std::string content;
};

// A segment with one streamed message of `content_bytes` (other records between its
// slices), as recovery sees it.
Image streamed_image(std::size_t content_bytes) {
    Image image;
    QueueId id{0, 9, 0};
    append_segment_header(0, 9, image.bytes);
    for (std::size_t i = 0; i < content_bytes; i++) {
        image.content += static_cast<char>('a' + i % 23);
    }
    StreamedMessageEncoder encoder(id);
    std::string_view view(image.content);
    for (std::size_t at = 0; at < view.size(); at += slice_content_bytes_max) {
        encoder.append_slice(view.substr(at, slice_content_bytes_max), image.bytes);
        append_status_record(QueueId{0, 8, 1}, 0, RecipientStatus::delivered, image.bytes);
    }
    encoder.append_commit(sample_meta(id, 1), image.bytes);
    DecodedSegment decoded = decode_segment(as_span(image.bytes));
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::none);
    EXPECT_EQ(decoded.messages.size(), 1u);
    if (!decoded.messages.empty()) {
        image.message = decoded.messages[0];
    }
    return image;
}

std::span<const char> record_of(const Image& image, const SliceReader::Read& read) {
    return as_span(std::string_view(image.bytes).substr(read.offset, read.bytes));
}

TEST(SliceReader, ReadsEverySliceInOrder) {
    Image image = streamed_image(2 * slice_content_bytes_max + 1234);
    ASSERT_EQ(image.message.slices.size(), 3u);
    SliceReader reader(image.message.meta.id, image.message.slices);
    EXPECT_EQ(reader.content_bytes(), image.content.size());
    std::string joined;
    std::uint32_t expected_index = 0;
    while (std::optional<SliceReader::Read> read = reader.next()) {
        EXPECT_EQ(read->index, expected_index++);
        EXPECT_LE(read->bytes, slice_record_bytes_max);
        auto content = reader.take(record_of(image, *read));
        ASSERT_TRUE(content.has_value());
        joined += *content;
        EXPECT_EQ(reader.content_taken(), joined.size());
    }
    EXPECT_TRUE(reader.done());
    EXPECT_EQ(reader.taken(), 3u);
    EXPECT_TRUE(joined == image.content);
}

// Each way a record read back can be wrong is damage, and the reader does not move on.
TEST(SliceReader, DamagedRecordsAreRefused) {
    Image image = streamed_image(slice_content_bytes_max + 10);
    const std::vector<SliceExtent>& slices = image.message.slices;
    ASSERT_EQ(slices.size(), 2u);
    auto slice_bytes = [&](std::uint32_t index) {
        return image.bytes.substr(slices[index].record_offset, slices[index].record_bytes);
    };
    struct Case {
        const char* name;
        std::string record;
    };
    std::string flipped = slice_bytes(0);
    flipped[flipped.size() / 2] ^= 1;
    std::string short_read = slice_bytes(0).substr(0, 100);
    std::string zeros(slice_bytes(0).size(), '\0');
    std::vector<Case> cases = {
        {"flipped_content_byte", flipped},
        {"short_read", short_read},
        {"zeros", zeros},
        {"the_next_slice", slice_bytes(1)},
        {"the_commit", image.bytes.substr(image.message.record_offset, image.message.record_bytes)},
    };
    for (const Case& test : cases) {
        SCOPED_TRACE(test.name);
        SliceReader reader(image.message.meta.id, slices);
        auto content = reader.take(as_span(test.record));
        EXPECT_FALSE(content.has_value());
        EXPECT_EQ(reader.taken(), 0u);
        EXPECT_EQ(reader.next()->index, 0u);
    }
    // Another message's slice 0 with the same bytes is not this message's.
    SliceReader other(QueueId{0, 9, 1}, slices);
    EXPECT_FALSE(other.take(as_span(slice_bytes(0))).has_value());
}

// A compaction moved the message between two reads: the reader goes on at the new place.
TEST(SliceReader, RelocateKeepsItsPlace) {
    Image image = streamed_image(slice_content_bytes_max + 10);
    SliceReader reader(image.message.meta.id, image.message.slices);
    ASSERT_TRUE(reader.take(record_of(image, *reader.next())).has_value());
    // The copy: the same records, appended after the original in another image.
    std::string copy(64, '\0');
    std::vector<SliceExtent> moved = image.message.slices;
    for (SliceExtent& slice : moved) {
        std::uint64_t at = copy.size();
        copy += image.bytes.substr(slice.record_offset, slice.record_bytes);
        slice.content_offset = at + (slice.content_offset - slice.record_offset);
        slice.record_offset = at;
    }
    reader.relocate(moved);
    SliceReader::Read read = *reader.next();
    EXPECT_EQ(read.index, 1u);
    EXPECT_EQ(read.offset, moved[1].record_offset);
    auto content = reader.take(as_span(std::string_view(copy).substr(read.offset, read.bytes)));
    ASSERT_TRUE(content.has_value());
    EXPECT_EQ(*content, std::string_view(image.content).substr(slice_content_bytes_max));
    EXPECT_TRUE(reader.done());
}

// The commit read back whole is checked against what recovery found.
TEST(SliceReader, CommitViewIsChecked) {
    Image image = streamed_image(slice_content_bytes_max + 10);
    const RecoveredMessage& message = image.message;
    std::string commit = image.bytes.substr(message.record_offset, message.record_bytes);
    const QueueId& id = message.meta.id;
    EXPECT_EQ(decode_commit_view(as_span(commit), id, 2, message.content_bytes),
              SingleRecordOutcome::ok);
    EXPECT_NE(decode_commit_view(as_span(commit), id, 3, message.content_bytes),
              SingleRecordOutcome::ok);
    EXPECT_NE(decode_commit_view(as_span(commit), id, 2, message.content_bytes + 1),
              SingleRecordOutcome::ok);
    EXPECT_NE(decode_commit_view(as_span(commit), QueueId{0, 9, 1}, 2, message.content_bytes),
              SingleRecordOutcome::ok);
    std::string flipped = commit;
    flipped[40] ^= 1;
    EXPECT_NE(decode_commit_view(as_span(flipped), id, 2, message.content_bytes),
              SingleRecordOutcome::ok);
    std::string slice =
        image.bytes.substr(message.slices[0].record_offset, message.slices[0].record_bytes);
    EXPECT_NE(decode_commit_view(as_span(slice), id, 2, message.content_bytes),
              SingleRecordOutcome::ok);
}

}  // namespace
}  // namespace hub::spool
