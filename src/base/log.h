// log.h -- one line per event to stderr, Postfix style, for journald to pick up.
//
// Severity levels are debug, info, warn, error and fatal. Nothing on the data path logs
// above debug per event except the one info line per accepted message; per-event facts
// go to counters. Lines are written with a single write(2) so that lines from different
// threads never interleave.
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
