// compaction.cc -- a shard's compaction rounds, decided without I/O.
//
// PURPOSE   Decide each step of a compaction round: whether to look at the head segment,
//           which of its live messages to copy in a round, the reads that bring them back,
//           whether each copy read back may go forward, and what a landed copy releases.
// RUNS IN   a shard thread (through engine/spool_compactor.cc); the unit tests.
// TRUST     records read back from the disk are checked again (checksum, id, slice index
//           and lengths) before a copy may go forward; a damaged one stays where it is.
// LIMITS    one round at a time; compaction_round_messages_max messages and
//           compaction_round_bytes_max bytes of records per round (the first message
//           whatever its size), plus at most one streamed message copied one slice record
//           at a time (compaction_round_memory_bytes_max); a pinned head looked at again
//           every compaction_pinned_head_retry_ms.
// SEE ALSO  compaction.h (the round, step by step), segment_ledger.h (the order that makes
//           deletion safe), engine/spool_compactor.cc, docs/ARCHITECTURE.md "Spool lifecycle"
#include "spool/compaction.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "spool/segment_source.h"

namespace hub::spool {
namespace {

std::uint64_t stored_bytes(const CompactionCandidate& candidate) {
    std::uint64_t bytes = candidate.location.bytes;
    for (const SliceExtent& slice : candidate.slices) {
        bytes += slice.record_bytes;
    }
    return bytes;
}

bool same_place(const RecordLocation& a, const RecordLocation& b) {
    return a.segment_seq == b.segment_seq && a.offset == b.offset;
}

}  // namespace

Compaction::Compaction(CompactionLimits limits) : limits_(limits) {
    HUB_ASSERT(limits_.round_messages_max > 0 && limits_.round_bytes_max > 0);
}

bool Compaction::looks_at(const std::optional<CompactionPlan>& plan, std::uint64_t now_ms) const {
    if (busy_ || !plan) {
        return false;
    }
    return !(pinned_seq_ == plan->seq && now_ms < pinned_until_ms_);
}

bool Compaction::fits(std::uint64_t bytes) const {
    std::size_t taken = copies_.size() + (stream_ ? 1 : 0);
    return taken < limits_.round_messages_max &&
           (taken == 0 || round_bytes_ + bytes <= limits_.round_bytes_max);
}

RoundStartNote Compaction::begin(const std::optional<CompactionPlan>& plan,
                                 std::span<const CompactionCandidate> live, std::uint64_t now_ms) {
    RoundStartNote note;
    if (busy_) {
        note.start = RoundStart::busy;
        return note;
    }
    if (!looks_at(plan, now_ms)) {
        note.start = plan ? RoundStart::pinned : RoundStart::no_plan;
        return note;
    }
    HUB_ASSERT(copies_.empty() && reads_.empty() && copies_in_flight_ == 0);
    round_bytes_ = 0;
    stream_.reset();
    for (const CompactionCandidate& candidate : live) {
        HUB_ASSERT(candidate.location.segment_seq == plan->seq);  // The caller's filter.
        note.held++;
        // A message with status records in flight waits for them: its copy must carry
        // every status it has, or an older segment's deletion could undo one.
        std::uint64_t bytes = stored_bytes(candidate);
        if (candidate.statuses_pending) {
            continue;
        }
        if (!candidate.slices.empty()) {
            // Copied slice by slice, one per round: in memory, its commit and one slice.
            if (stream_ || !fits(candidate.location.bytes)) {
                continue;
            }
            StreamCopy stream;
            stream.id = candidate.id;
            stream.from = RecordLocation{plan->seq, candidate.location.offset, bytes};
            stream.slices = candidate.slices;
            stream.commit_bytes = candidate.location.bytes;
            stream_ = std::move(stream);
            round_bytes_ += candidate.location.bytes;
            note.copies++;
            note.copy_bytes += bytes;
            continue;
        }
        if (!fits(bytes)) {
            continue;
        }
        CompactionCopy copy;
        copy.id = candidate.id;
        copy.from = RecordLocation{plan->seq, candidate.location.offset, bytes};
        copy.slices = candidate.slices;
        copy.commit_bytes = candidate.slices.empty() ? 0 : candidate.location.bytes;
        copies_.push_back(std::move(copy));
        round_bytes_ += bytes;
        note.copies++;
        note.copy_bytes += bytes;
    }
    if (note.held != plan->live) {
        // Some live record is not a message the shard holds (it routes nowhere, or it is
        // being committed): it cannot be copied, so the head stays for now.
        pinned_seq_ = plan->seq;
        pinned_until_ms_ = now_ms + limits_.pinned_head_retry_ms;
        copies_.clear();
        stream_.reset();
        note.copies = 0;
        note.copy_bytes = 0;
        note.start = RoundStart::pinned;
        return note;
    }
    if (copies_.empty() && !stream_) {
        note.start = RoundStart::waiting_for_statuses;
        return note;
    }
    busy_ = true;
    segment_seq_ = plan->seq;
    copied_ = 0;
    reads_finished_ = false;
    list_reads();
    note.start = RoundStart::started;
    return note;
}

// A message record is one read. A streamed message is one read per slice record and one
// for its commit, laid end to end: the copy is those records in order.
void Compaction::list_reads() {
    HUB_ASSERT(reads_.empty() && reads_pending_ == 0);
    for (std::uint32_t index = 0; index < copies_.size(); index++) {
        CompactionCopy& copy = copies_[index];
        copy.record.resize(copy.from.bytes);
        std::span<char> buffer(copy.record);
        std::uint64_t at = 0;
        std::uint32_t part = 0;
        auto read_part = [&](std::uint64_t offset, std::uint64_t bytes) {
            reads_.push_back(CompactionRead{index, part++, copy.from.segment_seq, offset,
                                            buffer.subspan(at, bytes)});
            at += bytes;
            copy.reads_pending++;
            reads_pending_++;
        };
        for (const SliceExtent& slice : copy.slices) {
            read_part(slice.record_offset, slice.record_bytes);
        }
        read_part(copy.from.offset, copy.slices.empty() ? copy.from.bytes : copy.commit_bytes);
        HUB_ASSERT(at == copy.record.size());
        copy_buffer_bytes_ += copy.record.size();
    }
    note_buffers();
}

void Compaction::note_buffers() {
    std::uint64_t bytes = copy_buffer_bytes_ + (stream_ ? stream_->record.size() : 0);
    buffer_bytes_peak_ = std::max(buffer_bytes_peak_, bytes);
}

CopyReadNote Compaction::read_done(std::uint32_t copy_index, std::uint32_t part, int result) {
    HUB_ASSERT(busy_ && reads_pending_ > 0 && copy_index < copies_.size());
    CompactionCopy& copy = copies_[copy_index];
    HUB_ASSERT(copy.reads_pending > 0 && part <= copy.slices.size());
    std::uint64_t expected = part < copy.slices.size()
                                 ? copy.slices[part].record_bytes
                                 : (copy.slices.empty() ? copy.from.bytes : copy.commit_bytes);
    if (result < 0 || static_cast<std::uint64_t>(result) != expected) {
        copy.read_failed = true;
    }
    CopyReadNote note;
    note.last_result = result;
    copy.reads_pending--;
    if (copy.reads_pending == 0) {
        copy.read_ok = !copy.read_failed && copy_checks(copy);
        note.copy_failed = !copy.read_ok;
    }
    reads_pending_--;
    note.all_read = reads_pending_ == 0;
    return note;
}

bool Compaction::queue_copy(std::uint32_t copy_index, const std::optional<CompactionSource>& now) {
    HUB_ASSERT(busy_ && reads_pending_ == 0 && copy_index < copies_.size());
    const CompactionCopy& copy = copies_[copy_index];
    // Finished meanwhile (nothing to copy), moved, or with statuses in flight: not this
    // round. An administrator's command in flight: its record and the copy would race for
    // the last word; the next round copies it.
    if (!copy.read_ok || !now || !same_place(now->location, copy.from) || now->statuses_pending ||
        now->admin_pending) {
        return false;
    }
    copies_in_flight_++;
    return true;
}

void Compaction::reads_finished() {
    HUB_ASSERT(busy_ && reads_pending_ == 0 && !reads_finished_);
    copies_.clear();
    reads_.clear();
    copy_buffer_bytes_ = 0;
    reads_finished_ = true;
    end_if_done();
}

// The round ends when its reads are in, its copies reported and its stream copy ended.
void Compaction::end_if_done() {
    if (reads_finished_ && copies_in_flight_ == 0 &&
        (!stream_ || stream_->state == StreamCopyState::ended)) {
        busy_ = false;
    }
}

void Compaction::end_stream() {
    HUB_ASSERT(stream_);
    stream_->state = StreamCopyState::ended;
    stream_->record = std::string();  // Its buffer goes now, not at the next round.
    end_if_done();
}

CompactionRead Compaction::stream_read() {
    HUB_ASSERT(busy_ && stream_ && stream_->state == StreamCopyState::to_read);
    StreamCopy& stream = *stream_;
    bool commit = stream.part == stream.slices.size();
    std::uint64_t offset = commit ? stream.from.offset : stream.slices[stream.part].record_offset;
    std::uint64_t bytes = commit ? stream.commit_bytes : stream.slices[stream.part].record_bytes;
    stream.record.resize(bytes);
    stream.state = StreamCopyState::reading;
    note_buffers();
    return CompactionRead{stream_copy_index, stream.part, stream.from.segment_seq, offset,
                          std::span<char>(stream.record)};
}

bool Compaction::stream_read_done(int result) {
    HUB_ASSERT(busy_ && stream_ && stream_->state == StreamCopyState::reading);
    StreamCopy& stream = *stream_;
    auto slice_count = static_cast<std::uint32_t>(stream.slices.size());
    bool whole = result >= 0 && static_cast<std::uint64_t>(result) == stream.record.size();
    std::uint64_t content_bytes =
        stream.part < slice_count ? stream.slices[stream.part].content_bytes : stream.content_bytes;
    if (!whole ||
        !stream_record_checks(stream.record, stream.id, stream.part, slice_count, content_bytes)) {
        end_stream();  // Never copy a damaged record forward: the original stays.
        return false;
    }
    stream.state = StreamCopyState::read_back;
    return true;
}

StreamStep Compaction::stream_next(const std::optional<CompactionSource>& now,
                                   bool writer_may_begin) {
    HUB_ASSERT(busy_ && stream_ && stream_->state == StreamCopyState::read_back);
    StreamCopy& stream = *stream_;
    // As queue_copy: finished, moved, or a status or an administrator's command in flight
    // meanwhile -- the copy could not carry the last word; the next round tries again.
    if (!now || !same_place(now->location, stream.from) || now->statuses_pending ||
        now->admin_pending) {
        end_stream();
        return StreamStep::abandon;
    }
    if (stream.part == stream.slices.size()) {
        stream.state = StreamCopyState::committing;
        copies_in_flight_++;
        return StreamStep::commit;
    }
    StreamStep step = StreamStep::append;
    if (!stream.begun) {
        if (!writer_may_begin) {
            end_stream();  // The append segment has no room for a stream now.
            return StreamStep::abandon;
        }
        stream.begun = true;
        step = StreamStep::begin_and_append;
    }
    stream.state = StreamCopyState::in_writer;
    return step;
}

std::string Compaction::take_stream_record() {
    HUB_ASSERT(stream_ && (stream_->state == StreamCopyState::in_writer ||
                           stream_->state == StreamCopyState::committing));
    return std::move(stream_->record);
}

bool Compaction::stream_slice_ended(bool broken) {
    HUB_ASSERT(busy_ && stream_ && stream_->state == StreamCopyState::in_writer);
    StreamCopy& stream = *stream_;
    if (broken) {
        end_stream();
        return false;
    }
    stream.content_bytes += stream.slices[stream.part].content_bytes;
    stream.part++;
    stream.state = StreamCopyState::to_read;
    return true;
}

bool Compaction::abandon_stream() {
    HUB_ASSERT(busy_ && stream_ &&
               (stream_->state == StreamCopyState::to_read ||
                stream_->state == StreamCopyState::read_back ||
                stream_->state == StreamCopyState::in_writer));
    bool begun = stream_->begun;
    end_stream();
    return begun;
}

CopyVerdict Compaction::copy_done(bool durable, const RecordLocation& from,
                                  const std::optional<RecordLocation>& now) {
    HUB_ASSERT(busy_ && copies_in_flight_ > 0);
    copies_in_flight_--;
    if (stream_ && stream_->state == StreamCopyState::committing &&
        same_place(from, stream_->from)) {
        end_stream();
    }
    end_if_done();
    if (!durable) {
        return CopyVerdict::not_copied;
    }
    copied_++;
    if (now && same_place(*now, from)) {
        return CopyVerdict::moved;
    }
    // Finished after the copy was queued: its status records came after the copy, so they
    // are in the copy's segment or a later one; the copy is dead already.
    return CopyVerdict::copy_dead;
}

// A copy read back whole is checked again, like every record read back: never copy a
// damaged one forward. A streamed message's buffer is its slice records then its commit.
bool copy_checks(const CompactionCopy& copy) {
    std::span<const char> bytes(copy.record.data(), copy.record.size());
    if (copy.slices.empty()) {
        SpanSource source(bytes);
        RecoveredMessage decoded;
        std::string content;
        int read_errno = 0;
        return decode_message_at(source, 0, decoded, content, read_errno) ==
                   SingleRecordOutcome::ok &&
               decoded.meta.id == copy.id && decoded.record_bytes == copy.record.size();
    }
    std::uint64_t at = 0;
    std::uint64_t content_bytes = 0;
    for (std::uint32_t index = 0; index < copy.slices.size(); index++) {
        const SliceExtent& slice = copy.slices[index];
        if (at + slice.record_bytes > bytes.size()) {
            return false;
        }
        std::string_view content;
        if (decode_slice_view(bytes.subspan(at, slice.record_bytes), copy.id, index, content) !=
                SingleRecordOutcome::ok ||
            content.size() != slice.content_bytes) {
            return false;
        }
        at += slice.record_bytes;
        content_bytes += content.size();
    }
    return at + copy.commit_bytes == bytes.size() &&
           decode_commit_view(bytes.subspan(at), copy.id,
                              static_cast<std::uint32_t>(copy.slices.size()),
                              content_bytes) == SingleRecordOutcome::ok;
}

bool stream_record_checks(std::span<const char> record, const QueueId& id, std::uint32_t index,
                          std::uint32_t slice_count, std::uint64_t content_bytes) {
    if (index < slice_count) {
        std::string_view content;
        return decode_slice_view(record, id, index, content) == SingleRecordOutcome::ok &&
               content.size() == content_bytes;
    }
    return decode_commit_view(record, id, slice_count, content_bytes) == SingleRecordOutcome::ok;
}

RecordLocation relocate_stream_copy(std::vector<SliceExtent>& slices,
                                    std::span<const SliceExtent> copied, const RecordLocation& to) {
    HUB_ASSERT(copied.size() == slices.size() && !slices.empty());
    std::uint64_t slice_bytes = 0;
    for (std::size_t index = 0; index < copied.size(); index++) {
        HUB_ASSERT(copied[index].record_bytes == slices[index].record_bytes &&
                   copied[index].content_bytes == slices[index].content_bytes);
        slices[index] = copied[index];
        slice_bytes += copied[index].record_bytes;
    }
    HUB_ASSERT(slice_bytes < to.bytes);  // The commit is never empty.
    return RecordLocation{to.segment_seq, to.offset, to.bytes - slice_bytes};
}

RecordLocation relocate_copy(std::vector<SliceExtent>& slices, const RecordLocation& to) {
    std::uint64_t at = to.offset;
    for (SliceExtent& slice : slices) {
        slice.content_offset = at + (slice.content_offset - slice.record_offset);
        slice.record_offset = at;
        at += slice.record_bytes;
    }
    HUB_ASSERT(at - to.offset <= to.bytes);
    RecordLocation record{to.segment_seq, at, to.bytes - (at - to.offset)};
    HUB_ASSERT(record.bytes > 0);  // The message record or commit is never empty.
    return record;
}

}  // namespace hub::spool
