// control.cc -- the mailbox between the supervisor and a shard, and the command grammar.
//
// PURPOSE   Carry one administrative command to the shard that owns a message.
// RUNS IN   hubd: the supervisor thread (call) and the shard threads (take, answer).
// TRUST     the control socket is mode 0600 in the hub's own spool directory: only the
//           hub user and root reach it; the line is still parsed strictly.
// LIMITS    one command in flight per shard; a line of control_line_bytes_max.
// SEE ALSO  supervisor.cc, outbound_flow.cc (Shard::run_control), hubctl
#include "engine/control.h"

#include <chrono>

namespace hub::engine {

std::optional<std::string> ControlMailbox::call(const ControlCommand& command,
                                                unsigned timeout_ms) {
    std::unique_lock lock(mutex_);
    serial_++;
    request_ = command;
    taken_ = false;
    reply_.reset();
    std::uint64_t serial = serial_;
    bool done = answered_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                   [&] { return reply_.has_value() && taken_serial_ == serial; });
    request_.reset();  // An untaken command is withdrawn; a taken one's answer is dropped.
    if (!done) {
        return std::nullopt;
    }
    std::optional<std::string> reply = std::move(reply_);
    reply_.reset();
    return reply;
}

bool ControlMailbox::take(ControlCommand& command) {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || !request_ || taken_) {
        return false;
    }
    command = *request_;
    taken_ = true;
    taken_serial_ = serial_;
    return true;
}

void ControlMailbox::answer(std::string text) {
    {
        std::lock_guard lock(mutex_);
        reply_ = std::move(text);
    }
    answered_.notify_all();
}

std::string control_socket_path(const std::string& spool_dir) {
    return spool_dir + "/control.sock";
}

Result<ControlCommand, std::string> parse_control_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) {
        return unexpected(std::string("expected '<hold|release|retry|delete> QUEUE_ID'"));
    }
    std::string_view verb = line.substr(0, space);
    ControlCommand command;
    if (verb == "hold") {
        command.verb = ControlVerb::hold;
    } else if (verb == "release") {
        command.verb = ControlVerb::release;
    } else if (verb == "retry") {
        command.verb = ControlVerb::retry;
    } else if (verb == "delete") {
        command.verb = ControlVerb::remove;
    } else {
        return unexpected("unknown command '" + std::string(verb) +
                          "': use hold, release, retry or delete");
    }
    if (!spool::QueueId::parse(line.substr(space + 1), command.id)) {
        return unexpected(std::string("a queue id is 16 hex digits, as hubctl queue list shows"));
    }
    return command;
}

}  // namespace hub::engine
