// limits.h -- bounds the health snapshot codec enforces on what it reads.
//
// A snapshot crosses a socket from hubd to hubctl, hub-metrics and hub-snmp. The reader
// trusts the socket's owner, but a bounded, strict decoder keeps a confused or truncated
// answer from eating memory or being half-read, and makes the decoder fuzzable.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::health {

inline constexpr std::size_t snapshot_bytes_max = 4 << 20;  // ~20,000 rows of ~200 bytes.
inline constexpr std::size_t line_bytes_max = 8192;         // One row, all fields.
inline constexpr std::size_t string_bytes_max = 512;        // A decoded text field.
inline constexpr std::size_t fields_per_line_max = 64;      // Known fields plus room to grow.
inline constexpr std::size_t shards_max = 256;
inline constexpr std::size_t partners_max = 4096;  // Names ever seen since start, not live ones.
inline constexpr std::size_t refusal_reasons_max = 64;
inline constexpr std::size_t tls_rows_max = 1024;  // (direction, protocol, cipher) combinations.
inline constexpr std::size_t tls_failure_rows_max = 1024;
inline constexpr std::size_t certificates_max = 2 * partners_max + 16;

// What the engine itself keeps (it never grows a map past these; a new key beyond them
// is counted under other_key instead, so the snapshot always fits the decoder).
inline constexpr std::size_t tls_reason_bytes_max = 120;
inline constexpr char other_key[] = "other";

static_assert(shards_max * line_bytes_max <= snapshot_bytes_max / 2, "every shard row fits");
// A partner row (4 texts, each up to 3 bytes per byte escaped, plus ~40 numbers) always
// fits, so whatever decodes also encodes to lines the decoder takes.
static_assert(4 * 3 * string_bytes_max + 2048 <= line_bytes_max, "a partner row fits a line");
static_assert(tls_reason_bytes_max <= string_bytes_max);

}  // namespace hub::health
