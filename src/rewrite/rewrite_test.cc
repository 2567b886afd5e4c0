// rewrite_test.cc -- the display rule on whole messages (RFC 5322 cases in a table), the
// envelope rules, line folding, and header sections left alone.
//
// Partners in these tests: partner1 owns partner1.gov.uk, partner2 owns partner2.gov.uk,
// partner3 owns council.example and its subdomains, partner4 owns the U-label
// bücher.example. The hub domain is lgolhub.net; unless a case says otherwise the copy is
// delivered to partner2.
#include "rewrite/rewrite.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::rewrite {
namespace {

constexpr std::string_view hub = "lgolhub.net";
constexpr std::string_view body = "\r\nFrom: x@partner1.gov.uk\r\nTo: joe@partner2.gov.uk\r\n";

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

class TestPartners final : public PartnerDomains {
public:
    std::string_view partner_of(std::string_view domain) const override {
        std::string name = lowered(domain);
        if (name == "partner1.gov.uk") {
            return "partner1";
        }
        if (name == "partner2.gov.uk") {
            return "partner2";
        }
        if (name == "council.example" || name.ends_with(".council.example")) {
            return "partner3";
        }
        if (name == "bücher.example") {
            return "partner4";
        }
        return {};
    }
};

const TestPartners partners;

RewriteContext context(std::string_view recipient_partner) {
    return RewriteContext{hub, &partners, recipient_partner};
}

// ---------------------------------------------------------------------------------------
// Envelope.

TEST(Envelope, RecipientLosesHubSuffix) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(envelope_recipient("joe@partner2.gov.uk.lgolhub.net", ctx), "joe@partner2.gov.uk");
    EXPECT_EQ(envelope_recipient("joe@partner2.gov.uk.LGOLHUB.Net", ctx), "joe@partner2.gov.uk");
    EXPECT_EQ(envelope_recipient("\"a@b\"@partner2.gov.uk.lgolhub.net", ctx),
              "\"a@b\"@partner2.gov.uk");
}

TEST(Envelope, RecipientWithoutSuffixUnchanged) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(envelope_recipient("joe@partner2.gov.uk", ctx), "joe@partner2.gov.uk");
    EXPECT_EQ(envelope_recipient("postmaster@lgolhub.net", ctx), "postmaster@lgolhub.net");
    EXPECT_EQ(envelope_recipient("joe@xlgolhub.net", ctx), "joe@xlgolhub.net");
    EXPECT_EQ(envelope_recipient("postmaster", ctx), "postmaster");
    EXPECT_EQ(envelope_recipient("", ctx), "");
}

TEST(Envelope, SenderAtPartnerGainsSuffix) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(envelope_sender("alice@partner1.gov.uk", ctx), "alice@partner1.gov.uk.lgolhub.net");
    EXPECT_EQ(envelope_sender("Alice@Partner1.GOV.uk", ctx), "Alice@Partner1.GOV.uk.lgolhub.net");
    EXPECT_EQ(envelope_sender("a@mail.council.example", ctx), "a@mail.council.example.lgolhub.net");
    EXPECT_EQ(envelope_sender("alice@partner1.gov.uk", context("")),
              "alice@partner1.gov.uk.lgolhub.net");
}

TEST(Envelope, MixedCaseKeepsEveryByteButTheSuffix) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(envelope_recipient("JOE@PARTNER2.GOV.UK.LGOLHUB.NET", ctx), "JOE@PARTNER2.GOV.UK");
    EXPECT_EQ(envelope_recipient("Joe.Bloggs@Partner2.gov.UK.LgolHub.net", ctx),
              "Joe.Bloggs@Partner2.gov.UK");
    EXPECT_EQ(envelope_sender("ALICE@PARTNER1.GOV.UK", ctx), "ALICE@PARTNER1.GOV.UK.lgolhub.net");
    EXPECT_EQ(envelope_sender("Alice@Partner1.GOV.UK", context("partner1")),
              "Alice@Partner1.GOV.UK");
    EXPECT_EQ(envelope_sender("Alice@Partner1.GOV.UK.LGOLHUB.NET", ctx),
              "Alice@Partner1.GOV.UK.LGOLHUB.NET");  // Already hub form: left as it is.
    EXPECT_EQ(display_domain("PARTNER2.GOV.UK.LGOLHUB.NET", ctx), "PARTNER2.GOV.UK");
    EXPECT_EQ(display_domain("Partner1.Gov.Uk", ctx), "Partner1.Gov.Uk.lgolhub.net");
    EXPECT_EQ(display_domain("PARTNER1.GOV.UK.LGOLHUB.NET", ctx), "PARTNER1.GOV.UK.LGOLHUB.NET");
}

TEST(Envelope, SenderUnchanged) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(envelope_sender("", ctx), "");  // The null sender stays null.
    EXPECT_EQ(envelope_sender("alice@partner1.gov.uk", context("partner1")),
              "alice@partner1.gov.uk");  // Same partner: shown bare.
    EXPECT_EQ(envelope_sender("alice@partner1.gov.uk.lgolhub.net", ctx),
              "alice@partner1.gov.uk.lgolhub.net");
    EXPECT_EQ(envelope_sender("x@example.com", ctx), "x@example.com");
    EXPECT_EQ(envelope_sender("MAILER-DAEMON", ctx), "MAILER-DAEMON");
    EXPECT_EQ(envelope_sender("x@", ctx), "x@");
}

TEST(DisplayDomain, Rule) {
    RewriteContext ctx = context("partner2");
    EXPECT_EQ(display_domain("partner1.gov.uk", ctx), "partner1.gov.uk.lgolhub.net");
    EXPECT_EQ(display_domain("partner1.gov.uk.lgolhub.net", ctx), "partner1.gov.uk.lgolhub.net");
    EXPECT_EQ(display_domain("partner2.gov.uk", ctx), "partner2.gov.uk");
    EXPECT_EQ(display_domain("partner2.gov.uk.lgolhub.net", ctx), "partner2.gov.uk");
    EXPECT_EQ(display_domain("example.com", ctx), "example.com");
    EXPECT_EQ(display_domain("example.com.lgolhub.net", ctx), "example.com.lgolhub.net");
    EXPECT_EQ(display_domain("lgolhub.net", ctx), "lgolhub.net");
    EXPECT_EQ(display_domain("", ctx), "");
    EXPECT_EQ(display_domain(std::string(300, 'a'), ctx), std::string(300, 'a'));
}

// ---------------------------------------------------------------------------------------
// Header fields, one table. `in` and `out` are header sections (each line with CRLF);
// the test adds an empty line and a body that must come through untouched.

constexpr const char* same = nullptr;  // `out` for a case whose output equals its input.

struct Case {
    const char* name;
    const char* in;
    const char* out;  // Or `same`.
    unsigned fields = 0;
    unsigned addresses = 0;
    unsigned unparseable = 0;
    const char* recipient = "partner2";
};

const Case cases[] = {
    // Plain addresses and the rule in both directions.
    {"plain", "From: alice@partner1.gov.uk\r\n", "From: alice@partner1.gov.uk.lgolhub.net\r\n", 1,
     1},
    {"recipient_partner_bare", "To: joe@partner2.gov.uk.lgolhub.net\r\n",
     "To: joe@partner2.gov.uk\r\n", 1, 1},
    {"recipient_partner_stays_bare", "To: joe@partner2.gov.uk\r\n", same},
    {"other_partner_hub_form_stays", "Cc: bob@partner1.gov.uk.lgolhub.net\r\n", same},
    {"reply_direction",
     "From: joe@partner2.gov.uk\r\nTo: alice@partner1.gov.uk.lgolhub.net\r\n"
     "Cc: joe@partner2.gov.uk.lgolhub.net\r\n",
     "From: joe@partner2.gov.uk.lgolhub.net\r\nTo: alice@partner1.gov.uk\r\n"
     "Cc: joe@partner2.gov.uk.lgolhub.net\r\n",
     2, 2, 0, "partner1"},
    {"no_recipient_partner", "To: joe@partner2.gov.uk.lgolhub.net, alice@partner1.gov.uk\r\n",
     "To: joe@partner2.gov.uk.lgolhub.net, alice@partner1.gov.uk.lgolhub.net\r\n", 1, 1, 0, ""},
    {"non_partner_untouched", "From: x@example.com\r\nTo: y@gov.uk\r\n", same},
    {"hub_domain_itself", "From: postmaster@lgolhub.net\r\n", same},
    {"non_partner_with_hub_suffix", "To: a@example.com.lgolhub.net\r\n", same},
    {"partner_subdomain", "Cc: a@mail.council.example\r\n",
     "Cc: a@mail.council.example.lgolhub.net\r\n", 1, 1},
    {"mixed_case_domain", "From: Alice <alice@Partner1.GOV.uk>\r\n",
     "From: Alice <alice@Partner1.GOV.uk.lgolhub.net>\r\n", 1, 1},
    {"mixed_case_hub_form", "To: joe@PARTNER2.gov.uk.LGOLHUB.NET\r\n",
     "To: joe@PARTNER2.gov.uk\r\n", 1, 1},
    // Domains match in any ASCII case; only the suffix changes, every other byte (local
    // part, the partner's domain, display names) keeps the case it came in.
    {"mixed_case_hub_form_shouting", "To: JOE@PARTNER2.GOV.UK.LGOLHUB.NET\r\n",
     "To: JOE@PARTNER2.GOV.UK\r\n", 1, 1},
    {"mixed_case_several_fields",
     "From: \"ALICE Smith\" <Alice@Partner1.GOV.UK>\r\n"
     "Reply-To: ALICE@PARTNER1.GOV.UK\r\n"
     "To: Joe <JOE@Partner2.Gov.Uk.LgolHub.NET>, Ann@partner2.GOV.uk\r\n"
     "Cc: Bob@Example.COM, Carol@Mail.COUNCIL.Example\r\n",
     "From: \"ALICE Smith\" <Alice@Partner1.GOV.UK.lgolhub.net>\r\n"
     "Reply-To: ALICE@PARTNER1.GOV.UK.lgolhub.net\r\n"
     "To: Joe <JOE@Partner2.Gov.Uk>, Ann@partner2.GOV.uk\r\n"
     "Cc: Bob@Example.COM, Carol@Mail.COUNCIL.Example.lgolhub.net\r\n",
     4, 4},
    {"mixed_case_reply_direction",
     "From: JOE@PARTNER2.GOV.UK\r\nTo: Alice@PARTNER1.gov.uk.LGOLHUB.net\r\n",
     "From: JOE@PARTNER2.GOV.UK.lgolhub.net\r\nTo: Alice@PARTNER1.gov.uk\r\n", 2, 2, 0, "partner1"},
    {"mixed_case_other_partner_hub_form_stays", "Cc: BOB@PARTNER1.GOV.UK.LGOLHUB.NET\r\n", same},
    {"mixed_case_field_names", "FROM: Alice@Partner1.Gov.Uk\r\nrEsEnT-tO: x@PARTNER1.gov.uk\r\n",
     "FROM: Alice@Partner1.Gov.Uk.lgolhub.net\r\nrEsEnT-tO: x@PARTNER1.gov.uk.lgolhub.net\r\n", 2,
     2},
    {"two_mailboxes_one_partner", "From: a@example.org, b@partner1.gov.uk\r\n",
     "From: a@example.org, b@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    {"sender_single_mailbox", "Sender: list-owner@partner1.gov.uk\r\n",
     "Sender: list-owner@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    // Display names, quoted strings.
    {"display_name_atoms", "From: Alice Q. Smith <alice@partner1.gov.uk>\r\n",
     "From: Alice Q. Smith <alice@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"angle_without_name", "To: <joe@partner2.gov.uk.lgolhub.net>\r\n",
     "To: <joe@partner2.gov.uk>\r\n", 1, 1},
    {"quoted_name_with_comma",
     "To: \"Smith, Alice\" <alice@partner1.gov.uk>, \"Doe, J\" <j@example.com>\r\n",
     "To: \"Smith, Alice\" <alice@partner1.gov.uk.lgolhub.net>, \"Doe, J\" <j@example.com>\r\n", 1,
     1},
    {"quoted_name_escaped_quotes", "From: \"Alice \\\"Al\\\" Smith\" <alice@partner1.gov.uk>\r\n",
     "From: \"Alice \\\"Al\\\" Smith\" <alice@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"quoted_name_holding_address",
     "From: \"alice@partner1.gov.uk <x>\" <alice@partner1.gov.uk>\r\n",
     "From: \"alice@partner1.gov.uk <x>\" <alice@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"quoted_local_part", "To: \"a b@c\"@partner1.gov.uk\r\n",
     "To: \"a b@c\"@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    {"obs_local_part_dots", "To: a..b.@partner1.gov.uk\r\n",
     "To: a..b.@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    {"quoted_name_folded", "From: \"Alice\r\n Smith\" <alice@partner1.gov.uk>\r\n",
     "From: \"Alice\r\n Smith\" <alice@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    // Comments in every position.
    {"comment_after", "From: alice@partner1.gov.uk (Alice)\r\n",
     "From: alice@partner1.gov.uk.lgolhub.net (Alice)\r\n", 1, 1},
    {"comment_before", "From: (Alice) alice@partner1.gov.uk\r\n",
     "From: (Alice) alice@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    {"comments_around_at", "From: alice(c)@(d)partner1.gov.uk(e)\r\n",
     "From: alice(c)@(d)partner1.gov.uk.lgolhub.net(e)\r\n", 1, 1},
    {"comment_inside_angle", "From: Alice <(x)alice@partner1.gov.uk(y)>\r\n",
     "From: Alice <(x)alice@partner1.gov.uk.lgolhub.net(y)>\r\n", 1, 1},
    {"comment_nested_with_at_and_angle",
     "From: alice@partner1.gov.uk (Alice (home <a@partner1.gov.uk>) x@partner1.gov.uk)\r\n",
     "From: alice@partner1.gov.uk.lgolhub.net (Alice (home <a@partner1.gov.uk>) "
     "x@partner1.gov.uk)\r\n",
     1, 1},
    {"comment_escaped_paren", "From: alice@partner1.gov.uk (a \\) b \\( c)\r\n",
     "From: alice@partner1.gov.uk.lgolhub.net (a \\) b \\( c)\r\n", 1, 1},
    {"comment_folded", "From: alice@partner1.gov.uk (Alice\r\n Smith)\r\n",
     "From: alice@partner1.gov.uk.lgolhub.net (Alice\r\n Smith)\r\n", 1, 1},
    {"comment_in_display_name", "From: Alice (the boss) Smith <alice@partner1.gov.uk>\r\n",
     "From: Alice (the boss) Smith <alice@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    // Groups.
    {"group_empty", "To: undisclosed-recipients:;\r\n", same},
    {"group_members", "To: team: a@partner1.gov.uk, b@example.com;\r\n",
     "To: team: a@partner1.gov.uk.lgolhub.net, b@example.com;\r\n", 1, 1},
    {"groups_several",
     "To: one: a@partner1.gov.uk;, two: b@partner2.gov.uk.lgolhub.net, c@partner1.gov.uk;\r\n",
     "To: one: a@partner1.gov.uk.lgolhub.net;, two: b@partner2.gov.uk, "
     "c@partner1.gov.uk.lgolhub.net;\r\n",
     1, 3},
    {"group_and_mailboxes", "Cc: x@partner1.gov.uk, list:;, \"Y\" <y@example.org>\r\n",
     "Cc: x@partner1.gov.uk.lgolhub.net, list:;, \"Y\" <y@example.org>\r\n", 1, 1},
    {"group_quoted_name", "To: \"Team, all\": <a@partner1.gov.uk> (lead);\r\n",
     "To: \"Team, all\": <a@partner1.gov.uk.lgolhub.net> (lead);\r\n", 1, 1},
    {"group_nested_unparseable", "To: a: b: c@partner1.gov.uk;;\r\n", same, 0, 0, 1},
    {"group_unclosed_unparseable", "To: team: a@partner1.gov.uk\r\n", same, 0, 0, 1},
    // Folding.
    {"folded_list", "To: a@partner1.gov.uk,\r\n b@partner1.gov.uk,\r\n\tc@example.com\r\n",
     "To: a@partner1.gov.uk.lgolhub.net,\r\n b@partner1.gov.uk.lgolhub.net,\r\n"
     "\tc@example.com\r\n",
     1, 2},
    {"folded_after_colon", "Reply-To:\r\n alice@partner1.gov.uk\r\n",
     "Reply-To:\r\n alice@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    // Encoded words and UTF-8.
    {"encoded_word_name", "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@partner1.gov.uk>\r\n",
     "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"encoded_word_base64", "From: =?ISO-8859-1?B?SvZyZw==?= <j@partner1.gov.uk>\r\n",
     "From: =?ISO-8859-1?B?SvZyZw==?= <j@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"utf8_local_part", "From: Jörg <jörg@partner1.gov.uk>\r\n",
     "From: Jörg <jörg@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"utf8_idn_non_partner", "To: 山田 太郎 <yamada@例え.jp>, \"Zoë\" <zoe@münchen.example>\r\n",
     same},
    {"utf8_idn_partner", "To: a@bücher.example\r\n", "To: a@bücher.example.lgolhub.net\r\n", 1, 1},
    {"a_label_non_partner", "To: a@xn--bcher-kva.example\r\n", same},
    // Obsolete and unusual forms.
    {"domain_literal", "To: a@[192.0.2.1], b@[IPv6:2001:db8::1]\r\n", same},
    {"obs_route", "To: <@relay.partner1.gov.uk,@x.example:a@partner1.gov.uk>\r\n",
     "To: <@relay.partner1.gov.uk,@x.example:a@partner1.gov.uk.lgolhub.net>\r\n", 1, 1},
    {"obs_empty_list_elements", "To: , a@partner1.gov.uk,, b@example.com ,\r\n",
     "To: , a@partner1.gov.uk.lgolhub.net,, b@example.com ,\r\n", 1, 1},
    {"obs_whitespace_before_colon", "To : a@partner1.gov.uk\r\n",
     "To : a@partner1.gov.uk.lgolhub.net\r\n", 1, 1},
    {"obs_domain_cfws_partner", "To: a@partner1 . gov.uk\r\n", same, 0, 0, 1},
    {"obs_domain_cfws_other", "To: a@example (x) . com\r\n", same},
    {"empty_bcc", "Bcc:\r\nCc: \r\n", same},
    // Malformed fields: left exactly as they were and counted.
    {"missing_close_angle", "From: Alice <alice@partner1.gov.uk\r\n", same, 0, 0, 1},
    {"missing_open_angle", "From: Alice alice@partner1.gov.uk>\r\n", same, 0, 0, 1},
    {"unterminated_quote", "From: \"Alice <alice@partner1.gov.uk>\r\n", same, 0, 0, 1},
    {"unterminated_comment", "From: alice@partner1.gov.uk (Alice\r\n", same, 0, 0, 1},
    {"comment_too_deep",
     "From: a@partner1.gov.uk ((((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))"
     "))))\r\n",
     same, 0, 0, 1},
    {"bare_local_part", "From: alice\r\n", same, 0, 0, 1},
    {"trailing_dot_domain", "From: alice@partner1.gov.uk.\r\n", same, 0, 0, 1},
    {"display_name_without_angle", "From: Alice Smith alice@partner1.gov.uk\r\n", same, 0, 0, 1},
    {"unparseable_does_not_stop_others",
     "From: Alice <alice@partner1.gov.uk\r\nTo: joe@partner2.gov.uk.lgolhub.net\r\n",
     "From: Alice <alice@partner1.gov.uk\r\nTo: joe@partner2.gov.uk\r\n", 1, 1, 1},
    // Field names.
    {"names_case_insensitive",
     "fROM: a@partner1.gov.uk\r\nREPLY-TO: b@partner1.gov.uk\r\ncc: c@partner1.gov.uk\r\n",
     "fROM: a@partner1.gov.uk.lgolhub.net\r\nREPLY-TO: b@partner1.gov.uk.lgolhub.net\r\n"
     "cc: c@partner1.gov.uk.lgolhub.net\r\n",
     3, 3},
    {"resent_fields",
     "Resent-From: a@partner1.gov.uk\r\nResent-Sender: b@partner1.gov.uk\r\n"
     "Resent-To: c@partner1.gov.uk\r\nResent-Cc: d@partner1.gov.uk\r\n"
     "Resent-Bcc: e@partner1.gov.uk\r\nBcc: f@partner1.gov.uk\r\n",
     "Resent-From: a@partner1.gov.uk.lgolhub.net\r\nResent-Sender: "
     "b@partner1.gov.uk.lgolhub.net\r\n"
     "Resent-To: c@partner1.gov.uk.lgolhub.net\r\nResent-Cc: d@partner1.gov.uk.lgolhub.net\r\n"
     "Resent-Bcc: e@partner1.gov.uk.lgolhub.net\r\nBcc: f@partner1.gov.uk.lgolhub.net\r\n",
     6, 6},
    {"non_address_fields_untouched",
     "Subject: mail alice@partner1.gov.uk about <b@partner1.gov.uk>\r\n"
     "Message-ID: <123@partner1.gov.uk>\r\nReturn-Path: <a@partner1.gov.uk>\r\n"
     "Received: from x by y for <a@partner1.gov.uk>;\r\n Mon, 1 Jan 2024 00:00:00 +0000\r\n"
     "X-To: a@partner1.gov.uk\r\nFrom-Address: a@partner1.gov.uk\r\n",
     same},
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
    return info.param.name;
}

class HeaderCase : public testing::TestWithParam<Case> {};

TEST_P(HeaderCase, Rewrites) {
    const Case& c = GetParam();
    std::string message = std::string(c.in) + std::string(body);
    std::string expected = std::string(c.out == same ? c.in : c.out) + std::string(body);
    HeaderStats stats;
    EXPECT_EQ(rewrite_message(message, context(c.recipient), stats), expected);
    // What the engine sends: the rewritten header block, then the rest where it lies.
    HeaderStats header_stats;
    RewrittenHeader rewritten = rewrite_header(message, context(c.recipient), header_stats);
    EXPECT_EQ(rewritten.body_offset, std::string_view(c.in).size());
    EXPECT_EQ(rewritten.header + message.substr(rewritten.body_offset), expected);
    EXPECT_EQ(header_stats.fields_rewritten, c.fields);
    EXPECT_EQ(stats.fields_rewritten, c.fields);
    EXPECT_EQ(stats.addresses_rewritten, c.addresses);
    EXPECT_EQ(stats.fields_unparseable, c.unparseable);
    EXPECT_EQ(stats.sections_unparseable, 0u);
    EXPECT_EQ(stats.lines_folded, 0u);
}

INSTANTIATE_TEST_SUITE_P(Rfc5322, HeaderCase, testing::ValuesIn(cases), case_name);

TEST(HeaderCases, AtLeastFortyFive) {
    EXPECT_GE(std::size(cases), 45u);
}

// ---------------------------------------------------------------------------------------
// Whole messages and header sections.

std::string rewrite(std::string_view message, HeaderStats& stats) {
    return rewrite_message(message, context("partner2"), stats);
}

TEST(Message, BodyUntouched) {
    std::string message =
        "Subject: hi\r\n\r\nFrom: x@partner1.gov.uk\r\nTo: joe@partner2.gov.uk.lgolhub.net\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(message, stats), message);
    EXPECT_EQ(stats.fields_rewritten, 0u);
}

// A section that cannot be trusted is left alone: nothing held, the whole text goes as is.
TEST(Message, UnparseableSectionHoldsNoHeader) {
    std::string message = "From: a@partner1.gov.uk\nTo: b@partner1.gov.uk\n\nbody\n";
    HeaderStats stats;
    RewrittenHeader rewritten = rewrite_header(message, context("partner2"), stats);
    EXPECT_TRUE(rewritten.header.empty());
    EXPECT_EQ(rewritten.body_offset, 0u);
    EXPECT_EQ(stats.sections_unparseable, 1u);
}

TEST(Message, HeaderOnlyMessage) {
    HeaderStats stats;
    EXPECT_EQ(rewrite("From: a@partner1.gov.uk\r\n", stats),
              "From: a@partner1.gov.uk.lgolhub.net\r\n");
    EXPECT_EQ(stats.fields_rewritten, 1u);
}

TEST(Message, EmptyAndBodyOnly) {
    HeaderStats stats;
    EXPECT_EQ(rewrite("", stats), "");
    EXPECT_EQ(rewrite("\r\nFrom: a@partner1.gov.uk\r\n", stats), "\r\nFrom: a@partner1.gov.uk\r\n");
    EXPECT_EQ(stats.fields_rewritten, 0u);
    EXPECT_EQ(stats.sections_unparseable, 0u);
}

TEST(Message, MalformedSectionsLeftAlone) {
    const char* messages[] = {
        "From: a@partner1.gov.uk\nTo: b@partner1.gov.uk\n\nbody\n",          // LF only.
        "From: a@partner1.gov.uk\r\nTo: b@partner1.gov.uk\n\r\nbody\r\n",    // One bare LF.
        "From: a@partner1.gov.uk\rX: y\r\n\r\n",                             // A bare CR.
        "From: a@partner1.gov.uk\r\nnot a field\r\n\r\nbody\r\n",            // No colon.
        " From: a@partner1.gov.uk\r\n\r\n",                                  // Starts folded.
        "From a@partner1.gov.uk Mon Jan  1 00:00:00 2024\r\nTo: b\r\n\r\n",  // mbox line.
        ": a@partner1.gov.uk\r\n\r\n",                                       // Empty name.
        "From: a@partner1.gov.uk",                                           // No final CRLF.
    };
    for (const char* message : messages) {
        HeaderStats stats;
        EXPECT_EQ(rewrite(message, stats), message);
        EXPECT_EQ(stats.sections_unparseable, 1u) << message;
        EXPECT_EQ(stats.fields_rewritten, 0u);
    }
}

TEST(Message, SectionTooBigLeftAlone) {
    std::string message = "From: a@partner1.gov.uk\r\n";
    std::string filler = "X-Filler: " + std::string(900, 'x') + "\r\n";
    while (message.size() <= 1024 * 1024) {
        message += filler;
    }
    message += "\r\nbody\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(message, stats), message);
    EXPECT_EQ(stats.sections_unparseable, 1u);
}

TEST(Message, StatsAccumulate) {
    HeaderStats stats;
    (void)rewrite("From: a@partner1.gov.uk\r\n\r\n", stats);
    (void)rewrite("From: a@partner1.gov.uk, b@partner1.gov.uk\r\n\r\n", stats);
    EXPECT_EQ(stats.fields_rewritten, 2u);
    EXPECT_EQ(stats.addresses_rewritten, 3u);
}

TEST(Message, RewriteIsIdempotent) {
    std::string message =
        "From: Alice <alice@partner1.gov.uk>\r\nTo: joe@partner2.gov.uk.lgolhub.net,\r\n"
        " team: b@partner1.gov.uk;\r\n\r\nbody\r\n";
    HeaderStats stats;
    std::string once = rewrite(message, stats);
    EXPECT_NE(once, message);
    EXPECT_EQ(rewrite(once, stats), once);
}

// ---------------------------------------------------------------------------------------
// Line lengths (RFC 5322 2.1.1).

std::vector<std::string> header_lines(std::string_view message) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (true) {
        std::size_t end = message.find("\r\n", start);
        if (end == std::string_view::npos || end == start) {
            return lines;
        }
        lines.emplace_back(message.substr(start, end - start));
        start = end + 2;
    }
}

// Removes the CRLFs of folds (CRLF followed by WSP).
std::string unfold(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\r' && i + 2 < text.size() && text[i + 1] == '\n' &&
            (text[i + 2] == ' ' || text[i + 2] == '\t')) {
            i++;
            continue;
        }
        out.push_back(text[i]);
    }
    return out;
}

std::string address_list(int count, std::string_view domain, std::string_view separator) {
    std::string out;
    for (int i = 0; i < count; i++) {
        if (i > 0) {
            out += separator;
        }
        out += "user" + std::to_string(100 + i) + "@" + std::string(domain);
    }
    return out;
}

TEST(Folding, TwentyAddressesOnFoldedLines) {
    std::string in = "To: " + address_list(20, "partner1.gov.uk", ",\r\n  ") + "\r\n\r\nbody\r\n";
    std::string out =
        "To: " + address_list(20, "partner1.gov.uk.lgolhub.net", ",\r\n  ") + "\r\n\r\nbody\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(in, stats), out);
    EXPECT_EQ(stats.addresses_rewritten, 20u);
    EXPECT_EQ(stats.lines_folded, 0u);
}

TEST(Folding, LongLineFoldedBetweenAddresses) {
    // 35 addresses of 23 bytes on one 877-byte line, which grows by 12 bytes an address.
    std::string in = "To: " + address_list(35, "partner1.gov.uk", ", ") + "\r\n\r\nbody\r\n";
    HeaderStats stats;
    std::string out = rewrite(in, stats);
    EXPECT_EQ(stats.fields_rewritten, 1u);
    EXPECT_EQ(stats.addresses_rewritten, 35u);
    EXPECT_EQ(stats.fields_unparseable, 0u);
    EXPECT_EQ(stats.lines_folded, 1u);
    std::vector<std::string> lines = header_lines(out);
    ASSERT_EQ(lines.size(), 2u);
    for (const std::string& line : lines) {
        EXPECT_LE(line.size(), 998u);
        EXPECT_FALSE(line.ends_with(" "));
    }
    EXPECT_TRUE(lines[0].ends_with(","));
    EXPECT_TRUE(lines[1].starts_with(" user"));
    EXPECT_EQ(unfold(out),
              "To: " + address_list(35, "partner1.gov.uk.lgolhub.net", ", ") + "\r\n\r\nbody\r\n");
}

TEST(Folding, NoPlaceToFoldLeavesFieldUnchanged) {
    // No whitespace between the addresses: nowhere to fold once the line passes 998.
    std::string in = "To: " + address_list(40, "partner1.gov.uk", ",") + "\r\n\r\nbody\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(in, stats), in);
    EXPECT_EQ(stats.fields_unparseable, 1u);
    EXPECT_EQ(stats.fields_rewritten, 0u);
    EXPECT_EQ(stats.lines_folded, 0u);
}

TEST(Folding, LongDisplayNameCannotFold) {
    std::string in = "From: \"" + std::string(980, 'n') + "\" <a@partner1.gov.uk>\r\n\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(in, stats), in);
    EXPECT_EQ(stats.fields_unparseable, 1u);
}

TEST(Folding, ShortEnoughLineNotFolded) {
    // 986 bytes grow to exactly 998: no fold.
    std::string local(986 - std::string("To: @partner1.gov.uk").size(), 'a');
    std::string in = "To: " + local + "@partner1.gov.uk\r\n\r\n";
    ASSERT_EQ(in.find("\r\n"), 986u);
    HeaderStats stats;
    std::string out = rewrite(in, stats);
    EXPECT_EQ(out.find("\r\n"), 998u);
    EXPECT_EQ(stats.lines_folded, 0u);
    EXPECT_EQ(stats.fields_rewritten, 1u);
}

TEST(Folding, TooManyAddressesLeftAlone) {
    std::string in = "To: " + address_list(4097, "partner1.gov.uk", ",\r\n ") + "\r\n\r\n";
    HeaderStats stats;
    EXPECT_EQ(rewrite(in, stats), in);
    EXPECT_EQ(stats.fields_unparseable, 1u);
}

}  // namespace
}  // namespace hub::rewrite
