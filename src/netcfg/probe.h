// probe.h -- the troubleshooting probes: ping and a TCP connect test.
//
// Ping uses an ICMP datagram socket (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)), which
// needs no CAP_NET_RAW: the kernel allows it to groups in net.ipv4.ping_group_range
// (systemd's default is every group; docs/NETWORK.md, "Probes"). The kernel fills in the
// identifier and checks the replies belong to this socket. Both probes are bounded:
// count <= ping_count_max, timeout <= probe_timeout_s_max.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "netcfg/address.h"
#include "netcfg/listing.h"

namespace hub::netcfg {

struct PingOutcome {
    std::vector<PingReply> replies;
    std::string message;
};

// Errors: the socket cannot be made (the message names ping_group_range when that is why).
// Preconditions: 1 <= count <= ping_count_max, 1 <= timeout_s <= probe_timeout_s_max.
[[nodiscard]] Result<PingOutcome, std::string> ping(const IpAddress& address, std::uint32_t count,
                                                    std::uint32_t timeout_s);

struct TcpOutcome {
    bool connected = false;
    std::string message;
};

// Precondition: 1 <= timeout_s <= probe_timeout_s_max.
TcpOutcome tcp_connect(const IpAddress& address, std::uint16_t port, std::uint32_t timeout_s);

}  // namespace hub::netcfg
