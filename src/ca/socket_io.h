// socket_io.h -- one frame each way over hub-ca's Unix socket (blocking, with timeouts).
//
// Both ends use these: hub-ca reads a request and writes an answer; hubctl and the
// enrollment page connect, write a request and read the answer.
#pragma once

#include <span>
#include <string>

#include "base/result.h"
#include "ca/protocol.h"

namespace hub::ca {

// Reads one frame going the given way from fd (its timeouts apply) and decodes it.
[[nodiscard]] Result<Message, std::string> read_message(int fd, Direction direction);
[[nodiscard]] Result<void, std::string> write_message(int fd, const Message& message);
// Bounds every read and write on fd by socket_timeout_ms.
void set_timeouts(int fd);

// Connects to hub-ca at socket_path, sends request, returns its answer. The error says
// what failed ("is hub-ca running?").
[[nodiscard]] Result<Message, std::string> exchange(const std::string& socket_path,
                                                    const Message& request);

}  // namespace hub::ca
