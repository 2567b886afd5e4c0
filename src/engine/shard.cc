// shard.cc -- the per-core reactor: accept, receive, TLS, SMTP, spool, send.
//
// PURPOSE   Serve inbound SMTP connections on one core with all socket and file I/O
//           submitted through this shard's io_uring.
// RUNS IN   one shard thread per core (hubd), pinned.
// TRUST     every byte from a socket is hostile; it reaches only the TLS and SMTP state
//           machines, which bound and validate it. The shard runs unprivileged.
// LIMITS    engine/limits.h; per-shard shares of connections_max and
//           connections_per_partner_max; one commit batch in flight.
// SEE ALSO  connection_flow.cc (pumping bytes through TLS and SMTP), spool_writer.cc,
//           docs/ARCHITECTURE.md
#include "engine/shard.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include <mimalloc.h>

#include "base/log.h"

namespace hub::engine {
namespace {

std::string address_text(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = "unknown";
    if (address.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text,
                  sizeof(text));
    } else if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
            inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof(text));
        } else {
            inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
        }
    }
    return text;
}

smtp::ServerConfig session_config(const config::HubConfig& config, bool implicit_tls) {
    smtp::ServerConfig session;
    session.hostname = config.hostname;
    session.message_bytes_max = config.message_bytes_max;
    session.recipients_count_max = config.recipients_count_max;
    session.errors_count_max = config.errors_count_max;
    session.command_timeout_ms = config.command_timeout_s * 1000;
    session.data_timeout_ms = config.data_timeout_s * 1000;
    session.starttls_offered = !implicit_tls;
    session.tls_required = true;  // DESIGN.md 1.1: no mail in clear text.
    return session;
}

}  // namespace

Shard::Shard(ShardSettings settings)
    : settings_(std::move(settings)),
      starttls_config_(session_config(*settings_.config, false)),
      implicit_tls_config_(session_config(*settings_.config, true)),
      plaintext_scratch_(tls_write_chunk_bytes) {
    HUB_ASSERT(settings_.config != nullptr && settings_.partners != nullptr);
    snapshot_ = settings_.partners->current();
    HUB_ASSERT(snapshot_ != nullptr);  // hubd publishes the first before shards start.
    HUB_ASSERT(settings_.spool_low != nullptr && settings_.stop != nullptr);
    HUB_ASSERT(settings_.connections_max > 0);
    std::uint32_t slot_count = settings_.connections_max + connections_reserve;
    HUB_ASSERT(slot_count <= Tag::index_max);
    slots_.reserve(slot_count);
    free_slots_.reserve(slot_count);
    for (std::uint32_t index = 0; index < slot_count; index++) {
        slots_.push_back(std::make_unique<Connection>(*settings_.spool_low));
        slots_.back()->slot = index;
        free_slots_.push_back(slot_count - 1 - index);  // Pop from the back: slot 0 first.
    }
    runnable_.reserve(slot_count);
    runnable_now_.reserve(slot_count);
    tick_interval_.tv_sec = 0;
    tick_interval_.tv_nsec = static_cast<long long>(tick_ms) * 1000 * 1000;
    send_timeout_.tv_sec = send_timeout_s;
}

Shard::~Shard() {
    if (ring_storage_.ring_fd > 0) {
        unregister_buffer_ring(ring_storage_, buffers_, recv_buffer_group);
        io_uring_queue_exit(&ring_storage_);
    }
}

std::uint64_t Shard::now_ms() const {
    if (settings_.seam != nullptr) {
        return settings_.seam->monotonic_ms();
    }
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);  // vDSO: no system call.
    return static_cast<std::uint64_t>(now.tv_sec) * 1000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
}

std::uint32_t Shard::slot_index(const Connection& connection) const {
    HUB_ASSERT(connection.slot < slots_.size());
    HUB_ASSERT(slots_[connection.slot].get() == &connection);
    return connection.slot;
}

Result<void, std::string> Shard::run() {
    if (auto started = start(); !started) {
        return started;
    }
    while (true) {
        auto more = turn();
        if (!more) {
            return unexpected(std::move(more.error()));
        }
        if (!*more) {
            break;
        }
    }
    finish();
    return {};
}

Result<void, std::string> Shard::start() {
    if (settings_.cpu >= 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(static_cast<unsigned>(settings_.cpu), &cpus);
        pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
    }
    if (settings_.seam != nullptr) {
        buffers_ = *settings_.seam->buffers;  // The simulator's, handed out by its ring.
    } else {
        if (auto setup = setup_ring(ring_storage_, ring_entries); !setup) {
            return setup;
        }
        if (auto made = register_buffer_ring(ring_storage_, buffers_, recv_buffer_count,
                                             recv_buffer_bytes, recv_buffer_group);
            !made) {
            return made;
        }
    }
    base::log_set_thread_sink(&log_sink_);
    start_spool_writer();
    start_delivery();
    arm_accept(0);
    arm_accept(1);
    arm_tick();
    base::log_info("shard {}: serving on cpu {}", settings_.index, settings_.cpu);
    if (settings_.serving != nullptr) {
        settings_.serving->store(true);  // The supervisor says "ready" once all are.
    }
    return {};
}

Result<bool, std::string> Shard::turn() {
    std::array<Completion, cqe_batch_max> completions;
    int submitted = ring_.submit_and_wait(1);
    if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
        return unexpected("io_uring_submit_and_wait: " + std::string(std::strerror(-submitted)));
    }
    adopt_partners();  // Before this turn's accepts: they get the newest table.
    unsigned count = ring_.take_completions(completions);
    reap(std::span<const Completion>(completions).first(count));
    deliver_commit_outcomes();
    resume_streams();
    take_durable_statuses();
    compactor_->take_copies();
    // Connections whose command budget ran out get one more pass per loop turn.
    runnable_now_.swap(runnable_);
    for (std::uint32_t index : runnable_now_) {
        Connection& connection = *slots_[index];
        connection.runnable = false;
        pump(connection);
    }
    runnable_now_.clear();
    deliver_commit_outcomes();
    if (accepting_) {
        run_control();
        run_scheduler();
    }
    log_sink_.flush();
    if (settings_.stop->load(std::memory_order_relaxed)) {
        if (stop_deadline_ms_ == 0) {
            accepting_ = false;
            compactor_->stop();
            stop_deadline_ms_ = now_ms() + 5000;
            base::log_info("shard {}: stopping", settings_.index);
        }
        if (spool_->idle() || now_ms() > stop_deadline_ms_) {
            return false;
        }
    }
    return true;
}

void Shard::finish() {
    std::array<Completion, cqe_batch_max> completions;
    if (spool_->idle()) {
        spool_->close();
    }
    // Let the last log write land (bounded: stderr writes complete or fail).
    for (int turn = 0; turn < 100 && log_sink_.writing(); turn++) {
        ring_.submit_and_wait(1);
        unsigned count = ring_.take_completions(completions);
        reap(std::span<const Completion>(completions).first(count));
    }
    base::log_set_thread_sink(nullptr);
    log_sink_.drain_blocking();  // The loop is over: a plain write is fine now.
}

void Shard::reap(std::span<const Completion> completions) {
    HUB_ASSERT(completions.size() <= cqe_batch_max);
    for (const Completion& completion : completions) {
        dispatch(completion);
    }
}

void Shard::dispatch(const Completion& completion) {
    const Tag& tag = completion.tag;
    switch (tag.op) {
        case Op::accept:
            on_accept(tag.index, completion.result, completion.flags);
            return;
        case Op::tick:
            on_tick();
            return;
        case Op::spool_open:
        case Op::spool_dir_sync:
        case Op::spool_write:
        case Op::spool_sync:
        case Op::spool_punch:
        case Op::spool_close:
        case Op::spool_unlink:
        case Op::spool_remove_sync:
            spool_->on_completion(tag.op, completion.result);
            return;
        case Op::log_write:
            log_sink_.on_write_done(completion.result);
            return;
        case Op::record_read:
            on_record_read(tag.index, tag.generation, completion.result);
            return;
        case Op::report_read:
            on_report_read(tag.index, completion.result);
            return;
        case Op::compact_read:
            compactor_->on_read_done(tag.index, tag.generation, completion.result);
            return;
        case Op::release_buffers:
            if (completion.result < 0) {
                base::log_warn("shard {}: madvise of idle receive buffers: {}", settings_.index,
                               std::strerror(-completion.result));
            }
            return;
        case Op::send_timeout:
        case Op::cancel_recv:
        case Op::shutdown_socket:
        case Op::close_socket:
        case Op::out_connect_timeout:
            return;  // Their effect shows on the operation they target.
        case Op::recv:
        case Op::send:
        case Op::out_socket:
        case Op::out_connect:
            break;
    }
    HUB_ASSERT(tag.index < slots_.size());
    Connection& connection = *slots_[tag.index];
    if (connection.generation != tag.generation || connection.state == Connection::State::free) {
        // A completion for a connection that has been closed since: return its buffer.
        if (tag.op == Op::recv && (completion.flags & IORING_CQE_F_BUFFER) != 0) {
            recycle_buffer(buffers_,
                           static_cast<std::uint16_t>(completion.flags >> IORING_CQE_BUFFER_SHIFT));
        }
        return;
    }
    if (tag.op == Op::out_socket && completion.result >= 0 &&
        connection.state != Connection::State::open) {
        queued_or_panic(
            ring_.close(Tag{Op::close_socket, 0, 0}, completion.result));  // Raced a close.
        return;
    }
    switch (tag.op) {
        case Op::recv:
            on_recv(connection, completion.result, completion.flags);
            return;
        case Op::send:
            on_send_done(connection, completion.result);
            return;
        case Op::out_socket:
            on_out_socket(connection, completion.result);
            return;
        case Op::out_connect:
            on_out_connect(connection, completion.result);
            return;
        default:
            HUB_PANIC("connection completion of an unexpected kind");
    }
}

void Shard::arm_accept(unsigned listener_index) {
    HUB_ASSERT(listener_index < 2);
    int fd = listener_index == 0 ? settings_.smtp_listener_fd : settings_.smtps_listener_fd;
    if (fd < 0 || !accepting_ || accept_armed_[listener_index]) {
        return;
    }
    queued_or_panic(ring_.accept_multishot(Tag{Op::accept, listener_index, 0}, fd));
    accept_armed_[listener_index] = true;
}

void Shard::arm_tick() {
    queued_or_panic(ring_.timeout(Tag{Op::tick, 0, 0}, tick_interval_));
}

void Shard::on_tick() {
    // mimalloc hands freed memory back to the kernel lazily, from inside later allocations
    // on the same thread; a shard that goes quiet after a burst of 5 MB messages would keep
    // it for good (measured: 90 MB resident after 20 such messages, idle for minutes).
    // Collecting on the tick bounds that to one tick after the burst. A plain collection
    // keeps freed pages for reuse, though, and what closed connections freed (their input,
    // reply and TLS buffers, a few hundred KB each) stayed resident; a forced one, at most
    // once per forced_collect_interval_ms and only after connections closed, gives more of
    // it back (with release_receive_buffers, measured after 5,000 TLS sessions 250 at a
    // time: 77 MB resident before these two, 69 MB with the buffers dropped only, 50-60 MB
    // with both, from 17 MB at start).
    std::uint64_t now = now_ms();
    bool force = closed_since_collect_ > 0 && now >= next_forced_collect_ms_;
    mi_collect(force);
    if (force) {
        closed_since_collect_ = 0;
        next_forced_collect_ms_ = now + forced_collect_interval_ms;
    }
    release_receive_buffers();
    spool_->on_tick();
    if (accepting_) {
        compactor_->start(now_ms());
    }
    for (auto& slot : slots_) {
        Connection& connection = *slot;
        if (connection.state != Connection::State::open) {
            continue;
        }
        release_idle_buffers(connection);
        if (connection.deadline_ms == 0 || connection.awaiting_commit ||
            now < connection.deadline_ms) {
            continue;
        }
        connection.deadline_ms = 0;
        if (connection.outbound) {
            if (connection.client && connection.job_index == Connection::no_job) {
                // Idle in the cache too long: say goodbye properly.
                forget_idle_connection(connection);
                if (connection.client->idle()) {
                    connection.client->quit();
                    pump_outbound(connection);
                } else {
                    begin_close(connection);
                }
            } else if (connection.client) {
                connection.client->on_timeout();
                handle_client_events(connection);
            } else if (connection.job_index == Connection::no_job) {
                begin_close(connection);
            } else {
                fail_job(connection.job_index,
                         fmt::format("connect to {}: timed out", connection.peer_text), true);
            }
            continue;
        }
        if (connection.smtp && connection.tls_state != Connection::Tls::handshaking) {
            connection.smtp->on_timeout();  // Its refusal is logged by the pump.
            pump(connection);
        } else {
            smtp::Refusal refusal;
            refusal.stage = smtp::RefusalStage::tls;
            refusal.reason = smtp::RefusalReason::timeout;
            refusal.reply = "421 4.4.2 TLS handshake timed out";  // Not sent: closed.
            log_refusal(connection, refusal);
            begin_close(connection);
        }
    }
    if (now >= next_accept_retry_ms_) {
        arm_accept(0);  // After EMFILE and the like, accepting resumes on a tick.
        arm_accept(1);
    }
    arm_tick();
}

// Idle connections give their buffer memory back; a busy one re-allocates at most once per
// tick, which keeps the steady-state data path free of allocation while 10,000 idle
// sessions stay small.
// The provided receive buffers (recv_buffer_count x recv_buffer_bytes, 16 MiB a shard) are
// handed out round the ring, so a few hundred sessions touch all of them and they stay
// resident after every connection closed (measured: most of the 60 MB still resident after
// 5,000 sessions). With no connection open no recv is armed and no buffer holds data, so
// their pages are dropped (MADV_DONTNEED through the ring: zero pages on next use).
void Shard::release_receive_buffers() {
    if (open_count_ > 0 || !receive_buffers_touched_) {
        return;
    }
    receive_buffers_touched_ = false;
    queued_or_panic(ring_.madvise(Tag{Op::release_buffers, 0, 0}, buffers_.buffers,
                                  buffers_.entries * buffers_.buffer_bytes, MADV_DONTNEED));
}

void Shard::release_idle_buffers(Connection& connection) {
    if (connection.awaiting_commit || connection.send_in_flight) {
        return;
    }
    connection.input.release_if_empty();
    connection.plain_out.release_if_empty();
    if (connection.tls) {
        connection.tls->ciphertext_in.release_if_empty();
        connection.tls->ciphertext_out.release_if_empty();
    }
    if (connection.smtp) {
        connection.smtp->release_idle_buffers();
    }
    if (connection.client) {
        connection.client->release_idle_buffers();
    }
    if (connection.sending_offset == connection.sending.size()) {
        std::vector<char>().swap(connection.sending);  // Fully sent.
        connection.sending_offset = 0;
    }
}

void Shard::on_accept(unsigned listener_index, int result, std::uint32_t flags) {
    HUB_ASSERT(listener_index < 2);
    if ((flags & IORING_CQE_F_MORE) == 0) {
        accept_armed_[listener_index] = false;
    }
    if (result < 0) {
        base::log_warn("shard {}: accept: {}", settings_.index, std::strerror(-result));
        next_accept_retry_ms_ = now_ms() + tick_ms;  // Retried by the tick, not in a loop.
        return;
    }
    if (!accepting_) {
        queued_or_panic(ring_.close(Tag{Op::close_socket, 0, 0}, result));
        return;
    }
    open_connection(result, listener_index == 1);
    if (!accept_armed_[listener_index] && now_ms() >= next_accept_retry_ms_) {
        arm_accept(listener_index);
    }
}

// A free slot, marked open; nullptr when even the reserve is used up.
Connection* Shard::take_free_slot() {
    if (free_slots_.empty()) {
        return nullptr;
    }
    Connection& connection = *slots_[free_slots_.back()];
    free_slots_.pop_back();
    HUB_ASSERT(connection.state == Connection::State::free);
    connection.state = Connection::State::open;
    connection.accepted_ms = now_ms();
    return &connection;
}

void Shard::open_connection(int fd, bool implicit_tls) {
    Connection* taken = take_free_slot();
    if (taken == nullptr) {
        // Nothing can be said to this peer.
        queued_or_panic(ring_.close(Tag{Op::close_socket, 0, 0}, fd));
        return;
    }
    Connection& connection = *taken;
    connection.fd = fd;
    connection.implicit_tls = implicit_tls;
    socklen_t length = sizeof(connection.peer);
    // XXX: getpeername is the one system call a shard makes outside the ring, once per
    // connection: multishot accept writes every peer address to one shared buffer, and
    // an io_uring getpeername only arrived after 6.1. It never blocks.
    bool known = settings_.seam != nullptr
                     ? settings_.seam->peer_address(fd, connection.peer)
                     : getpeername(fd, reinterpret_cast<sockaddr*>(&connection.peer), &length) == 0;
    if (!known) {
        connection.peer.ss_family = AF_UNSPEC;
    }
    connection.peer_text = address_text(connection.peer);
    connection.partner = connection.policy.start(snapshot_->table, connection.peer);
    open_count_++;
    arm_recv(connection);

    if (connection.partner != nullptr) {
        const auto& partners = snapshot_->table->partners();
        auto position = static_cast<std::size_t>(connection.partner - partners.data());
        HUB_ASSERT(position < partner_destination_.size());
        connection.partner_destination = partner_destination_[position];
        HUB_ASSERT(connection.partner_destination < partner_connections_.size());
        partner_connections_[connection.partner_destination]++;
    }
    // Every accepted connection counts, the refused ones too (log_refusal counts those
    // again as refused), as RFC 2789's accumulated and rejected inbound associations do.
    health_.traffic().inbound_total++;
    health_.traffic().inbound_open++;
    if (connection.partner != nullptr) {
        connection.health_partner = health_.partner(connection.partner->name);
        connection.health_partner->traffic.inbound_total++;
        connection.health_partner->traffic.inbound_open++;
    }
    if (open_count_ > settings_.connections_max) {
        reject_busy(connection, smtp::RefusalReason::too_many_connections,
                    "421 4.3.2 Too many connections, try again later\r\n");
        return;
    }
    if (connection.partner != nullptr && partner_connections_[connection.partner_destination] >
                                             settings_.connections_per_partner_max) {
        reject_busy(connection, smtp::RefusalReason::too_many_partner_connections,
                    "421 4.7.0 Too many connections from your organisation\r\n");
        return;
    }
    // The partner's TLS endpoint policy may let mail in without TLS (on port 25 only).
    const policy::InboundTlsPolicy* inbound = connection.policy.source_inbound_tls();
    if (inbound != nullptr && !inbound->require_tls && !implicit_tls) {
        smtp::ServerConfig relaxed = starttls_config_;
        relaxed.tls_required = false;
        connection.smtp.emplace(relaxed, connection.policy);
    } else {
        connection.smtp.emplace(implicit_tls ? implicit_tls_config_ : starttls_config_,
                                connection.policy);
    }
    if (connection.partner == nullptr) {
        constexpr std::string_view denied = "Access denied: address not in a partner connector";
        smtp::Refusal refusal;
        refusal.reason = smtp::RefusalReason::unknown_client;
        refusal.reply = fmt::format("554 5.7.1 {}", denied);  // On 465: not sent, closed.
        log_refusal(connection, refusal);
        if (implicit_tls) {
            begin_close(connection);  // No handshake work for a stranger on 465.
            return;
        }
        connection.smtp->start(true, denied);
    } else if (implicit_tls) {
        auto session = tls::Session::create_server(settings_.smtps_tls_context != nullptr
                                                       ? settings_.smtps_tls_context
                                                       : settings_.tls_context);
        if (!session) {
            base::log_error("TLS session for [{}]: {}", connection.peer_text,
                            session.error().message);
            begin_close(connection);
            return;
        }
        if (inbound != nullptr && !inbound->request_certificate) {
            (*session)->skip_client_certificate_request();
        }
        connection.tls = std::move(*session);
        connection.tls_state = Connection::Tls::handshaking;
        connection.deadline_ms = now_ms() + settings_.config->command_timeout_s * 1000ull;
    } else {
        connection.smtp->start(false);
    }
    base::log_debug("connect from [{}] partner={}", connection.peer_text,
                    connection.partner ? connection.partner->name : "none");
    pump(connection);
}

void Shard::reject_busy(Connection& connection, smtp::RefusalReason reason,
                        std::string_view reply) {
    smtp::Refusal refusal;
    refusal.reason = reason;
    refusal.reply.assign(reply.substr(0, reply.size() - 2));  // On 465: not sent, closed.
    log_refusal(connection, refusal);
    if (connection.implicit_tls || !connection.plain_out.append(reply)) {
        begin_close(connection);
        return;
    }
    connection.close_after_flush = true;
    flush(connection);
}

void Shard::arm_recv(Connection& connection) {
    HUB_ASSERT(!connection.recv_armed && connection.fd >= 0);
    queued_or_panic(
        ring_.recv_multishot(Tag{Op::recv, slot_index(connection), connection.generation},
                             connection.fd, recv_buffer_group));
    connection.recv_armed = true;
}

void Shard::on_recv(Connection& connection, int result, std::uint32_t flags) {
    if ((flags & IORING_CQE_F_MORE) == 0) {
        connection.recv_armed = false;
    }
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
        receive_buffers_touched_ = true;
        auto buffer_id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (result > 0 && connection.state == Connection::State::open) {
            std::span<const char> bytes(buffers_.buffers + buffer_id * buffers_.buffer_bytes,
                                        static_cast<std::size_t>(result));
            if (!connection.input.append(bytes)) {
                // Back-pressure came too late for the completions already queued.
                base::log_warn("input overflow from [{}]; closing", connection.peer_text);
                recycle_buffer(buffers_, buffer_id);
                begin_close(connection);
                return;
            }
        }
        recycle_buffer(buffers_, buffer_id);
    }
    if (connection.state != Connection::State::open) {
        return;
    }
    if (result == 0) {
        connection.peer_closed = true;
        base::log_debug("disconnect from [{}]", connection.peer_text);
        begin_close(connection);
        return;
    }
    if (result < 0) {
        if (result == -ENOBUFS) {
            // The shard's buffers are all in use: re-armed on the next pump.
            connection.recv_paused = true;
        } else if (result != -ECANCELED) {
            base::log_debug("recv from [{}]: {}", connection.peer_text, std::strerror(-result));
            begin_close(connection);
            return;
        }
    }
    pump(connection);
}

void Shard::on_send_done(Connection& connection, int result) {
    HUB_ASSERT(connection.send_in_flight);
    connection.send_in_flight = false;
    if (result < 0) {
        base::log_debug("send to [{}]: {}", connection.peer_text,
                        result == -ECANCELED ? "timed out" : std::strerror(-result));
        connection.sending.clear();
        connection.close_after_flush = true;
        connection.plain_out.clear();
        if (connection.tls) {
            connection.tls->ciphertext_out.clear();
        }
        finish_close(connection);
        return;
    }
    connection.sending_offset += static_cast<std::size_t>(result);
    HUB_ASSERT(connection.sending_offset <= connection.sending.size());
    if (connection.state == Connection::State::closing) {
        finish_close(connection);
        return;
    }
    flush(connection);
    if (connection.state == Connection::State::open) {
        pump(connection);
    }
}

void Shard::flush(Connection& connection) {
    if (connection.send_in_flight || connection.fd < 0) {
        return;
    }
    if (connection.sending_offset == connection.sending.size()) {
        connection.sending.clear();
        connection.sending_offset = 0;
        base::ByteQueue* ciphertext = connection.tls ? &connection.tls->ciphertext_out : nullptr;
        bool plain_waits = !connection.plain_out.empty();
        bool ciphertext_waits = ciphertext != nullptr && !ciphertext->empty();
        if (plain_waits != ciphertext_waits) {
            // The usual case, one queue: its buffer is sent as it is (no copy), and the
            // queue appends to the last send's buffer meanwhile.
            base::ByteQueue& queue = plain_waits ? connection.plain_out : *ciphertext;
            connection.sending_offset = queue.hand_over(connection.sending);
        } else if (plain_waits) {
            // Both (the 220 to STARTTLS and the first TLS record): cleartext first, copied.
            for (base::ByteQueue* queue : {&connection.plain_out, ciphertext}) {
                std::span<const char> bytes = queue->readable();
                connection.sending.insert(connection.sending.end(), bytes.begin(), bytes.end());
                queue->consume(bytes.size());
            }
        }
    }
    if (connection.sending.empty()) {
        if (connection.close_after_flush && connection.state == Connection::State::open) {
            begin_close(connection);
        }
        return;
    }
    std::uint32_t index = slot_index(connection);
    // The linked timeout: a peer that stops reading cannot hold the slot forever.
    queued_or_panic(ring_.send(
        Tag{Op::send, index, connection.generation}, connection.fd,
        std::span<const char>(connection.sending).subspan(connection.sending_offset),
        LinkedTimeout{Tag{Op::send_timeout, index, connection.generation}, &send_timeout_}));
    connection.send_in_flight = true;
}

void Shard::begin_close(Connection& connection) {
    if (connection.state != Connection::State::open) {
        return;
    }
    connection.state = Connection::State::closing;
    if (!connection.send_in_flight) {
        finish_close(connection);
    }
    // Otherwise the send completion finishes the close: its buffer must outlive it.
}

void Shard::finish_close(Connection& connection) {
    HUB_ASSERT(!connection.send_in_flight);
    std::uint32_t index = slot_index(connection);
    if (connection.fd >= 0) {
        // The armed multishot recv holds its own reference to the socket, so a close alone
        // would leave the connection open until the peer goes away. Shutting it down first
        // sends our FIN now and ends the recv; the linked close then releases the fd.
        queued_or_panic(ring_.shutdown_and_close(
            Tag{Op::close_socket, index, connection.generation}, connection.fd));
    }
    if (connection.partner != nullptr) {
        HUB_ASSERT(partner_connections_[connection.partner_destination] > 0);
        partner_connections_[connection.partner_destination]--;
    }
    HUB_ASSERT(open_count_ > 0);
    open_count_--;
    std::uint64_t health::Traffic::*open_gauge =
        connection.outbound ? &health::Traffic::outbound_open : &health::Traffic::inbound_open;
    HUB_ASSERT(health_.traffic().*open_gauge > 0);
    health_.traffic().*open_gauge -= 1;
    if (connection.health_partner != nullptr) {
        HUB_ASSERT(connection.health_partner->traffic.*open_gauge > 0);
        connection.health_partner->traffic.*open_gauge -= 1;
        connection.health_partner = nullptr;
    }
    closed_since_collect_++;
    connection.generation++;
    connection.state = Connection::State::free;
    connection.fd = -1;
    connection.partner = nullptr;
    connection.input.clear();
    connection.input.release_if_empty();
    connection.plain_out.clear();
    connection.plain_out.release_if_empty();
    connection.tls.reset();
    connection.tls_state = Connection::Tls::none;
    abandon_stream(connection);  // A message cut off mid-content: its slices are dead bytes.
    connection.smtp.reset();
    connection.client.reset();
    connection.policy.clear();
    bool was_outbound = connection.outbound;
    connection.outbound = false;
    if (was_outbound) {
        forget_idle_connection(connection);
        if (connection.counted_open) {
            scheduler_->connection_closed(connection.outbound_destination);
        }
    }
    std::uint32_t job_index = connection.job_index;
    connection.job_index = Connection::no_job;
    connection.outbound_destination = queue::no_destination;
    connection.counted_open = false;
    connection.recv_armed = false;
    connection.recv_paused = false;
    std::vector<char>().swap(connection.sending);
    connection.sending_offset = 0;
    connection.close_after_flush = false;
    connection.awaiting_commit = false;
    connection.peer_closed = false;
    connection.deadline_ms = 0;
    connection.timer_epoch_seen = 0;
    free_slots_.push_back(index);
    if (was_outbound && job_index != Connection::no_job) {
        DeliveryJob& job = jobs_[job_index];
        if (job.in_use && job.connection_slot == index) {
            // The peer went away (or the send failed) before the job ended.
            job.connection_slot = UINT32_MAX;
            fail_job(job_index, "the connection to the partner closed", false);
        }
    }
}

}  // namespace hub::engine
