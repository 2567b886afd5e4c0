// network.cc -- the Network and Service access pages, through hub-netcfg (network.h).
//
// Each action is one netcfg::Client request; the console never changes a link, an
// address, a route or the firewall itself. A change that could cut an SSH session off
// comes back with a token (hub-netcfg's confirm timer): the outcome carries it and the
// model asks the administrator to keep or undo it (console::Model::keep_or_undo).
#include "programs/hub-console/network.h"

#include <fmt/format.h>

#include <charconv>

#include "console/checks.h"
#include "netcfg/client.h"

namespace hub::hub_console {

std::vector<std::string> split_list(std::string_view value) {
    std::vector<std::string_view> pieces = console::split_list(value);
    return {pieces.begin(), pieces.end()};
}

namespace {

using console::Action;
using console::ActionKind;
using console::Outcome;

constexpr std::uint32_t ping_count = 3;
constexpr std::uint32_t probe_timeout_s = 3;

Outcome failed(const netcfg::ClientError& error) {
    Outcome outcome;
    outcome.ok = false;
    outcome.message = error.message;
    return outcome;
}

Outcome from_change(const Result<netcfg::Change, netcfg::ClientError>& change) {
    if (!change) {
        return failed(change.error());
    }
    Outcome outcome;
    outcome.message = change->message;
    if (change->token) {
        outcome.confirm_token = *change->token;
        outcome.confirm_seconds = change->confirm_within_s;
    }
    return outcome;
}

Outcome from_text(const Result<std::string, netcfg::ClientError>& answer) {
    if (!answer) {
        return failed(answer.error());
    }
    Outcome outcome;
    outcome.message = *answer;
    return outcome;
}

template <typename Number>
Number number_of(std::string_view text) {
    Number number{};
    std::from_chars(text.data(), text.data() + text.size(), number);
    return number;  // The form's check let only digits in range through.
}

std::string access_text(const netcfg::Access& access) {
    if (access.any) {
        return "any";
    }
    if (access.sources.empty()) {
        return "none (closed)";
    }
    std::string text;
    for (const netcfg::Prefix& source : access.sources) {
        text += (text.empty() ? "" : ", ") + netcfg::to_string(source);
    }
    return text;
}

class NetcfgNetwork : public Network {
public:
    explicit NetcfgNetwork(const std::string& socket_path)
        : client_(netcfg::Client::from_environment(socket_path)) {}

    Outcome run(const Action& action) override {
        switch (action.kind) {
            case ActionKind::net_show:
                return show();
            case ActionKind::access_show:
                return access();
            case ActionKind::net_address:
                return address(action);
            case ActionKind::net_link:
                return from_change(
                    client_.set_link(action.field("interface"), action.target == "up"));
            case ActionKind::net_mtu:
                return from_change(client_.set_mtu(action.field("interface"),
                                                   number_of<std::uint32_t>(action.field("mtu"))));
            case ActionKind::net_gateway:
                return from_change(client_.set_default_gateway(action.field("gateway")));
            case ActionKind::net_route:
                return from_change(
                    action.target == "add"
                        ? client_.add_route(action.field("destination"), action.field("gateway"))
                        : client_.delete_route(action.field("destination"),
                                               action.field("gateway")));
            case ActionKind::net_dns:
                return from_change(client_.set_resolvers(split_list(action.field("servers"))));
            case ActionKind::net_hostname:
                return from_change(client_.set_hostname(action.field("hostname")));
            case ActionKind::net_ping:
                return ping(action.field("host"));
            case ActionKind::net_connect:
                return connect(action.field("host"), action.field("port"));
            case ActionKind::access_set:
                return access_set(action);
            case ActionKind::access_ssh:
                return from_change(client_.set_ssh(action.target == "enable"));
            case ActionKind::net_keep:
                return from_text(client_.confirm(action.target));
            case ActionKind::net_undo:
                return from_text(client_.revert(action.target));
            default:
                break;
        }
        Outcome outcome;
        outcome.ok = false;
        outcome.message = "not a network action";
        return outcome;
    }

private:
    Outcome show() {
        auto interfaces = client_.list_interfaces();
        if (!interfaces) {
            return failed(interfaces.error());
        }
        auto routes = client_.list_routes();
        if (!routes) {
            return failed(routes.error());
        }
        auto saved = client_.show_settings();
        if (!saved) {
            return failed(saved.error());
        }
        Outcome outcome;
        std::vector<std::string>& lines = outcome.lines;
        lines.push_back(fmt::format("Host name    {}", saved->settings.hostname.empty()
                                                           ? "(not set)"
                                                           : saved->settings.hostname));
        std::string resolvers;
        for (const netcfg::IpAddress& resolver : saved->settings.resolvers) {
            resolvers += (resolvers.empty() ? "" : " ") + netcfg::to_string(resolver);
        }
        lines.push_back("DNS servers  " + (resolvers.empty() ? std::string("(none)") : resolvers));
        lines.push_back("Interfaces:");
        for (const netcfg::InterfaceInfo& info : *interfaces) {
            std::string addresses;
            for (const netcfg::Prefix& address : info.addresses) {
                addresses += " " + netcfg::to_string(address);
            }
            lines.push_back(fmt::format("  {:<10} {:<4} {:<10} mtu {:<5} {}{}", info.name,
                                        info.up ? "up" : "down",
                                        info.carrier ? "carrier" : "no-carrier", info.mtu,
                                        info.mac.empty() ? "-" : info.mac, addresses));
        }
        lines.push_back("Routes:");
        for (const netcfg::RouteInfo& route : *routes) {
            lines.push_back(
                fmt::format("  {:<20} via {:<16} dev {:<8} {}{}",
                            route.destination.length == 0 ? std::string("default")
                                                          : netcfg::to_string(route.destination),
                            route.gateway ? netcfg::to_string(*route.gateway) : std::string("-"),
                            route.interface.empty() ? "-" : route.interface, route.protocol,
                            route.managed ? " (saved)" : ""));
        }
        if (saved->pending) {
            lines.push_back(fmt::format("Pending (not saved, undone in {} s): {}",
                                        saved->pending->seconds_left, saved->pending->what));
        }
        return outcome;
    }

    Outcome access() {
        auto saved = client_.show_settings();
        if (!saved) {
            return failed(saved.error());
        }
        Outcome outcome;
        outcome.lines.push_back(
            fmt::format("SSH is {}", saved->settings.ssh_enabled ? "enabled" : "disabled"));
        outcome.lines.emplace_back();
        outcome.lines.push_back(fmt::format("{:<12} {:<16} {}", "SERVICE", "PORTS", "SOURCES"));
        for (netcfg::Service service : netcfg::all_services) {
            outcome.lines.push_back(fmt::format("{:<12} {:<16} {}", netcfg::service_name(service),
                                                netcfg::service_ports(service),
                                                access_text(saved->settings.access_for(service))));
        }
        return outcome;
    }

    Outcome address(const Action& action) {
        const std::string& interface = action.field("interface");
        const std::string& address = action.field("address");
        if (action.target == "set") {
            return from_change(client_.set_address(interface, address));
        }
        if (action.target == "add") {
            return from_change(client_.add_address(interface, address));
        }
        return from_change(client_.delete_address(interface, address));
    }

    Outcome access_set(const Action& action) {
        std::optional<netcfg::Service> service = netcfg::parse_service(action.target);
        if (!service) {
            Outcome outcome;
            outcome.ok = false;
            outcome.message = "unknown service " + action.target;
            return outcome;
        }
        const std::string& value = action.field("sources");
        std::vector<std::string> sources =
            value == "none" ? std::vector<std::string>{} : split_list(value);
        return from_change(client_.set_service_access(*service, sources));
    }

    Outcome ping(const std::string& host) {
        auto result = client_.ping(host, ping_count, probe_timeout_s);
        if (!result) {
            return failed(result.error());
        }
        Outcome outcome;
        outcome.lines.push_back(fmt::format("ping {}: {} sent", host, result->sent));
        for (const netcfg::PingReply& reply : result->replies) {
            outcome.lines.push_back(fmt::format("  reply {}: {}.{:03} ms", reply.sequence,
                                                reply.rtt_us / 1000, reply.rtt_us % 1000));
        }
        outcome.lines.push_back(result->message);
        outcome.message = result->message;
        return outcome;
    }

    Outcome connect(const std::string& host, const std::string& port) {
        auto result = client_.tcp_test(host, number_of<std::uint16_t>(port), probe_timeout_s);
        if (!result) {
            return failed(result.error());
        }
        Outcome outcome;
        outcome.lines.push_back(result->message);
        outcome.message = result->connected ? "Connected" : "Not connected";
        return outcome;
    }

    netcfg::Client client_;
};

}  // namespace

std::unique_ptr<Network> make_network(const std::string& socket_path) {
    return std::make_unique<NetcfgNetwork>(socket_path);
}

}  // namespace hub::hub_console
