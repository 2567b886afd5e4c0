// revocation.cc -- CRLs in a server context (see revocation.h).
//
// PURPOSE   Give wolfSSL the hub CA's CRL as bytes, and say which CA must have one, so
//           that a revoked partner certificate fails its handshake's verdict.
// RUNS IN   hubd: enable_crl_check at start, before the privilege drop; load_crl on the
//           supervisor thread (start, reload, timer) while shards run handshakes.
// TRUST     The CRL comes from hub-ca's public directory; wolfSSL verifies its signature
//           against the client CAs before it is used, so a forged file is refused.
// LIMITS    A CRL is at most engine::crl_bytes_max (read by the caller).
// SEE ALSO  engine/crl_refresh.h, io_callbacks.cc (verify_client), docs/CA.md.
// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/ssl.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "base/assert.h"
#include "tls/error_text.h"
#include "tls/limits.h"
#include "tls/revocation.h"
#include "tls/tls_session.h"
#include "tls/x509_name.h"

namespace hub::tls {
namespace {

// wolfSSL keeps a CRL's dates as the ASN.1 time's characters ("YYMMDDHHMMSSZ").
std::int64_t time_unix_s(const WOLFSSL_ASN1_TIME* time) {
    if (time == nullptr) {
        return 0;
    }
    const char* text = reinterpret_cast<const char*>(time->data);
    return certificate_time_unix_s(std::string_view(text, strnlen(text, sizeof(time->data))));
}

struct BioGuard {
    WOLFSSL_BIO* bio;
    ~BioGuard() { wolfSSL_BIO_free(bio); }
};

}  // namespace

Result<CrlFacts, std::string> read_crl_facts(std::string_view crl_pem) {
    if (crl_pem.empty() || crl_pem.size() > static_cast<std::size_t>(INT32_MAX)) {
        return unexpected(std::string("an empty or oversized CRL"));
    }
    BioGuard bio{wolfSSL_BIO_new_mem_buf(crl_pem.data(), static_cast<int>(crl_pem.size()))};
    if (bio.bio == nullptr) {
        return unexpected(std::string("out of memory reading the CRL"));
    }
    WOLFSSL_X509_CRL* crl = wolfSSL_PEM_read_bio_X509_CRL(bio.bio, nullptr, nullptr, nullptr);
    if (crl == nullptr) {
        return unexpected(std::string("not a PEM CRL (-----BEGIN X509 CRL-----)"));
    }
    CrlFacts facts;
    facts.issuer = name_oneline(wolfSSL_X509_CRL_get_issuer_name(crl));
    facts.this_update_unix_s = time_unix_s(wolfSSL_X509_CRL_get_lastUpdate(crl));
    facts.next_update_unix_s = time_unix_s(wolfSSL_X509_CRL_get_nextUpdate(crl));
    wolfSSL_X509_CRL_free(crl);
    return facts;
}

Result<std::string, std::string> certificate_subject_oneline(const std::string& pem_path) {
    WOLFSSL_X509* certificate =
        wolfSSL_X509_load_certificate_file(pem_path.c_str(), WOLFSSL_FILETYPE_PEM);
    if (certificate == nullptr) {
        return unexpected(fmt::format("{}: cannot read a PEM certificate", pem_path));
    }
    std::string subject = name_oneline(wolfSSL_X509_get_subject_name(certificate));
    wolfSSL_X509_free(certificate);
    if (subject.empty()) {
        return unexpected(fmt::format("{}: the certificate's subject does not read", pem_path));
    }
    return subject;
}

Result<void, std::string> enable_crl_check(ServerContext& context, std::string required_issuer) {
    HUB_ASSERT(context.crl_required_issuer_.empty());  // Once, before sharing.
    // Options 0: the leaf only (WOLFSSL_CRL_CHECKALL would also want a CRL for every
    // intermediate of every client CA, which none of them gives hubd).
    int result = wolfSSL_CTX_EnableCRL(context.native(), 0);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(
            fmt::format("wolfSSL cannot check CRLs ({}): is it built with --enable-crl?",
                        wolfssl_error_text(result)));
    }
    context.crl_required_issuer_ = std::move(required_issuer);
    HUB_ASSERT(!context.crl_required_issuer_.empty());
    return {};
}

Result<void, std::string> load_crl(ServerContext& context, std::string_view crl_pem) {
    HUB_ASSERT(!context.crl_required_issuer().empty());  // enable_crl_check ran.
    if (crl_pem.empty() || crl_pem.size() > static_cast<std::size_t>(INT32_MAX)) {
        return unexpected(std::string("an empty or oversized CRL"));
    }
    int result = wolfSSL_CTX_LoadCRLBuffer(context.native(),
                                           reinterpret_cast<const unsigned char*>(crl_pem.data()),
                                           static_cast<long>(crl_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        if (result == ASN_CRL_NO_SIGNER_E) {
            return unexpected(std::string(
                "its issuer is not among [tls] client_ca (ASN_CRL_NO_SIGNER_E): add the hub "
                "CA's ca.pem to the client CA file"));
        }
        return unexpected(fmt::format("wolfSSL refused it: {}", wolfssl_error_text(result)));
    }
    return {};
}

}  // namespace hub::tls
