// compaction.h -- a shard's compaction rounds: what to copy out of the head segment, and
// what to do with each read and each copy (sans-I/O).
//
// When the segment ledger says compacting the head segment pays (CompactionPlan), a round
// copies the live messages the shard holds there forward into the append segment, each with
// the status records it already has, so that the head dies and can be deleted oldest
// first (segment_ledger.h explains why that order makes deletion safe). This class makes
// every decision of a round and holds its buffers; the engine's driver
// (engine/spool_compactor.h) reads the records through the ring, hands the copies to the
// spool writer and reports back. No I/O and no clock of its own: time comes in as now_ms.
//
// One round:
//   1. looks_at(plan, now_ms): whether the head is worth a walk over the shard's messages
//      (no round in flight, and not a head found pinned less than
//      compaction_pinned_head_retry_ms ago).
//   2. begin(plan, live, now_ms): live is every message the shard holds in the head. If
//      that is not every live record of the ledger's plan, something the shard does not
//      hold pins the head: no copy can free it, so it is left alone (pinned) until the
//      retry time. Otherwise the round takes the messages without status records in flight,
//      at most compaction_round_messages_max of them and compaction_round_bytes_max bytes
//      (the first one whatever its size), and lists the reads: one per message record.
//      A streamed message is not read whole: at most one per round (the first found) is
//      copied slice by slice (stream(), below), so the round's memory is at most
//      compaction_round_bytes_max of message records plus one slice record
//      (compaction_round_memory_bytes_max), whatever the streamed message's size.
//   3. read_done() for each read: a copy read back whole is checked again (checksum, id,
//      slice indexes and lengths); a damaged one is never copied forward.
//   4. Once every read is in: queue_copy() for each copy read back, with the message as the
//      shard holds it then: it must still be at the place read (not finished or moved
//      meanwhile), with no status records in flight (its copy must carry every status it
//      has, or deleting an older segment could undo one) and no administrator's command in
//      flight (its record and the copy would race for the last word). Then reads_finished().
//   5. copy_done() for each copy the writer reports: durable and the message still at the
//      place read -> moved (unpin the old records, the message now lives at the copy);
//      durable but the message finished or moved meanwhile -> the copy is dead (unpin it:
//      the message's status records came after the copy, so they are in the copy's segment
//      or a later one); not durable -> nothing moved, the old records stay pinned.
// A streamed message's copy, one record at a time (the writer's copy stream: its slices
// and commit land in one segment in order, and a copy torn by a crash is an uncommitted
// stream recovery drops, leaving the original):
//   a. stream_read(): read its next record (slice `part`, then the commit) into the one
//      buffer; stream_read_done() checks it (checksum, id, index, lengths).
//   b. stream_next(): given the message as the shard holds it now (the same conditions as
//      queue_copy) and whether the writer may begin a stream: begin the copy stream and/or
//      append the slice (take_stream_record() hands the buffer to the writer), or commit
//      (with its statuses and hold, counted in flight until copy_done()), or abandon.
//   c. stream_slice_ended() once the writer no longer holds the slice (broken: a failed
//      batch lost it): the next record is read only then, so at most one slice of the
//      message is in memory, ours or the writer's.
// An abandoned copy leaves the original untouched; the next round tries again.
// The round ends when its reads are in, its copies reported and its stream copy ended;
// the next may then begin.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spool/limits.h"
#include "spool/segment_ledger.h"
#include "spool/spool_format.h"

namespace hub::spool {

struct CompactionLimits {
    std::uint32_t round_messages_max = compaction_round_messages_max;
    std::uint64_t round_bytes_max = compaction_round_bytes_max;
    std::uint64_t pinned_head_retry_ms = compaction_pinned_head_retry_ms;
};

// A live message the shard holds in the head segment.
struct CompactionCandidate {
    QueueId id;
    RecordLocation location;          // Its message record, or a streamed message's commit.
    std::vector<SliceExtent> slices;  // A streamed message's slice records, in index order.
    bool statuses_pending = false;    // Status records of it not yet durable.
};

// The message as the shard holds it when its copy could be queued or has landed.
struct CompactionSource {
    RecordLocation location;        // Its message record or commit now.
    bool statuses_pending = false;  // Status records of it not yet durable.
    bool admin_pending = false;     // An administrator's hold/release/delete in flight.
};

enum class RoundStart {
    no_plan,               // Compacting does not pay now (or the space budget forbids it).
    busy,                  // A round is in flight.
    pinned,                // Pinned by records the shard does not hold: looked at later.
    waiting_for_statuses,  // Every message there has status records in flight: next tick.
    started,               // reads() lists what to read.
};

struct RoundStartNote {
    RoundStart start = RoundStart::no_plan;
    std::uint32_t held = 0;        // Messages the shard holds in the head.
    std::uint32_t copies = 0;      // Taken into the round.
    std::uint64_t copy_bytes = 0;  // Their bytes.
};

// One read of a round: `into.size()` bytes at `offset` of segment `segment_seq`.
struct CompactionRead {
    std::uint32_t copy_index = 0;
    std::uint32_t part = 0;  // Slice index, or the slice count for the message/commit.
    std::uint32_t segment_seq = 0;
    std::uint64_t offset = 0;
    std::span<char> into;  // In the copy's buffer, which the round owns until reads_finished().
};

// One message of a round.
struct CompactionCopy {
    QueueId id;
    RecordLocation from;  // Its record's place, and all it pins there (slices included).
    std::vector<SliceExtent> slices;  // Streamed: where they were read from.
    std::uint64_t commit_bytes = 0;   // Streamed: its commit, last in record.
    std::string record;               // Read back: the slice records then the commit.
    std::uint32_t reads_pending = 0;
    bool read_failed = false;
    bool read_ok = false;  // Every read whole and the records checked again.
};

// The copy_index of a stream copy's reads (above any index of copies()).
inline constexpr std::uint32_t stream_copy_index = 1u << 20;
static_assert(compaction_round_messages_max < stream_copy_index);

enum class StreamCopyState {
    to_read,     // stream_read() next.
    reading,     // A read in flight.
    read_back,   // Checked: stream_next() says what to do with it.
    in_writer,   // A slice the writer holds: stream_slice_ended() once it no longer does.
    committing,  // The commit is the writer's: copy_done() ends it.
    ended,       // Committed and reported, or abandoned.
};

// A streamed message being copied slice by slice.
struct StreamCopy {
    QueueId id;
    RecordLocation from;  // Its commit's place, and all it pins there (slices included).
    std::vector<SliceExtent> slices;  // Where they are read from, in index order.
    std::uint64_t commit_bytes = 0;
    std::uint32_t part = 0;           // Slice index, or slices.size() for the commit.
    std::uint64_t content_bytes = 0;  // Of the slices checked so far (the commit's sum).
    std::string record;               // The one record read back, until the writer takes it.
    StreamCopyState state = StreamCopyState::to_read;
    bool begun = false;  // The writer's copy stream is open (abandon it when ended early).
};

enum class StreamStep {
    abandon,           // Not copied: abandon the writer's copy stream if begun.
    begin_and_append,  // Begin the writer's copy stream, then append this slice.
    append,            // Append this slice to the copy stream.
    commit,            // Commit the copy stream with this record, its statuses and hold.
};

struct CopyReadNote {
    bool copy_failed = false;  // This read ended copy_index's reads, and it is not copied.
    int last_result = 0;       // The read's result, for the log line of a failed copy.
    bool all_read = false;     // The round's last read: queue_copy(), then reads_finished().
};

enum class CopyVerdict {
    not_copied,  // The copy did not become durable: the old records stay pinned.
    moved,       // Unpin `from`; the message's records are now the copy at `to`.
    copy_dead,   // The message finished or moved meanwhile: unpin the copy at `to`.
};

class Compaction {
public:
    explicit Compaction(CompactionLimits limits = {});

    // Whether begin() could start a round on plan now: a plan, no round in flight, and
    // not a head found pinned less than pinned_head_retry_ms ago. Callers ask before
    // gathering the candidates, a walk over every message the shard holds.
    bool looks_at(const std::optional<CompactionPlan>& plan, std::uint64_t now_ms) const;
    // Plans a round on the head plan names, from the messages the shard holds there
    // (step 2 above). started: reads() lists the reads to submit, all at once.
    RoundStartNote begin(const std::optional<CompactionPlan>& plan,
                         std::span<const CompactionCandidate> live, std::uint64_t now_ms);
    std::span<const CompactionRead> reads() const { return reads_; }

    // A read of reads() ended with result (bytes read, or a negative errno). Precondition:
    // the read is one of reads() and has not ended before.
    CopyReadNote read_done(std::uint32_t copy_index, std::uint32_t part, int result);
    // The round's copies; after the last read, read_ok says which were read back whole.
    std::span<const CompactionCopy> copies() const { return copies_; }
    // Whether copy copy_index goes to the writer now, given the message as the shard holds
    // it (nullopt: finished meanwhile); if so it counts as in flight until copy_done().
    // Precondition: every read is in, reads_finished() not yet called.
    bool queue_copy(std::uint32_t copy_index, const std::optional<CompactionSource>& now);
    // Frees the round's buffers (the copies queued were taken by the writer). The round
    // ends here if no copy was queued.
    void reads_finished();

    // A copy queued by queue_copy() was reported by the writer: durable or not, with the
    // message's place now (nullopt: finished meanwhile). Precondition: copies in flight.
    CopyVerdict copy_done(bool durable, const RecordLocation& from,
                          const std::optional<RecordLocation>& now);

    // The round's stream copy (nullptr if none); valid until the next begin().
    const StreamCopy* stream() const { return stream_ ? &*stream_ : nullptr; }
    // The stream copy's next read (state to_read -> reading).
    CompactionRead stream_read();
    // Its read ended with result: checked (read_back), or ended (false: log and abandon).
    bool stream_read_done(int result);
    // What to do with the record read back (state read_back), given the message as the
    // shard holds it now and whether the writer may begin a stream now.
    StreamStep stream_next(const std::optional<CompactionSource>& now, bool writer_may_begin);
    // The record read back, for the writer (after stream_next said append or commit).
    std::string take_stream_record();
    // The writer no longer holds the slice: landed (next record to read) or lost with a
    // failed batch (broken: the copy ends; abandon it). Returns whether it goes on.
    bool stream_slice_ended(bool broken);
    // Ends the stream copy early (the shard is stopping): not while its read is in flight
    // (the buffer is the kernel's) nor once committed. Returns whether the writer's copy
    // stream was begun (abandon it).
    bool abandon_stream();

    bool busy() const { return busy_; }
    std::uint32_t segment_seq() const { return segment_seq_; }  // The round's head.
    std::uint32_t copies_in_flight() const { return copies_in_flight_; }
    std::uint32_t copied() const { return copied_; }  // Durable copies of this round.
    std::uint32_t reads_pending() const { return reads_pending_; }
    // The most bytes of records the rounds so far held at once in their buffers (bounded
    // by compaction_round_memory_bytes_max, or the first message record if larger).
    std::uint64_t buffer_bytes_peak() const { return buffer_bytes_peak_; }

private:
    bool fits(std::uint64_t bytes) const;
    void list_reads();
    void end_stream();
    void end_if_done();
    void note_buffers();

    CompactionLimits limits_;
    bool busy_ = false;
    std::uint32_t segment_seq_ = 0;
    std::vector<CompactionCopy> copies_;
    std::vector<CompactionRead> reads_;
    std::uint64_t round_bytes_ = 0;
    std::uint32_t reads_pending_ = 0;
    std::uint32_t copies_in_flight_ = 0;
    std::uint32_t copied_ = 0;
    bool reads_finished_ = true;           // reads_finished() called for the round's reads.
    std::uint64_t copy_buffer_bytes_ = 0;  // copies_' buffers, until reads_finished().
    std::uint64_t buffer_bytes_peak_ = 0;
    std::optional<StreamCopy> stream_;
    std::optional<std::uint32_t> pinned_seq_;  // A head found pinned, and until when
    std::uint64_t pinned_until_ms_ = 0;        // not to look at it again.
};

// Whether `record` is slice `index` of message `id` with `content_bytes` of content, or
// (index == slices.size()) its commit for that many slices and content bytes.
bool stream_record_checks(std::span<const char> record, const QueueId& id, std::uint32_t index,
                          std::uint32_t slice_count, std::uint64_t content_bytes);

// Whether `record` is the copy read back for `copy`: its message record, or its slice
// records then its commit, each whole and checked (checksum, id, index, lengths).
bool copy_checks(const CompactionCopy& copy);

// The message's records now are the copy at `to`, laid out as they were read: a streamed
// message's slice records (in index order) then its commit. Moves `slices` to their new
// places and returns the new place of the message record or commit.
// Precondition: to.bytes is the message's stored bytes (slices and record).
RecordLocation relocate_copy(std::vector<SliceExtent>& slices, const RecordLocation& to);
// A copy stream's landed: its slices are `copied` (in index order), its commit at
// to.offset, and to.bytes is every record of it. Returns the commit's place.
RecordLocation relocate_stream_copy(std::vector<SliceExtent>& slices,
                                    std::span<const SliceExtent> copied, const RecordLocation& to);

}  // namespace hub::spool
