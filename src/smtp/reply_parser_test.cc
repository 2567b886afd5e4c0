// reply_parser_test.cc -- SMTP reply framing, codes and enhanced status codes.
//
// Method: each table row is the bytes a server sends (fed whole, then again one byte at a
// time, which must give the same answer) and the expected reply or error. A row's input
// holds exactly one reply; bytes after it must be left unconsumed.
#include "smtp/reply_parser.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace hub::smtp {
namespace {

struct Outcome {
    std::optional<ReplyError> error;  // Set: the parser fails with this.
    bool complete = true;             // False: still need_more at the end of the input.
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;
    std::size_t left_over = 0;  // Bytes not consumed after a complete reply.
};

struct Case {
    const char* name;
    std::string input;
    Outcome expected;
};

Outcome ok(int code, std::string enhanced, std::vector<std::string> lines,
           std::size_t left_over = 0) {
    Outcome outcome;
    outcome.code = code;
    outcome.enhanced = std::move(enhanced);
    outcome.lines = std::move(lines);
    outcome.left_over = left_over;
    return outcome;
}

Outcome error(ReplyError reply_error) {
    Outcome outcome;
    outcome.error = reply_error;
    return outcome;
}

Outcome incomplete() {
    Outcome outcome;
    outcome.complete = false;
    return outcome;
}

std::string line_of(std::size_t text_bytes) {
    return "250 " + std::string(text_bytes, 'x') + "\r\n";
}

std::string many_lines(std::size_t count) {
    std::string out;
    for (std::size_t i = 1; i < count; i++) {
        out += "250-line\r\n";
    }
    return out + "250 last\r\n";
}

std::vector<Case> cases() {
    return {
        // --- Single lines ---------------------------------------------------------------
        {"simple", "220 mx.example ESMTP\r\n", ok(220, "", {"mx.example ESMTP"})},
        {"code_only", "250\r\n", ok(250, "", {""})},
        {"code_space_only", "250 \r\n", ok(250, "", {""})},
        {"enhanced", "250 2.1.0 Ok\r\n", ok(250, "2.1.0", {"2.1.0 Ok"})},
        {"enhanced_alone", "550 5.1.1\r\n", ok(550, "5.1.1", {"5.1.1"})},
        {"enhanced_three_digits", "554 5.7.100 No\r\n", ok(554, "5.7.100", {"5.7.100 No"})},
        {"enhanced_four_digits_ignored", "554 5.7.1000 No\r\n", ok(554, "", {"5.7.1000 No"})},
        {"enhanced_class_mismatch_ignored", "550 4.1.1 odd\r\n", ok(550, "", {"4.1.1 odd"})},
        {"enhanced_not_followed_by_space", "550 5.1.1x odd\r\n", ok(550, "", {"5.1.1x odd"})},
        {"enhanced_class_3_ignored", "354 3.0.0 go\r\n", ok(354, "", {"3.0.0 go"})},
        {"leaves_following_bytes", "220 go ahead\r\nGARBAGE", ok(220, "", {"go ahead"}, 7)},
        {"masks_non_ascii", "550 5.1.1 caf\xc3\xa9\t\x01\r\n", ok(550, "5.1.1", {"5.1.1 caf?? ?"})},
        // --- Multiline ------------------------------------------------------------------
        {"multiline", "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
         ok(250, "", {"mx.example", "PIPELINING", "SIZE 1000"})},
        {"multiline_enhanced_from_first", "550-5.1.1 first\r\n550 5.1.2 second\r\n",
         ok(550, "5.1.1", {"5.1.1 first", "5.1.2 second"})},
        {"multiline_empty_text", "250-\r\n250 end\r\n", ok(250, "", {"", "end"})},
        {"multiline_stops_after_last", "250-a\r\n250 b\r\n250 c\r\n", ok(250, "", {"a", "b"}, 7)},
        {"lines_at_limit", many_lines(reply_lines_count_max),
         ok(250, "",
            [] {
                std::vector<std::string> lines(reply_lines_count_max - 1, "line");
                lines.push_back("last");
                return lines;
            }())},
        {"too_many_lines", many_lines(reply_lines_count_max + 1),
         error(ReplyError::too_many_lines)},
        {"code_mismatch", "250-a\r\n251 b\r\n", error(ReplyError::code_mismatch)},
        {"code_mismatch_class", "250-a\r\n550 b\r\n", error(ReplyError::code_mismatch)},
        // --- Bad codes ------------------------------------------------------------------
        {"code_1xx", "120 wait\r\n", error(ReplyError::bad_code)},
        {"code_6xx", "650 no\r\n", error(ReplyError::bad_code)},
        {"code_letters", "2x0 no\r\n", error(ReplyError::bad_code)},
        {"code_short", "25\r\n", error(ReplyError::bad_code)},
        {"empty_line", "\r\n", error(ReplyError::bad_code)},
        {"leading_space", " 250 ok\r\n", error(ReplyError::bad_code)},
        {"bad_separator", "250_ok\r\n", error(ReplyError::bad_separator)},
        {"four_digits", "2500 ok\r\n", error(ReplyError::bad_separator)},
        // --- Framing --------------------------------------------------------------------
        {"bare_lf", "250 ok\n", error(ReplyError::bare_line_ending)},
        {"bare_cr", "250 o\rk\r\n", error(ReplyError::bare_line_ending)},
        {"bare_lf_in_multiline", "250-a\r\n250 b\n", error(ReplyError::bare_line_ending)},
        {"line_at_limit", line_of(reply_line_bytes_max - 6),
         ok(250, "", {std::string(reply_line_bytes_max - 6, 'x')})},
        {"line_too_long", line_of(reply_line_bytes_max - 5), error(ReplyError::line_too_long)},
        {"endless_line", std::string(100000, 'a'), error(ReplyError::line_too_long)},
        {"partial_line", "250 o", incomplete()},
        {"partial_cr", "250 ok\r", incomplete()},
        {"partial_multiline", "250-a\r\n", incomplete()},
    };
}

// Feeds input in pieces of piece_bytes; checks the outcome.
void run(const Case& row, std::size_t piece_bytes) {
    SCOPED_TRACE(::testing::Message() << row.name << " piece " << piece_bytes);
    ReplyParser parser;
    std::size_t consumed = 0;
    while (consumed < row.input.size() && parser.status() == ReplyParser::Status::need_more) {
        std::size_t piece = std::min(piece_bytes, row.input.size() - consumed);
        std::size_t used = parser.feed(std::span<const char>(row.input.data() + consumed, piece));
        EXPECT_LE(used, piece);
        if (parser.status() == ReplyParser::Status::need_more) {
            EXPECT_EQ(used, piece) << "need_more consumes everything";
        }
        consumed += used;
    }
    const Outcome& expected = row.expected;
    if (expected.error) {
        ASSERT_EQ(parser.status(), ReplyParser::Status::failed);
        EXPECT_EQ(parser.error(), *expected.error) << describe(parser.error());
        return;
    }
    if (!expected.complete) {
        EXPECT_EQ(parser.status(), ReplyParser::Status::need_more);
        EXPECT_TRUE(parser.mid_reply());
        return;
    }
    ASSERT_EQ(parser.status(), ReplyParser::Status::complete);
    EXPECT_EQ(row.input.size() - consumed, expected.left_over);
    Reply reply = parser.take_reply();
    EXPECT_EQ(reply.code, expected.code);
    EXPECT_EQ(reply.enhanced, expected.enhanced);
    EXPECT_EQ(reply.lines, expected.lines);
    EXPECT_EQ(parser.status(), ReplyParser::Status::need_more);
    EXPECT_FALSE(parser.mid_reply());
}

TEST(ReplyParser, Table) {
    for (const Case& row : cases()) {
        run(row, row.input.size() + 1);
        run(row, 1);
        run(row, 7);
    }
}

TEST(ReplyParser, ConsecutiveReplies) {
    std::string input = "250 2.1.0 Ok\r\n550-5.1.1 No\r\n550 5.1.1 such user\r\n354 go\r\n";
    ReplyParser parser;
    std::span<const char> rest(input.data(), input.size());
    std::vector<std::string> seen;
    while (!rest.empty()) {
        rest = rest.subspan(parser.feed(rest));
        ASSERT_EQ(parser.status(), ReplyParser::Status::complete);
        seen.push_back(parser.take_reply().full_text());
    }
    EXPECT_EQ(seen,
              (std::vector<std::string>{"250 2.1.0 Ok", "550 5.1.1 No 5.1.1 such user", "354 go"}));
}

TEST(ReplyParser, TextJoinsLines) {
    Reply reply;
    reply.code = 451;
    reply.lines = {"4.3.0 one", "4.3.0 two"};
    EXPECT_EQ(reply.text(), "4.3.0 one 4.3.0 two");
    EXPECT_EQ(reply.full_text(), "451 4.3.0 one 4.3.0 two");
    EXPECT_EQ(reply.code_class(), 4);
    reply.lines = {""};
    EXPECT_EQ(reply.full_text(), "451");
}

TEST(ReplyParser, EnhancedCodeGrammar) {
    EXPECT_EQ(parse_enhanced_code("2.0.0"), "2.0.0");
    EXPECT_EQ(parse_enhanced_code("4.7.10 x"), "4.7.10");
    EXPECT_EQ(parse_enhanced_code("5.123.456"), "5.123.456");
    EXPECT_EQ(parse_enhanced_code("3.0.0"), "");
    EXPECT_EQ(parse_enhanced_code("5.1"), "");
    EXPECT_EQ(parse_enhanced_code("5..1"), "");
    EXPECT_EQ(parse_enhanced_code("5.1."), "");
    EXPECT_EQ(parse_enhanced_code("5.1234.1"), "");
    EXPECT_EQ(parse_enhanced_code("5.1.1:"), "");
    EXPECT_EQ(parse_enhanced_code(""), "");
}

}  // namespace
}  // namespace hub::smtp
