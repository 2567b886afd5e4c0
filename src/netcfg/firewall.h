// firewall.h -- the service-access table, generated from the settings and applied with
// libnftables as one transaction.
//
// rootfs/etc/nftables.conf holds the base table `inet hubbox` (policy drop; loopback,
// established, ICMP, DHCP) and accepts a new connection only when it carries the access
// mark. The table `inet hubbox_access`, which only hub-netcfg replaces, runs first on the
// input hook and sets that mark on the new connections each service's sources may open.
// A connection nobody marks meets the base table's drop policy. nftables.conf also has the
// defaults' access table, so the box is the same before hub-netcfg first runs.
// See docs/NETWORK.md ("Service access").
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

inline constexpr std::string_view access_table_name = "hubbox_access";
// The packet mark the access table sets and the base table accepts (ASCII "HB").
inline constexpr std::uint32_t access_mark = 0x4842;

// The nft script that replaces the access table whole (creates it, deletes it, adds it
// again with the settings' rules, in one transaction, so it works whether the table
// exists or not). Precondition: validate(settings) passed.
std::string access_ruleset(const Settings& settings);

// Runs the script through libnftables in this network namespace. Errors: nft's message.
[[nodiscard]] Result<void, std::string> apply_ruleset(const std::string& script);

}  // namespace hub::netcfg
