// text.h -- private to src/dsn: making peer text safe to quote, and laying out lines.
//
// Reports and ping replies quote text that a peer chose: a remote server's reply, an
// original Subject, certificate names, addresses. Each helper here reduces such text to a
// character set that cannot end a header field or a line (no CR, no LF, no NUL), and the
// layout helpers keep every line within RFC 5322's limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hub::dsn::text {

// Printable US-ASCII only. A folded header value is unfolded first (CRLF or LF followed by
// a space or tab is dropped, RFC 5322 2.2.3); a tab becomes a space; any other octet outside
// 0x20..0x7E (CR, LF, NUL, DEL, 8-bit) becomes '?'; spaces at either end are dropped.
// Text longer than bytes_max is cut and ends in "...".
std::string printable(std::string_view text, std::size_t bytes_max);

// An address for <...>: printable, without spaces or angle brackets (each becomes '?'),
// cut at address_bytes_max. Empty stays empty.
std::string address(std::string_view text);

// A host name, address literal or id: letters, digits and ".-_:[]"; others become '?'.
std::string hostname(std::string_view text, std::size_t bytes_max);

// The RFC 3461 4.2/4.4 value as a DSN field carries it: the decoded text, with every octet
// outside 0x21..0x7E, and '+' and '=' when that happens, written as xtext "+HH" so that
// a reader can decode it again.
std::string xtext_field(std::string_view decoded, std::size_t bytes_max);

// A Message-ID worth repeating in In-Reply-To: "<left@right>" with printable, non-space
// octets and no inner angle brackets, at most 250 octets; otherwise empty.
std::string message_id(std::string_view text);

// Appends "name: value" CRLF, folded before a space so that lines stay within 78 octets
// where the words allow it and never pass 998 (a longer word is split, and gains a space
// at the split). `value` must hold no CR or LF.
void append_field(std::string& out, std::string_view name, std::string_view value);

// Appends a paragraph line wrapped at spaces: each break replaces one space by CRLF and
// `indent`, so that removing "CRLF indent" gives the text back. The same limits as
// append_field. `text` must hold no CR or LF. Ends in CRLF.
void append_wrapped(std::string& out, std::string_view text, std::string_view indent);

// Appends text taken from a message: every line end (CRLF, or a bare CR or LF) becomes CRLF,
// a line longer than 998 octets is split, and the result ends in CRLF. Copies at most
// bytes_max octets of `text`, cut at the last line end before the bound when there is one.
// Returns false when it had to cut.
bool append_lines(std::string& out, std::string_view text, std::size_t bytes_max);

// The header section of a message or of a header block: everything before the first empty
// line (CRLF CRLF, or LF LF), without that empty line.
std::string_view header_section(std::string_view message);

}  // namespace hub::dsn::text
