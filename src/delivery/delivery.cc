// delivery.cc -- events -> actions for relaying stored messages (see delivery.h).
#include "delivery/delivery.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "base/assert.h"
#include "dsn/dsn.h"

namespace hub::delivery {

Delivery::Delivery(const policy::PartnerTable& partners, const queue::Config& config,
                   std::string hostname, const policy::PartnerTable* held)
    : hostname_(std::move(hostname)), scheduler_(std::make_unique<queue::Scheduler>(config)) {
    set_partners(partners, held);
}

void Delivery::set_partners(const policy::PartnerTable& partners,
                            const policy::PartnerTable* held) {
    partners_ = &partners;
    held_ = held;
    // A held partner's destination is the same one (by name) it has once active again, so its
    // queued recipients are simply due then; its smart host is only kept for the queue
    // listing, since a Deliver for a partner outside the table never connects.
    auto destinations_of = [this](const policy::PartnerTable& table) {
        std::vector<queue::DestinationId> out;
        for (const policy::Partner& partner : table.partners()) {
            queue::DestinationSpec spec{partner.name, partner.outbound_host, partner.outbound_port,
                                        0};
            auto destination = scheduler_->set_destination(spec);
            HUB_ASSERT(destination.has_value());  // Checked at load; the count by the supervisor.
            out.push_back(*destination);
        }
        return out;
    };
    partner_destination_ = destinations_of(partners);
    held_destination_ =
        held == nullptr ? std::vector<queue::DestinationId>{} : destinations_of(*held);
}

int Delivery::partner_of(queue::DestinationId destination) const {
    for (std::size_t partner = 0; partner < partner_destination_.size(); partner++) {
        if (partner_destination_[partner] == destination) {
            return static_cast<int>(partner);
        }
    }
    return -1;
}

std::string Delivery::inactive_text(std::string_view partner) {
    return fmt::format(
        "partner {} is not active in the directory (suspended or removed); the mail stays "
        "queued until it is active again or its queue lifetime ends",
        partner);
}

std::string Delivery::connector_of(queue::DestinationId destination) const {
    const queue::DestinationSpec& spec = scheduler_->destination(destination);
    return fmt::format("[{}]:{}", spec.host, spec.port);
}

// A mail loop: every recipient bounced at once, never relayed, and one failure report.
void Delivery::bounce_loop(const spool::MessageMeta& meta, StoredDecision& decision) {
    auto count = static_cast<std::uint32_t>(meta.envelope.recipients.size());
    decision.keep = true;
    Ledger& ledger = ledger_[message_key(meta.id)];
    ledger.id = meta.id;
    ledger.durable_status.assign(count, spool::RecipientStatus::pending);
    ledger.bounce_counted.assign(count, false);
    // The bounced statuses wait for the report (report_read).
    ReadForReport report{ReportKind::failure, meta.id, {}};
    for (std::uint32_t index = 0; index < count; index++) {
        report.recipients.push_back(queue::RecipientNote{index, std::string(loop_text)});
    }
    decision.actions.push_back(
        LogLine{LogLevel::warn, fmt::format("{}: bounced: mail loop (more than {} Received: "
                                            "fields)",
                                            meta.id.to_string(), dsn::received_count_max)});
    decision.actions.push_back(std::move(report));
    account(decision.actions, {});
}

StoredDecision Delivery::message_stored(const StoredFacts& facts, queue::Origin origin,
                                        std::uint64_t now_ms) {
    HUB_ASSERT(facts.meta != nullptr);
    const spool::MessageMeta& meta = *facts.meta;
    std::string id_text = meta.id.to_string();
    StoredDecision decision;
    decision.routing = route(*partners_, meta.envelope.recipients, held_);
    if (!decision.routing.any) {
        decision.actions.push_back(LogLine{
            LogLevel::warn,
            fmt::format("{}: no recipient routes to a partner; left in the spool", id_text)});
        return decision;
    }
    const auto& recipients = meta.envelope.recipients;
    auto count = static_cast<std::uint32_t>(recipients.size());
    if (facts.loop) {
        bounce_loop(meta, decision);
        return decision;
    }
    queue::MessageInput input;
    input.id = meta.id;
    input.arrival_unix_s = meta.arrival_unix_s;
    input.sender = meta.envelope.mail_from;
    input.held = facts.held;
    ReadForReport pings{ReportKind::ping, meta.id, {}};
    decision.destinations.assign(count, queue::no_destination);
    for (std::uint32_t index = 0; index < count; index++) {
        int routed = decision.routing.partner_index[index];
        int held = decision.routing.held_index[index];
        if (routed >= 0) {
            decision.destinations[index] = partner_destination_[static_cast<std::size_t>(routed)];
        } else if (held >= 0) {
            decision.destinations[index] = held_destination_[static_cast<std::size_t>(held)];
        }
        queue::RecipientInput recipient;
        recipient.address = decision.routing.relay_address[index];
        int partner = decision.routing.partner_index[index];
        if (index < facts.statuses.size() &&
            facts.statuses[index] != spool::RecipientStatus::pending) {
            recipient.status = facts.statuses[index];  // Final before the restart.
        } else if (partner >= 0 && is_ping(recipients[index].address)) {
            // Answered by the hub itself; the recipient is final once the reply is spooled.
            recipient.status = spool::RecipientStatus::delivered;
            pings.recipients.push_back(queue::RecipientNote{index, {}});
        } else if (partner < 0 && held < 0) {
            recipient.status = spool::RecipientStatus::bounced;
        } else {
            recipient.destination = decision.destinations[index];  // Waits if held.
        }
        input.recipients.push_back(std::move(recipient));
    }
    auto added = scheduler_->add(std::move(input), origin, now_ms);
    if (!added && added.error() != queue::AddError::nothing_pending) {
        decision.actions.push_back(
            LogLine{LogLevel::error, fmt::format("{}: cannot queue: scheduler refused ({})",
                                                 id_text, static_cast<int>(added.error()))});
    }
    decision.in_scheduler = added.has_value();
    decision.keep = added.has_value() || !pings.recipients.empty();
    if (!pings.recipients.empty()) {
        decision.actions.push_back(std::move(pings));
    }
    if (decision.keep) {
        Ledger& ledger = ledger_[message_key(meta.id)];
        ledger.id = meta.id;
        ledger.in_scheduler = decision.in_scheduler;
        ledger.durable_status.assign(count, spool::RecipientStatus::pending);
        ledger.bounce_counted.assign(count, false);
        for (std::uint32_t index = 0; index < facts.statuses.size() && index < count; index++) {
            ledger.durable_status[index] = facts.statuses[index];
        }
    }
    account(decision.actions, {});
    return decision;
}

TransactionDecision Delivery::transaction_done(const spool::QueueId& id,
                                               std::span<const std::uint32_t> recipient_indices,
                                               queue::DestinationId destination,
                                               const smtp::MessageResult* result,
                                               std::string_view failure_text,
                                               std::uint64_t now_ms) {
    std::string peer = connector_of(destination);
    TransactionDecision decision;
    std::vector<queue::RecipientResult> results;
    for (std::size_t position = 0; position < recipient_indices.size(); position++) {
        queue::RecipientResult recipient;
        recipient.recipient_index = recipient_indices[position];
        RecipientLine line;
        line.position = position;
        const smtp::RecipientResult* outcome =
            result != nullptr && position < result->recipients.size()
                ? &result->recipients[position]
                : nullptr;
        if (outcome != nullptr) {
            recipient.outcome = outcome_of(outcome->status);
            line.text = recipient_text(peer, *outcome);
        } else {
            recipient.outcome = queue::Outcome::temp_fail;
            line.text = std::string(failure_text);
        }
        line.verdict = verdict(recipient.outcome);
        line.dsn = dsn_code(outcome);
        if (recipient.outcome == queue::Outcome::delivered) {
            decision.actions.push_back(
                WriteStatus{id, recipient.recipient_index, spool::RecipientStatus::delivered});
        }
        results.push_back(recipient);
        decision.lines.push_back(std::move(line));
    }
    for (std::size_t position = 0; position < results.size(); position++) {
        results[position].text = decision.lines[position].text;  // Outlives attempt_done().
    }
    std::vector<queue::Action> scheduled = scheduler_->attempt_done(id, results, now_ms);
    std::vector<queue::Finished> finished;
    translate_into(scheduled, decision.actions, finished, nullptr);
    // The engine counts these bounces with the transaction; their statuses are written
    // later, once the report is durable, and must not count again then.
    if (auto it = ledger_.find(message_key(id)); it != ledger_.end()) {
        for (const Action& action : decision.actions) {
            const auto* report = std::get_if<ReadForReport>(&action);
            if (report == nullptr || report->kind != ReportKind::failure) {
                continue;
            }
            for (const queue::RecipientNote& note : report->recipients) {
                if (note.recipient_index < it->second.bounce_counted.size()) {
                    it->second.bounce_counted[note.recipient_index] = true;
                }
            }
        }
    }
    account(decision.actions, finished);
    return decision;
}

std::vector<Action> Delivery::tick(std::uint64_t now_ms) {
    std::vector<queue::Action> scheduled = scheduler_->tick(now_ms);
    std::vector<Action> out;
    std::vector<queue::Finished> finished;
    std::vector<queue::Deliver> inactive;
    translate_into(scheduled, out, finished, &inactive);
    for (const queue::Deliver& deliver : inactive) {
        defer_inactive(deliver, now_ms, out, finished);
    }
    account(out, finished);
    // Reports to try again: still counted in their message's reports_pending, so after
    // account().
    for (auto it = retries_.begin(); it != retries_.end();) {
        if (it->retry_at_ms > now_ms) {
            ++it;
            continue;
        }
        out.push_back(ReadForReport{it->kind, it->id, std::move(it->recipients)});
        it = retries_.erase(it);
    }
    return out;
}

queue::TimeMs Delivery::next_due_ms(queue::TimeMs now_ms) const {
    queue::TimeMs due = scheduler_->next_due_ms(now_ms);
    for (const HeldReport& held : retries_) {
        due = std::min(due, held.retry_at_ms);
    }
    return due;
}

// The partner left the table by a live reload (suspended or removed). An administrator
// who suspends a partner expects its mail to wait, as for a server that is down, not to
// bounce at once: each attempt is a temporary failure with the reason, so backoff, the
// delay warning and the queue lifetime apply as usual, and hubctl queue list shows why.
// Nothing is read from the spool and no connection is opened.
void Delivery::defer_inactive(const queue::Deliver& deliver, std::uint64_t now_ms,
                              std::vector<Action>& out, std::vector<queue::Finished>& finished) {
    std::string text = inactive_text(scheduler_->destination(deliver.destination).name);
    for (const queue::DeliveryItem& item : deliver.items) {
        std::vector<queue::RecipientResult> results;
        for (std::uint32_t index : item.recipient_indices) {
            results.push_back(queue::RecipientResult{index, queue::Outcome::temp_fail, text});
        }
        out.push_back(LogLine{LogLevel::info,
                              fmt::format("{}: deferred {} recipients: {}", item.id.to_string(),
                                          item.recipient_indices.size(), text)});
        std::vector<queue::Action> scheduled = scheduler_->attempt_done(item.id, results, now_ms);
        translate_into(scheduled, out, finished, nullptr);
    }
    scheduler_->batch_done(deliver.destination);
}

namespace {

LogLine removed_line(const queue::Finished& done) {
    return LogLine{LogLevel::info, fmt::format("{}: removed: delivered={}, bounced={}, deleted={}",
                                               done.id.to_string(), done.delivered_count,
                                               done.bounced_count, done.removed_count)};
}

// The bounced statuses are not written here: they wait for the report that tells the
// sender (report_read), so that a crash can never leave them durable and the report not.
void bounce_all(const spool::QueueId& id, std::vector<queue::RecipientNote>& recipients,
                std::vector<Action>& out) {
    out.push_back(ReadForReport{ReportKind::failure, id, std::move(recipients)});
}

// The status a report tells of for each of its recipients, if any: a failure report's are
// bounced, a ping reply's delivered; a delay warning changes nothing.
std::optional<spool::RecipientStatus> reported_status(ReportKind kind) {
    switch (kind) {
        case ReportKind::failure:
            return spool::RecipientStatus::bounced;
        case ReportKind::ping:
            return spool::RecipientStatus::delivered;
        case ReportKind::delay:
            break;
    }
    return std::nullopt;
}

}  // namespace

std::vector<Action> Delivery::translate(std::vector<queue::Action>& actions) {
    std::vector<Action> out;
    std::vector<queue::Finished> finished;
    translate_into(actions, out, finished, nullptr);
    account(out, finished);
    return out;
}

void Delivery::translate_into(std::vector<queue::Action>& actions, std::vector<Action>& out,
                              std::vector<queue::Finished>& finished,
                              std::vector<queue::Deliver>* inactive) const {
    for (queue::Action& action : actions) {
        if (auto* deliver = std::get_if<queue::Deliver>(&action)) {
            HUB_ASSERT(inactive != nullptr);  // Only tick() hands out Delivers.
            int partner = partner_of(deliver->destination);
            if (partner < 0) {
                inactive->push_back(std::move(*deliver));
                continue;
            }
            out.push_back(QueueForDelivery{std::move(*deliver), partner});
        } else if (auto* bounce = std::get_if<queue::Bounce>(&action)) {
            bounce_all(bounce->id, bounce->recipients, out);
        } else if (auto* expire = std::get_if<queue::Expire>(&action)) {
            bounce_all(expire->id, expire->recipients, out);
        } else if (auto* warning = std::get_if<queue::DelayWarning>(&action)) {
            out.push_back(
                ReadForReport{ReportKind::delay, warning->id, std::move(warning->recipients)});
        } else if (auto* removed = std::get_if<queue::Removed>(&action)) {
            // Deleted by the administrator: bounced in the spool, and no report.
            for (std::uint32_t index : removed->recipient_indices) {
                out.push_back(WriteStatus{removed->id, index, spool::RecipientStatus::bounced});
            }
        } else if (auto* done = std::get_if<queue::Finished>(&action)) {
            finished.push_back(*done);
        }
    }
}

void Delivery::account(std::vector<Action>& actions, std::span<const queue::Finished> finished) {
    for (const Action& action : actions) {
        if (const auto* status = std::get_if<WriteStatus>(&action)) {
            if (auto it = ledger_.find(message_key(status->id)); it != ledger_.end()) {
                it->second.statuses_pending++;
            }
        } else if (const auto* report = std::get_if<ReadForReport>(&action)) {
            if (auto it = ledger_.find(message_key(report->id)); it != ledger_.end()) {
                it->second.reports_pending++;
            }
        }
    }
    for (const queue::Finished& done : finished) {
        auto it = ledger_.find(message_key(done.id));
        if (it == ledger_.end()) {
            actions.push_back(removed_line(done));
            continue;
        }
        it->second.in_scheduler = false;
        it->second.finished = true;
        it->second.counts = done;
        release_if_unused(it->first, actions);
    }
}

void Delivery::release_if_unused(std::uint64_t key, std::vector<Action>& out) {
    auto it = ledger_.find(key);
    if (it == ledger_.end()) {
        return;
    }
    const Ledger& ledger = it->second;
    if (ledger.in_scheduler || ledger.reports_pending > 0 || ledger.statuses_pending > 0) {
        return;
    }
    if (ledger.finished) {
        out.push_back(removed_line(ledger.counts));
    }
    out.push_back(Release{ledger.id});
    ledger_.erase(it);
}

std::vector<Action> Delivery::status_durable(const spool::QueueId& id,
                                             std::uint32_t recipient_index,
                                             spool::RecipientStatus status) {
    std::vector<Action> out;
    auto it = ledger_.find(message_key(id));
    if (it == ledger_.end()) {
        return out;
    }
    Ledger& ledger = it->second;
    HUB_ASSERT(ledger.statuses_pending > 0);
    ledger.statuses_pending--;
    if (recipient_index < ledger.durable_status.size()) {
        ledger.durable_status[recipient_index] = status;
    }
    release_if_unused(it->first, out);
    return out;
}

void Delivery::report_done(const spool::QueueId& id, std::vector<Action>& out) {
    auto it = ledger_.find(message_key(id));
    if (it == ledger_.end()) {
        return;
    }
    HUB_ASSERT(it->second.reports_pending > 0);
    it->second.reports_pending--;
    release_if_unused(it->first, out);
}

void Delivery::write_reported_statuses(ReportKind kind, const spool::QueueId& id,
                                       std::span<const queue::RecipientNote> recipients,
                                       std::vector<Action>& out) {
    std::optional<spool::RecipientStatus> status = reported_status(kind);
    if (!status) {
        return;
    }
    const Ledger* ledger = nullptr;
    if (auto it = ledger_.find(message_key(id)); it != ledger_.end()) {
        ledger = &it->second;
    }
    std::vector<Action> statuses;
    for (const queue::RecipientNote& note : recipients) {
        bool counted = ledger != nullptr && note.recipient_index < ledger->bounce_counted.size() &&
                       ledger->bounce_counted[note.recipient_index];
        statuses.push_back(WriteStatus{id, note.recipient_index, *status, counted});
    }
    account(statuses, {});
    out.insert(out.end(), std::make_move_iterator(statuses.begin()),
               std::make_move_iterator(statuses.end()));
}

// The report stays counted in its message's reports_pending, so the original (and the
// recipients' pending status in the spool) stays until it is spooled.
void Delivery::retry_report(HeldReport held, std::string_view reason, std::uint64_t now_ms,
                            std::vector<Action>& out) {
    out.push_back(LogLine{LogLevel::warn,
                          fmt::format("{}: report not spooled ({}); the original is kept and the "
                                      "report tried again in {} s",
                                      held.id.to_string(), reason, report_retry_ms / 1000)});
    held.retry_at_ms = now_ms + report_retry_ms;
    retries_.push_back(std::move(held));
}

std::vector<Action> Delivery::report_abandoned(ReportKind kind, const spool::QueueId& id,
                                               std::span<const queue::RecipientNote> recipients,
                                               std::uint64_t now_ms) {
    std::vector<Action> out;
    if (reported_status(kind) && !recipients.empty() && ledger_.contains(message_key(id))) {
        retry_report(HeldReport{kind, id, {recipients.begin(), recipients.end()}, 0},
                     "it could not be started", now_ms, out);
        return out;
    }
    report_done(id, out);
    return out;
}

std::vector<Action> Delivery::report_spooled(std::uint64_t report, bool durable,
                                             std::uint64_t now_ms) {
    std::vector<Action> out;
    auto node = spooling_.extract(report);
    if (node.empty()) {
        return out;
    }
    HeldReport& held = node.mapped();
    if (!durable) {
        retry_report(std::move(held), "the spool writer could not store it", now_ms, out);
        return out;
    }
    write_reported_statuses(held.kind, held.id, held.recipients, out);
    report_done(held.id, out);
    return out;
}

std::uint32_t Delivery::statuses_pending(const spool::QueueId& id) const {
    auto it = ledger_.find(message_key(id));
    return it == ledger_.end() ? 0 : it->second.statuses_pending;
}

std::span<const spool::RecipientStatus> Delivery::durable_status(const spool::QueueId& id) const {
    auto it = ledger_.find(message_key(id));
    if (it == ledger_.end()) {
        return {};
    }
    return it->second.durable_status;
}

std::vector<Action> Delivery::report_read(ReportKind kind, const spool::QueueId& id,
                                          std::span<const queue::RecipientNote> recipients,
                                          const spool::MessageMeta* original,
                                          std::string_view content,
                                          std::span<const queue::DestinationId> destinations,
                                          std::uint64_t now_ms) {
    std::vector<Action> out;
    std::string id_text = id.to_string();
    if (original == nullptr) {
        // Neither deliverable nor reportable: a failure's recipients are bounced all the
        // same (loudly), rather than pinning a broken record for ever; a ping waits for
        // the next start.
        out.push_back(LogLine{
            LogLevel::error,
            fmt::format("{}: report not written: the spooled copy fails its checks{}", id_text,
                        kind == ReportKind::failure ? "; bounced without a report" : "")});
        if (kind == ReportKind::failure) {
            write_reported_statuses(kind, id, recipients, out);
        }
        report_done(id, out);
        return out;
    }
    std::vector<std::string> connectors(destinations.size());
    for (std::size_t index = 0; index < destinations.size(); index++) {
        if (destinations[index] != queue::no_destination) {
            connectors[index] = connector_of(destinations[index]);
        }
    }
    ReportRequest request;
    request.kind = kind;
    request.id = id;
    request.recipients = recipients;
    request.original = original;
    request.content = content;
    request.hostname = hostname_;
    request.connectors = connectors;
    request.now_unix_s = static_cast<std::int64_t>(now_ms / 1000);
    std::optional<GeneratedReport> report = build_report(request);
    if (!report) {
        // None wanted (null sender, NOTIFY, an auto-reply): nothing to wait for.
        write_reported_statuses(kind, id, recipients, out);
        report_done(id, out);
        return out;
    }
    out.push_back(LogLine{LogLevel::info, fmt::format("{}: {}", id_text, report->log_text)});
    SpoolReport spool{std::move(report->content), std::move(report->recipient), 0};
    if (reported_status(kind) && !recipients.empty()) {
        // The statuses wait for the report's durability (report_spooled), and so does the
        // original: this report stays in its reports_pending until then.
        spool.report = next_report_++;
        spooling_.emplace(spool.report,
                          HeldReport{kind, id, {recipients.begin(), recipients.end()}, 0});
        out.push_back(std::move(spool));
        return out;
    }
    out.push_back(std::move(spool));
    report_done(id, out);
    return out;
}

}  // namespace hub::delivery
