// app.cc -- the enrollment page's routes and forms (app.h).
//
// PURPOSE   Decide, for each parsed request, which page to show or what to ask hub-ca, and
//           turn hub-ca's answer into a page or a download.
// RUNS IN   hub-enroll's one thread; no system calls (time comes in as an argument).
// TRUST     Requests come from the internet. Before anything reaches hub-ca: the address's
//           rate limit, the form's token (once, this browser, within the hour), and each
//           field's size and characters are checked; hub-ca then checks the request itself
//           and the partner's enrollment password. A refused form changes nothing.
// LIMITS    enroll/limits.h (field sizes), ca/limits.h (request_pem_bytes_max,
//           password_bytes_max), hub.conf's enroll.requests_per_minute and posts_per_minute.
// SEE ALSO  enroll/guard.h (tokens, rates), enroll/pages.h, docs/ENROLLMENT.md.

#include "enroll/app.h"

#include <fmt/format.h>

#include <algorithm>

#include "ca/limits.h"
#include "enroll/form.h"
#include "enroll/limits.h"
#include "enroll/pages.h"

namespace hub::enroll {

namespace {

using pages::escape;

constexpr std::string_view cookie_name = "__Host-enroll";
constexpr std::size_t cookie_chars = 24;

std::string_view form_name(Page page) {
    switch (page) {
        case Page::request:
            return "request";
        case Page::status:
            return "status";
        case Page::download:
            return "download";
        default:
            return "";
    }
}

std::string_view page_title(Page page) {
    switch (page) {
        case Page::request:
            return "Request a certificate";
        case Page::status:
            return "Check a request";
        case Page::download:
            return "Download a certificate";
        default:
            return "Certificate enrollment";
    }
}

bool printable(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool well_formed_cookie(std::string_view value) {
    return value.size() == cookie_chars && std::all_of(value.begin(), value.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
           });
}

Response page(int status, std::string_view title, std::string_view problem, std::string_view body) {
    Response response;
    response.status = status;
    response.body = pages::document(title, problem, body);
    return response;
}

std::string text_field(std::string_view id, std::string_view label, std::string_view hint,
                       std::string_view value, std::string_view type, std::size_t max_length,
                       std::string_view autocomplete) {
    return fmt::format(
        "<p>\n<label for=\"{0}\">{1}</label><br>\n"
        "<input type=\"{2}\" id=\"{0}\" name=\"{0}\" required maxlength=\"{3}\" "
        "autocomplete=\"{4}\" aria-describedby=\"{0}-hint\" value=\"{5}\"><br>\n"
        "<span class=\"hint\" id=\"{0}-hint\">{6}</span>\n</p>\n",
        id, label, type, max_length, autocomplete, escape(value), hint);
}

std::string credentials_fields(const FormEcho& echo) {
    return text_field("partner", "Partner name",
                      "Your organisation's partner name at the hub, for example "
                      "partner2.gov.uk.",
                      echo.partner, "text", partner_bytes_max, "off") +
           text_field("password", "Enrollment password",
                      "The password your hub administrator gave you for this partner (hubctl "
                      "ca password). It is not shown again on any page.",
                      "", "password", ca::password_bytes_max, "off");
}

std::string request_id_field(const FormEcho& echo) {
    return text_field("request_id", "Request number",
                      "The number the page showed when you sent the request.", echo.request_id,
                      "text", request_id_bytes_max, "off");
}

// A pasted request is shown again on the refusal page only when escaping cannot grow it: a
// real PEM request has no character HTML escapes, while 24 KiB of '&' would make a page of
// 120 KiB (response_bytes_max bounds what a connection may have to send).
bool echoable(std::string_view text) {
    return text.find_first_of("&<>\"'") == std::string_view::npos;
}

std::string form_body(Page page, const FormEcho& echo, std::string_view token) {
    std::string fields;
    std::string intro;
    std::string button;
    switch (page) {
        case Page::request:
            intro =
                "<p>Paste a PKCS#10 certificate request in PEM form, with its BEGIN and END "
                "lines, for example made with <code>openssl req -new -newkey rsa:3072 "
                "-nodes -keyout mail.key -out mail.csr -subj /CN=mail.example.org</code>. "
                "Keys: RSA of at least 2048 bits, or ECDSA P-256, P-384 or P-521. The key "
                "stays with you; the hub administrator approves the request before a "
                "certificate is issued.</p>\n";
            fields = credentials_fields(echo) +
                     fmt::format(
                         "<p>\n<label for=\"csr\">Certificate request (PEM)</label><br>\n"
                         "<textarea id=\"csr\" name=\"csr\" rows=\"16\" cols=\"66\" required "
                         "spellcheck=\"false\" aria-describedby=\"csr-hint\">{}</textarea><br>\n"
                         "<span class=\"hint\" id=\"csr-hint\">From -----BEGIN CERTIFICATE "
                         "REQUEST----- to -----END CERTIFICATE REQUEST-----, at most {} "
                         "bytes.</span>\n</p>\n",
                         echoable(echo.csr) ? escape(echo.csr) : "", ca::request_pem_bytes_max);
            button = "Send the request";
            break;
        case Page::status:
            intro =
                "<p>See whether a request is still waiting, was approved or was "
                "rejected.</p>\n";
            fields = request_id_field(echo) + credentials_fields(echo);
            button = "Check";
            break;
        case Page::download: {
            intro =
                "<p>Download an approved certificate. PEM and the PKCS#7 chain include the "
                "hub's CA certificate; DER is the certificate alone.</p>\n";
            std::string chosen = echo.format.empty() ? "pem" : echo.format;
            std::string radios;
            for (auto [value, label] : {std::pair<std::string_view, std::string_view>{
                                            "pem", "PEM (certificate and CA, text)"},
                                        {"der", "DER (certificate only, binary)"},
                                        {"pkcs7", "PKCS#7 chain (.p7b)"}}) {
                radios += fmt::format(
                    "<input type=\"radio\" id=\"format-{0}\" name=\"format\" value=\"{0}\"{1}> "
                    "<label for=\"format-{0}\">{2}</label><br>\n",
                    value, value == chosen ? " checked" : "", label);
            }
            fields = request_id_field(echo) + credentials_fields(echo) +
                     "<fieldset>\n<legend>Format</legend>\n" + radios + "</fieldset>\n";
            button = "Download";
            break;
        }
        default:
            break;
    }
    return fmt::format(
        "{}<form method=\"post\" action=\"/{}\">\n"
        "<input type=\"hidden\" name=\"token\" value=\"{}\">\n{}"
        "<p><button type=\"submit\">{}</button></p>\n</form>\n",
        intro, form_name(page), escape(token), fields, button);
}

std::string index_body() {
    return "<p>This page is the hub's certificate authority for partner organisations. Your "
           "mail server presents a certificate from it when it connects to the hub.</p>\n"
           "<ol>\n"
           "<li>Ask your hub administrator for an enrollment password for your partner.</li>\n"
           "<li><a href=\"/request\">Send a certificate request</a> with that password. You "
           "get a request number.</li>\n"
           "<li>The hub administrator approves it. <a href=\"/status\">Check the request</a> "
           "to see when.</li>\n"
           "<li><a href=\"/download\">Download the certificate</a> as PEM, DER or a PKCS#7 "
           "chain and install it with your key.</li>\n"
           "</ol>\n"
           "<p>Revoked certificates are listed in the <a href=\"/crl\">CRL</a> (DER; "
           "<a href=\"/crl.pem\">PEM</a>). The <a href=\"/ca.pem\">CA certificate</a> "
           "verifies the hub and the certificates it issues.</p>\n";
}

Response download(std::string body, std::string_view content_type, std::string_view filename) {
    Response response;
    response.content_type = std::string(content_type);
    response.body = std::move(body);
    response.content_disposition = fmt::format("attachment; filename=\"{}\"", filename);
    return response;
}

// hub-ca's refusal, as the HTTP status the page answers with: by the refusal's code,
// never by its sentence (which is for people and may change).
int refusal_status(Page page, ca::Refusal code) {
    switch (code) {
        case ca::Refusal::bad_credentials:
            return 403;
        case ca::Refusal::not_found:
            return 404;
        case ca::Refusal::wrong_state:
            return 409;
        case ca::Refusal::limit:
            return 429;
        case ca::Refusal::invalid:
            return page == Page::crl_der || page == Page::crl_pem || page == Page::ca_pem ? 503
                                                                                          : 422;
        case ca::Refusal::malformed:
        case ca::Refusal::forbidden:
        case ca::Refusal::unavailable:
            return 503;  // Between the page and hub-ca, not the partner's doing.
    }
    HUB_PANIC("unknown refusal code");
}

std::string request_id_error(std::string_view id) {
    if (id.empty() || id.size() > request_id_bytes_max ||
        !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return "the request number is the number the request page showed (digits only)";
    }
    return {};
}

std::string credentials_error(std::string_view partner, std::string_view password) {
    if (partner.empty() || partner.size() > partner_bytes_max || !printable(partner)) {
        return fmt::format(
            "give your partner name (at most {} characters), as your hub "
            "administrator spelled it",
            partner_bytes_max);
    }
    if (password.empty() || password.size() > ca::password_bytes_max || !printable(password)) {
        return "give the enrollment password your hub administrator issued for this partner";
    }
    return {};
}

// The page or download for hub-ca's ok answer to pending.
Response success(const Pending& pending, const ca::Message& ok) {
    std::string body(ok.get_or(ca::Field::body, ""));
    std::string id(ok.get_or(ca::Field::request_id, pending.echo.request_id));
    switch (pending.page) {
        case Page::request:
            return page(
                200, "Request received: pending approval", "",
                fmt::format("<div class=\"done\" role=\"status\">\n<p>Your request number is "
                            "<strong id=\"request-id\">{0}</strong>. It is pending approval by "
                            "the hub administrator.</p>\n</div>\n"
                            "<p>Keep the number. <a href=\"/status\">Check request {0}</a> later; "
                            "once it is approved, <a href=\"/download\">download the "
                            "certificate</a> with the same partner name and password.</p>\n",
                            escape(id)));
        case Page::status:
            return page(200, fmt::format("Request {}", id), "",
                        fmt::format("<div class=\"done\" role=\"status\">\n<p "
                                    "id=\"request-state\">{}</p>\n</div>\n"
                                    "<p><a href=\"/download\">Download a "
                                    "certificate</a></p>\n",
                                    escape(ok.get_or(ca::Field::message, ""))));
        case Page::download:
            if (pending.echo.format == "der") {
                return download(std::move(body), "application/pkix-cert",
                                fmt::format("request-{}.cer", id));
            }
            if (pending.echo.format == "pkcs7") {
                return download(std::move(body), "application/pkcs7-mime",
                                fmt::format("request-{}.p7b", id));
            }
            return download(std::move(body), "application/x-pem-file",
                            fmt::format("request-{}.pem", id));
        case Page::crl_der:
            return download(std::move(body), "application/pkix-crl", "hubbox.crl");
        case Page::crl_pem:
            return download(std::move(body), "application/x-pem-file", "hubbox-crl.pem");
        case Page::ca_pem:
            return download(std::move(body), "application/x-pem-file", "hubbox-ca.pem");
        case Page::index:
            return page(200, "Certificate enrollment", "", index_body());
    }
    return page(200, "Certificate enrollment", "", index_body());
}

// Why a form is refused before hub-ca is asked: the status and the sentence to show.
struct FormProblem {
    int status = 400;
    std::string problem;
};

// The hub-ca request a form (its token already redeemed) becomes, after checking each
// field's size and characters; echo is updated (a too large request is not echoed).
Result<ca::Message, FormProblem> ca_request_of(Page kind, const Form& form, FormEcho& echo) {
    std::string_view partner = form.get("partner");
    std::string_view password = form.get("password");
    auto refuse = [](int status, std::string problem) {
        return unexpected(FormProblem{status, std::move(problem)});
    };
    if (kind != Page::request) {
        if (std::string why = request_id_error(form.get("request_id")); !why.empty()) {
            return refuse(400, std::move(why));
        }
    }
    if (std::string why = credentials_error(partner, password); !why.empty()) {
        return refuse(400, std::move(why));
    }
    ca::Message request;
    request.set(ca::Field::partner, std::string(partner))
        .set(ca::Field::password, std::string(password));
    if (kind == Page::request) {
        if (echo.csr.size() > ca::request_pem_bytes_max) {
            echo.csr.clear();  // Not echoed: the page would be as large as the upload.
            return refuse(413, fmt::format("the certificate request is larger than {} bytes; a "
                                           "request is usually 1 to 4 KB",
                                           ca::request_pem_bytes_max));
        }
        if (echo.csr.find("-----BEGIN ") == std::string::npos ||
            echo.csr.find("-----END ") == std::string::npos) {
            return refuse(422,
                          "paste the whole certificate request, from its -----BEGIN "
                          "CERTIFICATE REQUEST----- line to its -----END CERTIFICATE "
                          "REQUEST----- line");
        }
        request.kind = ca::Kind::submit;
        request.set(ca::Field::csr, echo.csr);
    } else {
        request.set(ca::Field::request_id, echo.request_id);
        if (kind == Page::status) {
            request.kind = ca::Kind::status;
        } else {
            if (echo.format != "pem" && echo.format != "der" && echo.format != "pkcs7") {
                return refuse(400, "choose a format: PEM, DER or PKCS#7");
            }
            request.kind = ca::Kind::fetch_certificate;
            request.set(ca::Field::format, echo.format);
        }
    }
    return request;
}

}  // namespace

App::App(AppSettings settings)
    : forms_(std::move(settings.hmac_key)),
      rates_(settings.requests_per_minute, settings.posts_per_minute) {}

Response App::error_page(int status, std::string_view message) {
    Response response = page(status, status_text(status), message,
                             "<p><a href=\"/\">Back to the start page</a></p>\n");
    response.close = true;
    return response;
}

Response App::with_cookie(Response response, std::string_view cookie, bool new_cookie) const {
    if (new_cookie) {
        // __Host-: only this host, Secure, Path=/ (RFC 6265bis 4.1.3.2). SameSite=Strict: no
        // other site's page can make the browser send it; HttpOnly: no script reads it.
        response.set_cookie =
            fmt::format("{}={}; Path=/; Secure; HttpOnly; SameSite=Strict", cookie_name, cookie);
    }
    return response;
}

Response App::form_page(Page page_kind, const FormEcho& echo, std::string_view cookie, int status,
                        std::string_view problem, std::int64_t now_s) {
    std::string visitor(cookie);
    bool new_cookie = false;
    if (!well_formed_cookie(visitor)) {
        auto made = forms_.new_cookie();
        if (!made) {
            return error_page(500, made.error());
        }
        visitor = *made;
        new_cookie = true;
    }
    auto token = forms_.token(form_name(page_kind), visitor, now_s);
    if (!token) {
        return error_page(500, token.error());
    }
    return with_cookie(
        page(status, page_title(page_kind), problem, form_body(page_kind, echo, *token)), visitor,
        new_cookie);
}

std::variant<Response, CaCall> App::handle(const Request& request, std::string_view peer,
                                           std::int64_t now_ms) {
    bool post = request.method == Method::post;
    std::int64_t now_s = now_ms / 1000;
    switch (rates_.take(peer, post, now_ms)) {
        case RateVerdict::allowed:
            break;
        case RateVerdict::limited: {
            std::uint32_t wait_s = rates_.retry_after_s(peer, post);
            Response response = error_page(
                429, fmt::format("too many {} from your address; wait {} seconds and try again",
                                 post ? "forms" : "requests", wait_s));
            response.retry_after_s = wait_s;
            return response;
        }
        case RateVerdict::table_full: {
            Response response = error_page(503, "the page is busy; try again in a minute");
            response.retry_after_s = 60;
            return response;
        }
    }
    Pending pending;
    pending.cookie = std::string(cookie_value(request.cookie, cookie_name));
    pending.head_only = request.method == Method::head;
    pending.close = !request.keep_alive;
    auto answer = post ? this->post(request, std::move(pending), now_s)
                       : get(request, std::move(pending), now_s);
    if (auto* response = std::get_if<Response>(&answer);
        response != nullptr && !request.keep_alive) {
        response->close = true;
    }
    return answer;
}

std::variant<Response, CaCall> App::get(const Request& request, Pending pending,
                                        std::int64_t now_s) {
    const std::string& path = request.path;
    auto fetch = [&](Page kind, ca::Kind ca_kind, std::string_view format) {
        pending.page = kind;
        CaCall call{ca::Message{}, std::move(pending)};
        call.request.kind = ca_kind;
        call.request.set(ca::Field::format, std::string(format));
        return call;
    };
    if (path == "/") {
        return page(200, "Certificate enrollment", "", index_body());
    }
    if (path == "/request" || path == "/status" || path == "/download") {
        Page kind = path == "/request"  ? Page::request
                    : path == "/status" ? Page::status
                                        : Page::download;
        return form_page(kind, FormEcho{}, pending.cookie, 200, "", now_s);
    }
    if (path == "/crl") {
        return fetch(Page::crl_der, ca::Kind::fetch_crl, "der");
    }
    if (path == "/crl.pem") {
        return fetch(Page::crl_pem, ca::Kind::fetch_crl, "pem");
    }
    if (path == "/ca.pem") {
        return fetch(Page::ca_pem, ca::Kind::fetch_ca, "pem");
    }
    if (path == "/style.css") {
        Response response;
        response.content_type = "text/css; charset=utf-8";
        response.body = std::string(pages::style_sheet());
        return response;
    }
    Response missing = page(404, "Not found", "there is no page at this address",
                            "<p><a href=\"/\">Back to the start page</a></p>\n");
    return missing;
}

std::variant<Response, CaCall> App::post(const Request& request, Pending pending,
                                         std::int64_t now_s) {
    const std::string& path = request.path;
    Page kind = path == "/request"    ? Page::request
                : path == "/status"   ? Page::status
                : path == "/download" ? Page::download
                                      : Page::index;
    if (kind == Page::index) {
        bool known = path == "/" || path == "/crl" || path == "/crl.pem" || path == "/ca.pem" ||
                     path == "/style.css";
        Response response =
            known ? error_page(405,
                               "this address only shows a page; forms go to /request, "
                               "/status and /download")
                  : error_page(404, "there is no form at this address");
        if (known) {
            response.allow = "GET, HEAD";
        }
        return response;
    }
    pending.page = kind;
    if (!request.content_type.starts_with("application/x-www-form-urlencoded")) {
        return form_page(kind, {}, pending.cookie, 415, "send the form from this page", now_s);
    }
    // A browser names the page a form came from; one from another site is refused even
    // before the token is looked at (the token alone would refuse it too).
    if (!request.origin.empty() && request.origin != "https://" + request.host) {
        return form_page(kind, {}, pending.cookie, 403,
                         "this form came from another site; use the form below", now_s);
    }
    auto form = Form::parse(request.body);
    if (!form) {
        return form_page(kind, {}, pending.cookie, 400, form.error(), now_s);
    }
    FormEcho& echo = pending.echo;
    echo.partner = std::string(form->get("partner").substr(0, partner_bytes_max));
    echo.request_id = std::string(form->get("request_id").substr(0, request_id_bytes_max));
    echo.format = std::string(form->get("format").substr(0, 8));
    if (kind == Page::request) {
        echo.csr = normalise_text(form->get("csr"));
    }
    if (auto redeemed = forms_.redeem(form_name(kind), pending.cookie, form->get("token"), now_s);
        !redeemed) {
        int status = redeemed.error() == FormRefusal::busy ? 503 : 403;
        return form_page(kind, echo, pending.cookie, status, form_refusal_text(redeemed.error()),
                         now_s);
    }
    auto to_ca = ca_request_of(kind, *form, echo);
    if (!to_ca) {
        return form_page(kind, echo, pending.cookie, to_ca.error().status, to_ca.error().problem,
                         now_s);
    }
    return CaCall{std::move(*to_ca), std::move(pending)};
}

Response App::finish(const Pending& pending, const Result<ca::Message, std::string>& answer,
                     std::int64_t now_ms) {
    std::int64_t now_s = now_ms / 1000;
    Response response;
    bool is_form = pending.page == Page::request || pending.page == Page::status ||
                   pending.page == Page::download;
    if (!answer || answer->kind != ca::Kind::ok) {
        int status = 503;
        std::string problem;
        if (!answer) {
            // The reason (socket path, errno) is in hub-enroll's log, not on the page.
            problem =
                "the certificate authority did not answer; nothing was changed, try "
                "again in a few minutes";
        } else {
            problem = std::string(answer->get_or(ca::Field::message, "refused"));
            status = refusal_status(pending.page, ca::refusal_code(*answer));
        }
        response =
            is_form ? form_page(pending.page, pending.echo, pending.cookie, status, problem, now_s)
                    : page(status, "Not available", problem,
                           "<p><a href=\"/\">Back to the start page</a></p>\n");
    } else if (answer->get_or(ca::Field::body, "").size() > download_bytes_max) {
        response = page(502, "Not available",
                        fmt::format("the file is larger than the {} bytes this page hands out; "
                                    "ask the hub administrator for it",
                                    download_bytes_max),
                        "<p><a href=\"/\">Back to the start page</a></p>\n");
    } else {
        response = success(pending, *answer);
    }
    response.close = response.close || pending.close;
    return response;
}

}  // namespace hub::enroll
