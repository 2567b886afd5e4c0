// ask.cc -- `hub-netcfg ask VERB ARGS...` (ask.h).
//
// PURPOSE   Root's (and the tests') way to send hub-netcfg one typed request: each verb is
//           one netcfg::Client method, the same calls the console makes.
// RUNS IN   a short-lived hub-netcfg process with no privilege of its own.
// TRUST     Its arguments are passed on as they are; hub-netcfg checks them.
// LIMITS    Those of netcfg::Client.
// SEE ALSO  netcfg/client.h, docs/NETWORK.md ("hub-netcfg ask").

#include "ask.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <functional>
#include <map>

#include "netcfg/client.h"

namespace hub::netcfg {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;

bool number(const std::string& text, std::uint32_t& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

int refused(const ClientError& error) {
    std::fprintf(stderr, "refused (%s): %s\n", std::string(error_code_name(error.code)).c_str(),
                 error.message.c_str());
    return exit_refused;
}

int changed(const Result<Change, ClientError>& change) {
    if (!change) {
        return refused(change.error());
    }
    std::printf("%s\n", change->message.c_str());
    if (change->token) {
        std::printf("token %s %u\n", change->token->c_str(), change->confirm_within_s);
    }
    return exit_ok;
}

int said(const Result<std::string, ClientError>& answer) {
    if (!answer) {
        return refused(answer.error());
    }
    std::printf("%s\n", answer->c_str());
    return exit_ok;
}

using Words = std::vector<std::string>;
using Verb = std::function<int(const Client&, ConfirmMode, const Words&)>;

struct VerbRule {
    std::size_t min_args;
    std::size_t max_args;
    std::string_view usage;
    Verb run;
};

int list_interfaces(const Client& client, ConfirmMode, const Words&) {
    auto interfaces = client.list_interfaces();
    if (!interfaces) {
        return refused(interfaces.error());
    }
    for (const InterfaceInfo& info : *interfaces) {
        std::printf("%s\n", format_item(info).c_str());
    }
    return exit_ok;
}

int list_routes(const Client& client, ConfirmMode, const Words&) {
    auto routes = client.list_routes();
    if (!routes) {
        return refused(routes.error());
    }
    for (const RouteInfo& info : *routes) {
        std::printf("%s\n", format_item(info).c_str());
    }
    return exit_ok;
}

int show_settings(const Client& client, ConfirmMode, const Words&) {
    auto saved = client.show_settings();
    if (!saved) {
        return refused(saved.error());
    }
    std::printf("%s", format_settings(saved->settings).c_str());
    if (saved->pending) {
        std::printf("# pending: %s (token %s, %u s left)\n", saved->pending->what.c_str(),
                    saved->pending->token.c_str(), saved->pending->seconds_left);
    }
    return exit_ok;
}

int status(const Client& client, ConfirmMode, const Words&) {
    auto pending = client.status();
    if (!pending) {
        return refused(pending.error());
    }
    if (!*pending) {
        std::printf("nothing pending\n");
    } else {
        std::printf("pending %s %u %s\n", (*pending)->token.c_str(), (*pending)->seconds_left,
                    (*pending)->what.c_str());
    }
    return exit_ok;
}

int ping(const Client& client, ConfirmMode, const Words& args) {
    std::uint32_t count = 3;
    std::uint32_t timeout_s = 2;
    if ((args.size() > 1 && !number(args[1], count)) ||
        (args.size() > 2 && !number(args[2], timeout_s))) {
        return exit_usage;
    }
    auto result = client.ping(args[0], count, timeout_s);
    if (!result) {
        return refused(result.error());
    }
    for (const PingReply& reply : result->replies) {
        std::printf("%s\n", format_item(reply).c_str());
    }
    std::printf("%s\n", result->message.c_str());
    return result->replies.empty() ? exit_refused : exit_ok;
}

int tcp(const Client& client, ConfirmMode, const Words& args) {
    std::uint32_t port = 0;
    std::uint32_t timeout_s = 3;
    if (!number(args[1], port) || port > 65535 ||
        (args.size() > 2 && !number(args[2], timeout_s))) {
        return exit_usage;
    }
    auto result = client.tcp_test(args[0], static_cast<std::uint16_t>(port), timeout_s);
    if (!result) {
        return refused(result.error());
    }
    std::printf("%s\n", result->message.c_str());
    return result->connected ? exit_ok : exit_refused;
}

const std::map<std::string_view, VerbRule>& verbs() {
    static const std::map<std::string_view, VerbRule> table = {
        {"interfaces", {0, 0, "interfaces", list_interfaces}},
        {"routes", {0, 0, "routes", list_routes}},
        {"settings", {0, 0, "settings", show_settings}},
        {"status", {0, 0, "status", status}},
        {"set-address",
         {2, 2, "set-address INTERFACE ADDRESS/LENGTH",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.set_address(a[0], a[1], m));
          }}},
        {"add-address",
         {2, 2, "add-address INTERFACE ADDRESS/LENGTH",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.add_address(a[0], a[1], m));
          }}},
        {"delete-address",
         {2, 2, "delete-address INTERFACE ADDRESS/LENGTH",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.delete_address(a[0], a[1], m));
          }}},
        {"link",
         {2, 2, "link INTERFACE up|down",
          [](const Client& c, ConfirmMode m, const Words& a) {
              if (a[1] != "up" && a[1] != "down") {
                  return exit_usage;
              }
              return changed(c.set_link(a[0], a[1] == "up", m));
          }}},
        {"mtu",
         {2, 2, "mtu INTERFACE BYTES",
          [](const Client& c, ConfirmMode m, const Words& a) {
              std::uint32_t mtu = 0;
              return number(a[1], mtu) ? changed(c.set_mtu(a[0], mtu, m)) : exit_usage;
          }}},
        {"gateway",
         {1, 1, "gateway ADDRESS",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.set_default_gateway(a[0], m));
          }}},
        {"route-add",
         {2, 2, "route-add default|NETWORK/LENGTH GATEWAY",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.add_route(a[0], a[1], m));
          }}},
        {"route-delete",
         {2, 2, "route-delete default|NETWORK/LENGTH GATEWAY",
          [](const Client& c, ConfirmMode m, const Words& a) {
              return changed(c.delete_route(a[0], a[1], m));
          }}},
        {"resolvers",
         {0, 3, "resolvers [ADDRESS...]",
          [](const Client& c, ConfirmMode, const Words& a) {
              return changed(c.set_resolvers(a));
          }}},
        {"hostname",
         {1, 1, "hostname NAME",
          [](const Client& c, ConfirmMode, const Words& a) {
              return changed(c.set_hostname(a[0]));
          }}},
        {"access",
         {1, 65, "access ssh|smtp|enrollment|snmp [any | NETWORK/LENGTH...]",
          [](const Client& c, ConfirmMode m, const Words& a) {
              auto service = parse_service(a[0]);
              if (!service) {
                  return exit_usage;
              }
              return changed(c.set_service_access(*service, Words(a.begin() + 1, a.end()), m));
          }}},
        {"ssh",
         {1, 1, "ssh on|off",
          [](const Client& c, ConfirmMode m, const Words& a) {
              if (a[0] != "on" && a[0] != "off") {
                  return exit_usage;
              }
              return changed(c.set_ssh(a[0] == "on", m));
          }}},
        {"confirm",
         {1, 1, "confirm TOKEN",
          [](const Client& c, ConfirmMode, const Words& a) { return said(c.confirm(a[0])); }}},
        {"revert",
         {1, 1, "revert TOKEN",
          [](const Client& c, ConfirmMode, const Words& a) { return said(c.revert(a[0])); }}},
        {"ping", {1, 3, "ping ADDRESS [COUNT [TIMEOUT_S]]", ping}},
        {"tcp", {2, 3, "tcp ADDRESS PORT [TIMEOUT_S]", tcp}},
    };
    return table;
}

int usage() {
    std::fprintf(stderr,
                 "usage: hub-netcfg ask [--socket PATH] [--session S] [--always] VERB ...\n");
    for (const auto& [name, rule] : verbs()) {
        std::fprintf(stderr, "  %s\n", std::string(rule.usage).c_str());
    }
    return exit_usage;
}

}  // namespace

int ask(const std::string& socket_path, const std::string& session, bool always,
        const std::vector<std::string>& words) {
    if (words.empty()) {
        return usage();
    }
    auto verb = verbs().find(words[0]);
    if (verb == verbs().end()) {
        return usage();
    }
    Words args(words.begin() + 1, words.end());
    if (args.size() < verb->second.min_args || args.size() > verb->second.max_args) {
        std::fprintf(stderr, "usage: hub-netcfg ask %s\n", std::string(verb->second.usage).c_str());
        return exit_usage;
    }
    Client client(socket_path, session);
    int status =
        verb->second.run(client, always ? ConfirmMode::always : ConfirmMode::when_risky, args);
    if (status == exit_usage) {
        std::fprintf(stderr, "usage: hub-netcfg ask %s\n", std::string(verb->second.usage).c_str());
    }
    return status;
}

}  // namespace hub::netcfg
