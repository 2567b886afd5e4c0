// planner.cc -- checking a change and planning its settings (planner.h).
//
// PURPOSE   Turn one typed request into new settings that pass validate(), or a refusal
//           that says what is wrong; decide whether the change needs a confirmation.
// RUNS IN   hub-netcfg, before anything touches the kernel or the firewall.
// TRUST     The request comes from the console's account or root, but every value is
//           still text from outside: each is parsed here.
// LIMITS    Those of validate() (netcfg/limits.h).
// SEE ALSO  netcfg/settings.h, netcfg/rollback.h, docs/NETWORK.md ("Safe changes").

#include "netcfg/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace hub::netcfg {

namespace {

Unexpected<Refusal> refuse(ErrorCode code, std::string message) {
    return unexpected(Refusal{code, std::move(message)});
}

Result<const InterfaceInfo*, Refusal> live_interface(const LiveView& live, std::string_view name) {
    if (std::string problem = interface_name_problem(name); !problem.empty()) {
        return refuse(ErrorCode::invalid_value, fmt::format("interface \"{}\": {}", name, problem));
    }
    const InterfaceInfo* info = live.find(name);
    if (info == nullptr) {
        return refuse(ErrorCode::not_found,
                      fmt::format("there is no interface {} on this box", name));
    }
    return info;
}

Result<Prefix, Refusal> address_value(const Message& request) {
    auto address = parse_prefix(request.get(Field::address));
    if (!address) {
        return refuse(ErrorCode::invalid_value, address.error());
    }
    return *address;
}

// The interface whose addresses hold the session's server address, if any.
const InterfaceInfo* session_interface(const LiveView& live, const Session& session) {
    for (const InterfaceInfo& info : live.interfaces) {
        for (const Prefix& address : info.addresses) {
            if (address.address == session.server) {
                return &info;
            }
        }
    }
    return nullptr;
}

// Whether a route to destination would carry the session's packets: it contains the
// client, and no connected network (more specific than it) does.
bool route_carries(const Prefix& destination, const LiveView& live, const Session& session) {
    if (!contains(destination, session.client)) {
        return false;
    }
    for (const InterfaceInfo& info : live.interfaces) {
        for (const Prefix& address : info.addresses) {
            if (address.length > destination.length && contains(address, session.client)) {
                return false;
            }
        }
    }
    return true;
}

struct Change {
    Settings next;
    std::string description;
    std::optional<std::string> interface;    // Touches this interface.
    std::vector<Prefix> route_destinations;  // Touches routes to these.
    bool access_changed = false;             // Touches who may reach SSH.
};

Result<void, Refusal> plan_address(Change& change, const Message& request, const LiveView& live) {
    const std::string& name = request.get(Field::interface);
    auto info = live_interface(live, name);
    if (!info) {
        return unexpected(info.error());
    }
    auto address = address_value(request);
    if (!address) {
        return unexpected(address.error());
    }
    auto& addresses = change.next.interface(name).addresses;
    auto same = std::find(addresses.begin(), addresses.end(), *address);
    auto same_ip = std::find_if(addresses.begin(), addresses.end(),
                                [&](const Prefix& p) { return p.address == address->address; });
    switch (request.kind) {
        case Kind::set_address:
            std::erase_if(addresses, [&](const Prefix& p) {
                return p.address.family == address->address.family;
            });
            addresses.push_back(*address);
            break;
        case Kind::add_address:
            if (same_ip != addresses.end()) {
                return refuse(ErrorCode::conflict,
                              fmt::format("{} has {} already", name, to_string(*same_ip)));
            }
            addresses.push_back(*address);
            break;
        case Kind::delete_address:
            if (same == addresses.end()) {
                return refuse(ErrorCode::not_found,
                              fmt::format("{} has no static address {} (list_interfaces shows "
                                          "what it has; only addresses set here can be deleted)",
                                          name, to_string(*address)));
            }
            addresses.erase(same);
            break;
        default:
            HUB_PANIC("plan_address: not an address request");
    }
    change.description =
        fmt::format("{} {} {}", kind_name(request.kind), name, to_string(*address));
    change.interface = name;
    return {};
}

Result<void, Refusal> plan_link(Change& change, const Message& request, const LiveView& live) {
    const std::string& name = request.get(Field::interface);
    auto info = live_interface(live, name);
    if (!info) {
        return unexpected(info.error());
    }
    if (request.kind == Kind::set_link) {
        std::string_view state = request.get(Field::state);
        if (state != "up" && state != "down") {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("state \"{}\": an interface is set up or down", state));
        }
        change.next.interface(name).up = state == "up";
        change.description = fmt::format("set_link {} {}", name, state);
    } else {
        std::string_view text = request.get(Field::mtu);
        std::uint32_t mtu = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), mtu);
        if (error != std::errc() || end != text.data() + text.size() || text.size() > 6) {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("MTU \"{}\" is not a number", text));
        }
        change.next.interface(name).mtu = mtu;
        change.description = fmt::format("set_mtu {} {}", name, mtu);
    }
    change.interface = name;
    return {};
}

Result<void, Refusal> plan_route(Change& change, const Message& request) {
    auto gateway = parse_address(request.get(Field::gateway));
    if (!gateway) {
        return refuse(ErrorCode::invalid_value, "gateway: " + gateway.error());
    }
    std::string destination_text =
        request.kind == Kind::set_default_gateway ? "default" : request.get(Field::destination);
    auto destination = parse_destination(destination_text, gateway->family);
    if (!destination) {
        return refuse(ErrorCode::invalid_value, "destination: " + destination.error());
    }
    if (destination->address.family != gateway->family) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("route {} via {}: one is IPv4, the other IPv6", destination_text,
                                  to_string(*gateway)));
    }
    Route route{*destination, *gateway};
    auto& routes = change.next.routes;
    bool present = std::find(routes.begin(), routes.end(), route) != routes.end();
    std::string shown =
        fmt::format("{} via {}", destination_string(route.destination), to_string(route.gateway));
    switch (request.kind) {
        case Kind::set_default_gateway:
            std::erase_if(routes,
                          [&](const Route& r) { return r.destination == route.destination; });
            routes.push_back(route);
            break;
        case Kind::add_route:
            if (present) {
                return refuse(ErrorCode::conflict,
                              fmt::format("the route {} exists already", shown));
            }
            routes.push_back(route);
            break;
        case Kind::delete_route:
            if (!present) {
                return refuse(ErrorCode::not_found,
                              fmt::format("there is no route {} in the settings", shown));
            }
            std::erase(routes, route);
            break;
        default:
            HUB_PANIC("plan_route: not a route request");
    }
    change.description = fmt::format("{} {}", kind_name(request.kind), shown);
    change.route_destinations.push_back(route.destination);
    return {};
}

Result<void, Refusal> plan_names(Change& change, const Message& request) {
    if (request.kind == Kind::set_hostname) {
        change.next.hostname = request.get(Field::hostname);
        change.description = fmt::format("set_hostname {}", change.next.hostname);
        return {};
    }
    change.next.resolvers.clear();
    for (const std::string& text : request.all(Field::resolver)) {
        auto resolver = parse_address(text);
        if (!resolver) {
            return refuse(ErrorCode::invalid_value, "resolver: " + resolver.error());
        }
        change.next.resolvers.push_back(*resolver);
    }
    change.description = fmt::format("set_resolvers ({})", change.next.resolvers.size());
    return {};
}

Result<void, Refusal> plan_access(Change& change, const Message& request) {
    if (request.kind == Kind::set_ssh) {
        std::string_view state = request.get(Field::state);
        if (state != "on" && state != "off") {
            return refuse(ErrorCode::invalid_value,
                          fmt::format("state \"{}\": SSH is switched on or off", state));
        }
        change.next.ssh_enabled = state == "on";
        change.description = fmt::format("set_ssh {}", state);
        change.access_changed = true;
        return {};
    }
    auto service = parse_service(request.get(Field::service));
    if (!service) {
        return refuse(ErrorCode::invalid_value,
                      fmt::format("service \"{}\": one of ssh, smtp, enrollment, snmp",
                                  request.get(Field::service)));
    }
    Access access;
    const auto& sources = request.all(Field::source);
    for (const std::string& text : sources) {
        if (text == "any") {
            if (sources.size() != 1) {
                return refuse(ErrorCode::invalid_value,
                              "\"any\" stands alone: it already includes every network");
            }
            access.any = true;
            continue;
        }
        auto source = parse_prefix(text);
        if (!source) {
            return refuse(ErrorCode::invalid_value, source.error());
        }
        access.sources.push_back(*source);
    }
    std::sort(access.sources.begin(), access.sources.end());
    change.next.access_for(*service) = access;
    change.description =
        fmt::format("set_service_access {} ({})", service_name(*service),
                    access.any ? std::string("any") : fmt::format("{} networks", sources.size()));
    change.access_changed = *service == Service::ssh;
    return {};
}

// Which part of the SSH session the change touches, or empty when none.
std::string session_risk(const Change& change, const Settings& current, const LiveView& live,
                         const Session& session) {
    if (change.interface) {
        const InterfaceInfo* carrying = session_interface(live, session);
        if (carrying != nullptr && carrying->name == *change.interface) {
            return fmt::format("the SSH session arrives on {} ({})", carrying->name,
                               to_string(session.server));
        }
    }
    for (const Prefix& destination : change.route_destinations) {
        if (route_carries(destination, live, session)) {
            return fmt::format("the route to {} carries the SSH session from {}",
                               destination_string(destination), to_string(session.client));
        }
    }
    if (change.access_changed && access_allows(current, Service::ssh, session.client) &&
        !access_allows(change.next, Service::ssh, session.client)) {
        return fmt::format("the firewall would no longer let {} reach SSH",
                           to_string(session.client));
    }
    return {};
}

}  // namespace

const InterfaceInfo* LiveView::find(std::string_view name) const {
    auto found = std::find_if(interfaces.begin(), interfaces.end(),
                              [&](const InterfaceInfo& info) { return info.name == name; });
    return found == interfaces.end() ? nullptr : &*found;
}

Result<Session, std::string> parse_session(std::string_view text) {
    std::string bad = fmt::format(
        "session \"{}\": expected SSH_CONNECTION's form, CLIENT CPORT SERVER SPORT", text);
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at <= text.size() && words.size() <= 4) {
        std::size_t space = std::min(text.find(' ', at), text.size());
        words.push_back(text.substr(at, space - at));
        at = space + 1;
    }
    if (words.size() != 4) {
        return unexpected(bad);
    }
    auto client = parse_address(words[0]);
    auto server = parse_address(words[2]);
    if (!client || !server) {
        return unexpected(bad);
    }
    return Session{*client, *server};
}

Settings restorable(const Settings& current, const Settings& next, const LiveView& live) {
    Settings before = current;
    for (const InterfaceSettings& interface : next.interfaces) {
        const InterfaceInfo* info = live.find(interface.name);
        const InterfaceSettings* had = current.find_interface(interface.name);
        if (info == nullptr) {
            continue;
        }
        if (interface.mtu && (had == nullptr || !had->mtu)) {
            before.interface(interface.name).mtu = info->mtu;
        }
        if (interface.up && (had == nullptr || !had->up)) {
            before.interface(interface.name).up = info->up;
        }
    }
    HUB_ASSERT(before.interfaces.size() >= current.interfaces.size());
    return before;
}

bool access_allows(const Settings& settings, Service service, const IpAddress& source) {
    if (service == Service::ssh && !settings.ssh_enabled) {
        return false;
    }
    const Access& access = settings.access_for(service);
    return access.any ||
           std::any_of(access.sources.begin(), access.sources.end(),
                       [&](const Prefix& network) { return contains(network, source); });
}

Result<Plan, Refusal> plan_change(const Settings& current, const Message& request,
                                  const LiveView& live) {
    HUB_ASSERT(is_change(request.kind));
    std::optional<Session> session;
    if (request.has(Field::session)) {
        auto parsed = parse_session(request.get(Field::session));
        if (!parsed) {
            return refuse(ErrorCode::bad_request, parsed.error());
        }
        session = *parsed;
    }
    if (request.has(Field::confirm) && request.get(Field::confirm) != "always") {
        return refuse(ErrorCode::bad_request, "confirm: the only value is \"always\"");
    }
    Change change{current, {}, std::nullopt, {}, false};
    Result<void, Refusal> planned;
    switch (request.kind) {
        case Kind::set_address:
        case Kind::add_address:
        case Kind::delete_address:
            planned = plan_address(change, request, live);
            break;
        case Kind::set_link:
        case Kind::set_mtu:
            planned = plan_link(change, request, live);
            break;
        case Kind::set_default_gateway:
        case Kind::add_route:
        case Kind::delete_route:
            planned = plan_route(change, request);
            break;
        case Kind::set_resolvers:
        case Kind::set_hostname:
            planned = plan_names(change, request);
            break;
        case Kind::set_service_access:
        case Kind::set_ssh:
            planned = plan_access(change, request);
            break;
        default:
            HUB_PANIC("plan_change: not a change");
    }
    if (!planned) {
        return unexpected(planned.error());
    }
    normalize(change.next);
    if (auto valid = validate(change.next); !valid) {
        return refuse(valid.error().code, fmt::format("{} would leave this wrong: {}",
                                                      change.description, valid.error().message));
    }
    Plan plan{change.next, change.description, false, {}};
    if (session) {
        plan.risk = session_risk(change, current, live, *session);
    }
    if (plan.risk.empty() && request.has(Field::confirm)) {
        plan.risk = "a confirmation was asked for";
    }
    plan.risky = !plan.risk.empty();
    return plan;
}

}  // namespace hub::netcfg
