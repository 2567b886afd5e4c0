// syntax.cc -- validators for names, addresses and endpoints in configuration files.
//
// PURPOSE   Say precisely what is wrong with one configuration value, so that the loaders
//           can report "<file>: <key> = <value>: <what is allowed> (<what is wrong>)".
// RUNS IN   hubd's supervisor at start-up and hubctl; never on the data path.
// TRUST     The input is the operator's own files: mistakes, not attacks, but every loop is
//           still bounded by the text length and edit_distance refuses long words.
// LIMITS    config/limits.h: label and domain lengths (RFC 1035 2.3.4), user name length,
//           suggestion distance.
// SEE ALSO  config/hub_config.cc, policy/partners.cc, docs/CONFIGURATION.md.

#include "config/syntax.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "base/assert.h"
#include "config/limits.h"

namespace hub::config {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_ldh(char c) {
    return (lower(c) >= 'a' && lower(c) <= 'z') || is_digit(c) || c == '-';
}

// A byte as it should appear inside a quoted message: printable as itself, else escaped.
std::string show_char(char c) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
        return fmt::format("\\x{:02x}", byte);
    }
    return std::string(1, c);
}

// Parses the decimal port after the colon: 1..65535, digits only, no sign or spaces.
std::string parse_port(std::string_view text, std::uint16_t& port) {
    if (text.empty()) {
        return "the port is missing";
    }
    if (text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
        return fmt::format("port {} is not a number 1..65535", quote_for_message(text));
    }
    std::uint32_t value = 0;
    for (char c : text) {
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value == 0 || value > 65535) {
        return fmt::format("port {} is not a number 1..65535", value);
    }
    port = static_cast<std::uint16_t>(value);
    return "";
}

}  // namespace

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

bool ascii_iequals(std::string_view a, std::string_view b) {
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

namespace {

enum class DomainProblem {
    none,
    empty,
    too_long,
    trailing_dot,
    empty_label,
    long_label,
    bad_character,
    edge_hyphen,
    numeric_last_label,
};

// Finds the first problem; label and bad are set for the problems that name them.
DomainProblem find_domain_problem(std::string_view text, std::string_view& label, char& bad) {
    if (text.empty()) {
        return DomainProblem::empty;
    }
    if (text.size() > domain_bytes_max) {
        return DomainProblem::too_long;
    }
    if (text.back() == '.') {
        return DomainProblem::trailing_dot;
    }
    std::size_t start = 0;
    while (start <= text.size()) {  // Bounded: start grows by at least one per label.
        std::size_t end = std::min(text.find('.', start), text.size());
        label = text.substr(start, end - start);
        if (label.empty()) {
            return DomainProblem::empty_label;
        }
        if (label.size() > label_bytes_max) {
            return DomainProblem::long_label;
        }
        auto it = std::find_if_not(label.begin(), label.end(), is_ldh);
        if (it != label.end()) {
            bad = *it;
            return DomainProblem::bad_character;
        }
        if (label.front() == '-' || label.back() == '-') {
            return DomainProblem::edge_hyphen;
        }
        start = end + 1;
    }
    HUB_ASSERT(!label.empty());  // The last label.
    if (std::all_of(label.begin(), label.end(), is_digit)) {
        return DomainProblem::numeric_last_label;
    }
    return DomainProblem::none;
}

}  // namespace

bool is_valid_domain(std::string_view text) {
    std::string_view label;
    char bad = 0;
    return find_domain_problem(text, label, bad) == DomainProblem::none;
}

std::string check_domain(std::string_view text) {
    std::string_view label;
    char bad = 0;
    switch (find_domain_problem(text, label, bad)) {
        case DomainProblem::none:
            return "";
        case DomainProblem::empty:
            return "it is empty";
        case DomainProblem::too_long:
            return fmt::format("it is longer than {} characters", domain_bytes_max);
        case DomainProblem::trailing_dot:
            return "it ends with a dot";
        case DomainProblem::empty_label:
            return "it has an empty label";
        case DomainProblem::long_label:
            return fmt::format("label \"{}...\" is longer than {} characters", label.substr(0, 16),
                               label_bytes_max);
        case DomainProblem::bad_character:
            return fmt::format("'{}' is not a letter, digit, hyphen or dot", show_char(bad));
        case DomainProblem::edge_hyphen:
            return fmt::format("label \"{}\" starts or ends with a hyphen", label);
        case DomainProblem::numeric_last_label:
            return "the last label is all digits, like an IP address";
    }
    HUB_PANIC("unknown domain problem");
}

std::string check_user_name(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (text.size() > user_name_bytes_max) {
        return fmt::format("it is longer than {} characters", user_name_bytes_max);
    }
    auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
    };
    auto bad = std::find_if_not(text.begin(), text.end(), allowed);
    if (bad != text.end()) {
        return fmt::format("'{}' is not a lower-case letter, digit, '_' or '-'", show_char(*bad));
    }
    if (is_digit(text.front()) || text.front() == '-') {
        return "it starts with a digit or '-'";
    }
    return "";
}

std::string parse_endpoint(std::string_view text, Endpoint& endpoint, std::uint16_t default_port) {
    std::string_view host;
    std::string_view rest;  // "" or ":port".
    bool ipv6 = false;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return "the '[' has no closing ']'";
        }
        host = text.substr(1, close - 1);
        rest = text.substr(close + 1);
        ipv6 = true;
    } else {
        std::size_t colon = text.find(':');
        if (colon != std::string_view::npos &&
            text.find(':', colon + 1) != std::string_view::npos) {
            return "an IPv6 address needs brackets, as in \"[2001:db8::1]:25\"";
        }
        host = text.substr(0, std::min(colon, text.size()));
        rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
    }
    if (host.empty()) {
        return "the address is missing";
    }
    std::array<std::uint8_t, sizeof(in6_addr)> binary{};
    std::string host_text(host);  // inet_pton needs a terminated string.
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, host_text.c_str(), binary.data()) != 1) {
        return fmt::format("{} is not a numeric {} address{}", quote_for_message(host),
                           ipv6 ? "IPv6" : "IPv4", ipv6 ? "" : " (names are not looked up)");
    }
    std::uint16_t port = default_port;
    if (rest.empty()) {
        if (default_port == 0) {
            return "the \":port\" is missing";
        }
    } else if (rest.front() != ':') {
        return fmt::format("unexpected {} after the address", quote_for_message(rest));
    } else {
        std::string why = parse_port(rest.substr(1), port);
        if (!why.empty()) {
            return why;
        }
    }
    HUB_ASSERT(port != 0);
    endpoint.host = std::move(host_text);
    endpoint.port = port;
    return "";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    if (a.size() > suggestion_word_bytes_max || b.size() > suggestion_word_bytes_max) {
        return std::numeric_limits<std::size_t>::max();
    }
    // One row of the classic dynamic programme; row[j] = distance(a[0..i), b[0..j)).
    std::array<std::size_t, suggestion_word_bytes_max + 1> row{};
    for (std::size_t j = 0; j <= b.size(); j++) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); i++) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); j++) {
            std::size_t above = row[j];
            std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string_view closest_word(std::string_view word, std::span<const std::string_view> candidates) {
    std::string_view best;
    std::size_t best_distance = suggestion_distance_max + 1;
    for (std::string_view candidate : candidates) {
        std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

std::string quote_for_message(std::string_view text) {
    std::size_t shown = text.size();
    if (shown > value_shown_bytes_max) {
        shown = value_shown_bytes_max;
        // Do not cut a UTF-8 sequence in half: back off over continuation bytes.
        while (shown > 0 && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80) {
            shown--;
        }
    }
    std::string out = "\"";
    for (char c : text.substr(0, shown)) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f) {
            out += fmt::format("\\u{:04x}", byte);
        } else {
            out += c;
        }
    }
    out += shown < text.size() ? "...\"" : "\"";
    return out;
}

}  // namespace hub::config
