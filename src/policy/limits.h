// limits.h -- bounds on the partner table and the files it is read from.
//
// The partner table is operator data, read once at start-up; these bounds keep a wrong
// path or a runaway generator from turning into a slow or huge table, and keep the
// per-connection lookups (match_source, classify_recipient) cheap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::policy {

inline constexpr std::uint64_t partners_file_bytes_max = 16 << 20;
inline constexpr std::size_t partners_count_max = 10000;
inline constexpr std::size_t partner_domains_count_max = 1000;  // Per partner.
inline constexpr std::size_t partner_inbound_count_max = 1000;  // CIDRs per partner.
inline constexpr std::size_t partner_name_bytes_max = 64;       // Shown in logs and the spool.
inline constexpr std::size_t client_cn_bytes_max = 64;          // RFC 5280 A.1 ub-common-name.
inline constexpr std::uint16_t outbound_port_default = 25;      // RFC 5321 4.5.4.
// A subject or issuer DN a TLS policy checks ("/C=GB/O=.../CN=..."), and its parts.
inline constexpr std::size_t tls_dn_bytes_max = 512;
inline constexpr std::size_t tls_dn_parts_max = 16;
// TLS policy assignments (partners, networks, domains) in the whole directory.
inline constexpr std::size_t tls_assignments_count_max = 100000;

static_assert(partners_count_max * partner_domains_count_max <= 10'000'000,
              "the domain index stays a few hundred megabytes at worst");

}  // namespace hub::policy
