// worker.cc -- one load generator thread: an io_uring and a state machine per session.
//
// PURPOSE   Drives its share of the sessions through connect -> 220 -> EHLO -> STARTTLS ->
//           TLS -> EHLO -> (MAIL, RCPT, DATA, body, 250)* -> QUIT, reconnecting after
//           --per-connection messages, pacing messages to --rate, and measuring each
//           message from the send of its final ".\r\n" to its 250.
// RUNS IN   A loadgen thread (one per --threads), like an engine shard: one ring, no
//           blocking call on the data path (socket(), setsockopt(), shutdown() and close()
//           are the only direct system calls), TLS through hub::tls::Session over memory.
// TRUST     The server's bytes are untrusted: replies are read by the bounded ReplyReader,
//           ciphertext goes through wolfSSL; anything wrong fails that session only.
// LIMITS    limits.h: opening_count_max sessions connecting at once, a shared buffer ring of
//           recv_buffer_count x recv_buffer_bytes, bounded inboxes and outboxes, at most
//           two operations in flight per session (recv and send, or connect).
// SEE ALSO  main.cc (threads, summary), reply.h, message.h, pacing.h, src/tls/tls_session.h.
#include "worker.h"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <optional>

#include <fmt/core.h>

#include "base/assert.h"
#include "base/byte_queue.h"
#include "limits.h"
#include "pacing.h"
#include "reply.h"
#include "tls/tls_session.h"

namespace hub::loadgen {

std::int64_t now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

namespace {

inline constexpr std::size_t plain_out_bytes = 16 * 1024;  // Commands before STARTTLS.
static_assert(recv_buffer_bytes <= tls::ciphertext_in_bytes / 2,
              "a recv must fit beside a partial record still in ciphertext_in");

enum class Op : std::uint8_t { connect = 1, recv = 2, send = 3 };

// user_data: slot index, slot generation and operation, so a completion for an earlier
// connection of the same slot is recognised (STYLE.md idiom 9).
std::uint64_t pack(std::uint32_t slot, std::uint16_t generation, Op op) {
    return (std::uint64_t{slot} << 32) | (std::uint64_t{generation} << 8) |
           static_cast<std::uint64_t>(op);
}

enum class State {
    waiting_to_open,  // In the opening queue.
    connecting,
    tls_implicit,   // Handshake first (--mode implicit).
    greeting,       // Waiting for 220.
    ehlo,           // Waiting for the EHLO reply (before or after TLS).
    starttls,       // Waiting for 220 to STARTTLS.
    tls_handshake,  // After STARTTLS.
    pacing,         // Waiting for the message's due time.
    envelope,       // MAIL, RCPT, DATA replies.
    data_body,      // Sending the message.
    data_reply,     // Waiting for the 250.
    rset,           // Waiting for the RSET reply after a refused envelope.
    quit,           // Waiting for 221.
    quit_close,     // 221 read; waiting for the server to close.
    holding,        // --hold: idle after EHLO.
    closing,        // Operations still in flight; then reconnect or done.
    done,
};

struct Session {
    std::uint32_t index = 0;  // Global session number, used in tokens.
    std::uint16_t generation = 0;
    State state = State::waiting_to_open;
    int fd = -1;
    bool opening = false;  // Counted in opening_count_.
    bool connect_in_flight = false;
    bool recv_in_flight = false;
    bool send_in_flight = false;
    bool peer_closed = false;
    bool reconnect_after_close = false;
    std::unique_ptr<tls::Session> tls;
    base::ByteQueue plain_out{plain_out_bytes};
    std::vector<char> sending;  // Owned by the kernel while send_in_flight.
    std::size_t sending_offset = 0;
    ReplyReader replies;
    Extensions extensions;
    std::uint32_t messages_started = 0;
    std::uint32_t messages_on_connection = 0;
    // The message in progress.
    Message message;
    std::string token;
    std::uint64_t message_offset = 0;
    bool data_end_pending = false;  // ".\r\n" is in the outbox, not yet handed to a send.
    std::int64_t data_end_ns = 0;
    bool pipelined = false;
    std::array<Reply, 3> envelope;  // MAIL, RCPT, DATA.
    std::size_t envelope_count = 0;
    std::int64_t due_ns = 0;       // pacing
    std::int64_t deadline_ns = 0;  // 0: no reply awaited.
};

class Worker {
public:
    Worker(Shared& shared, ThreadStats& stats, std::vector<std::uint32_t> indexes, double rate)
        : shared_(shared),
          options_(shared.options),
          stats_(stats),
          pacer_(rate, shared.start_ns),
          sessions_(indexes.size()) {
        for (std::size_t slot = 0; slot < indexes.size(); slot++) {
            sessions_[slot].index = indexes[slot];
            open_queue_.push_back(static_cast<std::uint32_t>(slot));
        }
        active_count_ = static_cast<std::uint32_t>(indexes.size());
        HUB_ASSERT(sessions_.size() <= sessions_count_max);
    }
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    [[nodiscard]] Result<void, std::string> init();
    void run();

private:
    // The ring.
    io_uring_sqe* get_sqe();
    void submit_connect(Session& s);
    void submit_recv(Session& s);
    void submit_send(Session& s);
    void reap(std::int64_t wait_ns);
    void dispatch(std::uint64_t user_data, int result, std::uint32_t flags);
    void recycle_buffer(std::uint32_t flags);
    // Opening, closing, failing.
    void start_openings();
    void open_session(Session& s);
    void on_connect_done(Session& s, int result);
    void close_session(Session& s, bool reconnect);
    void finish_close_if_idle(Session& s);
    void fail(Session& s, std::string_view reason);
    void leave_opening(Session& s);
    // Bytes in and out.
    void on_recv_done(Session& s, int result, std::uint32_t flags);
    void on_send_done(Session& s, int result);
    void process_input(Session& s);
    [[nodiscard]] bool advance_handshake(Session& s);
    // A client TLS session for s, then state next; false (s failed) if it cannot be made.
    [[nodiscard]] bool begin_tls(Session& s, State next);
    [[nodiscard]] bool read_plaintext(Session& s);
    void on_peer_gone(Session& s, std::string_view why);
    [[nodiscard]] bool write(Session& s, std::string_view text);
    void flush(Session& s);
    void trim_idle(Session& s);
    // SMTP.
    void handle_reply(Session& s, const Reply& reply);
    void on_ehlo(Session& s, const Reply& reply);
    void on_starttls(Session& s, const Reply& reply);
    void on_tls_up(Session& s);
    void next_message(Session& s);
    void begin_message(Session& s);
    void on_envelope_reply(Session& s, const Reply& reply);
    void on_envelope_done(Session& s);
    void pump_body(Session& s);
    void on_data_reply(Session& s, const Reply& reply);
    void send_quit(Session& s, bool reconnect);
    // Time.
    void release_paced(std::int64_t now);
    void scan_timeouts(std::int64_t now);
    void stop_all();
    void arm_deadline(Session& s);
    std::string phase(const Session& s) const;
    std::uint32_t slot_of(const Session& s) const {
        HUB_ASSERT(&s >= sessions_.data() && &s < sessions_.data() + sessions_.size());
        return static_cast<std::uint32_t>(&s - sessions_.data());
    }

    Shared& shared_;
    const Options& options_;
    ThreadStats& stats_;
    Pacer pacer_;
    std::vector<Session> sessions_;
    std::deque<std::uint32_t> open_queue_;    // Slots waiting for an opening place.
    std::deque<std::uint32_t> pacing_queue_;  // Slots waiting for their due time (FIFO).
    std::uint32_t opening_count_ = 0;
    std::uint32_t active_count_ = 0;  // Sessions not done.
    bool stopping_ = false;
    std::int64_t next_scan_ns_ = 0;
    io_uring ring_{};
    bool ring_ready_ = false;
    io_uring_buf_ring* buffer_ring_ = nullptr;
    std::size_t buffer_ring_bytes_ = 0;
    std::vector<char> buffers_;  // recv_buffer_count x recv_buffer_bytes.
    std::array<char, 16 * 1024> plaintext_scratch_{};
};

Worker::~Worker() {
    for (Session& s : sessions_) {
        if (s.fd >= 0) {
            ::close(s.fd);
        }
    }
    if (ring_ready_) {
        io_uring_queue_exit(&ring_);
    }
    if (buffer_ring_ != nullptr) {
        ::munmap(buffer_ring_, buffer_ring_bytes_);
    }
}

Result<void, std::string> Worker::init() {
    io_uring_params params{};
    unsigned wanted = static_cast<unsigned>(sessions_.size()) * ops_per_session_max + 64;
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = std::min(std::max(wanted, sq_entries * 2), cq_entries_max);
    int result = io_uring_queue_init_params(sq_entries, &ring_, &params);
    if (result < 0) {
        return unexpected(fmt::format("io_uring_queue_init: {}", std::strerror(-result)));
    }
    ring_ready_ = true;
    if ((params.features & IORING_FEAT_NODROP) == 0) {
        return unexpected(std::string("io_uring lacks IORING_FEAT_NODROP (kernel >= 5.5 needed)"));
    }
    buffer_ring_bytes_ = recv_buffer_count * sizeof(io_uring_buf);
    void* mapped = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                          MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mapped == MAP_FAILED) {
        return unexpected(fmt::format("mmap buffer ring: {}", std::strerror(errno)));
    }
    buffer_ring_ = static_cast<io_uring_buf_ring*>(mapped);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uint64_t>(mapped);
    registration.ring_entries = recv_buffer_count;
    registration.bgid = 0;
    result = io_uring_register_buf_ring(&ring_, &registration, 0);
    if (result < 0) {
        return unexpected(fmt::format("io_uring_register_buf_ring: {} (kernel >= 5.19 needed)",
                                      std::strerror(-result)));
    }
    io_uring_buf_ring_init(buffer_ring_);
    buffers_.resize(recv_buffer_count * recv_buffer_bytes);
    int mask = io_uring_buf_ring_mask(recv_buffer_count);
    for (unsigned id = 0; id < recv_buffer_count; id++) {
        io_uring_buf_ring_add(buffer_ring_, buffers_.data() + id * recv_buffer_bytes,
                              recv_buffer_bytes, static_cast<unsigned short>(id), mask,
                              static_cast<int>(id));
    }
    io_uring_buf_ring_advance(buffer_ring_, recv_buffer_count);
    return {};
}

// ---- The ring ----------------------------------------------------------------------------

io_uring_sqe* Worker::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        io_uring_submit(&ring_);  // SQ full: hand the batch to the kernel, then retry once.
        sqe = io_uring_get_sqe(&ring_);
    }
    HUB_ASSERT(sqe != nullptr);  // The kernel just consumed the whole SQ.
    return sqe;
}

void Worker::submit_connect(Session& s) {
    HUB_ASSERT(s.fd >= 0 && !s.connect_in_flight);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_connect(sqe, s.fd, reinterpret_cast<const sockaddr*>(&shared_.address),
                          shared_.address_bytes);
    io_uring_sqe_set_data64(sqe, pack(slot_of(s), s.generation, Op::connect));
    s.connect_in_flight = true;
}

void Worker::submit_recv(Session& s) {
    HUB_ASSERT(s.fd >= 0 && !s.recv_in_flight);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, s.fd, nullptr, recv_buffer_bytes, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;  // A buffer from the shared ring, only when bytes come.
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, pack(slot_of(s), s.generation, Op::recv));
    s.recv_in_flight = true;
}

void Worker::submit_send(Session& s) {
    HUB_ASSERT(s.fd >= 0 && !s.send_in_flight && s.sending_offset < s.sending.size());
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, s.fd, s.sending.data() + s.sending_offset,
                       s.sending.size() - s.sending_offset, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, pack(slot_of(s), s.generation, Op::send));
    s.send_in_flight = true;
}

void Worker::recycle_buffer(std::uint32_t flags) {
    if ((flags & IORING_CQE_F_BUFFER) == 0) {
        return;
    }
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    HUB_ASSERT(id < recv_buffer_count);
    io_uring_buf_ring_add(buffer_ring_, buffers_.data() + id * recv_buffer_bytes, recv_buffer_bytes,
                          static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(recv_buffer_count), 0);
    io_uring_buf_ring_advance(buffer_ring_, 1);
}

// Submits what is queued, waits up to wait_ns for one completion, then handles a batch.
void Worker::reap(std::int64_t wait_ns) {
    __kernel_timespec wait{};
    wait.tv_sec = wait_ns / 1000000000;
    wait.tv_nsec = wait_ns % 1000000000;
    io_uring_cqe* first = nullptr;
    int result = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &wait, nullptr);
    if (result < 0 && result != -ETIME && result != -EINTR && result != -EBUSY) {
        HUB_PANIC("io_uring_submit_and_wait_timeout failed");
    }
    struct Done {
        std::uint64_t user_data;
        int result;
        std::uint32_t flags;
    };
    std::array<io_uring_cqe*, cqe_batch_max> cqes{};
    std::array<Done, cqe_batch_max> done{};
    unsigned count = io_uring_peek_batch_cqe(&ring_, cqes.data(), cqe_batch_max);
    for (unsigned i = 0; i < count; i++) {
        done[i] = Done{cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    }
    io_uring_cq_advance(&ring_, count);
    for (unsigned i = 0; i < count; i++) {
        dispatch(done[i].user_data, done[i].result, done[i].flags);
    }
}

void Worker::dispatch(std::uint64_t user_data, int result, std::uint32_t flags) {
    auto slot = static_cast<std::uint32_t>(user_data >> 32);
    auto generation = static_cast<std::uint16_t>(user_data >> 8);
    auto op = static_cast<Op>(user_data & 0xff);
    HUB_ASSERT(slot < sessions_.size());
    Session& s = sessions_[slot];
    // A slot's generation changes only once nothing is in flight, so a mismatch is a bug.
    HUB_ASSERT(s.generation == generation);
    switch (op) {
        case Op::connect:
            s.connect_in_flight = false;
            on_connect_done(s, result);
            return;
        case Op::recv:
            on_recv_done(s, result, flags);
            return;
        case Op::send:
            on_send_done(s, result);
            return;
    }
    HUB_PANIC("unknown operation in user_data");
}

// ---- Opening, closing, failing -----------------------------------------------------------

void Worker::start_openings() {
    while (!stopping_ && opening_count_ < opening_count_max && !open_queue_.empty()) {
        std::uint32_t slot = open_queue_.front();
        open_queue_.pop_front();
        open_session(sessions_[slot]);
    }
}

void Worker::open_session(Session& s) {
    HUB_ASSERT(s.state == State::waiting_to_open && s.fd < 0);
    s.opening = true;
    opening_count_++;
    s.fd = ::socket(shared_.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
        fail(s, fmt::format("socket: {}", std::strerror(errno)));
        return;
    }
    int one = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    stats_.connections++;
    s.state = State::connecting;
    s.messages_on_connection = 0;
    s.peer_closed = false;
    submit_connect(s);
    arm_deadline(s);
}

void Worker::on_connect_done(Session& s, int result) {
    if (s.state == State::closing) {
        finish_close_if_idle(s);
        return;
    }
    HUB_ASSERT(s.state == State::connecting);
    if (result < 0) {
        fail(s, fmt::format("connect: {}", std::strerror(-result)));
        return;
    }
    submit_recv(s);
    if (!options_.implicit_tls()) {
        s.state = State::greeting;
        arm_deadline(s);
        return;
    }
    if (begin_tls(s, State::tls_implicit)) {
        process_input(s);  // Our ClientHello goes first.
    }
}

// Ends the connection: shutdown() makes the kernel finish any recv or send in flight, and
// once none is left the socket is closed and the slot either reconnects or is done.
void Worker::close_session(Session& s, bool reconnect) {
    HUB_ASSERT(s.state != State::done && s.state != State::closing);
    if (s.state == State::pacing) {
        auto at = std::find(pacing_queue_.begin(), pacing_queue_.end(), slot_of(s));
        HUB_ASSERT(at != pacing_queue_.end());
        pacing_queue_.erase(at);
    }
    leave_opening(s);
    s.state = State::closing;
    s.reconnect_after_close = reconnect && !stopping_;
    s.deadline_ns = 0;
    if (s.fd >= 0) {
        ::shutdown(s.fd, SHUT_RDWR);
    }
    finish_close_if_idle(s);
}

void Worker::finish_close_if_idle(Session& s) {
    HUB_ASSERT(s.state == State::closing);
    if (s.connect_in_flight || s.recv_in_flight || s.send_in_flight) {
        return;  // The completions come back here.
    }
    if (s.fd >= 0) {
        ::close(s.fd);
        s.fd = -1;
    }
    s.generation++;
    s.tls.reset();
    s.replies.clear();
    s.replies.release_if_empty();
    s.plain_out.clear();
    s.plain_out.release_if_empty();
    std::vector<char>().swap(s.sending);
    s.sending_offset = 0;
    s.data_end_pending = false;
    s.message = Message{};
    if (s.reconnect_after_close && !stopping_) {
        s.state = State::waiting_to_open;
        open_queue_.push_back(slot_of(s));
        return;
    }
    s.state = State::done;
    HUB_ASSERT(active_count_ > 0);
    active_count_--;
}

void Worker::fail(Session& s, std::string_view reason) {
    if (!stopping_) {
        stats_.add_error(std::string(reason));
    }
    stats_.session_failures++;
    if (s.state == State::waiting_to_open) {
        leave_opening(s);
        s.state = State::closing;
        s.reconnect_after_close = false;
        finish_close_if_idle(s);
        return;
    }
    close_session(s, false);
}

void Worker::leave_opening(Session& s) {
    if (s.opening) {
        s.opening = false;
        HUB_ASSERT(opening_count_ > 0);
        opening_count_--;
    }
}

// ---- Bytes in and out --------------------------------------------------------------------

void Worker::on_recv_done(Session& s, int result, std::uint32_t flags) {
    s.recv_in_flight = false;
    if (s.state == State::closing) {
        recycle_buffer(flags);
        finish_close_if_idle(s);
        return;
    }
    if (result == -ENOBUFS) {
        submit_recv(s);  // Every buffer was busy; they are recycled as CQEs are handled.
        return;
    }
    if (result < 0) {
        recycle_buffer(flags);
        on_peer_gone(s, fmt::format("recv: {}", std::strerror(-result)));
        return;
    }
    if (result == 0) {
        s.peer_closed = true;
        if (s.tls) {
            s.tls->transport_closed = true;
        }
    } else {
        HUB_ASSERT((flags & IORING_CQE_F_BUFFER) != 0);
        unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
        std::span<const char> bytes(buffers_.data() + id * recv_buffer_bytes,
                                    static_cast<std::size_t>(result));
        bool kept = s.tls ? s.tls->ciphertext_in.append(bytes) : s.replies.append(bytes);
        recycle_buffer(flags);
        if (!kept) {
            fail(s, phase(s) + ": inbox overflow (server sent too much)");
            return;
        }
    }
    arm_deadline(s);
    process_input(s);
    if (s.peer_closed && s.state != State::closing && s.state != State::done) {
        on_peer_gone(s, "connection closed by server");
        return;
    }
    if (s.state != State::closing && s.state != State::done && !s.recv_in_flight) {
        submit_recv(s);
    }
    if (s.state == State::holding) {
        trim_idle(s);
    }
}

void Worker::on_send_done(Session& s, int result) {
    s.send_in_flight = false;
    if (s.state == State::closing) {
        finish_close_if_idle(s);
        return;
    }
    if (result <= 0) {
        on_peer_gone(s, fmt::format("send: {}", std::strerror(result == 0 ? EPIPE : -result)));
        return;
    }
    s.sending_offset += static_cast<std::size_t>(result);
    HUB_ASSERT(s.sending_offset <= s.sending.size());
    arm_deadline(s);
    if (s.sending_offset < s.sending.size()) {
        submit_send(s);  // A short send: the rest first, in order.
        return;
    }
    s.sending.clear();
    s.sending_offset = 0;
    if (s.tls && s.tls->output_blocked()) {
        if (!s.tls->flush()) {
            on_peer_gone(s, "TLS: flush failed");
            return;
        }
    }
    if (s.state == State::data_body) {
        pump_body(s);
    }
    flush(s);
    if (s.state == State::holding) {
        trim_idle(s);
    }
}

// Runs the TLS layer and the reply reader over what has arrived.
void Worker::process_input(Session& s) {
    if (s.tls && !s.tls->handshake_done() && !advance_handshake(s)) {
        return;
    }
    if (s.tls && s.tls->handshake_done() && !read_plaintext(s)) {
        return;
    }
    // A bound per call: a flood of replies cannot keep the loop on one session.
    for (unsigned budget = 64; budget > 0; budget--) {
        if (s.state == State::closing || s.state == State::done ||
            s.state == State::tls_handshake) {
            break;
        }
        auto reply = s.replies.next();
        if (!reply) {
            fail(s, phase(s) + ": " + reply.error());
            return;
        }
        if (!*reply) {
            break;
        }
        handle_reply(s, **reply);
    }
    if (s.state != State::closing && s.state != State::done) {
        flush(s);
    }
}

// False when the session can go no further now (handshake incomplete or failed).
bool Worker::begin_tls(Session& s, State next) {
    auto session = tls::Session::create_client(shared_.tls_context);
    if (!session) {
        fail(s, "TLS: " + session.error().message);
        return false;
    }
    s.tls = std::move(*session);
    s.state = next;
    return true;
}

bool Worker::advance_handshake(Session& s) {
    auto progress = s.tls->handshake();
    if (!progress) {
        fail(s, "TLS handshake: " + progress.error().message);
        return false;
    }
    if (*progress != tls::Progress::done) {
        flush(s);
        return false;
    }
    if (stats_.tls_description.empty()) {
        smtp::TlsFacts facts = s.tls->facts();
        stats_.tls_description = fmt::format("tls={} cipher={}", facts.version, facts.cipher);
    }
    on_tls_up(s);
    return s.state != State::closing && s.state != State::done;
}

bool Worker::read_plaintext(Session& s) {
    for (unsigned budget = 64; budget > 0; budget--) {
        auto got = s.tls->read(std::span(plaintext_scratch_.data(), plaintext_scratch_.size()));
        if (!got && got.error().error == tls::Error::closed) {
            s.peer_closed = true;  // Read the replies already in; on_recv_done() ends it.
            return true;
        }
        if (!got) {
            on_peer_gone(s, "TLS read: " + got.error().message);
            return false;
        }
        if (*got == 0) {
            return true;
        }
        if (!s.replies.append(std::span<const char>(plaintext_scratch_.data(), *got))) {
            fail(s, phase(s) + ": reply inbox overflow (server sent too much)");
            return false;
        }
    }
    return true;
}

// The server closed or the transport failed. Expected after QUIT; else the session fails.
void Worker::on_peer_gone(Session& s, std::string_view why) {
    if (s.state == State::closing || s.state == State::done) {
        return;
    }
    if (s.state == State::quit || s.state == State::quit_close) {
        close_session(s, s.reconnect_after_close);
        return;
    }
    if (s.state == State::holding) {
        if (!stopping_) {
            stats_.add_error(fmt::format("held session ended: {}", why));
        }
        close_session(s, false);
        return;
    }
    fail(s, phase(s) + ": " + std::string(why));
}

bool Worker::write(Session& s, std::string_view text) {
    std::span<const char> bytes(text.data(), text.size());
    if (s.tls) {
        if (text.size() > s.tls->writable_bytes()) {
            fail(s, phase(s) + ": TLS outbox full");
            return false;
        }
        if (auto written = s.tls->write(bytes); !written) {
            fail(s, phase(s) + ": TLS write: " + written.error().message);
            return false;
        }
        return true;
    }
    if (!s.plain_out.append(bytes)) {
        fail(s, phase(s) + ": outbox full");
        return false;
    }
    return true;
}

// Hands everything queued to one send (STYLE.md idiom 4); the outbox keeps filling while
// the send is in flight.
void Worker::flush(Session& s) {
    if (s.send_in_flight || s.fd < 0 || s.state == State::closing || s.state == State::done) {
        return;
    }
    base::ByteQueue& outbox = s.tls ? s.tls->ciphertext_out : s.plain_out;
    if (outbox.empty()) {
        return;
    }
    HUB_ASSERT(s.sending.empty() && s.sending_offset == 0);
    std::span<const char> bytes = outbox.readable();
    s.sending.assign(bytes.begin(), bytes.end());
    outbox.consume(bytes.size());
    if (s.data_end_pending) {
        s.data_end_pending = false;
        s.data_end_ns = now_ns();  // End of DATA: the final ".\r\n" goes to the kernel now.
    }
    submit_send(s);
    arm_deadline(s);
}

// Gives back what an idle held session does not need (memory per held session).
void Worker::trim_idle(Session& s) {
    s.replies.release_if_empty();
    if (!s.send_in_flight) {
        std::vector<char>().swap(s.sending);
    }
    s.plain_out.release_if_empty();
    if (s.tls) {
        s.tls->ciphertext_in.release_if_empty();
        s.tls->ciphertext_out.release_if_empty();
    }
}

// ---- SMTP --------------------------------------------------------------------------------

void Worker::handle_reply(Session& s, const Reply& reply) {
    switch (s.state) {
        case State::greeting:
            if (reply.code != 220) {
                fail(s, "greeting: " + first_words(reply));
                return;
            }
            if (write(s, fmt::format("EHLO {}\r\n", options_.helo))) {
                s.state = State::ehlo;
            }
            return;
        case State::ehlo:
            on_ehlo(s, reply);
            return;
        case State::starttls:
            on_starttls(s, reply);
            return;
        case State::envelope:
            on_envelope_reply(s, reply);
            return;
        case State::data_reply:
            on_data_reply(s, reply);
            return;
        case State::rset:
            if (reply.code != 250) {
                fail(s, "RSET: " + first_words(reply));
                return;
            }
            next_message(s);
            return;
        case State::quit:
            s.state = State::quit_close;  // 221 or not, the session is over; let it close.
            arm_deadline(s);
            return;
        case State::holding:
            on_peer_gone(s, first_words(reply));
            return;
        case State::waiting_to_open:
        case State::connecting:
        case State::tls_implicit:
        case State::tls_handshake:
        case State::pacing:
        case State::data_body:
        case State::quit_close:
        case State::closing:
        case State::done:
            fail(s, phase(s) + ": unexpected reply: " + first_words(reply));
            return;
    }
    HUB_PANIC("unhandled session state");
}

void Worker::on_ehlo(Session& s, const Reply& reply) {
    if (reply.code != 250) {
        fail(s, phase(s) + ": " + first_words(reply));
        return;
    }
    if (!options_.implicit_tls() && !s.tls) {
        if (write(s, "STARTTLS\r\n")) {
            s.state = State::starttls;  // RFC 3207 4.
        }
        return;
    }
    s.extensions = parse_ehlo(reply);
    leave_opening(s);
    if (options_.hold > 0) {
        s.state = State::holding;
        s.deadline_ns = 0;  // Held until the end of the run.
        stats_.established++;
        return;
    }
    next_message(s);
}

void Worker::on_starttls(Session& s, const Reply& reply) {
    if (reply.code != 220) {
        fail(s, "STARTTLS: " + first_words(reply));
        return;
    }
    if (!s.replies.empty()) {
        // RFC 3207 5: nothing sent in clear after the 220 may be used (command injection).
        fail(s, "STARTTLS: server sent bytes after its STARTTLS reply");
        return;
    }
    if (begin_tls(s, State::tls_handshake)) {
        s.replies.release_if_empty();
        (void)advance_handshake(s);  // Sends our ClientHello; process_input() stops here.
    }
}

void Worker::on_tls_up(Session& s) {
    if (options_.implicit_tls()) {
        s.state = State::greeting;  // RFC 8314 3.3: the 220 comes inside TLS.
        return;
    }
    if (write(s, fmt::format("EHLO {}\r\n", options_.helo))) {
        s.state = State::ehlo;  // RFC 3207 4.2: forget what the first EHLO said.
    }
}

void Worker::next_message(Session& s) {
    bool all_sent = s.messages_started >= options_.messages;
    bool connection_full =
        options_.per_connection > 0 && s.messages_on_connection >= options_.per_connection;
    if (all_sent || stopping_) {
        send_quit(s, false);
        return;
    }
    if (connection_full) {
        send_quit(s, true);
        return;
    }
    std::int64_t due = pacer_.take();
    if (pacer_.paced() && due > now_ns()) {
        s.state = State::pacing;
        s.due_ns = due;
        s.deadline_ns = 0;
        HUB_ASSERT(pacing_queue_.empty() || sessions_[pacing_queue_.back()].due_ns <= due);
        pacing_queue_.push_back(slot_of(s));
        return;
    }
    begin_message(s);
}

// MAIL, RCPT, DATA: in one write when pipelining (RFC 2920 3.1), else one at a time.
void Worker::begin_message(Session& s) {
    std::uint32_t n = s.messages_started++;
    s.messages_on_connection++;
    stats_.sent++;
    s.token = fmt::format("{}-{}-{}", options_.run_id, s.index, n);
    s.message = shared_.messages.make(s.token, shared_.sizes.pick(options_.seed, s.index, n));
    s.message_offset = 0;
    s.envelope = {};
    s.envelope_count = 0;
    std::string mail = fmt::format("MAIL FROM:<{}>", options_.from);
    if (s.extensions.size) {
        mail += fmt::format(" SIZE={}", s.message.content_bytes());  // RFC 1870 6.
    }
    mail += "\r\n";
    s.pipelined = options_.want_pipelining() && s.extensions.pipelining;
    if (s.pipelined) {
        mail += fmt::format("RCPT TO:<{}>\r\nDATA\r\n", options_.to);
    }
    if (write(s, mail)) {
        s.state = State::envelope;
        flush(s);
    }
}

void Worker::on_envelope_reply(Session& s, const Reply& reply) {
    HUB_ASSERT(s.envelope_count < s.envelope.size());
    s.envelope[s.envelope_count++] = reply;
    if (reply.code == 421) {
        fail(s, "envelope: " + first_words(reply));  // RFC 5321 3.8: the server is leaving.
        return;
    }
    if (s.pipelined) {
        if (s.envelope_count == s.envelope.size()) {
            on_envelope_done(s);
        }
        return;
    }
    if (!reply.positive() || s.envelope_count == s.envelope.size()) {
        on_envelope_done(s);
        return;
    }
    std::string next = s.envelope_count == 1 ? fmt::format("RCPT TO:<{}>\r\n", options_.to)
                                             : std::string("DATA\r\n");
    if (write(s, next)) {
        flush(s);
    }
}

void Worker::on_envelope_done(Session& s) {
    const Reply& data = s.envelope[2];
    if (data.code == 354) {
        s.state = State::data_body;
        pump_body(s);
        return;
    }
    const Reply& bad = !s.envelope[0].positive()   ? s.envelope[0]
                       : !s.envelope[1].positive() ? s.envelope[1]
                                                   : data;
    if (!stopping_) {
        stats_.add_error("envelope: " + first_words(bad));
    }
    if (write(s, "RSET\r\n")) {
        s.state = State::rset;
    }
}

// Moves as much of the message into the outbox as it takes; the send completion calls
// again. Each TLS write is at most writable_bytes() (one record).
void Worker::pump_body(Session& s) {
    HUB_ASSERT(s.state == State::data_body);
    std::uint64_t total = s.message.wire_bytes();
    while (s.message_offset < total) {
        std::size_t room = s.tls ? s.tls->writable_bytes() : s.plain_out.space_bytes();
        if (room == 0) {
            break;
        }
        std::span<const char> chunk = s.message.chunk(s.message_offset, room);
        if (!write(s, std::string_view(chunk.data(), chunk.size()))) {
            return;
        }
        s.message_offset += chunk.size();
    }
    if (s.message_offset == total) {
        s.data_end_pending = true;
        s.state = State::data_reply;
    }
    flush(s);
}

void Worker::on_data_reply(Session& s, const Reply& reply) {
    if (reply.code != 250) {
        if (reply.code == 421) {
            fail(s, "end of DATA: " + first_words(reply));
            return;
        }
        if (!stopping_) {
            stats_.add_error("end of DATA: " + first_words(reply));
        }
        next_message(s);
        return;
    }
    std::int64_t latency_ns = now_ns() - s.data_end_ns;
    shared_.acked_log.append(s.token, queue_id_of(reply));  // Before counting: crash tests.
    stats_.ok++;
    stats_.ok_bytes += s.message.content_bytes();
    stats_.latencies_ms.push_back(static_cast<double>(latency_ns) / 1e6);
    s.message = Message{};
    next_message(s);
}

void Worker::send_quit(Session& s, bool reconnect) {
    s.reconnect_after_close = reconnect;
    if (write(s, "QUIT\r\n")) {
        s.state = State::quit;
        arm_deadline(s);
    }
}

// ---- Time --------------------------------------------------------------------------------

void Worker::release_paced(std::int64_t now) {
    while (!pacing_queue_.empty() && sessions_[pacing_queue_.front()].due_ns <= now) {
        Session& s = sessions_[pacing_queue_.front()];
        pacing_queue_.pop_front();
        HUB_ASSERT(s.state == State::pacing);
        begin_message(s);
    }
}

void Worker::scan_timeouts(std::int64_t now) {
    for (Session& s : sessions_) {
        if (s.deadline_ns == 0 || now < s.deadline_ns || s.state == State::closing ||
            s.state == State::done) {
            continue;
        }
        if (s.state == State::quit || s.state == State::quit_close) {
            close_session(s, s.reconnect_after_close);  // A lost 221 is not a failure.
            continue;
        }
        fail(s, fmt::format("{}: no reply within --reply-timeout {} s", phase(s),
                            options_.reply_timeout_s));
    }
}

void Worker::arm_deadline(Session& s) {
    if (options_.hold > 0 || s.state == State::pacing || s.state == State::holding) {
        s.deadline_ns = 0;  // --reply-timeout does not apply to --hold (as before).
        return;
    }
    s.deadline_ns = now_ns() + static_cast<std::int64_t>(options_.reply_timeout_s * 1e9);
}

// At the deadline or on a signal: every connection is shut down, the completions are
// drained for a bounded time, and the thread ends whatever is left.
void Worker::stop_all() {
    stopping_ = true;
    open_queue_.clear();
    for (Session& s : sessions_) {
        if (s.state == State::waiting_to_open) {
            s.state = State::done;
            active_count_--;
        } else if (s.state != State::closing && s.state != State::done) {
            close_session(s, false);
        }
    }
    std::int64_t give_up = now_ns() + std::int64_t{stop_drain_ms_max} * 1000000;
    while (active_count_ > 0 && now_ns() < give_up) {
        reap(std::int64_t{loop_wait_ms_max} * 1000000);
    }
}

std::string Worker::phase(const Session& s) const {
    switch (s.state) {
        case State::waiting_to_open:
        case State::connecting:
            return "connect";
        case State::tls_implicit:
        case State::tls_handshake:
            return "TLS handshake";
        case State::greeting:
            return "greeting";
        case State::ehlo:
            return s.tls && !options_.implicit_tls() ? "EHLO after TLS" : "EHLO";
        case State::starttls:
            return "STARTTLS";
        case State::pacing:
        case State::envelope:
            return "envelope";
        case State::data_body:
            return "DATA";
        case State::data_reply:
            return "end of DATA";
        case State::rset:
            return "RSET";
        case State::quit:
        case State::quit_close:
            return "QUIT";
        case State::holding:
            return "held session";
        case State::closing:
        case State::done:
            return "closed";
    }
    HUB_PANIC("unhandled session state");
}

void Worker::run() {
    while (active_count_ > 0) {
        std::int64_t now = now_ns();
        if (shared_.stop.load(std::memory_order_relaxed) || now >= shared_.deadline_ns) {
            stop_all();
            return;
        }
        start_openings();
        release_paced(now);
        if (now >= next_scan_ns_) {
            scan_timeouts(now);
            next_scan_ns_ = now + std::int64_t{timeout_scan_ms} * 1000000;
        }
        std::int64_t wait_ns = std::int64_t{loop_wait_ms_max} * 1000000;
        if (!pacing_queue_.empty()) {
            wait_ns =
                std::clamp<std::int64_t>(sessions_[pacing_queue_.front()].due_ns - now, 0, wait_ns);
        }
        wait_ns = std::min(wait_ns, std::max<std::int64_t>(shared_.deadline_ns - now, 0));
        reap(wait_ns);
    }
}

}  // namespace

Result<void, std::string> run_worker(Shared& shared, ThreadStats& stats,
                                     std::vector<std::uint32_t> session_indexes,
                                     double rate_per_s) {
    {
        auto worker =
            std::make_unique<Worker>(shared, stats, std::move(session_indexes), rate_per_s);
        if (auto ready = worker->init(); !ready) {
            return unexpected(ready.error());
        }
        worker->run();
    }
    tls::release_thread_caches();  // After the sessions: the ECC cache is per thread.
    return {};
}

}  // namespace hub::loadgen
