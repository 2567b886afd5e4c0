// text.cc -- sanitising peer text and laying out lines for reports and replies.
//
// PURPOSE   The only code in src/dsn that decides which octets of peer text may appear in
//           a message the hub writes, and where lines break.
// RUNS IN   every shard, when the queue manager writes a report or the ping reply.
// TRUST     every input may be hostile: a remote server's reply, a Subject, a DN. Outputs
//           hold no CR, LF or NUL except the CRLFs these helpers write themselves.
// LIMITS    line_bytes_max (soft) and line_bytes_hard_max (hard) from dsn/limits.h.
// SEE ALSO  RFC 5322 2.1.1 and 2.2.3, RFC 3461 4 (xtext), RFC 5322 3.6.4 (msg-id).
#include "dsn/text.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "dsn/limits.h"

namespace hub::dsn::text {

namespace {

bool is_printable(char c) {
    return c >= ' ' && c <= '~';
}

// Where to end the current line: the index into `rest` of the space to break at, or of the
// octet to split a word before. `used` is what the line already holds.
std::size_t break_at(std::string_view rest, std::size_t used) {
    HUB_ASSERT(used < line_bytes_hard_max);
    HUB_ASSERT(rest.size() + used > line_bytes_max);
    // The last space that keeps the line within the soft limit; a break at index 0 would
    // leave a line of nothing but its prefix.
    std::size_t soft = line_bytes_max > used ? line_bytes_max - used : 0;
    if (soft >= 1) {
        std::size_t space = rest.find_last_of(' ', soft);
        if (space != std::string_view::npos && space >= 1) {
            return space;
        }
    }
    // No such space: the first one at all, if the line stays within the hard limit.
    std::size_t hard = line_bytes_hard_max - used;
    std::size_t space = rest.find(' ', 1);
    if (space != std::string_view::npos && space <= hard) {
        return space;
    }
    return std::min(hard, rest.size());  // A word longer than any line: split it.
}

// Breaks `rest` into lines after a first line holding `used` octets. keep_space: a break
// puts CRLF before the space (header folding, RFC 5322 2.2.3); otherwise the space is
// replaced by CRLF + continuation.
void append_broken(std::string& out, std::size_t used, std::string_view rest,
                   std::string_view continuation, bool keep_space) {
    HUB_ASSERT(rest.find_first_of("\r\n") == std::string_view::npos);
    HUB_ASSERT(continuation.size() < line_bytes_max / 2);
    while (used + rest.size() > line_bytes_max) {
        std::size_t index = break_at(rest, used);
        HUB_ASSERT(index >= 1);  // Each pass consumes at least one octet: the loop ends.
        bool at_space = index < rest.size() && rest[index] == ' ';
        if (index >= rest.size()) {
            break;  // The rest fits the hard limit; it is one long word.
        }
        out.append(rest.substr(0, index));
        out += "\r\n";
        if (at_space && keep_space) {
            rest.remove_prefix(index);  // The space starts the next line.
            used = 0;
        } else {
            rest.remove_prefix(at_space ? index + 1 : index);
            out.append(continuation);
            used = continuation.size();
        }
    }
    out.append(rest);
    out += "\r\n";
}

}  // namespace

std::string printable(std::string_view text, std::size_t bytes_max) {
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);  // The end of the header line, not part of the value.
    }
    std::string out;
    out.reserve(std::min(text.size(), bytes_max) + 3);
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        // RFC 5322 2.2.3 unfolding: a line end followed by white space is not content.
        if (c == '\r' && i + 2 < text.size() && text[i + 1] == '\n' &&
            (text[i + 2] == ' ' || text[i + 2] == '\t')) {
            i++;
            continue;
        }
        if (c == '\n' && i + 1 < text.size() && (text[i + 1] == ' ' || text[i + 1] == '\t')) {
            continue;
        }
        if (out.size() == bytes_max) {
            out += "...";
            break;
        }
        out += c == '\t' ? ' ' : (is_printable(c) ? c : '?');
    }
    // White space at either end is layout, not content (a field's value after the colon).
    std::size_t first = out.find_first_not_of(' ');
    out.erase(0, first == std::string::npos ? out.size() : first);
    out.erase(out.find_last_not_of(' ') + 1);
    HUB_ASSERT(out.size() <= bytes_max + 3);
    HUB_ASSERT(out.find_first_of("\r\n") == std::string::npos);
    return out;
}

std::string address(std::string_view text) {
    std::string out = printable(text, address_bytes_max);
    for (char& c : out) {
        if (c == ' ' || c == '<' || c == '>') {
            c = '?';
        }
    }
    return out;
}

std::string hostname(std::string_view text, std::size_t bytes_max) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < bytes_max; i++) {
        char c = text[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool other = c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        out += (alnum || other) ? c : '?';
    }
    return out;
}

std::string xtext_field(std::string_view decoded, std::size_t bytes_max) {
    bool plain = true;
    for (char c : decoded) {
        plain = plain && c > ' ' && c <= '~';
    }
    std::string out;
    for (char c : decoded) {
        if (out.size() + 3 > bytes_max) {
            break;
        }
        // XXX: a value that is all printable is written decoded, as sendmail and Postfix
        // do; only one that is not is written as xtext, which then also escapes '+' and
        // '=' (RFC 3461 4) so that it decodes back exactly.
        if (plain || (c > ' ' && c <= '~' && c != '+' && c != '=')) {
            out += c;
        } else {
            out += fmt::format("+{:02X}", static_cast<unsigned char>(c));
        }
    }
    HUB_ASSERT(out.size() <= bytes_max);
    return out;
}

std::string message_id(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    constexpr std::size_t message_id_bytes_max = 250;
    if (text.size() < 5 || text.size() > message_id_bytes_max || text.front() != '<' ||
        text.back() != '>') {
        return {};
    }
    std::string_view inner = text.substr(1, text.size() - 2);
    std::size_t at = inner.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == inner.size()) {
        return {};
    }
    for (char c : inner) {
        if (!is_printable(c) || c == ' ' || c == '<' || c == '>') {
            return {};
        }
    }
    return std::string(text);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    HUB_ASSERT(!name.empty() && name.size() + 2 < line_bytes_max);
    out.append(name);
    out += ": ";
    append_broken(out, name.size() + 2, value, " ", true);
}

void append_wrapped(std::string& out, std::string_view text, std::string_view indent) {
    append_broken(out, 0, text, indent, false);
}

bool append_lines(std::string& out, std::string_view text, std::size_t bytes_max) {
    HUB_ASSERT(bytes_max > 0);
    bool whole = text.size() <= bytes_max;
    if (!whole) {
        std::size_t last_end = text.find_last_of("\r\n", bytes_max - 1);
        text = text.substr(
            0, last_end == std::string_view::npos || last_end == 0 ? bytes_max : last_end + 1);
    }
    std::size_t line_bytes = 0;
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
                i++;
            }
            out += "\r\n";
            line_bytes = 0;
            continue;
        }
        if (line_bytes == line_bytes_hard_max) {
            out += "\r\n";  // RFC 5322 2.1.1: no line may be longer.
            line_bytes = 0;
        }
        out += c;
        line_bytes++;
    }
    if (!text.empty() && line_bytes > 0) {
        out += "\r\n";
    }
    return whole;
}

std::string_view header_section(std::string_view message) {
    if (message.starts_with("\r\n") || message.starts_with("\n")) {
        return {};
    }
    std::size_t crlf = message.find("\r\n\r\n");
    std::size_t lf = message.find("\n\n");
    std::size_t end = std::min(crlf == std::string_view::npos ? message.size() : crlf + 2,
                               lf == std::string_view::npos ? message.size() : lf + 1);
    return message.substr(0, end);
}

}  // namespace hub::dsn::text
