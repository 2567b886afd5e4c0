// slice_reader.h -- reading a streamed message back one slice at a time (sans-I/O).
//
// A streamed message (spool_format.h, "Streamed messages") is its content_slice records
// and a commit, all in one segment; recovery (or the writer) knows where each slice is.
// Whoever sends or copies such a message holds one slice at a time: it asks next() where
// the next slice record is, reads that record whole into its own buffer (one read of at
// most slice_record_bytes_max), and hands it to take(), which checks it again (checksum,
// id, index, the length recovery found) and views its content. The reader holds no
// content, only the extents and how far it got.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "spool/limits.h"
#include "spool/spool_format.h"

namespace hub::spool {

enum class SliceError {
    damaged,  // The record read back is not slice `index` of the message with its length.
};

class SliceReader {
public:
    struct Read {
        std::uint32_t index = 0;   // Slice index.
        std::uint64_t offset = 0;  // Where its record starts in the segment.
        std::uint64_t bytes = 0;   // The whole record (<= slice_record_bytes_max).
    };

    // Preconditions: !slices.empty(), slices.size() <= slices_per_message_max, each
    // record_bytes <= slice_record_bytes_max.
    SliceReader(const QueueId& id, std::vector<SliceExtent> slices);

    // The next slice record to read, or nothing when every slice was taken.
    std::optional<Read> next() const;
    // Checks the record read for next() (read whole: record.size() == next()->bytes) and
    // views its content, which lives as long as `record`. A record that fails a check is
    // SliceError::damaged and the reader stays where it is (the caller gives up).
    [[nodiscard]] Result<std::string_view, SliceError> take(std::span<const char> record);

    // The message was copied elsewhere (compaction): the same slices, now at `slices`.
    // Precondition: the same count and content lengths.
    void relocate(std::vector<SliceExtent> slices);

    bool done() const { return taken_ == slices_.size(); }
    std::uint32_t taken() const { return taken_; }
    std::uint32_t slice_count() const { return static_cast<std::uint32_t>(slices_.size()); }
    std::uint64_t content_bytes() const { return content_bytes_; }  // All slices.
    std::uint64_t content_taken() const { return content_taken_; }

private:
    QueueId id_;
    std::vector<SliceExtent> slices_;
    std::uint32_t taken_ = 0;
    std::uint64_t content_bytes_ = 0;
    std::uint64_t content_taken_ = 0;
};

}  // namespace hub::spool
