// loadgen.cc -- SMTP-over-TLS load generator for tests and benchmarks.
//
// PURPOSE   Drives a hub (or any ESMTP server) with N concurrent sessions of M messages
//           each, over STARTTLS or implicit TLS, and reports what came back: a summary line
//           "loadgen: sent=N ok=N failed=N elapsed_s=X msgs_per_s=Y p50_ms=.. p99_ms=..",
//           and, with --acked-log, one line "<token> <queue id>" per message answered 250,
//           written before the message is counted so a crash test can trust the file.
//           --hold N opens N TLS sessions, says EHLO and keeps them idle (memory probes).
// RUNS IN   Its own process, on a developer or test machine. Thread per session, blocking
//           sockets, wolfSSL over the socket (wolfSSL_set_fd); it is a tool, not the engine.
// TRUST     Talks to the server it is pointed at; replies are parsed defensively (bounded
//           lines, bounded multi-line replies). A server that dies or misbehaves turns
//           messages into failures, never a crash.
// LIMITS    --sessions and --hold up to sessions_count_max threads with small stacks;
//           --time-limit is a hard bound on the whole run: at the deadline every socket is
//           shut down, threads get a short grace, then the summary is printed regardless.
// SEE ALSO  tests/integration/ (crash, load and disk-full tests), bench/inbound/run.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "base/result.h"

namespace hub::loadgen {
namespace {

inline constexpr std::uint32_t sessions_count_max = 20000;
inline constexpr std::size_t thread_stack_bytes = 512 * 1024;  // wolfSSL handshakes fit.
inline constexpr std::size_t reply_line_bytes_max = 4096;
inline constexpr std::size_t reply_lines_max = 100;
inline constexpr std::size_t inbox_bytes_max = 64 * 1024;
inline constexpr std::size_t body_line_bytes = 78;  // Including CRLF: well under 1000.
inline constexpr int errors_printed_max = 12;
inline constexpr auto join_grace = std::chrono::seconds(3);
static_assert(reply_line_bytes_max < inbox_bytes_max);

using Clock = std::chrono::steady_clock;
using VoidResult = Result<void, std::string>;

struct Options {
    std::string server = "127.0.0.1:2525";
    std::uint32_t sessions = 1;
    std::uint32_t messages = 1;
    std::uint64_t size_bytes = 1024;
    std::string mode = "starttls";
    std::string ca_path;
    std::string cert_path;
    std::string key_path;
    std::string servername;
    std::string from = "loadgen@partner1.gov.uk";
    std::string to = "user@partner2.gov.uk.lgolhub.net";
    std::string helo = "loadgen.partner1.gov.uk";
    std::string pipelining = "on";
    std::string acked_log_path;
    std::string run_id;
    double time_limit_s = 300;
    double reply_timeout_s = 120;
    std::uint32_t hold = 0;
};

// Counters and samples shared by every session thread.
class Stats {
public:
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint32_t> established{0};  // --hold: sessions past EHLO.
    std::atomic<std::uint32_t> finished{0};     // Threads done.
    std::atomic<std::uint32_t> session_failures{0};

    void add_latencies(const std::vector<double>& samples_ms) {
        std::lock_guard lock(mutex_);
        latencies_ms_.insert(latencies_ms_.end(), samples_ms.begin(), samples_ms.end());
    }
    void add_error(const std::string& reason) {
        std::lock_guard lock(mutex_);
        errors_[reason]++;
    }
    void set_tls_description(const std::string& text) {
        std::lock_guard lock(mutex_);
        if (tls_description_.empty()) {
            tls_description_ = text;
        }
    }
    std::vector<double> latencies_ms() {
        std::lock_guard lock(mutex_);
        return latencies_ms_;
    }
    std::map<std::string, std::uint64_t> errors() {
        std::lock_guard lock(mutex_);
        return errors_;
    }
    std::string tls_description() {
        std::lock_guard lock(mutex_);
        return tls_description_;
    }

private:
    std::mutex mutex_;
    std::vector<double> latencies_ms_;
    std::map<std::string, std::uint64_t> errors_;
    std::string tls_description_;
};

// "<token> <queue id>" per acknowledged message; written (to the kernel) before counting.
class AckedLog {
public:
    VoidResult open(const std::string& path) {
        file_ = std::fopen(path.c_str(), "a");
        if (file_ == nullptr) {
            return unexpected(fmt::format("--acked-log {}: {}", path, std::strerror(errno)));
        }
        return {};
    }
    void append(const std::string& token, const std::string& queue_id) {
        if (file_ == nullptr) {
            return;
        }
        std::lock_guard lock(mutex_);
        std::fprintf(file_, "%s %s\n", token.c_str(), queue_id.c_str());
        std::fflush(file_);
    }

private:
    std::mutex mutex_;
    std::FILE* file_ = nullptr;
};

struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // Without CRLF.

    bool positive() const { return code >= 200 && code < 400; }
    std::string last() const { return lines.empty() ? std::string() : lines.back(); }
};

struct Shared {
    Options options;
    WOLFSSL_CTX* tls_context = nullptr;
    sockaddr_storage address{};
    socklen_t address_bytes = 0;
    std::string body;  // Filler lines, reused by every message (make_filler).
    Stats stats;
    AckedLog acked_log;
    std::atomic<bool> stop{false};
    std::vector<std::atomic<int>> fds;  // Per session, for shutdown at the deadline.

    explicit Shared(std::size_t session_count) : fds(session_count) {
        for (auto& fd : fds) {
            fd.store(-1);
        }
    }
};

// One client connection: a socket, optionally wrapped in wolfSSL, plus a reply reader.
class Connection {
public:
    Connection(Shared& shared, std::size_t session_index)
        : shared_(shared), session_index_(session_index) {}
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
        if (ssl_ != nullptr) {
            wolfSSL_free(ssl_);
        }
        if (fd_ >= 0) {
            shared_.fds[session_index_].store(-1);
            ::close(fd_);
        }
    }

    VoidResult connect_tcp() {
        fd_ = ::socket(shared_.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            return unexpected(fmt::format("socket: {}", std::strerror(errno)));
        }
        shared_.fds[session_index_].store(fd_);
        if (shared_.stop.load()) {
            return unexpected(std::string("stopped"));
        }
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&shared_.address),
                      shared_.address_bytes) != 0) {
            return unexpected(fmt::format("connect: {}", std::strerror(errno)));
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (shared_.options.hold == 0) {
            // A server that stops answering (or never closes) costs a bounded wait, not a hang.
            double seconds = shared_.options.reply_timeout_s;
            timeval timeout{};
            timeout.tv_sec = static_cast<time_t>(seconds);
            timeout.tv_usec =
                static_cast<suseconds_t>((seconds - static_cast<double>(timeout.tv_sec)) * 1e6);
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        }
        return {};
    }

    VoidResult start_tls() {
        if (!inbox_.empty()) {
            return unexpected(std::string("server sent bytes after its STARTTLS reply"));
        }
        ssl_ = wolfSSL_new(shared_.tls_context);
        if (ssl_ == nullptr) {
            return unexpected(std::string("wolfSSL_new failed"));
        }
        wolfSSL_set_fd(ssl_, fd_);
        const std::string& name = shared_.options.servername;
        if (!name.empty()) {
            wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, name.data(),
                           static_cast<unsigned short>(name.size()));
            wolfSSL_check_domain_name(ssl_, name.c_str());
        }
        int result = wolfSSL_connect(ssl_);
        if (result != WOLFSSL_SUCCESS) {
            return unexpected("TLS handshake: " + tls_error(result));
        }
        shared_.stats.set_tls_description(fmt::format("tls={} cipher={}", wolfSSL_get_version(ssl_),
                                                      wolfSSL_get_cipher_name(ssl_)));
        return {};
    }

    VoidResult write_all(std::string_view bytes) {
        while (!bytes.empty()) {
            int chunk = static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20));
            long written = 0;
            if (ssl_ != nullptr) {
                written = wolfSSL_write(ssl_, bytes.data(), chunk);
                if (written <= 0 && wolfSSL_get_error(ssl_, static_cast<int>(written)) ==
                                        WOLFSSL_ERROR_WANT_WRITE) {
                    return unexpected(timed_out("send blocked"));
                }
                if (written <= 0) {
                    return unexpected("TLS write: " + tls_error(static_cast<int>(written)));
                }
            } else {
                written = ::send(fd_, bytes.data(), static_cast<std::size_t>(chunk), MSG_NOSIGNAL);
                if (written < 0 && errno == EINTR) {
                    continue;
                }
                if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    return unexpected(timed_out("send blocked"));
                }
                if (written <= 0) {
                    return unexpected(fmt::format("send: {}", std::strerror(errno)));
                }
            }
            bytes.remove_prefix(static_cast<std::size_t>(written));
        }
        return {};
    }

    // Reads one complete (possibly multi-line) reply; RFC 5321 4.2.1.
    Result<Reply, std::string> read_reply() {
        Reply reply;
        while (reply.lines.size() < reply_lines_max) {
            Result<std::string, std::string> line = read_line();
            if (!line) {
                return unexpected(line.error());
            }
            const std::string& text = *line;
            if (text.size() < 3 || !std::isdigit(static_cast<unsigned char>(text[0])) ||
                !std::isdigit(static_cast<unsigned char>(text[1])) ||
                !std::isdigit(static_cast<unsigned char>(text[2])) ||
                (text.size() > 3 && text[3] != ' ' && text[3] != '-')) {
                return unexpected(fmt::format("malformed reply line '{}'", text.substr(0, 80)));
            }
            int code = std::stoi(text.substr(0, 3));
            if (!reply.lines.empty() && code != reply.code) {
                return unexpected(fmt::format("reply code changed mid-reply: '{}'", text));
            }
            reply.code = code;
            reply.lines.push_back(text);
            if (text.size() == 3 || text[3] == ' ') {
                return reply;
            }
        }
        return unexpected(std::string("reply with too many lines"));
    }

private:
    Result<std::string, std::string> read_line() {
        for (;;) {
            std::size_t end = inbox_.find('\n');
            if (end != std::string::npos) {
                std::string line = inbox_.substr(0, end);
                inbox_.erase(0, end + 1);
                if (!line.empty() && line.back() == '\r') {
                    line.pop_back();
                }
                return line;
            }
            if (inbox_.size() > reply_line_bytes_max) {
                return unexpected(std::string("reply line too long"));
            }
            VoidResult more = read_more();
            if (!more) {
                return unexpected(more.error());
            }
        }
    }

    VoidResult read_more() {
        char chunk[4096];
        long got = 0;
        if (ssl_ != nullptr) {
            got = wolfSSL_read(ssl_, chunk, sizeof chunk);
            if (got <= 0) {
                int error = wolfSSL_get_error(ssl_, static_cast<int>(got));
                if (error == WOLFSSL_ERROR_ZERO_RETURN || got == 0) {
                    return unexpected(std::string("connection closed by server"));
                }
                if (error == WOLFSSL_ERROR_WANT_READ) {
                    return unexpected(timed_out("no reply"));
                }
                return unexpected("TLS read: " + tls_error(static_cast<int>(got)));
            }
        } else {
            do {
                got = ::recv(fd_, chunk, sizeof chunk, 0);
            } while (got < 0 && errno == EINTR);
            if (got == 0) {
                return unexpected(std::string("connection closed by server"));
            }
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return unexpected(timed_out("no reply"));
            }
            if (got < 0) {
                return unexpected(fmt::format("recv: {}", std::strerror(errno)));
            }
        }
        inbox_.append(chunk, static_cast<std::size_t>(got));
        return {};
    }

    std::string timed_out(std::string_view what) const {
        return fmt::format("{} within --reply-timeout {} s", what, shared_.options.reply_timeout_s);
    }

    std::string tls_error(int result) {
        int error = wolfSSL_get_error(ssl_, result);
        char text[WOLFSSL_MAX_ERROR_SZ] = {};
        wolfSSL_ERR_error_string_n(static_cast<unsigned long>(error), text, sizeof text);
        if (error == SOCKET_ERROR_E || error == WOLFSSL_ERROR_SYSCALL) {
            return fmt::format("{} ({})", text, std::strerror(errno));
        }
        return text;
    }

    Shared& shared_;
    std::size_t session_index_;
    int fd_ = -1;
    WOLFSSL* ssl_ = nullptr;
    std::string inbox_;
};

std::string first_words(const Reply& reply) {
    std::string text = reply.last();
    return text.substr(0, std::min<std::size_t>(text.size(), 60));
}

std::string rfc5322_date() {
    std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[64];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &parts);
    return text;
}

// Filler body lines, whole lines only; every line starts with a letter, so no dot-stuffing
// is needed.
std::string make_filler(std::uint64_t bytes_max) {
    std::string line(body_line_bytes - 2, 'x');
    std::string_view label = "loadgen filler ";
    line.replace(0, label.size(), label);
    line += "\r\n";
    std::string filler;
    filler.reserve(bytes_max);
    while (filler.size() + body_line_bytes <= bytes_max) {
        filler += line;
    }
    return filler;
}

// Appends about body_bytes of body that ends with CRLF (so ".\r\n" ends the DATA).
void append_body(std::string& message, const std::string& filler, std::uint64_t body_bytes) {
    std::uint64_t whole =
        std::min<std::uint64_t>(body_bytes / body_line_bytes * body_line_bytes, filler.size());
    message.append(filler, 0, whole);
    std::uint64_t rest = body_bytes - whole;
    if (rest > 0 || whole == 0) {
        message.append(rest > 2 ? rest - 2 : 1, 'y');
        message += "\r\n";
    }
}

std::string make_message(const Shared& shared, const std::string& token) {
    const Options& options = shared.options;
    std::string message = fmt::format(
        "From: <{}>\r\nTo: <{}>\r\nSubject: loadgen {}\r\nMessage-ID: <{}@loadgen.invalid>\r\n"
        "Date: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        options.from, options.to, token, token, rfc5322_date());
    std::uint64_t header_bytes = message.size();
    std::uint64_t body_bytes =
        options.size_bytes > header_bytes ? options.size_bytes - header_bytes : 0;
    append_body(message, shared.body, body_bytes);
    return message;
}

struct Extensions {
    bool pipelining = false;
    bool size = false;
};

Extensions parse_ehlo(const Reply& reply) {
    Extensions extensions;
    for (std::size_t i = 1; i < reply.lines.size(); i++) {
        std::string keyword = reply.lines[i].substr(4);
        std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (keyword.starts_with("PIPELINING")) {
            extensions.pipelining = true;
        } else if (keyword.starts_with("SIZE")) {
            extensions.size = true;
        }
    }
    return extensions;
}

Result<Reply, std::string> command(Connection& connection, const std::string& line) {
    VoidResult written = connection.write_all(line);
    if (!written) {
        return unexpected(written.error());
    }
    return connection.read_reply();
}

// Connects, (STARTTLS or implicit TLS), greeting, EHLO. Returns the server's extensions.
Result<Extensions, std::string> open_session(Shared& shared, Connection& connection) {
    const Options& options = shared.options;
    VoidResult step = connection.connect_tcp();
    if (step && options.mode == "implicit") {
        step = connection.start_tls();
    }
    if (!step) {
        return unexpected(step.error());
    }
    Result<Reply, std::string> reply = connection.read_reply();
    if (!reply || reply->code != 220) {
        return unexpected(reply ? "greeting: " + first_words(*reply)
                                : "greeting: " + reply.error());
    }
    std::string ehlo = fmt::format("EHLO {}\r\n", options.helo);
    reply = command(connection, ehlo);
    if (!reply || reply->code != 250) {
        return unexpected(reply ? "EHLO: " + first_words(*reply) : "EHLO: " + reply.error());
    }
    if (options.mode == "starttls") {
        reply = command(connection, "STARTTLS\r\n");
        if (!reply || reply->code != 220) {
            return unexpected(reply ? "STARTTLS: " + first_words(*reply)
                                    : "STARTTLS: " + reply.error());
        }
        step = connection.start_tls();
        if (!step) {
            return unexpected(step.error());
        }
        reply = command(connection, ehlo);
        if (!reply || reply->code != 250) {
            return unexpected(reply ? "EHLO after TLS: " + first_words(*reply)
                                    : "EHLO after TLS: " + reply.error());
        }
    }
    return parse_ehlo(*reply);
}

enum class Outcome { accepted, rejected, session_over };

struct Envelope {
    Reply mail;
    Reply rcpt;
    Reply data;
};

// MAIL, RCPT, DATA: in one write when pipelining (RFC 2920 3.1), else one at a time.
Result<Envelope, std::string> send_envelope(Shared& shared, Connection& connection,
                                            const Extensions& extensions,
                                            std::uint64_t message_bytes) {
    const Options& options = shared.options;
    std::string mail = fmt::format("MAIL FROM:<{}>", options.from);
    if (extensions.size) {
        mail += fmt::format(" SIZE={}", message_bytes);
    }
    mail += "\r\n";
    std::string rcpt = fmt::format("RCPT TO:<{}>\r\n", options.to);
    Envelope envelope;
    if (options.pipelining == "on" && extensions.pipelining) {
        VoidResult written = connection.write_all(mail + rcpt + "DATA\r\n");
        if (!written) {
            return unexpected(written.error());
        }
        for (Reply* reply : {&envelope.mail, &envelope.rcpt, &envelope.data}) {
            Result<Reply, std::string> got = connection.read_reply();
            if (!got) {
                return unexpected(got.error());
            }
            *reply = *got;
        }
        return envelope;
    }
    Result<Reply, std::string> got = command(connection, mail);
    if (got && got->positive()) {
        envelope.mail = *got;
        got = command(connection, rcpt);
        if (got && got->positive()) {
            envelope.rcpt = *got;
            got = command(connection, "DATA\r\n");
            if (got) {
                envelope.data = *got;
            }
        } else if (got) {
            envelope.rcpt = *got;
        }
    } else if (got) {
        envelope.mail = *got;
    }
    if (!got) {
        return unexpected(got.error());
    }
    return envelope;
}

std::string queue_id_of(const Reply& reply) {
    std::string text = reply.last();
    std::string_view marker = "queued as ";
    std::size_t at = text.find(marker);
    if (at == std::string::npos) {
        return "-";
    }
    std::string id = text.substr(at + marker.size());
    std::size_t end = id.find_first_of(" \t");
    return end == std::string::npos ? id : id.substr(0, end);
}

Outcome send_message(Shared& shared, Connection& connection, const Extensions& extensions,
                     const std::string& token, std::vector<double>& latencies_ms) {
    std::string message = make_message(shared, token);
    shared.stats.sent++;
    Result<Envelope, std::string> envelope =
        send_envelope(shared, connection, extensions, message.size());
    if (!envelope) {
        shared.stats.add_error(envelope.error());
        return Outcome::session_over;
    }
    for (const Reply* reply : {&envelope->mail, &envelope->rcpt, &envelope->data}) {
        if (reply->code == 421) {
            shared.stats.add_error("envelope: " + first_words(*reply));
            return Outcome::session_over;
        }
    }
    if (envelope->data.code != 354) {
        const Reply& bad = !envelope->mail.positive()   ? envelope->mail
                           : !envelope->rcpt.positive() ? envelope->rcpt
                                                        : envelope->data;
        shared.stats.add_error("envelope: " + first_words(bad));
        Result<Reply, std::string> reset = command(connection, "RSET\r\n");
        if (reset && reset->code == 250) {
            return Outcome::rejected;
        }
        shared.stats.add_error("RSET: " + (reset ? first_words(*reset) : reset.error()));
        return Outcome::session_over;
    }
    VoidResult written = connection.write_all(message + ".\r\n");
    if (!written) {
        shared.stats.add_error("DATA: " + written.error());
        return Outcome::session_over;
    }
    Clock::time_point data_end = Clock::now();
    Result<Reply, std::string> reply = connection.read_reply();
    if (!reply) {
        shared.stats.add_error("end of DATA: " + reply.error());
        return Outcome::session_over;
    }
    if (reply->code != 250) {
        shared.stats.add_error("end of DATA: " + first_words(*reply));
        return reply->code == 421 ? Outcome::session_over : Outcome::rejected;
    }
    std::chrono::duration<double, std::milli> latency = Clock::now() - data_end;
    shared.acked_log.append(token, queue_id_of(*reply));  // Before counting: crash tests.
    shared.stats.ok++;
    latencies_ms.push_back(latency.count());
    return Outcome::accepted;
}

void run_load_session(Shared& shared, std::size_t session_index) {
    Connection connection(shared, session_index);
    Result<Extensions, std::string> extensions = open_session(shared, connection);
    if (!extensions) {
        if (!shared.stop.load()) {
            shared.stats.add_error(extensions.error());
        }
        shared.stats.session_failures++;
        return;
    }
    std::vector<double> latencies_ms;
    latencies_ms.reserve(shared.options.messages);
    bool session_over = false;
    for (std::uint32_t n = 0; n < shared.options.messages && !shared.stop.load(); n++) {
        std::string token = fmt::format("{}-{}-{}", shared.options.run_id, session_index, n);
        if (send_message(shared, connection, *extensions, token, latencies_ms) ==
            Outcome::session_over) {
            shared.stats.session_failures++;
            session_over = true;  // 421 or a dead connection: nobody to say QUIT to.
            break;
        }
    }
    shared.stats.add_latencies(latencies_ms);
    if (!shared.stop.load() && !session_over) {
        Result<Reply, std::string> quit = command(connection, "QUIT\r\n");
        (void)quit;  // The messages are what count; a lost 221 is not a failure.
    }
}

void run_hold_session(Shared& shared, std::size_t session_index) {
    Connection connection(shared, session_index);
    Result<Extensions, std::string> extensions = open_session(shared, connection);
    if (!extensions) {
        shared.stats.add_error(extensions.error());
        shared.stats.session_failures++;
        return;
    }
    shared.stats.established++;
    // Idle until the deadline shuts the socket down (or the server closes it).
    Result<Reply, std::string> unexpected_reply = connection.read_reply();
    if (!shared.stop.load()) {
        shared.stats.add_error("held session ended: " + (unexpected_reply
                                                             ? first_words(*unexpected_reply)
                                                             : unexpected_reply.error()));
    }
}

struct ThreadStart {
    Shared* shared;
    std::size_t session_index;
};

void* session_thread(void* argument) {
    std::unique_ptr<ThreadStart> start(static_cast<ThreadStart*>(argument));
    Shared& shared = *start->shared;
    if (shared.options.hold > 0) {
        run_hold_session(shared, start->session_index);
    } else {
        run_load_session(shared, start->session_index);
    }
#ifdef FP_ECC
    wc_ecc_fp_free();  // The fixed-point ECC cache is per thread.
#endif
    shared.stats.finished++;
    return nullptr;
}

VoidResult resolve_server(Shared& shared) {
    const std::string& server = shared.options.server;
    std::size_t colon = server.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == server.size()) {
        return unexpected(fmt::format("--server {}: expected HOST:PORT", server));
    }
    std::string host = server.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    std::string port = server.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (error != 0) {
        return unexpected(fmt::format("--server {}: {}", server, ::gai_strerror(error)));
    }
    std::memcpy(&shared.address, found->ai_addr, found->ai_addrlen);
    shared.address_bytes = found->ai_addrlen;
    ::freeaddrinfo(found);
    return {};
}

VoidResult make_tls_context(Shared& shared) {
    const Options& options = shared.options;
    wolfSSL_Init();
    shared.tls_context = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (shared.tls_context == nullptr) {
        return unexpected(std::string("wolfSSL_CTX_new failed"));
    }
    WOLFSSL_CTX* context = shared.tls_context;
    if (wolfSSL_CTX_SetMinVersion(context, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        return unexpected(std::string("cannot set TLS 1.2 as the minimum version"));
    }
    if (!options.ca_path.empty()) {
        if (wolfSSL_CTX_load_verify_locations(context, options.ca_path.c_str(), nullptr) !=
            WOLFSSL_SUCCESS) {
            return unexpected(fmt::format("--ca {}: cannot load", options.ca_path));
        }
        wolfSSL_CTX_set_verify(context, WOLFSSL_VERIFY_PEER, nullptr);
    } else {
        wolfSSL_CTX_set_verify(context, WOLFSSL_VERIFY_NONE, nullptr);
    }
    if (options.cert_path.empty() != options.key_path.empty()) {
        return unexpected(std::string("--cert and --key go together"));
    }
    if (!options.cert_path.empty()) {
        if (wolfSSL_CTX_use_certificate_chain_file(context, options.cert_path.c_str()) !=
            WOLFSSL_SUCCESS) {
            return unexpected(fmt::format("--cert {}: cannot load", options.cert_path));
        }
        if (wolfSSL_CTX_use_PrivateKey_file(context, options.key_path.c_str(),
                                            WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
            return unexpected(fmt::format("--key {}: cannot load", options.key_path));
        }
    }
    return {};
}

std::string random_run_id() {
    std::random_device device;
    return fmt::format("{:08x}", device());
}

void parse_options(CLI::App& app, Options& options) {
    app.add_option("--server", options.server, "HOST:PORT of the SMTP server");
    app.add_option("--sessions", options.sessions, "concurrent connections")
        ->check(CLI::Range(1u, sessions_count_max));
    app.add_option("--messages", options.messages, "messages per session");
    app.add_option("--size", options.size_bytes, "approximate bytes per message (headers+body)");
    app.add_option("--mode", options.mode, "starttls or implicit")
        ->check(CLI::IsMember({"starttls", "implicit"}));
    app.add_option("--ca", options.ca_path, "CA file: verify the server certificate");
    app.add_option("--cert", options.cert_path, "client certificate chain (PEM)");
    app.add_option("--key", options.key_path, "client private key (PEM)");
    app.add_option("--servername", options.servername, "SNI and certificate name to check");
    app.add_option("--from", options.from, "envelope and header sender");
    app.add_option("--to", options.to, "envelope and header recipient");
    app.add_option("--helo", options.helo, "EHLO name");
    app.add_option("--pipelining", options.pipelining, "on or off")
        ->check(CLI::IsMember({"on", "off"}));
    app.add_option("--acked-log", options.acked_log_path,
                   "append '<token> <queue id>' per message answered 250");
    app.add_option("--run-id", options.run_id, "token prefix (default: random)");
    app.add_option("--time-limit", options.time_limit_s, "hard bound on the run, seconds")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--reply-timeout", options.reply_timeout_s,
                   "seconds to wait for any one reply (not with --hold)")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--hold", options.hold,
                   "open N TLS sessions, EHLO, hold them idle until --time-limit or a signal")
        ->check(CLI::Range(0u, sessions_count_max));
}

double percentile(std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) {
        return 0;
    }
    auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()));
    return sorted[std::min(rank, sorted.size() - 1)];
}

void print_errors(Shared& shared) {
    int printed = 0;
    for (const auto& [reason, count] : shared.stats.errors()) {
        if (printed++ == errors_printed_max) {
            std::fprintf(stderr, "loadgen: ... more error kinds\n");
            break;
        }
        std::fprintf(stderr, "loadgen: error x%llu: %s\n", static_cast<unsigned long long>(count),
                     reason.c_str());
    }
}

enum class End { all_done, deadline, signal };

int print_summary(Shared& shared, double elapsed_s, End end) {
    const Options& options = shared.options;
    print_errors(shared);
    std::string tls = shared.stats.tls_description();
    if (!tls.empty()) {
        std::printf("loadgen: %s\n", tls.c_str());
    }
    if (end == End::deadline && options.hold == 0) {
        std::printf("loadgen: stopped at --time-limit %.1f s\n", options.time_limit_s);
    } else if (end == End::signal) {
        std::printf("loadgen: stopped by a signal\n");
    }
    if (options.hold > 0) {
        std::uint32_t established = shared.stats.established.load();
        std::printf("loadgen: held=%u failed=%u elapsed_s=%.2f\n", established,
                    options.hold - established, elapsed_s);
        std::fflush(stdout);
        return established == options.hold ? 0 : 1;
    }
    std::uint64_t planned = std::uint64_t{options.sessions} * options.messages;
    std::uint64_t ok = shared.stats.ok.load();
    std::vector<double> latencies = shared.stats.latencies_ms();
    std::sort(latencies.begin(), latencies.end());
    double rate = elapsed_s > 0 ? static_cast<double>(ok) / elapsed_s : 0;
    std::printf(
        "loadgen: sent=%llu ok=%llu failed=%llu elapsed_s=%.2f msgs_per_s=%.1f p50_ms=%.2f "
        "p99_ms=%.2f\n",
        static_cast<unsigned long long>(shared.stats.sent.load()),
        static_cast<unsigned long long>(ok), static_cast<unsigned long long>(planned - ok),
        elapsed_s, rate, percentile(latencies, 0.50), percentile(latencies, 0.99));
    std::fflush(stdout);
    return ok == planned ? 0 : 1;
}

// Waits for every thread, the deadline or SIGINT/SIGTERM; in --hold mode says when all
// sessions are up, so a caller can measure the server while they are held.
End wait_for_end(Shared& shared, std::uint32_t thread_count, Clock::time_point deadline,
                 const sigset_t& signals) {
    bool hold_reported = false;
    for (;;) {
        if (shared.stats.finished.load() == thread_count) {
            return End::all_done;
        }
        if (shared.options.hold > 0 && !hold_reported &&
            shared.stats.established.load() + shared.stats.session_failures.load() ==
                shared.options.hold) {
            std::printf("loadgen: holding established=%u failed=%u\n",
                        shared.stats.established.load(), shared.stats.session_failures.load());
            std::fflush(stdout);
            hold_reported = true;
        }
        Clock::time_point now = Clock::now();
        if (now >= deadline) {
            return End::deadline;
        }
        timespec wait{0, 50 * 1000 * 1000};
        if (::sigtimedwait(&signals, nullptr, &wait) > 0) {
            return End::signal;
        }
    }
}

int run(Shared& shared) {
    const Options& options = shared.options;
    std::uint32_t thread_count = options.hold > 0 ? options.hold : options.sessions;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Inherited by every session thread.
    Clock::time_point start = Clock::now();
    auto limit = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.time_limit_s));
    Clock::time_point deadline = start + limit;

    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, thread_stack_bytes);
    std::vector<pthread_t> threads;
    threads.reserve(thread_count);
    for (std::size_t i = 0; i < thread_count; i++) {
        pthread_t thread;
        auto* start_info = new ThreadStart{&shared, i};
        int error = pthread_create(&thread, &attributes, session_thread, start_info);
        if (error != 0) {
            delete start_info;
            shared.stats.add_error(fmt::format("pthread_create: {}", std::strerror(error)));
            shared.stats.session_failures++;
            shared.stats.finished++;
            continue;
        }
        threads.push_back(thread);
    }
    pthread_attr_destroy(&attributes);
    std::uint32_t launched = static_cast<std::uint32_t>(threads.size());
    End end = wait_for_end(shared, thread_count, deadline, signals);

    shared.stop.store(true);
    for (auto& fd : shared.fds) {
        int value = fd.load();
        if (value >= 0) {
            ::shutdown(value, SHUT_RDWR);  // Unblocks reads; the thread closes the fd.
        }
    }
    Clock::time_point give_up = Clock::now() + join_grace;
    std::uint32_t joined = 0;
    for (pthread_t thread : threads) {
        std::chrono::nanoseconds left = give_up - Clock::now();
        timespec until{};
        ::clock_gettime(CLOCK_REALTIME, &until);
        std::int64_t until_ns = until.tv_nsec + std::max<std::int64_t>(0, left.count());
        until.tv_sec += static_cast<time_t>(until_ns / 1000000000);
        until.tv_nsec = static_cast<long>(until_ns % 1000000000);
        if (pthread_timedjoin_np(thread, nullptr, &until) == 0) {
            joined++;
        }
    }
    std::chrono::duration<double> elapsed = Clock::now() - start;
    int status = print_summary(shared, elapsed.count(), end);
    if (joined != launched) {
        std::fprintf(stderr, "loadgen: %u session threads still blocked; exiting anyway\n",
                     launched - joined);
        std::_Exit(status == 0 ? 1 : status);
    }
    wolfSSL_CTX_free(shared.tls_context);
    wolfSSL_Cleanup();
    return status;
}

}  // namespace
}  // namespace hub::loadgen

int main(int argc, char** argv) {
    using namespace hub::loadgen;
    CLI::App app("loadgen: SMTP-over-TLS load generator for Hubbox tests and benchmarks");
    Options options;
    parse_options(app, options);
    CLI11_PARSE(app, argc, argv);
    if (options.run_id.empty()) {
        options.run_id = random_run_id();
    }
    ::signal(SIGPIPE, SIG_IGN);  // A dead server is a failed message, not a dead loadgen.
    std::uint32_t thread_count = options.hold > 0 ? options.hold : options.sessions;
    auto shared = std::make_unique<Shared>(thread_count);
    shared->options = options;
    shared->body = make_filler(options.size_bytes);
    for (auto step : {resolve_server, make_tls_context}) {
        hub::Result<void, std::string> ready = step(*shared);
        if (!ready) {
            std::fprintf(stderr, "loadgen: %s\n", ready.error().c_str());
            return 2;
        }
    }
    if (!options.acked_log_path.empty()) {
        hub::Result<void, std::string> opened = shared->acked_log.open(options.acked_log_path);
        if (!opened) {
            std::fprintf(stderr, "loadgen: %s\n", opened.error().c_str());
            return 2;
        }
    }
    return run(*shared);
}
