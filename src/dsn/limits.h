// limits.h -- bounds on the reports the hub writes and on the peer text they quote.
//
// Everything a peer controls (the remote server's reply, the original message, its Subject,
// certificate names) is cut to one of these before it enters a report, so a hostile peer can
// neither make a report huge nor push a line past RFC 5322's hard limit.
#pragma once

#include <cstddef>

namespace hub::dsn {

// Loop detection: a message with more Received: headers than this is bounced, not relayed.
// RFC 5321 6.3 asks for a limit of at least 100 hops on the open internet; the hub serves a
// closed community where two or three hops are normal, so 30 catches loops much sooner.
inline constexpr unsigned received_count_max = 30;

inline constexpr std::size_t line_bytes_max = 78;          // RFC 5322 2.1.1 SHOULD.
inline constexpr std::size_t line_bytes_hard_max = 998;    // RFC 5322 2.1.1 MUST, without CRLF.
inline constexpr std::size_t boundary_bytes_max = 70;      // RFC 2046 5.1.1.
inline constexpr std::size_t address_bytes_max = 256;      // RFC 5321 4.5.3.1.3, with <>.
inline constexpr std::size_t diagnostic_bytes_max = 2000;  // A joined remote reply, cut here.
inline constexpr std::size_t peer_text_bytes_max = 200;    // Subject, names, DNs in a reply.
inline constexpr std::size_t envid_bytes_max = 100 * 3;    // RFC 3461 4.4, once re-encoded.
inline constexpr std::size_t orcpt_bytes_max = 500 * 3;    // RFC 3461 4.2, once re-encoded.

// RET=FULL returns at most this much of the original message; RET=HDRS at most this much of
// its header section. Postfix's bounce_size_limit is 50 000; a partner's administrator may
// want a little more of a report-sized message back.
inline constexpr std::size_t returned_bytes_default = 128 * 1024;
inline constexpr std::size_t returned_bytes_max = 1024 * 1024;

static_assert(line_bytes_max < line_bytes_hard_max);
static_assert(returned_bytes_default <= returned_bytes_max);
static_assert(boundary_bytes_max < line_bytes_max, "a delimiter line fits the soft limit");
static_assert(peer_text_bytes_max + 30 < line_bytes_hard_max, "a labelled value fits a line");

}  // namespace hub::dsn
