// headers.cc -- counting Received: fields and finding a field in a header section.
//
// PURPOSE   Loop detection (more than 30 Received: fields is a mail loop) and the
//           Subject and Message-ID the ping reply quotes.
// RUNS IN   every shard: once per accepted message before it is relayed, and per ping.
// TRUST     the header section is the peer's: any octets, any line lengths. The scan only
//           reads, stops at the first empty line, and visits each octet at most twice.
// LIMITS    none of its own: the SMTP server bounds the message (message_bytes_max).
// SEE ALSO  RFC 5322 2.2 and 4.5, RFC 5321 6.3 (loop detection).
#include "dsn/headers.h"

#include "base/assert.h"

namespace hub::dsn {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); i++) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// Walks the fields of a header section: each call to next() yields one field's name and
// its raw value (continuation lines included), until the empty line or the end.
class FieldReader {
public:
    explicit FieldReader(std::string_view message) : message_(message) {}

    bool next(std::string_view& name, std::string_view& value) {
        while (position_ < message_.size()) {
            std::size_t start = position_;
            std::size_t end = line_end(start);
            if (end == start) {
                position_ = message_.size();  // The empty line: the body follows.
                return false;
            }
            // The field runs on over continuation lines, which start with white space.
            std::size_t field_end = end;
            position_ = skip_line_end(end);
            while (position_ < message_.size() &&
                   (message_[position_] == ' ' || message_[position_] == '\t')) {
                field_end = line_end(position_);
                position_ = skip_line_end(field_end);
            }
            HUB_ASSERT(position_ > start);
            std::string_view field = message_.substr(start, field_end - start);
            std::size_t colon = field.find(':');
            if (colon == std::string_view::npos || field[0] == ' ' || field[0] == '\t') {
                continue;  // Not a field (a stray continuation, or junk): not ours to judge.
            }
            name = field.substr(0, colon);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
                name.remove_suffix(1);  // RFC 5322 4.5 obsolete syntax: WSP before ':'.
            }
            value = field.substr(colon + 1);
            return true;
        }
        return false;
    }

private:
    // The index of the CR of a CRLF, or of a bare LF, ending the line at `start`.
    std::size_t line_end(std::size_t start) const {
        std::size_t lf = message_.find('\n', start);
        if (lf == std::string_view::npos) {
            return message_.size();
        }
        return (lf > start && message_[lf - 1] == '\r') ? lf - 1 : lf;
    }
    std::size_t skip_line_end(std::size_t end) const {
        if (end < message_.size() && message_[end] == '\r') {
            end++;
        }
        return end < message_.size() ? end + 1 : end;
    }

    std::string_view message_;
    std::size_t position_ = 0;
};

}  // namespace

unsigned count_received_headers(std::string_view message) {
    FieldReader reader(message);
    std::string_view name;
    std::string_view value;
    unsigned count = 0;
    while (reader.next(name, value)) {
        if (iequals(name, "Received")) {
            count++;
        }
    }
    HUB_ASSERT(count <= message.size() / 10 + 1);  // "Received:" and a line end per field.
    return count;
}

std::optional<std::string_view> header_value(std::string_view message, std::string_view name) {
    HUB_ASSERT(!name.empty());
    FieldReader reader(message);
    std::string_view field_name;
    std::string_view value;
    while (reader.next(field_name, value)) {
        if (iequals(field_name, name)) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace hub::dsn
