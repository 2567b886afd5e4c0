// text.h -- hubctl's output escaping and its "did you mean ...?" helper.
//
// Everything here is pure (no I/O), so hubctl_text_test checks it with tables of cases.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hub::hubctl {

// Control characters and DEL become '?', so that a hostile address cannot drive the
// administrator's terminal.
std::string printable(std::string_view text);

// TSV fields: backslash, tab, newline and other control characters escaped as \\, \t, \n
// and \xNN; commas too when escape_comma (inside a comma-separated column).
std::string tsv_field(std::string_view text, bool escape_comma);

// A JSON string literal, quotes included (RFC 8259 7): '"', '\\' and control characters
// escaped, DEL as \u007f; bytes that are not valid UTF-8 (spool strings are bytes a sender
// chose) become U+FFFD, so that the output is always valid JSON.
std::string json_string(std::string_view text);

// The candidate closest to word, if it is close enough to be a typo: distance 1 or 2, and
// at most half of word's length (at least 1), so "ab" does not suggest "list" while "hodl"
// suggests "hold". Ties go to the earlier candidate.
std::optional<std::string_view> closest_word(std::string_view word,
                                             std::span<const std::string_view> candidates);

}  // namespace hub::hubctl
