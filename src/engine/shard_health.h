// shard_health.h -- one shard's health counters (docs/HEALTH.md).
//
// Each shard owns one ShardHealth and is the only thread that writes it: plain integers,
// no atomics, no locks on the data path. The supervisor reads them the way "hubctl queue
// list" reads the queue: it posts "status" to the shard's mailbox, and the shard, between
// two reactor turns, answers with its part of the snapshot (health::encode). Considered:
// relaxed atomics read directly by the supervisor. That saves a mailbox round trip per
// scrape, but the per-partner rows and the TLS and refusal maps grow at run time and would
// need a lock or a lock-free map; the queue gauges come from the scheduler, which only the
// shard may touch; and a scrape every few seconds costs one mailbox turn. The mailbox it is.
//
// Partner rows are kept by name in a node-based map and never removed, so a reload that
// renumbers or removes partners changes no count, and a pointer to a row (a connection
// keeps one for its open-connection gauge) stays valid for the process's life. Counters
// only ever go up (gauges aside) and start from zero only when hubd starts.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "health/snapshot.h"
#include "smtp/refusal.h"

namespace hub::engine {

class ShardHealth {
public:
    explicit ShardHealth(std::uint32_t shard_index) { row_.index = shard_index; }

    health::Traffic& traffic() { return row_.traffic; }

    // The row for partner name, created on first use; nullptr for "" (a stranger). Past
    // health::partners_max names (reloads that keep adding partners), new names share the
    // row health::other_key, so the snapshot stays within the decoder's bounds.
    health::PartnerRow* partner(std::string_view name);

    // One refusal, as logged: by reason; a connect or TLS refusal counts as a refused
    // inbound connection, a MAIL/RCPT/DATA/BDAT one as a rejected message; the partner's
    // row (may be null) records the reason and time.
    void count_refusal(const smtp::Refusal& refusal, health::PartnerRow* partner,
                       std::uint64_t now_unix_ms);
    // A completed handshake, by direction, protocol and cipher.
    void count_tls(bool outbound, std::string_view protocol, std::string_view cipher);
    // A failed handshake (or an unverified partner certificate), by direction and reason.
    void count_tls_failure(bool outbound, std::string_view reason, health::PartnerRow* partner,
                           std::uint64_t now_unix_ms);
    // An outbound session with partner got TLS: it is no longer failing TLS.
    static void note_outbound_tls_ok(health::PartnerRow* partner, std::uint64_t now_unix_ms) {
        if (partner != nullptr) {
            partner->tls_failing_out_since_unix_ms = 0;
            partner->last_outbound_tls_unix_ms = now_unix_ms;
        }
    }

    // The certificate a partner's server (outbound) or client (inbound) presented in a
    // handshake that passed: the latest one seen is kept per partner and direction, so a
    // renewal replaces it. Bounded by partners_max rows per direction.
    void note_certificate(bool outbound, std::string_view partner, std::string_view subject,
                          std::int64_t not_after_unix_s);

    // This shard's part of a snapshot: its row (cpu_ns filled in), the partner rows, the
    // maps. The caller adds the queue gauges.
    health::Snapshot part(std::uint64_t cpu_ns) const;

private:
    struct TlsCount {
        bool outbound = false;
        std::string protocol;
        std::string cipher;
        std::uint64_t count = 0;
    };
    struct TlsFailureCount {
        bool outbound = false;
        std::string reason;
        std::uint64_t count = 0;
    };

    health::ShardRow row_;
    std::map<std::string, health::PartnerRow, std::less<>> partners_;
    std::array<std::uint64_t, smtp::refusal_reason_count> refusals_{};
    // A few combinations at most; a linear search compares without allocating.
    std::vector<TlsCount> tls_ok_;
    std::vector<TlsFailureCount> tls_failed_;
    // By (role, partner name): "partner_server" or "partner_client".
    std::map<std::pair<std::string, std::string>, health::Certificate, std::less<>> certificates_;
};

}  // namespace hub::engine
