// PURPOSE: smtp-sink-tls, a stand-in for a partner's SMTP server: STARTTLS with wolfSSL,
//          accepts MAIL/RCPT/DATA and counts delivered messages. Benchmarks let it discard
//          bodies; tools/run gives it --store-dir so a development hub's deliveries can be
//          read as files.
// RUNS IN: its own process, one blocking thread per connection.
// TRUST:   loopback clients only (a benchmark, a development hub); inputs are still bounded
//          (line length, connection count, stored bytes and files) so a broken client cannot
//          exhaust memory or disk.
// LIMITS:  lines of at most 1000 octets (RFC 5321 section 4.5.3.1.6); --connections-max;
//          with --store-dir, kStoreBytesMax per message, kStoreRecipientsMax recipients and
//          --store-max files per run.
// SEE ALSO: bench/limits/limits.cc, bench/README.md (benchmarks against Postfix).
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <vector>

namespace {

inline constexpr std::size_t kLineMax = 1000;  // RFC 5321 section 4.5.3.1.6, incl. CRLF
// The SIZE the EHLO reply advertises; with --store-dir a larger body is refused, not held.
inline constexpr std::size_t kStoreBytesMax = 52428800;
// RFC 5321 section 4.5.3.1.8: a server must accept at least 100 recipients.
inline constexpr std::size_t kStoreRecipientsMax = 100;

std::atomic<unsigned long long> g_messages{0};
// Wall-clock time (CLOCK_REALTIME, ns) of the latest message's end of DATA: benchmarks read
// it from the count file to time a run to the last delivery, not to the next poll.
std::atomic<long long> g_last_message_ns{0};
std::atomic<int> g_connections{0};
std::atomic<bool> g_stop{false};
WOLFSSL_CTX* g_ctx = nullptr;

// --store-dir: each message is written to <dir>/<n>.eml; n continues after the highest
// number already there, so a restarted sink never overwrites an earlier delivery.
std::string g_store_dir;
unsigned long long g_store_max = 1000;
std::atomic<unsigned long long> g_store_next{1};
std::atomic<unsigned long long> g_stored{0};

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

// The address of "MAIL FROM:<a> SIZE=1" or "RCPT TO:<b>" after the verb: from '<' to the
// first '>', or the first word when the client sent no brackets.
std::string envelope_address(const std::string& line, std::size_t verb_length) {
    std::string rest = line.substr(verb_length);
    auto open = rest.find('<');
    if (open != std::string::npos) {
        auto close = rest.find('>', open);
        if (close != std::string::npos) {
            return rest.substr(open, close - open + 1);
        }
    }
    return "<" + rest.substr(0, rest.find(' ')) + ">";
}

struct Envelope {
    std::string from;
    std::vector<std::string> recipients;
};

bool write_whole(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

// Writes one message to <store dir>/<n>.eml under a Return-Path and one Delivered-To per
// recipient (what a final delivery agent adds), through a temporary name so that a reader
// never sees half a message. Returns the path, or "" after saying why on stderr.
std::string store_message(const Envelope& envelope, const std::string& body) {
    unsigned long long n = g_store_next.fetch_add(1);
    std::string path = g_store_dir + "/" + std::to_string(n) + ".eml";
    std::string tmp = g_store_dir + "/." + std::to_string(n) + ".eml.tmp";
    std::string head = "Return-Path: " + envelope.from + "\r\n";
    for (const auto& recipient : envelope.recipients) {
        head += "Delivered-To: " + recipient + "\r\n";
    }
    // 0640: the messages of a development hub are as private as its spool.
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    bool ok = fd >= 0 && write_whole(fd, head) && write_whole(fd, body);
    if (fd >= 0 && ::close(fd) != 0) {
        ok = false;
    }
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::fprintf(stderr, "sink: cannot store %s: %s\n", path.c_str(), std::strerror(errno));
        ::unlink(tmp.c_str());
        return "";
    }
    return path;
}

// The first free message number in the store directory: one more than the highest
// <n>.eml already there.
unsigned long long first_free_number(const std::string& dir) {
    unsigned long long highest = 0;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return 1;
    }
    while (const dirent* entry = ::readdir(d)) {
        char* end = nullptr;
        unsigned long long n = std::strtoull(entry->d_name, &end, 10);
        if (end != entry->d_name && std::strcmp(end, ".eml") == 0 && n > highest) {
            highest = n;
        }
    }
    ::closedir(d);
    return highest + 1;
}

// The DATA phase after 354: reads to the lone "." and, when `keep` is set, collects the
// body with dot-stuffing removed (RFC 5321 section 4.5.2), up to kStoreBytesMax. Returns
// false when the connection ended first; `too_big` reports a body that was not kept whole.
bool read_body(Conn& c, bool keep, std::string& body, bool& too_big) {
    std::string line;
    body.clear();
    too_big = false;
    while (c.read_line(line)) {
        if (line == ".") {
            return true;
        }
        if (!keep || too_big) {
            continue;
        }
        std::size_t skip = (!line.empty() && line[0] == '.') ? 1 : 0;
        if (body.size() + line.size() - skip + 2 > kStoreBytesMax) {
            too_big = true;
            std::string().swap(body);
            continue;
        }
        body.append(line, skip, std::string::npos).append("\r\n");
    }
    return false;
}

// The reply to a complete message: counted always; with --store-dir also written out
// (while fewer than --store-max were stored), and the reply names the file.
std::string finish_message(const Envelope& envelope, bool stored_wanted, const std::string& body,
                           bool too_big) {
    if (stored_wanted && too_big) {
        return "552 5.3.4 message too big to store\r\n";
    }
    std::string path;
    if (stored_wanted) {
        path = store_message(envelope, body);
        if (path.empty()) {
            return "451 4.3.0 cannot store the message\r\n";
        }
    }
    g_last_message_ns.store(realtime_ns(), std::memory_order_relaxed);
    g_messages.fetch_add(1, std::memory_order_release);
    if (path.empty()) {
        return "250 OK queued\r\n";
    }
    std::string more = envelope.recipients.size() > 1
                           ? " +" + std::to_string(envelope.recipients.size() - 1) + " more"
                           : "";
    std::fprintf(stderr, "sink: delivered %s -> %s%s, %zu bytes: %s\n", envelope.from.c_str(),
                 envelope.recipients.front().c_str(), more.c_str(), body.size(), path.c_str());
    return "250 OK stored as " + path.substr(path.rfind('/') + 1) + "\r\n";
}

// Whether this message is to be stored: --store-dir given and fewer than --store-max
// stored by this run (says so once when the limit is reached).
bool claim_store_slot() {
    if (g_store_dir.empty()) {
        return false;
    }
    unsigned long long slot = g_stored.fetch_add(1);
    if (slot == g_store_max) {
        std::fprintf(stderr,
                     "sink: --store-max %llu reached; later messages are counted, not "
                     "stored\n",
                     g_store_max);
    }
    return slot < g_store_max;
}

void serve(int fd) {
    Conn c(fd);
    if (!c.write_all("220 sink ESMTP\r\n")) {
        return;
    }
    std::string line;
    bool have_mail = false;
    int rcpts = 0;
    Envelope envelope;
    std::string body;
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
            if (!g_store_dir.empty()) {
                envelope.from = envelope_address(line, std::strlen("MAIL FROM:"));
                envelope.recipients.clear();
            }
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
            if (!g_store_dir.empty()) {
                if (envelope.recipients.size() >= kStoreRecipientsMax) {
                    if (!c.write_all("452 4.5.3 too many recipients\r\n")) {
                        return;
                    }
                    continue;
                }
                envelope.recipients.push_back(envelope_address(line, std::strlen("RCPT TO:")));
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
            // RFC 5321 section 4.1.1.4: the body ends with a line holding a single ".".
            bool store = claim_store_slot();
            bool too_big = false;
            if (!read_body(c, store, body, too_big)) {
                return;
            }
            std::string reply = finish_message(envelope, store, body, too_big);
            have_mail = false;
            rcpts = 0;
            if (!c.write_all(reply)) {
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
                 "[--count-file F] [--connections-max N] [--store-dir DIR] "
                 "[--store-max N]\n");
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
        } else if (a == "--store-dir") {
            g_store_dir = v;
        } else if (a == "--store-max") {
            g_store_max = std::stoull(v);
        } else {
            usage();
        }
    }
    if (cert.empty() || key.empty()) {
        usage();
    }
    if (!g_store_dir.empty()) {
        struct stat st {};
        if (::stat(g_store_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
            ::access(g_store_dir.c_str(), W_OK | X_OK) != 0) {
            std::fprintf(stderr, "sink: --store-dir %s: not a writable directory\n",
                         g_store_dir.c_str());
            return 1;
        }
        g_store_next.store(first_free_number(g_store_dir));
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
