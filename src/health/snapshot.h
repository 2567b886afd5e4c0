// snapshot.h -- the hub's health counters at one moment, and their line format.
//
// hubd answers the control request "status" with encode(snapshot): each shard reports its
// own counters through its mailbox and the supervisor merges them (engine/control.*).
// hubctl status, hub-metrics (Prometheus) and hub-snmp (RFC 2789 over AgentX) read it with
// fetch_snapshot() and decode(); to_json() and to_prometheus() are the two text views.
//
// Counters never go down while hubd runs: each shard owns its counters for the process's
// life, and per-partner counters are kept by partner *name* (a reload may renumber or
// remove partners; a removed partner's row stays with its totals). They restart from zero
// only when hubd restarts, which started_unix_ms tells a reader (Prometheus sees a counter
// reset; SNMP readers see a new start time).
//
// The line format (docs/HEALTH.md has the full reference):
//
//   hubbox-health 1
//   hub taken_unix_ms=... started_unix_ms=... spool_free_bytes=... ...
//   shard index=0 cpu_ns=... inbound_open=... messages_received=... ...
//   partner name=partner1 messages_received=... last_inbound_unix_ms=... ...
//   refusal reason=relay_denied count=3
//   tls direction=in protocol=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 count=12
//   tls_failure direction=out reason=certificate%20expired count=1
//   certificate role=listener partner= subject=CN%3Dhub not_after_unix_s=...
//   end
//
// One record per line, "kind key=value ...", single spaces. Numbers are unsigned decimal;
// text is percent-encoded (every byte outside '!'..'~', and '%', '=', as %XX). A reader
// skips record kinds and keys it does not know (a newer hubd may add them) but rejects
// anything malformed, duplicated, over a limit (health/limits.h) or not closed by "end".
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::health {

inline constexpr std::string_view format_header = "hubbox-health 1";

// The counters kept per shard and per partner; the hub's totals are their sum over the
// shards. RFC 2789 names in brackets (mtaTable / mtaGroupTable columns).
//
// Inbound is a partner's server sending to the hub; outbound is the hub delivering to a
// partner's connector. In a partner's row, inbound counts what that partner sent and
// outbound and queue what waits for or went to that partner.
struct Traffic {
    // Inbound associations.
    std::uint64_t inbound_open = 0;     // gauge [mtaGroupInboundAssociations]
    std::uint64_t inbound_total = 0;    // accepted [mtaGroupAccumulatedInboundAssociations]
    std::uint64_t inbound_refused = 0;  // refused at connect or TLS
                                        // [mtaGroupRejectedInboundAssociations]
    // Inbound mail.
    std::uint64_t messages_received = 0;    // durable and answered 250 [ReceivedMessages]
    std::uint64_t messages_rejected = 0;    // a refusal at MAIL, RCPT, DATA or BDAT
                                            // [mtaGroupRejectedMessages]
    std::uint64_t recipients_received = 0;  // [ReceivedRecipients]
    std::uint64_t bytes_received = 0;       // spooled message bytes [ReceivedVolume, in bytes]
    // Outbound associations.
    std::uint64_t outbound_open = 0;    // gauge [mtaGroupOutboundAssociations]
    std::uint64_t outbound_total = 0;   // attempts [mtaGroupAccumulatedOutboundAssociations]
    std::uint64_t outbound_failed = 0;  // connect or TLS failed
                                        // [mtaGroupFailedOutboundAssociations]
    // Outbound mail: a message counts once per delivery transaction to a partner.
    std::uint64_t messages_delivered = 0;    // at least one recipient accepted
                                             // [TransmittedMessages]
    std::uint64_t messages_deferred = 0;     // a transaction left recipients for a retry
    std::uint64_t messages_bounced = 0;      // a transaction bounced recipients
    std::uint64_t recipients_delivered = 0;  // [TransmittedRecipients]
    std::uint64_t recipients_deferred = 0;
    std::uint64_t recipients_bounced = 0;
    std::uint64_t bytes_delivered = 0;  // message bytes sent [TransmittedVolume, in bytes]
    // The queue now (gauges).
    std::uint64_t queue_messages = 0;         // [StoredMessages]
    std::uint64_t queue_recipients = 0;       // [StoredRecipients]
    std::uint64_t queue_bytes = 0;            // [StoredVolume, in bytes]
    std::uint64_t oldest_queued_unix_ms = 0;  // 0: nothing queued [OldestMessageStored]

    bool operator==(const Traffic&) const = default;
};

struct ShardRow {
    std::uint32_t index = 0;
    std::uint64_t cpu_ns = 0;  // The shard thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
    Traffic traffic;

    bool operator==(const ShardRow&) const = default;
};

// One row per partner name seen since hubd started (one RFC 2789 group per connector).
// Times are Unix milliseconds, 0 for never.
struct PartnerRow {
    std::string name;
    Traffic traffic;
    std::uint64_t last_inbound_unix_ms = 0;   // last message received [LastInboundActivity]
    std::uint64_t last_outbound_unix_ms = 0;  // last delivery accepted [LastOutboundActivity]
    std::uint64_t last_outbound_attempt_unix_ms = 0;  // [LastOutboundAssociationAttempt]
    std::uint64_t last_tls_failure_unix_ms = 0;
    std::string last_tls_failure;  // "in: <reason>" or "out: <reason>"
    // TLS failures with the partner since hubd started: handshakes that failed and, outbound,
    // a server that offered no STARTTLS (HUBBOX-MIB hubboxPartnerTlsFailures*).
    std::uint64_t tls_failures_in = 0;
    std::uint64_t tls_failures_out = 0;
    // Outbound TLS has failed (a handshake, no STARTTLS, or a clear-text delivery under an
    // opportunistic policy) at every attempt since this time; 0 when the last attempt had
    // TLS, or none failed. hubd's memory of peers failing TLS, lost at a restart;
    // `hubctl tls-failures record` keeps it in the directory (docs/DIRECTORY.md,
    // "Remembered TLS failures").
    std::uint64_t tls_failing_out_since_unix_ms = 0;
    std::uint64_t last_outbound_tls_unix_ms = 0;  // The last outbound session with TLS.
    std::uint64_t last_inbound_refusal_unix_ms = 0;
    std::string last_inbound_refusal;  // a refusal reason token [InboundRejectionReason]
    std::uint64_t last_outbound_failure_unix_ms = 0;
    std::string last_outbound_failure;  // [OutboundConnectFailureReason]

    bool operator==(const PartnerRow&) const = default;
};

struct TlsKey {
    std::string direction;  // "in" or "out"
    std::string protocol;   // "TLSv1.3"
    std::string cipher;     // "TLS_AES_256_GCM_SHA384"
    auto operator<=>(const TlsKey&) const = default;
};

struct TlsFailureKey {
    std::string direction;  // "in" or "out"
    std::string reason;     // wolfSSL's reason text, or the hub's ("certificate not verified")
    auto operator<=>(const TlsFailureKey&) const = default;
};

// A certificate whose expiry an operator must watch.
struct Certificate {
    std::string role;     // "listener" (the hub's own), "trust_anchor" (partners are
                          // verified against it), "partner_server" / "partner_client" (the
                          // latest certificate a partner's server or client presented in a
                          // handshake that passed)
    std::string partner;  // For role "partner"; empty otherwise.
    std::string subject;  // The subject DN, one line.
    std::uint64_t not_after_unix_s = 0;

    auto operator<=>(const Certificate&) const = default;
};

struct Snapshot {
    std::uint64_t taken_unix_ms = 0;
    std::uint64_t started_unix_ms = 0;   // hubd's start: counters are since then.
    std::uint64_t spool_free_bytes = 0;  // For hubd's user (statvfs f_bavail).
    std::uint64_t spool_total_bytes = 0;
    std::uint64_t spool_reserve_bytes = 0;  // Below this free space new mail gets 452.

    Traffic total;                 // The sum of the shard rows; decode() and finish() compute it.
    std::vector<ShardRow> shards;  // By index, no duplicates.
    std::vector<PartnerRow> partners;               // By name, no duplicates.
    std::map<std::string, std::uint64_t> refusals;  // By smtp::refusal_reason_name.
    std::map<TlsKey, std::uint64_t> tls_ok;
    std::map<TlsFailureKey, std::uint64_t> tls_failed;
    std::vector<Certificate> certificates;  // Sorted, no duplicates.

    bool operator==(const Snapshot&) const = default;
};

// A Traffic field by name, for the codec and the exporters: one table, so a field added
// to Traffic and here appears everywhere. gauge is true for the "now" values.
struct TrafficField {
    std::string_view name;  // In the line format and JSON.
    std::uint64_t Traffic::*member;
    bool gauge;
    std::string_view prometheus;  // The family after "hubbox_" / "hubbox_partner_".
    std::string_view help;
};
extern const std::vector<TrafficField> traffic_fields;

// Sorts the rows and recomputes total from the shards; the engine calls it after merging.
void finish(Snapshot& snapshot);

// Adds part's shard rows, partner rows (by name: counters added, the latest "last" times
// and their texts kept, oldest_queued the earliest non-zero), refusals, TLS maps and
// certificates into into. The hub-wide fields are left alone. Call finish() after.
void merge(Snapshot& into, const Snapshot& part);

// The line format above. Precondition: the snapshot fits the limits (the engine keeps its
// maps within them); text fields longer than string_bytes_max are cut.
std::string encode(const Snapshot& snapshot);

// Strict: the error names the line and what is wrong. Never reads past text.
Result<Snapshot, std::string> decode(std::string_view text);

// {"taken_unix_ms":...,"total":{...},"shards":[...],"partners":[...],...}: the same
// names as the line format.
std::string to_json(const Snapshot& snapshot);

// For people (hubctl status): the hub line, a table of partners, connections, refusals,
// TLS, certificates (with days left as of the snapshot) and shards. Text from peers is
// made printable.
std::string to_text(const Snapshot& snapshot);

// The Prometheus text exposition format (version 0.0.4): hubbox_* families, one HELP and
// TYPE each, counters ending in _total, labels shard, partner, reason, direction, ...
// docs/HEALTH.md lists them.
std::string to_prometheus(const Snapshot& snapshot);

// A Prometheus label value: backslash, double quote and line feed escaped (the exposition
// format); other control bytes and bytes beyond ASCII become '?', so the text is always UTF-8.
std::string prometheus_label_value(std::string_view text);

// Asks the hub listening at socket_path ("status") and decodes its answer. The error says
// what failed (cannot connect, permission, hubd's own "error: ..." answer, bad format).
Result<Snapshot, std::string> fetch_snapshot(const std::string& socket_path);

}  // namespace hub::health
