// slice_reader.cc -- reading a streamed message back one slice at a time (sans-I/O).
//
// PURPOSE   Say which slice record to read next and check each one read back, for the
//           outbound path, reports and compaction.
// RUNS IN   a shard (hubd); no I/O.
// TRUST     record bytes come from the spool and are checked again (decode_slice_view).
// LIMITS    one slice record at a time: slice_record_bytes_max.
// SEE ALSO  spool/slice_reader.h, spool/spool_format.h "Streamed messages"
#include "spool/slice_reader.h"

#include "base/assert.h"
#include "spool/segment_source.h"

namespace hub::spool {

static_assert(slice_record_bytes_max <= read_chunk_bytes + 64, "a slice is about one read chunk");

SliceReader::SliceReader(const QueueId& id, std::vector<SliceExtent> slices)
    : id_(id), slices_(std::move(slices)) {
    HUB_ASSERT(!slices_.empty() && slices_.size() <= slices_per_message_max);
    for (const SliceExtent& slice : slices_) {
        HUB_ASSERT(slice.record_bytes <= slice_record_bytes_max);
        content_bytes_ += slice.content_bytes;
    }
}

std::optional<SliceReader::Read> SliceReader::next() const {
    if (done()) {
        return std::nullopt;
    }
    const SliceExtent& slice = slices_[taken_];
    return Read{taken_, slice.record_offset, slice.record_bytes};
}

Result<std::string_view, SliceError> SliceReader::take(std::span<const char> record) {
    HUB_ASSERT(!done());
    const SliceExtent& slice = slices_[taken_];
    std::string_view content;
    if (record.size() != slice.record_bytes ||
        decode_slice_view(record, id_, taken_, content) != SingleRecordOutcome::ok ||
        content.size() != slice.content_bytes) {
        return unexpected(SliceError::damaged);
    }
    taken_++;
    content_taken_ += content.size();
    HUB_ASSERT(content_taken_ <= content_bytes_);
    return content;
}

void SliceReader::relocate(std::vector<SliceExtent> slices) {
    HUB_ASSERT(slices.size() == slices_.size());
    for (std::size_t index = 0; index < slices.size(); index++) {
        HUB_ASSERT(slices[index].content_bytes == slices_[index].content_bytes);
    }
    slices_ = std::move(slices);
}

}  // namespace hub::spool
