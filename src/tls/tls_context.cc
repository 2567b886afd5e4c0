// tls_context.cc -- library start-up and the server and client wolfSSL contexts.
//
// PURPOSE   Builds the immutable WOLFSSL_CTX objects every connection is made from: the
//           protocol floor (TLS 1.2), the AEAD-only suite list, certificates and keys,
//           client-certificate requests, session tickets, and our I/O callbacks. Also
//           routes wolfSSL's allocations to mimalloc once per process.
// RUNS IN   hubd's start-up (as root, before privileges are dropped, because it reads the
//           key files); contexts are then shared read-only by all shards.
// TRUST     Reads only operator-supplied PEM files. Nothing from the network reaches here.
// LIMITS    One context per listener configuration; no per-connection state.
// SEE ALSO  tls_session.h, tls_session.cc, io_callbacks.cc, RFC 8446, RFC 7525 (BCP 195).
// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/memory.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <mimalloc.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "base/assert.h"
#include "tls/error_text.h"
#include "tls/io_callbacks.h"
#include "tls/limits.h"
#include "tls/session_tickets.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

#if defined(__SANITIZE_ADDRESS__)
#define HUB_TLS_SYSTEM_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HUB_TLS_SYSTEM_ALLOCATOR 1
#endif
#endif

namespace hub::tls {

namespace {

// AEAD suites only (RFC 7525 4.2): no CBC, no RC4, no NULL, no static RSA key exchange.
// Order: TLS 1.3 first, AES-256 and ChaCha20 before AES-128 (OpenSSL's default order,
// what Postfix peers expect). wolfSSL honours the client's order unless told otherwise.
constexpr const char* aead_cipher_list =
    "TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

// wolfSSL's allocator hooks take extra arguments whose list depends on how the library was
// built (WOLFSSL_DEBUG_MEMORY, WOLFSSL_STATIC_MEMORY). These adapters take the argument
// list from the hook types themselves, so they fit Debian's build and a source build.
template <typename Hook>
struct Allocator;

template <typename... Extra>
struct Allocator<void* (*)(std::size_t, Extra...)> {
    static void* call(std::size_t bytes, Extra...) {
#ifdef HUB_TLS_SYSTEM_ALLOCATOR
        return std::malloc(bytes);
#else
        return mi_malloc(bytes);
#endif
    }
};

template <typename... Extra>
struct Allocator<void (*)(void*, Extra...)> {
    static void call(void* pointer, Extra...) {
#ifdef HUB_TLS_SYSTEM_ALLOCATOR
        std::free(pointer);
#else
        mi_free(pointer);
#endif
    }
};

template <typename... Extra>
struct Allocator<void* (*)(void*, std::size_t, Extra...)> {
    static void* call(void* pointer, std::size_t bytes, Extra...) {
#ifdef HUB_TLS_SYSTEM_ALLOCATOR
        return std::realloc(pointer, bytes);
#else
        return mi_realloc(pointer, bytes);
#endif
    }
};

bool set_up_library() {
    // Sanitizer builds keep the C allocator: AddressSanitizer cannot see into mimalloc's
    // pages, so it would miss overflows and leaks inside wolfSSL.
    int result =
        wolfSSL_SetAllocators(Allocator<wolfSSL_Malloc_cb>::call, Allocator<wolfSSL_Free_cb>::call,
                              Allocator<wolfSSL_Realloc_cb>::call);
    HUB_ASSERT(result == 0);  // Only fails for null hooks.
    result = wolfSSL_Init();
    HUB_ASSERT(result == WOLFSSL_SUCCESS);  // Fails only if the RNG or mutexes cannot start.
    return true;
}

ErrorDetail setup_error(std::string message, int code = 0) {
    ErrorDetail detail;
    detail.error = Error::setup_failed;
    detail.code = code;
    detail.message = std::move(message);
    return detail;
}

// wolfSSL's file loaders mostly answer a bare WOLFSSL_FAILURE, whose text is "ok", so say
// whether the file could be read at all before blaming its contents.
ErrorDetail file_error(std::string_view what, const std::string& path, int code) {
    if (::access(path.c_str(), R_OK) != 0) {
        int error = errno;
        return setup_error(
            fmt::format("cannot load {} from {}: {}", what, path, std::strerror(error)), code);
    }
    if (code == WOLFSSL_FAILURE || code == WOLFSSL_BAD_FILE) {
        return setup_error(
            fmt::format("cannot load {} from {}: no valid PEM {} in it", what, path, what), code);
    }
    return setup_error(
        fmt::format("cannot load {} from {}: {} ({})", what, path, wolfssl_error_text(code), code),
        code);
}

// The settings both sides share: floor, suites, callbacks.
Result<void, ErrorDetail> apply_common(WOLFSSL_CTX* ctx) {
    HUB_ASSERT(ctx != nullptr);
    int result = wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);  // RFC 8996, RFC 7525 3.1.1
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(make_error(Error::setup_failed, result, "wolfSSL_CTX_SetMinVersion"));
    }
    result = wolfSSL_CTX_set_cipher_list(ctx, aead_cipher_list);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(make_error(Error::setup_failed, result, "wolfSSL_CTX_set_cipher_list"));
    }
    install_io_callbacks(ctx);
    return {};
}

Result<void, ErrorDetail> load_certificate_and_key(WOLFSSL_CTX* ctx, const std::string& chain_path,
                                                   const std::string& key_path) {
    int result = wolfSSL_CTX_use_certificate_chain_file(ctx, chain_path.c_str());
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(file_error("certificate chain", chain_path, result));
    }
    result = wolfSSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(file_error("private key", key_path, result));
    }
    result = wolfSSL_CTX_check_private_key(ctx);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(
            setup_error(fmt::format("private key {} does not match the certificate in {}", key_path,
                                    chain_path),
                        result));
    }
    return {};
}

// The client certificate and key from PEM bytes in memory (ClientConfig's *_pem); errors
// name the files the bytes were read from.
Result<void, ErrorDetail> load_certificate_and_key_pem(WOLFSSL_CTX* ctx,
                                                       const ClientConfig& config) {
    const auto* chain = reinterpret_cast<const unsigned char*>(config.certificate_chain_pem.data());
    int result = wolfSSL_CTX_use_certificate_chain_buffer_format(
        ctx, chain, static_cast<long>(config.certificate_chain_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(file_error("certificate chain", config.certificate_chain_path, result));
    }
    const auto* key = reinterpret_cast<const unsigned char*>(config.private_key_pem.data());
    result = wolfSSL_CTX_use_PrivateKey_buffer(
        ctx, key, static_cast<long>(config.private_key_pem.size()), WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(file_error("private key", config.private_key_path, result));
    }
    result = wolfSSL_CTX_check_private_key(ctx);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(
            setup_error(fmt::format("private key {} does not match the certificate in {}",
                                    config.private_key_path, config.certificate_chain_path),
                        result));
    }
    return {};
}

// Accepts 64 hex digits with optional ':' separators; returns them lower-cased, or empty.
std::string normalise_pin(std::string_view pin) {
    std::string hex;
    for (char c : pin) {
        if (c == ':') {
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c)) || hex.size() >= sha256_hex_chars) {
            return {};
        }
        hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return hex.size() == sha256_hex_chars ? hex : std::string();
}

// Owns a context until it is handed to ServerContext/ClientContext.
struct CtxGuard {
    WOLFSSL_CTX* ctx;
    ~CtxGuard() {
        if (ctx != nullptr) {
            wolfSSL_CTX_free(ctx);
        }
    }
    WOLFSSL_CTX* release() {
        WOLFSSL_CTX* released = ctx;
        ctx = nullptr;
        return released;
    }
};

// One in-memory handshake against a fresh server context, with a client that checks
// nothing but the server's proof of key possession (CertificateVerify, RFC 8446 4.4.3).
// wolfSSL_CTX_check_private_key alone is not enough: for ECDSA keys wolfSSL 5.5.4 only
// checks that the key decodes, so a key from another certificate would pass it and then
// fail every real handshake.
Result<void, ErrorDetail> self_test(const std::shared_ptr<ServerContext>& server_context) {
    ClientConfig unverified;
    unverified.verify_peer = false;
    auto client_context = ClientContext::create(unverified);
    if (!client_context) {
        return unexpected(client_context.error());
    }
    auto server = Session::create_server(server_context);
    auto client = Session::create_client(*client_context);
    if (!server || !client) {
        return unexpected(!server ? server.error() : client.error());
    }
    // A full handshake takes a handful of flights; the bound only stops a wedged pair.
    for (int flight = 0; flight < 64; flight++) {
        auto client_progress = (*client)->handshake();
        if (!client_progress) {
            return unexpected(client_progress.error());
        }
        auto server_progress = (*server)->handshake();
        if (!server_progress) {
            return unexpected(server_progress.error());
        }
        if (*client_progress == Progress::done && *server_progress == Progress::done) {
            return {};
        }
        for (auto [from, to] :
             {std::pair{server->get(), client->get()}, std::pair{client->get(), server->get()}}) {
            std::size_t count =
                std::min(from->ciphertext_out.size_bytes(), to->ciphertext_in.space_bytes());
            if (count == 0) {
                continue;  // ByteQueue::append must not see an empty (null) span.
            }
            bool appended = to->ciphertext_in.append(from->ciphertext_out.readable().first(count));
            HUB_ASSERT(appended);  // count fits by construction.
            from->ciphertext_out.consume(count);
        }
    }
    return unexpected(ErrorDetail{Error::handshake_failed, 0, "did not complete"});
}

}  // namespace

void release_thread_caches() {
#ifdef FP_ECC
    wc_ecc_fp_free();
#endif
}

void initialise_library() {
    // A function-local static is initialised exactly once, even with racing callers.
    static const bool initialised = set_up_library();
    HUB_ASSERT(initialised);
}

Result<std::shared_ptr<ServerContext>, ErrorDetail> ServerContext::create(
    const ServerConfig& config) {
    initialise_library();
    if (config.certificate_chain_path.empty() || config.private_key_path.empty()) {
        return unexpected(setup_error("a TLS certificate and a private key are required"));
    }
    CtxGuard guard{wolfSSL_CTX_new(wolfSSLv23_server_method())};
    if (guard.ctx == nullptr) {
        return unexpected(setup_error("wolfSSL_CTX_new failed (out of memory?)"));
    }
    if (auto common = apply_common(guard.ctx); !common) {
        return unexpected(common.error());
    }
    if (auto loaded = load_certificate_and_key(guard.ctx, config.certificate_chain_path,
                                               config.private_key_path);
        !loaded) {
        return unexpected(loaded.error());
    }
    if (!config.client_ca_path.empty()) {
        int result =
            wolfSSL_CTX_load_verify_locations(guard.ctx, config.client_ca_path.c_str(), nullptr);
        if (result != WOLFSSL_SUCCESS) {
            return unexpected(file_error("client CA certificates", config.client_ca_path, result));
        }
    }
    if (config.request_client_certificate) {
        // Ask, never require (no FAIL_IF_NO_PEER_CERT), and let verify_client record the
        // verdict and continue: a partner without a certificate, or with one we cannot
        // verify, still gets SMTP replies that policy chooses (RFC 3207 4.1).
        wolfSSL_CTX_set_verify(guard.ctx, WOLFSSL_VERIFY_PEER, verify_client_callback);
    } else {
        wolfSSL_CTX_set_verify(guard.ctx, WOLFSSL_VERIFY_NONE, nullptr);
    }
    // Session tickets (RFC 5077, RFC 8446 4.6.1) with our own callback and key, and no
    // server-side session cache: resumption is stateless, so shards share no cache and
    // its locks, and a TLS 1.2 session-ID resumption cannot bring back a session whose
    // client-certificate facts are gone (session_tickets.cc explains the rule).
    auto ticket_keys = std::make_unique<TicketKeys>();
    if (!make_ticket_keys(*ticket_keys)) {
        return unexpected(setup_error("cannot make a session ticket key (RNG failure)"));
    }
    wolfSSL_CTX_set_session_cache_mode(guard.ctx, WOLFSSL_SESS_CACHE_OFF);
    wolfSSL_CTX_set_TicketEncCb(guard.ctx, session_ticket_callback);
    wolfSSL_CTX_set_TicketEncCtx(guard.ctx, ticket_keys.get());
    std::shared_ptr<ServerContext> context(new ServerContext(guard.release()));
    context->ticket_keys_ = ticket_keys.release();
    if (auto tested = self_test(context); !tested) {
        return unexpected(setup_error(fmt::format(
            "private key {} does not work with the certificate in {} (self-test handshake: {})",
            config.private_key_path, config.certificate_chain_path, tested.error().message)));
    }
    return context;
}

namespace {

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

Result<void, std::string> ServerContext::add_server_name(std::string server_name,
                                                         std::shared_ptr<ServerContext> other) {
    HUB_ASSERT(other != nullptr && other.get() != this && other->by_server_name_.empty());
    server_name = lower_ascii(server_name);
    auto at = std::lower_bound(
        by_server_name_.begin(), by_server_name_.end(), server_name,
        [](const auto& entry, const std::string& name) { return entry.first < name; });
    if (at != by_server_name_.end() && at->first == server_name) {
        return unexpected(fmt::format("SNI name {} is given twice for one listener", server_name));
    }
    by_server_name_.insert(at, {std::move(server_name), std::move(other)});
    return {};
}

const ServerContext* ServerContext::context_for_server_name(std::string_view server_name) const {
    if (by_server_name_.empty() || server_name.size() > server_name_bytes_max) {
        return nullptr;
    }
    std::string name = lower_ascii(server_name);
    auto at = std::lower_bound(
        by_server_name_.begin(), by_server_name_.end(), name,
        [](const auto& entry, const std::string& wanted) { return entry.first < wanted; });
    return at != by_server_name_.end() && at->first == name ? at->second.get() : nullptr;
}

const ServerContext& ServerContext::context_for_client_hello(
    std::span<const char> first_record) const {
    // One byte more than any name we look up: a longer name arrives cut to this size, which
    // context_for_server_name still refuses as too long instead of matching its prefix.
    std::array<unsigned char, server_name_bytes_max + 1> name{};
    word32 name_bytes = name.size();
    // WOLFSSL_SUCCESS with the first host_name entry; 0 when there is none; a negative
    // error for a record that is not a whole ClientHello (including one fragmented over
    // several records, which no client we know sends).
    int found = wolfSSL_SNI_GetFromBuffer(
        reinterpret_cast<const unsigned char*>(first_record.data()),
        static_cast<word32>(first_record.size()), WOLFSSL_SNI_HOST_NAME, name.data(), &name_bytes);
    if (found != WOLFSSL_SUCCESS || name_bytes == 0) {
        return *this;
    }
    const ServerContext* chosen = context_for_server_name(
        std::string_view(reinterpret_cast<const char*>(name.data()), name_bytes));
    return chosen != nullptr ? *chosen : *this;
}

ServerContext::~ServerContext() {
    HUB_ASSERT(ctx_ != nullptr);
    wolfSSL_CTX_free(ctx_);  // First: the context refers to the ticket keys.
    delete ticket_keys_;
}

ClientContext::ClientContext(WOLFSSL_CTX* ctx, const ClientConfig& config)
    : ctx_(ctx), config_(config), pinned_sha256_hex_(normalise_pin(config.pinned_sha256)) {
    HUB_ASSERT(ctx_ != nullptr);
}

Result<std::shared_ptr<ClientContext>, ErrorDetail> ClientContext::create(
    const ClientConfig& config) {
    initialise_library();
    if (!config.pinned_sha256.empty() && normalise_pin(config.pinned_sha256).empty()) {
        return unexpected(setup_error(
            fmt::format("pinned_sha256 '{}' is not 64 hex digits (':' separators allowed)",
                        config.pinned_sha256)));
    }
    if (config.verify_peer && config.trust_anchor_path.empty()) {
        return unexpected(setup_error("verify_peer needs trust anchors (trust_anchor_path)"));
    }
    CtxGuard guard{wolfSSL_CTX_new(wolfSSLv23_client_method())};
    if (guard.ctx == nullptr) {
        return unexpected(setup_error("wolfSSL_CTX_new failed (out of memory?)"));
    }
    if (auto common = apply_common(guard.ctx); !common) {
        return unexpected(common.error());
    }
    if (!config.trust_anchor_pem.empty()) {
        int result = wolfSSL_CTX_load_verify_buffer(
            guard.ctx, reinterpret_cast<const unsigned char*>(config.trust_anchor_pem.data()),
            static_cast<long>(config.trust_anchor_pem.size()), WOLFSSL_FILETYPE_PEM);
        if (result != WOLFSSL_SUCCESS) {
            return unexpected(file_error("trust anchors", config.trust_anchor_path, result));
        }
    } else if (!config.trust_anchor_path.empty()) {
        int result =
            wolfSSL_CTX_load_verify_locations(guard.ctx, config.trust_anchor_path.c_str(), nullptr);
        if (result != WOLFSSL_SUCCESS) {
            return unexpected(file_error("trust anchors", config.trust_anchor_path, result));
        }
    }
    if (!config.certificate_chain_pem.empty() || !config.private_key_pem.empty()) {
        if (auto loaded = load_certificate_and_key_pem(guard.ctx, config); !loaded) {
            return unexpected(loaded.error());
        }
    } else if (!config.certificate_chain_path.empty() || !config.private_key_path.empty()) {
        if (auto loaded = load_certificate_and_key(guard.ctx, config.certificate_chain_path,
                                                   config.private_key_path);
            !loaded) {
            return unexpected(loaded.error());
        }
    }
    // Without verify_peer the chain is not checked at all (opportunistic TLS, RFC 7435);
    // a pin, if any, is still checked on the leaf once the handshake is done.
    wolfSSL_CTX_set_verify(guard.ctx,
                           config.verify_peer ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE,
                           config.verify_peer ? verify_server_callback : nullptr);
    // TLS 1.3 tickets need no request. We do not ask for TLS 1.2 tickets (RFC 5077):
    // wolfSSL 5.5.4's client takes any TLS 1.2 ServerHello as accepting its ticket
    // (DSH_CheckSessionId), so a server that refuses one -- after a restart, say -- gets
    // an unexpected_message failure instead of a full handshake. TLS 1.2 resumption uses
    // session IDs instead. XXX: a TLS 1.3 session offered to a server that now answers
    // TLS 1.2 meets the same bug; revisit with a newer wolfSSL.
    ClientConfig kept = config;
    kept.trust_anchor_pem.clear();  // wolfSSL has parsed them; the key need not be copied.
    kept.certificate_chain_pem.clear();
    kept.private_key_pem.clear();
    return std::shared_ptr<ClientContext>(new ClientContext(guard.release(), kept));
}

std::shared_ptr<ClientContext> ClientContext::adopt_for_test(WOLFSSL_CTX* ctx,
                                                             const ClientConfig& config) {
    HUB_ASSERT(ctx != nullptr);
    initialise_library();
    install_io_callbacks(ctx);
    return std::shared_ptr<ClientContext>(new ClientContext(ctx, config));
}

ClientContext::~ClientContext() {
    HUB_ASSERT(ctx_ != nullptr);
    wolfSSL_CTX_free(ctx_);
}

SavedSession::~SavedSession() {
    if (session_ != nullptr) {
        wolfSSL_SESSION_free(session_);
    }
}

SavedSession::SavedSession(SavedSession&& other) noexcept : session_(other.session_) {
    other.session_ = nullptr;
}

SavedSession& SavedSession::operator=(SavedSession&& other) noexcept {
    if (this != &other) {
        if (session_ != nullptr) {
            wolfSSL_SESSION_free(session_);
        }
        session_ = other.session_;
        other.session_ = nullptr;
    }
    return *this;
}

}  // namespace hub::tls

// ---- Start-up checks (hubd --check) --------------------------------------------------------

namespace hub::tls {
namespace {

constexpr std::string_view pem_begin = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view pem_end = "-----END CERTIFICATE-----";
constexpr std::size_t certificate_file_bytes_max = 1 << 20;

// The PEM blocks of a file, each from its BEGIN line to its END line.
Result<std::vector<std::string>, std::string> read_pem_certificates(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        return unexpected(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::string text(certificate_file_bytes_max + 1, '\0');
    std::size_t got = std::fread(text.data(), 1, text.size(), file);
    std::fclose(file);
    if (got > certificate_file_bytes_max) {
        return unexpected(
            fmt::format("{}: larger than {} bytes", path, certificate_file_bytes_max));
    }
    text.resize(got);
    std::vector<std::string> blocks;
    for (std::size_t at = 0; (at = text.find(pem_begin, at)) != std::string::npos;) {
        std::size_t end = text.find(pem_end, at);
        if (end == std::string::npos) {
            return unexpected(fmt::format("{}: a certificate has no END line", path));
        }
        end += pem_end.size();
        blocks.push_back(text.substr(at, end - at) + "\n");
        at = end;
    }
    if (blocks.empty()) {
        return unexpected(fmt::format("{}: no PEM certificate in it", path));
    }
    return blocks;
}

bool asn1_time_to_unix(const WOLFSSL_ASN1_TIME* time, std::int64_t& unix_s) {
    struct tm broken_down {};
    if (time == nullptr || wolfSSL_ASN1_TIME_to_tm(time, &broken_down) != WOLFSSL_SUCCESS) {
        return false;
    }
    unix_s = static_cast<std::int64_t>(timegm(&broken_down));
    return true;
}

bool is_date_error(int code) {
    return code == ASN_AFTER_DATE_E || code == ASN_BEFORE_DATE_E;
}

}  // namespace

Result<std::vector<CertificateFacts>, std::string> read_certificate_facts(const std::string& path) {
    initialise_library();
    auto blocks = read_pem_certificates(path);
    if (!blocks) {
        return unexpected(blocks.error());
    }
    std::vector<CertificateFacts> facts;
    for (std::size_t index = 0; index < blocks->size(); index++) {
        const std::string& block = (*blocks)[index];
        WOLFSSL_X509* x509 = wolfSSL_X509_load_certificate_buffer(
            reinterpret_cast<const unsigned char*>(block.data()), static_cast<int>(block.size()),
            WOLFSSL_FILETYPE_PEM);
        if (x509 == nullptr) {
            return unexpected(fmt::format("{}: certificate {} does not parse", path, index + 1));
        }
        CertificateFacts fact{};
        char subject[256] = {};
        wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x509), subject, sizeof(subject));
        fact.subject = subject;
        bool dated = asn1_time_to_unix(wolfSSL_X509_get_notBefore(x509), fact.not_before_s) &&
                     asn1_time_to_unix(wolfSSL_X509_get_notAfter(x509), fact.not_after_s);
        wolfSSL_X509_free(x509);
        if (!dated) {
            return unexpected(
                fmt::format("{}: certificate {} has unreadable validity dates", path, index + 1));
        }
        facts.push_back(std::move(fact));
    }
    HUB_ASSERT(!facts.empty());
    return facts;
}

Result<void, std::string> verify_chain(const std::string& chain_path, const std::string& ca_path) {
    initialise_library();
    auto chain = read_pem_certificates(chain_path);
    if (!chain) {
        return unexpected(chain.error());
    }
    auto authorities = read_pem_certificates(ca_path);
    if (!authorities) {
        return unexpected(authorities.error());
    }
    WOLFSSL_CERT_MANAGER* manager = wolfSSL_CertManagerNew();
    if (manager == nullptr) {
        return unexpected(std::string("wolfSSL_CertManagerNew failed (out of memory?)"));
    }
    auto load = [&](const std::string& block) {
        return wolfSSL_CertManagerLoadCABuffer(
            manager, reinterpret_cast<const unsigned char*>(block.data()),
            static_cast<long>(block.size()), WOLFSSL_FILETYPE_PEM);
    };
    std::string problem;
    for (const std::string& block : *authorities) {
        if (int code = load(block); code != WOLFSSL_SUCCESS && !is_date_error(code)) {
            problem = fmt::format("cannot use the CA certificates in {}: {} ({})", ca_path,
                                  wolfssl_error_text(code), code);
        }
    }
    // Intermediates, leaf's issuer last in the file: each is verified as it is added.
    for (std::size_t index = chain->size(); problem.empty() && index > 1; index--) {
        if (int code = load((*chain)[index - 1]); code != WOLFSSL_SUCCESS && !is_date_error(code)) {
            problem = fmt::format("intermediate certificate {} does not verify: {} ({})", index - 1,
                                  wolfssl_error_text(code), code);
        }
    }
    if (problem.empty()) {
        const std::string& leaf = chain->front();
        int code = wolfSSL_CertManagerVerifyBuffer(
            manager, reinterpret_cast<const unsigned char*>(leaf.data()),
            static_cast<long>(leaf.size()), WOLFSSL_FILETYPE_PEM);
        if (code != WOLFSSL_SUCCESS && !is_date_error(code)) {
            problem = fmt::format("does not verify against {}: {} ({})", ca_path,
                                  wolfssl_error_text(code), code);
        }
    }
    wolfSSL_CertManagerFree(manager);
    if (!problem.empty()) {
        return unexpected(std::move(problem));
    }
    return {};
}

}  // namespace hub::tls
