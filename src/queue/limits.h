// limits.h -- bounds of one shard's delivery scheduler, and the ranges of its settings.
//
// The scheduler holds every live message of its shard in memory, so each table it keeps
// has a ceiling here, and every call does a bounded amount of work: a tick examines at
// most due_per_tick_max timers and returns at most actions_per_tick_max actions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spool/limits.h"

namespace hub::queue {

// Tables.
inline constexpr std::uint32_t queue_messages_max = 100'000;     // Live messages per shard.
inline constexpr std::uint32_t destinations_count_max = 10'000;  // policy partners_count_max.
inline constexpr std::uint32_t recipients_count_max = spool::recipients_count_max;
inline constexpr std::uint32_t destination_name_bytes_max = 64;  // policy partner_name_bytes_max.
inline constexpr std::uint32_t destination_host_bytes_max = 64;  // An IPv6 literal is 45.
inline constexpr std::uint32_t address_bytes_max = spool::string_bytes_max;
// A remote reply kept as a recipient's last error (shown in listings, quoted in reports).
// RFC 5321 4.5.3.1.5 bounds one reply line at 512; a few lines of a multi-line reply fit.
inline constexpr std::uint32_t last_error_bytes_max = 2048;

// Work per call.
inline constexpr std::uint32_t actions_per_tick_max = 256;
inline constexpr std::uint32_t due_per_tick_max = 1024;  // Timers examined per tick.
// A due message emits at most a delay warning, an expiry and a finish in one tick.
inline constexpr std::uint32_t actions_per_due_message_max = 3;
// One Deliver action is one use of one connection: at most this many transactions (an
// RSET between them), each with at most transaction_recipients_max RCPTs. RFC 5321
// 4.5.3.1.8: a server must accept at least 100 recipients per transaction.
inline constexpr std::uint32_t batch_messages_max = 20;
inline constexpr std::uint32_t transaction_recipients_max = 100;

// Settings (Config), each with its range; src/config checks hub.conf against these.
inline constexpr std::uint32_t retry_delay_s_floor = 1;
inline constexpr std::uint32_t retry_delay_s_ceiling = 86'400;
inline constexpr std::uint32_t lifetime_s_floor = 5;  // Short lifetimes are for tests.
inline constexpr std::uint32_t lifetime_s_ceiling = 100 * 86'400;
inline constexpr std::uint32_t jitter_percent_max = 50;
inline constexpr std::uint32_t recovery_spread_s_max = 3600;
inline constexpr std::uint32_t connections_max = 10'000;  // Outbound, per shard.

// Defaults: retries 5 min apart doubling to 1 h, a delay report after 4 h, lifetime 5 days.
inline constexpr std::uint32_t retry_delay_s_min_default = 300;
inline constexpr std::uint32_t retry_delay_s_max_default = 3600;
inline constexpr std::uint32_t delay_warning_s_default = 4 * 3600;
inline constexpr std::uint32_t lifetime_s_default = 5 * 86'400;
inline constexpr std::uint32_t jitter_percent_default = 10;
inline constexpr std::uint32_t recovery_spread_s_default = 60;
inline constexpr std::uint32_t connections_max_default = 100;
inline constexpr std::uint32_t destination_connections_max_default = 10;

static_assert(due_per_tick_max >= actions_per_tick_max, "timers are not the only work");
static_assert(actions_per_tick_max >= actions_per_due_message_max,
              "one due message always fits an empty tick");
static_assert(transaction_recipients_max >= 100, "RFC 5321 4.5.3.1.8");
static_assert(recipients_count_max <= 0xFFFF'FFFFu / 2, "recipient indices fit u32");
static_assert(std::uint64_t{queue_messages_max} < 0xFFFF'FFFFu, "slot indices fit u32");
static_assert(retry_delay_s_floor <= retry_delay_s_min_default);
static_assert(retry_delay_s_min_default <= retry_delay_s_max_default);
static_assert(retry_delay_s_max_default <= retry_delay_s_ceiling);
static_assert(delay_warning_s_default < lifetime_s_default, "warn before bouncing");
static_assert(lifetime_s_floor <= lifetime_s_default && lifetime_s_default <= lifetime_s_ceiling);
static_assert(jitter_percent_default <= jitter_percent_max && jitter_percent_max < 100,
              "a jittered delay stays positive");
static_assert(destination_connections_max_default <= connections_max_default);
static_assert(connections_max_default <= connections_max);
static_assert(std::uint64_t{lifetime_s_ceiling} * 1000 < (std::uint64_t{1} << 40),
              "millisecond arithmetic cannot overflow u64");

}  // namespace hub::queue
