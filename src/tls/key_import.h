// key_import.h -- the hub's own key and certificate brought in from outside: a PKCS#12
// bundle opened with its password, and the checks a key and certificate chain must pass
// before hubctl puts them where hubd reads them (docs/CA.md, "The hub's own key").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::tls {

// A private key and its certificate chain, all PEM.
struct KeyAndChain {
    std::string private_key_pem;
    std::string certificate_pem;  // The leaf.
    std::string chain_pem;        // Intermediates and roots the bundle carried, if any.
};

// Opens a PKCS#12 bundle (DER, as `openssl pkcs12 -export` writes it) with its password.
// Errors: not a PKCS#12 bundle, a wrong password (or a cipher this wolfSSL lacks), no key
// or no certificate inside.
[[nodiscard]] Result<KeyAndChain, std::string> read_pkcs12(std::string_view der,
                                                           const std::string& password);

// The checks, in this order, each failure one sentence that says what to do:
//   1. the key works with the certificate (a TLS handshake with them, as hubd would);
//   2. the certificate is valid at now_unix_s (not expired, not yet to come);
//   3. the certificate chains, through the other certificates of certificate_chain_path,
//      to one of trust_anchor_path's (the issuing CA's root).
// All paths are PEM files; certificate_chain_path holds the leaf first.
[[nodiscard]] Result<void, std::string> check_key_and_chain(
    const std::string& private_key_path, const std::string& certificate_chain_path,
    const std::string& trust_anchor_path, std::int64_t now_unix_s);

// Which certificates of a PEM text are self-signed roots (subject = issuer), as PEM; the
// rest (intermediates), as PEM. Errors: a certificate does not parse.
struct SplitChain {
    std::string roots_pem;
    std::string intermediates_pem;
};
[[nodiscard]] Result<SplitChain, std::string> split_roots(std::string_view certificates_pem);

}  // namespace hub::tls
