// hub_key_commands.cc -- hubctl ca hub-key: the hub's own key and certificate.
//
// PURPOSE   Let an administrator give the hub a key and certificate from an external CA:
//             hubctl ca hub-key request [--key TYPE] [--out FILE]   key made here, CSR out
//             hubctl ca hub-key install CERT [--chain FILE] [--ca FILE]
//             hubctl ca hub-key import KEY CERT [--chain FILE] [--ca FILE]
//             hubctl ca hub-key import-pkcs12 FILE [--ca FILE]  (password on standard input)
//           Every one checks the key against the certificate, the certificate's dates and
//           its chain (tls/key_import.h) before it writes; a refusal changes nothing.
// RUNS IN   an administrator's shell, as root: [tls] key is root 0600 and hubd reads it as
//           root before its privilege drop. Not hub-ca: it runs as hubca, must not hold
//           the listener key, and cannot write a root-owned file (docs/CA.md, "Decisions").
// TRUST     The files are the administrator's; each is bounded (hub_key_file_bytes_max).
// LIMITS    exit 0 done, 1 refused (nothing changed), 2 usage.
// SEE ALSO  tls/key_import.h, ca/authority.h (generate_key_pem, make_request), docs/CA.md.
#include "programs/hubctl/hub_key_commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>

#include "ca/authority.h"
#include "config/hub_config.h"
#include "programs/hubctl/command_support.h"
#include "tls/key_import.h"
#include "tls/tls_context.h"

namespace hub::hubctl {

namespace fs = std::filesystem;

namespace {

// A key, a certificate chain or a PKCS#12 bundle is a few KiB; a chain of ten certificates
// with RSA 4096 keys stays far below this.
constexpr std::size_t hub_key_file_bytes_max = 256 * 1024;

Result<std::string, std::string> read_bounded(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::string bytes(hub_key_file_bytes_max + 1, '\0');
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > hub_key_file_bytes_max) {
        return unexpected(fmt::format("{}: larger than {} bytes", path, hub_key_file_bytes_max));
    }
    return bytes;
}

// Writes a new file (never an existing one), fsynced, with mode.
Result<void, std::string> write_new(const fs::path& path, std::string_view content, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return unexpected(fmt::format("{}: cannot write: {}", path.string(), std::strerror(errno)));
    }
    bool ok = ::fchmod(fd, mode) == 0;
    for (std::size_t done = 0; ok && done < content.size();) {
        ssize_t wrote = ::write(fd, content.data() + done, content.size() - done);
        ok = wrote > 0;
        done += ok ? static_cast<std::size_t>(wrote) : 0;
    }
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) {
        return unexpected(fmt::format("{}: cannot write: {}", path.string(), std::strerror(errno)));
    }
    return {};
}

std::string pending_key_path(const std::string& key_path) {
    return key_path + ".pending";
}

// A staging directory beside the key (same file system, so the final renames are atomic),
// mode 0700, removed when this goes out of scope.
struct Staging {
    fs::path dir;
    ~Staging() {
        if (!dir.empty()) {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    }
};

Result<void, std::string> replace_keeping_previous(const fs::path& staged, const fs::path& path) {
    fs::path previous = path;
    previous += ".previous";
    if (::access(path.c_str(), F_OK) == 0) {
        ::unlink(previous.c_str());
        if (::link(path.c_str(), previous.c_str()) != 0) {
            return unexpected(fmt::format("{}: cannot keep the previous one as {}: {}",
                                          path.string(), previous.string(), std::strerror(errno)));
        }
    }
    if (::rename(staged.c_str(), path.c_str()) != 0) {
        return unexpected(
            fmt::format("{}: cannot replace: {}", path.string(), std::strerror(errno)));
    }
    return {};
}

std::string utc_date(std::int64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    return fmt::format("{:04}-{:02}-{:02}", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday);
}

// The one path to the hub's key files: gathers the leaf, the intermediates and the roots,
// checks them in a staging directory, and only then replaces [tls] key and certificate
// (keeping the old ones as *.previous). chain_pem may hold intermediates and roots in any
// order; ca_path (optional) names more roots.
int install(const config::HubConfig& config, const std::string& key_pem,
            const std::string& certificate_pem, const std::string& chain_pem,
            const std::string& ca_path) {
    if (config.private_key_path.empty() || config.certificate_path.empty()) {
        return fail(exit_runtime, "hub.conf has no [tls] key and certificate to write");
    }
    std::string roots_extra;
    if (!ca_path.empty()) {
        auto read = read_bounded(ca_path);
        if (!read) {
            return fail(exit_runtime, "{}", read.error());
        }
        roots_extra = std::move(*read);
    }
    // The leaf is the first certificate of certificate_pem; whatever follows it there or in
    // chain_pem is sorted into intermediates (served after the leaf) and roots (not served:
    // partners hold them).
    constexpr std::string_view end_line = "-----END CERTIFICATE-----";
    std::size_t leaf_end = certificate_pem.find(end_line);
    if (certificate_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
        leaf_end == std::string::npos) {
        return fail(exit_runtime, "no PEM certificate (-----BEGIN CERTIFICATE-----) given");
    }
    leaf_end += end_line.size();
    std::string leaf = certificate_pem.substr(0, leaf_end) + "\n";
    auto given = tls::split_roots(certificate_pem.substr(leaf_end) + "\n" + chain_pem);
    if (!given) {
        return fail(exit_runtime, "{}", given.error());
    }
    auto extra = tls::split_roots(roots_extra);
    if (!extra) {
        return fail(exit_runtime, "{}: {}", ca_path, extra.error());
    }
    std::string roots = given->roots_pem + extra->roots_pem + extra->intermediates_pem;
    if (roots.empty()) {
        return fail(exit_runtime,
                    "no root certificate to check the chain against: give --ca FILE with the "
                    "issuing CA's root certificate (nothing changed)");
    }
    std::string served = leaf + given->intermediates_pem;
    Staging staging;
    fs::path key_path(config.private_key_path);
    fs::path certificate_path(config.certificate_path);
    std::string pattern = (key_path.parent_path() / ".hub-key.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail(exit_runtime, "{}: cannot make a staging directory: {}",
                    key_path.parent_path().string(), std::strerror(errno));
    }
    staging.dir = pattern;
    fs::path staged_key = staging.dir / "key.pem";
    fs::path staged_certificate = staging.dir / "certificate.pem";
    fs::path staged_roots = staging.dir / "roots.pem";
    for (auto [path, content, mode] :
         {std::tuple{staged_key, std::string_view(key_pem), mode_t{0600}},
          std::tuple{staged_certificate, std::string_view(served), mode_t{0644}},
          std::tuple{staged_roots, std::string_view(roots), mode_t{0644}}}) {
        if (auto wrote = write_new(path, content, mode); !wrote) {
            return fail(exit_runtime, "{}", wrote.error());
        }
    }
    auto checked = tls::check_key_and_chain(staged_key, staged_certificate, staged_roots,
                                            static_cast<std::int64_t>(std::time(nullptr)));
    if (!checked) {
        return fail(exit_runtime, "refused, nothing changed: {}", checked.error());
    }
    auto facts = tls::read_certificate_facts(staged_certificate);
    if (!facts) {
        return fail(exit_runtime, "{}", facts.error());
    }
    // XXX: two renames, not one: a crash between them leaves the new key with the old
    // certificate. hubd then refuses to start with "does not work with the certificate",
    // and the *.previous files hold the old pair; rare enough for a manual step.
    if (auto replaced = replace_keeping_previous(staged_key, key_path); !replaced) {
        return fail(exit_runtime, "{}", replaced.error());
    }
    if (auto replaced = replace_keeping_previous(staged_certificate, certificate_path); !replaced) {
        return fail(exit_runtime, "{}", replaced.error());
    }
    fmt::print(
        "installed the hub's key {} and certificate {} ({}, valid until {}, {} certificates in "
        "the chain); the previous ones are kept as *.previous.\n"
        "hubd and hub-enroll read them when they start: systemctl restart hubd hub-enroll\n",
        key_path.string(), certificate_path.string(), facts->front().subject,
        utc_date(facts->front().not_after_s), facts->size());
    return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
}

}  // namespace

struct HubKeyCommands::Settings {
    std::string key_type = "p256";
    std::string out_path;
    std::string certificate_path;
    std::string key_path;
    std::string chain_path;
    std::string ca_path;
    std::string bundle_path;
    CLI::App* request = nullptr;
    CLI::App* install = nullptr;
    CLI::App* import = nullptr;
    CLI::App* import_pkcs12 = nullptr;
};

void HubKeyCommands::add_to(CLI::App& app) {
    settings_ = std::make_shared<Settings>();
    Settings& s = *settings_;
    CLI::App* ca = app.get_subcommand("ca");
    CLI::App* hub_key = ca->add_subcommand(
        "hub-key", "The hub's own TLS key and certificate ([tls] key and certificate; as root).");
    hub_key->require_subcommand(1);
    s.request = hub_key->add_subcommand(
        "request", "Make a new key on this box (kept pending) and print a CSR for an external CA.");
    s.request->add_option("--key", s.key_type, "p256 (default), p384, rsa3072 or rsa4096")
        ->check(CLI::IsMember({"p256", "p384", "rsa3072", "rsa4096"}));
    s.request->add_option("--out", s.out_path, "write the CSR here instead of standard output");
    s.install = hub_key->add_subcommand(
        "install", "Install the certificate the external CA signed for the pending key.");
    s.install->add_option("certificate", s.certificate_path, "PEM: the certificate (leaf first)")
        ->required();
    s.import = hub_key->add_subcommand("import", "Install a PEM key and its certificate.");
    s.import->add_option("key", s.key_path, "PEM private key")->required();
    s.import->add_option("certificate", s.certificate_path, "PEM: the certificate (leaf first)")
        ->required();
    s.import_pkcs12 = hub_key->add_subcommand(
        "import-pkcs12",
        "Install the key and certificates of a PKCS#12 bundle (.p12, .pfx); "
        "its password on standard input.");
    s.import_pkcs12->add_option("bundle", s.bundle_path, "PKCS#12 file (DER)")->required();
    for (CLI::App* command : {s.install, s.import}) {
        command->add_option("--chain", s.chain_path, "PEM: intermediate (and root) certificates");
    }
    for (CLI::App* command : {s.install, s.import, s.import_pkcs12}) {
        command->add_option("--ca", s.ca_path,
                            "PEM: the issuing CA's root certificate(s), to check the chain");
    }
}

std::optional<int> HubKeyCommands::run(const std::string& config_path) {
    Settings& s = *settings_;
    bool parsed = s.request->parsed() || s.install->parsed() || s.import->parsed() ||
                  s.import_pkcs12->parsed();
    if (!parsed) {
        return std::nullopt;
    }
    if (config_path.empty()) {
        return fail(exit_usage, "hub-key needs --config hub.conf (its [tls] key and certificate)");
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return fail(exit_runtime, "{}", config.error());
    }
    const std::string pending = pending_key_path(config->private_key_path);
    if (s.request->parsed()) {
        auto type = ca::parse_key_type(s.key_type);
        auto key = type ? ca::generate_key_pem(*type) : unexpected(type.error());
        if (!key) {
            return fail(exit_runtime, "{}", key.error());
        }
        auto request = ca::make_request(*key, config->hostname);
        if (!request) {
            return fail(exit_runtime, "{}", request.error());
        }
        ::unlink(pending.c_str());  // A new request replaces an older pending key.
        if (auto wrote = write_new(pending, *key, 0600); !wrote) {
            return fail(exit_runtime, "{}", wrote.error());
        }
        std::string csr = ca::pem(*request, "CERTIFICATE REQUEST");
        if (!s.out_path.empty()) {
            ::unlink(s.out_path.c_str());
            if (auto wrote = write_new(s.out_path, csr, 0644); !wrote) {
                return fail(exit_runtime, "{}", wrote.error());
            }
        } else {
            fmt::print("{}", csr);
        }
        fmt::print(stderr,
                   "hubctl: new {} key kept in {} until `hubctl ca hub-key install`; the request "
                   "names CN={} (the CA adds it as the subjectAltName)\n",
                   s.key_type, pending, config->hostname);
        return std::fflush(stdout) == 0 ? exit_ok : exit_runtime;
    }
    if (s.import_pkcs12->parsed()) {
        auto bundle = read_bounded(s.bundle_path);
        if (!bundle) {
            return fail(exit_runtime, "{}", bundle.error());
        }
        std::optional<std::string> password = read_secret("PKCS#12 password: ");
        if (!password) {
            return fail(exit_runtime, "no PKCS#12 password on standard input");
        }
        auto opened = tls::read_pkcs12(*bundle, *password);
        if (!opened) {
            return fail(exit_runtime, "{}: refused, nothing changed: {}", s.bundle_path,
                        opened.error());
        }
        return install(*config, opened->private_key_pem, opened->certificate_pem, opened->chain_pem,
                       s.ca_path);
    }
    const std::string& key_file = s.install->parsed() ? pending : s.key_path;
    auto key = read_bounded(key_file);
    if (!key) {
        return fail(exit_runtime, "{}{}", key.error(),
                    s.install->parsed() ? " (run `hubctl ca hub-key request` first)" : "");
    }
    auto certificate = read_bounded(s.certificate_path);
    if (!certificate) {
        return fail(exit_runtime, "{}", certificate.error());
    }
    std::string chain;
    if (!s.chain_path.empty()) {
        auto read = read_bounded(s.chain_path);
        if (!read) {
            return fail(exit_runtime, "{}", read.error());
        }
        chain = std::move(*read);
    }
    int code = install(*config, *key, *certificate, chain, s.ca_path);
    if (code == exit_ok && s.install->parsed()) {
        ::unlink(pending.c_str());
    }
    return code;
}

}  // namespace hub::hubctl
