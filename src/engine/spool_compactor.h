// spool_compactor.h -- carries out a shard's compaction rounds: ring reads, writer copies.
//
// spool::Compaction decides (what to copy in a round, what a read or a landed copy means);
// this driver does the I/O those decisions call for: it asks the spool writer for a plan,
// reads the chosen records back through the ring into the round's buffers, hands the
// copies to the writer, and releases the old or the new records once the writer reports
// them. The shard owns its messages; the compactor never touches them. It learns what it
// needs and says what moved through CompactionHost, a handful of callbacks the shard gives.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "engine/ring.h"
#include "engine/spool_writer.h"
#include "spool/compaction.h"

namespace hub::engine {

// What the compactor asks of the shard, and what it tells it.
struct CompactionHost {
    // Appends to `out` every message the shard holds whose records are in segment
    // `segment_seq` of its own directory (the head being compacted).
    std::function<void(std::uint32_t segment_seq, std::vector<spool::CompactionCandidate>& out)>
        live_records;
    // The message as the shard holds it now; nullopt if it finished meanwhile.
    std::function<std::optional<spool::CompactionSource>(const spool::QueueId& id)> source;
    // What goes with a copy: the final statuses that are durable (not pending ones), and
    // since when it is held if an administrator holds it (the copy then carries a fresh
    // hold record). Asked only for a message source() has just found.
    std::function<void(const spool::QueueId& id, std::vector<StatusNote>& statuses,
                       std::optional<std::uint64_t>& held_since_unix_ms)>
        companions;
    // The message's records are now the copy at `to`. A copy written whole: `to` is its
    // whole stored bytes (a streamed message's slices then its commit) and copied_slices
    // is empty. A copy stream: copied_slices are its slice records' new places and `to`
    // is its commit's offset with every record's bytes (spool::relocate_stream_copy).
    // Called only for a message still where it was read.
    std::function<void(const spool::QueueId& id, const RecordLocation& to,
                       std::span<const spool::SliceExtent> copied_slices)>
        relocated;
};

class SpoolCompactor {
public:
    // writer: the shard's own spool writer (its ledger plans, its fds are read, it copies).
    SpoolCompactor(RingOps& ring, SpoolWriter& writer, std::uint8_t shard_index,
                   CompactionHost host, spool::CompactionLimits limits = {});

    // On the shard's tick, while it accepts work: starts a round if none is in flight and
    // compacting the head pays (submits its reads).
    void start(std::uint64_t now_ms);
    // A completion of Op::compact_read (tag index: the copy, or spool::stream_copy_index;
    // tag generation: its part).
    void on_read_done(std::uint32_t copy_index, std::uint32_t part, int result);
    // Each loop turn: the copies the writer reported since, released and relocated; the
    // stream copy's next read once the writer no longer holds its slice.
    void take_copies();

    // The shard stops: a stream copy under way goes no further (a torn copy is harmless,
    // and the writer can go idle); no round starts.
    void stop() { stopping_ = true; }

    // A round is in flight (reads or copies).
    bool busy() const { return compaction_.busy(); }
    // The most bytes of records its rounds held at once (spool::Compaction's buffers).
    std::uint64_t buffer_bytes_peak() const { return compaction_.buffer_bytes_peak(); }

private:
    void queue_copies();
    void read_stream();
    void stream_read_back(int result);
    void abandon_stream_copy();

    RingOps& ring_;
    SpoolWriter& writer_;
    std::uint8_t shard_index_;
    CompactionHost host_;
    spool::Compaction compaction_;
    std::vector<spool::CompactionCandidate> candidates_;  // Gathered per look; reused.
    std::vector<StatusNote> statuses_;                    // One copy's companions; reused.
    bool stopping_ = false;
};

}  // namespace hub::engine
