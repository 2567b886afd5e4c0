// pem_certificate.cc -- parse one PEM certificate from memory (hubctl trust add).
//
// PURPOSE   Refuse a trust anchor that is not one parsable certificate before it reaches
//           the directory, and give the facts the directory lists (subject, fingerprint,
//           expiry).
// RUNS IN   hubctl. Never in hubd's data path.
// TRUST     Operator-supplied bytes; wolfSSL parses them.
// LIMITS    trust_anchor_pem_bytes_max (tls/limits.h).
// SEE ALSO  directory/tls_endpoints.h (TrustAnchorRecord), docs/DIRECTORY.md.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "tls/pem_certificate.h"

#include <fmt/format.h>

#include <array>
#include <ctime>
#include <iterator>

#include "tls/limits.h"
#include "tls/tls_session.h"

namespace hub::tls {

namespace {

constexpr std::string_view begin_marker = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view end_marker = "-----END CERTIFICATE-----";

}  // namespace

Result<PemCertificate, std::string> parse_pem_certificate(std::string_view text) {
    initialise_library();
    if (text.size() > trust_anchor_pem_bytes_max) {
        return unexpected(fmt::format("larger than {} bytes; give one PEM certificate",
                                      trust_anchor_pem_bytes_max));
    }
    std::size_t begin = text.find(begin_marker);
    std::size_t end = begin == std::string_view::npos ? begin : text.find(end_marker, begin);
    if (begin == std::string_view::npos || end == std::string_view::npos) {
        return unexpected(
            std::string("holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END "
                        "CERTIFICATE-----)"));
    }
    end += end_marker.size();
    if (text.find(begin_marker, end) != std::string_view::npos) {
        return unexpected(
            std::string("holds more than one certificate; add each CA as its own trust anchor"));
    }
    PemCertificate certificate;
    certificate.pem = std::string(text.substr(begin, end - begin)) + "\n";
    WOLFSSL_X509* x509 = wolfSSL_X509_load_certificate_buffer(
        reinterpret_cast<const unsigned char*>(certificate.pem.data()),
        static_cast<int>(certificate.pem.size()), WOLFSSL_FILETYPE_PEM);
    if (x509 == nullptr) {
        return unexpected(
            std::string("the certificate does not parse (not DER inside, or damaged)"));
    }
    std::array<char, 512> subject{};
    wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x509), subject.data(),
                              static_cast<int>(subject.size()));
    certificate.subject = subject.data();
    certificate.is_ca = wolfSSL_X509_get_isCA(x509) != 0;
    struct tm broken_down {};
    bool dated =
        wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notAfter(x509), &broken_down) == WOLFSSL_SUCCESS;
    certificate.not_after_unix_s = dated ? static_cast<std::int64_t>(timegm(&broken_down)) : 0;
    int der_bytes = 0;
    const unsigned char* der = wolfSSL_X509_get_der(x509, &der_bytes);
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    bool hashed = der != nullptr && der_bytes > 0 &&
                  wc_Sha256Hash(der, static_cast<word32>(der_bytes), digest.data()) == 0;
    wolfSSL_X509_free(x509);
    if (!dated || !hashed) {
        return unexpected(std::string("the certificate's dates or encoding do not read"));
    }
    for (unsigned char byte : digest) {
        fmt::format_to(std::back_inserter(certificate.sha256), "{:02x}", byte);
    }
    return certificate;
}

}  // namespace hub::tls
