// PURPOSE: hub-limits, prints the machine's one-core limits that bound any relay on it:
//          wolfSSL AES-128-GCM throughput, full TLS 1.3 handshakes per second (server side),
//          and fdatasync latency, so benchmark tables can show them beside the results.
// RUNS IN: its own process, single-threaded.
// TRUST:   none needed; it reads its own certificate files and writes one scratch file.
// LIMITS:  ~1 s AES, ~2 s handshakes, 200 fdatasyncs; fixed buffers.
// SEE ALSO: bench/limits/run, bench/sink/sink.cc, bench/README.md (benchmarks against Postfix).
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// AES-128-GCM encryption over 16 KiB buffers (the TLS record size) for about one second.
bool measure_aes() {
    Aes aes;
    unsigned char key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    unsigned char iv[12] = {};
    unsigned char tag[16];
    std::vector<unsigned char> in(16384, 0x5a);
    std::vector<unsigned char> out(16384);
    if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0 ||
        wc_AesGcmSetKey(&aes, key, sizeof(key)) != 0) {
        std::fprintf(stderr, "limits: AES-GCM setup failed\n");
        return false;
    }
    unsigned long long bytes = 0;
    auto t0 = Clock::now();
    double elapsed = 0;
    do {
        for (int i = 0; i < 64; ++i) {
            iv[0]++;
            if (wc_AesGcmEncrypt(&aes, out.data(), in.data(), static_cast<word32>(in.size()), iv,
                                 sizeof(iv), tag, sizeof(tag), nullptr, 0) != 0) {
                std::fprintf(stderr, "limits: AES-GCM encrypt failed\n");
                return false;
            }
            bytes += in.size();
        }
        elapsed = seconds_since(t0);
    } while (elapsed < 1.0);
    wc_AesFree(&aes);
    std::printf("limit: aes128gcm_bytes_per_s=%.0f\n", static_cast<double>(bytes) / elapsed);
    return true;
}

// In-memory transport: two byte pipes between one client and one server.
struct Pipe {
    std::vector<char> data;
    std::size_t pos = 0;
};

struct Endpoint {
    Pipe* in;
    Pipe* out;
};

int mem_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* e = static_cast<Endpoint*>(ctx);
    std::size_t avail = e->in->data.size() - e->in->pos;
    if (avail == 0) {
        return WOLFSSL_CBIO_ERR_WANT_READ;
    }
    std::size_t n = std::min(avail, static_cast<std::size_t>(sz));
    std::memcpy(buf, e->in->data.data() + e->in->pos, n);
    e->in->pos += n;
    if (e->in->pos == e->in->data.size()) {
        e->in->data.clear();
        e->in->pos = 0;
    }
    return static_cast<int>(n);
}

int mem_send(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto* e = static_cast<Endpoint*>(ctx);
    e->out->data.insert(e->out->data.end(), buf, buf + sz);
    return sz;
}

bool want_io(WOLFSSL* ssl, int ret) {
    int err = wolfSSL_get_error(ssl, ret);
    return err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE;
}

// Full TLS 1.3 handshakes (new session each time, no resumption) between an in-memory client
// and server for about two seconds. The server's share of CPU time is timed separately, so
// the figure is what one core running only the server side could sustain. mutual: the
// server also asks for and verifies a client certificate (the same certificate, which
// carries clientAuth), as the hub does with every partner.
bool measure_handshakes(const std::string& cert, const std::string& key, const std::string& ca,
                        bool mutual) {
    WOLFSSL_CTX* sctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
    WOLFSSL_CTX* cctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (sctx == nullptr || cctx == nullptr ||
        wolfSSL_CTX_use_certificate_chain_file(sctx, cert.c_str()) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(sctx, key.c_str(), WOLFSSL_FILETYPE_PEM) !=
            WOLFSSL_SUCCESS ||
        wolfSSL_CTX_load_verify_locations(cctx, ca.c_str(), nullptr) != WOLFSSL_SUCCESS) {
        std::fprintf(stderr, "limits: cannot load --cert/--key/--ca\n");
        return false;
    }
    wolfSSL_CTX_set_verify(cctx, WOLFSSL_VERIFY_PEER, nullptr);
    if (mutual &&
        (wolfSSL_CTX_use_certificate_chain_file(cctx, cert.c_str()) != WOLFSSL_SUCCESS ||
         wolfSSL_CTX_use_PrivateKey_file(cctx, key.c_str(), WOLFSSL_FILETYPE_PEM) !=
             WOLFSSL_SUCCESS ||
         wolfSSL_CTX_load_verify_locations(sctx, ca.c_str(), nullptr) != WOLFSSL_SUCCESS)) {
        std::fprintf(stderr, "limits: cannot load the client certificate\n");
        return false;
    }
    if (mutual) {
        wolfSSL_CTX_set_verify(sctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                               nullptr);
    }
    wolfSSL_CTX_SetIORecv(sctx, mem_recv);
    wolfSSL_CTX_SetIOSend(sctx, mem_send);
    wolfSSL_CTX_SetIORecv(cctx, mem_recv);
    wolfSSL_CTX_SetIOSend(cctx, mem_send);
    // Every handshake is a full one: the client never offers a saved session (no
    // wolfSSL_set_session), and the server cache is off.
    wolfSSL_CTX_set_session_cache_mode(sctx, WOLFSSL_SESS_CACHE_OFF);

    Pipe c2s;
    Pipe s2c;
    Endpoint server_end{&c2s, &s2c};
    Endpoint client_end{&s2c, &c2s};
    unsigned long long done = 0;
    double server_seconds = 0;
    auto t0 = Clock::now();
    double elapsed = 0;
    do {
        c2s = Pipe{};
        s2c = Pipe{};
        auto t_server = Clock::now();
        WOLFSSL* s = wolfSSL_new(sctx);
        server_seconds += seconds_since(t_server);
        WOLFSSL* c = wolfSSL_new(cctx);
        if (s == nullptr || c == nullptr) {
            std::fprintf(stderr, "limits: wolfSSL_new failed\n");
            return false;
        }
        wolfSSL_SetIOReadCtx(s, &server_end);
        wolfSSL_SetIOWriteCtx(s, &server_end);
        wolfSSL_SetIOReadCtx(c, &client_end);
        wolfSSL_SetIOWriteCtx(c, &client_end);
        bool c_done = false;
        bool s_done = false;
        for (int round = 0; round < 20 && !(c_done && s_done); ++round) {
            if (!c_done) {
                int r = wolfSSL_connect(c);
                if (r == WOLFSSL_SUCCESS) {
                    c_done = true;
                } else if (!want_io(c, r)) {
                    std::fprintf(stderr, "limits: client handshake failed: %d\n",
                                 wolfSSL_get_error(c, r));
                    return false;
                }
            }
            if (!s_done) {
                t_server = Clock::now();
                int r = wolfSSL_accept(s);
                server_seconds += seconds_since(t_server);
                if (r == WOLFSSL_SUCCESS) {
                    s_done = true;
                } else if (!want_io(s, r)) {
                    std::fprintf(stderr, "limits: server handshake failed: %d\n",
                                 wolfSSL_get_error(s, r));
                    return false;
                }
            }
        }
        if (!c_done || !s_done) {
            std::fprintf(stderr, "limits: handshake did not complete\n");
            return false;
        }
        if (std::strcmp(wolfSSL_get_version(s), "TLSv1.3") != 0) {
            std::fprintf(stderr, "limits: negotiated %s, not TLS 1.3\n", wolfSSL_get_version(s));
            return false;
        }
        t_server = Clock::now();
        wolfSSL_free(s);
        server_seconds += seconds_since(t_server);
        wolfSSL_free(c);
        ++done;
        elapsed = seconds_since(t0);
    } while (elapsed < 2.0);
    wolfSSL_CTX_free(sctx);
    wolfSSL_CTX_free(cctx);
    std::printf(
        "limit: tls13_%shandshakes_per_s=%.0f (server side only%s; client+server on one "
        "core: %.0f)\n",
        mutual ? "mutual_" : "", static_cast<double>(done) / server_seconds,
        mutual ? ", client certificate verified" : "", static_cast<double>(done) / elapsed);
    return true;
}

// Latency of appending 1 KB and fdatasync-ing it, the cost a queue pays per accepted message.
bool measure_fdatasync(const std::string& dir) {
    std::string path = dir + "/hub-limits.fdatasync." + std::to_string(getpid());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::fprintf(stderr, "limits: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
        return false;
    }
    char block[1024];
    std::memset(block, 'x', sizeof(block));
    std::vector<double> us;
    us.reserve(200);
    for (int i = 0; i < 200; ++i) {
        auto t0 = Clock::now();
        if (::write(fd, block, sizeof(block)) != static_cast<ssize_t>(sizeof(block)) ||
            ::fdatasync(fd) != 0) {
            std::fprintf(stderr, "limits: write/fdatasync failed: %s\n", std::strerror(errno));
            ::close(fd);
            ::unlink(path.c_str());
            return false;
        }
        us.push_back(seconds_since(t0) * 1e6);
    }
    ::close(fd);
    ::unlink(path.c_str());
    std::sort(us.begin(), us.end());
    std::printf("limit: fdatasync_p50_us=%.0f p99_us=%.0f (1 KB append, %s)\n", us[100], us[197],
                dir.c_str());
    return true;
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: hub-limits --cert PEM --key PEM --ca PEM [--dir DIR]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string cert;
    std::string key;
    std::string ca;
    std::string dir = ".";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            usage();
        }
        std::string v = argv[++i];
        if (a == "--cert") {
            cert = v;
        } else if (a == "--key") {
            key = v;
        } else if (a == "--ca") {
            ca = v;
        } else if (a == "--dir") {
            dir = v;
        } else {
            usage();
        }
    }
    if (cert.empty() || key.empty() || ca.empty()) {
        usage();
    }
    wolfSSL_Init();
    bool ok = measure_aes();
    ok = measure_handshakes(cert, key, ca, false) && ok;
    ok = measure_handshakes(cert, key, ca, true) && ok;
    ok = measure_fdatasync(dir) && ok;
    std::fflush(stdout);
    wolfSSL_Cleanup();
    return ok ? 0 : 1;
}
