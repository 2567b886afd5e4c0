// spool_writer.cc -- group commit of accepted messages to a shard's spool segments.
//
// PURPOSE   Make every accepted message durable before its 250, with one fdatasync
//           covering many messages, and never leave a failed message recoverable; make
//           status records durable however long the disk stays full; delete dead
//           segments and write compaction copies (a streamed message's as a copy stream,
//           one slice record at a time, so that it lands in one segment in order).
// RUNS IN   a shard thread; all file I/O goes through the shard's ring.
// TRUST     message content is peer data, but it is only copied, never interpreted here.
// LIMITS    one batch and one deletion in flight; segment_bytes_max per segment file
//           (passed only while a stream begun in it, inbound or copy, is still open); one
//           slice held per stream.
// SEE ALSO  spool/spool_format.h (record format and recovery), DESIGN.md section 4
#include "engine/spool_writer.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "base/log.h"
#include "engine/limits.h"
#include "spool/limits.h"

namespace hub::engine {

namespace {

// A batch's pieces: batch_, and per held body its three parts and at most one open part
// before it, and the open part after the last.
constexpr std::size_t batch_pieces_max = 1 + 4 * std::size_t{held_bodies_per_batch_max} + 1;
static_assert(batch_pieces_max <= IOV_MAX, "one vectored write takes the whole batch");

}  // namespace

SpoolWriter::SpoolWriter(RingOps& ring, std::uint8_t shard, int shard_dir_fd,
                         std::uint32_t first_segment_seq, std::uint64_t segment_bytes_max,
                         SpaceBudget budget)
    : ring_(ring),
      shard_(shard),
      dir_fd_(shard_dir_fd),
      segment_bytes_max_(segment_bytes_max),
      budget_(budget),
      segment_seq_(first_segment_seq),
      id_segment_seq_(first_segment_seq) {
    HUB_ASSERT(shard_dir_fd >= 0);
    HUB_ASSERT(segment_bytes_max > 0);
    HUB_ASSERT(budget.shard_count > 0 && budget.floor_bytes <= budget.reserve_bytes);
}

void SpoolWriter::adopt_segment(std::uint32_t seq, int fd, std::uint64_t bytes, std::uint32_t live,
                                std::uint64_t live_bytes, bool keep) {
    HUB_ASSERT(state_ == State::opening && segment_fd_ < 0);
    HUB_ASSERT(seq < segment_seq_ && fd >= 0);
    segment_fds_.emplace_back(seq, fd);
    ledger_.add(seq, bytes, live, live_bytes, keep);
}

void SpoolWriter::start() {
    HUB_ASSERT(state_ == State::opening && segment_fd_ < 0);
    submit_open();
}

spool::QueueId SpoolWriter::next_id() const {
    return spool::QueueId{shard_, id_segment_seq_, next_ordinal_};
}

// The part encoded records are appended to (a new one after a held body).
std::string& SpoolWriter::open_staging_part() {
    if (!staging_open_) {
        staging_.emplace_back();
        staging_open_ = true;
    }
    return staging_.back();
}

void SpoolWriter::clear_staged_messages() {
    staging_.clear();
    staging_bytes_ = 0;
    staging_open_ = false;
    staging_held_ = 0;
}

template <typename EncodeAround, typename EncodeInto>
RecordLocation SpoolWriter::stage_record(std::string piece, EncodeAround around, EncodeInto into) {
    std::uint64_t offset_in_staging = staging_bytes_;
    if (piece.size() >= held_body_bytes_min && staging_held_ < held_bodies_per_batch_max) {
        // Written from where it is: the record's own bytes around it are all that is encoded.
        std::string head;
        std::string tail = around(piece, head);
        staging_bytes_ += head.size() + piece.size() + tail.size();
        staging_.push_back(std::move(head));
        staging_.push_back(std::move(piece));
        staging_.push_back(std::move(tail));
        staging_open_ = false;
        staging_held_++;
    } else {
        std::string& part = open_staging_part();
        std::size_t before = part.size();
        into(piece, part);
        staging_bytes_ += part.size() - before;
    }
    return RecordLocation{0, offset_in_staging, staging_bytes_ - offset_in_staging};
}

void SpoolWriter::append(const spool::MessageMeta& meta, std::string_view received_header,
                         std::string body, CommitWaiter waiter) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(meta.id == next_id());                // The Received: header already names this id.
    HUB_ASSERT(next_ordinal_ < spool::ordinal_max);  // A segment holds far fewer records.
    RecordLocation location = stage_record(
        std::move(body),
        [&](const std::string& piece, std::string& head) {
            return spool::append_message_record_around(meta, received_header, piece, head);
        },
        [&](const std::string& piece, std::string& part) {
            spool::append_message_record(meta, received_header, piece, part);
        });
    staged_.push_back(commit_outcome(waiter, CommitStatus::failed, meta.id, location));
    next_ordinal_++;
    kick();
}

bool SpoolWriter::can_begin_stream() const {
    return state_ != State::open_failed && state_ != State::closed && !status_only_ &&
           !rotation_waits_ && segment_streams_open_ < spool::open_streams_per_segment_max;
}

spool::QueueId SpoolWriter::begin_stream() {
    HUB_ASSERT(can_begin_stream());
    HUB_ASSERT(next_ordinal_ < spool::ordinal_max);
    spool::QueueId id = next_id();
    next_ordinal_++;
    streams_.emplace_back(id);
    segment_streams_open_++;
    return id;
}

SpoolWriter::Stream* SpoolWriter::find_stream(const spool::QueueId& id) {
    for (Stream& stream : streams_) {
        if (stream.encoder.id() == id) {
            return &stream;
        }
    }
    return nullptr;
}

const SpoolWriter::Stream* SpoolWriter::find_stream(const spool::QueueId& id) const {
    for (const Stream& stream : streams_) {
        if (stream.encoder.id() == id) {
            return &stream;
        }
    }
    return nullptr;
}

bool SpoolWriter::stream_holds_slice(const spool::QueueId& id) const {
    const Stream* stream = find_stream(id);
    return stream != nullptr && stream->holds_slice;
}

void SpoolWriter::remove_stream(const spool::QueueId& id) {
    for (auto entry = streams_.begin(); entry != streams_.end(); ++entry) {
        if (entry->encoder.id() == id) {
            streams_.erase(entry);
            break;
        }
    }
}

// Stages one content_slice record, written from content's buffer when it is large (as a
// held body is) or copied into the open part.
void SpoolWriter::stage_slice(Stream& stream, std::string content) {
    HUB_ASSERT(!stream.holds_slice && !stream.broken);
    std::size_t content_bytes = content.size();
    RecordLocation location = stage_record(
        std::move(content),
        [&](const std::string& piece, std::string& head) {
            return stream.encoder.append_slice_around(piece, head);
        },
        [&](const std::string& piece, std::string& part) {
            stream.encoder.append_slice(piece, part);
        });
    staged_slices_.push_back(
        SliceNote{stream.encoder.id(), location, static_cast<std::uint32_t>(content_bytes)});
    stream.holds_slice = true;
}

void SpoolWriter::append_slice(const spool::QueueId& id, std::string content) {
    HUB_ASSERT(state_ != State::closed);
    Stream* stream = find_stream(id);
    HUB_ASSERT(stream != nullptr && !stream->holds_slice && !stream->abandoned && !stream->commit);
    if (stream->broken) {
        return;  // Dropped: the commit reports why.
    }
    stage_slice(*stream, std::move(content));
    kick();
}

// Stages the stream's last slices and its commit, in that order, behind its other slices.
void SpoolWriter::stage_commit(Stream& stream) {
    HUB_ASSERT(stream.commit && !stream.holds_slice && !stream.broken);
    StreamCommit commit = std::move(*stream.commit);
    stream.commit.reset();
    std::string_view rest = commit.last_content;
    // The engine hands over at most one slice at a time, but the end of data may leave a
    // little more than one behind (what arrived while the writer held the previous slice).
    while (rest.size() > spool::slice_content_bytes_max) {
        stage_slice(stream, std::string(rest.substr(0, spool::slice_content_bytes_max)));
        stream.holds_slice = false;  // Both go out in this batch; one note each.
        rest.remove_prefix(spool::slice_content_bytes_max);
    }
    if (!rest.empty()) {
        if (rest.size() == commit.last_content.size()) {
            stage_slice(stream, std::move(commit.last_content));
        } else {
            stage_slice(stream, std::string(rest));
        }
    }
    std::uint64_t offset_in_staging = staging_bytes_;
    std::string& part = open_staging_part();
    std::size_t before = part.size();
    stream.encoder.append_commit(commit.meta, part);
    staging_bytes_ += part.size() - before;
    CommitOutcome outcome =
        commit_outcome(commit.waiter, CommitStatus::failed, commit.meta.id,
                       RecordLocation{0, offset_in_staging, staging_bytes_ - offset_in_staging});
    outcome.streamed = true;
    staged_.push_back(std::move(outcome));
}

void SpoolWriter::commit_stream(const spool::MessageMeta& meta, std::string last_content,
                                CommitWaiter waiter) {
    HUB_ASSERT(state_ != State::closed);
    Stream* stream = find_stream(meta.id);
    HUB_ASSERT(stream != nullptr && !stream->abandoned && !stream->commit);
    if (stream->broken) {
        finished_.push_back(commit_outcome(waiter, *stream->broken, meta.id));
        if (!stream->holds_slice) {
            remove_stream(meta.id);
        } else {
            stream->abandoned = true;  // Its slice in flight still ends first.
        }
        kick();
        return;
    }
    stream->commit = StreamCommit{meta, std::move(last_content), waiter};
    if (!stream->holds_slice) {
        stage_commit(*stream);
    }
    kick();
}

void SpoolWriter::abandon_stream(const spool::QueueId& id) {
    Stream* stream = find_stream(id);
    HUB_ASSERT(stream != nullptr && !stream->commit);
    if (stream->holds_slice) {
        stream->abandoned = true;  // Removed when its slice ends: it names this segment.
        return;
    }
    remove_stream(id);
    kick();  // A full segment may rotate now.
}

// A slice of the stream landed (where note says) or was lost (failure says how).
void SpoolWriter::slice_ended(const SliceNote& note, bool landed, CommitStatus failure) {
    const spool::QueueId& id = note.id;
    Stream* stream = find_stream(id);
    if (stream == nullptr) {
        return;  // Its commit failed with it, and took the stream along.
    }
    stream->holds_slice = false;
    if (landed) {
        // The content follows the record header and the slice's id, index and length.
        stream->slices.push_back(spool::SliceExtent{
            note.location.offset, note.location.bytes,
            note.location.offset + spool::record_header_bytes + spool::content_slice_fixed_bytes,
            note.content_bytes});
    } else if (!stream->broken) {
        stream->broken = failure;
    }
    if (stream->abandoned) {
        remove_stream(id);
        return;
    }
    if (!stream->commit) {
        return;
    }
    if (stream->broken) {
        finished_.push_back(commit_outcome(stream->commit->waiter, *stream->broken, id));
        remove_stream(id);
        return;
    }
    stage_commit(*stream);
}

// Every open stream loses its segment: nothing more of any of them can be written.
void SpoolWriter::break_streams(CommitStatus failure) {
    std::vector<spool::QueueId> ended;
    for (Stream& stream : streams_) {
        HUB_ASSERT(!stream.holds_slice);  // Nothing staged or in flight at this point.
        if (!stream.broken) {
            stream.broken = failure;
        }
        if (stream.commit) {
            finished_.push_back(
                commit_outcome(stream.commit->waiter, failure, stream.encoder.id()));
            ended.push_back(stream.encoder.id());
        } else if (stream.abandoned) {
            ended.push_back(stream.encoder.id());
        }
    }
    for (const spool::QueueId& id : ended) {
        remove_stream(id);
    }
}

void SpoolWriter::append_message_status(const spool::QueueId& id, spool::MessageStatus status,
                                        std::uint64_t time_unix_ms, CommitWaiter waiter) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(waiter.admin && !waiter.generated);
    std::uint64_t offset_in_staging = staging_bytes_;
    std::string& part = open_staging_part();
    std::size_t before = part.size();
    spool::append_message_status_record(id, status, time_unix_ms, part);
    staging_bytes_ += part.size() - before;
    RecordLocation location{0, offset_in_staging, staging_bytes_ - offset_in_staging};
    staged_.push_back(commit_outcome(waiter, CommitStatus::failed, id, location));
    kick();
}

void SpoolWriter::append_status(const spool::QueueId& id, std::uint32_t recipient_index,
                                spool::RecipientStatus status) {
    HUB_ASSERT(state_ != State::closed);
    spool::append_status_record(id, recipient_index, status, status_staging_);
    staged_statuses_.push_back(StatusNote{id, recipient_index, status});
    kick();
}

void SpoolWriter::append_copy(std::string_view record, const spool::QueueId& id,
                              RecordLocation from, std::span<const StatusNote> statuses,
                              std::optional<std::uint64_t> held_since_unix_ms) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(record.size() == from.bytes && record.size() % spool::record_alignment_bytes == 0);
    std::size_t offset_in_staging = copy_staging_.size();
    copy_staging_.append(record);
    CopyOutcome copy;
    copy.id = id;
    copy.from = from;
    copy.to = RecordLocation{0, offset_in_staging, record.size()};
    stage_copy_companions(id, statuses, held_since_unix_ms);
    staged_copies_.push_back(std::move(copy));
    kick();
}

// The copy carries every final status the message has and, if it is held, a fresh hold
// record: the old ones may sit in a segment that dies before the copy's.
void SpoolWriter::stage_copy_companions(const spool::QueueId& id,
                                        std::span<const StatusNote> statuses,
                                        std::optional<std::uint64_t> held_since_unix_ms) {
    for (const StatusNote& note : statuses) {
        HUB_ASSERT(note.id == id && note.status != spool::RecipientStatus::pending);
        spool::append_status_record(id, note.recipient_index, note.status, copy_staging_);
    }
    if (held_since_unix_ms) {
        spool::append_message_status_record(id, spool::MessageStatus::held, *held_since_unix_ms,
                                            copy_staging_);
    }
}

void SpoolWriter::begin_copy_stream(const spool::QueueId& id) {
    HUB_ASSERT(can_begin_stream() && find_stream(id) == nullptr);
    streams_.emplace_back(id);
    streams_.back().copy = true;
    segment_streams_open_++;
}

void SpoolWriter::append_copy_slice(const spool::QueueId& id, std::string record,
                                    std::uint32_t content_bytes) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(record.size() % spool::record_alignment_bytes == 0);
    Stream* stream = find_stream(id);
    HUB_ASSERT(stream != nullptr && stream->copy && !stream->holds_slice && !stream->abandoned);
    if (stream->broken) {
        return;  // Dropped: the copy cannot complete.
    }
    std::uint64_t offset_in_staging = copy_staging_.size();
    copy_staging_.append(record);
    staged_copy_slices_.push_back(
        SliceNote{id, RecordLocation{0, offset_in_staging, record.size()}, content_bytes});
    stream->holds_slice = true;
    kick();
}

bool SpoolWriter::stream_broken(const spool::QueueId& id) const {
    const Stream* stream = find_stream(id);
    return stream == nullptr || stream->broken.has_value();
}

void SpoolWriter::commit_copy_stream(std::string commit_record, const spool::QueueId& id,
                                     RecordLocation from, std::span<const StatusNote> statuses,
                                     std::optional<std::uint64_t> held_since_unix_ms) {
    HUB_ASSERT(state_ != State::closed);
    HUB_ASSERT(commit_record.size() % spool::record_alignment_bytes == 0);
    Stream* stream = find_stream(id);
    HUB_ASSERT(stream != nullptr && stream->copy && !stream->holds_slice && !stream->abandoned);
    CopyOutcome copy;
    copy.id = id;
    copy.from = from;
    copy.to = RecordLocation{0, copy_staging_.size(), commit_record.size()};
    copy.streamed = true;
    if (stream->broken) {
        remove_stream(id);  // Its slices are dead bytes, as an abandoned stream's.
        copies_done_.push_back(std::move(copy));
        kick();  // A full segment may rotate now.
        return;
    }
    copy_staging_.append(commit_record);
    stage_copy_companions(id, statuses, held_since_unix_ms);
    staged_copies_.push_back(std::move(copy));
    kick();
}

std::optional<spool::CompactionPlan> SpoolWriter::compaction_plan() const {
    std::optional<spool::CompactionPlan> plan = ledger_.compaction_plan();
    if (plan && budget_.free_bytes != nullptr) {
        std::uint64_t free_bytes = budget_.free_bytes->load(std::memory_order_relaxed);
        std::uint64_t need =
            std::min(plan->live_bytes, spool::compaction_round_bytes_max) * budget_.shard_count;
        if (free_bytes < budget_.floor_bytes || free_bytes - budget_.floor_bytes < need) {
            return std::nullopt;  // Not now: the copies could take the status records' room.
        }
    }
    return plan;
}

void SpoolWriter::release(const RecordLocation& location) {
    ledger_.unpin(location.segment_seq, location.bytes);
}

void SpoolWriter::on_tick() {
    if (statuses_wait_for_tick_) {
        statuses_wait_for_tick_ = false;
        kick();
    }
    start_removal();
}

void SpoolWriter::kick() {
    if (state_ == State::open_failed) {
        submit_open();  // Retried only when there is something to write: no busy loop.
        return;
    }
    if (state_ != State::ready) {
        return;
    }
    if (rotation_waits_ && streams_.empty()) {
        rotate();  // The last stream begun in the full segment ended.
        return;
    }
    if (status_only_) {
        fail_staged_mail(CommitStatus::no_space, true);  // The room is the statuses'.
    }
    bool statuses = !status_staging_.empty() && !statuses_wait_for_tick_;
    if (statuses || !staging_.empty() || !copy_staging_.empty()) {
        submit_batch();
    }
}

// Answers staged messages (and copies) without writing them.
void SpoolWriter::fail_staged_mail(CommitStatus status, bool copies_too) {
    for (CommitOutcome& outcome : staged_) {
        outcome.status = status;
        if (outcome.streamed) {
            remove_stream(outcome.id);
        }
        finished_.push_back(outcome);
    }
    staged_.clear();
    clear_staged_messages();
    std::vector<SliceNote> dropped;
    dropped.swap(staged_slices_);
    for (const SliceNote& note : dropped) {
        slice_ended(note, false, status);  // Their streams cannot be completed.
    }
    if (!copies_too) {
        return;
    }
    for (CopyOutcome& copy : staged_copies_) {
        copy.durable = false;
        if (copy.streamed) {
            remove_stream(copy.id);
        }
        copies_done_.push_back(std::move(copy));
    }
    staged_copies_.clear();
    copy_staging_.clear();
    std::vector<SliceNote> dropped_copies;
    dropped_copies.swap(staged_copy_slices_);
    for (const SliceNote& note : dropped_copies) {
        slice_ended(note, false, status);  // Those copy streams cannot complete.
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
    return staging_.empty() && status_staging_.empty() && copy_staging_.empty() &&
           batch_waiters_.empty() && batch_statuses_.empty() && !removing_ &&
           state_ != State::writing && state_ != State::repairing;
}

void SpoolWriter::submit_open() {
    segment_name_ = spool::segment_relative_path(shard_, segment_seq_);
    // The name is relative to the spool root; the shard directory fd is its parent.
    std::size_t slash = segment_name_.rfind('/');
    const char* leaf = segment_name_.c_str() + (slash == std::string::npos ? 0 : slash + 1);
    queued_or_panic(ring_.openat(Tag{Op::spool_open, 0, 0}, dir_fd_, leaf,
                                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
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
        // Cannot create a segment: fail the mail that is staged (status records stay
        // staged), retry the open on the next append or tick.
        base::log_error("spool: shard {}: cannot create segment {}: {}", shard_, segment_name_,
                        std::strerror(-result));
        fail_staged_mail(result == -ENOSPC ? CommitStatus::no_space : CommitStatus::failed, true);
        statuses_wait_for_tick_ = true;
        state_ = State::open_failed;
        return;
    }
    segment_fd_ = result;
    segment_fds_.emplace_back(segment_seq_, result);
    ledger_.set_append_segment(segment_seq_);
    synced_bytes_ = 0;
    segment_is_new_ = true;
    state_ = State::ready;
    base::log_debug("spool: shard {}: segment {} open", shard_, segment_name_);
    kick();
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

// Whether bytes more may be written without bringing free space below floor_bytes, on
// the supervisor's last statvfs and what this shard (times the shard count) wrote since.
bool SpoolWriter::budget_allows(std::uint64_t bytes, std::uint64_t floor_bytes) {
    if (budget_.free_bytes == nullptr) {
        return true;
    }
    std::uint64_t free_bytes = budget_.free_bytes->load(std::memory_order_relaxed);
    if (free_bytes != budget_free_seen_) {
        budget_free_seen_ = free_bytes;  // A new poll: it already counts what we wrote.
        budget_charged_ = 0;
    }
    std::uint64_t need = (budget_charged_ + bytes) * budget_.shard_count;
    return free_bytes >= floor_bytes && free_bytes - floor_bytes >= need;
}

void SpoolWriter::submit_batch() {
    HUB_ASSERT(state_ == State::ready && batch_waiters_.empty() && batch_statuses_.empty());
    if (status_only_ || !budget_allows(copy_staging_.size(), budget_.floor_bytes)) {
        fail_staged_mail(CommitStatus::no_space, true);
    } else if (!budget_allows(copy_staging_.size() + staging_bytes_, budget_.reserve_bytes)) {
        // Below the reserve between two polls: new mail gets 452 now rather than taking
        // the room status records and compaction need.
        fail_staged_mail(CommitStatus::no_space, false);
    }
    if (status_staging_.empty() && copy_staging_.empty() && staging_.empty()) {
        return;
    }
    batch_.clear();
    if (segment_is_new_) {
        spool::append_segment_header(shard_, segment_seq_, batch_);  // Until one batch lands.
    }
    batch_.append(status_staging_);
    status_staging_.clear();
    batch_statuses_.swap(staged_statuses_);
    std::uint64_t copies_base = synced_bytes_ + batch_.size();
    for (CopyOutcome& copy : staged_copies_) {
        copy.to.segment_seq = segment_seq_;
        copy.to.offset += copies_base;
    }
    for (SliceNote& note : staged_copy_slices_) {
        note.location.segment_seq = segment_seq_;
        note.location.offset += copies_base;
    }
    HUB_ASSERT(batch_copy_slices_.empty());
    batch_copy_slices_.swap(staged_copy_slices_);
    batch_.append(copy_staging_);
    copy_staging_.clear();
    batch_copies_.swap(staged_copies_);
    std::uint64_t messages_base = synced_bytes_ + batch_.size();
    for (CommitOutcome& outcome : staged_) {
        outcome.location.segment_seq = segment_seq_;
        outcome.location.offset += messages_base;
    }
    for (SliceNote& note : staged_slices_) {
        note.location.segment_seq = segment_seq_;
        note.location.offset += messages_base;
    }
    HUB_ASSERT(batch_slices_.empty());
    batch_slices_.swap(staged_slices_);
    // The message parts move into the batch: nothing of theirs is copied.
    batch_parts_.swap(staging_);
    clear_staged_messages();
    batch_pieces_.clear();
    batch_bytes_ = 0;
    if (!batch_.empty()) {
        batch_pieces_.push_back(iovec{batch_.data(), batch_.size()});
    }
    for (std::string& part : batch_parts_) {
        if (!part.empty()) {
            batch_pieces_.push_back(iovec{part.data(), part.size()});
        }
    }
    for (const iovec& piece : batch_pieces_) {
        batch_bytes_ += piece.iov_len;
    }
    HUB_ASSERT(batch_pieces_.size() <= batch_pieces_max);
    release_if_large(copy_staging_);
    batch_waiters_.swap(staged_);
    staged_.clear();
    budget_charged_ += batch_bytes_;
    batch_error_ = 0;
    batch_steps_pending_ = 2;
    if (segment_is_new_) {
        // RFC-less but essential: the new file's directory entry must be durable too.
        queued_or_panic(ring_.fsync(Tag{Op::spool_dir_sync, 0, 0}, dir_fd_,
                                    SyncKind::data_and_metadata, Link::next));
        batch_steps_pending_++;
    }
#ifdef HUB_TEST_ACK_BEFORE_SYNC
    // Test-only breakage (tests/sim, HUB_SIM_BREAK_ACK_BEFORE_SYNC): the batch is answered
    // durable when its write completes, without an fdatasync -- the bug the simulator must
    // catch.
    queued_or_panic(ring_.write_vectored(Tag{Op::spool_write, 0, 0}, segment_fd_, batch_pieces_,
                                         synced_bytes_, Link::none));
    batch_steps_pending_--;
#else
    // Linked: the sync runs only if the whole write succeeded.
    queued_or_panic(ring_.write_vectored(Tag{Op::spool_write, 0, 0}, segment_fd_, batch_pieces_,
                                         synced_bytes_, Link::next));
    queued_or_panic(
        ring_.fsync(Tag{Op::spool_sync, 0, 0}, segment_fd_, SyncKind::data_only, Link::none));
#endif
    state_ = State::writing;
}

// The batch ended: its buffers, held bodies included, are no longer the kernel's.
void SpoolWriter::clear_batch() {
    batch_.clear();
    release_if_large(batch_);
    batch_parts_.clear();
    batch_pieces_.clear();
    batch_bytes_ = 0;
}

void SpoolWriter::on_batch_step(Op op, int result) {
    HUB_ASSERT(state_ == State::writing && batch_steps_pending_ > 0);
    int error = result < 0 ? result : 0;
    if (op == Op::spool_write && result >= 0 &&
        static_cast<std::uint64_t>(result) != batch_bytes_) {
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
    if (batch_error_ != 0) {
        fail_batch();
        return;
    }
    ledger_.grew(segment_seq_, batch_bytes_);
    synced_bytes_ += batch_bytes_;
    segment_is_new_ = false;
    status_only_ = false;
    durable_statuses_.insert(durable_statuses_.end(), batch_statuses_.begin(),
                             batch_statuses_.end());
    batch_statuses_.clear();
    std::vector<SliceNote> copy_slices_landed;
    copy_slices_landed.swap(batch_copy_slices_);
    for (const SliceNote& note : copy_slices_landed) {
        slice_ended(note, true, CommitStatus::failed);
    }
    for (CopyOutcome& copy : batch_copies_) {
        copy.durable = true;
        if (copy.streamed) {
            // The commit landed behind every slice of the copy: it pins them all.
            Stream* stream = find_stream(copy.id);
            HUB_ASSERT(stream != nullptr && stream->copy && !stream->holds_slice);
            copy.slices = std::move(stream->slices);
            for (const spool::SliceExtent& slice : copy.slices) {
                copy.to.bytes += slice.record_bytes;
            }
            remove_stream(copy.id);
            if (segment_streams_open_ > 0) {
                segment_streams_open_--;  // Committed: recovery closes it here.
            }
        }
        ledger_.pin(copy.to.segment_seq, copy.to.bytes);
        copies_done_.push_back(std::move(copy));
    }
    batch_copies_.clear();
    // Slices first: a commit in this batch takes its stream's slices, the last one
    // included. A stream whose commit waited for its slice stages it now.
    std::vector<SliceNote> landed;
    landed.swap(batch_slices_);
    for (const SliceNote& note : landed) {
        slice_ended(note, true, CommitStatus::failed);
    }
    for (CommitOutcome& outcome : batch_waiters_) {
        outcome.status = CommitStatus::durable;
        if (outcome.streamed) {
            Stream* stream = find_stream(outcome.id);
            HUB_ASSERT(stream != nullptr && !stream->holds_slice);
            outcome.slices = std::move(stream->slices);
            remove_stream(outcome.id);
            if (segment_streams_open_ > 0) {
                segment_streams_open_--;  // Committed: recovery closes it here.
            }
        }
        // Only a message record pins its segment; an administrator's record is, like a
        // status record, safe to lose with its segment once every older one is gone.
        if (!outcome.waiter.admin) {
            ledger_.pin(outcome.location.segment_seq, outcome.stored_bytes());
        }
        finished_.push_back(outcome);
    }
    batch_waiters_.clear();
    clear_batch();
    state_ = State::ready;
    if (synced_bytes_ >= segment_bytes_max_) {
        if (streams_.empty()) {
            rotate();
            return;
        }
        // A stream begun here must end here: rotate once the last one has.
        rotation_waits_ = true;
    }
    kick();
}

// Later ids name the new segment; staged ones keep theirs (ids are unique names, not
// addresses). The old file stays open while its records are needed; the ledger deletes
// it once none is. Precondition: no stream is open (its records must share a segment).
void SpoolWriter::rotate() {
    HUB_ASSERT(streams_.empty() && state_ == State::ready);
    segment_fd_ = -1;
    segment_seq_++;
    id_segment_seq_ = segment_seq_;
    next_ordinal_ = 0;
    segment_streams_open_ = 0;
    rotation_waits_ = false;
    submit_open();
}

// The batch did not become durable: its mail is answered, its status records are staged
// again, and its range is punched out.
void SpoolWriter::fail_batch() {
    bool no_space = batch_error_ == -ENOSPC || batch_error_ == -EDQUOT;
    base::log_warn(
        "spool: shard {}: write of {} messages, {} copies and {} status records to {} "
        "failed: {}",
        shard_, batch_waiters_.size(), batch_copies_.size(), batch_statuses_.size(), segment_name_,
        std::strerror(-batch_error_));
    CommitStatus failure = no_space ? CommitStatus::no_space : CommitStatus::failed;
    for (CommitOutcome& outcome : batch_waiters_) {
        outcome.status = failure;
        if (outcome.streamed) {
            remove_stream(outcome.id);
        }
        finished_.push_back(outcome);
    }
    batch_waiters_.clear();
    // The range is punched out: a stream that lost a slice there cannot be completed.
    std::vector<SliceNote> lost;
    lost.swap(batch_slices_);
    for (const SliceNote& note : lost) {
        slice_ended(note, false, failure);
    }
    std::vector<SliceNote> copy_slices_lost;
    copy_slices_lost.swap(batch_copy_slices_);
    for (const SliceNote& note : copy_slices_lost) {
        slice_ended(note, false, failure);
    }
    for (CopyOutcome& copy : batch_copies_) {
        copy.durable = false;
        if (copy.streamed) {
            remove_stream(copy.id);  // Its slices are dead bytes, as an abandoned stream's.
        }
        copies_done_.push_back(std::move(copy));
    }
    batch_copies_.clear();
    for (const StatusNote& note : batch_statuses_) {
        spool::append_status_record(note.id, note.recipient_index, note.status, status_staging_);
        staged_statuses_.push_back(note);
    }
    batch_statuses_.clear();
    if (!status_staging_.empty()) {
        // Retried on the next tick, alone: new mail waits until they are durable.
        status_only_ = true;
        statuses_wait_for_tick_ = true;
    }
    punch_offset_ = synced_bytes_;
    punch_bytes_ = batch_bytes_;
    clear_batch();
    submit_punch();
}

void SpoolWriter::submit_punch() {
    // Zero the failed range so that no record in it can pass its checksum at recovery:
    // its clients were told 451/452 and will send again.
    queued_or_panic(ring_.punch_hole(Tag{Op::spool_punch, 0, 0}, segment_fd_, punch_offset_,
                                     punch_bytes_, Link::next));
    queued_or_panic(
        ring_.fsync(Tag{Op::spool_sync, 1, 0}, segment_fd_, SyncKind::data_only, Link::none));
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
        // Streams begun there cannot continue in the next segment, nor can what is
        // staged for them: the staged mail is answered 451 (its clients send it again),
        // the staged copies are not copied (a copy stream's commit must not land without
        // its slices; the next round copies them again).
        fail_staged_mail(CommitStatus::failed, true);
        break_streams(CommitStatus::failed);
        segment_fd_ = -1;  // Still open for reading its acknowledged records.
        segment_seq_++;
        segment_streams_open_ = 0;
        rotation_waits_ = false;
        submit_open();
        return;
    }
    state_ = State::ready;
    kick();
}

// Deletes the ledger's next dead segment: unlinkat, then an fsync of the directory so
// the deletion is durable before the next (older-first order, segment_ledger.h).
void SpoolWriter::start_removal() {
    if (removing_ || state_ == State::closed) {
        return;
    }
    std::optional<std::uint32_t> seq = ledger_.take_removal();
    if (!seq) {
        return;
    }
    removing_ = true;
    removing_seq_ = *seq;
    std::string relative = spool::segment_relative_path(shard_, *seq);
    removing_name_ = relative.substr(relative.rfind('/') + 1);
    queued_or_panic(
        ring_.unlinkat(Tag{Op::spool_unlink, 0, 0}, dir_fd_, removing_name_.c_str(), Link::next));
    queued_or_panic(ring_.fsync(Tag{Op::spool_remove_sync, 0, 0}, dir_fd_,
                                SyncKind::data_and_metadata, Link::none));
    removal_steps_pending_ = 2;
    removal_error_ = 0;
}

void SpoolWriter::on_removal_step(Op op, int result) {
    HUB_ASSERT(removing_ && removal_steps_pending_ > 0);
    if (op == Op::spool_unlink && result == -ENOENT) {
        result = 0;  // Already gone: what we wanted (the linked sync is then cancelled).
    }
    if (result < 0 && result != -ECANCELED && removal_error_ == 0) {
        removal_error_ = result;
    }
    removal_steps_pending_--;
    if (removal_steps_pending_ > 0) {
        return;
    }
    removing_ = false;
    if (removal_error_ != 0) {
        base::log_error("spool: shard {}: cannot delete segment {}: {}; keeping it", shard_,
                        removing_name_, std::strerror(-removal_error_));
        ledger_.removal_failed(removing_seq_);
        return;
    }
    for (auto entry = segment_fds_.begin(); entry != segment_fds_.end(); ++entry) {
        if (entry->first == removing_seq_) {
            // Reads still in flight hold their own reference to the file.
            queued_or_panic(ring_.close(Tag{Op::spool_close, 0, 0}, entry->second));
            segment_fds_.erase(entry);
            break;
        }
    }
    ledger_.removed(removing_seq_);
    base::log_debug("spool: shard {}: segment {} deleted", shard_, removing_name_);
    start_removal();  // The next one, if it is dead too.
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
        case Op::spool_unlink:
        case Op::spool_remove_sync:
            on_removal_step(op, result);
            return;
        case Op::spool_close:
            return;  // Nothing to do; an error closing a synced file loses nothing.
        case Op::accept:
        case Op::recv:
        case Op::send:
        case Op::send_timeout:
        case Op::cancel_recv:
        case Op::shutdown_socket:
        case Op::close_socket:
        case Op::tick:
        case Op::release_buffers:
        case Op::log_write:
        case Op::record_read:
        case Op::report_read:
        case Op::compact_read:
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
        queued_or_panic(ring_.close(Tag{Op::spool_close, 0, 0}, fd));
    }
    segment_fds_.clear();
    segment_fd_ = -1;
    state_ = State::closed;
}

}  // namespace hub::engine
