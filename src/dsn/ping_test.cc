// ping_test.cc -- the ping reply: its header fields, every fact in the body, each
// certificate verdict, and that hostile peer text (a Subject with CRLF, a forged
// Message-ID) cannot add a field or a line. Also the RFC 3834 "may we answer" rules.
#include "dsn/ping.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "dsn/mime_for_test.h"

namespace hub::dsn {
namespace {

constexpr std::int64_t nov_25_2026_2100 = 1795640400;

smtp::TlsFacts verified_tls() {
    smtp::TlsFacts tls;
    tls.version = "TLSv1.3";
    tls.cipher = "TLS_AES_256_GCM_SHA384";
    tls.bits = 256;
    tls.client_cert_verdict = "verified";
    tls.client_cn = "partner1.gov.uk";
    tls.client_subject = "/C=GB/O=Partner One/CN=partner1.gov.uk";
    tls.client_issuer = "/C=GB/O=Hubbox/CN=Hubbox Dev CA";
    return tls;
}

PingFacts base_facts(const smtp::TlsFacts* tls) {
    PingFacts facts;
    facts.hostname = "hub.lgolhub.net";
    facts.ping_address = "lgolhubping@partner1.gov.uk.lgolhub.net";
    facts.sender = "alice@partner1.gov.uk";
    facts.partner = "partner1.gov.uk";
    facts.client_address = "127.0.0.1";
    facts.helo = "mx.partner1.gov.uk";
    facts.tls = tls;
    facts.queue_id = "00000001000007";
    facts.received_unix_s = nov_25_2026_2100 - 2;
    facts.now_unix_s = nov_25_2026_2100;
    facts.original_message_id = " <ping-1@partner1.gov.uk>";
    facts.original_subject = " testing the hub";
    return facts;
}

// The body's "Label: value" facts, unwrapped.
std::string body_of(const std::string& message) {
    test::Entity entity = test::parse_entity(message);
    return test::unwrap(entity.body, "                        ");
}

TEST(Ping, HeaderFields) {
    smtp::TlsFacts tls = verified_tls();
    std::string message = build_ping_reply(base_facts(&tls));
    test::expect_lines_ok(message, true);
    test::Entity entity = test::parse_entity(message);
    EXPECT_EQ(entity.field("From"), "Hubbox ping <lgolhubping@partner1.gov.uk.lgolhub.net>");
    EXPECT_EQ(entity.field("To"), "<alice@partner1.gov.uk>");
    EXPECT_EQ(entity.field("Subject"), "Hubbox ping reply: your message reached hub.lgolhub.net");
    EXPECT_EQ(entity.field("Auto-Submitted"), "auto-replied");
    EXPECT_EQ(entity.field("In-Reply-To"), "<ping-1@partner1.gov.uk>");
    EXPECT_EQ(entity.field("References"), "<ping-1@partner1.gov.uk>");
    EXPECT_EQ(entity.field("Date"), "Wed, 25 Nov 2026 21:00:00 +0000");
    EXPECT_EQ(entity.field("Message-ID"), "<1795640400.00000001000007.ping@hub.lgolhub.net>");
    EXPECT_EQ(entity.field("Content-Type"), "text/plain; charset=us-ascii");
    for (std::string_view name : {"Date", "From", "To", "Subject", "Message-ID"}) {
        EXPECT_EQ(entity.count(name), 1u) << name;
    }

    PingFacts facts = base_facts(&tls);
    facts.message_id = "<given@hub.lgolhub.net>";
    facts.original_message_id = {};
    entity = test::parse_entity(build_ping_reply(facts));
    EXPECT_EQ(entity.field("Message-ID"), "<given@hub.lgolhub.net>");
    EXPECT_FALSE(entity.field("In-Reply-To").has_value());
    EXPECT_FALSE(entity.field("References").has_value());
}

TEST(Ping, BodyReportsWhatTheHubSaw) {
    smtp::TlsFacts tls = verified_tls();
    std::string body = body_of(build_ping_reply(base_facts(&tls)));
    EXPECT_TRUE(body.starts_with("Welcome to hub.lgolhub.net, partner1.gov.uk!\r\n")) << body;
    for (std::string_view fact : {
             "  Partner matched:      partner1.gov.uk\r\n",
             "  Source address:       127.0.0.1\r\n",
             "  HELO/EHLO name:       mx.partner1.gov.uk\r\n",
             "  TLS:                  TLSv1.3, cipher TLS_AES_256_GCM_SHA384, 256 bits\r\n",
             "  Client certificate:   verified (it chains to a CA the hub trusts)\r\n",
             "    Subject:            /C=GB/O=Partner One/CN=partner1.gov.uk\r\n",
             "    Issuer:             /C=GB/O=Hubbox/CN=Hubbox Dev CA\r\n",
             "  Received at:          Wed, 25 Nov 2026 20:59:58 +0000\r\n",
             "  Queue ID:             00000001000007\r\n",
             "  Original Subject:     testing the hub\r\n",
         }) {
        EXPECT_NE(body.find(fact), std::string::npos) << fact << "\n" << body;
    }
}

TEST(Ping, CertificateVerdictsAndNoTls) {
    smtp::TlsFacts tls = verified_tls();
    tls.client_cert_verdict = "failed";
    PingFacts facts = base_facts(&tls);
    std::string body = body_of(build_ping_reply(facts));
    EXPECT_NE(body.find("Client certificate:   presented, but it failed verification"),
              std::string::npos);
    EXPECT_NE(body.find("Issuer:             /C=GB/O=Hubbox/CN=Hubbox Dev CA"), std::string::npos);

    tls.client_cert_verdict = "none";
    body = body_of(build_ping_reply(facts));
    EXPECT_NE(body.find("Client certificate:   no client certificate presented\r\n"),
              std::string::npos);
    EXPECT_EQ(body.find("Issuer:"), std::string::npos);
    facts.client_certificate_requested = false;
    EXPECT_NE(body_of(build_ping_reply(facts)).find("none (the hub did not ask for one)"),
              std::string::npos);

    facts = base_facts(nullptr);
    facts.partner = {};
    body = body_of(build_ping_reply(facts));
    EXPECT_NE(body.find("TLS:                  none: the message came in clear text"),
              std::string::npos);
    EXPECT_NE(body.find("Partner matched:      none\r\n"), std::string::npos);
    EXPECT_TRUE(body.starts_with("Welcome to hub.lgolhub.net!\r\n"));
}

TEST(Ping, HostileSubjectAndIdsCannotInject) {
    smtp::TlsFacts tls = verified_tls();
    tls.client_subject = "/CN=x\r\nBcc: victim@example";
    PingFacts facts = base_facts(&tls);
    facts.original_subject = "hello\r\nBcc: victim@example\r\n\r\nforged body\x01\xff";
    facts.original_message_id = "<a@b>\r\nBcc: victim@example";
    facts.helo = "evil\nX-Injected: 1";
    facts.sender = "alice@partner1.gov.uk>\r\nBcc: victim@example";
    std::string message = build_ping_reply(facts);
    test::expect_lines_ok(message, true);
    test::Entity entity = test::parse_entity(message);
    EXPECT_EQ(entity.count("Bcc"), 0u);
    EXPECT_FALSE(entity.field("In-Reply-To").has_value());
    EXPECT_EQ(entity.field("To"), "<alice@partner1.gov.uk???Bcc:?victim@example>");
    EXPECT_EQ(message.find("\nBcc"), std::string::npos);
    EXPECT_EQ(message.find("\nX-Injected"), std::string::npos);
    EXPECT_EQ(message.find("\nforged"), std::string::npos);
    std::string body = body_of(message);
    EXPECT_NE(body.find("Original Subject:     hello??Bcc: victim@example????forged body??"),
              std::string::npos)
        << body;
    EXPECT_NE(body.find("Subject:            /CN=x??Bcc: victim@example"), std::string::npos);

    // Long peer text is cut, and lines stay within bounds.
    std::string long_subject(5000, 's');
    std::string long_helo(5000, 'h');
    facts.original_subject = long_subject;
    facts.helo = long_helo;
    message = build_ping_reply(facts);
    test::expect_lines_ok(message, false);
    EXPECT_LT(message.size(), 4000u);
}

TEST(Ping, FoldedSubjectIsUnfolded) {
    PingFacts facts = base_facts(nullptr);
    facts.original_subject = " a subject that\r\n was folded";
    EXPECT_NE(body_of(build_ping_reply(facts)).find("a subject that was folded"),
              std::string::npos);
}

TEST(Ping, AutoReplyWanted) {
    struct Case {
        std::string_view name;
        std::string_view sender;
        std::string_view headers;
        bool expected;
    };
    const Case cases[] = {
        {"plain", "alice@partner1.gov.uk", "Subject: hi\r\n\r\n", true},
        {"null sender", "", "Subject: hi\r\n\r\n", false},
        {"mailer-daemon", "MAILER-DAEMON@partner1.gov.uk", "Subject: hi\r\n\r\n", false},
        {"auto-replied", "a@b", "Auto-Submitted: auto-replied\r\n\r\n", false},
        {"auto-generated", "a@b", "auto-submitted: Auto-Generated; owner=x\r\n\r\n", false},
        {"auto-submitted no", "a@b", "Auto-Submitted: no\r\n\r\n", true},
        {"auto-submitted no, comment", "a@b", "Auto-Submitted:  No ; x\r\n\r\n", true},
        {"bulk", "a@b", "Precedence: bulk\r\n\r\n", false},
        {"list", "a@b", "Precedence: list\r\n\r\n", false},
        {"junk", "a@b", "Precedence: junk\r\n\r\n", false},
        {"first-class", "a@b", "Precedence: first-class\r\n\r\n", true},
        {"list-id", "a@b", "List-Id: <x.example>\r\n\r\n", false},
        {"in the body only", "a@b", "Subject: x\r\n\r\nAuto-Submitted: auto-replied\r\n", true},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(auto_reply_wanted(c.sender, c.headers), c.expected) << c.name;
    }
}

TEST(Ping, Golden) {
    smtp::TlsFacts tls = verified_tls();
    std::string actual = build_ping_reply(base_facts(&tls));
    std::string path = std::string(HUB_DSN_GOLDEN_DIR) + "/ping.eml";
    if (std::getenv("HUB_UPDATE_GOLDEN") != nullptr) {
        std::ofstream(path, std::ios::binary) << actual;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << path;
    std::stringstream expected;
    expected << in.rdbuf();
    EXPECT_EQ(actual, expected.str()) << "regenerate with HUB_UPDATE_GOLDEN=1 and review";
}

}  // namespace
}  // namespace hub::dsn
