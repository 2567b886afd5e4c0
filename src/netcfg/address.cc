// address.cc -- parsing and printing addresses and prefixes (address.h).
//
// PURPOSE   One strict parser for every address that reaches hub-netcfg.
// RUNS IN   hub-netcfg, the console (client side), the fuzz targets.
// TRUST     Text from requests and from network.conf: bounded before inet_pton sees it.
// LIMITS    An address text is at most INET6_ADDRSTRLEN bytes; a prefix length 0..128.
// SEE ALSO  netcfg/settings.cc.

#include "netcfg/address.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace hub::netcfg {

namespace {

Result<std::uint8_t, std::string> parse_length(std::string_view text, Family family,
                                               std::string_view whole) {
    std::uint8_t max = prefix_length_max(family);
    bool digits =
        !text.empty() && text.size() <= 3 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || (text.size() > 1 && text[0] == '0')) {
        return unexpected(
            fmt::format("\"{}\": the prefix length after / must be a number 0..{}", whole, max));
    }
    unsigned value = 0;
    for (char c : text) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > max) {
        return unexpected(
            fmt::format("\"{}\": prefix length {} is out of range: an {} prefix is "
                        "0..{}",
                        whole, value, family == Family::ipv4 ? "IPv4" : "IPv6", max));
    }
    return static_cast<std::uint8_t>(value);
}

}  // namespace

std::uint8_t prefix_length_max(Family family) {
    return family == Family::ipv4 ? 32 : 128;
}

std::string_view family_name(Family family) {
    return family == Family::ipv4 ? "ipv4" : "ipv6";
}

Result<IpAddress, std::string> parse_address(std::string_view text) {
    char buffer[INET6_ADDRSTRLEN + 1] = {};
    if (text.empty() || text.size() >= sizeof(buffer)) {
        return unexpected(fmt::format("\"{}\" is not an IPv4 or IPv6 address", text));
    }
    std::memcpy(buffer, text.data(), text.size());
    IpAddress address;
    if (::inet_pton(AF_INET, buffer, address.bytes.data()) == 1) {
        address.family = Family::ipv4;
        return address;
    }
    if (text.find(':') != std::string_view::npos &&
        ::inet_pton(AF_INET6, buffer, address.bytes.data()) == 1) {
        address.family = Family::ipv6;
        return address;
    }
    return unexpected(fmt::format(
        "\"{}\" is not an IPv4 or IPv6 address (write e.g. 192.0.2.10 or 2001:db8::10)", text));
}

Result<Prefix, std::string> parse_prefix(std::string_view text) {
    std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) {
        return unexpected(fmt::format(
            "\"{}\" needs a prefix length: write it as ADDRESS/LENGTH, e.g. 192.0.2.10/24", text));
    }
    auto address = parse_address(text.substr(0, slash));
    if (!address) {
        return unexpected(address.error());
    }
    auto length = parse_length(text.substr(slash + 1), address->family, text);
    if (!length) {
        return unexpected(length.error());
    }
    return Prefix{*address, *length};
}

Result<Prefix, std::string> parse_destination(std::string_view text, Family family) {
    if (text == "default") {
        Prefix any;
        any.address.family = family;
        return any;
    }
    auto prefix = parse_prefix(text);
    if (!prefix) {
        return unexpected(prefix.error());
    }
    if (has_host_bits(*prefix)) {
        return unexpected(fmt::format("\"{}\" has host bits set: the network is {}", text,
                                      to_string(network_of(*prefix))));
    }
    return prefix;
}

std::string to_string(const IpAddress& address) {
    char buffer[INET6_ADDRSTRLEN] = {};
    int family = address.family == Family::ipv4 ? AF_INET : AF_INET6;
    const char* text = ::inet_ntop(family, address.bytes.data(), buffer, sizeof(buffer));
    HUB_ASSERT(text != nullptr);  // Only fails for a buffer too small, and it is not.
    return std::string(text);
}

std::string to_string(const Prefix& prefix) {
    return fmt::format("{}/{}", to_string(prefix.address), prefix.length);
}

std::string destination_string(const Prefix& prefix) {
    return prefix.length == 0 ? std::string("default") : to_string(prefix);
}

Prefix network_of(const Prefix& prefix) {
    HUB_ASSERT(prefix.length <= prefix_length_max(prefix.address.family));
    Prefix network = prefix;
    for (std::size_t bit = prefix.length; bit < network.address.byte_count() * 8; bit++) {
        network.address.bytes[bit / 8] =
            static_cast<std::uint8_t>(network.address.bytes[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    return network;
}

bool has_host_bits(const Prefix& prefix) {
    return network_of(prefix).address != prefix.address;
}

bool contains(const Prefix& network, const IpAddress& address) {
    if (network.address.family != address.family) {
        return false;
    }
    return network_of(Prefix{address, network.length}).address == network_of(network).address;
}

bool overlaps(const Prefix& a, const Prefix& b) {
    if (a.address.family != b.address.family) {
        return false;
    }
    const Prefix& shorter = a.length <= b.length ? a : b;
    const Prefix& longer = a.length <= b.length ? b : a;
    return contains(shorter, longer.address);
}

std::string unusable_reason(const IpAddress& address) {
    const auto& b = address.bytes;
    if (address.family == Family::ipv4) {
        if (b[0] == 0) {
            return "0.0.0.0/8 means \"this network\" and cannot be assigned";
        }
        if (b[0] == 127) {
            return "127.0.0.0/8 is loopback";
        }
        if (b[0] >= 224 && b[0] <= 239) {
            return "224.0.0.0/4 is multicast";
        }
        if (b[0] >= 240) {
            return "240.0.0.0/4 is reserved (and 255.255.255.255 is broadcast)";
        }
        return {};
    }
    bool zero_but_last =
        std::all_of(b.begin(), b.begin() + 15, [](std::uint8_t x) { return x == 0; });
    if (zero_but_last && b[15] == 0) {
        return ":: is the unspecified address";
    }
    if (zero_but_last && b[15] == 1) {
        return "::1 is loopback";
    }
    if (b[0] == 0xff) {
        return "ff00::/8 is multicast";
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
        return "fe80::/10 is link-local; the kernel makes those itself";
    }
    return {};
}

}  // namespace hub::netcfg
