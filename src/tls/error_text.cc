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

namespace {

// OpenSSL's texts for the X509_V_ERR_* codes wolfSSL's compatibility layer reports for a
// client chain; wolfSSL's own X509_verify_cert_error_string knows only a few of them.
struct VerifyErrorText {
    int code;
    const char* text;
};
constexpr VerifyErrorText verify_error_texts[] = {
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unable to get issuer certificate"},
    {X509_V_ERR_CERT_SIGNATURE_FAILURE, "certificate signature failure"},
    {X509_V_ERR_CERT_NOT_YET_VALID, "certificate is not yet valid"},
    {X509_V_ERR_CERT_HAS_EXPIRED, "certificate has expired"},
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed certificate"},
    {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "self-signed certificate in certificate chain"},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unable to get local issuer certificate"},
    {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unable to verify the first certificate"},
    {X509_V_ERR_CERT_CHAIN_TOO_LONG, "certificate chain too long"},
    {X509_V_ERR_CERT_REVOKED, "certificate revoked"},
    {X509_V_ERR_INVALID_CA, "invalid CA certificate"},
    {X509_V_ERR_PATH_LENGTH_EXCEEDED, "path length constraint exceeded"},
    {X509_V_ERR_INVALID_PURPOSE, "unsupported certificate purpose"},
    {X509_V_ERR_CERT_UNTRUSTED, "certificate not trusted"},
    {X509_V_ERR_CERT_REJECTED, "certificate rejected"},
};

}  // namespace

std::string verify_error_text(int code) {
    if (code == -1) {
        return "certificate verification failed";  // verify_client's "no code" marker.
    }
    if (code < 0) {
        return wolfssl_error_text(code);
    }
    for (const VerifyErrorText& known : verify_error_texts) {
        if (known.code == code) {
            return known.text;
        }
    }
    return fmt::format("X509 verify error {}", code);
}

ErrorDetail make_error(Error error, int code, std::string_view what) {
    ErrorDetail detail;
    detail.error = error;
    detail.code = code;
    detail.message = fmt::format("{}: {} ({})", what, wolfssl_error_text(code), code);
    return detail;
}

}  // namespace hub::tls
