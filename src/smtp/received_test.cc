// received_test.cc -- the Received: header: layout, TLS and certificate wording, folding,
// and that peer-controlled text can neither break the header nor forge its comments.
#include "smtp/received.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::smtp {
namespace {

constexpr std::int64_t nov_25_2026_2100 = 1795640400;

TlsFacts verified_tls() {
    TlsFacts tls;
    tls.version = "TLSv1.3";
    tls.cipher = "TLS_AES_256_GCM_SHA384";
    tls.bits = 256;
    tls.client_cert_verdict = "verified";
    tls.client_cn = "partner1.gov.uk";
    tls.client_subject = "/C=GB/O=Partner One/CN=partner1.gov.uk";
    tls.client_issuer = "/C=GB/O=Hubbox/CN=Hubbox Dev CA";
    return tls;
}

ReceivedFacts base_facts(const TlsFacts* tls) {
    ReceivedFacts facts;
    facts.helo = "mx.partner1.gov.uk";
    facts.client_address = "127.0.0.1";
    facts.by_host = "hub.lgolhub.net";
    facts.esmtp = true;
    facts.tls = tls;
    facts.queue_id = "00000001000003";
    facts.for_address = "joe@partner2.gov.uk.lgolhub.net";
    facts.unix_time_s = nov_25_2026_2100;
    return facts;
}

std::vector<std::string> lines_of(const std::string& header) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < header.size()) {
        std::size_t end = header.find("\r\n", start);
        EXPECT_NE(end, std::string::npos) << "header must end in CRLF";
        if (end == std::string::npos) {
            break;
        }
        lines.push_back(header.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

// Every line ends in CRLF, no bare CR or LF, continuation lines start with a tab.
void expect_well_formed(const std::string& header) {
    ASSERT_TRUE(header.starts_with("Received: "));
    ASSERT_TRUE(header.ends_with("\r\n"));
    std::vector<std::string> lines = lines_of(header);
    for (std::size_t i = 0; i < lines.size(); i++) {
        EXPECT_EQ(lines[i].find_first_of("\r\n"), std::string::npos) << lines[i];
        EXPECT_FALSE(lines[i].empty());
        if (i > 0) {
            EXPECT_EQ(lines[i].front(), '\t') << lines[i];
            EXPECT_NE(lines[i].find_first_not_of(" \t"), std::string::npos);
        }
        for (char c : lines[i]) {
            EXPECT_TRUE((c >= ' ' && c <= '~') || c == '\t') << lines[i];
        }
    }
}

TEST(Received, PostfixLayoutWithVerifiedClient) {
    TlsFacts tls = verified_tls();
    std::string header = format_received(base_facts(&tls));
    EXPECT_EQ(header,
              "Received: from mx.partner1.gov.uk (unknown [127.0.0.1])\r\n"
              "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n"
              "\t(Client CN \"partner1.gov.uk\", Issuer \"Hubbox Dev CA\" (verified OK))\r\n"
              "\tby hub.lgolhub.net (Hubbox) with ESMTPS id 00000001000003\r\n"
              "\tfor <joe@partner2.gov.uk.lgolhub.net>; Wed, 25 Nov 2026 21:00:00 +0000\r\n");
    expect_well_formed(header);
}

TEST(Received, CertificateVerdicts) {
    TlsFacts tls = verified_tls();
    tls.client_cert_verdict = "failed";
    tls.client_issuer = "CN=Evil CA, O=Elsewhere";
    EXPECT_NE(format_received(base_facts(&tls))
                  .find("\t(Client CN \"partner1.gov.uk\", Issuer \"Evil CA\" "
                        "(verification failed))\r\n"),
              std::string::npos);

    tls.client_cert_verdict = "none";
    ReceivedFacts facts = base_facts(&tls);
    EXPECT_NE(format_received(facts).find("\t(Client certificate not present)\r\n"),
              std::string::npos);
    facts.client_certificate_requested = false;
    EXPECT_NE(format_received(facts).find("\t(No client certificate requested)\r\n"),
              std::string::npos);
}

TEST(Received, CnFromSubjectWhenNotGiven) {
    TlsFacts tls = verified_tls();
    tls.client_cn.clear();
    EXPECT_NE(format_received(base_facts(&tls)).find("CN \"partner1.gov.uk\","), std::string::npos);
}

TEST(Received, ClearTextAndProtocols) {
    ReceivedFacts facts = base_facts(nullptr);
    std::string header = format_received(facts);
    EXPECT_EQ(header,
              "Received: from mx.partner1.gov.uk (unknown [127.0.0.1])\r\n"
              "\tby hub.lgolhub.net (Hubbox) with ESMTP id 00000001000003\r\n"
              "\tfor <joe@partner2.gov.uk.lgolhub.net>; Wed, 25 Nov 2026 21:00:00 +0000\r\n");
    facts.esmtp = false;
    EXPECT_NE(format_received(facts).find(" with SMTP id "), std::string::npos);
    TlsFacts tls = verified_tls();
    facts.tls = &tls;
    EXPECT_NE(format_received(facts).find(" with SMTPS id "), std::string::npos);
}

TEST(Received, ManyRecipientsHaveNoFor) {
    ReceivedFacts facts = base_facts(nullptr);
    facts.for_address = {};
    EXPECT_EQ(format_received(facts),
              "Received: from mx.partner1.gov.uk (unknown [127.0.0.1])\r\n"
              "\tby hub.lgolhub.net (Hubbox) with ESMTP id 00000001000003;\r\n"
              "\tWed, 25 Nov 2026 21:00:00 +0000\r\n");
}

TEST(Received, HeloCannotInjectOrForge) {
    TlsFacts tls = verified_tls();
    ReceivedFacts facts = base_facts(&tls);
    facts.helo = "evil\r\nX-Injected: yes\r\n\t(Client CN \"bank\" (verified OK))";
    std::string header = format_received(facts);
    expect_well_formed(header);
    EXPECT_EQ(header.find("\nX-Injected"), std::string::npos);
    EXPECT_EQ(header.find("(verified OK))"), header.rfind("(verified OK))"));  // Ours only.
    EXPECT_NE(header.find("from evil??X-Injected:?yes????Client?CN??bank???verified?OK??"),
              std::string::npos)
        << header;
}

TEST(Received, CertificateNamesCannotForge) {
    TlsFacts tls = verified_tls();
    tls.client_cn = "x\", Issuer \"Real CA\" (verified OK)) (\r\n";
    tls.client_issuer = "CN=\x01\x7f\xff";
    std::string header = format_received(base_facts(&tls));
    expect_well_formed(header);
    EXPECT_NE(header.find("CN \"x?, Issuer ?Real CA? ?verified OK?? ???\", Issuer \"???\""),
              std::string::npos)
        << header;
}

TEST(Received, LongFieldsFold) {
    TlsFacts tls = verified_tls();
    tls.client_cn = std::string(60, 'c');
    tls.client_issuer = "CN=" + std::string(60, 'i');
    ReceivedFacts facts = base_facts(&tls);
    std::string long_helo(70, 'h');
    std::string long_rcpt = std::string(40, 'r') + "@partner2.gov.uk.lgolhub.net";
    facts.helo = long_helo;
    facts.for_address = long_rcpt;
    std::string header = format_received(facts);
    expect_well_formed(header);
    for (const std::string& line : lines_of(header)) {
        EXPECT_LE(line.size(), 78u) << line;
    }
    // One word longer than a line is kept whole rather than broken.
    std::string huge_helo(300, 'h');
    facts.helo = huge_helo;
    header = format_received(facts);
    expect_well_formed(header);
    EXPECT_NE(header.find("Received: from " + std::string(255, 'h') + "...\r\n"),
              std::string::npos);
}

TEST(Received, Dates) {
    EXPECT_EQ(format_date_utc(0), "Thu, 1 Jan 1970 00:00:00 +0000");
    EXPECT_EQ(format_date_utc(nov_25_2026_2100), "Wed, 25 Nov 2026 21:00:00 +0000");
    EXPECT_EQ(format_date_utc(951782400), "Tue, 29 Feb 2000 00:00:00 +0000");
    EXPECT_EQ(format_date_utc(4133980799), "Fri, 31 Dec 2100 23:59:59 +0000");
    EXPECT_EQ(format_date_utc(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
}

}  // namespace
}  // namespace hub::smtp
