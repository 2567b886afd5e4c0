// main.cc -- hub-ca, the box's certificate authority.
//
// PURPOSE   Hold the CA key and answer typed requests on a local socket:
//             hub-ca --config hub.conf init [--key p256|p384|rsa3072|rsa4096] [--name NAME]
//             hub-ca --config hub.conf serve
//           init makes the CA (key, self-signed certificate, database), publishes ca.pem and
//           the first CRL, and -- when neither [tls] key nor certificate exists yet -- makes
//           the hub's own listener key and a certificate for it. serve does init with the
//           default key when the state directory holds no CA yet, then answers requests
//           one connection at a time, and republishes the CRL after each revocation and
//           when half of its validity has passed.
// RUNS IN   its own process and account ([ca] user, hubca on the appliance). Started as
//           root, it binds its socket, gives its files to that account and switches to it
//           (setgroups, setgid, setuid, no_new_privs) before it reads the CA key.
// TRUST     Callers are told apart by SO_PEERCRED (ca/roles.h); requests are decoded and
//           bounded by ca/protocol.cc before the CA sees them. The enrollment page's
//           account can never reach approve/revoke, and nothing ever sends the CA key.
// LIMITS    ca/limits.h (frames, timeouts, pending requests). Exit status: 0 ok (serve:
//           stopped by SIGTERM/SIGINT), 1 error (the message says what to fix), 2 usage.
// SEE ALSO  docs/CA.md, ca/service.h, rootfs/usr/lib/systemd/system/hub-ca.service.

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "base/fd_io.h"
#include "base/log.h"
#include "ca/authority.h"
#include "ca/der.h"
#include "ca/limits.h"
#include "ca/request.h"
#include "ca/roles.h"
#include "ca/service.h"
#include "ca/socket_io.h"
#include "config/hub_config.h"

namespace {

using namespace hub::ca;
using hub::Result;
using hub::unexpected;
namespace fs = std::filesystem;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int poll_interval_ms = 60 * 1000;  // The CRL is looked at least this often.

volatile std::sig_atomic_t stop_requested = 0;

void on_stop_signal(int) {
    stop_requested = 1;
}

std::int64_t now_unix_s() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

struct Paths {
    fs::path state_dir;
    fs::path key() const { return state_dir / "ca.key"; }
    fs::path certificate() const { return state_dir / "ca.pem"; }
    fs::path database() const { return state_dir / "ca.db"; }
};

Result<std::string, std::string> read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
    }
    return std::string(std::istreambuf_iterator<char>(file), {});
}

// Writes through a temporary file, fsync and rename, so readers see the old or the new
// file whole, never a part.
Result<void, std::string> write_file(const fs::path& path, std::string_view content, mode_t mode) {
    fs::path temporary = path;
    temporary += ".tmp";
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return unexpected(
            fmt::format("{}: cannot write: {}", temporary.string(), std::strerror(errno)));
    }
    bool ok = ::fchmod(fd, mode) == 0;
    std::size_t done = 0;
    while (ok && done < content.size()) {
        ssize_t wrote = ::write(fd, content.data() + done, content.size() - done);
        ok = wrote > 0;
        done += ok ? static_cast<std::size_t>(wrote) : 0;
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
        std::string error =
            fmt::format("{}: cannot write: {}", path.string(), std::strerror(errno));
        ::unlink(temporary.c_str());
        return unexpected(error);
    }
    return {};
}

struct Account {
    uid_t uid = 0;
    gid_t gid = 0;
};

Result<std::optional<Account>, std::string> lookup_user(const std::string& name,
                                                        std::string_view option) {
    if (name.empty()) {
        return std::optional<Account>();
    }
    passwd* entry = ::getpwnam(name.c_str());
    if (entry == nullptr) {
        return unexpected(fmt::format("{} = \"{}\": no such user on this system", option, name));
    }
    return std::optional<Account>(Account{entry->pw_uid, entry->pw_gid});
}

Result<std::string, std::string> publish(const hub::config::HubConfig& config,
                                         const Authority& authority,
                                         const std::optional<Bytes>& crl) {
    fs::path dir(config.ca_public_dir);
    std::error_code error;
    fs::create_directories(dir, error);
    // Made under umask 077 when hub-ca creates it; hubd and the enrollment page read it.
    ::chmod(dir.c_str(), 0755);
    if (auto wrote =
            write_file(dir / "ca.pem", pem(authority.certificate_der(), "CERTIFICATE"), 0644);
        !wrote) {
        return unexpected(wrote.error());
    }
    if (crl) {
        if (auto wrote = write_file(dir / "crl.pem", pem(*crl, "X509 CRL"), 0644); !wrote) {
            return unexpected(wrote.error());
        }
    }
    return (dir / "crl.pem").string();
}

// The hub's own listener key and certificate, when [tls] names files that do not exist yet.
Result<void, std::string> make_hub_certificate(const hub::config::HubConfig& config,
                                               Service& service, KeyType ca_key) {
    fs::path key_path(config.private_key_path);
    fs::path cert_path(config.certificate_path);
    if (key_path.empty() || cert_path.empty() || fs::exists(key_path) || fs::exists(cert_path)) {
        return {};
    }
    KeyType type =
        ca_key == KeyType::rsa3072 || ca_key == KeyType::rsa4096 ? KeyType::rsa3072 : KeyType::p256;
    auto key = generate_key_pem(type);
    if (!key) {
        return unexpected(key.error());
    }
    auto request = make_request(*key, config.hostname);
    if (!request) {
        return unexpected(request.error());
    }
    auto checked = check_request(*request);
    if (!checked) {
        return unexpected(checked.error());
    }
    checked->dns_names = {config.hostname};
    auto issued = service.issue_own(*checked, "hub-ca init", now_unix_s());
    if (!issued) {
        return unexpected(issued.error());
    }
    std::error_code ignored;
    fs::create_directories(key_path.parent_path(), ignored);
    if (auto wrote = write_file(key_path, *key, 0600); !wrote) {
        return unexpected(wrote.error());
    }
    std::string chain =
        pem(issued->der, "CERTIFICATE") + pem(service.authority().certificate_der(), "CERTIFICATE");
    if (auto wrote = write_file(cert_path, chain, 0644); !wrote) {
        return unexpected(wrote.error());
    }
    if (!config.client_ca_path.empty() && !fs::exists(config.client_ca_path)) {
        if (auto wrote =
                write_file(config.client_ca_path,
                           pem(service.authority().certificate_der(), "CERTIFICATE"), 0644);
            !wrote) {
            return unexpected(wrote.error());
        }
    }
    hub::base::log_info("made the hub's key {} and certificate {} (CN {}, serial {})",
                        key_path.string(), cert_path.string(), config.hostname,
                        der::to_hex(issued->serial));
    return {};
}

// Makes the CA in an empty state directory; refuses to touch one that has a CA.
Result<void, std::string> init_ca(const hub::config::HubConfig& config, KeyType type,
                                  std::string name) {
    Paths paths{config.ca_state_dir};
    if (fs::exists(paths.key()) || fs::exists(paths.certificate())) {
        return unexpected(
            fmt::format("{} holds a CA already; hub-ca never replaces a CA key (move the directory "
                        "away first if you really mean to start a new CA)",
                        paths.state_dir.string()));
    }
    std::error_code error;
    fs::create_directories(paths.state_dir, error);
    if (error || ::chmod(paths.state_dir.c_str(), 0700) != 0) {
        return unexpected(fmt::format("{}: cannot make it a 0700 directory: {}",
                                      paths.state_dir.string(),
                                      error ? error.message() : std::strerror(errno)));
    }
    if (name.empty()) {
        name = fmt::format("Hubbox CA {}", config.hostname);
    }
    auto authority = Authority::create(type, name, now_unix_s(), ca_validity_days);
    if (!authority) {
        return unexpected(authority.error());
    }
    if (auto wrote = write_file(paths.key(), authority->key_pem(), 0600); !wrote) {
        return unexpected(wrote.error());
    }
    if (auto wrote =
            write_file(paths.certificate(), pem(authority->certificate_der(), "CERTIFICATE"), 0644);
        !wrote) {
        return unexpected(wrote.error());
    }
    auto service =
        Service::open(paths.database().string(), std::move(*authority),
                      ServiceSettings{config.ca_validity_days, config.ca_crl_validity_days});
    if (!service) {
        return unexpected(service.error());
    }
    ::chmod(paths.database().c_str(), 0600);
    auto crl = service->crl_if_due(now_unix_s());
    if (!crl) {
        return unexpected(crl.error());
    }
    if (auto published = publish(config, service->authority(), *crl); !published) {
        return unexpected(published.error());
    }
    hub::base::log_info("made the CA \"{}\" ({}) in {}", name, key_type_name(type),
                        paths.state_dir.string());
    if (auto made = make_hub_certificate(config, *service, type); !made) {
        hub::base::log_warn("the hub's own certificate was not made: {}", made.error());
    }
    return {};
}

// Gives the state and public directories to the CA's account (started as root).
Result<void, std::string> give_to(const hub::config::HubConfig& config, const Account& account) {
    for (const std::string& root : {config.ca_state_dir, config.ca_public_dir}) {
        std::error_code error;
        fs::create_directories(root, error);
        if (::chown(root.c_str(), account.uid, account.gid) != 0) {
            return unexpected(fmt::format("{}: chown: {}", root, std::strerror(errno)));
        }
        for (auto it = fs::recursive_directory_iterator(root, error);
             !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
            if (::lchown(it->path().c_str(), account.uid, account.gid) != 0) {
                return unexpected(
                    fmt::format("{}: chown: {}", it->path().string(), std::strerror(errno)));
            }
        }
    }
    ::chmod(config.ca_state_dir.c_str(), 0700);
    ::chmod(config.ca_public_dir.c_str(), 0755);
    return {};
}

Result<void, std::string> drop_to(const Account& account) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(account.gid) != 0 || ::setuid(account.uid) != 0) {
        return unexpected(
            fmt::format("switching to uid {}: {}", account.uid, std::strerror(errno)));
    }
    if (::setuid(0) == 0) {
        return unexpected(std::string("could switch back to root after dropping privileges"));
    }
    return {};
}

// Started as root: the directories and the socket to the CA's account, then become it.
Result<void, std::string> become(const hub::config::HubConfig& config, const Account& account) {
    if (auto given = give_to(config, account); !given) {
        return given;
    }
    if (::chown(config.ca_socket.c_str(), account.uid, account.gid) != 0) {
        return unexpected(fmt::format("{}: chown: {}", config.ca_socket, std::strerror(errno)));
    }
    return drop_to(account);
}

Result<int, std::string> listen_on(const std::string& path) {
    return hub::base::listen_unix(path, listen_backlog, "ca.socket");
}

struct Server {
    const hub::config::HubConfig& config;
    Service& service;
    RoleIds ids;

    Role role_for(const ucred& credentials) const {
        std::vector<gid_t> groups(64);
        passwd* entry = ::getpwuid(credentials.uid);
        if (entry != nullptr) {
            int count = static_cast<int>(groups.size());
            if (::getgrouplist(entry->pw_name, entry->pw_gid, groups.data(), &count) < 0) {
                count = 0;  // More than 64 groups: judged on its primary group only.
            }
            groups.resize(static_cast<std::size_t>(count));
        } else {
            groups.clear();
        }
        std::vector<std::uint32_t> group_ids(groups.begin(), groups.end());
        return role_of(Peer{credentials.uid, credentials.gid, group_ids}, ids);
    }

    void answer_one(int listener) {
        int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        set_timeouts(fd);
        ucred credentials{};
        socklen_t size = sizeof(credentials);
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
            ::close(fd);
            return;
        }
        Role role = role_for(credentials);
        auto request = read_message(fd, Direction::request);
        Message answer;
        std::string what = "?";
        if (!request) {
            answer = refusal(Refusal::malformed, request.error());
        } else {
            what = std::string(kind_name(request->kind));
            answer = service.handle(Caller{role, credentials.uid}, *request, now_unix_s());
        }
        // One line per request, with who asked: the audit log has the changes, this has
        // every question, refusals included.
        if (answer.kind == Kind::ok) {
            hub::base::log_info("{} from uid {} ({}): ok", what, credentials.uid, role_name(role));
        } else {
            hub::base::log_info("{} from uid {} ({}): refused: {}", what, credentials.uid,
                                role_name(role), answer.get_or(Field::message, ""));
        }
        (void)write_message(fd, answer);
        ::close(fd);
    }

    // At every start: the public directory may have been emptied, or never written.
    Result<void, std::string> publish_at_start() {
        if (auto published = publish(config, service.authority(), std::nullopt); !published) {
            return unexpected(published.error());
        }
        publish_if_due();
        if (fs::exists(fs::path(config.ca_public_dir) / "crl.pem")) {
            return {};
        }
        Message fetch;
        fetch.kind = Kind::fetch_crl;
        fetch.set(Field::format, "der");
        Message current = service.handle(Caller{Role::admin, ::getuid()}, fetch, now_unix_s());
        if (current.kind != Kind::ok) {
            return unexpected(std::string(current.get_or(Field::message, "no CRL")));
        }
        const std::string& body = current.get(Field::body);
        if (auto published = publish(config, service.authority(), Bytes(body.begin(), body.end()));
            !published) {
            return unexpected(published.error());
        }
        return {};
    }

    void publish_if_due() {
        auto crl = service.crl_if_due(now_unix_s());
        if (!crl) {
            hub::base::log_error("the CRL: {}", crl.error());
        } else if (crl->has_value()) {
            if (auto published = publish(config, service.authority(), *crl); !published) {
                hub::base::log_error("publishing the CRL: {}", published.error());
            } else {
                hub::base::log_info("published a new CRL at {}", *published);
            }
        }
    }
};

Result<RoleIds, std::string> role_ids(const hub::config::HubConfig& config) {
    RoleIds ids;
    ids.self_uid = ::getuid();
    auto enroll = lookup_user(config.ca_enroll_user, "ca.enroll_user");
    auto hubd = lookup_user(config.user, "hub.user");
    if (!enroll) {
        return unexpected(enroll.error());
    }
    if (*enroll) {
        ids.enroll_uid = (*enroll)->uid;
    }
    if (hubd && *hubd) {
        ids.hubd_uid = (*hubd)->uid;
    }
    if (!config.ca_admin_group.empty()) {
        group* entry = ::getgrnam(config.ca_admin_group.c_str());
        if (entry == nullptr) {
            return unexpected(fmt::format("ca.admin_group = \"{}\": no such group on this system",
                                          config.ca_admin_group));
        }
        ids.admin_gid = entry->gr_gid;
    }
    return ids;
}

// The CA from the state directory (made first, with the default key, if there is none).
Result<Service, std::string> open_service(const hub::config::HubConfig& config) {
    Paths paths{config.ca_state_dir};
    std::error_code looked;
    bool has_key = fs::exists(paths.key(), looked);
    if (looked) {  // E.g. a parent directory hub-ca's account cannot search.
        return unexpected(fmt::format("{}: {}", paths.key().string(), looked.message()));
    }
    if (!has_key) {
        hub::base::log_info("no CA in {} yet: making one (ECDSA P-256; hub-ca init chooses)",
                            paths.state_dir.string());
        if (auto made = init_ca(config, KeyType::p256, ""); !made) {
            return unexpected(made.error());
        }
    }
    auto key = read_file(paths.key());
    if (!key) {
        return unexpected(key.error());
    }
    auto certificate = read_file(paths.certificate());
    if (!certificate) {
        return unexpected(certificate.error());
    }
    auto der = certificate_from_pem(*certificate);
    if (!der) {
        return unexpected(fmt::format("{}: {}", paths.certificate().string(), der.error()));
    }
    auto authority = Authority::load(*key, *der);
    std::fill(key->begin(), key->end(), '\0');
    if (!authority) {
        return unexpected(fmt::format("{}: {}", paths.key().string(), authority.error()));
    }
    return Service::open(paths.database().string(), std::move(*authority),
                         ServiceSettings{config.ca_validity_days, config.ca_crl_validity_days});
}

int serve(const hub::config::HubConfig& config) {
    auto ca_account = lookup_user(config.ca_user, "ca.user");
    if (!ca_account) {
        hub::base::log_error("{}", ca_account.error());
        return exit_error;
    }
    bool root = ::geteuid() == 0;
    if (root && !*ca_account) {
        hub::base::log_error("hub-ca started as root needs ca.user (the account to run as)");
        return exit_error;
    }
    auto listener = listen_on(config.ca_socket);
    if (!listener) {
        hub::base::log_error("{}", listener.error());
        return exit_error;
    }
    if (root) {
        if (auto became = become(config, **ca_account); !became) {
            hub::base::log_error("{}", became.error());
            return exit_error;
        }
    }
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::umask(077);
    auto ids = role_ids(config);
    if (!ids) {
        hub::base::log_error("{}", ids.error());
        return exit_error;
    }
    auto service = open_service(config);
    if (!service) {
        hub::base::log_error("{}", service.error());
        return exit_error;
    }
    struct sigaction action {};
    action.sa_handler = on_stop_signal;  // No SA_RESTART: poll() returns EINTR.
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    Server server{config, *service, *ids};
    if (auto published = server.publish_at_start(); !published) {
        hub::base::log_error("{}", published.error());
        return exit_error;
    }
    hub::base::log_info("ready on {} (uid {})", config.ca_socket, ::getuid());
    while (stop_requested == 0) {
        pollfd poll_fd{*listener, POLLIN, 0};
        int ready = ::poll(&poll_fd, 1, poll_interval_ms);
        if (ready > 0) {
            server.answer_one(*listener);
        }
        server.publish_if_due();
    }
    ::close(*listener);
    ::unlink(config.ca_socket.c_str());
    hub::base::log_info("stopped");
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hub-ca");
    CLI::App app{"hub-ca: the Hubbox certificate authority (docs/CA.md)."};
    app.require_subcommand(1);
    app.fallthrough();
    std::string config_path = "/etc/hubbox/hub.conf";
    app.add_option("--config", config_path, "hub.conf (its [ca] section)");
    CLI::App* init = app.add_subcommand("init", "Make the CA: key, certificate, database.");
    std::string key_name = "p256";
    std::string ca_name;
    init->add_option("--key", key_name, "p256 (default), p384, rsa3072 or rsa4096");
    init->add_option("--name", ca_name, "the CA's common name (default \"Hubbox CA <hostname>\")");
    CLI::App* serve_command = app.add_subcommand("serve", "Answer requests on ca.socket.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);
        return code == 0 ? exit_ok : exit_usage;
    }
    auto config = hub::config::load_hub_config(config_path);
    if (!config) {
        hub::base::log_error("{}", config.error());
        return exit_error;
    }
    if (config->ca_state_dir.empty()) {
        hub::base::log_error("{}: no [ca] state_dir: this box runs no CA (docs/CA.md)",
                             config_path);
        return exit_error;
    }
    if (serve_command->parsed()) {
        return serve(*config);
    }
    auto type = parse_key_type(key_name);
    if (!type) {
        hub::base::log_error("--key: {}", type.error());
        return exit_usage;
    }
    ::umask(077);
    if (auto made = init_ca(*config, *type, ca_name); !made) {
        hub::base::log_error("{}", made.error());
        return exit_error;
    }
    if (::geteuid() == 0) {
        auto account = lookup_user(config->ca_user, "ca.user");
        if (!account) {
            hub::base::log_error("{}", account.error());
            return exit_error;
        }
        if (*account) {
            if (auto given = give_to(*config, **account); !given) {
                hub::base::log_error("{}", given.error());
                return exit_error;
            }
        }
    }
    return exit_ok;
}
