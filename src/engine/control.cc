// control.cc -- the mailbox between the supervisor and a shard, and the command grammar.
//
// PURPOSE   Carry one administrative command to the shard that owns a message.
// RUNS IN   hubd: the supervisor thread (call) and the shard threads (take, answer).
// TRUST     the control socket is mode 0600 in the hub's own spool directory: only the
//           hub user and root reach it; the line is still parsed strictly.
// LIMITS    one command in flight per shard; a line of control_line_bytes_max.
// SEE ALSO  supervisor.cc, outbound_flow.cc (Shard::run_control), hubctl
#include "engine/control.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "base/assert.h"

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

std::string status_socket_path(const std::string& spool_dir, const std::string& configured) {
    return configured.empty() ? spool_dir + "/status.sock" : configured;
}

std::string spool_lock_path(const std::string& spool_dir) {
    return spool_dir + "/hubd.lock";
}

Result<int, std::string> lock_spool(const std::string& spool_dir, unsigned wait_ms) {
    std::string path = spool_lock_path(spool_dir);
    int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return unexpected(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    constexpr unsigned poll_ms = 50;
    // Bounded: wait_ms / poll_ms attempts. A hubctl writing to the stopped spool holds the
    // lock for one fsync'd write; anything longer is another hubd on this spool.
    for (unsigned waited_ms = 0;; waited_ms += poll_ms) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            return fd;
        }
        int error = errno;
        if ((error != EWOULDBLOCK && error != EINTR) || waited_ms >= wait_ms) {
            ::close(fd);
            return unexpected(fmt::format(
                "{} is locked ({}): another hubd runs on this spool, or hubctl is writing to it",
                path, std::strerror(error)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    }
}

Result<ControlCommand, std::string> parse_control_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    if (line == "list") {
        return ControlCommand{ControlVerb::list, {}};
    }
    if (line == "status") {
        return ControlCommand{ControlVerb::status, {}};
    }
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) {
        return unexpected(
            std::string("expected '<hold|release|retry|delete> QUEUE_ID', 'list' or 'status'"));
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

namespace {

std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    return out;
}

template <typename Number>
bool parse_number(std::string_view text, Number& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string format_list_line(const ListLine& line) {
    std::string id = line.id.to_string();
    if (!line.recipient) {
        return fmt::format("M\t{}\t{}", id, line.held ? 1 : 0);
    }
    return fmt::format("R\t{}\t{}\t{}\t{}\t{}\t{}\t{}", id, line.recipient_index,
                       one_line(line.state), line.attempt_count, line.next_attempt_ms,
                       one_line(line.destination), one_line(line.last_error));
}

bool parse_list_line(std::string_view text, ListLine& line) {
    std::vector<std::string_view> fields;
    // Bounded: at most 8 fields are taken; the last keeps any further tabs.
    while (fields.size() < 7) {
        std::size_t tab = text.find('\t');
        if (tab == std::string_view::npos) {
            break;
        }
        fields.push_back(text.substr(0, tab));
        text.remove_prefix(tab + 1);
    }
    fields.push_back(text);
    if (fields.size() < 2 || !spool::QueueId::parse(fields[1], line.id)) {
        return false;
    }
    if (fields[0] == "M" && fields.size() == 3) {
        line.recipient = false;
        line.held = fields[2] == "1";
        return true;
    }
    if (fields[0] != "R" || fields.size() != 8) {
        return false;
    }
    line.recipient = true;
    line.state = std::string(fields[3]);
    line.destination = std::string(fields[6]);
    line.last_error = std::string(fields[7]);
    HUB_ASSERT(fields.size() == 8);
    return parse_number(fields[2], line.recipient_index) &&
           parse_number(fields[4], line.attempt_count) &&
           parse_number(fields[5], line.next_attempt_ms);
}

}  // namespace hub::engine
