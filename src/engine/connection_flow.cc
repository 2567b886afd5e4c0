// connection_flow.cc -- moving one connection's bytes through TLS and the SMTP session.
//
// PURPOSE   The pump: raw input -> (TLS) -> SMTP session -> replies -> (TLS) -> send, and
//           the session's events (STARTTLS, a message to spool, close). Budgets keep one
//           busy connection from starving the others on the shard.
// RUNS IN   a shard thread.
// TRUST     peer bytes; only the state machines interpret them.
// LIMITS    smtp::commands_per_feed_max per pump, input_pending_bytes buffered raw input.
// SEE ALSO  shard.cc, smtp/server_session.h, tls/tls_session.h
#include <ctime>

#include "base/log.h"
#include "dsn/headers.h"
#include "engine/shard.h"
#include "smtp/received.h"

namespace hub::engine {

const policy::Partner* ConnectionPolicy::identified_partner() const {
    if (tls_ != nullptr && tls_->client_cert_verdict == "verified") {
        if (const policy::Partner* by_cn = partners_.match_client_cn(tls_->client_cn)) {
            return by_cn;
        }
    }
    return source_partner_;
}

smtp::RcptVerdict ConnectionPolicy::check_recipient(std::string_view address) {
    policy::Route route;
    switch (partners_.classify_recipient(address, route)) {
        case policy::RecipientDecision::relay_denied:
            return smtp::RcptVerdict::relay_denied;
        case policy::RecipientDecision::unknown_partner:
            return smtp::RcptVerdict::unknown_partner;
        case policy::RecipientDecision::accept:
            break;
    }
    const policy::Partner* sender = identified_partner();
    if (sender == nullptr) {
        return smtp::RcptVerdict::relay_denied;  // Unreachable: strangers get 554 at connect.
    }
    bool verified = tls_ != nullptr && tls_->client_cert_verdict == "verified";
    if (sender->require_client_certificate && !verified) {
        return smtp::RcptVerdict::tls_required;
    }
    if (!sender->client_cn.empty() && verified && tls_->client_cn != sender->client_cn) {
        return smtp::RcptVerdict::tls_required;
    }
    return smtp::RcptVerdict::accept;
}

void Shard::pump(Connection& connection) {
    if (connection.state != Connection::State::open) {
        return;
    }
    if (connection.outbound) {
        pump_outbound(connection);
        return;
    }
    bool more_work = false;
    if (connection.tls_state != Connection::Tls::none) {
        if (!advance_tls(connection)) {
            return;  // Closed.
        }
    }
    if (connection.tls_state == Connection::Tls::active && connection.tls->output_blocked()) {
        // wolfSSL held back an answer (a KeyUpdate) when the outbox was full.
        if (!connection.tls->flush()) {
            begin_close(connection);
            return;
        }
    }
    if (connection.smtp && connection.tls_state != Connection::Tls::handshaking) {
        take_replies(connection);  // Replies that did not fit before the last send.
        more_work = feed_session(connection);
    }
    if (connection.state != Connection::State::open) {
        return;
    }
    flush(connection);
    update_back_pressure(connection);
    if (connection.smtp && connection.smtp->timer_epoch() != connection.timer_epoch_seen) {
        connection.timer_epoch_seen = connection.smtp->timer_epoch();
        connection.deadline_ms = now_ms() + connection.smtp->deadline_ms();
    }
    if (more_work && !connection.runnable) {
        connection.runnable = true;
        runnable_.push_back(slot_index(connection));
    }
}

// Moves ciphertext into the TLS session and runs the handshake; false if it closed.
bool Shard::advance_tls(Connection& connection) {
    tls::Session& session = *connection.tls;
    move_input_to_tls(connection);
    if (connection.tls_state != Connection::Tls::handshaking) {
        return true;
    }
    auto progress = session.handshake();
    if (!progress) {
        base::log_info("TLS handshake from [{}] failed: {}", connection.peer_text,
                       progress.error().message);
        flush(connection);  // The alert, if any.
        connection.close_after_flush = true;
        if (!connection.send_in_flight && connection.sending.empty()) {
            begin_close(connection);
        }
        return false;
    }
    if (*progress != tls::Progress::done) {
        flush(connection);
        return connection.state == Connection::State::open;
    }
    connection.tls_state = Connection::Tls::active;
    // On the implicit-TLS port the session has not greeted yet: it learns the TLS facts
    // first, then sends its 220 inside TLS.
    connection.smtp->tls_started(session.facts());
    if (connection.implicit_tls) {
        connection.smtp->start(false);
    }
    connection.policy.set_tls(&*connection.smtp->tls());
    const smtp::TlsFacts& facts = *connection.smtp->tls();
    base::log_debug("TLS from [{}]: {} {} cert={} cn={}", connection.peer_text, facts.version,
                    facts.cipher, facts.client_cert_verdict, facts.client_cn);
    return true;
}

void Shard::move_input_to_tls(Connection& connection) {
    base::ByteQueue& ciphertext_in = connection.tls->ciphertext_in;
    std::size_t movable = std::min(connection.input.size_bytes(), ciphertext_in.space_bytes());
    if (movable > 0) {
        bool moved = ciphertext_in.append(connection.input.readable().first(movable));
        HUB_ASSERT(moved);  // Sized to the space just measured.
        connection.input.consume(movable);
    }
}

// Runs the SMTP session over the available plaintext; true if it should run again after
// other connections had their turn (its command budget ran out, or it was still making
// progress when the rounds ran out).
bool Shard::feed_session(Connection& connection) {
    smtp::ServerSession& session = *connection.smtp;
    for (unsigned round = 0; round < feed_rounds_max; round++) {
        if (connection.state != Connection::State::open || connection.awaiting_commit ||
            connection.tls_state == Connection::Tls::handshaking) {
            return false;  // Closed, waiting for the spool, or STARTTLS just began.
        }
        std::size_t space = session.inbox_space_bytes();
        std::size_t fed = 0;
        bool more = false;
        if (connection.tls_state == Connection::Tls::active) {
            move_input_to_tls(connection);
            std::size_t want = std::min(space, plaintext_scratch_.size());
            if (want > 0) {
                auto got = connection.tls->read(std::span(plaintext_scratch_.data(), want));
                if (!got) {
                    base::log_debug("TLS read from [{}]: {}", connection.peer_text,
                                    got.error().message);
                    connection.close_after_flush = true;
                    return false;
                }
                fed = *got;
            }
            more = session.feed(std::span<const char>(plaintext_scratch_.data(), fed));
        } else {
            fed = std::min(space, connection.input.size_bytes());
            more = session.feed(connection.input.readable().first(fed));
            connection.input.consume(fed);
        }
        take_replies(connection);
        handle_events(connection);
        if (more) {
            return true;  // Budget spent: other connections first.
        }
        if (fed == 0) {
            return false;  // Nothing more to read until the next completion.
        }
    }
    return true;
}

void Shard::take_replies(Connection& connection) {
    std::string& replies = connection.smtp->replies();
    if (replies.empty()) {
        return;
    }
    if (connection.tls_state == Connection::Tls::active) {
        std::size_t offset = 0;
        while (offset < replies.size()) {
            // writable_bytes() keeps room for a whole record, so wolfSSL never meets a
            // full outbox half way through one.
            std::size_t chunk = std::min(connection.tls->writable_bytes(), replies.size() - offset);
            if (chunk == 0) {
                break;  // The rest goes after the next send completes.
            }
            auto written = connection.tls->write(std::span(replies.data() + offset, chunk));
            if (!written) {
                base::log_debug("TLS write to [{}]: {}", connection.peer_text,
                                written.error().message);
                connection.close_after_flush = true;
                break;
            }
            offset += chunk;
        }
        replies.erase(0, offset);
        return;
    }
    if (connection.plain_out.append(std::string_view(replies))) {
        replies.clear();
    }
}

void Shard::handle_events(Connection& connection) {
    for (smtp::Event event = connection.smtp->next_event(); event != smtp::Event::none;
         event = connection.smtp->next_event()) {
        switch (event) {
            case smtp::Event::start_tls: {
                // RFC 3207 and CVE-2011-0411: whatever followed STARTTLS in the same
                // packet is discarded; the session dropped its own copy already.
                connection.input.clear();
                auto session = tls::Session::create_server(settings_.tls_context);
                if (!session) {
                    base::log_error("TLS session for [{}]: {}", connection.peer_text,
                                    session.error().message);
                    connection.close_after_flush = true;
                    break;
                }
                connection.tls = std::move(*session);
                connection.tls_state = Connection::Tls::handshaking;
                connection.deadline_ms = now_ms() + settings_.config->command_timeout_s * 1000ull;
                break;
            }
            case smtp::Event::message_ready:
                spool_message(connection);
                break;
            case smtp::Event::close:
                connection.close_after_flush = true;
                break;
            case smtp::Event::none:
                break;
        }
    }
}

void Shard::spool_message(Connection& connection) {
    if (scheduler_->room() <= committing_.size()) {
        // This shard's queue has no room for one more message once the commits in flight
        // are queued: answer 452 4.3.1 now rather than 250 for a message the scheduler would
        // refuse, stranded in the spool until a restart. The outcome goes the usual way.
        connection.awaiting_commit = true;
        spool_->finished().push_back(
            CommitOutcome{CommitWaiter{slot_index(connection), connection.generation, false, false},
                          CommitStatus::no_space, spool::QueueId{}, RecordLocation{}});
        base::log_warn("message refused with 452: the shard's queue is full ({} messages)",
                       scheduler_->message_count());
        return;
    }
    const smtp::ServerSession& session = *connection.smtp;
    const smtp::Envelope& envelope = session.envelope();
    spool::MessageMeta meta;
    meta.id = spool_->next_id();
    meta.arrival_unix_s = static_cast<std::uint64_t>(std::time(nullptr));
    meta.client_address = connection.peer_text;
    const policy::Partner* partner = connection.policy.identified_partner();
    meta.partner = partner != nullptr ? partner->name : "";
    meta.envelope = envelope;
    if (session.tls()) {
        meta.tls = *session.tls();
    }
    std::string id_text = meta.id.to_string();
    smtp::ReceivedFacts facts;
    facts.helo = envelope.helo;
    facts.client_address = connection.peer_text;
    facts.by_host = settings_.config->hostname;
    facts.esmtp = envelope.esmtp;
    facts.tls = session.tls() ? &*session.tls() : nullptr;
    facts.queue_id = id_text;
    if (envelope.recipients.size() == 1) {
        facts.for_address = envelope.recipients[0].address;
    }
    facts.unix_time_s = static_cast<std::int64_t>(meta.arrival_unix_s);
    std::string received = smtp::format_received(facts);
    connection.awaiting_commit = true;
    spool_->append(meta, received, session.body(),
                   CommitWaiter{slot_index(connection), connection.generation, false});
    StoredMessage stored;
    stored.meta = meta;
    stored.segment_shard = settings_.index;
    // DESIGN.md 3 "Loops": our own Received: is the +1.
    stored.loop = dsn::count_received_headers(session.body()) + 1 > dsn::received_count_max;
    committing_.emplace(queue_key(meta.id), std::move(stored));
    base::log_info(
        "{}: client=[{}], partner={}, tls={} {}, cert={}, from=<{}>, nrcpt={}, "
        "size={}",
        id_text, connection.peer_text, meta.partner, meta.tls.version, meta.tls.cipher,
        meta.tls.client_cert_verdict, envelope.mail_from, envelope.recipients.size(),
        received.size() + session.body().size());
}

void Shard::deliver_commit_outcomes() {
    std::vector<CommitOutcome>& finished = spool_->finished();
    for (const CommitOutcome& outcome : finished) {
        if (outcome.waiter.generated) {
            on_generated_durable(outcome);
            continue;
        }
        if (outcome.waiter.admin) {
            on_admin_durable(outcome);
            continue;
        }
        if (auto node = committing_.extract(queue_key(outcome.id)); !node.empty()) {
            if (outcome.status == CommitStatus::durable) {
                node.mapped().location = outcome.location;
                queue_message(std::move(node.mapped()), queue::Origin::received);
            }
        }
        HUB_ASSERT(outcome.waiter.slot_index < slots_.size());
        Connection& connection = *slots_[outcome.waiter.slot_index];
        std::string id_text = outcome.id.to_string();
        if (outcome.status != CommitStatus::durable) {
            base::log_warn("{}: not queued: spool {}", id_text,
                           outcome.status == CommitStatus::no_space ? "full" : "write failed");
        }
        if (connection.generation != outcome.waiter.generation ||
            connection.state != Connection::State::open) {
            // The client left before the sync: durable anyway, it may send it again.
            continue;
        }
        HUB_ASSERT(connection.awaiting_commit);
        connection.awaiting_commit = false;
        smtp::CommitResult result;
        switch (outcome.status) {
            case CommitStatus::durable:
                result.status = smtp::CommitResult::Status::durable;
                result.queue_id = id_text;
                break;
            case CommitStatus::failed:
                result.status = smtp::CommitResult::Status::failed;
                break;
            case CommitStatus::no_space:
                result.status = smtp::CommitResult::Status::no_space;
                break;
        }
        connection.smtp->commit_done(result);
        pump(connection);
    }
    finished.clear();
}

void Shard::update_back_pressure(Connection& connection) {
    if (connection.state != Connection::State::open) {
        return;
    }
    bool starved = connection.input.space_bytes() < input_pause_space_bytes;
    if (starved && connection.recv_armed && !connection.recv_paused) {
        std::uint32_t index = slot_index(connection);
        io_uring_sqe* cancel = ring_.sqe(Tag{Op::cancel_recv, index, connection.generation});
        io_uring_prep_cancel64(cancel, Tag{Op::recv, index, connection.generation}.pack(), 0);
        connection.recv_paused = true;
        return;
    }
    if (!starved && !connection.recv_armed && !connection.peer_closed) {
        connection.recv_paused = false;
        arm_recv(connection);
    }
}

}  // namespace hub::engine
