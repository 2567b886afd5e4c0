// ring_log_sink.cc -- stderr through the shard's ring.
//
// PURPOSE   Keep log output from making system calls on shard threads, and keep every
//           line whole next to the other shards' lines (see ring_log_sink.h, base/log.h).
// RUNS IN   a shard thread (installed with base::log_set_thread_sink).
// TRUST     none: lines are already formatted by base/log.
// LIMITS    log_pending_bytes_max buffered; one write in flight, of at most
//           base::log_write_bytes_max() bytes of whole lines.
// SEE ALSO  base/log.h, shard.cc, docs/LOGGING.md
#include "engine/ring_log_sink.h"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace hub::engine {

void RingLogSink::write_line(std::string_view line) {
    HUB_ASSERT(!line.empty() && line.back() == '\n' && line.size() <= base::log_line_bytes_max);
    if (pending_.size() + line.size() > log_pending_bytes_max) {
        dropped_lines_++;
        return;
    }
    if (dropped_lines_ > 0) {
        pending_ += fmt::format("(log: {} lines dropped, stderr too slow)\n", dropped_lines_);
        dropped_lines_ = 0;
    }
    pending_.append(line);
}

void RingLogSink::flush() {
    if (writing_ || pending_.empty()) {
        return;
    }
    // The oldest whole lines that fit one atomic write; a line always fits (log.h).
    std::size_t limit = std::min(pending_.size(), base::log_write_bytes_max());
    std::size_t end = pending_.rfind('\n', limit - 1);
    HUB_ASSERT(end != std::string::npos);
    in_flight_.assign(pending_, 0, end + 1);
    pending_.erase(0, end + 1);
    in_flight_offset_ = 0;
    retries_ = 0;
    submit();
}

void RingLogSink::submit() {
    HUB_ASSERT(in_flight_offset_ < in_flight_.size());
    // The file's position, which O_APPEND turns into the end of file.
    queued_or_panic(ring_.write(Tag{Op::log_write, 0, 0}, STDERR_FILENO,
                                std::span<const char>(in_flight_).subspan(in_flight_offset_),
                                file_position, Link::none));
    writing_ = true;
}

void RingLogSink::on_write_done(int result) {
    HUB_ASSERT(writing_);
    writing_ = false;
    bool transient = result == -EAGAIN || result == -EINTR || result == 0;
    if (result > 0) {
        in_flight_offset_ += static_cast<std::size_t>(result);
        HUB_ASSERT(in_flight_offset_ <= in_flight_.size());
        if (in_flight_offset_ == in_flight_.size()) {
            in_flight_.clear();
            in_flight_offset_ = 0;
            return;  // flush() sends the next lines on this reactor turn.
        }
        // Short: resume at the first byte the kernel did not take. A whole-line write
        // within log_write_bytes_max() is short only on a failing medium.
        submit();
        return;
    }
    if (transient && retries_ < log_write_retries_max) {
        retries_++;
        submit();
        return;
    }
    // A failed write to stderr has nowhere better to be reported; the lines are dropped.
    in_flight_.clear();
    in_flight_offset_ = 0;
}

void RingLogSink::drain_blocking() {
    if (writing_) {
        return;  // The kernel may still read in_flight_; what is pending stays unwritten.
    }
    if (in_flight_offset_ < in_flight_.size()) {
        pending_.insert(0, in_flight_, in_flight_offset_);  // A write that gave up half way.
    }
    in_flight_.clear();
    in_flight_offset_ = 0;
    std::string_view rest(pending_);
    std::uint32_t stalls = 0;  // Writes that took nothing; progress is bounded by the size.
    while (!rest.empty() && stalls < log_write_retries_max) {
        std::size_t limit = std::min(rest.size(), base::log_write_bytes_max());
        std::size_t end = rest.rfind('\n', limit - 1);
        std::size_t chunk = end == std::string_view::npos ? rest.size() : end + 1;
        ssize_t written = ::write(STDERR_FILENO, rest.data(), chunk);
        if (written < 0 && errno != EINTR) {
            break;
        }
        if (written <= 0) {
            stalls++;
            continue;
        }
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
    pending_.clear();
}

}  // namespace hub::engine
