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

// An ErrorDetail whose message is "<what>: <wolfSSL's text> (<code>)".
ErrorDetail make_error(Error error, int code, std::string_view what);

}  // namespace hub::tls
