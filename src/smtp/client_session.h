// client_session.h -- the outbound SMTP client as a sans-I/O state machine.
//
// The mirror of ServerSession: the engine feeds the plaintext the remote server sent
// (after TLS decryption) and drains the bytes to send and the events; the session never
// touches a socket, a clock or the disk. One session lives for one TCP connection to one
// destination and may carry several messages. RFC 5321, RFC 3207 (STARTTLS), RFC 1870
// (SIZE), RFC 6152 (8BITMIME), RFC 2920 (PIPELINING), RFC 3461 (DSN), RFC 2034/3463
// (enhanced status codes).
//
// Contract with the engine:
//   1. Construct, connect, then start() (the session waits for the 220 greeting). A message
//      may be handed over at once with send_message(): it waits until the session is ready.
//   2. After EVERY call into the session: send what pending_output() returns, then
//      consume_output(bytes taken); repeat until it is empty (message content is produced
//      in bounded slices as the previous ones are consumed). Then drain next_event().
//   3. feed(bytes) whenever plaintext arrives, any amount.
//   4. ClientEvent::start_tls: the server said 220 to STARTTLS. Send pending output (there is
//      none), then run the TLS client handshake on the same connection; bytes the server
//      sent after its 220 have already failed the session (protocol_error). Call
//      tls_started() when the handshake completes, or on_transport_failed(tls_failed).
//   5. ClientEvent::ready: idle; send_message() or quit() (or keep the connection cached).
//   6. ClientEvent::message_done: message_result() holds one outcome per recipient. A
//      ready event follows if the connection can take another message.
//   7. ClientEvent::failed: failure() says why. If a message was in flight, a message_done
//      (every recipient without a verdict: temp_fail) came just before. Send what
//      pending_output() holds (perhaps a courtesy QUIT) if convenient, then close.
//   8. ClientEvent::closed: QUIT was answered (or the server closed after QUIT); close.
//   9. The engine's deadline: re-arm whenever timer_epoch() changes, deadline_ms() ahead
//      (0: no deadline, e.g. while idle); when it passes call on_timeout().
//  10. Connection refused, TLS handshake failed, EOF: on_transport_failed(reason, detail).
//  11. A message whose content comes in pieces (OutboundMessage::later_bytes > 0): whenever
//      needs_content() is true (checked after draining pending_output()), hand the next
//      piece to add_content() and drain again; the piece stays alive and unchanged until
//      needs_content() is true again or message_done. A piece that cannot be had (the
//      spooled copy fails its check) is abort_content(): the session fails without the
//      final "." (content_unreadable), so the engine closes and the server discards the
//      transaction; recipients get temp_fail.
//   Implicit TLS: run the handshake first, call tls_started() and then start().
//
// Decisions (the server side's are in smtp/README.md):
//   - Content always goes by DATA, never BDAT, even to a CHUNKING peer: TLS is mandatory, so
//     every plaintext byte is copied into wolfSSL anyway, and BDAT would save only the
//     dot-stuffing pass at the price of a second framing path to test and fuzz.
//   - 8-bit content goes to a peer without 8BITMIME as it is, without BODY=. A knowing
//     deviation: RFC 6152 3 asks for a downgrade or a bounce, but MIME conversion is out of
//     scope and a bounce would punish the sender for the partner's configuration.
//   - Bare CR or LF in content is sent as CRLF (counted): never a bare LF on the wire.
//   - Too many recipients: the first recipients_count_max go, the rest get a local
//     452 4.5.3 (temp_fail) for the queue to send in another transaction.
//   - RSET goes before every MAIL but the first on a connection (pipelined with it).
//   - Replies: CRLF only, 512 octets a line, codes 2xx-5xx consistent across lines; any
//     breach, or a reply nobody asked for, fails the connection (protocol_error).
//   - 421 to anything: closed_by_peer. A 5xx greeting is the only connection-level answer
//     that makes recipients perm_fail; every other connection failure is temp_fail.
//   - Courtesy QUIT (in pending_output()) after a refused greeting or EHLO and when TLS is
//     unavailable; none after a timeout or protocol error (the stream is out of step).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/envelope.h"
#include "smtp/limits.h"
#include "smtp/reply_parser.h"

namespace hub::smtp {

struct ClientConfig {
    std::string hostname;  // EHLO argument: the hub's name. Printable ASCII, not empty.
    // STARTTLS is mandatory: a server without it never receives a message (tls_unavailable).
    // Off: STARTTLS is still used when offered; HELO is tried when EHLO is refused.
    bool require_tls = true;
    // Recipients of one message sent in one transaction; the rest get a local temp_fail
    // (452 4.5.3) and are retried by the queue in a later transaction.
    std::uint32_t recipients_count_max = client_recipients_count_default;
    // RFC 5321 4.5.3.2 waits, per reply awaited.
    std::uint32_t greeting_timeout_ms = client_greeting_timeout_ms_default;
    std::uint32_t command_timeout_ms = client_command_timeout_ms_default;  // EHLO, TLS, ...
    std::uint32_t mail_timeout_ms = client_mail_timeout_ms_default;
    std::uint32_t rcpt_timeout_ms = client_rcpt_timeout_ms_default;
    std::uint32_t data_init_timeout_ms = client_data_init_timeout_ms_default;
    std::uint32_t data_block_timeout_ms = client_data_block_timeout_ms_default;
    std::uint32_t data_end_timeout_ms = client_data_end_timeout_ms_default;
};

// One message to deliver. The session copies the envelope; content is only viewed, so the
// bytes it points to must stay alive and unchanged until ClientEvent::message_done.
struct OutboundMessage {
    std::string mail_from;  // Reverse path without <>; empty for the null sender.
    // Declared size for SIZE= (RFC 1870); 0 means head.size() + content.size().
    std::uint64_t size = 0;
    BodyType body_type = BodyType::seven_bit;
    DsnRet ret = DsnRet::unset;         // RET=, sent only to a DSN peer.
    std::string envid;                  // ENVID= (decoded), sent only to a DSN peer; may be empty.
    std::vector<Recipient> recipients;  // NOTIFY= / ORCPT= sent only to a DSN peer.
    // The message is head followed by content: header and body with CRLF line endings.
    // The engine passes the rewritten header block as head and views the rest where it was
    // read back, so the body is never copied to be sent; head may be empty. The session
    // dot-stuffs the two as one text (RFC 5321 4.5.2; a line may start in head and end in
    // content), turns any bare CR or LF into CRLF (a bare LF must never reach a peer: SMTP
    // smuggling), adds a final CRLF if missing, and ends it with "." CRLF.
    std::string_view head;
    std::string_view content;
    // Content that follows `content` in pieces (contract 11): a streamed message is read
    // back one spool slice at a time, so `content` holds only the first piece and the
    // engine hands over exactly later_bytes more, piece by piece. 0: content is whole.
    // Dot-stuffing and line-ending repair run across the pieces as across head and
    // content: a line, a CRLF or a ". CRLF" may straddle any boundary.
    std::uint64_t later_bytes = 0;
    std::uint64_t text_bytes() const { return head.size() + content.size() + later_bytes; }
};

enum class RecipientStatus {
    accepted,   // 2xx at the end of data.
    temp_fail,  // 4xx, or any failure of the connection: retry later.
    perm_fail,  // 5xx: bounce.
};

struct RecipientResult {
    RecipientStatus status = RecipientStatus::temp_fail;
    // The reply that decided: the RCPT reply if RCPT was refused, the MAIL reply if MAIL
    // was, else the reply to DATA or to the end of data. A local one when remote is false.
    Reply reply;
    bool remote = false;  // The reply came from the server (a report quotes it as such).
};

struct MessageResult {
    std::vector<RecipientResult> recipients;  // Same order as OutboundMessage::recipients.
    bool content_sent = false;                // The content went out (DATA was answered 354).
};

// The peer's ESMTP extensions from its last EHLO reply (RFC 5321 4.1.1.1).
struct Extensions {
    bool starttls = false;               // RFC 3207
    bool pipelining = false;             // RFC 2920
    bool size = false;                   // RFC 1870
    std::uint64_t size_max = 0;          // SIZE's argument; 0: no fixed limit.
    bool eight_bit_mime = false;         // RFC 6152
    bool dsn = false;                    // RFC 3461
    bool chunking = false;               // RFC 3030 (recorded; BDAT is not used)
    bool enhanced_status_codes = false;  // RFC 2034
};

enum class ClientEvent {
    none,
    start_tls,     // Run the TLS handshake, then tls_started().
    ready,         // Idle: send_message() or quit().
    message_done,  // message_result() is complete.
    failed,        // failure() says why; close the connection.
    closed,        // QUIT answered; close the connection.
};

enum class FailReason {
    connect_failed,      // Engine: the TCP connection could not be made.
    greeting_rejected,   // The server's greeting was not 220 (RFC 5321 3.1).
    ehlo_rejected,       // EHLO (and HELO, where allowed) refused.
    tls_unavailable,     // No STARTTLS offered, or STARTTLS refused; nothing sent in clear.
    tls_failed,          // Engine: the TLS handshake failed (certificate, alert, ...).
    protocol_error,      // Malformed or unexpected reply, bytes after STARTTLS's 220, ...
    timeout,             // on_timeout(): no reply within deadline_ms().
    closed_by_peer,      // 421 (RFC 5321 3.8), or the connection closed under us.
    content_unreadable,  // Engine: abort_content(), the rest of the content cannot be had.
};

// "tls_unavailable", ...: for logs and counters.
std::string_view fail_reason_name(FailReason reason);

struct Failure {
    FailReason reason = FailReason::protocol_error;
    std::optional<Reply> reply;  // The server's reply that ended it, if one did.
    std::string detail;          // Local explanation: "no STARTTLS in EHLO reply", ...
};

class ClientSession {
public:
    // Copies config.
    explicit ClientSession(const ClientConfig& config);

    // Begins: the session waits for the greeting. Called once.
    void start();

    // Plaintext from the server. Any amount; processed at once (every reply answers a
    // command we sent, so the work per call is bounded by what we sent). Ignored after
    // failed or closed.
    void feed(std::span<const char> plaintext_in);

    // Bytes to send now, in order: commands, or a dot-stuffed slice of content. Fills the
    // output buffer (at most client_output_bytes) first, so it is not const. The span is
    // valid until the next call into the session.
    std::span<const char> pending_output();
    // The engine took count bytes from the front of pending_output().
    void consume_output(std::size_t count);

    // Next event, or ClientEvent::none.
    ClientEvent next_event();

    // Hands over one message. Allowed before ready (it starts when the session becomes
    // ready), when idle() (after ClientEvent::ready), or after the session failed (then it
    // is given back at once: message_done with the failure's outcome for every recipient,
    // temp_fail, or perm_fail after a 5xx greeting). Preconditions: no other message is in
    // flight, and quit() was not called. A message the peer's SIZE refuses, or with no
    // usable recipient, is answered at once without sending anything. Recipients beyond
    // recipients_count_max get temp_fail 452 4.5.3 (local); a recipient or sender that is
    // not a valid RFC 5321 mailbox gets perm_fail 553 (local) and is never sent.
    void send_message(const OutboundMessage& message);
    // Valid from ClientEvent::message_done until the next send_message().
    const MessageResult& message_result() const { return result_; }

    // Contract 11: the session has stuffed every byte it was given of a message whose
    // content comes in pieces, and more is due (the engine reads the next piece now).
    bool needs_content() const;
    // The next piece of content. Preconditions: needs_content(); 1 <= piece.size() <= the
    // bytes still due. The bytes must stay alive until needs_content() or message_done.
    void add_content(std::string_view piece);
    // The rest of the content cannot be had (a damaged spool slice): fails the session
    // with content_unreadable before the final ".", so that the server never takes a
    // truncated message; no QUIT (the server is inside DATA). Precondition: a message is
    // in flight and not terminal().
    void abort_content(std::string_view detail);

    // Sends QUIT; ClientEvent::closed follows. Precondition: idle(), or terminal() (then it
    // does nothing).
    void quit();

    // The TLS handshake completed (after ClientEvent::start_tls, or before start() for
    // implicit TLS). RFC 3207 4.2: what EHLO said before is forgotten; EHLO is sent again.
    void tls_started();
    // The deadline passed: fails with timeout (while waiting for QUIT's reply: closed).
    void on_timeout();
    // The engine's transport failed: reason is connect_failed, tls_failed or closed_by_peer
    // (EOF or reset); detail (for the log and local replies) is masked and shortened.
    void on_transport_failed(FailReason reason, std::string_view detail = {});

    std::uint64_t timer_epoch() const { return timer_epoch_; }
    // How long the engine waits for progress from now; 0 for no deadline (not started,
    // idle, or terminal).
    std::uint32_t deadline_ms() const;

    bool idle() const;      // Ready for send_message() or quit().
    bool terminal() const;  // Failed or closed: nothing more will happen.
    const Failure& failure() const { return failure_; }  // Valid after ClientEvent::failed.
    const Extensions& extensions() const { return extensions_; }
    const Reply& greeting() const { return greeting_; }  // The server's 220, for logs.
    bool tls_active() const { return tls_active_; }
    // Bare CR or LF in message content that was sent as CRLF (worth a log line).
    std::uint64_t line_endings_repaired() const { return line_endings_repaired_; }
    // Frees the output buffer when it is empty (an idle cached connection costs little).
    void release_idle_buffers();

private:
    enum class Phase {
        not_started,
        greeting,       // Awaiting 220.
        ehlo,           // Awaiting the EHLO reply.
        helo,           // Awaiting the HELO reply (require_tls off, EHLO refused).
        starttls,       // Awaiting 220 to STARTTLS.
        tls_handshake,  // Engine runs the handshake; until tls_started().
        ready,          // Idle.
        transaction,    // RSET/MAIL/RCPT/DATA sent or to send; awaiting their replies.
        content,        // Streaming content after 354.
        data_end,       // Content sent; awaiting the final reply.
        quit,           // Awaiting 221.
        failed,
        closed,
    };
    enum class Step { rset, mail, rcpt, data };
    enum class Verdict : std::uint8_t { pending, accepted_at_rcpt, final };

    void on_reply(const Reply& reply);
    void on_greeting(const Reply& reply);
    void on_ehlo(const Reply& reply);
    void on_helo(const Reply& reply);
    void on_starttls(const Reply& reply);
    void on_transaction_reply(const Reply& reply);
    void on_data_reply(const Reply& reply);
    void on_end_of_data(const Reply& reply);
    void parse_extensions(const Reply& reply);
    void become_ready();
    void begin_transaction();
    Step step_at(std::size_t index) const;
    std::uint32_t recipient_at(std::size_t index) const;
    bool can_send_more() const;
    bool transaction_complete() const;
    void fill_output();
    void fill_commands();
    void fill_content();
    void stuff(std::string_view content);
    std::string format_command(std::size_t index) const;
    void settle(std::size_t recipient, const Reply& reply, bool remote);
    void settle_accepted(const Reply& reply, bool remote);
    void finish_message();
    void fail(FailReason reason, const Reply* reply, std::string_view detail,
              bool courtesy_quit = false);
    static Reply local_failure_reply(FailReason reason, std::string_view detail);
    std::string_view waiting_for() const;
    void send_line(std::string_view line);
    void set_phase(Phase phase);
    void push_event(ClientEvent event);
    std::size_t output_bytes() const { return output_.size() - output_head_; }

    ClientConfig config_;
    Phase phase_ = Phase::not_started;
    ReplyParser parser_;
    std::string output_;           // Bytes [output_head_, size()) wait for the engine.
    std::size_t output_head_ = 0;  // output_.size() - output_head_ <= client_output_bytes.
    std::array<ClientEvent, client_events_count_max> events_{};
    std::uint32_t events_head_ = 0;
    std::uint32_t events_count_ = 0;
    std::uint64_t timer_epoch_ = 0;

    bool input_follows_ = false;  // During on_reply(): more bytes came after this reply.
    bool tls_active_ = false;
    Extensions extensions_;
    Reply greeting_;
    Failure failure_;
    RecipientResult failure_outcome_;  // What fail() gave unsettled recipients.
    bool mail_sent_ = false;           // A MAIL went out since EHLO: RSET before the next one.

    // The message in flight (message_active_) and its transaction.
    bool message_active_ = false;
    OutboundMessage message_;
    MessageResult result_;
    std::vector<Verdict> verdicts_;          // Per recipient.
    std::vector<std::uint32_t> rcpt_order_;  // Recipients sent, in the order of RCPT lines.
    bool with_rset_ = false;
    std::size_t steps_count_ = 0;  // Commands of the transaction: [RSET] MAIL RCPT... DATA.
    std::size_t sent_ = 0;         // Commands written to output_.
    std::size_t replied_ = 0;      // Replies received for them.
    bool stop_sending_ = false;    // MAIL refused: nothing more of this transaction goes out.
    bool mail_accepted_ = false;
    std::uint32_t accepted_count_ = 0;  // RCPTs answered 2xx.
    bool empty_data_ = false;           // 354 with no recipient: only "." was sent.

    // Content streaming (RFC 5321 4.5.2 dot-stuffing, slice by slice). content_at_ counts
    // the text (head, then content and the pieces) stuffed so far; piece_ is the content
    // piece being stuffed (message_.content, then each add_content()), piece_at_ how much
    // of it is stuffed.
    std::uint64_t content_at_ = 0;
    std::string_view piece_;
    std::size_t piece_at_ = 0;
    bool content_queued_ = false;  // Everything up to "." CRLF is in output_.
    bool at_line_start_ = true;
    bool pending_cr_ = false;
    std::uint64_t line_endings_repaired_ = 0;
};

}  // namespace hub::smtp
