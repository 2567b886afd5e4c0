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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <limits>
#include <optional>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"
#include "tls/tls_session.h"

namespace hub::engine {
namespace {

inline constexpr long space_poll_ms = 200;
inline constexpr int control_clients_per_poll_max = 8;
inline constexpr std::size_t control_line_bytes_max = 256;
inline constexpr unsigned control_answer_timeout_ms = 5000;

// Free bytes on the spool's file system, for an unprivileged writer (f_bavail); none if
// statvfs fails (the writes themselves then report ENOSPC).
std::optional<std::uint64_t> spool_free_bytes(const std::string& spool_dir) {
    struct statvfs stats {};
    if (statvfs(spool_dir.c_str(), &stats) != 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
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

ControlServer::ControlServer(std::string path, std::vector<ControlMailbox>& mailboxes)
    : path_(std::move(path)), mailboxes_(mailboxes) {}

ControlServer::~ControlServer() {
    if (fd_ >= 0) {
        close(fd_);
        unlink(path_.c_str());
    }
}

Result<void, std::string> ControlServer::listen() {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(address.sun_path)) {
        return unexpected("control socket path too long: " + path_);
    }
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    unlink(path_.c_str());  // Left by a hubd that was killed.
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t previous = umask(0077);  // 0600: the hub user, and root, only.
    int bound = fd_ < 0 ? -1 : bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    umask(previous);
    if (bound != 0 || ::listen(fd_, 8) != 0) {
        return unexpected("control socket " + path_ + ": " + std::strerror(errno));
    }
    return {};
}

void ControlServer::serve_pending() {
    for (int served = 0; served < control_clients_per_poll_max; served++) {
        int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            return;  // EAGAIN: nobody waiting.
        }
        serve(client);
        close(client);
    }
}

void ControlServer::serve(int client) {
    timeval timeout{2, 0};  // A silent client cannot hold the supervisor.
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::array<char, control_line_bytes_max> line{};
    ssize_t got = recv(client, line.data(), line.size() - 1, 0);
    std::string answer;
    if (got <= 0) {
        return;
    }
    auto command = parse_control_line(std::string_view(line.data(), static_cast<std::size_t>(got)));
    if (!command) {
        answer = "error: " + command.error();
    } else {
        ControlMailbox& mailbox = mailboxes_[command->id.shard % mailboxes_.size()];
        auto reply = mailbox.call(*command, control_answer_timeout_ms);
        answer = reply ? *reply : std::string("error: the shard did not answer in time");
    }
    answer += "\n";
    [[maybe_unused]] ssize_t sent = send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
}

Result<void, std::string> run_supervisor(SupervisorSettings settings) {
    HUB_ASSERT(!settings.shards.empty());
    std::vector<ControlMailbox> mailboxes(settings.shards.size());
    ControlServer control(control_socket_path(settings.spool_dir), mailboxes);
    if (auto listening = control.listen(); !listening) {
        return listening;
    }
    for (std::size_t index = 0; index < settings.shards.size(); index++) {
        settings.shards[index].control = &mailboxes[index];
    }
    // Two thresholds (docs/DELIVERY.md, "A full spool"): below spool_reserve_bytes new mail
    // is refused (452 4.3.1, at MAIL and, between two polls, by each shard's budget);
    // status records, which give space back, may use everything below it. The free
    // figure is published for the shards' budgets.
    auto poll = [&]() {
        std::optional<std::uint64_t> free_bytes = spool_free_bytes(settings.spool_dir);
        return free_bytes.value_or(std::numeric_limits<std::uint64_t>::max());
    };
    std::atomic<std::uint64_t> free_bytes{poll()};
    std::atomic<bool> spool_low{free_bytes.load() < settings.spool_reserve_bytes};
    std::atomic<bool> stop{false};
    std::atomic<unsigned> running{0};
    std::vector<std::thread> threads;
    threads.reserve(settings.shards.size());
    for (ShardSettings& shard_settings : settings.shards) {
        shard_settings.spool_low = &spool_low;
        shard_settings.spool_free_bytes = &free_bytes;
        shard_settings.shard_count = static_cast<std::uint32_t>(settings.shards.size());
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
        free_bytes.store(poll(), std::memory_order_relaxed);
        bool low = free_bytes.load(std::memory_order_relaxed) < settings.spool_reserve_bytes;
        if (low != was_low) {
            base::log_warn("spool free space {} the reserve of {} bytes: {}",
                           low ? "below" : "back above", settings.spool_reserve_bytes,
                           low ? "answering 452 4.3.1" : "accepting again");
            was_low = low;
        }
        spool_low.store(low, std::memory_order_relaxed);
        control.serve_pending();
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
