// text_test.cc -- hubctl's escaping and typo suggestions, as tables of cases.
#include "programs/hubctl/text.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace hub::hubctl {
namespace {

TEST(JsonString, EscapesWhatJsonRequires) {
    struct Case {
        std::string in;
        std::string out;
    };
    const Case cases[] = {
        {"", "\"\""},
        {"alice@partner1.gov.uk", "\"alice@partner1.gov.uk\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"tab\there", "\"tab\\there\""},
        {"cr\rlf\n", "\"cr\\rlf\\n\""},
        {std::string("nul\0x", 5), "\"nul\\u0000x\""},
        {"\x1b[31m", "\"\\u001b[31m\""},
        {"del\x7f", "\"del\\u007f\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},             // Valid UTF-8 is kept.
        {"\xe2\x82\xac", "\"\xe2\x82\xac\""},           // Three bytes.
        {"\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\""},   // Four bytes.
        {"bad\xff", "\"bad\\ufffd\""},                  // Not UTF-8.
        {"\xc3", "\"\\ufffd\""},                        // Cut short.
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},             // Overlong.
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},  // A surrogate.
        {"</script>", "\"</script>\""},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(json_string(c.in), c.out) << c.in;
    }
}

TEST(TsvField, EscapesSeparators) {
    EXPECT_EQ(tsv_field("a\tb\nc\\d", false), "a\\tb\\nc\\\\d");
    EXPECT_EQ(tsv_field("a,b", true), "a\\x2cb");
    EXPECT_EQ(tsv_field("a,b", false), "a,b");
    EXPECT_EQ(tsv_field("\x01", false), "\\x01");
    EXPECT_EQ(printable("a\x1b"
                        "b\x7f"),
              "a?b?");
}

TEST(ClosestWord, SuggestsOnlyLikelyTypos) {
    const std::array<std::string_view, 7> verbs = {"list",  "show",   "hold", "release",
                                                   "retry", "delete", "flush"};
    struct Case {
        std::string_view word;
        std::string_view suggestion;  // Empty: none.
    };
    const Case cases[] = {
        {"hodl", "hold"},       {"holf", "hold"},    {"relase", "release"},
        {"realese", "release"}, {"delet", "delete"}, {"lst", "list"},
        {"shwo", "show"},       {"retyr", "retry"},  {"hold", ""},  // Exact: not a typo.
        {"xyzzy", ""},          {"ab", ""},          {"", ""},
        {"purge", ""},
    };
    for (const Case& c : cases) {
        auto got = closest_word(c.word, verbs);
        EXPECT_EQ(got.value_or(""), c.suggestion) << c.word;
    }
}

}  // namespace
}  // namespace hub::hubctl
