// hub_config.cc -- hub.conf: the option table, loading and validation, generated docs.
//
// PURPOSE   Turn hub.conf into a HubConfig in which every value is known to be in range,
//           or explain every mistake in the file. One table below lists each option with
//           its default, bounds and description; loading, defaults and the documentation
//           (describe_options, docs/CONFIGURATION.md, `hubctl config-doc`) all read it, so
//           they cannot disagree (Postfix's one-source-for-code-and-docs idea).
// RUNS IN   hubd's supervisor before any shard starts (as root, before the privilege
//           drop) and hubctl. Never on the data path.
// TRUST     hub.conf is written by the operator and owned by root. We still validate every
//           value and refuse unknown keys: a misspelt limit silently left at its default is
//           the mistake we most want to catch.
// LIMITS    config_file_bytes_max for the file; each option's own min..max below.
// SEE ALSO  config/hub_config.h, config/syntax.h, docs/CONFIGURATION.md,
//           tools/dev-init (writes a development hub.conf).

#include "config/hub_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/assert.h"
#include "config/limits.h"
#include "config/syntax.h"
#include "config/toml_file.h"

namespace hub::config {

namespace {

// How an option's value is written and checked.
enum class Kind {
    integer,    // min..max, inclusive.
    domain,     // LDH domain name, stored lower case.
    user,       // POSIX user name.
    log_level,  // debug | info | warning | error (the names base/log.h accepts).
    endpoint,   // "IPv4:port" or "[IPv6]:port", numeric only.
    path,       // Non-empty; relative paths are resolved against hub.conf's directory.
    boolean,    // true | false; default_value 1 or 0.
    sftp_url,   // sftp://user@host[:port]/path (OpenSSH's own URI form).
};

struct Option {
    std::string_view name;  // "section.key".
    Kind kind = Kind::integer;
    std::uint64_t default_value = 0;  // Kind::integer.
    std::uint64_t min = 0;
    std::uint64_t max = 0;
    std::string_view default_text;  // Other kinds; "" for a path means none.
    bool required = false;
    std::string_view description;
    std::uint32_t HubConfig::*u32 = nullptr;  // Exactly one of these five is set.
    std::uint64_t HubConfig::*u64 = nullptr;
    std::string HubConfig::*text = nullptr;
    ListenAddress HubConfig::*endpoint = nullptr;
    bool HubConfig::*flag = nullptr;
};

constexpr Option integer32(std::string_view name, std::uint32_t HubConfig::*member,
                           std::uint64_t default_value, std::uint64_t min, std::uint64_t max,
                           std::string_view description) {
    Option option{name, Kind::integer, default_value, min, max, {}, false, description};
    option.u32 = member;
    return option;
}

constexpr Option integer64(std::string_view name, std::uint64_t HubConfig::*member,
                           std::uint64_t default_value, std::uint64_t min, std::uint64_t max,
                           std::string_view description) {
    Option option{name, Kind::integer, default_value, min, max, {}, false, description};
    option.u64 = member;
    return option;
}

constexpr Option text(std::string_view name, Kind kind, std::string HubConfig::*member,
                      std::string_view default_text, std::string_view description) {
    Option option{name, kind, 0, 0, 0, default_text, false, description};
    option.text = member;
    return option;
}

constexpr Option required_path(std::string_view name, std::string HubConfig::*member,
                               std::string_view description) {
    Option option{name, Kind::path, 0, 0, 0, {}, true, description};
    option.text = member;
    return option;
}

constexpr Option listen(std::string_view name, ListenAddress HubConfig::*member,
                        std::string_view default_text, std::string_view description) {
    Option option{name, Kind::endpoint, 0, 0, 0, default_text, false, description};
    option.endpoint = member;
    return option;
}

constexpr Option boolean(std::string_view name, bool HubConfig::*member, bool default_value,
                         std::string_view description) {
    Option option{name, Kind::boolean, default_value ? 1u : 0u, 0, 1, {}, false, description};
    option.flag = member;
    return option;
}

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;

// THE table. Keep it grouped by section, in the order the docs should show. Bounds are
// chosen so that any value inside them gives a working hub; the reasons are in the
// descriptions, which are the user documentation.
constexpr std::array options{
    text("hub.domain", Kind::domain, &HubConfig::domain, "lgolhub.net",
         "Mail domain of the hub: mail for user@<partner domain>.<hub.domain> is relayed "
         "to the partner as user@<partner domain>."),
    text("hub.hostname", Kind::domain, &HubConfig::hostname, "hub.lgolhub.net",
         "Name in the greeting, the EHLO reply and Received: \"by\" (RFC 5321 4.1.3)."),
    integer32("hub.shards", &HubConfig::shards, 0, 0, 256,
              "Engine threads, one io_uring each, pinned to cores; 0 = one per online core."),
    text("hub.user", Kind::user, &HubConfig::user, "hubbox",
         "Account hubd switches to after binding and loading keys, when started as root."),
    text("hub.log_level", Kind::log_level, &HubConfig::log_level, "info",
         "Lowest severity written to the log. A reload applies a change."),
    boolean("hub.seccomp", &HubConfig::seccomp, true,
            "After the privilege drop, every hubd thread runs under a seccomp allow-list of "
            "the system calls docs/ARCHITECTURE.md lists; any other call kills hubd."),
    listen("listen.smtp", &HubConfig::smtp, "127.0.0.1:2525",
           "SMTP with STARTTLS (RFC 3207). Numeric address only; 0.0.0.0 or [::] for all."),
    listen("listen.smtps", &HubConfig::smtps, "127.0.0.1:2465",
           "SMTP over implicit TLS (RFC 8314 3.3). Must differ from listen.smtp."),
    required_path("tls.certificate", &HubConfig::certificate_path,
                  "PEM certificate chain the hub presents, leaf first."),
    required_path("tls.key", &HubConfig::private_key_path,
                  "PEM private key for tls.certificate; read before privileges are dropped."),
    text("tls.client_ca", Kind::path, &HubConfig::client_ca_path, "",
         "PEM CA certificates that partners' client certificates must chain to; empty = "
         "client certificates cannot be verified."),
    required_path("spool.dir", &HubConfig::spool_dir,
                  "Spool directory (one sub-directory per shard); writable by hub.user."),
    integer64("spool.reserve_bytes", &HubConfig::spool_reserve_bytes, 64 * mib, 0,
              1024 * 1024 * gib,
              "Free space kept on the spool file system; below it new mail gets 452 (0 = off), "
              "while status records may still use it (compaction down to half of it)."),
    // At most 1 GiB: a segment then holds fewer records than a queue id's 24-bit ordinal
    // can number (a record is at least 93 bytes: 1 GiB / 93 < 2^24).
    integer64("spool.segment_bytes_max", &HubConfig::segment_bytes_max, 64 * mib, 1 * mib, 1 * gib,
              "A shard starts a new segment file once its current one reaches this; a "
              "segment is deleted once no queued message needs it."),
    boolean("spool.stream_bodies", &HubConfig::stream_bodies, true,
            "Write a large message to the spool in 256 KiB slices while it arrives and send "
            "it slice by slice (spool format 3), so it is never held whole; off: one record "
            "at the end of data, held whole while it arrives and while it is sent."),
    integer64("limits.message_bytes_max", &HubConfig::message_bytes_max, 5 * mib, 1 * kib, 1 * gib,
              "Largest message accepted; advertised with SIZE (RFC 1870)."),
    integer32("limits.recipients_count_max", &HubConfig::recipients_count_max, 100, 1, 10000,
              "Recipients per message (RFC 5321 4.5.3.1.8 asks for at least 100)."),
    integer32("limits.errors_count_max", &HubConfig::errors_count_max, 10, 1, 1000,
              "Rejected commands per session before 421 and close."),
    integer32("limits.connections_max", &HubConfig::connections_max, 4096, 1, 1000000,
              "Concurrent SMTP connections for the whole hub, split across shards."),
    integer32("limits.connections_per_partner_max", &HubConfig::connections_per_partner_max, 256, 1,
              1000000, "Concurrent connections from one partner, split across shards."),
    integer32("limits.command_timeout_s", &HubConfig::command_timeout_s, 300, 1, 3600,
              "Seconds to wait for the next command (RFC 5321 4.5.3.2.7: 5 minutes)."),
    integer32("limits.data_timeout_s", &HubConfig::data_timeout_s, 600, 1, 7200,
              "Seconds to wait for more message content after DATA."),
    // [delivery]: the ranges are queue/limits.h's; hubd also runs queue::check_config.
    integer32("delivery.retry_delay_s_min", &HubConfig::retry_delay_s_min, 300, 1, 86400,
              "Seconds before the first retry of a deferred recipient; doubles each time."),
    integer32("delivery.retry_delay_s_max", &HubConfig::retry_delay_s_max, 3600, 1, 86400,
              "Longest wait between retries (at least delivery.retry_delay_s_min)."),
    integer32("delivery.delay_warning_s", &HubConfig::delay_warning_s, 14400, 0, 8640000,
              "Send the sender a delay report once a message has waited this long; 0 = never."),
    integer32("delivery.lifetime_s", &HubConfig::lifetime_s, 432000, 5, 8640000,
              "Queue lifetime: a recipient still undelivered after this bounces (5 days)."),
    integer32("delivery.recovery_spread_s", &HubConfig::recovery_spread_s, 60, 0, 3600,
              "After a restart, recovered messages start within this many seconds."),
    integer32("delivery.connections_max", &HubConfig::outbound_connections_max, 100, 1, 10000,
              "Outbound connections per shard, all partners together."),
    integer32("delivery.destination_connections_max", &HubConfig::destination_connections_max, 10,
              1, 10000, "Outbound connections per shard to one partner."),
    integer32("delivery.queue_messages_max", &HubConfig::queue_messages_max, 100000, 1, 100000,
              "Messages one shard's queue holds; past it new mail gets 452 4.3.1."),
    text("partners.file", Kind::path, &HubConfig::partners_file, "",
         "Partner table (TOML): names, domains, source networks, smart hosts. For boxes not "
         "yet migrated to the directory; set this or directory.path, not both. Read again, "
         "from a changed path too, at each reload."),
    text("directory.path", Kind::path, &HubConfig::directory_path, "",
         "Partner directory (SQLite, written by hubctl partner/domain/connector); its active "
         "partners are the partner table, read at start and again at each reload (after "
         "every hubctl write, hubctl reload, SIGHUP). Set this or partners.file; a new path "
         "needs a restart."),
    // [ca]: hub-ca (docs/CA.md); ca/limits.h holds the defaults' reasons.
    text("ca.state_dir", Kind::path, &HubConfig::ca_state_dir, "",
         "hub-ca's own directory (mode 0700, owned by ca.user): the CA key (0600), its "
         "certificate and database. Empty = this box runs no CA."),
    text("ca.socket", Kind::path, &HubConfig::ca_socket, "",
         "Unix socket hub-ca answers on (hubctl ca, the enrollment page, hubd); needed with "
         "ca.state_dir. Callers are told apart by their uid, not by the socket's mode."),
    text("ca.public_dir", Kind::path, &HubConfig::ca_public_dir, "",
         "Directory where hub-ca publishes ca.pem and crl.pem (readable by all); needed with "
         "ca.state_dir."),
    text("ca.user", Kind::user, &HubConfig::ca_user, "",
         "Account hub-ca switches to when started as root (hubca on the appliance); empty = "
         "stay as started."),
    text("ca.admin_group", Kind::user, &HubConfig::ca_admin_group, "",
         "Group whose members may approve, reject and revoke with hubctl ca (root and "
         "ca.user always may)."),
    text("ca.enroll_user", Kind::user, &HubConfig::ca_enroll_user, "",
         "Account of the enrollment page: may submit requests with a partner's enrollment "
         "password and fetch their certificates, the CRL and the CA certificate."),
    integer32("ca.validity_days", &HubConfig::ca_validity_days, 730, 1, 3650,
              "Validity of the certificates hub-ca issues, in days (two years)."),
    integer32("ca.crl_validity_days", &HubConfig::ca_crl_validity_days, 7, 1, 365,
              "The CRL's nextUpdate is this many days ahead; hub-ca makes a new one after each "
              "revocation and when half of this has passed."),
    text("health.status_socket", Kind::path, &HubConfig::status_socket, "",
         "Read-only socket that answers only \"status\" (hubctl status, hub-metrics, "
         "hub-snmp); unset = status.sock in spool.dir. docs/HEALTH.md."),
    text("health.status_group", Kind::user, &HubConfig::status_group, "",
         "Group allowed to read health.status_socket (mode 0660, e.g. hubmon); unset = only "
         "hub.user and root (0600)."),
    // [enroll]: hub-enroll, the HTTPS enrollment page (docs/ENROLLMENT.md; enroll/limits.h).
    listen("enroll.listen", &HubConfig::enroll_listen, "127.0.0.1:8443",
           "HTTPS address of the enrollment page (443 on the appliance). Numeric address only."),
    text("enroll.certificate", Kind::path, &HubConfig::enroll_certificate_path, "",
         "The page's certificate chain (PEM, leaf first); empty = tls.certificate."),
    text("enroll.key", Kind::path, &HubConfig::enroll_private_key_path, "",
         "The page's private key (PEM), read as root before the drop; empty = tls.key."),
    integer32("enroll.requests_per_minute", &HubConfig::enroll_requests_per_minute, 120, 1, 100000,
              "Requests one source address may make per minute (a burst of as many)."),
    integer32("enroll.posts_per_minute", &HubConfig::enroll_posts_per_minute, 10, 1, 10000,
              "Forms one source address may send per minute: each one costs hub-ca a "
              "password hash, so this is kept low."),
    // [backup]: hubctl backup (docs/BACKUP.md); hubd never reads these.
    text("backup.dir", Kind::path, &HubConfig::backup_dir, "",
         "Directory for scheduled backups (hubctl backup run, hub-backup.timer); the oldest "
         "beyond backup.keep are deleted there. Empty = no scheduled backups."),
    integer32("backup.keep", &HubConfig::backup_keep, 7, 1, 1000,
              "Scheduled archives kept in backup.dir, and of this box's at backup.remote."),
    integer32("backup.interval_hours", &HubConfig::backup_interval_hours, 24, 1, 8760,
              "hub-backup.timer checks hourly; a backup is made when this many hours have "
              "passed since the last good one."),
    text("backup.passphrase_file", Kind::path, &HubConfig::backup_passphrase_file, "",
         "File (root, 0600) holding the passphrase scheduled backups are encrypted with "
         "(Argon2id); set this or backup.public_key."),
    text("backup.public_key", Kind::path, &HubConfig::backup_public_key, "",
         "Seal scheduled backups to this public key (hubctl backup keygen) instead; only its "
         "secret key, kept off the box, opens them."),
    boolean("backup.include_queue", &HubConfig::backup_include_queue, false,
            "Scheduled backups also hold a snapshot of the spool."),
    text("backup.remote", Kind::sftp_url, &HubConfig::backup_remote, "",
         "sftp://user@host[:port]/path: each scheduled archive is also copied there with "
         "OpenSSH's sftp (needs backup.ssh_key and backup.known_hosts)."),
    text("backup.ssh_key", Kind::path, &HubConfig::backup_ssh_key, "",
         "Private key sftp logs in to backup.remote with."),
    text("backup.known_hosts", Kind::path, &HubConfig::backup_known_hosts, "",
         "backup.remote's pinned host key (OpenSSH known_hosts format); any other key is "
         "refused (StrictHostKeyChecking)."),
    text("backup.network_dir", Kind::path, &HubConfig::backup_network_dir, "",
         "The persistent network and firewall configuration, backed up as it is "
         "(/var/lib/hubbox/network on the appliance)."),
    text("backup.snmp_dir", Kind::path, &HubConfig::backup_snmp_dir, "",
         "The SNMP configuration directory, backed up as it is."),
    text("backup.status_file", Kind::path, &HubConfig::backup_status_file, "",
         "Where each backup run records its outcome for hubctl status, hub-metrics and "
         "hub-snmp (appliance: /var/lib/hubbox/health/backup-status); empty = status in "
         "backup.dir."),
};

// The options a reload applies to the running hub (docs/CONFIGURATION.md, "Reload"); any
// other change needs a restart, because the listeners, shards, spool, keys and limits it
// touches were set up before the privilege drop or are copied into every shard.
constexpr std::array live_options{std::string_view("hub.log_level"),
                                  std::string_view("partners.file")};

constexpr std::string_view section_of(std::string_view name) {
    return name.substr(0, name.find('.'));
}

constexpr std::string_view key_in_section(std::string_view name) {
    return name.substr(name.find('.') + 1);
}

// Compile-time checks of the table itself: every default inside its bounds, every name
// "section.key", exactly one destination, 32-bit fields with 32-bit bounds.
constexpr bool options_are_consistent() {
    for (const Option& option : options) {
        int destinations = (option.u32 != nullptr) + (option.u64 != nullptr) +
                           (option.text != nullptr) + (option.endpoint != nullptr) +
                           (option.flag != nullptr);
        if (destinations != 1 || option.description.empty()) {
            return false;
        }
        std::size_t dot = option.name.find('.');
        if (dot == 0 || dot == std::string_view::npos || dot + 1 == option.name.size() ||
            option.name.find('.', dot + 1) != std::string_view::npos) {
            return false;
        }
        if (option.kind == Kind::integer) {
            if (option.min > option.default_value || option.default_value > option.max) {
                return false;
            }
            if (option.u32 != nullptr && option.max > std::numeric_limits<std::uint32_t>::max()) {
                return false;
            }
            if (option.u32 == nullptr && option.u64 == nullptr) {
                return false;
            }
        }
        if (option.required && option.kind != Kind::path) {
            return false;
        }
        if ((option.kind == Kind::boolean) != (option.flag != nullptr) ||
            (option.flag != nullptr && option.default_value > 1)) {
            return false;
        }
    }
    return true;
}
static_assert(options_are_consistent());
static_assert(options.size() < 64, "the seen-set below is a 64-bit mask");

// Section names in table order, without repeats.
std::vector<std::string_view> section_names() {
    std::vector<std::string_view> sections;
    for (const Option& option : options) {
        std::string_view section = section_of(option.name);
        if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
            sections.push_back(section);
        }
    }
    return sections;
}

const Option* find_option(std::string_view name) {
    for (const Option& option : options) {
        if (option.name == name) {
            return &option;
        }
    }
    return nullptr;
}

// What is allowed, as a phrase for both the docs' "allowed" column and error messages.
std::string allowed_phrase(const Option& option) {
    switch (option.kind) {
        case Kind::integer:
            return fmt::format("{}..{}", option.min, option.max);
        case Kind::domain:
            return "domain name";
        case Kind::user:
            return "user name";
        case Kind::log_level:
            return "debug|info|warning|error";
        case Kind::endpoint:
            return "IPv4:port|[IPv6]:port";
        case Kind::path:
            return "path";
        case Kind::boolean:
            return "true|false";
        case Kind::sftp_url:
            return "sftp URL";
    }
    HUB_PANIC("unknown option kind");
}

// "must be ..." for error messages; detail says what exactly is wrong, if known.
std::string must_be(const Option& option, std::string_view detail) {
    std::string what;
    switch (option.kind) {
        case Kind::integer:
            what = fmt::format("must be between {} and {}", option.min, option.max);
            break;
        case Kind::domain:
            what = "must be a domain name of letters, digits and hyphens";
            break;
        case Kind::user:
            what = "must be a user name";
            break;
        case Kind::log_level:
            what = "must be one of \"debug\", \"info\", \"warning\", \"error\"";
            break;
        case Kind::endpoint:
            what = "must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric address";
            break;
        case Kind::path:
            what = "must be a non-empty path";
            break;
        case Kind::boolean:
            what = "must be true or false";
            break;
        case Kind::sftp_url:
            what = "must be sftp://user@host[:port]/path";
            break;
    }
    if (!detail.empty()) {
        what += fmt::format(" ({})", detail);
    }
    return what;
}

// Resolves a relative path against base_dir; absolute paths are kept as written.
std::string resolve_path(const std::filesystem::path& base_dir, std::string_view value) {
    std::filesystem::path path(value);
    if (path.is_absolute()) {
        return std::string(value);
    }
    return (base_dir / path).lexically_normal().string();
}

// Checks one string value for its kind and stores it. On failure returns false with what
// exactly is wrong in detail (may stay empty when must_be() says it all).
bool store_text(const Option& option, std::string_view value, const std::filesystem::path& base_dir,
                HubConfig& config, std::string& detail) {
    switch (option.kind) {
        case Kind::integer:
            HUB_PANIC("integer option given to store_text");
        case Kind::boolean:
            HUB_PANIC("boolean option given to store_text");
        case Kind::domain:
            detail = check_domain(value);
            if (!detail.empty()) {
                return false;
            }
            config.*option.text = ascii_lower(value);
            return true;
        case Kind::user:
            detail = check_user_name(value);
            if (!detail.empty()) {
                return false;
            }
            config.*option.text = std::string(value);
            return true;
        case Kind::log_level:
            for (std::string_view level : {"debug", "info", "warning", "error"}) {
                if (value == level) {
                    config.*option.text = std::string(value);
                    return true;
                }
            }
            return false;  // The list in must_be() says it all.
        case Kind::endpoint: {
            Endpoint endpoint;
            detail = parse_endpoint(value, endpoint);
            if (!detail.empty()) {
                return false;
            }
            config.*option.endpoint = ListenAddress{std::move(endpoint.host), endpoint.port};
            return true;
        }
        case Kind::path:
            if (value.find('\0') != std::string_view::npos) {
                detail = "it contains a NUL character";
            }
            if (value.empty() || !detail.empty()) {
                return false;
            }
            config.*option.text = resolve_path(base_dir, value);
            return true;
        case Kind::sftp_url: {
            // sftp(1) is given the URL as one argument: no option-like or odd bytes.
            constexpr std::string_view scheme = "sftp://";
            std::string_view rest = value.starts_with(scheme) ? value.substr(scheme.size()) : "";
            std::size_t at = rest.find('@');
            std::size_t slash = rest.find('/');
            bool plain = std::all_of(value.begin(), value.end(), [](char c) {
                return c > 0x20 && c < 0x7f && c != '\\' && c != '\'' && c != '"';
            });
            if (!plain || at == 0 || at == std::string_view::npos ||
                slash == std::string_view::npos || slash < at + 2) {
                return false;
            }
            config.*option.text = std::string(value);
            return true;
        }
    }
    HUB_PANIC("unknown option kind");
}

void apply_defaults(HubConfig& config) {
    for (const Option& option : options) {
        if (option.u32 != nullptr) {
            config.*option.u32 = static_cast<std::uint32_t>(option.default_value);
        } else if (option.u64 != nullptr) {
            config.*option.u64 = option.default_value;
        } else if (option.flag != nullptr) {
            config.*option.flag = option.default_value != 0;
        } else if (option.endpoint != nullptr) {
            Endpoint endpoint;
            HUB_ASSERT(parse_endpoint(option.default_text, endpoint).empty());  // Our own table.
            config.*option.endpoint = ListenAddress{std::move(endpoint.host), endpoint.port};
        } else {
            config.*option.text = std::string(option.default_text);
        }
    }
}

// Validates and stores one "section.key = value".
void load_option(const Option& option, const toml::node& node,
                 const std::filesystem::path& base_dir, HubConfig& config, Diagnostics& errors) {
    std::string shown = fmt::format("{} = {}", option.name, toml_value_for_message(node));
    config.key_lines[std::string(option.name)] = node.source().begin.line;
    if (option.kind == Kind::boolean) {
        const auto* flag = node.as_boolean();
        if (flag == nullptr) {
            errors.add(node.source(), fmt::format("{}: must be true or false (not {})", shown,
                                                  toml_type_phrase(node)));
            return;
        }
        config.*option.flag = flag->get();
        return;
    }
    if (option.kind == Kind::integer) {
        const auto* integer = node.as_integer();
        if (integer == nullptr) {
            errors.add(node.source(),
                       fmt::format("{}: must be an integer (not {}) between {} and {}", shown,
                                   toml_type_phrase(node), option.min, option.max));
            return;
        }
        std::int64_t value = integer->get();
        if (value < 0 || static_cast<std::uint64_t>(value) < option.min ||
            static_cast<std::uint64_t>(value) > option.max) {
            errors.add(node.source(), fmt::format("{}: {}", shown, must_be(option, "")));
            return;
        }
        if (option.u32 != nullptr) {
            config.*option.u32 = static_cast<std::uint32_t>(value);  // max <= UINT32_MAX.
        } else {
            config.*option.u64 = static_cast<std::uint64_t>(value);
        }
        return;
    }
    const auto* string = node.as_string();
    if (string == nullptr) {
        errors.add(node.source(), fmt::format("{}: must be a string (not {}): {}", shown,
                                              toml_type_phrase(node), allowed_phrase(option)));
        return;
    }
    std::string detail;
    if (!store_text(option, string->get(), base_dir, config, detail)) {
        errors.add(node.source(), fmt::format("{}: {}", shown, must_be(option, detail)));
    }
}

// "did you mean" for an unknown "section.key" (or a key outside any section).
std::string suggestion_for(std::string_view name) {
    std::size_t dot = name.rfind('.');
    std::string_view key = dot == std::string_view::npos ? name : name.substr(dot + 1);
    std::vector<std::string_view> names;
    for (const Option& option : options) {
        // A known key in the wrong place: "domain" at the top or "[limits] shards".
        if (key_in_section(option.name) == key) {
            return fmt::format("; did you mean '{}' (key '{}' in section [{}])?", option.name, key,
                               section_of(option.name));
        }
        names.push_back(option.name);
    }
    std::string_view best = closest_word(name, names);
    return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

void load_section(std::string_view section, const toml::table& table,
                  const std::filesystem::path& base_dir, HubConfig& config, std::uint64_t& seen,
                  Diagnostics& errors) {
    for (auto&& [key, node] : table) {
        std::string name = fmt::format("{}.{}", section, key.str());
        const Option* option = find_option(name);
        if (option == nullptr) {
            errors.add(key.source(), fmt::format("unknown key '{}'{}", name, suggestion_for(name)));
            continue;
        }
        seen |= std::uint64_t{1} << (option - options.data());
        load_option(*option, node, base_dir, config, errors);
    }
}

// Partners come from exactly one place: the directory, or a TOML file not yet imported.
void check_partner_source(const HubConfig& config, const toml::table& root, Diagnostics& errors) {
    if (config.partners_file.empty() == config.directory_path.empty()) {
        const toml::node* node = root.at_path("directory.path").node();
        toml::source_region where = node != nullptr ? node->source() : toml::source_region{};
        if (config.partners_file.empty()) {
            errors.add_missing(
                "partners come from nowhere: set directory.path (the partner "
                "directory) or partners.file (a TOML partner list)");
        } else {
            errors.add(where,
                       "directory.path and partners.file are both set: keep one (after "
                       "`hubctl partner import`, remove partners.file)");
        }
    }
}

void check_cross_options(const HubConfig& config, const toml::table& root, Diagnostics& errors) {
    if (!config.ca_state_dir.empty() &&
        (config.ca_socket.empty() || config.ca_public_dir.empty())) {
        const toml::node* node = root.at_path("ca.state_dir").node();
        errors.add(node != nullptr ? node->source() : toml::source_region{},
                   "ca.state_dir needs ca.socket and ca.public_dir too (where hub-ca answers "
                   "and where it publishes the CRL)");
    }
    if (config.smtp.host == config.smtps.host && config.smtp.port == config.smtps.port) {
        const toml::node* node = root.at_path("listen.smtps").node();
        if (node == nullptr) {
            node = root.at_path("listen.smtp").node();
        }
        toml::source_region where = node != nullptr ? node->source() : toml::source_region{};
        std::string shown = config.smtp.host.find(':') == std::string::npos
                                ? fmt::format("{}:{}", config.smtp.host, config.smtp.port)
                                : fmt::format("[{}]:{}", config.smtp.host, config.smtp.port);
        errors.add(where,
                   fmt::format("listen.smtps = \"{}\": must differ from listen.smtp", shown));
    }
}

}  // namespace

Result<HubConfig, std::string> load_hub_config(const std::string& path) {
    Result<toml::table, std::string> parsed = read_toml_file(path, config_file_bytes_max);
    if (!parsed) {
        return hub::unexpected(std::move(parsed).error());
    }
    const toml::table& root = *parsed;

    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(path, error);
    std::filesystem::path base_dir = (error ? std::filesystem::path(path) : absolute).parent_path();

    HubConfig config;
    apply_defaults(config);
    config.source_path = path;
    Diagnostics errors(path);
    std::vector<std::string_view> sections = section_names();
    std::uint64_t seen = 0;
    for (auto&& [key, node] : root) {
        std::string_view section = key.str();
        if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
            if (node.is_table()) {
                std::string_view best = closest_word(section, sections);
                errors.add(
                    key.source(),
                    fmt::format("unknown section [{}]{}", section,
                                best.empty() ? "" : fmt::format("; did you mean [{}]?", best)));
            } else {
                errors.add(key.source(), fmt::format("unknown key '{}' outside any section{}",
                                                     section, suggestion_for(section)));
            }
            continue;
        }
        const toml::table* table = node.as_table();
        if (table == nullptr) {
            errors.add(key.source(), fmt::format("{} = {}: must be a table ([{}])", section,
                                                 toml_value_for_message(node), section));
            continue;
        }
        load_section(section, *table, base_dir, config, seen, errors);
    }
    for (std::size_t i = 0; i < options.size(); i++) {
        if (options[i].required && (seen & (std::uint64_t{1} << i)) == 0) {
            errors.add_missing(fmt::format("{} is missing; it is required ({})", options[i].name,
                                           options[i].description));
        }
    }
    check_partner_source(config, root, errors);
    if (errors.empty()) {
        check_cross_options(config, root, errors);
    }
    if (!errors.empty()) {
        return hub::unexpected(errors.render());
    }
    HUB_ASSERT(!config.spool_dir.empty());
    HUB_ASSERT(config.partners_file.empty() != config.directory_path.empty());
    HUB_ASSERT(config.smtp.port != 0 && config.smtps.port != 0);
    return config;
}

std::string HubConfig::where(std::string_view name) const {
    auto found = key_lines.find(name);
    if (found == key_lines.end()) {
        return source_path;
    }
    return fmt::format("{}:{}", source_path, found->second);
}

std::string describe_options() {
    struct Row {
        std::string name, default_text, allowed;
        std::string_view description;
    };
    std::vector<Row> rows;
    rows.push_back(Row{"# option", "default", "allowed", "description"});
    for (const Option& option : options) {
        std::string default_text;
        if (option.kind == Kind::integer) {
            default_text = fmt::format("{}", option.default_value);
        } else if (option.kind == Kind::boolean) {
            default_text = option.default_value != 0 ? "true" : "false";
        } else if (option.required) {
            default_text = "(required)";
        } else if (option.default_text.empty()) {
            default_text = "\"\"";
        } else {
            default_text = std::string(option.default_text);
        }
        rows.push_back(Row{std::string(option.name), default_text, allowed_phrase(option),
                           option.description});
    }
    std::size_t name_width = 0;
    std::size_t default_width = 0;
    std::size_t allowed_width = 0;
    for (const Row& row : rows) {
        name_width = std::max(name_width, row.name.size());
        default_width = std::max(default_width, row.default_text.size());
        allowed_width = std::max(allowed_width, row.allowed.size());
    }
    std::string out;
    for (const Row& row : rows) {
        out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", row.name, name_width, row.default_text,
                           default_width, row.allowed, allowed_width, row.description);
    }
    return out;
}

bool option_changes_live(std::string_view name) {
    // [backup] is hubctl's alone: hubd has nothing to apply, so a change never needs a restart.
    return std::find(live_options.begin(), live_options.end(), name) != live_options.end() ||
           section_of(name) == "backup";
}

std::vector<std::string> options_needing_restart(const HubConfig& running, const HubConfig& next) {
    std::vector<std::string> changed;
    for (const Option& option : options) {
        if (option_changes_live(option.name)) {
            continue;
        }
        bool same = true;
        if (option.u32 != nullptr) {
            same = running.*option.u32 == next.*option.u32;
        } else if (option.u64 != nullptr) {
            same = running.*option.u64 == next.*option.u64;
        } else if (option.text != nullptr) {
            same = running.*option.text == next.*option.text;
        } else if (option.endpoint != nullptr) {
            same = (running.*option.endpoint).host == (next.*option.endpoint).host &&
                   (running.*option.endpoint).port == (next.*option.endpoint).port;
        } else if (option.flag != nullptr) {
            same = running.*option.flag == next.*option.flag;
        }
        if (!same) {
            changed.emplace_back(option.name);
        }
    }
    return changed;
}

}  // namespace hub::config
