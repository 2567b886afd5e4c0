// protocol.h -- hub-netcfg's socket protocol: one typed request, one typed answer.
//
// A connection carries one request frame and one answer frame, then closes. A frame is a
// 4-byte big-endian body length and the body (a request at most request_frame_bytes_max in
// all, an answer answer_frame_bytes_max):
//
//   body  = version(1 byte, = 1) kind(1 byte) field*
//   field = tag(1 byte) length(2 bytes, big-endian) value(length bytes)
//
// Kinds 1..20 are requests, 0x80 (ok) and 0x81 (refused) answers. Each kind has a fixed
// set of required and allowed fields. A field appears at most once, except the list fields
// (source, resolver, item), which may repeat up to list_items_max times in a request and
// answer_items_max in an answer, in order. Values are printable ASCII; only text (the
// settings file) and message may hold newlines. Anything else is refused with a message
// before hub-netcfg looks at the request. See docs/NETWORK.md ("Protocol").
//
// Who may ask: hub-netcfg reads the caller's uid and gid from the kernel (SO_PEERCRED);
// root and the console's account (and group) may send every request, nobody else any.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::netcfg {

inline constexpr std::uint8_t protocol_version = 1;

enum class Kind : std::uint8_t {
    list_interfaces = 1,      // -> item* ("interface" items, interface.h)
    list_routes = 2,          // -> item* ("route" items)
    show_settings = 3,        // -> text (network.conf as saved), [token, seconds, message]
    set_address = 4,          // interface, address [session, confirm] -> change
    add_address = 5,          // interface, address [session, confirm] -> change
    delete_address = 6,       // interface, address [session, confirm] -> change
    set_link = 7,             // interface, state (up|down) [session, confirm] -> change
    set_mtu = 8,              // interface, mtu [session, confirm] -> change
    set_default_gateway = 9,  // gateway [session, confirm] -> change (replaces that family's)
    add_route = 10,           // destination, gateway [session, confirm] -> change
    delete_route = 11,        // destination, gateway [session, confirm] -> change
    set_resolvers = 12,       // resolver* -> change
    set_hostname = 13,        // hostname -> change
    set_service_access = 14,  // service, source* ("any" or networks) [session, confirm]
    set_ssh = 15,             // state (on|off) [session, confirm] -> change
    confirm = 16,             // token -> message: keeps the pending change and saves it
    revert = 17,              // token -> message: restores the state before it now
    status = 18,              // -> [token, seconds, message] of the pending change
    ping = 19,                // address, count, timeout -> message, item* (one per reply)
    tcp_test = 20,            // address, port, timeout -> message, state (connected|failed)
    ok = 0x80,
    refused = 0x81,
};
inline constexpr std::uint8_t request_kind_max = 20;

enum class Field : std::uint8_t {
    interface = 1,    // "eth0"
    address = 2,      // "192.0.2.10/24" (interface address) or "192.0.2.1" (probes)
    state = 3,        // up|down (set_link), on|off (set_ssh), connected|failed (tcp_test)
    mtu = 4,          // decimal
    destination = 5,  // "default" or "10.0.0.0/8"
    gateway = 6,      // "192.0.2.1"
    resolver = 7,     // list: "192.0.2.53"
    hostname = 8,     // "hub.example.net"
    service = 9,      // ssh, smtp, enrollment, snmp
    source = 10,      // list: "any" or "198.51.100.0/24"
    token = 11,       // a pending change's token: 16 lowercase hex digits
    session = 12,  // the caller's SSH session, as SSH_CONNECTION says: "CLIENT CPORT SERVER SPORT"
    confirm = 13,  // "always": apply with the confirm timer even when not risky
    count = 14,    // decimal (ping)
    timeout = 15,  // decimal seconds (probes)
    port = 16,     // decimal (tcp_test)
    message = 17,  // a sentence for the administrator
    item = 18,     // list: one listing line (interface, route or ping reply)
    text = 19,     // network.conf
    code = 20,     // error code name (refused)
    seconds = 21,  // seconds left to confirm (ok)
};
inline constexpr std::size_t field_count = 21;

// Why a request was refused; the message says what to fix.
enum class ErrorCode : std::uint8_t {
    bad_request,    // The frame or a field's syntax (protocol.cc).
    not_permitted,  // The caller's account may not ask.
    invalid_value,  // An address, prefix length, MTU, name ... out of its range.
    not_found,      // No such interface, address or route.
    conflict,       // A duplicate (address, route), or a gateway not on any network.
    pending,        // Another change waits for its confirmation.
    system,         // The kernel or the firewall refused; nothing was left half-applied.
    unavailable,    // hub-netcfg cannot be reached (client side only).
};
std::string_view error_code_name(ErrorCode code);

// A refused request or settings value: the code, and a sentence saying what to fix.
struct Refusal {
    ErrorCode code = ErrorCode::bad_request;
    std::string message;
};
ErrorCode parse_error_code(std::string_view name);  // Unknown names -> bad_request.

struct Message {
    Kind kind = Kind::refused;
    // Indexed by tag - 1: single fields hold at most one value, list fields several.
    std::array<std::vector<std::string>, field_count> fields;

    bool has(Field field) const { return !slot(field).empty(); }
    const std::string& get(Field field) const;  // Precondition: has(field).
    std::string_view get_or(Field field, std::string_view otherwise) const;
    const std::vector<std::string>& all(Field field) const { return slot(field); }
    Message& set(Field field, std::string value);  // Replaces.
    Message& add(Field field, std::string value);  // Appends (list fields).

private:
    const std::vector<std::string>& slot(Field field) const {
        return fields[static_cast<std::size_t>(field) - 1];
    }
};

std::string_view kind_name(Kind kind);
bool is_list_field(Field field);
// Requests that change something (and so may get a confirm timer and are refused while
// another change is pending).
bool is_change(Kind kind);

enum class Direction { request, answer };
std::size_t frame_bytes_max(Direction direction);

// The whole frame: header and body. Precondition: the message is within the limits of its
// direction (asserted; values come from our own code or were decoded).
std::vector<std::uint8_t> encode(const Message& message);

// The body length a 4-byte header announces, or why it is not acceptable.
[[nodiscard]] Result<std::size_t, std::string> body_length(std::span<const std::uint8_t> header,
                                                           Direction direction);

// Decodes and checks one body (after the header). The error is a sentence for the caller.
[[nodiscard]] Result<Message, std::string> decode(std::span<const std::uint8_t> body,
                                                  Direction direction);

// A message or item value from text that may hold anything (kernel names, strerror): cut
// to value_bytes_max, bytes a field may not hold replaced by '?'.
std::string printable_text(std::string_view text);

Message request(Kind kind);
Message ok_answer(std::string message = {});
Message refusal(ErrorCode code, std::string message);

}  // namespace hub::netcfg
