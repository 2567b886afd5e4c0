// tls_policy_test.cc -- TLS endpoint policies: the checks that refuse a policy no partner
// could meet, DN comparison, and the inbound verdict as a table.

#include "policy/tls_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::policy {
namespace {

using Certificate = InboundTlsFacts::Certificate;

TEST(TlsPolicy, ShippedDefaultIsMandatoryTlsWithClientCertificates) {
    TlsPolicy policy;
    EXPECT_EQ(policy.name, "default");
    EXPECT_TRUE(policy.inbound.require_tls);
    EXPECT_TRUE(policy.inbound.request_certificate);
    EXPECT_TRUE(policy.inbound.require_certificate);
    EXPECT_EQ(policy.inbound.cn_rule, CnRule::partner);
    EXPECT_TRUE(policy.outbound.require_tls);
    EXPECT_EQ(policy.outbound.verify, OutboundVerify::chain);
    EXPECT_TRUE(policy.outbound.check_name);
    EXPECT_EQ(policy.outbound.mode, OutboundTlsMode::starttls);
    EXPECT_EQ(check_tls_policy(policy), "");
}

TEST(TlsPolicy, ChecksRefuseWhatNoPartnerCouldMeet) {
    struct Case {
        const char* what;
        void (*change)(TlsPolicy&);
        const char* message_part;
    };
    const std::vector<Case> cases = {
        {"bad name", [](TlsPolicy& p) { p.name = "a b"; }, "TLS policy name"},
        {"512 bits", [](TlsPolicy& p) { p.inbound.min_cipher_bits = 512; }, "lock out every"},
        {"outbound 64 bits", [](TlsPolicy& p) { p.outbound.min_cipher_bits = 64; }, "128 or 256"},
        {"required, not requested", [](TlsPolicy& p) { p.inbound.request_certificate = false; },
         "would lock out every partner"},
        {"empty CN value",
         [](TlsPolicy& p) {
             p.inbound.cn_rule = CnRule::value;
             p.inbound.cn = "";
         },
         "inbound CN"},
        {"DN without certificate",
         [](TlsPolicy& p) {
             p.inbound.require_certificate = false;
             p.inbound.subject_dn = "/CN=x";
         },
         "no client certificate is required"},
        {"bad subject DN", [](TlsPolicy& p) { p.inbound.subject_dn = "CN=x, O=y"; }, "one-line"},
        {"bad issuer DN", [](TlsPolicy& p) { p.inbound.issuer_dn = "/=x"; }, "issuer DN"},
        {"no TLS but a certificate", [](TlsPolicy& p) { p.inbound.require_tls = false; },
         "need TLS"},
        {"opportunistic and verified", [](TlsPolicy& p) { p.outbound.require_tls = false; },
         "opportunistic"},
        {"required, unverified", [](TlsPolicy& p) { p.outbound.verify = OutboundVerify::none; },
         "verify none"},
        {"opportunistic implicit",
         [](TlsPolicy& p) {
             p.outbound.require_tls = false;
             p.outbound.verify = OutboundVerify::none;
             p.outbound.mode = OutboundTlsMode::implicit;
         },
         "implicit TLS is always TLS"},
        {"pin with chain", [](TlsPolicy& p) { p.outbound.pin_sha256 = std::string(64, 'a'); },
         "only with --out-verify pin"},
        {"bad pin",
         [](TlsPolicy& p) {
             p.outbound.verify = OutboundVerify::pin;
             p.outbound.pin_sha256 = "abc";
         },
         "64 hex digits"},
        {"name and no check",
         [](TlsPolicy& p) {
             p.outbound.server_name = "mx.example";
             p.outbound.check_name = false;
         },
         "name check is off"},
    };
    for (const Case& c : cases) {
        TlsPolicy policy;
        c.change(policy);
        std::string why = check_tls_policy(policy);
        EXPECT_NE(why.find(c.message_part), std::string::npos) << c.what << ": " << why;
    }
}

TEST(TlsPolicy, DistinguishedNamesCompareIgnoringCase) {
    EXPECT_TRUE(same_distinguished_name("/C=GB/O=Partner One/CN=p1.test",
                                        "/c=gb/o=partner one/cn=P1.TEST"));
    EXPECT_FALSE(same_distinguished_name("/C=GB/O=Partner One/CN=p1.test", "/C=GB/CN=p1.test"));
    EXPECT_FALSE(same_distinguished_name("/C=GB/CN=p1.test", "/C=GB/CN=p1.test/O=x"));
    EXPECT_FALSE(same_distinguished_name("/C=GB", ""));
    EXPECT_EQ(check_distinguished_name("/C=GB/O=Partner One/CN=p1.test"), "");
    EXPECT_NE(check_distinguished_name("C=GB"), "");
    EXPECT_NE(check_distinguished_name("/C="), "");
}

TEST(TlsPolicy, InboundVerdictTable) {
    InboundTlsPolicy strict;
    strict.min_cipher_bits = 256;
    strict.subject_dn = "/O=Partner One/CN=p1.test";
    strict.issuer_dn = "/CN=Hub CA";
    InboundTlsPolicy by_value;
    by_value.cn_rule = CnRule::value;
    by_value.cn = "gateway.p1.test";
    InboundTlsPolicy open;
    open.require_tls = false;
    open.require_certificate = false;

    InboundTlsFacts good{
        true, 256, Certificate::verified, "p1.test", "/O=Partner One/CN=p1.test", "/CN=Hub CA"};
    auto with = [&](auto change) {
        InboundTlsFacts facts = good;
        change(facts);
        return facts;
    };
    struct Case {
        const char* what;
        const InboundTlsPolicy* policy;
        InboundTlsFacts facts;
        bool partner_requires;
        InboundTlsVerdict want;
    };
    const std::vector<Case> cases = {
        {"all good", &strict, good, true, InboundTlsVerdict::accept},
        {"clear text", &strict, InboundTlsFacts{}, true, InboundTlsVerdict::tls_required},
        {"128 bits", &strict, with([](auto& f) { f.cipher_bits = 128; }), true,
         InboundTlsVerdict::cipher_too_weak},
        {"no certificate", &strict, with([](auto& f) { f.certificate = Certificate::none; }), true,
         InboundTlsVerdict::no_client_certificate},
        {"untrusted", &strict, with([](auto& f) { f.certificate = Certificate::failed; }), true,
         InboundTlsVerdict::certificate_chain},
        {"wrong CN", &strict, with([](auto& f) { f.cn = "p2.test"; }), true,
         InboundTlsVerdict::cn_mismatch},
        {"CN case", &strict, with([](auto& f) { f.cn = "P1.TEST"; }), true,
         InboundTlsVerdict::accept},
        {"wrong subject", &strict, with([](auto& f) { f.subject_dn = "/O=Other/CN=p1.test"; }),
         true, InboundTlsVerdict::subject_mismatch},
        {"wrong issuer", &strict, with([](auto& f) { f.issuer_dn = "/CN=Other CA"; }), true,
         InboundTlsVerdict::issuer_mismatch},
        {"partner needs no certificate", &strict,
         with([](auto& f) { f.certificate = Certificate::none; }), false,
         InboundTlsVerdict::accept},
        {"CN value matches", &by_value, with([](auto& f) { f.cn = "gateway.p1.test"; }), true,
         InboundTlsVerdict::accept},
        {"CN value differs", &by_value, good, true, InboundTlsVerdict::cn_mismatch},
        {"open, clear text", &open, InboundTlsFacts{}, true, InboundTlsVerdict::accept},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(judge_inbound_tls(*c.policy, c.facts, c.partner_requires, "p1.test"), c.want)
            << c.what << ": got "
            << reason_token(judge_inbound_tls(*c.policy, c.facts, c.partner_requires, "p1.test"));
    }
}

}  // namespace
}  // namespace hub::policy
