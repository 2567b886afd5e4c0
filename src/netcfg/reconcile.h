// reconcile.h -- the kernel's state and the steps that make it match the settings.
//
// Sans-I/O: rtnetlink.cc dumps the kernel into a KernelState; reconcile() compares it
// with the settings and lists the steps (each one netlink request) that make them agree;
// rtnetlink.cc carries them out. The same function applies a change, restores the state
// before a change (roll-back, or a failed step), and applies network.conf at boot, so there is
// one way the box's network is ever changed.
//
// What hub-netcfg owns (and so changes or removes):
//   - on an interface named in the settings: its MTU and up/down state when the settings give
//     them, and its permanent addresses (those without a lifetime, i.e. not from DHCP or
//     router advertisements; IPv6 link-local ones are the kernel's and are left alone);
//   - routes in the main table with protocol "static" (RTPROT_STATIC), which only hub-netcfg
//     installs on the box.
// Everything else (interfaces not named, DHCP addresses and routes, kernel routes) is left
// as it is. A route whose gateway's interface is down (or missing) is not installed until
// it is up again: the kernel would refuse it as unreachable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netcfg/listing.h"
#include "netcfg/planner.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

struct KernelAddress {
    int index = 0;  // The interface's.
    Prefix prefix;
    bool permanent = false;  // IFA_F_PERMANENT: set by hand, not by DHCP/SLAAC.
};

struct KernelLink {
    int index = 0;
    InterfaceInfo info;  // Addresses filled in from the address dump.
};

struct KernelState {
    std::vector<KernelLink> links;
    std::vector<KernelAddress> addresses;
    std::vector<RouteInfo> routes;  // Main table, unicast; managed = protocol static.

    const KernelLink* find(std::string_view name) const;
    LiveView view() const;
};

struct Step {
    enum class Op {
        delete_route,
        set_mtu,
        set_up,
        add_address,
        delete_address,
        set_down,
        add_route,
    };
    Op op = Op::add_route;
    std::string interface;  // Empty for routes.
    int index = 0;          // The interface's, for link and address steps.
    Prefix prefix;          // The address, or the route's destination.
    IpAddress gateway;      // Routes.
    std::uint32_t mtu = 0;  // set_mtu.
};
std::string describe(const Step& step);  // "add address 192.0.2.10/24 to eth0"

struct Reconciliation {
    std::vector<Step> steps;            // In the order to run them (Step::Op's order).
    std::vector<std::string> warnings;  // Interfaces named in the settings that do not exist.
};

Reconciliation reconcile(const KernelState& live, const Settings& settings);

}  // namespace hub::netcfg
