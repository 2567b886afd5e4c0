// segment_source.h -- where the decoder gets segment bytes from (internal to src/spool).
//
// The decoder reads a segment through this interface so that one piece of code checks
// records whether they come from memory (decode_segment: tests, the fuzzer, the encoder's
// own check) or from a file read in bounded chunks (recover, read_content). A file is
// never read whole: a segment may be large and a hostile file may be huge.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"
#include "spool/spool_format.h"

namespace hub::spool {

class ByteSource {
public:
    virtual ~ByteSource() = default;
    // The bytes [offset, offset + count), or fewer only where the data ends (at EOF, or
    // a record still being appended). Valid until the next call. Precondition:
    // count <= read_chunk_bytes. Errors are errno values.
    virtual Result<std::span<const char>, int> read(std::uint64_t offset, std::size_t count) = 0;
    // The data's size when last looked at; used only to tell a torn tail from corruption
    // in reports.
    virtual std::uint64_t size_hint() const = 0;
};

class SpanSource final : public ByteSource {
public:
    explicit SpanSource(std::span<const char> bytes) : bytes_(bytes) {}
    Result<std::span<const char>, int> read(std::uint64_t offset, std::size_t count) override;
    std::uint64_t size_hint() const override { return bytes_.size(); }

private:
    std::span<const char> bytes_;
};

struct SegmentDecodeResult {
    DecodedSegment decoded;
    int read_errno = 0;  // Non-zero: the source failed; decoded holds what came before.
};

// decode_segment over any source.
SegmentDecodeResult decode_segment_from(ByteSource& source, const DecodeOptions& options);

enum class SingleRecordOutcome { ok, not_a_valid_message, read_error };

// Decodes the one message record at offset (read_content), keeping its content.
SingleRecordOutcome decode_message_at(ByteSource& source, std::uint64_t offset,
                                      RecoveredMessage& message, std::string& content,
                                      int& read_errno);

// Decodes the one message record at the start of `record` (a record read back whole),
// checking it again, without copying its content: `content` views into `record`, so it is
// valid while `record` is. message.record_offset is 0 and content_offset is within record.
SingleRecordOutcome decode_message_view(std::span<const char> record, RecoveredMessage& message,
                                        std::string_view& content);

// Reads a streamed message's content back (read_content): its commit and every slice,
// each checked again and required to be the one recovery found (id, index, length).
SingleRecordOutcome decode_streamed_content(ByteSource& source, const RecoveredMessage& message,
                                            std::string& content, int& read_errno);

// Checks the one content_slice record at the start of `record` (read back whole: one slice
// is at most content_slice_payload_bytes_max plus framing) and views its content, without
// copying, when it is slice `index` of message `id`.
SingleRecordOutcome decode_slice_view(std::span<const char> record, const QueueId& id,
                                      std::uint32_t index, std::string_view& content);

// Checks the one streamed_message record (a commit) that is all of `record` (read back
// whole): it commits slice_count slices and content_bytes bytes of message id.
SingleRecordOutcome decode_commit_view(std::span<const char> record, const QueueId& id,
                                       std::uint32_t slice_count, std::uint64_t content_bytes);

}  // namespace hub::spool
