// x509_name.h -- a certificate's distinguished name as text, for logs and error messages.
#pragma once

#include <string>

struct WOLFSSL_X509_NAME;

namespace hub::tls {

// wolfSSL's one-line form ("/C=GB/O=.../CN=..."), cut to name_bytes_max; "" for no name.
std::string name_oneline(WOLFSSL_X509_NAME* name);

}  // namespace hub::tls
