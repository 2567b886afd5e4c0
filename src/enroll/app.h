// app.h -- the enrollment page's routes: a Request in, a Response or a call to hub-ca out.
//
// Sans I/O. The server loop hands each parsed request to handle(); the answer is either a
// Response to send, or a CaCall: a request for hub-ca plus what the page needs to remember
// (Pending) to turn hub-ca's answer into a Response with finish(). Time comes in as an
// argument, so tests run without sockets or clocks.
//
// Pages (docs/ENROLLMENT.md): / (what this is), /request (submit a PKCS#10 request with
// the partner name and enrollment password), /status (a request's state by id),
// /download (the certificate as PEM, DER or PKCS#7 chain), /crl and /crl.pem (the CRL),
// /ca.pem (the CA certificate), /style.css.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/result.h"
#include "ca/protocol.h"
#include "enroll/guard.h"
#include "enroll/http.h"

namespace hub::enroll {

enum class Page { index, request, status, download, crl_der, crl_pem, ca_pem };

// What a form said, kept to answer with the same form (never the password).
struct FormEcho {
    std::string partner;
    std::string csr;
    std::string request_id;
    std::string format;
};

struct Pending {
    Page page = Page::index;
    FormEcho echo;
    std::string cookie;  // The visitor's cookie, for the fresh form on the answer page.
    bool head_only = false;
    bool close = false;
};

struct CaCall {
    ca::Message request;
    Pending pending;
};

struct AppSettings {
    std::uint32_t requests_per_minute = 120;
    std::uint32_t posts_per_minute = 10;
    std::string hmac_key;  // 32 random bytes, drawn at start.
};

class App {
public:
    explicit App(AppSettings settings);

    // peer: the source address ("192.0.2.7"), for the rate limits.
    std::variant<Response, CaCall> handle(const Request& request, std::string_view peer,
                                          std::int64_t now_ms);

    // Turns hub-ca's answer (or the reason it could not be asked) into the page.
    Response finish(const Pending& pending, const Result<ca::Message, std::string>& answer,
                    std::int64_t now_ms);

    // The page for a request the parser refused (status and sentence from HttpError).
    static Response error_page(int status, std::string_view message);

private:
    std::variant<Response, CaCall> get(const Request& request, Pending pending, std::int64_t now_s);
    std::variant<Response, CaCall> post(const Request& request, Pending pending,
                                        std::int64_t now_s);
    Response form_page(Page page, const FormEcho& echo, std::string_view cookie, int status,
                       std::string_view problem, std::int64_t now_s);
    Response with_cookie(Response response, std::string_view cookie, bool new_cookie) const;

    FormGuard forms_;
    RateLimiter rates_;
};

}  // namespace hub::enroll
