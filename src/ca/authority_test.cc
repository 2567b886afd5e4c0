// authority_test.cc -- the CA made for each key choice, certificates issued from real
// requests and read back field by field, and a CRL that wolfSSL's own verifier honours.
#include "ca/authority.h"

#include <gtest/gtest.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>

#include "ca/der.h"
#include "ca/limits.h"

namespace hub::ca {
namespace {

// The wall clock, not a fixed one: wolfSSL's verifier checks each certificate's validity and
// the CRL's next update against the real time, so a fixed clock turns the one-day
// certificate below into an expired one a day after the clock was written down.
const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));

std::vector<std::uint8_t> fixture(const std::string& name) {
    std::ifstream file(std::string(HUB_CA_TEST_DATA_DIR) + "/" + name, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(file), {});
}

// What a parsed certificate says, copied out of wolfSSL's DecodedCert.
struct Parsed {
    int status = -1;
    bool is_ca = false;
    std::uint16_t key_usage = 0;
    std::uint8_t ext_key_usage = 0;
    std::vector<std::uint8_t> serial;
    std::string subject;
    std::string issuer;
    std::vector<std::string> dns_names;
};

Parsed parse(const Bytes& der) {
    Parsed out;
    auto cert = std::make_unique<DecodedCert>();
    wc_InitDecodedCert(cert.get(), der.data(), static_cast<word32>(der.size()), nullptr);
    out.status = wc_ParseCert(cert.get(), CERT_TYPE, NO_VERIFY, nullptr);
    if (out.status == 0) {
        out.is_ca = cert->isCA;
        out.key_usage = cert->extKeyUsage;
        out.ext_key_usage = cert->extExtKeyUsage;
        out.serial.assign(cert->serial, cert->serial + cert->serialSz);
        out.subject = cert->subject;
        out.issuer = cert->issuer;
        for (DNS_entry* name = cert->altNames; name != nullptr; name = name->next) {
            out.dns_names.emplace_back(name->name, static_cast<std::size_t>(name->len));
        }
    }
    wc_FreeDecodedCert(cert.get());
    return out;
}

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

class Verifier {
public:
    explicit Verifier(const Bytes& ca) : manager_(wolfSSL_CertManagerNew()) {
        EXPECT_EQ(wolfSSL_CertManagerLoadCABuffer(manager_, ca.data(), static_cast<long>(ca.size()),
                                                  WOLFSSL_FILETYPE_ASN1),
                  WOLFSSL_SUCCESS);
    }
    ~Verifier() { wolfSSL_CertManagerFree(manager_); }
    int verify(const Bytes& der) {
        return wolfSSL_CertManagerVerifyBuffer(manager_, der.data(), static_cast<long>(der.size()),
                                               WOLFSSL_FILETYPE_ASN1);
    }
    int load_crl(const Bytes& crl) {
        wolfSSL_CertManagerEnableCRL(manager_, 0);
        return wolfSSL_CertManagerLoadCRLBuffer(manager_, crl.data(), static_cast<long>(crl.size()),
                                                WOLFSSL_FILETYPE_ASN1);
    }

private:
    WOLFSSL_CERT_MANAGER* manager_;
};

TEST(Authority, KeyChoicesAreTheFourOffered) {
    EXPECT_EQ(*parse_key_type("p256"), KeyType::p256);
    EXPECT_EQ(*parse_key_type("rsa4096"), KeyType::rsa4096);
    EXPECT_NE(parse_key_type("rsa2048").error().find("use p256, p384, rsa3072 or rsa4096"),
              std::string::npos);
}

class EachKeyType : public testing::TestWithParam<KeyType> {};

TEST_P(EachKeyType, MakesACaThatIssuesAndRevokes) {
    auto authority = Authority::create(GetParam(), "Hubbox CA test", now, ca_validity_days);
    ASSERT_TRUE(authority.has_value()) << authority.error();
    Parsed ca = parse(authority->certificate_der());
    ASSERT_EQ(ca.status, 0);
    EXPECT_TRUE(ca.is_ca);
    // basicConstraints, critical, CA:TRUE (RFC 5280 4.2.1.9).
    EXPECT_TRUE(contains(authority->certificate_der(),
                         Bytes{0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04,
                               0x05, 0x30, 0x03, 0x01, 0x01, 0xff}));
    EXPECT_EQ(ca.key_usage, KEYUSE_KEY_CERT_SIGN | KEYUSE_CRL_SIGN);
    EXPECT_EQ(ca.subject, "/CN=Hubbox CA test");
    EXPECT_EQ(ca.issuer, ca.subject);
    Verifier verifier(authority->certificate_der());
    EXPECT_EQ(verifier.verify(authority->certificate_der()), WOLFSSL_SUCCESS) << "self-signed";

    // The stored key brings back the same authority.
    auto again = Authority::load(authority->key_pem(), authority->certificate_der());
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_EQ(again->key_type(), GetParam());

    auto request = check_request(fixture("rsa2048.csr"));
    ASSERT_TRUE(request.has_value()) << request.error();
    auto issued = again->issue(*request, now, validity_days_default);
    ASSERT_TRUE(issued.has_value()) << issued.error();
    Parsed leaf = parse(issued->der);
    ASSERT_EQ(leaf.status, 0);
    EXPECT_FALSE(leaf.is_ca);
    EXPECT_EQ(leaf.ext_key_usage, EXTKEYUSE_SERVER_AUTH | EXTKEYUSE_CLIENT_AUTH);
    EXPECT_EQ(leaf.key_usage, KEYUSE_DIGITAL_SIG | KEYUSE_KEY_ENCIPHER);
    EXPECT_EQ(leaf.dns_names, request->dns_names);
    EXPECT_EQ(leaf.subject, request->subject);
    EXPECT_EQ(leaf.issuer, "/CN=Hubbox CA test");
    // 128 bits, positive: 16 magnitude bytes with the top bit set (DER adds a 0x00).
    EXPECT_EQ(issued->serial.size(), serial_bytes);
    EXPECT_NE(issued->serial[0] & 0x80, 0);
    EXPECT_EQ(leaf.serial, issued->serial);
    EXPECT_TRUE(contains(issued->der, der::time(now - 3600)));
    EXPECT_TRUE(contains(issued->der, der::time(now + 730 * 86400)));
    EXPECT_EQ(issued->not_after_unix_s, now + 730 * 86400);
    EXPECT_EQ(verifier.verify(issued->der), WOLFSSL_SUCCESS);

    // Two issuances never share a serial.
    auto second = again->issue(*request, now, 1);
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(second->serial, issued->serial);

    // A CRL naming the first: wolfSSL refuses it, and still accepts the second.
    RevokedEntry revoked{issued->serial, now, RevocationReason::key_compromise};
    auto crl = again->make_crl(std::span(&revoked, 1), now, now + 7 * 86400, 1);
    ASSERT_TRUE(crl.has_value()) << crl.error();
    ASSERT_EQ(verifier.load_crl(*crl), WOLFSSL_SUCCESS);
    EXPECT_EQ(verifier.verify(issued->der), CRL_CERT_REVOKED);
    EXPECT_EQ(verifier.verify(second->der), WOLFSSL_SUCCESS);
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, EachKeyType,
                         testing::Values(KeyType::p256, KeyType::p384, KeyType::rsa3072,
                                         KeyType::rsa4096),
                         [](const testing::TestParamInfo<KeyType>& param) {
                             return std::string(key_type_name(param.param));
                         });

TEST(Authority, IssuesForAP256RequestWithEcdsaKeyUsage) {
    auto authority = Authority::create(KeyType::p256, "Hubbox CA test", now, 10);
    ASSERT_TRUE(authority.has_value());
    auto request = check_request(fixture("p256.der"));
    ASSERT_TRUE(request.has_value());
    auto issued = authority->issue(*request, now, 30);
    ASSERT_TRUE(issued.has_value()) << issued.error();
    Parsed leaf = parse(issued->der);
    EXPECT_EQ(leaf.key_usage, KEYUSE_DIGITAL_SIG | KEYUSE_KEY_AGREE);
    EXPECT_EQ(leaf.dns_names, std::vector<std::string>{"mx.partner1.gov.uk"});
}

TEST(Authority, OwnRequestsPassTheSameChecks) {
    auto key = generate_key_pem(KeyType::p256);
    ASSERT_TRUE(key.has_value()) << key.error();
    EXPECT_NE(key->find("-----BEGIN EC PRIVATE KEY-----"), std::string::npos);
    auto request = make_request(*key, "hub.lgolhub.net");
    ASSERT_TRUE(request.has_value()) << request.error();
    auto checked = check_request(*request);
    ASSERT_TRUE(checked.has_value()) << checked.error();
    EXPECT_EQ(checked->common_name, "hub.lgolhub.net");
    EXPECT_EQ(checked->key_type, "P-256");
    EXPECT_TRUE(checked->dns_names.empty());
    checked->dns_names = {"hub.lgolhub.net"};
    auto authority = Authority::create(KeyType::rsa3072, "Hubbox CA test", now, 10);
    ASSERT_TRUE(authority.has_value());
    auto issued = authority->issue(*checked, now, 1);
    ASSERT_TRUE(issued.has_value()) << issued.error();
    EXPECT_EQ(parse(issued->der).dns_names, checked->dns_names);
}

TEST(Authority, Pkcs7AndPemAreWellFormed) {
    Bytes one = {0x30, 0x01, 0x00};
    Bytes bundle = certs_only_pkcs7(std::vector<Bytes>{one, one});
    EXPECT_EQ(bundle[0], 0x30);
    EXPECT_TRUE(contains(bundle, Bytes{0xa0, 0x06, 0x30, 0x01, 0x00, 0x30, 0x01, 0x00}));
    EXPECT_EQ(pem(Bytes{'a', 'b', 'c', 'd'}, "X"),
              "-----BEGIN X-----\nYWJjZA==\n-----END X-----\n");
    EXPECT_EQ(*parse_revocation_reason("keyCompromise"), RevocationReason::key_compromise);
    EXPECT_FALSE(parse_revocation_reason("stolen").has_value());
}

}  // namespace
}  // namespace hub::ca
