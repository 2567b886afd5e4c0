// syntax_test.cc -- the shared validators: domains, user names, endpoints, suggestions.
//
// Method: tables of (input, expected phrase); "" means accepted.

#include "config/syntax.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace hub::config {
namespace {

struct TextCase {
    std::string_view input;
    std::string_view why;  // "" = valid.
};

TEST(Syntax, Domains) {
    const std::string label63(63, 'a');
    const std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63;
    constexpr TextCase cases[] = {
        {"lgolhub.net", ""},
        {"LGOLHUB.Net", ""},
        {"partner1.gov.uk", ""},
        {"x", ""},
        {"a-b.c-d.e1", ""},
        {"xn--bcher-kva.example", ""},
        {"", "it is empty"},
        {".", "it ends with a dot"},
        {"a.", "it ends with a dot"},
        {".a", "it has an empty label"},
        {"a..b", "it has an empty label"},
        {"a_b.net", "'_' is not a letter, digit, hyphen or dot"},
        {"a b.net", "' ' is not a letter, digit, hyphen or dot"},
        {"b\xc3\xbc"
         "cher.de",
         "'\\xc3' is not a letter, digit, hyphen or dot"},
        {"-a.net", "label \"-a\" starts or ends with a hyphen"},
        {"a.net-", "label \"net-\" starts or ends with a hyphen"},
        {"192.0.2.1", "the last label is all digits, like an IP address"},
        {"[192.0.2.1]", "'[' is not a letter, digit, hyphen or dot"},
    };
    for (const TextCase& c : cases) {
        EXPECT_EQ(check_domain(c.input), c.why) << c.input;
    }
    EXPECT_EQ(check_domain(label63 + ".net"), "");
    EXPECT_EQ(check_domain(label63 + "a.net"),
              "label \"aaaaaaaaaaaaaaaa...\" is longer than 63 characters");
    EXPECT_EQ(long_name.size(), 255u);
    EXPECT_EQ(check_domain(long_name.substr(0, 253)), "");
    EXPECT_EQ(check_domain(long_name.substr(0, 254)), "it is longer than 253 characters");
}

TEST(Syntax, UserNames) {
    constexpr TextCase cases[] = {
        {"hubbox", ""},
        {"_hub", ""},
        {"hub-1_x", ""},
        {"", "it is empty"},
        {"Hub", "'H' is not a lower-case letter, digit, '_' or '-'"},
        {"hub box", "' ' is not a lower-case letter, digit, '_' or '-'"},
        {"1hub", "it starts with a digit or '-'"},
        {"-hub", "it starts with a digit or '-'"},
        {"abcdefghijabcdefghijabcdefghijabc", "it is longer than 32 characters"},
    };
    for (const TextCase& c : cases) {
        EXPECT_EQ(check_user_name(c.input), c.why) << c.input;
    }
}

struct EndpointCase {
    std::string_view input;
    std::uint16_t default_port;
    std::string_view why;
    std::string_view host;
    std::uint16_t port;
};

TEST(Syntax, Endpoints) {
    constexpr EndpointCase cases[] = {
        {"127.0.0.1:2525", 0, "", "127.0.0.1", 2525},
        {"0.0.0.0:1", 0, "", "0.0.0.0", 1},
        {"[::1]:465", 0, "", "::1", 465},
        {"[2001:db8::1]:65535", 0, "", "2001:db8::1", 65535},
        {"[::ffff:192.0.2.1]:25", 0, "", "::ffff:192.0.2.1", 25},
        {"192.0.2.1", 25, "", "192.0.2.1", 25},
        {"[2001:db8::1]", 25, "", "2001:db8::1", 25},
        {"192.0.2.1:26", 25, "", "192.0.2.1", 26},
        {"192.0.2.1", 0, "the \":port\" is missing", "", 0},
        {"[::1]", 0, "the \":port\" is missing", "", 0},
        {"192.0.2.1:", 0, "the port is missing", "", 0},
        {":25", 0, "the address is missing", "", 0},
        {"[]:25", 0, "the address is missing", "", 0},
        {"", 0, "the address is missing", "", 0},
        {"192.0.2.1:0", 0, "port 0 is not a number 1..65535", "", 0},
        {"192.0.2.1:65536", 0, "port 65536 is not a number 1..65535", "", 0},
        {"192.0.2.1:123456", 0, "port \"123456\" is not a number 1..65535", "", 0},
        {"192.0.2.1:+25", 0, "port \"+25\" is not a number 1..65535", "", 0},
        {"192.0.2.1: 25", 0, "port \" 25\" is not a number 1..65535", "", 0},
        {"192.0.2.256:25", 0,
         "\"192.0.2.256\" is not a numeric IPv4 address (names are not looked up)", "", 0},
        {"010.0.0.1:25", 0, "\"010.0.0.1\" is not a numeric IPv4 address (names are not looked up)",
         "", 0},
        {"mail.example:25", 0,
         "\"mail.example\" is not a numeric IPv4 address (names are not looked up)", "", 0},
        {"::1:25", 0, "an IPv6 address needs brackets, as in \"[2001:db8::1]:25\"", "", 0},
        {"[::1:25", 0, "the '[' has no closing ']'", "", 0},
        {"[::1]25", 0, "unexpected \"25\" after the address", "", 0},
        {"[fe80::1%eth0]:25", 0, "\"fe80::1%eth0\" is not a numeric IPv6 address", "", 0},
        {"[127.0.0.1]:25", 0, "\"127.0.0.1\" is not a numeric IPv6 address", "", 0},
    };
    for (const EndpointCase& c : cases) {
        Endpoint endpoint;
        EXPECT_EQ(parse_endpoint(c.input, endpoint, c.default_port), c.why) << c.input;
        if (c.why.empty()) {
            EXPECT_EQ(endpoint.host, c.host) << c.input;
            EXPECT_EQ(endpoint.port, c.port) << c.input;
        }
    }
}

TEST(Syntax, EditDistanceAndSuggestions) {
    EXPECT_EQ(edit_distance("", ""), 0u);
    EXPECT_EQ(edit_distance("abc", ""), 3u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(edit_distance("limits.mesage_bytes_max", "limits.message_bytes_max"), 1u);
    EXPECT_EQ(edit_distance(std::string(65, 'a'), "a"), SIZE_MAX);
    constexpr std::string_view words[] = {"hub", "listen", "limits", "tls"};
    EXPECT_EQ(closest_word("limit", words), "limits");
    EXPECT_EQ(closest_word("hb", words), "hub");
    EXPECT_EQ(closest_word("tsl", words), "tls");
    EXPECT_EQ(closest_word("banana", words), "");
    EXPECT_EQ(closest_word("", std::span<const std::string_view>()), "");
}

TEST(Syntax, QuoteForMessage) {
    EXPECT_EQ(quote_for_message("abc"), "\"abc\"");
    EXPECT_EQ(quote_for_message("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(quote_for_message(std::string_view("a\nb\0c", 5)), "\"a\\u000ab\\u0000c\"");
    EXPECT_EQ(quote_for_message(std::string(100, 'x')), "\"" + std::string(80, 'x') + "...\"");
    // A two-byte character straddling the cut is dropped whole, not split.
    std::string text = std::string(79, 'x') + "\xc3\xa9" + "yyy";
    EXPECT_EQ(quote_for_message(text), "\"" + std::string(79, 'x') + "...\"");
}

TEST(Syntax, CaseHelpers) {
    EXPECT_EQ(ascii_lower("AbC.Net-9"), "abc.net-9");
    EXPECT_TRUE(ascii_iequals("Partner1.GOV.uk", "partner1.gov.UK"));
    EXPECT_FALSE(ascii_iequals("partner1", "partner2"));
    EXPECT_FALSE(ascii_iequals("a", "ab"));
}

}  // namespace
}  // namespace hub::config
