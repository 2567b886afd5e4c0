// daemon.cc -- hub-netcfg's request handling (daemon.h).
//
// PURPOSE   Plan, apply, save, confirm and roll back network changes; list and probe.
// RUNS IN   hub-netcfg, one request at a time (the loop in programs/hub-netcfg/main.cc).
// TRUST     Requests come from root or the console's account (may_ask, before this), but
//           every value is checked by the planner before anything is applied.
// LIMITS    netcfg/limits.h; one pending change; answers bounded by answer_items_max.
// SEE ALSO  netcfg/planner.h, netcfg/reconcile.h, netcfg/firewall.h, docs/NETWORK.md.

#include "netcfg/daemon.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "base/durable_file.h"
#include "base/log.h"
#include "netcfg/firewall.h"
#include "netcfg/limits.h"
#include "netcfg/planner.h"
#include "netcfg/probe.h"

namespace hub::netcfg {

namespace {

namespace fs = std::filesystem;

Message refused(const Refusal& refusal) {
    return hub::netcfg::refusal(refusal.code, refusal.message);
}

// network.conf is replaced whole (base/durable_file.h): a crash leaves the old or the new.
Result<void, std::string> write_file(const fs::path& path, std::string_view content) {
    return base::replace_file(path.string(), content);
}

std::string new_token() {
    std::uint8_t bytes[8] = {};
    std::size_t got = 0;
    while (got < sizeof(bytes)) {
        ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
        HUB_ASSERT(n > 0 || errno == EINTR);  // getrandom never fails once the pool is ready.
        got += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    std::string token;
    for (std::uint8_t byte : bytes) {
        token += fmt::format("{:02x}", byte);
    }
    HUB_ASSERT(token.size() == 16);
    return token;
}

Result<std::uint32_t, Refusal> bounded_number(const Message& request, Field field,
                                              std::string_view name, std::uint32_t min,
                                              std::uint32_t max) {
    std::string_view text = request.get(field);
    std::uint32_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        return unexpected(Refusal{ErrorCode::invalid_value,
                                  fmt::format("{} \"{}\": a number {}..{}", name, text, min, max)});
    }
    return value;
}

}  // namespace

bool may_ask(const Peer& peer, const RoleIds& ids) {
    if (peer.uid == 0) {
        return true;
    }
    if (ids.console_uid && peer.uid == *ids.console_uid) {
        return true;
    }
    return ids.console_gid &&
           (peer.gid == *ids.console_gid || std::find(peer.groups.begin(), peer.groups.end(),
                                                      *ids.console_gid) != peer.groups.end());
}

Result<Settings, std::string> load_settings(const std::string& state_dir) {
    fs::path path = fs::path(state_dir) / "network.conf";
    std::error_code error;
    if (!fs::exists(path, error)) {
        return Settings::defaults();
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
    }
    std::string text;
    char chunk[4096];
    while (file.read(chunk, sizeof(chunk)) || file.gcount() > 0) {
        text.append(chunk, static_cast<std::size_t>(file.gcount()));
        if (text.size() > settings_file_bytes_max) {
            break;  // parse_settings refuses it with its size.
        }
    }
    auto settings = parse_settings(text);
    if (!settings) {
        return unexpected(fmt::format("{}: {}", path.string(), settings.error()));
    }
    return settings;
}

Daemon::Daemon(DaemonOptions options, Settings saved, Rtnetlink netlink)
    : options_(std::move(options)),
      saved_(saved),
      live_(std::move(saved)),
      netlink_(std::move(netlink)) {}

Result<std::unique_ptr<Daemon>, std::string> Daemon::open(DaemonOptions options) {
    HUB_ASSERT(options.confirm_window_s >= confirm_window_s_min &&
               options.confirm_window_s <= confirm_window_s_max);
    std::error_code error;
    fs::create_directories(options.state_dir, error);
    if (error) {
        return unexpected(fmt::format("{}: {}", options.state_dir, error.message()));
    }
    auto settings = load_settings(options.state_dir);
    if (!settings) {
        return unexpected(settings.error());
    }
    auto netlink = Rtnetlink::open();
    if (!netlink) {
        return unexpected(netlink.error());
    }
    return std::unique_ptr<Daemon>(
        new Daemon(std::move(options), std::move(*settings), std::move(*netlink)));
}

Result<std::vector<std::string>, std::string> Daemon::apply_saved() {
    // A change still waiting for confirmation is dropped: network.conf never had it.
    if (auto dropped = pending_.take_expired(std::numeric_limits<std::int64_t>::max())) {
        base::log_warn("{}: not confirmed before hub-netcfg stopped; the saved settings are back",
                       dropped->description);
    }
    HUB_ASSERT(!pending_.pending());
    live_ = saved_;
    // Each part is applied even when one before it failed: a route the kernel refuses must
    // not leave the box without its access table, or without the addresses that did work.
    std::vector<std::string> failures;
    auto warnings = converge(netlink_, saved_);
    if (!warnings) {
        failures.push_back(warnings.error());
    }
    if (auto applied = apply_ruleset(access_ruleset(saved_)); !applied) {
        failures.push_back(applied.error());
    }
    fs::path dir(options_.state_dir);
    if (auto wrote = write_file(dir / "resolv.conf", format_resolv_conf(saved_)); !wrote) {
        failures.push_back(wrote.error());
    }
    if (auto wrote = write_file(dir / "hostname", format_hostname_file(saved_)); !wrote) {
        failures.push_back(wrote.error());
    }
    if (!failures.empty()) {
        std::string all;
        for (const std::string& failure : failures) {
            all += (all.empty() ? "" : "; ") + failure;
        }
        return unexpected(all);
    }
    HUB_ASSERT(warnings.has_value());
    return *warnings;
}

Result<void, Refusal> Daemon::apply(const Settings& from, const Settings& to) {
    auto converged = converge(netlink_, to);
    std::string failure;
    if (!converged) {
        failure = converged.error();
    } else if (auto applied = apply_ruleset(access_ruleset(to)); !applied) {
        failure = applied.error();
    } else {
        return {};
    }
    // Put back what was there: the kernel to `from` (the firewall was either not touched or
    // refused the whole transaction, so it is still `from`'s).
    if (auto restored = converge(netlink_, from); !restored) {
        base::log_error("restoring the state before a failed change: {}", restored.error());
        return unexpected(Refusal{ErrorCode::system,
                                  fmt::format("{}; restoring the state before it failed too: {}",
                                              failure, restored.error())});
    }
    return unexpected(
        Refusal{ErrorCode::system,
                fmt::format("{}; nothing was changed (the state before is back)", failure)});
}

Result<void, std::string> Daemon::save(const Settings& settings) {
    fs::path dir(options_.state_dir);
    // network.conf last: it is what the next boot applies, and it must not name a state
    // whose resolv.conf was never written.
    if (auto wrote = write_file(dir / "resolv.conf", format_resolv_conf(settings)); !wrote) {
        return wrote;
    }
    if (auto wrote = write_file(dir / "hostname", format_hostname_file(settings)); !wrote) {
        return wrote;
    }
    return write_file(dir / "network.conf", format_settings(settings));
}

void Daemon::put_pending(Message& answer, std::int64_t now_ms) const {
    const auto& entry = pending_.entry();
    if (!entry) {
        return;
    }
    std::int64_t left_ms = pending_.ms_left(now_ms).value_or(0);
    answer.set(Field::token, entry->token);
    answer.set(Field::seconds, std::to_string((left_ms + 999) / 1000));
    if (!answer.has(Field::message)) {
        answer.set(Field::message, printable_text(entry->description));
    }
}

Message Daemon::change(const Message& request, std::int64_t now_ms) {
    if (const auto& entry = pending_.entry()) {
        return refused(Refusal{
            ErrorCode::pending,
            fmt::format("\"{}\" waits for confirmation ({} s left): confirm or revert it first",
                        entry->description, (pending_.ms_left(now_ms).value_or(0) + 999) / 1000)});
    }
    auto live = netlink_.dump();
    if (!live) {
        return refused(Refusal{ErrorCode::system, live.error()});
    }
    auto plan = plan_change(live_, request, live->view());
    if (!plan) {
        return refused(plan.error());
    }
    if (plan->next == live_) {
        return ok_answer(fmt::format("{}: nothing to change", plan->description));
    }
    Settings before = restorable(live_, plan->next, live->view());
    if (auto applied = apply(before, plan->next); !applied) {
        return refused(applied.error());
    }
    live_ = plan->next;
    if (plan->risky) {
        std::string token = new_token();
        pending_.start(token, now_ms, options_.confirm_window_s, std::move(before), live_,
                       plan->description);
        base::log_info("{}: applied, waiting {} s for confirmation ({})", plan->description,
                       options_.confirm_window_s, plan->risk);
        Message answer = ok_answer(
            fmt::format("{}: applied; {}, so it is undone in {} s unless confirmed from a new "
                        "session",
                        plan->description, plan->risk, options_.confirm_window_s));
        put_pending(answer, now_ms);
        return answer;
    }
    if (auto saved = save(live_); !saved) {
        // The kernel has the change but the disk does not: put the kernel back too.
        auto undone = apply(live_, before);
        live_ = undone ? before : live_;
        return refused(Refusal{ErrorCode::system,
                               fmt::format("saving {}: {}{}", plan->description, saved.error(),
                                           undone ? "; the change was undone" : "")});
    }
    saved_ = live_;
    base::log_info("{}: applied and saved", plan->description);
    return ok_answer(fmt::format("{}: applied and saved", plan->description));
}

Message Daemon::end_pending(const Message& request, std::int64_t now_ms) {
    const std::string& token = request.get(Field::token);
    if (request.kind == Kind::confirm) {
        auto entry = pending_.confirm(token, now_ms);
        if (!entry) {
            return refused(entry.error());
        }
        if (auto saved = save(entry->after); !saved) {
            return refused(Refusal{ErrorCode::system,
                                   fmt::format("\"{}\" stays live but could not be saved: {}",
                                               entry->description, saved.error())});
        }
        saved_ = entry->after;
        base::log_info("{}: confirmed{}{} and saved", entry->description,
                       request.has(Field::session) ? " from " : "",
                       request.get_or(Field::session, ""));
        return ok_answer(fmt::format("{}: confirmed and saved", entry->description));
    }
    auto entry = pending_.revert(token, now_ms);
    if (!entry) {
        return refused(entry.error());
    }
    if (auto applied = apply(live_, entry->before); !applied) {
        return refused(applied.error());
    }
    live_ = entry->before;
    base::log_info("{}: reverted on request", entry->description);
    return ok_answer(fmt::format("{}: reverted; the state before it is back", entry->description));
}

std::optional<std::string> Daemon::tick(std::int64_t now_ms) {
    auto expired = pending_.take_expired(now_ms);
    if (!expired) {
        return std::nullopt;
    }
    if (auto applied = apply(live_, expired->before); !applied) {
        // Keep trying: the saved settings are still the ones before, and a reboot applies them.
        base::log_error("rolling back {}: {}", expired->description, applied.error().message);
        return fmt::format("rolling back {} failed: {}", expired->description,
                           applied.error().message);
    }
    live_ = expired->before;
    return fmt::format("{}: not confirmed within {} s; rolled back", expired->description,
                       options_.confirm_window_s);
}

Message Daemon::listing(Kind kind) {
    auto live = netlink_.dump();
    if (!live) {
        return refused(Refusal{ErrorCode::system, live.error()});
    }
    Message answer = ok_answer();
    std::size_t count = 0;
    if (kind == Kind::list_interfaces) {
        for (const KernelLink& link : live->links) {
            if (count++ < answer_items_max) {
                answer.add(Field::item, format_item(link.info));
            }
        }
    } else {
        for (const RouteInfo& route : live->routes) {
            if (count++ < answer_items_max) {
                answer.add(Field::item, format_item(route));
            }
        }
    }
    if (count > answer_items_max) {
        answer.set(Field::message, fmt::format("the first {} of {}", answer_items_max, count));
    }
    return answer;
}

Message Daemon::probe(const Message& request) {
    auto address = parse_address(request.get(Field::address));
    if (!address) {
        return refused(Refusal{ErrorCode::invalid_value, address.error()});
    }
    auto timeout = bounded_number(request, Field::timeout, "timeout", 1, probe_timeout_s_max);
    if (!timeout) {
        return refused(timeout.error());
    }
    if (request.kind == Kind::tcp_test) {
        auto port = bounded_number(request, Field::port, "port", 1, 65535);
        if (!port) {
            return refused(port.error());
        }
        TcpOutcome outcome = tcp_connect(*address, static_cast<std::uint16_t>(*port), *timeout);
        Message answer = ok_answer(outcome.message);
        answer.set(Field::state, outcome.connected ? "connected" : "failed");
        return answer;
    }
    auto count = bounded_number(request, Field::count, "count", 1, ping_count_max);
    if (!count) {
        return refused(count.error());
    }
    auto outcome = hub::netcfg::ping(*address, *count, *timeout);
    if (!outcome) {
        return refused(Refusal{ErrorCode::system, outcome.error()});
    }
    Message answer = ok_answer(outcome->message);
    for (const PingReply& reply : outcome->replies) {
        answer.add(Field::item, format_item(reply));
    }
    return answer;
}

Message Daemon::handle(const Message& request, std::int64_t now_ms) {
    if (auto rolled_back = tick(now_ms)) {
        base::log_info("{}", *rolled_back);
    }
    switch (request.kind) {
        case Kind::list_interfaces:
        case Kind::list_routes:
            return listing(request.kind);
        case Kind::show_settings: {
            Message answer = ok_answer();
            answer.set(Field::text, format_settings(saved_));
            put_pending(answer, now_ms);
            return answer;
        }
        case Kind::status: {
            Message answer = ok_answer();
            put_pending(answer, now_ms);
            return answer;
        }
        case Kind::confirm:
        case Kind::revert:
            return end_pending(request, now_ms);
        case Kind::ping:
        case Kind::tcp_test:
            return probe(request);
        case Kind::ok:
        case Kind::refused:
            HUB_PANIC("decode() lets no answer kind through as a request");
        default:
            HUB_ASSERT(is_change(request.kind));
            return change(request, now_ms);
    }
}

}  // namespace hub::netcfg
