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
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"
#include "tls/tls_session.h"

namespace hub::engine {
namespace {

inline constexpr long space_poll_ms = 200;
inline constexpr int control_clients_per_poll_max = 8;
inline constexpr std::size_t control_line_bytes_max = 256;
inline constexpr unsigned control_answer_timeout_ms = 5000;
inline constexpr long start_poll_ms = 5;
inline constexpr long shard_start_timeout_ms = 30000;  // Ring and buffer set-up take ms.

// Free bytes on the spool's file system, for an unprivileged writer (f_bavail); none if
// statvfs fails (the writes themselves then report ENOSPC).
std::optional<std::uint64_t> spool_free_bytes(const std::string& spool_dir) {
    struct statvfs stats {};
    if (statvfs(spool_dir.c_str(), &stats) != 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
}

// Unknown free space counts as plenty: the writes themselves then report ENOSPC.
std::uint64_t free_bytes_or_unlimited(const std::string& spool_dir) {
    return spool_free_bytes(spool_dir).value_or(std::numeric_limits<std::uint64_t>::max());
}

// A listing can be large; the client reads to the end, so send until done or it fails.
void send_all(int client, std::string_view bytes) {
    timeval timeout{5, 0};  // A client that stops reading cannot hold the supervisor.
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    // Bounded: every pass sends at least one byte or returns.
    while (!bytes.empty()) {
        ssize_t sent = send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            return;
        }
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
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

ControlServer::ControlServer(std::string path, std::vector<ControlMailbox>& mailboxes,
                             Reloader* reloader)
    : path_(std::move(path)), mailboxes_(mailboxes), reloader_(reloader) {}

ControlServer::~ControlServer() {
    if (fd_ >= 0) {
        close(fd_);
        unlink(path_.c_str());
    }
    if (status_fd_ >= 0) {
        close(status_fd_);
        unlink(status_path_.c_str());
    }
}

void ControlServer::set_status(int status_fd, std::string status_path, StatusFacts facts) {
    status_fd_ = status_fd;
    status_path_ = std::move(status_path);
    facts_ = std::move(facts);
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
    for (int listening : {fd_, status_fd_}) {
        if (listening < 0) {
            continue;
        }
        for (int served = 0; served < control_clients_per_poll_max; served++) {
            int client = accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) {
                break;  // EAGAIN: nobody waiting.
            }
            serve(client, listening == status_fd_);
            close(client);
        }
    }
}

std::string ControlServer::status_answer(const ControlCommand& command) {
    health::Snapshot snapshot;
    for (std::size_t index = 0; index < mailboxes_.size(); index++) {
        auto reply = mailboxes_[index].call(command, control_answer_timeout_ms);
        if (!reply) {
            return fmt::format("error: shard {} did not answer in time\n", index);
        }
        auto part = health::decode(*reply);
        if (!part) {
            // The shard's own encoder wrote it: a bug, but one that must not take the hub down.
            base::log_error("status: shard {}: {}", index, part.error());
            return fmt::format("error: shard {}'s counters did not decode: {}\n", index,
                               part.error());
        }
        health::merge(snapshot, *part);
    }
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    snapshot.taken_unix_ms = static_cast<std::uint64_t>(now.tv_sec) * 1000 +
                             static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
    snapshot.started_unix_ms = facts_.started_unix_ms;
    struct statvfs stats {};
    if (statvfs(facts_.spool_dir.c_str(), &stats) == 0) {
        snapshot.spool_free_bytes = static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
        snapshot.spool_total_bytes = static_cast<std::uint64_t>(stats.f_blocks) * stats.f_frsize;
    }
    snapshot.spool_reserve_bytes = facts_.spool_reserve_bytes;
    // The shards' parts brought the partners' certificates; the hub's own go beside them.
    snapshot.certificates.insert(snapshot.certificates.end(), facts_.certificates.begin(),
                                 facts_.certificates.end());
    health::finish(snapshot);
    return health::encode(snapshot);
}

void ControlServer::serve(int client, bool read_only) {
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
    } else if (read_only && !read_only_verb(command->verb)) {
        // docs/HEALTH.md, "Who may ask": this socket is open to the monitoring group.
        answer =
            "error: the status socket answers only 'status'; queue commands go to the "
            "control socket in the spool directory (hubd's user or root)";
    } else if (command->verb == ControlVerb::reload) {
        // The supervisor's own work: shards pick the snapshot up at their next turn.
        auto reloaded = reloader_ != nullptr ? reloader_->reload("hubctl")
                                             : Result<std::string, std::string>(unexpected(
                                                   std::string("this hubd cannot reload")));
        std::string text = reloaded ? "ok " + *reloaded : "error: " + reloaded.error();
        for (char c : text) {
            answer += c == '\n' ? std::string("; ") : std::string(1, c);  // One line.
        }
    } else if (command->verb == ControlVerb::status) {
        send_all(client, status_answer(*command));  // Ends with a line break already.
        return;
    } else if (command->verb == ControlVerb::list) {
        // Every shard in turn; each answers with its lines (or nothing), then one "ok".
        for (ControlMailbox& mailbox : mailboxes_) {
            auto reply = mailbox.call(*command, control_answer_timeout_ms);
            if (!reply) {
                answer = "error: a shard did not answer in time";
                break;
            }
            answer += *reply;
        }
        if (answer.empty() || answer.back() == '\n') {
            answer += "ok";
        }
    } else {
        ControlMailbox& mailbox = mailboxes_[command->id.shard % mailboxes_.size()];
        auto reply = mailbox.call(*command, control_answer_timeout_ms);
        answer = reply ? *reply : std::string("error: the shard did not answer in time");
    }
    answer += "\n";
    send_all(client, answer);
}

Supervisor::Supervisor(SupervisorSettings settings)
    : settings_(std::move(settings)),
      mailboxes_(settings_.shards.size()),
      control_(control_socket_path(settings_.spool_dir), mailboxes_, settings_.reloader) {
    HUB_ASSERT(!settings_.shards.empty());
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    control_.set_status(settings_.status_socket_fd, settings_.status_socket_path,
                        StatusFacts{settings_.spool_dir, settings_.spool_reserve_bytes,
                                    static_cast<std::uint64_t>(now.tv_sec) * 1000 +
                                        static_cast<std::uint64_t>(now.tv_nsec) / 1000000,
                                    settings_.certificates});
    HUB_ASSERT(mailboxes_.size() == settings_.shards.size());
}

Supervisor::~Supervisor() {
    stop_and_join();
}

void Supervisor::stop_and_join() {
    stop_.store(true);
    for (std::thread& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    threads_.clear();
}

Result<void, std::string> Supervisor::open_control_socket() {
    if (auto listening = control_.listen(); !listening) {
        return listening;
    }
    // Reachable, not just bound: hubctl connects the same way. The probe connection is
    // accepted and closed by the first serve_pending.
    std::string path = control_socket_path(settings_.spool_dir);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);  // listen() checked the size.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0 || connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        std::string error = std::strerror(errno);
        if (probe >= 0) {
            close(probe);
        }
        return unexpected("control socket " + path + ": cannot connect to it: " + error);
    }
    close(probe);
    return {};
}

Result<void, std::string> Supervisor::start_shards() {
    HUB_ASSERT(threads_.empty());
    // Two thresholds (docs/DELIVERY.md, "A full spool"): below spool_reserve_bytes new mail
    // is refused (452 4.3.1, at MAIL and, between two polls, by each shard's budget);
    // status records, which give space back, may use everything below it. The free
    // figure is published for the shards' budgets.
    spool_free_bytes_.store(free_bytes_or_unlimited(settings_.spool_dir));
    spool_low_.store(spool_free_bytes_.load() < settings_.spool_reserve_bytes);
    threads_.reserve(settings_.shards.size());
    for (std::size_t index = 0; index < settings_.shards.size(); index++) {
        ShardSettings& shard_settings = settings_.shards[index];
        starts_.push_back(std::make_unique<ShardStart>());
        ShardStart* start = starts_.back().get();
        shard_settings.control = &mailboxes_[index];
        shard_settings.spool_low = &spool_low_;
        shard_settings.spool_free_bytes = &spool_free_bytes_;
        shard_settings.shard_count = static_cast<std::uint32_t>(settings_.shards.size());
        shard_settings.stop = &stop_;
        shard_settings.serving = &start->serving;
        running_++;
        threads_.emplace_back([shard_settings, start, this]() {
            auto result = Shard(shard_settings).run();
            tls::release_thread_caches();
            if (!result && !start->serving.load()) {
                start->error = result.error();
                start->failed.store(true);  // start_shards reports it.
            } else if (!result) {
                // Style: unlikely failure after initialisation is fatal; systemd restarts
                // us and the spool makes restarting safe.
                base::log_fatal("shard {}: {}", shard_settings.index, result.error());
            }
            running_--;
        });
    }
    for (long waited_ms = 0;; waited_ms += start_poll_ms) {
        std::size_t serving = 0;
        for (std::size_t index = 0; index < starts_.size(); index++) {
            if (starts_[index]->failed.load()) {
                stop_and_join();
                return unexpected("shard " + std::to_string(index) + ": " + starts_[index]->error);
            }
            serving += starts_[index]->serving.load() ? 1 : 0;
        }
        if (serving == starts_.size()) {
            return {};
        }
        if (waited_ms >= shard_start_timeout_ms) {
            stop_and_join();
            return unexpected("shards: only " + std::to_string(serving) + " of " +
                              std::to_string(starts_.size()) + " serving after " +
                              std::to_string(shard_start_timeout_ms) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(start_poll_ms));
    }
}

Result<void, std::string> Supervisor::run() {
    HUB_ASSERT(threads_.size() == settings_.shards.size());
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    bool was_low = spool_low_.load();
    while (running_.load() > 0) {
        timespec wait{0, space_poll_ms * 1000 * 1000};
        int signal_number = sigtimedwait(&signals, nullptr, &wait);
        if (signal_number == SIGTERM || signal_number == SIGINT) {
            base::log_info("signal {}: stopping", signal_number);
            stop_.store(true);
        } else if (signal_number == SIGHUP && settings_.reloader != nullptr) {
            (void)settings_.reloader->reload("SIGHUP");  // Logs the outcome either way.
        }
        spool_free_bytes_.store(free_bytes_or_unlimited(settings_.spool_dir),
                                std::memory_order_relaxed);
        bool low =
            spool_free_bytes_.load(std::memory_order_relaxed) < settings_.spool_reserve_bytes;
        if (low != was_low) {
            base::log_warn("spool free space {} the reserve of {} bytes: {}",
                           low ? "below" : "back above", settings_.spool_reserve_bytes,
                           low ? "answering 452 4.3.1" : "accepting again");
            was_low = low;
        }
        spool_low_.store(low, std::memory_order_relaxed);
        control_.serve_pending();
        if (settings_.crl_refresher != nullptr) {
            auto now = std::chrono::system_clock::now().time_since_epoch();
            settings_.crl_refresher->refresh_if_due(
                std::chrono::duration_cast<std::chrono::seconds>(now).count());
        }
        if (stop_.load() && running_.load() == 0) {
            break;
        }
    }
    stop_and_join();
    return {};
}

}  // namespace hub::engine
