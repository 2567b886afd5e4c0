// limits.h -- ceilings the SMTP state machines enforce on peer input.
//
// Crossing one earns the peer a reply code, never an assertion. The *_default values are
// the configurable ones (src/config checks their ranges); the *_max values are fixed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::smtp {

inline constexpr std::uint32_t command_line_bytes_max = 512;  // incl. CRLF, RFC 5321 4.5.3.1.4
inline constexpr std::uint32_t text_line_bytes_max = 1000;    // incl. CRLF, RFC 5321 4.5.3.1.6
inline constexpr std::uint32_t inbox_bytes = 16 * 1024;       // Per connection, plaintext.
inline constexpr std::uint32_t commands_per_feed_max = 32;    // Then yield to other peers.

inline constexpr std::uint32_t recipients_count_default = 100;  // RFC 5321 4.5.3.1.8: >= 100.
inline constexpr std::uint32_t errors_count_default = 10;       // Then 421 and close.
inline constexpr std::uint64_t message_bytes_default = 5 * 1024 * 1024;  // Advertised SIZE.
inline constexpr std::uint32_t command_timeout_ms_default = 300000;      // RFC 5321 4.5.3.2.7.
inline constexpr std::uint32_t data_timeout_ms_default = 600000;         // RFC 5321 4.5.3.2.6.

inline constexpr std::uint32_t local_part_bytes_max = 64;    // RFC 5321 4.5.3.1.1
inline constexpr std::uint32_t domain_bytes_max = 255;       // RFC 5321 4.5.3.1.2
inline constexpr std::uint32_t domain_label_bytes_max = 63;  // RFC 1035 2.3.4
inline constexpr std::uint32_t path_bytes_max = 256;         // incl. <>, RFC 5321 4.5.3.1.3
inline constexpr std::uint32_t helo_bytes_max = 255;         // A domain or address literal.
inline constexpr std::uint32_t envid_bytes_max = 100;        // Decoded, RFC 3461 4.4.
inline constexpr std::uint32_t orcpt_bytes_max = 500;        // Decoded, RFC 3461 4.2.
inline constexpr std::uint32_t esmtp_params_count_max = 8;   // Per MAIL or RCPT line.
inline constexpr std::uint32_t events_count_max = 4;         // Pending Event queue.
// Refusals between two takes by the engine: each command, content end or commit makes at
// most two (its own and too_many_errors), and the engine takes them after every feed.
inline constexpr std::uint32_t refusals_count_max = 2 * commands_per_feed_max + 4;
// After this many excess RCPTs (each answered 452 4.5.3) every further one counts as an
// error, so a client with a long list is not disconnected for following RFC 5321 4.5.3.1.10.
inline constexpr std::uint32_t recipients_overshoot_max = 1000;
// The header block of a message (its fields with their CRLFs, up to the empty line): the
// hub rewrites every header block it relays (src/rewrite, whose header_section_bytes_max
// must be at least this) and holds only this much of one to do it. A larger one is refused
// at the end of data with 552 5.3.4, like a message over the size limit (RFC 3463 5.3.4).
inline constexpr std::size_t header_block_bytes_max = 1024 * 1024;
// A body the session keeps between messages is released above this size.
inline constexpr std::size_t body_keep_bytes_max = 64 * 1024;

static_assert(command_line_bytes_max <= text_line_bytes_max);
static_assert(text_line_bytes_max <= inbox_bytes, "one full line must fit the inbox");
static_assert(path_bytes_max + 64 < command_line_bytes_max, "a path and verb fit a line");
static_assert(helo_bytes_max + 7 < command_line_bytes_max, "EHLO SP domain CRLF fits");
static_assert(local_part_bytes_max + 1 + domain_bytes_max >= path_bytes_max - 2);
static_assert(commands_per_feed_max >= 1);
static_assert(recipients_count_default >= 100, "RFC 5321 4.5.3.1.8");
static_assert(command_timeout_ms_default >= 5 * 60 * 1000, "RFC 5321 4.5.3.2.7");
static_assert(data_timeout_ms_default >= 10 * 60 * 1000, "RFC 5321 4.5.3.2.6");

// --- The outbound client (client_session.h, reply_parser.h) -------------------------------
inline constexpr std::uint32_t reply_line_bytes_max = 512;  // incl. CRLF, RFC 5321 4.5.3.1.5
inline constexpr std::uint32_t reply_lines_count_max = 64;  // An EHLO reply has about 15.
// RFC 3461 4.2 and 4.4: the ORCPT value (type ";" xtext) and the ENVID xtext have these
// ceilings; a longer one is left out rather than sent (both parameters are optional).
inline constexpr std::uint32_t orcpt_value_bytes_max = 500;
inline constexpr std::uint32_t envid_xtext_bytes_max = 100;
// The longest command the client writes: RCPT TO:<path> NOTIFY=... ORCPT=... CRLF
// (RFC 3461 5: ORCPT and NOTIFY may lengthen RCPT by 500 octets).
inline constexpr std::uint32_t client_command_bytes_max = 1024;
// Plaintext waiting for the engine: pipelined commands or a dot-stuffed slice of content.
inline constexpr std::size_t client_output_bytes = 64 * 1024;
inline constexpr std::uint32_t client_events_count_max = 4;  // Pending ClientEvent queue.
// RFC 5321 4.5.3.1.8: a server must take 100; beyond that the rest are deferred locally.
inline constexpr std::uint32_t client_recipients_count_default = 100;
// RFC 5321 4.5.3.2: the client's minimum waits for each reply.
inline constexpr std::uint32_t client_greeting_timeout_ms_default = 300000;    // 4.5.3.2.1
inline constexpr std::uint32_t client_mail_timeout_ms_default = 300000;        // 4.5.3.2.2
inline constexpr std::uint32_t client_rcpt_timeout_ms_default = 300000;        // 4.5.3.2.3
inline constexpr std::uint32_t client_data_init_timeout_ms_default = 120000;   // 4.5.3.2.4
inline constexpr std::uint32_t client_data_block_timeout_ms_default = 180000;  // 4.5.3.2.5
inline constexpr std::uint32_t client_data_end_timeout_ms_default = 600000;    // 4.5.3.2.6
// EHLO, STARTTLS, the TLS handshake, RSET, QUIT: the RFC names no figure; as for MAIL.
inline constexpr std::uint32_t client_command_timeout_ms_default = 300000;

static_assert(reply_line_bytes_max >= 512, "RFC 5321 4.5.3.1.5");
static_assert(command_line_bytes_max + orcpt_value_bytes_max <= client_command_bytes_max,
              "RFC 3461 5: RCPT with NOTIFY and the longest ORCPT fits");
static_assert(envid_xtext_bytes_max + path_bytes_max + 64 < client_command_bytes_max,
              "MAIL with SIZE, BODY, RET and ENVID fits");
static_assert(client_output_bytes >= 16 * client_command_bytes_max,
              "a pipelined batch of several commands fits the output buffer");
static_assert(client_recipients_count_default >= 1);

}  // namespace hub::smtp
