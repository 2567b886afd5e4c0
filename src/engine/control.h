// control.h -- administrative commands for a running hub (hubctl queue hold/release/...).
//
// hubctl connects to a Unix socket in the spool directory and writes one line, e.g.
// "hold 0000000001000000"; the supervisor thread hands the command to the shard that owns
// the message through that shard's mailbox and writes the one-line answer back ("ok ..."
// or "error: ..."). A shard only ever try-locks its mailbox, once per reactor turn, so an
// administrator can never stall mail. hold, release and delete are answered only once the
// shard's message_status record is durable (the shard's group commit), so an "ok" survives
// a crash. "list" asks every shard in turn for its scheduler's view and answers with the
// lines of format_list_line() followed by "ok".
//
// The spool lock: hubd holds an exclusive flock on <spool>/hubd.lock for its whole life.
// hubctl takes the same lock to write records into a stopped hub's spool, so the two never
// append at once, and treats "locked" as "hubd is running: use the control socket".
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "spool/spool_format.h"

namespace hub::engine {

enum class ControlVerb { hold, release, retry, remove, list, status };

// Whether verb may be asked on the read-only status socket (docs/HEALTH.md): only status.
constexpr bool read_only_verb(ControlVerb verb) {
    return verb == ControlVerb::status;
}

struct ControlCommand {
    ControlVerb verb = ControlVerb::hold;
    spool::QueueId id;  // Unused for list and status.
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

// The read-only status socket's path: health.status_socket, or status.sock in the spool
// directory when that is unset (docs/HEALTH.md).
std::string status_socket_path(const std::string& spool_dir, const std::string& configured);

// The path of the spool lock file (see above).
std::string spool_lock_path(const std::string& spool_dir);

// hubd, at start: creates the lock file if needed and takes the exclusive lock, waiting up
// to wait_ms for a hubctl that is writing to the stopped spool. Returns the fd, which must
// stay open for the life of the process (the lock goes with it, also on kill -9); the error
// says who holds the lock.
[[nodiscard]] Result<int, std::string> lock_spool(const std::string& spool_dir, unsigned wait_ms);

// Parses "hold ID" / "release ID" / "retry ID" / "delete ID" / "list" / "status"; the error
// says what to fix.
[[nodiscard]] Result<ControlCommand, std::string> parse_control_line(std::string_view line);

// One line of a shard's answer to "list": a message ("M\tID\theld") or one of its
// recipients ("R\tID\tINDEX\tSTATE\tATTEMPTS\tNEXT_ATTEMPT_MS\tDESTINATION\tLAST_ERROR").
// Control characters in the text fields become spaces, so a field never holds a tab or a
// line break. parse_list_line() is its inverse (hubctl).
struct ListLine {
    bool recipient = false;  // R line; else M line.
    spool::QueueId id;
    bool held = false;  // M
    std::uint32_t recipient_index = 0;
    std::string state;  // queue::to_string(RecipientState)
    std::uint32_t attempt_count = 0;
    std::uint64_t next_attempt_ms = 0;
    std::string destination;
    std::string last_error;
};
std::string format_list_line(const ListLine& line);
[[nodiscard]] bool parse_list_line(std::string_view text, ListLine& line);

}  // namespace hub::engine
