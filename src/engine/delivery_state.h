// delivery_state.h -- what a shard remembers about messages it is relaying.
//
// The spool holds every byte; the shard keeps only what it needs to route, retry and
// report: the envelope and where the record lives. Content is read back with one read per
// attempt, so a queue of messages for a partner that is down costs little memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/delivery.h"
#include "engine/partner_snapshot.h"
#include "engine/spool_writer.h"
#include "queue/scheduler.h"
#include "rewrite/rewrite.h"
#include "smtp/client_session.h"
#include "spool/slice_reader.h"
#include "spool/spool_format.h"

namespace hub::engine {

inline constexpr std::uint32_t delivery_jobs_max = 256;  // Deliver actions at once.
inline constexpr std::uint32_t report_jobs_max = 256;    // DSNs and ping replies being built.
inline constexpr std::uint32_t connect_timeout_s = 30;
// XXX: offering a saved TLS session to partners is off: with several connections opening
// at once, Postfix partners answered resumption attempts with a fatal alert (-313) in the
// relay benchmark, and each failure deferred mail. The connection cache gives most of
// the benefit meanwhile; turn this back on once the cause is understood and tested.
inline constexpr bool outbound_tls_resumption = false;
// An idle connection to a partner is kept this long for the next batch (connection cache).
inline constexpr std::uint32_t outbound_idle_keep_ms = 5000;

constexpr std::uint64_t queue_key(const spool::QueueId& id) {
    return delivery::message_key(id);
}

struct StoredMessage {
    spool::MessageMeta meta;
    std::uint8_t segment_shard = 0;  // Whose directory the segment file is in.
    // The message record, or a streamed message's commit (streamed_message record).
    RecordLocation location;
    // A streamed message's content_slice records (spool format 3), in index order, in the
    // same segment as its commit; empty for a message record. Delivery, reports and
    // compaction read them back one at a time (spool::SliceReader).
    std::vector<spool::SliceExtent> slices;
    bool streamed() const { return !slices.empty(); }
    // A slice failed its check during a transaction (the connection was closed): the next
    // jobs send it after the other messages of their batch, so that one damaged message
    // cannot keep deferring the rest with it.
    bool damaged = false;
    // What the message occupies in its segment (its records, and its slices if streamed):
    // what it pins there in the ledger (SegmentLedger) while it is live.
    std::uint64_t stored_bytes() const {
        std::uint64_t bytes = location.bytes;
        for (const spool::SliceExtent& slice : slices) {
            bytes += slice.record_bytes;
        }
        return bytes;
    }
    RecordLocation pinned() const {
        return RecordLocation{location.segment_seq, location.offset, stored_bytes()};
    }
    // Per envelope recipient: the destination (partner) it routes to (no_destination:
    // none), as delivery decided; reports name that partner's connector. Destinations
    // keep their ids across reloads, partner indexes do not.
    std::vector<queue::DestinationId> destinations;
    bool loop = false;  // Too many Received: fields: bounced, never relayed.
    // Wall clock at acceptance, for the delivery line's delay=; 0 after a restart, when
    // only meta.arrival_unix_s (whole seconds) is known.
    std::uint64_t arrival_ms = 0;
    // Received: plus content, as accepted (0 after a restart): the health byte counts.
    std::uint64_t content_bytes = 0;
    // A report the hub wrote: delivery's SpoolReport::report (0: none), handed back with
    // the spool writer's answer so that the statuses it tells of are written only then.
    std::uint64_t report = 0;
    // delivery::Delivery decides when nothing needs this entry any more (the scheduler,
    // status records in flight, reports being built) and says so with a Release.
};

struct JobItem {
    spool::QueueId id;
    std::vector<std::uint32_t> recipient_indices;
    // The record as read back, kept until the transaction ends: the body is sent from it
    // (message.content views into it). Only the header block is rewritten into header.
    std::string record;
    std::string header;  // The header block rewritten for the destination partner.
    smtp::OutboundMessage message;
    bool loaded = false;
    bool load_failed = false;
    bool reported = false;  // attempt_done() was called for it.
    // Its record read is in flight: the ring writes into record until the completion, so
    // record must not be freed before then (release_job frees it once none is in flight).
    bool read_in_flight = false;
    // A streamed message: record holds one slice record at a time, read when the client
    // session has taken the one before (needs_content); `slices` says which is next.
    // header_source gathers slices while the header block goes on past one (bounded by
    // outbound_streamed_gather_bytes_max) and is freed once its last piece is sent.
    std::optional<spool::SliceReader> slices;
    std::string header_source;
    RecordLocation read_from;  // The commit's place when `slices` was last located.
};

// One queue::Deliver: a connection to a partner and the transactions to run on it.
struct DeliveryJob {
    bool in_use = false;
    queue::DestinationId destination = queue::no_destination;
    // The snapshot the job started under and the partner's index in its table: a reload
    // during the job changes neither the partner's settings nor its TLS context for it.
    std::shared_ptr<const PartnerSnapshot> snapshot;
    int partner_index = -1;
    std::vector<JobItem> items;
    std::size_t sending_index = 0;  // The item in (or next for) a transaction.
    bool transaction_open = false;
    unsigned reads_pending = 0;
    std::uint32_t connection_slot = UINT32_MAX;
    bool finished = false;  // Reported to the scheduler; waits only for reads in flight.
};

using delivery::ReportKind;

// A report the hub writes itself, once the original's record has been read back.
struct ReportJob {
    bool in_use = false;
    ReportKind kind = ReportKind::failure;
    spool::QueueId id;
    std::vector<queue::RecipientNote> recipients;  // Whom the report is about.
    std::string record;
    // A streamed original: its first slices, read one at a time into record, gathered in
    // content up to report_streamed_content_bytes_max.
    std::optional<spool::SliceReader> slices;
    std::string content;
};

// rewrite::PartnerDomains over a partner table (a job's: the one it started under).
class PartnerDomainsView final : public rewrite::PartnerDomains {
public:
    void set(const policy::PartnerTable& partners) { partners_ = &partners; }
    std::string_view partner_of(std::string_view domain) const override;

private:
    const policy::PartnerTable* partners_ = nullptr;
};

}  // namespace hub::engine
