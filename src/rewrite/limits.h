// limits.h -- bounds the header rewriter puts on message text.
//
// Message text comes from a partner's users, so crossing a bound never trips an assertion:
// the field (or the whole header section) is left exactly as it was and counted in
// rewrite::HeaderStats.
#pragma once

#include <cstddef>

namespace hub::rewrite {

// RFC 5322 2.1.1: a line is at most 998 octets before its CRLF.
inline constexpr std::size_t line_bytes_max = 998;
// The header section with its CRLFs, without the empty line that closes it. Postfix stops
// reading headers at 100 KiB (header_size_limit); a larger section is relayed unchanged.
inline constexpr std::size_t header_section_bytes_max = 1024 * 1024;
// One field, its folds included. A To: with a few thousand addresses fits.
inline constexpr std::size_t field_bytes_max = 256 * 1024;
// Addresses (addr-specs, obs-route domains not counted) in one field.
inline constexpr std::size_t addresses_per_field_max = 4096;
// RFC 5322 3.2.2 lets comments nest without bound; we stop at this depth.
inline constexpr std::size_t comment_depth_max = 32;
// RFC 5321 4.5.3.1.2. A longer domain cannot be a partner's, so it is never asked about.
inline constexpr std::size_t domain_bytes_max = 255;

static_assert(line_bytes_max + 2 <= field_bytes_max, "one full line fits a field");
static_assert(field_bytes_max <= header_section_bytes_max);
static_assert(addresses_per_field_max * 4 <= field_bytes_max, "\"a@b,\" is 4 bytes");
static_assert(comment_depth_max >= 2, "nested comments are allowed (RFC 5322 3.2.2)");

}  // namespace hub::rewrite
