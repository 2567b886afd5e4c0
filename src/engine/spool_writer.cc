// spool_writer.cc -- group commit of accepted messages to a shard's spool segments.
//
// PURPOSE   Make every accepted message durable before its 250, with one fdatasync
//           covering many messages, and never leave a failed message recoverable.
// RUNS IN   a shard thread; all file I/O goes through the shard's ring.
// TRUST     message content is peer data, but it is only copied, never interpreted here.
// LIMITS    one batch in flight; segment_bytes_max per segment file.
// SEE ALSO  spool/spool_format.h (record format and recovery), DESIGN.md section 4
#include "engine/spool_writer.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "engine/limits.h"

namespace hub::engine {

SpoolWriter::SpoolWriter(Ring& ring, std::uint8_t shard, int shard_dir_fd,
                         std::uint32_t first_segment_seq, std::uint64_t segment_bytes_max)
    : ring_(ring),
      shard_(shard),
      dir_fd_(shard_dir_fd),
      segment_bytes_max_(segment_bytes_max),
      segment_seq_(first_segment_seq),
      id_segment_seq_(first_segment_seq) {
    HUB_ASSERT(shard_dir_fd >= 0);
    HUB_ASSERT(segment_bytes_max > 0);
}

void SpoolWriter::start() {
    HUB_ASSERT(state_ == State::opening && segment_fd_ < 0);
    submit_open();
}

spool::QueueId SpoolWriter::next_id() const {
    return spool::QueueId{shard_, id_segment_seq_, next_ordinal_};
}

void SpoolWriter::append(const spool::MessageMeta& meta, std::string_view received_header,
                         std::string_view body, CommitWaiter waiter) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(meta.id == next_id());                // The Received: header already names this id.
    HUB_ASSERT(next_ordinal_ < spool::ordinal_max);  // A segment holds far fewer records.
    std::size_t offset_in_staging = staging_.size();
    spool::append_message_record(meta, received_header, body, staging_);
    RecordLocation location{0, offset_in_staging, staging_.size() - offset_in_staging};
    staged_.push_back(CommitOutcome{waiter, CommitStatus::failed, meta.id, location});
    next_ordinal_++;
    kick();
}

void SpoolWriter::append_message_status(const spool::QueueId& id, spool::MessageStatus status,
                                        std::uint64_t time_unix_ms, CommitWaiter waiter) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(waiter.admin && !waiter.generated);
    std::size_t offset_in_staging = staging_.size();
    spool::append_message_status_record(id, status, time_unix_ms, staging_);
    RecordLocation location{0, offset_in_staging, staging_.size() - offset_in_staging};
    staged_.push_back(CommitOutcome{waiter, CommitStatus::failed, id, location});
    kick();
}

void SpoolWriter::append_status(const spool::QueueId& id, std::uint32_t recipient_index,
                                spool::RecipientStatus status) {
    HUB_ASSERT(state_ != State::closed);
    spool::append_status_record(id, recipient_index, status, staging_);
    kick();
}

void SpoolWriter::kick() {
    if (state_ == State::ready) {
        submit_batch();
    } else if (state_ == State::open_failed) {
        submit_open();  // Retried only when there is something to write: no busy loop.
    }
}

int SpoolWriter::segment_fd(std::uint32_t segment_seq) const {
    for (const auto& [seq, fd] : segment_fds_) {
        if (seq == segment_seq) {
            return fd;
        }
    }
    return -1;
}

bool SpoolWriter::idle() const {
    return staging_.empty() && batch_waiters_.empty() && state_ != State::writing &&
           state_ != State::repairing;
}

void SpoolWriter::submit_open() {
    segment_name_ = spool::segment_relative_path(shard_, segment_seq_);
    // The name is relative to the spool root; the shard directory fd is its parent.
    std::size_t slash = segment_name_.rfind('/');
    const char* leaf = segment_name_.c_str() + (slash == std::string::npos ? 0 : slash + 1);
    io_uring_sqe* sqe = ring_.sqe(Tag{Op::spool_open, 0, 0});
    io_uring_prep_openat(sqe, dir_fd_, leaf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    state_ = State::opening;
}

void SpoolWriter::on_open_done(int result) {
    HUB_ASSERT(state_ == State::opening);
    if (result == -EEXIST) {
        segment_seq_++;  // Left by a run that crashed between open and first write.
        submit_open();
        return;
    }
    if (result < 0) {
        // Cannot create a segment: fail what is staged, retry the open on the next append.
        base::log_error("spool: shard {}: cannot create segment {}: {}", shard_, segment_name_,
                        std::strerror(-result));
        for (CommitOutcome& outcome : staged_) {
            outcome.status = result == -ENOSPC ? CommitStatus::no_space : CommitStatus::failed;
            finished_.push_back(outcome);
        }
        staged_.clear();
        staging_.clear();
        state_ = State::open_failed;
        return;
    }
    segment_fd_ = result;
    segment_fds_.emplace_back(segment_seq_, result);
    synced_bytes_ = 0;
    segment_is_new_ = true;
    state_ = State::ready;
    base::log_debug("spool: shard {}: segment {} open", shard_, segment_name_);
    if (!staging_.empty()) {
        submit_batch();
    }
}

namespace {

// Frees an empty buffer's storage when a burst of large messages left it big (see
// spool_buffer_keep_bytes); small ones are kept to avoid reallocating every batch.
void release_if_large(std::string& buffer) {
    if (buffer.empty() && buffer.capacity() > spool_buffer_keep_bytes) {
        std::string().swap(buffer);
    }
}

}  // namespace

void SpoolWriter::submit_batch() {
    HUB_ASSERT(state_ == State::ready && batch_waiters_.empty());
    HUB_ASSERT(!staging_.empty());
    batch_.clear();
    if (segment_is_new_) {
        spool::append_segment_header(shard_, segment_seq_, batch_);  // Until one batch lands.
    }
    std::uint64_t base = synced_bytes_ + batch_.size();
    for (CommitOutcome& outcome : staged_) {
        outcome.location.segment_seq = segment_seq_;
        outcome.location.offset += base;
    }
    if (batch_.empty()) {
        batch_.swap(staging_);  // The common case (no segment header): no copy at all.
    } else {
        batch_.append(staging_);
    }
    staging_.clear();
    release_if_large(staging_);
    batch_waiters_.swap(staged_);
    staged_.clear();
    batch_error_ = 0;
    batch_steps_pending_ = 2;
    if (segment_is_new_) {
        // RFC-less but essential: the new file's directory entry must be durable too.
        io_uring_sqe* dir_sync = ring_.sqe(Tag{Op::spool_dir_sync, 0, 0});
        io_uring_prep_fsync(dir_sync, dir_fd_, 0);
        dir_sync->flags |= IOSQE_IO_LINK;
        batch_steps_pending_++;
    }
    io_uring_sqe* write = ring_.sqe(Tag{Op::spool_write, 0, 0});
    io_uring_prep_write(write, segment_fd_, batch_.data(), static_cast<unsigned>(batch_.size()),
                        synced_bytes_);
    write->flags |= IOSQE_IO_LINK;  // The sync runs only if the whole write succeeded.
    io_uring_sqe* sync = ring_.sqe(Tag{Op::spool_sync, 0, 0});
    io_uring_prep_fsync(sync, segment_fd_, IORING_FSYNC_DATASYNC);
    state_ = State::writing;
}

void SpoolWriter::on_batch_step(Op op, int result) {
    HUB_ASSERT(state_ == State::writing && batch_steps_pending_ > 0);
    int error = result < 0 ? result : 0;
    if (op == Op::spool_write && result >= 0 && static_cast<std::size_t>(result) != batch_.size()) {
        error = -ENOSPC;  // A short write to a regular file means the device filled up.
    }
    if (error != 0 && (batch_error_ == 0 || batch_error_ == -ECANCELED)) {
        batch_error_ = error;  // Keep the root cause, not the cancellation it caused.
    }
    batch_steps_pending_--;
    if (batch_steps_pending_ == 0) {
        finish_batch();
    }
}

void SpoolWriter::finish_batch() {
    HUB_ASSERT(state_ == State::writing);
    if (batch_error_ == 0) {
        synced_bytes_ += batch_.size();
        segment_is_new_ = false;
        for (CommitOutcome& outcome : batch_waiters_) {
            outcome.status = CommitStatus::durable;
            finished_.push_back(outcome);
        }
        batch_waiters_.clear();
        batch_.clear();
        release_if_large(batch_);
        state_ = State::ready;
        if (synced_bytes_ >= segment_bytes_max_) {
            // Rotate: later ids name the new segment; staged ones keep theirs (ids are
            // unique names, not addresses).
            // The old file stays open: delivery reads its records back through it.
            segment_fd_ = -1;
            segment_seq_++;
            id_segment_seq_ = segment_seq_;
            next_ordinal_ = 0;
            submit_open();
            return;
        }
        if (!staging_.empty()) {
            submit_batch();
        }
        return;
    }
    bool no_space = batch_error_ == -ENOSPC || batch_error_ == -EDQUOT;
    base::log_warn("spool: shard {}: write of {} messages to {} failed: {}", shard_,
                   batch_waiters_.size(), segment_name_, std::strerror(-batch_error_));
    for (CommitOutcome& outcome : batch_waiters_) {
        outcome.status = no_space ? CommitStatus::no_space : CommitStatus::failed;
        finished_.push_back(outcome);
    }
    batch_waiters_.clear();
    punch_offset_ = synced_bytes_;
    punch_bytes_ = batch_.size();
    batch_.clear();
    release_if_large(batch_);
    submit_punch();
}

void SpoolWriter::submit_punch() {
    // Zero the failed range so that no record in it can pass its checksum at recovery:
    // its clients were told 451/452 and will send again.
    io_uring_sqe* punch = ring_.sqe(Tag{Op::spool_punch, 0, 0});
    io_uring_prep_fallocate(punch, segment_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(punch_offset_), static_cast<off_t>(punch_bytes_));
    punch->flags |= IOSQE_IO_LINK;
    io_uring_sqe* sync = ring_.sqe(Tag{Op::spool_sync, 1, 0});
    io_uring_prep_fsync(sync, segment_fd_, IORING_FSYNC_DATASYNC);
    batch_steps_pending_ = 2;
    batch_error_ = 0;
    state_ = State::repairing;
}

void SpoolWriter::on_punch_done(int result) {
    HUB_ASSERT(state_ == State::repairing && batch_steps_pending_ > 0);
    if (result < 0 && (batch_error_ == 0 || batch_error_ == -ECANCELED)) {
        batch_error_ = result;
    }
    batch_steps_pending_--;
    if (batch_steps_pending_ > 0) {
        return;
    }
    if (batch_error_ != 0) {
        // XXX: the range could not be zeroed, so records in it may survive a crash and be
        // delivered although their clients saw 451/452 (a duplicate, never a loss). Leave
        // this segment behind and continue in a fresh one.
        base::log_error("spool: shard {}: cannot punch failed range of {}: {}", shard_,
                        segment_name_, std::strerror(-batch_error_));
        segment_fd_ = -1;  // Still open for reading its acknowledged records.
        segment_seq_++;
        submit_open();
        return;
    }
    state_ = State::ready;
    if (!staging_.empty()) {
        submit_batch();
    }
}

void SpoolWriter::on_completion(Op op, int result) {
    switch (op) {
        case Op::spool_open:
            on_open_done(result);
            return;
        case Op::spool_dir_sync:
        case Op::spool_write:
            on_batch_step(op, result);
            return;
        case Op::spool_sync:
            if (state_ == State::repairing) {
                on_punch_done(result);
            } else {
                on_batch_step(op, result);
            }
            return;
        case Op::spool_punch:
            on_punch_done(result);
            return;
        case Op::spool_close:
            return;  // Nothing to do; an error closing a synced file loses nothing.
        case Op::accept:
        case Op::recv:
        case Op::send:
        case Op::send_timeout:
        case Op::cancel_recv:
        case Op::close_socket:
        case Op::tick:
        case Op::log_write:
        case Op::record_read:
        case Op::report_read:
        case Op::out_socket:
        case Op::out_connect:
        case Op::out_connect_timeout:
            break;
    }
    HUB_PANIC("non-spool completion routed to the spool writer");
}

void SpoolWriter::close() {
    HUB_ASSERT(idle());
    for (const auto& [seq, fd] : segment_fds_) {
        io_uring_sqe* close_fd = ring_.sqe(Tag{Op::spool_close, 0, 0});
        io_uring_prep_close(close_fd, fd);
    }
    segment_fds_.clear();
    segment_fd_ = -1;
    state_ = State::closed;
}

}  // namespace hub::engine
