// tls_context.h -- checks of the hub's certificate files that hubd --check runs; the
// contexts themselves are declared in tls_session.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace hub::tls {

// One certificate of a PEM file, as far as the start-up checks need it.
struct CertificateFacts {
    std::string subject;        // One line, "/CN=hub.example/O=...".
    std::int64_t not_before_s;  // Unix time.
    std::int64_t not_after_s;
};

// Reads every certificate in a PEM file, in file order (a chain file: leaf first).
// Errors: the file cannot be read, holds no certificate, or one does not parse.
[[nodiscard]] Result<std::vector<CertificateFacts>, std::string> read_certificate_facts(
    const std::string& path);

// Verifies the first certificate of chain_path against the CA certificates of ca_path,
// with the chain file's other certificates as intermediates. Validity dates are not this
// check's business (read_certificate_facts gives them): a chain that fails only on a date
// passes. Errors: what failed, e.g. "no trusted issuer (ASN_NO_SIGNER_E)".
[[nodiscard]] Result<void, std::string> verify_chain(const std::string& chain_path,
                                                     const std::string& ca_path);

}  // namespace hub::tls
