// PURPOSE: smtp-sink-tls, a benchmark stand-in for a partner's SMTP server: STARTTLS with
//          wolfSSL, accepts MAIL/RCPT/DATA, discards bodies and counts delivered messages.
// RUNS IN: its own process, one blocking thread per connection.
// TRUST:   loopback benchmark clients only; inputs are still bounded (line length,
//          connection count) so a broken client cannot exhaust memory.
// LIMITS:  lines of at most 1000 octets (RFC 5321 section 4.5.3.1.6); --connections-max.
// SEE ALSO: bench/limits/limits.cc, issue 4 (benchmarks against Postfix).
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

inline constexpr std::size_t kLineMax = 1000;  // RFC 5321 section 4.5.3.1.6, incl. CRLF

std::atomic<unsigned long long> g_messages{0};
// Wall-clock time (CLOCK_REALTIME, ns) of the latest message's end of DATA: benchmarks read
// it from the count file to time a run to the last delivery, not to the next poll.
std::atomic<long long> g_last_message_ns{0};
std::atomic<int> g_connections{0};
std::atomic<bool> g_stop{false};
WOLFSSL_CTX* g_ctx = nullptr;

long long realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// One connection: a socket, optionally wrapped in TLS after STARTTLS.
class Conn {
public:
    explicit Conn(int fd) : fd_(fd) {}
    ~Conn() {
        if (ssl_ != nullptr) {
            wolfSSL_shutdown(ssl_);
            wolfSSL_free(ssl_);
        }
        close(fd_);
    }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool write_all(const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            long n = 0;
            if (ssl_ != nullptr) {
                n = wolfSSL_write(ssl_, s.data() + off, static_cast<int>(s.size() - off));
            } else {
                n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
            }
            if (n <= 0) {
                return false;
            }
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    // Reads one line ending in LF into `line` (without CRLF). Returns false on EOF/error or
    // on a line longer than kLineMax.
    bool read_line(std::string& line) {
        line.clear();
        for (;;) {
            while (pos_ < len_) {
                char c = buf_[pos_++];
                if (c == '\n') {
                    if (!line.empty() && line.back() == '\r') {
                        line.pop_back();
                    }
                    return true;
                }
                line.push_back(c);
                if (line.size() > kLineMax) {
                    return false;
                }
            }
            if (!fill()) {
                return false;
            }
        }
    }

    // Whether pipelined input is already buffered; STARTTLS must not be followed by any
    // (RFC 3207 section 5: commands after STARTTLS in the same flight are an attack).
    bool has_buffered() const { return pos_ < len_; }

    bool start_tls() {
        ssl_ = wolfSSL_new(g_ctx);
        if (ssl_ == nullptr) {
            return false;
        }
        wolfSSL_set_fd(ssl_, fd_);
        return wolfSSL_accept(ssl_) == WOLFSSL_SUCCESS;
    }

    bool tls() const { return ssl_ != nullptr; }

private:
    bool fill() {
        long n = 0;
        for (;;) {
            if (ssl_ != nullptr) {
                n = wolfSSL_read(ssl_, buf_, sizeof(buf_));
            } else {
                n = ::recv(fd_, buf_, sizeof(buf_), 0);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
            }
            break;
        }
        if (n <= 0) {
            return false;
        }
        pos_ = 0;
        len_ = static_cast<std::size_t>(n);
        return true;
    }

    int fd_;
    WOLFSSL* ssl_ = nullptr;
    char buf_[16384];
    std::size_t pos_ = 0;
    std::size_t len_ = 0;
};

bool starts_with_ci(const std::string& s, const char* prefix) {
    return strncasecmp(s.c_str(), prefix, std::strlen(prefix)) == 0;
}

void serve(int fd) {
    Conn c(fd);
    if (!c.write_all("220 sink ESMTP\r\n")) {
        return;
    }
    std::string line;
    bool have_mail = false;
    int rcpts = 0;
    while (c.read_line(line)) {
        if (starts_with_ci(line, "EHLO")) {
            std::string r = "250-sink\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n";
            if (!c.tls()) {
                r += "250-STARTTLS\r\n";
            }
            r += "250 OK\r\n";
            have_mail = false;
            rcpts = 0;
            if (!c.write_all(r)) {
                return;
            }
        } else if (starts_with_ci(line, "HELO")) {
            if (!c.write_all("250 sink\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "STARTTLS") && !c.tls()) {
            if (c.has_buffered()) {
                c.write_all("501 no pipelining after STARTTLS\r\n");
                return;
            }
            if (!c.write_all("220 go ahead\r\n") || !c.start_tls()) {
                return;
            }
            // RFC 3207 section 4.2: the session state is reset after TLS starts.
            have_mail = false;
            rcpts = 0;
        } else if (starts_with_ci(line, "MAIL FROM:")) {
            have_mail = true;
            rcpts = 0;
            if (!c.write_all("250 OK\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "RCPT TO:")) {
            if (!have_mail) {
                if (!c.write_all("503 MAIL first\r\n")) {
                    return;
                }
                continue;
            }
            ++rcpts;
            if (!c.write_all("250 OK\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "DATA")) {
            if (!have_mail || rcpts == 0) {
                if (!c.write_all("554 no valid recipients\r\n")) {
                    return;
                }
                continue;
            }
            if (!c.write_all("354 go ahead\r\n")) {
                return;
            }
            // RFC 5321 section 4.1.1.4: the body ends with a line holding a single ".";
            // dot-stuffed lines ("..x") are body content and are discarded with it.
            bool done = false;
            while (c.read_line(line)) {
                if (line == ".") {
                    done = true;
                    break;
                }
            }
            if (!done) {
                return;
            }
            g_last_message_ns.store(realtime_ns(), std::memory_order_relaxed);
            g_messages.fetch_add(1, std::memory_order_release);
            have_mail = false;
            rcpts = 0;
            if (!c.write_all("250 OK queued\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "RSET")) {
            have_mail = false;
            rcpts = 0;
            if (!c.write_all("250 OK\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "NOOP")) {
            if (!c.write_all("250 OK\r\n")) {
                return;
            }
        } else if (starts_with_ci(line, "QUIT")) {
            c.write_all("221 bye\r\n");
            return;
        } else {
            if (!c.write_all("500 unrecognised command\r\n")) {
                return;
            }
        }
    }
}

// The count file holds "MESSAGES LAST_MESSAGE_NS".
void write_count(const std::string& path, unsigned long long n) {
    // Write then rename so a poller never reads a half-written file.
    std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        return;
    }
    std::fprintf(f, "%llu %lld\n", n, g_last_message_ns.load(std::memory_order_relaxed));
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: smtp-sink-tls --listen HOST:PORT --cert PEM --key PEM "
                 "[--count-file F] [--connections-max N]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string listen_at = "127.0.0.1:2525";
    std::string cert;
    std::string key;
    std::string count_file;
    int connections_max = 1000;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            usage();
        }
        std::string v = argv[++i];
        if (a == "--listen") {
            listen_at = v;
        } else if (a == "--cert") {
            cert = v;
        } else if (a == "--key") {
            key = v;
        } else if (a == "--count-file") {
            count_file = v;
        } else if (a == "--connections-max") {
            connections_max = std::stoi(v);
        } else {
            usage();
        }
    }
    if (cert.empty() || key.empty()) {
        usage();
    }
    auto colon = listen_at.rfind(':');
    if (colon == std::string::npos) {
        usage();
    }
    std::string host = listen_at.substr(0, colon);
    int port = std::stoi(listen_at.substr(colon + 1));

    wolfSSL_Init();
    g_ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (g_ctx == nullptr ||
        wolfSSL_CTX_use_certificate_chain_file(g_ctx, cert.c_str()) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(g_ctx, key.c_str(), WOLFSSL_FILETYPE_PEM) !=
            WOLFSSL_SUCCESS) {
        std::fprintf(stderr, "sink: cannot load certificate/key\n");
        return 1;
    }
    wolfSSL_CTX_SetMinVersion(g_ctx, WOLFSSL_TLSV1_2);

    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1 ||
        ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::listen(lfd, 4096) != 0) {
        std::fprintf(stderr, "sink: cannot listen on %s: %s\n", listen_at.c_str(),
                     std::strerror(errno));
        return 1;
    }

    // Signals: blocked in every thread (threads inherit the mask) and taken by sigwait in
    // main, so the report does not depend on which thread the kernel picks.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::thread counter;
    if (!count_file.empty()) {
        write_count(count_file, 0);
        counter = std::thread([&count_file] {
            unsigned long long last = 0;
            while (!g_stop.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                unsigned long long n = g_messages.load(std::memory_order_acquire);
                if (n != last) {
                    write_count(count_file, n);
                    last = n;
                }
            }
        });
    }
    std::fprintf(stderr, "sink: listening on %s\n", listen_at.c_str());

    // The accept loop runs in its own thread; main only waits for the stop signal.
    std::thread([lfd, connections_max, one] {
        for (;;) {
            int fd = ::accept(lfd, nullptr, nullptr);
            if (fd < 0) {
                // EMFILE and the like: back off instead of spinning on the listener.
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            if (g_connections.load() >= connections_max) {
                static const char kBusy[] = "421 too many connections\r\n";
                (void)!::send(fd, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL);
                close(fd);
                continue;
            }
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            g_connections.fetch_add(1);
            std::thread([fd] {
                serve(fd);
                g_connections.fetch_sub(1);
            }).detach();
        }
    }).detach();

    int sig = 0;
    sigwait(&stop_signals, &sig);
    g_stop.store(true);
    unsigned long long n = g_messages.load();
    if (counter.joinable()) {
        counter.join();
    }
    if (!count_file.empty()) {
        write_count(count_file, n);
    }
    std::printf("sink: messages=%llu\n", n);
    std::fflush(stdout);
    // Connection threads are detached; exit without tearing down the context under them.
    std::_Exit(0);
}
