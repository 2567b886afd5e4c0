// protocol.cc -- encoding and checking hub-ca's frames (protocol.h).
//
// PURPOSE   Turn bytes from a local socket into a typed, bounded request, or a refusal.
// RUNS IN   hub-ca (requests), hubctl and the enrollment page (answers).
// TRUST     The bytes may come from any local account, including a compromised
//           enrollment page: every length is checked against what remains before use.
// LIMITS    ca/limits.h: request_frame_bytes_max, answer_frame_bytes_max, text_field_bytes_max,
//           request_pem_bytes_max, password_bytes_max.
// SEE ALSO  ca/roles.cc (who may send which kind), tests/fuzz/ca_protocol_fuzz.cc.

#include "ca/protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "ca/limits.h"

namespace hub::ca {

namespace {

constexpr std::uint16_t bit(Field field) {
    return static_cast<std::uint16_t>(1u << (static_cast<unsigned>(field) - 1));
}

struct KindRule {
    Kind kind;
    std::string_view name;
    std::uint16_t required;
    std::uint16_t allowed;  // Includes required.
};

constexpr std::uint16_t answer_fields =
    bit(Field::message) | bit(Field::body) | bit(Field::request_id) | bit(Field::serial);
constexpr std::uint16_t credentials = bit(Field::partner) | bit(Field::password);

constexpr std::array<KindRule, 14> rules = {{
    {Kind::submit, "submit", credentials | bit(Field::csr), credentials | bit(Field::csr)},
    {Kind::status, "status", bit(Field::request_id), bit(Field::request_id) | credentials},
    {Kind::fetch_certificate, "fetch-certificate", bit(Field::request_id) | bit(Field::format),
     bit(Field::request_id) | bit(Field::format) | credentials},
    {Kind::fetch_crl, "fetch-crl", bit(Field::format), bit(Field::format)},
    {Kind::fetch_ca, "fetch-ca", bit(Field::format), bit(Field::format)},
    {Kind::list_requests, "list-requests", bit(Field::format), bit(Field::format)},
    {Kind::approve, "approve", bit(Field::request_id) | bit(Field::actor),
     bit(Field::request_id) | bit(Field::actor)},
    {Kind::reject, "reject", bit(Field::request_id) | bit(Field::reason) | bit(Field::actor),
     bit(Field::request_id) | bit(Field::reason) | bit(Field::actor)},
    {Kind::revoke, "revoke", bit(Field::serial) | bit(Field::reason) | bit(Field::actor),
     bit(Field::serial) | bit(Field::reason) | bit(Field::actor)},
    {Kind::list_certificates, "list-certificates", bit(Field::format), bit(Field::format)},
    {Kind::set_password, "set-password", bit(Field::partner) | bit(Field::actor),
     bit(Field::partner) | bit(Field::actor)},
    {Kind::audit, "audit", bit(Field::format), bit(Field::format)},
    {Kind::ok, "ok", 0, answer_fields},
    {Kind::refused, "refused", bit(Field::message) | bit(Field::code),
     bit(Field::message) | bit(Field::code)},
}};

const KindRule* rule_for(std::uint8_t kind) {
    auto found = std::find_if(rules.begin(), rules.end(), [&](const KindRule& rule) {
        return static_cast<std::uint8_t>(rule.kind) == kind;
    });
    return found == rules.end() ? nullptr : &*found;
}

std::string_view field_name(Field field) {
    static constexpr std::array<std::string_view, field_count> names = {
        "partner", "password", "csr",     "request_id", "serial", "reason",
        "format",  "actor",    "message", "body",       "code"};
    return names[static_cast<std::size_t>(field) - 1];
}

std::size_t field_bytes_max(Field field) {
    switch (field) {
        case Field::csr:
            return request_pem_bytes_max;
        case Field::body:
            return answer_body_bytes_max;
        case Field::password:
            return password_bytes_max;
        default:
            return text_field_bytes_max;
    }
}

// Text fields are printable ASCII; a password also allows UTF-8 bytes; csr and body are bytes.
bool value_acceptable(Field field, std::string_view value) {
    if (field == Field::csr || field == Field::body) {
        return true;
    }
    if (field == Field::code) {
        return value.size() == 1 && static_cast<std::uint8_t>(value[0]) >= 1 &&
               static_cast<std::uint8_t>(value[0]) <= refusal_max;
    }
    bool allow_high = field == Field::password || field == Field::message;
    bool allow_newline = field == Field::message;
    return std::all_of(value.begin(), value.end(), [&](char c) {
        auto byte = static_cast<unsigned char>(c);
        return (byte >= 0x20 && byte < 0x7f) || (allow_high && byte >= 0x80) ||
               (allow_newline && byte == '\n');
    });
}

void put_u32(std::vector<std::uint8_t>& out, std::size_t value) {
    HUB_ASSERT(value <= 0xffffffffu);
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>((value >> shift) & 0xff));
    }
}

std::size_t get_u32(std::span<const std::uint8_t> bytes) {
    HUB_ASSERT(bytes.size() >= 4);
    return (static_cast<std::size_t>(bytes[0]) << 24) | (static_cast<std::size_t>(bytes[1]) << 16) |
           (static_cast<std::size_t>(bytes[2]) << 8) | bytes[3];
}

}  // namespace

const std::string& Message::get(Field field) const {
    HUB_ASSERT(has(field));
    return *fields[static_cast<std::size_t>(field) - 1];
}

std::string_view Message::get_or(Field field, std::string_view otherwise) const {
    return has(field) ? std::string_view(get(field)) : otherwise;
}

Message& Message::set(Field field, std::string value) {
    fields[static_cast<std::size_t>(field) - 1] = std::move(value);
    return *this;
}

std::string_view kind_name(Kind kind) {
    const KindRule* rule = rule_for(static_cast<std::uint8_t>(kind));
    return rule == nullptr ? "unknown" : rule->name;
}

std::vector<std::uint8_t> encode(const Message& message) {
    std::vector<std::uint8_t> out(frame_header_bytes, 0);
    out.push_back(protocol_version);
    out.push_back(static_cast<std::uint8_t>(message.kind));
    for (std::size_t i = 0; i < field_count; i++) {
        if (!message.fields[i]) {
            continue;
        }
        const std::string& value = *message.fields[i];
        out.push_back(static_cast<std::uint8_t>(i + 1));
        put_u32(out, value.size());
        out.insert(out.end(), value.begin(), value.end());
    }
    bool answer = message.kind == Kind::ok || message.kind == Kind::refused;
    HUB_ASSERT(out.size() <= frame_bytes_max(answer ? Direction::answer : Direction::request));
    std::vector<std::uint8_t> header;
    put_u32(header, out.size() - frame_header_bytes);
    std::copy(header.begin(), header.end(), out.begin());
    return out;
}

std::size_t frame_bytes_max(Direction direction) {
    return direction == Direction::request ? request_frame_bytes_max : answer_frame_bytes_max;
}

Result<std::size_t, std::string> body_length(std::span<const std::uint8_t> header,
                                             Direction direction) {
    HUB_ASSERT(header.size() == frame_header_bytes);
    std::size_t length = get_u32(header);
    std::size_t max = frame_bytes_max(direction) - frame_header_bytes;
    if (length < 2 || length > max) {
        return unexpected(fmt::format("a frame of {} bytes: frames are 2..{} bytes", length, max));
    }
    return length;
}

Result<Message, std::string> decode(std::span<const std::uint8_t> body, Direction direction) {
    if (body.size() < 2 || body.size() > frame_bytes_max(direction) - frame_header_bytes) {
        return unexpected(std::string("a frame must hold a version and a kind"));
    }
    if (body[0] != protocol_version) {
        return unexpected(fmt::format("protocol version {} is not spoken here; hub-ca speaks {}",
                                      body[0], protocol_version));
    }
    const KindRule* rule = rule_for(body[1]);
    bool answer_kind = body[1] == static_cast<std::uint8_t>(Kind::ok) ||
                       body[1] == static_cast<std::uint8_t>(Kind::refused);
    if (rule == nullptr || answer_kind != (direction == Direction::answer)) {
        return unexpected(fmt::format(
            "unknown {} kind {}", direction == Direction::request ? "request" : "answer", body[1]));
    }
    Message message;
    message.kind = rule->kind;
    std::uint16_t seen = 0;
    std::size_t at = 2;
    // Each tag at most once, so a body holds at most field_count fields.
    while (at < body.size()) {
        if (body.size() - at < 5) {
            return unexpected(std::string("a field header is cut short"));
        }
        std::uint8_t tag = body[at];
        std::size_t length = get_u32(body.subspan(at + 1, 4));
        at += 5;
        if (tag == 0 || tag > field_count) {
            return unexpected(fmt::format("unknown field {}", tag));
        }
        auto field = static_cast<Field>(tag);
        if ((rule->allowed & bit(field)) == 0) {
            return unexpected(fmt::format("{} takes no field {}", rule->name, field_name(field)));
        }
        if ((seen & bit(field)) != 0) {
            return unexpected(fmt::format("field {} given twice", field_name(field)));
        }
        if (length > body.size() - at) {
            return unexpected(fmt::format("field {} is longer than the frame", field_name(field)));
        }
        if (length > field_bytes_max(field)) {
            return unexpected(fmt::format("field {} is {} bytes; at most {}", field_name(field),
                                          length, field_bytes_max(field)));
        }
        std::string value(reinterpret_cast<const char*>(body.data() + at), length);
        if (!value_acceptable(field, value)) {
            return unexpected(
                fmt::format("field {} has characters that are not allowed", field_name(field)));
        }
        seen = static_cast<std::uint16_t>(seen | bit(field));
        message.set(field, std::move(value));
        at += length;
    }
    if ((seen & rule->required) != rule->required) {
        for (std::size_t i = 1; i <= field_count; i++) {
            auto field = static_cast<Field>(i);
            if ((rule->required & bit(field)) != 0 && (seen & bit(field)) == 0) {
                return unexpected(
                    fmt::format("{} needs the field {}", rule->name, field_name(field)));
            }
        }
    }
    return message;
}

Message ok_answer() {
    Message message;
    message.kind = Kind::ok;
    return message;
}

Message refusal(Refusal code, std::string text) {
    Message message;
    message.kind = Kind::refused;
    if (text.size() > text_field_bytes_max) {
        text.resize(text_field_bytes_max);
    }
    message.set(Field::message, std::move(text));
    message.set(Field::code, std::string(1, static_cast<char>(code)));
    HUB_ASSERT(static_cast<std::uint8_t>(code) >= 1 &&
               static_cast<std::uint8_t>(code) <= refusal_max);
    return message;
}

Refusal refusal_code(const Message& answer) {
    if (answer.kind != Kind::refused || !answer.has(Field::code) ||
        !value_acceptable(Field::code, answer.get(Field::code))) {
        return Refusal::malformed;
    }
    return static_cast<Refusal>(static_cast<std::uint8_t>(answer.get(Field::code)[0]));
}

std::string_view refusal_name(Refusal code) {
    switch (code) {
        case Refusal::malformed:
            return "malformed";
        case Refusal::forbidden:
            return "forbidden";
        case Refusal::bad_credentials:
            return "bad-credentials";
        case Refusal::invalid:
            return "invalid";
        case Refusal::not_found:
            return "not-found";
        case Refusal::wrong_state:
            return "wrong-state";
        case Refusal::limit:
            return "limit";
        case Refusal::unavailable:
            return "unavailable";
    }
    HUB_PANIC("unknown refusal code");
}

}  // namespace hub::ca
