// syntax.h -- small validators shared by the hub.conf and partner-file loaders.
//
// Every checker returns an empty string when the text is acceptable and otherwise a short
// phrase saying what is wrong, which the loaders put after "<file>: <key> = <value>: ".
// None of these allocate on success except where they return a normalised copy.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hub::config {

// ASCII lower-casing; DNS names compare case-insensitively (RFC 4343) and we store them
// lower case so that later comparisons are plain ==.
std::string ascii_lower(std::string_view text);
bool ascii_iequals(std::string_view a, std::string_view b);

// A host or domain name in LDH syntax (RFC 1035 2.3.1 as relaxed by RFC 1123 2.1): labels
// of 1..63 letters, digits and hyphens, not starting or ending with a hyphen, separated by
// single dots, 253 characters at most, no trailing dot. The last label must not be all
// digits, so that "192.0.2.1" is not taken for a name (RFC 3696 2).
// Returns "" if valid, otherwise why not.
std::string check_domain(std::string_view text);
// The same test without the explanation; never allocates (used per RCPT on the data path).
bool is_valid_domain(std::string_view text);

// A POSIX-portable user name as useradd accepts it: [a-z_][a-z0-9_-]*, 32 characters at
// most. Returns "" if valid, otherwise why not.
std::string check_user_name(std::string_view text);

// A numeric endpoint "IPv4:port" or "[IPv6]:port". Host names are refused on purpose:
// the hub must not depend on DNS to start or to reach a partner. When default_port is
// non-zero the ":port" part may be left out ("192.0.2.1", "[2001:db8::1]").
// On success host holds the address without brackets.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
};
std::string parse_endpoint(std::string_view text, Endpoint& endpoint,
                           std::uint16_t default_port = 0);

// Levenshtein distance, for "did you mean". Words longer than suggestion_word_bytes_max
// are not compared (returns SIZE_MAX) so that a hostile key cannot cost O(n^2).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to word within suggestion_distance_max edits, or "" if none is.
// Ties go to the earlier candidate.
std::string_view closest_word(std::string_view word, std::span<const std::string_view> candidates);

// A value as it should appear in an error message: strings quoted TOML-style with control
// characters escaped, cut after value_shown_bytes_max bytes.
std::string quote_for_message(std::string_view text);

}  // namespace hub::config
