// alerts.h -- when to send a notification: edges of four conditions, sans-I/O.
//
// hub-snmp polls the hub every few seconds and hands each snapshot's facts to an
// AlertTracker, which remembers what it saw and returns the notifications due: only on a
// change of state, so a partner that stays broken costs one notification, not one per
// poll. Conditions already true at hub-snmp's first successful poll are notified then (a
// restart of hub-snmp repeats them once; nobody may have seen the first one).
//
//   partner TLS failing    the hub's own verdict (PartnerFacts::tls_failing) when it gives
//                          one; else inferred: its outbound TLS failure counter grew since
//                          the last poll. Recovered when the verdict clears, or (inferred)
//                          when deliveries to it grew while its TLS failures did not.
//   partner queue high     messages queued for it >= queue_threshold; normal again at or
//                          below half the threshold (hysteresis, so a queue hovering at the
//                          threshold does not flap).
//   spool below reserve    the hub's verdict (SpoolFacts::below_reserve), else free < reserve;
//                          recovered when that clears.
//   certificate expiring   notAfter within warning_days (30 by default), once per
//                          certificate (label + notAfter, so a renewed one counts anew).
//   backup failed          the latest backup attempt failed (or its status file cannot be
//                          read); recovered when a backup succeeds. From the backup status
//                          file, so it is evaluated whether or not hubd answers.
//
// A poll where hubd did not answer changes nothing of hubd's (its state is unknown, not
// cleared).
// hubd's counters restart with hubd: a counter lower than last time is a new baseline.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "programs/hub-snmp/facts.h"

namespace hub::snmp {

enum class AlertKind : std::uint8_t {
    partner_tls_failing,
    partner_tls_recovered,
    partner_queue_high,
    partner_queue_normal,
    spool_below_reserve,
    spool_reserve_recovered,
    certificate_expiring,
    backup_failed,
    backup_recovered,
};

const char* alert_name(AlertKind kind);  // The notification's name in HUBBOX-MIB.

struct Alert {
    AlertKind kind = AlertKind::partner_tls_failing;
    std::string partner;                   // partner_* alerts
    std::size_t certificate_position = 0;  // certificate_expiring: index into facts.certificates
    std::string text;                      // One line for hub-snmp's log.
};

struct AlertSettings {
    std::uint64_t queue_threshold = 0;
    std::uint32_t certificate_warning_days = 0;
};

struct PartnerAlertState {
    bool tls_failing = false;
    bool queue_high = false;
    // For the inferred TLS verdict: the counters at the last poll.
    std::uint64_t tls_failures_seen = 0;
    std::uint64_t transmitted_seen = 0;
};

class AlertTracker {
public:
    explicit AlertTracker(AlertSettings settings) : settings_(settings) {}

    // The notifications due after this snapshot, in a stable order (partners by name, then
    // spool, then certificates).
    std::vector<Alert> observe(const HubFacts& facts, std::int64_t now_unix_s);

    // What the tracker believes now (served as hubboxPartnerTlsFailing / QueueHigh).
    const PartnerAlertState* partner(const std::string& name) const;
    bool spool_below_reserve() const { return spool_below_; }
    bool backup_failing() const { return backup_failing_; }
    const AlertSettings& settings() const { return settings_; }

private:
    void observe_partner(const PartnerFacts& partner, std::vector<Alert>& alerts);

    AlertSettings settings_;
    std::map<std::string, PartnerAlertState, std::less<>> partners_;
    bool spool_below_ = false;
    bool backup_failing_ = false;
    std::set<std::string> certificates_warned_;  // label + '\n' + notAfter
};

// Days from now until not_after, rounded down; negative once expired.
std::int64_t days_left(std::int64_t not_after_unix_s, std::int64_t now_unix_s);

}  // namespace hub::snmp
