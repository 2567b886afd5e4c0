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
#include "spool/limits.h"

namespace hub::engine {

namespace {

// A header value for a log field: folding undone, outer white space trimmed, control
// characters and commas (the field separator) replaced, and at most 200 bytes.
std::string log_field_text(std::string_view value) {
    constexpr std::size_t field_bytes_max = 200;
    std::string out;
    for (char c : value) {
        if (out.size() >= field_bytes_max) {
            break;
        }
        bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (space) {
            if (!out.empty() && out.back() != ' ') {
                out += ' ';
            }
            continue;
        }
        out += (c > ' ' && c != '\x7f' && c != ',') ? c : '?';
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

// The one place the TLS layer's verdict word becomes policy's typed verdict. "unverified"
// describes a server certificate (client side) and never reaches an inbound session.
policy::ClientCertificate client_certificate_of(const smtp::TlsFacts& tls) {
    policy::ClientCertificate certificate;
    if (tls.client_cert_verdict == "verified") {
        certificate.verdict = policy::CertificateVerdict::verified;
    } else if (tls.client_cert_verdict == "failed") {
        certificate.verdict = policy::CertificateVerdict::failed;
        certificate.chain_error = tls.client_cert_error;
    }
    certificate.cn = tls.client_cn;
    certificate.subject_dn = tls.client_subject;
    certificate.issuer_dn = tls.client_issuer;
    certificate.tls = true;
    certificate.cipher_bits = tls.bits;
    return certificate;
}

smtp::SenderVerdict sender_verdict_of(policy::SessionVerdict verdict) {
    switch (verdict) {
        case policy::SessionVerdict::accept:
            return smtp::SenderVerdict::accept;
        case policy::SessionVerdict::no_client_certificate:
            return smtp::SenderVerdict::no_client_certificate;
        case policy::SessionVerdict::certificate_chain:
            return smtp::SenderVerdict::certificate_chain;
        case policy::SessionVerdict::cn_mismatch:
            return smtp::SenderVerdict::cn_mismatch;
        case policy::SessionVerdict::sender_not_partner:
            return smtp::SenderVerdict::sender_not_partner;
        case policy::SessionVerdict::tls_required:
            return smtp::SenderVerdict::tls_required;
        case policy::SessionVerdict::cipher_too_weak:
            return smtp::SenderVerdict::cipher_too_weak;
        case policy::SessionVerdict::subject_mismatch:
            return smtp::SenderVerdict::subject_mismatch;
        case policy::SessionVerdict::issuer_mismatch:
            return smtp::SenderVerdict::issuer_mismatch;
    }
    HUB_PANIC("unknown session verdict");
}

}  // namespace

const policy::Partner* ConnectionPolicy::start(std::shared_ptr<const policy::PartnerTable> partners,
                                               const sockaddr_storage& peer) {
    HUB_ASSERT(partners != nullptr);
    partners_ = std::move(partners);
    source_ = peer;
    session_.emplace(*partners_);
    return session_->start(peer);
}

const policy::InboundTlsPolicy* ConnectionPolicy::source_inbound_tls() const {
    if (!session_ || session_->source_partner() == nullptr) {
        return nullptr;
    }
    std::string_view name;
    return &policy::inbound_tls_for(*session_->source_partner(), source_, name);
}

void ConnectionPolicy::clear() {
    session_.reset();
    partners_.reset();
}

void ConnectionPolicy::set_tls(const smtp::TlsFacts& tls) {
    HUB_ASSERT(session_.has_value());
    session_->set_certificate(client_certificate_of(tls));
}

// The session reports a refusal (one log line, smtp/refusal.h) with this detail.
smtp::SenderCheck ConnectionPolicy::check_sender(std::string_view address) {
    HUB_ASSERT(session_.has_value());
    policy::SessionPolicy::Identity identity;
    policy::SessionVerdict verdict = session_->check_sender(address, identity);
    smtp::SenderCheck check{sender_verdict_of(verdict),
                            identity.partner != nullptr ? identity.partner->name : "", ""};
    if (verdict == policy::SessionVerdict::certificate_chain) {
        check.detail = session_->certificate().chain_error;
    } else if (verdict == policy::SessionVerdict::cn_mismatch) {
        check.detail = fmt::format("certificate CN \"{}\"", session_->certificate().cn);
    } else if (verdict == policy::SessionVerdict::cipher_too_weak) {
        check.detail = fmt::format("TLS policy {}, {} bits", identity.tls_policy,
                                   session_->certificate().cipher_bits);
    } else if (verdict == policy::SessionVerdict::subject_mismatch) {
        check.detail = fmt::format("TLS policy {}, certificate subject \"{}\"", identity.tls_policy,
                                   session_->certificate().subject_dn);
    } else if (verdict == policy::SessionVerdict::issuer_mismatch) {
        check.detail = fmt::format("TLS policy {}, certificate issuer \"{}\"", identity.tls_policy,
                                   session_->certificate().issuer_dn);
    }
    return check;
}

// Who may send was settled at MAIL (check_sender); a recipient only needs a partner.
smtp::RcptVerdict ConnectionPolicy::check_recipient(std::string_view address) {
    HUB_ASSERT(partners_ != nullptr);
    policy::Route route;
    switch (partners_->classify_recipient(address, route)) {
        case policy::RecipientDecision::relay_denied:
            return smtp::RcptVerdict::relay_denied;
        case policy::RecipientDecision::unknown_partner:
            return smtp::RcptVerdict::unknown_partner;
        case policy::RecipientDecision::accept:
            return smtp::RcptVerdict::accept;
    }
    HUB_PANIC("unknown recipient decision");
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
        if (!connection.close_after_flush) {  // Bytes that follow the failure fail again.
            smtp::Refusal refusal;
            refusal.stage = smtp::RefusalStage::tls;
            refusal.reason = smtp::RefusalReason::tls_failed;
            refusal.reply = "454 4.7.0 TLS handshake failed";  // Not sent: docs/LOGGING.md.
            refusal.detail = progress.error().message;
            log_refusal(connection, refusal);
        }
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
    const smtp::TlsFacts& facts = *connection.smtp->tls();
    connection.policy.set_tls(facts);
    health_.count_tls(false, facts.version, facts.cipher);
    if (facts.client_cert_verdict == "verified" && connection.partner != nullptr) {
        health_.note_certificate(false, connection.partner->name, facts.client_subject,
                                 session.peer_not_after_unix_s());
    }
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
        stream_message_content(connection);
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

void Shard::log_refusal(const Connection& connection, const smtp::Refusal& refusal) {
    const policy::Partner* partner = connection.policy.identified_partner();
    if (partner == nullptr) {
        partner = connection.partner;
    }
    health::PartnerRow* row = partner != nullptr ? health_.partner(partner->name) : nullptr;
    std::uint64_t now = wall_ms();
    health_.count_refusal(refusal, row, now);
    if (refusal.reason == smtp::RefusalReason::tls_failed) {
        health_.count_tls_failure(false, refusal.detail, row, now);
    }
    base::log_info("{}", smtp::format_refusal(refusal, connection.peer_text,
                                              partner != nullptr ? partner->name : ""));
}

void Shard::log_session_refusals(Connection& connection) {
    std::vector<smtp::Refusal>& refusals = connection.smtp->refusals();
    for (const smtp::Refusal& refusal : refusals) {
        log_refusal(connection, refusal);
    }
    refusals.clear();
}

void Shard::handle_events(Connection& connection) {
    log_session_refusals(connection);
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
                const policy::InboundTlsPolicy* inbound = connection.policy.source_inbound_tls();
                if (inbound != nullptr && !inbound->request_certificate) {
                    (*session)->skip_client_certificate_request();
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

// The metadata and Received: header of the message the session is receiving.
spool::MessageMeta Shard::inbound_meta(const Connection& connection, const spool::QueueId& id,
                                       std::uint64_t arrival_unix_ms, std::string& received) const {
    const smtp::ServerSession& session = *connection.smtp;
    const smtp::Envelope& envelope = session.envelope();
    spool::MessageMeta meta;
    meta.id = id;
    meta.arrival_unix_s = arrival_unix_ms / 1000;
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
    received = smtp::format_received(facts);
    return meta;
}

void Shard::spool_message(Connection& connection) {
    const smtp::ServerSession& session = *connection.smtp;
    if (connection.stream &&
        connection.stream->transaction_serial != session.transaction_serial()) {
        abandon_stream(connection);  // An earlier message's, refused in this same feed.
    }
    if (scheduler_->room() <= committing_.size()) {
        // This shard's queue has no room for one more message once the commits in flight
        // are queued: answer 452 4.3.1 now rather than 250 for a message the scheduler would
        // refuse, stranded in the spool until a restart. The outcome goes the usual way.
        abandon_stream(connection);
        connection.awaiting_commit = true;
        spool_->finished().push_back(commit_outcome(
            CommitWaiter{slot_index(connection), connection.generation, false, false},
            CommitStatus::no_space, spool::QueueId{}));
        base::log_warn("message refused with 452: the shard's queue is full ({} messages)",
                       scheduler_->message_count());
        return;
    }
    const smtp::Envelope& envelope = session.envelope();
    std::optional<InboundStream> stream;
    stream.swap(connection.stream);
    std::uint64_t arrival_ms = stream ? stream->arrival_unix_ms : wall_ms();
    std::string received;
    spool::MessageMeta meta =
        inbound_meta(connection, stream ? stream->id : spool_->next_id(), arrival_ms, received);
    std::string id_text = meta.id.to_string();
    StoredMessage stored;
    stored.meta = meta;
    stored.segment_shard = settings_.index;
    stored.arrival_ms = arrival_ms;
    std::string message_id;
    if (stream) {
        // The header block left with slice 0; what it said was read then.
        stored.content_bytes =
            stream->received_bytes + session.body_bytes_taken() + session.body().size();
        stored.loop = stream->loop;
        message_id = std::move(stream->message_id);
    } else {
        stored.content_bytes = received.size() + session.body().size();
        // DESIGN.md 3 "Loops": our own Received: is the +1.
        stored.loop = dsn::count_received_headers(session.body()) + 1 > dsn::received_count_max;
        // docs/LOGGING.md: the accepted line. The Message-ID comes from one bounded scan of
        // the header section (as the Received: count above); absent, the field is left out.
        if (auto value = dsn::header_value(session.body(), "Message-ID")) {
            message_id = log_field_text(*value);
        }
    }
    std::uint64_t content_bytes = stored.content_bytes;
    committing_.emplace(queue_key(meta.id), std::move(stored));
    connection.awaiting_commit = true;
    CommitWaiter waiter{slot_index(connection), connection.generation, false};
    if (stream) {
        // The rest after the slices handed over so far, and the commit; durable (and the
        // 250 sent) once the writer's sync covers the commit.
        spool_->commit_stream(meta, connection.smtp->take_body(), waiter);
    } else {
        // The body moves to the writer: a large one is written from this very buffer.
        spool_->append(meta, received, connection.smtp->take_body(), waiter);
    }
    base::log_info(
        "{}: client=[{}], partner={}, tls={} {}, cert={}, {}{}{}from=<{}>, nrcpt={}, "
        "size={}",
        id_text, connection.peer_text, meta.partner, meta.tls.version, meta.tls.cipher,
        meta.tls.client_cert_verdict, message_id.empty() ? "" : "message-id=", message_id,
        message_id.empty() ? "" : ", ", envelope.mail_from, envelope.recipients.size(),
        content_bytes);
}

// spool.stream_bodies: hands the content the session has received to the spool writer a
// slice at a time (docs/ARCHITECTURE.md, "Streamed messages"). A message begins streaming
// only once its first slice is full, so a message of one slice stays one record; and only
// if the writer can take one more stream in its segment, else it is spooled whole at its
// end, as without streaming.
void Shard::stream_message_content(Connection& connection) {
    if (!settings_.config->stream_bodies || connection.state != Connection::State::open ||
        !connection.smtp) {
        return;
    }
    smtp::ServerSession& session = *connection.smtp;
    if (connection.stream && (session.closed() || connection.stream->transaction_serial !=
                                                      session.transaction_serial())) {
        abandon_stream(connection);  // Refused (552), reset, or the session closed.
    }
    if (connection.awaiting_commit) {
        return;  // The message ended: spool_message committed it (or spooled it whole).
    }
    constexpr std::size_t slice_bytes = spool::slice_content_bytes_max;
    if (!connection.stream) {
        if (session.streamable_body_bytes() < slice_bytes || !spool_->can_begin_stream()) {
            return;
        }
        begin_stream(connection);
    }
    const spool::QueueId id = connection.stream->id;
    while (!spool_->stream_holds_slice(id) && session.streamable_body_bytes() >= slice_bytes) {
        spool_->append_slice(id, session.take_body_piece(slice_bytes, slice_bytes));
    }
    if (stream_waits_for_writer(connection) && !connection.stream->waits_for_writer) {
        // The session holds a full slice and the writer the previous one: recv pauses
        // (update_back_pressure) until that slice lands. What the ring already received
        // is still read, so the session holds at most a slice and those few buffers.
        connection.stream->waits_for_writer = true;
        streams_waiting_.emplace_back(slot_index(connection), connection.generation);
    }
}

// Takes the stream's id and writes slice 0: our Received: header, then the content from
// its first byte (the header block, read here for what the log and loop check need).
void Shard::begin_stream(Connection& connection) {
    smtp::ServerSession& session = *connection.smtp;
    InboundStream stream;
    stream.id = spool_->begin_stream();
    stream.transaction_serial = session.transaction_serial();
    stream.arrival_unix_ms = wall_ms();
    std::string received;
    inbound_meta(connection, stream.id, stream.arrival_unix_ms, received);
    HUB_ASSERT(received.size() < spool::slice_content_bytes_max / 2);  // A few hundred bytes.
    stream.received_bytes = received.size();
    // DESIGN.md 3 "Loops": our own Received: is the +1.
    stream.loop = dsn::count_received_headers(session.body()) + 1 > dsn::received_count_max;
    if (auto value = dsn::header_value(session.body(), "Message-ID")) {
        stream.message_id = log_field_text(*value);
    }
    std::string piece = session.take_body_piece(spool::slice_content_bytes_max - received.size(),
                                                spool::slice_content_bytes_max);
    // The one copy of the streamed path: Received: and the first piece made one slice.
    std::string first_slice;
    first_slice.reserve(received.size() + piece.size());
    first_slice.append(received);
    first_slice.append(piece);
    spool_->append_slice(stream.id, std::move(first_slice));
    connection.stream = std::move(stream);
}

void Shard::abandon_stream(Connection& connection) {
    if (!connection.stream) {
        return;
    }
    spool_->abandon_stream(connection.stream->id);  // Its slices are dead bytes.
    connection.stream.reset();
}

bool Shard::stream_waits_for_writer(const Connection& connection) const {
    return connection.stream && connection.smtp &&
           connection.smtp->streamable_body_bytes() >= spool::slice_content_bytes_max &&
           spool_->stream_holds_slice(connection.stream->id);
}

// Pumps the parked streams whose slice the writer has landed (or dropped).
void Shard::resume_streams() {
    if (streams_waiting_.empty()) {
        return;
    }
    std::vector<std::pair<std::uint32_t, std::uint32_t>> waiting;
    waiting.swap(streams_waiting_);
    for (const auto& [index, generation] : waiting) {
        Connection& connection = *slots_[index];
        if (connection.generation != generation || !connection.stream ||
            !connection.stream->waits_for_writer) {
            continue;  // Closed, or the stream ended.
        }
        if (stream_waits_for_writer(connection)) {
            streams_waiting_.emplace_back(index, generation);
            continue;
        }
        connection.stream->waits_for_writer = false;
        pump(connection);
    }
}

void Shard::deliver_commit_outcomes() {
    std::vector<CommitOutcome>& finished = spool_->finished();
    for (CommitOutcome& outcome : finished) {
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
                // A streamed message's location is its commit and its content is in the
                // slice records the outcome names (pinned with it): delivery reads them
                // back one at a time, as it does a recovered one's.
                HUB_ASSERT(outcome.streamed != outcome.slices.empty());
                node.mapped().location = outcome.location;
                node.mapped().slices = std::move(outcome.slices);
                count_received(node.mapped());
                if (node.mapped().streamed()) {
                    base::log_info("{}: a streamed message (spool format 3) of {} slices",
                                   outcome.id.to_string(), node.mapped().slices.size());
                }
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

// A message is received once it is durable (its 250 follows, or the client already left
// and may send it again: it still counts, as it is in the queue).
void Shard::count_received(const StoredMessage& stored) {
    std::uint64_t recipients = stored.meta.envelope.recipients.size();
    auto count = [&](health::Traffic& traffic) {
        traffic.messages_received++;
        traffic.recipients_received += recipients;
        traffic.bytes_received += stored.content_bytes;
    };
    count(health_.traffic());
    if (health::PartnerRow* row = health_.partner(stored.meta.partner); row != nullptr) {
        count(row->traffic);
        row->last_inbound_unix_ms = stored.arrival_ms;
    }
}

void Shard::update_back_pressure(Connection& connection) {
    if (connection.state != Connection::State::open) {
        return;
    }
    bool starved = connection.input.space_bytes() < input_pause_space_bytes ||
                   (connection.stream && connection.stream->waits_for_writer);
    if (starved && connection.recv_armed && !connection.recv_paused) {
        std::uint32_t index = slot_index(connection);
        queued_or_panic(ring_.cancel(Tag{Op::cancel_recv, index, connection.generation},
                                     Tag{Op::recv, index, connection.generation}));
        connection.recv_paused = true;
        return;
    }
    if (!starved && !connection.recv_armed && !connection.peer_closed) {
        connection.recv_paused = false;
        arm_recv(connection);
    }
}

}  // namespace hub::engine
