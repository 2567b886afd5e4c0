// supervisor.h -- starts the shards, watches spool space and signals, stops them.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "engine/control.h"
#include "engine/shard.h"

namespace hub::engine {

struct SupervisorSettings {
    std::vector<ShardSettings> shards;  // atomics are filled in by run_supervisor.
    std::string spool_dir;
    std::uint64_t spool_reserve_bytes = 0;
};

// Serves hubctl's control socket: accepts pending connections without blocking and
// answers each with one line (see control.h).
class ControlServer {
public:
    ControlServer(std::string path, std::vector<ControlMailbox>& mailboxes);
    ~ControlServer();
    [[nodiscard]] Result<void, std::string> listen();
    void serve_pending();

private:
    void serve(int client);
    std::string path_;
    std::vector<ControlMailbox>& mailboxes_;
    int fd_ = -1;
};

// Runs every shard on its own thread and, on the calling thread, polls the spool's free
// space (statvfs every space_poll_ms) and waits for SIGTERM/SIGINT, which stop the shards
// gracefully. The caller blocks those signals in every thread first. Returns when all
// shards have stopped; a shard that fails is fatal for the process.
[[nodiscard]] Result<void, std::string> run_supervisor(SupervisorSettings settings);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and threads it creates later)
// and ignores SIGPIPE.
void block_signals();

}  // namespace hub::engine
