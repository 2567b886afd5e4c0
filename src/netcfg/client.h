// client.h -- netcfg::Client: the console's way to ask hub-netcfg, one method per request.
//
// Each method opens one connection to hub-netcfg's socket, sends one typed request and
// waits for the answer (blocking; at most client_answer_timeout_ms). Errors are values: a
// ClientError with the refusal's code and a message that says what is wrong and what to
// do, ready to show the administrator. Nothing here needs privilege: the console runs as
// its own account, and hub-netcfg decides from that account (SO_PEERCRED) whether to
// answer.
//
// Changes that could cut the administrator off (the address, route or firewall rule the
// SSH session uses; see docs/NETWORK.md, "Safe changes") come back with a token: the change
// is live but not saved, and is undone by hub-netcfg unless confirm(token) arrives within
// confirm_within_s seconds. While a change is pending, other changes are refused with
// ErrorCode::pending. status() tells a new console session about a pending change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "netcfg/listing.h"
#include "netcfg/protocol.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

struct ClientError {
    ErrorCode code = ErrorCode::unavailable;
    std::string message;
};

// What a change did. token is set when the change waits for confirm().
struct Change {
    std::string message;
    std::optional<std::string> token;
    std::uint32_t confirm_within_s = 0;
};

struct Pending {
    std::string token;
    std::uint32_t seconds_left = 0;
    std::string what;  // "set_address eth0 192.0.2.20/24" -- what would be kept.
};

struct SavedSettings {
    Settings settings;               // As saved in network.conf (or the defaults).
    std::optional<Pending> pending;  // A live change not saved yet.
};

struct PingResult {
    std::uint32_t sent = 0;
    std::vector<PingReply> replies;
    std::string message;  // "3 of 3 replies from 192.0.2.1, rtt min/avg/max 0.1/0.2/0.3 ms"
};

struct TcpTestResult {
    bool connected = false;
    std::string message;  // "connected to 192.0.2.1 port 25 in 3 ms" or why not.
};

enum class ConfirmMode {
    when_risky,  // A timer only when the change could cut the SSH session off.
    always,      // A timer for this change whatever it touches.
};

class Client {
public:
    // session: the SSH_CONNECTION of the administrator's session ("CLIENT CPORT SERVER
    // SPORT"), empty when the console runs on the serial or video console.
    Client(std::string socket_path, std::string session);
    // Takes the session from the environment's SSH_CONNECTION (empty when unset).
    static Client from_environment(std::string socket_path);

    [[nodiscard]] Result<std::vector<InterfaceInfo>, ClientError> list_interfaces() const;
    [[nodiscard]] Result<std::vector<RouteInfo>, ClientError> list_routes() const;
    [[nodiscard]] Result<SavedSettings, ClientError> show_settings() const;

    // address: "192.0.2.10/24" or "2001:db8::10/64". set_address replaces the interface's
    // static addresses of that family with this one; add_address adds one more.
    [[nodiscard]] Result<Change, ClientError> set_address(
        std::string_view interface, std::string_view address,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> add_address(
        std::string_view interface, std::string_view address,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> delete_address(
        std::string_view interface, std::string_view address,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> set_link(
        std::string_view interface, bool up, ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> set_mtu(
        std::string_view interface, std::uint32_t mtu,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    // Replaces the default route of the gateway's family.
    [[nodiscard]] Result<Change, ClientError> set_default_gateway(
        std::string_view gateway, ConfirmMode mode = ConfirmMode::when_risky) const;
    // destination: "default" or "10.0.0.0/8".
    [[nodiscard]] Result<Change, ClientError> add_route(
        std::string_view destination, std::string_view gateway,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> delete_route(
        std::string_view destination, std::string_view gateway,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    // At most resolvers_count_max; an empty list removes them all.
    [[nodiscard]] Result<Change, ClientError> set_resolvers(
        const std::vector<std::string>& resolvers) const;
    [[nodiscard]] Result<Change, ClientError> set_hostname(std::string_view hostname) const;
    // sources: {"any"} or networks ("198.51.100.0/24", "2001:db8::/32"); empty closes it.
    [[nodiscard]] Result<Change, ClientError> set_service_access(
        Service service, const std::vector<std::string>& sources,
        ConfirmMode mode = ConfirmMode::when_risky) const;
    [[nodiscard]] Result<Change, ClientError> set_ssh(
        bool enabled, ConfirmMode mode = ConfirmMode::when_risky) const;

    [[nodiscard]] Result<std::string, ClientError> confirm(std::string_view token) const;
    [[nodiscard]] Result<std::string, ClientError> revert(std::string_view token) const;
    [[nodiscard]] Result<std::optional<Pending>, ClientError> status() const;

    // count 1..ping_count_max, timeout_s 1..probe_timeout_s_max. An unanswered ping is a
    // result (replies empty), not an error.
    [[nodiscard]] Result<PingResult, ClientError> ping(std::string_view address,
                                                       std::uint32_t count,
                                                       std::uint32_t timeout_s) const;
    [[nodiscard]] Result<TcpTestResult, ClientError> tcp_test(std::string_view address,
                                                              std::uint16_t port,
                                                              std::uint32_t timeout_s) const;

    // One raw exchange (tests, and requests this class has no method for yet).
    [[nodiscard]] Result<Message, ClientError> exchange(const Message& request) const;

private:
    [[nodiscard]] Result<Change, ClientError> change(Message request, ConfirmMode mode) const;

    std::string socket_path_;
    std::string session_;
};

}  // namespace hub::netcfg
