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
// SEE ALSO  programs/hubctl/hub_key.h (the logic, shared with hub-console), tls/key_import.h,
//           docs/CA.md.
#include "programs/hubctl/hub_key_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "config/hub_config.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/hub_key.h"

namespace hub::hubctl {

namespace {

// The install step for every command: [tls] key and certificate replaced, or why not.
int install(const config::HubConfig& config, HubKeyMaterial material, const std::string& ca_path,
            bool requested) {
    if (!ca_path.empty()) {
        auto read = read_bounded(ca_path);
        if (!read) {
            return fail(exit_runtime, "{}", read.error());
        }
        material.more_roots_pem = std::move(*read);
        material.more_roots_name = ca_path;
    }
    auto installed = requested ? install_requested_hub_key(config, std::move(material))
                               : install_hub_key(config, material);
    if (!installed) {
        return fail(exit_runtime, "{}", installed.error());
    }
    fmt::print("{}", installed_text(*installed));
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
    if (s.request->parsed()) {
        auto made = request_hub_key(*config, s.key_type);
        if (!made) {
            return fail(exit_runtime, "{}", made.error());
        }
        if (!s.out_path.empty()) {
            ::unlink(s.out_path.c_str());
            if (auto wrote = write_new_file(s.out_path, made->csr_pem, 0644); !wrote) {
                return fail(exit_runtime, "{}", wrote.error());
            }
        } else {
            fmt::print("{}", made->csr_pem);
        }
        fmt::print(stderr,
                   "hubctl: new {} key kept in {} until `hubctl ca hub-key install`; the request "
                   "names CN={} (the CA adds it as the subjectAltName)\n",
                   s.key_type, made->pending_path, made->common_name);
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
        auto opened = open_pkcs12(*bundle, *password);
        if (!opened) {
            return fail(exit_runtime, "{}: refused, nothing changed: {}", s.bundle_path,
                        opened.error());
        }
        return install(*config, std::move(*opened), s.ca_path, false);
    }
    HubKeyMaterial material;
    if (s.import->parsed()) {
        auto key = read_bounded(s.key_path);
        if (!key) {
            return fail(exit_runtime, "{}", key.error());
        }
        material.key_pem = std::move(*key);
    }
    auto certificate = read_bounded(s.certificate_path);
    if (!certificate) {
        return fail(exit_runtime, "{}", certificate.error());
    }
    material.certificate_pem = std::move(*certificate);
    if (!s.chain_path.empty()) {
        auto read = read_bounded(s.chain_path);
        if (!read) {
            return fail(exit_runtime, "{}", read.error());
        }
        material.chain_pem = std::move(*read);
    }
    return install(*config, std::move(material), s.ca_path, s.install->parsed());
}

}  // namespace hub::hubctl
