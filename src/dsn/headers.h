// headers.h -- the few questions the hub asks of an original message's header section:
// how many hops it has made (loop detection) and the value of a named field.
#pragma once

#include <optional>
#include <string_view>

#include "dsn/limits.h"

namespace hub::dsn {

// The number of Received: fields in the header section of `message` (everything before the
// first empty line; a message without one is all header). Field names match without regard
// to case, with optional white space before the colon (RFC 5322 4.5 obsolete syntax);
// continuation lines of a folded field are not fields; "Received-SPF:" is another field.
// Lines may end in CRLF or a bare LF. Never fails.
unsigned count_received_headers(std::string_view message);

// Loop detection: more than received_count_max Received: fields means a mail loop; the
// message is bounced with loop_status and loop_text, never relayed.
inline bool too_many_received(std::string_view message) {
    return count_received_headers(message) > received_count_max;
}
inline constexpr std::string_view loop_status = "5.4.6";  // RFC 3463 3.5 routing loop.
inline constexpr std::string_view loop_text = "Too many Received: headers: mail forwarding loop";

// The raw value of the first field called `name` (case-insensitive) in the header section of
// `message`: from after the colon to the end of the field, folding line ends included, the
// final line end excluded. nullopt when there is no such field. The view points into
// `message`; pass it through text::printable() or a builder here before quoting it.
std::optional<std::string_view> header_value(std::string_view message, std::string_view name);

}  // namespace hub::dsn
