// worker.h -- one load generator thread: an io_uring, its share of the sessions, and the
// per-session SMTP/TLS state machine. See worker.cc.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "message.h"
#include "options.h"
#include "size_dist.h"
#include "stats.h"

namespace hub::tls {
class ClientContext;
}

namespace hub::loadgen {

// Set up once by main(), then read by every worker; stop is the only thing that changes.
struct Shared {
    explicit Shared(const Options& options_in, SizeDistribution sizes_in)
        : options(options_in),
          sizes(std::move(sizes_in)),
          messages(options_in.from, options_in.to, sizes.bytes_max()) {}

    const Options& options;
    SizeDistribution sizes;
    MessageFactory messages;
    std::shared_ptr<tls::ClientContext> tls_context;
    sockaddr_storage address{};
    socklen_t address_bytes = 0;
    AckedLog acked_log;
    std::int64_t start_ns = 0;
    std::int64_t deadline_ns = 0;  // --time-limit.
    std::atomic<bool> stop{false};
};

// Runs session_indexes (global numbers, used in tokens) to the end, or until stop or the
// deadline; counts into stats. Errors: the ring could not be set up (returned by run()
// before any session starts).
[[nodiscard]] Result<void, std::string> run_worker(Shared& shared, ThreadStats& stats,
                                                   std::vector<std::uint32_t> session_indexes,
                                                   double rate_per_s);

// CLOCK_MONOTONIC in nanoseconds: the clock of every time in the loadgen.
std::int64_t now_ns();

}  // namespace hub::loadgen
