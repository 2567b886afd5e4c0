// spool_reclaim.cc -- giving spool space back: adopting recovered segments, compaction.
//
// PURPOSE   Hand the spool writer this shard's recovered segments with their live counts;
//           when the writer's ledger says compacting the head segment pays, read its live
//           records back and have the writer copy them (with their durable status records)
//           into the current segment, then release the old records so the head can go.
// RUNS IN   a shard thread; reads go through the ring.
// TRUST     records read back are checked again (checksum, id) before they are copied.
// LIMITS    one compaction round at a time, compaction_round_messages_max messages and
//           compaction_round_bytes_max bytes per round (spool/limits.h).
// SEE ALSO  spool/segment_ledger.h (the order that makes deletion safe), spool_writer.cc,
//           docs/ARCHITECTURE.md "Spool lifecycle"
#include <fmt/format.h>

#include "base/log.h"
#include "engine/shard.h"
#include "spool/limits.h"
#include "spool/segment_source.h"

namespace hub::engine {
namespace {

// A head segment pinned by records the shard does not hold in memory (a message that
// routes nowhere, left in the spool) is looked at again after this long.
inline constexpr std::uint64_t pinned_head_retry_ms = 60'000;

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
}

void Shard::start_compaction() {
    if (compacting_ || !accepting_) {
        return;
    }
    std::optional<spool::CompactionPlan> plan = spool_->compaction_plan();
    if (!plan || (plan->seq == pinned_seq_ && now_ms() < pinned_until_ms_)) {
        return;
    }
    std::uint32_t in_memory = 0;
    std::uint64_t round_bytes = 0;
    copy_items_.clear();
    for (const auto& [key, stored] : stored_) {
        if (stored.segment_shard != settings_.index || stored.location.segment_seq != plan->seq) {
            continue;
        }
        in_memory++;
        // A message with status records in flight waits for them: its copy must carry
        // every status it has, or an older segment's deletion could undo one.
        std::uint64_t bytes = stored.stored_bytes();
        bool fits =
            copy_items_.size() < spool::compaction_round_messages_max &&
            (copy_items_.empty() || round_bytes + bytes <= spool::compaction_round_bytes_max);
        if (delivery_->statuses_pending(stored.meta.id) == 0 && fits) {
            CopyItem item;
            item.id = stored.meta.id;
            item.from = stored.pinned();
            item.slices = stored.slices;
            item.commit_bytes = stored.streamed() ? stored.location.bytes : 0;
            copy_items_.push_back(std::move(item));
            round_bytes += bytes;
        }
    }
    if (in_memory != plan->live) {
        // Some live record is not a message this shard holds (it routes nowhere, or it
        // is being committed): it cannot be copied, so the head stays for now.
        base::log_info(
            "spool: shard {}: segment {:08x} holds {} live records, {} in the "
            "queue: not compacted",
            settings_.index, plan->seq, plan->live, in_memory);
        pinned_seq_ = plan->seq;
        pinned_until_ms_ = now_ms() + pinned_head_retry_ms;
        copy_items_.clear();
        return;
    }
    if (copy_items_.empty()) {
        return;  // Everything there waits for its status records: next tick.
    }
    compacting_ = true;
    compaction_seq_ = plan->seq;
    for (std::uint32_t index = 0; index < copy_items_.size(); index++) {
        CopyItem& item = copy_items_[index];
        int fd = spool_->segment_fd(item.from.segment_seq);
        HUB_ASSERT(fd >= 0);  // The head is one of the writer's own, and still live.
        item.record.resize(item.from.bytes);
        // A message record is one read. A streamed message is one read per slice record
        // and one for its commit, laid end to end: the copy is those records in order.
        std::uint64_t at = 0;
        std::uint32_t part = 0;
        auto read_part = [&](std::uint64_t offset, std::uint64_t bytes) {
            queued_or_panic(ring_.read(Tag{Op::compact_read, index, part++}, fd,
                                       std::span<char>(item.record).subspan(at, bytes), offset));
            at += bytes;
            item.reads_pending++;
            copy_reads_pending_++;
        };
        for (const spool::SliceExtent& slice : item.slices) {
            read_part(slice.record_offset, slice.record_bytes);
        }
        std::uint64_t record_bytes = item.slices.empty() ? item.from.bytes : item.commit_bytes;
        read_part(item.from.offset, record_bytes);
        HUB_ASSERT(at == item.record.size());
    }
    base::log_debug(
        "spool: shard {}: compacting segment {:08x}: {} of {} live records "
        "({} bytes), {} bytes to free",
        settings_.index, plan->seq, copy_items_.size(), plan->live, round_bytes, plan->freed_bytes);
}

namespace {

// A copy read back whole is checked again, like every record read back: never copy a
// damaged one forward. A streamed message's buffer is its slice records then its commit.
bool copy_checks(const spool::QueueId& id, std::string_view record,
                 std::span<const spool::SliceExtent> slices, std::uint64_t commit_bytes) {
    std::span<const char> bytes(record.data(), record.size());
    if (slices.empty()) {
        spool::SpanSource source(bytes);
        spool::RecoveredMessage decoded;
        std::string content;
        int read_errno = 0;
        return spool::decode_message_at(source, 0, decoded, content, read_errno) ==
                   spool::SingleRecordOutcome::ok &&
               decoded.meta.id == id && decoded.record_bytes == record.size();
    }
    std::uint64_t at = 0;
    std::uint64_t content_bytes = 0;
    for (std::uint32_t index = 0; index < slices.size(); index++) {
        std::string_view content;
        if (spool::decode_slice_view(bytes.subspan(at, slices[index].record_bytes), id, index,
                                     content) != spool::SingleRecordOutcome::ok ||
            content.size() != slices[index].content_bytes) {
            return false;
        }
        at += slices[index].record_bytes;
        content_bytes += content.size();
    }
    return at + commit_bytes == record.size() &&
           spool::decode_commit_view(bytes.subspan(at), id,
                                     static_cast<std::uint32_t>(slices.size()),
                                     content_bytes) == spool::SingleRecordOutcome::ok;
}

}  // namespace

void Shard::on_compact_read(std::uint32_t item_index, std::uint32_t part, int result) {
    HUB_ASSERT(compacting_ && copy_reads_pending_ > 0 && item_index < copy_items_.size());
    CopyItem& item = copy_items_[item_index];
    HUB_ASSERT(item.reads_pending > 0 && part <= item.slices.size());
    std::uint64_t expected = part < item.slices.size()
                                 ? item.slices[part].record_bytes
                                 : (item.slices.empty() ? item.from.bytes : item.commit_bytes);
    if (result < 0 || static_cast<std::uint64_t>(result) != expected) {
        item.read_failed = true;
    }
    item.reads_pending--;
    if (item.reads_pending == 0) {
        item.read_ok =
            !item.read_failed && copy_checks(item.id, item.record, item.slices, item.commit_bytes);
        if (!item.read_ok) {
            base::log_error(
                "{}: compaction: the spooled record could not be read back ({}); left "
                "where it is",
                item.id.to_string(), result < 0 ? std::strerror(-result) : "checks");
        }
    }
    copy_reads_pending_--;
    if (copy_reads_pending_ > 0) {
        return;
    }
    for (CopyItem& copy : copy_items_) {
        auto stored = stored_.find(queue_key(copy.id));
        // Finished meanwhile (nothing to copy), or with statuses in flight: not this round.
        if (!copy.read_ok || stored == stored_.end() || delivery_->statuses_pending(copy.id) > 0 ||
            stored->second.location.segment_seq != copy.from.segment_seq ||
            stored->second.location.offset != copy.from.offset) {
            continue;
        }
        std::vector<StatusNote> statuses;
        std::span<const spool::RecipientStatus> durable = delivery_->durable_status(copy.id);
        for (std::uint32_t index = 0; index < durable.size(); index++) {
            if (durable[index] != spool::RecipientStatus::pending) {
                statuses.push_back(StatusNote{copy.id, index, durable[index]});
            }
        }
        // An administrator's command on this message still in flight: its record and the
        // copy would race for the last word; the next round copies it.
        if (control_pending_ && control_pending_->id == copy.id) {
            continue;
        }
        std::optional<std::uint64_t> held_since;
        if (auto snapshot = scheduler_->find(copy.id); snapshot && snapshot->held) {
            held_since = wall_ms();
        }
        spool_->append_copy(copy.record, copy.id, copy.from, statuses, held_since);
        copies_pending_++;
    }
    copy_items_.clear();
    compaction_copied_ = 0;
    if (copies_pending_ == 0) {
        compacting_ = false;
    }
}

// The stored message's records now are the copy at `to`: for a streamed message its
// slice records (in index order) and then its commit, laid out as they were read.
void Shard::relocate_copied(StoredMessage& stored, const RecordLocation& to) {
    HUB_ASSERT(to.bytes == stored.stored_bytes());
    std::uint64_t at = to.offset;
    for (spool::SliceExtent& slice : stored.slices) {
        slice.content_offset = at + (slice.content_offset - slice.record_offset);
        slice.record_offset = at;
        at += slice.record_bytes;
    }
    stored.location = RecordLocation{to.segment_seq, at, to.bytes - (at - to.offset)};
    HUB_ASSERT(stored.stored_bytes() == to.bytes);
}

void Shard::take_copies() {
    std::vector<CopyOutcome>& done = spool_->copies_done();
    for (const CopyOutcome& copy : done) {
        HUB_ASSERT(copies_pending_ > 0);
        copies_pending_--;
        if (!copy.durable) {
            continue;  // The old record stays where it is, still pinned.
        }
        compaction_copied_++;
        auto stored = stored_.find(queue_key(copy.id));
        if (stored != stored_.end() &&
            stored->second.location.segment_seq == copy.from.segment_seq &&
            stored->second.location.offset == copy.from.offset) {
            spool_->release(copy.from);
            relocate_copied(stored->second, copy.to);
        } else {
            // Finished after the copy was queued: its status records came after the copy,
            // so they are in the copy's segment or a later one; the copy is dead already.
            spool_->release(copy.to);
        }
        if (copies_pending_ == 0) {
            base::log_info("spool: shard {}: compaction copied {} records out of segment {:08x}",
                           settings_.index, compaction_copied_, compaction_seq_);
        }
    }
    done.clear();
    if (compacting_ && copies_pending_ == 0 && copy_reads_pending_ == 0) {
        compacting_ = false;
    }
}

}  // namespace hub::engine
