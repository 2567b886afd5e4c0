// probe.cc -- ping over an ICMP datagram socket and a TCP connect test (probe.h).
//
// PURPOSE   Let the administrator check a path to a partner from the box itself.
// RUNS IN   hub-netcfg, one probe at a time (the daemon answers one request at a time).
// TRUST     The target is any address the console's account names; the probes only send
//           echo requests and open (then close) one TCP connection.
// LIMITS    ping_count_max, ping_interval_ms, probe_timeout_s_max, ping_payload_bytes.
// SEE ALSO  docs/NETWORK.md ("Probes").

#include "netcfg/probe.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "netcfg/limits.h"

namespace hub::netcfg {

namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

socklen_t socket_address(const IpAddress& address, std::uint16_t port, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof(out));
    if (address.family == Family::ipv4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        std::memcpy(&v4->sin_addr, address.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, address.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

// Reads the replies that have arrived; records each sequence number once.
void take_replies(int fd, bool v6, const std::vector<std::int64_t>& sent_us,
                  std::vector<PingReply>& replies) {
    std::uint8_t packet[1024];
    while (true) {
        ssize_t got = ::recv(fd, packet, sizeof(packet), MSG_DONTWAIT);
        if (got < 8) {
            return;
        }
        std::uint8_t type = packet[0];
        bool echo_reply = v6 ? type == ICMP6_ECHO_REPLY : type == ICMP_ECHOREPLY;
        std::uint16_t sequence = static_cast<std::uint16_t>((packet[6] << 8) | packet[7]);
        if (!echo_reply || sequence == 0 || sequence > sent_us.size()) {
            continue;
        }
        bool seen = std::any_of(replies.begin(), replies.end(),
                                [&](const PingReply& r) { return r.sequence == sequence; });
        if (!seen) {
            auto rtt = now_us() - sent_us[sequence - 1];
            replies.push_back(
                PingReply{sequence, static_cast<std::uint32_t>(std::max<std::int64_t>(rtt, 0))});
        }
    }
}

}  // namespace

Result<PingOutcome, std::string> ping(const IpAddress& address, std::uint32_t count,
                                      std::uint32_t timeout_s) {
    HUB_ASSERT(count >= 1 && count <= ping_count_max);
    HUB_ASSERT(timeout_s >= 1 && timeout_s <= probe_timeout_s_max);
    bool v6 = address.family == Family::ipv6;
    Fd socket{::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC,
                       v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP})};
    if (socket.fd < 0) {
        int error = errno;
        return unexpected(fmt::format(
            "ping socket: {}{}", std::strerror(error),
            error == EACCES ? " (this group is outside net.ipv4.ping_group_range)" : ""));
    }
    sockaddr_storage target{};
    socklen_t target_bytes = socket_address(address, 0, target);
    std::vector<std::int64_t> sent_us;
    std::vector<PingReply> replies;
    std::string send_error;
    for (std::uint32_t sequence = 1; sequence <= count; sequence++) {
        std::uint8_t packet[8 + ping_payload_bytes] = {};
        packet[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
        packet[6] = static_cast<std::uint8_t>(sequence >> 8);
        packet[7] = static_cast<std::uint8_t>(sequence & 0xff);
        sent_us.push_back(now_us());
        if (::sendto(socket.fd, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&target),
                     target_bytes) < 0 &&
            send_error.empty()) {
            send_error = std::strerror(errno);
        }
        pollfd wait{socket.fd, POLLIN, 0};
        if (sequence<count&& ::poll(&wait, 1, static_cast<int>(ping_interval_ms))> 0) {
            take_replies(socket.fd, v6, sent_us, replies);
        }
    }
    std::int64_t deadline_us = now_us() + std::int64_t{timeout_s} * 1000 * 1000;
    while (replies.size() < count && now_us() < deadline_us) {
        pollfd wait{socket.fd, POLLIN, 0};
        int left_ms = static_cast<int>((deadline_us - now_us()) / 1000) + 1;
        if (::poll(&wait, 1, left_ms) > 0) {
            take_replies(socket.fd, v6, sent_us, replies);
        }
    }
    std::sort(replies.begin(), replies.end(),
              [](const PingReply& a, const PingReply& b) { return a.sequence < b.sequence; });
    PingOutcome outcome{replies, {}};
    if (replies.empty()) {
        outcome.message =
            fmt::format("no reply from {} to {} echo requests{}", to_string(address), count,
                        send_error.empty() ? "" : " (sending: " + send_error + ")");
        return outcome;
    }
    std::uint32_t low = UINT32_MAX;
    std::uint32_t high = 0;
    std::uint64_t sum = 0;
    for (const PingReply& reply : replies) {
        low = std::min(low, reply.rtt_us);
        high = std::max(high, reply.rtt_us);
        sum += reply.rtt_us;
    }
    outcome.message = fmt::format(
        "{} of {} replies from {}, rtt min/avg/max {:.3f}/{:.3f}/{:.3f} ms", replies.size(), count,
        to_string(address), low / 1000.0,
        static_cast<double>(sum) / static_cast<double>(replies.size()) / 1000.0, high / 1000.0);
    return outcome;
}

TcpOutcome tcp_connect(const IpAddress& address, std::uint16_t port, std::uint32_t timeout_s) {
    HUB_ASSERT(timeout_s >= 1 && timeout_s <= probe_timeout_s_max);
    std::string target = address.family == Family::ipv4
                             ? fmt::format("{}:{}", to_string(address), port)
                             : fmt::format("[{}]:{}", to_string(address), port);
    Fd socket{::socket(address.family == Family::ipv4 ? AF_INET : AF_INET6,
                       SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (socket.fd < 0) {
        return TcpOutcome{false, fmt::format("socket: {}", std::strerror(errno))};
    }
    sockaddr_storage peer{};
    socklen_t peer_bytes = socket_address(address, port, peer);
    std::int64_t start_us = now_us();
    if (::connect(socket.fd, reinterpret_cast<sockaddr*>(&peer), peer_bytes) != 0 &&
        errno != EINPROGRESS) {
        return TcpOutcome{false,
                          fmt::format("cannot connect to {}: {}", target, std::strerror(errno))};
    }
    pollfd wait{socket.fd, POLLOUT, 0};
    int ready = ::poll(&wait, 1, static_cast<int>(timeout_s * 1000));
    if (ready == 0) {
        return TcpOutcome{false, fmt::format("no answer from {} within {} s (a firewall dropping "
                                             "the SYN, or no route back)",
                                             target, timeout_s)};
    }
    int error = 0;
    socklen_t error_bytes = sizeof(error);
    ::getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &error_bytes);
    if (ready < 0 || error != 0) {
        return TcpOutcome{false, fmt::format("cannot connect to {}: {}", target,
                                             std::strerror(ready < 0 ? errno : error))};
    }
    auto elapsed_ms = (now_us() - start_us) / 1000;
    return TcpOutcome{true, fmt::format("connected to {} in {} ms", target, elapsed_ms)};
}

}  // namespace hub::netcfg
