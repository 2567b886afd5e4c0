// limits.h -- bounds hub-enroll holds every visitor to.
//
// The enrollment page faces the internet. Crossing one of these earns the visitor an HTTP
// status and a page saying what to change, never an assertion, and never an unbounded
// allocation: every buffer, table and timer below has its size here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ca/limits.h"

namespace hub::enroll {

// RFC 9112 3: the request line; our targets are short paths ("/request", "/crl.pem").
inline constexpr std::size_t request_line_bytes_max = 1024;
inline constexpr std::size_t target_bytes_max = 512;
// The request line and every header line together (RFC 9112 5); a browser sends 1-2 KiB.
inline constexpr std::size_t head_bytes_max = 8 * 1024;
inline constexpr std::size_t header_line_bytes_max = 4 * 1024;
inline constexpr std::size_t headers_count_max = 48;
// A urlencoded form with a PEM request: base64's '+', '/' and '=' and each line break
// grow to three bytes, so the body may be up to three times the PEM, plus the other fields.
inline constexpr std::size_t form_body_bytes_max = 3 * ca::request_pem_bytes_max + 4 * 1024;
inline constexpr std::size_t form_fields_count_max = 16;
inline constexpr std::size_t form_field_name_bytes_max = 32;
static_assert(ca::request_pem_bytes_max + 4 * 1024 < ca::request_frame_bytes_max,
              "what a form may carry to hub-ca fits one request frame");
// The largest file the page hands out (a CRL, a PKCS#7 chain): hub-ca may answer up to
// ca::answer_body_bytes_max, but a CRL past 1 MiB (tens of thousands of revocations) is not
// what a partner's browser should fetch here; the page says so instead (502).
inline constexpr std::size_t download_bytes_max = 1024 * 1024;
static_assert(download_bytes_max <= ca::answer_body_bytes_max);
// What the page sends back in one response: a download, or a page with its headers.
inline constexpr std::size_t response_bytes_max = download_bytes_max + 16 * 1024;
// Plaintext waiting for TLS plus the request being read: one connection's memory.
inline constexpr std::size_t connection_input_bytes_max = head_bytes_max + form_body_bytes_max;

// Fields of the forms, after decoding.
inline constexpr std::size_t partner_bytes_max = 253;  // A domain name.
inline constexpr std::size_t request_id_bytes_max = 18;

// Connections: the whole page, and one source address.
inline constexpr std::size_t connections_max = 128;
inline constexpr std::size_t connections_per_address_max = 8;
inline constexpr std::size_t requests_per_connection_max = 100;

// Timers (milliseconds). A visitor has head_timeout_ms for its request line and headers
// (the slowloris bound), body_timeout_ms for the body, and a kept-alive connection idles
// at most idle_timeout_ms; a TLS handshake has handshake_timeout_ms.
inline constexpr std::int64_t handshake_timeout_ms = 10'000;
inline constexpr std::int64_t head_timeout_ms = 10'000;
inline constexpr std::int64_t body_timeout_ms = 30'000;
inline constexpr std::int64_t idle_timeout_ms = 15'000;
// hub-ca answers from its own machine; a yescrypt check takes a fraction of a second.
inline constexpr int ca_timeout_ms = 10'000;

// Lingering close (RFC 9112 9.6; lingering_close.h): after its last answer on a connection
// the page shuts its sending side and reads and throws away what the visitor still sends, at
// most drain_bytes_max for at most drain_timeout_ms, then closes. Without it an answer given
// before the request was all read (413 on Content-Length, a framing 400, 408) is lost: closing
// a socket with unread bytes makes the kernel send RST, and a client still writing its body
// fails on the reset without reading the answer. The bounds keep a visitor from holding the
// connection: a form three times over the limit (a wrong file chosen) fits, with TLS framing.
inline constexpr std::size_t drain_bytes_max = 256 * 1024;
inline constexpr std::int64_t drain_timeout_ms = 2'000;
static_assert(drain_bytes_max >= 3 * form_body_bytes_max + 3 * form_body_bytes_max / 64,
              "a refused form of three times the limit is read to its end, TLS records and all");

// Rate limits per source address are token buckets sized by hub.conf's
// enroll.requests_per_minute and enroll.posts_per_minute. Addresses the limiter remembers; a full
// table refuses new addresses (503) rather than forgetting one that is being limited.
inline constexpr std::size_t rate_addresses_max = 4096;

// Forms (csrf.h): a form is good for form_lifetime_s; a used one is remembered until it
// expires, at most used_forms_max at a time (a full table refuses forms with 503).
inline constexpr std::int64_t form_lifetime_s = 3600;
inline constexpr std::size_t used_forms_max = 8192;

}  // namespace hub::enroll
