// envelope.h -- what SMTP learned about a message besides its content.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hub::smtp {

enum class BodyType { seven_bit, eight_bit_mime };  // RFC 6152 BODY=
enum class DsnRet { unset, full, headers };         // RFC 3461 4.3 RET=

// RFC 3461 4.1 NOTIFY= as bits; zero means the parameter was absent.
enum DsnNotify : std::uint8_t {
    dsn_notify_never = 1,
    dsn_notify_success = 2,
    dsn_notify_failure = 4,
    dsn_notify_delay = 8,
};

struct Recipient {
    std::string address;      // Without angle brackets, as the client wrote it.
    std::uint8_t notify = 0;  // DsnNotify bits.
    std::string orcpt;        // RFC 3461 4.2 ORCPT=, xtext-decoded; empty if absent.
};

struct Envelope {
    std::string helo;                  // EHLO/HELO argument.
    bool esmtp = false;                // EHLO (true) or HELO (false); shown in Received: "with".
    std::string mail_from;             // Reverse path without <>; empty for the null sender.
    std::uint64_t declared_bytes = 0;  // SIZE=, 0 if absent.
    BodyType body_type = BodyType::seven_bit;
    DsnRet dsn_ret = DsnRet::unset;
    std::string dsn_envid;  // RFC 3461 4.4 ENVID=, xtext-decoded.
    std::vector<Recipient> recipients;
};

// The TLS parameters of the inbound hop, as the Received: header and policy see them.
struct TlsFacts {
    std::string version;  // "TLSv1.3"
    std::string cipher;   // "TLS_AES_256_GCM_SHA384"
    int bits = 0;         // Symmetric key bits.
    // Client certificate verdict, Postfix-style words: "none", "verified", "failed".
    std::string client_cert_verdict = "none";
    std::string client_subject;  // Subject DN of the client certificate, if any.
    std::string client_issuer;   // Issuer DN of the client certificate, if any.
    std::string client_cn;       // Subject CN, for matching partners.
    // Why the client certificate failed to verify (wolfSSL's reason, e.g. "ASN no signer
    // error to confirm failure"); empty unless the verdict is "failed". Not spooled.
    std::string client_cert_error;
};

}  // namespace hub::smtp
