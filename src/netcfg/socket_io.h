// socket_io.h -- one frame each way over hub-netcfg's Unix socket (blocking, with timeouts).
//
// The daemon reads a request and writes an answer; netcfg::Client connects, writes a
// request and reads the answer.
#pragma once

#include <string>

#include "base/result.h"
#include "netcfg/protocol.h"

namespace hub::netcfg {

// Reads one frame going the given way from fd (its timeouts apply) and decodes it.
[[nodiscard]] Result<Message, std::string> read_message(int fd, Direction direction);
[[nodiscard]] Result<void, std::string> write_message(int fd, const Message& message);
// Bounds every read and write on fd by timeout_ms.
void set_timeouts(int fd, int timeout_ms);

}  // namespace hub::netcfg
