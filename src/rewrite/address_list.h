// address_list.h -- the RFC 5322 3.4 address grammar, reduced to what rewriting needs:
// where each addr-spec's domain sits in a field body, and where a long line may be folded.
//
// The body is the text after a field's colon up to (not including) its final CRLF; folds
// inside it are CRLF followed by SP or HT. Everything here reads text a peer controls: it
// validates and returns an error, never asserts on the input. Nothing is copied: offsets
// point into the caller's body.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::rewrite {

enum class ParseError {
    field_too_long,        // Above limits.h field_bytes_max.
    too_many_addresses,    // Above limits.h addresses_per_field_max.
    comment_too_deep,      // Nested deeper than limits.h comment_depth_max.
    unterminated_quote,    // '"' without its closing '"'.
    unterminated_comment,  // '(' without its closing ')'.
    unterminated_literal,  // '[' without its closing ']'.
    bad_line_break,        // CR or LF that is not part of CRLF WSP (RFC 5322 3.2.2).
    unexpected_byte,       // A byte no token starts with (')', ']', '\', a control).
    unexpected_token,      // Tokens in an order the grammar does not allow.
    missing_domain,        // A local part with no "@" domain ("From: alice").
};

// Where one addr-spec's domain is, as a byte range of the field body.
struct DomainSpan {
    std::size_t offset = 0;
    std::size_t bytes = 0;
    bool literal = false;  // A domain-literal such as "[192.0.2.1]", brackets included.
    // RFC 5322 4.4 obs-domain with CFWS between its atoms ("a@example (x) . com"): the
    // range runs from the first atom to the last and is not the domain's value as is.
    bool has_cfws = false;
};

struct AddressList {
    std::vector<DomainSpan> domains;  // In body order.
    // Offsets of SP or HT bytes where CRLF may be inserted to fold a long line
    // (RFC 5322 2.2.3): the first WSP after a list separator (',', a group's ':' or ';')
    // or at the start of the body, when text other than WSP follows on the same line.
    // In body order.
    std::vector<std::size_t> fold_points;

    void clear() {
        domains.clear();
        fold_points.clear();
    }
};

// Parses an address-list (RFC 5322 3.4), which also covers mailbox-list and a single
// mailbox, into `list` (cleared first). Tolerated obsolete forms (RFC 5322 4.4): empty list
// elements, obs-route in an angle-addr, obs-phrase with '.', obs-local-part, obs-domain with
// CFWS; RFC 6532 UTF-8 in atoms, quoted strings, comments and domain literals. An empty or
// all-CFWS body is an empty list. Returns the number of addr-specs found.
// Errors: see ParseError; `list` then holds what was found before the error.
[[nodiscard]] Result<std::size_t, ParseError> parse_address_list(std::string_view body,
                                                                 AddressList& list);

// The value of a domain written with CFWS between its atoms (DomainSpan::has_cfws): the
// atoms and dots of `text` concatenated into `out`. Returns false if `text` holds anything
// else or the value would not fit `out`.
[[nodiscard]] bool strip_domain_cfws(std::string_view text, std::span<char> out,
                                     std::size_t& bytes);

// The name of a ParseError, for logs and test output.
std::string_view parse_error_name(ParseError error);

// RFC 5322 WSP: space or horizontal tab.
bool is_wsp(char c);

}  // namespace hub::rewrite
