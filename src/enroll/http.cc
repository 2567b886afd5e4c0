// http.cc -- the HTTP/1.1 subset parser and the response writer (http.h).
//
// PURPOSE   Turn a browser's bytes into one bounded Request at a time, refusing every
//           ambiguous framing, and spell responses with the page's security headers.
// RUNS IN   hub-enroll, on plaintext after TLS; no system calls.
// TRUST     Every byte comes from the internet. Lengths are checked before use, nothing
//           grows past limits.h, and an error spends the parser (the connection closes).
// LIMITS    enroll/limits.h: request_line_bytes_max, target_bytes_max, head_bytes_max,
//           header_line_bytes_max, headers_count_max, form_body_bytes_max.
// SEE ALSO  RFC 9112 (message syntax), RFC 9110 (semantics), tests/fuzz/enroll_http_fuzz.cc.

#include "enroll/http.h"

#include <fmt/format.h>

#include <algorithm>

#include "enroll/limits.h"

namespace hub::enroll {

namespace {

HttpError error(int status, std::string message) {
    return HttpError{status, std::move(message)};
}

// RFC 9110 5.6.2: tchar.
bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 5.5: field-vchar and SP/HTAB inside a value; no other control byte, no DEL.
bool is_value_char(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

bool has_token(std::string_view list, std::string_view wanted) {
    std::string lower = ascii_lower(list);
    std::string_view rest = lower;
    while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        if (trim(rest.substr(0, comma)) == wanted) {
            return true;
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return false;
}

Result<Request, HttpError> parse_request_line(std::string_view line) {
    if (line.size() > request_line_bytes_max) {
        return unexpected(error(
            414, fmt::format("the request line is longer than {} bytes", request_line_bytes_max)));
    }
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
        return unexpected(error(400, "the request line is not \"METHOD /path HTTP/1.1\""));
    }
    Request request;
    std::string_view method = line.substr(0, first);
    std::string_view target = line.substr(first + 1, second - first - 1);
    std::string_view version = line.substr(second + 1);
    if (version == "HTTP/1.0") {
        request.http_1_0 = true;
        request.keep_alive = false;
    } else if (version != "HTTP/1.1") {
        return unexpected(error(505, "only HTTP/1.1 (and 1.0) is spoken here"));
    }
    if (method == "GET") {
        request.method = Method::get;
    } else if (method == "HEAD") {
        request.method = Method::head;
    } else if (method == "POST") {
        request.method = Method::post;
    } else if (!method.empty() && std::all_of(method.begin(), method.end(), is_token_char)) {
        return unexpected(error(501, "only GET, HEAD and POST are used by these pages"));
    } else {
        return unexpected(error(400, "the request method is not a token"));
    }
    if (target.size() > target_bytes_max) {
        return unexpected(
            error(414, fmt::format("the address is longer than {} bytes", target_bytes_max)));
    }
    // Origin form only (RFC 9112 3.2.1): no absolute URLs, no "*", no control bytes.
    if (target.empty() || target.front() != '/' ||
        !std::all_of(target.begin(), target.end(), [](char c) {
            auto byte = static_cast<unsigned char>(c);
            return byte > 0x20 && byte < 0x7f;
        })) {
        return unexpected(error(400, "the address must be a path starting with /"));
    }
    std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
        request.query = std::string(target.substr(question + 1));
    }
    return request;
}

}  // namespace

RequestParser::RequestParser() : input_(connection_input_bytes_max) {}

Result<void, HttpError> RequestParser::header(std::string_view name, std::string_view value) {
    Request& request = *head_;
    std::string lower = ascii_lower(name);
    if (lower == "content-length") {
        if (seen_content_length_) {
            return unexpected(error(400, "Content-Length is given twice"));
        }
        seen_content_length_ = true;
        if (value.empty() || value.size() > 9 ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return unexpected(error(400, "Content-Length is not a number"));
        }
        std::size_t length = 0;
        for (char c : value) {
            length = length * 10 + static_cast<std::size_t>(c - '0');
        }
        if (length > form_body_bytes_max) {
            return unexpected(error(
                413, fmt::format("the form is {} bytes; at most {} are accepted (a certificate "
                                 "request is a few kilobytes)",
                                 length, form_body_bytes_max)));
        }
        body_bytes_ = length;
    } else if (lower == "transfer-encoding") {
        return unexpected(error(501, "Transfer-Encoding is not accepted; send Content-Length"));
    } else if (lower == "host") {
        if (seen_host_) {
            return unexpected(error(400, "Host is given twice"));
        }
        seen_host_ = true;
        request.host = std::string(value);
    } else if (lower == "connection") {
        if (has_token(value, "close")) {
            request.keep_alive = false;
        } else if (request.http_1_0 && has_token(value, "keep-alive")) {
            request.keep_alive = true;
        }
    } else if (lower == "content-type") {
        request.content_type = ascii_lower(value);
    } else if (lower == "cookie") {
        if (!request.cookie.empty()) {
            request.cookie += "; ";  // RFC 6265 5.4: one header, but join if split.
        }
        request.cookie += value;
    } else if (lower == "origin") {
        request.origin = std::string(value);
    } else if (lower == "expect") {
        if (ascii_lower(value) != "100-continue") {
            return unexpected(error(417, "only \"Expect: 100-continue\" is understood"));
        }
        expect_continue_ = true;
    }
    return {};
}

Result<bool, HttpError> RequestParser::parse_head(std::string_view head) {
    std::size_t line_end = head.find("\r\n");
    auto request = parse_request_line(head.substr(0, line_end));
    if (!request) {
        return unexpected(request.error());
    }
    head_ = std::move(*request);
    std::string_view rest = head.substr(line_end + 2);
    std::size_t count = 0;
    while (!rest.empty()) {
        line_end = rest.find("\r\n");
        std::string_view line = rest.substr(0, line_end);
        rest = rest.substr(line_end + 2);
        if (line.empty()) {
            break;  // The blank line that ends the head.
        }
        if (++count > headers_count_max) {
            return unexpected(
                error(431, fmt::format("more than {} header lines", headers_count_max)));
        }
        if (line.size() > header_line_bytes_max) {
            return unexpected(error(
                431, fmt::format("a header line is longer than {} bytes", header_line_bytes_max)));
        }
        if (line.front() == ' ' || line.front() == '\t') {
            return unexpected(error(400, "folded header lines are not accepted (RFC 9112 5.2)"));
        }
        std::size_t colon = line.find(':');
        std::string_view name = line.substr(0, colon);
        if (colon == std::string_view::npos || name.empty() ||
            !std::all_of(name.begin(), name.end(), is_token_char)) {
            return unexpected(error(400, "a header line is not \"Name: value\""));
        }
        std::string_view value = trim(line.substr(colon + 1));
        if (!std::all_of(value.begin(), value.end(), is_value_char)) {
            return unexpected(error(400, "a header value holds a control character"));
        }
        if (auto done = header(name, value); !done) {
            return unexpected(done.error());
        }
    }
    if (!head_->http_1_0 && !seen_host_) {
        return unexpected(error(400, "HTTP/1.1 needs a Host header"));
    }
    if (head_->method == Method::post && !seen_content_length_) {
        return unexpected(error(411, "a form needs Content-Length"));
    }
    if (head_->method != Method::post && body_bytes_ > 0) {
        return unexpected(error(400, "only a POST carries a body here"));
    }
    return true;
}

Result<std::optional<Request>, HttpError> RequestParser::next() {
    if (failed_) {
        return unexpected(error(400, "the connection is closing after an error"));
    }
    auto fail = [this](HttpError why) -> Result<std::optional<Request>, HttpError> {
        failed_ = true;
        return unexpected(std::move(why));
    };
    std::string_view buffered(input_.readable().data(), input_.size_bytes());
    if (!head_) {
        // RFC 9112 2.2: a recipient may drop empty lines before the request line.
        while (buffered.starts_with("\r\n")) {
            input_.consume(2);
            buffered.remove_prefix(2);
        }
        std::size_t end = buffered.find("\r\n\r\n");
        std::string_view head =
            buffered.substr(0, end == std::string_view::npos ? buffered.size() : end + 4);
        // Bare CR or LF anywhere in the head: refused, never guessed at (smuggling).
        for (std::size_t i = 0; i < head.size(); i++) {
            bool lone_cr = head[i] == '\r' && i + 1 < head.size() && head[i + 1] != '\n';
            bool lone_lf = head[i] == '\n' && (i == 0 || head[i - 1] != '\r');
            if (lone_cr || lone_lf || head[i] == '\0') {
                return fail(error(400, "lines must end with CR LF; a bare CR or LF was sent"));
            }
        }
        if (end == std::string_view::npos) {
            if (buffered.size() >= head_bytes_max) {
                return fail(error(431, fmt::format("the request line and headers are longer "
                                                   "than {} bytes",
                                                   head_bytes_max)));
            }
            std::size_t first_line = buffered.find("\r\n");
            if ((first_line == std::string_view::npos ? buffered.size() : first_line) >
                request_line_bytes_max) {
                return fail(error(414, fmt::format("the request line is longer than {} bytes",
                                                   request_line_bytes_max)));
            }
            return std::optional<Request>();
        }
        if (end + 4 > head_bytes_max) {
            return fail(
                error(431, fmt::format("the request line and headers are longer than {} bytes",
                                       head_bytes_max)));
        }
        body_bytes_ = 0;
        seen_content_length_ = seen_host_ = expect_continue_ = continue_sent_ = false;
        auto parsed = parse_head(head);
        if (!parsed) {
            head_.reset();
            return fail(parsed.error());
        }
        input_.consume(end + 4);
        buffered.remove_prefix(end + 4);
    }
    if (buffered.size() < body_bytes_) {
        return std::optional<Request>();
    }
    Request request = std::move(*head_);
    head_.reset();
    request.body = std::string(buffered.substr(0, body_bytes_));
    input_.consume(body_bytes_);
    expect_continue_ = false;
    return std::optional<Request>(std::move(request));
}

std::string_view status_text(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 303:
            return "See Other";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 417:
            return "Expectation Failed";
        case 422:
            return "Unprocessable Content";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::string serialise(const Response& response, bool head_only) {
    std::string out =
        fmt::format("HTTP/1.1 {} {}\r\n", response.status, status_text(response.status));
    out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", response.content_type,
                       response.body.size());
    // The page loads nothing but its own style sheet, is framed by nobody, and nothing it
    // shows (request ids, certificates, the password a visitor typed) is kept by a cache.
    // Referrer-Policy same-origin, not no-referrer: under no-referrer a browser sends
    // "Origin: null" with the page's own forms, and the Origin check in app.cc needs ours.
    out +=
        "Content-Security-Policy: default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'\r\n"
        "X-Frame-Options: DENY\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Referrer-Policy: same-origin\r\n"
        "Cross-Origin-Opener-Policy: same-origin\r\n"
        "Cross-Origin-Resource-Policy: same-origin\r\n"
        "Strict-Transport-Security: max-age=31536000\r\n"
        "Cache-Control: no-store\r\n";
    if (!response.set_cookie.empty()) {
        out += fmt::format("Set-Cookie: {}\r\n", response.set_cookie);
    }
    if (!response.content_disposition.empty()) {
        out += fmt::format("Content-Disposition: {}\r\n", response.content_disposition);
    }
    if (!response.allow.empty()) {
        out += fmt::format("Allow: {}\r\n", response.allow);
    }
    if (response.retry_after_s > 0) {
        out += fmt::format("Retry-After: {}\r\n", response.retry_after_s);
    }
    if (response.close) {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
    if (!head_only) {
        out += response.body;
    }
    return out;
}

}  // namespace hub::enroll
