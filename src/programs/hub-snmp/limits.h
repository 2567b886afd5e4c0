// limits.h -- ceilings, defaults and setting ranges of hub-snmp, the AgentX subagent.
//
// hub-snmp holds one snapshot of the hub and the MIB view built from it; every table in
// them is bounded here, and every string it hands to snmpd is cut to what the MIB's SYNTAX
// allows, so a hub with more partners than expected degrades (rows left out, with a log
// line) instead of growing without limit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/limits.h"

namespace hub::snmp {

// Tables.
// One RFC 2789 group per partner connector; the group index file remembers at most this many
// names (every partner the hub can have).
inline constexpr std::size_t groups_count_max = policy::partners_count_max;
inline constexpr std::size_t group_name_bytes_max = policy::partner_name_bytes_max;
inline constexpr std::size_t certificates_count_max = 256;
inline constexpr std::size_t shards_count_max = 1024;
// SnmpAdminString and DisplayString are SIZE (0..255).
inline constexpr std::size_t text_bytes_max = 255;
// The group index file: a header line plus one "index<TAB>name" line per group.
inline constexpr std::size_t index_line_bytes_max = 11 + 1 + group_name_bytes_max + 1;
inline constexpr std::size_t index_file_bytes_max = 512 + groups_count_max * index_line_bytes_max;
// mtaGroupIndex is INTEGER (1..2147483647).
inline constexpr std::uint32_t group_index_max = 2'147'483'647;
// Columns of the widest table row (mtaGroupEntry has 34), times the rows above, plus the
// scalars: the most variable bindings one view can hold.
inline constexpr std::size_t columns_per_row_max = 40;
inline constexpr std::size_t view_bindings_max =
    256 + columns_per_row_max * (2 * groups_count_max + certificates_count_max + shards_count_max);
// Objects one notification carries besides sysUpTime.0 and snmpTrapOID.0.
inline constexpr std::size_t notification_objects_max = 8;

// Settings (flags of hub-snmp), each with its range.
inline constexpr std::uint32_t cache_ms_default = 1000;  // Requests within this reuse a snapshot.
inline constexpr std::uint32_t cache_ms_max = 60'000;
inline constexpr std::uint32_t poll_ms_default = 5000;  // Alerts are evaluated this often.
inline constexpr std::uint32_t poll_ms_min = 500;
inline constexpr std::uint32_t poll_ms_max = 300'000;
inline constexpr std::uint64_t queue_threshold_default = 100;  // Messages queued for a partner.
inline constexpr std::uint64_t queue_threshold_max = 100'000'000;
inline constexpr std::uint32_t certificate_warning_days_default = 30;
inline constexpr std::uint32_t certificate_warning_days_max = 365;
inline constexpr std::uint32_t agentx_ping_s_default = 5;  // Reconnect to a restarted snmpd.
inline constexpr std::uint32_t appl_index_default = 1;     // Our row in applTable and mtaTable.

static_assert(groups_count_max <= group_index_max, "every group can get an index");
static_assert(group_name_bytes_max <= text_bytes_max, "a group name fits mtaGroupName");
static_assert(index_line_bytes_max >= 10 + 1 + group_name_bytes_max + 1,
              "ten digits, a tab, the longest name and a newline fit one line");
static_assert(poll_ms_min <= poll_ms_default && poll_ms_default <= poll_ms_max);
static_assert(cache_ms_default <= cache_ms_max);

}  // namespace hub::snmp
