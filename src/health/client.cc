// client.cc -- fetch_snapshot: ask a running hubd for its counters.
//
// PURPOSE   The one client of the "status" request, shared by hubctl, hub-metrics and
//           hub-snmp, so they read the same snapshot the same way.
// RUNS IN   hubctl, hub-metrics, hub-snmp (blocking calls; never in hubd).
// TRUST     the answer comes from hubd; it is bounded and decoded strictly.
// LIMITS    snapshot_bytes_max, fetch_timeout_s.
// SEE ALSO  snapshot.h, engine/control.h, docs/HEALTH.md
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "health/limits.h"
#include "health/snapshot.h"

namespace hub::health {
namespace {

inline constexpr long fetch_timeout_s = 10;  // hubd gives each shard 5 s to answer.

}  // namespace

Result<Snapshot, std::string> fetch_snapshot(const std::string& socket_path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path)) {
        return unexpected("status socket path too long: " + socket_path);
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        int error = errno;
        if (fd >= 0) {
            close(fd);
        }
        std::string hint = error == EACCES
                               ? " (reading it takes hubd's user, root, or membership of the "
                                 "monitoring group: docs/HEALTH.md)"
                               : " (is hubd running?)";
        return unexpected(
            fmt::format("cannot reach hubd at {}: {}{}", socket_path, std::strerror(error), hint));
    }
    timeval timeout{fetch_timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    constexpr std::string_view request = "status\n";
    bool sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size());
    std::string answer;
    std::array<char, 65536> chunk{};
    bool too_big = false;
    // Bounded by snapshot_bytes_max and the receive timeout.
    while (sent) {
        ssize_t got = recv(fd, chunk.data(), chunk.size(), 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        answer.append(chunk.data(), static_cast<std::size_t>(got));
        if (answer.size() > snapshot_bytes_max) {
            too_big = true;
            break;
        }
    }
    close(fd);
    if (!sent) {
        return unexpected("cannot send the status request to " + socket_path);
    }
    if (too_big) {
        return unexpected(fmt::format("hubd's status answer is over {} bytes", snapshot_bytes_max));
    }
    if (answer.starts_with("error: ")) {
        std::string_view text = answer;
        text = text.substr(0, text.find('\n'));
        return unexpected("hubd answered: " + std::string(text.substr(0, 200)));
    }
    if (answer.empty()) {
        return unexpected("hubd closed " + socket_path + " without an answer");
    }
    auto snapshot = decode(answer);
    if (!snapshot) {
        return unexpected("hubd's status answer: " + snapshot.error());
    }
    return snapshot;
}

}  // namespace hub::health
