// error_text.h -- turns wolfSSL return codes into tls::ErrorDetail (internal to tls/).
//
// wolfSSL's codes become tls::Error here and nowhere else (house rule: each library's
// codes are translated at its own boundary).
#pragma once

#include <string>
#include <string_view>

#include "tls/tls_session.h"

namespace hub::tls {

// wolfSSL's text for a (negative) error code, e.g. "ASN no signer error to confirm
// failure"; never empty.
std::string wolfssl_error_text(int code);

// The reason a certificate failed to verify, from the code the verify callback recorded:
// a positive X509_V_ERR_* code from wolfSSL's OpenSSL compatibility layer, in OpenSSL's
// words ("self-signed certificate", "unable to get local issuer certificate"), or one of
// wolfSSL's own negative codes in its words; -1 (failed, no code given) reads
// "certificate verification failed". Never empty.
std::string verify_error_text(int code);

// An ErrorDetail whose message is "<what>: <wolfSSL's text> (<code>)".
ErrorDetail make_error(Error error, int code, std::string_view what);

}  // namespace hub::tls
