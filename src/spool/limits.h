// limits.h -- bounds of the spool record format.
//
// The encoder asserts them (the engine hands it only what the SMTP limits already allowed);
// the decoder checks them on every length it reads, so that a corrupt or hostile segment
// can cost at most these amounts of memory and never a crash.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::spool {

// Record framing; the layout is described in spool_format.h.
inline constexpr std::uint32_t record_header_bytes = 16;
inline constexpr std::uint32_t record_trailer_bytes = 8;
inline constexpr std::uint32_t record_alignment_bytes = 8;  // Every record starts 8-aligned.

// Payload fields.
inline constexpr std::uint32_t string_bytes_max = 4096;        // Any one envelope or TLS string.
inline constexpr std::uint32_t recipients_count_max = 10000;   // Per message record.
inline constexpr std::uint32_t meta_bytes_max = 16u << 20;     // All fields before the content.
inline constexpr std::uint32_t content_bytes_max = 64u << 20;  // Received: header plus body.
inline constexpr std::uint32_t tls_bits_max = 65535;

// Fixed payload sizes: QueueId is shard u8 + segment u32 + ordinal u32.
inline constexpr std::uint32_t queue_id_bytes = 9;
inline constexpr std::uint32_t segment_header_payload_bytes = 8;
inline constexpr std::uint32_t status_payload_bytes = queue_id_bytes + 4 + 1;
inline constexpr std::uint32_t message_status_payload_bytes = queue_id_bytes + 1 + 8;
inline constexpr std::uint32_t message_payload_bytes_max = meta_bytes_max + 4 + content_bytes_max;

// Streamed messages (spool_format.h, "Streamed messages"): the content goes into
// content_slice records as it arrives and a streamed_message record commits it. One slice
// holds at most slice_content_bytes_max content bytes: the most a writer holds of a
// message's body before writing it, and what a reader holds of it to check one slice.
// 256 KiB = read_chunk_bytes, so a slice's content is read back with one read.
inline constexpr std::uint32_t slice_content_bytes_max = 256u << 10;
// At most this many slices per message: bounds what recovery keeps per open stream (one
// extent per slice). A writer that fills each slice needs content_bytes_max /
// slice_content_bytes_max = 256; the rest is room for a writer that cuts a slice early
// (each group commit writes what arrived), which must then merge small pieces.
inline constexpr std::uint32_t slices_per_message_max = 8192;
// At most this many messages may have slices and no commit yet at one point of a segment
// (messages in DATA at once on one shard): bounds recovery's table of open streams, each
// of which keeps slice 0's first header_scan_bytes_max bytes for the Message-ID (so at
// most 128 MiB for a hostile segment). A writer with this many streams open writes the
// next message as one message record instead.
inline constexpr std::uint32_t open_streams_per_segment_max = 1024;
inline constexpr std::uint32_t content_slice_fixed_bytes = queue_id_bytes + 4 + 4;
inline constexpr std::uint32_t content_slice_payload_bytes_max =
    content_slice_fixed_bytes + slice_content_bytes_max;
// The largest content_slice record, framing and padding included: what one read of a
// slice holds (the outbound path's and a report's slice buffer).
inline constexpr std::uint32_t slice_record_bytes_max =
    record_header_bytes + content_slice_payload_bytes_max + record_trailer_bytes +
    record_alignment_bytes;
// A streamed_message ends with the slice count and the content length instead of content.
inline constexpr std::uint32_t streamed_message_payload_bytes_max = meta_bytes_max + 4 + 4;

// Recovery.
inline constexpr std::uint32_t shard_count_max = 256;  // QueueId::shard is one byte.
// The largest sequence number a segment file may have, so that "max + 1" always fits.
inline constexpr std::uint32_t segment_seq_max = 0xFFFFFFFEu;
inline constexpr std::size_t segments_per_shard_max = 1u << 20;  // Files listed per shard.
inline constexpr std::uint32_t read_chunk_bytes = 256u << 10;    // One pread during a scan.
// The Message-ID header is looked for in this much of the content (Postfix's
// header_size_limit is 100 KiB; headers longer than this are not worth a listing).
inline constexpr std::uint32_t header_scan_bytes_max = 128u << 10;
inline constexpr std::uint32_t message_id_bytes_max = 998;  // RFC 5322 2.1.1 line limit.

// Segment reclamation (segment_ledger.h). The head segment (the oldest still on disk) is
// compacted -- its live messages copied forward, then the file deleted -- when its live
// bytes are at most this percentage of what deleting it frees (itself plus the dead
// segments behind it that wait for it). 50: copying costs at most half of what it gives
// back, so the spool holds at most about three times the bytes really queued.
inline constexpr std::uint32_t compaction_live_percent_max = 50;
// One compaction round reads and copies at most this many messages and bytes, so a shard
// never holds more than this much of other messages' content in memory for it.
inline constexpr std::uint32_t compaction_round_messages_max = 256;
inline constexpr std::uint64_t compaction_round_bytes_max = 8u << 20;
// A streamed message is copied slice by slice, at most one per round, so what a round
// holds of messages in memory is bounded by this whatever their sizes: its message
// records and commits, plus the one slice record of its streamed message.
inline constexpr std::uint64_t compaction_round_memory_bytes_max =
    compaction_round_bytes_max + slice_record_bytes_max;
// Compaction copies may use free space down to this share of spool.reserve_bytes (new
// mail stops at the whole reserve; status records may use all of it): room a compaction
// can never take from the status records that make it pay.
inline constexpr std::uint32_t compaction_floor_percent_of_reserve = 50;
// A head segment pinned by live records the shard does not hold (a message that routes
// nowhere, left in the spool, or one still being committed) is looked at again after this
// long: each look walks the shard's messages, so not every tick.
inline constexpr std::uint64_t compaction_pinned_head_retry_ms = 60'000;

static_assert(record_header_bytes % record_alignment_bytes == 0);
static_assert(record_trailer_bytes % record_alignment_bytes == 0);
static_assert(string_bytes_max < read_chunk_bytes, "a string is read in one piece");
static_assert(header_scan_bytes_max <= content_bytes_max);
static_assert(slice_content_bytes_max <= read_chunk_bytes, "a slice's content is one read");
static_assert(std::uint64_t{slices_per_message_max} * slice_content_bytes_max >= content_bytes_max,
              "the largest content fits in full slices");
static_assert(message_id_bytes_max <= header_scan_bytes_max);
static_assert(std::uint64_t{message_payload_bytes_max} + record_header_bytes +
                      record_trailer_bytes + record_alignment_bytes <
                  (std::uint64_t{1} << 32),
              "a whole record's size fits the u32 length fields");
static_assert(std::uint64_t{recipients_count_max} * (4 + 1 + 4) <= meta_bytes_max,
              "the largest recipient list of empty strings fits the meta bound");

}  // namespace hub::spool
