// outbound_flow.cc -- relaying spooled messages to partners' servers.
//
// PURPOSE   Carry out what delivery::Delivery decides (routing, outcomes, reports): read
//           records back, rewrite them for the destination partner, deliver them over
//           mandatory verified TLS with smtp::ClientSession, append status records, and
//           spool the reports the hub writes itself (DSNs, ping replies).
// RUNS IN   a shard thread; all socket and file I/O through the shard's ring.
// TRUST     partners' servers are peers: their replies reach only the client state machine
//           and, quoted and sanitised, delivery reports. Stored content is trusted as far as
//           the spool checksum goes.
// LIMITS    delivery_jobs_max, report_jobs_max; queue/limits.h; connect_timeout_s.
// SEE ALSO  docs/DELIVERY.md, delivery/delivery.h, queue/scheduler.h, smtp/client_session.h,
// rewrite/rewrite.h
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "base/log.h"
#include "dsn/limits.h"
#include "engine/shard.h"
#include "rewrite/limits.h"
#include "smtp/limits.h"
#include "spool/segment_source.h"

namespace hub::engine {

namespace {

// The job's partner as it was when the job started (its snapshot keeps it).
const policy::Partner& job_partner(const DeliveryJob& job) {
    HUB_ASSERT(job.snapshot != nullptr && job.partner_index >= 0);
    const auto& partners = job.snapshot->table->partners();
    HUB_ASSERT(static_cast<std::size_t>(job.partner_index) < partners.size());
    return partners[static_cast<std::size_t>(job.partner_index)];
}

}  // namespace

std::string_view PartnerDomainsView::partner_of(std::string_view domain) const {
    HUB_ASSERT(partners_ != nullptr);
    const policy::Partner* owner = partners_->find_domain_owner(domain);
    return owner == nullptr ? std::string_view{} : std::string_view(owner->name);
}

std::string Shard::job_peer(const DeliveryJob& job) const {
    return delivery::connector_text(job_partner(job));
}

void Shard::adopt_partners() {
    if (settings_.partners->generation() == snapshot_->generation) {
        return;
    }
    snapshot_ = settings_.partners->current();
    const policy::PartnerTable& table = *snapshot_->table;
    delivery_->set_partners(table, snapshot_->held.get());
    partner_destination_.clear();
    for (std::size_t partner = 0; partner < table.partners().size(); partner++) {
        partner_destination_.push_back(delivery_->destination_of(partner));
    }
    std::size_t destinations = scheduler_->destination_count();
    partner_connections_.resize(destinations, 0);
    idle_outbound_.resize(destinations);
    saved_sessions_.resize(destinations);
    // A cached connection went to the smart host, and was verified with the name and pin,
    // of the old table: each closes now (QUIT) rather than carry a batch under settings
    // that may have changed. Sessions a saved ticket would resume are dropped likewise.
    std::uint64_t now = now_ms();
    for (std::vector<std::uint32_t>& idle : idle_outbound_) {
        for (std::uint32_t slot : idle) {
            slots_[slot]->deadline_ms = now;  // The next tick says goodbye.
        }
        idle.clear();
    }
    for (tls::SavedSession& saved : saved_sessions_) {
        saved = tls::SavedSession{};
    }
    scheduler_due_ms_ = 0;  // Mail held for a partner that is back may go now.
    base::log_info("shard {}: partner table {} in use: {} active partners", settings_.index,
                   snapshot_->generation, table.partners().size());
}

std::uint64_t Shard::wall_ms() const {
    if (settings_.seam != nullptr) {
        return settings_.seam->wall_ms();  // The simulator's clock.
    }
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);  // vDSO; the queue counts from arrival times.
    return static_cast<std::uint64_t>(now.tv_sec) * 1000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
}

void Shard::start_delivery() {
    queue::Config queue_config = settings_.queue_config;
    queue_config.seed ^= settings_.index;  // Different jitter per shard.
    delivery_ = std::make_unique<delivery::Delivery>(
        *snapshot_->table, queue_config, settings_.config->hostname, snapshot_->held.get());
    scheduler_ = &delivery_->scheduler();
    const auto& partners = snapshot_->table->partners();
    for (std::size_t partner = 0; partner < partners.size(); partner++) {
        partner_destination_.push_back(delivery_->destination_of(partner));
    }
    partner_connections_.assign(scheduler_->destination_count(), 0);
    idle_outbound_.resize(scheduler_->destination_count());
    saved_sessions_.resize(scheduler_->destination_count());
    jobs_.resize(delivery_jobs_max);
    reports_.resize(report_jobs_max);
    for (std::uint32_t index = delivery_jobs_max; index > 0; index--) {
        free_jobs_.push_back(index - 1);
    }
    for (std::uint32_t index = report_jobs_max; index > 0; index--) {
        free_reports_.push_back(index - 1);
    }
    client_config_.hostname = settings_.config->hostname;
    client_config_.require_tls = true;  // DESIGN.md 1.3: never relay in clear.
    for (spool::RecoveredMessage& recovered : settings_.recovered) {
        StoredMessage stored;
        stored.meta = std::move(recovered.meta);
        stored.segment_shard = 0;
        spool::SegmentName name{};
        // The segment's shard and sequence are in its path: ".../shard-<k>/<seq>.seg".
        std::size_t slash = recovered.segment_path.rfind('/');
        std::size_t dash = recovered.segment_path.rfind("shard-", slash);
        if (slash == std::string::npos || dash == std::string::npos) {
            continue;
        }
        name.shard = static_cast<std::uint8_t>(
            std::strtoul(recovered.segment_path.c_str() + dash + 6, nullptr, 10));
        name.segment_seq = static_cast<std::uint32_t>(
            std::strtoul(recovered.segment_path.c_str() + slash + 1, nullptr, 16));
        stored.segment_shard = name.shard;
        stored.location =
            RecordLocation{name.segment_seq, recovered.record_offset, recovered.record_bytes};
        stored.slices = std::move(recovered.slices);  // A streamed message's, else none.
        queue_message(std::move(stored), queue::Origin::recovered, recovered.recipient_status,
                      recovered.held);
    }
    base::log_info("shard {}: {} messages queued for delivery after recovery", settings_.index,
                   stored_.size());
    settings_.recovered.clear();
    settings_.recovered.shrink_to_fit();
}

// Hands a durable message to delivery (routing, loop and ping decisions, the scheduler)
// and keeps what its actions need. statuses (recovery's view, one per recipient) marks
// recipients already final; empty for a message just accepted. held: recovery found the
// administrator's hold (a message_status record) still in force.
void Shard::queue_message(StoredMessage stored, queue::Origin origin,
                          std::span<const spool::RecipientStatus> statuses, bool held) {
    delivery::StoredFacts facts{&stored.meta, stored.loop, statuses, held};
    delivery::StoredDecision decision = delivery_->message_stored(facts, origin, wall_ms());
    if (decision.keep) {
        stored.destinations = std::move(decision.destinations);
        stored_.insert_or_assign(queue_key(stored.meta.id), std::move(stored));
    }
    carry_out(decision.actions);
    scheduler_due_ms_ = 0;  // Something new: tick at the next turn.
}

void Shard::run_scheduler() {
    std::uint64_t now = wall_ms();
    if (scheduler_due_ms_ > now) {
        return;
    }
    std::vector<delivery::Action> actions = delivery_->tick(now);
    carry_out(actions);
    scheduler_due_ms_ = delivery_->next_due_ms(now);
}

// hubctl queue hold|release|retry|delete|list, forwarded by the supervisor. hold, release
// and delete become message_status records; the administrator is answered when the record
// is durable (on_admin_durable). Until then the scheduler is never ahead of the disk in
// delivering: a hold takes effect at once (undone if the write fails), a release or a
// delete only once its record is durable.
void Shard::run_control() {
    ControlCommand command;
    if (settings_.control == nullptr || control_pending_ || !settings_.control->take(command)) {
        return;
    }
    std::string id = command.id.to_string();
    std::optional<queue::MessageSnapshot> queued;
    if (command.verb != ControlVerb::list && command.verb != ControlVerb::reload &&
        command.verb != ControlVerb::status) {
        queued = scheduler_->find(command.id);
    }
    spool::MessageStatus status = spool::MessageStatus::held;
    switch (command.verb) {
        case ControlVerb::list:
            settings_.control->answer(list_for_control());
            return;
        case ControlVerb::reload:
            // The supervisor reloads; a shard only takes the snapshot (adopt_partners).
            settings_.control->answer("error: a shard does not reload");
            return;
        case ControlVerb::status:
            settings_.control->answer(status_for_control());
            return;
        case ControlVerb::retry: {
            auto retried = scheduler_->retry_now(command.id);
            std::string answer =
                retried ? fmt::format("ok: {} will be retried now", id)
                : retried.error() == queue::QueueError::held
                    ? fmt::format("error: {} is on hold; release it first", id)
                    : fmt::format("error: {} is not in the queue of a running hubd", id);
            base::log_info("{}: administrator: {}", id, answer);
            scheduler_due_ms_ = 0;
            settings_.control->answer(std::move(answer));
            return;
        }
        case ControlVerb::hold:
            if (queued && queued->held) {
                settings_.control->answer(fmt::format("ok: {} already held", id));
                return;
            }
            if (queued) {
                auto held = scheduler_->hold(command.id);
                HUB_ASSERT(held.has_value());  // find() saw it a moment ago.
            }
            status = spool::MessageStatus::held;
            break;
        case ControlVerb::release:
            if (queued && !queued->held) {
                settings_.control->answer(fmt::format("ok: {} is not held", id));
                return;
            }
            status = spool::MessageStatus::released;
            break;
        case ControlVerb::remove:
            status = spool::MessageStatus::deleted;
            break;
    }
    // A message the scheduler does not have (not routable, or handed over to reports) is
    // still in the spool: hubctl checked the id against it, so the record is written anyway.
    control_pending_ = command;
    spool_->append_message_status(command.id, status, wall_ms(), CommitWaiter{0, 0, false, true});
}

void Shard::on_admin_durable(const CommitOutcome& outcome) {
    HUB_ASSERT(outcome.waiter.admin);
    HUB_ASSERT(control_pending_ && control_pending_->id == outcome.id);
    ControlCommand command = *control_pending_;
    control_pending_.reset();
    std::string id = command.id.to_string();
    bool durable = outcome.status == CommitStatus::durable;
    bool queued = scheduler_->find(command.id).has_value();
    std::string answer;
    switch (command.verb) {
        case ControlVerb::hold:
            if (!durable && queued) {
                (void)scheduler_->release(command.id);  // Nothing on disk: undo.
            }
            answer = fmt::format("ok: {} held", id);
            break;
        case ControlVerb::release:
            if (durable && queued) {
                (void)scheduler_->release(command.id);
            }
            answer = fmt::format("ok: {} released", id);
            break;
        case ControlVerb::remove:
            if (durable && queued) {
                auto removed = scheduler_->remove(command.id);
                HUB_ASSERT(removed.has_value());  // Still queued: find() said so.
                std::vector<delivery::Action> actions = delivery_->translate(*removed);
                carry_out(actions);
            }
            answer = fmt::format("ok: {} deleted", id);
            break;
        case ControlVerb::retry:
        case ControlVerb::list:
        case ControlVerb::reload:
        case ControlVerb::status:
            HUB_PANIC("no record is written for retry, list, reload or status");
    }
    if (!durable) {
        answer =
            fmt::format("error: {}: the spool write failed ({}); nothing changed", id,
                        outcome.status == CommitStatus::no_space ? "spool full" : "write error");
    }
    base::log_info("{}: administrator: {}", id, answer);
    scheduler_due_ms_ = 0;
    if (settings_.control != nullptr) {
        settings_.control->answer(std::move(answer));
    }
}

// The scheduler's view for "hubctl queue list": one M line per message and one R line per
// recipient (engine/control.h), newline-terminated.
std::string Shard::list_for_control() const {
    std::string out;
    for (const queue::MessageSnapshot& message : scheduler_->list()) {
        ListLine line;
        line.id = message.id;
        line.held = message.held;
        out += format_list_line(line);
        out += '\n';
        for (const queue::RecipientSnapshot& recipient : message.recipients) {
            ListLine r;
            r.recipient = true;
            r.id = message.id;
            r.recipient_index = recipient.recipient_index;
            r.state = std::string(queue::to_string(recipient.state));
            r.attempt_count = recipient.attempt_count;
            r.next_attempt_ms = recipient.next_attempt_ms;
            r.destination = recipient.destination;
            r.last_error = recipient.last_error;
            out += format_list_line(r);
            out += '\n';
        }
    }
    return out;
}

// This shard's part of "hubctl status" (health/snapshot.h): its counters, its CPU time and
// its queue as the scheduler sees it now, by destination partner. The supervisor merges
// the parts. Runs between two reactor turns, like list, but walks the queue without
// copying it (Scheduler::for_each_waiting): a scrape must not stall a shard with a backlog.
std::string Shard::status_for_control() const {
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    health::Snapshot part = health_.part(static_cast<std::uint64_t>(cpu.tv_sec) * 1000000000 +
                                         static_cast<std::uint64_t>(cpu.tv_nsec));
    HUB_ASSERT(part.shards.size() == 1);
    std::map<std::string, health::Traffic, std::less<>> queues;  // By destination.
    auto add_message = [](health::Traffic& queue, std::uint64_t recipients, std::uint64_t bytes,
                          std::uint64_t arrival_ms) {
        queue.queue_messages++;
        queue.queue_recipients += recipients;
        queue.queue_bytes += bytes;
        if (queue.oldest_queued_unix_ms == 0 || arrival_ms < queue.oldest_queued_unix_ms) {
            queue.oldest_queued_unix_ms = arrival_ms;
        }
    };
    // Visits come message by message; a message counts once in the shard's row however
    // many destinations it waits for, and once in each of those partners' rows.
    spool::QueueId previous{};
    bool any = false;
    scheduler_->for_each_waiting([&](const spool::QueueId& id, std::uint64_t arrival_unix_s,
                                     std::string_view destination, std::uint32_t waiting) {
        std::uint64_t bytes = 0;
        std::uint64_t arrival_ms = arrival_unix_s * 1000;
        if (auto stored = stored_.find(queue_key(id)); stored != stored_.end()) {
            bytes = stored->second.stored_bytes();  // A streamed message's slices too.
            arrival_ms = stored->second.arrival_ms != 0 ? stored->second.arrival_ms : arrival_ms;
        }
        arrival_ms = std::max<std::uint64_t>(arrival_ms, 1);  // 0 means "nothing queued".
        health::Traffic& shard = part.shards[0].traffic;
        if (!any || !(id == previous)) {
            add_message(shard, 0, bytes, arrival_ms);
        }
        shard.queue_recipients += waiting;
        any = true;
        previous = id;
        if (!destination.empty()) {
            auto queue = queues.find(destination);  // Allocates once per partner, not per visit.
            if (queue == queues.end()) {
                queue = queues.emplace(std::string(destination), health::Traffic{}).first;
            }
            add_message(queue->second, waiting, bytes, arrival_ms);
        }
    });
    for (auto& [name, queue] : queues) {
        const std::string& destination = name;
        auto row = std::find_if(part.partners.begin(), part.partners.end(),
                                [&](const health::PartnerRow& p) { return p.name == destination; });
        if (row == part.partners.end()) {
            part.partners.push_back(health::PartnerRow{});
            row = part.partners.end() - 1;
            row->name = destination;
        }
        row->traffic.queue_messages = queue.queue_messages;
        row->traffic.queue_recipients = queue.queue_recipients;
        row->traffic.queue_bytes = queue.queue_bytes;
        row->traffic.oldest_queued_unix_ms = queue.oldest_queued_unix_ms;
    }
    return health::encode(part);
}

void Shard::carry_out(std::vector<delivery::Action>& actions) {
    for (delivery::Action& action : actions) {
        if (auto* deliver = std::get_if<delivery::QueueForDelivery>(&action)) {
            start_job(*deliver);
        } else if (auto* status = std::get_if<delivery::WriteStatus>(&action)) {
            if (status->status == spool::RecipientStatus::bounced && !counting_transaction_ &&
                !status->bounce_counted) {
                count_bounce_outside_transaction(status->id, status->recipient_index);
            }
            write_status(status->id, status->recipient_index, status->status);
        } else if (auto* report = std::get_if<delivery::ReadForReport>(&action)) {
            start_report(report->kind, report->id, std::move(report->recipients));
        } else if (auto* generated = std::get_if<delivery::SpoolReport>(&action)) {
            spool_generated(std::move(generated->content), generated->recipient, generated->report);
        } else if (auto* line = std::get_if<delivery::LogLine>(&action)) {
            switch (line->level) {
                case delivery::LogLevel::info:
                    base::log_info("{}", line->text);
                    break;
                case delivery::LogLevel::warn:
                    base::log_warn("{}", line->text);
                    break;
                case delivery::LogLevel::error:
                    base::log_error("{}", line->text);
                    break;
            }
        } else if (auto* release = std::get_if<delivery::Release>(&action)) {
            forget_stored(release->id);
        }
    }
}

// Appends a status record; delivery counts it against the message until it is durable
// (take_durable_statuses): a failed write is retried by the spool writer meanwhile.
void Shard::write_status(const spool::QueueId& id, std::uint32_t recipient_index,
                         spool::RecipientStatus status) {
    spool_->append_status(id, recipient_index, status);
}

void Shard::take_durable_statuses() {
    std::vector<StatusNote>& durable = spool_->durable_statuses();
    for (const StatusNote& note : durable) {
        std::vector<delivery::Action> actions =
            delivery_->status_durable(note.id, note.recipient_index, note.status);
        carry_out(actions);
    }
    durable.clear();
}

int Shard::segment_fd(std::uint8_t shard, std::uint32_t segment_seq) const {
    if (shard == settings_.index) {
        int fd = spool_->segment_fd(segment_seq);
        if (fd >= 0) {
            return fd;
        }
    }
    for (const ShardSettings::SegmentFd& entry : settings_.recovered_segment_fds) {
        if (entry.shard == shard && entry.segment_seq == segment_seq) {
            return entry.fd;
        }
    }
    return -1;
}

bool Shard::submit_record_read(const StoredMessage& stored, std::string& buffer, Op op,
                               std::uint32_t index, std::uint32_t generation) {
    int fd = segment_fd(stored.segment_shard, stored.location.segment_seq);
    if (fd < 0 || stored.location.bytes == 0) {
        return false;
    }
    buffer.resize(stored.location.bytes);
    queued_or_panic(ring_.read(Tag{op, index, generation}, fd, std::span<char>(buffer),
                               stored.location.offset));
    return true;
}

void Shard::start_job(delivery::QueueForDelivery& queued) {
    queue::Deliver& deliver = queued.deliver;
    HUB_ASSERT(!free_jobs_.empty());  // The scheduler's connection limit is below the pool.
    std::uint32_t job_index = free_jobs_.back();
    free_jobs_.pop_back();
    DeliveryJob& job = jobs_[job_index];
    job = DeliveryJob{};
    job.in_use = true;
    job.destination = deliver.destination;
    // Delivery's partner index is into the current table (both change in adopt_partners).
    job.snapshot = snapshot_;
    job.partner_index = queued.partner_index;
    HUB_ASSERT(job.partner_index >= 0 &&
               static_cast<std::size_t>(job.partner_index) < snapshot_->table->partners().size());
    // A message found damaged before goes last: its abort closes the connection, and the
    // messages after it in the batch are deferred with it.
    std::stable_partition(deliver.items.begin(), deliver.items.end(), [&](const auto& item) {
        auto stored = stored_.find(queue_key(item.id));
        return stored == stored_.end() || !stored->second.damaged;
    });
    job.items.resize(deliver.items.size());
    for (std::size_t index = 0; index < deliver.items.size(); index++) {
        JobItem& item = job.items[index];
        item.id = deliver.items[index].id;
        item.recipient_indices = std::move(deliver.items[index].recipient_indices);
        auto stored = stored_.find(queue_key(item.id));
        if (stored != stored_.end() && stored->second.streamed()) {
            // Read back slice by slice: the first ones now (the header block), the rest
            // while the transaction sends them.
            item.slices.emplace(item.id, stored->second.slices);
            item.read_from = stored->second.location;
            if (!submit_slice_read(job_index, static_cast<std::uint32_t>(index))) {
                item.slices.reset();
                item.load_failed = true;
            }
            continue;
        }
        if (stored == stored_.end() ||
            !submit_record_read(stored->second, item.record, Op::record_read, job_index,
                                static_cast<std::uint32_t>(index))) {
            item.load_failed = true;
            continue;
        }
        item.read_in_flight = true;
        job.reads_pending++;
    }
    if (!reuse_idle_connection(job_index)) {
        open_outbound(job_index);
    }
}

// Takes an idle cached connection to the job's partner, if one is still usable.
bool Shard::reuse_idle_connection(std::uint32_t job_index) {
    DeliveryJob& job = jobs_[job_index];
    std::vector<std::uint32_t>& idle = idle_outbound_[job.destination];
    while (!idle.empty()) {
        std::uint32_t slot = idle.back();
        idle.pop_back();
        Connection& connection = *slots_[slot];
        if (connection.state != Connection::State::open || !connection.client ||
            !connection.client->idle()) {
            continue;  // Closing already; its close finishes without us.
        }
        connection.job_index = job_index;
        connection.deadline_ms = 0;
        job.connection_slot = slot;
        base::log_debug("reusing the connection to {} for {} messages", connection.peer_text,
                        job.items.size());
        next_transaction(connection, job);
        pump_outbound(connection);
        return true;
    }
    return false;
}

void Shard::forget_idle_connection(Connection& connection) {
    if (connection.outbound_destination == queue::no_destination) {
        return;
    }
    std::vector<std::uint32_t>& idle = idle_outbound_[connection.outbound_destination];
    idle.erase(std::remove(idle.begin(), idle.end(), connection.slot), idle.end());
}

void Shard::on_record_read(std::uint32_t job_index, std::uint32_t item_index, int result) {
    HUB_ASSERT(job_index < jobs_.size());
    DeliveryJob& job = jobs_[job_index];
    HUB_ASSERT(job.in_use && job.reads_pending > 0 && item_index < job.items.size());
    job.reads_pending--;
    job.items[item_index].read_in_flight = false;
    if (job.finished) {
        if (job.reads_pending == 0) {
            release_job(job_index);  // Its buffers are no longer the kernel's.
        }
        return;
    }
    JobItem& item = job.items[item_index];
    if (item.slices) {
        on_slice_read(job_index, item_index, result);
        return;
    }
    if (result < 0 || static_cast<std::size_t>(result) != item.record.size()) {
        base::log_error("{}: cannot read the spooled record back: {}", item.id.to_string(),
                        result < 0 ? std::strerror(-result) : "short read");
        item.load_failed = true;
    } else {
        prepare_item(job, item);
    }
    if (job.connection_slot != UINT32_MAX) {
        Connection& connection = *slots_[job.connection_slot];
        if (connection.state == Connection::State::open && connection.client) {
            next_transaction(connection, job);
            pump_outbound(connection);
        }
    }
}

static_assert(report_streamed_content_bytes_max >= dsn::returned_bytes_max,
              "a report about a streamed message has as much of it as any report returns");
static_assert(smtp::header_block_bytes_max <= rewrite::header_section_bytes_max,
              "every header block the hub accepts is one the rewriter takes");

// Decodes the record and renders the copy this partner receives (DESIGN.md 1.4).
void Shard::prepare_item(DeliveryJob& job, JobItem& item) {
    spool::RecoveredMessage decoded;
    std::string_view content;  // Views into item.record: the body is not copied.
    if (spool::decode_message_view(std::span<const char>(item.record.data(), item.record.size()),
                                   decoded, content) != spool::SingleRecordOutcome::ok) {
        base::log_error("{}: the spooled record fails its checks", item.id.to_string());
        item.load_failed = true;
        return;
    }
    render_item(job, item, decoded.meta.envelope, content, 0);
}

// The copy this partner receives: the header block of `text` rewritten into item.header,
// the rest of text viewed where it lies, and later_bytes more to come in pieces (a
// streamed message's next slices).
void Shard::render_item(DeliveryJob& job, JobItem& item, const smtp::Envelope& envelope,
                        std::string_view text, std::uint64_t later_bytes) {
    const policy::Partner& partner = job_partner(job);
    // The domains of the table the job started under, like the rest of its settings.
    PartnerDomainsView partner_domains;
    partner_domains.set(*job.snapshot->table);
    rewrite::RewriteContext context{settings_.config->domain, &partner_domains, partner.name};
    rewrite::HeaderStats stats;
    rewrite::RewrittenHeader rewritten = rewrite::rewrite_header(text, context, stats);
    item.header = std::move(rewritten.header);
    item.message = smtp::OutboundMessage{};
    item.message.head = item.header;
    item.message.content = text.substr(rewritten.body_offset);
    item.message.later_bytes = later_bytes;
    item.message.mail_from = rewrite::envelope_sender(envelope.mail_from, context);
    item.message.size = item.message.text_bytes();
    item.message.body_type = envelope.body_type;
    item.message.ret = envelope.dsn_ret;
    item.message.envid = envelope.dsn_envid;
    for (std::uint32_t index : item.recipient_indices) {
        HUB_ASSERT(index < envelope.recipients.size());
        smtp::Recipient recipient = envelope.recipients[index];
        recipient.address = rewrite::envelope_recipient(recipient.address, context);
        item.message.recipients.push_back(std::move(recipient));
    }
    item.loaded = true;
    if (stats.fields_unparseable > 0) {
        base::log_info("{}: {} header fields left unrewritten (unparseable)", item.id.to_string(),
                       stats.fields_unparseable);
    }
}

// --- Streamed messages (spool format 3): one slice record at a time ---

namespace {

// The header block ends in text (the empty line is there, or there are no fields at all).
bool header_block_ends(std::string_view text) {
    return text.starts_with("\r\n") || text.find("\r\n\r\n") != std::string_view::npos;
}

}  // namespace

// Reads the next slice record of a streamed item into item.record (one ring read). The
// slices are located again from the stored message: a compaction may have moved it since
// the last read (the content is the same). False if it cannot be read.
bool Shard::submit_slice_read(std::uint32_t job_index, std::uint32_t item_index) {
    DeliveryJob& job = jobs_[job_index];
    JobItem& item = job.items[item_index];
    HUB_ASSERT(item.slices && !item.read_in_flight && !item.slices->done());
    auto stored = stored_.find(queue_key(item.id));
    if (stored == stored_.end()) {
        return false;
    }
    const StoredMessage& message = stored->second;
    if (message.location.segment_seq != item.read_from.segment_seq ||
        message.location.offset != item.read_from.offset) {
        item.slices->relocate(message.slices);
        item.read_from = message.location;
    }
    int fd = segment_fd(message.segment_shard, message.location.segment_seq);
    std::optional<spool::SliceReader::Read> read = item.slices->next();
    if (fd < 0 || !read) {
        return false;
    }
    HUB_ASSERT(read->bytes <= spool::slice_record_bytes_max);
    item.record.resize(read->bytes);  // One slice buffer: its capacity is kept.
    queued_or_panic(ring_.read(Tag{Op::record_read, job_index, item_index}, fd,
                               std::span<char>(item.record), read->offset));
    item.read_in_flight = true;
    job.reads_pending++;
    return true;
}

void Shard::on_slice_read(std::uint32_t job_index, std::uint32_t item_index, int result) {
    DeliveryJob& job = jobs_[job_index];
    JobItem& item = job.items[item_index];
    HUB_ASSERT(item.slices && !item.read_in_flight);
    if (item.reported) {
        // The transaction ended while the read was in flight (the partner refused early).
        item.record.clear();
        item.record.shrink_to_fit();
        return;
    }
    std::uint32_t index = item.slices->taken();
    std::string_view content;
    bool ok = false;
    if (result >= 0 && static_cast<std::size_t>(result) == item.record.size()) {
        auto taken =
            item.slices->take(std::span<const char>(item.record.data(), item.record.size()));
        if (taken) {
            content = *taken;
            ok = true;
        }
    }
    if (!ok) {
        streamed_damaged(
            job_index, item_index,
            fmt::format("slice {} of {} {}", index, item.slices->slice_count(),
                        result < 0 ? fmt::format("cannot be read: {}", std::strerror(-result))
                                   : std::string("fails its checks")));
        return;
    }
    if (item.loaded) {
        // The next piece of a transaction under way: the session asked for it.
        if (job.connection_slot == UINT32_MAX) {
            return;
        }
        Connection& connection = *slots_[job.connection_slot];
        if (connection.state == Connection::State::open && connection.client &&
            connection.client->needs_content()) {
            connection.client->add_content(content);
            pump_outbound(connection);
        }
        return;
    }
    // Still the header block: gather slices while it goes on (bounded), then render.
    std::string_view text = content;
    if (!item.header_source.empty() || (!header_block_ends(content) && !item.slices->done())) {
        item.header_source.append(content);
        text = item.header_source;
        if (!header_block_ends(text) && !item.slices->done() &&
            text.size() <= rewrite::header_section_bytes_max) {
            if (!submit_slice_read(job_index, item_index)) {
                streamed_damaged(job_index, item_index, "a slice cannot be read");
            }
            return;
        }
        HUB_ASSERT(item.header_source.size() <= outbound_streamed_gather_bytes_max);
    }
    auto stored = stored_.find(queue_key(item.id));
    if (stored == stored_.end()) {
        streamed_damaged(job_index, item_index, "no longer stored");
        return;
    }
    render_item(job, item, stored->second.meta.envelope, text,
                item.slices->content_bytes() - item.slices->content_taken());
    if (job.connection_slot != UINT32_MAX) {
        Connection& connection = *slots_[job.connection_slot];
        if (connection.state == Connection::State::open && connection.client) {
            next_transaction(connection, job);
            pump_outbound(connection);
        }
    }
}

// The client session asks for the next piece of a streamed message: read its next slice.
// The piece before has gone into the session's output, so its buffer can be reused.
void Shard::feed_next_slice(Connection& connection) {
    if (connection.job_index == Connection::no_job || !connection.client ||
        !connection.client->needs_content()) {
        return;
    }
    DeliveryJob& job = jobs_[connection.job_index];
    HUB_ASSERT(job.transaction_open && job.sending_index < job.items.size());
    JobItem& item = job.items[job.sending_index];
    HUB_ASSERT(item.slices && item.loaded);
    if (item.read_in_flight) {
        return;
    }
    if (!item.header_source.empty()) {
        std::string().swap(item.header_source);  // Its last piece is sent.
    }
    if (!submit_slice_read(connection.job_index, static_cast<std::uint32_t>(job.sending_index))) {
        streamed_damaged(connection.job_index, static_cast<std::uint32_t>(job.sending_index),
                         "a slice cannot be read");
    }
}

// A slice of a streamed message could not be read back or fails its check: the message is
// never delivered truncated. Before its transaction the item fails (deferred); during it
// the session aborts before the final dot and the connection closes, so the partner
// discards what it got. Either way the message stays queued and is tried again.
void Shard::streamed_damaged(std::uint32_t job_index, std::uint32_t item_index,
                             std::string_view what) {
    DeliveryJob& job = jobs_[job_index];
    JobItem& item = job.items[item_index];
    std::string text = fmt::format("the spooled message is damaged: {}", what);
    base::log_error("{}: {}; deferred", item.id.to_string(), text);
    if (!item.loaded) {
        item.load_failed = true;
        if (job.connection_slot != UINT32_MAX) {
            Connection& connection = *slots_[job.connection_slot];
            if (connection.state == Connection::State::open && connection.client) {
                next_transaction(connection, job);
                pump_outbound(connection);
            }
        }
        return;
    }
    if (auto stored = stored_.find(queue_key(item.id)); stored != stored_.end()) {
        stored->second.damaged = true;
    }
    if (job.connection_slot == UINT32_MAX) {
        return;
    }
    Connection& connection = *slots_[job.connection_slot];
    if (connection.state != Connection::State::open || !connection.client ||
        connection.client->terminal() || !job.transaction_open) {
        return;
    }
    connection.client->abort_content(what);  // Its reply says "The spooled message is damaged".
    handle_client_events(connection);        // message_done, then failed: the job ends, it closes.
}

void Shard::open_outbound(std::uint32_t job_index) {
    DeliveryJob& job = jobs_[job_index];
    Connection* taken = take_free_slot();
    if (taken == nullptr) {
        fail_job(job_index, "no free connection slot on this shard", false);
        return;
    }
    Connection& connection = *taken;
    std::uint32_t index = connection.slot;
    connection.outbound = true;
    connection.job_index = job_index;
    connection.outbound_destination = job.destination;
    connection.fd = -1;
    const policy::Partner& partner = job_partner(job);
    connection.peer_text = fmt::format("{}:{}", partner.outbound_host, partner.outbound_port);
    sockaddr_storage& peer = connection.peer;
    peer = sockaddr_storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&peer);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&peer);
    if (inet_pton(AF_INET, partner.outbound_host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(partner.outbound_port);
    } else if (inet_pton(AF_INET6, partner.outbound_host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(partner.outbound_port);
    }
    job.connection_slot = index;
    open_count_++;
    health_.traffic().outbound_total++;
    health_.traffic().outbound_open++;
    connection.health_partner = health_partner_of(job.destination);
    if (connection.health_partner != nullptr) {
        connection.health_partner->traffic.outbound_total++;
        connection.health_partner->traffic.outbound_open++;
        connection.health_partner->last_outbound_attempt_unix_ms = wall_ms();
    }
    queued_or_panic(ring_.socket(Tag{Op::out_socket, index, connection.generation}, peer.ss_family,
                                 SOCK_STREAM | SOCK_CLOEXEC));
    connection.deadline_ms = now_ms() + connect_timeout_s * 1000ull;
}

void Shard::on_out_socket(Connection& connection, int result) {
    if (connection.job_index == Connection::no_job) {
        connection.fd = result;  // The job ended meanwhile (a timeout): just close.
        begin_close(connection);
        return;
    }
    if (result < 0) {
        std::string text =
            fmt::format("socket for {}: {}", connection.peer_text, std::strerror(-result));
        count_outbound_failure(connection, text);
        fail_job(connection.job_index, text, true);
        return;
    }
    connection.fd = result;
    // Without TCP_NODELAY, a message body sent in TLS records smaller than the loopback or
    // LAN segment size waits for the partner's delayed ACK (up to 40 ms) after every send
    // that leaves data unacknowledged: measured, 100 KB messages went out at 30 MB/s. A plain
    // syscall, once per outbound connection (cached and reused): io_uring's setsockopt
    // command is newer (6.7) than the appliance kernel. Inbound sockets inherit it from the
    // listener (startup.cc).
    int on = 1;
    if (setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
        base::log_debug("TCP_NODELAY for {}: {}", connection.peer_text, std::strerror(errno));
    }
    socklen_t length =
        connection.peer.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    std::uint32_t index = slot_index(connection);
    static const __kernel_timespec connect_timeout{.tv_sec = connect_timeout_s, .tv_nsec = 0};
    queued_or_panic(
        ring_.connect(Tag{Op::out_connect, index, connection.generation}, connection.fd,
                      reinterpret_cast<const sockaddr*>(&connection.peer), length,
                      LinkedTimeout{Tag{Op::out_connect_timeout, index, connection.generation},
                                    &connect_timeout}));
}

void Shard::on_out_connect(Connection& connection, int result) {
    if (connection.job_index == Connection::no_job) {
        begin_close(connection);  // The job ended meanwhile (a timeout).
        return;
    }
    if (result < 0) {
        std::string text = fmt::format("connect to {}: {}", connection.peer_text,
                                       result == -ECANCELED ? "timed out" : std::strerror(-result));
        count_outbound_failure(connection, text);
        fail_job(connection.job_index, text, true);
        return;
    }
    DeliveryJob& job = jobs_[connection.job_index];
    scheduler_->connection_opened(job.destination);
    connection.counted_open = true;
    base::log_debug("connected to {} for {} messages", connection.peer_text, job.items.size());
    arm_recv(connection);
    // The partner's TLS endpoint policy: opportunistic TLS only when it says so explicitly,
    // and TLS from the first byte for implicit TLS (port 465 style).
    const policy::OutboundTlsPolicy& policy = job_partner(job).outbound_tls;
    smtp::ClientConfig config = client_config_;
    config.require_tls = policy.require_tls;
    connection.client.emplace(config);
    connection.implicit_tls = policy.mode == policy::OutboundTlsMode::implicit;
    if (connection.implicit_tls) {
        if (!start_client_tls(connection, job)) {
            handle_client_events(connection);
            flush(connection);
        }
        return;  // start() follows the handshake (advance_client_tls).
    }
    connection.client->start();
    pump_outbound(connection);
}

bool Shard::start_client_tls(Connection& connection, DeliveryJob& job) {
    const auto& context =
        job.snapshot->client_contexts[static_cast<std::size_t>(job.partner_index)];
    auto session = context ? tls::Session::create_client(context)
                           : unexpected(tls::ErrorDetail{tls::Error::setup_failed, 0,
                                                         "no TLS client context for this partner"});
    if (!session) {
        connection.client->on_transport_failed(smtp::FailReason::tls_failed,
                                               session.error().message);
        return false;
    }
    connection.input.clear();  // Nothing may follow the 220 (or precede TLS) in clear text.
    tls::SavedSession& saved = saved_sessions_[job.destination];
    if (outbound_tls_resumption && !saved.empty() && !(*session)->resume_from(saved)) {
        saved = tls::SavedSession{};  // Not resumable: a full handshake it is.
    }
    connection.tls = std::move(*session);
    connection.tls_state = Connection::Tls::handshaking;
    advance_client_tls(connection);  // Our ClientHello goes first.
    return true;
}

// Same shape as the inbound pump, with the client state machine in the middle.
void Shard::pump_outbound(Connection& connection) {
    if (connection.state != Connection::State::open || !connection.client) {
        return;
    }
    if (connection.tls_state == Connection::Tls::handshaking) {
        if (!advance_client_tls(connection)) {
            return;
        }
    }
    if (connection.tls_state != Connection::Tls::handshaking) {
        feed_client(connection);
    }
    if (connection.state != Connection::State::open) {
        return;
    }
    take_client_output(connection);
    flush(connection);
    update_back_pressure(connection);
    if (connection.client && connection.client->timer_epoch() != connection.timer_epoch_seen) {
        connection.timer_epoch_seen = connection.client->timer_epoch();
        std::uint32_t wait_ms = connection.client->deadline_ms();
        connection.deadline_ms = wait_ms == 0 ? 0 : now_ms() + wait_ms;
    }
    if (connection.state == Connection::State::open) {
        feed_next_slice(connection);  // A streamed message's next slice, when it is due.
    }
}

bool Shard::advance_client_tls(Connection& connection) {
    move_input_to_tls(connection);
    auto progress = connection.tls->handshake();
    if (!progress) {
        std::string text =
            fmt::format("TLS with {} failed: {}", connection.peer_text, progress.error().message);
        count_outbound_failure(connection, text);
        health_.count_tls_failure(true, progress.error().message, connection.health_partner,
                                  wall_ms());
        connection.client->on_transport_failed(smtp::FailReason::tls_failed, text);
        handle_client_events(connection);
        flush(connection);
        return false;
    }
    if (*progress != tls::Progress::done) {
        flush(connection);
        return connection.state == Connection::State::open;
    }
    connection.tls_state = Connection::Tls::active;
    smtp::TlsFacts facts = connection.tls->facts();
    base::log_debug("TLS to {}: {} {} server cert {}", connection.peer_text, facts.version,
                    facts.cipher, facts.client_cert_verdict);
    int bits_min = connection.job_index != Connection::no_job
                       ? job_partner(jobs_[connection.job_index]).outbound_tls.min_cipher_bits
                       : 0;
    if (facts.bits < bits_min) {
        std::string text = fmt::format(
            "TLS with {} failed: cipher {} has {} bits, the TLS policy "
            "needs {}",
            connection.peer_text, facts.cipher, facts.bits, bits_min);
        count_outbound_failure(connection, text);
        health_.count_tls_failure(true, text, connection.health_partner, wall_ms());
        connection.client->on_transport_failed(smtp::FailReason::tls_failed, text);
        handle_client_events(connection);
        flush(connection);
        return false;
    }
    health_.count_tls(true, facts.version, facts.cipher);
    ShardHealth::note_outbound_tls_ok(connection.health_partner, wall_ms());
    if (connection.health_partner != nullptr) {
        health_.note_certificate(true, connection.health_partner->name, facts.client_subject,
                                 connection.tls->peer_not_after_unix_s());
    }
    connection.client->tls_started();
    if (connection.implicit_tls) {
        connection.client->start();  // The greeting comes over TLS.
    }
    return true;
}

void Shard::feed_client(Connection& connection) {
    smtp::ClientSession& client = *connection.client;
    for (unsigned round = 0; round < feed_rounds_max; round++) {
        if (connection.state != Connection::State::open || !connection.client ||
            connection.tls_state == Connection::Tls::handshaking) {
            return;
        }
        std::size_t fed = 0;
        if (connection.tls_state == Connection::Tls::active) {
            move_input_to_tls(connection);
            auto got = connection.tls->read(
                std::span(plaintext_scratch_.data(), plaintext_scratch_.size()));
            if (!got) {
                client.on_transport_failed(smtp::FailReason::closed_by_peer, got.error().message);
                handle_client_events(connection);
                return;
            }
            fed = *got;
            client.feed(std::span<const char>(plaintext_scratch_.data(), fed));
        } else {
            fed = connection.input.size_bytes();
            client.feed(connection.input.readable());
            connection.input.consume(fed);
        }
        handle_client_events(connection);
        if (fed == 0) {
            return;
        }
    }
}

void Shard::take_client_output(Connection& connection) {
    if (!connection.client || connection.state != Connection::State::open) {
        return;
    }
    smtp::ClientSession& client = *connection.client;
    for (unsigned round = 0; round < feed_rounds_max; round++) {
        std::span<const char> output = client.pending_output();
        if (output.empty()) {
            return;
        }
        std::size_t taken = 0;
        if (connection.tls_state == Connection::Tls::active) {
            taken = std::min(connection.tls->writable_bytes(), output.size());
            if (taken > 0 && !connection.tls->write(output.first(taken))) {
                connection.close_after_flush = true;
                return;
            }
        } else if (connection.tls_state == Connection::Tls::none) {
            taken = std::min(connection.plain_out.space_bytes(), output.size());
            bool appended = connection.plain_out.append(output.first(taken));
            HUB_ASSERT(appended);
        }
        if (taken == 0) {
            return;  // Outbox full: the send completion pumps again.
        }
        client.consume_output(taken);
    }
}

void Shard::handle_client_events(Connection& connection) {
    for (smtp::ClientEvent event = connection.client->next_event();
         event != smtp::ClientEvent::none && connection.client;
         event = connection.client ? connection.client->next_event() : smtp::ClientEvent::none) {
        if (connection.job_index == Connection::no_job) {
            // A cached idle connection: the server closed it, or it timed out.
            if (event == smtp::ClientEvent::failed || event == smtp::ClientEvent::closed) {
                forget_idle_connection(connection);
                connection.client.reset();
                connection.close_after_flush = true;
                flush(connection);
                return;
            }
            continue;
        }
        DeliveryJob& job = jobs_[connection.job_index];
        switch (event) {
            case smtp::ClientEvent::start_tls:
                start_client_tls(connection, job);
                break;
            case smtp::ClientEvent::ready:
                if (connection.tls_state == Connection::Tls::none) {
                    // Only an opportunistic policy gets here without TLS: remembered as a
                    // TLS failure (and since when), the mail goes in clear text.
                    health_.count_tls_failure(true,
                                              "no STARTTLS: delivered in clear text "
                                              "(opportunistic TLS)",
                                              connection.health_partner, wall_ms());
                }
                next_transaction(connection, job);
                break;
            case smtp::ClientEvent::message_done: {
                HUB_ASSERT(job.transaction_open && job.sending_index < job.items.size());
                job.transaction_open = false;
                JobItem& item = job.items[job.sending_index];
                item_done(job, item, &connection.client->message_result(), {});
                job.sending_index++;
                next_transaction(connection, job);
                break;
            }
            case smtp::ClientEvent::failed: {
                delivery::SessionFailure failure =
                    delivery::session_failure(job_peer(job), connection.client->failure());
                base::log_warn("delivery to {} failed: {}", connection.peer_text, failure.text);
                if (connection.client->failure().reason == smtp::FailReason::tls_unavailable) {
                    // A partner that stops offering STARTTLS is failing TLS as surely as one
                    // whose handshake fails: monitoring must see it the same way.
                    health_.count_tls_failure(true, failure.text, connection.health_partner,
                                              wall_ms());
                }
                if (connection.health_partner != nullptr) {
                    connection.health_partner->last_outbound_failure_unix_ms = wall_ms();
                    connection.health_partner->last_outbound_failure = failure.text;
                }
                fail_job(connection.job_index, failure.text, failure.destination_down);
                return;
            }
            case smtp::ClientEvent::closed:
                finish_job(connection.job_index);
                return;
            case smtp::ClientEvent::none:
                break;
        }
    }
}

void Shard::next_transaction(Connection& connection, DeliveryJob& job) {
    if (job.transaction_open || !connection.client->idle()) {
        return;
    }
    while (job.sending_index < job.items.size()) {
        JobItem& item = job.items[job.sending_index];
        if (item.load_failed) {
            item_done(job, item, nullptr, delivery::unreadable_text);
            job.sending_index++;
            continue;
        }
        if (!item.loaded) {
            return;  // Its read completes later and pumps again.
        }
        job.transaction_open = true;
        connection.client->send_message(item.message);
        return;
    }
    finish_job(connection.job_index, true);  // Keeps the connection for the next batch.
}

// Hands one item's outcome to delivery, logs a delivery line per recipient, and carries
// out what follows (status records, bounces, finished messages).
void Shard::item_done(DeliveryJob& job, JobItem& item, const smtp::MessageResult* result,
                      std::string_view failure_text) {
    HUB_ASSERT(!item.reported);
    item.reported = true;
    delivery::TransactionDecision decision = delivery_->transaction_done(
        item.id, item.recipient_indices, job.destination, result, failure_text, wall_ms());
    for (const delivery::RecipientLine& line : decision.lines) {
        log_delivery(job, item, line);
    }
    count_transaction(job, item, decision.lines);
    counting_transaction_ = true;  // Its bounces were counted with it, just above.
    carry_out(decision.actions);
    counting_transaction_ = false;
    // The views die with the bytes they point into.
    item.message.head = {};
    item.message.content = {};
    item.header.clear();
    item.header.shrink_to_fit();
    std::string().swap(item.header_source);
    if (!item.read_in_flight) {  // Else the ring still writes into it (a job failed early).
        item.record.clear();
        item.record.shrink_to_fit();
    }
}

// One transaction's outcome in the health counters: a message counts once as delivered,
// deferred or bounced for each of those its recipients met (delivery/wording.cc's verdicts).
void Shard::count_transaction(const DeliveryJob& job, const JobItem& item,
                              const std::vector<delivery::RecipientLine>& lines) {
    std::uint64_t sent = 0;
    std::uint64_t deferred = 0;
    std::uint64_t bounced = 0;
    for (const delivery::RecipientLine& line : lines) {
        sent += line.verdict == "sent" ? 1 : 0;
        deferred += line.verdict == "deferred" ? 1 : 0;
        bounced += line.verdict == "bounced" ? 1 : 0;
    }
    auto count = [&](health::Traffic& traffic) {
        traffic.recipients_delivered += sent;
        traffic.recipients_deferred += deferred;
        traffic.recipients_bounced += bounced;
        traffic.messages_delivered += sent > 0 ? 1 : 0;
        traffic.messages_deferred += deferred > 0 ? 1 : 0;
        traffic.messages_bounced += bounced > 0 ? 1 : 0;
        traffic.bytes_delivered += sent > 0 ? item.message.size : 0;
    };
    count(health_.traffic());
    if (health::PartnerRow* row = health_partner_of(job.destination); row != nullptr) {
        count(row->traffic);
        if (sent > 0) {
            row->last_outbound_unix_ms = wall_ms();
        }
    }
}

// A recipient bounced without a transaction saying so: the queue lifetime passed, a loop,
// a recipient that routes nowhere. Counted by the partner it was for, when there is one.
void Shard::count_bounce_outside_transaction(const spool::QueueId& id,
                                             std::uint32_t recipient_index) {
    health_.traffic().recipients_bounced++;
    auto stored = stored_.find(queue_key(id));
    if (stored == stored_.end() || recipient_index >= stored->second.destinations.size()) {
        return;
    }
    if (health::PartnerRow* row = health_partner_of(stored->second.destinations[recipient_index]);
        row != nullptr) {
        row->traffic.recipients_bounced++;
    }
}

// A connection to a partner that could not be made (socket, connect or TLS).
void Shard::count_outbound_failure(Connection& connection, std::string_view text) {
    health_.traffic().outbound_failed++;
    if (connection.health_partner != nullptr) {
        connection.health_partner->traffic.outbound_failed++;
        connection.health_partner->last_outbound_failure_unix_ms = wall_ms();
        connection.health_partner->last_outbound_failure = std::string(text);
    }
}

// By the destination's name (the partner's), which outlives any partner table.
health::PartnerRow* Shard::health_partner_of(queue::DestinationId destination) {
    if (destination == queue::no_destination) {
        return nullptr;
    }
    return health_.partner(scheduler_->destination(destination).name);
}

// The delivery line (docs/LOGGING.md), Postfix's field order: to, relay, delay, dsn, then
// our tls= (was the partner's certificate verified), and status with the reply last.
void Shard::log_delivery(const DeliveryJob& job, const JobItem& item,
                         const delivery::RecipientLine& line) const {
    std::size_t position = line.position;
    std::string_view to = item.loaded && position < item.message.recipients.size()
                              ? std::string_view(item.message.recipients[position].address)
                              : std::string_view("?");
    const policy::Partner& partner = job_partner(job);
    std::uint64_t arrival_ms = 0;
    if (auto stored = stored_.find(queue_key(item.id)); stored != stored_.end()) {
        arrival_ms = stored->second.arrival_ms != 0 ? stored->second.arrival_ms
                                                    : stored->second.meta.arrival_unix_s * 1000;
    }
    std::uint64_t now = wall_ms();
    double delay_s =
        arrival_ms != 0 && now > arrival_ms ? static_cast<double>(now - arrival_ms) / 1000.0 : 0.0;
    std::string tls = "none";
    if (job.connection_slot != UINT32_MAX) {
        const Connection& connection = *slots_[job.connection_slot];
        if (connection.tls && connection.tls_state == Connection::Tls::active) {
            smtp::TlsFacts facts = connection.tls->facts();
            tls = fmt::format("{} {} {}", facts.client_cert_verdict, facts.version, facts.cipher);
        }
    }
    base::log_info("{}: to=<{}>, relay={}[{}]:{}, delay={:.1f}, dsn={}, tls={}, status={} ({})",
                   item.id.to_string(), to, partner.outbound_name, partner.outbound_host,
                   partner.outbound_port, delay_s, line.dsn, tls, line.verdict, line.text);
}

void Shard::fail_job(std::uint32_t job_index, std::string_view text, bool destination_down) {
    DeliveryJob& job = jobs_[job_index];
    HUB_ASSERT(job.in_use);
    for (JobItem& item : job.items) {
        if (!item.reported) {
            item_done(job, item, nullptr, text);
        }
    }
    if (destination_down) {
        scheduler_->destination_down(job.destination, text, wall_ms());
    }
    finish_job(job_index);
}

void Shard::finish_job(std::uint32_t job_index, bool keep_connection) {
    DeliveryJob& job = jobs_[job_index];
    HUB_ASSERT(job.in_use);
    if (job.finished) {
        return;
    }
    for (JobItem& item : job.items) {
        if (!item.reported) {
            item_done(job, item, nullptr, delivery::connection_ended_text);
        }
    }
    job.finished = true;
    if (job.connection_slot != UINT32_MAX) {
        Connection& connection = *slots_[job.connection_slot];
        job.connection_slot = UINT32_MAX;
        // Whatever happens to the connection now, it no longer serves this job.
        connection.job_index = Connection::no_job;
        if (connection.state == Connection::State::open && !connection.client) {
            connection.close_after_flush = true;  // Still connecting: abandon it.
            flush(connection);
            begin_close(connection);
        } else if (connection.state == Connection::State::open) {
            if (connection.tls) {
                tls::SavedSession saved = connection.tls->save_session();
                if (!saved.empty()) {
                    saved_sessions_[job.destination] = std::move(saved);
                }
            }
            // A job begun before a reload does not hand its connection to the cache: it
            // went to the smart host, and was verified with the settings, of the old table.
            if (keep_connection && connection.client->idle() && job.snapshot == snapshot_) {
                // The connection cache: the next batch for this partner skips TCP, TLS
                // and EHLO. Closed with QUIT when it idles past outbound_idle_keep_ms.
                idle_outbound_[job.destination].push_back(connection.slot);
                connection.deadline_ms = now_ms() + outbound_idle_keep_ms;
            } else if (!connection.client->terminal() && connection.client->idle()) {
                connection.client->quit();
                pump_outbound(connection);
            } else {
                connection.client.reset();
                connection.close_after_flush = true;
                flush(connection);  // Closes once the last bytes are out.
            }
        }
    }
    scheduler_->batch_done(job.destination);
    scheduler_due_ms_ = 0;
    if (job.reads_pending == 0) {
        release_job(job_index);
    }
}

// Frees the job once no read is in flight into its buffers.
void Shard::release_job(std::uint32_t job_index) {
    DeliveryJob& job = jobs_[job_index];
    HUB_ASSERT(job.in_use && job.finished && job.reads_pending == 0);
    job = DeliveryJob{};
    free_jobs_.push_back(job_index);
}

// --- Reports the hub writes itself: delivery status notifications and ping replies ---

void Shard::start_report(ReportKind kind, const spool::QueueId& id,
                         std::vector<queue::RecipientNote> recipients) {
    auto stored = stored_.find(queue_key(id));
    if (stored == stored_.end()) {
        base::log_error("{}: no stored location for a report", id.to_string());
        return;
    }
    if (free_reports_.empty()) {
        // Bounded: delivery tries a DSN or ping reply again later (its statuses wait for
        // it); a delay warning beyond the bound is dropped (logged).
        base::log_error("{}: report not started: {} reports already being written", id.to_string(),
                        report_jobs_max);
        std::vector<delivery::Action> actions =
            delivery_->report_abandoned(kind, id, recipients, wall_ms());
        carry_out(actions);
        scheduler_due_ms_ = 0;  // Its retry is one of delivery's timers.
        return;
    }
    std::uint32_t index = free_reports_.back();
    free_reports_.pop_back();
    ReportJob& report = reports_[index];
    report = ReportJob{};
    report.in_use = true;
    report.kind = kind;
    report.id = id;
    report.recipients = std::move(recipients);
    if (stored->second.streamed()) {
        report.slices.emplace(id, stored->second.slices);
    }
    bool submitted = report.slices ? submit_report_slice_read(index)
                                   : submit_record_read(stored->second, report.record,
                                                        Op::report_read, index, 0);
    if (!submitted) {
        base::log_error("{}: report not written: the spooled copy is not readable", id.to_string());
        std::vector<queue::RecipientNote> notes = std::move(report.recipients);
        report = ReportJob{};
        free_reports_.push_back(index);
        std::vector<delivery::Action> actions =
            delivery_->report_abandoned(kind, id, notes, wall_ms());
        carry_out(actions);
        scheduler_due_ms_ = 0;  // Its retry is one of delivery's timers.
    }
}

void Shard::on_report_read(std::uint32_t report_index, int result) {
    HUB_ASSERT(report_index < reports_.size() && reports_[report_index].in_use);
    ReportJob& report = reports_[report_index];
    std::span<const queue::DestinationId> routing;  // Kept alive by reports_pending.
    const StoredMessage* routed = nullptr;
    if (auto found = stored_.find(queue_key(report.id)); found != stored_.end()) {
        routed = &found->second;
        routing = found->second.destinations;
    }
    spool::RecoveredMessage original;
    std::string content;
    const spool::MessageMeta* meta = nullptr;
    if (report.slices) {
        // A streamed original: its meta is the stored one (checked when it was recovered
        // or committed), its content the first slices, enough for any report.
        bool read = result >= 0 && static_cast<std::size_t>(result) == report.record.size();
        bool taken = false;
        if (read) {
            auto slice = report.slices->take(
                std::span<const char>(report.record.data(), report.record.size()));
            if (slice) {
                report.content.append(*slice);
                taken = true;
            }
        }
        if (taken) {
            if (!report.slices->done() &&
                report.content.size() <= report_streamed_content_bytes_max &&
                submit_report_slice_read(report_index)) {
                return;  // The next slice.
            }
        }
        if (taken && routed != nullptr) {
            meta = &routed->meta;
            content = std::move(report.content);
        } else {
            base::log_error("{}: the spooled message is damaged: slice {} {}",
                            report.id.to_string(), report.slices->taken(),
                            read ? "fails its checks" : "cannot be read");
        }
    } else {
        spool::SpanSource source(std::span<const char>(report.record.data(), report.record.size()));
        int read_errno = 0;
        bool readable = result >= 0 && static_cast<std::size_t>(result) == report.record.size() &&
                        spool::decode_message_at(source, 0, original, content, read_errno) ==
                            spool::SingleRecordOutcome::ok;
        meta = readable ? &original.meta : nullptr;
    }
    std::vector<delivery::Action> actions = delivery_->report_read(
        report.kind, report.id, report.recipients, meta, content, routing, wall_ms());
    report = ReportJob{};
    free_reports_.push_back(report_index);
    carry_out(actions);  // Its last may release the original.
}

// Reads a streamed original's next slice record for a report into report.record.
bool Shard::submit_report_slice_read(std::uint32_t report_index) {
    ReportJob& report = reports_[report_index];
    HUB_ASSERT(report.slices && !report.slices->done());
    auto stored = stored_.find(queue_key(report.id));
    if (stored == stored_.end()) {
        return false;
    }
    // Located again each time: a compaction may have moved the message meanwhile.
    report.slices->relocate(stored->second.slices);
    int fd = segment_fd(stored->second.segment_shard, stored->second.location.segment_seq);
    std::optional<spool::SliceReader::Read> read = report.slices->next();
    if (fd < 0 || !read) {
        return false;
    }
    report.record.resize(read->bytes);
    queued_or_panic(ring_.read(Tag{Op::report_read, report_index, 0}, fd,
                               std::span<char>(report.record), read->offset));
    return true;
}

// Forgets a stored message delivery released: its record no longer pins its segment.
void Shard::forget_stored(const spool::QueueId& id) {
    auto it = stored_.find(queue_key(id));
    if (it == stored_.end()) {
        return;
    }
    const StoredMessage& message = it->second;
    if (message.segment_shard == settings_.index && message.location.bytes > 0) {
        spool_->release(message.pinned());  // Its slices too, for a streamed message.
    }
    stored_.erase(it);
}

// Spools a message the hub wrote (delivery::report_meta: from the null sender, never
// answered in turn); it is queued like any other message once durable.
void Shard::spool_generated(std::string content, const std::string& recipient,
                            std::uint64_t report) {
    StoredMessage stored;
    stored.report = report;
    stored.arrival_ms = wall_ms();
    stored.meta =
        delivery::report_meta(content, recipient, settings_.config->hostname, stored.arrival_ms);
    stored.meta.id = spool_->next_id();
    stored.segment_shard = settings_.index;
    spool_->append(stored.meta, {}, std::move(content), CommitWaiter{0, 0, true});
    committing_.emplace(queue_key(stored.meta.id), std::move(stored));
}

void Shard::on_generated_durable(const CommitOutcome& outcome) {
    auto node = committing_.extract(queue_key(outcome.id));
    if (node.empty()) {
        return;
    }
    std::uint64_t report = node.mapped().report;
    bool durable = outcome.status == CommitStatus::durable;
    if (!durable) {
        base::log_error("{}: a report the hub wrote could not be spooled", outcome.id.to_string());
    } else {
        node.mapped().location = outcome.location;
        queue_message(std::move(node.mapped()), queue::Origin::received);
    }
    if (report != 0) {  // The statuses it tells of waited for this answer.
        std::vector<delivery::Action> actions =
            delivery_->report_spooled(report, durable, wall_ms());
        carry_out(actions);
        scheduler_due_ms_ = 0;  // A retry is one of delivery's timers.
    }
}

}  // namespace hub::engine
