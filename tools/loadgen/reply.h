// reply.h -- SMTP reply reading for the load generator: bounded, incremental, sans-I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::loadgen {

struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // Without CRLF.

    bool positive() const { return code >= 200 && code < 400; }
    std::string_view last() const {
        return lines.empty() ? std::string_view() : std::string_view(lines.back());
    }
};

// Collects plaintext from the server and cuts it into complete replies (RFC 5321 4.2.1:
// "ddd-text" continuation lines, then "ddd text" or "ddd"). Bounded by reply_line_bytes_max,
// reply_lines_max and inbox_bytes_max; crossing one is an error for the session.
class ReplyReader {
public:
    // Appends bytes received; false (nothing appended) if the inbox would pass its bound.
    [[nodiscard]] bool append(std::span<const char> plaintext);
    // The next complete reply, std::nullopt when more bytes are needed, or an error text
    // (malformed line, line too long, too many lines, code changed mid-reply). After an
    // error the reader is unusable until clear().
    [[nodiscard]] Result<std::optional<Reply>, std::string> next();
    bool empty() const { return inbox_.size() == head_ && partial_.lines.empty(); }
    std::size_t buffered_bytes() const { return inbox_.size() - head_; }
    void clear();
    // Frees the inbox storage when nothing is buffered (held idle sessions).
    void release_if_empty();

private:
    std::string inbox_;
    std::size_t head_ = 0;  // Start of the unread bytes in inbox_.
    Reply partial_;         // Continuation lines read so far.
};

struct Extensions {
    bool pipelining = false;  // RFC 2920
    bool size = false;        // RFC 1870
};

// The keywords of an EHLO reply that the loadgen uses (lines after the first).
Extensions parse_ehlo(const Reply& reply);
// "queued as ID" in the reply's last line, else "-".
std::string queue_id_of(const Reply& reply);
// The start of the last line, for error counting (at most 60 characters).
std::string first_words(const Reply& reply);

}  // namespace hub::loadgen
