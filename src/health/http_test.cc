// http_test.cc -- hub-metrics' request check: GET /metrics only, a clear 4xx otherwise.
#include "health/http.h"

#include <gtest/gtest.h>

#include <string>

namespace hub::health {
namespace {

struct Case {
    const char* head;
    int status;
};

TEST(HttpRequest, OnlyGetMetrics) {
    const Case cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: */*\r\n\r\n", 200},
        {"GET /metrics HTTP/1.0\r\n\r\n", 200},
        {"GET / HTTP/1.1\r\n\r\n", 404},
        {"GET /metrics?x=1 HTTP/1.1\r\n\r\n", 404},
        {"GET /metrics/ HTTP/1.1\r\n\r\n", 404},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
        {"HEAD /metrics HTTP/1.1\r\n\r\n", 405},
        {"GET /metrics HTTP/2.0\r\n\r\n", 400},
        {"GET  /metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1 \r\n\r\n", 400},
        {"GET /metrics\r\n\r\n", 400},
        {"G(T /metrics HTTP/1.1\r\n\r\n", 400},
        {"GET /met\x01rics HTTP/1.1\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\nHost: x\n\n", 400},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(judge_http_request(c.head).status, c.status) << c.head;
        EXPECT_FALSE(judge_http_request(c.head).reason.empty());
    }
    std::string long_target =
        "GET /" + std::string(http_target_bytes_max, 'a') + " HTTP/1.1\r\n\r\n";
    EXPECT_EQ(judge_http_request(long_target).status, 414);
}

TEST(HttpRequest, HeadIsBounded) {
    EXPECT_EQ(http_head_state("GET /metrics HTTP/1.1\r\n"), HeadState::incomplete);
    EXPECT_EQ(http_head_state("GET /metrics HTTP/1.1\r\n\r\n"), HeadState::complete);
    std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(http_head_bytes_max, 'a');
    EXPECT_EQ(http_head_state(huge), HeadState::too_large);
    EXPECT_EQ(http_head_state(huge + "\r\n\r\n"), HeadState::too_large);
}

}  // namespace
}  // namespace hub::health
