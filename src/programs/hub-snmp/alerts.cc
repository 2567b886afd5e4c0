// alerts.cc -- edge detection for hub-snmp's notifications.
//
// PURPOSE   Turns a series of snapshots into the notifications due (alerts.h says when).
// RUNS IN   hub-snmp, on its only thread, once per poll.
// TRUST     Facts come from hubd (trusted, but counters restart with it).
// LIMITS    State per partner in the latest snapshot only (bounded by the partner count);
//           certificates remembered at most certificates_count_max.
// SEE ALSO  mib_map.cc (the variables each notification carries), docs/SNMP.md "Traps".
#include "programs/hub-snmp/alerts.h"

#include <fmt/format.h>

#include <algorithm>

#include "programs/hub-snmp/limits.h"

namespace hub::snmp {

const char* alert_name(AlertKind kind) {
    switch (kind) {
        case AlertKind::partner_tls_failing:
            return "hubboxPartnerTlsFailing";
        case AlertKind::partner_tls_recovered:
            return "hubboxPartnerTlsRecovered";
        case AlertKind::partner_queue_high:
            return "hubboxPartnerQueueHigh";
        case AlertKind::partner_queue_normal:
            return "hubboxPartnerQueueNormal";
        case AlertKind::spool_below_reserve:
            return "hubboxSpoolBelowReserve";
        case AlertKind::spool_reserve_recovered:
            return "hubboxSpoolReserveRecovered";
        case AlertKind::certificate_expiring:
            return "hubboxCertificateExpiring";
        case AlertKind::backup_failed:
            return "hubboxBackupFailed";
        case AlertKind::backup_recovered:
            return "hubboxBackupRecovered";
    }
    return "?";
}

std::int64_t days_left(std::int64_t not_after_unix_s, std::int64_t now_unix_s) {
    std::int64_t seconds = not_after_unix_s - now_unix_s;
    std::int64_t days = seconds / 86'400;
    if (seconds < 0 && seconds % 86'400 != 0) {
        days--;  // Round towards minus infinity: one second past expiry is day -1.
    }
    return days;
}

const PartnerAlertState* AlertTracker::partner(const std::string& name) const {
    auto it = partners_.find(name);
    return it == partners_.end() ? nullptr : &it->second;
}

void AlertTracker::observe_partner(const PartnerFacts& partner, std::vector<Alert>& alerts) {
    auto [it, is_new] = partners_.try_emplace(partner.name);
    PartnerAlertState& state = it->second;
    const Traffic& traffic = partner.traffic;

    // TLS towards the partner's server.
    bool failing = state.tls_failing;
    if (partner.tls_failing.has_value()) {
        failing = *partner.tls_failing;
    } else if (partner.tls_failures_outbound.has_value()) {
        std::uint64_t failures = *partner.tls_failures_outbound;
        std::uint64_t sent = traffic.transmitted_messages.value_or(0);
        bool restarted = failures < state.tls_failures_seen || sent < state.transmitted_seen;
        if (is_new || restarted) {
            failing = false;  // A baseline: counters alone cannot say what is current.
        } else if (failures > state.tls_failures_seen) {
            failing = true;
        } else if (sent > state.transmitted_seen) {
            failing = false;
        }
        state.tls_failures_seen = failures;
        state.transmitted_seen = sent;
    }
    if (failing != state.tls_failing) {
        std::string detail;
        if (partner.tls_failures_outbound.has_value()) {
            detail = fmt::format(" ({} failures)", *partner.tls_failures_outbound);
        }
        if (partner.last_tls_error.has_value() && !partner.last_tls_error->empty()) {
            detail += "; last: " + *partner.last_tls_error;
        }
        alerts.push_back(Alert{
            .kind = failing ? AlertKind::partner_tls_failing : AlertKind::partner_tls_recovered,
            .partner = partner.name,
            .text = failing ? fmt::format("partner {}: TLS is failing{}", partner.name, detail)
                            : fmt::format("partner {}: TLS works again", partner.name)});
        state.tls_failing = failing;
    }

    // The partner's queue, with hysteresis.
    if (traffic.stored_messages.has_value() && settings_.queue_threshold > 0) {
        std::uint64_t queued = *traffic.stored_messages;
        bool high = state.queue_high;
        if (!high && queued >= settings_.queue_threshold) {
            high = true;
        } else if (high && queued <= settings_.queue_threshold / 2) {
            high = false;
        }
        if (high != state.queue_high) {
            alerts.push_back(Alert{
                .kind = high ? AlertKind::partner_queue_high : AlertKind::partner_queue_normal,
                .partner = partner.name,
                .text = fmt::format(
                    "partner {}: {} messages queued ({} threshold {})", partner.name, queued,
                    high ? "at or above the" : "back under half the", settings_.queue_threshold)});
            state.queue_high = high;
        }
    }
}

std::vector<Alert> AlertTracker::observe(const HubFacts& facts, std::int64_t now_unix_s) {
    std::vector<Alert> alerts;
    // The backup first: its outcome does not depend on hubd answering.
    const BackupFacts& backup = facts.backup;
    if (backup.configured && backup.failing != backup_failing_) {
        backup_failing_ = backup.failing;
        alerts.push_back(Alert{
            .kind = backup_failing_ ? AlertKind::backup_failed : AlertKind::backup_recovered,
            .partner = {},
            .certificate_position = 0,
            .text = backup_failing_ ? fmt::format("backup failed: {}", backup.last_failure_reason)
                                    : fmt::format("backup works again: {}", backup.last_archive)});
    }
    if (!facts.reachable) {
        return alerts;
    }
    // Partners no longer in the hub's table are forgotten.
    std::set<std::string, std::less<>> present;
    for (const PartnerFacts& partner : facts.partners) {
        present.insert(partner.name);
    }
    std::erase_if(partners_, [&](const auto& entry) { return !present.contains(entry.first); });

    std::vector<const PartnerFacts*> by_name;
    for (const PartnerFacts& partner : facts.partners) {
        by_name.push_back(&partner);
    }
    std::sort(by_name.begin(), by_name.end(),
              [](const PartnerFacts* a, const PartnerFacts* b) { return a->name < b->name; });
    for (const PartnerFacts* partner : by_name) {
        observe_partner(*partner, alerts);
    }

    // The spool's free-space reserve.
    const SpoolFacts& spool = facts.spool;
    std::optional<bool> below = spool.below_reserve;
    if (!below.has_value() && spool.free_bytes.has_value() && spool.reserve_bytes.has_value()) {
        below = *spool.free_bytes < *spool.reserve_bytes;
    }
    if (below.has_value() && *below != spool_below_) {
        spool_below_ = *below;
        alerts.push_back(
            Alert{.kind = spool_below_ ? AlertKind::spool_below_reserve
                                       : AlertKind::spool_reserve_recovered,
                  .partner = {},
                  .certificate_position = 0,
                  .text = fmt::format("spool: {} MiB free, reserve {} MiB: {}",
                                      spool.free_bytes.value_or(0) >> 20,
                                      spool.reserve_bytes.value_or(0) >> 20,
                                      spool_below_ ? "below the reserve, new mail is refused"
                                                   : "above the reserve again")});
    }

    // Certificates entering their last days.
    for (std::size_t i = 0; i < facts.certificates.size() && i < certificates_count_max; i++) {
        const CertificateFacts& certificate = facts.certificates[i];
        std::int64_t left = days_left(certificate.not_after_unix_s, now_unix_s);
        if (left > static_cast<std::int64_t>(settings_.certificate_warning_days)) {
            continue;
        }
        std::string key = certificate.label + '\n' + std::to_string(certificate.not_after_unix_s);
        if (certificates_warned_.contains(key)) {
            continue;
        }
        if (certificates_warned_.size() >= certificates_count_max) {
            certificates_warned_.clear();  // Only renewals churn this; start over.
        }
        certificates_warned_.insert(key);
        alerts.push_back(
            Alert{.kind = AlertKind::certificate_expiring,
                  .partner = {},
                  .certificate_position = i,
                  .text = left < 0 ? fmt::format("certificate {} ({}) has expired",
                                                 certificate.label, certificate.subject)
                                   : fmt::format("certificate {} ({}) expires in {} days",
                                                 certificate.label, certificate.subject, left)});
    }
    return alerts;
}

}  // namespace hub::snmp
