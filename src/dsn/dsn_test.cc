// dsn_test.cc -- delivery status notifications: MIME structure as a receiving parser sees
// it, each RFC 3464 field present or absent as ENVID / ORCPT / RET say, the remote server's
// exact reply at the bottom of part 1 and in Diagnostic-Code, hostile peer text, the NOTIFY
// table, and a golden report (tests/data/dsn/failure.eml) for people to read.
#include "dsn/dsn.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dsn/mime_for_test.h"

namespace hub::dsn {
namespace {

using test::Entity;
using namespace std::string_literals;

constexpr std::int64_t nov_25_2026_2100 = 1795640400;
constexpr std::string_view rejected_reply =
    "550 5.1.1 <joe@partner2.gov.uk>: Recipient address rejected: User unknown in local "
    "recipient table";

const std::string original_headers =
    "Received: from mx.partner1.gov.uk (unknown [127.0.0.1])\r\n"
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n"
    "\tby hub.lgolhub.net (Hubbox) with ESMTPS id 00000001000003\r\n"
    "\tfor <joe@partner2.gov.uk.lgolhub.net>; Wed, 25 Nov 2026 20:59:58 +0000\r\n"
    "From: Alice <alice@partner1.gov.uk>\r\n"
    "To: Joe <joe@partner2.gov.uk.lgolhub.net>\r\n"
    "Subject: Minutes of the meeting\r\n"
    "Message-ID: <minutes-1@partner1.gov.uk>\r\n"
    "Date: Wed, 25 Nov 2026 20:59:55 +0000\r\n"
    "\r\n";
const std::string original_message =
    original_headers + "Dear Joe,\r\n\r\nthe minutes are below.\r\n\r\nAlice\r\n";

smtp::Envelope base_envelope() {
    smtp::Envelope envelope;
    envelope.helo = "mx.partner1.gov.uk";
    envelope.esmtp = true;
    envelope.mail_from = "alice@partner1.gov.uk";
    envelope.recipients.push_back({"joe@partner2.gov.uk.lgolhub.net", 0, ""});
    return envelope;
}

RecipientReport rejected_joe(const smtp::Envelope& envelope) {
    RecipientReport report = recipient_report(envelope.recipients[0], Action::failed);
    report.final_recipient = "joe@partner2.gov.uk";
    report.status = "5.1.1";
    report.remote_address = "[127.0.0.1]:10026";
    report.remote_reply = std::string(rejected_reply) + "\r\n";
    report.remote_command = "RCPT TO";
    report.last_attempt_unix_s = nov_25_2026_2100 - 1;
    return report;
}

DsnRequest base_request(const smtp::Envelope& envelope) {
    DsnRequest request;
    request.kind = Kind::failure;
    request.hostname = "hub.lgolhub.net";
    request.from_address = "MAILER-DAEMON@hub.lgolhub.net";
    request.envelope = &envelope;
    request.queue_id = "00000001000003";
    request.arrival_unix_s = nov_25_2026_2100 - 5;
    request.now_unix_s = nov_25_2026_2100;
    request.original_headers = original_headers;
    request.original_message = original_message;
    request.recipients.push_back(rejected_joe(envelope));
    return request;
}

// A report split the way a receiving MUA would: top-level fields, the three parts, and
// part 2's field groups (per-message, then one per recipient).
struct Report {
    Entity top;
    std::string boundary;
    std::vector<Entity> parts;
    std::vector<Entity> status_groups;
};

Report parse_report(const std::string& message) {
    Report report;
    test::expect_lines_ok(message, false);
    report.top = test::parse_entity(message);
    std::optional<std::string> type = report.top.field("Content-Type");
    EXPECT_TRUE(type.has_value());
    if (!type) {
        return report;
    }
    EXPECT_TRUE(type->starts_with("multipart/report; report-type=delivery-status;")) << *type;
    report.boundary = test::boundary_of(*type);
    EXPECT_FALSE(report.boundary.empty());
    EXPECT_LE(report.boundary.size(), 70u);  // RFC 2046 5.1.1.
    for (const std::string& part : test::split_parts(report.top.body, report.boundary)) {
        EXPECT_EQ(part.find("--" + report.boundary), std::string::npos);
        report.parts.push_back(test::parse_entity(part));
    }
    if (report.parts.size() >= 2) {
        std::string status = report.parts[1].body;
        std::size_t start = 0;
        while (start < status.size()) {
            std::size_t end = status.find("\r\n\r\n", start);
            std::size_t stop = end == std::string::npos ? status.size() : end + 2;
            report.status_groups.push_back(test::parse_entity(status.substr(start, stop - start)));
            start = end == std::string::npos ? status.size() : end + 4;
        }
    }
    return report;
}

// The bottom paragraph of part 1 for one recipient, unwrapped to one line.
std::string bottom_paragraph(const std::string& part1, std::string_view recipient) {
    std::size_t at = part1.find("<" + std::string(recipient) + ">: ");
    EXPECT_NE(at, std::string::npos) << part1;
    if (at == std::string::npos) {
        return {};
    }
    std::size_t end = part1.find("\r\n\r\n", at);
    std::string paragraph = part1.substr(at, end == std::string::npos ? end : end - at);
    if (paragraph.ends_with("\r\n")) {
        paragraph.resize(paragraph.size() - 2);  // The last paragraph of the part.
    }
    return test::unwrap(paragraph, "    ");
}

TEST(Dsn, FailureStructure) {
    smtp::Envelope envelope = base_envelope();
    std::string message = build_dsn(base_request(envelope));
    Report report = parse_report(message);
    test::expect_lines_ok(message.substr(0, message.find("\r\n\r\n") + 2), true);

    EXPECT_EQ(report.top.field("From"), "Mail Delivery System <MAILER-DAEMON@hub.lgolhub.net>");
    EXPECT_EQ(report.top.field("To"), "<alice@partner1.gov.uk>");
    EXPECT_EQ(report.top.field("Subject"), "Undelivered Mail Returned to Sender");
    EXPECT_EQ(report.top.field("Auto-Submitted"), "auto-replied");
    EXPECT_EQ(report.top.field("Date"), "Wed, 25 Nov 2026 21:00:00 +0000");
    EXPECT_EQ(report.top.field("MIME-Version"), "1.0");
    EXPECT_FALSE(report.top.field("Content-Transfer-Encoding").has_value());
    std::optional<std::string> id = report.top.field("Message-ID");
    ASSERT_TRUE(id.has_value());
    EXPECT_TRUE(id->starts_with("<1795640400.00000001000003.F") &&
                id->ends_with("@hub.lgolhub.net>"))
        << *id;
    for (std::string_view name : {"Date", "From", "To", "Subject", "Message-ID"}) {
        EXPECT_EQ(report.top.count(name), 1u) << name;  // RFC 5322 3.6.
    }

    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[0].field("Content-Type"), "text/plain; charset=us-ascii");
    EXPECT_EQ(report.parts[1].field("Content-Type"), "message/delivery-status");
    EXPECT_EQ(report.parts[2].field("Content-Type"), "text/rfc822-headers");  // RET unset.
    test::expect_lines_ok(report.parts[0].body, false);
    EXPECT_TRUE(
        report.parts[0].body.starts_with("This is the mail system at host hub.lgolhub.net.\r\n"));
    EXPECT_EQ(report.parts[2].body, original_headers.substr(0, original_headers.size() - 2));
    EXPECT_EQ(report.parts[0].body.find("Dear Joe"), std::string::npos);
}

TEST(Dsn, DeliveryStatusFields) {
    smtp::Envelope envelope = base_envelope();
    Report report = parse_report(build_dsn(base_request(envelope)));
    ASSERT_EQ(report.status_groups.size(), 2u);
    const Entity& message = report.status_groups[0];
    EXPECT_EQ(message.field("Reporting-MTA"), "dns; hub.lgolhub.net");
    EXPECT_EQ(message.field("X-Hubbox-Queue-ID"), "00000001000003");
    EXPECT_EQ(message.field("X-Hubbox-Sender"), "rfc822; alice@partner1.gov.uk");
    EXPECT_EQ(message.field("Arrival-Date"), "Wed, 25 Nov 2026 20:59:55 +0000");
    EXPECT_FALSE(message.field("Original-Envelope-Id").has_value());  // No ENVID.
    EXPECT_EQ(message.fields[0].first, "Reporting-MTA");              // RFC 3464 2.1 order.

    const Entity& joe = report.status_groups[1];
    EXPECT_FALSE(joe.field("Original-Recipient").has_value());  // No ORCPT.
    EXPECT_EQ(joe.field("Final-Recipient"), "rfc822; joe@partner2.gov.uk");
    EXPECT_EQ(joe.field("Action"), "failed");
    EXPECT_EQ(joe.field("Status"), "5.1.1");
    EXPECT_EQ(joe.field("Remote-MTA"), "dns; [127.0.0.1]:10026");
    EXPECT_EQ(joe.field("Diagnostic-Code"), "smtp; " + std::string(rejected_reply));
    EXPECT_EQ(joe.field("Last-Attempt-Date"), "Wed, 25 Nov 2026 20:59:59 +0000");
    EXPECT_FALSE(joe.field("Will-Retry-Until").has_value());
    std::vector<std::string> order;
    for (const auto& field : joe.fields) {
        order.push_back(field.first);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"Final-Recipient", "Action", "Status", "Remote-MTA",
                                               "Diagnostic-Code", "Last-Attempt-Date"}));
}

TEST(Dsn, EnvidAndOrcptAppearWhenGiven) {
    smtp::Envelope envelope = base_envelope();
    envelope.dsn_envid = "QQ314159";
    envelope.recipients[0].orcpt = "rfc822;joe@partner2.gov.uk.lgolhub.net";
    Report report = parse_report(build_dsn(base_request(envelope)));
    ASSERT_EQ(report.status_groups.size(), 2u);
    EXPECT_EQ(report.status_groups[0].field("Original-Envelope-Id"), "QQ314159");
    EXPECT_EQ(report.status_groups[0].fields[0].first, "Original-Envelope-Id");
    EXPECT_EQ(report.status_groups[1].field("Original-Recipient"),
              "rfc822;joe@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(report.status_groups[1].fields[0].first, "Original-Recipient");

    // Decoded values that are not printable go back out as xtext (RFC 3461 4).
    envelope.dsn_envid = "id with+space";
    envelope.recipients[0].orcpt = "utf-8;j\xc3\xb6@example";
    report = parse_report(build_dsn(base_request(envelope)));
    EXPECT_EQ(report.status_groups[0].field("Original-Envelope-Id"), "id+20with+2Bspace");
    EXPECT_EQ(report.status_groups[1].field("Original-Recipient"), "utf-8;j+C3+B6@example");
}

TEST(Dsn, RetChoosesThePartThree) {
    smtp::Envelope envelope = base_envelope();
    envelope.dsn_ret = smtp::DsnRet::headers;
    Report report = parse_report(build_dsn(base_request(envelope)));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Type"), "text/rfc822-headers");
    EXPECT_EQ(report.parts[2].field("Content-Description"), "Undelivered Message Headers");
    EXPECT_NE(report.parts[0].body.find("The header section of your message is attached"),
              std::string::npos);

    envelope.dsn_ret = smtp::DsnRet::full;
    report = parse_report(build_dsn(base_request(envelope)));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Type"), "message/rfc822");
    EXPECT_EQ(report.parts[2].field("Content-Description"), "Undelivered Message");
    EXPECT_EQ(report.parts[2].body, original_message);
    EXPECT_NE(report.parts[0].body.find("Your message is attached below."), std::string::npos);

    // RET=FULL without the content to hand: the headers go back.
    DsnRequest request = base_request(envelope);
    request.original_message = {};
    report = parse_report(build_dsn(request));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Type"), "text/rfc822-headers");

    // A delay report returns headers only, whatever RET says.
    request = base_request(envelope);
    request.kind = Kind::delay;
    request.recipients[0].action = Action::delayed;
    report = parse_report(build_dsn(request));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Type"), "text/rfc822-headers");

    // No original header section at all: two parts.
    request = base_request(envelope);
    request.original_headers = {};
    request.original_message = {};
    report = parse_report(build_dsn(request));
    EXPECT_EQ(report.parts.size(), 2u);
}

TEST(Dsn, HugeFullMessageIsCutWithANote) {
    smtp::Envelope envelope = base_envelope();
    envelope.dsn_ret = smtp::DsnRet::full;
    std::string huge = original_headers;
    while (huge.size() < 3 * returned_bytes_default) {
        huge += std::string(70, 'x') + "\r\n";
    }
    huge += "THE END\r\n";
    DsnRequest request = base_request(envelope);
    request.original_message = huge;
    std::string message = build_dsn(request);
    Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Type"), "message/rfc822");
    EXPECT_LE(report.parts[2].body.size(), returned_bytes_default);
    EXPECT_GT(report.parts[2].body.size(), returned_bytes_default - 80);
    EXPECT_EQ(report.parts[2].body.find("THE END"), std::string::npos);
    EXPECT_TRUE(report.parts[2].body.starts_with(original_headers));
    EXPECT_NE(report.parts[0].body.find(fmt::format("Your message is attached below, cut after "
                                                    "its first {} bytes.",
                                                    returned_bytes_default)),
              std::string::npos)
        << report.parts[0].body;
    EXPECT_LT(message.size(), returned_bytes_default + 4096);
}

TEST(Dsn, ExactReplyAtTheBottomAndInDiagnosticCode) {
    smtp::Envelope envelope = base_envelope();
    Report report = parse_report(build_dsn(base_request(envelope)));
    ASSERT_EQ(report.parts.size(), 3u);
    const std::string& part1 = report.parts[0].body;
    // Administrators read the bottom: the paragraph is the last thing in part 1.
    std::string paragraph = bottom_paragraph(part1, "joe@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(paragraph, "<joe@partner2.gov.uk.lgolhub.net>: host [127.0.0.1]:10026 said: " +
                             std::string(rejected_reply) + " (in reply to RCPT TO command)");
    EXPECT_TRUE(part1.ends_with("(in reply to RCPT TO command)\r\n")) << part1;
    EXPECT_NE(part1.find("The mail system at hub.lgolhub.net"), std::string::npos);
    test::expect_lines_ok(part1, true);
}

TEST(Dsn, MultiLineReplyIsJoined) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    request.recipients[0].remote_host = "mx.partner2.gov.uk";
    request.recipients[0].remote_reply =
        "550-5.1.1 The email account that you tried to reach does not exist.\r\n"
        "550-5.1.1 Please try double-checking the recipient's email address\r\n"
        "550 5.1.1 for typos or unnecessary spaces.";
    std::string joined =
        "550-5.1.1 The email account that you tried to reach does not exist. "
        "550-5.1.1 Please try double-checking the recipient's email address "
        "550 5.1.1 for typos or unnecessary spaces.";
    Report report = parse_report(build_dsn(request));
    ASSERT_EQ(report.status_groups.size(), 2u);
    EXPECT_EQ(report.status_groups[1].field("Diagnostic-Code"), "smtp; " + joined);
    EXPECT_EQ(report.status_groups[1].field("Remote-MTA"), "dns; mx.partner2.gov.uk");
    test::expect_lines_ok(report.parts[1].body, true);  // Folded within 78.
    EXPECT_EQ(bottom_paragraph(report.parts[0].body, "joe@partner2.gov.uk.lgolhub.net"),
              "<joe@partner2.gov.uk.lgolhub.net>: host mx.partner2.gov.uk[127.0.0.1]:10026 "
              "said: " +
                  joined + " (in reply to RCPT TO command)");

    // Bare LF between lines joins the same way.
    request.recipients[0].remote_reply = "451-4.3.0 one\n451 4.3.0 two\n";
    report = parse_report(build_dsn(request));
    EXPECT_EQ(report.status_groups[1].field("Diagnostic-Code"),
              "smtp; 451-4.3.0 one 451 4.3.0 two");
}

TEST(Dsn, HostileReplyCannotInjectFieldsOrLines) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    request.recipients[0].remote_reply =
        "550 5.7.1 no\rAction: delivered\r\nStatus: 2.0.0\x01\x7f\xff\ttab\0nul"s;
    request.recipients[0].remote_host = "evil\r\nX-Injected: 1";
    request.recipients[0].status = "2.0.0";  // Contradicts "failed".
    std::string message = build_dsn(request);
    Report report = parse_report(message);
    ASSERT_EQ(report.status_groups.size(), 2u);
    const Entity& joe = report.status_groups[1];
    EXPECT_EQ(joe.count("Action"), 1u);
    EXPECT_EQ(joe.count("Status"), 1u);
    EXPECT_EQ(joe.field("Action"), "failed");
    EXPECT_EQ(joe.field("Status"), "5.0.0");
    EXPECT_EQ(joe.field("Diagnostic-Code"),
              "smtp; 550 5.7.1 no Action: delivered Status: 2.0.0??? tab?nul");
    EXPECT_EQ(joe.field("Remote-MTA"), "dns; evil??X-Injected:?1");
    EXPECT_EQ(message.find("\nX-Injected"), std::string::npos);
}

TEST(Dsn, LongReplyFoldsAndIsBounded) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    std::string reply = "550 5.7.1";
    while (reply.size() < 3 * diagnostic_bytes_max) {
        reply += " word";
    }
    request.recipients[0].remote_reply = reply;
    request.recipients[0].hub_text = "ignored when there is a reply";
    Report report = parse_report(build_dsn(request));
    ASSERT_EQ(report.parts.size(), 3u);
    test::expect_lines_ok(report.parts[0].body, true);
    test::expect_lines_ok(report.parts[1].body, true);
    std::optional<std::string> code = report.status_groups[1].field("Diagnostic-Code");
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, "smtp; " + reply.substr(0, diagnostic_bytes_max) + "...");

    // One word longer than any line still keeps every line within 998.
    request.recipients[0].remote_reply = "550 " + std::string(1500, 'w');
    std::string message = build_dsn(request);
    report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
}

TEST(Dsn, HubTextWhenNoServerAnswered) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    RecipientReport& joe = request.recipients[0];
    joe.remote_reply.clear();
    joe.remote_command.clear();
    joe.status = "5.4.1";
    joe.hub_text = "connect to [127.0.0.1]:10026: Connection refused";
    Report report = parse_report(build_dsn(request));
    ASSERT_EQ(report.status_groups.size(), 2u);
    EXPECT_EQ(report.status_groups[1].field("Diagnostic-Code"),
              "X-Hubbox; connect to [127.0.0.1]:10026: Connection refused");
    EXPECT_EQ(bottom_paragraph(report.parts[0].body, "joe@partner2.gov.uk.lgolhub.net"),
              "<joe@partner2.gov.uk.lgolhub.net>: connect to [127.0.0.1]:10026: Connection "
              "refused");

    // Neither reply nor text: no Diagnostic-Code, a plain line in part 1.
    joe.hub_text.clear();
    joe.remote_address.clear();
    report = parse_report(build_dsn(request));
    EXPECT_FALSE(report.status_groups[1].field("Diagnostic-Code").has_value());
    EXPECT_FALSE(report.status_groups[1].field("Remote-MTA").has_value());
    EXPECT_EQ(bottom_paragraph(report.parts[0].body, "joe@partner2.gov.uk.lgolhub.net"),
              "<joe@partner2.gov.uk.lgolhub.net>: failed (status 5.4.1)");
}

TEST(Dsn, DelayReport) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    request.kind = Kind::delay;
    RecipientReport& joe = request.recipients[0];
    joe.action = Action::delayed;
    joe.status = "4.4.1";
    joe.remote_reply.clear();
    joe.remote_command.clear();
    joe.hub_text = "connect to [127.0.0.1]:10026: Connection refused";
    joe.will_retry_until_unix_s = nov_25_2026_2100 + 4 * 86400;
    Report report = parse_report(build_dsn(request));
    EXPECT_EQ(report.top.field("Subject"), "Delayed Mail (still being retried)");
    ASSERT_EQ(report.status_groups.size(), 2u);
    EXPECT_EQ(report.status_groups[1].field("Action"), "delayed");
    EXPECT_EQ(report.status_groups[1].field("Status"), "4.4.1");
    EXPECT_EQ(report.status_groups[1].field("Will-Retry-Until"), "Sun, 29 Nov 2026 21:00:00 +0000");
    std::string part1 = test::unwrap(report.parts[0].body, "");
    EXPECT_NE(part1.find("This is a warning only"), std::string::npos);
    EXPECT_NE(part1.find("until Sun, 29 Nov 2026 21:00:00 +0000"), std::string::npos) << part1;
    EXPECT_EQ(report.parts[2].field("Content-Description"), "Message Headers");
}

TEST(Dsn, SuccessReport) {
    smtp::Envelope envelope = base_envelope();
    envelope.recipients.push_back({"bob@partner2.gov.uk.lgolhub.net", smtp::dsn_notify_success,
                                   "rfc822;bob@partner2.gov.uk.lgolhub.net"});
    DsnRequest request = base_request(envelope);
    request.kind = Kind::success;
    request.recipients.clear();
    RecipientReport joe = recipient_report(envelope.recipients[0], Action::delivered);
    joe.status = "2.0.0";
    joe.remote_address = "[127.0.0.1]:10026";
    joe.remote_reply = "250 2.0.0 Ok: queued as 4Zx1";
    RecipientReport bob = recipient_report(envelope.recipients[1], Action::relayed);
    bob.status = "2.0.0";
    bob.remote_address = "[127.0.0.1]:10026";
    bob.remote_reply = "250 2.0.0 Ok: queued as 4Zx1";
    request.recipients = {joe, bob};
    Report report = parse_report(build_dsn(request));
    EXPECT_EQ(report.top.field("Subject"), "Successful Mail Delivery Report");
    ASSERT_EQ(report.status_groups.size(), 3u);
    EXPECT_EQ(report.status_groups[1].field("Action"), "delivered");
    EXPECT_EQ(report.status_groups[2].field("Action"), "relayed");
    EXPECT_EQ(report.status_groups[2].field("Original-Recipient"),
              "rfc822;bob@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(report.status_groups[2].field("Final-Recipient"),
              "rfc822; bob@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(bottom_paragraph(report.parts[0].body, "bob@partner2.gov.uk.lgolhub.net"),
              "<bob@partner2.gov.uk.lgolhub.net>: relayed via host [127.0.0.1]:10026: 250 2.0.0 "
              "Ok: queued as 4Zx1");
    EXPECT_NE(test::unwrap(report.parts[0].body, "").find("marked \"relayed\""), std::string::npos);
}

TEST(Dsn, BoundaryAvoidsContentThatGuessesIt) {
    smtp::Envelope envelope = base_envelope();
    envelope.dsn_ret = smtp::DsnRet::full;
    DsnRequest request = base_request(envelope);
    std::string first_boundary = parse_report(build_dsn(request)).boundary;
    ASSERT_FALSE(first_boundary.empty());
    // A sender who guesses the pattern puts the first candidates into the message.
    std::string hostile = original_headers;
    std::string stem = first_boundary.substr(0, first_boundary.find('/') + 1);
    for (int n = 0; n < 50; n++) {
        hostile += fmt::format("--{}{}/hub.lgolhub.net\r\n", stem, n);
    }
    hostile += "--" + stem + "\r\n";
    request.original_message = hostile;
    std::string message = build_dsn(request);
    Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.boundary, stem + "50/hub.lgolhub.net");
    EXPECT_EQ(report.parts[2].body, hostile);
}

TEST(Dsn, EightBitOriginalIsLabelled) {
    smtp::Envelope envelope = base_envelope();
    std::string headers =
        "Subject: Gr\xc3\xbc\xc3\x9f"
        "e\r\nFrom: a@b\r\n\r\n";
    DsnRequest request = base_request(envelope);
    request.original_headers = headers;
    std::string message = build_dsn(request);
    EXPECT_TRUE(has_8bit(message));
    Report report = parse_report(message);
    EXPECT_EQ(report.top.field("Content-Transfer-Encoding"), "8bit");
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].field("Content-Transfer-Encoding"), "8bit");
    EXPECT_FALSE(has_8bit(report.parts[0].body));
    EXPECT_FALSE(has_8bit(build_dsn(base_request(envelope))));
}

TEST(Dsn, MessageIdGivenOrBuiltPerRecipients) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    request.message_id = "<given@hub.lgolhub.net>";
    EXPECT_EQ(parse_report(build_dsn(request)).top.field("Message-ID"), "<given@hub.lgolhub.net>");
    request.message_id = {};
    std::optional<std::string> joe_id = parse_report(build_dsn(request)).top.field("Message-ID");
    request.recipients[0].final_recipient = "bob@partner2.gov.uk";
    std::optional<std::string> bob_id = parse_report(build_dsn(request)).top.field("Message-ID");
    EXPECT_NE(joe_id, bob_id);
}

TEST(Dsn, StatusIsChecked) {
    smtp::Envelope envelope = base_envelope();
    struct Case {
        Action action;
        std::string_view given;
        std::string_view expected;
    };
    const Case cases[] = {
        {Action::failed, "5.1.1", "5.1.1"},
        {Action::failed, "4.1.1", "5.1.1"},
        {Action::failed, "", "5.0.0"},
        {Action::failed, "5.1", "5.0.0"},
        {Action::failed, "5.1000.1", "5.0.0"},
        {Action::failed, "x.1.1", "5.0.0"},
        {Action::delayed, "4.4.7", "4.4.7"},
        {Action::delayed, "5.4.7", "4.4.7"},
        {Action::delivered, "2.0.0", "2.0.0"},
        {Action::relayed, "", "2.0.0"},
        {Action::failed, "5.7.1\r\nX: y", "5.0.0"},
    };
    for (const Case& c : cases) {
        DsnRequest request = base_request(envelope);
        request.kind = c.action == Action::failed
                           ? Kind::failure
                           : (c.action == Action::delayed ? Kind::delay : Kind::success);
        request.recipients[0].action = c.action;
        request.recipients[0].status = std::string(c.given);
        Report report = parse_report(build_dsn(request));
        ASSERT_EQ(report.status_groups.size(), 2u);
        EXPECT_EQ(report.status_groups[1].field("Status"), std::string(c.expected)) << c.given;
    }
}

TEST(Dsn, ManyRecipientsEachAtTheBottom) {
    smtp::Envelope envelope = base_envelope();
    DsnRequest request = base_request(envelope);
    for (int i = 0; i < 5; i++) {
        RecipientReport extra = request.recipients[0];
        extra.envelope_recipient = fmt::format("user{}@partner2.gov.uk.lgolhub.net", i);
        extra.final_recipient = fmt::format("user{}@partner2.gov.uk", i);
        extra.remote_reply = fmt::format("550 5.1.1 <user{}@partner2.gov.uk>: unknown", i);
        request.recipients.push_back(extra);
    }
    Report report = parse_report(build_dsn(request));
    ASSERT_EQ(report.status_groups.size(), 7u);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(report.status_groups[static_cast<std::size_t>(i) + 2].field("Final-Recipient"),
                  fmt::format("rfc822; user{}@partner2.gov.uk", i));
        EXPECT_EQ(bottom_paragraph(report.parts[0].body,
                                   fmt::format("user{}@partner2.gov.uk.lgolhub.net", i)),
                  fmt::format("<user{0}@partner2.gov.uk.lgolhub.net>: host [127.0.0.1]:10026 "
                              "said: 550 5.1.1 <user{0}@partner2.gov.uk>: unknown (in reply to "
                              "RCPT TO command)",
                              i));
    }
}

// RFC 3461 4.1 NOTIFY, with the hub's choice for "absent": failure and delay, not success.
TEST(Dsn, NotifyTable) {
    using smtp::dsn_notify_delay;
    using smtp::dsn_notify_failure;
    using smtp::dsn_notify_never;
    using smtp::dsn_notify_success;
    struct Case {
        std::uint8_t notify;
        bool failure;
        bool delay;
        bool success;
    };
    const Case cases[] = {
        {0, true, true, false},
        {dsn_notify_never, false, false, false},
        {dsn_notify_success, false, false, true},
        {dsn_notify_failure, true, false, false},
        {dsn_notify_delay, false, true, false},
        {dsn_notify_success | dsn_notify_failure, true, false, true},
        {dsn_notify_failure | dsn_notify_delay, true, true, false},
        {dsn_notify_success | dsn_notify_failure | dsn_notify_delay, true, true, true},
    };
    for (const Case& c : cases) {
        smtp::Recipient recipient{"joe@partner2.gov.uk.lgolhub.net", c.notify, ""};
        EXPECT_EQ(dsn_wanted(recipient, Kind::failure, false), c.failure) << int{c.notify};
        EXPECT_EQ(dsn_wanted(recipient, Kind::delay, false), c.delay) << int{c.notify};
        EXPECT_EQ(dsn_wanted(recipient, Kind::success, false), c.success) << int{c.notify};
        // The null sender never gets a report, whatever it asked for.
        EXPECT_FALSE(dsn_wanted(recipient, Kind::failure, true));
        EXPECT_FALSE(dsn_wanted(recipient, Kind::delay, true));
        EXPECT_FALSE(dsn_wanted(recipient, Kind::success, true));
    }
}

TEST(Dsn, RecipientReportFromTheEnvelope) {
    smtp::Recipient recipient{"joe@partner2.gov.uk.lgolhub.net", 0, "rfc822;joe@x"};
    RecipientReport report = recipient_report(recipient, Action::delayed);
    EXPECT_EQ(report.original_recipient, "rfc822;joe@x");
    EXPECT_EQ(report.envelope_recipient, "joe@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(report.final_recipient, "joe@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(report.action, Action::delayed);
}

// The golden report: tests/data/dsn/failure.eml, for people to read. Regenerate with
// HUB_UPDATE_GOLDEN=1 and review the diff.
std::string golden_path(std::string_view name) {
    return std::string(HUB_DSN_GOLDEN_DIR) + "/" + std::string(name);
}

void expect_golden(std::string_view name, const std::string& actual) {
    if (std::getenv("HUB_UPDATE_GOLDEN") != nullptr) {
        std::ofstream(golden_path(name), std::ios::binary) << actual;
    }
    std::ifstream in(golden_path(name), std::ios::binary);
    ASSERT_TRUE(in.good()) << golden_path(name);
    std::stringstream expected;
    expected << in.rdbuf();
    EXPECT_EQ(actual, expected.str()) << "regenerate with HUB_UPDATE_GOLDEN=1 and review";
}

TEST(Dsn, GoldenFailure) {
    smtp::Envelope envelope = base_envelope();
    envelope.dsn_envid = "QQ314159";
    envelope.recipients[0].orcpt = "rfc822;joe@partner2.gov.uk.lgolhub.net";
    envelope.recipients.push_back({"ann@partner2.gov.uk.lgolhub.net", 0, ""});
    DsnRequest request = base_request(envelope);
    RecipientReport ann = recipient_report(envelope.recipients[1], Action::failed);
    ann.final_recipient = "ann@partner2.gov.uk";
    ann.status = "5.2.2";
    ann.remote_host = "mx.partner2.gov.uk";
    ann.remote_address = "[127.0.0.1]:10026";
    ann.remote_reply =
        "552-5.2.2 <ann@partner2.gov.uk>: the mailbox is full and cannot take\r\n"
        "552 5.2.2 any more mail until its owner deletes some\r\n";
    ann.remote_command = "end of DATA";
    ann.last_attempt_unix_s = nov_25_2026_2100 - 1;
    request.recipients.push_back(ann);
    expect_golden("failure.eml", build_dsn(request));
}

}  // namespace
}  // namespace hub::dsn
