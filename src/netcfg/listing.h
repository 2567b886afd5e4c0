// listing.h -- what hub-netcfg lists, as values, and their one-line form in answers.
//
// An answer's item fields are lines of space-separated tokens; the daemon formats them and
// the client parses them back strictly (parse(format(x)) == x):
//
//   interface NAME MAC|- up|down carrier|no-carrier OPERSTATE MTU [ADDRESS/LENGTH ...]
//   route DESTINATION via GATEWAY|- dev NAME|- proto PROTOCOL managed|other
//   reply SEQUENCE RTT_US
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "netcfg/address.h"

namespace hub::netcfg {

struct InterfaceInfo {
    std::string name;
    std::string mac;         // "52:54:00:12:34:56"; empty when the link has none.
    bool up = false;         // Administratively up (IFF_UP).
    bool carrier = false;    // IFF_LOWER_UP.
    std::string oper_state;  // RFC 2863 operstate: up, down, dormant, unknown, ...
    std::uint32_t mtu = 0;
    std::vector<Prefix> addresses;  // Every address the kernel has, link-local included.
    bool operator==(const InterfaceInfo&) const = default;
};

struct RouteInfo {
    Prefix destination;                // Length 0: the default route.
    std::optional<IpAddress> gateway;  // nullopt: directly connected.
    std::string interface;             // Empty when none.
    std::string protocol;              // kernel, boot, static, dhcp, ra, or a number.
    bool managed = false;              // Installed by hub-netcfg from the settings.
    bool operator==(const RouteInfo&) const = default;
};

struct PingReply {
    std::uint32_t sequence = 0;
    std::uint32_t rtt_us = 0;
    bool operator==(const PingReply&) const = default;
};

std::string format_item(const InterfaceInfo& info);
std::string format_item(const RouteInfo& info);
std::string format_item(const PingReply& reply);
[[nodiscard]] Result<InterfaceInfo, std::string> parse_interface_item(std::string_view line);
[[nodiscard]] Result<RouteInfo, std::string> parse_route_item(std::string_view line);
[[nodiscard]] Result<PingReply, std::string> parse_ping_item(std::string_view line);

// An interface name the kernel would take: 1..15 bytes, no '/', ':', whitespace or
// control characters, not "." or "..". Empty when fine, else why not.
std::string interface_name_problem(std::string_view name);

}  // namespace hub::netcfg
