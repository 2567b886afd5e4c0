// mib_map.cc -- the hub's facts as applTable, MTA-MIB and HUBBOX-MIB variables.
//
// PURPOSE   One View per snapshot (mib_map.h); each RFC 2789 choice is written beside the
//           column it concerns and collected in docs/SNMP.md.
// RUNS IN   hub-snmp, on its only thread, after each snapshot.
// TRUST     Facts come from hubd; strings are cut to the MIB's SIZE here.
// LIMITS    view_bindings_max bindings (limits.h); rows beyond it are dropped and logged.
// SEE ALSO  mibs/HUBBOX-MIB.txt, RFC 2788, RFC 2789, docs/SNMP.md.
#include "programs/hub-snmp/mib_map.h"

#include <algorithm>
#include <climits>
#include <ctime>

#include "base/assert.h"
#include "programs/hub-snmp/limits.h"

namespace hub::snmp {
namespace {

const Oid mib2 = {1, 3, 6, 1, 2, 1};
// NETWORK-SERVICES-MIB (RFC 2788) is mib-2 27; applEntry is { applTable 1 }.
const Oid appl_entry = oid_join(mib2, {27, 1, 1});
const Oid appl_tcp_proto_id = oid_join(mib2, {27, 4});  // applTCPProtoID
// MTA-MIB (RFC 2789) is mib-2 28.
const Oid mta_entry = oid_join(mib2, {28, 1, 1});
const Oid mta_group_entry = oid_join(mib2, {28, 2, 1});
// HUBBOX-MIB: enterprises 32473 (RFC 5612's number for documentation) then 1.
const Oid hubbox = {1, 3, 6, 1, 4, 1, 32473, 1};
const Oid hubbox_notifications = oid_join(hubbox, {0});
const Oid hubbox_hub = oid_join(hubbox, {1, 1});
const Oid hubbox_spool = oid_join(hubbox, {1, 2});
const Oid hubbox_partner_entry = oid_join(hubbox, {1, 3, 1});
const Oid hubbox_certificate_entry = oid_join(hubbox, {1, 4, 1});
const Oid hubbox_shard_entry = oid_join(hubbox, {1, 5, 1});
const Oid hubbox_backup = oid_join(hubbox, {1, 6});

constexpr std::uint64_t kilo = 1024;  // RFC 2789 volumes are kilo-octets.
constexpr std::uint64_t mebi = 1024 * 1024;

// A table cell: entry.column.index...
Oid cell(const Oid& entry, std::uint32_t column, std::initializer_list<std::uint32_t> index) {
    Oid name = oid_join(entry, {column});
    name.insert(name.end(), index.begin(), index.end());
    return name;
}

Oid scalar(const Oid& group, std::uint32_t object) {
    return oid_join(group, {object, 0});
}

// Adds a binding if the fact is known.
void add_counter(View& view, Oid name, const Count& count, std::uint64_t divisor = 1) {
    if (count.has_value()) {
        view.add(std::move(name), Value::counter32(*count / divisor));
    }
}
void add_gauge(View& view, Oid name, const Count& count, std::uint64_t divisor = 1) {
    if (count.has_value()) {
        view.add(std::move(name), Value::gauge32(*count / divisor));
    }
}
void add_text(View& view, Oid name, const std::optional<std::string>& text) {
    if (text.has_value()) {
        view.add(std::move(name), Value::octets(*text, text_bytes_max));
    }
}

std::uint64_t elapsed_ms(std::int64_t since_unix_ms, const MapClock& clock) {
    return since_unix_ms >= clock.now_unix_ms
               ? 0
               : static_cast<std::uint64_t>(clock.now_unix_ms - since_unix_ms);
}

// TimeStamp (SNMPv2-TC): the sysUpTime at which something happened; 0 if it happened
// before the agent's sysUpTime began (RFC 2579).
std::uint32_t timestamp_cs(std::int64_t event_unix_ms, const MapClock& clock) {
    std::uint64_t age_cs = elapsed_ms(event_unix_ms, clock) / 10;
    if (age_cs >= clock.uptime_cs) {
        return 0;
    }
    return clock.uptime_cs - static_cast<std::uint32_t>(age_cs);
}

std::optional<std::int64_t> latest(const std::vector<PartnerFacts>& partners,
                                   UnixMs PartnerFacts::*member) {
    std::optional<std::int64_t> best;
    for (const PartnerFacts& partner : partners) {
        const UnixMs& at = partner.*member;
        if (at.has_value() && (!best || *at > *best)) {
            best = at;
        }
    }
    return best;
}

void add_appl_row(View& view, const HubFacts& facts, const MapSettings& settings,
                  const MapClock& clock, std::uint32_t last_change_cs) {
    const std::uint32_t a = settings.appl_index;
    const Traffic& t = facts.traffic;
    view.add(cell(appl_entry, 2, {a}), Value::octets("hubd", text_bytes_max));  // applName
    view.add(cell(appl_entry, 3, {a}), Value::octets("", text_bytes_max));      // applDirectoryName
    if (!facts.version.empty()) {
        view.add(cell(appl_entry, 4, {a}), Value::octets(facts.version, text_bytes_max));
    }
    if (facts.started_at.has_value()) {  // applUptime: sysUpTime when hubd started.
        view.add(cell(appl_entry, 5, {a}),
                 Value::timeticks(timestamp_cs(*facts.started_at, clock)));
    }
    view.add(cell(appl_entry, 6, {a}), Value::integer(appl_oper_status(facts)));
    view.add(cell(appl_entry, 7, {a}), Value::timeticks(last_change_cs));  // applLastChange
    add_gauge(view, cell(appl_entry, 8, {a}), t.inbound_now);
    add_gauge(view, cell(appl_entry, 9, {a}), t.outbound_now);
    add_counter(view, cell(appl_entry, 10, {a}), t.inbound_total);
    add_counter(view, cell(appl_entry, 11, {a}), t.outbound_total);
    if (auto at = latest(facts.partners, &PartnerFacts::last_inbound_at)) {
        view.add(cell(appl_entry, 12, {a}), Value::timeticks(timestamp_cs(*at, clock)));
    }
    if (auto at = latest(facts.partners, &PartnerFacts::last_outbound_ok_at)) {
        view.add(cell(appl_entry, 13, {a}), Value::timeticks(timestamp_cs(*at, clock)));
    }
    add_counter(view, cell(appl_entry, 14, {a}), t.inbound_refused);
    add_counter(view, cell(appl_entry, 15, {a}), t.outbound_failed);
    view.add(cell(appl_entry, 16, {a}),
             Value::octets("Hubbox mail hub: relays mail between partner organisations over "
                           "mandatory TLS",
                           text_bytes_max));
}

// mtaEntry: the hub as a whole.
void add_mta_row(View& view, const HubFacts& facts, const MapSettings& settings) {
    const std::uint32_t a = settings.appl_index;
    const Traffic& t = facts.traffic;
    add_counter(view, cell(mta_entry, 1, {a}), t.received_messages);
    add_gauge(view, cell(mta_entry, 2, {a}), t.stored_messages);
    add_counter(view, cell(mta_entry, 3, {a}), t.transmitted_messages);
    add_counter(view, cell(mta_entry, 4, {a}), t.received_bytes, kilo);
    add_gauge(view, cell(mta_entry, 5, {a}), t.stored_bytes, kilo);
    add_counter(view, cell(mta_entry, 6, {a}), t.transmitted_bytes, kilo);
    add_counter(view, cell(mta_entry, 7, {a}), t.received_recipients);
    add_gauge(view, cell(mta_entry, 8, {a}), t.stored_recipients);
    add_counter(view, cell(mta_entry, 9, {a}), t.transmitted_recipients);
    // The hub rewrites addresses but never converts a message from one form to another
    // (no MIME downgrade, no gateway), so these are a true zero rather than unknown.
    view.add(cell(mta_entry, 10, {a}), Value::counter32(0));
    view.add(cell(mta_entry, 11, {a}), Value::counter32(0));
    add_counter(view, cell(mta_entry, 12, {a}), t.loops_detected);
}

// RFC 2789: 'never' when there has been no attempt since the MTA started; an empty string
// when the last one succeeded.
std::optional<std::string> failure_reason(const std::optional<std::string>& text,
                                          const Count& total, const Count& failed) {
    if (text.has_value() && !text->empty()) {
        return text;
    }
    if (total.has_value() && failed.has_value() && *total == 0 && *failed == 0) {
        return std::string("never");
    }
    return text;
}

// The optional TimeInterval "time since ..." of a group; never yet: left out.
void add_since(View& view, Oid name, const UnixMs& at, const MapClock& clock) {
    if (at.has_value()) {
        view.add(std::move(name), Value::time_interval_ms(elapsed_ms(*at, clock)));
    }
}

// mtaGroupEntry, one partner connector: its traffic (columns 2-12).
void add_group_traffic(View& view, const PartnerFacts& p, const Oid& entry, std::uint32_t a,
                       std::uint32_t g, const MapClock& clock) {
    const Traffic& t = p.traffic;
    auto at = [&](std::uint32_t column) { return cell(entry, column, {a, g}); };
    add_counter(view, at(2), t.received_messages);
    add_counter(view, at(3), t.rejected_messages);
    add_gauge(view, at(4), t.stored_messages);
    add_counter(view, at(5), t.transmitted_messages);
    add_counter(view, at(6), t.received_bytes, kilo);
    add_gauge(view, at(7), t.stored_bytes, kilo);
    add_counter(view, at(8), t.transmitted_bytes, kilo);
    add_counter(view, at(9), t.received_recipients);
    add_gauge(view, at(10), t.stored_recipients);
    add_counter(view, at(11), t.transmitted_recipients);
    if (p.oldest_stored_at.has_value()) {  // mtaGroupOldestMessageStored
        add_since(view, at(12), p.oldest_stored_at, clock);
    } else if (t.stored_messages == std::uint64_t{0}) {
        view.add(at(12), Value::time_interval_ms(0));  // Nothing queued: nothing is old.
    }
}

// Its associations (SMTP connections), columns 13-23 and 34.
void add_group_associations(View& view, const PartnerFacts& p, const Oid& entry, std::uint32_t a,
                            std::uint32_t g, const MapClock& clock) {
    const Traffic& t = p.traffic;
    auto at = [&](std::uint32_t column) { return cell(entry, column, {a, g}); };
    add_gauge(view, at(13), t.inbound_now);
    add_gauge(view, at(14), t.outbound_now);
    add_counter(view, at(15), t.inbound_total);
    add_counter(view, at(16), t.outbound_total);
    add_since(view, at(17), p.last_inbound_at, clock);
    add_since(view, at(18), p.last_outbound_ok_at, clock);
    add_since(view, at(34), p.last_outbound_attempt_at, clock);
    add_counter(view, at(19), t.inbound_refused);
    add_counter(view, at(20), t.outbound_failed);
    add_text(view, at(21),
             failure_reason(p.last_inbound_refusal, t.inbound_total, t.inbound_refused));
    add_text(view, at(22),
             failure_reason(p.last_outbound_failure, t.outbound_total, t.outbound_failed));
    if (p.next_retry_at.has_value()) {  // mtaGroupScheduledRetry: 0 when due now.
        std::int64_t wait_ms = *p.next_retry_at - clock.now_unix_ms;
        view.add(at(23),
                 Value::time_interval_ms(wait_ms > 0 ? static_cast<std::uint64_t>(wait_ms) : 0));
    } else if (t.stored_messages == std::uint64_t{0}) {
        view.add(at(23), Value::time_interval_ms(0));
    }
}

// What it is: columns 24-33.
void add_group_identity(View& view, const PartnerFacts& p, const Oid& entry, std::uint32_t a,
                        std::uint32_t g, const HubFacts& facts, const MapClock& clock) {
    auto at = [&](std::uint32_t column) { return cell(entry, column, {a, g}); };
    // SMTP on TCP port 25: { applTCPProtoID 25 } (RFC 2789 mtaGroupMailProtocol).
    view.add(at(24), Value::object_id(oid_join(appl_tcp_proto_id, {25})));
    view.add(at(25), Value::octets(p.name, text_bytes_max));
    view.add(at(26), Value::counter32(0));  // No conversions (see mtaEntry).
    view.add(at(27), Value::counter32(0));
    view.add(at(28),
             Value::octets(p.description.empty() ? "partner connector " + p.name : p.description,
                           text_bytes_max));
    // A group exists from hubd's start (counters run from there): mtaGroupCreationTime.
    add_since(view, at(30), facts.started_at, clock);
    // Groups are flat, one per partner; 0 = no hierarchy (RFC 2789 mtaGroupHierarchy).
    view.add(at(31), Value::integer(0));
    add_text(view, at(32), p.oldest_message_id);
    add_counter(view, at(33), p.traffic.loops_detected);
}

void add_group_row(View& view, const PartnerFacts& p, std::uint32_t g, const HubFacts& facts,
                   const MapSettings& settings, const MapClock& clock) {
    add_group_traffic(view, p, mta_group_entry, settings.appl_index, g, clock);
    add_group_associations(view, p, mta_group_entry, settings.appl_index, g, clock);
    add_group_identity(view, p, mta_group_entry, settings.appl_index, g, facts, clock);
}

void add_partner_row(View& view, const PartnerFacts& p, std::uint32_t g,
                     const AlertTracker& alerts) {
    auto at = [&](std::uint32_t column) { return cell(hubbox_partner_entry, column, {g}); };
    view.add(at(2), Value::octets(p.name, text_bytes_max));
    add_counter(view, at(3), p.tls_failures_outbound);
    add_counter(view, at(4), p.tls_failures_inbound);
    const PartnerAlertState* state = alerts.partner(p.name);
    if (p.tls_failing.has_value() || (state != nullptr && p.tls_failures_outbound.has_value())) {
        view.add(at(5),
                 Value::truth(p.tls_failing.value_or(state != nullptr && state->tls_failing)));
    }
    add_text(view, at(6), p.last_tls_error);
    if (p.traffic.stored_messages.has_value()) {
        view.add(at(7), Value::truth(state != nullptr && state->queue_high));
    }
}

void add_hubbox_scalars(View& view, const HubFacts& facts, const MapSettings& settings) {
    view.add(scalar(hubbox_hub, 1), Value::truth(facts.reachable));
    view.add(scalar(hubbox_hub, 2), Value::gauge32(settings.queue_threshold));
    view.add(scalar(hubbox_hub, 3), Value::gauge32(settings.certificate_warning_days));
    if (!facts.reachable) {
        view.add(scalar(hubbox_hub, 4), Value::octets(facts.unreachable_reason, text_bytes_max));
        return;
    }
    view.add(scalar(hubbox_hub, 4), Value::octets("", text_bytes_max));
    const SpoolFacts& spool = facts.spool;
    add_gauge(view, scalar(hubbox_spool, 1), spool.free_bytes, mebi);
    add_gauge(view, scalar(hubbox_spool, 2), spool.total_bytes, mebi);
    add_gauge(view, scalar(hubbox_spool, 3), spool.reserve_bytes, mebi);
    std::optional<bool> below = spool.below_reserve;
    if (!below.has_value() && spool.free_bytes.has_value() && spool.reserve_bytes.has_value()) {
        below = *spool.free_bytes < *spool.reserve_bytes;
    }
    if (below.has_value()) {
        view.add(scalar(hubbox_spool, 4), Value::truth(*below));
    }
}

// hubboxBackup (.1.6): the backup status file's facts, present whether or not hubd answers;
// absent when hub-snmp reads no status file. Times never reached are left out.
void add_backup(View& view, const BackupFacts& backup) {
    if (!backup.configured) {
        return;
    }
    view.add(scalar(hubbox_backup, 1), Value::truth(backup.failing));
    if (backup.last_success_unix_s != 0) {
        view.add(scalar(hubbox_backup, 2),
                 Value::binary(date_and_time(backup.last_success_unix_s), 11));
    }
    view.add(scalar(hubbox_backup, 3), Value::octets(backup.last_archive, text_bytes_max));
    if (backup.last_failure_unix_s != 0) {
        view.add(scalar(hubbox_backup, 4),
                 Value::binary(date_and_time(backup.last_failure_unix_s), 11));
    }
    view.add(scalar(hubbox_backup, 5), Value::octets(backup.last_failure_reason, text_bytes_max));
}

void add_certificates(View& view, const HubFacts& facts, const MapClock& clock) {
    for (std::size_t i = 0; i < facts.certificates.size() && i < certificates_count_max; i++) {
        const CertificateFacts& c = facts.certificates[i];
        auto index = static_cast<std::uint32_t>(i + 1);
        auto at = [&](std::uint32_t column) {
            return cell(hubbox_certificate_entry, column, {index});
        };
        view.add(at(2), Value::octets(c.label, text_bytes_max));
        view.add(at(3), Value::octets(c.subject, text_bytes_max));
        view.add(at(4), Value::binary(date_and_time(c.not_after_unix_s), 11));
        std::int64_t left = days_left(c.not_after_unix_s, clock.now_unix_ms / 1000);
        left = std::clamp<std::int64_t>(left, INT32_MIN, INT32_MAX);
        view.add(at(5), Value::integer(static_cast<std::int32_t>(left)));
    }
}

void add_shards(View& view, const HubFacts& facts) {
    for (std::size_t i = 0; i < facts.shards.size() && i < shards_count_max; i++) {
        const ShardFacts& s = facts.shards[i];
        std::uint32_t index = s.index + 1;  // Shard 0 is row 1 (indexes start at 1).
        auto at = [&](std::uint32_t column) { return cell(hubbox_shard_entry, column, {index}); };
        add_gauge(view, at(2), s.connections_now);
        add_gauge(view, at(3), s.stored_messages);
        add_counter(view, at(4), s.received_messages);
        add_counter(view, at(5), s.transmitted_messages);
        add_counter(view, at(6), s.cpu_ns, 10'000'000);  // hundredths of a second
    }
}

}  // namespace

Oid appl_table_oid() {
    return oid_join(mib2, {27, 1});
}
Oid mta_oid() {
    return oid_join(mib2, {28});
}
Oid hubbox_mib_oid() {
    return hubbox;
}
Oid snmp_trap_oid() {
    return {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};
}

Oid notification_oid(AlertKind kind) {
    switch (kind) {
        case AlertKind::partner_tls_failing:
            return oid_join(hubbox_notifications, {1});
        case AlertKind::partner_tls_recovered:
            return oid_join(hubbox_notifications, {2});
        case AlertKind::partner_queue_high:
            return oid_join(hubbox_notifications, {3});
        case AlertKind::partner_queue_normal:
            return oid_join(hubbox_notifications, {4});
        case AlertKind::spool_below_reserve:
            return oid_join(hubbox_notifications, {5});
        case AlertKind::spool_reserve_recovered:
            return oid_join(hubbox_notifications, {6});
        case AlertKind::certificate_expiring:
            return oid_join(hubbox_notifications, {7});
        case AlertKind::backup_failed:
            return oid_join(hubbox_notifications, {8});
        case AlertKind::backup_recovered:
            return oid_join(hubbox_notifications, {9});
    }
    HUB_PANIC("unknown alert kind");
}

std::int32_t appl_oper_status(const HubFacts& facts) {
    if (!facts.reachable) {
        return 2;  // down
    }
    bool below = facts.spool.below_reserve.value_or(
        facts.spool.free_bytes.has_value() && facts.spool.reserve_bytes.has_value() &&
        *facts.spool.free_bytes < *facts.spool.reserve_bytes);
    // congested(4): "up but will not accept new operations" -- new mail gets 452 4.3.1.
    return below ? 4 : 1;
}

std::string date_and_time(std::int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    gmtime_r(&t, &utc);
    int year = utc.tm_year + 1900;
    std::string octets;
    octets += static_cast<char>((year >> 8) & 0xFF);
    octets += static_cast<char>(year & 0xFF);
    octets += static_cast<char>(utc.tm_mon + 1);
    octets += static_cast<char>(utc.tm_mday);
    octets += static_cast<char>(utc.tm_hour);
    octets += static_cast<char>(utc.tm_min);
    octets += static_cast<char>(std::min(utc.tm_sec, 60));
    octets += '\0';  // deci-seconds
    octets += '+';
    octets += '\0';  // hours from UTC
    octets += '\0';  // minutes from UTC
    return octets;
}

View build_view(const HubFacts& facts, const GroupIndexes& groups, const AlertTracker& alerts,
                const MapSettings& settings, const MapClock& clock, std::uint32_t last_change_cs) {
    View view;
    add_appl_row(view, facts, settings, clock, last_change_cs);
    add_hubbox_scalars(view, facts, settings);
    add_backup(view, facts.backup);
    if (facts.reachable) {
        // With hubd down there is no current data: better no rows than stale ones.
        add_mta_row(view, facts, settings);
        for (const PartnerFacts& partner : facts.partners) {
            std::optional<std::uint32_t> group = groups.find(partner.name);
            if (!group.has_value()) {
                continue;
            }
            add_group_row(view, partner, *group, facts, settings, clock);
            add_partner_row(view, partner, *group, alerts);
        }
        add_certificates(view, facts, clock);
        add_shards(view, facts);
    }
    view.finish();
    return view;
}

std::vector<Binding> notification_bindings(const Alert& alert, const HubFacts& facts,
                                           const GroupIndexes& groups, const View& view,
                                           const MapSettings& settings) {
    std::vector<Binding> bindings;
    bindings.push_back(Binding{snmp_trap_oid(), Value::object_id(notification_oid(alert.kind))});
    std::vector<Oid> objects;
    const std::uint32_t a = settings.appl_index;
    switch (alert.kind) {
        case AlertKind::partner_tls_failing:
        case AlertKind::partner_tls_recovered:
        case AlertKind::partner_queue_high:
        case AlertKind::partner_queue_normal: {
            std::optional<std::uint32_t> g = groups.find(alert.partner);
            if (!g.has_value()) {
                break;
            }
            objects.push_back(cell(hubbox_partner_entry, 2, {*g}));  // hubboxPartnerName
            if (alert.kind == AlertKind::partner_tls_failing ||
                alert.kind == AlertKind::partner_tls_recovered) {
                objects.push_back(cell(hubbox_partner_entry, 3, {*g}));  // TlsFailuresOutbound
                objects.push_back(cell(hubbox_partner_entry, 6, {*g}));  // LastTlsError
            } else {
                objects.push_back(cell(mta_group_entry, 4, {a, *g}));  // mtaGroupStoredMessages
                objects.push_back(scalar(hubbox_hub, 2));              // hubboxQueueThreshold
            }
            break;
        }
        case AlertKind::spool_below_reserve:
        case AlertKind::spool_reserve_recovered:
            objects.push_back(scalar(hubbox_spool, 1));  // hubboxSpoolFreeMBytes
            objects.push_back(scalar(hubbox_spool, 3));  // hubboxSpoolReserveMBytes
            break;
        case AlertKind::certificate_expiring: {
            if (alert.certificate_position >= facts.certificates.size()) {
                break;
            }
            auto index = static_cast<std::uint32_t>(alert.certificate_position + 1);
            for (std::uint32_t column : {2u, 3u, 4u, 5u}) {
                objects.push_back(cell(hubbox_certificate_entry, column, {index}));
            }
            break;
        }
        case AlertKind::backup_failed:
            objects.push_back(scalar(hubbox_backup, 4));  // hubboxBackupLastFailure
            objects.push_back(scalar(hubbox_backup, 5));  // hubboxBackupLastFailureReason
            break;
        case AlertKind::backup_recovered:
            objects.push_back(scalar(hubbox_backup, 2));  // hubboxBackupLastSuccess
            objects.push_back(scalar(hubbox_backup, 3));  // hubboxBackupLastArchive
            break;
    }
    HUB_ASSERT(objects.size() <= notification_objects_max);
    for (const Oid& name : objects) {
        if (const Binding* binding = view.find(name)) {
            bindings.push_back(*binding);
        }
    }
    return bindings;
}

}  // namespace hub::snmp
