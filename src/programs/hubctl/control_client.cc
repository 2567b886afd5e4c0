// control_client.cc -- one request to hubd's control socket (see control_client.h).
#include "programs/hubctl/control_client.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "engine/control.h"

namespace hub::hubctl {
namespace {

// A connected socket to path, or the connect(2) errno.
Result<int, int> connect_control(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        return unexpected(ENAMETOOLONG);
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        int error = errno;
        if (fd >= 0) {
            close(fd);
        }
        return unexpected(error);
    }
    return fd;
}

}  // namespace

Result<std::string, std::string> control_request(const std::string& spool_dir,
                                                 const std::string& line) {
    std::string path = engine::control_socket_path(spool_dir);
    auto connected = connect_control(path);
    if (!connected) {
        return unexpected(
            fmt::format("cannot reach the running hubd at {} ({}); is it still starting?", path,
                        std::strerror(connected.error())));
    }
    int fd = *connected;
    timeval timeout{15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string request = line + "\n";
    std::string answer;
    bool sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size());
    std::array<char, 65536> chunk{};
    // Bounded by hub_answer_bytes_max and the receive timeout.
    while (sent && answer.size() < hub_answer_bytes_max) {
        ssize_t got = recv(fd, chunk.data(), chunk.size(), 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        answer.append(chunk.data(), static_cast<std::size_t>(got));
    }
    close(fd);
    if (answer.empty() || answer.back() != '\n') {
        return unexpected("hubd did not answer on " + path);
    }
    answer.pop_back();
    return answer;
}

ReloadOutcome request_reload(const std::string& spool_dir) {
    ReloadOutcome outcome;
    std::string path = engine::control_socket_path(spool_dir);
    // No socket, or one nobody accepts on (left by a hubd that was killed): not running.
    auto probe = connect_control(path);
    if (!probe) {
        outcome.running =
            !(probe.error() == ENOENT || probe.error() == ECONNREFUSED || probe.error() == ENOTDIR);
        outcome.text = outcome.running ? fmt::format("cannot reach the running hubd at {}: {}",
                                                     path, std::strerror(probe.error()))
                                       : fmt::format("no hubd runs on {} ({}: {})", spool_dir, path,
                                                     std::strerror(probe.error()));
        return outcome;
    }
    close(*probe);  // hubd drops a connection that sends nothing.
    outcome.running = true;
    auto answer = control_request(spool_dir, "reload");
    if (!answer) {
        outcome.text = answer.error();
        return outcome;
    }
    constexpr std::string_view ok = "ok ";
    constexpr std::string_view error = "error: ";
    if (answer->rfind(ok, 0) == 0) {
        outcome.answered = true;
        outcome.applied = true;
        outcome.text = answer->substr(ok.size());
    } else if (answer->rfind(error, 0) == 0) {
        outcome.answered = true;
        outcome.text = answer->substr(error.size());
    } else {
        outcome.text = "unexpected answer from hubd: " + *answer;
    }
    return outcome;
}

}  // namespace hub::hubctl
