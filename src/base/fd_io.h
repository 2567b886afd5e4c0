// fd_io.h -- blocking reads and writes on a socket, for the small request/answer sockets
// between Hubbox's processes (hub-ca, hub-netcfg, the console's helpers, hubd's control and
// status sockets). Never on the engine's data path, which goes through io_uring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::base {

// Bounds every later blocking read and write on fd by timeout_ms (SO_RCVTIMEO, SO_SNDTIMEO),
// so that a stalled peer costs at most that long.
void set_socket_timeouts(int fd, int timeout_ms);

// Reads exactly out.size() bytes, retrying after EINTR. Errors: the peer closed the connection
// part-way, the timeout passed, or read's errno.
[[nodiscard]] Result<void, std::string> read_exact(int fd, std::span<std::uint8_t> out);

// Sends all of bytes (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE), retrying after
// EINTR. Errors: the timeout passed, or send's errno.
[[nodiscard]] Result<void, std::string> send_all(int fd, std::span<const std::uint8_t> bytes);

// A Unix stream socket listening at path (its directory made if missing, a socket left there by
// a killed run replaced), mode 0666: whoever may connect, the server decides per request from
// the caller's uid (SO_PEERCRED), not from the socket's mode. Errors are prefixed by what
// (the option that named the path, e.g. "ca.socket").
[[nodiscard]] Result<int, std::string> listen_unix(const std::string& path, int backlog,
                                                   std::string_view what);

}  // namespace hub::base
