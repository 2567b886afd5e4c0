// main.cc -- hub-snmp, the AgentX subagent that answers SNMP for the hub.
//
// PURPOSE   Serves the hub's health to net-snmp's snmpd over AgentX (RFC 2741): the RFC
//           2788 applTable row naming hubd, the RFC 2789 Mail Monitoring MIB (mtaTable,
//           one mtaGroupTable row per partner connector) and HUBBOX-MIB (TLS per partner,
//           spool space, certificates, shards), and sends HUBBOX-MIB notifications through
//           snmpd when a partner's TLS starts failing, a partner's queue passes a threshold,
//           the spool falls below its reserve, a certificate enters its last days or a
//           backup fails (--backup-status: the file `hubctl backup run` writes).
//             hub-snmp --status-socket PATH --agentx-socket PATH --state-dir DIR [options]
// RUNS IN   its own process and user (hubsnmp on the appliance: rootfs/.../hub-snmp.service),
//           one thread. It reads hubd's read-only status socket (src/health) and the
//           backup status file (health/backup_status.h), and writes
//           only its group index file in --state-dir.
// TRUST     snmpd authenticates managers and enforces access (SNMPv3 USM, VACM); AgentX
//           requests reach us only from it, over a socket only it and we may open. hubd's
//           answer is decoded strictly (health::decode). Nothing is writable over SNMP.
// LIMITS    limits.h: table sizes, strings cut to the MIB's SIZE. A snapshot is fetched at
//           most once per --cache-ms for requests, and every --poll-ms for the alerts.
// SEE ALSO  docs/SNMP.md, mibs/HUBBOX-MIB.txt, RFC 2741, RFC 2788, RFC 2789.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <string>

#include "base/log.h"
#include "health/snapshot.h"
#include "programs/hub-snmp/agentx.h"
#include "programs/hub-snmp/alerts.h"
#include "programs/hub-snmp/group_index.h"
#include "programs/hub-snmp/limits.h"
#include "programs/hub-snmp/mib_map.h"
#include "programs/hub-snmp/snapshot_facts.h"

#ifndef HUB_VERSION
#define HUB_VERSION "unknown"
#endif

namespace hub::snmp {
namespace {

volatile std::sig_atomic_t stop_signal = 0;

void on_stop(int signal) {
    stop_signal = signal;
}

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Options {
    std::string status_socket = "/run/hubbox/status.sock";
    std::string agentx_socket = "/run/agentx/master";
    std::string state_dir = "/var/lib/hub-snmp";
    std::uint32_t cache_ms = cache_ms_default;
    std::uint32_t poll_ms = poll_ms_default;
    std::uint64_t queue_threshold = queue_threshold_default;
    std::uint32_t certificate_warning_days = certificate_warning_days_default;
    std::uint32_t appl_index = appl_index_default;
    std::uint32_t agentx_ping_s = agentx_ping_s_default;
    std::string log_level = "info";
    std::string backup_status;  // The backup status file; empty: no hubboxBackup objects.
};

// A fetch slower than this (hubd busy or stuck) is not repeated inside a request, where
// snmpd waits for us only agentxTimeout (1 s by default); the timer refreshes instead.
constexpr std::int64_t request_fetch_budget_ms = 500;

// Snapshots in, views and notifications out; the ViewSource the Agent asks.
class Poller : public ViewSource {
public:
    Poller(const Options& options, GroupIndexes groups)
        : options_(options),
          groups_(std::move(groups)),
          alerts_(AlertSettings{.queue_threshold = options.queue_threshold,
                                .certificate_warning_days = options.certificate_warning_days}),
          settings_{.appl_index = options.appl_index,
                    .queue_threshold = options.queue_threshold,
                    .certificate_warning_days = options.certificate_warning_days} {
        view_.finish();
    }

    void attach(Agent& agent) { agent_ = &agent; }

    const View& view_for_request() override {
        std::int64_t now = steady_ms();
        if (now - refreshed_at_ >= static_cast<std::int64_t>(options_.cache_ms) &&
            now >= no_request_fetch_until_) {
            refresh();
        }
        return view_;
    }

    // Fetches a snapshot, rebuilds the view and queues the notifications it makes due.
    void refresh() {
        std::int64_t started = steady_ms();
        Result<health::Snapshot, std::string> snapshot =
            health::fetch_snapshot(options_.status_socket);
        std::int64_t took = steady_ms() - started;
        refreshed_at_ = steady_ms();
        no_request_fetch_until_ =
            took > request_fetch_budget_ms ? refreshed_at_ + options_.poll_ms : 0;
        HubFacts facts = snapshot ? facts_from_snapshot(*snapshot, HUB_VERSION)
                                  : unreachable_facts(snapshot.error());
        if (!options_.backup_status.empty()) {
            facts.backup = backup_facts(health::read_backup_status(options_.backup_status));
        }
        if (facts.reachable != reachable_ || first_) {
            if (facts.reachable) {
                base::log_info("hubd answers at {}", options_.status_socket);
            } else {
                base::log_warn("hubd unreachable: {}", facts.unreachable_reason);
            }
            reachable_ = facts.reachable;
        }
        assign_groups(facts);
        std::int64_t now_ms = wall_ms();
        std::vector<Alert> due = alerts_.observe(facts, now_ms / 1000);
        MapClock clock{.now_unix_ms = now_ms,
                       .uptime_cs = agent_ != nullptr ? agent_->uptime_cs() : 0};
        std::int32_t status = appl_oper_status(facts);
        if (status != oper_status_ || first_) {
            oper_status_ = status;
            last_change_cs_ = clock.uptime_cs;
        }
        first_ = false;
        view_ = build_view(facts, groups_, alerts_, settings_, clock, last_change_cs_);
        if (view_.dropped()) {
            base::log_warn("the MIB view is full ({} bindings): some rows are left out",
                           view_.size());
        }
        for (const Alert& alert : due) {
            pending_.push_back(notification_bindings(alert, facts, groups_, view_, settings_));
            base::log_warn("notification {}: {}", alert_name(alert.kind), alert.text);
        }
    }

    // Sends what refresh() queued; called from the main loop, never inside a request.
    void send_pending() {
        if (agent_ == nullptr) {
            return;
        }
        for (const std::vector<Binding>& bindings : pending_) {
            if (!agent_->notify(bindings)) {
                base::log_error("notification {} could not be sent",
                                value_to_string(bindings.front().value));
            }
        }
        pending_.clear();
    }

private:
    void assign_groups(const HubFacts& facts) {
        for (const PartnerFacts& partner : facts.partners) {
            if (groups_.find(partner.name)) {
                continue;
            }
            Result<std::uint32_t, std::string> index = groups_.assign(partner.name);
            if (!index) {
                base::log_error("{}", index.error());
                continue;
            }
            base::log_info("partner {} is MTA group {}", partner.name, *index);
        }
        if (groups_.changed()) {
            Result<void, std::string> saved = save_group_indexes(options_.state_dir, groups_);
            if (!saved) {
                // Kept in memory: indexes stay stable while we run; a restart may renumber
                // the new groups. Retried at the next change.
                base::log_error("group indexes not saved: {}", saved.error());
            }
        }
    }

    const Options& options_;
    GroupIndexes groups_;
    AlertTracker alerts_;
    MapSettings settings_;
    Agent* agent_ = nullptr;
    View view_;
    std::vector<std::vector<Binding>> pending_;
    std::int64_t refreshed_at_ = -1'000'000'000;
    std::int64_t no_request_fetch_until_ = 0;
    bool first_ = true;
    bool reachable_ = false;
    std::int32_t oper_status_ = 0;
    std::uint32_t last_change_cs_ = 0;
};

int run(const Options& options) {
    base::LogLevel level;
    if (!base::log_level_from_name(options.log_level, level)) {
        base::log_error("--log-level {}: use debug, info, warn or error", options.log_level);
        return 2;
    }
    base::log_threshold.store(level);
    struct stat state {};
    if (stat(options.state_dir.c_str(), &state) != 0 || !S_ISDIR(state.st_mode)) {
        base::log_error(
            "--state-dir {}: not a directory (hub-snmp keeps its group indexes "
            "there; create it, owned by hub-snmp's user)",
            options.state_dir);
        return 1;
    }
    Result<GroupIndexes, std::string> groups = load_group_indexes(options.state_dir);
    if (!groups) {
        base::log_error("{}", groups.error());
        return 1;
    }

    struct sigaction action {};
    action.sa_handler = on_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // No SA_RESTART: a signal ends the wait in select().
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);  // A vanished snmpd is a failed write, not our death.

    Poller poller(options, std::move(*groups));
    AgentSettings agent_settings{
        .agentx_socket = options.agentx_socket,
        .name = "hub-snmp",
        .ping_s = options.agentx_ping_s,
        .persistent_dir = options.state_dir + "/net-snmp",
        .subtrees = {appl_table_oid(), mta_oid(), hubbox_mib_oid()},
    };
    Result<std::unique_ptr<Agent>, std::string> agent = Agent::start(agent_settings, poller);
    if (!agent) {
        base::log_error("{}", agent.error());
        return 1;
    }
    poller.attach(**agent);
    base::log_info(
        "serving applTable, MTA-MIB and HUBBOX-MIB through {} (hubd: {}, groups "
        "in {}/group-indexes)",
        options.agentx_socket, options.status_socket, options.state_dir);
    std::int64_t next_poll = steady_ms();
    while (stop_signal == 0) {
        std::int64_t now = steady_ms();
        if (now >= next_poll) {
            poller.refresh();
            next_poll = now + options.poll_ms;
        }
        poller.send_pending();
        (*agent)->serve(
            static_cast<std::uint32_t>(std::clamp<std::int64_t>(next_poll - now, 10, 1000)));
        poller.send_pending();
    }
    base::log_info("stopping on signal {}", static_cast<int>(stop_signal));
    return 0;
}

}  // namespace
}  // namespace hub::snmp

int main(int argc, char** argv) {
    hub::base::log_set_program("hub-snmp");
    hub::base::log_prepare_stderr();
    hub::snmp::Options options;
    CLI::App app{
        "hub-snmp: the hub's AgentX subagent (RFC 2788 applTable, RFC 2789 MTA-MIB, "
        "HUBBOX-MIB); docs/SNMP.md"};
    app.add_option("--status-socket", options.status_socket,
                   "hubd's read-only status socket (hub.conf health.status_socket)")
        ->capture_default_str();
    app.add_option("--agentx-socket", options.agentx_socket,
                   "snmpd's AgentX socket: a path, unix:PATH or tcp:HOST:PORT")
        ->capture_default_str();
    app.add_option("--state-dir", options.state_dir,
                   "where the stable group indexes are kept (file group-indexes)")
        ->capture_default_str();
    app.add_option("--cache-ms", options.cache_ms, "a request reuses a snapshot this young")
        ->check(CLI::Range(0u, hub::snmp::cache_ms_max))
        ->capture_default_str();
    app.add_option("--poll-ms", options.poll_ms, "how often the alerts are evaluated")
        ->check(CLI::Range(hub::snmp::poll_ms_min, hub::snmp::poll_ms_max))
        ->capture_default_str();
    app.add_option("--queue-threshold", options.queue_threshold,
                   "messages queued for one partner that raise hubboxPartnerQueueHigh")
        ->check(CLI::Range(std::uint64_t{1}, hub::snmp::queue_threshold_max))
        ->capture_default_str();
    app.add_option("--certificate-warning-days", options.certificate_warning_days,
                   "days before notAfter that raise hubboxCertificateExpiring")
        ->check(CLI::Range(1u, hub::snmp::certificate_warning_days_max))
        ->capture_default_str();
    app.add_option("--appl-index", options.appl_index, "the hub's row in applTable and mtaTable")
        ->check(CLI::Range(1u, 2'147'483'647u))
        ->capture_default_str();
    app.add_option("--agentx-ping-s", options.agentx_ping_s,
                   "seconds between AgentX pings; a lost snmpd is reconnected at this pace")
        ->check(CLI::Range(1u, 3600u))
        ->capture_default_str();
    app.add_option("--backup-status", options.backup_status,
                   "the backup status file hubctl backup run writes (hubboxBackup objects and "
                   "notifications); none by default");
    app.add_option("--log-level", options.log_level, "debug, info, warn or error")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    return hub::snmp::run(options);
}
