// settings.cc -- the network settings, their rules and network.conf (settings.h).
//
// PURPOSE   One place that says what a valid network configuration is, and its file.
// RUNS IN   hub-netcfg (every change is checked here before anything is applied; the
//           file at boot), the console (show_settings), the fuzz target.
// TRUST     network.conf is written by hub-netcfg only, but is read back as untrusted: a
//           damaged file is refused line by line, never half-applied.
// LIMITS    netcfg/limits.h: settings_file_bytes_max, interfaces_count_max,
//           addresses_per_interface_max, routes_count_max, resolvers_count_max,
//           sources_per_service_max, mtu_min..mtu_max, hostname_bytes_max.
// SEE ALSO  netcfg/planner.cc (requests -> settings), docs/NETWORK.md ("network.conf").

#include "netcfg/settings.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "netcfg/limits.h"
#include "netcfg/listing.h"

namespace hub::netcfg {

namespace {

Unexpected<Refusal> refuse(ErrorCode code, std::string message) {
    return unexpected(Refusal{code, std::move(message)});
}

constexpr std::array<std::string_view, service_count> service_names = {"ssh", "smtp", "enrollment",
                                                                       "snmp"};

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at <= line.size()) {
        std::size_t space = line.find(' ', at);
        if (space == std::string_view::npos) {
            space = line.size();
        }
        words.push_back(line.substr(at, space - at));
        at = space + 1;
    }
    return words;
}

bool parse_u32(std::string_view text, std::uint32_t& value) {
    if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

std::string hostname_problem(std::string_view name) {
    if (name.size() > hostname_bytes_max) {
        return fmt::format("is {} characters; at most {}", name.size(), hostname_bytes_max);
    }
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= name.size(); i++) {
        if (i < name.size() && name[i] != '.') {
            char c = name[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) {
                return "may hold only letters, digits, '-' and '.' (RFC 1123)";
            }
            continue;
        }
        std::string_view label = name.substr(label_start, i - label_start);
        if (label.empty() || label.size() > 63) {
            return "has an empty label or one longer than 63 characters";
        }
        if (label.front() == '-' || label.back() == '-') {
            return "has a label that starts or ends with '-'";
        }
        label_start = i + 1;
    }
    return {};
}

Result<void, Refusal> check_interface(const InterfaceSettings& interface,
                                      std::vector<IpAddress>& own_addresses) {
    if (std::string problem = interface_name_problem(interface.name); !problem.empty()) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("interface \"{}\": {}", interface.name, problem));
    }
    if (interface.mtu && (*interface.mtu < mtu_min || *interface.mtu > mtu_max)) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("interface {}: MTU {} is out of range {}..{}", interface.name,
                                  *interface.mtu, mtu_min, mtu_max));
    }
    if (interface.addresses.size() > addresses_per_interface_max) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("interface {}: {} addresses; at most {}", interface.name,
                                  interface.addresses.size(), addresses_per_interface_max));
    }
    for (const Prefix& address : interface.addresses) {
        std::string where =
            fmt::format("interface {} address {}", interface.name, to_string(address));
        if (std::string reason = unusable_reason(address.address); !reason.empty()) {
            return refuse(ErrorCode::invalid_value, fmt::format("{}: {}", where, reason));
        }
        if (address.length == 0) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("{}: a prefix length of 0 is no network; use 1..{}", where,
                                      prefix_length_max(address.address.family)));
        }
        if (address.address.family == Family::ipv4 && address.length <= 30) {
            Prefix network = network_of(address);
            Prefix broadcast = network;
            for (std::size_t bit = address.length; bit < 32; bit++) {
                broadcast.address.bytes[bit / 8] = static_cast<std::uint8_t>(
                    broadcast.address.bytes[bit / 8] | (0x80u >> (bit % 8)));
            }
            if (address.address == network.address || address.address == broadcast.address) {
                return refuse(
                    ErrorCode::invalid_value,
                    fmt::format("{}: that is the {} address of {}; pick a host "
                                "address inside it",
                                where, address.address == network.address ? "network" : "broadcast",
                                to_string(network)));
            }
        }
        if (std::find(own_addresses.begin(), own_addresses.end(), address.address) !=
            own_addresses.end()) {
            return refuse(ErrorCode::conflict,
                          fmt::format("{}: {} is configured twice; an address belongs to one "
                                      "interface once",
                                      where, to_string(address.address)));
        }
        own_addresses.push_back(address.address);
    }
    return {};
}

Result<void, Refusal> check_routes(const Settings& settings,
                                   const std::vector<IpAddress>& own_addresses) {
    if (settings.routes.size() > routes_count_max) {
        return refuse(
            ErrorCode::invalid_value,
            fmt::format("{} routes; at most {}", settings.routes.size(), routes_count_max));
    }
    for (std::size_t i = 0; i < settings.routes.size(); i++) {
        const Route& route = settings.routes[i];
        std::string where = fmt::format("route {} via {}", destination_string(route.destination),
                                        to_string(route.gateway));
        if (route.destination.address.family != route.gateway.family) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("{}: the gateway's family differs from the "
                                      "destination's",
                                      where));
        }
        if (has_host_bits(route.destination)) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("{}: the destination has host bits set; the network "
                                      "is {}",
                                      where, to_string(network_of(route.destination))));
        }
        if (std::string reason = unusable_reason(route.gateway); !reason.empty()) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("{}: the gateway cannot be used: {}", where, reason));
        }
        if (std::find(own_addresses.begin(), own_addresses.end(), route.gateway) !=
            own_addresses.end()) {
            return refuse(ErrorCode::conflict,
                          fmt::format("{}: the gateway is one of this box's own addresses", where));
        }
        bool connected = std::any_of(
            settings.interfaces.begin(), settings.interfaces.end(), [&](const auto& interface) {
                return std::any_of(
                    interface.addresses.begin(), interface.addresses.end(),
                    [&](const Prefix& address) { return contains(address, route.gateway); });
            });
        if (!connected) {
            return refuse(ErrorCode::conflict,
                          fmt::format("{}: the gateway is not on any connected network (no "
                                      "interface address's network contains it); give an "
                                      "interface an address on its network first",
                                      where));
        }
        for (std::size_t j = 0; j < i; j++) {
            if (settings.routes[j].destination == route.destination) {
                return refuse(
                    ErrorCode::conflict,
                    fmt::format("two routes to {} (via {} and via {}); there is one "
                                "route to a destination: delete the other first",
                                destination_string(route.destination),
                                to_string(settings.routes[j].gateway), to_string(route.gateway)));
            }
        }
    }
    return {};
}

Result<void, Refusal> check_access(const Settings& settings) {
    for (Service service : all_services) {
        const Access& access = settings.access_for(service);
        std::string_view name = service_name(service);
        if (access.any && !access.sources.empty()) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("access {}: \"any\" and networks together; give one or "
                                      "the other",
                                      name));
        }
        if (access.sources.size() > sources_per_service_max) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("access {}: {} networks; at most {}", name,
                                      access.sources.size(), sources_per_service_max));
        }
        for (std::size_t i = 0; i < access.sources.size(); i++) {
            const Prefix& source = access.sources[i];
            if (has_host_bits(source)) {
                return refuse(
                    ErrorCode::invalid_value,
                    fmt::format(
                        "access {}: {} has host bits set; the network is {} (a single host is "
                        "ADDRESS/32 or ADDRESS/128)",
                        name, to_string(source), to_string(network_of(source))));
            }
            // Overlapping networks in one nftables interval set are refused by nft; say so
            // here, with the two networks, instead of passing on nft's message.
            for (std::size_t j = 0; j < i; j++) {
                if (access.sources[j] == source) {
                    return refuse(ErrorCode::conflict, fmt::format("access {}: {} is listed twice",
                                                                   name, to_string(source)));
                }
                if (overlaps(access.sources[j], source)) {
                    return refuse(
                        ErrorCode::conflict,
                        fmt::format("access {}: {} and {} overlap; list only the larger", name,
                                    to_string(access.sources[j]), to_string(source)));
                }
            }
        }
    }
    return {};
}

struct Parser {
    Settings settings;
    bool saw_version = false;
    bool saw_hostname = false;
    bool saw_ssh = false;

    Result<void, std::string> line(const std::vector<std::string_view>& words);
    Result<void, std::string> interface_line(const std::vector<std::string_view>& words);
};

Result<void, std::string> Parser::interface_line(const std::vector<std::string_view>& words) {
    std::string name(words[1]);
    if (std::string problem = interface_name_problem(name); !problem.empty()) {
        return unexpected(fmt::format("interface \"{}\": {}", name, problem));
    }
    if (settings.find_interface(name) != nullptr) {
        return unexpected(fmt::format("interface {} appears twice (or after its addresses)", name));
    }
    InterfaceSettings& interface = settings.interface(name);
    std::size_t at = 2;
    if (at < words.size() && (words[at] == "up" || words[at] == "down")) {
        interface.up = words[at] == "up";
        at++;
    }
    if (at + 1 < words.size() && words[at] == "mtu") {
        std::uint32_t mtu = 0;
        if (!parse_u32(words[at + 1], mtu)) {
            return unexpected(
                fmt::format("interface {}: \"{}\" is not an MTU", name, words[at + 1]));
        }
        interface.mtu = mtu;
        at += 2;
    }
    if (at != words.size()) {
        return unexpected(std::string("expected: interface NAME [up|down] [mtu N]"));
    }
    return {};
}

Result<void, std::string> Parser::line(const std::vector<std::string_view>& words) {
    std::string_view keyword = words[0];
    if (!saw_version) {
        if (words.size() != 2 || keyword != "version" || words[1] != "1") {
            return unexpected(std::string("the first line must be \"version 1\""));
        }
        saw_version = true;
        return {};
    }
    if (keyword == "hostname" && words.size() == 2 && !saw_hostname) {
        saw_hostname = true;
        settings.hostname = std::string(words[1]);
        return {};
    }
    if (keyword == "interface" && words.size() >= 2 && words.size() <= 5) {
        return interface_line(words);
    }
    if (keyword == "address" && words.size() == 3) {
        auto address = parse_prefix(words[2]);
        if (!address) {
            return unexpected(address.error());
        }
        if (std::string problem = interface_name_problem(words[1]); !problem.empty()) {
            return unexpected(fmt::format("interface \"{}\": {}", words[1], problem));
        }
        settings.interface(words[1]).addresses.push_back(*address);
        return {};
    }
    if (keyword == "route" && words.size() == 4 && words[2] == "via") {
        auto gateway = parse_address(words[3]);
        if (!gateway) {
            return unexpected(gateway.error());
        }
        auto destination = parse_destination(words[1], gateway->family);
        if (!destination) {
            return unexpected(destination.error());
        }
        settings.routes.push_back(Route{*destination, *gateway});
        return {};
    }
    if (keyword == "resolver" && words.size() == 2) {
        auto address = parse_address(words[1]);
        if (!address) {
            return unexpected(address.error());
        }
        settings.resolvers.push_back(*address);
        return {};
    }
    if (keyword == "ssh" && words.size() == 2 && (words[1] == "on" || words[1] == "off") &&
        !saw_ssh) {
        saw_ssh = true;
        settings.ssh_enabled = words[1] == "on";
        return {};
    }
    if (keyword == "access" && words.size() == 3) {
        auto service = parse_service(words[1]);
        if (!service) {
            return unexpected(
                fmt::format("access: unknown service \"{}\" (ssh, smtp, enrollment, "
                            "snmp)",
                            words[1]));
        }
        Access& access = settings.access_for(*service);
        if (words[2] == "any") {
            if (access.any) {
                return unexpected(fmt::format("access {} any appears twice", words[1]));
            }
            access.any = true;
            return {};
        }
        auto source = parse_prefix(words[2]);
        if (!source) {
            return unexpected(source.error());
        }
        access.sources.push_back(*source);
        return {};
    }
    return unexpected(
        fmt::format("\"{}\" is not a line network.conf has (or appears twice)", keyword));
}

}  // namespace

std::string_view service_name(Service service) {
    return service_names[static_cast<std::size_t>(service)];
}

std::optional<Service> parse_service(std::string_view name) {
    for (Service service : all_services) {
        if (service_name(service) == name) {
            return service;
        }
    }
    return std::nullopt;
}

std::string_view service_ports(Service service) {
    switch (service) {
        case Service::ssh:
            return "tcp 22";
        case Service::smtp:
            return "tcp 25, 465";
        case Service::enrollment:
            return "tcp 443";
        case Service::snmp:
            return "udp 161";
    }
    HUB_PANIC("unknown service");
}

Settings Settings::defaults() {
    Settings settings;
    settings.access_for(Service::smtp).any = true;
    settings.access_for(Service::enrollment).any = true;
    return settings;
}

const InterfaceSettings* Settings::find_interface(std::string_view name) const {
    auto found =
        std::find_if(interfaces.begin(), interfaces.end(),
                     [&](const InterfaceSettings& interface) { return interface.name == name; });
    return found == interfaces.end() ? nullptr : &*found;
}

InterfaceSettings& Settings::interface(std::string_view name) {
    auto at = std::lower_bound(interfaces.begin(), interfaces.end(), name,
                               [](const InterfaceSettings& interface, std::string_view key) {
                                   return interface.name < key;
                               });
    if (at != interfaces.end() && at->name == name) {
        return *at;
    }
    InterfaceSettings added;
    added.name = std::string(name);
    return *interfaces.insert(at, std::move(added));
}

void normalize(Settings& settings) {
    std::sort(settings.interfaces.begin(), settings.interfaces.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (InterfaceSettings& interface : settings.interfaces) {
        std::sort(interface.addresses.begin(), interface.addresses.end());
    }
    std::sort(settings.routes.begin(), settings.routes.end());
    for (Access& access : settings.access) {
        std::sort(access.sources.begin(), access.sources.end());
    }
}

Result<void, Refusal> validate(const Settings& settings) {
    if (!settings.hostname.empty()) {
        if (std::string problem = hostname_problem(settings.hostname); !problem.empty()) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("host name \"{}\" {}", settings.hostname, problem));
        }
    }
    if (settings.interfaces.size() > interfaces_count_max) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("{} interfaces; at most {}", settings.interfaces.size(),
                                  interfaces_count_max));
    }
    std::vector<IpAddress> own_addresses;
    for (std::size_t i = 0; i < settings.interfaces.size(); i++) {
        if (i > 0 && settings.interfaces[i - 1].name == settings.interfaces[i].name) {
            return refuse(ErrorCode::conflict,
                          fmt::format("interface {} appears twice", settings.interfaces[i].name));
        }
        if (auto checked = check_interface(settings.interfaces[i], own_addresses); !checked) {
            return checked;
        }
    }
    if (auto checked = check_routes(settings, own_addresses); !checked) {
        return checked;
    }
    if (settings.resolvers.size() > resolvers_count_max) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("{} resolvers; at most {} (the C library reads no more)",
                                  settings.resolvers.size(), resolvers_count_max));
    }
    for (std::size_t i = 0; i < settings.resolvers.size(); i++) {
        const IpAddress& resolver = settings.resolvers[i];
        bool zero = std::all_of(resolver.bytes.begin(), resolver.bytes.end(),
                                [](std::uint8_t b) { return b == 0; });
        bool multicast =
            resolver.family == Family::ipv4 ? resolver.bytes[0] >= 224 : resolver.bytes[0] == 0xff;
        if (zero || multicast) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("resolver {} cannot be a DNS server", to_string(resolver)));
        }
        if (std::find(settings.resolvers.begin(), settings.resolvers.begin() + static_cast<long>(i),
                      resolver) != settings.resolvers.begin() + static_cast<long>(i)) {
            return refuse(ErrorCode::conflict,
                          fmt::format("resolver {} is listed twice", to_string(resolver)));
        }
    }
    return check_access(settings);
}

Result<Settings, std::string> parse_settings(std::string_view text) {
    if (text.size() > settings_file_bytes_max) {
        return unexpected(fmt::format("network.conf is {} bytes; at most {}", text.size(),
                                      settings_file_bytes_max));
    }
    Parser parser;
    std::size_t line_number = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string_view::npos) {
            return unexpected(
                fmt::format("line {}: the file does not end with a newline "
                            "(cut short?)",
                            line_number + 1));
        }
        std::string_view line = text.substr(at, end - at);
        at = end + 1;
        line_number++;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        bool printable = std::all_of(line.begin(), line.end(), [](char c) {
            return (static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f) ||
                   c == ' ';
        });
        if (!printable) {
            return unexpected(
                fmt::format("line {}: characters network.conf never has", line_number));
        }
        auto words = split_words(line);
        if (std::any_of(words.begin(), words.end(), [](std::string_view w) { return w.empty(); })) {
            return unexpected(
                fmt::format("line {}: words are separated by one space", line_number));
        }
        if (auto parsed = parser.line(words); !parsed) {
            return unexpected(fmt::format("line {}: {}", line_number, parsed.error()));
        }
    }
    if (!parser.saw_version) {
        return unexpected(std::string("network.conf has no \"version 1\" line"));
    }
    normalize(parser.settings);
    if (auto valid = validate(parser.settings); !valid) {
        return unexpected(valid.error().message);
    }
    return std::move(parser.settings);
}

std::string format_settings(const Settings& settings) {
    HUB_ASSERT_SLOW(validate(settings).has_value());
    std::string out =
        "# network.conf -- written by hub-netcfg; change it with the console (docs/NETWORK.md).\n"
        "version 1\n";
    if (!settings.hostname.empty()) {
        out += fmt::format("hostname {}\n", settings.hostname);
    }
    for (const InterfaceSettings& interface : settings.interfaces) {
        out += fmt::format("interface {}", interface.name);
        if (interface.up) {
            out += *interface.up ? " up" : " down";
        }
        if (interface.mtu) {
            out += fmt::format(" mtu {}", *interface.mtu);
        }
        out += '\n';
        for (const Prefix& address : interface.addresses) {
            out += fmt::format("address {} {}\n", interface.name, to_string(address));
        }
    }
    for (const Route& route : settings.routes) {
        out += fmt::format("route {} via {}\n", destination_string(route.destination),
                           to_string(route.gateway));
    }
    for (const IpAddress& resolver : settings.resolvers) {
        out += fmt::format("resolver {}\n", to_string(resolver));
    }
    out += settings.ssh_enabled ? "ssh on\n" : "ssh off\n";
    for (Service service : all_services) {
        const Access& access = settings.access_for(service);
        if (access.any) {
            out += fmt::format("access {} any\n", service_name(service));
        }
        for (const Prefix& source : access.sources) {
            out += fmt::format("access {} {}\n", service_name(service), to_string(source));
        }
    }
    HUB_ASSERT(out.size() <= settings_file_bytes_max);  // Bounded by the count limits.
    return out;
}

std::string format_resolv_conf(const Settings& settings) {
    std::string out = "# resolv.conf -- written by hub-netcfg from network.conf.\n";
    for (const IpAddress& resolver : settings.resolvers) {
        out += fmt::format("nameserver {}\n", to_string(resolver));
    }
    return out;
}

std::string format_hostname_file(const Settings& settings) {
    return settings.hostname.empty() ? std::string() : settings.hostname + "\n";
}

}  // namespace hub::netcfg
