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

#include "base/fd_io.h"
#include "netcfg/limits.h"

namespace hub::netcfg {

void set_timeouts(int fd, int timeout_ms) {
    base::set_socket_timeouts(fd, timeout_ms);
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

}  // namespace hub::netcfg
