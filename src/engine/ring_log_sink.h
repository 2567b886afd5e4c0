// ring_log_sink.h -- a shard's log lines, written to stderr through its ring.
//
// Lines collect in pending_; once per reactor turn flush() submits one IORING_OP_WRITE of
// everything collected, so a shard thread never calls write(2) itself and many lines cost
// one submission. The buffer is bounded: past log_pending_bytes_max lines are dropped and
// counted, and the count is reported in the next line that fits (a log must never be
// the reason a shard stalls or grows without bound).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "engine/ring.h"

namespace hub::engine {

inline constexpr std::size_t log_pending_bytes_max = 1u << 20;

class RingLogSink final : public base::LogSink {
public:
    explicit RingLogSink(Ring& ring) : ring_(ring) {}

    void write_line(std::string_view line) override;
    // Submits the collected lines unless a write is still in flight.
    void flush();
    void on_write_done(int result);
    bool writing() const { return writing_; }
    // At shutdown, after the ring is no longer used: writes what is left with write(2).
    void drain_blocking();

private:
    Ring& ring_;
    std::string pending_;
    std::string in_flight_;
    bool writing_ = false;
    std::uint64_t dropped_lines_ = 0;
};

}  // namespace hub::engine
