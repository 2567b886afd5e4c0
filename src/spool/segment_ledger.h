// segment_ledger.h -- which of a shard's segment files still hold live messages, and
// which may be deleted or should be compacted.
//
// A shard's segments are deleted strictly oldest first. That order is what makes deletion
// safe without tracking which status record refers to which segment: a status record is
// always appended to the shard's current segment, which is never older than the segment
// holding the message it names, so by the time a segment with status records is deleted,
// every older segment -- every message those records could mark finished -- is already
// gone, and no finished message can come back at recovery. A compaction keeps the order:
// it copies the head segment's live messages, with the status records they already have,
// into the current segment, and only then deletes the head.
//
// The ledger is pure bookkeeping (no I/O): the spool writer feeds it durable appends and
// the shard tells it when a message no longer needs its record.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hub::spool {

struct LedgerSegment {
    std::uint32_t seq = 0;
    std::uint64_t bytes = 0;       // Durable size of the file.
    std::uint32_t live = 0;        // Message records some message still needs.
    std::uint64_t live_bytes = 0;  // Their record sizes.
    bool keep = false;             // Never delete (damaged: left for the operator).
    bool removing = false;         // Deletion submitted, not yet durable.
};

struct CompactionPlan {
    std::uint32_t seq = 0;          // The head segment to copy out of.
    std::uint32_t live = 0;         // Messages to copy.
    std::uint64_t live_bytes = 0;   // Bytes to copy.
    std::uint64_t freed_bytes = 0;  // Given back once it and the dead run behind it go.
};

class SegmentLedger {
public:
    // A segment found at recovery (or created now: live 0, bytes 0). Precondition: seq
    // greater than every segment already added, live_bytes <= bytes.
    void add(std::uint32_t seq, std::uint64_t bytes, std::uint32_t live, std::uint64_t live_bytes,
             bool keep = false);
    // The segment appends go to: never deleted or compacted. Adds it if it is new.
    void set_append_segment(std::uint32_t seq);
    // A batch of bytes became durable at the end of segment seq.
    void grew(std::uint32_t seq, std::uint64_t bytes);
    // A message record of record_bytes in seq became durable (pin) or no longer needed
    // (unpin: finished with its status durable, or copied forward). Unknown seqs are
    // ignored (segments of other shards' directories are not this ledger's).
    void pin(std::uint32_t seq, std::uint64_t record_bytes);
    void unpin(std::uint32_t seq, std::uint64_t record_bytes);

    // The head segment if it can be deleted now (no live message, not the append segment,
    // not kept, no deletion in flight); marks it removing.
    std::optional<std::uint32_t> take_removal();
    // Its deletion is durable (or failed with the file already gone): forget it.
    void removed(std::uint32_t seq);
    // Its deletion failed: keep it for good (and so everything behind it).
    void removal_failed(std::uint32_t seq);

    // The head segment if compacting it pays (compaction_live_percent_max), else none.
    std::optional<CompactionPlan> compaction_plan() const;

    const LedgerSegment* find(std::uint32_t seq) const;
    const std::vector<LedgerSegment>& segments() const { return segments_; }
    std::uint64_t total_bytes() const;
    std::uint64_t live_bytes() const;

private:
    LedgerSegment* find_mutable(std::uint32_t seq);
    bool is_append(const LedgerSegment& segment) const {
        return has_append_ && segment.seq == append_seq_;
    }

    std::vector<LedgerSegment> segments_;  // By seq, oldest first.
    std::uint32_t append_seq_ = 0;
    bool has_append_ = false;
};

}  // namespace hub::spool
