// PURPOSE: hub-zerocopy, measures whether IORING_OP_SEND_ZC, registered (fixed) buffers and
//          IORING_OP_READ_FIXED would pay on hubd's two bulk paths: TLS ciphertext sent
//          from a per-connection buffer (one 16 KiB record per send today) and spool slices
//          read back from the page cache (256 KiB). One machine-readable line per row.
// RUNS IN: its own process. The sender (and the file reader) is the main thread with an
//          io_uring of its own, one send or read in flight at a time as in hubd; each TCP row
//          has a fresh connection and a plain receiver thread that reads and discards.
// TRUST:   root for the veth rows: it makes two network namespaces with `ip netns`, joined by
//          a veth pair, and deletes them on exit (--no-veth needs no privilege). Addresses:
//          127.0.0.1, and 192.0.2.1/.2 (TEST-NET-1) inside its own namespaces only.
// LIMITS:  each row at most --seconds (default 1) and --gib-max (default 16) GiB; every wait
//          on a ring or a socket at most 10 s; --rounds (default 3) at most 15; one scratch
//          file of --file-mib (default 64) MiB, removed on exit.
// SEE ALSO: docs/ARCHITECTURE.md ("Copies"), bench/README.md, src/engine/ring.cc.
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "spool/limits.h"

namespace {

using Clock = std::chrono::steady_clock;

// liburing 2.3 (Debian 12) predates these two (Linux 6.2); the values are the kernel's uapi.
#ifdef IORING_SEND_ZC_REPORT_USAGE
static_assert(IORING_SEND_ZC_REPORT_USAGE == (1U << 3));
#endif
#ifdef IORING_NOTIF_USAGE_ZC_COPIED
static_assert(IORING_NOTIF_USAGE_ZC_COPIED == (1U << 31));
#endif
constexpr unsigned send_zc_report_usage = 1U << 3;
constexpr unsigned notif_usage_zc_copied = 1U << 31;

constexpr std::size_t kib = 1024;
constexpr double gib = 1024.0 * 1024.0 * 1024.0;
// What hubd sends per flush today: one full TLS record of ciphertext (wolfSSL's maximum
// plaintext fragment; a record adds 22 bytes, which do not matter here).
constexpr std::size_t tls_record_bytes = 16 * kib;
// What hubd reads back per spool read: one streamed slice's content.
constexpr std::size_t slice_bytes = hub::spool::slice_content_bytes_max;
constexpr std::size_t message_sizes[] = {tls_record_bytes, 64 * kib, slice_bytes};
constexpr std::size_t page_bytes = 4096;
constexpr std::size_t receive_buffer_bytes = 256 * kib;
constexpr std::size_t file_write_chunk_bytes = 1024 * kib;
constexpr unsigned ring_entries = 64;
constexpr int wait_timeout_s = 10;
constexpr unsigned rounds_max = 15;
constexpr unsigned buffers_max = 64;
constexpr double seconds_min = 0.05;
constexpr double seconds_max = 60;
constexpr unsigned file_mib_max = 4096;
constexpr double gib_max_max = 1024;

// Inside the namespaces this program makes; nothing else ever sees them.
constexpr const char* veth_sender_address = "192.0.2.1";
constexpr const char* veth_receiver_address = "192.0.2.2";

volatile sig_atomic_t stop_requested = 0;

void request_stop(int) {
    stop_requested = 1;
}

struct Options {
    double seconds = 1.0;
    double gib_max = 16;
    unsigned rounds = 3;
    unsigned buffers = 8;
    unsigned file_mib = 64;
    bool veth = true;
    std::string dir;  // Empty: a fresh directory under /var/tmp.
};

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: hub-zerocopy [--seconds S] [--rounds N] [--buffers N] [--gib-max G]\n"
                 "                    [--dir DIR] [--file-mib M] [--no-veth]\n"
                 "  --seconds S   length of each row (default 1, %.2f..%.0f)\n"
                 "  --rounds N    rounds of every row, medians printed last (default 3, <= %u)\n"
                 "  --buffers N   send buffers in turn per connection (default 8, <= %u)\n"
                 "  --gib-max G   bytes per row at most (default 16 GiB)\n"
                 "  --dir DIR     where the read-back file goes (default a temporary directory\n"
                 "                under /var/tmp); the file is removed on exit\n"
                 "  --file-mib M  size of that file (default 64, <= %u)\n"
                 "  --no-veth     loopback only (the veth rows need root for `ip netns`)\n",
                 seconds_min, seconds_max, rounds_max, buffers_max, file_mib_max);
    std::exit(2);
}

std::optional<double> parse_number(const char* text) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0') {
        return std::nullopt;
    }
    return v;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--no-veth") {
            o.veth = false;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
        }
        const char* v = argv[++i];
        if (a == "--dir") {
            o.dir = v;
            continue;
        }
        auto n = parse_number(v);
        if (!n) {
            usage();
        }
        if (a == "--seconds" && *n >= seconds_min && *n <= seconds_max) {
            o.seconds = *n;
        } else if (a == "--gib-max" && *n > 0 && *n <= gib_max_max) {
            o.gib_max = *n;
        } else if (a == "--rounds" && *n >= 1 && *n <= rounds_max) {
            o.rounds = static_cast<unsigned>(*n);
        } else if (a == "--buffers" && *n >= 1 && *n <= buffers_max) {
            o.buffers = static_cast<unsigned>(*n);
        } else if (a == "--file-mib" && *n >= 1 && *n <= file_mib_max) {
            o.file_mib = static_cast<unsigned>(*n);
        } else {
            usage();
        }
    }
    return o;
}

double seconds_of(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// CPU time (user + system) of the calling thread, or of the whole process with
// RUSAGE_SELF (the receiver thread and any io-wq workers included).
double cpu_seconds(int who) {
    rusage ru{};
    getrusage(who, &ru);
    return seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime);
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};
using PageBuffer = std::unique_ptr<char, FreeDeleter>;

PageBuffer page_buffer(std::size_t bytes) {
    std::size_t rounded = (bytes + page_bytes - 1) / page_bytes * page_bytes;
    auto* p = static_cast<char*>(std::aligned_alloc(page_bytes, rounded));
    if (p != nullptr) {
        // Touched once, so no row pays for first faults; any pattern will do.
        for (std::size_t i = 0; i < rounded; ++i) {
            p[i] = static_cast<char>('a' + i % 26);
        }
    }
    return PageBuffer(p);
}

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

class Ring {
public:
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring() {
        if (ready_) {
            io_uring_queue_exit(&ring_);
        }
    }
    int init() {
        int rc = io_uring_queue_init(ring_entries, &ring_, 0);
        ready_ = rc == 0;
        return rc;
    }
    io_uring* get() { return &ring_; }
    // Submits what is queued and waits for at least one completion, at most wait_timeout_s.
    int submit_and_wait() {
        __kernel_timespec ts{};
        ts.tv_sec = wait_timeout_s;
        io_uring_cqe* cqe = nullptr;
        return io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }

private:
    io_uring ring_{};
    bool ready_ = false;
};

// `ip` with these arguments, no shell; true when it exits 0.
bool run_ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        return false;
    }
    if (pid == 0) {
        execvp("ip", argv.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return false;
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Two network namespaces of this process's own, joined by a veth pair (veth0 192.0.2.1 in
// the sender's, veth1 192.0.2.2 in the receiver's). Deleting a namespace deletes its end of
// the pair, so the destructor leaves nothing behind.
class VethPair {
public:
    VethPair()
        : sender_ns_("hubzc-" + std::to_string(getpid()) + "-tx"),
          receiver_ns_("hubzc-" + std::to_string(getpid()) + "-rx") {}
    VethPair(const VethPair&) = delete;
    VethPair& operator=(const VethPair&) = delete;
    ~VethPair() { remove(); }

    bool make() {
        sender_made_ = run_ip({"netns", "add", sender_ns_});
        receiver_made_ = sender_made_ && run_ip({"netns", "add", receiver_ns_});
        bool ok = receiver_made_ &&
                  run_ip({"-n", sender_ns_, "link", "add", "veth0", "type", "veth", "peer", "name",
                          "veth1", "netns", receiver_ns_}) &&
                  run_ip({"-n", sender_ns_, "addr", "add", std::string(veth_sender_address) + "/24",
                          "dev", "veth0"}) &&
                  run_ip({"-n", receiver_ns_, "addr", "add",
                          std::string(veth_receiver_address) + "/24", "dev", "veth1"}) &&
                  run_ip({"-n", sender_ns_, "link", "set", "veth0", "up"}) &&
                  run_ip({"-n", receiver_ns_, "link", "set", "veth1", "up"});
        if (!ok) {
            remove();
        }
        return ok;
    }
    void remove() {
        if (receiver_made_) {
            run_ip({"netns", "del", receiver_ns_});
            receiver_made_ = false;
        }
        if (sender_made_) {
            run_ip({"netns", "del", sender_ns_});
            sender_made_ = false;
        }
    }
    const std::string& sender_ns() const { return sender_ns_; }
    const std::string& receiver_ns() const { return receiver_ns_; }

private:
    std::string sender_ns_;
    std::string receiver_ns_;
    bool sender_made_ = false;
    bool receiver_made_ = false;
};

// Moves the calling thread into a named network namespace for its lifetime (a socket keeps
// the namespace it was made in), then back to the one it was in.
class NetnsScope {
public:
    explicit NetnsScope(const std::string& name) {
        if (name.empty()) {
            entered_ = true;  // Stay where we are: the loopback rows.
            return;
        }
        original_ = Fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        Fd target(open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
        entered_ = original_.valid() && target.valid() && setns(target.get(), CLONE_NEWNET) == 0;
    }
    NetnsScope(const NetnsScope&) = delete;
    NetnsScope& operator=(const NetnsScope&) = delete;
    ~NetnsScope() {
        if (original_.valid() && setns(original_.get(), CLONE_NEWNET) != 0) {
            std::perror("zerocopy: setns back");
            std::abort();  // Later rows would run in the wrong namespace.
        }
    }
    bool entered() const { return entered_; }

private:
    Fd original_;
    bool entered_ = false;
};

struct Path {
    const char* name;
    std::string sender_ns;    // Empty: this process's own namespace (loopback).
    std::string receiver_ns;  // Likewise.
    const char* receiver_address;
};

struct Connection {
    Fd sender;
    Fd receiver;
};

std::optional<Connection> connect_path(const Path& path) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    if (inet_pton(AF_INET, path.receiver_address, &addr.sin_addr) != 1) {
        return std::nullopt;
    }
    Fd listener;
    {
        NetnsScope in(path.receiver_ns);
        if (!in.entered()) {
            std::perror("zerocopy: enter the receiver's namespace");
            return std::nullopt;
        }
        listener = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    socklen_t len = sizeof(addr);
    if (!listener.valid() ||
        bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener.get(), 1) != 0 ||
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::perror("zerocopy: listen");
        return std::nullopt;
    }
    Connection c;
    {
        NetnsScope in(path.sender_ns);
        if (!in.entered()) {
            std::perror("zerocopy: enter the sender's namespace");
            return std::nullopt;
        }
        c.sender = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    int one = 1;
    timeval timeout{wait_timeout_s, 0};
    // TCP_NODELAY as on hubd's connections: every send goes out when it is made.
    if (!c.sender.valid() ||
        setsockopt(c.sender.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        connect(c.sender.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::perror("zerocopy: connect");
        return std::nullopt;
    }
    c.receiver = Fd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.receiver.valid() ||
        setsockopt(c.receiver.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
        std::perror("zerocopy: accept");
        return std::nullopt;
    }
    return c;
}

// The other end: reads and discards until end of stream (or 10 s of silence).
struct Received {
    std::uint64_t bytes = 0;
    Clock::time_point last_byte_at{};
    double cpu_s = 0;
    int error = 0;
};

void receive_all(int fd, Received* out) {
    std::vector<char> buffer(receive_buffer_bytes);
    double cpu0 = cpu_seconds(RUSAGE_THREAD);
    for (;;) {
        ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
        if (n > 0) {
            out->bytes += static_cast<std::uint64_t>(n);
            out->last_byte_at = Clock::now();
        } else if (n == 0) {
            break;
        } else if (errno != EINTR) {
            out->error = errno;
            break;
        }
    }
    out->cpu_s = cpu_seconds(RUSAGE_THREAD) - cpu0;
}

enum class SendOp { send, send_zc, send_zc_fixed };
constexpr SendOp send_ops[] = {SendOp::send, SendOp::send_zc, SendOp::send_zc_fixed};

const char* op_name(SendOp op) {
    switch (op) {
        case SendOp::send:
            return "send";
        case SendOp::send_zc:
            return "send_zc";
        case SendOp::send_zc_fixed:
            return "send_zc_fixed";
    }
    return "?";
}

struct Figures {
    std::uint64_t bytes = 0;
    double seconds = 0;
    double cpu_s = 0;        // The sender's (or reader's) thread.
    double rx_cpu_s = 0;     // The receiver's thread.
    double total_cpu_s = 0;  // The process, io-wq workers included.
    std::uint64_t notifs = 0;
    std::uint64_t notifs_copied = 0;
    std::uint64_t notif_waits = 0;  // Sends held back: the next buffer awaited its notification.
    std::uint64_t short_ops = 0;
};

// One send in flight at a time (hubd sends one buffer per connection per flush), from
// `buffers` buffers in turn. A buffer goes back into the turn when its send completed and,
// for SEND_ZC, when its notification (IORING_CQE_F_NOTIF) has come: until then the kernel
// may still read it.
std::optional<Figures> run_send_row(const Path& path, SendOp op, std::size_t size, const Options& o,
                                    bool report_usage) {
    auto connection = connect_path(path);
    if (!connection) {
        return std::nullopt;
    }
    // The buffers outlive the ring: its teardown may still finish a send from them.
    std::vector<PageBuffer> buffers;
    std::vector<iovec> iovecs;
    for (unsigned i = 0; i < o.buffers; ++i) {
        buffers.push_back(page_buffer(size));
        if (!buffers.back()) {
            std::fprintf(stderr, "zerocopy: out of memory\n");
            return std::nullopt;
        }
        iovecs.push_back(iovec{buffers.back().get(), size});
    }
    Ring ring;
    if (int rc = ring.init(); rc < 0) {
        std::fprintf(stderr, "zerocopy: io_uring_queue_init: %s\n", std::strerror(-rc));
        return std::nullopt;
    }
    if (op == SendOp::send_zc_fixed) {
        if (int rc = io_uring_register_buffers(ring.get(), iovecs.data(),
                                               static_cast<unsigned>(iovecs.size()));
            rc < 0) {
            std::fprintf(stderr, "zerocopy: io_uring_register_buffers: %s\n", std::strerror(-rc));
            return std::nullopt;
        }
    }
    const unsigned zc_flags = report_usage ? send_zc_report_usage : 0;
    const auto bytes_cap = static_cast<std::uint64_t>(o.gib_max * gib);

    Received received;
    std::thread receiver(receive_all, connection->receiver.get(), &received);

    Figures f;
    std::vector<bool> awaiting_notif(o.buffers, false);
    unsigned notifs_pending = 0;
    unsigned next = 0;
    bool send_in_flight = false;
    bool issuing = true;
    bool wait_counted = false;
    int error = 0;
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(o.seconds);
    const double cpu0 = cpu_seconds(RUSAGE_THREAD);
    const double total_cpu0 = cpu_seconds(RUSAGE_SELF);
    for (;;) {
        if (issuing && !send_in_flight) {
            if (!awaiting_notif[next]) {
                io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
                char* data = buffers[next].get();
                // MSG_WAITALL: the ring retries a partial stream send itself, so each send
                // is the whole buffer, as hubd's completes its flush.
                const int flags = MSG_NOSIGNAL | MSG_WAITALL;
                switch (op) {
                    case SendOp::send:
                        io_uring_prep_send(sqe, connection->sender.get(), data, size, flags);
                        break;
                    case SendOp::send_zc:
                        io_uring_prep_send_zc(sqe, connection->sender.get(), data, size, flags,
                                              zc_flags);
                        break;
                    case SendOp::send_zc_fixed:
                        io_uring_prep_send_zc_fixed(sqe, connection->sender.get(), data, size,
                                                    flags, zc_flags, next);
                        break;
                }
                io_uring_sqe_set_data64(sqe, next);
                send_in_flight = true;
                wait_counted = false;
            } else if (!wait_counted) {
                ++f.notif_waits;
                wait_counted = true;
            }
        }
        if (!send_in_flight && notifs_pending == 0) {
            break;
        }
        int rc = ring.submit_and_wait();
        if (rc == -EINTR) {
            continue;
        }
        if (rc < 0) {
            std::fprintf(stderr, "zerocopy: waiting on the ring: %s\n", std::strerror(-rc));
            error = -rc;
            break;  // Nothing more comes; the ring's teardown cancels what is left.
        }
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(ring.get(), head, cqe) {
            ++seen;
            const auto index = static_cast<unsigned>(cqe->user_data);
            if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
                awaiting_notif[index] = false;
                --notifs_pending;
                ++f.notifs;
                if ((static_cast<unsigned>(cqe->res) & notif_usage_zc_copied) != 0) {
                    ++f.notifs_copied;
                }
                continue;
            }
            send_in_flight = false;
            if (cqe->res < 0) {
                error = -cqe->res;
                issuing = false;
            } else {
                f.bytes += static_cast<std::uint64_t>(cqe->res);
                if (static_cast<std::size_t>(cqe->res) < size) {
                    ++f.short_ops;
                }
            }
            if ((cqe->flags & IORING_CQE_F_MORE) != 0) {
                awaiting_notif[index] = true;
                ++notifs_pending;
            }
            next = (next + 1) % o.buffers;
        }
        io_uring_cq_advance(ring.get(), seen);
        if (issuing && (Clock::now() >= deadline || f.bytes >= bytes_cap || stop_requested != 0)) {
            issuing = false;
        }
    }
    const auto sender_done_at = Clock::now();
    f.cpu_s = cpu_seconds(RUSAGE_THREAD) - cpu0;
    shutdown(connection->sender.get(), SHUT_WR);
    receiver.join();
    f.total_cpu_s = cpu_seconds(RUSAGE_SELF) - total_cpu0;
    f.rx_cpu_s = received.cpu_s;
    f.seconds = seconds_between(t0, std::max(sender_done_at, received.last_byte_at));
    if (error != 0) {
        std::fprintf(stderr, "zerocopy: %s %s: %s\n", path.name, op_name(op), std::strerror(error));
        return std::nullopt;
    }
    if (received.error != 0 || received.bytes != f.bytes) {
        std::fprintf(stderr, "zerocopy: %s %s: sent %llu bytes, received %llu (%s)\n", path.name,
                     op_name(op), static_cast<unsigned long long>(f.bytes),
                     static_cast<unsigned long long>(received.bytes),
                     std::strerror(received.error));
        return std::nullopt;
    }
    return f;
}

// Whether this kernel takes IORING_SEND_ZC_REPORT_USAGE (Linux 6.2; 6.1 refuses the flag
// with EINVAL): one byte sent over loopback with it.
std::optional<bool> kernel_reports_usage() {
    Path loopback{"loopback", "", "", "127.0.0.1"};
    auto connection = connect_path(loopback);
    Ring ring;
    if (!connection || ring.init() < 0) {
        return std::nullopt;
    }
    static const char byte = 'x';
    io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
    io_uring_prep_send_zc(sqe, connection->sender.get(), &byte, 1, MSG_NOSIGNAL,
                          send_zc_report_usage);
    bool more = false;
    bool accepted = false;
    bool answered = false;
    while (!answered || more) {
        if (ring.submit_and_wait() < 0) {
            return std::nullopt;
        }
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(ring.get(), &cqe) == 0) {
            if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
                more = false;
            } else {
                answered = true;
                accepted = cqe->res == 1;
                more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            }
            io_uring_cqe_seen(ring.get(), cqe);
        }
    }
    return accepted;
}

// The read-back file: written once, synced, then read from the page cache.
class ScratchFile {
public:
    ScratchFile() = default;
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;
    ~ScratchFile() {
        fd_.reset();
        if (!path_.empty()) {
            unlink(path_.c_str());
        }
        if (!made_dir_.empty()) {
            rmdir(made_dir_.c_str());
        }
    }

    bool make(const std::string& dir, std::uint64_t bytes) {
        std::string where = dir;
        if (where.empty()) {
            std::string templ = "/var/tmp/hub-zerocopy.XXXXXX";
            if (mkdtemp(templ.data()) == nullptr) {
                std::perror("zerocopy: mkdtemp under /var/tmp");
                return false;
            }
            made_dir_ = templ;
            where = templ;
        }
        path_ = where + "/hub-zerocopy." + std::to_string(getpid()) + ".data";
        fd_ = Fd(open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd_.valid()) {
            std::perror(("zerocopy: " + path_).c_str());
            path_.clear();
            return false;
        }
        auto chunk = page_buffer(file_write_chunk_bytes);
        for (std::uint64_t at = 0; at < bytes; at += file_write_chunk_bytes) {
            auto n = static_cast<std::size_t>(
                std::min<std::uint64_t>(file_write_chunk_bytes, bytes - at));
            if (!chunk || pwrite(fd_.get(), chunk.get(), n, static_cast<off_t>(at)) !=
                              static_cast<ssize_t>(n)) {
                std::perror("zerocopy: writing the file");
                return false;
            }
        }
        // Synced, so no write-back runs during the rows; then read once, so every page is
        // in the cache (hubd reads back what it wrote moments ago).
        if (fdatasync(fd_.get()) != 0) {
            std::perror("zerocopy: fdatasync");
            return false;
        }
        for (std::uint64_t at = 0; at < bytes; at += file_write_chunk_bytes) {
            auto n = static_cast<std::size_t>(
                std::min<std::uint64_t>(file_write_chunk_bytes, bytes - at));
            if (pread(fd_.get(), chunk.get(), n, static_cast<off_t>(at)) !=
                static_cast<ssize_t>(n)) {
                std::perror("zerocopy: reading the file");
                return false;
            }
        }
        bytes_ = bytes;
        return true;
    }
    int fd() const { return fd_.get(); }
    std::uint64_t bytes() const { return bytes_; }
    const std::string& path() const { return path_; }

private:
    Fd fd_;
    std::string path_;
    std::string made_dir_;
    std::uint64_t bytes_ = 0;
};

// One slice read in flight at a time into one buffer, as a delivery item reads its next
// slice; the file is read front to back, again and again.
std::optional<Figures> run_read_row(const ScratchFile& file, bool fixed, const Options& o) {
    auto buffer = page_buffer(slice_bytes);
    if (!buffer) {
        return std::nullopt;
    }
    Ring ring;
    if (int rc = ring.init(); rc < 0) {
        std::fprintf(stderr, "zerocopy: io_uring_queue_init: %s\n", std::strerror(-rc));
        return std::nullopt;
    }
    if (fixed) {
        iovec iov{buffer.get(), slice_bytes};
        if (int rc = io_uring_register_buffers(ring.get(), &iov, 1); rc < 0) {
            std::fprintf(stderr, "zerocopy: io_uring_register_buffers: %s\n", std::strerror(-rc));
            return std::nullopt;
        }
    }
    const auto bytes_cap = static_cast<std::uint64_t>(o.gib_max * gib);
    Figures f;
    std::uint64_t offset = 0;
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(o.seconds);
    const double cpu0 = cpu_seconds(RUSAGE_THREAD);
    const double total_cpu0 = cpu_seconds(RUSAGE_SELF);
    while (Clock::now() < deadline && f.bytes < bytes_cap && stop_requested == 0) {
        const auto want =
            static_cast<unsigned>(std::min<std::uint64_t>(slice_bytes, file.bytes() - offset));
        io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
        if (fixed) {
            io_uring_prep_read_fixed(sqe, file.fd(), buffer.get(), want, offset, 0);
        } else {
            io_uring_prep_read(sqe, file.fd(), buffer.get(), want, offset);
        }
        int rc = ring.submit_and_wait();
        while (rc == -EINTR) {
            rc = ring.submit_and_wait();
        }
        io_uring_cqe* cqe = nullptr;
        if (rc < 0 || io_uring_peek_cqe(ring.get(), &cqe) != 0) {
            std::fprintf(stderr, "zerocopy: waiting on the ring: %s\n", std::strerror(-rc));
            return std::nullopt;
        }
        const int res = cqe->res;
        io_uring_cqe_seen(ring.get(), cqe);
        if (res <= 0) {
            std::fprintf(stderr, "zerocopy: read at %llu: %s\n",
                         static_cast<unsigned long long>(offset),
                         res == 0 ? "end of file" : std::strerror(-res));
            return std::nullopt;
        }
        if (static_cast<unsigned>(res) < want) {
            ++f.short_ops;
        }
        f.bytes += static_cast<std::uint64_t>(res);
        offset += static_cast<std::uint64_t>(res);
        if (offset >= file.bytes()) {
            offset = 0;
        }
    }
    f.seconds = seconds_between(t0, Clock::now());
    f.cpu_s = cpu_seconds(RUSAGE_THREAD) - cpu0;
    f.total_cpu_s = cpu_seconds(RUSAGE_SELF) - total_cpu0;
    return f;
}

struct Row {
    std::string path;
    std::string op;
    std::size_t size = 0;
    bool zerocopy = false;  // A SEND_ZC row: its notifications say whether the kernel copied.
    std::vector<Figures> rounds;
};

double gib_per_s(const Figures& f) {
    return f.seconds > 0 ? static_cast<double>(f.bytes) / gib / f.seconds : 0;
}

double ms_per_gib(double cpu_s, const Figures& f) {
    return f.bytes > 0 ? cpu_s * 1000 / (static_cast<double>(f.bytes) / gib) : 0;
}

// "yes": the kernel copied for every notification; "no": for none; "some"; "unknown" when
// the kernel cannot say (before 6.2). A plain send or a read always copies: "yes".
std::string copied_text(const Row& row, bool report_usage) {
    if (!row.zerocopy) {
        return "yes";
    }
    if (!report_usage) {
        return "unknown";
    }
    std::uint64_t notifs = 0;
    std::uint64_t copied = 0;
    for (const auto& f : row.rounds) {
        notifs += f.notifs;
        copied += f.notifs_copied;
    }
    if (notifs == 0) {
        return "unknown";
    }
    return copied == notifs ? "yes" : copied == 0 ? "no" : "some";
}

void print_row(const char* round, const Row& row, const Figures& f, const std::string& copied) {
    std::printf(
        "zerocopy: round=%s path=%s op=%s size=%zu gib_s=%.3f cpu_ms_per_gib=%.1f "
        "rx_cpu_ms_per_gib=%.1f total_cpu_ms_per_gib=%.1f copied=%s notifs=%llu "
        "notifs_copied=%llu notif_waits=%llu short_ops=%llu bytes=%llu seconds=%.3f\n",
        round, row.path.c_str(), row.op.c_str(), row.size, gib_per_s(f), ms_per_gib(f.cpu_s, f),
        ms_per_gib(f.rx_cpu_s, f), ms_per_gib(f.total_cpu_s, f), copied.c_str(),
        static_cast<unsigned long long>(f.notifs), static_cast<unsigned long long>(f.notifs_copied),
        static_cast<unsigned long long>(f.notif_waits),
        static_cast<unsigned long long>(f.short_ops), static_cast<unsigned long long>(f.bytes),
        f.seconds);
    std::fflush(stdout);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The median line of a row: each figure's own median over the rounds (so the line's
// figures may come from different rounds), printed with the same fields.
void print_median(const Row& row, bool report_usage) {
    auto of = [&](auto field) {
        std::vector<double> v;
        for (const auto& f : row.rounds) {
            v.push_back(field(f));
        }
        return median(v);
    };
    const double rate = of([](const Figures& f) { return gib_per_s(f); });
    const double cpu = of([](const Figures& f) { return ms_per_gib(f.cpu_s, f); });
    const double rx_cpu = of([](const Figures& f) { return ms_per_gib(f.rx_cpu_s, f); });
    const double total = of([](const Figures& f) { return ms_per_gib(f.total_cpu_s, f); });
    std::uint64_t notifs = 0, copied = 0, waits = 0, shorts = 0, bytes = 0;
    for (const auto& f : row.rounds) {
        notifs += f.notifs;
        copied += f.notifs_copied;
        waits += f.notif_waits;
        shorts += f.short_ops;
        bytes += f.bytes;
    }
    std::printf(
        "zerocopy: round=median path=%s op=%s size=%zu gib_s=%.3f cpu_ms_per_gib=%.1f "
        "rx_cpu_ms_per_gib=%.1f total_cpu_ms_per_gib=%.1f copied=%s notifs=%llu "
        "notifs_copied=%llu notif_waits=%llu short_ops=%llu bytes=%llu rounds=%zu\n",
        row.path.c_str(), row.op.c_str(), row.size, rate, cpu, rx_cpu, total,
        copied_text(row, report_usage).c_str(), static_cast<unsigned long long>(notifs),
        static_cast<unsigned long long>(copied), static_cast<unsigned long long>(waits),
        static_cast<unsigned long long>(shorts), static_cast<unsigned long long>(bytes),
        row.rounds.size());
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    struct sigaction sa {};
    sa.sa_handler = request_stop;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    utsname un{};
    uname(&un);
    io_uring_probe* probe = io_uring_get_probe();
    const bool have_send_zc =
        probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
    const bool have_read_fixed =
        probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READ_FIXED) != 0;
    if (probe != nullptr) {
        io_uring_free_probe(probe);
    }
    std::optional<bool> report_usage_probe =
        have_send_zc ? kernel_reports_usage() : std::optional<bool>(false);
    if (!report_usage_probe) {
        std::fprintf(stderr, "zerocopy: the SEND_ZC probe over loopback failed\n");
        return 1;
    }
    const bool report_usage = *report_usage_probe;

    VethPair veth;
    std::vector<Path> paths{{"loopback", "", "", "127.0.0.1"}};
    if (o.veth) {
        if (!veth.make()) {
            std::fprintf(stderr, "zerocopy: cannot make the veth pair (root?); try --no-veth\n");
            return 1;
        }
        paths.push_back({"veth", veth.sender_ns(), veth.receiver_ns(), veth_receiver_address});
    }
    ScratchFile file;
    if (!file.make(o.dir, std::uint64_t{o.file_mib} << 20)) {
        return 1;
    }

    std::printf(
        "zerocopy: kernel=%s machine=%s cpus=%ld liburing=%s send_zc=%s report_usage=%s "
        "read_fixed=%s seconds=%.2f rounds=%u buffers=%u file=%s file_mib=%u veth=%s\n",
        un.release, un.machine, sysconf(_SC_NPROCESSORS_ONLN), HUB_LIBURING_VERSION,
        have_send_zc ? "yes" : "no", report_usage ? "yes" : "no", have_read_fixed ? "yes" : "no",
        o.seconds, o.rounds, o.buffers, file.path().c_str(), o.file_mib, o.veth ? "yes" : "no");
    std::fflush(stdout);

    std::vector<Row> rows;
    for (const auto& path : paths) {
        for (std::size_t size : message_sizes) {
            for (SendOp op : send_ops) {
                if (op != SendOp::send && !have_send_zc) {
                    continue;
                }
                rows.push_back({path.name, op_name(op), size, op != SendOp::send, {}});
            }
        }
    }
    rows.push_back({"file", "read", slice_bytes, false, {}});
    if (have_read_fixed) {
        rows.push_back({"file", "read_fixed", slice_bytes, false, {}});
    }

    // Rounds go over every row in turn, so that what else the machine does at one moment
    // weighs on all variants alike rather than on one.
    for (unsigned round = 1; round <= o.rounds && stop_requested == 0; ++round) {
        const std::string round_text = std::to_string(round);
        for (auto& row : rows) {
            if (stop_requested != 0) {
                break;
            }
            std::optional<Figures> f;
            if (row.path == "file") {
                f = run_read_row(file, row.op == "read_fixed", o);
            } else {
                const Path& path = row.path == "veth" ? paths.at(1) : paths.at(0);
                SendOp op = row.op == "send"      ? SendOp::send
                            : row.op == "send_zc" ? SendOp::send_zc
                                                  : SendOp::send_zc_fixed;
                f = run_send_row(path, op, row.size, o, report_usage);
            }
            if (!f) {
                std::fprintf(stderr, "zerocopy: row %s %s %zu failed\n", row.path.c_str(),
                             row.op.c_str(), row.size);
                return 1;
            }
            row.rounds.push_back(*f);
            Row one = row;
            one.rounds = {*f};
            print_row(round_text.c_str(), row, *f, copied_text(one, report_usage));
        }
    }
    if (stop_requested != 0) {
        std::fprintf(stderr, "zerocopy: stopped early\n");
        return 1;
    }
    for (const auto& row : rows) {
        print_median(row, report_usage);
    }
    return 0;
}
