// ring_log_sink.cc -- stderr through the shard's ring.
//
// PURPOSE   Keep log output from making system calls on shard threads.
// RUNS IN   a shard thread (installed with base::log_set_thread_sink).
// TRUST     none: lines are already formatted by base/log.
// LIMITS    log_pending_bytes_max buffered; one write in flight.
// SEE ALSO  base/log.h, shard.cc
#include "engine/ring_log_sink.h"

#include <unistd.h>

#include <fmt/format.h>

namespace hub::engine {

void RingLogSink::write_line(std::string_view line) {
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
    in_flight_.swap(pending_);
    pending_.clear();
    io_uring_sqe* sqe = ring_.sqe(Tag{Op::log_write, 0, 0});
    // Offset -1: the file's current position, which is what an append-only stderr wants.
    io_uring_prep_write(sqe, STDERR_FILENO, in_flight_.data(),
                        static_cast<unsigned>(in_flight_.size()), static_cast<__u64>(-1));
    writing_ = true;
}

void RingLogSink::on_write_done(int result) {
    HUB_ASSERT(writing_);
    writing_ = false;
    // A short or failed write to stderr has nowhere better to be reported; drop the rest.
    (void)result;
    in_flight_.clear();
}

void RingLogSink::drain_blocking() {
    if (!writing_ && !pending_.empty()) {
        [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, pending_.data(), pending_.size());
        pending_.clear();
    }
}

}  // namespace hub::engine
