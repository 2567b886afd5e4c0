// tls_session_test.cc -- our server Session against our client Session, in memory.
//
// Method: both ends run in this thread; a test "network" moves bytes from one side's
// ciphertext_out to the other's ciphertext_in (optionally a few bytes at a time), the way
// the engine would after send and recv completions. No sockets, no sleeps, no clock. The
// certificates are fixtures in tests/data/tls (see its README.md).
#include "tls/tls_session.h"

// options.h first: it carries the build's feature macros every other header needs.
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <gtest/gtest.h>

#include <ctime>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tls/limits.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define HUB_TEST_HAVE_LSAN 1
#endif
#endif

namespace hub::tls {
namespace {

std::string data_path(std::string_view file) {
    return fmt::format("{}/{}", HUB_TLS_TEST_DATA_DIR, file);
}

constexpr std::size_t unlimited = SIZE_MAX;

// Moves up to chunk_bytes of ciphertext from one side to the other; returns the count.
std::size_t shuttle(Session& from, Session& to, std::size_t chunk_bytes) {
    std::size_t count =
        std::min({chunk_bytes, from.ciphertext_out.size_bytes(), to.ciphertext_in.space_bytes()});
    if (count == 0) {
        return 0;
    }
    bool appended = to.ciphertext_in.append(from.ciphertext_out.readable().first(count));
    EXPECT_TRUE(appended);
    from.ciphertext_out.consume(count);
    return count;
}

struct HandshakeOutcome {
    std::optional<ErrorDetail> server_error;
    std::optional<ErrorDetail> client_error;
    bool complete = false;
    bool ok() const { return complete && !server_error && !client_error; }
};

// For failure messages: what each side said.
std::ostream& operator<<(std::ostream& out, const HandshakeOutcome& outcome) {
    out << "complete=" << outcome.complete
        << " server=" << (outcome.server_error ? outcome.server_error->message : "ok")
        << " client=" << (outcome.client_error ? outcome.client_error->message : "ok");
    return out;
}

// Advances one side; returns whether its handshake is done. Records the first error.
bool step(Session& session, std::optional<ErrorDetail>& error) {
    if (error) {
        return false;
    }
    auto progress = session.handshake();
    if (!progress) {
        error = progress.error();
        return false;
    }
    return *progress == Progress::done;
}

HandshakeOutcome run_handshake(Session& server, Session& client,
                               std::size_t chunk_bytes = unlimited) {
    HandshakeOutcome outcome;
    for (int round = 0; round < 1'000'000; round++) {
        bool client_done = step(client, outcome.client_error);
        bool server_done = step(server, outcome.server_error);
        if (client_done && server_done) {
            outcome.complete = true;
            return outcome;
        }
        std::size_t moved =
            shuttle(client, server, chunk_bytes) + shuttle(server, client, chunk_bytes);
        if (moved == 0) {
            return outcome;  // Failed (alerts delivered) or stuck.
        }
    }
    ADD_FAILURE() << "handshake did not settle";
    return outcome;
}

// Reads everything `to` can decrypt now.
bool drain_plaintext(Session& to, std::string& received) {
    std::array<char, 4096> buffer{};
    for (int round = 0; round < 100'000; round++) {
        auto count = to.read(buffer);
        if (!count) {
            ADD_FAILURE() << "read failed: " << count.error().message;
            return false;
        }
        if (*count == 0) {
            return true;
        }
        received.append(buffer.data(), *count);
    }
    ADD_FAILURE() << "read did not settle";
    return false;
}

// Sends data from one side to the other in writable_bytes() pieces; returns what arrived.
std::string transfer(Session& from, Session& to, const std::string& data,
                     std::size_t chunk_bytes = unlimited) {
    std::string received;
    std::size_t sent = 0;
    for (int round = 0; round < 10'000'000 && received.size() < data.size(); round++) {
        while (sent < data.size()) {
            std::size_t count = std::min(from.writable_bytes(), data.size() - sent);
            if (count == 0) {
                break;
            }
            auto written = from.write(std::span<const char>(data.data() + sent, count));
            if (!written) {
                ADD_FAILURE() << "write failed: " << written.error().message;
                return received;
            }
            sent += count;
        }
        EXPECT_LE(from.ciphertext_out.size_bytes(), ciphertext_out_bytes);
        shuttle(from, to, chunk_bytes);
        if (!drain_plaintext(to, received)) {
            return received;
        }
        shuttle(to, from, chunk_bytes);  // Tickets, KeyUpdates: whatever `to` answered.
    }
    return received;
}

ServerConfig server_config() {
    ServerConfig config;
    config.certificate_chain_path = data_path("server-chain.pem");
    config.private_key_path = data_path("server.key");
    config.client_ca_path = data_path("ca.pem");
    config.request_client_certificate = true;
    return config;
}

ClientConfig client_config() {
    ClientConfig config;
    config.trust_anchor_path = data_path("ca.pem");
    config.server_name = "localhost";
    return config;
}

std::shared_ptr<ServerContext> make_server_context(const ServerConfig& config = server_config()) {
    auto context = ServerContext::create(config);
    EXPECT_TRUE(context) << context.error().message;
    return context ? *context : nullptr;
}

std::shared_ptr<ClientContext> make_client_context(const ClientConfig& config = client_config()) {
    auto context = ClientContext::create(config);
    EXPECT_TRUE(context) << context.error().message;
    return context ? *context : nullptr;
}

struct Pair {
    std::unique_ptr<Session> server;
    std::unique_ptr<Session> client;
};

Pair connect_pair(const std::shared_ptr<ServerContext>& server_context,
                  const std::shared_ptr<ClientContext>& client_context,
                  std::string_view server_name = {}) {
    auto server = Session::create_server(server_context);
    auto client = Session::create_client(client_context, server_name);
    EXPECT_TRUE(server);
    EXPECT_TRUE(client);
    return Pair{std::move(*server), std::move(*client)};
}

// A client context limited by hand, for peers we must refuse or downgrade to.
std::shared_ptr<ClientContext> make_limited_client(WOLFSSL_METHOD* method,
                                                   const char* cipher_list) {
    initialise_library();
    WOLFSSL_CTX* ctx = wolfSSL_CTX_new(method);
    EXPECT_NE(ctx, nullptr);
    EXPECT_EQ(wolfSSL_CTX_load_verify_locations(ctx, data_path("ca.pem").c_str(), nullptr),
              WOLFSSL_SUCCESS);
    if (cipher_list != nullptr) {
        EXPECT_EQ(wolfSSL_CTX_set_cipher_list(ctx, cipher_list), WOLFSSL_SUCCESS);
    }
    ClientConfig config = client_config();
    config.verify_peer = false;  // Verification is not what these tests are about.
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
    return ClientContext::adopt_for_test(ctx, config);
}

std::string certificate_sha256(const std::string& pem_path) {
    WOLFSSL_X509* cert = wolfSSL_X509_load_certificate_file(pem_path.c_str(), WOLFSSL_FILETYPE_PEM);
    EXPECT_NE(cert, nullptr);
    if (cert == nullptr) {
        return {};
    }
    int der_bytes = 0;
    const unsigned char* der = wolfSSL_X509_get_der(cert, &der_bytes);
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    EXPECT_EQ(wc_Sha256Hash(der, static_cast<word32>(der_bytes), digest.data()), 0);
    wolfSSL_X509_free(cert);
    std::string hex;
    for (unsigned char byte : digest) {
        hex += fmt::format("{:02X}:", byte);
    }
    hex.pop_back();
    return hex;  // Upper case with colons, as `openssl x509 -fingerprint` prints it.
}

class TlsSessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        initialise_library();
        server_context_ = make_server_context();
        client_context_ = make_client_context();
        ASSERT_NE(server_context_, nullptr);
        ASSERT_NE(client_context_, nullptr);
    }
    std::shared_ptr<ServerContext> server_context_;
    std::shared_ptr<ClientContext> client_context_;
};

TEST(CertificateTime, ParsesUtcAndGeneralizedTime) {
    EXPECT_EQ(certificate_time_unix_s("700101000000Z"), 0);
    EXPECT_EQ(certificate_time_unix_s("491231235959Z"), 2524607999);  // YY < 50: 2049.
    EXPECT_EQ(certificate_time_unix_s("500101000000Z"), -631152000);  // YY >= 50: 1950.
    EXPECT_EQ(certificate_time_unix_s("20380119031408Z"), 2147483648);
    EXPECT_EQ(certificate_time_unix_s("20240229120000Z"), 1709208000);  // A leap day.
    EXPECT_EQ(certificate_time_unix_s("2024022912000Z"), 0);
    EXPECT_EQ(certificate_time_unix_s("20241329120000Z"), 0);
    EXPECT_EQ(certificate_time_unix_s("2024022912000aZ"), 0);
    EXPECT_EQ(certificate_time_unix_s("20240229120000+"), 0);
}

TEST_F(TlsSessionTest, NegotiatesTls13ByDefault) {
    Pair pair = connect_pair(server_context_, client_context_);
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
    ASSERT_TRUE(outcome.ok());
    EXPECT_TRUE(pair.server->handshake_done());
    EXPECT_TRUE(pair.client->handshake_done());
    // handshake() after done stays done.
    auto again = pair.server->handshake();
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, Progress::done);

    smtp::TlsFacts facts = pair.server->facts();
    EXPECT_EQ(facts.version, "TLSv1.3");
    EXPECT_EQ(facts.cipher, "TLS_AES_256_GCM_SHA384");  // Our list's first choice.
    EXPECT_EQ(facts.bits, 256);
    EXPECT_EQ(facts.client_cert_verdict, "none");
    EXPECT_EQ(facts.client_subject, "");
    EXPECT_EQ(facts.client_cn, "");

    // The client's view describes the server's certificate.
    smtp::TlsFacts client_facts = pair.client->facts();
    EXPECT_EQ(client_facts.version, "TLSv1.3");
    EXPECT_EQ(client_facts.cipher, facts.cipher);
    EXPECT_EQ(client_facts.client_cert_verdict, "verified");
    EXPECT_EQ(client_facts.client_cn, "localhost");
    EXPECT_FALSE(pair.client->resumed());
    // The health counters' expiry report: the server's certificate has a date in the
    // future; the server saw no client certificate.
    EXPECT_GT(pair.client->peer_not_after_unix_s(), static_cast<std::int64_t>(std::time(nullptr)));
    EXPECT_EQ(pair.server->peer_not_after_unix_s(), 0);
}

TEST_F(TlsSessionTest, HandshakesWithOneByteChunks) {
    Pair pair = connect_pair(server_context_, client_context_);
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client, 1);
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(pair.server->facts().version, "TLSv1.3");
    std::string hello = "220 hub.example ESMTP\r\n";
    EXPECT_EQ(transfer(*pair.server, *pair.client, hello, 1), hello);
    std::string ehlo = "EHLO client.example\r\n";
    EXPECT_EQ(transfer(*pair.client, *pair.server, ehlo, 1), ehlo);
}

TEST_F(TlsSessionTest, Tls12OnlyClientGetsTls12WithAnAeadSuite) {
    struct Case {
        const char* name;
        const char* chain;
        const char* key;
        const char* expected_cipher;
    };
    const Case cases[] = {
        {"ecdsa", "server-chain.pem", "server.key", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
        {"rsa", "server-rsa.pem", "server-rsa.key", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ServerConfig config = server_config();
        config.certificate_chain_path = data_path(c.chain);
        config.private_key_path = data_path(c.key);
        auto server_context = make_server_context(config);
        ASSERT_NE(server_context, nullptr);
        // wolfSSL's default TLS 1.2 client list offers CBC suites too; the server must pick
        // an AEAD one.
        auto client_context = make_limited_client(wolfTLSv1_2_client_method(), nullptr);
        Pair pair = connect_pair(server_context, client_context);
        HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
        ASSERT_TRUE(outcome.ok()) << (outcome.server_error ? outcome.server_error->message : "");
        smtp::TlsFacts facts = pair.server->facts();
        EXPECT_EQ(facts.version, "TLSv1.2");
        EXPECT_EQ(facts.cipher, c.expected_cipher);
        EXPECT_EQ(facts.bits, 256);
        std::string line = "250 OK\r\n";
        EXPECT_EQ(transfer(*pair.server, *pair.client, line), line);
    }
}

TEST_F(TlsSessionTest, Tls12ChaCha20Poly1305) {
    auto client_context =
        make_limited_client(wolfTLSv1_2_client_method(), "ECDHE-ECDSA-CHACHA20-POLY1305");
    Pair pair = connect_pair(server_context_, client_context);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    smtp::TlsFacts facts = pair.server->facts();
    EXPECT_EQ(facts.version, "TLSv1.2");
    EXPECT_EQ(facts.cipher, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
    EXPECT_EQ(facts.bits, 256);
}

TEST_F(TlsSessionTest, RefusesClientOfferingOnlyCbcSuites) {
    auto client_context = make_limited_client(wolfTLSv1_2_client_method(),
                                              "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA");
    Pair pair = connect_pair(server_context_, client_context);
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
    EXPECT_FALSE(outcome.complete);
    ASSERT_TRUE(outcome.server_error);
    EXPECT_EQ(outcome.server_error->error, Error::handshake_failed);
    EXPECT_FALSE(outcome.server_error->message.empty());
    ASSERT_TRUE(outcome.client_error);  // It received the alert.
    EXPECT_FALSE(pair.server->handshake_done());
}

#ifndef NO_OLD_TLS
TEST_F(TlsSessionTest, RefusesTls11Client) {
    auto client_context = make_limited_client(wolfTLSv1_1_client_method(), nullptr);
    Pair pair = connect_pair(server_context_, client_context);
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
    EXPECT_FALSE(outcome.complete);
    ASSERT_TRUE(outcome.server_error);
    EXPECT_EQ(outcome.server_error->error, Error::handshake_failed);
}
#endif

TEST_F(TlsSessionTest, ApplicationDataBothWaysIncludingOneMegabyte) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    std::string greeting = "220 hub.example ESMTP\r\n";
    EXPECT_EQ(transfer(*pair.server, *pair.client, greeting), greeting);

    std::string message;
    message.reserve(1024 * 1024);
    for (std::uint32_t i = 0; message.size() < 1024 * 1024; i++) {
        message += fmt::format("line {:08} of a large message body\r\n", i);
    }
    message.resize(1024 * 1024);
    EXPECT_EQ(transfer(*pair.client, *pair.server, message), message);
    EXPECT_EQ(transfer(*pair.server, *pair.client, message), message);
    // Small read buffers: wolfSSL keeps what did not fit for the next read().
    std::string reply = "250 2.0.0 Ok: queued as 0123456789ABCDEF\r\n";
    ASSERT_TRUE(pair.server->write(reply));
    shuttle(*pair.server, *pair.client, unlimited);
    std::string received;
    std::array<char, 3> tiny{};
    for (;;) {
        auto count = pair.client->read(tiny);
        ASSERT_TRUE(count);
        if (*count == 0) {
            break;
        }
        received.append(tiny.data(), *count);
    }
    EXPECT_EQ(received, reply);
}

TEST_F(TlsSessionTest, WritesRespectTheOutboxBound) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    shuttle(*pair.server, *pair.client, unlimited);  // The TLS 1.3 ticket.
    std::string piece(write_bytes_max, 'x');
    std::size_t written = 0;
    while (pair.server->writable_bytes() > 0) {
        std::size_t count = std::min(pair.server->writable_bytes(), piece.size());
        ASSERT_TRUE(pair.server->write(std::span<const char>(piece.data(), count)));
        written += count;
        ASSERT_LE(pair.server->ciphertext_out.size_bytes(), ciphertext_out_bytes);
    }
    EXPECT_GT(written, ciphertext_out_bytes / 2);
    EXPECT_LE(pair.server->ciphertext_out.space_bytes(), record_overhead_bytes_max);
    EXPECT_FALSE(pair.server->output_blocked());
    std::string received;
    while (!pair.server->ciphertext_out.empty()) {
        shuttle(*pair.server, *pair.client, unlimited);
        ASSERT_TRUE(drain_plaintext(*pair.client, received));
    }
    EXPECT_EQ(received.size(), written);
    EXPECT_EQ(pair.server->writable_bytes(), write_bytes_max);
}

// The handshake meets a nearly full outbox: it must say want_flush, keep its bytes, and
// finish once the engine has sent what was queued.
TEST_F(TlsSessionTest, HandshakeWaitsForFlushWhenOutboxIsFull) {
    Pair pair = connect_pair(server_context_, client_context_);
    auto client_hello = pair.client->handshake();
    ASSERT_TRUE(client_hello);
    EXPECT_EQ(*client_hello, Progress::want_input);
    shuttle(*pair.client, *pair.server, unlimited);

    std::size_t filler_bytes = ciphertext_out_bytes - 100;  // Stands for unsent bytes.
    ASSERT_TRUE(
        pair.server->ciphertext_out.append(std::string_view(std::string(filler_bytes, 'f'))));
    auto blocked = pair.server->handshake();
    ASSERT_TRUE(blocked);
    EXPECT_EQ(*blocked, Progress::want_flush);
    EXPECT_TRUE(pair.server->output_blocked());
    EXPECT_EQ(pair.server->ciphertext_out.space_bytes(), 0u);
    EXPECT_EQ(pair.server->writable_bytes(), 0u);

    pair.server->ciphertext_out.consume(filler_bytes);  // The engine sent the filler.
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
    ASSERT_TRUE(outcome.ok());
    EXPECT_FALSE(pair.server->output_blocked());
    std::string line = "220 ready\r\n";
    EXPECT_EQ(transfer(*pair.server, *pair.client, line), line);
}

// A TLS 1.3 KeyUpdate asks the reader to answer (RFC 8446 4.6.3); with a full outbox the
// answer waits inside wolfSSL until flush().
TEST_F(TlsSessionTest, KeyUpdateAnswerWaitsForFlush) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    shuttle(*pair.server, *pair.client, unlimited);
    std::string ignored;
    ASSERT_TRUE(drain_plaintext(*pair.client, ignored));  // Takes the ticket.

    ASSERT_EQ(wolfSSL_update_keys(pair.client->native_for_test()), WOLFSSL_SUCCESS);
    shuttle(*pair.client, *pair.server, unlimited);
    std::size_t filler_bytes = pair.server->ciphertext_out.space_bytes() - 4;
    ASSERT_TRUE(
        pair.server->ciphertext_out.append(std::string_view(std::string(filler_bytes, 'f'))));
    std::string received;
    ASSERT_TRUE(drain_plaintext(*pair.server, received));
    EXPECT_TRUE(received.empty());
    EXPECT_TRUE(pair.server->output_blocked());
    EXPECT_EQ(pair.server->writable_bytes(), 0u);

    pair.server->ciphertext_out.consume(filler_bytes);
    auto flushed = pair.server->flush();
    ASSERT_TRUE(flushed) << flushed.error().message;
    EXPECT_EQ(*flushed, Progress::done);
    EXPECT_FALSE(pair.server->output_blocked());
    std::string line = "250 after key update\r\n";
    EXPECT_EQ(transfer(*pair.server, *pair.client, line), line);
    EXPECT_EQ(transfer(*pair.client, *pair.server, line), line);
}

// The same, but the engine writes instead of calling flush(): write() sends the held-back
// answer first, and nothing is lost or reordered.
TEST_F(TlsSessionTest, WriteSendsHeldBackBytesFirst) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    shuttle(*pair.server, *pair.client, unlimited);
    std::string ignored;
    ASSERT_TRUE(drain_plaintext(*pair.client, ignored));

    ASSERT_EQ(wolfSSL_update_keys(pair.client->native_for_test()), WOLFSSL_SUCCESS);
    shuttle(*pair.client, *pair.server, unlimited);
    std::size_t filler_bytes = pair.server->ciphertext_out.space_bytes();
    ASSERT_TRUE(
        pair.server->ciphertext_out.append(std::string_view(std::string(filler_bytes, 'f'))));
    ASSERT_TRUE(drain_plaintext(*pair.server, ignored));
    EXPECT_TRUE(pair.server->output_blocked());
    pair.server->ciphertext_out.consume(filler_bytes);

    std::string line = "250 written while blocked\r\n";
    ASSERT_LE(line.size(), pair.server->writable_bytes());
    ASSERT_TRUE(pair.server->write(line));
    EXPECT_FALSE(pair.server->output_blocked());
    shuttle(*pair.server, *pair.client, unlimited);
    std::string received;
    ASSERT_TRUE(drain_plaintext(*pair.client, received));
    EXPECT_EQ(received, line);
    EXPECT_EQ(transfer(*pair.client, *pair.server, line), line);
}

TEST_F(TlsSessionTest, ClientCertificateVerdicts) {
    struct Case {
        const char* name;
        const char* certificate;  // nullptr: the client presents none.
        const char* key;
        bool request;
        const char* verdict;
        const char* cn;
        const char* subject;
        const char* issuer;
    };
    const Case cases[] = {
        {"none", nullptr, nullptr, true, "none", "", "", ""},
        {"verified", "client.pem", "client.key", true, "verified", "partner1.test",
         "/C=GB/O=Partner One/CN=partner1.test", "/C=GB/O=Hubbox Test/CN=Hubbox Test CA"},
        {"rogue", "rogue.pem", "rogue.key", true, "failed", "rogue.test",
         "/C=GB/O=Rogue/CN=rogue.test", "/C=GB/O=Rogue/CN=rogue.test"},
        {"not requested", "client.pem", "client.key", false, "none", "", "", ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ServerConfig server = server_config();
        server.request_client_certificate = c.request;
        ClientConfig client = client_config();
        if (c.certificate != nullptr) {
            client.certificate_chain_path = data_path(c.certificate);
            client.private_key_path = data_path(c.key);
        }
        auto server_context = make_server_context(server);
        auto client_context = make_client_context(client);
        ASSERT_NE(server_context, nullptr);
        ASSERT_NE(client_context, nullptr);
        Pair pair = connect_pair(server_context, client_context);
        HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
        ASSERT_TRUE(outcome.ok()) << (outcome.server_error ? outcome.server_error->message
                                                           : std::string());
        smtp::TlsFacts facts = pair.server->facts();
        EXPECT_EQ(facts.client_cert_verdict, c.verdict);
        EXPECT_EQ(facts.client_cn, c.cn);
        EXPECT_EQ(facts.client_subject, c.subject);
        EXPECT_EQ(facts.client_issuer, c.issuer);
        if (std::string_view(c.verdict) == "failed") {
            EXPECT_NE(pair.server->peer_verify_error(), 0);
            // The reason, for the refusal's log line: rogue.pem signs itself.
            EXPECT_EQ(facts.client_cert_error, "self-signed certificate")
                << pair.server->peer_verify_error();
        } else {
            EXPECT_EQ(pair.server->peer_verify_error(), 0);
            EXPECT_EQ(facts.client_cert_error, "");
        }
        // The session works whatever the verdict: policy decides, not the handshake.
        std::string line = "220 ready\r\n";
        EXPECT_EQ(transfer(*pair.server, *pair.client, line), line);
    }
}

TEST_F(TlsSessionTest, ClientCertificateOverTls12) {
    ClientConfig client = client_config();
    client.certificate_chain_path = data_path("client.pem");
    client.private_key_path = data_path("client.key");
    auto client_context = make_client_context(client);
    ASSERT_NE(client_context, nullptr);
    // This context is the test's own, so limiting it here shares nothing.
    ASSERT_EQ(wolfSSL_CTX_set_max_proto_version(client_context->native(), TLS1_2_VERSION),
              WOLFSSL_SUCCESS);
    Pair pair = connect_pair(server_context_, client_context);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    smtp::TlsFacts facts = pair.server->facts();
    EXPECT_EQ(facts.version, "TLSv1.2");
    EXPECT_EQ(facts.client_cert_verdict, "verified");
    EXPECT_EQ(facts.client_cn, "partner1.test");
}

TEST_F(TlsSessionTest, CloseNotifyEndsTheSession) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    std::string line = "QUIT\r\n";
    EXPECT_EQ(transfer(*pair.client, *pair.server, line), line);
    pair.client->shutdown();
    pair.client->shutdown();  // Once only.
    EXPECT_FALSE(pair.client->ciphertext_out.empty());
    shuttle(*pair.client, *pair.server, unlimited);
    std::array<char, 64> buffer{};
    auto result = pair.server->read(buffer);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, Error::closed);
}

TEST_F(TlsSessionTest, TransportCloseEndsTheSession) {
    Pair pair = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok());
    pair.server->transport_closed = true;
    std::array<char, 64> buffer{};
    auto result = pair.server->read(buffer);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, Error::closed);

    // Mid-handshake, too.
    Pair early = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(early.client->handshake());
    shuttle(*early.client, *early.server, 20);  // Part of the ClientHello only.
    early.server->transport_closed = true;
    auto handshake = early.server->handshake();
    ASSERT_FALSE(handshake);
    EXPECT_EQ(handshake.error().error, Error::closed);
}

TEST_F(TlsSessionTest, GarbageFailsTheHandshake) {
    auto server = Session::create_server(server_context_);
    ASSERT_TRUE(server);
    std::string garbage = "EHLO this is not TLS at all\r\n";
    ASSERT_TRUE((*server)->ciphertext_in.append(std::string_view(garbage)));
    auto result = (*server)->handshake();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, Error::handshake_failed);
    EXPECT_NE(result.error().code, 0);
}

TEST_F(TlsSessionTest, ClientVerifiesTheServer) {
    struct Case {
        const char* name;
        const char* chain;
        const char* key;
        std::string server_name;
        bool verify_peer;
        std::string pin;
        bool ok;
        const char* verdict;
    };
    std::string good_pin = certificate_sha256(data_path("server.pem"));
    std::string rogue_pin = certificate_sha256(data_path("rogue.pem"));
    ASSERT_EQ(good_pin.size(), 95u);
    const Case cases[] = {
        {"trusted", "server-chain.pem", "server.key", "localhost", true, "", true, "verified"},
        {"untrusted chain", "rogue.pem", "rogue.key", "rogue.test", true, "", false, ""},
        {"wrong name", "server-chain.pem", "server.key", "mx.example", true, "", false, ""},
        {"opportunistic", "rogue.pem", "rogue.key", "rogue.test", false, "", true, "unverified"},
        {"pin instead of chain", "rogue.pem", "rogue.key", "rogue.test", false, rogue_pin, true,
         "verified"},
        {"pin and chain", "server-chain.pem", "server.key", "localhost", true, good_pin, true,
         "verified"},
        {"wrong pin", "server-chain.pem", "server.key", "localhost", true, rogue_pin, false, ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ServerConfig server = server_config();
        server.certificate_chain_path = data_path(c.chain);
        server.private_key_path = data_path(c.key);
        ClientConfig client = client_config();
        client.verify_peer = c.verify_peer;
        client.pinned_sha256 = c.pin;
        auto server_context = make_server_context(server);
        auto client_context = make_client_context(client);
        ASSERT_NE(server_context, nullptr);
        ASSERT_NE(client_context, nullptr);
        Pair pair = connect_pair(server_context, client_context, c.server_name);
        HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
        EXPECT_EQ(outcome.ok(), c.ok);
        if (c.ok) {
            EXPECT_EQ(pair.client->facts().client_cert_verdict, c.verdict);
        } else {
            ASSERT_TRUE(outcome.client_error);
            EXPECT_EQ(outcome.client_error->error, Error::handshake_failed);
            EXPECT_FALSE(outcome.client_error->message.empty());
        }
    }
}

// SNI: a name the listener's context knows moves the session to that name's context (its
// certificate, whatever its key type), any other name or none keeps the default; client
// certificates are judged the same on every context.
TEST_F(TlsSessionTest, ServerNameSelectsTheContext) {
    ServerConfig rogue = server_config();
    rogue.certificate_chain_path = data_path("rogue.pem");
    rogue.private_key_path = data_path("rogue.key");
    ServerConfig rsa = server_config();
    rsa.certificate_chain_path = data_path("server-rsa.pem");
    rsa.private_key_path = data_path("server-rsa.key");
    auto listener = make_server_context();
    auto rogue_context = make_server_context(rogue);
    auto rsa_context = make_server_context(rsa);
    ASSERT_NE(listener, nullptr);
    ASSERT_NE(rogue_context, nullptr);
    ASSERT_NE(rsa_context, nullptr);
    ASSERT_TRUE(listener->add_server_name("Rogue.Test", rogue_context));
    ASSERT_TRUE(listener->add_server_name("rsa.test", rsa_context));
    EXPECT_FALSE(listener->add_server_name("ROGUE.test", rsa_context));  // Twice.
    EXPECT_EQ(listener->server_name_count(), 2u);
    EXPECT_EQ(listener->context_for_server_name("rogue.TEST"), rogue_context.get());
    EXPECT_EQ(listener->context_for_server_name("unknown.test"), nullptr);

    struct Case {
        const char* name;
        std::string server_name;  // The client's SNI.
        const char* expected;     // The certificate the client must see (by its pin).
    };
    const Case cases[] = {
        {"no SNI", "", "server.pem"},
        {"unknown name", "unknown.test", "server.pem"},
        {"rogue.test", "rogue.test", "rogue.pem"},
        {"upper case", "ROGUE.TEST", "rogue.pem"},
        {"RSA certificate", "rsa.test", "server-rsa.pem"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ClientConfig client = client_config();
        client.verify_peer = false;  // The pin says which certificate came.
        client.pinned_sha256 = certificate_sha256(data_path(c.expected));
        client.server_name = c.server_name;
        client.certificate_chain_path = data_path("client.pem");
        client.private_key_path = data_path("client.key");
        auto client_context = make_client_context(client);
        ASSERT_NE(client_context, nullptr);
        Pair pair = connect_pair(listener, client_context);
        HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
        ASSERT_TRUE(outcome.ok()) << outcome;
        EXPECT_EQ(pair.client->facts().client_cert_verdict, "verified");
        EXPECT_EQ(pair.server->facts().client_cert_verdict, "verified");
        EXPECT_EQ(pair.server->facts().client_cn, "partner1.test");
    }
    // And the pin really tells them apart: the default certificate is not rogue's.
    ClientConfig client = client_config();
    client.verify_peer = false;
    client.pinned_sha256 = certificate_sha256(data_path("rogue.pem"));
    auto client_context = make_client_context(client);
    ASSERT_NE(client_context, nullptr);
    Pair pair = connect_pair(listener, client_context, "unknown.test");
    EXPECT_FALSE(run_handshake(*pair.server, *pair.client).ok());
}

// The ClientHello record a client with this SNI sends first (one record: header + body).
std::string first_client_record(std::string_view server_name) {
    ClientConfig config = client_config();
    config.verify_peer = false;
    config.server_name = std::string(server_name);
    auto context = make_client_context(config);
    if (context == nullptr) {
        return {};
    }
    auto client = Session::create_client(context);
    EXPECT_TRUE(client);
    auto progress = (*client)->handshake();
    EXPECT_TRUE(progress && *progress == Progress::want_input);
    auto bytes = (*client)->ciphertext_out.readable();
    std::string record(bytes.data(), bytes.size());
    EXPECT_GE(record.size(), record_header_bytes);
    if (record.size() >= record_header_bytes) {
        std::size_t body = std::size_t{static_cast<unsigned char>(record[3])} * 256 +
                           static_cast<unsigned char>(record[4]);
        EXPECT_EQ(record.size(), record_header_bytes + body) << "one record, whole";
    }
    return record;
}

// A listener with names for the first-record tests: rogue.test has rogue's certificate.
struct NamedListener {
    std::shared_ptr<ServerContext> listener;
    std::shared_ptr<ServerContext> rogue;
};

NamedListener make_named_listener() {
    ServerConfig rogue = server_config();
    rogue.certificate_chain_path = data_path("rogue.pem");
    rogue.private_key_path = data_path("rogue.key");
    NamedListener named{make_server_context(), make_server_context(rogue)};
    if (named.listener != nullptr && named.rogue != nullptr) {
        EXPECT_TRUE(named.listener->add_server_name("rogue.test", named.rogue));
    }
    return named;
}

// The name is read from the whole first record; anything that is not a ClientHello naming
// a known host gets the listener's own context.
TEST_F(TlsSessionTest, FirstRecordChoosesTheContext) {
    NamedListener named = make_named_listener();
    ASSERT_NE(named.rogue, nullptr);
    const ServerContext& listener = *named.listener;
    std::string rogue_hello = first_client_record("ROGUE.test");
    ASSERT_FALSE(rogue_hello.empty());
    EXPECT_EQ(&listener.context_for_client_hello(rogue_hello), named.rogue.get());
    EXPECT_EQ(&listener.context_for_client_hello(first_client_record("")), &listener) << "no SNI";
    EXPECT_EQ(&listener.context_for_client_hello(first_client_record("unknown.test")), &listener);
    // A record cut short, or garbage, names nothing.
    EXPECT_EQ(&listener.context_for_client_hello(
                  std::span<const char>(rogue_hello).first(rogue_hello.size() - 1)),
              &listener);
    std::string garbage(rogue_hello.size(), 'x');
    EXPECT_EQ(&listener.context_for_client_hello(garbage), &listener);
    // A name longer than any we look up is not matched by its first 255 bytes.
    std::string long_name(server_name_bytes_max, 'a');
    ASSERT_TRUE(named.listener->add_server_name(long_name, named.rogue));
    EXPECT_EQ(&listener.context_for_client_hello(first_client_record(long_name)),
              named.rogue.get());
    EXPECT_EQ(&listener.context_for_client_hello(first_client_record(long_name + "a")), &listener);
}

// A ClientHello that arrives a byte at a time: the session waits (no wolfSSL object yet)
// until the record is whole, then handshakes on the chosen context.
TEST_F(TlsSessionTest, FirstRecordSplitOverReads) {
    NamedListener named = make_named_listener();
    ASSERT_NE(named.rogue, nullptr);
    ClientConfig client = client_config();
    client.verify_peer = false;
    client.pinned_sha256 = certificate_sha256(data_path("rogue.pem"));
    client.server_name = "rogue.test";
    auto client_context = make_client_context(client);
    ASSERT_NE(client_context, nullptr);
    Pair pair = connect_pair(named.listener, client_context);
    auto progress = pair.client->handshake();
    ASSERT_TRUE(progress && *progress == Progress::want_input);
    std::size_t hello_bytes = pair.client->ciphertext_out.size_bytes();
    ASSERT_GT(hello_bytes, record_header_bytes + 100);
    for (std::size_t sent = 0; sent + 1 < hello_bytes; sent++) {
        ASSERT_EQ(shuttle(*pair.client, *pair.server, 1), 1u);
        auto waiting = pair.server->handshake();
        ASSERT_TRUE(waiting) << waiting.error().message;
        ASSERT_EQ(*waiting, Progress::want_input);
        ASSERT_EQ(pair.server->native_for_test(), nullptr) << "after " << sent + 1 << " bytes";
    }
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client, 1);
    ASSERT_TRUE(outcome.ok()) << outcome;  // The pin says rogue's certificate came.
    EXPECT_NE(pair.server->native_for_test(), nullptr);
    EXPECT_EQ(transfer(*pair.client, *pair.server, "EHLO client.test\r\n"), "EHLO client.test\r\n");
}

// What is not a ClientHello record fails exactly as on a listener without names, and at
// once: an oversized or garbage first record is not waited for.
TEST_F(TlsSessionTest, BadFirstRecordFailsAsWithoutNames) {
    NamedListener named = make_named_listener();
    ASSERT_NE(named.rogue, nullptr);
    struct Case {
        const char* name;
        std::string bytes;
    };
    const Case cases[] = {
        {"garbage", "EHLO this is not TLS at all\r\n"},
        {"oversized handshake record", std::string("\x16\x03\x01\xff\xff", 5) + std::string(64, 0)},
        {"record longer than 2^14", std::string("\x16\x03\x01\x40\x01", 5) + std::string(64, 0)},
        {"application data first", std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 0)},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        auto plain = Session::create_server(server_context_);
        auto with_names = Session::create_server(named.listener);
        ASSERT_TRUE(plain && with_names);
        ASSERT_TRUE((*plain)->ciphertext_in.append(std::string_view(c.bytes)));
        ASSERT_TRUE((*with_names)->ciphertext_in.append(std::string_view(c.bytes)));
        auto expected = (*plain)->handshake();
        auto result = (*with_names)->handshake();
        EXPECT_NE((*with_names)->native_for_test(), nullptr) << "not waited for";
        ASSERT_EQ(result.has_value(), expected.has_value());
        if (expected) {
            EXPECT_EQ(*result, *expected);
            continue;
        }
        EXPECT_EQ(result.error().error, expected.error().error);
        EXPECT_EQ(result.error().code, expected.error().code);
        EXPECT_EQ(result.error().message, expected.error().message);
    }
    // The common cases fail at once rather than wait for more bytes.
    auto garbage = Session::create_server(named.listener);
    ASSERT_TRUE(garbage);
    ASSERT_TRUE((*garbage)->ciphertext_in.append(std::string_view(cases[0].bytes)));
    auto refused = (*garbage)->handshake();
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().error, Error::handshake_failed);
}

// The transport closing before the first record is whole ends the session as closed, and a
// policy that skips the certificate request still applies to a session made late.
TEST_F(TlsSessionTest, FirstRecordEdgesWithNames) {
    NamedListener named = make_named_listener();
    ASSERT_NE(named.rogue, nullptr);
    std::string hello = first_client_record("rogue.test");
    for (std::size_t cut : {std::size_t{3}, std::size_t{20}}) {
        SCOPED_TRACE(cut);
        auto server = Session::create_server(named.listener);
        ASSERT_TRUE(server);
        ASSERT_TRUE((*server)->ciphertext_in.append(std::string_view(hello).substr(0, cut)));
        auto waiting = (*server)->handshake();
        ASSERT_TRUE(waiting && *waiting == Progress::want_input);
        (*server)->transport_closed = true;
        auto closed = (*server)->handshake();
        ASSERT_FALSE(closed);
        EXPECT_EQ(closed.error().error, Error::closed);
    }
    auto idle = Session::create_server(named.listener);
    ASSERT_TRUE(idle);
    (*idle)->shutdown();  // Nothing to close yet; must not touch a missing wolfSSL object.
    EXPECT_FALSE((*idle)->resumed());
    EXPECT_EQ((*idle)->peer_not_after_unix_s(), 0);

    ClientConfig client = client_config();
    client.verify_peer = false;
    client.server_name = "rogue.test";
    client.certificate_chain_path = data_path("client.pem");
    client.private_key_path = data_path("client.key");
    auto client_context = make_client_context(client);
    ASSERT_NE(client_context, nullptr);
    Pair pair = connect_pair(named.listener, client_context);
    pair.server->skip_client_certificate_request();
    HandshakeOutcome outcome = run_handshake(*pair.server, *pair.client);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_EQ(pair.server->facts().client_cert_verdict, "none") << "not asked";
}

// Anonymous clients resume from a ticket; clients that presented a certificate run a full
// handshake again, so the certificate verdict never depends on resumption.
TEST_F(TlsSessionTest, SessionTicketResumption) {
    struct Case {
        const char* name;
        bool tls12;
        bool client_certificate;
        bool resumed;
        const char* verdict;
    };
    // Not here: TLS 1.2 with a client certificate. The server refuses that ticket and runs
    // a full handshake (RFC 5077 3.4), but wolfSSL 5.5.4's client cannot follow a refused
    // TLS 1.2 ticket (see ClientContext::create); OpenSSL clients can.
    const Case cases[] = {
        {"tls1.3 anonymous", false, false, true, "none"},
        {"tls1.2 anonymous", true, false, true, "none"},
        {"tls1.3 certificate", false, true, false, "verified"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        ClientConfig client = client_config();
        if (c.client_certificate) {
            client.certificate_chain_path = data_path("client.pem");
            client.private_key_path = data_path("client.key");
        }
        auto client_context = make_client_context(client);
        ASSERT_NE(client_context, nullptr);
        if (c.tls12) {
            // This context is the test's own: limit it and let it ask for TLS 1.2 tickets.
            ASSERT_EQ(wolfSSL_CTX_set_max_proto_version(client_context->native(), TLS1_2_VERSION),
                      WOLFSSL_SUCCESS);
            ASSERT_EQ(wolfSSL_CTX_UseSessionTicket(client_context->native()), WOLFSSL_SUCCESS);
        }
        Pair first = connect_pair(server_context_, client_context);
        ASSERT_TRUE(run_handshake(*first.server, *first.client).ok());
        std::string line = "220 ready\r\n";
        EXPECT_EQ(transfer(*first.server, *first.client, line), line);  // Carries the ticket.
        SavedSession saved = first.client->save_session();
        ASSERT_FALSE(saved.empty());

        Pair second = connect_pair(server_context_, client_context);
        ASSERT_TRUE(second.client->resume_from(saved));
        HandshakeOutcome outcome = run_handshake(*second.server, *second.client);
        ASSERT_TRUE(outcome.ok()) << outcome;
        EXPECT_EQ(second.client->resumed(), c.resumed);
        EXPECT_EQ(second.server->resumed(), c.resumed);
        smtp::TlsFacts facts = second.server->facts();
        EXPECT_EQ(facts.version, c.tls12 ? "TLSv1.2" : "TLSv1.3");
        EXPECT_EQ(facts.client_cert_verdict, c.verdict);
        EXPECT_EQ(transfer(*second.client, *second.server, line), line);
    }
}

// A ticket from another server context (another process, in real life) is not an error:
// the handshake falls back to a full one.
TEST_F(TlsSessionTest, ForeignTicketMeansFullHandshake) {
    Pair first = connect_pair(server_context_, client_context_);
    ASSERT_TRUE(run_handshake(*first.server, *first.client).ok());
    std::string line = "220 ready\r\n";
    EXPECT_EQ(transfer(*first.server, *first.client, line), line);
    SavedSession saved = first.client->save_session();
    ASSERT_FALSE(saved.empty());

    auto other_server = make_server_context();
    ASSERT_NE(other_server, nullptr);
    Pair second = connect_pair(other_server, client_context_);
    ASSERT_TRUE(second.client->resume_from(saved));
    ASSERT_TRUE(run_handshake(*second.server, *second.client).ok());
    EXPECT_FALSE(second.server->resumed());
    EXPECT_EQ(transfer(*second.client, *second.server, line), line);
}

TEST(TlsContextTest, ErrorsNameTheFile) {
    ServerConfig config = server_config();
    config.certificate_chain_path = data_path("missing.pem");
    auto missing = ServerContext::create(config);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().error, Error::setup_failed);
    EXPECT_NE(missing.error().message.find("missing.pem"), std::string::npos)
        << missing.error().message;

    EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);

    config = server_config();
    config.certificate_chain_path = data_path("server.key");  // A key, not a certificate.
    auto not_pem = ServerContext::create(config);
    ASSERT_FALSE(not_pem);
    EXPECT_NE(not_pem.error().message.find("certificate chain from"), std::string::npos)
        << not_pem.error().message;
    EXPECT_NE(not_pem.error().message.find("server.key"), std::string::npos);

    config = server_config();
    config.private_key_path = data_path("client.key");  // Does not match server.pem.
    auto mismatch = ServerContext::create(config);
    ASSERT_FALSE(mismatch);
    EXPECT_NE(mismatch.error().message.find("client.key"), std::string::npos)
        << mismatch.error().message;

    config = server_config();
    config.client_ca_path = data_path("no-such-ca.pem");
    auto ca = ServerContext::create(config);
    ASSERT_FALSE(ca);
    EXPECT_NE(ca.error().message.find("no-such-ca.pem"), std::string::npos);

    ClientConfig client = client_config();
    client.pinned_sha256 = "abc";
    auto pin = ClientContext::create(client);
    ASSERT_FALSE(pin);
    EXPECT_NE(pin.error().message.find("pinned_sha256"), std::string::npos);

    client = client_config();
    client.trust_anchor_path.clear();
    EXPECT_FALSE(ClientContext::create(client));
}

// Every connection frees what it allocated: 300 full handshakes with data and close, then
// LeakSanitizer (in sanitizer builds) must find nothing.
TEST_F(TlsSessionTest, RepeatedHandshakesDoNotLeak) {
    ClientConfig client = client_config();
    client.certificate_chain_path = data_path("client.pem");
    client.private_key_path = data_path("client.key");
    auto client_context = make_client_context(client);
    ASSERT_NE(client_context, nullptr);
    std::string line = "250 OK\r\n";
    for (int i = 0; i < 300; i++) {
        Pair pair = connect_pair(server_context_, client_context);
        ASSERT_TRUE(run_handshake(*pair.server, *pair.client).ok()) << "iteration " << i;
        ASSERT_EQ(pair.server->facts().client_cert_verdict, "verified");
        ASSERT_EQ(transfer(*pair.server, *pair.client, line), line);
        pair.client->shutdown();
        pair.server->shutdown();
    }
#ifdef HUB_TEST_HAVE_LSAN
    EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

}  // namespace
}  // namespace hub::tls
