// record_test.cc -- spool records: encode, decode, and what the decoder refuses.
//
// Method: build segment images in memory with the encoders, decode them with the same
// decode_segment that recovery and the fuzzer use, and compare every field. Hostile
// images are made by patching encoded bytes and re-sealing the checksum, so that the
// field checks (not just the CRC) are what rejects them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "spool/crc32c.h"
#include "spool/limits.h"
#include "spool/segment_source.h"
#include "spool/spool_format.h"
#include "spool/test_messages.h"

namespace hub::spool {
namespace {

using testing::sample_body;
using testing::sample_meta;
using testing::sample_received;

std::span<const char> as_span(const std::string& bytes) {
    return std::span<const char>(bytes.data(), bytes.size());
}

void expect_same_meta(const MessageMeta& a, const MessageMeta& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.arrival_unix_s, b.arrival_unix_s);
    EXPECT_EQ(a.client_address, b.client_address);
    EXPECT_EQ(a.partner, b.partner);
    EXPECT_EQ(a.envelope.helo, b.envelope.helo);
    EXPECT_EQ(a.envelope.esmtp, b.envelope.esmtp);
    EXPECT_EQ(a.envelope.mail_from, b.envelope.mail_from);
    EXPECT_EQ(a.envelope.declared_bytes, b.envelope.declared_bytes);
    EXPECT_EQ(a.envelope.body_type, b.envelope.body_type);
    EXPECT_EQ(a.envelope.dsn_ret, b.envelope.dsn_ret);
    EXPECT_EQ(a.envelope.dsn_envid, b.envelope.dsn_envid);
    ASSERT_EQ(a.envelope.recipients.size(), b.envelope.recipients.size());
    for (std::size_t i = 0; i < a.envelope.recipients.size(); i++) {
        EXPECT_EQ(a.envelope.recipients[i].address, b.envelope.recipients[i].address);
        EXPECT_EQ(a.envelope.recipients[i].notify, b.envelope.recipients[i].notify);
        EXPECT_EQ(a.envelope.recipients[i].orcpt, b.envelope.recipients[i].orcpt);
    }
    EXPECT_EQ(a.tls.version, b.tls.version);
    EXPECT_EQ(a.tls.cipher, b.tls.cipher);
    EXPECT_EQ(a.tls.bits, b.tls.bits);
    EXPECT_EQ(a.tls.client_cert_verdict, b.tls.client_cert_verdict);
    EXPECT_EQ(a.tls.client_subject, b.tls.client_subject);
    EXPECT_EQ(a.tls.client_issuer, b.tls.client_issuer);
    EXPECT_EQ(a.tls.client_cn, b.tls.client_cn);
}

TEST(QueueIdText, FormatsAndParses) {
    QueueId id{0x0A, 0x0000002B, 0x00FFFF};
    EXPECT_EQ(id.to_string(), "0A0000002B00FFFF");
    QueueId parsed;
    ASSERT_TRUE(QueueId::parse("0A0000002B00FFFF", parsed));
    EXPECT_EQ(parsed, id);
    ASSERT_TRUE(QueueId::parse("0a0000002b00ffff", parsed));
    EXPECT_EQ(parsed, id);
    QueueId max{0xFF, 0xFFFFFFFF, ordinal_max};
    ASSERT_TRUE(QueueId::parse(max.to_string(), parsed));
    EXPECT_EQ(parsed, max);
    EXPECT_EQ(max.to_string(), "FFFFFFFFFFFFFFFF");
    QueueId untouched{1, 2, 3};
    for (const char* bad : {"", "0A0000002B00FFF", "0A0000002B00FFFF0", "0A0000002B00FFFG",
                            " A0000002B00FFFF", "-A0000002B00FFFF"}) {
        EXPECT_FALSE(QueueId::parse(bad, untouched)) << bad;
    }
    EXPECT_EQ(untouched, (QueueId{1, 2, 3}));
}

TEST(SegmentPath, IsShardDecimalAndSeqHex) {
    EXPECT_EQ(segment_relative_path(0, 42), "shard-0/0000002a.seg");
    EXPECT_EQ(segment_relative_path(255, 0xDEADBEEF), "shard-255/deadbeef.seg");
}

TEST(Record, LayoutOfTheSegmentHeader) {
    std::string out;
    append_segment_header(3, 0x01020304, out);
    ASSERT_EQ(out.size(), 32u);  // 16 header + 8 payload + 8 trailer, already aligned.
    EXPECT_EQ(out.substr(0, 4), "HBR1");
    EXPECT_EQ(out[4], 1);  // type segment_header
    EXPECT_EQ(out[5], 1);  // version
    EXPECT_EQ(out.substr(6, 2), std::string(2, '\0'));
    EXPECT_EQ(out.substr(8, 4), std::string("\x08\0\0\0", 4));
    std::uint32_t crc = crc32c(std::string_view(out).substr(4, 8));
    crc = crc32c_extend(crc, std::span<const char>(out.data() + 16, 8));
    std::string crc_bytes;
    for (int i = 0; i < 4; i++) {
        crc_bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
    }
    EXPECT_EQ(out.substr(12, 4), crc_bytes);
    EXPECT_EQ(out.substr(16, 8), std::string("\x03\0\0\0\x04\x03\x02\x01", 8));
    EXPECT_EQ(out.substr(24, 8), std::string("\x08\0\0\0END1", 8));
}

TEST(Record, StatusRecordIsPaddedToEightBytes) {
    std::string out;
    append_status_record(QueueId{1, 2, 3}, 7, RecipientStatus::bounced, out);
    ASSERT_EQ(out.size(), 40u);  // 16 + 14 + 8 = 38, padded to 40.
    EXPECT_EQ(out[4], 3);
    EXPECT_EQ(out.substr(30, 8), std::string("\x0e\0\0\0END1", 8));
    EXPECT_EQ(out.substr(38), std::string(2, '\0'));
}

TEST(Record, RoundTripsEveryField) {
    std::string segment;
    append_segment_header(4, 9, segment);
    MessageMeta first = sample_meta(QueueId{4, 9, 0}, 0);
    MessageMeta second = sample_meta(QueueId{4, 9, 1}, 1);
    second.envelope.esmtp = false;
    second.envelope.mail_from = "";  // The null sender.
    second.envelope.body_type = smtp::BodyType::seven_bit;
    second.envelope.dsn_ret = smtp::DsnRet::full;
    second.tls = smtp::TlsFacts{};
    second.envelope.recipients.resize(1);
    append_message_record(first, sample_received(0), sample_body(0), segment);
    append_status_record(first.id, 1, RecipientStatus::delivered, segment);
    append_message_record(second, sample_received(1), sample_body(1), segment);
    DecodeOptions options;
    options.expected = SegmentName{4, 9};
    options.keep_content = true;
    DecodedSegment decoded = decode_segment(as_span(segment), options);
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::none) << decoded.summary.problem_detail;
    EXPECT_EQ(decoded.summary.valid_bytes, segment.size());
    EXPECT_EQ(decoded.summary.file_bytes, segment.size());
    EXPECT_EQ(decoded.summary.message_count, 2u);
    EXPECT_EQ(decoded.summary.shard, 4);
    EXPECT_EQ(decoded.summary.segment_seq, 9u);
    ASSERT_EQ(decoded.messages.size(), 2u);
    expect_same_meta(decoded.messages[0].meta, first);
    expect_same_meta(decoded.messages[1].meta, second);
    EXPECT_EQ(decoded.messages[0].record_offset, 32u);
    // A status record sits between the two messages: the first ends 40 bytes before.
    EXPECT_EQ(decoded.messages[0].record_offset + decoded.messages[0].record_bytes + 40,
              decoded.messages[1].record_offset);
    EXPECT_EQ(decoded.messages[0].record_bytes % 8, 0u);
    EXPECT_EQ(decoded.messages[0].content_bytes, sample_received(0).size() + sample_body(0).size());
    EXPECT_EQ(decoded.contents[0], sample_received(0) + sample_body(0));
    EXPECT_EQ(decoded.contents[1], sample_received(1) + sample_body(1));
    EXPECT_EQ(decoded.messages[0].message_id, "<m0@partner1.gov.uk>");
    EXPECT_EQ(decoded.messages[1].message_id, "<m1@partner1.gov.uk>");
    EXPECT_EQ(decoded.messages[0].recipient_status.size(), 2u);
    ASSERT_EQ(decoded.statuses.size(), 1u);
    EXPECT_EQ(decoded.statuses[0].id, first.id);
    EXPECT_EQ(decoded.statuses[0].recipient_index, 1u);
    EXPECT_EQ(decoded.statuses[0].status, RecipientStatus::delivered);
}

TEST(Record, EmptyContentAndLargeStringsAtTheLimit) {
    std::string segment;
    append_segment_header(0, 0, segment);
    MessageMeta meta = sample_meta(QueueId{0, 0, ordinal_max});
    meta.envelope.helo = std::string(string_bytes_max, 'h');
    meta.tls.bits = static_cast<int>(tls_bits_max);
    for (int i = 0; i < 100; i++) {
        meta.envelope.recipients.push_back(
            // append() rather than "r" + ...: GCC 12 warns falsely (-Wrestrict, bug 105329).
            smtp::Recipient{std::string("r").append(std::to_string(i)).append("@x.example"), 15,
                            std::string(300, 'o')});
    }
    append_message_record(meta, "", "", segment);
    DecodeOptions options;
    options.keep_content = true;
    DecodedSegment decoded = decode_segment(as_span(segment), options);
    ASSERT_EQ(decoded.summary.problem, SegmentProblem::none) << decoded.summary.problem_detail;
    ASSERT_EQ(decoded.messages.size(), 1u);
    expect_same_meta(decoded.messages[0].meta, meta);
    EXPECT_EQ(decoded.contents[0], "");
    EXPECT_EQ(decoded.messages[0].message_id, "");
}

TEST(Record, ContentLargerThanOneReadChunk) {
    std::string body(read_chunk_bytes * 2 + 123, 'b');
    body.replace(0, 26, "Message-ID: <big@x>\r\n\r\n..");
    std::string segment;
    append_segment_header(0, 1, segment);
    append_message_record(sample_meta(QueueId{0, 1, 0}), "", body, segment);
    DecodeOptions options;
    options.keep_content = true;
    DecodedSegment decoded = decode_segment(as_span(segment), options);
    ASSERT_EQ(decoded.summary.problem, SegmentProblem::none) << decoded.summary.problem_detail;
    ASSERT_EQ(decoded.contents.size(), 1u);
    EXPECT_EQ(decoded.contents[0], body);
    EXPECT_EQ(decoded.messages[0].message_id, "<big@x>");
}

// The spool writer writes a large body where it lies: the record in three pieces is byte
// for byte the one append_message_record makes, for every padding and across read chunks.
TEST(Record, RecordAroundABodyIsTheSameRecord) {
    for (std::size_t body_bytes :
         {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{8}, std::size_t{13},
          std::size_t{read_chunk_bytes - 3}, std::size_t{read_chunk_bytes * 2 + 7}}) {
        SCOPED_TRACE(body_bytes);
        std::string body(body_bytes, 'q');
        for (std::size_t i = 0; i < body.size(); i += 97) {
            body[i] = static_cast<char>('a' + i % 26);
        }
        std::string whole(16, 'w');  // Whatever came before: a record starts 8-aligned.
        std::string split = whole;
        append_message_record(sample_meta(QueueId{0, 1, 2}), sample_received(), body, whole);
        std::string tail = append_message_record_around(sample_meta(QueueId{0, 1, 2}),
                                                        sample_received(), body, split);
        EXPECT_LT(tail.size(), 16u);
        EXPECT_TRUE(split + body + tail == whole);
    }
}

// Delivery reads a record back whole and sends its body from where it lies: the view
// decoder checks the record like the others and points at the content without copying it.
TEST(Record, ViewOfARecordReadBackWhole) {
    std::string body(read_chunk_bytes + 77, 'v');
    body.replace(0, 22, "Subject: view\r\n\r\n.\r\n");
    std::string record;
    append_message_record(sample_meta(QueueId{0, 1, 4}), sample_received(), body, record);
    RecoveredMessage message;
    std::string_view content;
    ASSERT_EQ(decode_message_view(as_span(record), message, content), SingleRecordOutcome::ok);
    EXPECT_EQ(message.meta.id, (QueueId{0, 1, 4}));
    EXPECT_EQ(message.record_bytes, record.size());
    EXPECT_EQ(content, sample_received() + body);
    EXPECT_EQ(content.data(), record.data() + message.content_offset);  // Not a copy.
    for (std::size_t at : {std::size_t{3}, record.size() / 2, record.size() - 9}) {
        SCOPED_TRACE(at);
        std::string damaged = record;
        damaged[at] ^= 0x20;
        EXPECT_EQ(decode_message_view(as_span(damaged), message, content),
                  SingleRecordOutcome::not_a_valid_message);
    }
    std::string status;
    append_status_record(QueueId{0, 1, 4}, 0, RecipientStatus::delivered, status);
    EXPECT_EQ(decode_message_view(as_span(status), message, content),
              SingleRecordOutcome::not_a_valid_message);
}

// Rewrites the CRC of the record at offset so that only the field checks can reject it.
void reseal(std::string& segment, std::size_t offset) {
    std::uint32_t payload_bytes = 0;
    for (std::size_t i = 4; i-- > 0;) {
        payload_bytes = (payload_bytes << 8) | static_cast<unsigned char>(segment[offset + 8 + i]);
    }
    std::uint32_t crc = crc32c(std::string_view(segment).substr(offset + 4, 8));
    crc = crc32c_extend(crc, std::span<const char>(segment.data() + offset + 16, payload_bytes));
    for (std::size_t i = 0; i < 4; i++) {
        segment[offset + 12 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    }
}

void put_u32(std::string& bytes, std::size_t at, std::uint32_t value) {
    for (std::size_t i = 0; i < 4; i++) {
        bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    }
}

struct Patch {
    const char* name;
    std::size_t payload_offset;  // Within the message payload.
    std::uint32_t value;
    bool is_u32;
};

TEST(Record, ResealedHostileFieldsAreRejected) {
    // Payload offsets in sample_meta's record: id 0..8, arrival 9..16, client_address length
    // at 17, and so on; the patches below target fixed-position fields.
    const std::size_t client_length = 17;
    const Patch patches[] = {
        {"string length over the limit", client_length, string_bytes_max + 1, true},
        {"string length past the payload", client_length, 4000, true},
        {"ordinal over 24 bits", 5, 0x01000000, true},
    };
    for (const Patch& patch : patches) {
        std::string segment;
        append_segment_header(0, 0, segment);
        std::size_t record = segment.size();
        append_message_record(sample_meta(QueueId{0, 0, 0}), "", "x", segment);
        // A record after it, so that the damage is in the middle, not a torn tail.
        append_status_record(QueueId{0, 0, 0}, 0, RecipientStatus::delivered, segment);
        put_u32(segment, record + 16 + patch.payload_offset, patch.value);
        reseal(segment, record);
        DecodedSegment decoded = decode_segment(as_span(segment));
        EXPECT_EQ(decoded.summary.problem, SegmentProblem::corrupt_record) << patch.name;
        EXPECT_EQ(decoded.summary.valid_bytes, record) << patch.name;
        EXPECT_TRUE(decoded.messages.empty()) << patch.name;
    }
}

TEST(Record, HugeClaimedLengthsAllocateNothing) {
    // A header claiming the largest payload, on a tiny file: torn, and nothing allocated
    // beyond the bytes present (ASan's allocator would report a huge request).
    std::string segment;
    append_segment_header(0, 0, segment);
    std::size_t record = segment.size();
    append_message_record(sample_meta(QueueId{0, 0, 0}), "", "x", segment);
    put_u32(segment, record + 8, message_payload_bytes_max);
    DecodedSegment decoded = decode_segment(as_span(segment));
    EXPECT_NE(decoded.summary.problem, SegmentProblem::none);
    EXPECT_EQ(decoded.summary.valid_bytes, record);
    put_u32(segment, record + 8, message_payload_bytes_max + 1);
    decoded = decode_segment(as_span(segment));
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::corrupt_record);
}

TEST(Record, SegmentHeaderMustComeFirstAndMatch) {
    std::string segment;
    append_segment_header(1, 5, segment);
    append_message_record(sample_meta(QueueId{1, 5, 0}), "", "x", segment);
    DecodeOptions options;
    options.expected = SegmentName{1, 6};
    DecodedSegment decoded = decode_segment(as_span(segment), options);
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::bad_segment_header);
    EXPECT_EQ(decoded.summary.valid_bytes, 0u);
    EXPECT_TRUE(decoded.messages.empty());

    std::string headless;
    append_message_record(sample_meta(QueueId{1, 5, 0}), "", "x", headless);
    decoded = decode_segment(as_span(headless));
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::bad_segment_header);

    std::string twice;
    append_segment_header(1, 5, twice);
    append_segment_header(1, 5, twice);
    decoded = decode_segment(as_span(twice));
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::corrupt_record);
    EXPECT_EQ(decoded.summary.valid_bytes, 32u);
}

TEST(Record, MessageIdsNeedNotNameTheirSegment) {
    // The writer keeps ids handed out before a segment rotation (engine/spool_writer.cc):
    // ids are names, not addresses, so the decoder accepts any id in any segment.
    std::string segment;
    append_segment_header(2, 8, segment);
    append_message_record(sample_meta(QueueId{2, 7, 90}), "", "x", segment);
    append_message_record(sample_meta(QueueId{2, 8, 0}), "", "x", segment);
    DecodedSegment decoded = decode_segment(as_span(segment), DecodeOptions{SegmentName{2, 8}});
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::none);
    EXPECT_EQ(decoded.messages.size(), 2u);
}

TEST(MessageId, FindsTheFirstFieldInTheHeaderSectionOnly) {
    struct Case {
        const char* content;
        const char* expected;
    };
    const Case cases[] = {
        {"Message-ID: <a@b>\r\n\r\n", "<a@b>"},
        {"message-id:<a@b>\n\n", "<a@b>"},
        {"Subject: x\r\nMESSAGE-ID  :  <a@b>  \r\nFrom: y\r\n\r\n", "<a@b>"},
        {"Message-ID:\r\n <folded@b>\r\n\r\n", "<folded@b>"},
        {"Message-ID: <a\r\n\t@b>\r\nMessage-ID: <second@b>\r\n", "<a @b>"},
        {"Subject: x\r\n\r\nMessage-ID: <in-body@b>\r\n", ""},
        {"Received: x\r\n\tcontinued\r\nMessage-Id: <c@d>", "<c@d>"},
        {"not a header\r\nMessage-ID: <a@b>\r\n", ""},
        {"Message-ID: <ctl\x01\x7f@b>\r\n", "<ctl  @b>"},
        {"", ""},
        {"X-Message-ID: <no@b>\r\n", ""},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(extract_message_id(c.content), c.expected) << c.content;
    }
    std::string long_value = "Message-ID: <" + std::string(5000, 'a') + ">\r\n";
    EXPECT_EQ(extract_message_id(long_value).size(), message_id_bytes_max);
    std::string deep(header_scan_bytes_max, 'X');
    deep.replace(0, 3, "X: ");
    deep += "\r\nMessage-ID: <too-deep@b>\r\n";
    EXPECT_EQ(extract_message_id(deep), "");
}

TEST(Record, MessageStatusRecordLayoutIsVersionTwo) {
    std::string out;
    append_message_status_record(QueueId{1, 2, 3}, MessageStatus::held, 0x0102030405060708u, out);
    ASSERT_EQ(out.size(), 48u);  // 16 + 18 + 8 = 42, padded to 48.
    EXPECT_EQ(out[4], 4);        // type message_status
    EXPECT_EQ(out[5], 2);        // introduced in format version 2
    EXPECT_EQ(out.substr(8, 4), std::string("\x12\0\0\0", 4));
    EXPECT_EQ(out.substr(16, 9), std::string("\x01\x02\0\0\0\x03\0\0\0", 9));
    EXPECT_EQ(out[25], 1);  // held
    EXPECT_EQ(out.substr(26, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
    EXPECT_EQ(out.substr(34, 8), std::string("\x12\0\0\0END1", 8));
    EXPECT_EQ(out.substr(42), std::string(6, '\0'));
    // The older types keep version 1, so a segment without admin records is unchanged.
    std::string status;
    append_status_record(QueueId{1, 2, 3}, 0, RecipientStatus::delivered, status);
    EXPECT_EQ(status[5], 1);
}

TEST(Record, MessageStatusRecordsRoundTripInOrder) {
    std::string segment;
    append_segment_header(0, 1, segment);
    append_message_record(sample_meta(QueueId{0, 1, 0}), "", "x", segment);
    std::size_t held_at = segment.size();
    append_message_status_record(QueueId{0, 1, 0}, MessageStatus::held, 1000, segment);
    std::size_t status_at = segment.size();
    append_status_record(QueueId{0, 1, 0}, 1, RecipientStatus::delivered, segment);
    std::size_t released_at = segment.size();
    append_message_status_record(QueueId{0, 1, 0}, MessageStatus::released, 2000, segment);
    append_message_status_record(QueueId{7, 8, 9}, MessageStatus::deleted, 3000, segment);
    DecodedSegment decoded = decode_segment(as_span(segment));
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::none) << decoded.summary.problem_detail;
    EXPECT_EQ(decoded.summary.valid_bytes, segment.size());
    ASSERT_EQ(decoded.message_statuses.size(), 3u);
    ASSERT_EQ(decoded.statuses.size(), 1u);
    EXPECT_EQ(decoded.statuses[0].record_offset, status_at);
    const MessageStatusUpdate& held = decoded.message_statuses[0];
    EXPECT_EQ(held.id, (QueueId{0, 1, 0}));
    EXPECT_EQ(held.status, MessageStatus::held);
    EXPECT_EQ(held.time_unix_ms, 1000u);
    EXPECT_EQ(held.record_offset, held_at);
    EXPECT_EQ(decoded.message_statuses[1].status, MessageStatus::released);
    EXPECT_EQ(decoded.message_statuses[1].record_offset, released_at);
    EXPECT_EQ(decoded.message_statuses[2].status, MessageStatus::deleted);
    EXPECT_EQ(decoded.message_statuses[2].id, (QueueId{7, 8, 9}));
    EXPECT_EQ(decoded.message_statuses[2].time_unix_ms, 3000u);
}

TEST(Record, VersionsArePairedWithTypes) {
    struct Case {
        const char* name;
        bool admin;      // Patch a message_status record (else a status record).
        std::size_t at;  // Byte offset within the record.
        char value;
    };
    const Case cases[] = {
        {"message_status claiming version 1", true, 5, 1},
        {"message_status claiming version 3", true, 5, 3},
        {"status claiming version 2", false, 5, 2},
        {"unknown message status code", true, 25, 4},
        {"message status code zero", true, 25, 0},
        {"record type 5", true, 4, 5},
    };
    for (const Case& c : cases) {
        std::string segment;
        append_segment_header(0, 1, segment);
        std::size_t record = segment.size();
        if (c.admin) {
            append_message_status_record(QueueId{0, 1, 0}, MessageStatus::held, 5, segment);
        } else {
            append_status_record(QueueId{0, 1, 0}, 0, RecipientStatus::delivered, segment);
        }
        // A record after it, so that the damage is in the middle, not a torn tail.
        append_status_record(QueueId{0, 1, 0}, 0, RecipientStatus::delivered, segment);
        segment[record + c.at] = c.value;
        reseal(segment, record);  // The checksum is right: only the check of the field fails.
        DecodedSegment decoded = decode_segment(as_span(segment));
        EXPECT_EQ(decoded.summary.problem, SegmentProblem::corrupt_record) << c.name;
        EXPECT_EQ(decoded.summary.valid_bytes, record) << c.name;
        EXPECT_TRUE(decoded.message_statuses.empty()) << c.name;
    }
}

// --- Streamed messages: content_slice records, then the streamed_message commit. ----------

// Content of n bytes whose header block is cut by slice boundaries (the Message-ID field
// lands in the second slice when slices are small).
std::string streamed_content(std::size_t bytes, int n) {
    std::string content = sample_received(n) + sample_body(n);
    while (content.size() < bytes) {
        content += "line " + std::to_string(content.size()) + " of the body\r\n";
    }
    content.resize(bytes);
    return content;
}

// Appends the slices of content, `slice` bytes each (the last one shorter).
void append_slices(StreamedMessageEncoder& encoder, std::string_view content, std::size_t slice,
                   std::string& out) {
    for (std::size_t at = 0; at < content.size(); at += slice) {
        encoder.append_slice(content.substr(at, slice), out);
    }
}

TEST(StreamedMessage, RoundTripsAmongOtherRecords) {
    std::string image;
    append_segment_header(0, 7, image);
    std::string content_a = streamed_content(3 * slice_content_bytes_max + 100, 1);
    StreamedMessageEncoder a(QueueId{0, 7, 0});
    StreamedMessageEncoder abandoned(QueueId{0, 7, 2});
    std::string_view view_a(content_a);
    a.append_slice(view_a.substr(0, slice_content_bytes_max), image);
    // A message record and another stream's slice between A's slices.
    append_message_record(sample_meta(QueueId{0, 7, 1}, 2), sample_received(2), sample_body(2),
                          image);
    std::size_t abandoned_start = image.size();
    abandoned.append_slice("Received: lost\r\n", image);
    std::size_t abandoned_bytes = image.size() - abandoned_start;
    append_status_record(QueueId{0, 7, 1}, 0, RecipientStatus::delivered, image);
    for (std::size_t at = slice_content_bytes_max; at < content_a.size();
         at += slice_content_bytes_max) {
        a.append_slice(view_a.substr(at, slice_content_bytes_max), image);
    }
    std::size_t commit_at = image.size();
    a.append_commit(sample_meta(QueueId{0, 7, 0}, 1), image);
    EXPECT_EQ(a.slices(), 4u);
    EXPECT_EQ(a.content_bytes(), content_a.size());

    DecodedSegment decoded = decode_segment(as_span(image), DecodeOptions{{}, true});
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::none) << decoded.summary.problem_detail;
    EXPECT_EQ(decoded.summary.valid_bytes, image.size());
    EXPECT_EQ(decoded.summary.abandoned_streams, 1u);
    EXPECT_EQ(decoded.summary.abandoned_bytes, abandoned_bytes);
    ASSERT_EQ(decoded.messages.size(), 2u);  // In commit order: B, then A.
    EXPECT_FALSE(decoded.messages[0].streamed());
    const RecoveredMessage& got = decoded.messages[1];
    expect_same_meta(got.meta, sample_meta(QueueId{0, 7, 0}, 1));
    EXPECT_TRUE(got.streamed());
    EXPECT_EQ(got.record_offset, commit_at);
    EXPECT_EQ(got.content_bytes, content_a.size());
    EXPECT_EQ(got.message_id, "<m1@partner1.gov.uk>");
    EXPECT_EQ(decoded.contents[1], content_a);
    EXPECT_EQ(got.stored_bytes(), a.stored_bytes());
    ASSERT_EQ(got.slices.size(), 4u);
    std::string joined;
    for (const SliceExtent& slice : got.slices) {
        joined.append(image, slice.content_offset, slice.content_bytes);
    }
    EXPECT_EQ(joined, content_a);

    // read_content's path: the commit and every slice checked again.
    SpanSource source(as_span(image));
    std::string again;
    int read_errno = 0;
    ASSERT_EQ(decode_streamed_content(source, got, again, read_errno), SingleRecordOutcome::ok);
    EXPECT_EQ(again, content_a);
    // The outbound path: one slice record read back whole and viewed in place.
    std::string_view slice_view;
    std::span<const char> second =
        as_span(image).subspan(got.slices[1].record_offset, got.slices[1].record_bytes);
    ASSERT_EQ(decode_slice_view(second, got.meta.id, 1, slice_view), SingleRecordOutcome::ok);
    EXPECT_EQ(slice_view, view_a.substr(slice_content_bytes_max, slice_content_bytes_max));
    EXPECT_EQ(decode_slice_view(second, got.meta.id, 2, slice_view),
              SingleRecordOutcome::not_a_valid_message);
    EXPECT_EQ(decode_slice_view(second, QueueId{0, 7, 2}, 1, slice_view),
              SingleRecordOutcome::not_a_valid_message);
    // A message record is not a streamed message and the other way round.
    std::span<const char> commit = as_span(image).subspan(commit_at);
    RecoveredMessage message;
    std::string_view content;
    EXPECT_EQ(decode_message_view(commit, message, content),
              SingleRecordOutcome::not_a_valid_message);
}

TEST(StreamedMessage, SliceAroundIsTheSameRecord) {
    std::string content = streamed_content(1000, 3);
    StreamedMessageEncoder copied(QueueId{1, 2, 3});
    StreamedMessageEncoder around(QueueId{1, 2, 3});
    std::string whole;
    copied.append_slice(content, whole);
    std::string pieces;
    std::string tail = around.append_slice_around(content, pieces);
    EXPECT_LE(tail.size(), 15u);
    EXPECT_EQ(pieces + content + tail, whole);
    EXPECT_EQ(around.stored_bytes(), whole.size());
}

TEST(StreamedMessage, WithoutItsCommitItIsNoMessage) {
    std::string image;
    append_segment_header(0, 1, image);
    std::string content = streamed_content(5000, 4);
    StreamedMessageEncoder encoder(QueueId{0, 1, 0});
    append_slices(encoder, content, 1024, image);
    std::size_t commit_at = image.size();
    encoder.append_commit(sample_meta(QueueId{0, 1, 0}, 4), image);
    ASSERT_EQ(decode_segment(as_span(image)).messages.size(), 1u);
    // A crash at any byte before the commit is whole: never a message, never corruption.
    for (std::size_t cut = commit_at - 40; cut < image.size(); cut += 7) {
        DecodedSegment decoded = decode_segment(as_span(image).first(cut));
        EXPECT_TRUE(decoded.messages.empty()) << cut;
        EXPECT_NE(decoded.summary.problem, SegmentProblem::corrupt_record) << cut;
        EXPECT_EQ(decoded.summary.abandoned_streams, 1u) << cut;
    }
    // The commit zero-filled (a write that never landed): the same.
    std::string zeroed = image;
    std::fill(zeroed.begin() + static_cast<std::ptrdiff_t>(commit_at), zeroed.end(), '\0');
    DecodedSegment decoded = decode_segment(as_span(zeroed));
    EXPECT_TRUE(decoded.messages.empty());
    EXPECT_EQ(decoded.summary.problem, SegmentProblem::torn_tail);
}

TEST(StreamedMessage, SlicesThatDoNotFitTheirStreamAreCorrupt) {
    std::string content = streamed_content(3000, 5);
    QueueId id{0, 1, 0};
    auto corrupt = [](const std::string& image) {
        DecodedSegment decoded = decode_segment(as_span(image));
        EXPECT_TRUE(decoded.messages.empty());
        return decoded.summary.problem == SegmentProblem::corrupt_record;
    };
    std::string header;
    append_segment_header(0, 1, header);
    {
        // A slice that continues no stream: index 1 first.
        StreamedMessageEncoder skipped(id);
        std::string scratch;
        skipped.append_slice(std::string_view(content).substr(0, 1000), scratch);
        std::string image = header;
        skipped.append_slice(std::string_view(content).substr(1000, 1000), image);
        skipped.append_commit(sample_meta(id), image);
        EXPECT_TRUE(corrupt(image));
    }
    {
        // The same slice twice (index 0 again while the stream is open).
        StreamedMessageEncoder first(id);
        StreamedMessageEncoder second(id);
        std::string image = header;
        first.append_slice(std::string_view(content).substr(0, 1000), image);
        second.append_slice(std::string_view(content).substr(0, 1000), image);
        second.append_commit(sample_meta(id), image);
        EXPECT_TRUE(corrupt(image));
    }
    {
        // A commit naming fewer slices than were written.
        StreamedMessageEncoder written(id);
        StreamedMessageEncoder short_count(id);
        std::string image = header;
        append_slices(written, content, 1000, image);
        std::string scratch;
        short_count.append_slice(content, scratch);
        short_count.append_commit(sample_meta(id), image);
        EXPECT_TRUE(corrupt(image));
    }
    {
        // More streams open at once than recovery keeps a table for.
        std::string image = header;
        for (std::uint32_t n = 0; n <= open_streams_per_segment_max; n++) {
            StreamedMessageEncoder opened(QueueId{0, 1, n});
            opened.append_slice("R", image);
        }
        DecodedSegment decoded = decode_segment(as_span(image));
        EXPECT_EQ(decoded.summary.problem, SegmentProblem::corrupt_record);
        EXPECT_EQ(decoded.summary.abandoned_streams, open_streams_per_segment_max);
    }
    {
        // A commit with no slices at all (another id's slices before it).
        StreamedMessageEncoder other(QueueId{0, 1, 9});
        StreamedMessageEncoder lonely(id);
        std::string image = header;
        append_slices(other, content, 1000, image);
        std::string scratch;
        lonely.append_slice(content, scratch);
        lonely.append_commit(sample_meta(id), image);
        EXPECT_TRUE(corrupt(image));
    }
}

TEST(StreamedMessage, ReadBackRefusesAMessageThatMoved) {
    std::string image;
    append_segment_header(0, 1, image);
    std::string content = streamed_content(4000, 6);
    StreamedMessageEncoder encoder(QueueId{0, 1, 0});
    append_slices(encoder, content, 1500, image);
    encoder.append_commit(sample_meta(QueueId{0, 1, 0}, 6), image);
    DecodedSegment decoded = decode_segment(as_span(image));
    ASSERT_EQ(decoded.messages.size(), 1u);
    RecoveredMessage message = decoded.messages[0];
    std::string again;
    int read_errno = 0;
    SpanSource source(as_span(image));
    std::swap(message.slices[0], message.slices[1]);
    EXPECT_EQ(decode_streamed_content(source, message, again, read_errno),
              SingleRecordOutcome::not_a_valid_message);
    std::swap(message.slices[0], message.slices[1]);
    std::string flipped = image;
    flipped[message.slices[2].content_offset + 5] ^= 1;
    SpanSource damaged(as_span(flipped));
    EXPECT_EQ(decode_streamed_content(damaged, message, again, read_errno),
              SingleRecordOutcome::not_a_valid_message);
    ASSERT_EQ(decode_streamed_content(source, message, again, read_errno), SingleRecordOutcome::ok);
    EXPECT_EQ(again, content);
}

// Regenerates the fuzzer's seed corpus when HUB_WRITE_SPOOL_SEEDS=1; otherwise checks that
// the checked-in seeds still decode cleanly (a format change must refresh them).
TEST(FuzzSeeds, WriteOrCheck) {
    std::vector<std::pair<std::string, std::string>> seeds;
    std::string header_only;
    append_segment_header(0, 1, header_only);
    seeds.emplace_back("header-only.seg", header_only);
    std::string one = header_only;
    append_message_record(sample_meta(QueueId{0, 1, 0}), sample_received(0), sample_body(0), one);
    seeds.emplace_back("one-message.seg", one);
    std::string mixed = one;
    append_status_record(QueueId{0, 1, 0}, 0, RecipientStatus::delivered, mixed);
    MessageMeta plain = sample_meta(QueueId{0, 1, 1}, 1);
    plain.envelope.recipients.resize(1);
    plain.tls = smtp::TlsFacts{};
    append_message_record(plain, sample_received(1), sample_body(1), mixed);
    append_status_record(QueueId{0, 1, 1}, 0, RecipientStatus::bounced, mixed);
    seeds.emplace_back("mixed.seg", mixed);
    std::string torn = mixed.substr(0, mixed.size() - 13);
    seeds.emplace_back("torn-tail.seg", torn);
    std::string admin = one;
    append_message_status_record(QueueId{0, 1, 0}, MessageStatus::held, 1700000000000, admin);
    append_message_status_record(QueueId{0, 1, 0}, MessageStatus::released, 1700000001000, admin);
    append_message_status_record(QueueId{0, 1, 0}, MessageStatus::deleted, 1700000002000, admin);
    seeds.emplace_back("message-status.seg", admin);
    // A streamed message between another stream's slices, and a stream never committed.
    std::string streamed = header_only;
    StreamedMessageEncoder committed(QueueId{0, 1, 0});
    StreamedMessageEncoder lost(QueueId{0, 1, 1});
    std::string streamed_text = sample_received(2) + sample_body(2);
    committed.append_slice(std::string_view(streamed_text).substr(0, 40), streamed);
    lost.append_slice("Received: lost\r\n", streamed);
    committed.append_slice(std::string_view(streamed_text).substr(40), streamed);
    committed.append_commit(sample_meta(QueueId{0, 1, 0}, 2), streamed);
    append_status_record(QueueId{0, 1, 0}, 1, RecipientStatus::delivered, streamed);
    seeds.emplace_back("streamed.seg", streamed);

    const char* write = std::getenv("HUB_WRITE_SPOOL_SEEDS");
    for (const auto& [name, bytes] : seeds) {
        std::string path = std::string(HUB_SPOOL_CORPUS_DIR) + "/" + name;
        if (write != nullptr && std::string(write) == "1") {
            std::ofstream(path, std::ios::binary) << bytes;
        }
        std::ifstream in(path, std::ios::binary);
        std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(stored, bytes) << path << " is stale: rerun with HUB_WRITE_SPOOL_SEEDS=1";
    }
}

}  // namespace
}  // namespace hub::spool
