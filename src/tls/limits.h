// limits.h -- bounds the TLS glue relies on. None of these is configurable: they follow
// from the TLS record format (RFC 8446 5.1, 5.2; RFC 5246 6.2) and from our buffer sizes.
#pragma once

#include <cstddef>

namespace hub::tls {

// The largest plaintext one write() accepts: one full record (RFC 8446 5.1: 2^14 bytes).
inline constexpr std::size_t write_bytes_max = 16 * 1024;

// Bytes a record adds to its plaintext, with room to spare. TLS 1.3 AEAD: 5 header + 1
// content type + 16 tag = 22; TLS 1.2 AES-GCM: 5 + 8 explicit nonce + 16 tag = 29. The
// margin also covers one small control record (KeyUpdate, alert) queued in the same call.
inline constexpr std::size_t record_overhead_bytes_max = 256;

// Distinguished names longer than this are cut; a DN is for logs and Received: headers.
inline constexpr std::size_t name_bytes_max = 512;

// Characters of a pinned SHA-256 fingerprint in hex, without separators.
inline constexpr std::size_t sha256_hex_chars = 64;
// The longest SNI host name a ClientHello may carry that hubd looks up (RFC 6066 3 allows
// 2^16 - 1 bytes; a DNS name has at most 253).
inline constexpr std::size_t server_name_bytes_max = 255;

// The first record of a TLS connection as hubd buffers it to read the ClientHello's server
// name before the session's wolfSSL object is made: the 5-byte record header and at most
// 2^14 bytes of plaintext (RFC 8446 5.1). A first record that claims more is not looked
// into: the listener's own context gets it, and wolfSSL refuses it as it always did.
inline constexpr std::size_t record_header_bytes = 5;
inline constexpr std::size_t client_hello_record_bytes_max = record_header_bytes + 16 * 1024;

// One trust anchor's PEM (hubctl trust add): a CA certificate is a few KiB.
inline constexpr std::size_t trust_anchor_pem_bytes_max = 64 * 1024;

static_assert(write_bytes_max + record_overhead_bytes_max <= 64 * 1024,
              "one full record must fit an empty ciphertext_out");

}  // namespace hub::tls
