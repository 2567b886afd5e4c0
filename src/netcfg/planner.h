// planner.h -- a change request -> the checked settings it leads to, or a refusal.
//
// Sans-I/O: takes the settings in force, the request (already decoded by protocol.cc) and
// what the kernel has now (interfaces with their addresses, routes), and returns the new
// settings, a one-line description, and whether the change could cut the administrator's
// SSH session off (then hub-netcfg applies it with the confirm-or-roll-back timer). Nothing
// is applied here; a refusal leaves everything as it was. See docs/NETWORK.md ("Safe
// changes").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "netcfg/listing.h"
#include "netcfg/protocol.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

// What the kernel has: every interface with its addresses, every route of the main table.
struct LiveView {
    std::vector<InterfaceInfo> interfaces;
    std::vector<RouteInfo> routes;

    const InterfaceInfo* find(std::string_view name) const;
};

// The administrator's SSH session, from SSH_CONNECTION ("CLIENT CPORT SERVER SPORT").
struct Session {
    IpAddress client;
    IpAddress server;
};
[[nodiscard]] Result<Session, std::string> parse_session(std::string_view text);

struct Plan {
    Settings next;
    std::string description;  // "set_address eth0 192.0.2.20/24"
    bool risky = false;       // Needs a confirmation within the window.
    std::string risk;         // Why, for the log and the answer ("the SSH session's address").
};

// Precondition: is_change(request.kind). Errors: bad_request (session), invalid_value,
// not_found (interface, address, route), conflict (duplicates, unreachable gateway).
[[nodiscard]] Result<Plan, Refusal> plan_change(const Settings& current, const Message& request,
                                                const LiveView& live);

// The settings to go back to if `next` fails or is rolled back: `current`, plus the
// kernel's present MTU and up/down state of every interface where `next` sets one that
// `current` left alone (settings that leave a fact alone would not restore it).
Settings restorable(const Settings& current, const Settings& next, const LiveView& live);

// Whether source may reach service under these settings (ssh also needs ssh on).
bool access_allows(const Settings& settings, Service service, const IpAddress& source);

}  // namespace hub::netcfg
