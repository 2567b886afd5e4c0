// server.cc -- hub-enroll's ppoll loop (server.h).
//
// PURPOSE   Accept HTTPS connections, move ciphertext between sockets and tls::Session,
//           feed plaintext to the parser, carry out the App's answers and hub-ca calls.
// RUNS IN   hub-enroll's one thread, after the privilege drop.
// TRUST     Sockets carry internet traffic; every buffer is bounded (tls/ queues,
//           enroll/limits.h), every connection has a deadline, the counts are capped.
// LIMITS    enroll/limits.h: connections_max, connections_per_address_max,
//           requests_per_connection_max, handshake/head/body/idle timeouts,
//           drain_bytes_max and drain_timeout_ms for the lingering close.
// SEE ALSO  enroll/app.h, tls/tls_session.h (how a Session is driven), docs/ENROLLMENT.md.

#include "enroll/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include "base/log.h"
#include "ca/socket_io.h"
#include "enroll/limits.h"
#include "enroll/lingering_close.h"
#include "tls/tls_session.h"

namespace hub::enroll {

namespace {

using base::log_info;
using base::log_warn;

constexpr std::size_t accepts_per_wake_max = 16;
constexpr std::size_t steps_per_wake_max = 8;  // Requests served per connection per wake.
constexpr std::size_t read_chunk_bytes = 16 * 1024;

std::int64_t monotonic_ms() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

std::int64_t wall_ms() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

std::string address_text(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    } else if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
            inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof(text));
        } else {
            inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
        }
    }
    return text;
}

// lingering: the last answer, close_notify and FIN are with the kernel; what the visitor still
// sends is read and thrown away until it closes or a bound is reached (lingering_close.h).
enum class Phase { handshake, idle, head, body, writing, lingering };

struct Connection {
    int fd = -1;
    std::string peer;
    std::unique_ptr<tls::Session> tls;
    RequestParser parser;
    std::string out;  // Plaintext waiting for TLS.
    std::size_t out_offset = 0;
    Phase phase = Phase::handshake;
    std::int64_t deadline_ms = 0;
    std::uint32_t served = 0;
    bool close_after_output = false;
    bool shutdown_sent = false;
    std::optional<LingeringClose> linger;  // Set in Phase::lingering.
    bool dead = false;                     // Close now, nothing more to send.
};

std::string_view method_name(Method method) {
    switch (method) {
        case Method::get:
            return "GET";
        case Method::head:
            return "HEAD";
        case Method::post:
            return "POST";
    }
    return "?";
}

class Loop {
public:
    Loop(int listen_fd, std::shared_ptr<tls::ServerContext> context, App& app,
         const ServerSettings& settings)
        : listen_fd_(listen_fd), context_(std::move(context)), app_(app), settings_(settings) {}

    Result<void, std::string> run(const std::atomic<bool>& stop);

private:
    void accept_some(std::int64_t now);
    void on_readable(Connection& connection);
    void drive(Connection& connection, std::int64_t now);
    void serve_requests(Connection& connection, std::int64_t now);
    void respond(Connection& connection, const Response& response, bool head_only,
                 std::int64_t now);
    void pump_output(Connection& connection);
    void flush(Connection& connection, std::int64_t now);
    void start_lingering_close(Connection& connection, std::int64_t now);
    void linger(Connection& connection, std::int64_t now);
    void expire(Connection& connection, std::int64_t now);
    std::size_t from_address(std::string_view peer) const;

    int listen_fd_;
    std::shared_ptr<tls::ServerContext> context_;
    App& app_;
    const ServerSettings& settings_;
    std::vector<std::unique_ptr<Connection>> connections_;
};

std::size_t Loop::from_address(std::string_view peer) const {
    return static_cast<std::size_t>(
        std::count_if(connections_.begin(), connections_.end(),
                      [&](const auto& connection) { return connection->peer == peer; }));
}

void Loop::accept_some(std::int64_t now) {
    for (std::size_t i = 0; i < accepts_per_wake_max && connections_.size() < connections_max;
         i++) {
        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or a connection that died before we took it.
        }
        std::string peer = address_text(address);
        if (from_address(peer) >= connections_per_address_max) {
            // Before TLS there is no way to say why; the count is in the log.
            log_warn("{}: refused: already {} connections from this address", peer,
                     connections_per_address_max);
            close(fd);
            continue;
        }
        auto session = tls::Session::create_server(context_);
        if (!session) {
            log_warn("{}: TLS session: {}", peer, session.error().message);
            close(fd);
            continue;
        }
        auto connection = std::make_unique<Connection>();
        connection->fd = fd;
        connection->peer = std::move(peer);
        connection->tls = std::move(*session);
        connection->deadline_ms = now + handshake_timeout_ms;
        connections_.push_back(std::move(connection));
    }
}

void Loop::on_readable(Connection& connection) {
    tls::Session& tls = *connection.tls;
    std::array<char, read_chunk_bytes> buffer;
    std::size_t room = std::min(buffer.size(), tls.ciphertext_in.space_bytes());
    if (room == 0 || tls.transport_closed) {
        return;
    }
    ssize_t got = recv(connection.fd, buffer.data(), room, MSG_DONTWAIT);
    if (got == 0) {
        tls.transport_closed = true;
    } else if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            connection.dead = true;
        }
    } else {
        bool appended = tls.ciphertext_in.append(
            std::span<const char>(buffer.data(), static_cast<std::size_t>(got)));
        HUB_ASSERT(appended);  // room was taken from space_bytes().
    }
}

void Loop::pump_output(Connection& connection) {
    tls::Session& tls = *connection.tls;
    while (connection.out_offset < connection.out.size()) {
        std::size_t room = tls.writable_bytes();
        if (room == 0) {
            return;  // Flush first; POLLOUT brings us back.
        }
        std::size_t count = std::min(room, connection.out.size() - connection.out_offset);
        auto written =
            tls.write(std::span<const char>(connection.out.data() + connection.out_offset, count));
        if (!written) {
            connection.dead = true;
            return;
        }
        connection.out_offset += count;
    }
    connection.out.clear();
    connection.out_offset = 0;
}

void Loop::respond(Connection& connection, const Response& response, bool head_only,
                   std::int64_t now) {
    connection.out += serialise(response, head_only);
    HUB_ASSERT(connection.out.size() <= response_bytes_max + head_bytes_max);
    if (response.close) {
        connection.close_after_output = true;
    }
    connection.phase = Phase::writing;
    connection.deadline_ms = now + body_timeout_ms;
    pump_output(connection);
}

void Loop::serve_requests(Connection& connection, std::int64_t now) {
    for (std::size_t step = 0; step < steps_per_wake_max; step++) {
        if (!connection.out.empty() || connection.close_after_output || connection.dead) {
            return;  // One response at a time: the next request waits until this one left.
        }
        auto next = connection.parser.next();
        if (!next) {
            log_info("{}: refused: {} {}", connection.peer, next.error().status,
                     next.error().message);
            respond(connection, App::error_page(next.error().status, next.error().message), false,
                    now);
            return;
        }
        if (!next->has_value()) {
            if (connection.parser.wants_continue()) {
                connection.out += "HTTP/1.1 100 Continue\r\n\r\n";
                connection.parser.continue_sent();
                pump_output(connection);
            }
            if (connection.parser.reading_body() && connection.phase != Phase::body) {
                connection.phase = Phase::body;
                connection.deadline_ms = now + body_timeout_ms;
            } else if (!connection.parser.idle() && connection.phase == Phase::idle) {
                connection.phase = Phase::head;
                connection.deadline_ms = now + head_timeout_ms;
            }
            return;
        }
        const Request& request = **next;
        connection.served++;
        auto answer = app_.handle(request, connection.peer, wall_ms());
        Response response;
        if (auto* call = std::get_if<CaCall>(&answer)) {
            auto reply = ca::exchange(settings_.ca_socket, call->request);
            if (!reply) {
                log_warn("hub-ca: {}", reply.error());
            }
            response = app_.finish(call->pending, reply, wall_ms());
        } else {
            response = std::move(std::get<Response>(answer));
        }
        if (connection.served >= requests_per_connection_max) {
            response.close = true;
        }
        log_info("{}: {} {} {}{}", connection.peer, method_name(request.method), request.path,
                 response.status, response.content_disposition.empty() ? "" : " (download)");
        respond(connection, response, request.method == Method::head, monotonic_ms());
    }
}

void Loop::drive(Connection& connection, std::int64_t now) {
    tls::Session& tls = *connection.tls;
    if (!tls.handshake_done()) {
        auto progress = tls.handshake();
        if (!progress) {
            log_info("{}: TLS handshake failed: {}", connection.peer, progress.error().message);
            connection.dead = true;
            return;
        }
        if (!tls.handshake_done()) {
            return;
        }
        connection.phase = Phase::idle;
        connection.deadline_ms = now + head_timeout_ms;
    }
    if (!connection.out.empty()) {
        pump_output(connection);
    }
    std::array<char, read_chunk_bytes> plain;
    for (std::size_t step = 0; step < steps_per_wake_max && !connection.dead; step++) {
        bool progressed = false;
        std::size_t room = std::min(plain.size(), connection.parser.space_bytes());
        if (room > 0 && !connection.close_after_output) {
            auto got = tls.read(std::span<char>(plain.data(), room));
            if (!got) {
                // closed: the visitor is gone; anything half-sent is of no use.
                connection.dead = true;
                return;
            }
            if (*got > 0) {
                bool fed = connection.parser.feed(std::span<const char>(plain.data(), *got));
                HUB_ASSERT(fed);
                progressed = true;
            }
        }
        bool was_idle = connection.phase == Phase::writing && connection.out.empty();
        if (was_idle) {
            connection.phase = Phase::idle;
            connection.deadline_ms = now + idle_timeout_ms;
        }
        serve_requests(connection, now);
        if (!connection.out.empty() || connection.close_after_output) {
            return;
        }
        // wolfSSL may hold decrypted bytes that did not fit this round's span even when
        // ciphertext_in is empty, and no poll event would bring them back: read on while
        // reads give bytes.
        if (!progressed && tls.ciphertext_in.empty()) {
            return;
        }
    }
}

void Loop::flush(Connection& connection, std::int64_t now) {
    tls::Session& tls = *connection.tls;
    if (connection.close_after_output && connection.out.empty() && !connection.shutdown_sent &&
        tls.handshake_done()) {
        tls.shutdown();
        connection.shutdown_sent = true;
    }
    while (!tls.ciphertext_out.empty()) {
        auto bytes = tls.ciphertext_out.readable();
        ssize_t sent =
            ::send(connection.fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                connection.dead = true;
            }
            return;
        }
        tls.ciphertext_out.consume(static_cast<std::size_t>(sent));
        if (connection.phase == Phase::writing) {
            connection.deadline_ms = now + body_timeout_ms;  // Progress: a slow reader is fine.
        }
    }
    if (tls.output_blocked()) {
        (void)tls.flush();
    }
    if (tls.transport_closed && tls.ciphertext_out.empty() && connection.out.empty()) {
        // The visitor closed its side and we read up to its EOF: nothing unread, so close()
        // sends FIN, not RST; no need to linger.
        connection.dead = true;
        return;
    }
    if (connection.shutdown_sent && tls.ciphertext_out.empty()) {
        start_lingering_close(connection, now);  // Everything, close_notify included, is sent.
    }
}

void Loop::start_lingering_close(Connection& connection, std::int64_t now) {
    // FIN after the answer: a client reading it sees the end of the stream and closes, which
    // ends the lingering at once; one still writing its body reads the answer when it is done.
    if (::shutdown(connection.fd, SHUT_WR) != 0) {
        connection.dead = true;  // ENOTCONN: the visitor is already gone.
        return;
    }
    // Ciphertext read but never decrypted (the rest of a refused body) is of no use now;
    // from here bytes go from the socket straight to the bin.
    connection.tls->ciphertext_in.clear();
    connection.linger.emplace(now);
    connection.phase = Phase::lingering;
    connection.deadline_ms = connection.linger->deadline_ms();
    linger(connection, now);  // The body may be waiting already.
}

void Loop::linger(Connection& connection, std::int64_t now) {
    LingeringClose& linger = *connection.linger;
    std::array<char, read_chunk_bytes> discard;
    // Each read takes at most read_chunk_bytes of at most drain_bytes_max: the loop ends.
    while (linger.read_bytes_max() > 0) {
        std::size_t room = std::min(discard.size(), linger.read_bytes_max());
        ssize_t got = recv(connection.fd, discard.data(), room, MSG_DONTWAIT);
        if (got > 0) {
            linger.discarded(static_cast<std::size_t>(got));
            continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            break;  // Nothing more for now; POLLIN or the deadline brings us back.
        }
        linger.visitor_closed();  // EOF, or a reset: nothing more will come.
        break;
    }
    switch (linger.end(now)) {
        case LingeringClose::End::not_yet:
            return;
        case LingeringClose::End::visitor_closed:
            break;
        case LingeringClose::End::bytes_limit:
            log_info("{}: closed after throwing away {} bytes sent after the answer",
                     connection.peer, linger.discarded_bytes());
            break;
        case LingeringClose::End::time_limit:
            log_info(
                "{}: closed {} ms after the answer; the visitor had not closed ({} bytes "
                "thrown away)",
                connection.peer, drain_timeout_ms, linger.discarded_bytes());
            break;
    }
    connection.dead = true;
}

void Loop::expire(Connection& connection, std::int64_t now) {
    if (now < connection.deadline_ms || connection.dead) {
        return;
    }
    if (connection.phase == Phase::lingering) {
        linger(connection, now);  // Reads what is there, then closes at the time limit.
        return;
    }
    if (connection.phase == Phase::head || connection.phase == Phase::body) {
        log_info("{}: refused: 408 too slow", connection.peer);
        connection.parser = RequestParser();
        respond(connection,
                App::error_page(408, "the request took too long to arrive; send it again"), false,
                now);
        connection.deadline_ms = now + 1000;  // One second for the 408, then gone.
        connection.phase = Phase::handshake;  // Not head/body again: the next expiry closes.
        flush(connection, now);
        return;
    }
    connection.dead = true;
}

Result<void, std::string> Loop::run(const std::atomic<bool>& stop) {
    sigset_t during_wait;
    sigprocmask(SIG_SETMASK, nullptr, &during_wait);
    sigdelset(&during_wait, SIGTERM);
    sigdelset(&during_wait, SIGINT);
    std::vector<pollfd> fds;
    while (!stop.load()) {
        std::int64_t now = monotonic_ms();
        fds.clear();
        fds.push_back(pollfd{listen_fd_,
                             connections_.size() < connections_max ? short(POLLIN) : short(0), 0});
        std::int64_t wait_ms = 1000;
        for (const auto& connection : connections_) {
            short events = POLLIN;  // Lingering connections wait for POLLIN only: all is sent.
            // Plaintext still waiting for room in TLS counts too: with ciphertext_out sent
            // empty, POLLOUT is what brings the connection back to pump the rest.
            if (!connection->tls->ciphertext_out.empty() || !connection->out.empty()) {
                events |= POLLOUT;
            }
            fds.push_back(pollfd{connection->fd, events, 0});
            wait_ms = std::min(wait_ms, std::max<std::int64_t>(0, connection->deadline_ms - now));
        }
        timespec timeout{static_cast<time_t>(wait_ms / 1000),
                         static_cast<long>((wait_ms % 1000) * 1'000'000)};
        int ready = ppoll(fds.data(), fds.size(), &timeout, &during_wait);
        if (ready < 0 && errno != EINTR) {
            return unexpected(std::string("ppoll: ") + std::strerror(errno));
        }
        now = monotonic_ms();
        std::size_t polled = connections_.size();
        for (std::size_t i = 0; i < polled && ready > 0; i++) {
            Connection& connection = *connections_[i];
            short revents = fds[i + 1].revents;
            if (connection.phase == Phase::lingering) {
                if (revents != 0) {
                    linger(connection, now);
                }
                continue;
            }
            if (revents & (POLLIN | POLLHUP | POLLERR)) {
                on_readable(connection);
            }
            if (revents != 0 && !connection.dead) {
                drive(connection, now);
                flush(connection, now);
            }
        }
        for (auto& connection : connections_) {
            expire(*connection, now);
        }
        std::erase_if(connections_, [](const auto& connection) {
            if (connection->dead) {
                close(connection->fd);
                return true;
            }
            return false;
        });
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            accept_some(now);
        }
    }
    for (auto& connection : connections_) {
        close(connection->fd);
    }
    connections_.clear();
    return {};
}

}  // namespace

Result<void, std::string> serve(int listen_fd, std::shared_ptr<tls::ServerContext> context,
                                App& app, const ServerSettings& settings,
                                const std::atomic<bool>& stop) {
    Loop loop(listen_fd, std::move(context), app, settings);
    return loop.run(stop);
}

}  // namespace hub::enroll
