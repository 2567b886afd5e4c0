// tls_session.cc -- one TLS connection over memory: handshake, records, close, facts.
//
// PURPOSE   Drives wolfSSL for one connection with no socket underneath: ciphertext comes
//           in through Session::ciphertext_in and leaves through Session::ciphertext_out
//           (see io_callbacks.cc), and each call here runs wolfSSL only as far as those
//           bytes allow. wolfSSL's return codes become tls::Error here and nowhere else.
// RUNS IN   hubd shards (inbound SMTP and SMTPS; outbound delivery for the client side),
//           on the shard's own thread; a Session is never shared between threads.
// TRUST     Everything the peer sends is untrusted and parsed by wolfSSL. A client
//           certificate is never a reason to fail the handshake here: its verdict is
//           recorded and policy decides. A server certificate (client side) must verify
//           when verify_peer is set, and must match the pin when one is configured.
// LIMITS    At most ciphertext_in_bytes / ciphertext_out_bytes buffered per direction;
//           write() takes at most writable_bytes() (<= write_bytes_max) per call.
// SEE ALSO  tls_session.h, io_callbacks.cc, tls_context.cc, RFC 8446, RFC 3207 (STARTTLS),
//           RFC 8314 (implicit TLS), wolfssl-examples tls/server-tls-nonblocking.c.
#include "tls/tls_session.h"

// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <ctime>

#include <fmt/format.h>

#include "base/assert.h"
#include "tls/error_text.h"
#include "tls/limits.h"
#include "tls/x509_name.h"

namespace hub::tls {

static_assert(client_hello_record_bytes_max <= ciphertext_in_bytes,
              "a server session's first record must fit ciphertext_in while it waits");

std::string name_oneline(WOLFSSL_X509_NAME* name) {
    if (name == nullptr) {
        return {};
    }
    std::array<char, name_bytes_max> text{};
    char* written = wolfSSL_X509_NAME_oneline(name, text.data(), static_cast<int>(text.size()));
    return written != nullptr ? std::string(written) : std::string();
}

namespace {

// Whether a wolfSSL error code means "the peer went away" rather than "the peer broke
// the protocol": close_notify (RFC 8446 6.1) or the transport closing under us.
bool is_closed_code(int code, bool transport_closed) {
    return code == WOLFSSL_ERROR_ZERO_RETURN || code == ZERO_RETURN ||
           code == SOCKET_PEER_CLOSED_E || (transport_closed && code == SOCKET_ERROR_E);
}

// Symmetric key bits, from the IANA suite name; wolfSSL_CIPHER_get_bits is not in every
// build (it needs OPENSSL_ALL). Our suite list has only these three ciphers.
int cipher_bits(std::string_view iana_name) {
    if (iana_name.find("AES_256") != std::string_view::npos ||
        iana_name.find("CHACHA20") != std::string_view::npos) {
        return 256;
    }
    if (iana_name.find("AES_128") != std::string_view::npos) {
        return 128;
    }
    return 0;
}

std::string common_name(WOLFSSL_X509_NAME* name) {
    if (name == nullptr) {
        return {};
    }
    std::array<char, name_bytes_max> text{};
    int length = wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, text.data(),
                                                   static_cast<int>(text.size()));
    if (length <= 0) {
        return {};
    }
    return std::string(text.data(), std::min(static_cast<std::size_t>(length), text.size() - 1));
}

std::string sha256_hex(const unsigned char* data, int data_bytes) {
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    int result = wc_Sha256Hash(data, static_cast<word32>(data_bytes), digest.data());
    HUB_ASSERT(result == 0);  // Fails only for null arguments.
    std::string hex;
    hex.reserve(digest.size() * 2);
    for (unsigned char byte : digest) {
        fmt::format_to(std::back_inserter(hex), "{:02x}", byte);
    }
    return hex;
}

// Frees a certificate wolfSSL_get_peer_certificate duplicated for us.
struct X509Guard {
    WOLFSSL_X509* cert;
    ~X509Guard() {
        if (cert != nullptr) {
            wolfSSL_X509_free(cert);
        }
    }
};

ErrorDetail closed_error(int code, std::string_view what) {
    return make_error(Error::closed, code, what);
}

}  // namespace

Session::Session(WOLFSSL* ssl, std::shared_ptr<ServerContext> server_context,
                 std::shared_ptr<ClientContext> client_context)
    : server_context_(std::move(server_context)), client_context_(std::move(client_context)) {
    HUB_ASSERT((server_context_ != nullptr) != (client_context_ != nullptr));
    HUB_ASSERT(ssl != nullptr || server_context_ != nullptr);  // Late only on a server.
    if (ssl != nullptr) {
        adopt(ssl);
    }
}

void Session::adopt(WOLFSSL* ssl) {
    HUB_ASSERT(ssl_ == nullptr && ssl != nullptr);
    ssl_ = ssl;
    // The Session is the context of every hook, so the hooks need no lookup table.
    wolfSSL_SetIOReadCtx(ssl_, this);
    wolfSSL_SetIOWriteCtx(ssl_, this);
    wolfSSL_SetCertCbCtx(ssl_, this);
}

Session::~Session() {
    if (ssl_ != nullptr) {
        wolfSSL_free(ssl_);
    }
}

Result<std::unique_ptr<Session>, ErrorDetail> Session::create_server(
    std::shared_ptr<ServerContext> context) {
    HUB_ASSERT(context != nullptr);
    if (context->server_name_count() > 0) {
        // The ClientHello chooses the context; the wolfSSL object waits for it.
        return std::unique_ptr<Session>(new Session(nullptr, std::move(context), nullptr));
    }
    WOLFSSL* ssl = wolfSSL_new(context->native());
    if (ssl == nullptr) {
        return unexpected(ErrorDetail{Error::setup_failed, 0, "wolfSSL_new failed"});
    }
    return std::unique_ptr<Session>(new Session(ssl, std::move(context), nullptr));
}

Result<Progress, ErrorDetail> Session::start_after_first_record() {
    HUB_ASSERT(ssl_ == nullptr && !is_client());
    // Only a whole handshake record of plausible size is looked into; anything else goes
    // to the listener's own context at once, where wolfSSL fails it (or waits for it)
    // exactly as it would without server names.
    const ServerContext* chosen = server_context_.get();
    std::span<const char> buffered = ciphertext_in.readable();
    if (buffered.size() < record_header_bytes) {
        if (!transport_closed) {
            return Progress::want_input;
        }
    } else {
        constexpr unsigned char handshake_content_type = 22;  // RFC 8446 5.1
        std::size_t record_bytes =
            record_header_bytes +
            (static_cast<std::size_t>(static_cast<unsigned char>(buffered[3])) << 8) +
            static_cast<unsigned char>(buffered[4]);
        bool looked_into = static_cast<unsigned char>(buffered[0]) == handshake_content_type &&
                           record_bytes <= client_hello_record_bytes_max;
        if (looked_into && buffered.size() < record_bytes && !transport_closed) {
            return Progress::want_input;  // A ClientHello split over several reads.
        }
        if (looked_into && buffered.size() >= record_bytes) {
            chosen = &server_context_->context_for_client_hello(buffered.first(record_bytes));
        }
    }
    WOLFSSL* ssl = wolfSSL_new(chosen->native());
    if (ssl == nullptr) {
        return unexpected(ErrorDetail{Error::setup_failed, 0, "wolfSSL_new failed"});
    }
    adopt(ssl);
    if (skip_client_certificate_request_) {
        wolfSSL_set_verify(ssl_, WOLFSSL_VERIFY_NONE, nullptr);
    }
    return handshake();
}

void Session::skip_client_certificate_request() {
    HUB_ASSERT(!is_client() && !handshake_done_);
    skip_client_certificate_request_ = true;
    if (ssl_ != nullptr) {
        wolfSSL_set_verify(ssl_, WOLFSSL_VERIFY_NONE, nullptr);
    }
}

Result<std::unique_ptr<Session>, ErrorDetail> Session::create_client(
    std::shared_ptr<ClientContext> context, std::string_view server_name) {
    HUB_ASSERT(context != nullptr);
    std::string name(server_name.empty() ? context->config().server_name : server_name);
    bool verify_peer = context->config().verify_peer;
    WOLFSSL* ssl = wolfSSL_new(context->native());
    if (ssl == nullptr) {
        return unexpected(ErrorDetail{Error::setup_failed, 0, "wolfSSL_new failed"});
    }
    // From here the Session owns ssl and frees it on every path.
    std::unique_ptr<Session> session(new Session(ssl, nullptr, std::move(context)));
    if (!name.empty()) {
        if (name.size() > UINT16_MAX) {
            return unexpected(ErrorDetail{Error::setup_failed, 0, "server name too long"});
        }
        // RFC 6066 3: SNI carries the DNS name the client wants.
        int result = wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, name.data(),
                                    static_cast<std::uint16_t>(name.size()));
        if (result != WOLFSSL_SUCCESS) {
            return unexpected(make_error(Error::setup_failed, result, "wolfSSL_UseSNI"));
        }
        if (verify_peer) {
            // RFC 6125 6.4: the name must match a DNS SAN (or, lacking SANs, the CN).
            result = wolfSSL_check_domain_name(ssl, name.c_str());
            if (result != WOLFSSL_SUCCESS) {
                return unexpected(
                    make_error(Error::setup_failed, result, "wolfSSL_check_domain_name"));
            }
        }
    }
    return session;
}

Result<Progress, ErrorDetail> Session::handshake() {
    if (handshake_done_) {
        return Progress::done;
    }
    if (ssl_ == nullptr) {
        return start_after_first_record();
    }
    int result = is_client() ? wolfSSL_connect(ssl_) : wolfSSL_accept(ssl_);
    if (result == WOLFSSL_SUCCESS) {
        if (is_client()) {
            if (auto pinned = check_pin(); !pinned) {
                return unexpected(pinned.error());
            }
        }
        handshake_done_ = true;
        return Progress::done;
    }
    int code = wolfSSL_get_error(ssl_, result);
    if (code == WOLFSSL_ERROR_WANT_READ) {
        return Progress::want_input;
    }
    if (code == WOLFSSL_ERROR_WANT_WRITE) {
        HUB_ASSERT(output_blocked_);  // Only our send hook says WANT_WRITE.
        return Progress::want_flush;
    }
    std::string_view what = is_client() ? "TLS handshake (client)" : "TLS handshake";
    if (is_closed_code(code, transport_closed)) {
        return unexpected(closed_error(code, what));
    }
    return unexpected(make_error(Error::handshake_failed, code, what));
}

Result<std::size_t, ErrorDetail> Session::read(std::span<char> plaintext_out) {
    HUB_ASSERT(handshake_done_);
    HUB_ASSERT(!plaintext_out.empty());
    int capacity = static_cast<int>(std::min<std::size_t>(plaintext_out.size(), INT_MAX));
    int result = wolfSSL_read(ssl_, plaintext_out.data(), capacity);
    if (result > 0) {
        HUB_ASSERT(result <= capacity);
        return static_cast<std::size_t>(result);
    }
    int code = wolfSSL_get_error(ssl_, result);
    if (code == WOLFSSL_ERROR_WANT_READ || code == WOLFSSL_ERROR_WANT_WRITE) {
        // WANT_WRITE: wolfSSL had to answer (KeyUpdate) and the outbox is full; the
        // engine sees output_blocked() and calls flush() once it has sent.
        return std::size_t{0};
    }
    if (is_closed_code(code, transport_closed)) {
        return unexpected(closed_error(code, "TLS read"));
    }
    return unexpected(make_error(Error::protocol, code, "TLS read"));
}

std::size_t Session::writable_bytes() const {
    std::size_t space = ciphertext_out.space_bytes();
    if (space <= record_overhead_bytes_max) {
        return 0;
    }
    return std::min(write_bytes_max, space - record_overhead_bytes_max);
}

Result<void, ErrorDetail> Session::write(std::span<const char> plaintext_in) {
    HUB_ASSERT(handshake_done_);
    HUB_ASSERT(plaintext_in.size() <= writable_bytes());  // The caller's precondition.
    if (plaintext_in.empty()) {
        return {};
    }
    if (output_blocked_) {
        // wolfSSL holds bytes a read() could not queue (a KeyUpdate answer); they go first.
        // They are small, but a peer that keeps asking while not reading could make them
        // crowd out the record: then refuse before wolfSSL takes any plaintext.
        if (auto flushed = flush(); !flushed) {
            return unexpected(flushed.error());
        }
        if (output_blocked_ || plaintext_in.size() > writable_bytes()) {
            return unexpected(
                ErrorDetail{Error::protocol, 0, "TLS write: ciphertext_out stays full"});
        }
    }
    int size = static_cast<int>(plaintext_in.size());
    int result = wolfSSL_write(ssl_, plaintext_in.data(), size);
    if (result == size) {
        HUB_ASSERT(!output_blocked_);
        return {};
    }
    int code = wolfSSL_get_error(ssl_, result);
    // One record plus overhead fitted the outbox and nothing was held back, so the send
    // hook cannot have refused part of the record.
    HUB_ASSERT(code != WOLFSSL_ERROR_WANT_WRITE);
    if (is_closed_code(code, transport_closed)) {
        return unexpected(closed_error(code, "TLS write"));
    }
    return unexpected(make_error(Error::protocol, code, "TLS write"));
}

Result<Progress, ErrorDetail> Session::flush() {
    if (!handshake_done_) {
        return handshake();
    }
    if (!output_blocked_) {
        return Progress::done;
    }
    // A zero-byte write sends what wolfSSL holds and encrypts nothing new. It never
    // partially consumes plaintext, so it cannot pin wolfSSL to a retry buffer.
    char nothing = 0;
    int result = wolfSSL_write(ssl_, &nothing, 0);
    if (result >= 0) {
        return output_blocked_ ? Progress::want_flush : Progress::done;
    }
    int code = wolfSSL_get_error(ssl_, result);
    if (code == WOLFSSL_ERROR_WANT_WRITE) {
        HUB_ASSERT(output_blocked_);
        return Progress::want_flush;
    }
    if (is_closed_code(code, transport_closed)) {
        return unexpected(closed_error(code, "TLS flush"));
    }
    return unexpected(make_error(Error::protocol, code, "TLS flush"));
}

void Session::shutdown() {
    if (shutdown_sent_) {
        return;
    }
    shutdown_sent_ = true;
    if (ssl_ == nullptr) {
        return;  // No ClientHello yet: wolfSSL has nothing to close.
    }
    // Returns WOLFSSL_SHUTDOWN_NOT_DONE: we do not wait for the peer's close_notify
    // (RFC 8446 6.1 allows closing the read side without it).
    (void)wolfSSL_shutdown(ssl_);
}

bool Session::resumed() const {
    return ssl_ != nullptr && wolfSSL_session_reused(ssl_) == 1;
}

SavedSession Session::save_session() const {
    HUB_ASSERT(is_client());
    if (!handshake_done_) {
        return SavedSession();
    }
    return SavedSession(wolfSSL_get1_session(ssl_));
}

Result<void, ErrorDetail> Session::resume_from(const SavedSession& saved) {
    HUB_ASSERT(is_client());
    HUB_ASSERT(!handshake_done_);  // Resumption is offered in the ClientHello.
    if (saved.empty()) {
        return {};
    }
    int result = wolfSSL_set_session(ssl_, saved.session_);
    if (result != WOLFSSL_SUCCESS) {
        return unexpected(make_error(Error::setup_failed, result, "wolfSSL_set_session"));
    }
    return {};
}

Result<void, ErrorDetail> Session::check_pin() {
    HUB_ASSERT(is_client());
    const std::string& pin = client_context_->pinned_sha256_hex_;
    if (pin.empty()) {
        return {};
    }
    X509Guard peer{wolfSSL_get_peer_certificate(ssl_)};
    int der_bytes = 0;
    const unsigned char* der =
        peer.cert != nullptr ? wolfSSL_X509_get_der(peer.cert, &der_bytes) : nullptr;
    if (der == nullptr || der_bytes <= 0) {
        return unexpected(ErrorDetail{Error::handshake_failed, 0,
                                      "TLS handshake (client): no server certificate to check "
                                      "against pinned_sha256"});
    }
    std::string actual = sha256_hex(der, der_bytes);
    HUB_ASSERT(actual.size() == sha256_hex_chars);
    if (actual != pin) {
        return unexpected(ErrorDetail{
            Error::handshake_failed, 0,
            fmt::format("TLS handshake (client): server certificate SHA-256 {} does not match "
                        "pinned_sha256 {}",
                        actual, pin)});
    }
    pin_matched_ = true;
    return {};
}

// notAfter as Unix seconds, parsed here rather than with wolfSSL_ASN1_TIME_to_tm: that one
// may call mktime, whose time zone set-up stats /etc/localtime, a system call a shard's
// seccomp filter forbids (a release build died of it). UTCTime "YYMMDDHHMMSSZ" (RFC 5280
// 4.1.2.5.1: YY below 50 is 20YY) or GeneralizedTime "YYYYMMDDHHMMSSZ"; 0 for anything else.
std::int64_t certificate_time_unix_s(std::string_view text) {
    if ((text.size() != 13 && text.size() != 15) || text.back() != 'Z') {
        return 0;
    }
    text.remove_suffix(1);
    for (char c : text) {
        if (c < '0' || c > '9') {
            return 0;
        }
    }
    auto number = [&](std::size_t at, std::size_t digits) {
        std::int64_t value = 0;
        for (std::size_t i = at; i < at + digits; i++) {
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    std::size_t at = 0;
    std::int64_t year = 0;
    if (text.size() == 12) {
        year = number(0, 2);
        year += year < 50 ? 2000 : 1900;
        at = 2;
    } else {
        year = number(0, 4);
        at = 4;
    }
    std::int64_t month = number(at, 2);
    std::int64_t day = number(at + 2, 2);
    std::int64_t hour = number(at + 4, 2);
    std::int64_t minute = number(at + 6, 2);
    std::int64_t second = number(at + 8, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return 0;
    }
    // Days from 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
    std::int64_t y = year - (month <= 2 ? 1 : 0);
    std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    std::int64_t year_of_era = y - era * 400;
    std::int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    std::int64_t days = era * 146097 + day_of_era - 719468;
    return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::int64_t Session::peer_not_after_unix_s() const {
    if (ssl_ == nullptr) {
        return 0;
    }
    X509Guard peer{wolfSSL_get_peer_certificate(ssl_)};
    if (peer.cert == nullptr) {
        return 0;
    }
    const WOLFSSL_ASN1_TIME* time = wolfSSL_X509_get_notAfter(peer.cert);
    if (time == nullptr || time->length < 0 || time->length > CTC_DATE_SIZE) {
        return 0;
    }
    return certificate_time_unix_s(std::string_view(reinterpret_cast<const char*>(time->data),
                                                    static_cast<std::size_t>(time->length)));
}

smtp::TlsFacts Session::facts() const {
    smtp::TlsFacts facts;
    if (!handshake_done_) {
        return facts;
    }
    const char* version = wolfSSL_get_version(ssl_);
    facts.version = version != nullptr ? version : "";
    int suite = wolfSSL_get_current_cipher_suite(ssl_);
    const char* iana = wolfSSL_get_cipher_name_iana_from_suite(
        static_cast<unsigned char>((suite >> 8) & 0xff), static_cast<unsigned char>(suite & 0xff));
    const char* native = wolfSSL_get_cipher_name(ssl_);
    facts.cipher = iana != nullptr ? iana : (native != nullptr ? native : "");
    facts.bits = cipher_bits(facts.cipher);

    X509Guard peer{wolfSSL_get_peer_certificate(ssl_)};
    if (peer.cert == nullptr) {
        // A certificate wolfSSL saw but cannot give back must not read as "none".
        facts.client_cert_verdict = peer_presented_certificate_ ? "failed" : "none";
        if (peer_presented_certificate_) {
            facts.client_cert_error = verify_error_text(verify_error_);
        }
        return facts;
    }
    facts.client_subject = name_oneline(wolfSSL_X509_get_subject_name(peer.cert));
    facts.client_issuer = name_oneline(wolfSSL_X509_get_issuer_name(peer.cert));
    facts.client_cn = common_name(wolfSSL_X509_get_subject_name(peer.cert));
    if (is_client()) {
        // A client that did not check the chain cannot call the server verified unless
        // the pin stood in for the chain (RFC 7672 3.1.1, DANE-EE).
        bool checked = client_context_->config().verify_peer || pin_matched_;
        facts.client_cert_verdict = checked && verify_error_ == 0 ? "verified" : "unverified";
        return facts;
    }
    // Errors always reach verify_client, so no recorded error means the chain verified.
    facts.client_cert_verdict = verify_error_ == 0 ? "verified" : "failed";
    if (verify_error_ != 0) {
        facts.client_cert_error = verify_error_text(verify_error_);
    }
    return facts;
}

}  // namespace hub::tls
