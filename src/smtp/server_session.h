// server_session.h -- the inbound SMTP server as a sans-I/O state machine.
//
// The engine feeds plaintext bytes in (after TLS decryption) and drains replies and events
// out; the session never touches a socket, a clock or the disk. One session lives for one
// TCP connection. RFC 5321, RFC 3207 (STARTTLS), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
// RFC 2920 (PIPELINING), RFC 3030 (CHUNKING/BDAT), RFC 3461 (DSN), RFC 2034 (enhanced codes).
//
// Contract with the engine:
//   1. construct, then start(); drain replies() and events.
//   2. feed(bytes) whenever plaintext arrives (bytes.size() <= inbox_space_bytes());
//      then drain: take_replies() gives the bytes to send, next_event() the actions.
//   3. Event::start_tls: send the pending replies (the 220), then run the TLS handshake;
//      the session has already discarded any bytes that followed STARTTLS. Call
//      tls_started() when the handshake completes.
//   4. Event::message_ready: envelope() and body() hold the message; the session answers
//      no further command until commit_done() says whether the spool made it durable.
//      commit_done() then runs the commands the client pipelined meanwhile (with the same
//      budget as feed()); if input_pending() is still true afterwards, call feed({}).
//   5. Event::close: send the pending replies, then close the connection.
//   6. If the engine's deadline (see timer_epoch()) passes, call on_timeout().
//   7. After each of the calls above, take refusals(): one Refusal per reply that turned
//      something away (smtp/refusal.h); the engine logs each as one line and clears them.
//   Implicit TLS (smtps): run the handshake first, call tls_started() and then start().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/byte_queue.h"
#include "smtp/command.h"
#include "smtp/envelope.h"
#include "smtp/limits.h"
#include "smtp/refusal.h"

namespace hub::smtp {

struct ServerConfig {
    std::string hostname;  // Greeting, EHLO reply and Received: "by".
    std::uint64_t message_bytes_max = message_bytes_default;  // Advertised as SIZE.
    std::uint32_t recipients_count_max = recipients_count_default;
    std::uint32_t errors_count_max = errors_count_default;  // Then 421 and close.
    bool starttls_offered = true;  // False on the implicit-TLS listener and after TLS.
    bool tls_required = true;      // 530 5.7.0 for mail commands before TLS.
    std::uint32_t command_timeout_ms = command_timeout_ms_default;  // Waiting for a command.
    std::uint32_t data_timeout_ms = data_timeout_ms_default;        // Inside DATA/BDAT content.
};

// What the policy says of one RCPT TO address (already stripped of <> and parameters).
enum class RcptVerdict {
    accept,
    relay_denied,     // 550 5.7.1: not in the hub domain; the hub is never an open relay.
    unknown_partner,  // 550 5.1.2: in the hub domain, but no partner owns that domain.
    tls_required,     // 530 5.7.0: the partner's policy needs TLS or a valid client cert.
};

// What the policy says of MAIL FROM: may the connecting partner send this transaction?
// Refused here, before any recipient, nothing of the message is accepted.
enum class SenderVerdict {
    accept,
    no_client_certificate,  // 530 5.7.0: the partner's policy requires a client certificate.
    certificate_chain,      // 530 5.7.0: one was presented, but it does not chain to the CA.
    cn_mismatch,            // 550 5.7.1: the certificate names no partner allowed here.
    sender_not_partner,     // 550 5.7.1: the sender is not at one of the partner's domains.
    // The partner's TLS endpoint policy:
    tls_required,      // 530 5.7.0: no TLS (the session normally refuses MAIL before this).
    cipher_too_weak,   // 550 5.7.0: fewer key bits than the policy's minimum.
    subject_mismatch,  // 550 5.7.1: the certificate's subject DN is not the policy's.
    issuer_mismatch,   // 550 5.7.1: the certificate's issuer DN is not the policy's.
};

struct SenderCheck {
    SenderVerdict verdict = SenderVerdict::accept;
    std::string partner;  // The connecting partner's name, which the reply names.
    std::string detail;   // For the log: the chain error, or the certificate's CN.
};

// The reply line (no CRLF) for a refused MAIL FROM, e.g. "530 5.7.0 Client certificate
// required by the policy of partner partner1"; mail_from is echoed only for
// sender_not_partner (it has passed the mailbox syntax check by then). The session reports
// the refusal (refusals()) with the same text. Precondition: check.verdict is not accept.
std::string sender_refusal_reply(const SenderCheck& check, std::string_view mail_from);

// The engine's policy hooks; called synchronously from feed().
class ServerPolicy {
public:
    virtual ~ServerPolicy() = default;
    // MAIL FROM, after its syntax and parameters passed (address without <>, empty for the
    // null sender). The default accepts: a policy without partner identity.
    virtual SenderCheck check_sender(std::string_view address) {
        (void)address;
        return SenderCheck{};
    }
    virtual RcptVerdict check_recipient(std::string_view address) = 0;
    // False when the spool is below its free-space reserve: MAIL gets 452 4.3.1.
    virtual bool spool_has_space() = 0;
};

enum class Event {
    none,
    start_tls,      // Flush replies, then start the TLS handshake.
    message_ready,  // envelope() and body() are complete; spool them, then commit_done().
    close,          // Flush replies, then close.
};

// How a spool commit ended; the session turns it into the final reply to DATA/BDAT LAST.
struct CommitResult {
    enum class Status { durable, failed, no_space };
    Status status = Status::failed;
    std::string queue_id;  // Set when durable: "250 2.0.0 Ok: queued as <id>".
};

class ServerSession {
public:
    // Copies config (a reload does not change a live session); policy must outlive it.
    ServerSession(const ServerConfig& config, ServerPolicy& policy);

    // Emits the greeting; reject=true emits "554 5.7.1" and Event::close instead
    // (used when the peer's address is outside every partner's connector).
    void start(bool reject, std::string_view reject_text = {});

    // Room in the session's inbox; the engine never feeds more than this.
    std::size_t inbox_space_bytes() const;
    // Appends plaintext and runs at most commands_per_feed_max commands; leftover bytes
    // stay in the inbox. Returns true if commands remain unprocessed (call feed({}) again
    // after yielding to other connections). Precondition: start() was called. Bytes fed
    // after Event::close, or between Event::start_tls and tls_started(), are discarded.
    bool feed(std::span<const char> plaintext_in);

    // Replies produced so far, in order, as wire bytes; the caller clears them.
    std::string& replies() { return replies_; }
    // The refusals among those replies, in order (at most refusals_count_max between two
    // clears; more are counted in refusals_dropped()); the caller clears them.
    std::vector<Refusal>& refusals() { return refusals_; }
    std::uint64_t refusals_dropped() const { return refusals_dropped_; }
    // Next action, or Event::none when there is nothing more to do until more input.
    Event next_event();

    const Envelope& envelope() const { return envelope_; }
    // The message content as received: dot-unstuffed, CRLF line endings, without the
    // terminating ".\r\n" (DATA), or the BDAT chunks joined, with a CRLF added when the
    // last line has none. The engine prepends the Received: header when spooling. Valid
    // from Event::message_ready until commit_done().
    std::string_view body() const { return body_; }
    // Moves the content out (the spool writer owns it until it is durable, so that it is
    // written from this buffer rather than copied); body() is empty afterwards. Only between
    // Event::message_ready and commit_done().
    std::string take_body();

    // Streaming (docs/ARCHITECTURE.md, "Streamed messages"): while the content arrives, the
    // engine may take it in pieces instead of whole at Event::message_ready. Nothing is
    // offered until the header block has ended (the empty line, or content without header
    // fields), so that the engine can read the Message-ID and count Received: fields in
    // body() before it takes the first piece; nothing either once the message is sure to
    // be refused (over the size or the header block limit). Taking pieces changes no reply:
    // the limits count every byte received, taken or not.
    // The bytes take_body_piece() may take now (0: none yet).
    std::size_t streamable_body_bytes() const;
    // Moves the first `bytes` of the content not yet taken out (precondition: bytes <=
    // streamable_body_bytes()); the rest stays in body(). The piece is the buffer the bytes
    // were received into when it is taken whole; otherwise the few bytes after it move to a
    // fresh buffer reserved for `next_piece_bytes`, so the next piece fills it in place.
    std::string take_body_piece(std::size_t bytes, std::size_t next_piece_bytes);
    // Content bytes taken by take_body_piece() in this transaction.
    std::uint64_t body_bytes_taken() const { return body_bytes_taken_; }
    // Changes whenever a transaction ends (a message committed or refused, RSET, a new
    // MAIL, STARTTLS): pieces taken under an older value belong to a message that is gone.
    std::uint64_t transaction_serial() const { return transaction_serial_; }

    // The spool's verdict on the message of the last Event::message_ready: sends the final
    // reply (250 / 451 4.3.0 / 452 4.3.1), ends the transaction and runs pipelined input
    // (see step 4). Ignored after close.
    void commit_done(const CommitResult& result);
    // The handshake finished; RFC 3207 4.2: forget everything learned before it (EHLO,
    // transaction, buffered bytes). Called once per session, after Event::start_tls, or
    // before start() on the implicit-TLS listener.
    void tls_started(const TlsFacts& tls);
    // The deadline passed: 421 4.4.2 and Event::close.
    void on_timeout();

    // Bumped whenever the engine must re-arm the deadline (a whole line or chunk arrived,
    // or the state changed); deadline_ms() says how far ahead.
    std::uint64_t timer_epoch() const { return timer_epoch_; }
    std::uint32_t deadline_ms() const;

    // Frees buffers that hold nothing (the inbox, and a body buffer grown by an earlier
    // large message), so that an idle session costs little memory; they are allocated
    // again on demand.
    void release_idle_buffers();

    bool closed() const;
    // True when the inbox holds bytes the session would make progress on now (a whole
    // command line, or message content); a partial command line does not count.
    bool input_pending() const;
    // Plaintext bytes thrown away after STARTTLS (pipelined past it, or fed during the
    // handshake); nonzero is worth a log line: it is the CVE-2011-0411 injection pattern.
    std::uint64_t discarded_after_starttls_bytes() const { return discarded_after_starttls_; }
    bool tls_active() const { return tls_.has_value(); }
    const std::optional<TlsFacts>& tls() const { return tls_; }
    std::string_view helo() const { return envelope_.helo; }

private:
    enum class Phase {
        not_started,      // Before start().
        commands,         // Reading command lines.
        data_content,     // After 354, until CRLF.CRLF.
        bdat_content,     // Reading the octets of an accepted BDAT chunk.
        bdat_discard,     // Reading the octets of a rejected BDAT chunk, then its reply.
        tls_handshake,    // After 220 to STARTTLS, until tls_started().
        awaiting_commit,  // Event::message_ready is out, until commit_done().
        closed,
    };
    // Where the content scanner stands within the current text line (DATA and BDAT).
    enum class LineState {
        start,      // At the first byte of a line.
        after_dot,  // DATA only: the line began with a dot, which was dropped.
        middle,     // Inside a line.
        after_cr,   // Saw CR; only LF may follow.
        dot_cr,     // DATA only: saw "." CR at the start of a line; LF ends the data.
    };
    enum class ScanEnd { need_more, end_of_data, bare_line_ending };
    struct Scan {
        std::size_t used = 0;  // Bytes of the input the scanner consumed.
        ScanEnd end = ScanEnd::need_more;
    };

    bool run(std::uint32_t budget);
    bool step_command();
    bool step_discard_line();
    bool step_data();
    bool step_bdat();
    void run_command(std::string_view line);
    void dispatch(Verb verb, std::string_view args);
    void on_ehlo(std::string_view args, bool esmtp);
    void on_mail(std::string_view args);
    bool mail_params(std::string_view text);
    void on_rcpt(std::string_view args);
    bool rcpt_params(std::string_view text, Recipient& recipient);
    void on_data(std::string_view args);
    void on_bdat(std::string_view args);
    void bdat_reject(std::uint64_t chunk_bytes, std::string_view reply_line);
    void on_starttls(std::string_view args);
    Scan scan_content(std::span<const char> in, bool dot_stuffed);
    void append_line_bytes(std::string_view bytes);
    void append_body(std::string_view bytes);
    void track_header_block();
    void finish_chunk();
    void finish_message();
    void reset_transaction();
    void set_phase(Phase phase);
    void reply(std::string_view line);
    void reply_error(std::string_view line);
    void need_mail();
    void close_with(std::string_view line);
    void push_event(Event event);
    Refusal* note_refusal(RefusalReason reason, std::string_view reply_line,
                          std::string_view to = {});
    RefusalStage transaction_stage() const;
    RefusalStage content_stage() const;

    ServerConfig config_;
    ServerPolicy& policy_;
    Phase phase_ = Phase::not_started;
    base::ByteQueue inbox_{inbox_bytes};
    std::string replies_;
    std::vector<Refusal> refusals_;
    std::uint64_t refusals_dropped_ = 0;
    RefusalStage stage_ = RefusalStage::connect;  // Of the command being (or last) run.
    std::array<Event, events_count_max> events_{};
    std::uint32_t events_head_ = 0;
    std::uint32_t events_count_ = 0;

    std::optional<TlsFacts> tls_;
    Envelope envelope_;
    std::string body_;
    bool helo_seen_ = false;
    bool mail_seen_ = false;          // A MAIL command was accepted: the transaction is open.
    bool refused_for_space_ = false;  // The last MAIL got 452 4.3.1 (see need_mail).
    bool bdat_seen_ = false;          // The transaction's content comes by BDAT (not DATA).
    std::uint32_t errors_count_ = 0;
    std::uint32_t recipients_overshoot_ = 0;

    // Command framing.
    bool discarding_line_ = false;  // Throwing away an over-long command line.
    bool discard_saw_cr_ = false;   // The last discarded byte was CR.

    // Content framing and the verdicts collected while reading it.
    LineState line_state_ = LineState::start;
    std::size_t line_bytes_ = 0;     // Content bytes of the current line, without CRLF.
    std::uint64_t chunk_left_ = 0;   // Octets of the current BDAT chunk still to read.
    std::uint64_t chunk_bytes_ = 0;  // Size of the current BDAT chunk, for its reply.
    bool chunk_last_ = false;
    std::string_view chunk_reply_;  // A rejected chunk's reply (a string literal).
    bool oversized_ = false;
    // Every content byte of the transaction, taken by the engine or still in body_ (the
    // size limit counts them all), and those taken.
    std::uint64_t content_bytes_ = 0;
    std::uint64_t body_bytes_taken_ = 0;
    std::uint64_t transaction_serial_ = 0;
    // Where the header block stands: its end not found yet (header_scan_from_: the next
    // body_ offset to look for CRLF CRLF from), found, or known to exceed
    // header_block_bytes_max (the message gets 552 5.3.4 and nothing more is kept).
    bool header_block_ended_ = false;
    bool header_block_too_large_ = false;
    std::size_t header_scan_from_ = 0;
    bool long_line_ = false;
    bool bare_line_ending_ = false;
    bool bare_lf_ = false;  // The first bare line ending seen was an LF (else a CR).

    std::uint64_t timer_epoch_ = 0;
    std::uint64_t discarded_after_starttls_ = 0;
};

}  // namespace hub::smtp
