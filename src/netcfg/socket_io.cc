// socket_io.cc -- frames over a blocking Unix stream socket (socket_io.h).
//
// PURPOSE   Move one bounded frame each way; nothing else.
// RUNS IN   hub-netcfg, the console (netcfg::Client).
// TRUST     The peer may send anything: the header is checked before the body is read.
// LIMITS    request_frame_bytes_max, answer_frame_bytes_max; a timeout on every read/write.
// SEE ALSO  netcfg/protocol.h.

#include "netcfg/socket_io.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "netcfg/limits.h"

namespace hub::netcfg {

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

void set_timeouts(int fd, int timeout_ms) {
    timeval timeout{};
    timeout.tv_sec = timeout_ms / 1000;
    timeout.tv_usec = (timeout_ms % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
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

}  // namespace hub::netcfg
