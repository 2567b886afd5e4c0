// facts.h -- what hub-snmp knows about the hub at one moment, in its own terms.
//
// The MIB mapping (mib_map.h) and the alerts (alerts.h) read these structs only; the one
// place that knows hubd's health snapshot is snapshot_facts.cc. That keeps the SNMP side
// testable with hand-made facts, and a change in the snapshot's layout touches one file.
//
// A fact the hub does not report is an empty optional, and the MIB then leaves the object
// out (noSuchInstance): RFC 2789 asks that counters an MTA does not keep be inaccessible
// rather than zero.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hub::snmp {

using Count = std::optional<std::uint64_t>;
using UnixMs = std::optional<std::int64_t>;  // Milliseconds since the epoch, UTC.

// Traffic of the hub as a whole or of one partner (an RFC 2789 mtaEntry / mtaGroupEntry).
// Received = taken in from a partner (250 to DATA); transmitted = delivered to a partner's
// server; stored = in the queue now. Counters run since hubd started.
struct Traffic {
    Count received_messages, received_recipients, received_bytes;
    Count rejected_messages;  // Refused from this partner (group only).
    Count stored_messages, stored_recipients, stored_bytes;
    Count transmitted_messages, transmitted_recipients, transmitted_bytes;
    Count loops_detected;
    // Associations (SMTP connections): inbound = the partner connects to us.
    Count inbound_now, outbound_now;
    Count inbound_total, outbound_total;  // Accepted / established.
    Count inbound_refused, outbound_failed;
};

// One partner connector: an RFC 2789 group and a row of hubboxPartnerTable.
struct PartnerFacts {
    std::string name;         // Unique; mtaGroupName.
    std::string description;  // e.g. its domains; mtaGroupDescription.
    Traffic traffic;
    UnixMs oldest_stored_at;  // When the oldest message queued for it arrived.
    std::optional<std::string> oldest_message_id;
    UnixMs last_inbound_at, last_outbound_ok_at, last_outbound_attempt_at, next_retry_at;
    std::optional<std::string> last_inbound_refusal, last_outbound_failure;
    // TLS towards the partner's server: failed handshakes, missing STARTTLS, failed
    // verification. tls_failing is the hub's own verdict (its last attempt failed at TLS);
    // without it, alerts.cc infers one from the counter.
    Count tls_failures_outbound, tls_failures_inbound;
    std::optional<bool> tls_failing;
    std::optional<std::string> last_tls_error;
};

struct SpoolFacts {
    Count free_bytes, total_bytes, reserve_bytes;
    std::optional<bool> below_reserve;  // The hub's own verdict (it refuses new mail).
};

struct CertificateFacts {
    std::string label;    // What the hub uses it for, e.g. "hub", "client CA".
    std::string subject;  // RFC 2253 text.
    std::int64_t not_after_unix_s = 0;
};

struct ShardFacts {
    std::uint32_t index = 0;  // hubd's shard number, from 0.
    Count connections_now, stored_messages, received_messages, transmitted_messages;
    Count cpu_ns;  // The shard thread's CPU time: its load.
};

// The last backups' outcome, from the status file `hubctl backup run` writes (not from
// hubd: the backup is hubctl's job). Known whether or not hubd answers.
struct BackupFacts {
    bool configured = false;  // hub-snmp was given a status file; else the objects are absent.
    bool failing = false;     // The latest attempt failed, or the file cannot be read.
    std::int64_t last_success_unix_s = 0;  // 0 = never
    std::string last_archive;
    std::int64_t last_failure_unix_s = 0;  // 0 = never
    std::string last_failure_reason;       // Or why the status file could not be read.
};

struct HubFacts {
    BackupFacts backup;      // Filled whatever `reachable` says.
    bool reachable = false;  // False: hubd did not answer; everything below is empty.
    std::string unreachable_reason;
    UnixMs started_at;
    std::string version;
    Traffic traffic;  // The hub as a whole.
    SpoolFacts spool;
    std::vector<PartnerFacts> partners;
    std::vector<CertificateFacts> certificates;
    std::vector<ShardFacts> shards;
};

}  // namespace hub::snmp
