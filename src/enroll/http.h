// http.h -- the HTTP/1.1 subset hub-enroll speaks, sans I/O: bytes in, requests out.
//
// A RequestParser takes the plaintext a browser sent (after TLS) and yields one Request at
// a time, or an HttpError naming the status to answer and why. It accepts only what the
// enrollment page needs (RFC 9112): GET, HEAD and POST in origin form, HTTP/1.1 or 1.0,
// headers as name ":" value with CRLF line ends, a body given by Content-Length. Anything
// else is refused before the request reaches the application:
//   - bare CR or LF, obsolete line folding, a space before the colon, control bytes
//     (request smuggling, RFC 9112 2.2, 5.1, 5.2);
//   - Transfer-Encoding of any kind (501), and so chunked bodies: with Content-Length the
//     only framing, a request can be read only one way (RFC 9112 6.3);
//   - two Content-Length headers, or one that is not digits (400), a POST without one
//     (411), a body over form_body_bytes_max (413), a head over head_bytes_max (431);
//   - HTTP/1.1 without exactly one Host (RFC 9112 3.2).
// Errors close the connection afterwards: after a framing error the next request's start
// is unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/byte_queue.h"
#include "base/result.h"

namespace hub::enroll {

enum class Method { get, head, post };

struct Request {
    Method method = Method::get;
    std::string path;   // "/request"; the query (after '?') is split off.
    std::string query;  // Without the '?'.
    bool http_1_0 = false;
    bool keep_alive = true;  // Connection: close (or HTTP/1.0 without keep-alive) clears it.
    std::string host;
    std::string content_type;  // Lower case, parameters kept.
    std::string cookie;        // The Cookie header as sent.
    std::string origin;        // Origin, if sent (RFC 6454).
    std::string body;
};

struct HttpError {
    int status = 400;
    std::string message;  // A sentence for the visitor.
};

// Reads requests from a byte stream. Precondition of feed(): the caller delivers at most
// space_bytes() (it reads no more from the connection than fits).
class RequestParser {
public:
    RequestParser();

    std::size_t space_bytes() const { return input_.space_bytes(); }
    [[nodiscard]] bool feed(std::span<const char> bytes) { return input_.append(bytes); }

    // The next complete request, nullopt when more bytes are needed, or an error (after
    // which the parser is spent). Call again after a request: pipelined requests wait in
    // the buffer.
    [[nodiscard]] Result<std::optional<Request>, HttpError> next();

    // True when the head announced "Expect: 100-continue" and its body has not arrived:
    // the server answers "100 Continue" once (then clears it with continue_sent()).
    bool wants_continue() const { return expect_continue_ && !continue_sent_; }
    void continue_sent() { continue_sent_ = true; }

    // Whether bytes of an unfinished request are buffered (for the head/body timers).
    bool reading_body() const { return head_.has_value(); }
    bool idle() const { return !head_ && input_.empty(); }

private:
    Result<bool, HttpError> parse_head(std::string_view head);
    Result<void, HttpError> header(std::string_view name, std::string_view value);

    base::ByteQueue input_;
    std::optional<Request> head_;  // Set once the head parsed; waits for its body.
    std::size_t body_bytes_ = 0;
    bool seen_content_length_ = false;
    bool seen_host_ = false;
    bool expect_continue_ = false;
    bool continue_sent_ = false;
    bool failed_ = false;
};

// A response to write. Headers common to every answer (security headers, no caching,
// Content-Length, Connection) are added by serialise().
struct Response {
    int status = 200;
    std::string content_type = "text/html; charset=utf-8";
    std::string body;
    std::string set_cookie;           // A whole Set-Cookie value, or empty.
    std::string content_disposition;  // "attachment; filename=..." for downloads.
    std::string allow;                // For 405.
    std::uint32_t retry_after_s = 0;  // For 429 and 503.
    bool close = false;               // Send Connection: close and end the connection.
};

std::string_view status_text(int status);

// The response as bytes. head_only drops the body (HEAD) but keeps its Content-Length.
std::string serialise(const Response& response, bool head_only);

}  // namespace hub::enroll
