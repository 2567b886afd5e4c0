// address_list_test.cc -- the RFC 5322 3.4 parser on its own: which byte ranges it calls
// domains, where it allows folds, and which inputs it refuses (and why).
#include "rewrite/address_list.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "rewrite/limits.h"

namespace hub::rewrite {
namespace {

// The domains the parser found, as text.
std::vector<std::string> domains_of(std::string_view body) {
    AddressList list;
    Result<std::size_t, ParseError> result = parse_address_list(body, list);
    EXPECT_TRUE(result.has_value()) << body << ": " << parse_error_name(result.error());
    std::vector<std::string> out;
    for (const DomainSpan& span : list.domains) {
        out.emplace_back(body.substr(span.offset, span.bytes));
    }
    return out;
}

ParseError error_of(std::string_view body) {
    AddressList list;
    Result<std::size_t, ParseError> result = parse_address_list(body, list);
    EXPECT_FALSE(result.has_value()) << body;
    return result.has_value() ? ParseError::unexpected_token : result.error();
}

using Domains = std::vector<std::string>;

TEST(AddressList, Domains) {
    EXPECT_EQ(domains_of(" a@b.c"), Domains{"b.c"});
    EXPECT_EQ(domains_of(" A <a@b.c>, \"x,y\" <d@e>"), (Domains{"b.c", "e"}));
    EXPECT_EQ(domains_of(" g: a@x, b@y;, c@z"), (Domains{"x", "y", "z"}));
    EXPECT_EQ(domains_of(" <@r1,@r2:a@x>"), Domains{"x"});  // Route domains are not listed.
    EXPECT_EQ(domains_of(" a(c)@(d)x.y(e)"), Domains{"x.y"});
    EXPECT_EQ(domains_of(" a@[1.2.3.4]"), Domains{"[1.2.3.4]"});
    EXPECT_EQ(domains_of(" \"q@r\"@s"), Domains{"s"});
    EXPECT_EQ(domains_of(""), Domains{});
    EXPECT_EQ(domains_of(" (only a comment)\r\n "), Domains{});
    EXPECT_EQ(domains_of(" undisclosed-recipients:;"), Domains{});
}

TEST(AddressList, SpanFlags) {
    AddressList list;
    ASSERT_TRUE(parse_address_list(" a@[1.2.3.4], b@x (c) . y, c@z.w", list).has_value());
    ASSERT_EQ(list.domains.size(), 3u);
    EXPECT_TRUE(list.domains[0].literal);
    EXPECT_FALSE(list.domains[1].literal);
    EXPECT_TRUE(list.domains[1].has_cfws);
    EXPECT_FALSE(list.domains[2].has_cfws);

    std::array<char, domain_bytes_max> value{};
    std::size_t bytes = 0;
    ASSERT_TRUE(strip_domain_cfws("x (c) . y", value, bytes));
    EXPECT_EQ(std::string_view(value.data(), bytes), "x.y");
    std::array<char, 2> small{};
    EXPECT_FALSE(strip_domain_cfws("x.y", small, bytes));
}

TEST(AddressList, FoldPoints) {
    AddressList list;
    std::string_view body = " a@x,  b@y,c@z,\r\n d@w;";
    ASSERT_FALSE(parse_address_list(body, list).has_value());  // ';' outside a group.
    body = " a@x,  b@y,c@z,\r\n d@w, e@v ";
    ASSERT_TRUE(parse_address_list(body, list).has_value());
    // After the colon, after "a@x," (the first of two spaces), after "d@w,". Not after
    // "b@y," (no space), not after "c@z," (already folded), not the trailing space.
    EXPECT_EQ(list.fold_points, (std::vector<std::size_t>{0, 5, 22}));
    ASSERT_TRUE(parse_address_list(" g: a@x; , h: b@y;", list).has_value());
    EXPECT_EQ(list.fold_points, (std::vector<std::size_t>{0, 3, 8, 10, 13}));
}

TEST(AddressList, Errors) {
    EXPECT_EQ(error_of(" alice"), ParseError::missing_domain);
    EXPECT_EQ(error_of(" Alice <alice>"), ParseError::missing_domain);
    EXPECT_EQ(error_of(" Alice <a@b"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" Alice a@b>"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" \"a@b"), ParseError::unterminated_quote);
    EXPECT_EQ(error_of(" a@b (c"), ParseError::unterminated_comment);
    EXPECT_EQ(error_of(" a@[1.2"), ParseError::unterminated_literal);
    EXPECT_EQ(error_of(" a@b )"), ParseError::unexpected_byte);
    EXPECT_EQ(error_of(" a\\b@c"), ParseError::unexpected_byte);
    EXPECT_EQ(error_of(" a@b\r\nc"), ParseError::bad_line_break);
    EXPECT_EQ(error_of(" a@b\nc"), ParseError::bad_line_break);
    EXPECT_EQ(error_of(" \"a\\\r\n b\"@c"), ParseError::bad_line_break);
    EXPECT_EQ(error_of(" a@b c@d"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" a b@c"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" <>"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" a@"), ParseError::missing_domain);
    EXPECT_EQ(error_of(" a@b..c"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" g: h: a@b;;"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" g: a@b"), ParseError::unexpected_token);
    EXPECT_EQ(error_of(" <@:a@b>"), ParseError::missing_domain);
    EXPECT_EQ(error_of(" a@[1[2]"), ParseError::unexpected_byte);
    EXPECT_EQ(error_of(std::string(" a@b ") + std::string(1, '\0')), ParseError::unexpected_byte);
}

TEST(AddressList, Bounds) {
    std::string deep =
        " a@b " + std::string(comment_depth_max, '(') + std::string(comment_depth_max, ')');
    EXPECT_EQ(domains_of(deep), Domains{"b"});
    deep =
        " a@b " + std::string(comment_depth_max + 1, '(') + std::string(comment_depth_max + 1, ')');
    EXPECT_EQ(error_of(deep), ParseError::comment_too_deep);

    std::string many;
    for (std::size_t i = 0; i < addresses_per_field_max; i++) {
        many += " a@b,";
    }
    AddressList list;
    Result<std::size_t, ParseError> result = parse_address_list(many, list);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, addresses_per_field_max);
    EXPECT_EQ(error_of(many + " a@b"), ParseError::too_many_addresses);

    std::string long_body = " \"" + std::string(field_bytes_max, 'x') + "\"@b";
    EXPECT_EQ(error_of(long_body), ParseError::field_too_long);
}

}  // namespace
}  // namespace hub::rewrite
