// key_import.cc -- PKCS#12 bundles and the checks of the hub's own key (see key_import.h).
//
// PURPOSE   Open what an external CA or an administrator hands over (a PKCS#12 bundle, a
//           key and a certificate chain) and refuse anything hubd could not serve with.
// RUNS IN   hubctl, as root (the hub's key is root 0600), never in hubd or hub-ca.
// TRUST     The files are the administrator's, but may be the wrong ones: every check runs
//           before anything is written, and a refusal names the failing check.
// LIMITS    The caller bounds the file sizes (hubctl: hub_key_file_bytes_max).
// SEE ALSO  programs/hubctl/hub_key_commands.cc, tls_context.h (verify_chain), docs/CA.md.
// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>
// The OpenSSL-compatible key writers are declared here only (ssl.h does not include them
// in every build).
#include <wolfssl/openssl/ec.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/pem.h>
#include <wolfssl/openssl/rsa.h>
#include <wolfssl/wolfcrypt/pkcs12.h>

#include <array>
#include <ctime>
#include <fstream>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "base/assert.h"
#include "tls/error_text.h"
#include "tls/key_import.h"
#include "tls/limits.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"
#include "tls/x509_name.h"

namespace hub::tls {
namespace {

struct Bio {
    WOLFSSL_BIO* bio = nullptr;
    ~Bio() { wolfSSL_BIO_free(bio); }
    std::string text() const {
        const char* data = nullptr;
        int size = wolfSSL_BIO_get_mem_data(bio, &data);
        return size > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(size))
                                           : std::string();
    }
};

std::string certificate_pem(WOLFSSL_X509* certificate) {
    Bio out{wolfSSL_BIO_new(wolfSSL_BIO_s_mem())};
    if (out.bio == nullptr || wolfSSL_PEM_write_bio_X509(out.bio, certificate) != WOLFSSL_SUCCESS) {
        return {};
    }
    return out.text();
}

// The key as SEC 1 "EC PRIVATE KEY" (with its curve) or PKCS#1 "RSA PRIVATE KEY" PEM, what
// hub-ca writes too. Not wolfSSL_PEM_write_bio_PrivateKey: wolfSSL 5.5 keeps a bundle's key
// as the traditional DER without the PKCS#8 algorithm (so an EC key loses its curve) and
// labels it "PRIVATE KEY"; OpenSSL then cannot read the file.
std::string private_key_pem(WOLFSSL_EVP_PKEY* key) {
    Bio out{wolfSSL_BIO_new(wolfSSL_BIO_s_mem())};
    if (out.bio == nullptr) {
        return {};
    }
    int written = WOLFSSL_FAILURE;
    int type = wolfSSL_EVP_PKEY_base_id(key);
    if (type == EVP_PKEY_EC) {
        WOLFSSL_EC_KEY* ec = wolfSSL_EVP_PKEY_get1_EC_KEY(key);
        if (ec != nullptr) {
            written = wolfSSL_PEM_write_bio_ECPrivateKey(out.bio, ec, nullptr, nullptr, 0, nullptr,
                                                         nullptr);
            wolfSSL_EC_KEY_free(ec);
        }
    } else if (type == EVP_PKEY_RSA) {
        WOLFSSL_RSA* rsa = wolfSSL_EVP_PKEY_get1_RSA(key);
        if (rsa != nullptr) {
            written = wolfSSL_PEM_write_bio_RSAPrivateKey(out.bio, rsa, nullptr, nullptr, 0,
                                                          nullptr, nullptr);
            wolfSSL_RSA_free(rsa);
        }
    }
    return written == WOLFSSL_SUCCESS ? out.text() : std::string();
}

std::vector<std::string> pem_blocks(std::string_view text) {
    constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----";
    constexpr std::string_view end = "-----END CERTIFICATE-----";
    std::vector<std::string> blocks;
    for (std::size_t at = 0;;) {
        std::size_t start = text.find(begin, at);
        std::size_t stop = start == std::string_view::npos ? start : text.find(end, start);
        if (stop == std::string_view::npos) {
            return blocks;
        }
        blocks.emplace_back(text.substr(start, stop + end.size() - start));
        blocks.back() += '\n';
        at = stop + end.size();
    }
}

std::string utc_text(std::int64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", parts.tm_year + 1900, parts.tm_mon + 1,
                       parts.tm_mday, parts.tm_hour, parts.tm_min);
}

std::string file_text(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
}

// Verifies the leaf (first certificate of chain_path) from the roots of roots_path up:
// only roots are trusted at first, and an intermediate becomes an issuer only after it
// verified itself against what is trusted already (tls::verify_chain would trust every
// intermediate as given, so a chain to another CA's root could pass). Dates count.
Result<void, std::string> verify_from_roots(const std::string& chain_path,
                                            const std::string& roots_path) {
    std::vector<std::string> chain = pem_blocks(file_text(chain_path));
    std::vector<std::string> roots = pem_blocks(file_text(roots_path));
    if (chain.empty() || roots.empty()) {
        return unexpected(std::string("no certificate to verify, or no root"));
    }
    WOLFSSL_CERT_MANAGER* manager = wolfSSL_CertManagerNew();
    if (manager == nullptr) {
        return unexpected(std::string("out of memory"));
    }
    auto bytes = [](const std::string& block) {
        return reinterpret_cast<const unsigned char*>(block.data());
    };
    std::string problem;
    for (const std::string& root : roots) {
        int code = wolfSSL_CertManagerLoadCABuffer(
            manager, bytes(root), static_cast<long>(root.size()), WOLFSSL_FILETYPE_PEM);
        if (code != WOLFSSL_SUCCESS) {
            problem =
                fmt::format("a root certificate cannot be used: {}", wolfssl_error_text(code));
        }
    }
    std::vector<std::string> waiting(chain.begin() + 1, chain.end());
    for (bool progress = true; problem.empty() && progress && !waiting.empty();) {
        progress = false;
        for (auto it = waiting.begin(); it != waiting.end(); ++it) {
            if (wolfSSL_CertManagerVerifyBuffer(manager, bytes(*it), static_cast<long>(it->size()),
                                                WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS &&
                wolfSSL_CertManagerLoadCABuffer(manager, bytes(*it), static_cast<long>(it->size()),
                                                WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS) {
                waiting.erase(it);
                progress = true;
                break;
            }
        }
    }
    if (problem.empty() && !waiting.empty()) {
        problem = fmt::format("{} intermediate certificate(s) do not verify up to the root",
                              waiting.size());
    }
    if (problem.empty()) {
        int code = wolfSSL_CertManagerVerifyBuffer(manager, bytes(chain.front()),
                                                   static_cast<long>(chain.front().size()),
                                                   WOLFSSL_FILETYPE_PEM);
        if (code != WOLFSSL_SUCCESS) {
            problem = fmt::format("the certificate does not verify: {} ({})",
                                  wolfssl_error_text(code), code);
        }
    }
    wolfSSL_CertManagerFree(manager);
    if (!problem.empty()) {
        return unexpected(std::move(problem));
    }
    return {};
}

}  // namespace

Result<KeyAndChain, std::string> read_pkcs12(std::string_view der, const std::string& password) {
    initialise_library();
    if (der.empty() || der.size() > static_cast<std::size_t>(INT32_MAX)) {
        return unexpected(std::string("an empty or oversized file"));
    }
    Bio in{wolfSSL_BIO_new_mem_buf(der.data(), static_cast<int>(der.size()))};
    if (in.bio == nullptr) {
        return unexpected(std::string("out of memory"));
    }
    WC_PKCS12* bundle = wolfSSL_d2i_PKCS12_bio(in.bio, nullptr);
    if (bundle == nullptr) {
        return unexpected(std::string(
            "not a PKCS#12 bundle (DER, as `openssl pkcs12 -export` writes it; .p12 or .pfx)"));
    }
    WOLFSSL_EVP_PKEY* key = nullptr;
    WOLFSSL_X509* certificate = nullptr;
    WOLF_STACK_OF(WOLFSSL_X509)* authorities = nullptr;
    int parsed = wolfSSL_PKCS12_parse(bundle, password.c_str(), &key, &certificate, &authorities);
    wc_PKCS12_free(bundle);
    KeyAndChain out;
    std::string problem;
    if (parsed != WOLFSSL_SUCCESS) {
        problem =
            "cannot open the bundle: a wrong password, or a cipher this box's wolfSSL lacks "
            "(export it again with AES: openssl pkcs12 -export -keypbe AES-256-CBC "
            "-certpbe AES-256-CBC)";
    } else if (key == nullptr || certificate == nullptr) {
        problem = "the bundle holds no private key or no certificate";
    } else {
        out.private_key_pem = private_key_pem(key);
        out.certificate_pem = certificate_pem(certificate);
        int count = authorities != nullptr ? wolfSSL_sk_X509_num(authorities) : 0;
        for (int index = 0; index < count; index++) {
            out.chain_pem += certificate_pem(wolfSSL_sk_X509_value(authorities, index));
        }
        if (out.private_key_pem.empty() || out.certificate_pem.empty()) {
            problem = "the bundle's key or certificate could not be written as PEM";
        }
    }
    wolfSSL_EVP_PKEY_free(key);
    wolfSSL_X509_free(certificate);
    if (authorities != nullptr) {
        wolfSSL_sk_X509_pop_free(authorities, wolfSSL_X509_free);
    }
    if (!problem.empty()) {
        return unexpected(std::move(problem));
    }
    return out;
}

Result<SplitChain, std::string> split_roots(std::string_view certificates_pem) {
    initialise_library();
    constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----";
    constexpr std::string_view end = "-----END CERTIFICATE-----";
    SplitChain split;
    std::size_t at = 0;
    for (int index = 1;; index++) {
        std::size_t start = certificates_pem.find(begin, at);
        if (start == std::string_view::npos) {
            break;
        }
        std::size_t stop = certificates_pem.find(end, start);
        if (stop == std::string_view::npos) {
            return unexpected(fmt::format("certificate {} has no END line", index));
        }
        std::string block(certificates_pem.substr(start, stop + end.size() - start));
        block += '\n';
        at = stop + end.size();
        WOLFSSL_X509* certificate = wolfSSL_X509_load_certificate_buffer(
            reinterpret_cast<const unsigned char*>(block.data()), static_cast<int>(block.size()),
            WOLFSSL_FILETYPE_PEM);
        if (certificate == nullptr) {
            return unexpected(fmt::format("certificate {} does not parse", index));
        }
        bool root = name_oneline(wolfSSL_X509_get_subject_name(certificate)) ==
                    name_oneline(wolfSSL_X509_get_issuer_name(certificate));
        wolfSSL_X509_free(certificate);
        (root ? split.roots_pem : split.intermediates_pem) += block;
    }
    return split;
}

Result<void, std::string> check_key_and_chain(const std::string& private_key_path,
                                              const std::string& certificate_chain_path,
                                              const std::string& trust_anchor_path,
                                              std::int64_t now_unix_s) {
    ServerConfig config;
    config.certificate_chain_path = certificate_chain_path;
    config.private_key_path = private_key_path;
    config.request_client_certificate = false;
    if (auto context = ServerContext::create(config); !context) {
        return unexpected(fmt::format(
            "the private key does not match the certificate, or one of them cannot be used: {}",
            context.error().message));
    }
    auto facts = read_certificate_facts(certificate_chain_path);
    if (!facts) {
        return unexpected(facts.error());
    }
    const CertificateFacts& leaf = facts->front();
    if (leaf.not_after_s <= now_unix_s) {
        return unexpected(fmt::format(
            "the certificate ({}) has expired: it was valid until {}; ask its CA for a new one",
            leaf.subject, utc_text(leaf.not_after_s)));
    }
    if (leaf.not_before_s > now_unix_s) {
        return unexpected(fmt::format(
            "the certificate ({}) is not valid yet: from {}; is this box's clock right?",
            leaf.subject, utc_text(leaf.not_before_s)));
    }
    if (auto verified = verify_from_roots(certificate_chain_path, trust_anchor_path); !verified) {
        return unexpected(fmt::format(
            "the certificate chain does not verify: {}; give the intermediate certificates "
            "(--chain) and the issuing CA's root (--ca)",
            verified.error()));
    }
    return {};
}

}  // namespace hub::tls
