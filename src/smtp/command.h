// command.h -- the grammar of SMTP command lines, without any session state.
//
// Everything here reads text a peer controls: each function validates and returns a
// verdict, never asserts on its input. Views returned point into the caller's line.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "smtp/limits.h"

namespace hub::smtp {

enum class Verb {
    ehlo,
    helo,
    mail,
    rcpt,
    data,
    bdat,
    rset,
    noop,
    quit,
    starttls,
    help,
    vrfy,
    expn,
    unknown
};

struct CommandLine {
    Verb verb = Verb::unknown;
    std::string_view args;  // After the verb and its space, trailing spaces removed.
};

// Splits a command line (without CRLF) into its verb (case-insensitive, RFC 5321 2.4)
// and its arguments.
CommandLine split_command(std::string_view line);

// ASCII case-insensitive comparisons (RFC 5321 2.4: verbs and parameters).
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);
// An ASCII digit, 0 to 9 (no locale).
bool is_digit(char c);
// Every byte a printable ASCII character (space to tilde).
bool is_printable_ascii(std::string_view text);

enum class PathError {
    syntax,   // The line does not have the shape KEYWORD:<path> [SP params].
    address,  // The shape is right, the mailbox inside is not.
};

struct PathArgument {
    std::string_view address;  // Without <>, without an RFC 5321 4.1.2 source route.
    std::string_view params;   // ESMTP parameters after the path; may be empty.
};

// Parses the argument of MAIL ("FROM:") or RCPT ("TO:"): keyword, an optional space
// (tolerated, as Postfix does), "<" path ">", then SP and parameters. The empty path
// is returned as an empty address; the caller decides whether it is allowed.
[[nodiscard]] Result<PathArgument, PathError> parse_path_argument(std::string_view args,
                                                                  std::string_view keyword);

// RFC 5321 4.1.2 Mailbox: Local-part "@" ( Domain / address-literal ), ASCII only
// (SMTPUTF8 is not offered), within the lengths of RFC 5321 4.5.3.1.
bool is_valid_mailbox(std::string_view address);
// RFC 5321 4.1.2 Domain: dot-separated labels of letters, digits and inner hyphens.
bool is_valid_domain(std::string_view domain);
// RFC 5321 4.1.3 address-literal, e.g. "[192.0.2.1]" or "[IPv6:2001:db8::1]".
bool is_valid_address_literal(std::string_view literal);

// One ESMTP parameter (RFC 5321 4.1.2 esmtp-param): keyword ["=" value].
struct Param {
    std::string_view keyword;
    std::string_view value;
    bool has_value = false;
};

struct Params {
    std::array<Param, esmtp_params_count_max> items{};
    std::size_t count = 0;
};

// Splits space-separated parameters; false on bad syntax or more than
// esmtp_params_count_max of them.
[[nodiscard]] bool parse_params(std::string_view text, Params& params);

// RFC 3461 4: decodes xtext ("+" two hex digits for a byte). Refuses bad escapes,
// characters outside "!".."~", decoded control characters (they would end up in DSN
// headers) and results longer than decoded_bytes_max; returns false for those.
[[nodiscard]] bool xtext_decode(std::string_view text, std::size_t decoded_bytes_max,
                                std::string& decoded);

// RFC 3030 2: the argument of "BDAT" SP chunk-size [SP "LAST"] (case-insensitive).
[[nodiscard]] bool parse_bdat_args(std::string_view args, std::uint64_t& chunk_bytes, bool& last);

// Parses 1 to 19 decimal digits; false on anything else (no sign, no overflow).
[[nodiscard]] bool parse_decimal(std::string_view text, std::uint64_t& value);

}  // namespace hub::smtp
