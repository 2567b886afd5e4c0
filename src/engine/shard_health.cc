// shard_health.cc -- one shard's health counters.
//
// PURPOSE   Count what the shard does, for hubctl status, hub-metrics and hub-snmp.
// RUNS IN   a shard thread (counting and part()); nothing else touches a ShardHealth.
// TRUST     reasons and TLS names come from wolfSSL and the hub; they are bounded here
//           (tls_reason_bytes_max, the row limits) before they are kept.
// LIMITS    health/limits.h: partners_max names, tls_rows_max / tls_failure_rows_max rows.
// SEE ALSO  shard_health.h, health/snapshot.h, docs/HEALTH.md
#include "engine/shard_health.h"

#include "health/limits.h"

namespace hub::engine {
namespace {

std::string_view direction(bool outbound) {
    return outbound ? "out" : "in";
}

bool refused_connection(smtp::RefusalStage stage) {
    return stage == smtp::RefusalStage::connect || stage == smtp::RefusalStage::tls;
}

bool rejected_message(smtp::RefusalStage stage) {
    return stage == smtp::RefusalStage::mail || stage == smtp::RefusalStage::rcpt ||
           stage == smtp::RefusalStage::data || stage == smtp::RefusalStage::bdat;
}

}  // namespace

health::PartnerRow* ShardHealth::partner(std::string_view name) {
    if (name.empty()) {
        return nullptr;
    }
    if (auto found = partners_.find(name); found != partners_.end()) {
        return &found->second;
    }
    std::string key(name);
    if (partners_.size() >= health::partners_max - 1) {
        key = health::other_key;  // The last row is kept for the overflow.
    }
    auto [row, inserted] = partners_.try_emplace(key);
    if (inserted) {
        row->second.name = key;
    }
    return &row->second;
}

void ShardHealth::count_refusal(const smtp::Refusal& refusal, health::PartnerRow* partner,
                                std::uint64_t now_unix_ms) {
    auto reason = static_cast<std::size_t>(refusal.reason);
    HUB_ASSERT(reason < refusals_.size());
    refusals_[reason]++;
    std::uint64_t health::Traffic::*counter = nullptr;
    if (refused_connection(refusal.stage)) {
        counter = &health::Traffic::inbound_refused;
    } else if (rejected_message(refusal.stage)) {
        counter = &health::Traffic::messages_rejected;
    }
    if (counter != nullptr) {
        row_.traffic.*counter += 1;
    }
    if (partner != nullptr) {
        if (counter != nullptr) {
            partner->traffic.*counter += 1;
        }
        partner->last_inbound_refusal_unix_ms = now_unix_ms;
        partner->last_inbound_refusal = std::string(smtp::refusal_reason_name(refusal.reason));
    }
}

void ShardHealth::count_tls(bool outbound, std::string_view protocol, std::string_view cipher) {
    for (TlsCount& row : tls_ok_) {
        if (row.outbound == outbound && row.protocol == protocol && row.cipher == cipher) {
            row.count++;
            return;
        }
    }
    if (tls_ok_.size() >= health::tls_rows_max - 2) {
        // Past the bound, every new combination shares one row per direction.
        protocol = health::other_key;
        cipher = health::other_key;
        for (TlsCount& row : tls_ok_) {
            if (row.outbound == outbound && row.protocol == protocol && row.cipher == cipher) {
                row.count++;
                return;
            }
        }
    }
    tls_ok_.push_back(TlsCount{outbound,
                               std::string(protocol.substr(0, health::tls_reason_bytes_max)),
                               std::string(cipher.substr(0, health::tls_reason_bytes_max)), 1});
}

void ShardHealth::count_tls_failure(bool outbound, std::string_view reason,
                                    health::PartnerRow* partner, std::uint64_t now_unix_ms) {
    reason = reason.substr(0, health::tls_reason_bytes_max);
    if (partner != nullptr) {
        partner->last_tls_failure_unix_ms = now_unix_ms;
        partner->last_tls_failure = std::string(direction(outbound)) + ": " + std::string(reason);
        (outbound ? partner->tls_failures_out : partner->tls_failures_in)++;
        if (outbound && partner->tls_failing_out_since_unix_ms == 0) {
            partner->tls_failing_out_since_unix_ms = now_unix_ms;
        }
    }
    for (TlsFailureCount& row : tls_failed_) {
        if (row.outbound == outbound && row.reason == reason) {
            row.count++;
            return;
        }
    }
    if (tls_failed_.size() >= health::tls_failure_rows_max - 2) {
        reason = health::other_key;
        for (TlsFailureCount& row : tls_failed_) {
            if (row.outbound == outbound && row.reason == reason) {
                row.count++;
                return;
            }
        }
    }
    tls_failed_.push_back(TlsFailureCount{outbound, std::string(reason), 1});
}

void ShardHealth::note_certificate(bool outbound, std::string_view partner,
                                   std::string_view subject, std::int64_t not_after_unix_s) {
    if (partner.empty() || not_after_unix_s <= 0) {
        return;
    }
    std::pair<std::string, std::string> key{outbound ? "partner_server" : "partner_client",
                                            std::string(partner)};
    auto found = certificates_.find(key);
    if (found == certificates_.end()) {
        if (certificates_.size() >= 2 * health::partners_max) {
            return;  // The bound of the rows; never reached with partners_max names.
        }
        found = certificates_.emplace(key, health::Certificate{}).first;
    }
    found->second.role = key.first;
    found->second.partner = key.second;
    found->second.subject = std::string(subject.substr(0, health::tls_reason_bytes_max));
    found->second.not_after_unix_s = static_cast<std::uint64_t>(not_after_unix_s);
}

health::Snapshot ShardHealth::part(std::uint64_t cpu_ns) const {
    health::Snapshot snapshot;
    health::ShardRow row = row_;
    row.cpu_ns = cpu_ns;
    snapshot.shards.push_back(row);
    for (const auto& [name, partner] : partners_) {
        snapshot.partners.push_back(partner);
    }
    for (std::size_t reason = 0; reason < refusals_.size(); reason++) {
        if (refusals_[reason] != 0) {
            snapshot.refusals[std::string(smtp::refusal_reason_name(
                static_cast<smtp::RefusalReason>(reason)))] = refusals_[reason];
        }
    }
    for (const TlsCount& tls : tls_ok_) {
        snapshot.tls_ok[health::TlsKey{std::string(direction(tls.outbound)), tls.protocol,
                                       tls.cipher}] += tls.count;
    }
    for (const TlsFailureCount& tls : tls_failed_) {
        snapshot
            .tls_failed[health::TlsFailureKey{std::string(direction(tls.outbound)), tls.reason}] +=
            tls.count;
    }
    for (const auto& [key, certificate] : certificates_) {
        snapshot.certificates.push_back(certificate);
    }
    return snapshot;
}

}  // namespace hub::engine
