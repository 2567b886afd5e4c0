// control_client.h -- hubctl's side of hubd's control socket (engine/control.h).
#pragma once

#include <cstddef>
#include <string>

#include "base/result.h"

namespace hub::hubctl {

// The largest answer read from hubd (a queue listing of every message).
inline constexpr std::size_t hub_answer_bytes_max = 256u << 20;

// Sends one control line to the hubd running on spool_dir and reads its whole answer
// (hubd closes after answering), without the final line break. Errors: the socket cannot
// be reached (hubd not running, or still starting), or hubd did not answer.
[[nodiscard]] Result<std::string, std::string> control_request(const std::string& spool_dir,
                                                               const std::string& line);

// What asking a hubd to reload its partner table came to.
struct ReloadOutcome {
    bool running = false;   // A hubd accepts on the control socket (or may: EACCES...).
    bool answered = false;  // It answered "ok ..." or "error: ...".
    bool applied = false;   // It answered "ok ...".
    std::string text;       // Its answer without "ok " / "error: ", or why it was not reached.
};
// Asks the hubd running on spool_dir, if any, to reload (hubctl reload, and after every
// directory write): the control line "reload".
ReloadOutcome request_reload(const std::string& spool_dir);

}  // namespace hub::hubctl
