// session_policy_test.cc -- partner identity and sender binding, one table per question.
//
// Method: a table of partners like the development hub's (both partner1 and partner2 on
// loopback, so the source address alone picks partner1 and the certificate decides), plus
// partners on their own networks; each row is a source address, a certificate and a MAIL
// FROM address, and the verdict and partner expected. No sockets: addresses come from
// inet_pton.
#include "policy/session_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <optional>

#include <string>
#include <vector>

namespace hub::policy {
namespace {

sockaddr_storage ipv4(const char* text) {
    sockaddr_storage storage{};
    auto& address = reinterpret_cast<sockaddr_in&>(storage);
    address.sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, text, &address.sin_addr), 1) << text;
    return storage;
}

Partner partner(std::string name, std::vector<std::string> domains, const char* network,
                std::string client_cn, bool require = true) {
    Partner p;
    p.name = std::move(name);
    p.domains = std::move(domains);
    Result<Cidr, std::string> cidr = parse_cidr(network);
    EXPECT_TRUE(cidr) << network;
    p.inbound.push_back(*cidr);
    p.outbound_host = "127.0.0.1";
    p.client_cn = std::move(client_cn);
    p.require_client_certificate = require;
    return p;
}

PartnerTable make_table() {
    std::vector<Partner> partners;
    partners.push_back(partner("partner1", {"partner1.gov.uk"}, "127.0.0.0/8", "partner1.gov.uk"));
    partners.push_back(partner("partner2", {"partner2.gov.uk"}, "127.0.0.0/8", "partner2.gov.uk"));
    // Its own network; subdomains and an agency it relays for.
    Partner council = partner("council", {"council.example"}, "10.1.0.0/16", "mx.council.example");
    council.subdomains = true;
    council.extra_sender_domains = {"agency.gov.uk"};
    partners.push_back(std::move(council));
    // Identified by its network alone (require_client_certificate = false, no CN).
    partners.push_back(partner("legacy", {"legacy.example"}, "10.2.0.0/16", "", false));
    // Does not require a certificate, but names the CN one must carry if presented.
    partners.push_back(
        partner("relaxed", {"relaxed.example"}, "10.3.0.0/16", "relaxed.example", false));
    // Owns a subdomain of council.example: the most specific owner wins.
    partners.push_back(partner("north", {"north.council.example"}, "10.4.0.0/16", "north.example"));
    return PartnerTable("lgolhub.net", std::move(partners));
}

// A finished handshake (256-bit cipher) with this certificate verdict and CN.
ClientCertificate tls_with(CertificateVerdict verdict, std::string cn, std::string subject = "",
                           std::string issuer = "", int bits = 256) {
    return ClientCertificate{verdict,           std::move(cn), "",  std::move(subject),
                             std::move(issuer), true,          bits};
}

constexpr CertificateVerdict none = CertificateVerdict::none;
constexpr CertificateVerdict verified = CertificateVerdict::verified;
constexpr CertificateVerdict failed = CertificateVerdict::failed;

struct Case {
    const char* name;
    const char* source;
    CertificateVerdict certificate;
    const char* cn;
    const char* mail_from;
    SessionVerdict verdict;
    const char* partner;  // The identified partner (or, on a refusal, the one that refused).
};

constexpr SessionVerdict accept = SessionVerdict::accept;
constexpr SessionVerdict no_certificate = SessionVerdict::no_client_certificate;
constexpr SessionVerdict chain = SessionVerdict::certificate_chain;
constexpr SessionVerdict cn_mismatch = SessionVerdict::cn_mismatch;
constexpr SessionVerdict not_partner = SessionVerdict::sender_not_partner;

constexpr Case cases[] = {
    // Identity on a shared network: the certificate decides.
    {"partner1 by cert", "127.0.0.1", verified, "partner1.gov.uk", "alice@partner1.gov.uk", accept,
     "partner1"},
    {"partner2 by cert on partner1's source", "127.0.0.1", verified, "partner2.gov.uk",
     "joe@partner2.gov.uk", accept, "partner2"},
    {"CN in another case", "127.0.0.1", verified, "PARTNER2.Gov.UK", "joe@partner2.gov.uk", accept,
     "partner2"},
    {"no certificate", "127.0.0.1", none, "", "alice@partner1.gov.uk", no_certificate, "partner1"},
    {"no certificate, null sender", "127.0.0.1", none, "", "", no_certificate, "partner1"},
    {"another CA", "127.0.0.1", failed, "partner1.gov.uk", "alice@partner1.gov.uk", chain,
     "partner1"},
    {"another CA claiming partner2", "127.0.0.1", failed, "partner2.gov.uk", "joe@partner2.gov.uk",
     chain, "partner1"},
    {"CN of nobody", "127.0.0.1", verified, "stranger.example", "alice@partner1.gov.uk",
     cn_mismatch, "partner1"},
    {"CN of a partner not allowed at this source", "127.0.0.1", verified, "mx.council.example",
     "a@council.example", cn_mismatch, "partner1"},
    {"partner1's CN from council's network", "10.1.2.3", verified, "partner1.gov.uk",
     "alice@partner1.gov.uk", cn_mismatch, "council"},
    {"CN that is a suffix trick", "127.0.0.1", verified, "partner1.gov.uk.evil",
     "a@partner1.gov.uk", cn_mismatch, "partner1"},
    // Sender binding.
    {"partner2 sending as partner1", "127.0.0.1", verified, "partner2.gov.uk",
     "alice@partner1.gov.uk", not_partner, "partner2"},
    {"partner1 sending as partner2", "127.0.0.1", verified, "partner1.gov.uk",
     "joe@partner2.gov.uk", not_partner, "partner1"},
    {"mixed-case sender", "127.0.0.1", verified, "partner1.gov.uk", "Alice@Partner1.GOV.UK", accept,
     "partner1"},
    {"absolute sender domain", "127.0.0.1", verified, "partner1.gov.uk", "a@partner1.gov.uk.",
     accept, "partner1"},
    {"null sender", "127.0.0.1", verified, "partner2.gov.uk", "", accept, "partner2"},
    {"subdomain without subdomains", "127.0.0.1", verified, "partner1.gov.uk",
     "a@mail.partner1.gov.uk", not_partner, "partner1"},
    {"sender in hub form", "127.0.0.1", verified, "partner1.gov.uk",
     "a@partner1.gov.uk.lgolhub.net", not_partner, "partner1"},
    {"sender outside every partner", "127.0.0.1", verified, "partner1.gov.uk", "a@example.com",
     not_partner, "partner1"},
    {"suffix that is not a subdomain", "127.0.0.1", verified, "partner1.gov.uk",
     "a@xpartner1.gov.uk", not_partner, "partner1"},
    {"domain literal", "127.0.0.1", verified, "partner1.gov.uk", "a@[127.0.0.1]", not_partner,
     "partner1"},
    {"subdomain with subdomains", "10.1.0.9", verified, "MX.Council.Example",
     "a@Mail.COUNCIL.example", accept, "council"},
    {"subdomain owned by a more specific partner", "10.1.0.9", verified, "mx.council.example",
     "a@north.council.example", not_partner, "council"},
    {"the more specific owner itself", "10.4.0.1", verified, "north.example",
     "a@x.north.council.example", not_partner, "north"},
    {"extra sender domain", "10.1.0.9", verified, "mx.council.example", "a@Agency.GOV.uk", accept,
     "council"},
    {"extra sender subdomain (subdomains = true)", "10.1.0.9", verified, "mx.council.example",
     "a@x.agency.gov.uk", accept, "council"},
    {"extra sender domain is not partner1's", "127.0.0.1", verified, "partner1.gov.uk",
     "a@agency.gov.uk", not_partner, "partner1"},
    // Partners that opted out of certificates.
    {"legacy without certificate", "10.2.0.1", none, "", "a@legacy.example", accept, "legacy"},
    {"legacy with an untrusted one", "10.2.0.1", failed, "x", "a@legacy.example", accept, "legacy"},
    {"legacy with someone else's trusted one", "10.2.0.1", verified, "stranger.example",
     "a@legacy.example", accept, "legacy"},
    {"legacy still bound to its domains", "10.2.0.1", none, "", "a@partner1.gov.uk", not_partner,
     "legacy"},
    {"relaxed without certificate", "10.3.0.1", none, "", "a@relaxed.example", accept, "relaxed"},
    {"relaxed with a wrong CN", "10.3.0.1", verified, "stranger.example", "a@relaxed.example",
     cn_mismatch, "relaxed"},
    {"relaxed with its CN", "10.3.0.1", verified, "relaxed.example", "a@relaxed.example", accept,
     "relaxed"},
};

TEST(SessionPolicy, Table) {
    PartnerTable table = make_table();
    SessionPolicy policy(table);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ASSERT_NE(policy.start(ipv4(c.source)), nullptr);
        policy.set_certificate(tls_with(c.certificate, c.cn));
        SessionPolicy::Identity identity;
        EXPECT_EQ(policy.check_sender(c.mail_from, identity), c.verdict)
            << reason_token(policy.check_sender(c.mail_from, identity));
        ASSERT_NE(identity.partner, nullptr);
        EXPECT_EQ(identity.partner->name, c.partner);
        // identify() alone agrees with check_sender on everything but the sender.
        SessionPolicy::Identity alone = policy.identify();
        EXPECT_EQ(alone.partner, identity.partner);
        if (c.verdict != SessionVerdict::sender_not_partner) {
            EXPECT_EQ(alone.verdict, c.verdict);
        }
    }
}

TEST(SessionPolicy, StartForgetsTheLastCertificate) {
    PartnerTable table = make_table();
    SessionPolicy policy(table);
    policy.start(ipv4("127.0.0.1"));
    policy.set_certificate(tls_with(verified, "partner2.gov.uk"));
    EXPECT_EQ(policy.identify().partner->name, "partner2");
    policy.start(ipv4("127.0.0.1"));
    EXPECT_EQ(policy.identify().partner->name, "partner1");
    EXPECT_EQ(policy.identify().verdict, SessionVerdict::tls_required);  // Not even TLS yet.
}

TEST(SessionPolicy, StrangersSpeakForNobody) {
    PartnerTable table = make_table();
    SessionPolicy policy(table);
    EXPECT_EQ(policy.start(ipv4("192.0.2.1")), nullptr);
    SessionPolicy::Identity identity;
    EXPECT_EQ(policy.check_sender("", identity), not_partner);
    EXPECT_EQ(identity.partner, nullptr);
    policy.clear();
    EXPECT_EQ(policy.identify().partner, nullptr);
}

TEST(SessionPolicy, ReasonTokens) {
    struct Token {
        SessionVerdict verdict;
        std::string_view text;
    };
    constexpr Token tokens[] = {
        {accept, "accept"},
        {no_certificate, "no_client_certificate"},
        {chain, "certificate_chain"},
        {cn_mismatch, "cn_mismatch"},
        {not_partner, "sender_not_partner"},
    };
    for (const Token& token : tokens) {
        EXPECT_EQ(reason_token(token.verdict), token.text);
    }
}

// The TLS endpoint policy on top of identity: a partner's own, and a network's override.
TEST(SessionPolicy, TlsEndpointPolicyDecidesAfterIdentity) {
    std::vector<Partner> partners;
    Partner strict = partner("strict", {"strict.example"}, "10.5.0.0/16", "strict.example");
    strict.tls_policy_name = "strict";
    strict.inbound_tls.min_cipher_bits = 256;
    strict.inbound_tls.subject_dn = "/O=Strict/CN=strict.example";
    strict.inbound_tls.issuer_dn = "/CN=Hub CA";
    InboundTlsPolicy gateway;  // One network of the partner: a fixed CN, nothing else.
    gateway.cn_rule = CnRule::value;
    gateway.cn = "gw.strict.example";
    strict.inbound_tls_by_network.push_back(
        Partner::NetworkTls{*parse_cidr("10.5.9.0/24"), "gateway", gateway});
    partners.push_back(strict);
    Partner open_partner = partner("open", {"open.example"}, "10.6.0.0/16", "open.example");
    open_partner.inbound_tls.require_tls = false;
    open_partner.inbound_tls.require_certificate = false;
    partners.push_back(open_partner);
    PartnerTable table("lgolhub.net", std::move(partners));
    SessionPolicy policy(table);
    const std::string subject = "/O=Strict/CN=strict.example";
    struct TlsCase {
        const char* what;
        const char* source;
        std::optional<ClientCertificate> tls;
        SessionVerdict want;
        const char* policy_name;
    };
    const std::vector<TlsCase> tls_cases = {
        {"all good", "10.5.0.1", tls_with(verified, "strict.example", subject, "/CN=Hub CA"),
         SessionVerdict::accept, "strict"},
        {"128 bits", "10.5.0.1", tls_with(verified, "strict.example", subject, "/CN=Hub CA", 128),
         SessionVerdict::cipher_too_weak, "strict"},
        {"other subject", "10.5.0.1",
         tls_with(verified, "strict.example", "/O=Else/CN=strict.example", "/CN=Hub CA"),
         SessionVerdict::subject_mismatch, "strict"},
        {"other issuer", "10.5.0.1", tls_with(verified, "strict.example", subject, "/CN=Other CA"),
         SessionVerdict::issuer_mismatch, "strict"},
        {"gateway network, its CN", "10.5.9.7", tls_with(verified, "gw.strict.example"),
         SessionVerdict::accept, "gateway"},
        {"gateway network, the partner's CN", "10.5.9.7", tls_with(verified, "strict.example"),
         SessionVerdict::cn_mismatch, "gateway"},
        {"open partner, clear text", "10.6.0.1", std::nullopt, SessionVerdict::accept, "default"},
        {"open partner, no certificate", "10.6.0.1", tls_with(none, ""), SessionVerdict::accept,
         "default"},
    };
    for (const TlsCase& c : tls_cases) {
        SCOPED_TRACE(c.what);
        ASSERT_NE(policy.start(ipv4(c.source)), nullptr);
        if (c.tls) {
            policy.set_certificate(*c.tls);
        }
        SessionPolicy::Identity identity = policy.identify();
        EXPECT_EQ(identity.verdict, c.want) << reason_token(identity.verdict);
        EXPECT_EQ(identity.tls_policy, c.policy_name);
    }
}

}  // namespace
}  // namespace hub::policy
