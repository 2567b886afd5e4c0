// protocol.h -- hub-ca's socket protocol: one typed request, one typed answer.
//
// A connection carries one request frame and one answer frame, then closes. A frame is a
// 4-byte big-endian body length and the body (a request at most request_frame_bytes_max in
// all, an answer answer_frame_bytes_max):
//
//   body  = version(1 byte, = 2) kind(1 byte) field*
//   field = tag(1 byte) length(4 bytes, big-endian) value(length bytes)
//
// Requests and answers share the format; kinds 1..12 are requests, 0x80 (ok) and 0x81
// (refused) answers. Each kind has a fixed set of required and allowed fields, a tag may
// appear once, text fields are printable ASCII and bounded; anything else is refused with
// a message before the request reaches the CA. The version byte lets a later hub-ca
// answer an older client (it refuses a version it does not know, naming its own).
// Version 2 added the refusal code: a refused answer carries a message for people and a
// Refusal for programs, so a client (the enrollment page) never parses the sentence.
// See docs/CA.md ("Protocol") for the table of kinds, fields and roles.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::ca {

inline constexpr std::uint8_t protocol_version = 2;  // 2: refusals carry a code.

enum class Kind : std::uint8_t {
    submit = 1,              // partner, password, csr -> request_id
    status = 2,              // request_id [, partner, password] -> message
    fetch_certificate = 3,   // request_id, format [, partner, password] -> body
    fetch_crl = 4,           // format -> body
    fetch_ca = 5,            // format -> body
    list_requests = 6,       // format -> body
    approve = 7,             // request_id, actor -> serial
    reject = 8,              // request_id, reason, actor
    revoke = 9,              // serial, reason, actor
    list_certificates = 10,  // format -> body
    set_password = 11,       // partner, actor -> body (the new password, shown once)
    audit = 12,              // format -> body
    ok = 0x80,
    refused = 0x81,
};

enum class Field : std::uint8_t {
    partner = 1,
    password = 2,
    csr = 3,
    request_id = 4,
    serial = 5,
    reason = 6,
    format = 7,
    actor = 8,
    message = 9,
    body = 10,
    code = 11,  // A refusal's Refusal, one byte.
};
inline constexpr std::size_t field_count = 11;

// Why hub-ca refused, for programs (the message says it for people). One byte on the wire;
// a value outside this list does not decode.
enum class Refusal : std::uint8_t {
    malformed = 1,        // The frame, a field, or the protocol version is not acceptable.
    forbidden = 2,        // The caller's role may not ask this kind.
    bad_credentials = 3,  // Unknown partner or wrong enrollment password (one code for both).
    invalid = 4,          // A value is refused: the CSR fails the checks, a format, an id.
    not_found = 5,        // No such request or certificate (for this partner).
    wrong_state = 6,      // Not in a state that allows it: pending, decided, revoked already.
    limit = 7,            // Too many requests waiting (per partner or in all).
    unavailable = 8,      // hub-ca cannot now: its database, no CRL yet, an answer too large.
};
inline constexpr std::uint8_t refusal_max = 8;
std::string_view refusal_name(Refusal code);

struct Message {
    Kind kind = Kind::refused;
    // Indexed by tag - 1; nullopt = absent. Binary fields (csr, body) hold bytes.
    std::array<std::optional<std::string>, field_count> fields;

    bool has(Field field) const { return fields[static_cast<std::size_t>(field) - 1].has_value(); }
    const std::string& get(Field field) const;  // Precondition: has(field).
    std::string_view get_or(Field field, std::string_view otherwise) const;
    Message& set(Field field, std::string value);
};

std::string_view kind_name(Kind kind);

// The whole frame: length header and body. Precondition: the message is within limits
// (the encoder asserts it; values come from our own code or were decoded).
std::vector<std::uint8_t> encode(const Message& message);

// Which way a frame goes: requests to hub-ca are small, answers may be large.
enum class Direction { request, answer };
std::size_t frame_bytes_max(Direction direction);

// The body length a 4-byte header announces, or why it is not acceptable.
[[nodiscard]] Result<std::size_t, std::string> body_length(std::span<const std::uint8_t> header,
                                                           Direction direction);

// Decodes and checks one body (after the header): a request kind when direction is
// request, an answer kind otherwise. The error is a sentence for the caller.
[[nodiscard]] Result<Message, std::string> decode(std::span<const std::uint8_t> body,
                                                  Direction direction);

// An answer.
Message ok_answer();
Message refusal(Refusal code, std::string text);
// A refused answer's code; malformed for any other message (decode guarantees a refused
// answer has a valid one).
Refusal refusal_code(const Message& answer);

}  // namespace hub::ca
