// tls_session.h -- one TLS connection run over memory, never over a socket.
//
// wolfSSL's I/O callbacks read ciphertext from ciphertext_in and append ciphertext to
// ciphertext_out; the engine moves those bytes with io_uring. No call here makes a
// system call or blocks. Both queues are bounded: when ciphertext_out is full the
// callbacks answer WANT_WRITE and the engine must flush before calling again.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/byte_queue.h"
#include "base/result.h"
#include "smtp/envelope.h"

typedef struct WOLFSSL_CTX WOLFSSL_CTX;
typedef struct WOLFSSL WOLFSSL;

namespace hub::tls {

inline constexpr std::size_t ciphertext_in_bytes = 64 * 1024;   // Four full records.
inline constexpr std::size_t ciphertext_out_bytes = 64 * 1024;
static_assert(ciphertext_in_bytes >= 16 * 1024 + 256, "one full TLS record must fit");

enum class Error {
    setup_failed,      // Context or object creation, bad key or certificate file.
    handshake_failed,  // Peer alert, bad certificate when one is required, protocol error.
    protocol,          // Error after the handshake (bad record, decrypt failure).
    closed,            // The peer sent close_notify or the transport closed.
};

struct ErrorDetail {
    Error error = Error::setup_failed;
    int code = 0;         // wolfSSL error code, for the log.
    std::string message;  // Human-readable, names the file or the alert.
};

// Files and policy for a server context. Paths are PEM files.
struct ServerConfig {
    std::string certificate_chain_path;  // Leaf first.
    std::string private_key_path;
    std::string client_ca_path;  // CAs that client certificates must chain to; may be empty.
    bool request_client_certificate = true;  // Ask; the verdict is recorded, not enforced.
};

// Installs mimalloc as wolfSSL's allocator and initialises the library; call once per
// process before any context is made.
void initialise_library();

// An immutable, shareable server context (one per listener configuration).
class ServerContext {
public:
    [[nodiscard]] static Result<std::shared_ptr<ServerContext>, ErrorDetail> create(
        const ServerConfig& config);
    ~ServerContext();
    WOLFSSL_CTX* native() const { return ctx_; }

private:
    explicit ServerContext(WOLFSSL_CTX* ctx) : ctx_(ctx) {}
    WOLFSSL_CTX* ctx_;
};

enum class Progress {
    done,        // Handshake complete (handshake()) / nothing more to read (read()).
    want_input,  // Needs more ciphertext_in.
    want_flush,  // ciphertext_out is full: send it, then call again.
};

class Session {
public:
    [[nodiscard]] static Result<std::unique_ptr<Session>, ErrorDetail> create_server(
        std::shared_ptr<ServerContext> context);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    base::ByteQueue ciphertext_in{ciphertext_in_bytes};
    base::ByteQueue ciphertext_out{ciphertext_out_bytes};
    bool transport_closed = false;  // Set by the engine at EOF; reads then fail with closed.

    // Advances the handshake as far as the buffered ciphertext allows.
    [[nodiscard]] Result<Progress, ErrorDetail> handshake();
    bool handshake_done() const { return handshake_done_; }

    // Decrypts into plaintext_out; returns the byte count, 0 meaning want_input.
    [[nodiscard]] Result<std::size_t, ErrorDetail> read(std::span<char> plaintext_out);
    // Encrypts all of plaintext_in into ciphertext_out, or fails; the caller keeps
    // plaintext_in small enough (<= 16 KiB per call) that it fits an empty outbox.
    [[nodiscard]] Result<void, ErrorDetail> write(std::span<const char> plaintext_in);
    // Queues close_notify.
    void shutdown();

    // Valid after the handshake: version, cipher, bits, client certificate facts.
    smtp::TlsFacts facts() const;

private:
    Session(std::shared_ptr<ServerContext> context, WOLFSSL* ssl);
    std::shared_ptr<ServerContext> context_;
    WOLFSSL* ssl_;
    bool handshake_done_ = false;
    // The verify callback records the chain verdict here (the handshake never fails on a
    // bad client certificate; policy decides what a verdict means).
    friend int verify_client(int preverify, void* store);
    int verify_error_ = 0;
    bool peer_presented_certificate_ = false;
};

}  // namespace hub::tls
