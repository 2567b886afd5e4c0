// main.cc -- hub-metrics, the Prometheus exporter of the hub's health counters.
//
// PURPOSE   Serve the hub's health snapshot in the Prometheus text exposition format:
//             hub-metrics [--listen 127.0.0.1:9464] [--socket /run/hubbox/status.sock]
//                         [--backup-status FILE]
//           Each GET /metrics asks hubd afresh over its read-only status socket
//           (health::fetch_snapshot) and answers hubbox_up 1 and the hubbox_* families, or
//           hubbox_up 0 alone when hubd cannot be reached. Anything other than GET /metrics
//           gets a clear 4xx (health/http.h). With --backup-status, the hubbox_backup_*
//           families from the file `hubctl backup run` writes (health/backup_status.h),
//           whether or not hubd answers: the backup does not depend on hubd.
// RUNS IN   its own process and user (hubmetrics on the appliance, in the hubmon group that
//           may read the status socket): one role, no privilege, nothing secret. One client
//           at a time, in one thread: a scraper every few seconds needs no more.
// TRUST     the HTTP peer is untrusted: its request head is bounded (http_head_bytes_max),
//           timed out (client_timeout_s) and judged by judge_http_request before anything
//           else happens. hubd's answer is decoded strictly (health::decode).
// LIMITS    http_head_bytes_max, client_timeout_s, listen_backlog; exit status 0 after
//           SIGTERM/SIGINT, 1 when the address cannot be bound, 2 usage.
// SEE ALSO  health/snapshot.h, health/http.h, docs/HEALTH.md, rootfs hub-metrics.service
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/log.h"
#include "health/backup_status.h"
#include "health/http.h"
#include "health/snapshot.h"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;
constexpr long client_timeout_s = 5;  // A client that stalls cannot hold the exporter.
constexpr int listen_backlog = 16;
constexpr std::string_view default_listen = "127.0.0.1:9464";
constexpr std::string_view default_socket = "/run/hubbox/status.sock";
constexpr std::string_view usage =
    "usage: hub-metrics [--listen ADDRESS:PORT] [--socket PATH] [--backup-status FILE]\n"
    "  --listen  where to serve GET /metrics (default 127.0.0.1:9464; IPv6 as [::1]:9464)\n"
    "  --socket  hubd's status socket (default /run/hubbox/status.sock)\n"
    "  --backup-status  the backup status file (hubctl backup run; default: none)\n";

volatile std::sig_atomic_t stopping = 0;

void on_stop(int) {
    stopping = 1;
}

struct Address {
    sockaddr_storage storage{};
    socklen_t length = 0;
};

// "127.0.0.1:9464" or "[::1]:9464", numeric only; false if it is not one.
bool parse_address(std::string_view text, Address& address) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        return false;
    }
    std::string host(text.substr(0, colon));
    std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        return false;
    }
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        address.length = sizeof(sockaddr_in);
        return true;
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
        inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        address.length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

void send_all(int fd, std::string_view bytes) {
    // Bounded: every pass sends at least one byte or returns (SO_SNDTIMEO is set).
    while (!bytes.empty()) {
        ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            return;
        }
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
}

void respond(int fd, int status, std::string_view reason, std::string_view content_type,
             std::string_view body, std::string_view extra_header = "") {
    std::string head = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        status, reason, content_type, body.size(), extra_header);
    send_all(fd, head);
    send_all(fd, body);
}

std::string metrics_body(const std::string& socket_path, const std::string& backup_status) {
    std::string body;
    if (!backup_status.empty()) {
        auto read = hub::health::read_backup_status(backup_status);
        if (!read) {
            hub::base::log_warn("{}", read.error());
        }
        body = hub::health::backup_status_to_prometheus(read);
    }
    body +=
        "# HELP hubbox_up Whether hubd answered this scrape's status request.\n"
        "# TYPE hubbox_up gauge\n";
    auto snapshot = hub::health::fetch_snapshot(socket_path);
    if (!snapshot) {
        hub::base::log_warn("{}", snapshot.error());
        return body + "hubbox_up 0\n";
    }
    return body + "hubbox_up 1\n" + hub::health::to_prometheus(*snapshot);
}

void serve(int client, const std::string& socket_path, const std::string& backup_status) {
    timeval timeout{client_timeout_s, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    std::array<char, hub::health::http_head_bytes_max> buffer{};
    std::size_t have = 0;
    hub::health::HeadState state = hub::health::HeadState::incomplete;
    // Bounded: the buffer fills or the receive timeout ends it.
    while (state == hub::health::HeadState::incomplete && have < buffer.size()) {
        ssize_t got = recv(client, buffer.data() + have, buffer.size() - have, 0);
        if (got < 0 && errno == EINTR && !stopping) {
            continue;
        }
        if (got <= 0) {
            return;  // Closed or timed out before a whole request: nothing to answer.
        }
        have += static_cast<std::size_t>(got);
        state = hub::health::http_head_state(std::string_view(buffer.data(), have));
    }
    constexpr std::string_view text = "text/plain; charset=utf-8";
    if (state != hub::health::HeadState::complete) {
        respond(client, 431, "Request Header Fields Too Large", text,
                fmt::format("hub-metrics: a request head is at most {} bytes; send: GET "
                            "/metrics HTTP/1.1\n",
                            hub::health::http_head_bytes_max));
        return;
    }
    std::string_view head(buffer.data(), have);
    hub::health::HttpVerdict verdict = hub::health::judge_http_request(head);
    if (verdict.status != 200) {
        respond(client, verdict.status, verdict.reason, text,
                fmt::format("hub-metrics: {}\n", verdict.detail),
                verdict.status == 405 ? "Allow: GET\r\n" : "");
        return;
    }
    // The Prometheus text exposition format, version 0.0.4.
    respond(client, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
            metrics_body(socket_path, backup_status));
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hub-metrics");
    std::string listen_text(default_listen);
    std::string socket_path(default_socket);
    std::string backup_status;
    for (int i = 1; i < argc; i++) {
        std::string_view argument = argv[i];
        if ((argument == "--listen" || argument == "--socket") && i + 1 < argc) {
            (argument == "--listen" ? listen_text : socket_path) = argv[++i];
        } else if (argument == "--backup-status" && i + 1 < argc) {
            backup_status = argv[++i];
        } else if (argument == "--help" || argument == "-h") {
            std::fputs(usage.data(), stdout);
            return exit_ok;
        } else {
            std::fprintf(stderr, "hub-metrics: unknown argument '%s'\n%s", argv[i], usage.data());
            return exit_usage;
        }
    }
    Address address;
    if (!parse_address(listen_text, address)) {
        std::fprintf(stderr,
                     "hub-metrics: --listen %s: expected a numeric IPv4:port or [IPv6]:port, "
                     "e.g. 127.0.0.1:9464\n",
                     listen_text.c_str());
        return exit_usage;
    }
    struct sigaction action {};
    action.sa_handler = on_stop;  // No SA_RESTART: poll returns EINTR and the loop ends.
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(address.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(listener, reinterpret_cast<sockaddr*>(&address.storage), address.length) != 0 ||
        listen(listener, listen_backlog) != 0) {
        hub::base::log_error("--listen {}: {}", listen_text, std::strerror(errno));
        return exit_runtime;
    }
    hub::base::log_info("serving GET /metrics on {} from {}", listen_text, socket_path);
    while (!stopping) {
        pollfd wait{listener, POLLIN, 0};
        if (poll(&wait, 1, -1) <= 0) {
            continue;  // EINTR: a signal; the loop condition decides.
        }
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            continue;
        }
        serve(client, socket_path, backup_status);
        close(client);
    }
    close(listener);
    hub::base::log_info("stopped");
    return exit_ok;
}
