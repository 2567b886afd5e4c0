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
// writes the copies a compaction asks for (spool_compactor.h; segment_ledger.h explains
// the order).
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
using RecordLocation = spool::RecordLocation;

struct CommitOutcome {
    CommitWaiter waiter;
    CommitStatus status = CommitStatus::failed;
    spool::QueueId id;
    RecordLocation location;  // Valid when durable; offset is relative to staging before.
    // A streamed message: location is its commit (streamed_message record), and these are
    // its content_slice records in index order, in location's segment, as recovery would
    // find them (valid when durable).
    bool streamed = false;
    std::vector<spool::SliceExtent> slices;
    // What the message pins in its segment's ledger entry (release() unpins this much).
    std::uint64_t stored_bytes() const {
        std::uint64_t bytes = location.bytes;
        for (const spool::SliceExtent& slice : slices) {
            bytes += slice.record_bytes;
        }
        return bytes;
    }
};

// An outcome of a message record (not streamed).
inline CommitOutcome commit_outcome(CommitWaiter waiter, CommitStatus status,
                                    const spool::QueueId& id, RecordLocation location = {}) {
    CommitOutcome outcome;
    outcome.waiter = waiter;
    outcome.status = status;
    outcome.id = id;
    outcome.location = location;
    return outcome;
}

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
    // Valid when durable. A copy written whole: its records, end to end. A copy stream
    // (streamed): its commit's offset, and bytes = every record of the copy (what it pins).
    RecordLocation to;
    bool durable = false;
    bool streamed = false;                   // Written as a copy stream, slice by slice.
    std::vector<spool::SliceExtent> slices;  // A copy stream's slice records, when durable.
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

    // Streamed messages (docs/ARCHITECTURE.md, "Streamed messages"): a message written in
    // content_slice records while it arrives, then committed by a streamed_message record,
    // all in one segment. The writer holds at most one slice of a stream (staged or in
    // flight); the caller holds back the next until stream_holds_slice() is false.
    // Whether a stream may begin now: the segment has room in recovery's table of open
    // streams (spool::open_streams_per_segment_max, abandoned ones included) and is not
    // waiting to rotate. If not, the caller writes the message as one record (append).
    bool can_begin_stream() const;
    // Hands out the stream's id (the next message id, as next_id()). Precondition:
    // can_begin_stream().
    spool::QueueId begin_stream();
    bool stream_holds_slice(const spool::QueueId& id) const;
    // Queues the stream's next slice (1..slice_content_bytes_max bytes; slice 0 starts with
    // the Received: header) for the next batch, written from this buffer and freed when the
    // batch ends. Precondition: the stream is open and !stream_holds_slice(id). A slice of
    // a stream a failed batch broke is dropped (the commit then reports the failure).
    void append_slice(const spool::QueueId& id, std::string content);
    // Ends the stream: its last slice (may be empty) and the commit go out together,
    // after the slice the writer still holds, if any, has landed. The outcome is reported
    // by finished() like append()'s; durable only once the commit is synced.
    void commit_stream(const spool::MessageMeta& meta, std::string last_content,
                       CommitWaiter waiter);
    // Forgets a stream that will not be committed (a 552, RSET, a disconnect): its slices
    // are dead bytes. Its slice in flight, if any, still lands first.
    void abandon_stream(const spool::QueueId& id);
    std::size_t open_streams() const { return streams_.size(); }

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

    // Compaction of a streamed message, one slice at a time (docs/ARCHITECTURE.md, "Spool
    // lifecycle"): a copy stream is an inbound stream whose records arrive already encoded,
    // read back from the old segment. Its slice records and its commit land in one segment
    // in order, like an inbound stream's, so a copy torn by a crash is an uncommitted
    // stream that recovery drops, and the original stays. Begun when can_begin_stream()
    // (same room rules; it takes no new id: the copy keeps the message's). Precondition:
    // no stream of id is open.
    void begin_copy_stream(const spool::QueueId& id);
    // Queues the copy's next slice record (as read back and checked, with its content
    // length) for the next batch, with the other copies. Precondition: the copy stream is
    // open and !stream_holds_slice(id). Dropped if the stream is broken.
    void append_copy_slice(const spool::QueueId& id, std::string record,
                           std::uint32_t content_bytes);
    // A failed batch lost one of the copy stream's slices: it cannot complete (abandon it).
    bool stream_broken(const spool::QueueId& id) const;
    // Ends the copy stream with its commit record, followed by statuses and a hold as
    // append_copy() does; reported by copies_done() (streamed, with its new slices), durable
    // only once the commit is synced. Precondition: !stream_holds_slice(id).
    void commit_copy_stream(std::string commit_record, const spool::QueueId& id,
                            RecordLocation from, std::span<const StatusNote> statuses,
                            std::optional<std::uint64_t> held_since_unix_ms = std::nullopt);

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
    // Stages one record around piece: written from piece's own buffer (only the record's
    // head and tail encoded, by around) while the batch may hold another large piece, else
    // encoded whole into the open part (by into). Returns where the record lies in the batch.
    template <typename EncodeAround, typename EncodeInto>
    RecordLocation stage_record(std::string piece, EncodeAround around, EncodeInto into);
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
    struct Stream;
    struct SliceNote;
    Stream* find_stream(const spool::QueueId& id);
    const Stream* find_stream(const spool::QueueId& id) const;
    void remove_stream(const spool::QueueId& id);
    void stage_slice(Stream& stream, std::string content);
    void stage_commit(Stream& stream);
    void stage_copy_companions(const spool::QueueId& id, std::span<const StatusNote> statuses,
                               std::optional<std::uint64_t> held_since_unix_ms);
    void slice_ended(const SliceNote& note, bool landed, CommitStatus failure);
    void break_streams(CommitStatus failure);
    void rotate();

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

    // Streams begun and not yet committed or abandoned. Each holds at most one slice.
    struct StreamCommit {
        spool::MessageMeta meta;
        std::string last_content;
        CommitWaiter waiter;
    };
    struct Stream {
        explicit Stream(const spool::QueueId& id) : encoder(id) {}
        spool::StreamedMessageEncoder encoder;
        bool holds_slice = false;  // A slice staged or in flight.
        bool copy = false;         // A compaction's copy stream (its records come encoded).
        bool abandoned = false;    // Removed once its slice in flight ends.
        // A failed batch (or a staging that could not be written) lost one of its slices:
        // nothing more of it is written and its commit is answered with this.
        std::optional<CommitStatus> broken;
        std::optional<StreamCommit> commit;      // Waiting for the held slice to land.
        std::vector<spool::SliceExtent> slices;  // Durable ones, in index order.
    };
    std::vector<Stream> streams_;
    // Streams begun in the current segment and not committed there, abandoned ones too:
    // recovery keeps each open to the end of the segment (open_streams_per_segment_max).
    std::uint32_t segment_streams_open_ = 0;
    // The segment is full but streams begun in it are still open: it rotates once the last
    // one ends (their slices and commit must share it); no stream begins meanwhile.
    bool rotation_waits_ = false;
    // A slice staged or in flight, by stream: where it goes (offset relative to staging
    // until the batch is submitted).
    struct SliceNote {
        spool::QueueId id;
        RecordLocation location;
        std::uint32_t content_bytes = 0;
    };
    std::vector<SliceNote> staged_slices_;
    std::vector<SliceNote> batch_slices_;
    // A copy stream's slices, staged with the copies (offset relative to copy_staging_).
    std::vector<SliceNote> staged_copy_slices_;
    std::vector<SliceNote> batch_copy_slices_;

    std::vector<CommitOutcome> finished_;
    std::vector<StatusNote> durable_statuses_;
    std::vector<CopyOutcome> copies_done_;
};

}  // namespace hub::engine
