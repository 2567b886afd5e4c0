// spool_format.h -- the on-disk record format of spool segments, and recovery.
//
// A segment is an append-only file "<spool>/shard-<k>/<seq as 8 hex>.seg" written by one
// shard. It starts with a segment header record and holds message records (envelope,
// content) and, later, status records (per-recipient delivery outcomes). Every record is
//   header { magic, type, length, crc32c over type+length+payload } payload trailer
// and the checksum and trailer are checked when a record is encoded and again when it is
// read back (the style guide's paired assertions at the durability boundary). Recovery
// reads each segment from the start and stops at the first record that fails a check: a
// torn tail was never acknowledged, because 250 is sent only after an fdatasync covering
// the whole record.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "smtp/envelope.h"

namespace hub::spool {

// A queue id names a message for its whole life: shard, segment and record ordinal.
// Shown as 16 upper-case hex digits: 2 shard, 8 segment, 6 ordinal.
struct QueueId {
    std::uint8_t shard = 0;
    std::uint32_t segment_seq = 0;
    std::uint32_t ordinal = 0;  // < 2^24; the record's position among messages in the segment.

    std::string to_string() const;
    static bool parse(std::string_view text, QueueId& id);
    friend bool operator==(const QueueId&, const QueueId&) = default;
};

inline constexpr std::uint32_t ordinal_max = (1u << 24) - 1;

// Everything stored about one accepted message.
struct MessageMeta {
    QueueId id;
    std::uint64_t arrival_unix_s = 0;
    std::string client_address;  // "192.0.2.1" or "2001:db8::1".
    std::string partner;         // Partner matched at connect, if any.
    smtp::Envelope envelope;
    smtp::TlsFacts tls;
};

// Appends the segment header record (written once when a segment file is created).
void append_segment_header(std::uint8_t shard, std::uint32_t segment_seq, std::string& out);

// Appends one message record. The content is received_header followed by body (the
// engine passes the Received: line it generated and the body the session collected), so
// the record is written without first concatenating the two.
void append_message_record(const MessageMeta& meta, std::string_view received_header,
                           std::string_view body, std::string& out);

// File name of a segment relative to the spool directory: "shard-0/0000002a.seg".
std::string segment_relative_path(std::uint8_t shard, std::uint32_t segment_seq);

enum class RecoveryError { unreadable_dir, unreadable_file };

struct RecoveredMessage {
    MessageMeta meta;
    std::string segment_path;
    std::uint64_t record_offset = 0;   // Where the record starts in the segment.
    std::uint64_t content_bytes = 0;   // Size of the stored message content.
    std::string message_id;            // The Message-ID header value, if present (for listings).
};

struct SegmentSummary {
    std::string path;
    std::uint8_t shard = 0;
    std::uint32_t segment_seq = 0;
    std::uint64_t valid_bytes = 0;  // Prefix that passed every check.
    std::uint64_t file_bytes = 0;   // Anything beyond valid_bytes is a torn tail.
    std::uint32_t message_count = 0;
};

struct Recovery {
    std::vector<RecoveredMessage> messages;  // Live messages, in spool order.
    std::vector<SegmentSummary> segments;
    // Per shard (index = shard number), the next unused segment sequence number.
    std::vector<std::uint32_t> next_segment_seq;
};

struct RecoveryFailure {
    RecoveryError error;
    std::string detail;  // Path and errno text.
};

// Scans every segment under spool_dir with blocking reads (start-up, or hubctl on a
// running or stopped hub); never modifies a file. shard_count sizes next_segment_seq.
[[nodiscard]] Result<Recovery, RecoveryFailure> recover(const std::string& spool_dir,
                                                        std::uint32_t shard_count);

// Reads one message's stored content (the Received: header and the body) back.
[[nodiscard]] Result<std::string, RecoveryFailure> read_content(const RecoveredMessage& message);

}  // namespace hub::spool
