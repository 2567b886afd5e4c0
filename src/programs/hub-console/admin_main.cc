// admin_main.cc -- hub-console-admin, the console's privileged half on the appliance.
//
// PURPOSE   Carry out, for the console account, the actions that read or write what only
//           root and the hub user may: the partner directory, the spool and hubd's
//           control socket, the hub's key, backups through hubctl (runner.h, needs_admin):
//             hub-console-admin [--config FILE] [--allow-group GROUP] [--hubctl /PATH]
//                               [--backup-unit UNIT.service] [--restore-unit UNIT.service]
//           systemd starts one per connection on its socket (Accept=yes), with the
//           connection as standard input and output: one request (console/wire.h), one
//           answer, exit.
// RUNS IN   root, under rootfs/usr/lib/systemd/system/hub-console-admin@.service (a
//           sandbox that may write /var/lib/hubbox only); the socket is root:hubadmin 0660.
// TRUST     The caller is whoever could open the socket. Its uid comes from the kernel
//           (SO_PEERCRED): root, or an account in --allow-group (primary or
//           supplementary), or it is refused. The request is decoded strictly (wire.cc,
//           wire.h's bounds, 10 s), must be one of needs_admin()'s actions, and its values
//           pass the same checks as the console's forms before the Runner touches anything;
//           the owners (directory, hubd, hub-ca) check again. Changes are audited as
//           console:<the caller's account>.
// LIMITS    console/wire.h; one request per process.
// SEE ALSO  programs/hub-console/runner.h, docs/CONSOLE.md ("The console's two halves").
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "console/checks.h"
#include "console/limits.h"
#include "console/wire.h"
#include "programs/hub-console/runner.h"

namespace {

using hub::console::Action;
using hub::console::ActionKind;
using hub::console::Outcome;

Outcome refused(std::string message) {
    Outcome outcome;
    outcome.ok = false;
    outcome.message = std::move(message);
    return outcome;
}

// The caller's account name if it may ask: root, or a member of group.
hub::Result<std::string, std::string> caller_account(const std::string& group_name) {
    ucred peer{};
    socklen_t size = sizeof peer;
    if (::getsockopt(STDIN_FILENO, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
        return hub::unexpected(
            fmt::format("not started on a Unix socket ({})", std::strerror(errno)));
    }
    const passwd* entry = ::getpwuid(peer.uid);
    if (entry == nullptr) {
        return hub::unexpected(fmt::format("uid {} has no account", peer.uid));
    }
    std::string name = entry->pw_name;
    if (peer.uid == 0) {
        return name;
    }
    const struct group* allowed = group_name.empty() ? nullptr : ::getgrnam(group_name.c_str());
    if (allowed != nullptr) {
        std::vector<gid_t> groups(64);
        int count = static_cast<int>(groups.size());
        if (::getgrouplist(name.c_str(), entry->pw_gid, groups.data(), &count) >= 0) {
            for (int i = 0; i < count; i++) {
                if (groups[static_cast<std::size_t>(i)] == allowed->gr_gid) {
                    return name;
                }
            }
        }
    }
    return hub::unexpected(
        fmt::format("{} may not ask hub-console-admin (root and the members of "
                    "{} may)",
                    name, group_name.empty() ? "no group" : group_name));
}

// The hub key forms' checks (pages.cc), again.
std::string check_hub_key_values(const Action& action) {
    using namespace hub::console;
    std::vector<std::pair<std::string, Check>> checks;
    switch (action.kind) {
        case ActionKind::hub_key_request:
            return check_key_type(action.target);
        case ActionKind::hub_key_import:
            checks.emplace_back("key", check_private_key_paste);
            [[fallthrough]];
        case ActionKind::hub_key_install:
            checks.emplace_back("certificate", check_certificates_paste);
            checks.emplace_back("chain", check_optional_certificates_paste);
            checks.emplace_back("ca", check_optional_certificates_paste);
            break;
        case ActionKind::hub_key_pkcs12:
            if (action.field("password").size() > field_bytes_max) {
                return fmt::format("password: at most {} characters", field_bytes_max);
            }
            checks.emplace_back("bundle", check_base64_paste);
            checks.emplace_back("ca", check_optional_certificates_paste);
            break;
        default:
            return "";
    }
    for (const auto& [name, check] : checks) {
        if (std::string why = check(action.field(name)); !why.empty()) {
            return name + ": " + why;
        }
    }
    return "";
}

// The form checks again: the values come from a socket, not from the console's forms.
std::string check_values(const Action& action) {
    using hub::console::check_partner_name;
    if (action.kind == ActionKind::partner_add) {
        for (auto [name, check] : std::vector<std::pair<std::string, hub::console::Check>>{
                 {"name", check_partner_name},
                 {"domain", hub::console::check_partner_domain},
                 {"inbound", hub::console::check_networks},
                 {"outbound", hub::console::check_smart_host},
                 {"contact", hub::console::check_contact}}) {
            if (std::string why = check(action.field(name)); !why.empty()) {
                return name + ": " + why;
            }
        }
        return "";
    }
    if (action.kind == ActionKind::admin_password) {
        std::string why = hub::console::check_admin_name(action.field("name"));
        return why.empty() ? hub::console::check_password(action.field("password")) : why;
    }
    if (action.kind == ActionKind::backup_verify || action.kind == ActionKind::backup_restore) {
        std::string why = hub::console::check_archive(action.field("archive"));
        if (why.empty()) {
            why = hub::console::check_archive_passphrase(action.field("passphrase"));
        }
        if (why.empty() && action.kind == ActionKind::backup_restore) {
            why = hub::console::check_restore_word(action.field("confirm"));
        }
        return why;
    }
    if (action.kind == ActionKind::backup_schedule) {
        std::string why = hub::console::check_interval_hours(action.field("interval_hours"));
        return why.empty() ? hub::console::check_keep(action.field("keep")) : why;
    }
    if (action.kind == ActionKind::partner_show || action.kind == ActionKind::partner_suspend ||
        action.kind == ActionKind::partner_resume || action.kind == ActionKind::partner_test) {
        return check_partner_name(action.target);
    }
    if (std::string why = check_hub_key_values(action); !why.empty()) {
        return why;
    }
    return "";  // Queue ids are parsed by the runner; listings take no value.
}

bool write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t written = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

Outcome serve(const std::string& config_path, const std::string& group,
              const std::string& hubctl_path, const std::string& backup_unit,
              const std::string& restore_unit) {
    // The request is read in full before anything is decided: closing a socket with unread
    // bytes would reset it, and the caller would not see why it was refused.
    timeval timeout{10, 0};
    ::setsockopt(STDIN_FILENO, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char chunk[16384];
    // Bounded by wire_request_bytes_max and the receive timeout.
    while (request.size() <= hub::console::wire_request_bytes_max) {
        ssize_t got = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        request.append(chunk, static_cast<std::size_t>(got));
        // A whole block (its last line "end"; a value cannot be one, values are encoded):
        // a client that cannot half-close its end (bash's /dev/tcp through a proxy, in the
        // boot test) is answered now, not after the receive timeout.
        if (request.ends_with("\nend\n")) {
            break;
        }
    }
    auto account = caller_account(group);
    if (!account) {
        return refused(account.error());
    }
    auto action = hub::console::decode_action(request);
    if (!action) {
        return refused("hub-console-admin: " + action.error());
    }
    if (!hub::hub_console::needs_admin(action->kind)) {
        return refused(fmt::format("hub-console-admin does not carry out \"{}\"",
                                   hub::console::action_name(action->kind)));
    }
    if (std::string why = check_values(*action); !why.empty()) {
        return refused(why);
    }
    hub::hub_console::RunnerSettings settings{config_path, false, "console:" + *account, "", ""};
    if (!hubctl_path.empty()) {
        settings.hubctl_path = hubctl_path;
    }
    settings.backup_unit = backup_unit;
    settings.restore_unit = restore_unit;
    hub::hub_console::Runner runner(std::move(settings),
                                    [](const std::vector<std::string>&) { return -1; });
    return runner.run(*action);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path = "/etc/hubbox/hub.conf";
    std::string group;
    std::string hubctl_path;
    std::string backup_unit;
    std::string restore_unit;
    for (int i = 1; i < argc; i++) {
        std::string_view arg = argv[i];
        if ((arg == "--config" || arg == "--allow-group") && i + 1 < argc) {
            (arg == "--config" ? config_path : group) = argv[++i];
        } else if (arg == "--hubctl" && i + 1 < argc && argv[i + 1][0] == '/') {
            hubctl_path = argv[++i];
        } else if ((arg == "--backup-unit" || arg == "--restore-unit") && i + 1 < argc &&
                   std::string_view(argv[i + 1]).ends_with(".service")) {
            (arg == "--backup-unit" ? backup_unit : restore_unit) = argv[++i];
        } else {
            std::fputs(
                "usage: hub-console-admin [--config FILE] [--allow-group GROUP] "
                "[--hubctl /PATH] [--backup-unit UNIT.service] [--restore-unit UNIT.service]\n",
                stderr);
            return 2;
        }
    }
    Outcome outcome = serve(config_path, group, hubctl_path, backup_unit, restore_unit);
    if (!outcome.ok) {
        std::fprintf(stderr, "hub-console-admin: refused: %s\n", outcome.message.c_str());
    }
    return write_all(hub::console::encode_outcome(outcome)) ? 0 : 1;
}
