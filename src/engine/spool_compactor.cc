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
//           submitted at once. A streamed message is copied one slice at a time through
//           the writer's copy stream: one record of it read, handed over, and the next
//           read only once the writer no longer holds it (compaction_round_memory_bytes_max).
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
    if (compaction_.busy() || stopping_) {
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
    base::log_debug(
        "spool: shard {}: compacting segment {:08x}: {} of {} live records "
        "({} bytes), {} bytes to free",
        shard_index_, plan->seq, note.copies, plan->live, note.copy_bytes, plan->freed_bytes);
    for (const spool::CompactionRead& read : compaction_.reads()) {
        int fd = writer_.segment_fd(read.segment_seq);
        HUB_ASSERT(fd >= 0);  // The head is one of the writer's own, and still live.
        queued_or_panic(ring_.read(Tag{Op::compact_read, read.copy_index, read.part}, fd, read.into,
                                   read.offset));
    }
    if (compaction_.reads().empty()) {
        compaction_.reads_finished();  // Only a stream copy: nothing read whole.
    }
    if (compaction_.stream() != nullptr) {
        read_stream();
    }
}

void SpoolCompactor::abandon_stream_copy() {
    spool::QueueId id = compaction_.stream()->id;
    if (compaction_.abandon_stream()) {
        writer_.abandon_stream(id);
    }
}

void SpoolCompactor::read_stream() {
    spool::CompactionRead read = compaction_.stream_read();
    int fd = writer_.segment_fd(read.segment_seq);
    HUB_ASSERT(fd >= 0);  // The head stays while the round is in flight.
    queued_or_panic(
        ring_.read(Tag{Op::compact_read, read.copy_index, read.part}, fd, read.into, read.offset));
}

// One record of the stream copy is back: checked, then appended, committed or abandoned.
void SpoolCompactor::stream_read_back(int result) {
    const spool::StreamCopy& stream = *compaction_.stream();
    spool::QueueId id = stream.id;
    bool begun = stream.begun;
    if (!compaction_.stream_read_done(result)) {
        base::log_error(
            "{}: compaction: a spooled record of it could not be read back ({}); left "
            "where it is",
            id.to_string(), result < 0 ? std::strerror(-result) : "checks");
        if (begun) {
            writer_.abandon_stream(id);
        }
        return;
    }
    if (stopping_) {
        abandon_stream_copy();
        return;
    }
    switch (compaction_.stream_next(host_.source(id), writer_.can_begin_stream())) {
        case spool::StreamStep::abandon:
            if (begun) {
                writer_.abandon_stream(id);  // Its slices so far are dead bytes.
            }
            return;
        case spool::StreamStep::begin_and_append:
            writer_.begin_copy_stream(id);
            [[fallthrough]];
        case spool::StreamStep::append: {
            const spool::StreamCopy& copying = *compaction_.stream();
            auto content_bytes = copying.slices[copying.part].content_bytes;
            writer_.append_copy_slice(id, compaction_.take_stream_record(), content_bytes);
            return;
        }
        case spool::StreamStep::commit: {
            statuses_.clear();
            std::optional<std::uint64_t> held_since;
            host_.companions(id, statuses_, held_since);
            writer_.commit_copy_stream(compaction_.take_stream_record(), id,
                                       compaction_.stream()->from, statuses_, held_since);
            return;
        }
    }
}

void SpoolCompactor::on_read_done(std::uint32_t copy_index, std::uint32_t part, int result) {
    if (copy_index == spool::stream_copy_index) {
        HUB_ASSERT(compaction_.stream() != nullptr && compaction_.stream()->part == part);
        stream_read_back(result);
        return;
    }
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
    const spool::StreamCopy* stream = compaction_.stream();
    if (stream != nullptr && stream->state == spool::StreamCopyState::in_writer &&
        !writer_.stream_holds_slice(stream->id)) {
        spool::QueueId id = stream->id;
        if (stopping_) {
            abandon_stream_copy();
        } else if (compaction_.stream_slice_ended(writer_.stream_broken(id))) {
            read_stream();
        } else {
            writer_.abandon_stream(id);  // A failed batch lost a slice of the copy.
        }
    }
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
                host_.relocated(copy.id, copy.to, copy.slices);
                break;
            case spool::CopyVerdict::copy_dead:
                writer_.release(copy.to);
                break;
        }
        if (!compaction_.busy()) {
            base::log_info("spool: shard {}: compaction copied {} records out of segment {:08x}",
                           shard_index_, compaction_.copied(), compaction_.segment_seq());
        }
    }
    done.clear();
}

}  // namespace hub::engine
