// spool_writer.h -- a shard's appender to its own spool segments, with group commit.
//
// Messages are encoded into a staging buffer. At most one batch is in flight: a write of
// the whole batch linked to an fdatasync (and, for a new segment, preceded by an fsync of
// the shard's directory so the file's name is durable too). When the chain completes every
// message in the batch is durable and only then gets its 250; messages that arrived
// meanwhile form the next batch, so one sync covers many messages (STYLE.md example 3).
// A failed batch is answered 452 (ENOSPC) or 451, its bytes are punched out of the file
// so that recovery can never resurrect a message whose client was told it failed, and
// appending resumes where the last good batch ended. Status records of a failed batch are
// staged again and retried until durable.
//
// The writer also gives disk space back: it keeps the shard's SegmentLedger, deletes dead
// segments oldest first (unlinkat linked to a directory fsync, then the fd is closed), and
// writes the copies a compaction asks for (segment_ledger.h explains the order).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ring.h"
#include "spool/segment_ledger.h"
#include "spool/spool_format.h"

namespace hub::engine {

// Who to tell when a commit ends: a connection slot and its generation, or the hub itself
// for a message it generated (a delivery report, a ping reply).
struct CommitWaiter {
    std::uint32_t slot_index = 0;
    std::uint32_t generation = 0;
    bool generated = false;
    // An administrator's hold/release/delete (a message_status record): the shard answers
    // hubctl when it is durable.
    bool admin = false;
};

enum class CommitStatus { durable, failed, no_space };

// Where a durable record lives, so that delivery can read it back with one read.
struct RecordLocation {
    std::uint32_t segment_seq = 0;
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
};

struct CommitOutcome {
    CommitWaiter waiter;
    CommitStatus status = CommitStatus::failed;
    spool::QueueId id;
    RecordLocation location;  // Valid when durable; offset is relative to staging before.
};

// A status record that became durable (the shard's "finished" bookkeeping waits for it).
struct StatusNote {
    spool::QueueId id;
    std::uint32_t recipient_index = 0;
    spool::RecipientStatus status = spool::RecipientStatus::pending;
};

// A message record copied forward by a compaction: durable at `to`, or not copied.
struct CopyOutcome {
    spool::QueueId id;
    RecordLocation from;
    RecordLocation to;  // Valid when durable.
    bool durable = false;
};

// How much of the file system's free space each kind of write may use. New mail stops at
// reserve_bytes, compaction copies at floor_bytes, status records never (they are what
// lets space be given back). free_bytes is the supervisor's last statvfs; between two
// polls every shard charges what it wrote times shard_count, so that shards writing at
// once cannot together overshoot the reserve.
struct SpaceBudget {
    const std::atomic<std::uint64_t>* free_bytes = nullptr;  // Null: unlimited.
    std::uint64_t reserve_bytes = 0;
    std::uint64_t floor_bytes = 0;
    std::uint32_t shard_count = 1;
};

class SpoolWriter {
public:
    // shard_dir_fd: the open directory "<spool>/shard-<k>", owned by the caller.
    SpoolWriter(RingOps& ring, std::uint8_t shard, int shard_dir_fd,
                std::uint32_t first_segment_seq, std::uint64_t segment_bytes_max,
                SpaceBudget budget = {});

    // Before start(): a segment of this shard's directory found by recovery, opened
    // read-only (fd, now owned by the writer), with its live messages' count and bytes.
    // keep: damaged, never deleted. Precondition: seqs ascending, below first_segment_seq.
    void adopt_segment(std::uint32_t seq, int fd, std::uint64_t bytes, std::uint32_t live,
                       std::uint64_t live_bytes, bool keep);

    // Submits the open of the first segment; appends wait in staging until it completes.
    void start();

    // The id the next appended message will get (for its Received: header).
    spool::QueueId next_id() const;
    // Encodes one message (meta.id must be next_id()) and queues it for the next batch. The
    // writer owns the body until the batch ends: a body of at least held_body_bytes_min is
    // written from where it is (one vectored write), not copied into the batch.
    void append(const spool::MessageMeta& meta, std::string_view received_header, std::string body,
                CommitWaiter waiter);

    // Queues a status record (a recipient delivered or bounced). It goes out with the next
    // batch and is retried, batch after batch, until it is durable; then it is reported
    // by durable_statuses(). Status records are never refused for lack of space.
    void append_status(const spool::QueueId& id, std::uint32_t recipient_index,
                       spool::RecipientStatus status);
    std::vector<StatusNote>& durable_statuses() { return durable_statuses_; }

    // Compaction: queues a copy of a message record read back from segment `from`,
    // followed by the status records it already has and, for a message an administrator
    // holds (held_since_unix_ms set), a fresh hold record -- the old hold may sit in a
    // segment that dies before the copy's -- for the next batch. Reported by copies_done();
    // the copy pins its new segment, the caller unpins the old one.
    void append_copy(std::string_view record, const spool::QueueId& id, RecordLocation from,
                     std::span<const StatusNote> statuses,
                     std::optional<std::uint64_t> held_since_unix_ms = std::nullopt);
    std::vector<CopyOutcome>& copies_done() { return copies_done_; }
    // The head segment, if compacting it pays and the budget allows copying it now.
    std::optional<spool::CompactionPlan> compaction_plan() const;

    // A durable message record is no longer needed (finished with its statuses durable,
    // or copied forward): it stops pinning its segment.
    void release(const RecordLocation& location);

    // Every tick: retries status records that failed, deletes the next dead segment.
    void on_tick();

    // Queues a message_status record (hubctl queue hold/release/delete) for the next
    // batch; its outcome is reported through finished() to waiter (admin set), like a
    // message's, so that the administrator is answered only once the record is durable.
    void append_message_status(const spool::QueueId& id, spool::MessageStatus status,
                               std::uint64_t time_unix_ms, CommitWaiter waiter);

    // Handles a completion whose tag op is one of the spool_* ops.
    void on_completion(Op op, int result);

    // Commits that ended since the last call; the shard answers each waiter.
    std::vector<CommitOutcome>& finished() { return finished_; }

    // The open file of one of this writer's segments, for reading records back; -1 if
    // it is not one of them (another shard's, or deleted).
    int segment_fd(std::uint32_t segment_seq) const;

    const spool::SegmentLedger& ledger() const { return ledger_; }

    // Nothing staged or in flight: safe to stop.
    bool idle() const;

    // Closes the segment files (at shutdown).
    void close();

private:
    enum class State { opening, open_failed, ready, writing, repairing, closed };

    void kick();  // Starts a batch, or retries the segment open, if one can go now.
    std::string& open_staging_part();
    void clear_staged_messages();
    void clear_batch();
    void submit_open();
    void on_open_done(int result);
    void submit_batch();
    void fail_staged_mail(CommitStatus status, bool copies_too);
    bool budget_allows(std::uint64_t bytes, std::uint64_t floor_bytes);
    void on_batch_step(Op op, int result);
    void finish_batch();
    void fail_batch();
    void submit_punch();
    void on_punch_done(int result);
    void start_removal();
    void on_removal_step(Op op, int result);

    RingOps& ring_;
    std::uint8_t shard_;
    int dir_fd_;
    std::uint64_t segment_bytes_max_;
    SpaceBudget budget_;
    std::uint64_t budget_free_seen_ = 0;  // budget_.free_bytes when last read.
    std::uint64_t budget_charged_ = 0;    // Bytes written since it changed.
    State state_ = State::opening;

    int segment_fd_ = -1;
    std::uint32_t segment_seq_;       // The file being appended to (or being opened).
    std::uint64_t synced_bytes_ = 0;  // Durable prefix of the current segment.
    bool segment_is_new_ = true;      // No batch landed yet: header and dirent not durable.
    std::string segment_name_;        // Kept alive for the in-flight openat.
    std::vector<std::pair<std::uint32_t, int>> segment_fds_;  // Open segments, by seq.
    spool::SegmentLedger ledger_;

    std::uint32_t id_segment_seq_;  // The segment part of ids being handed out.
    std::uint32_t next_ordinal_ = 0;

    // Staged for the next batch, which writes statuses, then copies, then messages. Message
    // records (and administrators' message_status records) are staged as parts that one
    // vectored write puts one after the other: encoded records gather in an open part; a
    // held body is three parts, its record's bytes before it, the body itself and the
    // trailer, and closes the open part.
    std::vector<std::string> staging_;
    std::uint64_t staging_bytes_ = 0;  // All parts together.
    bool staging_open_ = false;        // The last part takes more encoded records.
    unsigned staging_held_ = 0;        // Bodies held by reference among the parts.
    std::vector<CommitOutcome> staged_;
    std::string status_staging_;
    std::vector<StatusNote> staged_statuses_;
    std::string copy_staging_;
    std::vector<CopyOutcome> staged_copies_;  // to.offset: relative to copy_staging_.
    // After a batch failed for lack of space: the next batch carries status records only
    // (new mail is answered 452 meanwhile) and waits for the next tick.
    bool status_only_ = false;
    bool statuses_wait_for_tick_ = false;

    // In flight at synced_bytes_: batch_ (segment header, statuses, copies) then the message
    // parts, gathered by batch_pieces_ for the one vectored write.
    std::string batch_;
    std::vector<std::string> batch_parts_;
    std::vector<iovec> batch_pieces_;
    std::uint64_t batch_bytes_ = 0;
    std::vector<CommitOutcome> batch_waiters_;
    std::vector<StatusNote> batch_statuses_;
    std::vector<CopyOutcome> batch_copies_;
    unsigned batch_steps_pending_ = 0;
    int batch_error_ = 0;  // First negative errno of the chain, 0 if none.
    std::uint64_t punch_offset_ = 0;
    std::uint64_t punch_bytes_ = 0;

    // Segment deletion in flight: unlinkat linked to an fsync of the directory.
    bool removing_ = false;
    std::uint32_t removing_seq_ = 0;
    std::string removing_name_;  // Kept alive for the in-flight unlinkat.
    unsigned removal_steps_pending_ = 0;
    int removal_error_ = 0;

    std::vector<CommitOutcome> finished_;
    std::vector<StatusNote> durable_statuses_;
    std::vector<CopyOutcome> copies_done_;
};

}  // namespace hub::engine
