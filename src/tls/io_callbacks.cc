// io_callbacks.cc -- wolfSSL's I/O and certificate-verify hooks, bound to a Session.
//
// PURPOSE   wolfSSL never touches a socket: its receive hook reads Session::ciphertext_in
//           and its send hook appends to Session::ciphertext_out. The engine moves those
//           bytes with io_uring. The verify hooks record what the peer's certificate chain
//           came to, so that policy (not the handshake) decides what a verdict means.
// RUNS IN   hubd shards, inside wolfSSL_accept/connect/read/write on the shard's thread.
// TRUST     The ciphertext is the peer's and untrusted; these hooks only copy bytes and
//           never interpret them. The certificate facts come from wolfSSL's parser.
// LIMITS    No system calls, no blocking, no allocation: both queues are bounded
//           (ciphertext_in_bytes, ciphertext_out_bytes) and a full outbox answers
//           WANT_WRITE so that back-pressure reaches wolfSSL instead of memory growing.
// SEE ALSO  tls_session.h, wolfssl/wolfio.h (the CBIO contract),
//           wolfssl-examples embedded/tls-client-server.c.
#include "tls/io_callbacks.h"

#include <wolfssl/wolfcrypt/error-crypt.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

#include "base/assert.h"
#include "tls/limits.h"
#include "tls/tls_session.h"

namespace hub::tls {

int ciphertext_recv(WOLFSSL*, char* out, int out_bytes, void* context) {
    HUB_ASSERT(context != nullptr);  // Set by Session's constructor before any I/O.
    HUB_ASSERT(out_bytes > 0);
    auto& session = *static_cast<Session*>(context);
    if (session.ciphertext_in.empty()) {
        // Nothing buffered: wolfSSL comes back after the engine's next recv completion.
        return session.transport_closed ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    std::size_t copied =
        session.ciphertext_in.pop_into(std::span<char>(out, static_cast<std::size_t>(out_bytes)));
    HUB_ASSERT(copied > 0 && copied <= static_cast<std::size_t>(out_bytes));
    return static_cast<int>(copied);
}

int ciphertext_send(WOLFSSL*, char* in, int in_bytes, void* context) {
    HUB_ASSERT(context != nullptr);
    HUB_ASSERT(in_bytes > 0);
    auto& session = *static_cast<Session*>(context);
    std::size_t wanted = static_cast<std::size_t>(in_bytes);
    std::size_t taken = std::min(wanted, session.ciphertext_out.space_bytes());
    // wolfSSL always offers everything it still holds, so a short answer means it keeps
    // the rest, and a full answer means it holds nothing more (see Session::flush()).
    session.output_blocked_ = taken < wanted;
    if (taken == 0) {
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    }
    bool appended = session.ciphertext_out.append(std::span<const char>(in, taken));
    HUB_ASSERT(appended);  // taken never exceeds space_bytes().
    return static_cast<int>(taken);
}

void install_io_callbacks(WOLFSSL_CTX* ctx) {
    HUB_ASSERT(ctx != nullptr);
    wolfSSL_CTX_SetIORecv(ctx, ciphertext_recv);
    wolfSSL_CTX_SetIOSend(ctx, ciphertext_send);
}

namespace {

Session& session_of(WOLFSSL_X509_STORE_CTX* store) {
    HUB_ASSERT(store != nullptr);
    HUB_ASSERT(store->userCtx != nullptr);  // wolfSSL_SetCertCbCtx ran in the constructor.
    return *static_cast<Session*>(store->userCtx);
}

// With CRL checking on (revocation.h), wolfSSL reports CRL_MISSING for a certificate whose
// issuer has no loaded CRL. That is a failure only for the CA hubd must hold a CRL of (the
// hub CA): its certificates are refused until a CRL is loaded, never accepted unchecked.
bool crl_required_for(const std::string& required, WOLFSSL_X509_STORE_CTX* store) {
    if (required.empty()) {
        return false;
    }
    std::array<char, name_bytes_max> issuer{};
    WOLFSSL_X509* certificate = wolfSSL_X509_STORE_CTX_get_current_cert(store);
    if (certificate == nullptr ||
        wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_issuer_name(certificate), issuer.data(),
                                  static_cast<int>(issuer.size())) == nullptr) {
        return true;  // Cannot tell whose it is: treat it as the hub CA's, i.e. refuse.
    }
    return required == issuer.data();
}

// The chain verdict as the X509_V_ERR_* code OpenSSL gives, whichever wolfSSL build
// answered, so that the log and the refusal say the same words for the same chain. Debian's
// libwolfssl (OPENSSL_ALL and OPENSSL_COMPATIBLE_DEFAULTS) translates its ASN codes itself
// (wolfSSL's GetX509Error) and reports a self-signed certificate it does not trust as
// ASN_SELF_SIGNED_E; tools/build-wolfssl's (OPENSSL_EXTRA only) hands the ASN codes over
// raw and reports that certificate as having no signer. Dates read as OpenSSL words them,
// where GetX509Error says "error in the notAfter field".
int openssl_verify_code(int code, WOLFSSL_X509_STORE_CTX* store) {
    switch (code) {
        case ASN_NO_SIGNER_E:
        case ASN_SELF_SIGNED_E:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: {
            WOLFSSL_X509* certificate = wolfSSL_X509_STORE_CTX_get_current_cert(store);
            bool self_issued =
                certificate != nullptr &&
                wolfSSL_X509_NAME_cmp(wolfSSL_X509_get_subject_name(certificate),
                                      wolfSSL_X509_get_issuer_name(certificate)) == 0;
            if (!self_issued) {
                return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
            }
            return wolfSSL_X509_STORE_CTX_get_error_depth(store) == 0
                       ? X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
                       : X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
        }
        case ASN_AFTER_DATE_E:
        case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
            return X509_V_ERR_CERT_HAS_EXPIRED;
        case ASN_BEFORE_DATE_E:
        case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
            return X509_V_ERR_CERT_NOT_YET_VALID;
        case ASN_PATHLEN_INV_E:
        case ASN_PATHLEN_SIZE_E:
            return X509_V_ERR_PATH_LENGTH_EXCEEDED;
        case ASN_SIG_OID_E:
        case ASN_SIG_CONFIRM_E:
        case ASN_SIG_HASH_E:
        case ASN_SIG_KEY_E:
            return X509_V_ERR_CERT_SIGNATURE_FAILURE;
        default:
            return code;  // CRL and other wolfSSL codes keep wolfSSL's words.
    }
}

}  // namespace

// wolfSSL calls this for each failing certificate, and (when built with
// WOLFSSL_ALWAYS_VERIFY_CB, as Debian's is) also for the leaf when all is well. Errors are
// always reported, so "no error recorded" means the chain verified. The first error wins:
// it is the one nearest the cause.
int verify_client(int preverify, void* store_opaque) {
    auto* store = static_cast<WOLFSSL_X509_STORE_CTX*>(store_opaque);
    Session& session = session_of(store);
    HUB_ASSERT(!session.is_client());
    if (store->totalCerts <= 0) {
        // An empty Certificate message (RFC 8446 4.4.2.4, RFC 5246 7.4.6): wolfSSL reports
        // it as an error, but "no certificate" is the verdict "none", not "failed".
        return 1;
    }
    session.peer_presented_certificate_ = true;
    if (preverify == 0 && session.verify_error_ == 0) {
        int error = wolfSSL_X509_STORE_CTX_get_error(store);
        if (error == CRL_MISSING &&
            !crl_required_for(session.server_context_->crl_required_issuer(), store)) {
            return 1;  // A client CA that publishes no CRL to hubd: nothing to check.
        }
        // Never record "failed" as 0.
        session.verify_error_ = error != 0 ? openssl_verify_code(error, store) : -1;
    }
    return 1;  // Continue: the verdict is a fact for policy, not a reason to abort.
}

int verify_server(int preverify, void* store_opaque) {
    auto* store = static_cast<WOLFSSL_X509_STORE_CTX*>(store_opaque);
    Session& session = session_of(store);
    HUB_ASSERT(session.is_client());
    session.peer_presented_certificate_ = store->totalCerts > 0;
    if (preverify == 0 && session.verify_error_ == 0) {
        int error = wolfSSL_X509_STORE_CTX_get_error(store);
        session.verify_error_ = error != 0 ? openssl_verify_code(error, store) : -1;
    }
    // With verify_peer off the context uses WOLFSSL_VERIFY_NONE and this is not called;
    // with it on, a failure aborts the handshake with a bad_certificate alert.
    return session.client_context_->config().verify_peer ? preverify : 1;
}

int verify_client_callback(int preverify, WOLFSSL_X509_STORE_CTX* store) {
    return verify_client(preverify, store);
}

int verify_server_callback(int preverify, WOLFSSL_X509_STORE_CTX* store) {
    return verify_server(preverify, store);
}

}  // namespace hub::tls
