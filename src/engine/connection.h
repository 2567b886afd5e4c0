// connection.h -- one inbound SMTP connection as the shard sees it.
//
// The connection owns, for its lifetime, the socket, the raw input not yet consumed, the
// TLS session (after STARTTLS, or from the start on the implicit-TLS port), the SMTP
// session and the cleartext reply queue. Slots are reused; the generation tells a stale
// completion from a live one.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/byte_queue.h"
#include "engine/limits.h"
#include "health/snapshot.h"
#include "policy/partners.h"
#include "policy/session_policy.h"
#include "queue/scheduler.h"
#include "smtp/client_session.h"
#include "smtp/server_session.h"
#include "spool/spool_format.h"
#include "tls/tls_session.h"

namespace hub::engine {

class Shard;

// The SMTP session's window onto policy: a thin adapter over policy::SessionPolicy (who
// the session speaks for, who it may send as), the partner table's recipient routing and
// the shard's view of free spool space. It turns the policy's typed verdicts into the
// session's and writes the one log line each refusal gets.
class ConnectionPolicy final : public smtp::ServerPolicy {
public:
    explicit ConnectionPolicy(const std::atomic<bool>& spool_low) : spool_low_(spool_low) {}

    // A new connection from peer, judged by partners (the shard's current table) for its
    // whole life, even if a reload publishes another meanwhile. Returns the partner the
    // source address picks (nullptr: a stranger).
    const policy::Partner* start(std::shared_ptr<const policy::PartnerTable> partners,
                                 const sockaddr_storage& peer);
    // The connection is closed: lets go of its table.
    void clear();
    // The handshake finished: the client certificate's verdict becomes policy's input.
    void set_tls(const smtp::TlsFacts& tls);
    // The partner this connection speaks for (session_policy.h): a verified client
    // certificate's CN wins over the source address, which two partners may share.
    const policy::Partner* identified_partner() const {
        return session_ ? session_->identify().partner : nullptr;
    }

    // The TLS endpoint policy for the source's partner at this address, before any
    // certificate (policy::inbound_tls_for): whether mail needs TLS and whether the
    // handshake asks for a certificate. nullptr for a stranger.
    const policy::InboundTlsPolicy* source_inbound_tls() const;

    smtp::SenderCheck check_sender(std::string_view address) override;
    smtp::RcptVerdict check_recipient(std::string_view address) override;
    bool spool_has_space() override { return !spool_low_.load(std::memory_order_relaxed); }

private:
    std::shared_ptr<const policy::PartnerTable> partners_;
    std::optional<policy::SessionPolicy> session_;  // Over *partners_; set by start().
    sockaddr_storage source_{};
    const std::atomic<bool>& spool_low_;
};

// Inbound: a message being written to the spool in slices while it arrives
// (docs/ARCHITECTURE.md, "Streamed messages"). Begun when its first slice is full.
struct InboundStream {
    spool::QueueId id;
    // The session's transaction_serial() when it began: another value means the message
    // was refused or reset, and the stream is abandoned.
    std::uint64_t transaction_serial = 0;
    std::uint64_t arrival_unix_ms = 0;
    std::uint64_t received_bytes = 0;  // Our Received: header, at the start of slice 0.
    bool loop = false;                 // From the header block, read before slice 0 left.
    std::string message_id;            // Likewise, for the accepted log line.
    // The session holds a full slice and the writer the one before: recv is paused until
    // the writer lands it (Shard::resume_streams).
    bool waits_for_writer = false;
};

struct Connection {
    enum class State { free, open, closing };
    enum class Tls { none, handshaking, active };

    explicit Connection(const std::atomic<bool>& spool_low) : policy(spool_low) {}

    std::uint32_t slot = 0;  // Position in the shard's slot table; never changes.
    State state = State::free;
    bool outbound = false;  // The hub delivering to a partner (client) or being sent to.
    // Outbound: the DeliveryJob it serves, or no_job while it idles in the connection
    // cache; the partner it is connected to; whether the scheduler counted the socket.
    static constexpr std::uint32_t no_job = UINT32_MAX;
    std::uint32_t job_index = no_job;
    queue::DestinationId outbound_destination = queue::no_destination;
    bool counted_open = false;
    std::uint32_t generation = 0;
    int fd = -1;
    bool implicit_tls = false;
    sockaddr_storage peer{};
    std::string peer_text;  // "127.0.0.1", for logs and Received:.
    // By source address, in the table the connection was accepted under (policy keeps it);
    // for limits and logs.
    const policy::Partner* partner = nullptr;
    queue::DestinationId partner_destination = 0;  // The partner's, for per-partner counts.
    // The health row its open-connection gauge counts in (by partner name: valid for the
    // process's life, across reloads); null for a stranger.
    health::PartnerRow* health_partner = nullptr;

    base::ByteQueue input{input_pending_bytes};  // Raw bytes from recv, not yet consumed.
    base::ByteQueue plain_out{plain_out_bytes};  // Cleartext replies before/without TLS.
    Tls tls_state = Tls::none;
    std::unique_ptr<tls::Session> tls;
    ConnectionPolicy policy;
    std::optional<smtp::ServerSession> smtp;    // Inbound.
    std::optional<smtp::ClientSession> client;  // Outbound.
    std::optional<InboundStream> stream;        // Inbound, spool.stream_bodies.

    bool recv_armed = false;
    bool recv_paused = false;  // Cancelled for back-pressure; re-armed when drained.
    bool send_in_flight = false;
    // The bytes of the in-flight send, copied out of plain_out / ciphertext_out so that
    // producers may keep appending (and compacting) while the kernel reads these.
    std::vector<char> sending;
    std::size_t sending_offset = 0;
    bool close_after_flush = false;
    bool awaiting_commit = false;
    bool peer_closed = false;
    bool runnable = false;  // Queued for another pump after the budget ran out.

    std::uint64_t timer_epoch_seen = 0;
    std::uint64_t deadline_ms = 0;  // Monotonic; 0 = none.
    std::uint64_t accepted_ms = 0;
};

}  // namespace hub::engine
