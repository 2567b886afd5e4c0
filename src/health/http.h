// http.h -- the one HTTP request hub-metrics answers, judged without sockets.
//
// hub-metrics serves the Prometheus text format on GET /metrics and nothing else. The
// request head (request line and header fields, up to the blank line) is read with a
// bound and judged here: a clear 4xx for anything else, so that a browser or a scanner
// gets told, and no input reaches more code than this function.
#pragma once

#include <cstddef>
#include <string_view>

namespace hub::health {

inline constexpr std::size_t http_head_bytes_max = 8192;  // Request line and header fields.
inline constexpr std::size_t http_target_bytes_max = 256;

enum class HeadState { incomplete, complete, too_large };

// Whether bytes (all received so far) hold a whole head ending in an empty line.
HeadState http_head_state(std::string_view bytes);

struct HttpVerdict {
    int status = 400;         // 200 for GET /metrics; else the 4xx to send.
    std::string_view reason;  // The status line's reason phrase.
    std::string_view detail;  // One sentence for the body: what to ask instead.
};

// The verdict on a complete head (RFC 9112 3: request-line = method SP target SP version).
// Accepts "GET /metrics HTTP/1.0" or "HTTP/1.1" with well-formed header fields; a query
// string is refused (there are no parameters), as is any other method (405) or path (404).
HttpVerdict judge_http_request(std::string_view head);

}  // namespace hub::health
