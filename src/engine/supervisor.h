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
#include "health/snapshot.h"

namespace hub::engine {

struct SupervisorSettings {
    std::vector<ShardSettings> shards;  // atomics are filled in by run_supervisor.
    std::string spool_dir;
    std::uint64_t spool_reserve_bytes = 0;
    // SIGHUP and hubctl's "reload"; null: reload is refused (tests without a config).
    Reloader* reloader = nullptr;
    // The hub CA's CRL, looked at every crl_refresh_interval_s (crl_refresh.h); null: none.
    CrlRefresher* crl_refresher = nullptr;
    // The read-only status socket (docs/HEALTH.md, "Who may ask"): bound and listening
    // already (bind_status_socket, as root), or -1 for none; its path, removed at stop.
    int status_socket_fd = -1;
    std::string status_socket_path;
    // Certificates whose expiry the status answer reports (read at start, before the drop).
    std::vector<health::Certificate> certificates;
};

// What the status answer says beside the shards' parts.
struct StatusFacts {
    std::string spool_dir;
    std::uint64_t spool_reserve_bytes = 0;
    std::uint64_t started_unix_ms = 0;
    std::vector<health::Certificate> certificates;
};

// Serves hubctl's control socket and the read-only status socket: accepts pending
// connections without blocking and answers each (see control.h). The control socket takes
// every verb; the status socket only those read_only_verb() allows.
class ControlServer {
public:
    ControlServer(std::string path, std::vector<ControlMailbox>& mailboxes, Reloader* reloader);
    ~ControlServer();
    [[nodiscard]] Result<void, std::string> listen();
    // Takes over a bound, listening status socket (may be -1: none) and what status says.
    void set_status(int status_fd, std::string status_path, StatusFacts facts);
    void serve_pending();

private:
    void serve(int client, bool read_only);
    // Every shard's part merged, with the hub-wide facts: health::encode's text, or
    // "error: ..." when a shard did not answer or answered nonsense.
    std::string status_answer(const ControlCommand& command);
    std::string path_;
    std::vector<ControlMailbox>& mailboxes_;
    Reloader* reloader_;
    int fd_ = -1;
    int status_fd_ = -1;
    std::string status_path_;
    StatusFacts facts_;
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
