// spool_reclaim.cc -- giving spool space back: the spool writer with this shard's recovered
// segments, and the compactor with a view of this shard's messages.
//
// PURPOSE   Hand the spool writer this shard's recovered segments with their live counts;
//           start the compactor (spool_compactor.h), and answer what it asks of the
//           messages this shard holds: which live in the head segment, where each is now,
//           what statuses go with its copy, and move one to its copy once that is durable.
// RUNS IN   a shard thread.
// TRUST     none beyond the shard's own: recovered segments were checked by recovery.
// LIMITS    one compaction round at a time (spool/limits.h, spool/compaction.h).
// SEE ALSO  spool/segment_ledger.h (the order that makes deletion safe), spool_writer.cc,
//           spool_compactor.cc, docs/ARCHITECTURE.md "Spool lifecycle"
#include <fmt/format.h>

#include "base/log.h"
#include "engine/shard.h"
#include "spool/compaction.h"
#include "spool/limits.h"

namespace hub::engine {
namespace {

bool damaged(spool::SegmentProblem problem) {
    return problem == spool::SegmentProblem::corrupt_record ||
           problem == spool::SegmentProblem::bad_segment_header;
}

}  // namespace

void Shard::start_spool_writer() {
    SpaceBudget budget;
    budget.free_bytes = settings_.spool_free_bytes;
    budget.reserve_bytes = settings_.config->spool_reserve_bytes;
    budget.floor_bytes = budget.reserve_bytes / 100 * spool::compaction_floor_percent_of_reserve;
    budget.shard_count = std::max<std::uint32_t>(1, settings_.shard_count);
    spool_ = std::make_unique<SpoolWriter>(ring_, settings_.index, settings_.spool_dir_fd,
                                           settings_.first_segment_seq,
                                           settings_.config->segment_bytes_max, budget);
    for (const ShardSettings::OwnSegment& own : settings_.own_segments) {
        std::uint64_t live_bytes = 0;
        for (const spool::RecoveredMessage& message : settings_.recovered) {
            if (message.segment_shard == settings_.index &&
                message.segment_seq == own.summary.segment_seq) {
                live_bytes += message.stored_bytes();  // A streamed one's slices too.
            }
        }
        // The whole file counts (a torn tail too): deleting it gives all of it back.
        spool_->adopt_segment(own.summary.segment_seq, own.fd, own.summary.file_bytes,
                              own.summary.live_count, live_bytes, damaged(own.summary.problem));
        if (damaged(own.summary.problem)) {
            base::log_warn(
                "spool: {} is damaged ({}); kept, and no older-first deletion "
                "passes it until an operator moves it away",
                own.summary.path, own.summary.problem_detail);
        }
    }
    settings_.own_segments.clear();
    spool_->start();
    compactor_ =
        std::make_unique<SpoolCompactor>(ring_, *spool_, settings_.index, compaction_host());
}

CompactionHost Shard::compaction_host() {
    CompactionHost host;
    host.live_records = [this](std::uint32_t segment_seq,
                               std::vector<spool::CompactionCandidate>& out) {
        for (const auto& [key, stored] : stored_) {
            if (stored.segment_shard != settings_.index ||
                stored.location.segment_seq != segment_seq) {
                continue;
            }
            out.push_back(
                spool::CompactionCandidate{stored.meta.id, stored.location, stored.slices,
                                           delivery_->statuses_pending(stored.meta.id) > 0});
        }
    };
    host.source = [this](const spool::QueueId& id) -> std::optional<spool::CompactionSource> {
        auto stored = stored_.find(queue_key(id));
        if (stored == stored_.end()) {
            return std::nullopt;
        }
        return spool::CompactionSource{stored->second.location, delivery_->statuses_pending(id) > 0,
                                       control_pending_ && control_pending_->id == id};
    };
    host.companions = [this](const spool::QueueId& id, std::vector<StatusNote>& statuses,
                             std::optional<std::uint64_t>& held_since_unix_ms) {
        std::span<const spool::RecipientStatus> durable = delivery_->durable_status(id);
        for (std::uint32_t index = 0; index < durable.size(); index++) {
            if (durable[index] != spool::RecipientStatus::pending) {
                statuses.push_back(StatusNote{id, index, durable[index]});
            }
        }
        if (auto snapshot = scheduler_->find(id); snapshot && snapshot->held) {
            held_since_unix_ms = wall_ms();
        }
    };
    host.relocated = [this](const spool::QueueId& id, const RecordLocation& to,
                            std::span<const spool::SliceExtent> copied_slices) {
        auto stored = stored_.find(queue_key(id));
        HUB_ASSERT(stored != stored_.end());  // source() has just found it where it was read.
        HUB_ASSERT(to.bytes == stored->second.stored_bytes());
        stored->second.location =
            copied_slices.empty()
                ? spool::relocate_copy(stored->second.slices, to)
                : spool::relocate_stream_copy(stored->second.slices, copied_slices, to);
        HUB_ASSERT(stored->second.stored_bytes() == to.bytes);
    };
    return host;
}

}  // namespace hub::engine
