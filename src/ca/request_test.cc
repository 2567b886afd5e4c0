// request_test.cc -- check_request over a table of real requests (tests/data/ca, made with
// openssl req): each bad one refused with the sentence that says what to fix, the good
// ones read correctly.
#include "ca/request.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ca/limits.h"

namespace hub::ca {
namespace {

std::vector<std::uint8_t> fixture(const std::string& name) {
    std::ifstream file(std::string(HUB_CA_TEST_DATA_DIR) + "/" + name, std::ios::binary);
    EXPECT_TRUE(file.good()) << name;
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(file), {});
}

struct BadCase {
    const char* file;
    const char* message;  // A part of the refusal.
};

TEST(CheckRequest, RefusesEachBadRequestWithWhatToFix) {
    const BadCase cases[] = {
        {"rsa1024.der", "RSA 1024 bits; use RSA 2048"},
        {"p192.der", "elliptic curve hub-ca does not sign; use P-256"},
        {"ca-true.der", "asks for a CA certificate (basicConstraints CA:TRUE)"},
        {"no-cn.der", "no subject common name"},
        {"bad-signature.der", "signature does not verify"},
        {"truncated.der", "not a well-formed PKCS#10 certificate request"},
        {"trailing.der", "bytes after its end"},
        {"san-ip.der", "not a DNS name"},
    };
    for (const BadCase& bad : cases) {
        auto checked = check_request(fixture(bad.file));
        ASSERT_FALSE(checked.has_value()) << bad.file;
        EXPECT_NE(checked.error().find(bad.message), std::string::npos)
            << bad.file << ": " << checked.error();
    }
}

TEST(CheckRequest, RefusesEmptyOversizedAndNonsense) {
    EXPECT_EQ(check_request({}).error(), "the request is empty");
    std::vector<std::uint8_t> big(request_der_bytes_max + 1, 0x30);
    EXPECT_NE(check_request(big).error().find("at most 16384"), std::string::npos);
    std::string pem =
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n";
    auto checked =
        check_request(std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
    EXPECT_NE(checked.error().find("not readable PEM"), std::string::npos) << checked.error();
    std::vector<std::uint8_t> junk = {0x30, 0x03, 0x02, 0x01, 0x00};
    EXPECT_NE(check_request(junk).error().find("not a well-formed"), std::string::npos);
}

TEST(CheckRequest, ReadsAGoodRsaRequestInPem) {
    auto checked = check_request(fixture("rsa2048.csr"));
    ASSERT_TRUE(checked.has_value()) << checked.error();
    EXPECT_EQ(checked->common_name, "mail.partner2.gov.uk");
    EXPECT_EQ(checked->key_type, "RSA 2048");
    EXPECT_EQ(checked->dns_names,
              (std::vector<std::string>{"mail.partner2.gov.uk", "mx.partner2.gov.uk"}));
    EXPECT_NE(checked->subject.find("CN=mail.partner2.gov.uk"), std::string::npos)
        << checked->subject;
    EXPECT_FALSE(checked->subject_raw.empty());
    EXPECT_EQ(checked->der.front(), 0x30);
}

TEST(CheckRequest, ReadsAGoodP256RequestInDer) {
    auto checked = check_request(fixture("p256.der"));
    ASSERT_TRUE(checked.has_value()) << checked.error();
    EXPECT_EQ(checked->key_type, "P-256");
    EXPECT_EQ(checked->common_name, "mx.partner1.gov.uk");
    EXPECT_EQ(checked->dns_names, std::vector<std::string>{"mx.partner1.gov.uk"});
}

}  // namespace
}  // namespace hub::ca
