// log.h -- one line per event to stderr, Postfix style, for journald to pick up.
//
// Severity levels are debug, info, warn, error and fatal. Nothing on the data path logs
// above debug per event except the lines an administrator needs for each message and
// each refusal (docs/LOGGING.md lists them); other per-event facts go to counters.
//
// Whole lines, never lost or torn, whatever stderr is. Several threads write to the one
// open file description behind fd 2 (the supervisor with write(2), each shard through
// its own io_uring), so every write must stand on its own:
//   - a regular file opened without O_APPEND ("hubd 2>file") has one shared position;
//     two writes racing on it land at the same offset and one overwrites the other
//     (io_uring's offset -1 reads and advances that position without the lock write(2)
//     takes). log_prepare_stderr() therefore sets O_APPEND on the description at start:
//     the kernel then picks the end of file under the inode lock for each write, for
//     write(2) and io_uring alike, so writes of any size never overlap.
//   - a pipe, a tty or a stream socket (journald) has no position, but a write longer
//     than PIPE_BUF may be split and interleaved with another writer's. Every write is
//     one or more whole lines of at most log_write_bytes_max() bytes: PIPE_BUF (4096)
//     there, which pipes guarantee atomic and a unix stream socket sends as one skb.
//   - a short write (only when the medium is failing: disk full, a broken pipe) is
//     resumed at the first unwritten byte, so nothing the kernel accepted is repeated.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <string_view>

namespace hub::base {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, fatal = 4 };

// The process-wide threshold; lines below it are not formatted at all.
extern std::atomic<LogLevel> log_threshold;

// Where a thread's lines go instead of write(2): a shard hands them to its io_uring so
// that shard threads make no file system calls of their own.
class LogSink {
public:
    virtual ~LogSink() = default;
    // One complete line including its newline; must not block.
    virtual void write_line(std::string_view line) = 0;
};

// Installs (or, with nullptr, removes) the calling thread's sink.
void log_set_thread_sink(LogSink* sink);

// Sets the program name shown on every line ("hubd", "hubctl").
void log_set_program(std::string_view program);

// Called once at start, before any thread: makes stderr safe for several writers (sets
// O_APPEND when fd 2 is a regular file; see the comment at the top) and fixes
// log_write_bytes_max().
void log_prepare_stderr();

// The most bytes one write(2) or ring write to stderr may carry (whole lines only) so
// that it cannot interleave with another writer's: PIPE_BUF, or more for an appended file.
std::size_t log_write_bytes_max();

// The longest line, newline included; longer lines are cut.
inline constexpr std::size_t log_line_bytes_max = 2048;

// Exits the process with status 1 after a fatal line.
[[noreturn]] void log_exit_fatal();

// Writes one already-formatted line; appends the newline itself.
void log_write(LogLevel level, std::string_view line);

// Parses "debug", "info", ... ; returns false if the name is unknown.
bool log_level_from_name(std::string_view name, LogLevel& level);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (level < log_threshold.load(std::memory_order_relaxed)) {
        return;
    }
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
    log_write(level, std::string_view(line.data(), line.size()));
}

template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::debug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::error, format, std::forward<Args>(args)...);
}
// Logs and exits with status 1: for start-up failures a supervisor should see.
template <typename... Args>
[[noreturn]] void log_fatal(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::fatal, format, std::forward<Args>(args)...);
    log_exit_fatal();
}
}  // namespace hub::base
