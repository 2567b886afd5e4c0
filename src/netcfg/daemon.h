// daemon.h -- hub-netcfg's logic: one typed request in, one answer out.
//
// The Daemon owns the settings (as saved in <state>/network.conf and as live), the one
// pending change and the rtnetlink socket. Every change is planned (planner.h), carried
// out in the kernel (converge) and the firewall (one nft transaction), and then saved; if
// any step fails, the state before is restored and nothing is saved, so a change is all
// there or not at all. A risky change is live but not saved until confirmed; tick() restores
// the state before it when its window closes. See docs/NETWORK.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "netcfg/limits.h"
#include "netcfg/protocol.h"
#include "netcfg/rollback.h"
#include "netcfg/rtnetlink.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

struct DaemonOptions {
    std::string state_dir;  // network.conf, resolv.conf, hostname.
    std::uint32_t confirm_window_s = confirm_window_s_default;
};

// Who may ask: root, and the console's account or group (SO_PEERCRED; the request cannot
// change it).
struct Peer {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> groups;  // The uid's supplementary groups.
};
struct RoleIds {
    std::optional<std::uint32_t> console_uid;
    std::optional<std::uint32_t> console_gid;
};
bool may_ask(const Peer& peer, const RoleIds& ids);

// The settings in state_dir/network.conf, or the defaults when there is none. Errors: the
// file cannot be read or is refused (the message names the line).
[[nodiscard]] Result<Settings, std::string> load_settings(const std::string& state_dir);

class Daemon {
public:
    // Reads the settings and opens rtnetlink in the current network namespace. (On the
    // heap: the daemon is made once and never moved.)
    [[nodiscard]] static Result<std::unique_ptr<Daemon>, std::string> open(DaemonOptions options);

    // Makes the kernel and the firewall match the saved settings (boot, serve's start and
    // stop), dropping a change that waits for confirmation. Returns warnings (interfaces
    // named but missing). Writes resolv.conf and hostname too.
    [[nodiscard]] Result<std::vector<std::string>, std::string> apply_saved();

    // One request from a caller may_ask() allowed; now_ms is a monotonic clock.
    Message handle(const Message& request, std::int64_t now_ms);
    // Restores the state before a pending change whose window has closed. Returns what it
    // did, for the log, when it did something.
    std::optional<std::string> tick(std::int64_t now_ms);
    // Milliseconds until tick() has something to do; nullopt when nothing is pending.
    std::optional<std::int64_t> ms_until_due(std::int64_t now_ms) const {
        return pending_.ms_left(now_ms);
    }

private:
    Daemon(DaemonOptions options, Settings saved, Rtnetlink netlink);
    Message change(const Message& request, std::int64_t now_ms);
    Message end_pending(const Message& request, std::int64_t now_ms);
    Message listing(Kind kind);
    Message probe(const Message& request);
    [[nodiscard]] Result<void, Refusal> apply(const Settings& from, const Settings& to);
    [[nodiscard]] Result<void, std::string> save(const Settings& settings);
    void put_pending(Message& answer, std::int64_t now_ms) const;

    DaemonOptions options_;
    Settings saved_;  // As in network.conf.
    Settings live_;   // As in the kernel and firewall; differs from saved_ only while pending.
    PendingChange pending_;
    Rtnetlink netlink_;
};

}  // namespace hub::netcfg
