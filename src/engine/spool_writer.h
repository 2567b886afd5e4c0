// spool_writer.h -- a shard's appender to its own spool segments, with group commit.
//
// Messages are encoded into a staging buffer. At most one batch is in flight: a write of
// the whole batch linked to an fdatasync (and, for a new segment, preceded by an fsync of
// the shard's directory so the file's name is durable too). When the chain completes every
// message in the batch is durable and only then gets its 250; messages that arrived
// meanwhile form the next batch, so one sync covers many messages (STYLE.md example 3).
// A failed batch is answered 452 (ENOSPC) or 451, its bytes are punched out of the file
// so that recovery can never resurrect a message whose client was told it failed, and
// appending resumes where the last good batch ended.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ring.h"
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

class SpoolWriter {
public:
    // shard_dir_fd: the open directory "<spool>/shard-<k>", owned by the caller.
    SpoolWriter(Ring& ring, std::uint8_t shard, int shard_dir_fd, std::uint32_t first_segment_seq,
                std::uint64_t segment_bytes_max);

    // Submits the open of the first segment; appends wait in staging until it completes.
    void start();

    // The id the next appended message will get (for its Received: header).
    spool::QueueId next_id() const;
    // Encodes one message (meta.id must be next_id()) and queues it for the next batch.
    void append(const spool::MessageMeta& meta, std::string_view received_header,
                std::string_view body, CommitWaiter waiter);

    // Queues a status record (a recipient delivered or bounced). It is made durable with
    // the next batch; nobody waits for it, because losing it in a crash only means the
    // recipient is tried again (at-least-once delivery).
    void append_status(const spool::QueueId& id, std::uint32_t recipient_index,
                       spool::RecipientStatus status);

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
    // it is not one of them. XXX: segment files stay open until shutdown; the segment
    // garbage collector (later) will close and delete dead ones.
    int segment_fd(std::uint32_t segment_seq) const;

    // Nothing staged or in flight: safe to stop.
    bool idle() const;

    // Closes the current segment (at shutdown).
    void close();

private:
    enum class State { opening, open_failed, ready, writing, repairing, closed };

    void kick();  // Starts a batch, or retries the segment open, if one can go now.
    void submit_open();
    void on_open_done(int result);
    void submit_batch();
    void on_batch_step(Op op, int result);
    void finish_batch();
    void submit_punch();
    void on_punch_done(int result);

    Ring& ring_;
    std::uint8_t shard_;
    int dir_fd_;
    std::uint64_t segment_bytes_max_;
    State state_ = State::opening;

    int segment_fd_ = -1;
    std::uint32_t segment_seq_;       // The file being appended to (or being opened).
    std::uint64_t synced_bytes_ = 0;  // Durable prefix of the current segment.
    bool segment_is_new_ = true;      // No batch landed yet: header and dirent not durable.
    std::string segment_name_;        // Kept alive for the in-flight openat.
    std::vector<std::pair<std::uint32_t, int>> segment_fds_;  // Every segment opened, by seq.

    std::uint32_t id_segment_seq_;  // The segment part of ids being handed out.
    std::uint32_t next_ordinal_ = 0;

    std::string staging_;
    std::vector<CommitOutcome> staged_;
    std::string batch_;  // In flight: bytes being written at synced_bytes_.
    std::vector<CommitOutcome> batch_waiters_;
    unsigned batch_steps_pending_ = 0;
    int batch_error_ = 0;  // First negative errno of the chain, 0 if none.
    std::uint64_t punch_offset_ = 0;
    std::uint64_t punch_bytes_ = 0;

    std::vector<CommitOutcome> finished_;
};

}  // namespace hub::engine
