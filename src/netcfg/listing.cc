// listing.cc -- listing items in answers (listing.h).
//
// PURPOSE   The one-line forms of interfaces, routes and ping replies, both ways.
// RUNS IN   hub-netcfg (format), the console's netcfg::Client (parse).
// TRUST     The client parses what the daemon sent; the daemon formats what the kernel
//           said (interface names are checked, odd ones are shown with '?').
// LIMITS    value_bytes_max per item (the addresses of one interface fit: 16 x 44 bytes).
// SEE ALSO  netcfg/protocol.h.

#include "netcfg/listing.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "netcfg/limits.h"
#include "netcfg/protocol.h"

namespace hub::netcfg {

namespace {

std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at <= line.size()) {
        std::size_t space = std::min(line.find(' ', at), line.size());
        words.push_back(line.substr(at, space - at));
        at = space + 1;
    }
    return words;
}

bool to_u32(std::string_view text, std::uint32_t& value) {
    if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

bool plain_word(std::string_view word) {
    return !word.empty() && word != "-" && std::all_of(word.begin(), word.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
}

std::string word_or_dash(std::string_view word) {
    return word.empty() ? std::string("-") : printable_text(word);
}

}  // namespace

std::string interface_name_problem(std::string_view name) {
    if (name.empty() || name.size() > interface_name_bytes_max) {
        return fmt::format("an interface name is 1..{} characters", interface_name_bytes_max);
    }
    if (name == "." || name == ".." || name == "-") {
        return "is not an interface name";
    }
    bool fine = std::all_of(name.begin(), name.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte < 0x7f && c != '/' && c != ':';
    });
    return fine ? std::string() : "has a character an interface name cannot have";
}

std::string format_item(const InterfaceInfo& info) {
    std::string out =
        fmt::format("interface {} {} {} {} {} {}", word_or_dash(info.name), word_or_dash(info.mac),
                    info.up ? "up" : "down", info.carrier ? "carrier" : "no-carrier",
                    word_or_dash(info.oper_state), info.mtu);
    for (const Prefix& address : info.addresses) {
        std::string next = " " + to_string(address);
        if (out.size() + next.size() > value_bytes_max) {
            break;  // XXX: an interface with more than ~20 addresses is listed in part.
        }
        out += next;
    }
    return out;
}

std::string format_item(const RouteInfo& info) {
    // "default" names its family through the gateway; a default route without one (a
    // point-to-point link) is written 0.0.0.0/0 or ::/0.
    std::string destination =
        info.gateway ? destination_string(info.destination) : to_string(info.destination);
    return fmt::format("route {} via {} dev {} proto {} {}", destination,
                       info.gateway ? to_string(*info.gateway) : std::string("-"),
                       word_or_dash(info.interface), word_or_dash(info.protocol),
                       info.managed ? "managed" : "other");
}

std::string format_item(const PingReply& reply) {
    return fmt::format("reply {} {}", reply.sequence, reply.rtt_us);
}

Result<InterfaceInfo, std::string> parse_interface_item(std::string_view line) {
    auto words = words_of(line);
    std::string bad = fmt::format("not an interface item: \"{}\"", line);
    if (words.size() < 7 || words[0] != "interface" || !plain_word(words[1]) ||
        (words[3] != "up" && words[3] != "down") ||
        (words[4] != "carrier" && words[4] != "no-carrier") || !plain_word(words[5])) {
        return unexpected(bad);
    }
    InterfaceInfo info;
    info.name = std::string(words[1]);
    info.mac = words[2] == "-" ? std::string() : std::string(words[2]);
    info.up = words[3] == "up";
    info.carrier = words[4] == "carrier";
    info.oper_state = std::string(words[5]);
    if (!to_u32(words[6], info.mtu) || (!info.mac.empty() && !plain_word(info.mac))) {
        return unexpected(bad);
    }
    for (std::size_t i = 7; i < words.size(); i++) {
        auto address = parse_prefix(words[i]);
        if (!address) {
            return unexpected(fmt::format("{}: {}", bad, address.error()));
        }
        info.addresses.push_back(*address);
    }
    return info;
}

Result<RouteInfo, std::string> parse_route_item(std::string_view line) {
    auto words = words_of(line);
    std::string bad = fmt::format("not a route item: \"{}\"", line);
    if (words.size() != 9 || words[0] != "route" || words[2] != "via" || words[4] != "dev" ||
        words[6] != "proto" || (words[8] != "managed" && words[8] != "other") ||
        !plain_word(words[7])) {
        return unexpected(bad);
    }
    RouteInfo info;
    if (words[3] != "-") {
        auto gateway = parse_address(words[3]);
        if (!gateway) {
            return unexpected(bad);
        }
        info.gateway = *gateway;
    }
    Family family = info.gateway                                   ? info.gateway->family
                    : words[1].find(':') != std::string_view::npos ? Family::ipv6
                                                                   : Family::ipv4;
    if (words[1] == "default" && !info.gateway) {
        return unexpected(bad);  // A default route without a gateway has no family here.
    }
    auto destination = parse_destination(words[1], family);
    if (!destination || (info.gateway && destination->address.family != family)) {
        return unexpected(bad);
    }
    info.destination = *destination;
    if (words[5] != "-") {
        if (!plain_word(words[5])) {
            return unexpected(bad);
        }
        info.interface = std::string(words[5]);
    }
    info.protocol = std::string(words[7]);
    info.managed = words[8] == "managed";
    return info;
}

Result<PingReply, std::string> parse_ping_item(std::string_view line) {
    auto words = words_of(line);
    PingReply reply;
    if (words.size() != 3 || words[0] != "reply" || !to_u32(words[1], reply.sequence) ||
        !to_u32(words[2], reply.rtt_us)) {
        return unexpected(fmt::format("not a ping reply item: \"{}\"", line));
    }
    return reply;
}

}  // namespace hub::netcfg
