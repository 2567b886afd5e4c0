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

#include "base/fd_io.h"
#include "ca/limits.h"

namespace hub::ca {

void set_timeouts(int fd) {
    base::set_socket_timeouts(fd, socket_timeout_ms);
}

Result<Message, std::string> read_message(int fd, Direction direction) {
    std::uint8_t header[frame_header_bytes];
    if (auto read = base::read_exact(fd, header); !read) {
        return unexpected(read.error());
    }
    auto length = body_length(header, direction);
    if (!length) {
        return unexpected(length.error());
    }
    std::vector<std::uint8_t> body(*length);
    if (auto read = base::read_exact(fd, body); !read) {
        return unexpected(read.error());
    }
    return decode(body, direction);
}

Result<void, std::string> write_message(int fd, const Message& message) {
    return base::send_all(fd, encode(message));
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
