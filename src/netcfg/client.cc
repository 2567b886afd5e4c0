// client.cc -- netcfg::Client (client.h).
//
// PURPOSE   One method per hub-netcfg request, answers turned into values.
// RUNS IN   the console (hub-console), tests.
// TRUST     The answer comes from hub-netcfg (root's socket), but is still decoded strictly.
// LIMITS    client_answer_timeout_ms on every read and write.
// SEE ALSO  netcfg/protocol.h, docs/NETWORK.md.

#include "netcfg/client.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "netcfg/limits.h"
#include "netcfg/socket_io.h"

namespace hub::netcfg {

namespace {

ClientError unavailable(std::string message) {
    return ClientError{ErrorCode::unavailable, std::move(message)};
}

ClientError bad_answer(std::string message) {
    return ClientError{ErrorCode::bad_request, "hub-netcfg's answer: " + std::move(message)};
}

Result<std::uint32_t, ClientError> seconds_of(const Message& answer) {
    std::string_view text = answer.get_or(Field::seconds, "0");
    std::uint32_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9' || value > 100000) {
            return unexpected(bad_answer("seconds is not a number"));
        }
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return value;
}

}  // namespace

Client::Client(std::string socket_path, std::string session)
    : socket_path_(std::move(socket_path)), session_(std::move(session)) {}

Client Client::from_environment(std::string socket_path) {
    const char* session = std::getenv("SSH_CONNECTION");
    return Client(std::move(socket_path), session == nullptr ? std::string() : session);
}

Result<Message, ClientError> Client::exchange(const Message& request) const {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path_.empty() || socket_path_.size() >= sizeof(address.sun_path)) {
        return unexpected(unavailable(fmt::format("hub-netcfg socket path \"{}\": 1..{} characters",
                                                  socket_path_, sizeof(address.sun_path) - 1)));
    }
    std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return unexpected(unavailable(fmt::format("socket: {}", std::strerror(errno))));
    }
    set_timeouts(fd, client_answer_timeout_ms);
    Result<Message, ClientError> answer = unexpected(ClientError{});
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        answer = unexpected(
            unavailable(fmt::format("cannot reach hub-netcfg at {}: {} (is hub-netcfg running?)",
                                    socket_path_, std::strerror(errno))));
    } else if (auto wrote = write_message(fd, request); !wrote) {
        answer = unexpected(unavailable(wrote.error()));
    } else if (auto read = read_message(fd, Direction::answer); !read) {
        answer = unexpected(unavailable(read.error()));
    } else if (read->kind == Kind::refused) {
        answer = unexpected(
            ClientError{parse_error_code(read->get(Field::code)), read->get(Field::message)});
    } else {
        answer = std::move(*read);
    }
    ::close(fd);
    return answer;
}

Result<Change, ClientError> Client::change(Message request, ConfirmMode mode) const {
    HUB_ASSERT(is_change(request.kind));
    if (!session_.empty() && session_.size() <= value_bytes_max) {
        request.set(Field::session, session_);
    }
    if (mode == ConfirmMode::always) {
        request.set(Field::confirm, "always");
    }
    auto answer = exchange(request);
    if (!answer) {
        return unexpected(answer.error());
    }
    Change change;
    change.message = std::string(answer->get_or(Field::message, ""));
    if (answer->has(Field::token)) {
        change.token = answer->get(Field::token);
        auto seconds = seconds_of(*answer);
        if (!seconds) {
            return unexpected(seconds.error());
        }
        change.confirm_within_s = *seconds;
    }
    return change;
}

Result<std::vector<InterfaceInfo>, ClientError> Client::list_interfaces() const {
    auto answer = exchange(request(Kind::list_interfaces));
    if (!answer) {
        return unexpected(answer.error());
    }
    std::vector<InterfaceInfo> interfaces;
    for (const std::string& item : answer->all(Field::item)) {
        auto info = parse_interface_item(item);
        if (!info) {
            return unexpected(bad_answer(info.error()));
        }
        interfaces.push_back(std::move(*info));
    }
    return interfaces;
}

Result<std::vector<RouteInfo>, ClientError> Client::list_routes() const {
    auto answer = exchange(request(Kind::list_routes));
    if (!answer) {
        return unexpected(answer.error());
    }
    std::vector<RouteInfo> routes;
    for (const std::string& item : answer->all(Field::item)) {
        auto info = parse_route_item(item);
        if (!info) {
            return unexpected(bad_answer(info.error()));
        }
        routes.push_back(std::move(*info));
    }
    return routes;
}

Result<SavedSettings, ClientError> Client::show_settings() const {
    auto answer = exchange(request(Kind::show_settings));
    if (!answer) {
        return unexpected(answer.error());
    }
    auto settings = parse_settings(answer->get_or(Field::text, ""));
    if (!settings) {
        return unexpected(bad_answer(settings.error()));
    }
    SavedSettings saved{std::move(*settings), std::nullopt};
    if (answer->has(Field::token)) {
        auto seconds = seconds_of(*answer);
        if (!seconds) {
            return unexpected(seconds.error());
        }
        saved.pending = Pending{answer->get(Field::token), *seconds,
                                std::string(answer->get_or(Field::message, ""))};
    }
    return saved;
}

Result<Change, ClientError> Client::set_address(std::string_view interface,
                                                std::string_view address, ConfirmMode mode) const {
    Message message = request(Kind::set_address);
    message.set(Field::interface, std::string(interface)).set(Field::address, std::string(address));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::add_address(std::string_view interface,
                                                std::string_view address, ConfirmMode mode) const {
    Message message = request(Kind::add_address);
    message.set(Field::interface, std::string(interface)).set(Field::address, std::string(address));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::delete_address(std::string_view interface,
                                                   std::string_view address,
                                                   ConfirmMode mode) const {
    Message message = request(Kind::delete_address);
    message.set(Field::interface, std::string(interface)).set(Field::address, std::string(address));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::set_link(std::string_view interface, bool up,
                                             ConfirmMode mode) const {
    Message message = request(Kind::set_link);
    message.set(Field::interface, std::string(interface)).set(Field::state, up ? "up" : "down");
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::set_mtu(std::string_view interface, std::uint32_t mtu,
                                            ConfirmMode mode) const {
    Message message = request(Kind::set_mtu);
    message.set(Field::interface, std::string(interface)).set(Field::mtu, std::to_string(mtu));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::set_default_gateway(std::string_view gateway,
                                                        ConfirmMode mode) const {
    Message message = request(Kind::set_default_gateway);
    message.set(Field::gateway, std::string(gateway));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::add_route(std::string_view destination,
                                              std::string_view gateway, ConfirmMode mode) const {
    Message message = request(Kind::add_route);
    message.set(Field::destination, std::string(destination))
        .set(Field::gateway, std::string(gateway));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::delete_route(std::string_view destination,
                                                 std::string_view gateway, ConfirmMode mode) const {
    Message message = request(Kind::delete_route);
    message.set(Field::destination, std::string(destination))
        .set(Field::gateway, std::string(gateway));
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::set_resolvers(const std::vector<std::string>& resolvers) const {
    if (resolvers.size() > list_items_max) {
        return unexpected(ClientError{ErrorCode::invalid_value,
                                      fmt::format("at most {} resolvers", resolvers_count_max)});
    }
    Message message = request(Kind::set_resolvers);
    for (const std::string& resolver : resolvers) {
        message.add(Field::resolver, resolver);
    }
    return change(std::move(message), ConfirmMode::when_risky);
}

Result<Change, ClientError> Client::set_hostname(std::string_view hostname) const {
    Message message = request(Kind::set_hostname);
    message.set(Field::hostname, std::string(hostname));
    return change(std::move(message), ConfirmMode::when_risky);
}

Result<Change, ClientError> Client::set_service_access(Service service,
                                                       const std::vector<std::string>& sources,
                                                       ConfirmMode mode) const {
    if (sources.size() > list_items_max) {
        return unexpected(ClientError{ErrorCode::invalid_value,
                                      fmt::format("at most {} networks", sources_per_service_max)});
    }
    Message message = request(Kind::set_service_access);
    message.set(Field::service, std::string(service_name(service)));
    for (const std::string& source : sources) {
        message.add(Field::source, source);
    }
    return change(std::move(message), mode);
}

Result<Change, ClientError> Client::set_ssh(bool enabled, ConfirmMode mode) const {
    Message message = request(Kind::set_ssh);
    message.set(Field::state, enabled ? "on" : "off");
    return change(std::move(message), mode);
}

Result<std::string, ClientError> Client::confirm(std::string_view token) const {
    Message message = request(Kind::confirm);
    message.set(Field::token, std::string(token));
    if (!session_.empty() && session_.size() <= value_bytes_max) {
        message.set(Field::session, session_);
    }
    auto answer = exchange(message);
    if (!answer) {
        return unexpected(answer.error());
    }
    return std::string(answer->get_or(Field::message, "confirmed"));
}

Result<std::string, ClientError> Client::revert(std::string_view token) const {
    Message message = request(Kind::revert);
    message.set(Field::token, std::string(token));
    auto answer = exchange(message);
    if (!answer) {
        return unexpected(answer.error());
    }
    return std::string(answer->get_or(Field::message, "reverted"));
}

Result<std::optional<Pending>, ClientError> Client::status() const {
    auto answer = exchange(request(Kind::status));
    if (!answer) {
        return unexpected(answer.error());
    }
    if (!answer->has(Field::token)) {
        return std::optional<Pending>();
    }
    auto seconds = seconds_of(*answer);
    if (!seconds) {
        return unexpected(seconds.error());
    }
    return std::optional<Pending>(Pending{answer->get(Field::token), *seconds,
                                          std::string(answer->get_or(Field::message, ""))});
}

Result<PingResult, ClientError> Client::ping(std::string_view address, std::uint32_t count,
                                             std::uint32_t timeout_s) const {
    Message message = request(Kind::ping);
    message.set(Field::address, std::string(address))
        .set(Field::count, std::to_string(count))
        .set(Field::timeout, std::to_string(timeout_s));
    auto answer = exchange(message);
    if (!answer) {
        return unexpected(answer.error());
    }
    PingResult result;
    result.sent = count;
    result.message = std::string(answer->get_or(Field::message, ""));
    for (const std::string& item : answer->all(Field::item)) {
        auto reply = parse_ping_item(item);
        if (!reply) {
            return unexpected(bad_answer(reply.error()));
        }
        result.replies.push_back(*reply);
    }
    return result;
}

Result<TcpTestResult, ClientError> Client::tcp_test(std::string_view address, std::uint16_t port,
                                                    std::uint32_t timeout_s) const {
    Message message = request(Kind::tcp_test);
    message.set(Field::address, std::string(address))
        .set(Field::port, std::to_string(port))
        .set(Field::timeout, std::to_string(timeout_s));
    auto answer = exchange(message);
    if (!answer) {
        return unexpected(answer.error());
    }
    return TcpTestResult{answer->get_or(Field::state, "") == "connected",
                         std::string(answer->get_or(Field::message, ""))};
}

}  // namespace hub::netcfg
