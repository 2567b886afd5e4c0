// snapshot_facts.cc -- health::Snapshot -> HubFacts.
//
// PURPOSE   Converts the counters hubd reports into hub-snmp's own terms (facts.h).
// RUNS IN   hub-snmp, after each fetch_snapshot().
// TRUST     The snapshot was decoded strictly (health::decode); values are used as they are.
// LIMITS    Those of the snapshot (health/limits.h); mib_map.cc cuts rows to its own.
// SEE ALSO  health/snapshot.h, facts.h, docs/SNMP.md "Mapping".
#include "programs/hub-snmp/snapshot_facts.h"

#include <algorithm>

namespace hub::snmp {
namespace {

UnixMs time_or_never(std::uint64_t unix_ms) {
    if (unix_ms == 0) {
        return std::nullopt;  // The snapshot's 0 means never.
    }
    return static_cast<std::int64_t>(unix_ms);
}

Traffic traffic_from(const health::Traffic& t) {
    Traffic out;
    out.received_messages = t.messages_received;
    out.received_recipients = t.recipients_received;
    out.received_bytes = t.bytes_received;
    out.rejected_messages = t.messages_rejected;
    out.stored_messages = t.queue_messages;
    out.stored_recipients = t.queue_recipients;
    out.stored_bytes = t.queue_bytes;
    out.transmitted_messages = t.messages_delivered;
    out.transmitted_recipients = t.recipients_delivered;
    out.transmitted_bytes = t.bytes_delivered;
    out.inbound_now = t.inbound_open;
    out.outbound_now = t.outbound_open;
    out.inbound_total = t.inbound_total;  // Accepted connections only.
    out.inbound_refused = t.inbound_refused;
    // hubd counts every outbound attempt in outbound_total, failed ones included; RFC 2789
    // leaves failed associations out of the accumulated total.
    out.outbound_total = t.outbound_total - std::min(t.outbound_failed, t.outbound_total);
    out.outbound_failed = t.outbound_failed;
    // loops_detected: hubd does not count loops yet; the MIB leaves the column out.
    return out;
}

PartnerFacts partner_from(const health::PartnerRow& row) {
    PartnerFacts p;
    p.name = row.name;
    p.traffic = traffic_from(row.traffic);
    p.oldest_stored_at = time_or_never(row.traffic.oldest_queued_unix_ms);
    p.last_inbound_at = time_or_never(row.last_inbound_unix_ms);
    p.last_outbound_ok_at = time_or_never(row.last_outbound_unix_ms);
    p.last_outbound_attempt_at = time_or_never(row.last_outbound_attempt_unix_ms);
    // RFC 2789: the reason for the last attempt, empty if it succeeded; mib_map.cc says
    // 'never' when there was no attempt at all.
    bool last_outbound_failed = row.last_outbound_failure_unix_ms != 0 &&
                                row.last_outbound_failure_unix_ms >= row.last_outbound_unix_ms;
    p.last_outbound_failure = last_outbound_failed ? row.last_outbound_failure : std::string();
    p.last_inbound_refusal = row.last_inbound_refusal;
    p.tls_failures_outbound = row.tls_failures_out;
    p.tls_failures_inbound = row.tls_failures_in;
    // TLS is failing for the partner when its latest TLS failure ("out: ..." towards its
    // server, "in: ..." from it) is more recent than the latest message that went through
    // in that direction: no success since.
    if (row.last_tls_failure_unix_ms != 0) {
        bool outbound = row.last_tls_failure.starts_with("out:");
        std::uint64_t last_ok = outbound ? row.last_outbound_unix_ms : row.last_inbound_unix_ms;
        p.tls_failing = row.last_tls_failure_unix_ms > last_ok;
        p.last_tls_error = row.last_tls_failure;
    } else {
        p.tls_failing = false;
        p.last_tls_error = std::string();
    }
    return p;
}

std::string certificate_label(const health::Certificate& certificate) {
    if (certificate.role == "listener") {
        return "hub";
    }
    if (certificate.role == "trust_anchor") {
        return "trust anchor";
    }
    if (!certificate.partner.empty()) {
        return certificate.role + " " + certificate.partner;
    }
    return certificate.role;
}

}  // namespace

HubFacts facts_from_snapshot(const health::Snapshot& snapshot, std::string version) {
    HubFacts facts;
    facts.reachable = true;
    facts.version = std::move(version);
    facts.started_at = time_or_never(snapshot.started_unix_ms);
    facts.traffic = traffic_from(snapshot.total);
    facts.spool.free_bytes = snapshot.spool_free_bytes;
    facts.spool.total_bytes = snapshot.spool_total_bytes;
    facts.spool.reserve_bytes = snapshot.spool_reserve_bytes;
    for (const health::PartnerRow& row : snapshot.partners) {
        facts.partners.push_back(partner_from(row));
    }
    for (const health::Certificate& certificate : snapshot.certificates) {
        facts.certificates.push_back(CertificateFacts{
            .label = certificate_label(certificate),
            .subject = certificate.subject,
            .not_after_unix_s = static_cast<std::int64_t>(certificate.not_after_unix_s)});
    }
    for (const health::ShardRow& shard : snapshot.shards) {
        const health::Traffic& t = shard.traffic;
        facts.shards.push_back(ShardFacts{
            .index = shard.index,
            .connections_now = t.inbound_open + t.outbound_open,
            .stored_messages = t.queue_messages,
            .received_messages = t.messages_received,
            .transmitted_messages = t.messages_delivered,
            .cpu_ns = shard.cpu_ns,
        });
    }
    return facts;
}

HubFacts unreachable_facts(std::string reason) {
    HubFacts facts;
    facts.reachable = false;
    facts.unreachable_reason = std::move(reason);
    return facts;
}

BackupFacts backup_facts(const Result<health::BackupStatusFile, std::string>& read) {
    BackupFacts facts;
    facts.configured = true;
    if (!read) {
        facts.failing = true;
        facts.last_failure_reason = "the backup status file cannot be read: " + read.error();
        return facts;
    }
    const health::BackupStatus& status = read->status;
    facts.failing = status.failing;
    facts.last_success_unix_s = status.last_success_unix_s;
    facts.last_archive = status.last_success_archive;
    facts.last_failure_unix_s = status.last_failure_unix_s;
    facts.last_failure_reason = status.last_failure_reason;
    return facts;
}

}  // namespace hub::snmp
