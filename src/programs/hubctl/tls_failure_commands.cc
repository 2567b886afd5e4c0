// tls_failure_commands.cc -- hubctl tls-failures record|list: hubd's memory of peers failing
// outbound TLS, kept in the directory so that it survives a hubd restart.
//
// PURPOSE   hubd may not write the directory (it reads it read-only under seccomp), so a
//           separate recorder (hub-tls-record.timer, every minute) copies what hubd's health
//           snapshot says into it; list and hubctl status show it.
// RUNS IN   hubctl: record as root (it writes the directory), list as any reader.
// TRUST     The snapshot is hubd's, decoded strictly by health::decode; names and reasons
//           are checked and cut again by Directory::record_tls_failures, and printed
//           through printable().
// LIMITS    health::partners_max peers per record.
// SEE ALSO  directory/tls_failures.h, health/snapshot.h, docs/DIRECTORY.md.

#include "programs/hubctl/tls_failure_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include "config/hub_config.h"
#include "engine/control.h"
#include "health/limits.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/text.h"

namespace hub::hubctl {

namespace {

std::string utc_text(std::int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

constexpr std::string_view outbound_prefix = "out: ";

}  // namespace

std::vector<directory::TlsObservation> tls_observations(const health::Snapshot& snapshot) {
    std::vector<directory::TlsObservation> observed;
    for (const health::PartnerRow& row : snapshot.partners) {
        if (row.name.empty() || row.name == health::other_key) {
            continue;  // "other" counts many partners past the bound: no one peer.
        }
        directory::TlsObservation seen;
        seen.peer = row.name;
        seen.hubd_started_unix_ms = static_cast<std::int64_t>(snapshot.started_unix_ms);
        seen.hubd_failure_count = static_cast<std::int64_t>(row.tls_failures_out);
        seen.had_tls_since_start = row.last_outbound_tls_unix_ms != 0;
        if (row.tls_failing_out_since_unix_ms != 0) {
            seen.verdict = directory::TlsObservation::Verdict::failing;
            seen.failing_since_unix_s =
                static_cast<std::int64_t>(row.tls_failing_out_since_unix_ms / 1000);
            // The last TLS failure may be inbound; then only "since" is known to be outbound.
            if (row.last_tls_failure.starts_with(outbound_prefix)) {
                seen.last_failed_unix_s =
                    static_cast<std::int64_t>(row.last_tls_failure_unix_ms / 1000);
                seen.reason = row.last_tls_failure.substr(outbound_prefix.size());
            }
        } else if (row.last_outbound_tls_unix_ms != 0) {
            seen.verdict = directory::TlsObservation::Verdict::working;
        } else {
            continue;  // No outbound TLS verdict since hubd started.
        }
        observed.push_back(std::move(seen));
    }
    return observed;
}

int record_tls_failures(const std::string& config_path, const std::string& directory_path,
                        const std::string& socket_path) {
    std::optional<config::HubConfig> config;
    if (!config_path.empty()) {
        auto loaded = config::load_hub_config(config_path);
        if (!loaded) {
            return fail(exit_runtime, "error: {}", loaded.error());
        }
        config = std::move(*loaded);
    }
    std::string socket = socket_path;
    if (socket.empty() && config) {
        socket = engine::status_socket_path(config->spool_dir, config->status_socket);
    }
    std::string path = directory_path;
    if (path.empty() && config) {
        if (config->directory_path.empty()) {
            fmt::print("{} has no directory.path (partners.file): nothing to record\n",
                       config_path);
            return flushed();
        }
        path = config->directory_path;
    }
    if (socket.empty() || path.empty()) {
        return fail(exit_usage,
                    "tls-failures record needs --config FILE, or --directory FILE and --socket "
                    "PATH");
    }
    // The snapshot first: with hubd down, the directory is not even opened.
    auto snapshot = health::fetch_snapshot(socket);
    if (!snapshot) {
        return fail(exit_runtime, "error: {}; nothing recorded", snapshot.error());
    }
    auto opened = directory::Directory::open(path, directory::OpenMode::existing);
    if (!opened) {
        return fail(exit_runtime, "error: {}", opened.error());
    }
    auto changes = opened->record_tls_failures(tls_observations(*snapshot));
    if (!changes) {
        return fail(exit_runtime, "error: {}; nothing recorded", changes.error());
    }
    for (const directory::TlsFailureRow& row : changes->written) {
        if (std::find(changes->added.begin(), changes->added.end(), row.peer) !=
            changes->added.end()) {
            fmt::print("{}: outbound TLS failing since {} ({}), remembered\n", printable(row.peer),
                       utc_text(row.first_failed_unix_s),
                       row.last_reason.empty() ? std::string("reason not known")
                                               : printable(row.last_reason));
        }
    }
    for (const std::string& peer : changes->cleared) {
        fmt::print("{}: outbound TLS works again, forgotten\n", printable(peer));
    }
    return flushed();
}

int list_tls_failures(directory::Directory& directory, bool json) {
    auto rows = directory.tls_failures();
    if (!rows) {
        return fail(exit_runtime, "error: {}", rows.error());
    }
    if (json) {
        return print_json_array(*rows);
    }
    fmt::print("{:<20} {:<20} {:<20} {:<20} {:>7} {}\n", "PEER", "PARTNER", "FAILING SINCE",
               "LAST FAILED", "COUNT", "LAST REASON");
    for (const directory::TlsFailureRow& row : *rows) {
        fmt::print("{:<20} {:<20} {:<20} {:<20} {:>7} {}\n", printable(row.peer),
                   row.partner.empty() ? std::string("-") : printable(row.partner),
                   utc_text(row.first_failed_unix_s), utc_text(row.last_failed_unix_s),
                   row.failure_count, row.last_reason.empty() ? "-" : printable(row.last_reason));
    }
    return flushed();
}

std::string remembered_tls_failures_text(const std::string& config_path) {
    if (config_path.empty()) {
        return {};
    }
    auto config = config::load_hub_config(config_path);
    if (!config || config->directory_path.empty()) {
        return {};
    }
    // Read-only: status is for monitoring users too, and must never migrate or write.
    auto opened =
        directory::Directory::open(config->directory_path, directory::OpenMode::read_only);
    if (!opened) {
        return {};
    }
    auto rows = opened->tls_failures();
    if (!rows) {
        return {};
    }
    std::string text;
    for (const directory::TlsFailureRow& row : *rows) {
        text += fmt::format(
            "remembered (directory): {} failing outbound TLS since {}, {} failure{} (hubctl "
            "tls-failures list)\n",
            printable(row.peer), utc_text(row.first_failed_unix_s), row.failure_count,
            row.failure_count == 1 ? "" : "s");
    }
    return text;
}

}  // namespace hub::hubctl
