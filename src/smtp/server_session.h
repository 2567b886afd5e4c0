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
//   5. Event::close: send the pending replies, then close the connection.
//   6. If the engine's deadline (see timer_epoch()) passes, call on_timeout().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/envelope.h"
#include "smtp/limits.h"

namespace hub::smtp {

struct ServerConfig {
    std::string hostname;  // Greeting, EHLO reply and Received: "by".
    std::uint64_t message_bytes_max = message_bytes_default;  // Advertised as SIZE.
    std::uint32_t recipients_count_max = recipients_count_default;
    std::uint32_t errors_count_max = errors_count_default;  // Then 421 and close.
    bool starttls_offered = true;  // False on the implicit-TLS listener and after TLS.
    bool tls_required = true;      // 530 5.7.0 for mail commands before TLS.
};

// What the policy says of one RCPT TO address (already stripped of <> and parameters).
enum class RcptVerdict {
    accept,
    relay_denied,     // 550 5.7.1: not in the hub domain; the hub is never an open relay.
    unknown_partner,  // 550 5.1.2: in the hub domain, but no partner owns that domain.
    tls_required,     // 530 5.7.0: the partner's policy needs TLS or a valid client cert.
};

// The engine's policy hooks; called synchronously from feed().
class ServerPolicy {
public:
    virtual ~ServerPolicy() = default;
    virtual RcptVerdict check_recipient(std::string_view address) = 0;
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
    ServerSession(const ServerConfig& config, ServerPolicy& policy);

    // Emits the greeting; reject=true emits "554 5.7.1" and Event::close instead
    // (used when the peer's address is outside every partner's connector).
    void start(bool reject, std::string_view reject_text = {});

    // Room in the session's inbox; the engine never feeds more than this.
    std::size_t inbox_space_bytes() const;
    // Appends plaintext and runs at most commands_per_feed_max commands; leftover bytes
    // stay in the inbox. Returns true if commands remain unprocessed (call feed({}) again
    // after yielding to other connections).
    bool feed(std::span<const char> plaintext_in);

    // Replies produced so far, in order, as wire bytes; the caller clears them.
    std::string& replies() { return replies_; }
    // Next action, or Event::none when there is nothing more to do until more input.
    Event next_event();

    const Envelope& envelope() const { return envelope_; }
    // The message content as received: dot-unstuffed, CRLF line endings, without the
    // terminating ".\r\n". The engine prepends the Received: header when spooling.
    std::string_view body() const { return body_; }

    void commit_done(const CommitResult& result);
    // The handshake finished; RFC 3207 4.2: forget everything learned before it.
    void tls_started(const TlsFacts& tls);
    // The deadline passed: 421 4.4.2 and Event::close.
    void on_timeout();

    // Bumped whenever the engine must re-arm the deadline (a whole line or chunk arrived,
    // or the state changed); deadline_ms() says how far ahead.
    std::uint64_t timer_epoch() const { return timer_epoch_; }
    std::uint32_t deadline_ms() const;

    bool closed() const;
    bool tls_active() const { return tls_.has_value(); }
    const std::optional<TlsFacts>& tls() const { return tls_; }
    std::string_view helo() const { return envelope_.helo; }

private:
    // TODO(smtp): private state (inbox, state enum, counters, envelope_, body_, replies_,
    // tls_, timer_epoch_) goes here; the public surface above is the engine's contract.
};

}  // namespace hub::smtp
