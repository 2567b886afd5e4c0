// authority.h -- the CA itself: its key, its certificate, issuing, CRLs, bundles.
//
// An Authority holds the CA's private key in memory; only hub-ca ever makes one from the
// key file. Everything it produces is DER; pem() turns DER into text.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ca/request.h"

namespace hub::ca {

using Bytes = std::vector<std::uint8_t>;

// The key choices `hub-ca init --key` offers: ECDSA on P-256 or P-384, RSA 3072 or 4096.
enum class KeyType { p256, p384, rsa3072, rsa4096 };

// "p256", "p384", "rsa3072", "rsa4096" (what --key takes); the error lists them.
[[nodiscard]] Result<KeyType, std::string> parse_key_type(std::string_view text);
std::string_view key_type_name(KeyType type);

// A private key made on this machine, as PEM (SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA
// PRIVATE KEY", which OpenSSL and wolfSSL both read).
[[nodiscard]] Result<std::string, std::string> generate_key_pem(KeyType type);

// A PKCS#10 request signed by key_pem for subject CN=common_name, DER, without
// extensions (the release build's wolfSSL cannot encode a subjectAltName in a request; the
// caller sets CheckedRequest::dns_names). hub-ca uses it for the hub's own certificate so
// that it goes through check_request and issue like any partner's.
[[nodiscard]] Result<Bytes, std::string> make_request(const std::string& key_pem,
                                                      std::string_view common_name);

struct Issued {
    Bytes der;
    Bytes serial;  // serial_bytes, the top bit set: always 128 bits, positive.
    std::int64_t not_before_unix_s = 0;
    std::int64_t not_after_unix_s = 0;
};

// RFC 5280 5.3.1 reason codes that an administrator may give.
enum class RevocationReason : std::uint8_t {
    unspecified = 0,
    key_compromise = 1,
    affiliation_changed = 3,
    superseded = 4,
    cessation_of_operation = 5,
    privilege_withdrawn = 9,
};
// "keyCompromise" etc. (RFC 5280's names); the error lists them.
[[nodiscard]] Result<RevocationReason, std::string> parse_revocation_reason(std::string_view text);
std::string_view revocation_reason_name(RevocationReason reason);

struct RevokedEntry {
    Bytes serial;
    std::int64_t revoked_unix_s = 0;
    RevocationReason reason = RevocationReason::unspecified;
};

class Authority {
public:
    // A new key and a self-signed certificate "CN=<common_name>": CA:TRUE (critical),
    // keyUsage keyCertSign and cRLSign, subject key identifier, valid from now - 1 h.
    [[nodiscard]] static Result<Authority, std::string> create(KeyType type,
                                                               std::string_view common_name,
                                                               std::int64_t now_unix_s,
                                                               std::uint32_t validity_days);
    // The key and certificate as create() left them (key_pem(), certificate_der()).
    [[nodiscard]] static Result<Authority, std::string> load(
        const std::string& key_pem, std::span<const std::uint8_t> cert_der);
    Authority(Authority&&) noexcept;
    Authority& operator=(Authority&&) noexcept;
    ~Authority();

    const Bytes& certificate_der() const;
    std::string key_pem() const;
    KeyType key_type() const;

    // An end-entity certificate for a checked request: the request's subject and DNS
    // names, its key, a random serial, serverAuth and clientAuth, CA:FALSE, valid from
    // now - 1 h for validity_days.
    [[nodiscard]] Result<Issued, std::string> issue(const CheckedRequest& request,
                                                    std::int64_t now_unix_s,
                                                    std::uint32_t validity_days);
    // A v2 CRL (RFC 5280 5.1) with the authority key identifier and CRL number, DER.
    [[nodiscard]] Result<Bytes, std::string> make_crl(std::span<const RevokedEntry> revoked,
                                                      std::int64_t this_update_unix_s,
                                                      std::int64_t next_update_unix_s,
                                                      std::uint64_t crl_number);

private:
    struct State;
    explicit Authority(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// A certs-only PKCS#7 SignedData (RFC 2315 9.1, as `openssl crl2pkcs7 -nocrl` makes), DER.
Bytes certs_only_pkcs7(std::span<const Bytes> certificates);

// The first certificate of a PEM text, DER.
[[nodiscard]] Result<Bytes, std::string> certificate_from_pem(std::string_view text);

// DER to PEM with the given label ("CERTIFICATE", "X509 CRL", "PKCS7").
std::string pem(std::span<const std::uint8_t> der, std::string_view label);

}  // namespace hub::ca
