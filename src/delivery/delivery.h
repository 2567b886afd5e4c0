// delivery.h -- the relay's decisions, sans-I/O: events in, typed actions out.
//
// PURPOSE   Decide what happens to stored messages: route them to partners, answer pings,
//           bounce loops, turn transaction outcomes into status records and scheduler
//           input, word failures, and build the reports the hub writes itself. Owns the
//           shard's queue::Scheduler and translates its actions.
// RUNS IN   a shard thread, called by the engine, which carries out the actions (ring
//           reads and writes, connections). No syscalls here; time is passed in (now_ms,
//           wall clock milliseconds), as queue::Scheduler takes it.
// SEE ALSO  docs/DELIVERY.md, docs/ARCHITECTURE.md, queue/scheduler.h
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "delivery/reports.h"
#include "delivery/routing.h"
#include "delivery/wording.h"
#include "policy/partners.h"
#include "queue/scheduler.h"
#include "smtp/client_session.h"
#include "spool/spool_format.h"

namespace hub::delivery {

// --- Actions: what the engine is asked to do, in order ---

// Append a status record for one recipient.
struct WriteStatus {
    spool::QueueId id;
    std::uint32_t recipient_index = 0;
    spool::RecipientStatus status = spool::RecipientStatus::pending;
    // A bounce decided by a transaction's outcome, which the engine counted with the
    // transaction; it counts every other bounced status when it writes it.
    bool bounce_counted = false;
};
// Run these transactions on one connection to the partner (the scheduler's Deliver).
struct QueueForDelivery {
    queue::Deliver deliver;
    int partner_index = -1;
};
// Read the original back and call report_read() with it: a DSN or a ping reply is due.
struct ReadForReport {
    ReportKind kind = ReportKind::failure;
    spool::QueueId id;
    std::vector<queue::RecipientNote> recipients;
};
// Spool this message the hub wrote (from the null sender) to one recipient.
struct SpoolReport {
    std::string content;
    std::string recipient;
    // Nonzero: the statuses this report tells of (a DSN's bounced recipients, a ping's
    // answered ones) wait for it; the engine calls report_spooled(report, ...) once the
    // spool writer has answered for it (docs/DELIVERY.md, "A bounce and its report").
    std::uint64_t report = 0;
};
// Nothing needs the message any more: every recipient is final and its status records
// are durable (docs/DELIVERY.md, at-least-once), and no report is being built from it.
// The engine forgets it and releases its record (it no longer pins its segment).
struct Release {
    spool::QueueId id;
};
enum class LogLevel : std::uint8_t { info, warn, error };
struct LogLine {
    LogLevel level = LogLevel::info;
    std::string text;
};

using Action =
    std::variant<WriteStatus, QueueForDelivery, ReadForReport, SpoolReport, Release, LogLine>;

// How long a report whose statuses wait for it (a DSN, a ping reply) waits before it is
// read and built again after the engine could not start it or the spool writer could not
// make it durable (a full disk, an I/O error): short enough that a sender hears soon after
// the disk recovers, long enough not to spin on a full one.
inline constexpr std::uint64_t report_retry_ms = 60'000;

constexpr std::uint64_t message_key(const spool::QueueId& id) {
    return (std::uint64_t{id.shard} << 56) | (std::uint64_t{id.segment_seq} << 24) | id.ordinal;
}

// --- Events ---

// A message that is durable in the spool (just accepted, a report the hub wrote, or
// recovered at start).
struct StoredFacts {
    const spool::MessageMeta* meta = nullptr;
    bool loop = false;  // More Received: fields than dsn::received_count_max.
    // Recovery's view, one per recipient (empty for a new message): final ones are kept.
    std::span<const spool::RecipientStatus> statuses;
    bool held = false;  // The administrator's hold is in force (recovery).
};

struct StoredDecision {
    // The engine keeps the message (envelope, location) until a Release names it.
    bool keep = false;
    bool in_scheduler = false;  // The scheduler has it.
    Routing routing;
    // Per envelope recipient: the destination (partner, by name) it routes to, or
    // queue::no_destination. Unlike routing.partner_index this stays true across a live
    // reload of the partner table; report_read() takes it.
    std::vector<queue::DestinationId> destinations;
    std::vector<Action> actions;
};

// One recipient's line in the delivery log (docs/LOGGING.md).
struct RecipientLine {
    std::size_t position = 0;  // In the transaction's recipient list.
    std::string_view verdict;  // sent, deferred, bounced.
    std::string text;
    std::string dsn;
};

struct TransactionDecision {
    std::vector<RecipientLine> lines;
    std::vector<Action> actions;
};

class Delivery {
public:
    // partners must outlive this (or the next set_partners); hostname names the hub in
    // reports.
    // held (may be null): pending and suspended partners, to which only stored mail routes
    // (it waits like mail for a partner suspended live); same lifetime rule as partners.
    Delivery(const policy::PartnerTable& partners, const queue::Config& config,
             std::string hostname, const policy::PartnerTable* held = nullptr);

    // A live reload: new messages route through partners from now on; a partner keeps its
    // destination (by name) and its queued recipients, with its new smart host for the
    // connections opened from now on. Recipients queued for a partner that is no longer in
    // the table stay queued: each attempt defers them with a reason (tick()) until the
    // partner is back or their queue lifetime ends (then they bounce as usual). partners
    // must outlive this until the next set_partners. Precondition: every partner can get a
    // destination (at most queue::destinations_count_max names in the process's life; the
    // supervisor refuses a reload that would pass it).
    void set_partners(const policy::PartnerTable& partners,
                      const policy::PartnerTable* held = nullptr);

    queue::Scheduler& scheduler() { return *scheduler_; }
    const queue::Scheduler& scheduler() const { return *scheduler_; }
    // The partner of a destination in the current table (its index), or -1 if the table
    // has no partner of that name (suspended or removed since).
    int partner_of(queue::DestinationId destination) const;
    queue::DestinationId destination_of(std::size_t partner_index) const {
        return partner_destination_[partner_index];
    }

    StoredDecision message_stored(const StoredFacts& facts, queue::Origin origin,
                                  std::uint64_t now_ms);

    // One transaction (or a failure before it: result null, failure_text says why) for
    // these recipients of a message, on a connection to destination (the Deliver's).
    TransactionDecision transaction_done(const spool::QueueId& id,
                                         std::span<const std::uint32_t> recipient_indices,
                                         queue::DestinationId destination,
                                         const smtp::MessageResult* result,
                                         std::string_view failure_text, std::uint64_t now_ms);

    // The scheduler's due work. A Deliver for a destination whose partner is not in the
    // current table is not handed out: its recipients are deferred with inactive_text().
    std::vector<Action> tick(std::uint64_t now_ms);
    // Why mail for a partner outside the table waits (the recipients' last error).
    static std::string inactive_text(std::string_view partner);

    // Translates scheduler actions the engine obtained directly (an administrator's
    // delete): bounces and expiries write bounced statuses and ask for a failure report.
    std::vector<Action> translate(std::vector<queue::Action>& actions);

    // A report's original has been read back (original null: unreadable). destinations:
    // the stored message's (StoredDecision::destinations), one per envelope recipient.
    std::vector<Action> report_read(ReportKind kind, const spool::QueueId& id,
                                    std::span<const queue::RecipientNote> recipients,
                                    const spool::MessageMeta* original, std::string_view content,
                                    std::span<const queue::DestinationId> destinations,
                                    std::uint64_t now_ms);
    // A ReadForReport the engine could not start (no free report job, record not
    // readable): a report whose statuses wait for it is tried again after
    // report_retry_ms (tick()), any other is given up.
    std::vector<Action> report_abandoned(ReportKind kind, const spool::QueueId& id,
                                         std::span<const queue::RecipientNote> recipients,
                                         std::uint64_t now_ms);
    // The spool writer's answer for a SpoolReport with a nonzero report: durable, the
    // statuses it tells of are written now; not (a failed write, e.g. a full disk), they
    // keep waiting and the report is read and built again after report_retry_ms. The
    // original is kept meanwhile, so a report is never silently lost.
    std::vector<Action> report_spooled(std::uint64_t report, bool durable, std::uint64_t now_ms);
    // When tick() next has something to do: the scheduler's next_due_ms, or a report to
    // try again (so it changes with report_spooled() and report_abandoned() too).
    queue::TimeMs next_due_ms(queue::TimeMs now_ms) const;
    // A WriteStatus is durable.
    std::vector<Action> status_durable(const spool::QueueId& id, std::uint32_t recipient_index,
                                       spool::RecipientStatus status);

    // For compaction: status records not yet durable, and the final statuses that are
    // (a copy carries those along). 0 and empty for a message not kept.
    std::uint32_t statuses_pending(const spool::QueueId& id) const;
    std::span<const spool::RecipientStatus> durable_status(const spool::QueueId& id) const;

private:
    // What decides when a kept message is released: the scheduler, status records in
    // flight, reports being built. A message the scheduler finished stays, "finished,
    // status not yet durable", until its status records are.
    struct Ledger {
        spool::QueueId id;
        bool in_scheduler = false;
        std::uint32_t reports_pending = 0;
        std::uint32_t statuses_pending = 0;
        std::vector<spool::RecipientStatus> durable_status;
        bool finished = false;
        queue::Finished counts;
        // Per recipient: its bounce was decided by a transaction (WriteStatus::bounce_counted).
        std::vector<bool> bounce_counted;
    };
    // A report whose statuses wait for its durability: being spooled, or to be tried again.
    struct HeldReport {
        ReportKind kind = ReportKind::failure;
        spool::QueueId id;
        std::vector<queue::RecipientNote> recipients;
        std::uint64_t retry_at_ms = 0;
    };
    void bounce_loop(const spool::MessageMeta& meta, StoredDecision& decision);
    // Deliver actions for a partner outside the table go to inactive (never null when the
    // actions may hold one: only tick()'s do).
    void translate_into(std::vector<queue::Action>& actions, std::vector<Action>& out,
                        std::vector<queue::Finished>& finished,
                        std::vector<queue::Deliver>* inactive) const;
    void defer_inactive(const queue::Deliver& deliver, std::uint64_t now_ms,
                        std::vector<Action>& out, std::vector<queue::Finished>& finished);
    std::string connector_of(queue::DestinationId destination) const;
    // Counts what the actions start (status writes, report reads), then takes finished
    // messages out of the scheduler's hands; appends any releases that follow.
    void account(std::vector<Action>& actions, std::span<const queue::Finished> finished);
    void release_if_unused(std::uint64_t key, std::vector<Action>& out);
    // The statuses a report tells of, written (and accounted) now.
    void write_reported_statuses(ReportKind kind, const spool::QueueId& id,
                                 std::span<const queue::RecipientNote> recipients,
                                 std::vector<Action>& out);
    // One report of the message is done (built, spooled or given up).
    void report_done(const spool::QueueId& id, std::vector<Action>& out);
    void retry_report(HeldReport held, std::string_view reason, std::uint64_t now_ms,
                      std::vector<Action>& out);

    const policy::PartnerTable* partners_ = nullptr;
    const policy::PartnerTable* held_ = nullptr;
    std::string hostname_;
    std::unique_ptr<queue::Scheduler> scheduler_;
    std::vector<queue::DestinationId> partner_destination_;   // By partner index.
    std::vector<queue::DestinationId> held_destination_;      // By held partner index.
    std::unordered_map<std::uint64_t, Ledger> ledger_;        // By message_key().
    std::unordered_map<std::uint64_t, HeldReport> spooling_;  // By SpoolReport::report.
    std::vector<HeldReport> retries_;                         // Reports to try again.
    std::uint64_t next_report_ = 1;
};

}  // namespace hub::delivery
