// session_tickets.h -- the server's session-ticket protection (internal to tls/).
#pragma once

// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace hub::tls {

// One ticket key per server context, made from wolfSSL's RNG when the context is made.
// Shared read-only by all shards; only the nonce counter changes, atomically.
struct TicketKeys {
    std::array<unsigned char, 32> key{};          // ChaCha20-Poly1305 key.
    std::array<unsigned char, 15> name{};         // Random; key_name[15] carries flags.
    std::array<unsigned char, 4> nonce_prefix{};  // Random; the counter makes the rest.
    std::atomic<std::uint64_t> nonce_counter{0};
};

// Fills a TicketKeys with fresh random values; false if the RNG failed.
[[nodiscard]] bool make_ticket_keys(TicketKeys& keys);

// wolfSSL's SessionTicketEncCb; context is the TicketKeys.
int session_ticket_callback(WOLFSSL* ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                            unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                            unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int encrypt,
                            unsigned char* ticket, int in_bytes, int* out_bytes, void* context);

}  // namespace hub::tls
