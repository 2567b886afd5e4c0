// spool_format.cc -- encoding and decoding of spool records.
//
// PURPOSE   Turn accepted messages and delivery outcomes into checksummed, trailered
//           records, and turn segment bytes back into them, stopping at the first record
//           that fails any check. The record layout is specified in spool_format.h.
// RUNS IN   every shard (the append_* encoders, on the data path) and recovery (hubd
//           start-up, hubctl); the decoder also runs in the tests and the fuzzer.
// TRUST     segment bytes are untrusted: the disk may tear, zero or flip them and a hostile
//           local user may write any file into the spool. Every length is checked against
//           the bytes left in the payload and against limits.h before anything is
//           allocated. Encoder inputs come from our own SMTP session and are asserted.
// LIMITS    limits.h: string_bytes_max, recipients_count_max, meta_bytes_max,
//           content_bytes_max; reads of at most read_chunk_bytes.
// SEE ALSO  spool_format.h (layout), recovery.cc (the directory scan), crc32c.h,
//           engine/spool_writer.h (the group-commit writer)
#include "spool/spool_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>

#include "base/assert.h"
#include "spool/crc32c.h"
#include "spool/limits.h"
#include "spool/segment_source.h"

namespace hub::spool {
namespace {

inline constexpr std::uint32_t record_magic = 0x31524248u;   // "HBR1" as stored, LE.
inline constexpr std::uint32_t trailer_magic = 0x31444E45u;  // "END1" as stored, LE.
// The version each record type was introduced in; a record carries exactly that one, so
// that segments without newer types stay readable by older readers (spool_format.h).
inline constexpr std::uint8_t format_version_max = 3;

constexpr std::uint8_t record_version(RecordType type) {
    switch (type) {
        case RecordType::segment_header:
        case RecordType::message:
        case RecordType::status:
            return 1;
        case RecordType::message_status:
            return 2;
        case RecordType::content_slice:
        case RecordType::streamed_message:
            return 3;
    }
    return 0;  // Not a type: no version matches it.
}
static_assert(record_version(RecordType::streamed_message) == format_version_max);
inline constexpr std::uint8_t record_type_code_max =
    static_cast<std::uint8_t>(RecordType::streamed_message);
static_assert(record_magic == ('H' | ('B' << 8) | ('R' << 16) | (std::uint32_t{'1'} << 24)));
static_assert(trailer_magic == ('E' | ('N' << 8) | ('D' << 16) | (std::uint32_t{'1'} << 24)));

// Bytes 4..11 of the header (type, version, reserved, payload_bytes) start the checksum.
inline constexpr std::size_t crc_covered_header_offset = 4;
inline constexpr std::size_t crc_covered_header_bytes = 8;
inline constexpr std::size_t crc_field_offset = 12;

// Smallest message payload, all strings empty: id, arrival, client, partner, helo, esmtp,
// mail_from, declared_bytes, BODY, RET, ENVID, count, one recipient, six TLS strings and
// bits, content length.
inline constexpr std::uint32_t message_payload_bytes_min =
    queue_id_bytes + 8 + 4 + 4 + 4 + 1 + 4 + 8 + 1 + 1 + 4 + 4 + (4 + 1 + 4) + 6 * 4 + 4 + 4;
static_assert(message_payload_bytes_min == 93);
// A commit has the same fields but the content length, then slice count and content length.
inline constexpr std::uint32_t streamed_message_payload_bytes_min =
    message_payload_bytes_min - 4 + 4 + 4;
inline constexpr std::uint32_t content_slice_payload_bytes_min = content_slice_fixed_bytes + 1;

constexpr std::uint64_t align_up(std::uint64_t value) {
    return (value + record_alignment_bytes - 1) / record_alignment_bytes * record_alignment_bytes;
}

std::uint32_t load_u32(const char* p) {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; i--) {
        value = (value << 8) | static_cast<unsigned char>(p[i]);
    }
    return value;
}

std::uint64_t load_u64(const char* p) {
    return std::uint64_t{load_u32(p)} | (std::uint64_t{load_u32(p + 4)} << 32);
}

void store_u32(char* p, std::uint32_t value) {
    for (int i = 0; i < 4; i++) {
        p[i] = static_cast<char>((value >> (8 * i)) & 0xFFu);
    }
}

// --- Encoding ------------------------------------------------------------------------

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t value) { out_.push_back(static_cast<char>(value)); }
    void u32(std::uint32_t value) {
        std::array<char, 4> bytes;
        store_u32(bytes.data(), value);
        out_.append(bytes.data(), bytes.size());
    }
    void u64(std::uint64_t value) {
        u32(static_cast<std::uint32_t>(value & 0xFFFFFFFFu));
        u32(static_cast<std::uint32_t>(value >> 32));
    }
    void str(std::string_view text) {
        HUB_ASSERT(text.size() <= string_bytes_max);  // The SMTP limits are tighter.
        u32(static_cast<std::uint32_t>(text.size()));
        out_.append(text);
    }
    void id(const QueueId& queue_id) {
        HUB_ASSERT(queue_id.ordinal <= ordinal_max);
        u8(queue_id.shard);
        u32(queue_id.segment_seq);
        u32(queue_id.ordinal);
    }

private:
    std::string& out_;
};

std::uint8_t body_type_code(smtp::BodyType type) {
    switch (type) {
        case smtp::BodyType::seven_bit:
            return 0;
        case smtp::BodyType::eight_bit_mime:
            return 1;
    }
    HUB_PANIC("unknown BodyType");
}

std::uint8_t dsn_ret_code(smtp::DsnRet ret) {
    switch (ret) {
        case smtp::DsnRet::unset:
            return 0;
        case smtp::DsnRet::full:
            return 1;
        case smtp::DsnRet::headers:
            return 2;
    }
    HUB_PANIC("unknown DsnRet");
}

void encode_meta(const MessageMeta& meta, Writer& writer) {
    const smtp::Envelope& envelope = meta.envelope;
    HUB_ASSERT(!envelope.recipients.empty());
    HUB_ASSERT(envelope.recipients.size() <= recipients_count_max);
    writer.id(meta.id);
    writer.u64(meta.arrival_unix_s);
    writer.str(meta.client_address);
    writer.str(meta.partner);
    writer.str(envelope.helo);
    writer.u8(envelope.esmtp ? 1 : 0);
    writer.str(envelope.mail_from);
    writer.u64(envelope.declared_bytes);
    writer.u8(body_type_code(envelope.body_type));
    writer.u8(dsn_ret_code(envelope.dsn_ret));
    writer.str(envelope.dsn_envid);
    writer.u32(static_cast<std::uint32_t>(envelope.recipients.size()));
    for (const smtp::Recipient& recipient : envelope.recipients) {
        HUB_ASSERT(recipient.notify <= 15);  // Only the four DsnNotify bits exist.
        writer.str(recipient.address);
        writer.u8(recipient.notify);
        writer.str(recipient.orcpt);
    }
    HUB_ASSERT(meta.tls.bits >= 0 && static_cast<std::uint32_t>(meta.tls.bits) <= tls_bits_max);
    writer.str(meta.tls.version);
    writer.str(meta.tls.cipher);
    writer.u32(static_cast<std::uint32_t>(meta.tls.bits));
    writer.str(meta.tls.client_cert_verdict);
    writer.str(meta.tls.client_subject);
    writer.str(meta.tls.client_issuer);
    writer.str(meta.tls.client_cn);
}

RecordType checked_record_type(std::span<const char> record);

// Reserves the header of a record that starts at out[start].
void begin_record(std::string& out) {
    HUB_ASSERT(out.size() % record_alignment_bytes == 0);  // out holds whole records.
    out.append(record_header_bytes, '\0');
}

// Fills in the header, appends trailer and padding, then checks the record with the
// reader's own code: the write half of the paired assertions.
void finish_record(std::string& out, std::size_t start, RecordType type) {
    HUB_ASSERT(out.size() >= start + record_header_bytes);
    std::size_t payload_bytes = out.size() - start - record_header_bytes;
    HUB_ASSERT(payload_bytes <= message_payload_bytes_max);
    char* header = out.data() + start;
    store_u32(header, record_magic);
    header[4] = static_cast<char>(type);
    header[5] = static_cast<char>(record_version(type));
    header[6] = 0;
    header[7] = 0;
    store_u32(header + 8, static_cast<std::uint32_t>(payload_bytes));
    std::uint32_t crc = crc32c_extend(
        0, std::span<const char>(header + crc_covered_header_offset, crc_covered_header_bytes));
    crc = crc32c_extend(crc, std::span<const char>(header + record_header_bytes, payload_bytes));
    store_u32(header + crc_field_offset, crc);
    Writer writer(out);
    writer.u32(static_cast<std::uint32_t>(payload_bytes));
    writer.u32(trailer_magic);
    out.append(align_up(out.size() - start) - (out.size() - start), '\0');
    HUB_ASSERT(out.size() % record_alignment_bytes == 0);
    HUB_ASSERT(checked_record_type(std::span<const char>(out).subspan(start)) == type);
}

// --- Decoding ------------------------------------------------------------------------

enum class Verdict { ok, end, torn, corrupt, io_error };

struct RecordResult {
    Verdict verdict = Verdict::corrupt;
    RecordType type = RecordType::segment_header;
    std::uint64_t record_bytes = 0;
    std::string detail;  // Why it is not ok.
    int read_errno = 0;
};

struct RecordWants {
    bool content = false;       // Keep the whole content.
    bool content_head = false;  // Keep the first header_scan_bytes_max bytes.
};

struct SliceBody {
    QueueId id;
    std::uint32_t index = 0;
    std::uint32_t content_bytes = 0;
    std::uint64_t content_offset = 0;  // In the source.
};

// What one record held; only the part matching its type is filled.
struct RecordBody {
    SegmentName segment;
    RecoveredMessage message;       // message and streamed_message.
    std::uint32_t slice_count = 0;  // streamed_message.
    SliceBody slice;
    StatusUpdate status;
    MessageStatusUpdate message_status;
    std::string content;
};

// Reads payload fields in order, never past the payload, extending the checksum as it goes.
class PayloadReader {
public:
    PayloadReader(ByteSource& source, std::uint64_t offset, std::uint32_t payload_bytes,
                  std::uint32_t crc)
        : source_(source), offset_(offset), left_(payload_bytes), crc_(crc) {}

    bool ok() const { return verdict_ == Verdict::ok; }
    std::uint32_t left() const { return left_; }
    std::uint32_t crc() const { return crc_; }
    std::uint64_t offset() const { return offset_; }
    Verdict verdict() const { return verdict_; }
    const std::string& detail() const { return detail_; }
    int read_errno() const { return read_errno_; }

    void fail(Verdict verdict, std::string detail) {
        if (ok()) {
            verdict_ = verdict;
            detail_ = std::move(detail);
        }
    }

    // The next count bytes of the payload; empty (and !ok()) on failure.
    std::span<const char> take(std::size_t count) {
        HUB_ASSERT(count <= read_chunk_bytes);
        if (!ok()) {
            return {};
        }
        if (count > left_) {
            fail(Verdict::corrupt, fmt::format("a field of {} bytes runs past the payload", count));
            return {};
        }
        Result<std::span<const char>, int> bytes = source_.read(offset_, count);
        if (!bytes) {
            read_errno_ = bytes.error();
            fail(Verdict::io_error, fmt::format("read error at offset {}", offset_));
            return {};
        }
        if (bytes->size() < count) {
            fail(Verdict::torn, "the data ends inside the record");
            return {};
        }
        HUB_ASSERT(bytes->size() == count);
        crc_ = crc32c_extend(crc_, *bytes);
        offset_ += count;
        left_ -= static_cast<std::uint32_t>(count);
        return *bytes;
    }

    std::uint8_t u8() {
        std::span<const char> bytes = take(1);
        return bytes.empty() ? 0 : static_cast<std::uint8_t>(bytes[0]);
    }
    std::uint32_t u32() {
        std::span<const char> bytes = take(4);
        return bytes.empty() ? 0 : load_u32(bytes.data());
    }
    std::uint64_t u64() {
        std::span<const char> bytes = take(8);
        return bytes.empty() ? 0 : load_u64(bytes.data());
    }
    // A u8 that must be at most max (flags and enum codes).
    std::uint8_t code(std::uint8_t max, const char* what) {
        std::uint8_t value = u8();
        if (ok() && value > max) {
            fail(Verdict::corrupt, fmt::format("{} {} is out of range", what, value));
        }
        return value;
    }
    void str(std::string& out) {
        std::uint32_t length = u32();
        if (!ok()) {
            return;
        }
        if (length > string_bytes_max) {
            fail(Verdict::corrupt, fmt::format("a string of {} bytes is over the limit", length));
            return;
        }
        std::span<const char> bytes = take(length);
        out.assign(bytes.data(), bytes.size());  // Empty on failure.
    }
    QueueId id() {
        QueueId queue_id;
        queue_id.shard = u8();
        queue_id.segment_seq = u32();
        queue_id.ordinal = u32();
        if (ok() && queue_id.ordinal > ordinal_max) {
            fail(Verdict::corrupt, "queue id ordinal out of range");
        }
        return queue_id;
    }

private:
    ByteSource& source_;
    std::uint64_t offset_;
    std::uint32_t left_;
    std::uint32_t crc_;
    Verdict verdict_ = Verdict::ok;
    std::string detail_;
    int read_errno_ = 0;
};

void parse_segment_header(PayloadReader& reader, RecordBody& body) {
    body.segment.shard = reader.u8();
    std::span<const char> reserved = reader.take(3);
    body.segment.segment_seq = reader.u32();
    if (reader.ok() && std::any_of(reserved.begin(), reserved.end(), [](char c) { return c; })) {
        reader.fail(Verdict::corrupt, "segment header reserved bytes are not zero");
    }
}

void parse_status(PayloadReader& reader, RecordBody& body) {
    body.status.id = reader.id();
    body.status.recipient_index = reader.u32();
    std::uint8_t status = reader.u8();
    if (!reader.ok()) {
        return;
    }
    if (status == static_cast<std::uint8_t>(RecipientStatus::delivered)) {
        body.status.status = RecipientStatus::delivered;
    } else if (status == static_cast<std::uint8_t>(RecipientStatus::bounced)) {
        body.status.status = RecipientStatus::bounced;
    } else {
        reader.fail(Verdict::corrupt, fmt::format("status code {} is unknown", status));
    }
}

void parse_message_status(PayloadReader& reader, RecordBody& body) {
    body.message_status.id = reader.id();
    std::uint8_t status = reader.u8();
    body.message_status.time_unix_ms = reader.u64();
    if (!reader.ok()) {
        return;
    }
    switch (status) {
        case static_cast<std::uint8_t>(MessageStatus::held):
        case static_cast<std::uint8_t>(MessageStatus::released):
        case static_cast<std::uint8_t>(MessageStatus::deleted):
            body.message_status.status = static_cast<MessageStatus>(status);
            return;
        default:
            reader.fail(Verdict::corrupt, fmt::format("message status code {} is unknown", status));
    }
}

void parse_recipients(PayloadReader& reader, smtp::Envelope& envelope) {
    std::uint32_t count = reader.u32();
    if (reader.ok() && (count == 0 || count > recipients_count_max)) {
        reader.fail(Verdict::corrupt, fmt::format("recipient count {} is out of range", count));
        return;
    }
    // No reserve(count): each recipient takes at least 9 payload bytes, so memory grows
    // only with bytes actually present, whatever the count claims.
    for (std::uint32_t i = 0; i < count && reader.ok(); i++) {
        smtp::Recipient recipient;
        reader.str(recipient.address);
        recipient.notify = reader.code(15, "NOTIFY");
        reader.str(recipient.orcpt);
        envelope.recipients.push_back(std::move(recipient));
    }
}

void parse_meta(PayloadReader& reader, MessageMeta& meta) {
    smtp::Envelope& envelope = meta.envelope;
    meta.id = reader.id();
    meta.arrival_unix_s = reader.u64();
    reader.str(meta.client_address);
    reader.str(meta.partner);
    reader.str(envelope.helo);
    envelope.esmtp = reader.code(1, "esmtp flag") == 1;
    reader.str(envelope.mail_from);
    envelope.declared_bytes = reader.u64();
    envelope.body_type =
        reader.code(1, "BODY") == 1 ? smtp::BodyType::eight_bit_mime : smtp::BodyType::seven_bit;
    std::uint8_t ret = reader.code(2, "RET");
    envelope.dsn_ret = ret == 1   ? smtp::DsnRet::full
                       : ret == 2 ? smtp::DsnRet::headers
                                  : smtp::DsnRet::unset;
    reader.str(envelope.dsn_envid);
    parse_recipients(reader, envelope);
    reader.str(meta.tls.version);
    reader.str(meta.tls.cipher);
    std::uint32_t bits = reader.u32();
    if (reader.ok() && bits > tls_bits_max) {
        reader.fail(Verdict::corrupt, fmt::format("TLS bits {} is out of range", bits));
    }
    meta.tls.bits = static_cast<int>(std::min(bits, tls_bits_max));
    reader.str(meta.tls.client_cert_verdict);
    reader.str(meta.tls.client_subject);
    reader.str(meta.tls.client_issuer);
    reader.str(meta.tls.client_cn);
}

void parse_message(PayloadReader& reader, std::uint32_t payload_bytes, const RecordWants& wants,
                   RecordBody& body) {
    parse_meta(reader, body.message.meta);
    std::uint32_t meta_bytes = payload_bytes - reader.left();
    if (reader.ok() && meta_bytes > meta_bytes_max) {
        reader.fail(Verdict::corrupt, fmt::format("{} bytes of metadata", meta_bytes));
    }
    std::uint32_t content_bytes = reader.u32();
    if (!reader.ok()) {
        return;
    }
    if (content_bytes > content_bytes_max || content_bytes != reader.left()) {
        reader.fail(Verdict::corrupt,
                    fmt::format("content length {} does not fill the payload", content_bytes));
        return;
    }
    body.message.content_bytes = content_bytes;
    std::uint32_t keep = wants.content        ? content_bytes
                         : wants.content_head ? std::min(content_bytes, header_scan_bytes_max)
                                              : 0;
    // Stream the content in chunks: the checksum needs every byte, memory needs none.
    while (reader.ok() && reader.left() > 0) {
        std::span<const char> chunk = reader.take(std::min(reader.left(), read_chunk_bytes));
        std::size_t wanted = keep - std::min<std::size_t>(keep, body.content.size());
        body.content.append(chunk.data(), std::min(wanted, chunk.size()));
    }
}

void parse_content_slice(PayloadReader& reader, const RecordWants& wants, RecordBody& body) {
    body.slice.id = reader.id();
    body.slice.index = reader.u32();
    std::uint32_t content_bytes = reader.u32();
    if (!reader.ok()) {
        return;
    }
    if (content_bytes == 0 || content_bytes > slice_content_bytes_max ||
        content_bytes != reader.left()) {
        reader.fail(Verdict::corrupt,
                    fmt::format("slice length {} does not fill the payload", content_bytes));
        return;
    }
    body.slice.content_bytes = content_bytes;
    body.slice.content_offset = reader.offset();
    // One slice is at most one read; a stream's head is cut to size by take_record.
    std::span<const char> bytes = reader.take(content_bytes);
    if (wants.content || wants.content_head) {
        body.content.assign(bytes.data(), bytes.size());
    }
}

void parse_streamed_message(PayloadReader& reader, std::uint32_t payload_bytes, RecordBody& body) {
    parse_meta(reader, body.message.meta);
    std::uint32_t meta_bytes = payload_bytes - reader.left();
    if (reader.ok() && meta_bytes > meta_bytes_max) {
        reader.fail(Verdict::corrupt, fmt::format("{} bytes of metadata", meta_bytes));
    }
    body.slice_count = reader.u32();
    std::uint32_t content_bytes = reader.u32();
    if (!reader.ok()) {
        return;
    }
    if (body.slice_count == 0 || body.slice_count > slices_per_message_max ||
        content_bytes < body.slice_count || content_bytes > content_bytes_max) {
        reader.fail(Verdict::corrupt, fmt::format("{} slices of {} content bytes are impossible",
                                                  body.slice_count, content_bytes));
        return;
    }
    body.message.content_bytes = content_bytes;
}

std::string describe_offset(std::uint64_t offset, std::string_view what) {
    return fmt::format("record at offset {}: {}", offset, what);
}

// Checks the fixed header fields; returns the payload length bound error, if any.
bool check_header(RecordType type, std::uint8_t version, std::uint16_t reserved,
                  std::uint32_t payload_bytes, std::string& detail) {
    if (version != record_version(type) || reserved != 0) {
        detail = fmt::format("type {} version {} reserved {}: not a record of format {} or older",
                             static_cast<int>(type), version, reserved, format_version_max);
        return false;
    }
    bool length_ok = false;
    switch (type) {
        case RecordType::segment_header:
            length_ok = payload_bytes == segment_header_payload_bytes;
            break;
        case RecordType::message:
            length_ok = payload_bytes >= message_payload_bytes_min &&
                        payload_bytes <= message_payload_bytes_max;
            break;
        case RecordType::status:
            length_ok = payload_bytes == status_payload_bytes;
            break;
        case RecordType::message_status:
            length_ok = payload_bytes == message_status_payload_bytes;
            break;
        case RecordType::content_slice:
            length_ok = payload_bytes >= content_slice_payload_bytes_min &&
                        payload_bytes <= content_slice_payload_bytes_max;
            break;
        case RecordType::streamed_message:
            length_ok = payload_bytes >= streamed_message_payload_bytes_min &&
                        payload_bytes <= streamed_message_payload_bytes_max;
            break;
    }
    if (!length_ok) {
        detail = fmt::format("payload length {} is impossible for its type", payload_bytes);
    }
    return length_ok;
}

// Reads and checks the trailer and padding of the record at offset.
RecordResult check_trailer(ByteSource& source, std::uint64_t offset, std::uint32_t payload_bytes) {
    RecordResult result;
    std::uint64_t unpadded =
        std::uint64_t{record_header_bytes} + payload_bytes + record_trailer_bytes;
    result.record_bytes = align_up(unpadded);
    std::size_t tail_bytes = record_trailer_bytes + (result.record_bytes - unpadded);
    Result<std::span<const char>, int> tail =
        source.read(offset + record_header_bytes + payload_bytes, tail_bytes);
    if (!tail) {
        result.verdict = Verdict::io_error;
        result.read_errno = tail.error();
        return result;
    }
    if (tail->size() < tail_bytes) {
        result.verdict = Verdict::torn;
        result.detail = "the data ends inside the trailer";
        return result;
    }
    if (load_u32(tail->data()) != payload_bytes || load_u32(tail->data() + 4) != trailer_magic) {
        result.detail = "trailer does not match the header";
        return result;
    }
    if (std::any_of(tail->begin() + record_trailer_bytes, tail->end(), [](char c) { return c; })) {
        result.detail = "padding is not zero";
        return result;
    }
    result.verdict = Verdict::ok;
    return result;
}

// Whether the data ends at offset or continues only with zeros there (as far as the next
// record header would reach).
bool nothing_follows(ByteSource& source, std::uint64_t offset) {
    Result<std::span<const char>, int> next = source.read(offset, record_header_bytes);
    return next && std::all_of(next->begin(), next->end(), [](char c) { return c == 0; });
}

struct RecordHeader {
    RecordType type = RecordType::segment_header;
    std::uint32_t payload_bytes = 0;
    std::uint32_t stored_crc = 0;
    std::uint32_t header_crc = 0;  // CRC-32C of bytes 4..11, where the payload's continues.
};

// Reads and checks the fixed header at offset; false (with result filled in) if it fails.
bool read_record_header(ByteSource& source, std::uint64_t offset, RecordHeader& header,
                        RecordResult& result) {
    Result<std::span<const char>, int> head = source.read(offset, record_header_bytes);
    if (!head) {
        result.verdict = Verdict::io_error;
        result.read_errno = head.error();
        return false;
    }
    if (head->empty()) {
        result.verdict = Verdict::end;
        return false;
    }
    if (head->size() < record_header_bytes ||
        std::all_of(head->begin(), head->end(), [](char c) { return c == 0; })) {
        // Cut short, or zeros where a write never landed (a punched or preallocated range).
        result.verdict = Verdict::torn;
        result.detail = describe_offset(offset, "incomplete or zero-filled header");
        return false;
    }
    const char* bytes = head->data();  // Valid until the next read: use it right away.
    auto type_code = static_cast<std::uint8_t>(bytes[4]);
    auto reserved = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[6]) |
                                               static_cast<unsigned char>(bytes[7]) << 8);
    header.type = static_cast<RecordType>(type_code);
    header.payload_bytes = load_u32(bytes + 8);
    header.stored_crc = load_u32(bytes + crc_field_offset);
    header.header_crc = crc32c_extend(
        0, std::span<const char>(bytes + crc_covered_header_offset, crc_covered_header_bytes));
    result.verdict = Verdict::corrupt;
    if (load_u32(bytes) != record_magic || type_code < 1 || type_code > record_type_code_max) {
        result.detail = describe_offset(offset, "bad magic or record type");
        return false;
    }
    if (!check_header(header.type, static_cast<std::uint8_t>(bytes[5]), reserved,
                      header.payload_bytes, result.detail)) {
        result.detail = describe_offset(offset, result.detail);
        return false;
    }
    return true;
}

// Parses the payload by type, then requires it used up exactly and its checksum right.
void read_payload(PayloadReader& reader, const RecordHeader& header, const RecordWants& wants,
                  RecordBody& body) {
    switch (header.type) {
        case RecordType::segment_header:
            parse_segment_header(reader, body);
            break;
        case RecordType::message:
            parse_message(reader, header.payload_bytes, wants, body);
            break;
        case RecordType::status:
            parse_status(reader, body);
            break;
        case RecordType::message_status:
            parse_message_status(reader, body);
            break;
        case RecordType::content_slice:
            parse_content_slice(reader, wants, body);
            break;
        case RecordType::streamed_message:
            parse_streamed_message(reader, header.payload_bytes, body);
            break;
    }
    if (reader.ok() && reader.left() != 0) {
        reader.fail(Verdict::corrupt, fmt::format("{} payload bytes left over", reader.left()));
    }
    if (reader.ok() && reader.crc() != header.stored_crc) {
        reader.fail(Verdict::corrupt, "checksum mismatch");
    }
}

// Decodes the record at offset. Every field is validated; nothing is asserted.
RecordResult decode_record_at(ByteSource& source, std::uint64_t offset, const RecordWants& wants,
                              RecordBody& body) {
    RecordResult result;
    RecordHeader header;
    if (!read_record_header(source, offset, header, result)) {
        HUB_ASSERT(result.verdict != Verdict::ok);
        return result;
    }
    PayloadReader reader(source, offset + record_header_bytes, header.payload_bytes,
                         header.header_crc);
    read_payload(reader, header, wants, body);
    if (!reader.ok()) {
        result.verdict = reader.verdict();
        result.read_errno = reader.read_errno();
        result.detail = describe_offset(offset, reader.detail());
    } else {
        result = check_trailer(source, offset, header.payload_bytes);
        result.type = header.type;
        if (header.type == RecordType::message) {
            body.message.content_offset =
                offset + record_header_bytes + header.payload_bytes - body.message.content_bytes;
        }
        if (result.verdict != Verdict::ok && result.verdict != Verdict::io_error) {
            result.detail = describe_offset(offset, result.detail);
        }
    }
    std::uint64_t claimed_end = offset + align_up(std::uint64_t{record_header_bytes} +
                                                  header.payload_bytes + record_trailer_bytes);
    if (result.verdict == Verdict::corrupt && nothing_follows(source, claimed_end)) {
        // A bad record with only zeros or the end of the file after it is a write that did
        // not finish (or a failed batch the writer punched out), not damage to the middle.
        result.verdict = Verdict::torn;
    }
    HUB_ASSERT(result.verdict != Verdict::ok || offset + result.record_bytes == claimed_end);
    return result;
}

RecordType checked_record_type(std::span<const char> record) {
    SpanSource source(record);
    RecordBody body;
    RecordResult result = decode_record_at(source, 0, RecordWants{}, body);
    HUB_ASSERT(result.verdict == Verdict::ok);  // The reader accepts what the writer wrote.
    HUB_ASSERT(result.record_bytes == record.size());
    return result.type;
}

// A streamed message's slices met so far in the segment being decoded, before its commit.
struct OpenStream {
    std::uint32_t next_index = 0;
    std::uint64_t content_bytes = 0;
    std::vector<SliceExtent> slices;
    std::string content;  // Slice 0's head (header_scan_bytes_max), or all when kept.
};

// Open streams by queue id (shard 8 bits, segment 32, ordinal 24: one u64).
using StreamTable = std::map<std::uint64_t, OpenStream>;

std::uint64_t stream_key(const QueueId& id) {
    return (std::uint64_t{id.shard} << 56) | (std::uint64_t{id.segment_seq} << 24) | id.ordinal;
}

// Adds a content_slice to its stream; false (with the problem set) if it does not continue it.
bool take_slice(const DecodeOptions& options, std::uint64_t offset, const RecordResult& record,
                RecordBody& body, StreamTable& streams, SegmentSummary& summary) {
    const SliceBody& slice = body.slice;
    auto found = streams.find(stream_key(slice.id));
    std::string_view wrong;
    if (found == streams.end()) {
        if (slice.index != 0) {
            wrong = "a slice that continues no stream";
        } else if (streams.size() >= open_streams_per_segment_max) {
            wrong = "too many streams open at once";
        } else {
            found = streams.emplace(stream_key(slice.id), OpenStream{}).first;
        }
    } else if (slice.index != found->second.next_index) {
        wrong = "a slice out of order";
    } else if (found->second.next_index >= slices_per_message_max ||
               found->second.content_bytes + slice.content_bytes > content_bytes_max) {
        wrong = "a stream over its bounds";
    }
    if (!wrong.empty()) {
        summary.problem = SegmentProblem::corrupt_record;
        summary.problem_detail = describe_offset(offset, wrong);
        return false;
    }
    OpenStream& stream = found->second;
    stream.next_index++;
    stream.content_bytes += slice.content_bytes;
    stream.slices.push_back(
        SliceExtent{offset, record.record_bytes, slice.content_offset, slice.content_bytes});
    // The head for the Message-ID comes from slice 0 alone (the writer puts the header
    // block there): at most header_scan_bytes_max per open stream, whatever the slices.
    std::size_t keep = options.keep_content ? body.content.size()
                       : slice.index == 0
                           ? std::min<std::size_t>(body.content.size(), header_scan_bytes_max)
                           : 0;
    stream.content.append(body.content.data(), keep);
    return true;
}

// Applies one valid record to the segment being decoded; false ends the valid prefix.
bool take_record(const DecodeOptions& options, std::uint64_t offset, const RecordResult& record,
                 RecordBody& body, DecodedSegment& segment, StreamTable& streams,
                 bool& have_header) {
    SegmentSummary& summary = segment.summary;
    if (!have_header) {
        if (record.type != RecordType::segment_header ||
            (options.expected && *options.expected != body.segment)) {
            summary.problem = SegmentProblem::bad_segment_header;
            summary.problem_detail = describe_offset(
                offset, "not a segment header naming this file's shard and sequence");
            return false;
        }
        have_header = true;
        summary.shard = body.segment.shard;
        summary.segment_seq = body.segment.segment_seq;
        return true;
    }
    switch (record.type) {
        case RecordType::segment_header:
            summary.problem = SegmentProblem::corrupt_record;
            summary.problem_detail = describe_offset(offset, "a second segment header");
            return false;
        case RecordType::message:
            body.message.record_offset = offset;
            body.message.record_bytes = record.record_bytes;
            body.message.message_id = extract_message_id(body.content);
            body.message.recipient_status.assign(body.message.meta.envelope.recipients.size(),
                                                 RecipientStatus::pending);
            segment.messages.push_back(std::move(body.message));
            if (options.keep_content) {
                segment.contents.push_back(std::move(body.content));
            }
            summary.message_count++;
            return true;
        case RecordType::status:
            body.status.record_offset = offset;
            segment.statuses.push_back(body.status);
            return true;
        case RecordType::message_status:
            body.message_status.record_offset = offset;
            segment.message_statuses.push_back(body.message_status);
            return true;
        case RecordType::content_slice:
            if (!take_slice(options, offset, record, body, streams, summary)) {
                return false;
            }
            if (options.keep_content) {
                segment.slices.push_back(DecodedSegment::Slice{body.slice.id, body.slice.index,
                                                               offset, std::move(body.content)});
            }
            return true;
        case RecordType::streamed_message: {
            auto found = streams.find(stream_key(body.message.meta.id));
            if (found == streams.end() || found->second.next_index != body.slice_count ||
                found->second.content_bytes != body.message.content_bytes) {
                summary.problem = SegmentProblem::corrupt_record;
                summary.problem_detail =
                    describe_offset(offset, "a commit that does not match its slices");
                return false;
            }
            OpenStream stream = std::move(found->second);
            streams.erase(found);
            body.message.record_offset = offset;
            body.message.record_bytes = record.record_bytes;
            body.message.content_offset = 0;
            body.message.slices = std::move(stream.slices);
            body.message.message_id = extract_message_id(stream.content);
            body.message.recipient_status.assign(body.message.meta.envelope.recipients.size(),
                                                 RecipientStatus::pending);
            segment.messages.push_back(std::move(body.message));
            if (options.keep_content) {
                segment.contents.push_back(std::move(stream.content));
            }
            summary.message_count++;
            return true;
        }
    }
    HUB_PANIC("unknown RecordType");
}

}  // namespace

// --- Public API ----------------------------------------------------------------------

std::string QueueId::to_string() const {
    HUB_ASSERT(ordinal <= ordinal_max);
    return fmt::format("{:02X}{:08X}{:06X}", shard, segment_seq, ordinal);
}

bool QueueId::parse(std::string_view text, QueueId& id) {
    if (text.size() != 16) {
        return false;
    }
    std::uint64_t value = 0;
    for (char c : text) {
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
        if (digit < 0) {
            return false;
        }
        value = (value << 4) | static_cast<std::uint64_t>(digit);
    }
    id.shard = static_cast<std::uint8_t>(value >> 56);
    id.segment_seq = static_cast<std::uint32_t>((value >> 24) & 0xFFFFFFFFu);
    id.ordinal = static_cast<std::uint32_t>(value & ordinal_max);
    HUB_ASSERT(id.ordinal <= ordinal_max);
    return true;
}

std::string segment_relative_path(std::uint8_t shard, std::uint32_t segment_seq) {
    return fmt::format("shard-{}/{:08x}.seg", shard, segment_seq);
}

void append_segment_header(std::uint8_t shard, std::uint32_t segment_seq, std::string& out) {
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    writer.u8(shard);
    out.append(3, '\0');
    writer.u32(segment_seq);
    HUB_ASSERT(out.size() - start == record_header_bytes + segment_header_payload_bytes);
    finish_record(out, start, RecordType::segment_header);
}

void append_message_record(const MessageMeta& meta, std::string_view received_header,
                           std::string_view body, std::string& out) {
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    encode_meta(meta, writer);
    HUB_ASSERT(out.size() - start - record_header_bytes <= meta_bytes_max);
    std::uint64_t content_bytes = std::uint64_t{received_header.size()} + body.size();
    HUB_ASSERT(content_bytes <= content_bytes_max);  // message_bytes_max is far smaller.
    writer.u32(static_cast<std::uint32_t>(content_bytes));
    out.append(received_header);
    out.append(body);
    finish_record(out, start, RecordType::message);
}

namespace {

// A record held in three pieces (before the body, the body, after it), read as one: the
// encoder's check of a record whose body it did not copy. A read that straddles two pieces
// is gathered into scratch (at most read_chunk_bytes, twice per record).
class PiecesSource final : public ByteSource {
public:
    explicit PiecesSource(std::array<std::span<const char>, 3> pieces) : pieces_(pieces) {}

    Result<std::span<const char>, int> read(std::uint64_t offset, std::size_t count) override {
        HUB_ASSERT(count <= read_chunk_bytes);
        std::uint64_t start = 0;
        for (std::size_t index = 0; index < pieces_.size(); index++) {
            std::uint64_t end = start + pieces_[index].size();
            if (offset < end) {
                std::size_t at = static_cast<std::size_t>(offset - start);
                if (offset + count <= end) {
                    return pieces_[index].subspan(at, count);  // The common case: no copy.
                }
                scratch_.assign(pieces_[index].begin() + static_cast<std::ptrdiff_t>(at),
                                pieces_[index].end());
                for (std::size_t next = index + 1; next < pieces_.size() && scratch_.size() < count;
                     next++) {
                    std::size_t take = std::min(count - scratch_.size(), pieces_[next].size());
                    scratch_.insert(scratch_.end(), pieces_[next].begin(),
                                    pieces_[next].begin() + static_cast<std::ptrdiff_t>(take));
                }
                return std::span<const char>(scratch_);
            }
            start = end;
        }
        return std::span<const char>();
    }
    std::uint64_t size_hint() const override {
        return pieces_[0].size() + pieces_[1].size() + pieces_[2].size();
    }

private:
    std::array<std::span<const char>, 3> pieces_;
    std::vector<char> scratch_;
};

// Seals the record begun at out[start] whose payload is out's bytes after its header
// followed by `body`, which stays where it is: fills in the header and returns the trailer
// and padding, after checking the three pieces with the reader's code.
std::string seal_record_around(std::string& out, std::size_t start, RecordType type,
                               std::string_view body) {
    std::size_t payload_bytes = out.size() - start - record_header_bytes + body.size();
    HUB_ASSERT(payload_bytes <= message_payload_bytes_max);
    char* header = out.data() + start;
    store_u32(header, record_magic);
    header[4] = static_cast<char>(type);
    header[5] = static_cast<char>(record_version(type));
    header[6] = 0;
    header[7] = 0;
    store_u32(header + 8, static_cast<std::uint32_t>(payload_bytes));
    std::uint32_t crc = crc32c_extend(
        0, std::span<const char>(header + crc_covered_header_offset, crc_covered_header_bytes));
    crc = crc32c_extend(crc, std::span<const char>(header + record_header_bytes,
                                                   out.size() - start - record_header_bytes));
    crc = crc32c_extend(crc, std::span<const char>(body.data(), body.size()));
    store_u32(header + crc_field_offset, crc);
    std::string tail;
    Writer tail_writer(tail);
    tail_writer.u32(static_cast<std::uint32_t>(payload_bytes));
    tail_writer.u32(trailer_magic);
    std::size_t record_bytes = record_header_bytes + payload_bytes + tail.size();
    tail.append(align_up(record_bytes) - record_bytes, '\0');
    // The write half of the paired assertions, reading the body where it is.
    PiecesSource source({std::span<const char>(out).subspan(start),
                         std::span<const char>(body.data(), body.size()),
                         std::span<const char>(tail)});
    RecordBody decoded;
    RecordResult result = decode_record_at(source, 0, RecordWants{}, decoded);
    HUB_ASSERT(result.verdict == Verdict::ok && result.type == type);
    HUB_ASSERT(result.record_bytes == out.size() - start + body.size() + tail.size());
    return tail;
}

}  // namespace

std::string append_message_record_around(const MessageMeta& meta, std::string_view received_header,
                                         std::string_view body, std::string& out) {
    HUB_ASSERT(out.size() % record_alignment_bytes == 0);  // A record starts 8-aligned.
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    encode_meta(meta, writer);
    HUB_ASSERT(out.size() - start - record_header_bytes <= meta_bytes_max);
    std::uint64_t content_bytes = std::uint64_t{received_header.size()} + body.size();
    HUB_ASSERT(content_bytes <= content_bytes_max);
    writer.u32(static_cast<std::uint32_t>(content_bytes));
    out.append(received_header);
    return seal_record_around(out, start, RecordType::message, body);
}

StreamedMessageEncoder::StreamedMessageEncoder(const QueueId& id) : id_(id) {
    HUB_ASSERT(id.ordinal <= ordinal_max);
}

std::string StreamedMessageEncoder::append_slice_around(std::string_view content,
                                                        std::string& out) {
    HUB_ASSERT(!committed_);
    HUB_ASSERT(!content.empty() && content.size() <= slice_content_bytes_max);
    HUB_ASSERT(slices_ < slices_per_message_max);
    HUB_ASSERT(content_bytes_ + content.size() <= content_bytes_max);
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    writer.id(id_);
    writer.u32(slices_);
    writer.u32(static_cast<std::uint32_t>(content.size()));
    std::string tail = seal_record_around(out, start, RecordType::content_slice, content);
    slices_++;
    content_bytes_ += content.size();
    stored_bytes_ += out.size() - start + content.size() + tail.size();
    return tail;
}

void StreamedMessageEncoder::append_slice(std::string_view content, std::string& out) {
    std::string tail = append_slice_around(content, out);
    out.append(content);
    out.append(tail);
    HUB_ASSERT(out.size() % record_alignment_bytes == 0);
}

void StreamedMessageEncoder::append_commit(const MessageMeta& meta, std::string& out) {
    HUB_ASSERT(!committed_ && slices_ >= 1);
    HUB_ASSERT(meta.id == id_);
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    encode_meta(meta, writer);
    HUB_ASSERT(out.size() - start - record_header_bytes <= meta_bytes_max);
    writer.u32(slices_);
    writer.u32(static_cast<std::uint32_t>(content_bytes_));
    finish_record(out, start, RecordType::streamed_message);
    committed_ = true;
    stored_bytes_ += out.size() - start;
}

std::uint64_t RecoveredMessage::stored_bytes() const {
    std::uint64_t bytes = record_bytes;
    for (const SliceExtent& slice : slices) {
        bytes += slice.record_bytes;
    }
    return bytes;
}

void append_status_record(const QueueId& id, std::uint32_t recipient_index, RecipientStatus status,
                          std::string& out) {
    HUB_ASSERT(status == RecipientStatus::delivered || status == RecipientStatus::bounced);
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    writer.id(id);
    writer.u32(recipient_index);
    writer.u8(static_cast<std::uint8_t>(status));
    HUB_ASSERT(out.size() - start == record_header_bytes + status_payload_bytes);
    finish_record(out, start, RecordType::status);
}

void append_message_status_record(const QueueId& id, MessageStatus status,
                                  std::uint64_t time_unix_ms, std::string& out) {
    HUB_ASSERT(status == MessageStatus::held || status == MessageStatus::released ||
               status == MessageStatus::deleted);
    std::size_t start = out.size();
    begin_record(out);
    Writer writer(out);
    writer.id(id);
    writer.u8(static_cast<std::uint8_t>(status));
    writer.u64(time_unix_ms);
    HUB_ASSERT(out.size() - start == record_header_bytes + message_status_payload_bytes);
    finish_record(out, start, RecordType::message_status);
}

std::string_view to_string(MessageStatus status) {
    switch (status) {
        case MessageStatus::held:
            return "held";
        case MessageStatus::released:
            return "released";
        case MessageStatus::deleted:
            return "deleted";
    }
    HUB_PANIC("unknown MessageStatus");
}

Result<std::span<const char>, int> SpanSource::read(std::uint64_t offset, std::size_t count) {
    HUB_ASSERT(count <= read_chunk_bytes);
    if (offset >= bytes_.size()) {
        return std::span<const char>();
    }
    std::size_t start = static_cast<std::size_t>(offset);
    return bytes_.subspan(start, std::min(count, bytes_.size() - start));
}

SegmentDecodeResult decode_segment_from(ByteSource& source, const DecodeOptions& options) {
    SegmentDecodeResult result;
    DecodedSegment& segment = result.decoded;
    SegmentSummary& summary = segment.summary;
    if (options.expected) {
        summary.shard = options.expected->shard;
        summary.segment_seq = options.expected->segment_seq;
    }
    RecordWants wants{options.keep_content, true};
    StreamTable streams;
    bool have_header = false;
    std::uint64_t offset = 0;
    // Bounded by the data: every valid record advances offset by at least 24 bytes.
    for (bool more = true; more;) {
        RecordBody body;
        RecordResult record = decode_record_at(source, offset, wants, body);
        switch (record.verdict) {
            case Verdict::ok:
                more = take_record(options, offset, record, body, segment, streams, have_header);
                if (more) {
                    offset += record.record_bytes;
                }
                break;
            case Verdict::end:
                more = false;
                break;
            case Verdict::torn:
            case Verdict::corrupt:
                summary.problem = record.verdict == Verdict::torn ? SegmentProblem::torn_tail
                                                                  : SegmentProblem::corrupt_record;
                summary.problem_detail = std::move(record.detail);
                more = false;
                break;
            case Verdict::io_error:
                result.read_errno = record.read_errno;
                more = false;
                break;
        }
    }
    for (const auto& [key, stream] : streams) {
        summary.abandoned_streams++;
        for (const SliceExtent& slice : stream.slices) {
            summary.abandoned_bytes += slice.record_bytes;
        }
    }
    summary.valid_bytes = offset;
    summary.file_bytes = std::max(source.size_hint(), offset);
    summary.live_count = summary.message_count;
    HUB_ASSERT(offset % record_alignment_bytes == 0);
    HUB_ASSERT(segment.messages.size() == summary.message_count);
    return result;
}

DecodedSegment decode_segment(std::span<const char> bytes, const DecodeOptions& options) {
    SpanSource source(bytes);
    SegmentDecodeResult result = decode_segment_from(source, options);
    HUB_ASSERT(result.read_errno == 0);  // Memory cannot fail to read.
    HUB_ASSERT(result.decoded.summary.valid_bytes <= bytes.size());
    return std::move(result.decoded);
}

SingleRecordOutcome decode_message_at(ByteSource& source, std::uint64_t offset,
                                      RecoveredMessage& message, std::string& content,
                                      int& read_errno) {
    HUB_ASSERT(offset % record_alignment_bytes == 0);
    RecordBody body;
    RecordResult record = decode_record_at(source, offset, RecordWants{true, true}, body);
    if (record.verdict == Verdict::io_error) {
        read_errno = record.read_errno;
        return SingleRecordOutcome::read_error;
    }
    if (record.verdict != Verdict::ok || record.type != RecordType::message) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    HUB_ASSERT(body.content.size() == body.message.content_bytes);
    message = std::move(body.message);
    message.record_offset = offset;
    message.record_bytes = record.record_bytes;
    content = std::move(body.content);
    return SingleRecordOutcome::ok;
}

SingleRecordOutcome decode_message_view(std::span<const char> record, RecoveredMessage& message,
                                        std::string_view& content) {
    SpanSource source(record);
    RecordBody body;
    RecordResult result = decode_record_at(source, 0, RecordWants{}, body);
    if (result.verdict != Verdict::ok || result.type != RecordType::message) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    HUB_ASSERT(body.message.content_offset + body.message.content_bytes <= record.size());
    message = std::move(body.message);
    message.record_offset = 0;
    message.record_bytes = result.record_bytes;
    content = std::string_view(record.data() + message.content_offset, message.content_bytes);
    return SingleRecordOutcome::ok;
}

SingleRecordOutcome decode_streamed_content(ByteSource& source, const RecoveredMessage& message,
                                            std::string& content, int& read_errno) {
    HUB_ASSERT(message.streamed());
    RecordBody commit;
    RecordResult record = decode_record_at(source, message.record_offset, RecordWants{}, commit);
    if (record.verdict == Verdict::io_error) {
        read_errno = record.read_errno;
        return SingleRecordOutcome::read_error;
    }
    if (record.verdict != Verdict::ok || record.type != RecordType::streamed_message ||
        commit.message.meta.id != message.meta.id || commit.slice_count != message.slices.size() ||
        commit.message.content_bytes != message.content_bytes) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    content.clear();
    for (std::uint32_t index = 0; index < message.slices.size(); index++) {
        const SliceExtent& extent = message.slices[index];
        RecordBody slice;
        RecordResult read =
            decode_record_at(source, extent.record_offset, RecordWants{true, true}, slice);
        if (read.verdict == Verdict::io_error) {
            read_errno = read.read_errno;
            return SingleRecordOutcome::read_error;
        }
        if (read.verdict != Verdict::ok || read.type != RecordType::content_slice ||
            slice.slice.id != message.meta.id || slice.slice.index != index ||
            slice.slice.content_bytes != extent.content_bytes ||
            content.size() + slice.content.size() > message.content_bytes) {
            return SingleRecordOutcome::not_a_valid_message;
        }
        content.append(slice.content);
    }
    if (content.size() != message.content_bytes) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    return SingleRecordOutcome::ok;
}

SingleRecordOutcome decode_slice_view(std::span<const char> record, const QueueId& id,
                                      std::uint32_t index, std::string_view& content) {
    SpanSource source(record);
    RecordBody body;
    RecordResult result = decode_record_at(source, 0, RecordWants{}, body);
    if (result.verdict != Verdict::ok || result.type != RecordType::content_slice ||
        body.slice.id != id || body.slice.index != index) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    HUB_ASSERT(body.slice.content_offset + body.slice.content_bytes <= record.size());
    content = std::string_view(record.data() + body.slice.content_offset, body.slice.content_bytes);
    return SingleRecordOutcome::ok;
}

SingleRecordOutcome decode_commit_view(std::span<const char> record, const QueueId& id,
                                       std::uint32_t slice_count, std::uint64_t content_bytes) {
    SpanSource source(record);
    RecordBody commit;
    RecordResult result = decode_record_at(source, 0, RecordWants{}, commit);
    if (result.verdict != Verdict::ok || result.type != RecordType::streamed_message ||
        result.record_bytes != record.size() || commit.message.meta.id != id ||
        commit.slice_count != slice_count || commit.message.content_bytes != content_bytes) {
        return SingleRecordOutcome::not_a_valid_message;
    }
    return SingleRecordOutcome::ok;
}

namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}

// Trims, turns control characters (left by unfolding or put there by a hostile sender)
// into spaces, and cuts to message_id_bytes_max.
std::string clean_header_value(std::string_view value) {
    while (!value.empty() && is_wsp(value.front())) {
        value.remove_prefix(1);
    }
    while (!value.empty() && is_wsp(value.back())) {
        value.remove_suffix(1);
    }
    std::string clean(value.substr(0, message_id_bytes_max));
    for (char& c : clean) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    return clean;
}

// Unfolds piece onto value (RFC 5322 2.2.3: the line break goes, the WSP stays), leading
// WSP dropped, at most message_id_bytes_max bytes kept.
void append_bounded(std::string& value, std::string_view piece) {
    while (value.empty() && !piece.empty() && is_wsp(piece.front())) {
        piece.remove_prefix(1);
    }
    value.append(piece.substr(
        0, message_id_bytes_max - std::min<std::size_t>(value.size(), message_id_bytes_max)));
}

}  // namespace

std::string extract_message_id(std::string_view content) {
    content = content.substr(0, header_scan_bytes_max);
    std::string value;
    bool in_message_id = false;
    // RFC 5322 2.2: "name: value" fields, folded onto lines that start with WSP
    // (2.2.3), up to the first empty line. Both CRLF and bare LF end a line here.
    while (!content.empty()) {
        std::size_t newline = content.find('\n');
        std::string_view line = content.substr(0, newline);
        content.remove_prefix(newline == std::string_view::npos ? content.size() : newline + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            break;  // End of the header section.
        }
        if (is_wsp(line.front())) {
            if (in_message_id) {
                append_bounded(value, line);
            }
            continue;
        }
        if (in_message_id) {
            break;  // The first Message-ID field is complete.
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            break;  // Not a header field: the header section is malformed, stop looking.
        }
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) {
            name.remove_suffix(1);  // RFC 5322 4.5.3 obsolete "name WSP :" syntax.
        }
        if (equals_ignoring_case(name, "Message-ID")) {  // RFC 5322 3.6.4
            in_message_id = true;
            append_bounded(value, line.substr(colon + 1));
        }
    }
    std::string clean = clean_header_value(value);
    HUB_ASSERT(clean.size() <= message_id_bytes_max);
    return clean;
}

}  // namespace hub::spool
