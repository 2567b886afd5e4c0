// spool_record_fuzz.cc -- decode arbitrary bytes as a spool segment.
//
// The input is a whole segment image, as recovery would find it on disk. Beyond "no
// crash, no leak, no huge allocation" (ASan, UBSan and -rss_limit_mb check those), it
// checks that the decoder's report is consistent and that the format is canonical:
// re-encoding what was decoded gives back exactly the bytes of the valid prefix.
// Seeds in tests/fuzz/spool_record/ come from record_test.cc (WriteFuzzSeeds).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/assert.h"
#include "spool/limits.h"
#include "spool/spool_format.h"

namespace {

using hub::spool::DecodedSegment;

void check_reencodes(std::span<const char> bytes, const DecodedSegment& decoded) {
    if (decoded.summary.valid_bytes == 0) {
        return;
    }
    // Rebuild the prefix: header, then messages, statuses and message statuses in file
    // order (each knows its offset).
    std::string again;
    hub::spool::append_segment_header(decoded.summary.shard, decoded.summary.segment_seq, again);
    std::size_t m = 0;
    std::size_t s = 0;
    std::size_t a = 0;
    while (again.size() < decoded.summary.valid_bytes) {
        if (m < decoded.messages.size() && decoded.messages[m].record_offset == again.size()) {
            hub::spool::append_message_record(decoded.messages[m].meta, decoded.contents[m], "",
                                              again);
            m++;
        } else if (s < decoded.statuses.size() &&
                   decoded.statuses[s].record_offset == again.size()) {
            const auto& status = decoded.statuses[s];
            hub::spool::append_status_record(status.id, status.recipient_index, status.status,
                                             again);
            s++;
        } else {
            HUB_ASSERT(a < decoded.message_statuses.size());
            const auto& status = decoded.message_statuses[a];
            HUB_ASSERT(status.record_offset == again.size());
            hub::spool::append_message_status_record(status.id, status.status, status.time_unix_ms,
                                                     again);
            a++;
        }
    }
    HUB_ASSERT(again.size() == decoded.summary.valid_bytes);
    HUB_ASSERT(std::string_view(bytes.data(), again.size()) == again);
    HUB_ASSERT(m == decoded.messages.size() && s == decoded.statuses.size() &&
               a == decoded.message_statuses.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
    hub::spool::DecodeOptions options;
    options.keep_content = true;
    DecodedSegment decoded = hub::spool::decode_segment(bytes, options);
    const auto& summary = decoded.summary;
    HUB_ASSERT(summary.valid_bytes <= size);
    HUB_ASSERT(summary.valid_bytes % hub::spool::record_alignment_bytes == 0);
    HUB_ASSERT(summary.file_bytes == size);
    HUB_ASSERT((summary.problem == hub::spool::SegmentProblem::none) ==
               (summary.valid_bytes == size));
    HUB_ASSERT(decoded.contents.size() == decoded.messages.size());
    for (const auto& message : decoded.messages) {
        HUB_ASSERT(message.record_offset < summary.valid_bytes);
        HUB_ASSERT(message.message_id.size() <= hub::spool::message_id_bytes_max);
        HUB_ASSERT(message.meta.envelope.recipients.size() == message.recipient_status.size());
    }
    check_reencodes(bytes, decoded);
    return 0;
}
