// supervisor.h -- starts the shards, watches spool space and signals, stops them.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "engine/control.h"
#include "engine/reload.h"
#include "engine/shard.h"

namespace hub::engine {

struct SupervisorSettings {
    std::vector<ShardSettings> shards;  // atomics are filled in by run_supervisor.
    std::string spool_dir;
    std::uint64_t spool_reserve_bytes = 0;
    // SIGHUP and hubctl's "reload"; null: reload is refused (tests without a config).
    Reloader* reloader = nullptr;
};

// Serves hubctl's control socket: accepts pending connections without blocking and
// answers each with one line (see control.h).
class ControlServer {
public:
    ControlServer(std::string path, std::vector<ControlMailbox>& mailboxes, Reloader* reloader);
    ~ControlServer();
    [[nodiscard]] Result<void, std::string> listen();
    void serve_pending();

private:
    void serve(int client);
    std::string path_;
    std::vector<ControlMailbox>& mailboxes_;
    Reloader* reloader_;
    int fd_ = -1;
};

// The shard threads' parent, in three honest steps so hubd says "ready" only when it is:
// open_control_socket, start_shards, run. The caller blocks SIGTERM/SIGINT/SIGHUP in
// every thread first (block_signals).
class Supervisor {
public:
    explicit Supervisor(SupervisorSettings settings);
    ~Supervisor();  // Stops and joins shards still running (a failed start).
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Creates hubctl's control socket and proves it accepts a connection. Errors: the
    // socket's path and the reason.
    [[nodiscard]] Result<void, std::string> open_control_socket();

    // Starts every shard on its own thread and waits (at most shard_start_timeout_ms) until
    // each has its ring and buffers and has armed its accepts. Errors: the first shard's
    // set-up failure, or a timeout; the shards already started are stopped again.
    // Precondition: open_control_socket succeeded.
    [[nodiscard]] Result<void, std::string> start_shards();

    // On the calling thread, polls the spool's free space (statvfs every space_poll_ms),
    // serves hubctl, reloads on SIGHUP and waits for SIGTERM/SIGINT, which stop the shards
    // gracefully.
    // Returns when all shards have stopped; a shard that fails after start is fatal for
    // the process. Precondition: start_shards succeeded.
    [[nodiscard]] Result<void, std::string> run();

private:
    struct ShardStart {
        std::atomic<bool> serving{false};
        std::atomic<bool> failed{false};
        std::string error;  // Written before failed is set.
    };
    void stop_and_join();

    SupervisorSettings settings_;
    std::vector<ControlMailbox> mailboxes_;
    ControlServer control_;
    std::vector<std::unique_ptr<ShardStart>> starts_;
    std::vector<std::thread> threads_;
    // Free bytes on the spool's file system, published for the shards' space budgets.
    std::atomic<std::uint64_t> spool_free_bytes_{0};
    std::atomic<bool> spool_low_{false};
    std::atomic<bool> stop_{false};
    std::atomic<unsigned> running_{0};
};

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and threads it creates later)
// and ignores SIGPIPE.
void block_signals();

}  // namespace hub::engine
