// app_test.cc -- the routes without sockets: forms, tokens, what reaches hub-ca, and the
// page each hub-ca answer becomes.
#include "enroll/app.h"

#include <gtest/gtest.h>

#include <regex>

#include "ca/limits.h"
#include "enroll/limits.h"

namespace hub::enroll {
namespace {

const std::string csr =
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----";

std::string url_encode(std::string_view text) {
    std::string out;
    for (char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.') {
            out.push_back(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof(hex), "%%%02X", static_cast<unsigned char>(c));
            out += hex;
        }
    }
    return out;
}

class AppTest : public ::testing::Test {
protected:
    App app{AppSettings{1000, 100, std::string(32, 'k')}};
    std::int64_t now_ms = 1'700'000'000'000;

    Response get(const std::string& path, const std::string& cookie = "") {
        Request request;
        request.path = path;
        request.host = "hub.example";
        request.cookie = cookie;
        auto answer = app.handle(request, "192.0.2.1", now_ms);
        EXPECT_TRUE(std::holds_alternative<Response>(answer));
        return std::get<Response>(answer);
    }

    // GET the form page; returns (cookie header value, token).
    std::pair<std::string, std::string> form(const std::string& path) {
        Response page = get(path);
        EXPECT_EQ(page.status, 200);
        std::smatch cookie;
        EXPECT_TRUE(
            std::regex_search(page.set_cookie, cookie, std::regex("^(__Host-enroll=[^;]+)")));
        std::smatch token;
        EXPECT_TRUE(
            std::regex_search(page.body, token, std::regex("name=\"token\" value=\"([^\"]+)\"")));
        return {cookie[1], token[1]};
    }

    std::variant<Response, CaCall> post(const std::string& path, const std::string& cookie,
                                        const std::string& body) {
        Request request;
        request.method = Method::post;
        request.path = path;
        request.host = "hub.example";
        request.cookie = cookie;
        request.content_type = "application/x-www-form-urlencoded";
        request.body = body;
        return app.handle(request, "192.0.2.1", now_ms);
    }
};

TEST_F(AppTest, PagesAreAccessibleAndCarryNoScript) {
    Response index = get("/");
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("<html lang=\"en\">"), std::string::npos);
    EXPECT_EQ(index.body.find("<script"), std::string::npos);
    Response request = get("/request");
    for (const char* label :
         {"<label for=\"partner\">", "<label for=\"password\">", "<label for=\"csr\">"}) {
        EXPECT_NE(request.body.find(label), std::string::npos) << label;
    }
    EXPECT_NE(request.set_cookie.find("Secure; HttpOnly; SameSite=Strict"), std::string::npos);
    EXPECT_EQ(get("/nothing").status, 404);
}

TEST_F(AppTest, ASubmittedFormBecomesOneCaRequestAndWorksOnce) {
    auto [cookie, token] = form("/request");
    std::string body = "token=" + token +
                       "&partner=partner2.gov.uk&password=secret&csr=" + url_encode(csr + "\r\n");
    auto first = post("/request", cookie, body);
    ASSERT_TRUE(std::holds_alternative<CaCall>(first));
    const ca::Message& message = std::get<CaCall>(first).request;
    EXPECT_EQ(message.kind, ca::Kind::submit);
    EXPECT_EQ(message.get(ca::Field::partner), "partner2.gov.uk");
    EXPECT_EQ(message.get(ca::Field::password), "secret");
    EXPECT_EQ(message.get(ca::Field::csr), csr);  // CR LF and the trailing break gone.

    auto again = post("/request", cookie, body);
    ASSERT_TRUE(std::holds_alternative<Response>(again));
    const Response& replayed = std::get<Response>(again);
    EXPECT_EQ(replayed.status, 403);
    EXPECT_NE(replayed.body.find("already sent once"), std::string::npos);
    EXPECT_EQ(replayed.body.find("secret"), std::string::npos);  // The password is not echoed.
    EXPECT_NE(replayed.body.find("partner2.gov.uk"), std::string::npos);

    Response done = app.finish(std::get<CaCall>(first).pending,
                               ca::ok_answer().set(ca::Field::request_id, "17"), now_ms);
    EXPECT_EQ(done.status, 200);
    EXPECT_NE(done.body.find("<strong id=\"request-id\">17</strong>"), std::string::npos);
    EXPECT_NE(done.body.find("pending approval"), std::string::npos);
}

TEST_F(AppTest, BadFormsNeverReachTheCa) {
    struct Case {
        const char* name;
        std::string csr;
        int status;
    };
    const Case cases[] = {
        {"no armour", "MIIBIjANBgkq", 422},
        {"empty", "", 422},
        {"too large",
         "-----BEGIN X-----\n" + std::string(ca::request_pem_bytes_max, 'A') + "\n-----END X-----",
         413},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        auto [cookie, token] = form("/request");
        auto answer =
            post("/request", cookie,
                 "token=" + token + "&partner=p.example&password=pw&csr=" + url_encode(c.csr));
        ASSERT_TRUE(std::holds_alternative<Response>(answer));
        EXPECT_EQ(std::get<Response>(answer).status, c.status);
        EXPECT_NE(std::get<Response>(answer).body.find("role=\"alert\""), std::string::npos);
    }
    auto [cookie, token] = form("/request");
    auto forged = post("/request", cookie, "token=AAAA&partner=p&password=pw&csr=x");
    EXPECT_EQ(std::get<Response>(forged).status, 403);
    auto no_cookie = post("/request", "", "token=" + token + "&partner=p&password=pw&csr=x");
    EXPECT_EQ(std::get<Response>(no_cookie).status, 403);
    auto [c2, t2] = form("/status");
    auto bad_id = post("/status", c2, "token=" + t2 + "&request_id=12a&partner=p&password=pw");
    EXPECT_EQ(std::get<Response>(bad_id).status, 400);
}

TEST_F(AppTest, ARefusedRequestIsEchoedOnlyWhenEscapingCannotGrowIt) {
    std::string bulky = "-----BEGIN X-----\n" + std::string(ca::request_pem_bytes_max - 40, '&') +
                        "\n-----END X-----";
    auto [cookie, token] = form("/request");
    auto call = post("/request", cookie,
                     "token=" + token + "&partner=p.example&password=pw&csr=" + url_encode(bulky));
    ASSERT_TRUE(std::holds_alternative<CaCall>(call));
    Response refused = app.finish(
        std::get<CaCall>(call).pending,
        ca::refusal(ca::Refusal::invalid, "the request is not a well-formed request"), now_ms);
    EXPECT_EQ(refused.status, 422);
    EXPECT_LT(refused.body.size(), 16u * 1024);
    EXPECT_LE(serialise(refused, false).size(), response_bytes_max);
}

TEST_F(AppTest, CaRefusalsBecomeClearStatuses) {
    auto [cookie, token] = form("/download");
    auto call = post("/download", cookie,
                     "token=" + token + "&request_id=4&partner=p.example&password=pw&format=pkcs7");
    ASSERT_TRUE(std::holds_alternative<CaCall>(call));
    const Pending& pending = std::get<CaCall>(call).pending;
    EXPECT_EQ(std::get<CaCall>(call).request.get(ca::Field::format), "pkcs7");
    EXPECT_EQ(app.finish(pending,
                         ca::refusal(ca::Refusal::bad_credentials,
                                     "unknown partner or wrong enrollment password (ask)"),
                         now_ms)
                  .status,
              403);
    EXPECT_EQ(app.finish(pending,
                         ca::refusal(ca::Refusal::wrong_state,
                                     "request 4 has no certificate: it is pending"),
                         now_ms)
                  .status,
              409);
    EXPECT_EQ(app.finish(pending, unexpected(std::string("hub-ca is not running")), now_ms).status,
              503);
    // The code decides, not the sentence (which is for people and may be reworded).
    EXPECT_EQ(
        app.finish(pending, ca::refusal(ca::Refusal::not_found, "unknown partner"), now_ms).status,
        404);
    EXPECT_EQ(
        app.finish(pending, ca::refusal(ca::Refusal::limit, "too many waiting"), now_ms).status,
        429);
    EXPECT_EQ(app.finish(pending, ca::refusal(ca::Refusal::unavailable, "database locked"), now_ms)
                  .status,
              503);
    Response file = app.finish(pending, ca::ok_answer().set(ca::Field::body, "\x30\x82"), now_ms);
    EXPECT_EQ(file.status, 200);
    EXPECT_EQ(file.content_type, "application/pkcs7-mime");
    EXPECT_EQ(file.content_disposition, "attachment; filename=\"request-4.p7b\"");
}

TEST_F(AppTest, FormsFromOneAddressAreRateLimited) {
    App strict(AppSettings{1000, 2, std::string(32, 'k')});
    Request request;
    request.method = Method::post;
    request.path = "/status";
    request.host = "h";
    request.content_type = "application/x-www-form-urlencoded";
    for (int i = 0; i < 2; i++) {
        auto answer = strict.handle(request, "198.51.100.9", now_ms);
        EXPECT_EQ(std::get<Response>(answer).status, 403);  // No token: refused, but counted.
    }
    auto limited = strict.handle(request, "198.51.100.9", now_ms);
    EXPECT_EQ(std::get<Response>(limited).status, 429);
    EXPECT_EQ(std::get<Response>(limited).retry_after_s, 30u);
    EXPECT_TRUE(std::get<Response>(limited).close);
}

}  // namespace
}  // namespace hub::enroll
