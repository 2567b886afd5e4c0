// request.h -- checking a certificate signing request before anybody sees it.
//
// A request reaches hub-ca from the enrollment page, i.e. from the internet. It is parsed
// and checked here, in full, before it is stored: an administrator only ever approves a
// request whose signature is good and whose contents hub-ca is willing to sign.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace hub::ca {

struct CheckedRequest {
    std::vector<std::uint8_t> der;          // The request as submitted, DER.
    std::vector<std::uint8_t> subject_raw;  // The subject's RDNs (DER, no outer header).
    std::string subject;                    // "/CN=mail.partner2.gov.uk/O=...", for people.
    std::string common_name;
    std::vector<std::string> dns_names;  // subjectAltName dNSName entries, lower case.
    std::string key_type;                // "RSA 2048", "P-256", ...
};

// Checks a request given as PEM ("-----BEGIN CERTIFICATE REQUEST-----") or DER: at most
// request_der_bytes_max (PEM: request_pem_bytes_max); parses; its self-signature verifies
// with its own key; RSA of at least rsa_bits_min bits or ECDSA on P-256, P-384 or P-521;
// a subject with a common name; no basic constraint CA:TRUE; subjectAltName entries are
// DNS names that are valid host names (at most dns_names_count_max). The error is one
// sentence saying what is wrong and what to do, for the partner's administrator.
[[nodiscard]] Result<CheckedRequest, std::string> check_request(
    std::span<const std::uint8_t> submitted);

}  // namespace hub::ca
