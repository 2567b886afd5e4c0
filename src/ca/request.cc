// request.cc -- certificate signing requests: parse, verify, check (request.h).
//
// PURPOSE   Turn bytes from the internet into a request hub-ca may store, or a refusal.
// RUNS IN   hub-ca, before a request is stored (submit).
// TRUST     The bytes are hostile: sizes are bounded before wolfSSL parses them, and every
//           field used later is copied out here and checked.
// LIMITS    ca/limits.h: request_der_bytes_max, request_pem_bytes_max, rsa_bits_min,
//           dns_names_count_max, subject_raw_bytes_max.
// SEE ALSO  ca/authority.cc (issue), docs/CA.md ("Requests").

#include "ca/request.h"

#include <fmt/format.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>

#include "ca/der.h"
#include "ca/limits.h"
#include "config/syntax.h"

namespace hub::ca {

namespace {

constexpr std::string_view pem_begin = "-----BEGIN CERTIFICATE REQUEST-----";
constexpr std::string_view pem_begin_new = "-----BEGIN NEW CERTIFICATE REQUEST-----";

// PEM to DER, or the DER as given.
Result<std::vector<std::uint8_t>, std::string> to_der(std::span<const std::uint8_t> submitted) {
    std::string_view text(reinterpret_cast<const char*>(submitted.data()), submitted.size());
    bool pem = text.find(pem_begin) != std::string_view::npos ||
               text.find(pem_begin_new) != std::string_view::npos;
    if (!pem) {
        if (submitted.size() > request_der_bytes_max) {
            return unexpected(fmt::format("the request is {} bytes; at most {} are accepted",
                                          submitted.size(), request_der_bytes_max));
        }
        return std::vector<std::uint8_t>(submitted.begin(), submitted.end());
    }
    if (submitted.size() > request_pem_bytes_max) {
        return unexpected(fmt::format("the request is {} bytes of PEM; at most {} are accepted",
                                      submitted.size(), request_pem_bytes_max));
    }
    std::vector<std::uint8_t> der(request_der_bytes_max);
    int length = wc_CertPemToDer(submitted.data(), static_cast<int>(submitted.size()), der.data(),
                                 static_cast<int>(der.size()), CERTREQ_TYPE);
    if (length <= 0) {
        return unexpected(std::string(
            "the request is not readable PEM: send one \"-----BEGIN CERTIFICATE REQUEST-----\" "
            "block as openssl req writes it"));
    }
    der.resize(static_cast<std::size_t>(length));
    return der;
}

// "RSA 2048" or "P-256", or what is wrong with the key.
Result<std::string, std::string> check_key(const DecodedCert& cert) {
    if (cert.keyOID == RSAk) {
        RsaKey key;
        if (wc_InitRsaKey(&key, nullptr) != 0) {
            return unexpected(std::string("cannot read the request's RSA key"));
        }
        word32 index = 0;
        int decoded = wc_RsaPublicKeyDecode(cert.publicKey, &index, &key, cert.pubKeySize);
        int bits = decoded == 0 ? wc_RsaEncryptSize(&key) * 8 : 0;
        wc_FreeRsaKey(&key);
        if (decoded != 0) {
            return unexpected(std::string("the request's RSA public key is malformed"));
        }
        if (bits < static_cast<int>(rsa_bits_min) || bits > static_cast<int>(rsa_bits_max)) {
            return unexpected(fmt::format(
                "the request's key is RSA {} bits; use RSA {} to {} bits or ECDSA P-256 or "
                "larger (openssl req -newkey rsa:3072)",
                bits, rsa_bits_min, rsa_bits_max));
        }
        return fmt::format("RSA {}", bits);
    }
    if (cert.keyOID == ECDSAk) {
        switch (cert.pkCurveOID) {
            case ECC_SECP256R1_OID:
                return std::string("P-256");
            case ECC_SECP384R1_OID:
                return std::string("P-384");
            case ECC_SECP521R1_OID:
                return std::string("P-521");
            default:
                return unexpected(std::string(
                    "the request's key is on an elliptic curve hub-ca does not sign; use "
                    "P-256, P-384 or P-521 (openssl req -newkey ec -pkeyopt "
                    "ec_paramgen_curve:P-256)"));
        }
    }
    return unexpected(std::string(
        "the request's key type is not accepted; use RSA (2048 bits or more) or ECDSA P-256"));
}

// True if data[from, to) is exactly the given TLV bytes.
bool bytes_are(std::span<const std::uint8_t> data, std::size_t from, std::size_t to,
               std::span<const std::uint8_t> expected) {
    return to >= from && to - from == expected.size() &&
           std::equal(expected.begin(), expected.end(),
                      data.begin() + static_cast<std::ptrdiff_t>(from));
}

// False if the Extensions at extensions hold a subjectAltName with a non-dNSName entry.
bool extensions_dns_only(std::span<const std::uint8_t> request, const der::Tlv& extensions) {
    static constexpr std::array<std::uint8_t, 5> alt_name = {0x06, 0x03, 0x55, 0x1d, 0x11};
    der::Tlv extension;
    for (std::size_t e = extensions.content; e < extensions.end; e = extension.end) {
        if (!der::read(request, e, extension) || extension.end > extensions.end) {
            return false;
        }
        der::Tlv id;
        if (!der::read(request, extension.content, id) ||
            !bytes_are(request, extension.content, id.end, alt_name)) {
            continue;
        }
        der::Tlv value;  // [critical BOOLEAN] then the OCTET STRING.
        if (!der::read(request, id.end, value)) {
            return false;
        }
        if (value.tag == der::tag_boolean && !der::read(request, value.end, value)) {
            return false;
        }
        der::Tlv names;
        if (!der::read(request, value.content, names)) {
            return false;
        }
        der::Tlv name;
        for (std::size_t n = names.content; n < names.end; n = name.end) {
            if (!der::read(request, n, name) || name.end > names.end || name.tag != 0x82) {
                return false;
            }
        }
    }
    return true;
}

// False if the request's subjectAltName (in its extensionRequest attribute, RFC 2986 4.1
// and RFC 2985 5.4.2) holds anything but dNSName entries. Walked here because wolfSSL
// lists only the names it was built to understand (the release build drops IP addresses
// silently), and a name that would be dropped must be refused instead.
bool alt_names_are_dns_only(std::span<const std::uint8_t> request) {
    static constexpr std::array<std::uint8_t, 11> extension_request = {
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
    der::Tlv outer;
    der::Tlv info;
    if (!der::read(request, 0, outer) || !der::read(request, outer.content, info)) {
        return false;
    }
    // version, subject, subjectPKInfo, then [0] attributes.
    der::Tlv field;
    std::size_t at = info.content;
    for (int skip = 0; skip < 3; skip++) {
        if (!der::read(request, at, field) || field.end > info.end) {
            return false;
        }
        at = field.end;
    }
    if (at == info.end) {
        return true;  // No attributes.
    }
    der::Tlv attributes;
    if (!der::read(request, at, attributes) || attributes.tag != der::tag_context_0) {
        return false;
    }
    for (std::size_t a = attributes.content; a < attributes.end; a = field.end) {
        if (!der::read(request, a, field) || field.end > attributes.end) {
            return false;
        }
        der::Tlv oid;
        if (!der::read(request, field.content, oid) ||
            !bytes_are(request, field.content, oid.end, extension_request)) {
            continue;
        }
        der::Tlv values;
        der::Tlv extensions;
        if (!der::read(request, oid.end, values) ||
            !der::read(request, values.content, extensions)) {
            return false;
        }
        if (!extensions_dns_only(request, extensions)) {
            return false;
        }
    }
    return true;
}

std::string parse_error_text(int code) {
    switch (code) {
        case ASN_SIG_CONFIRM_E:
        case SIG_VERIFY_E:
            return "the request's signature does not verify with its own key: it was changed "
                   "after it was signed; make it again with openssl req";
        case ECC_CURVE_OID_E:
            return "the request's key is on an elliptic curve hub-ca does not sign; use P-256, "
                   "P-384 or P-521";
        default:
            return fmt::format(
                "the request is not a well-formed PKCS#10 certificate request ({}); make one "
                "with openssl req -new",
                wc_GetErrorString(code));
    }
}

}  // namespace

Result<CheckedRequest, std::string> check_request(std::span<const std::uint8_t> submitted) {
    if (submitted.empty()) {
        return unexpected(std::string("the request is empty"));
    }
    auto der = to_der(submitted);
    if (!der) {
        return unexpected(der.error());
    }
    CheckedRequest request;
    request.der = std::move(*der);
    auto cert = std::make_unique<DecodedCert>();
    wc_InitDecodedCert(cert.get(), request.der.data(), static_cast<word32>(request.der.size()),
                       nullptr);
    // VERIFY on a request checks its self-signature with the key it carries.
    int parsed = wc_ParseCert(cert.get(), CERTREQ_TYPE, VERIFY, nullptr);
    std::string error;
    if (parsed != 0) {
        error = parse_error_text(parsed);
    } else if (cert->srcIdx != request.der.size()) {
        error = "the request has bytes after its end; send exactly one request";
    } else if (auto key = check_key(*cert); !key) {
        error = key.error();
    } else if (cert->subjectRawLen <= 2 || cert->subjectCN == nullptr || cert->subjectCNLen <= 0) {
        error =
            "the request has no subject common name; give one (openssl req -subj "
            "\"/CN=mail.example.org\")";
    } else if (static_cast<std::size_t>(cert->subjectRawLen) > subject_raw_bytes_max) {
        error = fmt::format("the request's subject is {} bytes; at most {} are accepted",
                            cert->subjectRawLen, subject_raw_bytes_max);
    } else if (!alt_names_are_dns_only(request.der)) {
        error =
            "the request's subjectAltName has an entry that is not a DNS name; only DNS "
            "names are certified";
    } else if (cert->isCA) {
        error =
            "the request asks for a CA certificate (basicConstraints CA:TRUE); hub-ca "
            "issues only end-entity certificates: leave basicConstraints out";
    } else {
        request.key_type = *key;
        request.subject_raw.assign(cert->subjectRaw, cert->subjectRaw + cert->subjectRawLen);
        request.subject = cert->subject;
        request.common_name.assign(cert->subjectCN, static_cast<std::size_t>(cert->subjectCNLen));
        for (const DNS_entry* name = cert->altNames; name != nullptr && error.empty();
             name = name->next) {
            std::string_view value(name->name, static_cast<std::size_t>(name->len));
            if (name->type != ASN_DNS_TYPE) {
                error =
                    "the request's subjectAltName has an entry that is not a DNS name; "
                    "only DNS names are certified";
            } else if (request.dns_names.size() == dns_names_count_max) {
                error =
                    fmt::format("the request names more than {} DNS names", dns_names_count_max);
            } else if (value.size() > dns_name_bytes_max || !config::is_valid_domain(value)) {
                error = fmt::format("the request's DNS name {} is not a valid host name",
                                    config::quote_for_message(value));
            } else {
                request.dns_names.push_back(config::ascii_lower(value));
            }
        }
    }
    wc_FreeDecodedCert(cert.get());
    if (!error.empty()) {
        return unexpected(error);
    }
    if (std::any_of(request.common_name.begin(), request.common_name.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        return unexpected(std::string("the request's common name has control characters"));
    }
    return request;
}

}  // namespace hub::ca
