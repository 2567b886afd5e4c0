// hubd -- the Hubbox mail hub engine.
//
// PURPOSE   Accept mail from partner servers over mandatory TLS and spool it durably.
//           main() only wires the parts together in the fixed order of STYLE.md:
//           configuration, kernel check, keys, spool recovery, listeners, privilege drop,
//           then the shards.
// RUNS IN   the hubd process: this main thread becomes the supervisor; one shard thread
//           per core serves connections.
// TRUST     Untrusted input: everything partners' servers send (TLS records, SMTP). The
//           configuration and partner files are trusted (root-owned). Privilege kept:
//           none. Started as root, hubd binds its ports, reads its private key and
//           prepares the spool, then becomes the unprivileged [hub] user with
//           no_new_privs set; a non-root start keeps its own user and also sets
//           no_new_privs.
//           The hub's certificate and key bytes stay in memory for outbound TLS contexts
//           of partners added by a live reload; a reload reads hub.conf and the partners
//           again as the hub user (engine/reload.h).
// LIMITS    see docs/CONFIGURATION.md; engine/limits.h for fixed sizes.
// SEE ALSO  hubctl(1), docs/ARCHITECTURE.md, engine/supervisor.h
//
// Usage: hubd --config hub.conf [--check] | hubd --help
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/log.h"
#include "config/hub_config.h"
#include "directory/configured.h"
#include "engine/crl_refresh.h"
#include "engine/kernel_features.h"
#include "engine/listener_contexts.h"
#include "engine/partner_snapshot.h"
#include "engine/reload.h"
#include "engine/seccomp.h"
#include "engine/startup.h"
#include "engine/startup_check.h"
#include "engine/supervisor.h"
#include "policy/partners.h"
#include "queue/scheduler.h"
#include "spool/spool_format.h"
#include "tls/revocation.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace {

using hub::base::log_fatal;
using hub::base::log_info;
using hub::base::log_warn;

constexpr std::string_view usage_text =
    "usage: hubd --config FILE [--check]\n"
    "       hubd --help\n"
    "\n"
    "  --config FILE  hub.conf to run with (docs/CONFIGURATION.md)\n"
    "  --check        check what start-up depends on and exit: the configuration and\n"
    "                 partner files, certificate, key and CA (key matches, chain verifies,\n"
    "                 dates; expiry within 30 days is a warning), the spool as the hub\n"
    "                 user, the listeners; every problem is printed with file and line;\n"
    "                 exit status 1 on any error, 0 with warnings only\n"
    "  --help         print this text and exit\n";

struct Arguments {
    std::string config_path;
    bool check_only = false;
};

Arguments parse_arguments(int argc, char** argv) {
    Arguments arguments;
    for (int index = 1; index < argc; index++) {
        std::string_view argument = argv[index];
        if (argument == "--config" && index + 1 < argc) {
            arguments.config_path = argv[++index];
        } else if (argument == "--check") {
            arguments.check_only = true;
        } else if (argument == "--help" || argument == "-h") {
            std::fputs(usage_text.data(), stdout);
            std::exit(0);
        } else {
            std::fprintf(stderr, "hubd: unknown argument '%s'\n%s", argv[index], usage_text.data());
            std::exit(2);
        }
    }
    if (arguments.config_path.empty()) {
        std::fprintf(stderr, "hubd: --config is required\n%s", usage_text.data());
        std::exit(2);
    }
    return arguments;
}

// hubd --check: every finding at once, "file:line: error|warning: text".
int run_check(const std::string& config_path) {
    std::vector<hub::engine::Finding> findings;
    auto config = hub::config::load_hub_config(config_path);
    if (!config) {
        findings = hub::engine::findings_from_lines(config.error(), config_path, config_path);
    } else {
        auto user = hub::engine::resolve_hub_user(config->user);
        hub::engine::HubUser ids;
        if (user) {
            ids = *user;
        } else {
            findings.push_back(
                {hub::engine::Severity::error, config->where("hub.user"), user.error()});
        }
        hub::tls::initialise_library();
        auto found = hub::engine::check_startup(*config, ids.uid, ids.gid, time(nullptr));
        findings.insert(findings.end(), found.begin(), found.end());
    }
    std::string report = hub::engine::render_findings(findings);
    std::fputs(report.c_str(), stderr);
    return hub::engine::exit_status_of(findings);
}

// The hub's own certificates (the leaves it presents: tls.certificate and the listener
// certificates of its listeners) and every trust anchor partners are verified against, for
// the status answer's expiry dates. hubd checked these files already
// (its TLS contexts loaded them), so a read failure here only leaves them out, logged.
std::vector<hub::health::Certificate> certificates_to_watch(
    const hub::config::HubConfig& config,
    const std::vector<hub::directory::ListenerCertificateRecord>& listener_rows) {
    std::vector<hub::health::Certificate> certificates;
    auto add = [&](const std::string& path, const char* role, bool leaf_only) {
        if (path.empty()) {
            return;
        }
        auto facts = hub::tls::read_certificate_facts(path);
        if (!facts) {
            log_warn("status: certificate expiry not reported: {}", facts.error());
            return;
        }
        for (const hub::tls::CertificateFacts& fact : *facts) {
            certificates.push_back(
                {role, "", fact.subject,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, fact.not_after_s))});
            if (leaf_only) {
                break;
            }
        }
    };
    add(config.certificate_path, "listener", true);
    std::string smtp = hub::directory::listener_address_text(config.smtp.host, config.smtp.port);
    std::string smtps = hub::directory::listener_address_text(config.smtps.host, config.smtps.port);
    for (const hub::directory::ListenerCertificateRecord& row : listener_rows) {
        if (row.address == "*" || row.address == smtp || row.address == smtps) {
            add(row.certificate_path, "listener", true);
        }
    }
    add(config.client_ca_path, "trust_anchor", false);
    return certificates;
}

// The hub CA's one-line subject when hubd must hold its CRL: [ca] public_dir is set and the
// hub CA is one of [tls] client_ca's certificates. When the client CAs do not include it
// (a box whose partners use another CA), its certificates never verify, so there is nothing
// to revoke and no CRL to read. Fatal: the hub CA's certificate cannot be read (hub-ca, or
// the first boot, publishes it before hubd starts).
std::optional<std::string> hub_ca_among_client_cas(const hub::config::HubConfig& config) {
    if (config.ca_public_dir.empty() || config.client_ca_path.empty()) {
        return std::nullopt;
    }
    std::string ca_pem = config.ca_public_dir + "/ca.pem";
    auto issuer = hub::tls::certificate_subject_oneline(ca_pem);
    if (!issuer) {
        log_fatal("CRL: {} (hub-ca publishes it; is hub-ca running? docs/CA.md)", issuer.error());
    }
    auto client_cas = hub::tls::read_certificate_facts(config.client_ca_path);
    if (!client_cas) {
        log_fatal("TLS: {}", client_cas.error());
    }
    for (const hub::tls::CertificateFacts& client_ca : *client_cas) {
        if (client_ca.subject == *issuer) {
            return *issuer;
        }
    }
    log_info(
        "CRL: the hub CA ({}) is not among [tls] client_ca ({}): its certificates are not "
        "accepted from partners, so its CRL is not read",
        *issuer, config.client_ca_path);
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hubd");
    hub::base::log_prepare_stderr();  // Before any thread: several write to fd 2.
    tzset();  // Read /etc/localtime now, not from a shard on its first date.
    Arguments arguments = parse_arguments(argc, argv);
    if (arguments.check_only) {
        return run_check(arguments.config_path);
    }

    auto config = hub::config::load_hub_config(arguments.config_path);
    if (!config) {
        log_fatal("{}", config.error());
    }
    hub::base::LogLevel level = hub::base::LogLevel::info;
    if (hub::base::log_level_from_name(config->log_level, level)) {
        hub::base::log_threshold.store(level);
    }
    auto partners = hub::directory::load_engine_partners(*config);
    if (!partners) {
        log_fatal("{}", partners.error());
    }
    if (auto kernel = hub::engine::check_kernel_features(); !kernel) {
        log_fatal("kernel check: {}", kernel.error());
    }

    hub::tls::initialise_library();
    // The listeners' certificates: tls.certificate, or the directory's listener certificate
    // for an address and SNI name (docs/DIRECTORY.md, "Listener certificates"). Their keys
    // are root's: read now, before the privilege drop; a changed row needs a restart.
    auto listener_rows = hub::directory::load_listener_certificates(*config);
    if (!listener_rows) {
        log_fatal("{}", listener_rows.error());
    }
    for (const std::string& unused :
         hub::engine::unused_listener_certificates(*config, *listener_rows)) {
        hub::base::log_warn(
            "listener certificate {} names no listener of {} (listen.smtp, listen.smtps): "
            "not used",
            unused, arguments.config_path);
    }
    // The hub CA's CRL (docs/CA.md, "Revocation in hubd"): read now and kept current by
    // every reload and the supervisor's timer, in every listener's contexts. Without [ca]
    // public_dir there is no CRL.
    std::optional<std::string> crl_issuer = hub_ca_among_client_cas(*config);
    auto listener_contexts =
        hub::engine::make_listener_contexts(*config, *listener_rows, crl_issuer.value_or(""));
    if (!listener_contexts) {
        log_fatal("{}", listener_contexts.error());
    }
    for (const std::string& line : listener_contexts->summary) {
        log_info("{}", line);
    }
    std::optional<hub::engine::CrlRefresher> crl;
    if (crl_issuer) {
        crl.emplace(config->ca_public_dir + "/crl.pem", listener_contexts->all);
        auto now = std::chrono::system_clock::now().time_since_epoch();
        (void)crl->refresh("start", std::chrono::duration_cast<std::chrono::seconds>(now).count());
    }

    // The hub's own certificate is its client certificate towards partners, and its key
    // is readable only before the privilege drop: its bytes are kept so that a reload can
    // make contexts for partners added or changed later (partner_snapshot.h says why).
    auto keys = hub::engine::read_outbound_key_material(*config);
    if (!keys) {
        log_fatal("TLS: {}", keys.error());
    }
    hub::engine::PartnerBoard partner_board;
    // A reload reads hub.conf again by this path, under seccomp, where getcwd is not
    // allowed: an absolute path needs none (hub.conf's own paths are absolute already).
    std::error_code path_error;
    std::string absolute_config = std::filesystem::absolute(arguments.config_path, path_error);
    if (path_error) {
        log_fatal("{}: {}", arguments.config_path, path_error.message());
    }
    hub::engine::Reloader reloader(absolute_config, *config, std::move(*keys), partner_board);
    reloader.set_crl_refresher(crl ? &*crl : nullptr);
    const std::vector<hub::directory::ListenerCertificateRecord> listener_rows_in_use =
        *listener_rows;
    reloader.set_listener_certificates(std::move(*listener_rows));
    if (auto published = reloader.publish_first(std::move(*partners)); !published) {
        log_fatal("{}", published.error());
    }

    unsigned shard_count = config->shards;
    if (shard_count == 0) {
        shard_count = std::max(1u, std::thread::hardware_concurrency());
    }
    auto user = hub::engine::resolve_hub_user(config->user);
    if (!user) {
        log_fatal("{}: {}", config->where("hub.user"), user.error());
    }
    auto dir_fds = hub::engine::prepare_spool(config->spool_dir, shard_count, user->uid, user->gid);
    if (!dir_fds) {
        log_fatal("spool: {}", dir_fds.error());
    }
    // Held until the process ends (the fd is never closed): hubctl writes to the spool
    // directly only while it can take this lock, i.e. while no hubd runs on it.
    auto spool_lock = hub::engine::lock_spool(config->spool_dir, 10'000);
    if (!spool_lock) {
        log_fatal("spool: {}", spool_lock.error());
    }
    auto recovery = hub::spool::recover(config->spool_dir, shard_count);
    if (!recovery) {
        log_fatal("spool recovery: {}", recovery.error().detail);
    }
    std::uint64_t torn_bytes = 0;
    for (const auto& segment : recovery->segments) {
        torn_bytes += segment.file_bytes - segment.valid_bytes;
    }
    log_info(
        "spool {}: recovered {} messages from {} segments ({} bytes of torn tails "
        "dropped)",
        config->spool_dir, recovery->messages.size(), recovery->segments.size(), torn_bytes);

    // Each segment directory belongs to shard (its number modulo the shard count, which
    // may have changed): that shard delivers the messages stored in it, and reclaims the
    // directory's segments when it is its own. Segments are opened read-only once, here.
    std::vector<std::vector<hub::engine::ShardSettings::SegmentFd>> segment_fds(shard_count);
    std::vector<std::vector<hub::engine::ShardSettings::OwnSegment>> own_segments(shard_count);
    for (auto& segment : recovery->segments) {
        if (segment.problem == hub::spool::SegmentProblem::not_regular_file) {
            continue;  // Not a segment: nothing in it to deliver.
        }
        int fd = open(segment.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log_fatal("spool: cannot open {} for delivery: {}", segment.path, std::strerror(errno));
        }
        unsigned owner = segment.shard % shard_count;
        if (segment.shard == owner) {
            own_segments[owner].push_back({std::move(segment), fd});
        } else {
            segment_fds[owner].push_back({segment.shard, segment.segment_seq, fd});
        }
    }
    std::vector<std::vector<hub::spool::RecoveredMessage>> recovered_by_shard(shard_count);
    for (auto& message : recovery->messages) {
        recovered_by_shard[message.segment_shard % shard_count].push_back(std::move(message));
    }

    hub::queue::Config queue_config;
    queue_config.retry_delay_s_min = config->retry_delay_s_min;
    queue_config.retry_delay_s_max = config->retry_delay_s_max;
    queue_config.delay_warning_s = config->delay_warning_s;
    queue_config.lifetime_s = config->lifetime_s;
    queue_config.recovery_spread_s = config->recovery_spread_s;
    queue_config.connections_max = config->outbound_connections_max;
    queue_config.destination_connections_max = config->destination_connections_max;
    queue_config.messages_max = config->queue_messages_max;
    if (auto checked = hub::queue::check_config(queue_config); !checked) {
        log_fatal("{}: [delivery]: {}", arguments.config_path, checked.error());
    }

    hub::engine::SupervisorSettings supervisor_settings;
    supervisor_settings.spool_dir = config->spool_dir;
    supervisor_settings.spool_reserve_bytes = config->spool_reserve_bytes;
    supervisor_settings.reloader = &reloader;
    supervisor_settings.crl_refresher = crl ? &*crl : nullptr;
    unsigned cpu_count = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned index = 0; index < shard_count; index++) {
        hub::engine::ShardSettings shard;
        shard.index = static_cast<std::uint8_t>(index);
        shard.cpu = static_cast<int>(index % cpu_count);
        auto smtp = hub::engine::bind_listener(config->smtp, "listen.smtp");
        auto smtps = hub::engine::bind_listener(config->smtps, "listen.smtps");
        if (!smtp || !smtps) {
            log_fatal("{}", !smtp ? smtp.error() : smtps.error());
        }
        shard.smtp_listener_fd = *smtp;
        shard.smtps_listener_fd = *smtps;
        shard.spool_dir_fd = (*dir_fds)[index];
        // Sequence 0 is never used, so no queue id is all zeros.
        shard.first_segment_seq = std::max<std::uint32_t>(
            1, index < recovery->next_segment_seq.size() ? recovery->next_segment_seq[index] : 0);
        // Each shard enforces its share; SO_REUSEPORT spreads connections evenly.
        shard.connections_max = (config->connections_max + shard_count - 1) / shard_count;
        shard.connections_per_partner_max =
            (config->connections_per_partner_max + shard_count - 1) / shard_count;
        shard.config = &*config;
        shard.partners = &partner_board;
        shard.tls_context = listener_contexts->smtp;
        shard.smtps_tls_context = listener_contexts->smtps;
        shard.recovered = std::move(recovered_by_shard[index]);
        shard.recovered_segment_fds = std::move(segment_fds[index]);
        shard.own_segments = std::move(own_segments[index]);
        shard.queue_config = queue_config;
        supervisor_settings.shards.push_back(std::move(shard));
    }
    recovery = hub::spool::Recovery{};

    // The status socket and the certificates it reports, while still root (docs/HEALTH.md).
    supervisor_settings.status_socket_path =
        hub::engine::status_socket_path(config->spool_dir, config->status_socket);
    auto status_socket = hub::engine::bind_status_socket(supervisor_settings.status_socket_path,
                                                         user->uid, config->status_group);
    if (!status_socket) {
        log_fatal("{}", status_socket.error());
    }
    supervisor_settings.status_socket_fd = *status_socket;
    supervisor_settings.certificates = certificates_to_watch(*config, listener_rows_in_use);

    hub::engine::drop_privileges(*user, config->user);
    hub::engine::block_signals();
    hub::engine::Supervisor supervisor(std::move(supervisor_settings));
    if (auto control = supervisor.open_control_socket(); !control) {
        log_fatal("{}", control.error());
    }
    // Before any shard thread exists; TSYNC covers this thread and every later one.
    if (config->seccomp) {
        if (auto filtered = hub::engine::install_seccomp_filter(); !filtered) {
            log_fatal("{}", filtered.error());
        }
    }
    if (auto started = supervisor.start_shards(); !started) {
        log_fatal("start-up: {}", started.error());
    }
    log_info(
        "ready: smtp {}:{} (STARTTLS), smtps {}:{} (implicit TLS), {} shards, hub domain "
        "{}{}",
        config->smtp.host, config->smtp.port, config->smtps.host, config->smtps.port, shard_count,
        config->domain, config->seccomp ? ", seccomp on" : ", seccomp off");
    auto result = supervisor.run();
    if (!result) {
        log_fatal("{}", result.error());
    }
    hub::tls::release_thread_caches();  // The start-up self-test handshake ran here.
    log_info("stopped");
    return 0;
}
