// revocation.h -- certificate revocation lists in a server context: which CA's CRL hubd
// must hold, and loading a CRL given as PEM bytes.
//
// hubd reads the hub CA's CRL (<ca.public_dir>/crl.pem) itself, at start, at every reload
// and on a timer (engine/crl_refresh.h); this module only hands the bytes to wolfSSL. The
// leaf client certificate is checked against the loaded CRL at every handshake; the
// verdict goes through verify_client like any other chain error, so policy refuses a
// revoked certificate exactly as it refuses one that does not chain (docs/CA.md,
// "Revocation in hubd").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::tls {

class ServerContext;

// What a CRL says about itself, for the log and for deciding whether it is stale.
struct CrlFacts {
    std::string issuer;                   // One line, "/CN=Hubbox CA hub.example".
    std::int64_t this_update_unix_s = 0;  // 0 when the date does not read.
    std::int64_t next_update_unix_s = 0;  // 0 when absent or unreadable.
};

// Reads a PEM CRL's issuer, dates and entry count without loading it anywhere. Does not
// verify its signature (load_crl does). Errors: not one well-formed PEM CRL.
[[nodiscard]] Result<CrlFacts, std::string> read_crl_facts(std::string_view crl_pem);

// The one-line subject of the first certificate of a PEM file (the hub CA's ca.pem).
// Errors: the file does not read or holds no certificate.
[[nodiscard]] Result<std::string, std::string> certificate_subject_oneline(
    const std::string& pem_path);

// Turns on CRL checking of client (leaf) certificates in context and names the CA whose
// certificates must have a CRL: a certificate issued by required_issuer (one-line subject,
// as certificate_subject_oneline gives it) fails while no CRL of that CA is loaded, so a
// missing crl.pem never lets a revoked certificate through. Certificates of other client
// CAs, which publish no CRL to hubd, are not checked ("no CRL" is not an error for them).
// Precondition: called once, before the context is shared with any shard.
// Errors: this wolfSSL has no CRL support.
[[nodiscard]] Result<void, std::string> enable_crl_check(ServerContext& context,
                                                         std::string required_issuer);

// Adds a CRL (PEM) to context after wolfSSL verified its signature against the context's
// client CAs. The newest load wins: wolfSSL searches its list newest first and stops at
// the first CRL of the certificate's issuer. Safe while other threads run handshakes on
// the context (wolfSSL locks its CRL list). Each load stays in memory until the context
// is freed (wolfSSL 5.5 cannot drop one CRL), so call it only when the bytes changed.
// Precondition: enable_crl_check ran. Errors: the CRL does not parse, or its issuer is not
// among the client CAs, or its signature does not verify (wolfSSL's reason).
[[nodiscard]] Result<void, std::string> load_crl(ServerContext& context, std::string_view crl_pem);

}  // namespace hub::tls
