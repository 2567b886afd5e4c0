// error_text.cc -- wolfSSL error codes to readable messages (see error_text.h).
#include "tls/error_text.h"

// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

#include <array>

#include <fmt/format.h>

namespace hub::tls {

std::string wolfssl_error_text(int code) {
    std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
    // wolfSSL takes the code as unsigned long but interprets it as the signed int it was.
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
    text.back() = '\0';
    if (text[0] == '\0') {
        return "unknown wolfSSL error";
    }
    return std::string(text.data());
}

ErrorDetail make_error(Error error, int code, std::string_view what) {
    ErrorDetail detail;
    detail.error = error;
    detail.code = code;
    detail.message = fmt::format("{}: {} ({})", what, wolfssl_error_text(code), code);
    return detail;
}

}  // namespace hub::tls
