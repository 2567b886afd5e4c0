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
// known keys only, each single key once, within the bounds below, closed by "end".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "console/model.h"

namespace hub::console {

inline constexpr std::string_view wire_header = "hub-console-admin 1";
inline constexpr std::size_t wire_request_bytes_max = 64 * 1024;
inline constexpr std::size_t wire_answer_bytes_max = 4 * 1024 * 1024;
inline constexpr std::size_t wire_fields_max = 16;

std::string encode_action(const Action& action);
[[nodiscard]] Result<Action, std::string> decode_action(std::string_view text);
std::string encode_outcome(const Outcome& outcome);
[[nodiscard]] Result<Outcome, std::string> decode_outcome(std::string_view text);

// The kind whose action_name() is name.
[[nodiscard]] Result<ActionKind, std::string> action_kind_named(std::string_view name);

}  // namespace hub::console
