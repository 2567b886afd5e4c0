// pem_certificate.h -- one CA certificate given as PEM bytes, parsed for the directory's
// trust anchors (hubctl trust add). Kept apart from tls_context.* (the contexts).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::tls {

struct PemCertificate {
    std::string pem;      // The one certificate block, as given (trimmed to its markers).
    std::string subject;  // One line, "/C=GB/O=.../CN=...".
    std::string sha256;   // Of the DER, 64 lower-case hex digits.
    std::int64_t not_after_unix_s = 0;
    bool is_ca = false;  // basicConstraints cA.
};

// Exactly one certificate. Errors say what is wrong: no PEM certificate block, more than
// one, a block that does not parse, unreadable dates.
[[nodiscard]] Result<PemCertificate, std::string> parse_pem_certificate(std::string_view text);

}  // namespace hub::tls
