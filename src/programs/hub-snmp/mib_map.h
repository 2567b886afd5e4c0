// mib_map.h -- the hub's facts as MIB variables: RFC 2788 applTable, RFC 2789 MTA-MIB and
// HUBBOX-MIB (mibs/HUBBOX-MIB.txt), built into one View per snapshot.
//
// Where each value comes from, and every choice RFC 2789 leaves open, is written beside the
// code in mib_map.cc and in docs/SNMP.md ("Mapping"). In short: one application row
// (applIndex, 1 by default) names hubd; mtaTable has that one row; mtaGroupTable has one
// group per partner connector, indexed by the stable group index (group_index.h); volumes
// are in kilo-octets (bytes / 1024, RFC 2789); "stored" is what is queued now.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "programs/hub-snmp/alerts.h"
#include "programs/hub-snmp/facts.h"
#include "programs/hub-snmp/group_index.h"
#include "programs/hub-snmp/mib_view.h"

namespace hub::snmp {

// Subtrees hub-snmp registers with snmpd (each one AgentX registration).
Oid appl_table_oid();  // 1.3.6.1.2.1.27.1  NETWORK-SERVICES-MIB applTable
Oid mta_oid();         // 1.3.6.1.2.1.28    MTA-MIB (all of it: snmpd's own module is off)
Oid hubbox_mib_oid();  // 1.3.6.1.4.1.32473.1  HUBBOX-MIB (placeholder enterprise, see the MIB)

Oid snmp_trap_oid();  // 1.3.6.1.6.3.1.1.4.1.0  snmpTrapOID.0
Oid notification_oid(AlertKind kind);

struct MapSettings {
    std::uint32_t appl_index = 1;
    std::uint64_t queue_threshold = 0;
    std::uint32_t certificate_warning_days = 0;
};

// Time as both clocks see it: the wall clock (for ages) and the master agent's sysUpTime
// (for TimeStamp values, which are sysUpTime readings).
struct MapClock {
    std::int64_t now_unix_ms = 0;
    std::uint32_t uptime_cs = 0;  // sysUpTime now, hundredths of a second
};

// applOperStatus (RFC 2788): up(1), down(2), congested(4).
std::int32_t appl_oper_status(const HubFacts& facts);

// The whole MIB for one snapshot. Partners without a group index (the table was full) are
// left out. `alerts` supplies hubboxPartnerTlsFailing and hubboxPartnerQueueHigh.
// `last_change_cs` is applLastChange: the sysUpTime at which applOperStatus last changed.
View build_view(const HubFacts& facts, const GroupIndexes& groups, const AlertTracker& alerts,
                const MapSettings& settings, const MapClock& clock, std::uint32_t last_change_cs);

// The variable bindings of one notification, snmpTrapOID.0 first, then its OBJECTS as
// found in `view` (an object the hub does not report is left out).
std::vector<Binding> notification_bindings(const Alert& alert, const HubFacts& facts,
                                           const GroupIndexes& groups, const View& view,
                                           const MapSettings& settings);

// DateAndTime (SNMPv2-TC) for a UTC time: 11 octets, direction '+', offset 0.
std::string date_and_time(std::int64_t unix_s);

}  // namespace hub::snmp
