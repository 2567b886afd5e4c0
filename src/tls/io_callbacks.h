// io_callbacks.h -- the hooks wolfSSL calls instead of touching a socket (internal to tls/).
#pragma once

// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

namespace hub::tls {

// Receive hook: copies from Session::ciphertext_in, or answers WANT_READ when it is empty
// (CONN_CLOSE once the transport closed). context is the Session.
int ciphertext_recv(WOLFSSL* ssl, char* out, int out_bytes, void* context);

// Send hook: appends as much as fits to Session::ciphertext_out and returns that count, or
// answers WANT_WRITE when it is full. context is the Session.
int ciphertext_send(WOLFSSL* ssl, char* in, int in_bytes, void* context);

// Installs both hooks on a context; every session made from it then uses them.
void install_io_callbacks(WOLFSSL_CTX* ctx);

// Verify callbacks. store is the WOLFSSL_X509_STORE_CTX; its userCtx is the Session
// (set per connection with wolfSSL_SetCertCbCtx).
// Server side: records the client certificate's verdict and always returns 1.
int verify_client(int preverify, void* store);
// Client side: records the server certificate's verdict and returns it when verify_peer.
int verify_server(int preverify, void* store);

// Adapters with the exact wolfSSL VerifyCallback type.
int verify_client_callback(int preverify, WOLFSSL_X509_STORE_CTX* store);
int verify_server_callback(int preverify, WOLFSSL_X509_STORE_CTX* store);

}  // namespace hub::tls
