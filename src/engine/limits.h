// engine/limits.h -- sizes of the per-shard reactor, fixed at start-up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rewrite/limits.h"
#include "smtp/limits.h"
#include "spool/limits.h"

namespace hub::engine {

inline constexpr unsigned ring_entries = 4096;               // SQ size; CQ is twice that.
inline constexpr unsigned cqe_batch_max = 256;               // Completions handled per reap.
inline constexpr unsigned recv_buffer_count = 1024;          // Provided buffers per shard.
inline constexpr std::size_t recv_buffer_bytes = 16 * 1024;  // One TLS record.
inline constexpr std::uint16_t recv_buffer_group = 1;
inline constexpr std::size_t input_pending_bytes = 96 * 1024;  // Raw bytes not yet consumed.
// Pause the multishot recv when less than one buffer of room is left.
inline constexpr std::size_t input_pause_space_bytes = recv_buffer_bytes;
inline constexpr std::size_t plain_out_bytes = 64 * 1024;  // Cleartext replies waiting.
inline constexpr std::size_t tls_write_chunk_bytes = 16 * 1024;
inline constexpr unsigned tick_ms = 200;  // Deadline scan period.
// A forced mi_collect (returning freed memory to the kernel) at most this often, and only
// after connections closed: it walks the thread's whole heap.
inline constexpr unsigned forced_collect_interval_ms = 1000;
inline constexpr unsigned send_timeout_s = 120;      // Linked to every send.
inline constexpr unsigned connections_reserve = 64;  // Extra slots to answer 421 when full.
inline constexpr unsigned shards_max = 256;
inline constexpr unsigned feed_rounds_max = 8;  // TLS records fed per pump before yielding.
inline constexpr std::size_t commit_batch_bytes_max = 64u << 20;  // Then new ones wait.
// A spool buffer bigger than this after a batch is freed, not kept: a burst of 5 MB
// messages left ~40 MB per shard of staging and batch capacity resident for good.
inline constexpr std::size_t spool_buffer_keep_bytes = 1u << 20;
// The hub CA's CRL (crl_refresh.h): the largest file hubd reads (hub-ca's answer frame is
// 4 MiB, and a CRL of 10,000 entries is about 400 KiB), how often the supervisor looks at
// it, and how many CRL bytes wolfSSL may hold over the process's life (each changed CRL
// stays loaded; at one change a day of a 400 KiB CRL that is half a year).
inline constexpr std::size_t crl_bytes_max = 4u << 20;
inline constexpr unsigned crl_refresh_interval_s = 60;
// While no CRL is loaded or the loaded one expired (the hub CA's certificates are refused),
// look more often: the first boot's hub-ca may publish its first CRL just after hubd starts.
inline constexpr unsigned crl_retry_interval_s = 5;
inline constexpr std::size_t crl_loaded_bytes_max = 64u << 20;
// A stale or missing CRL is logged again at most this often (besides each change).
inline constexpr unsigned crl_complaint_interval_s = 3600;

// A message body at least this large is written to the spool from the buffer it arrived
// in (moved from the session to the spool writer, one vectored write), not copied into the
// batch; smaller ones are cheaper to copy than to give an iovec of their own.
inline constexpr std::size_t held_body_bytes_min = 64 * 1024;
// At most this many held bodies per batch (one vectored write takes at most IOV_MAX
// pieces); more large bodies in the same batch are copied like small ones.
inline constexpr unsigned held_bodies_per_batch_max = 64;

// Outbound, a streamed message (spool format 3) in flight holds its rewritten header block
// and one slice record, whatever its size: the slices are read back one at a time, each
// when the one before has gone into the client's output. A header block that goes on past
// slice 0 is gathered first (until its end, at most header_section_bytes_max and then one
// more slice), and that buffer is freed when its last piece has been sent. So a message
// costs at most this much while it is sent (plus the client's 64 KiB output and TLS's).
inline constexpr std::size_t outbound_streamed_gather_bytes_max =
    rewrite::header_section_bytes_max + spool::slice_content_bytes_max;
inline constexpr std::size_t outbound_streamed_message_bytes_max =
    smtp::header_block_bytes_max + spool::slice_record_bytes_max;
static_assert(outbound_streamed_message_bytes_max < smtp::message_bytes_default / 2,
              "sending a streamed message holds a fraction of what a whole one would");
static_assert(spool::slice_record_bytes_max <= outbound_streamed_message_bytes_max);
// A report (DSN) about a streamed message reads its first slices until it has this much
// content (or all of it): the most of the original any report returns.
inline constexpr std::size_t report_streamed_content_bytes_max = 1024 * 1024;
// What one inbound message costs at most while it is streamed to the spool
// (spool.stream_bodies; docs/ARCHITECTURE.md, "Streamed messages"), whatever its size: the
// session holds the header block until it ends and then the slice being filled, plus what
// the ring had already received when recv paused for the writer (the raw input and one
// inbox more); the writer holds the slice before it, staged or in flight. About 1.8 MiB
// with a full 1 MiB header block, about 0.9 MiB for real mail.
inline constexpr std::size_t inbound_streamed_message_bytes_max =
    smtp::header_block_bytes_max + spool::slice_content_bytes_max + input_pending_bytes +
    smtp::inbox_bytes + spool::slice_content_bytes_max;

static_assert(crl_bytes_max <= crl_loaded_bytes_max, "at least one CRL must fit");
static_assert(crl_retry_interval_s < crl_refresh_interval_s);
static_assert((recv_buffer_count & (recv_buffer_count - 1)) == 0, "buffer ring is a power of 2");
static_assert(input_pending_bytes >= 2 * recv_buffer_bytes + input_pause_space_bytes,
              "a paused connection must still hold the buffers already in flight");
static_assert(tls_write_chunk_bytes <= 16 * 1024, "one plaintext chunk is one TLS record");

}  // namespace hub::engine
