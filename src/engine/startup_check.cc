// startup_check.cc -- hubd --check: the start-up steps tried without starting.
//
// PURPOSE   Tell the operator, in one run, everything that would stop hubd from starting
//           or make it fail later: unreadable or mismatched TLS files, a chain the CA does
//           not sign, expired (error) or soon-expiring (warning) certificates, bad partner
//           entries, a spool the hub user cannot write, listeners already taken. Each
//           finding names the file and line of the setting it is about.
// RUNS IN   hubd --check, as whoever runs it (root on the appliance); never with shards.
// TRUST     the configuration files (root-owned); the certificate files are parsed by
//           wolfSSL as at start-up.
// LIMITS    certificate_expiry_warning_s; one probe child for the spool.
// SEE ALSO  programs/hubd/main.cc, engine/startup.cc, tls/tls_context.h
#include "engine/startup_check.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/assert.h"
#include "directory/configured.h"
#include "engine/control.h"
#include "engine/listener_contexts.h"
#include "engine/startup.h"
#include "policy/partners.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace hub::engine {
namespace {

std::string date_text(std::int64_t unix_s) {
    time_t time = static_cast<time_t>(unix_s);
    struct tm broken_down {};
    gmtime_r(&time, &broken_down);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &broken_down);
    return text;
}

void add(std::vector<Finding>& findings, Severity severity, std::string where, std::string text) {
    findings.push_back(Finding{severity, std::move(where), std::move(text)});
}

// The partner file: every value error with its line (the loader's own messages).
void check_partners(const config::HubConfig& config, std::vector<Finding>& findings) {
    auto partners = directory::load_configured_partners(config);
    if (!partners && !config.directory_path.empty()) {
        add(findings, Severity::error, config.where("directory.path"), partners.error());
        return;
    }
    if (!partners) {
        for (Finding& finding : findings_from_lines(partners.error(), config.partners_file,
                                                    config.where("partners.file"))) {
            if (finding.where == config.partners_file) {
                finding.where = config.where("partners.file");  // Unreadable: say who named it.
                finding.text = config.partners_file + ": " + finding.text;
            }
            findings.push_back(std::move(finding));
        }
        return;
    }
    // Outbound TLS as start-up builds it: the CA as trust anchor unless a pin replaces it.
    for (const policy::Partner& partner : *partners) {
        tls::ClientConfig client;
        client.trust_anchor_path = config.client_ca_path;
        client.server_name = partner.outbound_name;
        client.pinned_sha256 = partner.outbound_pin_sha256;
        client.verify_peer = partner.outbound_pin_sha256.empty();
        if (auto context = tls::ClientContext::create(client); !context) {
            add(findings, Severity::error,
                config.directory_path.empty() ? config.partners_file : config.directory_path,
                fmt::format("partner \"{}\": outbound TLS: {}", partner.name,
                            context.error().message));
        }
    }
}

// Readable, parseable, within its dates; false when the file cannot be used at all.
bool check_certificate_file(const config::HubConfig& config, std::string_view key,
                            const std::string& path, std::int64_t now_s,
                            std::vector<Finding>& findings) {
    auto facts = tls::read_certificate_facts(path);
    if (!facts) {
        add(findings, Severity::error, config.where(key),
            fmt::format("{} = \"{}\": {}", key, path, facts.error()));
        return false;
    }
    for (std::size_t index = 0; index < facts->size(); index++) {
        const tls::CertificateFacts& fact = (*facts)[index];
        std::string what =
            fmt::format("{} = \"{}\": certificate {} ({})", key, path, index + 1, fact.subject);
        if (auto finding = check_validity(config.where(key), what, fact.not_before_s,
                                          fact.not_after_s, now_s)) {
            findings.push_back(std::move(*finding));
        }
    }
    return true;
}

void check_tls(const config::HubConfig& config, std::int64_t now_s,
               std::vector<Finding>& findings) {
    bool certificate_ok =
        check_certificate_file(config, "tls.certificate", config.certificate_path, now_s, findings);
    bool key_readable = access(config.private_key_path.c_str(), R_OK) == 0;
    if (!key_readable) {
        add(findings, Severity::error, config.where("tls.key"),
            fmt::format("tls.key = \"{}\": cannot read: {}", config.private_key_path,
                        std::strerror(errno)));
    }
    if (certificate_ok && key_readable) {
        tls::ServerConfig server;  // Exactly what start-up loads, self-test handshake included.
        server.certificate_chain_path = config.certificate_path;
        server.private_key_path = config.private_key_path;
        if (auto context = tls::ServerContext::create(server); !context) {
            add(findings, Severity::error, config.where("tls.key"),
                fmt::format("tls.key = \"{}\": {}", config.private_key_path,
                            context.error().message));
        }
    }
    if (config.client_ca_path.empty()) {
        add(findings, Severity::warning, config.source_path,
            "tls.client_ca is not set: partners' client certificates cannot be verified and "
            "the hub's chain is not checked");
        return;
    }
    bool ca_ok =
        check_certificate_file(config, "tls.client_ca", config.client_ca_path, now_s, findings);
    if (certificate_ok && ca_ok) {
        if (auto verified = tls::verify_chain(config.certificate_path, config.client_ca_path);
            !verified) {
            add(findings, Severity::error, config.where("tls.certificate"),
                fmt::format("tls.certificate = \"{}\": {}", config.certificate_path,
                            verified.error()));
        }
    }
}

// The directory's listener certificates: each row's files as tls.certificate's are checked
// (dates, key and certificate together), and rows whose address is no listener.
void check_listener_certificates(const config::HubConfig& config, std::int64_t now_s,
                                 std::vector<Finding>& findings) {
    if (config.directory_path.empty()) {
        return;
    }
    auto rows = directory::load_listener_certificates(config);
    if (!rows) {
        return;  // check_partners reports a directory that cannot be read.
    }
    std::string where = config.where("directory.path");
    for (const directory::ListenerCertificateRecord& row : *rows) {
        std::string what = fmt::format("listener certificate {} ({})", row.name, row.address);
        auto facts = tls::read_certificate_facts(row.certificate_path);
        if (!facts) {
            add(findings, Severity::error, where, fmt::format("{}: {}", what, facts.error()));
            continue;
        }
        const tls::CertificateFacts& leaf = facts->front();
        if (auto finding = check_validity(where, fmt::format("{}: {}", what, leaf.subject),
                                          leaf.not_before_s, leaf.not_after_s, now_s)) {
            findings.push_back(std::move(*finding));
        }
        tls::ServerConfig server;
        server.certificate_chain_path = row.certificate_path;
        server.private_key_path = row.key_path;
        if (auto context = tls::ServerContext::create(server); !context) {
            add(findings, Severity::error, where,
                fmt::format("{}: {}; hubd would not start (hubctl listener-cert remove {})", what,
                            context.error().message, row.name));
        }
    }
    for (const std::string& unused : unused_listener_certificates(config, *rows)) {
        add(findings, Severity::warning, where,
            fmt::format("listener certificate {} names no listener (listen.smtp, listen.smtps): "
                        "not used",
                        unused));
    }
}

// What the hub user needs once start-up has made and chowned the spool as root: search
// permission down to it (statvfs, the control socket) and, for a directory it already
// owns, write permission. Run in a child that has become that user; returns an errno.
int spool_probe_as_user(const std::string& spool_dir, uid_t uid, gid_t gid) {
    if (uid != static_cast<uid_t>(-1) &&
        (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        return errno;
    }
    struct stat status {};
    if (stat(spool_dir.c_str(), &status) == 0) {
        bool chowned_at_start = geteuid() != status.st_uid;  // Root chowns it before the drop.
        int mode = chowned_at_start ? X_OK : (W_OK | X_OK);
        return access(spool_dir.c_str(), mode) == 0 ? 0 : errno;
    }
    std::string parent = std::filesystem::path(spool_dir).parent_path().string();
    return access(parent.empty() ? "." : parent.c_str(), X_OK) == 0 ? 0 : errno;
}

void check_spool(const config::HubConfig& config, uid_t uid, gid_t gid,
                 std::vector<Finding>& findings) {
    std::string where = config.where("spool.dir");
    std::string existing = config.spool_dir;
    struct statvfs stats {};
    while (statvfs(existing.c_str(), &stats) != 0 && existing.size() > 1) {
        existing = std::filesystem::path(existing).parent_path().string();
    }
    if ((stats.f_flag & ST_RDONLY) != 0) {
        add(findings, Severity::error, where,
            fmt::format("spool.dir = \"{}\": on a read-only file system", config.spool_dir));
        return;
    }
    pid_t child = fork();
    if (child < 0) {
        add(findings, Severity::error, where, fmt::format("fork: {}", std::strerror(errno)));
        return;
    }
    if (child == 0) {
        _exit(spool_probe_as_user(config.spool_dir, uid, gid));
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    int error = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
    if (error != 0) {
        add(findings, Severity::error, where,
            fmt::format("spool.dir = \"{}\": not usable by hub.user \"{}\": {}", config.spool_dir,
                        config.user, std::strerror(error)));
    }
}

// A live reload reads hub.conf and the partners again as the hub user (reload.cc): each file
// it will read, in a child that has become that user; returns an errno. A missing -wal or
// -shm file is not a problem (the next writer makes them, with the database's mode).
int readable_as_user(const std::string& path, bool may_be_missing, uid_t uid, gid_t gid) {
    if (uid != static_cast<uid_t>(-1) &&
        (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        return errno;
    }
    if (access(path.c_str(), R_OK) == 0) {
        return 0;
    }
    return may_be_missing && errno == ENOENT ? 0 : errno;
}

// Warnings, not errors: hubd starts (it reads them as root), but every reload would be
// refused until the files are readable by the hub user.
void check_reload_readable(const config::HubConfig& config, uid_t uid, gid_t gid,
                           std::vector<Finding>& findings) {
    struct File {
        std::string path;
        std::string where;
        bool may_be_missing = false;
    };
    std::vector<File> files{{config.source_path, config.source_path, false}};
    if (!config.directory_path.empty()) {
        std::string where = config.where("directory.path");
        files.push_back({config.directory_path, where, false});
        files.push_back({config.directory_path + "-wal", where, true});
        files.push_back({config.directory_path + "-shm", where, true});
    } else if (!config.partners_file.empty()) {
        files.push_back({config.partners_file, config.where("partners.file"), false});
    }
    for (const File& file : files) {
        pid_t child = fork();
        if (child < 0) {
            add(findings, Severity::error, file.where,
                fmt::format("fork: {}", std::strerror(errno)));
            return;
        }
        if (child == 0) {
            _exit(readable_as_user(file.path, file.may_be_missing, uid, gid));
        }
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        int error = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
        if (error != 0) {
            add(findings, Severity::warning, file.where,
                fmt::format("{}: not readable by hub.user \"{}\" ({}): hubd starts, but a live "
                            "reload (hubctl reload, SIGHUP, hubctl's writes) will be refused; "
                            "make it and its folders readable by that user (docs/DIRECTORY.md)",
                            file.path, config.user, std::strerror(error)));
        }
    }
}

// The status socket's group must exist, and its directory must be there for hubd to bind
// in (docs/HEALTH.md): both are fatal at start, so --check says so first.
void check_status_socket(const config::HubConfig& config, std::vector<Finding>& findings) {
    if (!config.status_group.empty() && getgrnam(config.status_group.c_str()) == nullptr) {
        add(findings, Severity::error, config.where("health.status_group"),
            fmt::format("health.status_group = \"{}\": no such group; create it (groupadd "
                        "--system {}) or leave the option out",
                        config.status_group, config.status_group));
    }
    std::string path = status_socket_path(config.spool_dir, config.status_socket);
    std::string directory = std::filesystem::path(path).parent_path().string();
    if (!config.status_socket.empty() && !std::filesystem::is_directory(directory)) {
        add(findings, Severity::error, config.where("health.status_socket"),
            fmt::format("health.status_socket = \"{}\": {} is not a directory", path, directory));
    }
}

// Binds without SO_REUSEPORT, so a hubd already listening there (or anything else) shows.
void check_listener(const config::HubConfig& config, std::string_view key,
                    const config::ListenAddress& address, std::vector<Finding>& findings) {
    SocketAddress socket_address;
    bool parsed = socket_address_of(address, socket_address);
    HUB_ASSERT(parsed);  // The configuration loader checked the host.
    sockaddr_storage& storage = socket_address.storage;
    socklen_t length = socket_address.length;
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    bool free = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
                bind(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0 && listen(fd, 1) == 0;
    int error = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (!free) {
        add(findings, Severity::error, config.where(key),
            fmt::format("{} = {}:{}: cannot listen there: {}", key, address.host, address.port,
                        std::strerror(error)));
    }
}

}  // namespace

std::optional<Finding> check_validity(std::string where, std::string_view what,
                                      std::int64_t not_before_s, std::int64_t not_after_s,
                                      std::int64_t now_s) {
    if (now_s < not_before_s) {
        return Finding{Severity::error, std::move(where),
                       fmt::format("{}: not valid before {}", what, date_text(not_before_s))};
    }
    if (now_s > not_after_s) {
        return Finding{Severity::error, std::move(where),
                       fmt::format("{}: expired on {}", what, date_text(not_after_s))};
    }
    if (not_after_s - now_s < certificate_expiry_warning_s) {
        return Finding{Severity::warning, std::move(where),
                       fmt::format("{}: expires on {}, in {} days", what, date_text(not_after_s),
                                   (not_after_s - now_s) / 86400)};
    }
    return std::nullopt;
}

std::vector<Finding> findings_from_lines(std::string_view text, std::string_view file,
                                         std::string_view fallback_where) {
    std::vector<Finding> findings;
    std::string prefix = std::string(file) + ":";
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        if (line.empty()) {
            continue;
        }
        Finding finding{Severity::error, std::string(fallback_where), std::string(line)};
        if (!file.empty() && line.starts_with(prefix)) {
            std::size_t digits = prefix.size();
            std::size_t end = digits;
            while (end < line.size() && line[end] >= '0' && line[end] <= '9') {
                end++;
            }
            if (end > digits && line.substr(end).starts_with(": ")) {
                finding.where = std::string(line.substr(0, end));
                finding.text = std::string(line.substr(end + 2));
            } else if (line.substr(file.size()).starts_with(": ")) {
                finding.where = std::string(file);
                finding.text = std::string(line.substr(file.size() + 2));
            }
        }
        findings.push_back(std::move(finding));
    }
    return findings;
}

std::string render_findings(std::span<const Finding> findings) {
    std::string out;
    std::size_t errors = 0;
    for (const Finding& finding : findings) {
        bool error = finding.severity == Severity::error;
        errors += error ? 1 : 0;
        if (!finding.where.empty()) {
            out += finding.where + ": ";
        }
        out += fmt::format("{}: {}\n", error ? "error" : "warning", finding.text);
    }
    std::size_t warnings = findings.size() - errors;
    out += fmt::format("hubd --check: {} error{}, {} warning{}\n", errors, errors == 1 ? "" : "s",
                       warnings, warnings == 1 ? "" : "s");
    return out;
}

int exit_status_of(std::span<const Finding> findings) {
    for (const Finding& finding : findings) {
        if (finding.severity == Severity::error) {
            return 1;
        }
    }
    return 0;
}

std::vector<Finding> check_startup(const config::HubConfig& config, uid_t hub_uid, gid_t hub_gid,
                                   std::int64_t now_s) {
    std::vector<Finding> findings;
    check_partners(config, findings);
    check_tls(config, now_s, findings);
    check_listener_certificates(config, now_s, findings);
    check_spool(config, hub_uid, hub_gid, findings);
    check_reload_readable(config, hub_uid, hub_gid, findings);
    check_listener(config, "listen.smtp", config.smtp, findings);
    check_listener(config, "listen.smtps", config.smtps, findings);
    check_status_socket(config, findings);
    return findings;
}

}  // namespace hub::engine
