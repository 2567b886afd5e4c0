// spool_record_fuzz.cc -- decode arbitrary bytes as a spool segment.
//
// The input is a whole segment image, as recovery would find it on disk. Beyond "no
// crash, no leak, no huge allocation" (ASan, UBSan and -rss_limit_mb check those), it
// checks that the decoder's report is consistent and that the format is canonical:
// re-encoding what was decoded gives back exactly the bytes of the valid prefix.
// Seeds in tests/fuzz/spool_record/ come from record_test.cc (WriteFuzzSeeds).
#include <cstddef>
#include <cstdint>
#include <map>
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
    std::size_t c = 0;
    // Streams by id, re-encoded slice by slice and committed where the decoder committed.
    std::map<std::string, hub::spool::StreamedMessageEncoder> streams;
    while (again.size() < decoded.summary.valid_bytes) {
        if (c < decoded.slices.size() && decoded.slices[c].record_offset == again.size()) {
            const auto& slice = decoded.slices[c];
            std::string key = slice.id.to_string();
            if (slice.index == 0) {
                streams.erase(key);
                streams.emplace(key, hub::spool::StreamedMessageEncoder(slice.id));
            }
            auto stream = streams.find(key);
            HUB_ASSERT(stream != streams.end() && stream->second.slices() == slice.index);
            stream->second.append_slice(slice.content, again);
            c++;
        } else if (m < decoded.messages.size() &&
                   decoded.messages[m].record_offset == again.size()) {
            const auto& message = decoded.messages[m];
            if (message.streamed()) {
                auto stream = streams.find(message.meta.id.to_string());
                HUB_ASSERT(stream != streams.end());
                HUB_ASSERT(stream->second.slices() == message.slices.size());
                stream->second.append_commit(message.meta, again);
                HUB_ASSERT(stream->second.stored_bytes() == message.stored_bytes());
                streams.erase(stream);
            } else {
                hub::spool::append_message_record(message.meta, decoded.contents[m], "", again);
            }
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
               a == decoded.message_statuses.size() && c == decoded.slices.size());
    HUB_ASSERT(streams.size() == decoded.summary.abandoned_streams);
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
    for (std::size_t m = 0; m < decoded.messages.size(); m++) {
        const auto& message = decoded.messages[m];
        HUB_ASSERT(message.record_offset < summary.valid_bytes);
        HUB_ASSERT(decoded.contents[m].size() == message.content_bytes);
        for (const auto& slice : message.slices) {
            HUB_ASSERT(slice.record_offset < message.record_offset);
            HUB_ASSERT(slice.content_offset + slice.content_bytes <= message.record_offset);
        }
        HUB_ASSERT(message.message_id.size() <= hub::spool::message_id_bytes_max);
        HUB_ASSERT(message.meta.envelope.recipients.size() == message.recipient_status.size());
    }
    check_reencodes(bytes, decoded);
    return 0;
}
