// headers_test.cc -- Received: counting for loop detection (folded and mixed-case fields,
// the body not counted, 30 allowed and 31 a loop) and finding a field's raw value.
#include "dsn/headers.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

namespace hub::dsn {
namespace {

std::string received_lines(unsigned count) {
    std::string out;
    for (unsigned i = 0; i < count; i++) {
        out += fmt::format(
            "Received: from hop{0}.example (unknown [192.0.2.{0}])\r\n"
            "\tby hop{1}.example with ESMTPS id {0}; Wed, 25 Nov 2026 21:00:00 +0000\r\n",
            i, i + 1);
    }
    return out;
}

TEST(Headers, CountsReceivedFields) {
    struct Case {
        std::string_view name;
        std::string message;
        unsigned expected;
    };
    const Case cases[] = {
        {"empty", "", 0},
        {"none", "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n", 0},
        {"one", "Received: from x by y; date\r\nFrom: a@b\r\n\r\n", 1},
        {"mixed case", "received: a\r\nRECEIVED: b\r\nReCeIvEd: c\r\n\r\n", 3},
        {"space before colon (obsolete syntax)", "Received : a\r\nReceived\t: b\r\n\r\n", 2},
        {"folded: continuation lines are not fields",
         "Received: from a\r\n Received: not a field\r\n\tReceived: nor this\r\n\r\n", 1},
        {"other names", "Received-SPF: pass\r\nX-Received: a\r\nReceivedx: b\r\n\r\n", 0},
        {"the body is not counted", "Received: a\r\n\r\nReceived: in the body\r\n", 1},
        {"bare LF line ends", "Received: a\nReceived: b\n\nReceived: body\n", 2},
        {"no empty line: all header", "Received: a\r\nReceived: b", 2},
        {"no colon", "Received a\r\nReceived: b\r\n\r\n", 1},
        {"empty line first", "\r\nReceived: a\r\n", 0},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(count_received_headers(c.message), c.expected) << c.name;
    }
}

TEST(Headers, ThirtyIsFineThirtyOneIsALoop) {
    std::string tail = "From: alice@partner1.gov.uk\r\nSubject: loop\r\n\r\nbody\r\n";
    std::string thirty = received_lines(30) + tail;
    std::string thirty_one = received_lines(31) + tail;
    EXPECT_EQ(received_count_max, 30u);
    EXPECT_EQ(count_received_headers(thirty), 30u);
    EXPECT_EQ(count_received_headers(thirty_one), 31u);
    EXPECT_FALSE(too_many_received(thirty));
    EXPECT_TRUE(too_many_received(thirty_one));
    // Received: lines in the body (a forwarded message) do not count.
    EXPECT_FALSE(too_many_received(received_lines(1) + tail + received_lines(40)));
    EXPECT_EQ(loop_status, "5.4.6");
}

TEST(Headers, HeaderValue) {
    std::string message =
        "Received: x\r\n"
        "subject: first\r\n line two\r\n"
        "Subject: second\r\n"
        "Message-ID:<id@x>\r\n"
        "\r\n"
        "X-Body: no\r\n";
    EXPECT_EQ(header_value(message, "Subject"), " first\r\n line two");
    EXPECT_EQ(header_value(message, "MESSAGE-id"), "<id@x>");
    EXPECT_FALSE(header_value(message, "X-Body").has_value());
    EXPECT_FALSE(header_value(message, "Sub").has_value());
    EXPECT_EQ(header_value("Subject:", "Subject"), "");
}

}  // namespace
}  // namespace hub::dsn
