// supervisor.cc -- the shard threads' parent: start, watch, stop.
//
// PURPOSE   Own the shard threads, publish "spool space low" to them, turn SIGTERM and
//           SIGINT into a graceful stop.
// RUNS IN   hubd's main thread, after privileges are dropped. It is not a shard, so its
//           statvfs and sigtimedwait calls are allowed outside io_uring.
// TRUST     none: no peer input reaches this thread.
// LIMITS    space_poll_ms between free-space checks.
// SEE ALSO  shard.h, programs/hubd/main.cc
#include "engine/supervisor.h"

#include <signal.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"
#include "tls/tls_session.h"

namespace hub::engine {
namespace {

inline constexpr long space_poll_ms = 200;

bool space_low(const std::string& spool_dir, std::uint64_t reserve_bytes) {
    struct statvfs stats {};
    if (statvfs(spool_dir.c_str(), &stats) != 0) {
        return false;  // Unknown: let the writes themselves report ENOSPC.
    }
    std::uint64_t free_bytes = static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
    return free_bytes < reserve_bytes;
}

}  // namespace

void block_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

Result<void, std::string> run_supervisor(SupervisorSettings settings) {
    HUB_ASSERT(!settings.shards.empty());
    std::atomic<bool> spool_low{space_low(settings.spool_dir, settings.spool_reserve_bytes)};
    std::atomic<bool> stop{false};
    std::atomic<unsigned> running{0};
    std::vector<std::thread> threads;
    threads.reserve(settings.shards.size());
    for (ShardSettings& shard_settings : settings.shards) {
        shard_settings.spool_low = &spool_low;
        shard_settings.stop = &stop;
        running++;
        threads.emplace_back([shard_settings, &running]() {
            auto result = Shard(shard_settings).run();
            tls::release_thread_caches();
            if (!result) {
                // Style: unlikely failure after initialisation is fatal; systemd restarts
                // us and the spool makes restarting safe.
                base::log_fatal("shard {}: {}", shard_settings.index, result.error());
            }
            running--;
        });
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    bool was_low = spool_low.load();
    while (running.load() > 0) {
        timespec wait{0, space_poll_ms * 1000 * 1000};
        int signal_number = sigtimedwait(&signals, nullptr, &wait);
        if (signal_number == SIGTERM || signal_number == SIGINT) {
            base::log_info("signal {}: stopping", signal_number);
            stop.store(true);
        } else if (signal_number == SIGHUP) {
            base::log_info("SIGHUP: live reload is not implemented yet; ignored");
        }
        bool low = space_low(settings.spool_dir, settings.spool_reserve_bytes);
        if (low != was_low) {
            base::log_warn("spool free space {} the reserve of {} bytes: {}",
                           low ? "below" : "back above", settings.spool_reserve_bytes,
                           low ? "answering 452 4.3.1" : "accepting again");
            was_low = low;
        }
        spool_low.store(low, std::memory_order_relaxed);
        if (stop.load() && running.load() == 0) {
            break;
        }
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    return {};
}

}  // namespace hub::engine
