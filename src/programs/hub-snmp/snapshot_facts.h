// snapshot_facts.h -- hubd's health snapshot (src/health) as hub-snmp's facts.
//
// The one file that knows health::Snapshot. Each choice (which counter is RFC 2789's
// "accumulated" associations, what makes a partner's TLS "failing") is written beside it
// in snapshot_facts.cc and in docs/SNMP.md.
#pragma once

#include <string>

#include "health/backup_status.h"
#include "health/snapshot.h"
#include "programs/hub-snmp/facts.h"

namespace hub::snmp {

HubFacts facts_from_snapshot(const health::Snapshot& snapshot, std::string version);

// hubd did not answer: reachable = false and the reason.
HubFacts unreachable_facts(std::string reason);

// The backup status file as read (health::read_backup_status): an unreadable file is a
// failing backup whose reason says why, so a manager hears of it.
BackupFacts backup_facts(const Result<health::BackupStatusFile, std::string>& read);

}  // namespace hub::snmp
