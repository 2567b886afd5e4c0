// protocol.cc -- encoding and checking hub-netcfg's frames (protocol.h).
//
// PURPOSE   Turn bytes from a local socket into a typed, bounded request, or a refusal.
// RUNS IN   hub-netcfg (requests), the console's netcfg::Client (answers).
// TRUST     The bytes may come from any local account: every length is checked against
//           what remains before use, and the role check happens before this in the daemon.
// LIMITS    netcfg/limits.h: request_frame_bytes_max, answer_frame_bytes_max,
//           value_bytes_max, text_value_bytes_max, list_items_max, answer_items_max.
// SEE ALSO  tests/fuzz/netcfg_protocol_fuzz.cc, docs/NETWORK.md ("Protocol").

#include "netcfg/protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "netcfg/limits.h"

namespace hub::netcfg {

namespace {

constexpr std::uint32_t bit(Field field) {
    return 1u << (static_cast<unsigned>(field) - 1);
}

struct KindRule {
    Kind kind;
    std::string_view name;
    std::uint32_t required;
    std::uint32_t allowed;  // Includes required.
};

constexpr std::uint32_t guarded = bit(Field::session) | bit(Field::confirm);
constexpr std::uint32_t on_interface = bit(Field::interface) | bit(Field::address);
constexpr std::uint32_t route_fields = bit(Field::destination) | bit(Field::gateway);
constexpr std::uint32_t answer_fields = bit(Field::message) | bit(Field::item) | bit(Field::text) |
                                        bit(Field::token) | bit(Field::seconds) | bit(Field::state);

constexpr std::array<KindRule, 22> rules = {{
    {Kind::list_interfaces, "list_interfaces", 0, 0},
    {Kind::list_routes, "list_routes", 0, 0},
    {Kind::show_settings, "show_settings", 0, 0},
    {Kind::set_address, "set_address", on_interface, on_interface | guarded},
    {Kind::add_address, "add_address", on_interface, on_interface | guarded},
    {Kind::delete_address, "delete_address", on_interface, on_interface | guarded},
    {Kind::set_link, "set_link", bit(Field::interface) | bit(Field::state),
     bit(Field::interface) | bit(Field::state) | guarded},
    {Kind::set_mtu, "set_mtu", bit(Field::interface) | bit(Field::mtu),
     bit(Field::interface) | bit(Field::mtu) | guarded},
    {Kind::set_default_gateway, "set_default_gateway", bit(Field::gateway),
     bit(Field::gateway) | guarded},
    {Kind::add_route, "add_route", route_fields, route_fields | guarded},
    {Kind::delete_route, "delete_route", route_fields, route_fields | guarded},
    {Kind::set_resolvers, "set_resolvers", 0, bit(Field::resolver)},
    {Kind::set_hostname, "set_hostname", bit(Field::hostname), bit(Field::hostname)},
    {Kind::set_service_access, "set_service_access", bit(Field::service),
     bit(Field::service) | bit(Field::source) | guarded},
    {Kind::set_ssh, "set_ssh", bit(Field::state), bit(Field::state) | guarded},
    {Kind::confirm, "confirm", bit(Field::token), bit(Field::token) | bit(Field::session)},
    {Kind::revert, "revert", bit(Field::token), bit(Field::token)},
    {Kind::status, "status", 0, 0},
    {Kind::ping, "ping", bit(Field::address) | bit(Field::count) | bit(Field::timeout),
     bit(Field::address) | bit(Field::count) | bit(Field::timeout)},
    {Kind::tcp_test, "tcp_test", bit(Field::address) | bit(Field::port) | bit(Field::timeout),
     bit(Field::address) | bit(Field::port) | bit(Field::timeout)},
    {Kind::ok, "ok", 0, answer_fields},
    {Kind::refused, "refused", bit(Field::message) | bit(Field::code),
     bit(Field::message) | bit(Field::code)},
}};
static_assert(rules.size() == request_kind_max + 2, "one rule per kind");

constexpr std::array<std::string_view, field_count> field_names = {
    "interface", "address", "state",   "mtu",   "destination", "gateway", "resolver",
    "hostname",  "service", "source",  "token", "session",     "confirm", "count",
    "timeout",   "port",    "message", "item",  "text",        "code",    "seconds"};

constexpr std::array<std::string_view, 8> error_code_names = {
    "bad_request", "not_permitted", "invalid_value", "not_found",
    "conflict",    "pending",       "system",        "unavailable"};

const KindRule* rule_for(std::uint8_t kind) {
    auto found = std::find_if(rules.begin(), rules.end(), [&](const KindRule& rule) {
        return static_cast<std::uint8_t>(rule.kind) == kind;
    });
    return found == rules.end() ? nullptr : &*found;
}

bool is_answer_kind(std::uint8_t kind) {
    return kind == static_cast<std::uint8_t>(Kind::ok) ||
           kind == static_cast<std::uint8_t>(Kind::refused);
}

std::size_t field_bytes_max(Field field) {
    return field == Field::text ? text_value_bytes_max : value_bytes_max;
}

bool value_acceptable(Field field, std::string_view value) {
    bool allow_newline = field == Field::text || field == Field::message;
    return std::all_of(value.begin(), value.end(), [&](char c) {
        auto byte = static_cast<unsigned char>(c);
        return (byte >= 0x20 && byte < 0x7f) || (allow_newline && byte == '\n');
    });
}

void put_be(std::vector<std::uint8_t>& out, std::size_t value, int bytes) {
    for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>((value >> shift) & 0xff));
    }
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
    return error_code_names[static_cast<std::size_t>(code)];
}

ErrorCode parse_error_code(std::string_view name) {
    for (std::size_t i = 0; i < error_code_names.size(); i++) {
        if (error_code_names[i] == name) {
            return static_cast<ErrorCode>(i);
        }
    }
    return ErrorCode::bad_request;
}

const std::string& Message::get(Field field) const {
    HUB_ASSERT(has(field));
    return slot(field).front();
}

std::string_view Message::get_or(Field field, std::string_view otherwise) const {
    return has(field) ? std::string_view(get(field)) : otherwise;
}

Message& Message::set(Field field, std::string value) {
    auto& values = fields[static_cast<std::size_t>(field) - 1];
    values.clear();
    values.push_back(std::move(value));
    return *this;
}

Message& Message::add(Field field, std::string value) {
    HUB_ASSERT(is_list_field(field));
    fields[static_cast<std::size_t>(field) - 1].push_back(std::move(value));
    return *this;
}

std::string_view kind_name(Kind kind) {
    const KindRule* rule = rule_for(static_cast<std::uint8_t>(kind));
    return rule == nullptr ? "unknown" : rule->name;
}

bool is_list_field(Field field) {
    return field == Field::source || field == Field::resolver || field == Field::item;
}

bool is_change(Kind kind) {
    auto code = static_cast<std::uint8_t>(kind);
    return code >= static_cast<std::uint8_t>(Kind::set_address) &&
           code <= static_cast<std::uint8_t>(Kind::set_ssh);
}

std::size_t frame_bytes_max(Direction direction) {
    return direction == Direction::request ? request_frame_bytes_max : answer_frame_bytes_max;
}

std::vector<std::uint8_t> encode(const Message& message) {
    std::vector<std::uint8_t> out(frame_header_bytes, 0);
    out.push_back(protocol_version);
    out.push_back(static_cast<std::uint8_t>(message.kind));
    for (std::size_t i = 0; i < field_count; i++) {
        for (const std::string& value : message.fields[i]) {
            HUB_ASSERT(value.size() <= field_bytes_max(static_cast<Field>(i + 1)));
            out.push_back(static_cast<std::uint8_t>(i + 1));
            put_be(out, value.size(), 2);
            out.insert(out.end(), value.begin(), value.end());
        }
    }
    bool answer = is_answer_kind(static_cast<std::uint8_t>(message.kind));
    HUB_ASSERT(out.size() <= frame_bytes_max(answer ? Direction::answer : Direction::request));
    std::vector<std::uint8_t> header;
    put_be(header, out.size() - frame_header_bytes, 4);
    std::copy(header.begin(), header.end(), out.begin());
    return out;
}

Result<std::size_t, std::string> body_length(std::span<const std::uint8_t> header,
                                             Direction direction) {
    HUB_ASSERT(header.size() == frame_header_bytes);
    std::size_t length = (static_cast<std::size_t>(header[0]) << 24) |
                         (static_cast<std::size_t>(header[1]) << 16) |
                         (static_cast<std::size_t>(header[2]) << 8) | header[3];
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
        return unexpected(
            fmt::format("protocol version {} is not spoken here; hub-netcfg speaks {}", body[0],
                        protocol_version));
    }
    const KindRule* rule = rule_for(body[1]);
    if (rule == nullptr || is_answer_kind(body[1]) != (direction == Direction::answer)) {
        return unexpected(fmt::format(
            "unknown {} kind {}", direction == Direction::request ? "request" : "answer", body[1]));
    }
    std::size_t items_max = direction == Direction::request ? list_items_max : answer_items_max;
    Message message;
    message.kind = rule->kind;
    std::uint32_t seen = 0;
    std::size_t at = 2;
    while (at < body.size()) {
        if (body.size() - at < 3) {
            return unexpected(std::string("a field header is cut short"));
        }
        std::uint8_t tag = body[at];
        std::size_t length = (static_cast<std::size_t>(body[at + 1]) << 8) | body[at + 2];
        at += 3;
        if (tag == 0 || tag > field_count) {
            return unexpected(fmt::format("unknown field {}", tag));
        }
        auto field = static_cast<Field>(tag);
        std::string_view name = field_names[tag - 1];
        if ((rule->allowed & bit(field)) == 0) {
            return unexpected(fmt::format("{} takes no field {}", rule->name, name));
        }
        if ((seen & bit(field)) != 0 && !is_list_field(field)) {
            return unexpected(fmt::format("field {} given twice", name));
        }
        if (message.all(field).size() >= items_max) {
            return unexpected(fmt::format("field {} given more than {} times", name, items_max));
        }
        if (length > body.size() - at) {
            return unexpected(fmt::format("field {} is longer than the frame", name));
        }
        if (length > field_bytes_max(field)) {
            return unexpected(fmt::format("field {} is {} bytes; at most {}", name, length,
                                          field_bytes_max(field)));
        }
        std::string value(reinterpret_cast<const char*>(body.data() + at), length);
        if (!value_acceptable(field, value)) {
            return unexpected(fmt::format("field {} has characters that are not allowed", name));
        }
        seen |= bit(field);
        message.fields[tag - 1].push_back(std::move(value));
        at += length;
    }
    if ((seen & rule->required) != rule->required) {
        for (std::size_t i = 1; i <= field_count; i++) {
            if ((rule->required & bit(static_cast<Field>(i))) != 0 &&
                (seen & bit(static_cast<Field>(i))) == 0) {
                return unexpected(
                    fmt::format("{} needs the field {}", rule->name, field_names[i - 1]));
            }
        }
    }
    return message;
}

Message request(Kind kind) {
    HUB_ASSERT(!is_answer_kind(static_cast<std::uint8_t>(kind)));
    Message message;
    message.kind = kind;
    return message;
}

std::string printable_text(std::string_view text) {
    std::string out(text.substr(0, value_bytes_max));
    for (char& c : out) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\n') || byte >= 0x7f) {
            c = '?';
        }
    }
    return out;
}

Message ok_answer(std::string text) {
    Message message;
    message.kind = Kind::ok;
    if (!text.empty()) {
        message.set(Field::message, printable_text(text));
    }
    return message;
}

Message refusal(ErrorCode code, std::string text) {
    Message message;
    message.kind = Kind::refused;
    message.set(Field::message, printable_text(text));
    message.set(Field::code, std::string(error_code_name(code)));
    return message;
}

}  // namespace hub::netcfg
