// ring_log_sink.h -- a shard's log lines, written to stderr through its ring.
//
// Lines collect in pending_; once per reactor turn flush() submits one IORING_OP_WRITE of
// the oldest whole lines, at most base::log_write_bytes_max() bytes, so a shard thread
// never calls write(2) itself and many lines cost one submission. Each write holds only
// whole lines and is no larger than the kernel writes atomically to this stderr, so lines
// of different shards (and of the supervisor) never overwrite or interleave each other
// (the reasoning is in base/log.h). The ring write uses offset -1, which on the O_APPEND
// description that base::log_prepare_stderr() made means "at the end of file".
//
// One write is in flight at a time, which keeps the shard's lines in order. A short
// write is resumed at its first unwritten byte (nothing is repeated, nothing skipped).
// The buffer is bounded: past log_pending_bytes_max lines are dropped and counted, and
// the count is reported in the next line that fits (a log must never be the reason a
// shard stalls or grows without bound).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "engine/ring.h"

namespace hub::engine {

inline constexpr std::size_t log_pending_bytes_max = 1u << 20;
// A write that fails outright (EAGAIN, EINTR) is retried this many times, then dropped.
inline constexpr std::uint32_t log_write_retries_max = 8;

class RingLogSink final : public base::LogSink {
public:
    explicit RingLogSink(RingOps& ring) : ring_(ring) {}

    void write_line(std::string_view line) override;
    // Submits the oldest collected lines unless a write is still in flight.
    void flush();
    void on_write_done(int result);
    bool writing() const { return writing_; }
    // At shutdown, after the ring is no longer used: writes what is left with write(2).
    void drain_blocking();
    std::uint64_t dropped_lines_for_test() const { return dropped_lines_; }

private:
    void submit();

    RingOps& ring_;
    std::string pending_;
    std::string in_flight_;
    std::size_t in_flight_offset_ = 0;  // Bytes of in_flight_ the kernel has taken.
    std::uint32_t retries_ = 0;
    bool writing_ = false;
    std::uint64_t dropped_lines_ = 0;
};

}  // namespace hub::engine
