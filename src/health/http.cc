// http.cc -- judging hub-metrics' one kind of request.
//
// PURPOSE   Say whether an HTTP request head asks for GET /metrics, and what to answer.
// RUNS IN   hub-metrics.
// TRUST     none: any local process (or, if so configured, a network peer) sends it.
// LIMITS    http_head_bytes_max, http_target_bytes_max; one pass, no allocation.
// SEE ALSO  http.h, programs/hub-metrics/main.cc, RFC 9112
#include "health/http.h"

namespace hub::health {
namespace {

bool token_char(char c) {
    // RFC 9110 5.6.2 tchar.
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool field_line_ok(std::string_view line) {
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
        return false;
    }
    for (char c : line.substr(0, colon)) {
        if (!token_char(c)) {
            return false;  // Also refuses white space before the colon (RFC 9112 5.1).
        }
    }
    for (char c : line.substr(colon + 1)) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7F) {
            return false;
        }
    }
    return true;
}

}  // namespace

HeadState http_head_state(std::string_view bytes) {
    std::size_t end = bytes.find("\r\n\r\n");
    if (end != std::string_view::npos && end + 4 <= http_head_bytes_max) {
        return HeadState::complete;
    }
    return bytes.size() >= http_head_bytes_max ? HeadState::too_large : HeadState::incomplete;
}

HttpVerdict judge_http_request(std::string_view head) {
    const HttpVerdict bad{400, "Bad Request", "send: GET /metrics HTTP/1.1"};
    std::size_t line_end = head.find("\r\n");
    if (line_end == std::string_view::npos) {
        return bad;
    }
    std::string_view line = head.substr(0, line_end);
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
        return bad;
    }
    std::string_view method = line.substr(0, first);
    std::string_view target = line.substr(first + 1, second - first - 1);
    std::string_view version = line.substr(second + 1);
    if (method.empty() || target.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0")) {
        return bad;
    }
    for (char c : method) {
        if (!token_char(c)) {
            return bad;
        }
    }
    for (char c : target) {
        auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7F) {
            return bad;
        }
    }
    // Header fields: each well-formed; none is needed (HTTP/1.1's Host is not checked:
    // there is one resource and no virtual hosts).
    std::string_view fields = head.substr(line_end + 2);
    // Bounded: every pass consumes one line of the bounded head.
    while (!fields.empty() && !fields.starts_with("\r\n")) {
        std::size_t end = fields.find("\r\n");
        if (end == std::string_view::npos || !field_line_ok(fields.substr(0, end))) {
            return bad;
        }
        fields.remove_prefix(end + 2);
    }
    if (target.size() > http_target_bytes_max) {
        return {414, "URI Too Long", "the only resource is /metrics"};
    }
    if (method != "GET") {
        return {405, "Method Not Allowed", "only GET /metrics is served"};
    }
    if (target != "/metrics") {
        return {404, "Not Found", "the only resource is /metrics"};
    }
    return {200, "OK", ""};
}

}  // namespace hub::health
