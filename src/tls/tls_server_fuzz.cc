// tls_server_fuzz.cc -- libFuzzer target: a server Session fed arbitrary ciphertext.
//
// The first input byte picks the chunk size the bytes arrive in (1..256), the rest is the
// peer's ciphertext. The session must never assert or leak, whatever arrives; it may only
// report want_input, done, or an error. wolfSSL's own parser is exercised too, but the
// target is our glue: the I/O hooks, the verify hook, the error mapping, and the wait for
// the first record whose ClientHello server name picks the context (the listener has SNI
// names, as one with listener certificates per name does).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tls/tls_session.h"

namespace {

std::shared_ptr<hub::tls::ServerContext> make_context(const char* chain, const char* key) {
    hub::tls::ServerConfig config;
    config.certificate_chain_path = chain;
    config.private_key_path = key;
    config.client_ca_path = HUB_TLS_TEST_DATA_DIR "/ca.pem";
    auto created = hub::tls::ServerContext::create(config);
    return created ? *created : nullptr;
}

std::shared_ptr<hub::tls::ServerContext> server_context() {
    static std::shared_ptr<hub::tls::ServerContext> context = [] {
        auto listener = make_context(HUB_TLS_TEST_DATA_DIR "/server-chain.pem",
                                     HUB_TLS_TEST_DATA_DIR "/server.key");
        auto named =
            make_context(HUB_TLS_TEST_DATA_DIR "/rogue.pem", HUB_TLS_TEST_DATA_DIR "/rogue.key");
        // "localhost" is the name the corpus's ClientHellos carry.
        if (listener == nullptr || named == nullptr ||
            !listener->add_server_name("localhost", named) ||
            !listener->add_server_name("rogue.test", named)) {
            return std::shared_ptr<hub::tls::ServerContext>();
        }
        return listener;
    }();
    return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto context = server_context();
    if (context == nullptr || size == 0) {
        return 0;
    }
    auto created = hub::tls::Session::create_server(context);
    if (!created) {
        return 0;
    }
    hub::tls::Session& session = **created;
    std::size_t chunk_bytes = static_cast<std::size_t>(data[0]) + 1;
    std::span<const char> input(reinterpret_cast<const char*>(data + 1), size - 1);
    std::array<char, 512> plaintext{};
    while (true) {
        std::size_t count =
            std::min({chunk_bytes, input.size(), session.ciphertext_in.space_bytes()});
        if (count > 0 && !session.ciphertext_in.append(input.first(count))) {
            return 0;
        }
        input = input.subspan(count);
        if (input.empty()) {
            session.transport_closed = true;
        }
        session.ciphertext_out.clear();  // The engine sent it.
        if (!session.handshake_done()) {
            auto progress = session.handshake();
            if (!progress) {
                return 0;
            }
        } else {
            auto got = session.read(plaintext);
            if (!got) {
                return 0;
            }
            if (*got > 0) {
                continue;
            }
        }
        if (input.empty() && count == 0) {
            return 0;
        }
    }
}
