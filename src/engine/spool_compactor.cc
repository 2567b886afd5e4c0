// spool_compactor.cc -- a shard's compaction rounds carried out through its ring and writer.
//
// PURPOSE   Carry out spool::Compaction's decisions: when the writer's ledger says
//           compacting the head segment pays, read its live records back through the ring,
//           have the writer copy them (with their durable status records) into the append
//           segment, then release the old records (or a copy that came too late) so the
//           head can go.
// RUNS IN   a shard thread; reads go through the shard's ring, copies through its writer.
// TRUST     records read back are checked again (checksum, id) before they are copied
//           (spool/compaction.cc).
// LIMITS    one round at a time, compaction_round_messages_max messages and
//           compaction_round_bytes_max bytes per round (spool/limits.h); its reads all
//           submitted at once.
// SEE ALSO  spool/compaction.h (the decisions), spool/segment_ledger.h (the order that makes
//           deletion safe), spool_writer.cc (append_copy), docs/ARCHITECTURE.md "Spool
//           lifecycle"
#include "engine/spool_compactor.h"

#include <cstring>
#include <utility>

#include "base/assert.h"
#include "base/log.h"

namespace hub::engine {

SpoolCompactor::SpoolCompactor(RingOps& ring, SpoolWriter& writer, std::uint8_t shard_index,
                               CompactionHost host, spool::CompactionLimits limits)
    : ring_(ring),
      writer_(writer),
      shard_index_(shard_index),
      host_(std::move(host)),
      compaction_(limits) {
    HUB_ASSERT(host_.live_records && host_.source && host_.companions && host_.relocated);
}

void SpoolCompactor::start(std::uint64_t now_ms) {
    if (compaction_.busy()) {
        return;
    }
    std::optional<spool::CompactionPlan> plan = writer_.compaction_plan();
    if (!compaction_.looks_at(plan, now_ms)) {
        return;
    }
    candidates_.clear();
    host_.live_records(plan->seq, candidates_);
    spool::RoundStartNote note = compaction_.begin(plan, candidates_, now_ms);
    candidates_.clear();
    switch (note.start) {
        case spool::RoundStart::no_plan:
        case spool::RoundStart::busy:
            HUB_PANIC("looks_at() said a round could begin");
        case spool::RoundStart::pinned:
            base::log_info(
                "spool: shard {}: segment {:08x} holds {} live records, {} in the "
                "queue: not compacted",
                shard_index_, plan->seq, plan->live, note.held);
            return;
        case spool::RoundStart::waiting_for_statuses:
            return;  // Everything there waits for its status records: next tick.
        case spool::RoundStart::started:
            break;
    }
    for (const spool::CompactionRead& read : compaction_.reads()) {
        int fd = writer_.segment_fd(read.segment_seq);
        HUB_ASSERT(fd >= 0);  // The head is one of the writer's own, and still live.
        queued_or_panic(ring_.read(Tag{Op::compact_read, read.copy_index, read.part}, fd, read.into,
                                   read.offset));
    }
    base::log_debug(
        "spool: shard {}: compacting segment {:08x}: {} of {} live records "
        "({} bytes), {} bytes to free",
        shard_index_, plan->seq, note.copies, plan->live, note.copy_bytes, plan->freed_bytes);
}

void SpoolCompactor::on_read_done(std::uint32_t copy_index, std::uint32_t part, int result) {
    spool::CopyReadNote note = compaction_.read_done(copy_index, part, result);
    if (note.copy_failed) {
        base::log_error(
            "{}: compaction: the spooled record could not be read back ({}); left "
            "where it is",
            compaction_.copies()[copy_index].id.to_string(),
            note.last_result < 0 ? std::strerror(-note.last_result) : "checks");
    }
    if (note.all_read) {
        queue_copies();
    }
}

void SpoolCompactor::queue_copies() {
    std::span<const spool::CompactionCopy> copies = compaction_.copies();
    for (std::uint32_t index = 0; index < copies.size(); index++) {
        const spool::CompactionCopy& copy = copies[index];
        if (!copy.read_ok || !compaction_.queue_copy(index, host_.source(copy.id))) {
            continue;
        }
        statuses_.clear();
        std::optional<std::uint64_t> held_since;
        host_.companions(copy.id, statuses_, held_since);
        writer_.append_copy(copy.record, copy.id, copy.from, statuses_, held_since);
    }
    compaction_.reads_finished();  // The writer has the copies' bytes: free the buffers.
}

void SpoolCompactor::take_copies() {
    std::vector<CopyOutcome>& done = writer_.copies_done();
    for (const CopyOutcome& copy : done) {
        std::optional<spool::CompactionSource> now = host_.source(copy.id);
        std::optional<RecordLocation> now_at;
        if (now) {
            now_at = now->location;
        }
        switch (compaction_.copy_done(copy.durable, copy.from, now_at)) {
            case spool::CopyVerdict::not_copied:
                continue;  // The old record stays where it is, still pinned.
            case spool::CopyVerdict::moved:
                writer_.release(copy.from);
                host_.relocated(copy.id, copy.to);
                break;
            case spool::CopyVerdict::copy_dead:
                writer_.release(copy.to);
                break;
        }
        if (compaction_.copies_in_flight() == 0) {
            base::log_info("spool: shard {}: compaction copied {} records out of segment {:08x}",
                           shard_index_, compaction_.copied(), compaction_.segment_seq());
        }
    }
    done.clear();
}

}  // namespace hub::engine
