// wire.h -- an Action and its Outcome as bytes, between hub-console and hub-console-admin
// (its privileged half on the appliance, docs/CONSOLE.md "The console's two halves").
//
// One request and one answer per connection, each a block of lines:
//
//   hub-console-admin 1            hub-console-admin 1
//   kind partner%20suspend          ok 1
//   target partner1                 message partner%20suspend:%20done...
//   field name value                header ... | line ... | row KEY TEXT
//   end                             end
//
// Values are percent-encoded (every byte outside '!'..'~', and '%', as %XX), so a line
// never holds a space or a line break it did not mean. decode_* are strict: the header,
// known keys only, each single key once, within the bounds below, closed by "end". A field
// value is at most field_bytes_max bytes, except at most paste_fields_max pasted values
// (console/limits.h) of up to paste_bytes_max.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "console/limits.h"
#include "console/model.h"

namespace hub::console {

inline constexpr std::string_view wire_header = "hub-console-admin 1";
// A request: 64 KiB for its kind, target and typed fields, and room for the pastes of a
// hub key form (at most paste_fields_max values of paste_bytes_max each, every byte
// percent-encoded at worst); any other value is at most field_bytes_max.
inline constexpr std::size_t wire_request_bytes_max =
    64 * 1024 + paste_fields_max * 3 * paste_bytes_max;
inline constexpr std::size_t wire_answer_bytes_max = 4 * 1024 * 1024;
inline constexpr std::size_t wire_fields_max = 16;

std::string encode_action(const Action& action);
[[nodiscard]] Result<Action, std::string> decode_action(std::string_view text);
std::string encode_outcome(const Outcome& outcome);
[[nodiscard]] Result<Outcome, std::string> decode_outcome(std::string_view text);

// The kind whose action_name() is name.
[[nodiscard]] Result<ActionKind, std::string> action_kind_named(std::string_view name);

}  // namespace hub::console
