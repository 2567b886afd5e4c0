// session_tickets.cc -- encrypts and checks the server's session tickets.
//
// PURPOSE   Session resumption (RFC 8446 4.6.1, RFC 5077) without server-side state, and
//           without letting a resumed session lose its client-certificate facts. A ticket
//           carries wolfSSL's session state, not the peer certificate, so a session resumed
//           from one would report "none" for a client that had presented a certificate
//           (or "verified" facts could not be re-derived). We therefore mark tickets issued
//           to clients that presented a certificate and refuse to resume from them: such
//           clients always run a full handshake and present their certificate again, and
//           the verdict never depends on cache state. Anonymous clients resume normally.
//           wolfSSL's built-in ticket callback cannot carry that mark, hence this one.
// RUNS IN   hubd shards, inside wolfSSL_accept (issue and check).
// TRUST     The ticket comes from the client and is untrusted until its Poly1305 tag
//           checks; a ticket with an unknown key name or flag is rejected (full handshake).
// LIMITS    One key per server context for the life of the process: tickets do not survive
//           a restart. The 96-bit nonce is a random 32-bit prefix plus a 64-bit counter, so
//           it never repeats under one key.
// SEE ALSO  tls_context.cc (installs it), wolfSSL's DefTicketEncCb (the model).
#include "tls/session_tickets.h"

#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/random.h>

#include <algorithm>
#include <cstring>

#include "base/assert.h"

namespace hub::tls {

namespace {

// key_name[15]: bit 0 set when the client presented a certificate.
constexpr unsigned char flag_client_certificate = 0x01;

static_assert(CHACHA20_POLY1305_AEAD_KEYSIZE == std::tuple_size_v<decltype(TicketKeys::key)>);
static_assert(CHACHA20_POLY1305_AEAD_IV_SIZE <= WOLFSSL_TICKET_IV_SZ);
static_assert(CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE <= WOLFSSL_TICKET_MAC_SZ);
static_assert(std::tuple_size_v<decltype(TicketKeys::name)> + 1 == WOLFSSL_TICKET_NAME_SZ);

bool client_presented_certificate(WOLFSSL* ssl) {
    WOLFSSL_X509* peer = wolfSSL_get_peer_certificate(ssl);
    if (peer == nullptr) {
        return false;
    }
    wolfSSL_X509_free(peer);
    return true;
}

// Authenticated data: key name (with flags), IV, ticket length -- as wolfSSL's own does.
std::array<unsigned char, WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2> make_aad(
    const unsigned char* key_name, const unsigned char* iv, int in_bytes) {
    std::array<unsigned char, WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2> aad{};
    std::memcpy(aad.data(), key_name, WOLFSSL_TICKET_NAME_SZ);
    std::memcpy(aad.data() + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
    aad[aad.size() - 2] = static_cast<unsigned char>((in_bytes >> 8) & 0xff);
    aad[aad.size() - 1] = static_cast<unsigned char>(in_bytes & 0xff);
    return aad;
}

int encrypt_ticket(WOLFSSL* ssl, TicketKeys& keys, unsigned char* key_name, unsigned char* iv,
                   unsigned char* mac, unsigned char* ticket, int in_bytes, int* out_bytes) {
    std::memcpy(key_name, keys.name.data(), keys.name.size());
    key_name[WOLFSSL_TICKET_NAME_SZ - 1] =
        client_presented_certificate(ssl) ? flag_client_certificate : 0;
    std::uint64_t counter = keys.nonce_counter.fetch_add(1, std::memory_order_relaxed);
    std::memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
    std::memcpy(iv, keys.nonce_prefix.data(), keys.nonce_prefix.size());
    for (int i = 0; i < 8; i++) {
        iv[4 + i] = static_cast<unsigned char>(counter >> (56 - 8 * i));
    }
    auto aad = make_aad(key_name, iv, in_bytes);
    std::memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
    int result = wc_ChaCha20Poly1305_Encrypt(keys.key.data(), iv, aad.data(),
                                             static_cast<word32>(aad.size()), ticket,
                                             static_cast<word32>(in_bytes), ticket, mac);
    if (result != 0) {
        return WOLFSSL_TICKET_RET_REJECT;  // No ticket; the connection goes on.
    }
    *out_bytes = in_bytes;
    return WOLFSSL_TICKET_RET_OK;
}

int decrypt_ticket(WOLFSSL* ssl, TicketKeys& keys, unsigned char* key_name, unsigned char* iv,
                   unsigned char* mac, unsigned char* ticket, int in_bytes, int* out_bytes) {
    if (std::memcmp(key_name, keys.name.data(), keys.name.size()) != 0) {
        return WOLFSSL_TICKET_RET_REJECT;  // Another key (an earlier process): full handshake.
    }
    unsigned char flags = key_name[WOLFSSL_TICKET_NAME_SZ - 1];
    if (flags != 0) {
        // The client had presented a certificate: make it present it again (see PURPOSE).
        return WOLFSSL_TICKET_RET_REJECT;
    }
    auto aad = make_aad(key_name, iv, in_bytes);
    int result = wc_ChaCha20Poly1305_Decrypt(keys.key.data(), iv, aad.data(),
                                             static_cast<word32>(aad.size()), ticket,
                                             static_cast<word32>(in_bytes), mac, ticket);
    if (result != 0) {
        return WOLFSSL_TICKET_RET_REJECT;  // Forged or damaged.
    }
    *out_bytes = in_bytes;
    // TLS 1.2 (RFC 5077 3.3): also issue a fresh ticket, as wolfSSL's own callback does.
    return wolfSSL_version(ssl) == TLS1_3_VERSION ? WOLFSSL_TICKET_RET_OK
                                                  : WOLFSSL_TICKET_RET_CREATE;
}

}  // namespace

bool make_ticket_keys(TicketKeys& keys) {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        return false;
    }
    auto fill = [&rng](auto& bytes) {
        return wc_RNG_GenerateBlock(&rng, bytes.data(), static_cast<word32>(bytes.size())) == 0;
    };
    bool ok = fill(keys.key) && fill(keys.name) && fill(keys.nonce_prefix);
    wc_FreeRng(&rng);
    keys.nonce_counter.store(0, std::memory_order_relaxed);
    return ok;
}

int session_ticket_callback(WOLFSSL* ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                            unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                            unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int encrypt,
                            unsigned char* ticket, int in_bytes, int* out_bytes, void* context) {
    HUB_ASSERT(context != nullptr);  // Installed together with the callback.
    HUB_ASSERT(ticket != nullptr && out_bytes != nullptr);
    if (in_bytes <= 0) {
        return WOLFSSL_TICKET_RET_REJECT;
    }
    auto& keys = *static_cast<TicketKeys*>(context);
    return encrypt != 0 ? encrypt_ticket(ssl, keys, key_name, iv, mac, ticket, in_bytes, out_bytes)
                        : decrypt_ticket(ssl, keys, key_name, iv, mac, ticket, in_bytes, out_bytes);
}

}  // namespace hub::tls
