// authority.cc -- the CA's key and certificate, issuing, CRLs and bundles (authority.h).
//
// PURPOSE   Make the CA, issue end-entity certificates from checked requests, sign CRLs.
// RUNS IN   hub-ca only: the only process that holds the CA key.
// TRUST     Requests were checked by check_request; what is copied from them (subject,
//           DNS names, key) is bounded there. The CA key never leaves this object except
//           as key_pem() for hub-ca's own 0600 file.
// LIMITS    ca/limits.h: serial_bytes, subject_raw_bytes_max, dns_names_count_max.
// SEE ALSO  ca/der.cc (CRL and PKCS#7 encoding), docs/CA.md.

#include "ca/authority.h"

#include <fmt/format.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/signature.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "base/assert.h"
#include "ca/der.h"
#include "ca/limits.h"

namespace hub::ca {

namespace {

constexpr std::int64_t backdate_s = 3600;  // Tolerate a partner's clock a little behind.
constexpr std::size_t key_der_bytes_max = 4096;
constexpr std::size_t cert_buffer_bytes = certificate_der_bytes_max;

bool is_rsa(KeyType type) {
    return type == KeyType::rsa3072 || type == KeyType::rsa4096;
}

std::string wolf_error(std::string_view doing, int code) {
    return fmt::format("{}: {} ({})", doing, wc_GetErrorString(code), code);
}

// OIDs of the signature algorithms, as AlgorithmIdentifier DER (RFC 5758 3.2, RFC 4055 5).
constexpr std::array<std::uint8_t, 12> ecdsa_sha256 = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr std::array<std::uint8_t, 12> ecdsa_sha384 = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
constexpr std::array<std::uint8_t, 15> rsa_sha256 = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                     0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
constexpr std::array<std::uint8_t, 5> oid_authority_key_id = {0x06, 0x03, 0x55, 0x1d, 0x23};
constexpr std::array<std::uint8_t, 5> oid_crl_number = {0x06, 0x03, 0x55, 0x1d, 0x14};
constexpr std::array<std::uint8_t, 5> oid_reason_code = {0x06, 0x03, 0x55, 0x1d, 0x15};
constexpr std::array<std::uint8_t, 11> oid_signed_data = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                          0xf7, 0x0d, 0x01, 0x07, 0x02};
constexpr std::array<std::uint8_t, 11> oid_data = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                   0xf7, 0x0d, 0x01, 0x07, 0x01};

// A private key of either kind, freed on scope exit.
struct KeyPair {
    KeyType type = KeyType::p256;
    RsaKey rsa{};
    ecc_key ecc{};
    bool initialised = false;

    KeyPair() = default;
    KeyPair(const KeyPair&) = delete;
    KeyPair& operator=(const KeyPair&) = delete;
    ~KeyPair() {
        if (initialised) {
            if (is_rsa(type)) {
                wc_FreeRsaKey(&rsa);
            } else {
                wc_ecc_free(&ecc);
            }
        }
    }
    int wolf_type() const { return is_rsa(type) ? RSA_TYPE : ECC_TYPE; }
    void* key() { return is_rsa(type) ? static_cast<void*>(&rsa) : static_cast<void*>(&ecc); }
    int init(KeyType key_type) {
        type = key_type;
        int status = is_rsa(type) ? wc_InitRsaKey(&rsa, nullptr) : wc_ecc_init(&ecc);
        initialised = status == 0;
        return status;
    }
};

int generate(KeyPair& pair, KeyType type, WC_RNG& rng) {
    if (int status = pair.init(type); status != 0) {
        return status;
    }
    switch (type) {
        case KeyType::p256:
            return wc_ecc_make_key_ex(&rng, 32, &pair.ecc, ECC_SECP256R1);
        case KeyType::p384:
            return wc_ecc_make_key_ex(&rng, 48, &pair.ecc, ECC_SECP384R1);
        case KeyType::rsa3072:
            return wc_MakeRsaKey(&pair.rsa, 3072, WC_RSA_EXPONENT, &rng);
        case KeyType::rsa4096:
            return wc_MakeRsaKey(&pair.rsa, 4096, WC_RSA_EXPONENT, &rng);
    }
    return BAD_FUNC_ARG;
}

Result<std::string, std::string> key_to_pem(KeyPair& pair) {
    Bytes der(key_der_bytes_max);
    int length = is_rsa(pair.type)
                     ? wc_RsaKeyToDer(&pair.rsa, der.data(), static_cast<word32>(der.size()))
                     : wc_EccKeyToDer(&pair.ecc, der.data(), static_cast<word32>(der.size()));
    if (length <= 0) {
        return unexpected(wolf_error("encoding a private key", length));
    }
    der.resize(static_cast<std::size_t>(length));
    std::string text = pem(der, is_rsa(pair.type) ? "RSA PRIVATE KEY" : "EC PRIVATE KEY");
    std::fill(der.begin(), der.end(), 0);
    return text;
}

// Reads a PEM private key into pair; the type follows from what decodes.
Result<void, std::string> key_from_pem(const std::string& key_pem, KeyPair& pair) {
    Bytes der(key_der_bytes_max);
    int length = wc_KeyPemToDer(reinterpret_cast<const unsigned char*>(key_pem.data()),
                                static_cast<int>(key_pem.size()), der.data(),
                                static_cast<int>(der.size()), nullptr);
    if (length <= 0) {
        return unexpected(wolf_error("reading the CA key (PEM)", length));
    }
    word32 index = 0;
    if (pair.init(KeyType::p256) == 0 &&
        wc_EccPrivateKeyDecode(der.data(), &index, &pair.ecc, static_cast<word32>(length)) == 0) {
        pair.type = wc_ecc_size(&pair.ecc) == 48 ? KeyType::p384 : KeyType::p256;
        std::fill(der.begin(), der.end(), 0);
        return {};
    }
    wc_ecc_free(&pair.ecc);
    pair.initialised = false;
    index = 0;
    if (pair.init(KeyType::rsa3072) == 0 &&
        wc_RsaPrivateKeyDecode(der.data(), &index, &pair.rsa, static_cast<word32>(length)) == 0) {
        pair.type = wc_RsaEncryptSize(&pair.rsa) >= 512 ? KeyType::rsa4096 : KeyType::rsa3072;
        std::fill(der.begin(), der.end(), 0);
        return {};
    }
    std::fill(der.begin(), der.end(), 0);
    return unexpected(std::string("the CA key is neither an EC nor an RSA private key"));
}

int signature_type(KeyType type) {
    switch (type) {
        case KeyType::p256:
            return CTC_SHA256wECDSA;
        case KeyType::p384:
            return CTC_SHA384wECDSA;
        case KeyType::rsa3072:
        case KeyType::rsa4096:
            return CTC_SHA256wRSA;
    }
    return CTC_SHA256wRSA;
}

void set_dates(Cert& cert, std::int64_t now_unix_s, std::uint32_t validity_days) {
    Bytes before = der::time(now_unix_s - backdate_s);
    Bytes after = der::time(now_unix_s + static_cast<std::int64_t>(validity_days) * 86400);
    HUB_ASSERT(before.size() <= sizeof(cert.beforeDate) && after.size() <= sizeof(cert.afterDate));
    std::memcpy(cert.beforeDate, before.data(), before.size());
    cert.beforeDateSz = static_cast<int>(before.size());
    std::memcpy(cert.afterDate, after.data(), after.size());
    cert.afterDateSz = static_cast<int>(after.size());
}

// The subjectAltName extension of dNSName entries (RFC 5280 4.2.1.6), not critical (the
// subject is never empty); empty when there are no names. Encoded here rather than through
// wolfSSL's Cert::altNames, which only exists when wolfSSL is built with ALT_NAMES (Debian's
// is, the release build's is not).
Bytes subject_alt_name(std::span<const std::string> names) {
    static constexpr std::array<std::uint8_t, 5> oid = {0x06, 0x03, 0x55, 0x1d, 0x11};
    if (names.empty()) {
        return {};
    }
    Bytes general_names;
    for (const std::string& name : names) {
        Bytes entry = der::tlv(
            0x82, std::span(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
        general_names.insert(general_names.end(), entry.begin(), entry.end());
    }
    return der::constructed(
        der::tag_sequence,
        {oid, der::tlv(der::tag_octet_string, der::tlv(der::tag_sequence, general_names))});
}

bool read_tlv(std::span<const std::uint8_t> data, std::size_t at, std::uint8_t& tag,
              std::size_t& content_at, std::size_t& end) {
    der::Tlv tlv;
    if (!der::read(data, at, tlv)) {
        return false;
    }
    tag = tlv.tag;
    content_at = tlv.content;
    end = tlv.end;
    return true;
}

// The TBS with what wolfSSL 5.5's encoder cannot do: basicConstraints marked critical
// (RFC 5280 4.2.1.9: a CA certificate MUST) when mark_critical, and one more extension
// appended when extra is not empty. The extensions and the containers around them
// (Extensions, [3], TBSCertificate) are re-encoded with their new lengths; nullopt if the
// TBS has no extensions or is not what wolfSSL writes.
std::optional<Bytes> edit_extensions(std::span<const std::uint8_t> tbs, bool mark_critical,
                                     std::span<const std::uint8_t> extra) {
    static constexpr std::array<std::uint8_t, 5> basic_constraints = {0x06, 0x03, 0x55, 0x1d, 0x13};
    static constexpr std::array<std::uint8_t, 3> critical = {0x01, 0x01, 0xff};
    std::uint8_t tag = 0;
    std::size_t content = 0;
    std::size_t end = 0;
    if (!read_tlv(tbs, 0, tag, content, end) || tag != der::tag_sequence || end != tbs.size()) {
        return std::nullopt;
    }
    auto span_of = [&](std::size_t from, std::size_t to) { return tbs.subspan(from, to - from); };
    for (std::size_t at = content; at < end;) {
        std::size_t field_content = 0;
        std::size_t field_end = 0;
        if (!read_tlv(tbs, at, tag, field_content, field_end)) {
            return std::nullopt;
        }
        if (tag != 0xa3) {
            at = field_end;
            continue;
        }
        std::size_t list_content = 0;
        std::size_t list_end = 0;
        if (!read_tlv(tbs, field_content, tag, list_content, list_end)) {
            return std::nullopt;
        }
        Bytes list;
        bool marked = !mark_critical;
        for (std::size_t ext = list_content; ext < list_end;) {
            std::size_t ext_content = 0;
            std::size_t ext_end = 0;
            if (!read_tlv(tbs, ext, tag, ext_content, ext_end)) {
                return std::nullopt;
            }
            auto body = span_of(ext_content, ext_end);
            Bytes copy(tbs.begin() + static_cast<std::ptrdiff_t>(ext),
                       tbs.begin() + static_cast<std::ptrdiff_t>(ext_end));
            if (mark_critical && body.size() > basic_constraints.size() &&
                std::equal(basic_constraints.begin(), basic_constraints.end(), body.begin())) {
                if (body[basic_constraints.size()] != der::tag_boolean) {
                    copy = der::constructed(der::tag_sequence,
                                            {body.first(basic_constraints.size()), critical,
                                             body.subspan(basic_constraints.size())});
                }
                marked = true;
            }
            list.insert(list.end(), copy.begin(), copy.end());
            ext = ext_end;
        }
        if (!marked) {
            return std::nullopt;
        }
        list.insert(list.end(), extra.begin(), extra.end());
        Bytes explicit_list = der::tlv(0xa3, der::tlv(der::tag_sequence, list));
        return der::constructed(der::tag_sequence,
                                {span_of(content, at), explicit_list, span_of(field_end, end)});
    }
    return std::nullopt;
}

// Encodes cert (or a request), edits the extensions (edit_extensions) and signs.
Result<Bytes, std::string> make_and_sign(Cert& cert, KeyPair& subject_key, KeyPair& signer,
                                         WC_RNG& rng, bool request,
                                         std::span<const std::uint8_t> extra_extension = {}) {
    Bytes out(cert_buffer_bytes);
    int body = request ? wc_MakeCertReq_ex(&cert, out.data(), static_cast<word32>(out.size()),
                                           subject_key.wolf_type(), subject_key.key())
                       : wc_MakeCert_ex(&cert, out.data(), static_cast<word32>(out.size()),
                                        subject_key.wolf_type(), subject_key.key(), &rng);
    if (body <= 0) {
        return unexpected(wolf_error("encoding a certificate", body));
    }
    int body_bytes = cert.bodySz;
    if (cert.isCA || !extra_extension.empty()) {
        auto edited = edit_extensions(
            std::span<const std::uint8_t>(out.data(), static_cast<std::size_t>(cert.bodySz)),
            cert.isCA != 0, extra_extension);
        if (!edited || edited->size() > out.size() / 2) {
            return unexpected(std::string("cannot add the certificate's extensions"));
        }
        std::copy(edited->begin(), edited->end(), out.begin());
        body_bytes = static_cast<int>(edited->size());
    }
    int length =
        wc_SignCert_ex(body_bytes, cert.sigType, out.data(), static_cast<word32>(out.size()),
                       signer.wolf_type(), signer.key(), &rng);
    if (length <= 0) {
        return unexpected(wolf_error("signing a certificate", length));
    }
    out.resize(static_cast<std::size_t>(length));
    return out;
}

}  // namespace

struct Authority::State {
    KeyPair key;
    WC_RNG rng{};
    bool rng_ready = false;
    Bytes cert_der;
    // The CA's Name, the issuer of everything it signs: its RDNs without the outer
    // SEQUENCE header, as wolfSSL's subjectRaw and Cert::issRaw hold it.
    Bytes subject_raw;
    Bytes key_id;  // Its subject key identifier: the AKI of everything it signs.

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        if (rng_ready) {
            wc_FreeRng(&rng);
        }
    }

    Result<void, std::string> start_rng() {
        if (int status = wc_InitRng(&rng); status != 0) {
            return unexpected(wolf_error("starting the random number generator", status));
        }
        rng_ready = true;
        return {};
    }

    // Reads the issuer name and key identifier out of cert_der.
    Result<void, std::string> read_certificate() {
        auto cert = std::make_unique<DecodedCert>();
        wc_InitDecodedCert(cert.get(), cert_der.data(), static_cast<word32>(cert_der.size()),
                           nullptr);
        int status = wc_ParseCert(cert.get(), CERT_TYPE, NO_VERIFY, nullptr);
        std::string error;
        if (status != 0) {
            error = wolf_error("reading the CA certificate", status);
        } else if (!cert->isCA || !cert->extSubjKeyIdSet || cert->subjectRawLen <= 0) {
            error = "the CA certificate lacks CA:TRUE or a subject key identifier";
        } else {
            subject_raw.assign(cert->subjectRaw, cert->subjectRaw + cert->subjectRawLen);
            key_id.assign(cert->extSubjKeyId, cert->extSubjKeyId + KEYID_SIZE);
        }
        wc_FreeDecodedCert(cert.get());
        if (!error.empty()) {
            return unexpected(error);
        }
        return {};
    }
};

Result<KeyType, std::string> parse_key_type(std::string_view text) {
    for (KeyType type : {KeyType::p256, KeyType::p384, KeyType::rsa3072, KeyType::rsa4096}) {
        if (text == key_type_name(type)) {
            return type;
        }
    }
    return unexpected(fmt::format("key type \"{}\": use p256, p384, rsa3072 or rsa4096", text));
}

std::string_view key_type_name(KeyType type) {
    switch (type) {
        case KeyType::p256:
            return "p256";
        case KeyType::p384:
            return "p384";
        case KeyType::rsa3072:
            return "rsa3072";
        case KeyType::rsa4096:
            return "rsa4096";
    }
    return "?";
}

Result<std::string, std::string> generate_key_pem(KeyType type) {
    WC_RNG rng;
    if (int status = wc_InitRng(&rng); status != 0) {
        return unexpected(wolf_error("starting the random number generator", status));
    }
    KeyPair pair;
    int status = generate(pair, type, rng);
    wc_FreeRng(&rng);
    if (status != 0) {
        return unexpected(wolf_error("generating a key", status));
    }
    return key_to_pem(pair);
}

Result<Bytes, std::string> make_request(const std::string& key_pem, std::string_view common_name) {
    KeyPair pair;
    if (auto loaded = key_from_pem(key_pem, pair); !loaded) {
        return unexpected(loaded.error());
    }
    if (common_name.empty() || common_name.size() >= CTC_NAME_SIZE) {
        return unexpected(fmt::format("common name: 1..{} characters", CTC_NAME_SIZE - 1));
    }
    WC_RNG rng;
    if (int status = wc_InitRng(&rng); status != 0) {
        return unexpected(wolf_error("starting the random number generator", status));
    }
    auto cert = std::make_unique<Cert>();
    wc_InitCert(cert.get());
    cert->version = 0;
    cert->sigType = signature_type(pair.type);
    std::memcpy(cert->subject.commonName, common_name.data(), common_name.size());
    Result<Bytes, std::string> request = make_and_sign(*cert, pair, pair, rng, true);
    wc_FreeRng(&rng);
    return request;
}

Authority::Authority(std::unique_ptr<State> state) : state_(std::move(state)) {}
Authority::Authority(Authority&&) noexcept = default;
Authority& Authority::operator=(Authority&&) noexcept = default;
Authority::~Authority() = default;

Result<Authority, std::string> Authority::create(KeyType type, std::string_view common_name,
                                                 std::int64_t now_unix_s,
                                                 std::uint32_t validity_days) {
    if (common_name.empty() || common_name.size() >= CTC_NAME_SIZE) {
        return unexpected(fmt::format("CA name: 1..{} characters", CTC_NAME_SIZE - 1));
    }
    auto state = std::make_unique<State>();
    if (auto started = state->start_rng(); !started) {
        return unexpected(started.error());
    }
    if (int status = generate(state->key, type, state->rng); status != 0) {
        return unexpected(wolf_error("generating the CA key", status));
    }
    auto cert = std::make_unique<Cert>();
    wc_InitCert(cert.get());
    cert->version = 2;
    cert->sigType = signature_type(type);
    cert->isCA = 1;
    cert->basicConstSet = 1;
    std::memcpy(cert->subject.commonName, common_name.data(), common_name.size());
    set_dates(*cert, now_unix_s, validity_days);
    Bytes serial(serial_bytes);
    wc_RNG_GenerateBlock(&state->rng, serial.data(), static_cast<word32>(serial.size()));
    serial[0] |= 0x80;
    std::memcpy(cert->serial, serial.data(), serial.size());
    cert->serialSz = static_cast<int>(serial.size());
    KeyPair& key = state->key;
    if (wc_SetKeyUsage(cert.get(), "keyCertSign,cRLSign") != 0 ||
        wc_SetSubjectKeyIdFromPublicKey_ex(cert.get(), key.wolf_type(), key.key()) != 0 ||
        wc_SetAuthKeyIdFromPublicKey_ex(cert.get(), key.wolf_type(), key.key()) != 0) {
        return unexpected(std::string("cannot set the CA certificate's extensions"));
    }
    auto der = make_and_sign(*cert, key, key, state->rng, false);
    if (!der) {
        return unexpected(der.error());
    }
    state->cert_der = std::move(*der);
    if (auto read = state->read_certificate(); !read) {
        return unexpected(read.error());
    }
    return Authority(std::move(state));
}

Result<Authority, std::string> Authority::load(const std::string& key_pem,
                                               std::span<const std::uint8_t> cert_der) {
    auto state = std::make_unique<State>();
    if (auto started = state->start_rng(); !started) {
        return unexpected(started.error());
    }
    if (auto loaded = key_from_pem(key_pem, state->key); !loaded) {
        return unexpected(loaded.error());
    }
    state->cert_der.assign(cert_der.begin(), cert_der.end());
    if (auto read = state->read_certificate(); !read) {
        return unexpected(read.error());
    }
    return Authority(std::move(state));
}

const Bytes& Authority::certificate_der() const {
    return state_->cert_der;
}

std::string Authority::key_pem() const {
    auto text = key_to_pem(state_->key);
    HUB_ASSERT(text.has_value());  // Encoding a key that decoded cannot fail.
    return *text;
}

KeyType Authority::key_type() const {
    return state_->key.type;
}

Result<Issued, std::string> Authority::issue(const CheckedRequest& request, std::int64_t now_unix_s,
                                             std::uint32_t validity_days) {
    HUB_ASSERT(!request.subject_raw.empty() && request.subject_raw.size() <= subject_raw_bytes_max);
    auto decoded = std::make_unique<DecodedCert>();
    wc_InitDecodedCert(decoded.get(), request.der.data(), static_cast<word32>(request.der.size()),
                       nullptr);
    int status = wc_ParseCert(decoded.get(), CERTREQ_TYPE, NO_VERIFY, nullptr);
    KeyPair subject_key;
    word32 index = 0;
    if (status == 0) {
        bool rsa = decoded->keyOID == RSAk;
        status = subject_key.init(rsa ? KeyType::rsa3072 : KeyType::p256);
        if (status == 0) {
            status = rsa ? wc_RsaPublicKeyDecode(decoded->publicKey, &index, &subject_key.rsa,
                                                 decoded->pubKeySize)
                         : wc_EccPublicKeyDecode(decoded->publicKey, &index, &subject_key.ecc,
                                                 decoded->pubKeySize);
        }
    }
    wc_FreeDecodedCert(decoded.get());
    if (status != 0) {
        return unexpected(wolf_error("reading the request's key", status));
    }
    auto cert = std::make_unique<Cert>();
    wc_InitCert(cert.get());
    cert->version = 2;
    cert->sigType = signature_type(state_->key.type);
    cert->isCA = 0;
    cert->basicConstSet = 1;
    HUB_ASSERT(request.subject_raw.size() <= sizeof(cert->sbjRaw));
    std::memcpy(cert->sbjRaw, request.subject_raw.data(), request.subject_raw.size());
    HUB_ASSERT(state_->subject_raw.size() <= sizeof(cert->issRaw));
    std::memcpy(cert->issRaw, state_->subject_raw.data(), state_->subject_raw.size());
    cert->selfSigned = 0;
    Issued issued;
    issued.serial.resize(serial_bytes);
    wc_RNG_GenerateBlock(&state_->rng, issued.serial.data(),
                         static_cast<word32>(issued.serial.size()));
    issued.serial[0] |= 0x80;  // Always 128 bits; DER adds the 0x00 that keeps it positive.
    std::memcpy(cert->serial, issued.serial.data(), issued.serial.size());
    cert->serialSz = static_cast<int>(issued.serial.size());
    set_dates(*cert, now_unix_s, validity_days);
    issued.not_before_unix_s = now_unix_s - backdate_s;
    issued.not_after_unix_s = now_unix_s + static_cast<std::int64_t>(validity_days) * 86400;
    const char* usage = is_rsa(subject_key.type) ? "digitalSignature,keyEncipherment"
                                                 : "digitalSignature,keyAgreement";
    if (wc_SetKeyUsage(cert.get(), usage) != 0 ||
        wc_SetExtKeyUsage(cert.get(), "serverAuth,clientAuth") != 0 ||
        wc_SetSubjectKeyIdFromPublicKey_ex(cert.get(), subject_key.wolf_type(),
                                           subject_key.key()) != 0 ||
        wc_SetAuthKeyIdFromCert(cert.get(), state_->cert_der.data(),
                                static_cast<int>(state_->cert_der.size())) != 0) {
        return unexpected(std::string("cannot set the certificate's extensions"));
    }
    Bytes names = subject_alt_name(request.dns_names);
    auto der = make_and_sign(*cert, subject_key, state_->key, state_->rng, false, names);
    if (!der) {
        return unexpected(der.error());
    }
    issued.der = std::move(*der);
    return issued;
}

Result<Bytes, std::string> Authority::make_crl(std::span<const RevokedEntry> revoked,
                                               std::int64_t this_update_unix_s,
                                               std::int64_t next_update_unix_s,
                                               std::uint64_t crl_number) {
    std::span<const std::uint8_t> algorithm =
        is_rsa(state_->key.type)            ? std::span<const std::uint8_t>(rsa_sha256)
        : state_->key.type == KeyType::p384 ? std::span<const std::uint8_t>(ecdsa_sha384)
                                            : std::span<const std::uint8_t>(ecdsa_sha256);
    Bytes entries;
    for (const RevokedEntry& entry : revoked) {
        Bytes reason_value = der::enumerated(static_cast<std::uint8_t>(entry.reason));
        Bytes reason_extension = der::constructed(
            der::tag_sequence, {oid_reason_code, der::tlv(der::tag_octet_string, reason_value)});
        Bytes one =
            der::constructed(der::tag_sequence,
                             {der::unsigned_integer(entry.serial), der::time(entry.revoked_unix_s),
                              der::tlv(der::tag_sequence, reason_extension)});
        entries.insert(entries.end(), one.begin(), one.end());
    }
    Bytes key_id_value = der::tlv(der::tag_sequence, der::tlv(0x80, state_->key_id));
    Bytes extensions = der::constructed(
        der::tag_sequence,
        {der::constructed(der::tag_sequence,
                          {oid_authority_key_id, der::tlv(der::tag_octet_string, key_id_value)}),
         der::constructed(
             der::tag_sequence,
             {oid_crl_number, der::tlv(der::tag_octet_string, der::small_integer(crl_number))})});
    Bytes tbs = der::constructed(
        der::tag_sequence,
        {der::small_integer(1), algorithm, der::tlv(der::tag_sequence, state_->subject_raw),
         der::time(this_update_unix_s), der::time(next_update_unix_s),
         entries.empty() ? Bytes() : der::tlv(der::tag_sequence, entries),
         der::tlv(der::tag_context_0, extensions)});

    KeyPair& key = state_->key;
    bool rsa = is_rsa(key.type);
    auto signature_kind = rsa ? WC_SIGNATURE_TYPE_RSA_W_ENC : WC_SIGNATURE_TYPE_ECC;
    auto hash = key.type == KeyType::p384 ? WC_HASH_TYPE_SHA384 : WC_HASH_TYPE_SHA256;
    word32 key_bytes = rsa ? sizeof(RsaKey) : sizeof(ecc_key);
    int size = wc_SignatureGetSize(signature_kind, key.key(), key_bytes);
    if (size <= 0) {
        return unexpected(wolf_error("sizing the CRL signature", size));
    }
#ifdef WC_RSA_BLINDING
    if (rsa) {
        wc_RsaSetRNG(&key.rsa, &state_->rng);
    }
#endif
    Bytes signature(static_cast<std::size_t>(size));
    word32 signature_bytes = static_cast<word32>(signature.size());
    int status = wc_SignatureGenerate(hash, signature_kind, tbs.data(),
                                      static_cast<word32>(tbs.size()), signature.data(),
                                      &signature_bytes, key.key(), key_bytes, &state_->rng);
    if (status != 0) {
        return unexpected(wolf_error("signing the CRL", status));
    }
    signature.resize(signature_bytes);
    return der::constructed(der::tag_sequence, {tbs, algorithm, der::bit_string(signature)});
}

Result<RevocationReason, std::string> parse_revocation_reason(std::string_view text) {
    for (RevocationReason reason :
         {RevocationReason::unspecified, RevocationReason::key_compromise,
          RevocationReason::affiliation_changed, RevocationReason::superseded,
          RevocationReason::cessation_of_operation, RevocationReason::privilege_withdrawn}) {
        if (text == revocation_reason_name(reason)) {
            return reason;
        }
    }
    return unexpected(
        fmt::format("revocation reason \"{}\": use unspecified, keyCompromise, affiliationChanged, "
                    "superseded, cessationOfOperation or privilegeWithdrawn",
                    text));
}

std::string_view revocation_reason_name(RevocationReason reason) {
    switch (reason) {
        case RevocationReason::unspecified:
            return "unspecified";
        case RevocationReason::key_compromise:
            return "keyCompromise";
        case RevocationReason::affiliation_changed:
            return "affiliationChanged";
        case RevocationReason::superseded:
            return "superseded";
        case RevocationReason::cessation_of_operation:
            return "cessationOfOperation";
        case RevocationReason::privilege_withdrawn:
            return "privilegeWithdrawn";
    }
    return "unspecified";
}

Bytes certs_only_pkcs7(std::span<const Bytes> certificates) {
    Bytes all;
    for (const Bytes& certificate : certificates) {
        all.insert(all.end(), certificate.begin(), certificate.end());
    }
    const Bytes empty_set = der::tlv(der::tag_set, {});
    Bytes signed_data =
        der::constructed(der::tag_sequence, {der::small_integer(1), empty_set,
                                             der::constructed(der::tag_sequence, {oid_data}),
                                             der::tlv(der::tag_context_0, all), empty_set});
    return der::constructed(der::tag_sequence,
                            {oid_signed_data, der::tlv(der::tag_context_0, signed_data)});
}

Result<Bytes, std::string> certificate_from_pem(std::string_view text) {
    Bytes der(certificate_der_bytes_max);
    int length = text.size() > 4 * certificate_der_bytes_max
                     ? BUFFER_E
                     : wc_CertPemToDer(reinterpret_cast<const unsigned char*>(text.data()),
                                       static_cast<int>(text.size()), der.data(),
                                       static_cast<int>(der.size()), CERT_TYPE);
    if (length <= 0) {
        return unexpected(wolf_error("not a PEM certificate", length));
    }
    der.resize(static_cast<std::size_t>(length));
    return der;
}

std::string pem(std::span<const std::uint8_t> der, std::string_view label) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string base64;
    for (std::size_t i = 0; i < der.size(); i += 3) {
        std::uint32_t chunk = static_cast<std::uint32_t>(der[i]) << 16;
        std::size_t count = std::min<std::size_t>(3, der.size() - i);
        if (count > 1) {
            chunk |= static_cast<std::uint32_t>(der[i + 1]) << 8;
        }
        if (count > 2) {
            chunk |= der[i + 2];
        }
        base64.push_back(alphabet[(chunk >> 18) & 63]);
        base64.push_back(alphabet[(chunk >> 12) & 63]);
        base64.push_back(count > 1 ? alphabet[(chunk >> 6) & 63] : '=');
        base64.push_back(count > 2 ? alphabet[chunk & 63] : '=');
    }
    std::string text = fmt::format("-----BEGIN {}-----\n", label);
    for (std::size_t i = 0; i < base64.size(); i += 64) {
        text += base64.substr(i, 64);
        text += '\n';
    }
    text += fmt::format("-----END {}-----\n", label);
    return text;
}

}  // namespace hub::ca
