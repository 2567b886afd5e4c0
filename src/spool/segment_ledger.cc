// segment_ledger.cc -- liveness accounting and the reclamation plan of a shard's segments.
//
// PURPOSE   Count, per segment, the message records still needed; say which segment may
//           be deleted next (oldest first) and when compacting the oldest one pays.
// RUNS IN   a shard thread (through the spool writer); the unit tests.
// TRUST     none: only the hub's own bookkeeping.
// LIMITS    one entry per segment file of the shard; compaction_live_percent_max.
// SEE ALSO  segment_ledger.h (why deletion is oldest first), engine/spool_writer.cc
#include "spool/segment_ledger.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "spool/limits.h"

namespace hub::spool {

void SegmentLedger::add(std::uint32_t seq, std::uint64_t bytes, std::uint32_t live,
                        std::uint64_t live_bytes, bool keep) {
    HUB_ASSERT(segments_.empty() || segments_.back().seq < seq);
    HUB_ASSERT(live_bytes <= bytes);
    segments_.push_back(LedgerSegment{seq, bytes, live, live_bytes, keep, false});
}

void SegmentLedger::set_append_segment(std::uint32_t seq) {
    if (find(seq) == nullptr) {
        add(seq, 0, 0, 0);
    }
    append_seq_ = seq;
    has_append_ = true;
}

void SegmentLedger::grew(std::uint32_t seq, std::uint64_t bytes) {
    if (LedgerSegment* segment = find_mutable(seq)) {
        segment->bytes += bytes;
    }
}

void SegmentLedger::pin(std::uint32_t seq, std::uint64_t record_bytes) {
    if (LedgerSegment* segment = find_mutable(seq)) {
        segment->live++;
        segment->live_bytes += record_bytes;
        HUB_ASSERT(segment->live_bytes <= segment->bytes);  // Pinned only once durable.
    }
}

void SegmentLedger::unpin(std::uint32_t seq, std::uint64_t record_bytes) {
    if (LedgerSegment* segment = find_mutable(seq)) {
        HUB_ASSERT(segment->live > 0 && segment->live_bytes >= record_bytes);
        HUB_ASSERT(!segment->removing);  // A removed segment had nothing left to unpin.
        segment->live--;
        segment->live_bytes -= record_bytes;
    }
}

std::optional<std::uint32_t> SegmentLedger::take_removal() {
    if (segments_.empty()) {
        return std::nullopt;
    }
    LedgerSegment& head = segments_.front();
    if (head.live > 0 || head.keep || head.removing || is_append(head)) {
        return std::nullopt;
    }
    head.removing = true;
    return head.seq;
}

void SegmentLedger::removed(std::uint32_t seq) {
    HUB_ASSERT(!segments_.empty() && segments_.front().seq == seq && segments_.front().removing);
    HUB_ASSERT(segments_.front().live == 0);
    segments_.erase(segments_.begin());
}

void SegmentLedger::removal_failed(std::uint32_t seq) {
    LedgerSegment* segment = find_mutable(seq);
    HUB_ASSERT(segment != nullptr && segment->removing);
    segment->removing = false;
    segment->keep = true;
}

std::optional<CompactionPlan> SegmentLedger::compaction_plan() const {
    if (segments_.empty()) {
        return std::nullopt;
    }
    const LedgerSegment& head = segments_.front();
    if (head.live == 0 || head.keep || head.removing || is_append(head)) {
        return std::nullopt;  // Nothing to copy, or not ours to touch.
    }
    std::uint64_t freed = head.bytes;
    for (std::size_t index = 1; index < segments_.size(); index++) {
        const LedgerSegment& next = segments_[index];
        if (next.live > 0 || next.keep || is_append(next)) {
            break;
        }
        freed += next.bytes;
    }
    if (head.live_bytes * 100 > freed * compaction_live_percent_max) {
        return std::nullopt;  // Mostly live: copying it would cost more than it gives back.
    }
    return CompactionPlan{head.seq, head.live, head.live_bytes, freed};
}

const LedgerSegment* SegmentLedger::find(std::uint32_t seq) const {
    auto found =
        std::lower_bound(segments_.begin(), segments_.end(), seq,
                         [](const LedgerSegment& s, std::uint32_t v) { return s.seq < v; });
    return found != segments_.end() && found->seq == seq ? &*found : nullptr;
}

LedgerSegment* SegmentLedger::find_mutable(std::uint32_t seq) {
    return const_cast<LedgerSegment*>(std::as_const(*this).find(seq));
}

std::uint64_t SegmentLedger::total_bytes() const {
    std::uint64_t total = 0;
    for (const LedgerSegment& segment : segments_) {
        total += segment.bytes;
    }
    return total;
}

std::uint64_t SegmentLedger::live_bytes() const {
    std::uint64_t total = 0;
    for (const LedgerSegment& segment : segments_) {
        total += segment.live_bytes;
    }
    return total;
}

}  // namespace hub::spool
