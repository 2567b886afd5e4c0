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
// LIMITS    see docs/CONFIGURATION.md; engine/limits.h for fixed sizes.
// SEE ALSO  hubctl(1), docs/ARCHITECTURE.md, engine/supervisor.h
//
// Usage: hubd --config hub.conf [--check]
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "base/log.h"
#include "config/hub_config.h"
#include "engine/kernel_features.h"
#include "engine/startup.h"
#include "engine/supervisor.h"
#include "policy/partners.h"
#include "queue/scheduler.h"
#include "spool/spool_format.h"
#include "tls/tls_session.h"

namespace {

using hub::base::log_fatal;
using hub::base::log_info;

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
        } else {
            log_fatal("usage: hubd --config FILE [--check] (unknown argument '{}')", argument);
        }
    }
    if (arguments.config_path.empty()) {
        log_fatal("usage: hubd --config FILE [--check]");
    }
    return arguments;
}

struct HubUser {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};

HubUser resolve_user(const std::string& name) {
    if (geteuid() != 0) {
        return HubUser{};  // Not root: keep running as whoever started us.
    }
    passwd* entry = getpwnam(name.c_str());
    if (entry == nullptr) {
        log_fatal(
            "hub.conf: hub.user = \"{}\": no such user; create it (tools/setup does: "
            "useradd --system hubbox) or name an existing unprivileged user",
            name);
    }
    if (entry->pw_uid == 0) {
        log_fatal("hub.conf: hub.user = \"{}\" is root; name an unprivileged user", name);
    }
    return HubUser{entry->pw_uid, entry->pw_gid};
}

void drop_privileges(const HubUser& user, const std::string& name) {
    if (user.uid != static_cast<uid_t>(-1)) {
        if (setgroups(0, nullptr) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0) {
            log_fatal("cannot become user {}: {}", name, std::strerror(errno));
        }
        if (setuid(0) == 0) {
            log_fatal("privilege drop failed: could regain root");
        }
        log_info("running as user {} (uid {})", name, user.uid);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        log_fatal("prctl(PR_SET_NO_NEW_PRIVS): {}", std::strerror(errno));
    }
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hubd");
    tzset();  // Read /etc/localtime now, not from a shard on its first date.
    Arguments arguments = parse_arguments(argc, argv);

    auto config = hub::config::load_hub_config(arguments.config_path);
    if (!config) {
        log_fatal("{}", config.error());
    }
    hub::base::LogLevel level = hub::base::LogLevel::info;
    if (hub::base::log_level_from_name(config->log_level, level)) {
        hub::base::log_threshold.store(level);
    }
    auto partners = hub::policy::load_partners(config->partners_file);
    if (!partners) {
        log_fatal("{}", partners.error());
    }
    hub::policy::PartnerTable partner_table(config->domain, std::move(*partners));
    if (arguments.check_only) {
        log_info("{}: configuration ok, {} partners", arguments.config_path,
                 partner_table.partners().size());
        return 0;
    }
    if (auto kernel = hub::engine::check_kernel_features(); !kernel) {
        log_fatal("kernel check: {}", kernel.error());
    }

    hub::tls::initialise_library();
    hub::tls::ServerConfig tls_config;
    tls_config.certificate_chain_path = config->certificate_path;
    tls_config.private_key_path = config->private_key_path;
    tls_config.client_ca_path = config->client_ca_path;
    auto tls_context = hub::tls::ServerContext::create(tls_config);
    if (!tls_context) {
        log_fatal("TLS: {}", tls_context.error().message);
    }

    // One client context per partner for delivery, made now: the hub's own certificate
    // is its client certificate, and its key is readable only before the privilege drop.
    std::vector<std::shared_ptr<hub::tls::ClientContext>> client_contexts;
    for (const hub::policy::Partner& partner : partner_table.partners()) {
        hub::tls::ClientConfig client;
        client.trust_anchor_path = config->client_ca_path;
        client.certificate_chain_path = config->certificate_path;
        client.private_key_path = config->private_key_path;
        client.server_name = partner.outbound_name;
        client.pinned_sha256 = partner.outbound_pin_sha256;
        client.verify_peer = partner.outbound_pin_sha256.empty();  // A pin replaces the CA.
        auto context = hub::tls::ClientContext::create(client);
        if (!context) {
            log_fatal("partner {}: outbound TLS: {}", partner.name, context.error().message);
        }
        client_contexts.push_back(*context);
    }

    unsigned shard_count = config->shards;
    if (shard_count == 0) {
        shard_count = std::max(1u, std::thread::hardware_concurrency());
    }
    HubUser user = resolve_user(config->user);
    auto dir_fds = hub::engine::prepare_spool(config->spool_dir, shard_count, user.uid, user.gid);
    if (!dir_fds) {
        log_fatal("spool: {}", dir_fds.error());
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
    if (auto checked = hub::queue::check_config(queue_config); !checked) {
        log_fatal("{}: [delivery]: {}", arguments.config_path, checked.error());
    }

    hub::engine::SupervisorSettings supervisor;
    supervisor.spool_dir = config->spool_dir;
    supervisor.spool_reserve_bytes = config->spool_reserve_bytes;
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
        shard.partners = &partner_table;
        shard.tls_context = *tls_context;
        shard.client_contexts = client_contexts;
        shard.recovered = std::move(recovered_by_shard[index]);
        shard.recovered_segment_fds = std::move(segment_fds[index]);
        shard.own_segments = std::move(own_segments[index]);
        shard.queue_config = queue_config;
        supervisor.shards.push_back(std::move(shard));
    }
    recovery = hub::spool::Recovery{};

    drop_privileges(user, config->user);
    hub::engine::block_signals();
    log_info(
        "ready: smtp {}:{} (STARTTLS), smtps {}:{} (implicit TLS), {} shards, hub domain "
        "{}",
        config->smtp.host, config->smtp.port, config->smtps.host, config->smtps.port, shard_count,
        config->domain);
    auto result = hub::engine::run_supervisor(std::move(supervisor));
    if (!result) {
        log_fatal("{}", result.error());
    }
    hub::tls::release_thread_caches();  // The start-up self-test handshake ran here.
    log_info("stopped");
    return 0;
}
