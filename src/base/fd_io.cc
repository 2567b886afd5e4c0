// fd_io.cc -- blocking socket reads and writes (fd_io.h).
#include "base/fd_io.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hub::base {
namespace {

std::string io_error(const char* call) {
    return errno == EAGAIN || errno == EWOULDBLOCK
               ? std::string("timed out waiting for the peer")
               : fmt::format("{}: {}", call, std::strerror(errno));
}

}  // namespace

void set_socket_timeouts(int fd, int timeout_ms) {
    timeval timeout{};
    timeout.tv_sec = timeout_ms / 1000;
    timeout.tv_usec = (timeout_ms % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

Result<void, std::string> read_exact(int fd, std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t got = ::read(fd, out.data() + done, out.size() - done);
        if (got == 0) {
            return unexpected(std::string("the peer closed the connection mid-frame"));
        }
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return unexpected(io_error("read"));
        }
        done += static_cast<std::size_t>(got);
    }
    return {};
}

Result<void, std::string> send_all(int fd, std::span<const std::uint8_t> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t sent = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            return unexpected(io_error("write"));
        }
        done += static_cast<std::size_t>(sent);
    }
    return {};
}

Result<int, std::string> listen_unix(const std::string& path, int backlog, std::string_view what) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path)) {
        return unexpected(
            fmt::format("{} \"{}\": 1..{} characters", what, path, sizeof(address.sun_path) - 1));
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
    ::unlink(path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd, backlog) != 0) {
        std::string error = fmt::format("{} {}: {}", what, path, std::strerror(errno));
        if (fd >= 0) {
            ::close(fd);
        }
        return unexpected(error);
    }
    ::chmod(path.c_str(), 0666);
    return fd;
}

}  // namespace hub::base
