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
//
// Record layout. All integers are little-endian; offsets are from the
// record start, which is always a multiple of 8 in the file.
//   0  u32 magic          "HBR1" (the bytes 'H' 'B' 'R' '1', i.e. 0x31524248)
//   4  u8  type           1 segment_header, 2 message, 3 status, 4 message_status,
//                         5 content_slice, 6 streamed_message
//   5  u8  version        the format version that introduced the type: 1 for types 1-3,
//                         2 for type 4, 3 for types 5 and 6 (see "Versions" below)
//   6  u16 reserved       0
//   8  u32 payload_bytes  P (bounded per type, see limits.h)
//  12  u32 crc32c         CRC-32C over bytes 4..11 (type, version, reserved, payload_bytes)
//                         followed by the P payload bytes
//  16  payload            P bytes
//  16+P u32 payload_bytes again (P)
//  20+P u32 magic         "END1" (0x31444E45)
//  24+P zero bytes up to the next multiple of 8 (0..7 bytes)
// A reader requires every one of these: magic, type, version, reserved, the bound on P,
// the checksum, the repeated length, the trailer magic and zero padding.
//
// Payload strings are "str" = u32 length L (<= string_bytes_max) then L bytes. Payloads:
//   segment_header (P = 8): u8 shard, u8[3] zero, u32 segment_seq
//   message: u8 id.shard, u32 id.segment_seq, u32 id.ordinal, u64 arrival_unix_s,
//            str client_address, str partner,
//            str helo, u8 esmtp (0|1), str mail_from, u64 declared_bytes,
//            u8 body_type (0 7BIT, 1 8BITMIME), u8 dsn_ret (0 unset, 1 FULL, 2 HDRS),
//            str dsn_envid, u32 recipient count N (1..recipients_count_max),
//            N x { str address, u8 notify (DsnNotify bits, <= 15), str orcpt },
//            str tls.version, str tls.cipher, u32 tls.bits (<= tls_bits_max),
//            str tls.client_cert_verdict, str tls.client_subject, str tls.client_issuer,
//            str tls.client_cn,
//            u32 content length C (<= content_bytes_max), C content bytes
//            (the Received: header and then the body, exactly as given to the encoder).
//            Everything before the content is at most meta_bytes_max; the payload ends
//            exactly after the content.
//   status (P = 14): u8 id.shard, u32 id.segment_seq, u32 id.ordinal,
//            u32 recipient_index, u8 status (1 delivered, 2 bounced)
//   message_status (P = 18, version 2): u8 id.shard, u32 id.segment_seq, u32 id.ordinal,
//            u8 status (1 held, 2 released, 3 deleted), u64 time_unix_ms
//            A per-message status set by the administrator (hubctl queue hold, release,
//            delete). Like a status record it names a message in any segment, and a
//            compaction copies it forward with the message it names, in order.
//   content_slice (version 3): u8 id.shard, u32 id.segment_seq, u32 id.ordinal,
//            u32 slice_index, u32 S (1..slice_content_bytes_max), S content bytes
//   streamed_message (version 3): the message payload's fields up to and including the
//            TLS strings, then u32 slice count N (1..slices_per_message_max), u32 content
//            length C (<= content_bytes_max); no content.
// Streamed messages. A message whose content is written as it arrives is stored as its
// content_slice records (indexes 0, 1, ... N-1, in file order, each self-checking like every
// record, other records in between) and then one streamed_message record, the commit, all
// in one segment. The content is the slices' bytes in index order (the Received: header and
// the body, as for a message record). Recovery counts a message only at its commit, and
// only if the slices before it in that segment are exactly indexes 0..N-1 of that id and
// hold exactly C bytes; slices without a commit (a sender that went away, a 552, a crash
// before the commit record was synced) belong to no message and are dead bytes. The commit
// is synced with the slices it names or after them (the writer's group commit), and 250
// follows that sync, so a torn message never recovers as a message. A slice that does not
// continue its id's open stream (wrong index, a stream over its bounds) and a commit that
// does not match its slices are corrupt records: the writer never writes them. Slice 0
// begins with the Received: header and holds the header block as far as it fits (the
// Message-ID for listings is looked for there only); at most
// open_streams_per_segment_max streams are open at any point of a segment.
// Versions. Each record carries the version of the format that introduced its type, and a
// reader requires exactly that version for the type, so a segment without message_status
// records is byte-for-byte a version 1 segment and an older hubd reads it. A version 1
// reader stops at a message_status record as if it were damage (it keeps the records before
// it): downgrading hubd after an administrator used hold/release/delete is not supported.
// Likewise a version 2 reader stops at the first content_slice record (version 3).
// In a segment the first record is the segment header, naming the file's own shard and
// sequence, and no other record is a segment header. A message's id need not name the
// segment it is stored in (the writer keeps ids handed out before a rotation, and a
// compaction copies messages with their ids); recovery keeps the last copy of an id
// (recovery.cc, apply_statuses, says why).
// Status records may name a message in any segment. Recovery applies status and
// message_status records in spool order (shard directories in number order, segments in
// sequence order, records in file order); for a message's admin records this is the order
// they were written in as long as the shard count stays the same, because they are written
// by the shard that owns the message (id.shard % shards), or by hubctl into that shard's
// directory. XXX: after a change of the shard count a release written by the new owner can
// sort before an older hold in another directory; hold it again, or release it again.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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

    // Precondition: ordinal <= ordinal_max.
    std::string to_string() const;
    // Accepts exactly 16 hex digits (either case); returns false and leaves id alone
    // otherwise.
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

enum class RecordType : std::uint8_t {
    segment_header = 1,
    message = 2,
    status = 3,
    message_status = 4,
    content_slice = 5,
    streamed_message = 6,
};

// A message-wide status set by the administrator, stored in a message_status record. The
// latest held/released decides whether a recovered message is held; deleted drops it.
enum class MessageStatus : std::uint8_t { held = 1, released = 2, deleted = 3 };
std::string_view to_string(MessageStatus status);

// A recipient's state. Status records carry only the final ones (delivered, bounced);
// pending is what a recipient without a status record is.
enum class RecipientStatus : std::uint8_t { pending = 0, delivered = 1, bounced = 2 };

// Appends the segment header record (written once when a segment file is created).
// Precondition (all appenders): out.size() is a multiple of record_alignment_bytes, i.e.
// out holds whole records, so that the record lands 8-aligned in the file.
void append_segment_header(std::uint8_t shard, std::uint32_t segment_seq, std::string& out);

// Appends one message record. The content is received_header followed by body (the
// engine passes the Received: line it generated and the body the session collected), so
// the record is written without first concatenating the two.
// Preconditions (asserted: the SMTP limits are tighter): every string <= string_bytes_max,
// 1 <= recipients <= recipients_count_max, notify <= 15, 0 <= tls.bits <= tls_bits_max,
// id.ordinal <= ordinal_max, content <= content_bytes_max, meta <= meta_bytes_max.
void append_message_record(const MessageMeta& meta, std::string_view received_header,
                           std::string_view body, std::string& out);

// The same record as append_message_record, without copying the body: appends to `out`
// the record's bytes before the body (header, metadata, the Received: header) and returns
// the bytes after it (trailer and padding, at most 15), so that a writer can write the
// new bytes of out, the body where it lies and the returned tail with one vectored write.
// The three together are byte for byte what append_message_record appends, and are
// checked by the reader's code like every record. Same preconditions.
std::string append_message_record_around(const MessageMeta& meta, std::string_view received_header,
                                         std::string_view body, std::string& out);

// Writes one streamed message's records (see "Streamed messages" above): a sans-I/O
// encoder the writer feeds with slices of content as they arrive and then commits. It
// holds no content: each slice is encoded into `out` (or around the caller's bytes) and
// forgotten, so a message costs the writer at most one slice whatever its size.
class StreamedMessageEncoder {
public:
    explicit StreamedMessageEncoder(const QueueId& id);

    // Appends a content_slice record holding `content` to out. Preconditions: 1 <=
    // content.size() <= slice_content_bytes_max, slices() < slices_per_message_max,
    // content_bytes() + content.size() <= content_bytes_max, !committed().
    void append_slice(std::string_view content, std::string& out);
    // The same record without copying content: appends the bytes before it to out and
    // returns the bytes after it (at most 15), as append_message_record_around does.
    std::string append_slice_around(std::string_view content, std::string& out);
    // Appends the streamed_message record that commits the slices so far. Preconditions:
    // meta.id is this encoder's id, slices() >= 1, !committed(); the meta preconditions of
    // append_message_record.
    void append_commit(const MessageMeta& meta, std::string& out);

    const QueueId& id() const { return id_; }
    std::uint32_t slices() const { return slices_; }
    std::uint64_t content_bytes() const { return content_bytes_; }
    bool committed() const { return committed_; }
    // Bytes of records this encoder appended (slices and commit, padding included): what
    // the message occupies in its segment.
    std::uint64_t stored_bytes() const { return stored_bytes_; }

private:
    QueueId id_;
    std::uint32_t slices_ = 0;
    std::uint64_t content_bytes_ = 0;
    std::uint64_t stored_bytes_ = 0;
    bool committed_ = false;
};

// Appends a status record: recipient recipient_index (its position in the envelope) of
// message id reached a final status. Precondition: status is delivered or bounced.
void append_status_record(const QueueId& id, std::uint32_t recipient_index, RecipientStatus status,
                          std::string& out);

// Appends a message_status record: the administrator set message id's status at
// time_unix_ms (shown by hubctl queue show).
void append_message_status_record(const QueueId& id, MessageStatus status,
                                  std::uint64_t time_unix_ms, std::string& out);

// File name of a segment relative to the spool directory: "shard-0/0000002a.seg".
std::string segment_relative_path(std::uint8_t shard, std::uint32_t segment_seq);

enum class RecoveryError { unreadable_dir, unreadable_file };

// One status or message_status record about a message, as recovery met it.
struct StatusEvent {
    RecordType type = RecordType::status;  // status (one recipient) or message_status.
    std::uint32_t recipient_index = 0;     // status only.
    RecipientStatus recipient_status = RecipientStatus::pending;  // status only.
    MessageStatus message_status = MessageStatus::held;           // message_status only.
    std::uint64_t time_unix_ms = 0;  // message_status only: status records keep no time.
};

// One content_slice record of a streamed message, where recovery found it.
struct SliceExtent {
    std::uint64_t record_offset = 0;   // Where the content_slice record starts.
    std::uint64_t record_bytes = 0;    // The whole record, padding included.
    std::uint64_t content_offset = 0;  // Where its content bytes start in the segment.
    std::uint32_t content_bytes = 0;
};

// Where a durable record lives in one of a shard's segments, so that it can be read back
// with one read. The spool writer reports it; a message record pinned in the segment
// ledger is named by its record's place and what the message occupies (its slices too).
struct RecordLocation {
    std::uint32_t segment_seq = 0;
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
};

struct RecoveredMessage {
    MessageMeta meta;
    std::string segment_path;
    std::uint8_t segment_shard = 0;  // The segment it is stored in (its directory's shard,
    std::uint32_t segment_seq = 0;   // and sequence), as named by segment_path.
    // Where the record starts in the segment, and its size with padding (one read): the
    // message record, or for a streamed message its streamed_message record (the commit).
    std::uint64_t record_offset = 0;
    std::uint64_t record_bytes = 0;
    std::uint64_t content_bytes = 0;  // Size of the stored message content.
    // Where the content starts in the segment: it is the last content_bytes of the payload,
    // so a reader holding the record can view it instead of copying it. 0 for a streamed
    // message, whose content is in `slices`.
    std::uint64_t content_offset = 0;
    // A streamed message's content_slice records, in index order (all in segment_path,
    // before the commit); empty for a message record.
    std::vector<SliceExtent> slices;
    bool streamed() const { return !slices.empty(); }
    // Bytes the message occupies in its segment: its record, plus its slices if streamed.
    std::uint64_t stored_bytes() const;
    std::string message_id;  // The Message-ID header value, if present (for listings).
    // One per envelope recipient, in envelope order: pending until a status record says
    // otherwise. A message is live while any recipient is pending.
    std::vector<RecipientStatus> recipient_status;
    // The administrator's hold, as the latest held/released message_status record says.
    // (A deleted message is not recovered at all.)
    bool held = false;
    // Every status and message_status record naming this message, in spool order.
    std::vector<StatusEvent> history;
};

// Why a segment's valid prefix ends before the end of its file.
enum class SegmentProblem : std::uint8_t {
    none,                // Every byte belongs to a valid record.
    torn_tail,           // The last record is cut short or zero-filled: never acknowledged.
    corrupt_record,      // A record fails a check and is not simply the last one written.
    bad_segment_header,  // No segment header, or it names another shard or sequence.
    not_regular_file,    // A name like a segment's on a directory, symlink, FIFO ...
};

struct SegmentSummary {
    std::string path;
    std::uint8_t shard = 0;
    std::uint32_t segment_seq = 0;
    std::uint64_t valid_bytes = 0;  // Prefix that passed every check.
    std::uint64_t file_bytes = 0;   // Anything beyond valid_bytes is a torn tail.
    std::uint32_t message_count = 0;
    std::uint32_t live_count = 0;  // Messages still live after applying status records.
    // Streams of content_slice records the valid prefix leaves without a commit (never
    // acknowledged; dead bytes), and their bytes.
    std::uint32_t abandoned_streams = 0;
    std::uint64_t abandoned_bytes = 0;
    SegmentProblem problem = SegmentProblem::none;
    std::string problem_detail;  // "record at offset 4096: checksum mismatch"; empty if none.
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
// running or stopped hub); never modifies a file. shard_count sizes next_segment_seq
// (it gets max(shard_count, highest shard directory seen + 1) entries); precondition:
// shard_count <= shard_count_max. Entries that are not "shard-<decimal 0..255>" or
// "<8 lower-case hex>.seg" are ignored. A segment file that vanishes during the scan is
// skipped (the hub deleted it); any other failure to list a directory or read a segment is
// an error, because skipping it would forget acknowledged mail.
[[nodiscard]] Result<Recovery, RecoveryFailure> recover(const std::string& spool_dir,
                                                        std::uint32_t shard_count);

// Reads one message's stored content (the Received: header and the body) back, checking
// the record again. unreadable_file if the file cannot be read or the record at
// record_offset is no longer that message's valid record.
[[nodiscard]] Result<std::string, RecoveryFailure> read_content(const RecoveredMessage& message);

// --- The pure decoder, shared by recovery, read_content, the tests and the fuzzer. ---

struct SegmentName {
    std::uint8_t shard = 0;
    std::uint32_t segment_seq = 0;
    friend bool operator==(const SegmentName&, const SegmentName&) = default;
};

struct StatusUpdate {
    QueueId id;
    std::uint32_t recipient_index = 0;
    RecipientStatus status = RecipientStatus::pending;
    std::uint64_t record_offset = 0;  // Where the record is in its segment.
};

struct MessageStatusUpdate {
    QueueId id;
    MessageStatus status = MessageStatus::held;
    std::uint64_t time_unix_ms = 0;
    std::uint64_t record_offset = 0;  // Where the record is in its segment.
};

struct DecodeOptions {
    // The shard and sequence the segment header must name (from the file name); when
    // absent any header is accepted and sets summary.shard and summary.segment_seq.
    std::optional<SegmentName> expected;
    bool keep_content = false;  // Fill DecodedSegment::contents (tests, fuzzer).
};

struct DecodedSegment {
    SegmentSummary summary;  // path empty; live_count == message_count.
    // Message records of the valid prefix, in order; segment_path empty, recipient_status
    // all pending (statuses are applied across segments by recover()).
    std::vector<RecoveredMessage> messages;
    std::vector<StatusUpdate> statuses;  // Status records of the valid prefix, in order.
    // message_status records of the valid prefix, in order (interleave with statuses by
    // record_offset for the exact order).
    std::vector<MessageStatusUpdate> message_statuses;
    std::vector<std::string> contents;  // Parallel to messages when keep_content.
    // When keep_content: every content_slice record of the valid prefix, in file order,
    // committed or not (the fuzzer re-encodes the prefix from them).
    struct Slice {
        QueueId id;
        std::uint32_t index = 0;
        std::uint64_t record_offset = 0;
        std::string content;
    };
    std::vector<Slice> slices;
};

// Decodes a whole segment image. Never fails: what does not decode ends the valid prefix
// and is described by summary.problem. Memory use is bounded by bytes.size() and limits.h.
DecodedSegment decode_segment(std::span<const char> bytes, const DecodeOptions& options = {});

// The value of the first Message-ID header field in content's header section (unfolded,
// trimmed, control characters replaced by spaces, at most message_id_bytes_max bytes);
// empty if there is none. Looks at no more than header_scan_bytes_max bytes.
std::string extract_message_id(std::string_view content);

}  // namespace hub::spool
