// server.h -- hub-enroll's event loop: sockets, TLS and the calls to hub-ca.
//
// One process, one thread, one ppoll(2) loop over the listening socket and at most
// connections_max connections (connections_per_address_max from one address). Each
// connection runs a tls::Session over memory (the same wolfSSL glue as hubd) and a
// RequestParser; requests go to the App, and a CaCall is carried out with one blocking
// exchange on hub-ca's socket (bounded by hub-ca's socket timeouts). A connection ended
// after an answer is not close()d at once but lingers, bounded (lingering_close.h), so that
// an answer given before the whole request was read is not lost to a reset.
//
// Why a poll loop and not io_uring like hubd: the page serves a handful of partner
// administrators, not mail traffic; a loop of a few hundred lines that any reviewer can
// follow is worth more here than hubd's throughput. Why the hub-ca call blocks the loop:
// hub-ca answers one request at a time anyway (one password hash each), so overlapping
// calls would only queue there; the per-address form limit bounds how often it happens.
// XXX: while hub-ca hashes a password (tens of milliseconds) other visitors wait; if the
// page ever serves many concurrent visitors, make the call a connection state in the loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "enroll/app.h"

namespace hub::tls {
class ServerContext;
}

namespace hub::enroll {

struct ServerSettings {
    std::string ca_socket;  // hub-ca's Unix socket.
};

// Serves on listen_fd (a bound, listening TCP socket) until stop is set; SIGTERM and SIGINT
// must be blocked by the caller: they are let through only while the loop waits, so a stop
// is never missed between a check and a wait. Errors: the listening socket failed.
[[nodiscard]] Result<void, std::string> serve(int listen_fd,
                                              std::shared_ptr<tls::ServerContext> context, App& app,
                                              const ServerSettings& settings,
                                              const std::atomic<bool>& stop);

}  // namespace hub::enroll
