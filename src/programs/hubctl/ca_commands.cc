// ca_commands.cc -- hubctl ca: the certificate authority's commands, all through hub-ca's
// socket.
//
// PURPOSE   Let an administrator decide requests, revoke, list, and issue enrollment
//           passwords; and give the enrollment page's requests a command-line client
//           (submit, status, fetch, crl, cacert), which the tests use as that role:
//             hubctl ca requests [--json] | approve ID | reject ID --reason TEXT
//             hubctl ca password PARTNER | revoke SERIAL --reason R | list [--json]
//             hubctl ca audit [--json]
//             hubctl ca submit PARTNER CSR_FILE | status ID [--partner P]
//             hubctl ca fetch ID [--format pem|der|pkcs7] [--partner P] [--out FILE]
//             hubctl ca crl [--der] [--out FILE] | cacert [--der] [--out FILE]
//           (an enrollment password, where one is needed, is read from standard input).
// RUNS IN   an administrator's shell, or any account: hub-ca decides by the caller's uid
//           what it may do (docs/CA.md, "Roles"); hubctl holds no key and no state.
// TRUST     hub-ca's answers are bounded frames; text from them is printed as is, since
//           hub-ca wrote it (the request subjects it lists were checked when submitted).
// LIMITS    ca/limits.h (frames); exit 0 ok, 1 refused or unreachable, 2 usage.
// SEE ALSO  ca/protocol.h, programs/hub-ca/main.cc, docs/CA.md.

#include "programs/hubctl/ca_commands.h"

#include <fmt/format.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "ca/limits.h"
#include "ca/protocol.h"
#include "ca/socket_io.h"
#include "config/hub_config.h"
#include "directory/directory.h"
#include "directory/limits.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/text.h"

namespace hub::hubctl {

using ca::Field;
using ca::Kind;
using ca::Message;

namespace {

int write_output(const std::string& body, const std::string& out_path) {
    if (out_path.empty()) {
        std::fwrite(body.data(), 1, body.size(), stdout);
        return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
    }
    std::ofstream file(out_path, std::ios::binary | std::ios::trunc);
    file.write(body.data(), static_cast<std::streamsize>(body.size()));
    file.close();
    if (!file) {
        return fail(exit_runtime, "{}: cannot write", out_path);
    }
    return exit_ok;
}

// After a revocation hub-ca has written the new crl.pem: a running hubd (found through
// hub.conf's spool) is asked to reload, which reads the CRL again, so the revoked
// certificate is refused from the next handshake (docs/CA.md, "Revocation in hubd").
// Without that hubd still finds it within crl_refresh_interval_s; a refused reload is an
// error (exit 1), since the revocation then may not hold yet.
int reload_for_crl(const std::string& config_path) {
    if (config_path.empty()) {
        fmt::print(
            "hubd was not asked to reload (no --config): it reads the new CRL within "
            "a minute, or run `hubctl --config hub.conf reload`\n");
        return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return fail(exit_runtime, "revoked, but no hubd was asked to reload: {}", config.error());
    }
    ReloadOutcome outcome = request_reload(config->spool_dir);
    if (!outcome.running) {
        fmt::print("hubd is not running; it reads the CRL when it starts\n");
        return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
    }
    if (!outcome.applied) {
        return fail(exit_runtime,
                    "revoked, but the running hubd could not reload ({}); it reads the new CRL "
                    "within a minute, or run `hubctl --config {} reload`",
                    printable(outcome.text), config_path);
    }
    fmt::print("hubd reloaded: {}\n", printable(outcome.text));
    return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
}

}  // namespace

struct CaCommands::Settings {
    std::string socket_path;
    std::string id;
    std::string serial;
    std::string reason;
    std::string partner;
    std::string file;
    std::string format = "pem";
    std::string out_path;
    bool json = false;
    bool der = false;
    CLI::App* requests = nullptr;
    CLI::App* approve = nullptr;
    CLI::App* reject = nullptr;
    CLI::App* password = nullptr;
    CLI::App* revoke = nullptr;
    CLI::App* list = nullptr;
    CLI::App* audit = nullptr;
    CLI::App* submit = nullptr;
    CLI::App* status = nullptr;
    CLI::App* fetch = nullptr;
    CLI::App* crl = nullptr;
    CLI::App* cacert = nullptr;
};

// Where hub-ca listens (--ca-socket, else hub.conf's ca.socket), and the directory to
// check partner names against; an exit code if neither can be had.
static std::optional<int> resolve_socket(CaCommands::Settings& s, CLI::App* parsed,
                                         const std::string& config_path,
                                         std::string& directory_path) {
    if (s.socket_path.empty() || (parsed == s.password && !config_path.empty())) {
        if (config_path.empty()) {
            return fail(exit_usage, "give --config hub.conf (its ca.socket) or --ca-socket PATH");
        }
        auto config = config::load_hub_config(config_path);
        if (!config) {
            return fail(exit_runtime, "{}", config.error());
        }
        if (s.socket_path.empty()) {
            s.socket_path = config->ca_socket;
        }
        directory_path = config->directory_path;
        if (s.socket_path.empty()) {
            return fail(exit_runtime, "{}: no [ca] socket: this box runs no CA (docs/CA.md)",
                        config_path);
        }
    }
    return std::nullopt;
}

// The directory is the list of partners: an enrollment password for a name it does not
// hold would be a typo. Nothing to check without a directory (partners.file).
static std::optional<int> check_partner_in_directory(const std::string& directory_path,
                                                     const std::string& partner) {
    if (directory_path.empty()) {
        return std::nullopt;
    }
    auto directory = directory::Directory::open(directory_path, directory::OpenMode::existing);
    if (!directory) {
        return fail(exit_runtime, "{}", directory.error());
    }
    auto found = directory->find(partner);
    if (!found) {
        return fail(exit_runtime, "{}", found.error());
    }
    if (!*found) {
        return fail(exit_runtime,
                    "partner {}: no such partner in the directory (hubctl partner list)", partner);
    }
    return std::nullopt;
}

// The request the parsed command sends; an exit code if it cannot be made.
static std::optional<int> build_request(CaCommands::Settings& s, CLI::App* parsed,
                                        const std::string& directory_path, Message& request) {
    std::string actor = actor_name();
    auto needs_password = [&]() -> bool {
        if (s.partner.empty()) {
            return true;
        }
        std::optional<std::string> password = read_secret("Enrollment password: ");
        if (!password) {
            return false;
        }
        request.set(Field::partner, s.partner).set(Field::password, *password);
        return true;
    };
    if (parsed == s.requests || parsed == s.list || parsed == s.audit) {
        request.kind = parsed == s.requests ? Kind::list_requests
                       : parsed == s.list   ? Kind::list_certificates
                                            : Kind::audit;
        request.set(Field::format, s.json ? "json" : "text");
    } else if (parsed == s.approve) {
        request.kind = Kind::approve;
        request.set(Field::request_id, s.id).set(Field::actor, actor);
    } else if (parsed == s.reject) {
        request.kind = Kind::reject;
        request.set(Field::request_id, s.id).set(Field::reason, s.reason).set(Field::actor, actor);
    } else if (parsed == s.revoke) {
        request.kind = Kind::revoke;
        request.set(Field::serial, s.serial).set(Field::reason, s.reason).set(Field::actor, actor);
    } else if (parsed == s.password) {
        if (auto code = check_partner_in_directory(directory_path, s.partner)) {
            return code;
        }
        request.kind = Kind::set_password;
        request.set(Field::partner, s.partner).set(Field::actor, actor);
    } else if (parsed == s.submit) {
        std::ifstream file(s.file, std::ios::binary);
        if (!file) {
            return fail(exit_runtime, "{}: cannot read", s.file);
        }
        std::string csr(std::istreambuf_iterator<char>(file), {});
        if (csr.size() > ca::request_pem_bytes_max) {
            return fail(exit_runtime, "{}: {} bytes; a request is at most {}", s.file, csr.size(),
                        ca::request_pem_bytes_max);
        }
        request.kind = Kind::submit;
        request.set(Field::csr, std::move(csr));
        if (!needs_password()) {
            return fail(exit_runtime, "no enrollment password on standard input");
        }
    } else if (parsed == s.status || parsed == s.fetch) {
        request.kind = parsed == s.status ? Kind::status : Kind::fetch_certificate;
        request.set(Field::request_id, s.id);
        if (parsed == s.fetch) {
            request.set(Field::format, s.format);
        }
        if (!needs_password()) {
            return fail(exit_runtime, "no enrollment password on standard input");
        }
    } else {
        request.kind = parsed == s.crl ? Kind::fetch_crl : Kind::fetch_ca;
        request.set(Field::format, s.der ? "der" : "pem");
    }
    return std::nullopt;
}

void CaCommands::add_to(CLI::App& app) {
    settings_ = std::make_shared<Settings>();
    Settings& s = *settings_;
    CLI::App* ca = app.add_subcommand("ca", "The certificate authority (hub-ca, docs/CA.md).");
    ca->require_subcommand(1);
    ca->fallthrough();
    app.add_option("--ca-socket", s.socket_path,
                   "hub-ca's socket (instead of hub.conf's ca.socket)");
    s.requests = ca->add_subcommand("requests", "Certificate requests, oldest first.");
    s.requests->add_flag("--json", s.json, "a JSON array");
    s.approve = ca->add_subcommand("approve", "Issue the certificate a pending request asks for.");
    s.approve->add_option("id", s.id, "request id (hubctl ca requests)")->required();
    s.reject = ca->add_subcommand("reject", "Refuse a pending request.");
    s.reject->add_option("id", s.id, "request id")->required();
    s.reject->add_option("--reason", s.reason, "told to the partner")->required();
    s.password = ca->add_subcommand(
        "password", "Issue or reset a partner's enrollment password (printed once).");
    s.password->add_option("partner", s.partner, "partner name")->required();
    s.revoke = ca->add_subcommand("revoke", "Revoke a certificate; the CRL follows at once.");
    s.revoke->add_option("serial", s.serial, "serial number, hex (hubctl ca list)")->required();
    s.revoke
        ->add_option("--reason", s.reason,
                     "unspecified, keyCompromise, affiliationChanged, superseded, "
                     "cessationOfOperation or privilegeWithdrawn")
        ->required();
    s.list = ca->add_subcommand("list", "Issued certificates, oldest first.");
    s.list->add_flag("--json", s.json, "a JSON array");
    s.audit = ca->add_subcommand("audit", "hub-ca's audit log, oldest first.");
    s.audit->add_flag("--json", s.json, "a JSON array");
    s.submit = ca->add_subcommand(
        "submit", "Submit a request as a partner (enrollment password on standard input).");
    s.submit->add_option("partner", s.partner, "partner name")->required();
    s.submit->add_option("csr", s.file, "PKCS#10 request, PEM or DER")->required();
    s.status = ca->add_subcommand("status", "A request's state.");
    s.status->add_option("id", s.id, "request id")->required();
    s.status->add_option("--partner", s.partner,
                         "ask as this partner (enrollment password on standard input)");
    s.fetch = ca->add_subcommand("fetch", "The certificate of an approved request.");
    s.fetch->add_option("id", s.id, "request id")->required();
    s.fetch->add_option("--format", s.format, "pem (with the CA), der or pkcs7 (with the CA)")
        ->check(CLI::IsMember({"pem", "der", "pkcs7"}));
    s.fetch->add_option("--partner", s.partner,
                        "ask as this partner (enrollment password on standard input)");
    s.fetch->add_option("--out", s.out_path, "write here instead of standard output");
    s.crl = ca->add_subcommand("crl", "The current CRL.");
    s.crl->add_flag("--der", s.der, "DER instead of PEM");
    s.crl->add_option("--out", s.out_path, "write here instead of standard output");
    s.cacert = ca->add_subcommand("cacert", "The CA certificate.");
    s.cacert->add_flag("--der", s.der, "DER instead of PEM");
    s.cacert->add_option("--out", s.out_path, "write here instead of standard output");
}

std::optional<int> CaCommands::run(const std::string& config_path) {
    Settings& s = *settings_;
    CLI::App* commands[] = {s.requests, s.approve, s.reject, s.password, s.revoke, s.list,
                            s.audit,    s.submit,  s.status, s.fetch,    s.crl,    s.cacert};
    CLI::App* parsed = nullptr;
    for (CLI::App* command : commands) {
        if (command->parsed()) {
            parsed = command;
        }
    }
    if (parsed == nullptr) {
        return std::nullopt;
    }
    std::string directory_path;
    if (auto code = resolve_socket(s, parsed, config_path, directory_path)) {
        return code;
    }
    Message request;
    if (auto code = build_request(s, parsed, directory_path, request)) {
        return code;
    }
    auto answer = ca::exchange(s.socket_path, request);
    if (!answer) {
        return fail(exit_runtime, "{}", answer.error());
    }
    if (answer->kind != Kind::ok) {
        return fail(exit_runtime, "hub-ca refused: {}", answer->get_or(Field::message, "?"));
    }
    if (parsed == s.password) {
        fmt::print("{}\n", answer->get_or(Field::body, ""));
        fmt::print(stderr,
                   "hubctl: the enrollment password for {} (shown once: give it to the "
                   "partner's administrator; hub-ca keeps only its hash)\n",
                   s.partner);
        return exit_ok;
    }
    if (parsed == s.submit) {
        fmt::print("{}\n", answer->get_or(Field::request_id, "?"));
        fmt::print(stderr, "hubctl: request {} submitted; it waits for an administrator\n",
                   answer->get_or(Field::request_id, "?"));
        return exit_ok;
    }
    if (answer->has(Field::body)) {
        return write_output(answer->get(Field::body), s.out_path);
    }
    fmt::print("{}\n", answer->get_or(Field::message, "ok"));
    if (parsed == s.revoke) {
        return reload_for_crl(config_path);
    }
    return exit_ok;
}

}  // namespace hub::hubctl
