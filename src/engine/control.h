// control.h -- administrative commands for a running hub (hubctl queue hold/release/...).
//
// hubctl connects to a Unix socket in the spool directory and writes one line, e.g.
// "hold 0000000001000000"; the supervisor thread hands the command to the shard that owns
// the message through that shard's mailbox and writes the one-line answer back ("ok ..."
// or "error: ..."). A shard only ever try-locks its mailbox, once per reactor turn, so an
// administrator can never stall mail.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "spool/spool_format.h"

namespace hub::engine {

enum class ControlVerb { hold, release, retry, remove };

struct ControlCommand {
    ControlVerb verb = ControlVerb::hold;
    spool::QueueId id;
};

// One command in flight per shard: the supervisor serves one administrator at a time.
class ControlMailbox {
public:
    // Supervisor: posts a command and waits up to timeout_ms for the answer.
    std::optional<std::string> call(const ControlCommand& command, unsigned timeout_ms);

    // Shard: takes a pending command without blocking (try_lock); false if none or busy.
    bool take(ControlCommand& command);
    // Shard: answers the command it took.
    void answer(std::string text);

private:
    std::mutex mutex_;
    std::condition_variable answered_;
    std::optional<ControlCommand> request_;
    bool taken_ = false;
    std::optional<std::string> reply_;
    std::uint64_t serial_ = 0;  // Tells a late answer to an abandoned call from this one.
    std::uint64_t taken_serial_ = 0;
};

// The path of the control socket for a spool directory.
std::string control_socket_path(const std::string& spool_dir);

// Parses "hold ID" / "release ID" / "retry ID" / "delete ID"; the error says what to fix.
[[nodiscard]] Result<ControlCommand, std::string> parse_control_line(std::string_view line);

}  // namespace hub::engine
