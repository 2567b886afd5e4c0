// socket_io.cc -- frames over a blocking Unix stream socket (socket_io.h).
//
// PURPOSE   Move one bounded frame each way; nothing else.
// RUNS IN   hub-ca, hubctl (ca commands), the enrollment page.
// TRUST     The peer may send anything: the header is checked before the body is read.
// LIMITS    request_frame_bytes_max, answer_frame_bytes_max; socket_timeout_ms on every
//           read and write.
// SEE ALSO  ca/protocol.h.

#include "ca/socket_io.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ca/limits.h"

namespace hub::ca {

namespace {

Result<void, std::string> read_exact(int fd, std::uint8_t* out, std::size_t bytes) {
    std::size_t done = 0;
    while (done < bytes) {
        ssize_t got = ::read(fd, out + done, bytes - done);
        if (got == 0) {
            return unexpected(std::string("the peer closed the connection mid-frame"));
        }
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return unexpected(errno == EAGAIN || errno == EWOULDBLOCK
                                  ? std::string("timed out waiting for the peer")
                                  : fmt::format("read: {}", std::strerror(errno)));
        }
        done += static_cast<std::size_t>(got);
    }
    return {};
}

}  // namespace

void set_timeouts(int fd) {
    timeval timeout{};
    timeout.tv_sec = socket_timeout_ms / 1000;
    timeout.tv_usec = (socket_timeout_ms % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

Result<Message, std::string> read_message(int fd, Direction direction) {
    std::uint8_t header[frame_header_bytes];
    if (auto read = read_exact(fd, header, sizeof(header)); !read) {
        return unexpected(read.error());
    }
    auto length = body_length(header, direction);
    if (!length) {
        return unexpected(length.error());
    }
    std::vector<std::uint8_t> body(*length);
    if (auto read = read_exact(fd, body.data(), body.size()); !read) {
        return unexpected(read.error());
    }
    return decode(body, direction);
}

Result<void, std::string> write_message(int fd, const Message& message) {
    std::vector<std::uint8_t> frame = encode(message);
    std::size_t done = 0;
    while (done < frame.size()) {
        ssize_t wrote = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (wrote < 0) {
            if (errno == EINTR) {
                continue;
            }
            return unexpected(fmt::format("write: {}", std::strerror(errno)));
        }
        done += static_cast<std::size_t>(wrote);
    }
    return {};
}

Result<Message, std::string> exchange(const std::string& socket_path, const Message& request) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
        return unexpected(fmt::format("hub-ca socket path \"{}\": 1..{} characters", socket_path,
                                      sizeof(address.sun_path) - 1));
    }
    std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return unexpected(fmt::format("socket: {}", std::strerror(errno)));
    }
    set_timeouts(fd);
    Result<Message, std::string> answer = unexpected(std::string());
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        answer = unexpected(fmt::format("cannot reach hub-ca at {}: {} (is hub-ca running?)",
                                        socket_path, std::strerror(errno)));
    } else if (auto wrote = write_message(fd, request); !wrote) {
        answer = unexpected(wrote.error());
    } else {
        answer = read_message(fd, Direction::answer);
    }
    ::close(fd);
    return answer;
}

}  // namespace hub::ca
