// reply_parser.cc -- SMTP server replies, read incrementally.
//
// PURPOSE   Turn the bytes a remote SMTP server sends into whole replies (code, enhanced
//           status code, text lines) for the outbound client.
// RUNS IN   every shard, inside ClientSession; no syscalls, no clock.
// TRUST     every byte comes from a remote server we connected to, which may be broken or
//           hostile. Framing is strict (only CRLF ends a line, RFC 5321 2.3.8), codes must
//           agree across a multiline reply, and text outside printable ASCII is masked
//           before it can reach a log line or a delivery report.
// LIMITS    reply_line_bytes_max (512 incl. CRLF) per line, reply_lines_count_max lines per
//           reply: one reply holds at most 32 KiB.
// SEE ALSO  smtp/reply_parser.h, smtp/client_session.cc, tests/fuzz/smtp_reply_fuzz.cc.
#include "smtp/reply_parser.h"

#include "base/assert.h"
#include "smtp/command.h"

namespace hub::smtp {

namespace {

// Reads 1 to 3 digits at text[at]; returns how many, 0 if none or more than 3.
std::size_t digits_at(std::string_view text, std::size_t at) {
    std::size_t count = 0;
    while (at + count < text.size() && is_digit(text[at + count])) {
        count++;
    }
    return count <= 3 ? count : 0;
}

}  // namespace

std::string Reply::text() const {
    std::string joined;
    for (const std::string& line : lines) {
        if (!joined.empty()) {
            joined += ' ';
        }
        joined += line;
    }
    return joined;
}

std::string Reply::full_text() const {
    std::string out = std::to_string(code);
    std::string joined = text();
    if (!joined.empty()) {
        out += ' ';
        out += joined;
    }
    return out;
}

std::string_view describe(ReplyError error) {
    switch (error) {
        case ReplyError::bad_code:
            return "reply without a valid code";
        case ReplyError::bad_separator:
            return "reply code not followed by space, hyphen or CRLF";
        case ReplyError::code_mismatch:
            return "multiline reply with differing codes";
        case ReplyError::line_too_long:
            return "reply line too long";
        case ReplyError::bare_line_ending:
            return "bare CR or LF in reply";
        case ReplyError::too_many_lines:
            return "reply with too many lines";
    }
    HUB_PANIC("unknown reply error");
}

// RFC 3463 2: status-code = class "." subject "." detail; class = "2"/"4"/"5";
// subject and detail = 1*3digit.
std::string_view parse_enhanced_code(std::string_view text) {
    if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
        return {};
    }
    std::size_t subject = digits_at(text, 2);
    if (subject == 0 || 2 + subject >= text.size() || text[2 + subject] != '.') {
        return {};
    }
    std::size_t detail_at = 2 + subject + 1;
    std::size_t detail = digits_at(text, detail_at);
    std::size_t end = detail_at + detail;
    if (detail == 0 || (end < text.size() && text[end] != ' ')) {
        return {};
    }
    return text.substr(0, end);
}

std::size_t ReplyParser::feed(std::span<const char> input) {
    HUB_ASSERT(status_ == Status::need_more);
    std::size_t i = 0;
    while (i < input.size()) {
        char c = input[i++];
        if (saw_cr_) {
            if (c != '\n') {
                fail(ReplyError::bare_line_ending);
                return i;
            }
            saw_cr_ = false;
            finish_line();
            if (status_ != Status::need_more) {
                return i;  // A whole reply, or an error: the rest stays with the caller.
            }
            continue;
        }
        if (c == '\r') {
            saw_cr_ = true;
            continue;
        }
        if (c == '\n') {
            fail(ReplyError::bare_line_ending);
            return i;
        }
        if (line_.size() + 2 >= reply_line_bytes_max) {
            fail(ReplyError::line_too_long);  // RFC 5321 4.5.3.1.5, CRLF included.
            return i;
        }
        line_ += c;
    }
    return i;
}

// RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                            Reply-code [ SP textstring ] CRLF
void ReplyParser::finish_line() {
    std::string_view line = line_;
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
        !is_digit(line[2])) {
        fail(ReplyError::bad_code);
        return;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool last = true;
    if (line.size() > 3) {
        if (line[3] == '-') {
            last = false;
        } else if (line[3] != ' ') {
            fail(ReplyError::bad_separator);
            return;
        }
    }
    if (!reply_.lines.empty() && code != reply_.code) {
        fail(ReplyError::code_mismatch);  // RFC 5321 4.2.1: every line has the same code.
        return;
    }
    if (reply_.lines.size() >= reply_lines_count_max) {
        fail(ReplyError::too_many_lines);
        return;
    }
    std::string text(line.substr(std::min<std::size_t>(line.size(), 4)));
    for (char& c : text) {
        if (c < ' ' || c > '~') {
            c = (c == '\t') ? ' ' : '?';  // Logs and reports see printable ASCII only.
        }
    }
    if (reply_.lines.empty()) {
        reply_.code = code;
        // RFC 2034 3 and RFC 3463: the enhanced code leads the text, and its class must be
        // the reply code's class; one that disagrees is not believed.
        std::string_view enhanced = parse_enhanced_code(text);
        if (!enhanced.empty() && enhanced.front() - '0' == code / 100) {
            reply_.enhanced.assign(enhanced);
        }
    }
    reply_.lines.push_back(std::move(text));
    line_.clear();
    if (last) {
        status_ = Status::complete;
    }
}

Reply ReplyParser::take_reply() {
    HUB_ASSERT(status_ == Status::complete);
    Reply reply = std::move(reply_);
    reply_ = Reply{};
    status_ = Status::need_more;
    HUB_ASSERT(line_.empty() && !saw_cr_);
    return reply;
}

ReplyError ReplyParser::error() const {
    HUB_ASSERT(status_ == Status::failed);
    return error_;
}

void ReplyParser::fail(ReplyError error) {
    status_ = Status::failed;
    error_ = error;
    line_.clear();
    saw_cr_ = false;
    reply_ = Reply{};
}

}  // namespace hub::smtp
