// network.h -- the console's Network and Service access pages, carried out by hub-netcfg
// (the only process with CAP_NET_ADMIN). The console never changes a link, an address, a
// route or the firewall itself: it asks, and shows hub-netcfg's answer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "console/model.h"

namespace hub::hub_console {

class Network {
public:
    virtual ~Network() = default;
    // Any net_* or access_* action; the outcome of anything else is a refusal.
    virtual console::Outcome run(const console::Action& action) = 0;
};

// console::split_list's pieces as strings (what hub-netcfg's client and the directory take).
std::vector<std::string> split_list(std::string_view value);

// The Network that asks hub-netcfg on socket_path.
std::unique_ptr<Network> make_network(const std::string& socket_path);

}  // namespace hub::hub_console
