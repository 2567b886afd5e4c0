// address.h -- IPv4/IPv6 addresses and prefixes as values: parse, print, compare, contain.
//
// Every address hub-netcfg handles (requests, network.conf, netlink dumps) passes through
// these; parsing is strict (inet_pton's forms only, a decimal prefix length without
// leading zeros) and each error is a sentence that says what to fix.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::netcfg {

enum class Family : std::uint8_t { ipv4 = 4, ipv6 = 6 };

struct IpAddress {
    Family family = Family::ipv4;
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes, the rest zero.

    std::size_t byte_count() const { return family == Family::ipv4 ? 4 : 16; }
    auto operator<=>(const IpAddress&) const = default;
};

// An address with a prefix length: an interface address (host bits set) or a network
// (host bits zero; see has_host_bits).
struct Prefix {
    IpAddress address;
    std::uint8_t length = 0;

    auto operator<=>(const Prefix&) const = default;
};

std::uint8_t prefix_length_max(Family family);  // 32 or 128.
std::string_view family_name(Family family);    // "ipv4", "ipv6".

// "192.0.2.1", "2001:db8::1".
[[nodiscard]] Result<IpAddress, std::string> parse_address(std::string_view text);
// "192.0.2.1/24"; the length is required. "default" is not accepted here.
[[nodiscard]] Result<Prefix, std::string> parse_prefix(std::string_view text);
// A route destination: a prefix with zero host bits, or "default" (0.0.0.0/0 when
// family is ipv4, ::/0 when ipv6; family is then required).
[[nodiscard]] Result<Prefix, std::string> parse_destination(std::string_view text, Family family);

std::string to_string(const IpAddress& address);
std::string to_string(const Prefix& prefix);           // "a/len"
std::string destination_string(const Prefix& prefix);  // "default" for /0, else "a/len"

Prefix network_of(const Prefix& prefix);  // Host bits cleared.
bool has_host_bits(const Prefix& prefix);
bool contains(const Prefix& network, const IpAddress& address);  // Same family and inside.
bool overlaps(const Prefix& a, const Prefix& b);

// Addresses that cannot be an interface's or a gateway's: unspecified, loopback,
// multicast, IPv4 broadcast, IPv6 link-local (the kernel makes those). Empty when fine.
std::string unusable_reason(const IpAddress& address);

}  // namespace hub::netcfg
