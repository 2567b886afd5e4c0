// limits.h -- bounds on what hub-ca accepts and keeps.
//
// Crossing one earns the caller a refusal with a message, never an assertion.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::ca {

// One frame on the socket: header (4 bytes) + body. Requests are small (a CSR is at most
// request_pem_bytes_max), and hub-ca reads one into memory per connection; answers carry
// listings, the audit log and the CRL, and are read by hubctl and the enrollment page.
inline constexpr std::size_t request_frame_bytes_max = 64 * 1024;
inline constexpr std::size_t answer_frame_bytes_max = 4 * 1024 * 1024;
inline constexpr std::size_t frame_header_bytes = 4;
// Room kept in an answer for its other fields (message, ids) beside the body.
inline constexpr std::size_t answer_body_bytes_max = answer_frame_bytes_max - 8 * 1024;
static_assert(request_frame_bytes_max <= answer_frame_bytes_max);
inline constexpr std::size_t text_field_bytes_max = 1024;  // Names, reasons, ids.
inline constexpr std::size_t request_der_bytes_max = 16 * 1024;
inline constexpr std::size_t request_pem_bytes_max = 24 * 1024;
static_assert(request_pem_bytes_max + 2 * text_field_bytes_max + 64 < request_frame_bytes_max,
              "a submit with a PEM request must fit one frame");
inline constexpr std::size_t certificate_der_bytes_max = 8 * 1024;
inline constexpr std::size_t reason_bytes_max = 256;
inline constexpr std::size_t subject_raw_bytes_max = 512;  // Fits wolfSSL's Cert::sbjRaw.
inline constexpr std::size_t dns_names_count_max = 32;
inline constexpr std::size_t dns_name_bytes_max = 253;
inline constexpr std::size_t password_bytes_max = 256;
inline constexpr std::size_t generated_password_bytes = 24;  // base64url of 18 random bytes.

// What one enroll caller can make hub-ca keep: pending requests wait for an administrator.
inline constexpr std::size_t pending_per_partner_max = 10;
inline constexpr std::size_t pending_total_max = 1000;
inline constexpr std::size_t listed_rows_max = 10000;

inline constexpr std::uint32_t rsa_bits_min = 2048;
inline constexpr std::uint32_t rsa_bits_max = 8192;
inline constexpr std::size_t serial_bytes = 16;  // RFC 5280 4.1.2.2: at most 20 octets.

inline constexpr std::uint32_t validity_days_default = 730;
inline constexpr std::uint32_t ca_validity_days = 3650;
// The CRL's nextUpdate is this far ahead; it is made again when less than half remains.
inline constexpr std::uint32_t crl_validity_days_default = 7;

// A client that connects and says nothing is dropped after this.
inline constexpr int socket_timeout_ms = 5000;
inline constexpr int listen_backlog = 16;

}  // namespace hub::ca
