// limits.h -- bounds the config loaders enforce on the files they read.
//
// These are not settings: they bound the loaders themselves, so that a mistaken path
// (a log file, /dev/zero) fails quickly with a clear message instead of eating memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::config {

inline constexpr std::uint64_t config_file_bytes_max = 1 << 20;  // hub.conf is a page or two.
inline constexpr std::size_t errors_reported_max = 20;           // Then "... and N more errors".
inline constexpr std::size_t value_shown_bytes_max = 80;      // Longer values are cut in messages.
inline constexpr std::size_t domain_bytes_max = 253;          // RFC 1035 2.3.4 (255 on the wire).
inline constexpr std::size_t label_bytes_max = 63;            // RFC 1035 2.3.4.
inline constexpr std::size_t user_name_bytes_max = 32;        // useradd's limit.
inline constexpr std::size_t suggestion_distance_max = 2;     // Edits for "did you mean".
inline constexpr std::size_t suggestion_word_bytes_max = 64;  // Longer names get no suggestion.

static_assert(label_bytes_max < domain_bytes_max);
static_assert(value_shown_bytes_max >= domain_bytes_max / 4, "a value stays recognisable");

}  // namespace hub::config
