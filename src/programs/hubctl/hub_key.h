// hub_key.h -- the hub's own key and certificate from an external CA, as library calls
// that hubctl (`hubctl ca hub-key ...`, hub_key_commands.cc) and hub-console's Certificates
// page (runner.cc, through hub-console-admin on the appliance) share. Each returns what it
// did or one sentence saying why it refused; a refusal changes nothing (docs/CA.md, "The
// hub's own key").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/hub_config.h"

namespace hub::hubctl {

// A key, a certificate chain or a PKCS#12 bundle is a few KiB; a chain of ten certificates
// with RSA 4096 keys stays far below this.
inline constexpr std::size_t hub_key_file_bytes_max = 256 * 1024;

// The key types a request may make: "p256" (the default), "p384", "rsa3072", "rsa4096".
inline constexpr std::string_view hub_key_types[] = {"p256", "p384", "rsa3072", "rsa4096"};

// path's content, at most hub_key_file_bytes_max bytes. Errors: "PATH: cannot read: ..."
[[nodiscard]] Result<std::string, std::string> read_bounded(const std::string& path);
// Writes a new file (never an existing one: O_EXCL), fsynced, with mode.
[[nodiscard]] Result<void, std::string> write_new_file(const std::string& path,
                                                       std::string_view content, unsigned int mode);

// Where a requested key waits for its certificate: [tls] key + ".pending" (root 0600).
std::string pending_key_path(const std::string& key_path);

// A new key made on this box, kept pending (replacing an older pending one), and its CSR
// naming CN=config.hostname.
struct HubKeyRequest {
    std::string csr_pem;
    std::string pending_path;
    std::string common_name;
};
[[nodiscard]] Result<HubKeyRequest, std::string> request_hub_key(const config::HubConfig& config,
                                                                 std::string_view key_type);

// What to install. certificate_pem holds the leaf first; whatever follows it there or in
// chain_pem is sorted into intermediates (served after the leaf) and roots (kept only to
// check the chain). more_roots_pem (optional) holds more roots, read from more_roots_name
// (a file name or "the CA certificate field"), which its errors name.
struct HubKeyMaterial {
    std::string key_pem;
    std::string certificate_pem;
    std::string chain_pem;
    std::string more_roots_pem;
    std::string more_roots_name;
};

inline constexpr std::string_view default_no_roots_hint =
    "give --ca FILE with the issuing CA's root certificate";

struct HubKeyInstalled {
    std::string key_path;
    std::string certificate_path;
    std::string subject;
    std::int64_t not_after_s = 0;
    std::size_t chain_certificates = 0;
};
// "installed the hub's key K and certificate C (SUBJECT, valid until DATE, N certificates in
// the chain); the previous ones are kept as *.previous." and how to make hubd take them.
std::string installed_text(const HubKeyInstalled& installed);

// Checks the key against the leaf, the leaf's dates and the chain to a root in a staging
// directory beside [tls] key, and only then replaces [tls] key and certificate, keeping
// the old ones as *.previous. Every error but the last rename's means nothing changed.
// no_roots_hint says how to give a root when there is none (hubctl: "give --ca FILE with
// the issuing CA's root certificate").
[[nodiscard]] Result<HubKeyInstalled, std::string> install_hub_key(
    const config::HubConfig& config, const HubKeyMaterial& material,
    std::string_view no_roots_hint = default_no_roots_hint);

// install_hub_key with the pending key of request_hub_key; the pending key file is removed
// once installed. Errors when there is no pending key name "run `hubctl ca hub-key request`
// first" unless request_hint says otherwise.
[[nodiscard]] Result<HubKeyInstalled, std::string> install_requested_hub_key(
    const config::HubConfig& config, HubKeyMaterial material,
    std::string_view request_hint = "run `hubctl ca hub-key request` first",
    std::string_view no_roots_hint = default_no_roots_hint);

// Opens a PKCS#12 bundle (DER) with its password into key, leaf and chain (more_roots_*
// left empty). Errors: tls::read_pkcs12's sentence (callers say what they opened).
[[nodiscard]] Result<HubKeyMaterial, std::string> open_pkcs12(std::string_view der,
                                                              const std::string& password);

}  // namespace hub::hubctl
