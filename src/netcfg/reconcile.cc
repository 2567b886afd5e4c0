// reconcile.cc -- steps from the kernel's state to the settings (reconcile.h).
//
// PURPOSE   Decide every netlink request hub-netcfg makes, without making any.
// RUNS IN   hub-netcfg (changes, roll-backs, apply-saved at boot).
// TRUST     The kernel's dump and validated settings.
// LIMITS    The steps are bounded by the settings' limits and the dump's size.
// SEE ALSO  netcfg/rtnetlink.cc (carries the steps out), docs/NETWORK.md.

#include "netcfg/reconcile.h"

#include "netcfg/limits.h"

#include <fmt/format.h>

#include <algorithm>

namespace hub::netcfg {

namespace {

bool link_local(const Prefix& prefix) {
    return prefix.address.family == Family::ipv6 && prefix.address.bytes[0] == 0xfe &&
           (prefix.address.bytes[1] & 0xc0) == 0x80;
}

// Whether the settings leave this interface up (its own state when they do not say).
bool ends_up(const InterfaceSettings& interface, const KernelLink& link) {
    return interface.up.value_or(link.info.up);
}

bool route_installable(const Route& route, const KernelState& live, const Settings& settings) {
    for (const InterfaceSettings& interface : settings.interfaces) {
        const KernelLink* link = live.find(interface.name);
        if (link == nullptr || !ends_up(interface, *link)) {
            continue;
        }
        for (const Prefix& address : interface.addresses) {
            if (contains(address, route.gateway)) {
                return true;
            }
        }
    }
    return false;
}

void link_steps(const InterfaceSettings& interface, const KernelLink& link, const KernelState& live,
                std::vector<Step>& steps) {
    if (interface.mtu && *interface.mtu != link.info.mtu) {
        steps.push_back(
            Step{Step::Op::set_mtu, interface.name, link.index, {}, {}, *interface.mtu});
    }
    if (interface.up && *interface.up != link.info.up) {
        steps.push_back(Step{*interface.up ? Step::Op::set_up : Step::Op::set_down,
                             interface.name,
                             link.index,
                             {},
                             {},
                             0});
    }
    for (const Prefix& address : interface.addresses) {
        bool present = std::any_of(
            live.addresses.begin(), live.addresses.end(),
            [&](const KernelAddress& a) { return a.index == link.index && a.prefix == address; });
        if (!present) {
            steps.push_back(
                Step{Step::Op::add_address, interface.name, link.index, address, {}, 0});
        }
    }
    for (const KernelAddress& address : live.addresses) {
        if (address.index != link.index || !address.permanent || link_local(address.prefix)) {
            continue;
        }
        if (std::find(interface.addresses.begin(), interface.addresses.end(), address.prefix) ==
            interface.addresses.end()) {
            steps.push_back(
                Step{Step::Op::delete_address, interface.name, link.index, address.prefix, {}, 0});
        }
    }
}

}  // namespace

const KernelLink* KernelState::find(std::string_view name) const {
    auto found = std::find_if(links.begin(), links.end(),
                              [&](const KernelLink& link) { return link.info.name == name; });
    return found == links.end() ? nullptr : &*found;
}

LiveView KernelState::view() const {
    LiveView view;
    for (const KernelLink& link : links) {
        view.interfaces.push_back(link.info);
    }
    view.routes = routes;
    return view;
}

std::string describe(const Step& step) {
    switch (step.op) {
        case Step::Op::delete_route:
            return fmt::format("delete route {} via {}", destination_string(step.prefix),
                               to_string(step.gateway));
        case Step::Op::set_mtu:
            return fmt::format("set the MTU of {} to {}", step.interface, step.mtu);
        case Step::Op::set_up:
            return fmt::format("bring {} up", step.interface);
        case Step::Op::add_address:
            return fmt::format("add address {} to {}", to_string(step.prefix), step.interface);
        case Step::Op::delete_address:
            return fmt::format("delete address {} from {}", to_string(step.prefix), step.interface);
        case Step::Op::set_down:
            return fmt::format("bring {} down", step.interface);
        case Step::Op::add_route:
            return fmt::format("add route {} via {}", destination_string(step.prefix),
                               to_string(step.gateway));
    }
    HUB_PANIC("describe: unknown step");
}

Reconciliation reconcile(const KernelState& live, const Settings& settings) {
    Reconciliation result;
    std::vector<Route> wanted;
    for (const Route& route : settings.routes) {
        if (route_installable(route, live, settings)) {
            wanted.push_back(route);
        }
    }
    for (const RouteInfo& route : live.routes) {
        if (!route.managed || !route.gateway) {
            continue;
        }
        Route present{route.destination, *route.gateway};
        if (std::find(wanted.begin(), wanted.end(), present) == wanted.end()) {
            result.steps.push_back(
                Step{Step::Op::delete_route, {}, 0, present.destination, present.gateway, 0});
        }
    }
    for (const InterfaceSettings& interface : settings.interfaces) {
        const KernelLink* link = live.find(interface.name);
        if (link == nullptr) {
            result.warnings.push_back(
                fmt::format("interface {} is in the settings but not on this box", interface.name));
            continue;
        }
        link_steps(interface, *link, live, result.steps);
    }
    for (const Route& route : wanted) {
        bool present = std::any_of(live.routes.begin(), live.routes.end(), [&](const RouteInfo& r) {
            return r.managed && r.gateway && r.destination == route.destination &&
                   *r.gateway == route.gateway;
        });
        if (!present) {
            result.steps.push_back(
                Step{Step::Op::add_route, {}, 0, route.destination, route.gateway, 0});
        }
    }
    std::stable_sort(result.steps.begin(), result.steps.end(),
                     [](const Step& a, const Step& b) { return a.op < b.op; });
    HUB_ASSERT(result.steps.size() <= 2 * (routes_count_max + live.routes.size()) +
                                          live.addresses.size() +
                                          interfaces_count_max * (addresses_per_interface_max + 2));
    return result;
}

}  // namespace hub::netcfg
