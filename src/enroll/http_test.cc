// http_test.cc -- the HTTP/1.1 subset parser: a table of requests and what each becomes.
#include "enroll/http.h"

#include <gtest/gtest.h>

#include <string>

#include "enroll/limits.h"

namespace hub::enroll {
namespace {

struct Case {
    const char* name;
    std::string input;
    int status;  // 0: a request is expected.
};

Result<std::optional<Request>, HttpError> parse_all(const std::string& input) {
    RequestParser parser;
    EXPECT_TRUE(parser.feed(input));
    return parser.next();
}

TEST(HttpParser, RefusesWhatCouldBeReadTwoWays) {
    const std::string host = "Host: hub.example\r\n";
    const Case cases[] = {
        {"simple get", "GET / HTTP/1.1\r\n" + host + "\r\n", 0},
        {"http 1.0 without host", "GET / HTTP/1.0\r\n\r\n", 0},
        {"post with length", "POST /request HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\na=b",
         0},
        {"bare lf in head", "GET / HTTP/1.1\n" + host + "\r\n", 400},
        {"bare cr in head", "GET / HTTP/1.1\r" + host + "\r\n", 400},
        {"obs fold", "GET / HTTP/1.1\r\n" + host + " folded\r\n\r\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"no host", "GET / HTTP/1.1\r\n\r\n", 400},
        {"two hosts", "GET / HTTP/1.1\r\n" + host + host + "\r\n", 400},
        {"chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", 501},
        {"te and cl",
         "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         501},
        {"two lengths",
         "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
        {"signed length", "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\n", 400},
        {"post without length", "POST /request HTTP/1.1\r\n" + host + "\r\n", 411},
        {"oversized", "POST /request HTTP/1.1\r\n" + host + "Content-Length: 999999\r\n\r\n", 413},
        {"get with body", "GET / HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nab", 400},
        {"unknown method", "DELETE / HTTP/1.1\r\n" + host + "\r\n", 501},
        {"absolute form", "GET http://x/ HTTP/1.1\r\n" + host + "\r\n", 400},
        {"http 2", "GET / HTTP/2.0\r\n" + host + "\r\n", 505},
        {"extra space", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400},
        {"nul in value", std::string("GET / HTTP/1.1\r\nX: a\0b\r\n", 25) + host + "\r\n", 400},
        {"control in value",
         "GET / HTTP/1.1\r\nX: a\x01"
         "b\r\n" +
             host + "\r\n",
         400},
        {"long target",
         "GET /" + std::string(target_bytes_max, 'a') + " HTTP/1.1\r\n" + host + "\r\n", 414},
        {"expect other", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nExpect: x\r\n\r\n",
         417},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        auto result = parse_all(c.input);
        if (c.status == 0) {
            ASSERT_TRUE(result.has_value()) << result.error().message;
            EXPECT_TRUE(result->has_value());
        } else {
            ASSERT_FALSE(result.has_value());
            EXPECT_EQ(result.error().status, c.status) << result.error().message;
            EXPECT_FALSE(result.error().message.empty());
        }
    }
}

TEST(HttpParser, HeadersBounded) {
    std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (std::size_t i = 0; i < headers_count_max + 1; i++) {
        many += "X-A: b\r\n";
    }
    auto result = parse_all(many + "\r\n");
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().status, 431);

    // A head that never ends is refused once it crosses the bound, not buffered forever.
    RequestParser parser;
    ASSERT_TRUE(parser.feed(std::string("GET / HTTP/1.1\r\n")));
    std::string header = "X-Long: " + std::string(1000, 'a') + "\r\n";
    Result<std::optional<Request>, HttpError> last = std::optional<Request>();
    for (int i = 0; i < 20 && last.has_value(); i++) {
        ASSERT_TRUE(parser.feed(header));
        last = parser.next();
    }
    ASSERT_FALSE(last.has_value());
    EXPECT_EQ(last.error().status, 431);
}

TEST(HttpParser, BytesArriveOneByOneAndPipelined) {
    std::string two =
        "POST /status HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Cookie: a=1\r\nContent-Length: 5\r\n\r\nx=1&y"
        "GET /crl HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    RequestParser parser;
    std::vector<Request> seen;
    for (char c : two) {
        ASSERT_TRUE(parser.feed(std::string(1, c)));
        auto next = parser.next();
        ASSERT_TRUE(next.has_value()) << next.error().message;
        if (next->has_value()) {
            seen.push_back(std::move(**next));
        }
    }
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].method, Method::post);
    EXPECT_EQ(seen[0].path, "/status");
    EXPECT_EQ(seen[0].body, "x=1&y");
    EXPECT_EQ(seen[0].cookie, "a=1");
    EXPECT_EQ(seen[0].content_type, "application/x-www-form-urlencoded");
    EXPECT_TRUE(seen[0].keep_alive);
    EXPECT_EQ(seen[1].path, "/crl");
    EXPECT_FALSE(seen[1].keep_alive);
    EXPECT_TRUE(parser.idle());
}

TEST(HttpParser, ExpectContinueAskedOnce) {
    RequestParser parser;
    ASSERT_TRUE(
        parser.feed(std::string("POST /request HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                                "Expect: 100-continue\r\n\r\n")));
    auto first = parser.next();
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(first->has_value());
    EXPECT_TRUE(parser.wants_continue());
    parser.continue_sent();
    EXPECT_FALSE(parser.wants_continue());
    ASSERT_TRUE(parser.feed(std::string("ab")));
    auto second = parser.next();
    ASSERT_TRUE(second.has_value() && second->has_value());
    EXPECT_EQ((*second)->body, "ab");
}

TEST(HttpParser, AnErrorSpendsTheParser) {
    RequestParser parser;
    ASSERT_TRUE(parser.feed(std::string("GET / HTTP/1.1\nHost: h\r\n\r\n")));
    EXPECT_FALSE(parser.next().has_value());
    ASSERT_TRUE(parser.feed(std::string("GET / HTTP/1.1\r\nHost: h\r\n\r\n")));
    EXPECT_FALSE(parser.next().has_value());
}

TEST(HttpResponse, SecurityHeadersOnEveryAnswer) {
    Response response;
    response.body = "<p>x</p>";
    response.set_cookie = "a=b";
    std::string bytes = serialise(response, false);
    EXPECT_TRUE(bytes.starts_with("HTTP/1.1 200 OK\r\n"));
    for (const char* header :
         {"Content-Security-Policy: default-src 'none'; style-src 'self'", "X-Frame-Options: DENY",
          "Cache-Control: no-store", "X-Content-Type-Options: nosniff", "Content-Length: 8",
          "Set-Cookie: a=b"}) {
        EXPECT_NE(bytes.find(header), std::string::npos) << header;
    }
    EXPECT_TRUE(bytes.ends_with("\r\n\r\n<p>x</p>"));
    EXPECT_TRUE(serialise(response, true).ends_with("\r\n\r\n"));
}

}  // namespace
}  // namespace hub::enroll
