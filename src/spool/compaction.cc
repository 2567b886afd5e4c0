// compaction.cc -- a shard's compaction rounds, decided without I/O.
//
// PURPOSE   Decide each step of a compaction round: whether to look at the head segment,
//           which of its live messages to copy in a round, the reads that bring them back,
//           whether each copy read back may go forward, and what a landed copy releases.
// RUNS IN   a shard thread (through engine/spool_compactor.cc); the unit tests.
// TRUST     records read back from the disk are checked again (checksum, id, slice index
//           and lengths) before a copy may go forward; a damaged one stays where it is.
// LIMITS    one round at a time; compaction_round_messages_max messages and
//           compaction_round_bytes_max bytes per round (the first message whatever its
//           size); a pinned head looked at again every compaction_pinned_head_retry_ms.
// SEE ALSO  compaction.h (the round, step by step), segment_ledger.h (the order that makes
//           deletion safe), engine/spool_compactor.cc, docs/ARCHITECTURE.md "Spool lifecycle"
#include "spool/compaction.h"

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
    return copies_.size() < limits_.round_messages_max &&
           (copies_.empty() || round_bytes_ + bytes <= limits_.round_bytes_max);
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
    for (const CompactionCandidate& candidate : live) {
        HUB_ASSERT(candidate.location.segment_seq == plan->seq);  // The caller's filter.
        note.held++;
        // A message with status records in flight waits for them: its copy must carry
        // every status it has, or an older segment's deletion could undo one.
        std::uint64_t bytes = stored_bytes(candidate);
        if (candidate.statuses_pending || !fits(bytes)) {
            continue;
        }
        CompactionCopy copy;
        copy.id = candidate.id;
        copy.from = RecordLocation{plan->seq, candidate.location.offset, bytes};
        copy.slices = candidate.slices;
        copy.commit_bytes = candidate.slices.empty() ? 0 : candidate.location.bytes;
        copies_.push_back(std::move(copy));
        round_bytes_ += bytes;
    }
    if (note.held != plan->live) {
        // Some live record is not a message the shard holds (it routes nowhere, or it is
        // being committed): it cannot be copied, so the head stays for now.
        pinned_seq_ = plan->seq;
        pinned_until_ms_ = now_ms + limits_.pinned_head_retry_ms;
        copies_.clear();
        note.start = RoundStart::pinned;
        return note;
    }
    if (copies_.empty()) {
        note.start = RoundStart::waiting_for_statuses;
        return note;
    }
    busy_ = true;
    segment_seq_ = plan->seq;
    copied_ = 0;
    note.copies = static_cast<std::uint32_t>(copies_.size());
    note.copy_bytes = round_bytes_;
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
    }
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
    HUB_ASSERT(busy_ && reads_pending_ == 0);
    copies_.clear();
    reads_.clear();
    if (copies_in_flight_ == 0) {
        busy_ = false;
    }
}

CopyVerdict Compaction::copy_done(bool durable, const RecordLocation& from,
                                  const std::optional<RecordLocation>& now) {
    HUB_ASSERT(busy_ && copies_in_flight_ > 0 && reads_pending_ == 0);
    HUB_ASSERT(copies_.empty());  // Copies are queued only once every read is in.
    copies_in_flight_--;
    if (copies_in_flight_ == 0) {
        busy_ = false;
    }
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
