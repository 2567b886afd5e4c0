// log.cc -- the stderr sink behind log.h.
//
// PURPOSE   Format "program[pid]: level: text" lines (under the journal "<priority>level:
//           text": the journal names the program itself) and write each with one write(2);
//           make stderr safe for several writers (why: base/log.h).
// RUNS IN   every process and thread; the only shared state is the threshold and name.
// TRUST     none: callers pass peer text already made printable by their own module.
// LIMITS    log_line_bytes_max per line; longer lines are cut, never split.
// SEE ALSO  base/log.h, docs/LOGGING.md (the lines and their fields)
#include "base/log.h"
#include "base/assert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hub::base {

std::atomic<LogLevel> log_threshold{LogLevel::info};

namespace {
inline constexpr std::size_t program_bytes_max = 32;
// An O_APPEND regular file takes a write of any size whole; this bounds a shard's batch.
inline constexpr std::size_t appended_file_write_bytes_max = 64 * 1024;
static_assert(log_line_bytes_max <= PIPE_BUF, "a line must fit one atomic pipe write");
std::atomic<std::size_t> write_bytes_max{PIPE_BUF};
std::array<char, program_bytes_max> program_name{"hub"};
pid_t program_pid = 0;  // Cached: a getpid() per line would be a system call per line.
// Set when stderr is systemd's journal stream: the journal adds "hubd[pid]:" itself, so a
// line carries only "<priority>level: text" (sd-daemon(3) prefixes; no doubled prefix).
bool journal_stream = false;
thread_local LogSink* thread_sink = nullptr;

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warning";
        case LogLevel::error:
            return "error";
        case LogLevel::fatal:
            return "fatal";
    }
    return "?";
}

int syslog_priority(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return 7;
        case LogLevel::info:
            return 6;
        case LogLevel::warn:
            return 4;
        case LogLevel::error:
            return 3;
        case LogLevel::fatal:
            return 2;
    }
    return 3;
}

// systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected to stderr.
bool stderr_is_journal(const struct stat& status) {
    const char* stream = std::getenv("JOURNAL_STREAM");
    unsigned long long device = 0;
    unsigned long long inode = 0;
    return stream != nullptr && std::sscanf(stream, "%llu:%llu", &device, &inode) == 2 &&
           device == status.st_dev && inode == status.st_ino;
}
}  // namespace

void log_set_program(std::string_view program) {
    std::size_t length = std::min(program.size(), program_bytes_max - 1);
    std::memcpy(program_name.data(), program.data(), length);
    program_name[length] = '\0';
    program_pid = getpid();
}

void log_prepare_stderr() {
    write_bytes_max.store(PIPE_BUF, std::memory_order_relaxed);
    struct stat status {};
    if (fstat(STDERR_FILENO, &status) != 0) {
        return;
    }
    journal_stream = stderr_is_journal(status);
    if (!S_ISREG(status.st_mode)) {
        return;  // A pipe, tty or socket: PIPE_BUF-sized writes are atomic already.
    }
    int flags = fcntl(STDERR_FILENO, F_GETFL);
    if (flags < 0) {
        return;
    }
    if ((flags & O_APPEND) == 0 && fcntl(STDERR_FILENO, F_SETFL, flags | O_APPEND) != 0) {
        return;  // Left as it was: lines may overwrite each other, as before.
    }
    write_bytes_max.store(appended_file_write_bytes_max, std::memory_order_relaxed);
}

std::size_t log_write_bytes_max() {
    return write_bytes_max.load(std::memory_order_relaxed);
}

void log_set_thread_sink(LogSink* sink) {
    thread_sink = sink;
}

void log_write(LogLevel level, std::string_view line) {
    std::array<char, log_line_bytes_max> out;
    auto result = journal_stream
                      ? fmt::format_to_n(out.data(), out.size() - 1, "<{}>{}: {}",
                                         syslog_priority(level), level_name(level), line)
                      : fmt::format_to_n(out.data(), out.size() - 1, "{}[{}]: {}: {}",
                                         program_name.data(), program_pid, level_name(level), line);
    std::size_t length = std::min(result.size, out.size() - 1);
    out[length] = '\n';
    // Fatal lines bypass a thread's sink: the process is about to end and the sink's
    // buffer would die with it unread.
    if (thread_sink != nullptr && level != LogLevel::fatal) {
        thread_sink->write_line(std::string_view(out.data(), length + 1));
        return;
    }
    // One line is at most PIPE_BUF bytes, so it goes whole or not at all except on a
    // failing medium; then the rest follows. A failure has nowhere better to be reported.
    std::string_view rest(out.data(), length + 1);
    for (int attempt = 0; attempt < 8 && !rest.empty(); attempt++) {
        ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
        if (written < 0 && errno != EINTR) {
            return;
        }
        rest.remove_prefix(written < 0 ? 0 : static_cast<std::size_t>(written));
    }
}

bool log_level_from_name(std::string_view name, LogLevel& level) {
    for (LogLevel candidate :
         {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error, LogLevel::fatal}) {
        if (name == level_name(candidate) || (candidate == LogLevel::warn && name == "warn")) {
            level = candidate;
            return true;
        }
    }
    return false;
}

void log_exit_fatal() {
    std::exit(1);
}

void panic(const char* file, int line, const char* what) {
    log(LogLevel::fatal, "panic: {}:{}: assertion failed: {}", file, line, what);
    std::abort();  // A core dump, per the style guide's fourth kind of failure.
}

}  // namespace hub::base
