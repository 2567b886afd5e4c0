// command.cc -- the grammar of SMTP command lines.
//
// PURPOSE   Split command lines, parse MAIL/RCPT paths and ESMTP parameters, decode xtext.
// RUNS IN   every shard, called by ServerSession for each command line.
// TRUST     all input comes from the peer; every function validates and returns a verdict.
// LIMITS    lengths of RFC 5321 4.5.3.1 (smtp/limits.h); at most esmtp_params_count_max
//           parameters; xtext results bounded by the caller.
// SEE ALSO  smtp/server_session.cc, RFC 5321 4.1, RFC 3461 4 (xtext).
#include "smtp/command.h"

#include <algorithm>

#include "base/assert.h"

namespace hub::smtp {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_printable_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

namespace {

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

// RFC 5322 3.2.3 atext.
bool is_atext(char c) {
    if (is_alnum(c)) {
        return true;
    }
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(c) != std::string_view::npos;
}

// RFC 5321 4.1.2 Dot-string: Atom *("." Atom).
bool is_dot_string(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.') {
        return false;
    }
    char previous = '\0';
    for (char c : text) {
        if (c == '.') {
            if (previous == '.') {
                return false;
            }
        } else if (!is_atext(c)) {
            return false;
        }
        previous = c;
    }
    return true;
}

// RFC 5321 4.1.2 Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE.
bool is_quoted_string(std::string_view text) {
    if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
        return false;
    }
    for (std::size_t i = 1; i + 1 < text.size(); i++) {
        char c = text[i];
        if (c == '\\') {
            i++;
            if (i + 1 >= text.size() || text[i] < 32 || text[i] > 126) {
                return false;  // quoted-pairSMTP = "\" %d32-126, and not the closing quote.
            }
        } else if (c < 32 || c > 126 || c == '"') {
            return false;
        }
    }
    return true;
}

// The offset of the '@' between local part and domain: the last one outside quotes.
std::size_t find_at_sign(std::string_view address) {
    bool quoted = false;
    std::size_t at = std::string_view::npos;
    for (std::size_t i = 0; i < address.size(); i++) {
        char c = address[i];
        if (quoted && c == '\\') {
            i++;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == '@' && !quoted) {
            at = i;
        }
    }
    return at;
}

// Finds the '>' that closes a path starting at text[0] == '<', skipping quoted parts.
std::size_t find_path_end(std::string_view text) {
    HUB_ASSERT(!text.empty() && text.front() == '<');
    bool quoted = false;
    for (std::size_t i = 1; i < text.size(); i++) {
        char c = text[i];
        if (quoted && c == '\\') {
            i++;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == '>' && !quoted) {
            return i;
        }
    }
    return std::string_view::npos;
}

// RFC 5321 4.1.2 A-d-l: "@" domain *("," "@" domain), then ":"; returns the offset of
// what follows (0 without a route), or npos when the route is malformed.
std::size_t skip_source_route(std::string_view path) {
    if (path.empty() || path.front() != '@') {
        return 0;
    }
    std::size_t colon = path.find(':');
    if (colon == std::string_view::npos) {
        return std::string_view::npos;
    }
    std::string_view route = path.substr(0, colon);
    while (!route.empty()) {
        std::size_t comma = route.find(',');
        std::string_view hop = route.substr(0, comma);
        if (hop.size() < 2 || hop.front() != '@' || !is_valid_domain(hop.substr(1))) {
            return std::string_view::npos;
        }
        route = comma == std::string_view::npos ? std::string_view() : route.substr(comma + 1);
        if (comma != std::string_view::npos && route.empty()) {
            return std::string_view::npos;
        }
    }
    return colon + 1;
}

bool hex_value(char c, int& value) {
    if (is_digit(c)) {
        value = c - '0';
    } else if (c >= 'A' && c <= 'F') {
        value = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
        value = c - 'a' + 10;  // RFC 3461 wants upper case; lower case does no harm.
    } else {
        return false;
    }
    return true;
}

struct VerbName {
    std::string_view name;
    Verb verb;
};

constexpr std::array<VerbName, 13> verb_names{{
    {"ehlo", Verb::ehlo},
    {"helo", Verb::helo},
    {"mail", Verb::mail},
    {"rcpt", Verb::rcpt},
    {"data", Verb::data},
    {"bdat", Verb::bdat},
    {"rset", Verb::rset},
    {"noop", Verb::noop},
    {"quit", Verb::quit},
    {"starttls", Verb::starttls},
    {"help", Verb::help},
    {"vrfy", Verb::vrfy},
    {"expn", Verb::expn},
}};

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

CommandLine split_command(std::string_view line) {
    while (!line.empty() && line.back() == ' ') {
        line.remove_suffix(1);
    }
    std::size_t space = line.find(' ');
    std::string_view name = line.substr(0, space);
    CommandLine command;
    command.args = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    for (const VerbName& candidate : verb_names) {
        if (iequals(name, candidate.name)) {
            command.verb = candidate.verb;
            break;
        }
    }
    return command;
}

bool is_valid_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > domain_bytes_max) {
        return false;
    }
    while (true) {
        std::size_t dot = domain.find('.');
        std::string_view label = domain.substr(0, dot);
        if (label.empty() || label.size() > domain_label_bytes_max || label.front() == '-' ||
            label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!is_alnum(c) && c != '-') {
                return false;
            }
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        domain.remove_prefix(dot + 1);
    }
}

bool is_valid_address_literal(std::string_view literal) {
    if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']' ||
        literal.size() > domain_bytes_max) {
        return false;
    }
    // RFC 5321 4.1.3 General-address-literal dcontent: %d33-90 / %d94-126. The exact
    // IPv4/IPv6 forms are not checked: the hub routes on domains, never on literals.
    for (char c : literal.substr(1, literal.size() - 2)) {
        if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') {
            return false;
        }
    }
    return true;
}

bool is_valid_mailbox(std::string_view address) {
    if (address.size() + 2 > path_bytes_max) {
        return false;
    }
    std::size_t at = find_at_sign(address);
    if (at == std::string_view::npos) {
        return false;
    }
    std::string_view local = address.substr(0, at);
    std::string_view domain = address.substr(at + 1);
    if (local.empty() || local.size() > local_part_bytes_max) {
        return false;
    }
    if (!is_dot_string(local) && !is_quoted_string(local)) {
        return false;
    }
    if (!domain.empty() && domain.front() == '[') {
        return is_valid_address_literal(domain);
    }
    return is_valid_domain(domain);
}

Result<PathArgument, PathError> parse_path_argument(std::string_view args,
                                                    std::string_view keyword) {
    if (!istarts_with(args, keyword)) {
        return unexpected(PathError::syntax);
    }
    args.remove_prefix(keyword.size());
    if (!args.empty() && args.front() == ' ') {
        args.remove_prefix(1);  // "MAIL FROM: <a@b>" is common enough to tolerate.
    }
    if (args.empty() || args.front() != '<') {
        return unexpected(PathError::syntax);
    }
    std::size_t end = find_path_end(args);
    if (end == std::string_view::npos) {
        return unexpected(PathError::syntax);
    }
    PathArgument result;
    std::string_view rest = args.substr(end + 1);
    if (!rest.empty()) {
        if (rest.front() != ' ') {
            return unexpected(PathError::syntax);
        }
        std::size_t first = rest.find_first_not_of(' ');
        result.params = first == std::string_view::npos ? std::string_view() : rest.substr(first);
    }
    std::string_view path = args.substr(1, end - 1);
    if (path.size() + 2 > path_bytes_max) {
        return unexpected(PathError::address);
    }
    std::size_t mailbox = skip_source_route(path);  // RFC 5321 4.1.2: accept, then ignore.
    if (mailbox == std::string_view::npos || (mailbox > 0 && mailbox == path.size())) {
        return unexpected(PathError::address);  // A bad route, or a route to nobody.
    }
    result.address = path.substr(mailbox);
    HUB_ASSERT(result.address.size() <= path.size());
    return result;
}

bool parse_params(std::string_view text, Params& params) {
    params.count = 0;
    while (!text.empty()) {
        std::size_t space = text.find(' ');
        std::string_view item = text.substr(0, space);
        text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
        if (item.empty()) {
            continue;  // Runs of spaces.
        }
        if (params.count == params.items.size()) {
            return false;
        }
        Param& param = params.items[params.count];
        std::size_t equals = item.find('=');
        param.keyword = item.substr(0, equals);
        param.has_value = equals != std::string_view::npos;
        param.value = param.has_value ? item.substr(equals + 1) : std::string_view();
        // RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
        if (param.keyword.empty() || !is_alnum(param.keyword.front())) {
            return false;
        }
        for (char c : param.keyword) {
            if (!is_alnum(c) && c != '-') {
                return false;
            }
        }
        // esmtp-value = 1*(%d33-60 / %d62-126).
        if (param.has_value && param.value.empty()) {
            return false;
        }
        for (char c : param.value) {
            if (c < 33 || c > 126 || c == '=') {
                return false;
            }
        }
        params.count++;
    }
    return true;
}

bool xtext_decode(std::string_view text, std::size_t decoded_bytes_max, std::string& decoded) {
    decoded.clear();
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c < '!' || c > '~' || c == '=') {
            return false;
        }
        if (c == '+') {
            int high = 0;
            int low = 0;
            if (i + 2 >= text.size()) {
                return false;
            }
            if (!hex_value(text[i + 1], high) || !hex_value(text[i + 2], low)) {
                return false;
            }
            c = static_cast<char>(high * 16 + low);
            i += 2;
            if (c < ' ' || c > '~') {
                return false;  // Control or 8-bit: would be a header injection in a DSN.
            }
        }
        if (decoded.size() == decoded_bytes_max) {
            return false;
        }
        decoded.push_back(c);
    }
    return true;
}

bool parse_bdat_args(std::string_view args, std::uint64_t& chunk_bytes, bool& last) {
    std::size_t space = args.find(' ');
    last = false;
    if (space != std::string_view::npos) {
        if (!iequals(args.substr(space + 1), "LAST")) {
            return false;
        }
        last = true;
    }
    return parse_decimal(args.substr(0, space), chunk_bytes);
}

bool parse_decimal(std::string_view text, std::uint64_t& value) {
    if (text.empty() || text.size() > 19) {
        return false;  // 19 digits always fit 64 bits.
    }
    value = 0;
    for (char c : text) {
        if (!is_digit(c)) {
            return false;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}

}  // namespace hub::smtp
