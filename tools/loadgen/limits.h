// limits.h -- ceilings the load generator keeps, whatever the server or the options do.
//
// A server under test may misbehave (endless replies, no newline, never closing); every
// buffer the loadgen fills from the network is bounded here, and crossing a bound fails the
// session, never the process.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::loadgen {

inline constexpr std::uint32_t sessions_count_max = 20000;
inline constexpr std::uint32_t threads_count_max = 64;
inline constexpr std::size_t reply_line_bytes_max = 4096;  // Far above RFC 5321's 512.
inline constexpr std::size_t reply_lines_max = 100;        // Per multi-line reply.
inline constexpr std::size_t inbox_bytes_max = 64 * 1024;  // Plaintext replies not yet read.
inline constexpr std::size_t body_line_bytes = 78;         // Including CRLF: well under 1000.
inline constexpr std::uint64_t message_bytes_max = 64ull * 1024 * 1024;
inline constexpr std::size_t size_dist_entries_max = 32;
inline constexpr int errors_printed_max = 12;

// The ring: a small SQ (submitted in batches), a CQ large enough for every operation a
// thread can have in flight (at most a recv and a send, or a connect, per session) so it
// never overflows.
inline constexpr unsigned sq_entries = 1024;
inline constexpr unsigned cq_entries_max = 65536;  // The kernel's IORING_MAX_CQ_ENTRIES.
inline constexpr unsigned ops_per_session_max = 2;
inline constexpr unsigned cqe_batch_max = 256;
// Provided receive buffers, shared by a thread's sessions: an idle session holds none.
inline constexpr unsigned recv_buffer_count = 256;  // Power of two (buffer ring).
inline constexpr std::size_t recv_buffer_bytes = 16 * 1024;
// Sessions in connect/handshake at once per thread: a burst of thousands of SYNs would
// overflow the server's listen backlog and turn into 1 s SYN retransmits.
inline constexpr std::uint32_t opening_count_max = 256;
inline constexpr std::uint32_t loop_wait_ms_max = 50;  // Notices the stop flag this fast.
inline constexpr std::uint32_t timeout_scan_ms = 100;
inline constexpr std::uint32_t stop_drain_ms_max = 2000;  // At the deadline: close, then go.

static_assert(sessions_count_max * ops_per_session_max <= cq_entries_max,
              "one thread holding every session still cannot overflow its CQ");
static_assert(reply_line_bytes_max < inbox_bytes_max, "one full line must fit the inbox");
static_assert((recv_buffer_count & (recv_buffer_count - 1)) == 0, "buffer ring size");

}  // namespace hub::loadgen
