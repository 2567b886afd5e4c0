// text_test.cc -- the sanitisers and the line layout every report and reply relies on.
#include "dsn/text.h"

#include <gtest/gtest.h>

#include <string>

#include "dsn/mime_for_test.h"

namespace hub::dsn::text {
namespace {

using namespace std::string_literals;

TEST(Text, Printable) {
    EXPECT_EQ(printable("plain text", 100), "plain text");
    EXPECT_EQ(printable("folded\r\n value\r\n\tagain", 100), "folded value again");
    EXPECT_EQ(printable("hi\r\nBcc: victim@example", 100), "hi??Bcc: victim@example");
    EXPECT_EQ(printable("a\tb\x01\x7f\xc3\xa9\0z"s, 100), "a b?????z");
    EXPECT_EQ(printable("trailing line end\r\n", 100), "trailing line end");
    EXPECT_EQ(printable("abcdefgh", 4), "abcd...");
    EXPECT_EQ(printable("abcd", 4), "abcd");
    EXPECT_EQ(printable("", 4), "");
}

TEST(Text, AddressAndHostname) {
    EXPECT_EQ(address("joe@partner2.gov.uk"), "joe@partner2.gov.uk");
    EXPECT_EQ(address("a b<c>@d\r\n"), "a?b?c?@d");
    EXPECT_EQ(address(std::string(400, 'a')).size(), 256u + 3);
    EXPECT_EQ(hostname("[127.0.0.1]:10026", 64), "[127.0.0.1]:10026");
    EXPECT_EQ(hostname("evil host\r\n", 64), "evil?host??");
    EXPECT_EQ(hostname("abcdef", 3), "abc");
}

TEST(Text, XtextField) {
    EXPECT_EQ(xtext_field("QQ314159", 100), "QQ314159");
    EXPECT_EQ(xtext_field("a+b=c", 100), "a+b=c");  // All printable: written as is.
    EXPECT_EQ(xtext_field("a b+c", 100), "a+20b+2Bc");
    EXPECT_EQ(xtext_field("\xc3\xa9", 100), "+C3+A9");
    EXPECT_LE(xtext_field(std::string(50, '\x01'), 20).size(), 20u);
}

TEST(Text, MessageId) {
    EXPECT_EQ(message_id("<abc@example>"), "<abc@example>");
    EXPECT_EQ(message_id("  <abc@example> "), "<abc@example>");
    EXPECT_EQ(message_id("abc@example"), "");
    EXPECT_EQ(message_id("<abc>"), "");
    EXPECT_EQ(message_id("<a b@example>"), "");
    EXPECT_EQ(message_id("<a@b>\r\nBcc: x"), "");
    EXPECT_EQ(message_id("<a<b@c>"), "");
    EXPECT_EQ(message_id("<@b>"), "");
    std::string long_id = "<";  // Appended, not "<" + ...: gcc 12 -Wrestrict false positive.
    long_id.append(300, 'a');
    long_id += "@b>";
    EXPECT_EQ(message_id(long_id), "");
}

TEST(Text, FieldFoldsBeforeSpaces) {
    std::string value;
    for (int i = 0; i < 40; i++) {
        value += i == 0 ? "" : " ";
        value += "word";
        value += std::to_string(i);
    }
    std::string out;
    append_field(out, "Diagnostic-Code", value);
    test::expect_lines_ok(out, true);
    test::Entity entity = test::parse_entity(out + "\r\n");
    EXPECT_EQ(entity.field("Diagnostic-Code"), value);  // Unfolding gives it back exactly.

    out.clear();
    append_field(out, "Subject", "short");
    EXPECT_EQ(out, "Subject: short\r\n");

    // A word longer than a line gets a line of its own, and one longer than 998 is split.
    out.clear();
    append_field(out, "X", "a " + std::string(100, 'b') + " c");
    EXPECT_EQ(out, "X: a\r\n " + std::string(100, 'b') + "\r\n c\r\n");
    out.clear();
    append_field(out, "X", std::string(2500, 'b'));
    test::expect_lines_ok(out, false);
}

TEST(Text, WrappedKeepsTextRecoverable) {
    std::string text =
        "<joe@example>: host [127.0.0.1]:10026 said: 550 5.1.1  two  spaces "
        "and a long tail of words that goes on past the seventy-eight column "
        "limit more than once, so that it wraps twice or more";
    std::string out;
    append_wrapped(out, text, "    ");
    test::expect_lines_ok(out, true);
    EXPECT_EQ(test::unwrap(out.substr(0, out.size() - 2), "    "), text);
    out.clear();
    append_wrapped(out, std::string(1200, 'w'), "    ");
    test::expect_lines_ok(out, false);
}

TEST(Text, AppendLines) {
    std::string out;
    EXPECT_TRUE(append_lines(out, "a\r\nb\nc\rd", 100));
    EXPECT_EQ(out, "a\r\nb\r\nc\r\nd\r\n");
    out.clear();
    EXPECT_TRUE(append_lines(out, std::string(2000, 'x') + "\r\n", 5000));
    test::expect_lines_ok(out, false);
    out.clear();
    EXPECT_FALSE(append_lines(out, "line one\r\nline two\r\nline three\r\n", 25));
    EXPECT_EQ(out, "line one\r\nline two\r\n");
    out.clear();
    EXPECT_FALSE(append_lines(out, std::string(50, 'x'), 10));
    EXPECT_EQ(out, std::string(10, 'x') + "\r\n");
}

TEST(Text, HeaderSection) {
    EXPECT_EQ(header_section("A: b\r\nC: d\r\n\r\nbody\r\n"), "A: b\r\nC: d\r\n");
    EXPECT_EQ(header_section("A: b\nC: d\n\nbody\n"), "A: b\nC: d\n");
    EXPECT_EQ(header_section("A: b\r\n"), "A: b\r\n");
    EXPECT_EQ(header_section("\r\nbody"), "");
}

}  // namespace
}  // namespace hub::dsn::text
