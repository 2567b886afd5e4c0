// reply_parser.h -- SMTP server replies (RFC 5321 4.2), read incrementally, without state
// beyond the reply being read.
//
// Everything here reads text a peer controls: the parser validates and returns a verdict,
// never asserts on its input. Used by the outbound client (client_session.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/limits.h"

namespace hub::smtp {

// One complete reply: "250-first\r\n250 last\r\n" is {250, "", {"first", "last"}}.
struct Reply {
    int code = 0;          // 200..599.
    std::string enhanced;  // RFC 3463 "class.subject.detail" from the first line, or empty.
    // The text after "NNN-" / "NNN " of each line, as the server sent it (enhanced code
    // included) except that bytes outside printable ASCII are replaced by '?', so that a
    // reply can go into logs and delivery reports as it is. Never empty; a line may be.
    std::vector<std::string> lines;

    // The lines joined with " ": the reply's text for a log or a report.
    std::string text() const;
    // The code, a space and text(): "550 5.1.1 No such user" (a report's Diagnostic-Code).
    std::string full_text() const;
    // The code's first digit: 2 (positive completion), 3, 4 (transient), 5 (permanent).
    int code_class() const { return code / 100; }
};

enum class ReplyError {
    bad_code,          // A line does not start with three digits, the first one 2-5.
    bad_separator,     // The code is followed by something other than " ", "-" or CRLF.
    code_mismatch,     // Lines of one multiline reply carry different codes (RFC 5321 4.2.1).
    line_too_long,     // Over reply_line_bytes_max including CRLF (RFC 5321 4.5.3.1.5).
    bare_line_ending,  // CR not followed by LF, or LF not preceded by CR (RFC 5321 2.3.8).
    too_many_lines,    // Over reply_lines_count_max lines in one reply.
};

// A short English description for logs: "reply line too long".
std::string_view describe(ReplyError error);

// Parses the RFC 3463 enhanced status code at the start of text ("5.1.1 User unknown"):
// class 2, 4 or 5, subject and detail of 1 to 3 digits each, followed by a space or the end.
// Returns the code ("5.1.1"), or an empty view when text does not start with one.
std::string_view parse_enhanced_code(std::string_view text);

class ReplyParser {
public:
    enum class Status {
        need_more,  // Consumed everything offered; the reply is not complete yet.
        complete,   // reply() holds a whole reply; take_reply() to read the next one.
        failed,     // error() says why; the parser stays failed (the stream is out of step).
    };

    // Consumes bytes from the front of input, stopping right after the final line of a reply
    // (bytes after it stay with the caller: after a 220 to STARTTLS they must not be read as
    // plaintext) or at the first error. Returns the count consumed. Precondition: status()
    // is need_more. Holds at most one line (reply_line_bytes_max) of partial input.
    std::size_t feed(std::span<const char> input);

    Status status() const { return status_; }
    // Precondition: status() is complete. Resets the parser for the next reply.
    Reply take_reply();
    // Precondition: status() is failed.
    ReplyError error() const;
    // True when bytes of an unfinished reply are held (a partial line, or lines before the
    // final one).
    bool mid_reply() const { return !line_.empty() || !reply_.lines.empty() || saw_cr_; }

private:
    void finish_line();
    void fail(ReplyError error);

    Status status_ = Status::need_more;
    ReplyError error_ = ReplyError::bad_code;
    std::string line_;     // The current line without CRLF; at most reply_line_bytes_max - 2.
    bool saw_cr_ = false;  // The last byte was CR; only LF may follow.
    Reply reply_;
};

}  // namespace hub::smtp
