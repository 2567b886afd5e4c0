// tls_session.h -- one TLS connection run over memory, never over a socket.
//
// wolfSSL's I/O callbacks read ciphertext from ciphertext_in and append ciphertext to
// ciphertext_out; the engine moves those bytes with io_uring. No call here makes a
// system call or blocks. Both queues are bounded: when ciphertext_out is full the
// callbacks answer WANT_WRITE and the engine must flush before calling again.
//
// How the engine drives a Session (the shape of wolfSSL's server-tls-nonblocking.c with
// the select() replaced by the ring):
//   recv CQE     -> ciphertext_in.append(bytes); then handshake() or read() until they
//                   report want_input / 0 bytes.
//   after every call here -> if !ciphertext_out.empty(), submit one send for readable();
//                   consume() what the kernel took. want_flush / output_blocked() mean
//                   "flush, then call again" (handshake() or flush()).
//   EOF          -> transport_closed = true, then read()/handshake() report Error::closed.
//   to reply     -> write() pieces of at most writable_bytes().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/byte_queue.h"
#include "base/result.h"
#include "smtp/envelope.h"

typedef struct WOLFSSL_CTX WOLFSSL_CTX;
typedef struct WOLFSSL WOLFSSL;
typedef struct WOLFSSL_SESSION WOLFSSL_SESSION;

namespace hub::tls {

struct TicketKeys;  // session_tickets.h

inline constexpr std::size_t ciphertext_in_bytes = 64 * 1024;  // Four full records.
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

// Files and policy for a client context (outbound delivery, tests). Paths are PEM files.
struct ClientConfig {
    // CAs the server must chain to; may be empty only when verify_peer is false.
    std::string trust_anchor_path;
    // Optional client certificate (leaf first) and its key; both or neither.
    std::string certificate_chain_path;
    std::string private_key_path;
    // Default SNI (RFC 6066 3) and the name the certificate must match (RFC 6125 6.4); a
    // session may override it. Empty: no SNI and no name check.
    std::string server_name;
    // The chain (and name, if any) must verify or the handshake fails. Off: opportunistic
    // TLS (RFC 7435), nothing checked unless pinned_sha256 is set.
    bool verify_peer = true;
    // Optional pin: SHA-256 of the server's leaf certificate (DER), 64 hex digits, ':'
    // separators allowed. Checked in addition to verify_peer, or instead of it when
    // verify_peer is false (DANE-EE style, RFC 7672 3.1.1).
    std::string pinned_sha256;
    // The same three files as PEM bytes already in memory; a non-empty one is used instead
    // of its path. hubd reads them before the privilege drop so that a partner added by a
    // live reload gets a context although the key file is no longer readable. The context
    // does not keep them (wolfSSL holds its own parsed copy).
    std::string trust_anchor_pem;
    std::string certificate_chain_pem;
    std::string private_key_pem;
};

// Installs mimalloc as wolfSSL's allocator and initialises the library; call once per
// process before any context is made. Safe to call again (and from several threads): the
// later calls do nothing. In sanitizer builds the C allocator is used instead, so that
// AddressSanitizer and LeakSanitizer see wolfSSL's heap.
void initialise_library();

// Frees the calling thread's wolfSSL caches (the ECC fixed-point cache is per thread);
// every thread that ran handshakes calls this before it ends.
void release_thread_caches();

// An immutable, shareable server context (one per listener configuration).
// TLS 1.2 minimum, TLS 1.3 preferred, AEAD suites only, stateless session tickets (not
// resumable for clients that presented a certificate: see session_tickets.cc).
class ServerContext {
public:
    // Errors: setup_failed, with a message naming the file that could not be used.
    [[nodiscard]] static Result<std::shared_ptr<ServerContext>, ErrorDetail> create(
        const ServerConfig& config);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;
    WOLFSSL_CTX* native() const { return ctx_; }
    // The CA whose client certificates need a loaded CRL (revocation.h); empty: none.
    const std::string& crl_required_issuer() const { return crl_required_issuer_; }

    // Presents other's certificate to a client whose ClientHello names server_name (SNI,
    // RFC 6066 3; compared ignoring ASCII case), and this context's to every other client.
    // A server session on a context with names waits for the ClientHello's first record,
    // reads the name from it (context_for_client_hello) and only then makes its wolfSSL
    // object, on the chosen context: the choice needs no SNI callback and no
    // wolfSSL_set_SSL_CTX, which wolfSSL builds only with OPENSSL_ALL (and OPENSSL_ALL more
    // than doubles the memory of an idle session; docs/ARCHITECTURE.md, Decisions). The
    // session then runs wholly on other's context, so other must be made with the same
    // client CAs, client certificate request and CRL check as this one. This context keeps
    // other alive. Precondition: before the context is shared; other has no names of its
    // own. Errors: the name is given twice.
    [[nodiscard]] Result<void, std::string> add_server_name(std::string server_name,
                                                            std::shared_ptr<ServerContext> other);
    // The context for a ClientHello's server name, or nullptr (this one's own certificate).
    const ServerContext* context_for_server_name(std::string_view server_name) const;
    // The context for a connection whose first TLS record is first_record (header and
    // body, whole): the one its ClientHello's host name selects, or this one when the
    // record names no host, an unknown one, or does not parse as a ClientHello (wolfSSL
    // then reports the error on this context, as for any other client). Reads the name
    // with wolfSSL_SNI_GetFromBuffer, which needs only HAVE_SNI.
    const ServerContext& context_for_client_hello(std::span<const char> first_record) const;
    std::size_t server_name_count() const { return by_server_name_.size(); }

private:
    explicit ServerContext(WOLFSSL_CTX* ctx) : ctx_(ctx) {}
    WOLFSSL_CTX* ctx_;
    // Lower-case SNI names and their contexts, sorted by name; set before sharing.
    std::vector<std::pair<std::string, std::shared_ptr<ServerContext>>> by_server_name_;
    TicketKeys* ticket_keys_ = nullptr;  // Owned; wolfSSL's ticket callback context.
    std::string crl_required_issuer_;    // Set once by enable_crl_check, before sharing.
    friend Result<void, std::string> enable_crl_check(ServerContext& context,
                                                      std::string required_issuer);
};

// An immutable, shareable client context.
class ClientContext {
public:
    // Errors: setup_failed (unreadable trust anchors or client certificate/key, a malformed
    // pin, verify_peer without trust anchors).
    [[nodiscard]] static Result<std::shared_ptr<ClientContext>, ErrorDetail> create(
        const ClientConfig& config);
    // Wraps a context the test built itself (for example one limited to TLS 1.1 or to CBC
    // suites) and installs our I/O callbacks on it. Takes ownership of ctx. Only the
    // server_name, verify_peer and pinned_sha256 fields of config are used.
    static std::shared_ptr<ClientContext> adopt_for_test(WOLFSSL_CTX* ctx,
                                                         const ClientConfig& config);
    ~ClientContext();
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;
    WOLFSSL_CTX* native() const { return ctx_; }
    const ClientConfig& config() const { return config_; }

private:
    ClientContext(WOLFSSL_CTX* ctx, const ClientConfig& config);
    WOLFSSL_CTX* ctx_;
    ClientConfig config_;
    friend class Session;
    std::string pinned_sha256_hex_;  // Normalised: lower case, no separators; or empty.
};

// A client's resumable session (ticket and secrets), kept between connections to the same
// server. Move-only; frees the wolfSSL object.
class SavedSession {
public:
    SavedSession() = default;
    ~SavedSession();
    SavedSession(SavedSession&& other) noexcept;
    SavedSession& operator=(SavedSession&& other) noexcept;
    SavedSession(const SavedSession&) = delete;
    SavedSession& operator=(const SavedSession&) = delete;
    bool empty() const { return session_ == nullptr; }

private:
    friend class Session;
    explicit SavedSession(WOLFSSL_SESSION* session) : session_(session) {}
    WOLFSSL_SESSION* session_ = nullptr;
};

enum class Progress {
    done,        // Handshake complete (handshake()) / nothing more to read (read()).
    want_input,  // Needs more ciphertext_in.
    want_flush,  // ciphertext_out is full: send it, then call again.
};

// A certificate's validity time as Unix seconds: UTCTime "YYMMDDHHMMSSZ" (YY below 50 is
// 20YY, RFC 5280 4.1.2.5.1) or GeneralizedTime "YYYYMMDDHHMMSSZ"; 0 for anything else.
// Pure arithmetic: no time zone, no system call (a shard may call it under seccomp).
std::int64_t certificate_time_unix_s(std::string_view text);

class Session {
public:
    // On a context with server names (ServerContext::add_server_name) the wolfSSL object is
    // made by the first handshake() that finds the whole first record in ciphertext_in
    // (until then handshake() reports want_input), on the context the record's server name
    // selects. Errors: setup_failed (wolfSSL could not allocate the connection object).
    [[nodiscard]] static Result<std::unique_ptr<Session>, ErrorDetail> create_server(
        std::shared_ptr<ServerContext> context);
    // A client session; server_name (SNI and the name the certificate must match) overrides
    // the context's config().server_name when not empty.
    [[nodiscard]] static Result<std::unique_ptr<Session>, ErrorDetail> create_client(
        std::shared_ptr<ClientContext> context, std::string_view server_name = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    base::ByteQueue ciphertext_in{ciphertext_in_bytes};
    base::ByteQueue ciphertext_out{ciphertext_out_bytes};
    bool transport_closed = false;  // Set by the engine at EOF; reads then fail with closed.

    // Advances the handshake as far as the buffered ciphertext allows (wolfSSL_accept on a
    // server, wolfSSL_connect on a client). Returns done once; calling again after done
    // returns done. Errors: handshake_failed (alert, protocol version or cipher mismatch, a
    // server certificate that fails verify_peer or the pin), closed (transport closed or
    // close_notify before the handshake finished).
    [[nodiscard]] Result<Progress, ErrorDetail> handshake();
    bool handshake_done() const { return handshake_done_; }

    // Decrypts into plaintext_out; returns the byte count, 0 meaning want_input (or, when
    // output_blocked(), want_flush). Call again until it returns 0: wolfSSL keeps decrypted
    // bytes that did not fit plaintext_out. Precondition: handshake_done().
    // Errors: closed (close_notify received, RFC 8446 6.1, or the transport closed),
    // protocol (bad record, decrypt failure, alert).
    [[nodiscard]] Result<std::size_t, ErrorDetail> read(std::span<char> plaintext_out);
    // Encrypts all of plaintext_in into ciphertext_out, or fails; the caller keeps
    // plaintext_in small enough (<= 16 KiB per call) that it fits an empty outbox.
    // Precondition (asserted): handshake_done() and plaintext_in.size() <= writable_bytes(),
    // which guarantees wolfSSL never meets a full outbox half way through a record (a
    // partial record would pin wolfSSL to resending the very same plaintext). Bytes wolfSSL
    // held back (output_blocked()) are queued first.
    // Errors: protocol (wolfSSL refused, e.g. after a fatal alert; or held-back bytes left
    // no room for the record), closed.
    [[nodiscard]] Result<void, ErrorDetail> write(std::span<const char> plaintext_in);
    // The most plaintext one write() accepts now: up to write_bytes_max (16 KiB), keeping
    // record_overhead_bytes_max of ciphertext_out free for the record's framing.
    std::size_t writable_bytes() const;
    // True when wolfSSL holds ciphertext that did not fit ciphertext_out (a read() that had
    // to answer, e.g. a TLS 1.3 KeyUpdate). Flush ciphertext_out, then call flush() (or
    // write(), which flushes first).
    bool output_blocked() const { return output_blocked_; }
    // Moves wolfSSL's held ciphertext into ciphertext_out: done, or want_flush if it still
    // does not all fit. Before the handshake is done this is handshake().
    [[nodiscard]] Result<Progress, ErrorDetail> flush();
    // Queues close_notify (RFC 8446 6.1) with one wolfSSL_shutdown; does not wait for the
    // peer's. If ciphertext_out is full the alert may be lost, which SMTP tolerates: the
    // QUIT/221 exchange already ended the conversation.
    void shutdown();

    // Valid after the handshake: version, cipher, bits, client certificate facts.
    // Server session: client_cert_verdict is "none" (no certificate presented), "verified"
    // (chains to client_ca_path) or "failed" (see peer_verify_error()); the subject and
    // issuer are one-line DNs ("/C=GB/O=Partner One/CN=partner1.test"). A resumed session
    // never carried a certificate (session_tickets.cc), so it reports "none" truthfully.
    // Client session: the client_* fields describe the server's certificate, and the
    // verdict is "verified" (verify_peer or the pin passed) or "unverified".
    smtp::TlsFacts facts() const;
    // The verification error recorded for the peer's certificate (wolfSSL's X509 error
    // code as the verify callback saw it), 0 if none.
    int peer_verify_error() const { return verify_error_; }
    // The peer certificate's notAfter (Unix seconds), for the health counters' expiry
    // report; 0 when there is none or its date does not read. One wolfSSL lookup: call it
    // once per handshake, not per record.
    std::int64_t peer_not_after_unix_s() const;
    bool is_client() const { return client_context_ != nullptr; }
    // Whether the handshake resumed an earlier session (ticket), valid after handshake().
    bool resumed() const;

    // Server only, before handshake(): do not ask this client for a certificate (a TLS
    // endpoint policy that neither requests nor requires one). The context's request and
    // its CA list, and any revocation check it carries, stay for every other session.
    void skip_client_certificate_request();

    // Client only: the session to resume next time (TLS 1.3 tickets arrive after the
    // handshake, so take it after the first read()). Empty if there is nothing to resume.
    SavedSession save_session() const;
    // Client only, before handshake(): offer saved for resumption. Errors: setup_failed.
    [[nodiscard]] Result<void, ErrorDetail> resume_from(const SavedSession& saved);

    WOLFSSL* native_for_test() const { return ssl_; }

private:
    Session(WOLFSSL* ssl, std::shared_ptr<ServerContext> server_context,
            std::shared_ptr<ClientContext> client_context);
    [[nodiscard]] Result<void, ErrorDetail> check_pin();
    // Installs the I/O and certificate hooks on ssl, which the Session then owns.
    void adopt(WOLFSSL* ssl);
    // Server on a context with names: want_input until the first record is whole, then
    // makes ssl_ on the context its server name selects.
    [[nodiscard]] Result<Progress, ErrorDetail> start_after_first_record();
    std::shared_ptr<ServerContext> server_context_;  // Exactly one of the two is set.
    std::shared_ptr<ClientContext> client_context_;
    // Null only for a server session waiting for its first record (create_server).
    WOLFSSL* ssl_ = nullptr;
    bool skip_client_certificate_request_ = false;  // Applied when ssl_ is made late.
    bool handshake_done_ = false;
    bool output_blocked_ = false;  // Set by ciphertext_send: wolfSSL holds unsent bytes.
    bool shutdown_sent_ = false;
    // The verify callback records the chain verdict here (the handshake never fails on a
    // bad client certificate; policy decides what a verdict means).
    friend int verify_client(int preverify, void* store);
    friend int verify_server(int preverify, void* store);
    friend int ciphertext_recv(WOLFSSL* ssl, char* out, int out_bytes, void* context);
    friend int ciphertext_send(WOLFSSL* ssl, char* in, int in_bytes, void* context);
    int verify_error_ = 0;
    bool peer_presented_certificate_ = false;  // The verify callback saw a certificate.
    bool pin_matched_ = false;                 // Client: the leaf matched pinned_sha256.
};

}  // namespace hub::tls
