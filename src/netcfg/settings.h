// settings.h -- the box's network settings and their file, network.conf.
//
// Settings are what the administrator asked for: per interface (only the facts set, so an
// interface nobody touched keeps what the kernel or DHCP gave it), static routes, DNS
// resolvers, the host name, and which sources may reach each service. hub-netcfg keeps
// them in <state>/network.conf (written whole through rename) and applies them at boot.
//
// The file is a strict line format, one fact a line, in a fixed order (format_settings
// writes it; parse_settings reads only what it would write, up to comments and blank
// lines):
//
//   # comment
//   version 1
//   hostname NAME
//   interface NAME [up|down] [mtu N]
//   address NAME ADDRESS/LENGTH
//   route DESTINATION via GATEWAY        (DESTINATION: default or NETWORK/LENGTH)
//   resolver ADDRESS
//   ssh on|off
//   access SERVICE any|NETWORK/LENGTH    (SERVICE: ssh, smtp, enrollment, snmp)
//
// See docs/NETWORK.md ("network.conf").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "netcfg/address.h"
#include "netcfg/protocol.h"

namespace hub::netcfg {

inline constexpr std::uint32_t settings_version = 1;

// The services whose sources the firewall limits (docs/NETWORK.md, "Service access").
enum class Service : std::uint8_t { ssh = 0, smtp = 1, enrollment = 2, snmp = 3 };
inline constexpr std::size_t service_count = 4;
inline constexpr std::array<Service, service_count> all_services = {
    Service::ssh, Service::smtp, Service::enrollment, Service::snmp};
std::string_view service_name(Service service);  // "ssh", "smtp", "enrollment", "snmp"
std::optional<Service> parse_service(std::string_view name);
std::string_view service_ports(Service service);  // "tcp 22", "tcp 25, 465", ...

struct Access {
    bool any = false;             // From every address (then sources is empty).
    std::vector<Prefix> sources;  // Networks (host bits zero), sorted, no duplicates.
    bool operator==(const Access&) const = default;
};

struct InterfaceSettings {
    std::string name;
    std::optional<bool> up;            // nullopt: left as it is.
    std::optional<std::uint32_t> mtu;  // nullopt: left as it is.
    std::vector<Prefix> addresses;     // Static addresses, sorted; others are removed.
    bool operator==(const InterfaceSettings&) const = default;
};

struct Route {
    Prefix destination;  // Host bits zero; length 0 is the default route.
    IpAddress gateway;
    auto operator<=>(const Route&) const = default;
};

struct Settings {
    std::string hostname;                       // Empty: not set.
    std::vector<InterfaceSettings> interfaces;  // Sorted by name.
    std::vector<Route> routes;                  // Sorted.
    std::vector<IpAddress> resolvers;           // In the order given (resolv.conf's order).
    bool ssh_enabled = false;
    std::array<Access, service_count> access;

    // What a new box has: SMTP and the enrollment page from anywhere, SSH off and closed,
    // SNMP closed -- the same as rootfs/etc/nftables.conf before hub-netcfg runs.
    static Settings defaults();
    const InterfaceSettings* find_interface(std::string_view name) const;
    InterfaceSettings& interface(std::string_view name);  // Added (sorted) when absent.
    Access& access_for(Service service) { return access[static_cast<std::size_t>(service)]; }
    const Access& access_for(Service service) const {
        return access[static_cast<std::size_t>(service)];
    }
    bool operator==(const Settings&) const = default;
};

// Puts lists into their canonical order (addresses, routes, sources sorted; interfaces by
// name) so that equal settings format to equal text.
void normalize(Settings& settings);

// The rules that hold for every settings value hub-netcfg applies or stores: bounds, no
// address on two interfaces, networks without host bits, every route's gateway on a
// network of a configured interface address and not one of the box's own addresses, no two
// routes to one destination, no duplicate resolvers or sources. The error names the first
// fact that breaks a rule and what to do about it; its code is invalid_value for a value
// out of its range and conflict for facts that clash (duplicates, unreachable gateways).
[[nodiscard]] Result<void, Refusal> validate(const Settings& settings);

// network.conf <-> Settings. parse_settings checks syntax, then validate(); errors start
// with "line N: " when a line is at fault.
[[nodiscard]] Result<Settings, std::string> parse_settings(std::string_view text);
std::string format_settings(const Settings& settings);  // Precondition: validate() passed.

// resolv.conf and hostname as hub-netcfg writes them next to network.conf.
std::string format_resolv_conf(const Settings& settings);
std::string format_hostname_file(const Settings& settings);  // Empty when no host name.

}  // namespace hub::netcfg
