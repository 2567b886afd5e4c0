// hub_config.h -- hub.conf (TOML): what a box needs to boot.
//
// Every setting has a name, a default, a minimum and a maximum in one table
// (hub_config.cc), checked at load; docs/CONFIGURATION.md is generated from that table
// by `hubctl config-doc`. Day-to-day data (partners) lives elsewhere.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::config {

struct ListenAddress {
    std::string host;  // Numeric IPv4 or IPv6 literal ("127.0.0.1", "::1", "0.0.0.0").
    std::uint16_t port = 0;
};

struct HubConfig {
    // [hub]
    std::string domain = "lgolhub.net";        // The hub suffix stripped from recipients.
    std::string hostname = "hub.lgolhub.net";  // Greeting, Received: "by".
    std::uint32_t shards = 0;                  // 0 = one per online core.
    std::string user = "hubbox";               // Run as this user after start when started as root.
    std::string log_level = "info";
    bool seccomp = true;  // System-call allow-list after the privilege drop.
    // [listen]
    ListenAddress smtp{"127.0.0.1", 2525};   // STARTTLS.
    ListenAddress smtps{"127.0.0.1", 2465};  // Implicit TLS (RFC 8314).
    // [tls]
    std::string certificate_path;  // Hub certificate chain, PEM.
    std::string private_key_path;
    std::string client_ca_path;  // CA for partners' client certificates.
    // [spool]
    std::string spool_dir;
    std::uint64_t spool_reserve_bytes = 64ull << 20;  // Below this free: 452 4.3.1.
    std::uint64_t segment_bytes_max = 64ull << 20;    // Then a new segment file.
    // Large messages are written in slices while they arrive (spool format 3) instead of
    // whole at the end of data, and delivered slice by slice. Off: one record each, held
    // whole in memory while it arrives and while it is sent.
    bool stream_bodies = true;
    // [limits]
    std::uint64_t message_bytes_max = 5242880;
    std::uint32_t recipients_count_max = 100;
    std::uint32_t errors_count_max = 10;
    std::uint32_t connections_max = 4096;             // Whole hub, split across shards.
    std::uint32_t connections_per_partner_max = 256;  // Per partner, split across shards.
    std::uint32_t command_timeout_s = 300;            // RFC 5321 4.5.3.2.7: 5 minutes.
    std::uint32_t data_timeout_s = 600;               // RFC 5321 4.5.3.2.6: 10 minutes.
    // [delivery] (queue/limits.h holds the ranges)
    std::uint32_t retry_delay_s_min = 300;  // First retry; doubles up to the max.
    std::uint32_t retry_delay_s_max = 3600;
    std::uint32_t delay_warning_s = 4 * 3600;  // 0: never send delay reports.
    std::uint32_t lifetime_s = 5 * 86400;      // Then bounce.
    std::uint32_t recovery_spread_s = 60;
    std::uint32_t outbound_connections_max = 100;    // Per shard, all partners.
    std::uint32_t destination_connections_max = 10;  // Per shard and partner.
    std::uint32_t queue_messages_max = 100000;       // Per shard (queue/limits.h's ceiling).
    // [partners] and [directory]: exactly one of the two is set.
    std::string partners_file;   // TOML partner list (boxes not yet migrated).
    std::string directory_path;  // The partner directory (SQLite), see docs/DIRECTORY.md.
    // [ca] (docs/CA.md): hub-ca, the box's certificate authority; no state_dir = no CA.
    std::string ca_state_dir;    // Key, certificate, database: hub-ca's user only (0700).
    std::string ca_socket;       // The Unix socket hub-ca answers on.
    std::string ca_public_dir;   // ca.pem and crl.pem for everybody.
    std::string ca_user;         // Account hub-ca switches to when started as root.
    std::string ca_admin_group;  // Members may approve, reject, revoke (hubctl ca).
    std::string ca_enroll_user;  // The enrollment page's account (hub-enroll).
    std::uint32_t ca_validity_days = 730;
    std::uint32_t ca_crl_validity_days = 7;
    // [health] (docs/HEALTH.md)
    std::string status_socket;  // Read-only status socket; "" = <spool.dir>/status.sock.
    std::string status_group;   // Group that may read it (mode 0660); "" = 0600.
    // [enroll] (docs/ENROLLMENT.md): hub-enroll, the HTTPS enrollment page.
    ListenAddress enroll_listen{"127.0.0.1", 8443};
    std::string enroll_certificate_path;  // Empty: the hub's own (tls.certificate).
    std::string enroll_private_key_path;
    std::uint32_t enroll_requests_per_minute = 120;
    std::uint32_t enroll_posts_per_minute = 10;
    // [backup] (docs/BACKUP.md): read by hubctl backup only, never by hubd.
    std::string backup_dir;         // Scheduled archives, and the retention applies here.
    std::uint32_t backup_keep = 7;  // Archives kept in backup_dir.
    std::uint32_t backup_interval_hours = 24;  // backup run --if-due: at most this often.
    std::string backup_passphrase_file;        // Root 0600; or backup_public_key.
    std::string backup_public_key;             // Seal to this key (hubctl backup keygen) instead.
    bool backup_include_queue = false;
    std::string backup_remote;       // sftp://user@host[:port]/path, copied there after each.
    std::string backup_ssh_key;      // The identity sftp logs in with.
    std::string backup_known_hosts;  // The remote's pinned host key (OpenSSH known_hosts).
    std::string backup_network_dir;  // hub-netcfg's persistent network and firewall state.
    std::string backup_snmp_dir;     // The SNMP configuration.
    std::string backup_status_file;  // The last scheduled run's outcome (hubctl status).

    std::string source_path;  // The file this came from, for messages.
    // The line each key was set on ("tls.certificate" -> 7), for messages about values
    // that parse but do not work (hubd --check); keys left at their default are absent.
    std::map<std::string, std::uint64_t, std::less<>> key_lines;

    // "<source_path>:<line>" where name ("section.key") was set, else "<source_path>".
    std::string where(std::string_view name) const;
};

// Loads and validates hub.conf. Relative paths in the file are resolved against the
// file's own directory. On error the string names the file, the key and what is allowed,
// e.g. "hub.conf: limits.message_bytes_max = 0: must be between 1024 and 1073741824".
[[nodiscard]] Result<HubConfig, std::string> load_hub_config(const std::string& path);

// One line per option: "section.key  default  min..max  description", for the docs.
std::string describe_options();

// True for the options a reload applies to a running hubd (hub.log_level, partners.file).
bool option_changes_live(std::string_view name);
// The options ("section.key", in table order) whose value differs between the running
// configuration and the one a reload read, leaving out those that change live: a reload
// with any is refused, as it needs a restart.
std::vector<std::string> options_needing_restart(const HubConfig& running, const HubConfig& next);

}  // namespace hub::config
