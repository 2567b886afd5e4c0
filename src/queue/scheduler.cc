// scheduler.cc -- one shard's delivery scheduler.
//
// PURPOSE   Decide when each queued recipient is tried, on which destination's
//           connections, and when its message is warned about, expired, bounced or
//           finished: per-recipient state, retry backoff with seeded jitter, a delay
//           warning, the queue lifetime, per-destination and overall concurrency, and the
//           administrator's hold / release / retry-now / delete. The engine carries out the
//           actions (connections, status records, DSNs); nothing here does I/O.
// RUNS IN   each hubd shard, on its own messages; never shared between threads.
// TRUST     inputs come from the engine: the envelope was checked by the SMTP session and
//           the spool decoder, and reply texts are bounded here before they are kept. A
//           broken call sequence (a result for a recipient not in flight, a batch_done
//           without its Deliver) is a bug in our engine and asserts. Clock values and
//           arrival times are not trusted to be sane: time arithmetic saturates.
// LIMITS    limits.h: messages_max (queue_messages_max), actions_per_tick_max,
//           due_per_tick_max, batch_messages_max, transaction_recipients_max,
//           last_error_bytes_max, destinations_count_max.
// SEE ALSO  scheduler.h (the API and the recipient lifecycle), backoff.h, README.md,
//           spool/spool_format.h (RecoveredMessage, status records).
#include "queue/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"

namespace hub::queue {
namespace {

TimeMs add_saturating(TimeMs a, std::uint64_t b) {
    return a > time_never - b ? time_never : a + b;
}

TimeMs seconds_to_ms(std::uint64_t seconds) {
    return seconds > time_never / 1000 ? time_never : seconds * 1000;
}

bool is_final(RecipientState state) {
    switch (state) {
        case RecipientState::ready:
        case RecipientState::in_flight:
        case RecipientState::deferred:
        case RecipientState::held:
            return false;
        case RecipientState::delivered:
        case RecipientState::bounced:
        case RecipientState::removed:
            return true;
    }
    HUB_PANIC("bad RecipientState");
}

std::string bounded_text(std::string_view text) {
    return std::string(text.substr(0, std::min<std::size_t>(text.size(), last_error_bytes_max)));
}

}  // namespace

std::string_view to_string(RecipientState state) {
    switch (state) {
        case RecipientState::ready:
            return "ready";
        case RecipientState::in_flight:
            return "in_flight";
        case RecipientState::deferred:
            return "deferred";
        case RecipientState::held:
            return "held";
        case RecipientState::delivered:
            return "delivered";
        case RecipientState::bounced:
            return "bounced";
        case RecipientState::removed:
            return "removed";
    }
    HUB_PANIC("bad RecipientState");
}

Result<void, std::string> check_config(const Config& config) {
    auto range = [](std::string_view name, std::uint64_t value, std::uint64_t low,
                    std::uint64_t high) -> Result<void, std::string> {
        if (value < low || value > high) {
            return unexpected(fmt::format("{} = {} is outside {}..{}", name, value, low, high));
        }
        return {};
    };
    Result<void, std::string> checks[] = {
        range("retry_delay_s_min", config.retry_delay_s_min, retry_delay_s_floor,
              retry_delay_s_ceiling),
        range("retry_delay_s_max", config.retry_delay_s_max, config.retry_delay_s_min,
              retry_delay_s_ceiling),
        range("lifetime_s", config.lifetime_s, lifetime_s_floor, lifetime_s_ceiling),
        range("delay_warning_s", config.delay_warning_s, 0, config.lifetime_s - 1),
        range("jitter_percent", config.jitter_percent, 0, jitter_percent_max),
        range("recovery_spread_s", config.recovery_spread_s, 0, recovery_spread_s_max),
        range("messages_max", config.messages_max, 1, queue_messages_max),
        range("connections_max", config.connections_max, 1, connections_max),
        range("destination_connections_max", config.destination_connections_max, 1,
              config.connections_max),
    };
    for (auto& check : checks) {
        if (!check) {
            return check;
        }
    }
    return {};
}

MessageInput input_from_recovered(const spool::RecoveredMessage& message,
                                  std::span<const DestinationId> destinations) {
    const auto& recipients = message.meta.envelope.recipients;
    HUB_ASSERT(destinations.size() == recipients.size());
    HUB_ASSERT(message.recipient_status.size() == recipients.size());  // recover() pairs them.
    MessageInput input;
    input.id = message.meta.id;
    input.arrival_unix_s = message.meta.arrival_unix_s;
    input.sender = message.meta.envelope.mail_from;
    input.held = message.held;
    input.recipients.reserve(recipients.size());
    for (std::size_t i = 0; i < recipients.size(); i++) {
        input.recipients.push_back(
            {recipients[i].address, destinations[i], message.recipient_status[i]});
    }
    return input;
}

std::size_t Scheduler::QueueIdHash::operator()(const QueueId& id) const {
    // shard (8 bits) | segment (32) | ordinal (24): an exact packing into 64 bits.
    std::uint64_t packed = (std::uint64_t{id.shard} << 56) | (std::uint64_t{id.segment_seq} << 24) |
                           (id.ordinal & 0xFF'FFFFu);
    return std::hash<std::uint64_t>{}(packed);
}

Scheduler::Scheduler(const Config& config) : config_(config), prng_(config.seed) {
    HUB_ASSERT(check_config(config).has_value());
    index_.reserve(std::min<std::uint32_t>(config.messages_max, 4096));
}

// --- Destinations ---

Result<DestinationId, std::string> Scheduler::set_destination(const DestinationSpec& spec) {
    if (spec.name.empty() || spec.name.size() > destination_name_bytes_max) {
        return unexpected(
            fmt::format("destination name must be 1..{} bytes", destination_name_bytes_max));
    }
    if (spec.host.empty() || spec.host.size() > destination_host_bytes_max) {
        return unexpected(fmt::format("destination {}: host must be 1..{} bytes", spec.name,
                                      destination_host_bytes_max));
    }
    if (spec.connections_max > connections_max) {
        return unexpected(
            fmt::format("destination {}: connections_max above {}", spec.name, connections_max));
    }
    auto found = destination_index_.find(spec.name);
    if (found != destination_index_.end()) {
        destinations_[found->second].spec = spec;
        return found->second;
    }
    if (destinations_.size() >= destinations_count_max) {
        return unexpected(fmt::format("more than {} destinations", destinations_count_max));
    }
    auto id = static_cast<DestinationId>(destinations_.size());
    destinations_.emplace_back();
    destinations_.back().spec = spec;
    destination_index_.emplace(spec.name, id);
    HUB_ASSERT(destination_index_.size() == destinations_.size());
    return id;
}

std::optional<DestinationId> Scheduler::find_destination(std::string_view name) const {
    auto found = destination_index_.find(std::string(name));
    if (found == destination_index_.end()) {
        return std::nullopt;
    }
    return found->second;
}

const DestinationSpec& Scheduler::destination(DestinationId destination) const {
    HUB_ASSERT(destination < destinations_.size());
    return destinations_[destination].spec;
}

DestinationLoad Scheduler::load(DestinationId destination) const {
    HUB_ASSERT(destination < destinations_.size());
    const Destination& d = destinations_[destination];
    return {d.busy_count, d.open_count, static_cast<std::uint32_t>(d.ready.size())};
}

std::uint32_t Scheduler::destination_limit(const Destination& destination) const {
    return destination.spec.connections_max != 0 ? destination.spec.connections_max
                                                 : config_.destination_connections_max;
}

// A Deliver without an idle socket leads to a connect, so a destination occupies
// max(open, busy) sockets whichever of connection_opened() and the Deliver comes first.
std::uint32_t Scheduler::sockets(const Destination& destination) const {
    return std::max(destination.open_count, destination.busy_count);
}

bool Scheduler::can_start(const Destination& destination) const {
    if (destination.busy_count >= destination_limit(destination)) {
        return false;
    }
    bool idle_socket = destination.open_count > destination.busy_count;
    return idle_socket || sockets_count_ < config_.connections_max;
}

void Scheduler::activate(DestinationId destination) {
    Destination& d = destinations_[destination];
    if (!d.active) {
        d.active = true;
        active_.push_back(destination);
    }
    HUB_ASSERT(active_.size() <= destinations_.size());
}

void Scheduler::batch_done(DestinationId destination) {
    HUB_ASSERT(destination < destinations_.size());
    Destination& d = destinations_[destination];
    HUB_ASSERT(d.busy_count > 0);  // One batch_done per Deliver.
    std::uint32_t before = sockets(d);
    d.busy_count--;
    sockets_count_ = sockets_count_ - before + sockets(d);
}

void Scheduler::connection_opened(DestinationId destination) {
    HUB_ASSERT(destination < destinations_.size());
    Destination& d = destinations_[destination];
    std::uint32_t before = sockets(d);
    d.open_count++;
    sockets_count_ = sockets_count_ - before + sockets(d);
    HUB_ASSERT(d.open_count <= connections_max);  // The engine opens only for a Deliver.
}

void Scheduler::connection_closed(DestinationId destination) {
    HUB_ASSERT(destination < destinations_.size());
    Destination& d = destinations_[destination];
    HUB_ASSERT(d.open_count > 0);  // One close per open.
    std::uint32_t before = sockets(d);
    d.open_count--;
    sockets_count_ = sockets_count_ - before + sockets(d);
}

// --- Messages ---

Scheduler::Message* Scheduler::lookup(const QueueId& id) {
    auto found = index_.find(id);
    return found == index_.end() ? nullptr : &slots_[found->second];
}

const Scheduler::Message* Scheduler::lookup(const QueueId& id) const {
    auto found = index_.find(id);
    return found == index_.end() ? nullptr : &slots_[found->second];
}

std::uint32_t Scheduler::slot_of(const Message& message) const {
    auto slot = static_cast<std::uint32_t>(&message - slots_.data());
    HUB_ASSERT(slot < slots_.size() && slots_[slot].in_use);
    return slot;
}

std::uint32_t Scheduler::allocate_slot() {
    std::uint32_t slot = 0;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    HUB_ASSERT(!slots_[slot].in_use);
    slots_[slot].in_use = true;
    return slot;
}

void Scheduler::free_slot(std::uint32_t slot) {
    Message& message = slots_[slot];
    HUB_ASSERT(message.in_use && message.open_count == 0 && message.in_flight_count == 0);
    if (message.wake_ms != time_never) {
        timers_.erase({message.wake_ms, slot});
    }
    index_.erase(message.id);
    std::uint32_t generation = message.generation + 1;  // Ready entries for it go stale.
    message = Message{};
    message.generation = generation;
    free_slots_.push_back(slot);
}

// Copies the recipients in envelope order and groups the pending ones by destination.
// Their state is deferred until add() schedules them. Groups are found by a linear scan:
// a message names few partners, and recipients_count_max bounds the worst case.
void Scheduler::fill_recipients(Message& message, std::vector<RecipientInput>& inputs) {
    HUB_ASSERT(message.recipients.empty() && message.groups.empty());
    message.recipients.resize(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); i++) {
        RecipientInput& in = inputs[i];
        Recipient& r = message.recipients[i];
        r.address = std::move(in.address);
        r.destination = in.destination;
        switch (in.status) {
            case spool::RecipientStatus::pending:
                HUB_ASSERT(in.destination < destinations_.size());  // Routed by the engine.
                r.state = RecipientState::deferred;                 // add() schedules it.
                message.open_count++;
                break;
            case spool::RecipientStatus::delivered:
                r.state = RecipientState::delivered;
                message.delivered_count++;
                break;
            case spool::RecipientStatus::bounced:
                r.state = RecipientState::bounced;
                message.bounced_count++;
                break;
        }
        if (r.state == RecipientState::deferred) {
            auto group =
                std::find_if(message.groups.begin(), message.groups.end(),
                             [&](const Group& g) { return g.destination == r.destination; });
            if (group == message.groups.end()) {
                message.groups.emplace_back();
                message.groups.back().destination = r.destination;
                group = message.groups.end() - 1;
            }
            r.group_index = static_cast<std::uint32_t>(group - message.groups.begin());
            group->recipient_indices.push_back(static_cast<std::uint32_t>(i));
        }
    }
    HUB_ASSERT(message.recipients.size() == inputs.size());
}

Result<void, AddError> Scheduler::add(MessageInput input, Origin origin, TimeMs now) {
    if (full()) {
        return unexpected(AddError::queue_full);
    }
    if (input.recipients.empty() || input.recipients.size() > recipients_count_max) {
        return unexpected(AddError::bad_recipients);
    }
    if (index_.contains(input.id)) {
        return unexpected(AddError::duplicate_id);
    }
    bool any_pending = std::any_of(input.recipients.begin(), input.recipients.end(), [](auto& r) {
        return r.status == spool::RecipientStatus::pending;
    });
    if (!any_pending) {
        return unexpected(AddError::nothing_pending);
    }
    std::uint32_t slot = allocate_slot();
    Message& message = slots_[slot];
    message.id = input.id;
    message.sender = std::move(input.sender);
    message.arrival_unix_s = input.arrival_unix_s;
    TimeMs arrival_ms = seconds_to_ms(input.arrival_unix_s);
    message.expire_at_ms = add_saturating(arrival_ms, seconds_to_ms(config_.lifetime_s));
    message.warn_at_ms = config_.delay_warning_s == 0
                             ? time_never
                             : add_saturating(arrival_ms, seconds_to_ms(config_.delay_warning_s));
    message.warned =
        input.delay_warning_sent || (origin == Origin::recovered && message.warn_at_ms <= now);
    fill_recipients(message, input.recipients);
    index_.emplace(message.id, slot);
    if (input.held) {
        // Held before a restart (a durable message_status record): it stays held, with no
        // timer, until release(); the lifetime is checked then, as for any release.
        message.held = true;
        for (Recipient& r : message.recipients) {
            if (r.state == RecipientState::deferred) {
                r.state = RecipientState::held;
            }
        }
        refresh_timer(slot);
        HUB_ASSERT(message.wake_ms == time_never && message.open_count > 0);
        return {};
    }
    // One draw per message: its recipients stay together, messages spread apart.
    std::uint64_t spread_ms =
        origin == Origin::recovered ? prng_.below(seconds_to_ms(config_.recovery_spread_s) + 1) : 0;
    for (std::uint32_t i = 0; i < message.recipients.size(); i++) {
        Recipient& r = message.recipients[i];
        if (r.state != RecipientState::deferred) {
            continue;
        }
        if (spread_ms == 0) {
            make_ready(slot, i);
        } else {
            r.next_attempt_ms = add_saturating(now, spread_ms);
        }
    }
    refresh_timer(slot);
    HUB_ASSERT(message.open_count > 0 && index_.size() <= config_.messages_max);
    return {};
}

void Scheduler::make_ready(std::uint32_t slot, std::uint32_t recipient_index) {
    Message& message = slots_[slot];
    Recipient& r = message.recipients[recipient_index];
    HUB_ASSERT(!is_final(r.state) && r.state != RecipientState::in_flight);
    HUB_ASSERT(!message.held && !message.removing);
    r.state = RecipientState::ready;
    Group& group = message.groups[r.group_index];
    if (!group.queued) {
        group.queued = true;
        destinations_[group.destination].ready.push_back(
            ReadyEntry{slot, message.generation, r.group_index});
        activate(group.destination);
    }
}

std::uint64_t Scheduler::draw_retry_delay_ms(std::uint32_t failed_attempts) {
    std::uint64_t delay =
        retry_delay_ms(config_.retry_delay_s_min, config_.retry_delay_s_max, failed_attempts);
    return jitter_ms(delay, config_.jitter_percent, prng_);
}

void Scheduler::defer(Message& message, Recipient& recipient, std::uint64_t delay_ms, TimeMs now) {
    HUB_ASSERT(!message.held && !message.removing && !is_final(recipient.state));
    recipient.state = RecipientState::deferred;
    recipient.next_attempt_ms = add_saturating(now, delay_ms);
}

// The earliest moment a timer can change this message: a deferred recipient falling due,
// the delay warning, or the lifetime for recipients not in flight (in-flight ones are
// expired when they come back).
TimeMs Scheduler::compute_wake(const Message& message) const {
    if (message.held || message.removing || message.open_count == 0) {
        return time_never;
    }
    TimeMs wake = time_never;
    if (!message.warned) {
        wake = std::min(wake, message.warn_at_ms);
    }
    if (message.open_count > message.in_flight_count) {
        wake = std::min(wake, message.expire_at_ms);
    }
    for (const Recipient& r : message.recipients) {
        if (r.state == RecipientState::deferred) {
            wake = std::min(wake, r.next_attempt_ms);
        }
    }
    return wake;
}

void Scheduler::refresh_timer(std::uint32_t slot) {
    Message& message = slots_[slot];
    TimeMs wake = compute_wake(message);
    if (wake == message.wake_ms) {
        return;
    }
    if (message.wake_ms != time_never) {
        std::size_t erased = timers_.erase({message.wake_ms, slot});
        HUB_ASSERT(erased == 1);
    }
    message.wake_ms = wake;
    if (wake != time_never) {
        timers_.emplace(wake, slot);
    }
    HUB_ASSERT(timers_.size() <= index_.size());
}

bool Scheduler::finish_if_done(std::uint32_t slot, std::vector<Action>& actions) {
    Message& message = slots_[slot];
    if (message.open_count != 0) {
        refresh_timer(slot);
        return false;
    }
    HUB_ASSERT(message.delivered_count + message.bounced_count + message.removed_count ==
               message.recipients.size());
    actions.push_back(Finished{message.id, message.delivered_count, message.bounced_count,
                               message.removed_count});
    free_slot(slot);
    return true;
}

// --- tick ---

TimeMs Scheduler::next_due_ms(TimeMs now) const {
    for (DestinationId id : active_) {
        if (can_start(destinations_[id])) {
            return now;
        }
    }
    if (timers_.empty()) {
        return time_never;
    }
    return std::max(now, timers_.begin()->first);
}

std::vector<Action> Scheduler::tick(TimeMs now) {
    std::vector<Action> actions;
    fire_timers(now, actions);
    dispatch(actions);
    HUB_ASSERT(actions.size() <= actions_per_tick_max);
    return actions;
}

void Scheduler::fire_timers(TimeMs now, std::vector<Action>& actions) {
    for (std::uint32_t examined = 0; examined < due_per_tick_max; examined++) {
        if (timers_.empty() || timers_.begin()->first > now ||
            actions.size() + actions_per_due_message_max > actions_per_tick_max) {
            return;
        }
        std::uint32_t slot = timers_.begin()->second;
        timers_.erase(timers_.begin());
        HUB_ASSERT(slots_[slot].in_use && slots_[slot].wake_ms <= now);
        slots_[slot].wake_ms = time_never;
        process_due(slot, now, actions);
    }
}

void Scheduler::process_due(std::uint32_t slot, TimeMs now, std::vector<Action>& actions) {
    Message& message = slots_[slot];
    HUB_ASSERT(!message.held && !message.removing);  // Those have no timer.
    bool expired = now >= message.expire_at_ms;
    if (expired) {
        message.warned = true;  // The failure report replaces the warning.
        if (message.open_count > message.in_flight_count) {
            expire_waiting(message, actions);
        }
    } else {
        for (std::uint32_t i = 0; i < message.recipients.size(); i++) {
            Recipient& r = message.recipients[i];
            if (r.state == RecipientState::deferred && r.next_attempt_ms <= now) {
                make_ready(slot, i);
            }
        }
    }
    if (!message.warned && now >= message.warn_at_ms) {
        message.warned = true;
        DelayWarning warning{message.id, {}};
        for (std::uint32_t i = 0; i < message.recipients.size(); i++) {
            const Recipient& r = message.recipients[i];
            if (!is_final(r.state)) {
                warning.recipients.push_back({i, r.last_error});
            }
        }
        HUB_ASSERT(!warning.recipients.empty());  // open_count > 0 while it has a timer.
        actions.push_back(std::move(warning));
    }
    finish_if_done(slot, actions);
}

// Lifetime passed: every recipient that is waiting (ready or deferred) bounces.
void Scheduler::expire_waiting(Message& message, std::vector<Action>& actions) {
    Expire expire{message.id, {}};
    for (std::uint32_t i = 0; i < message.recipients.size(); i++) {
        Recipient& r = message.recipients[i];
        if (r.state == RecipientState::ready || r.state == RecipientState::deferred) {
            r.state = RecipientState::bounced;
            message.open_count--;
            message.bounced_count++;
            expire.recipients.push_back({i, r.last_error});
        }
    }
    HUB_ASSERT(!expire.recipients.empty());
    actions.push_back(std::move(expire));
}

bool Scheduler::entry_live(const ReadyEntry& entry) const {
    const Message& message = slots_[entry.slot];
    return message.in_use && message.generation == entry.generation;
}

// The next transaction for this destination: up to transaction_recipients_max ready
// recipients of the message at the front of its queue. Stale entries are dropped here.
std::optional<DeliveryItem> Scheduler::take_item(Destination& destination) {
    while (!destination.ready.empty()) {
        ReadyEntry entry = destination.ready.front();
        if (!entry_live(entry)) {
            destination.ready.pop_front();
            continue;
        }
        Message& message = slots_[entry.slot];
        Group& group = message.groups[entry.group_index];
        HUB_ASSERT(group.queued);
        DeliveryItem item{message.id, {}};
        bool more = false;
        for (std::uint32_t index : group.recipient_indices) {
            Recipient& r = message.recipients[index];
            if (r.state != RecipientState::ready) {
                continue;
            }
            if (item.recipient_indices.size() == transaction_recipients_max) {
                more = true;  // The rest go in the next transaction.
                break;
            }
            r.state = RecipientState::in_flight;
            message.in_flight_count++;
            item.recipient_indices.push_back(index);
        }
        if (!more) {
            group.queued = false;
            destination.ready.pop_front();
        }
        if (!item.recipient_indices.empty()) {
            HUB_ASSERT(message.in_flight_count <= message.open_count);
            return item;
        }
    }
    return std::nullopt;
}

void Scheduler::dispatch(std::vector<Action>& actions) {
    bool progress = true;
    while (progress && !active_.empty() && actions.size() < actions_per_tick_max) {
        progress = false;
        // One pass: each destination gets at most one Deliver, in turn.
        for (std::size_t n = active_.size(); n > 0 && actions.size() < actions_per_tick_max; n--) {
            DestinationId id = active_.front();
            active_.pop_front();
            Destination& d = destinations_[id];
            HUB_ASSERT(d.active);
            if (can_start(d)) {
                Deliver deliver{id, {}};
                while (deliver.items.size() < batch_messages_max) {
                    std::optional<DeliveryItem> item = take_item(d);
                    if (!item) {
                        break;
                    }
                    deliver.items.push_back(std::move(*item));
                }
                if (!deliver.items.empty()) {
                    std::uint32_t before = sockets(d);
                    d.busy_count++;
                    sockets_count_ = sockets_count_ - before + sockets(d);
                    HUB_ASSERT(d.busy_count <= destination_limit(d));
                    HUB_ASSERT(sockets(d) == before || sockets_count_ <= config_.connections_max);
                    actions.push_back(std::move(deliver));
                    progress = true;
                }
            }
            while (!d.ready.empty() && !entry_live(d.ready.front())) {
                d.ready.pop_front();
            }
            if (d.ready.empty()) {
                d.active = false;
            } else {
                active_.push_back(id);
            }
        }
    }
    HUB_ASSERT(actions.size() <= actions_per_tick_max);
}

// --- Outcomes ---

std::vector<Action> Scheduler::attempt_done(const QueueId& id,
                                            std::span<const RecipientResult> results, TimeMs now) {
    Message* found = lookup(id);
    HUB_ASSERT(found != nullptr);  // A message with recipients in flight stays queued.
    Message& message = *found;
    std::uint32_t slot = slot_of(message);
    Bounce bounce{id, {}};
    Expire expire{id, {}};
    Removed removed{id, {}};
    // One draw per attempt: recipients that failed together retry together.
    std::uint64_t retry_ms = 0;
    for (const RecipientResult& result : results) {
        HUB_ASSERT(result.recipient_index < message.recipients.size());
        Recipient& r = message.recipients[result.recipient_index];
        HUB_ASSERT(r.state == RecipientState::in_flight);  // Reported once per Deliver.
        message.in_flight_count--;
        r.attempt_count++;
        if (result.outcome == Outcome::delivered) {
            r.state = RecipientState::delivered;
            message.delivered_count++;
            message.open_count--;
            continue;
        }
        r.last_error = bounded_text(result.text);
        if (result.outcome == Outcome::perm_fail) {  // RFC 5321 4.2.1: 5yz, do not repeat.
            r.state = RecipientState::bounced;
            message.bounced_count++;
            message.open_count--;
            bounce.recipients.push_back({result.recipient_index, r.last_error});
        } else if (message.removing) {
            r.state = RecipientState::removed;
            message.removed_count++;
            message.open_count--;
            removed.recipient_indices.push_back(result.recipient_index);
        } else if (message.held) {
            r.state = RecipientState::held;  // Held mail does not expire until released.
        } else if (now >= message.expire_at_ms) {
            r.state = RecipientState::bounced;
            message.bounced_count++;
            message.open_count--;
            expire.recipients.push_back({result.recipient_index, r.last_error});
        } else {
            if (retry_ms == 0) {
                retry_ms = draw_retry_delay_ms(r.attempt_count);
            }
            defer(message, r, retry_ms, now);
        }
    }
    std::vector<Action> actions;
    if (!bounce.recipients.empty()) {
        actions.push_back(std::move(bounce));
    }
    if (!expire.recipients.empty()) {
        actions.push_back(std::move(expire));
    }
    if (!removed.recipient_indices.empty()) {
        actions.push_back(std::move(removed));
    }
    finish_if_done(slot, actions);
    return actions;
}

std::size_t Scheduler::destination_down(DestinationId destination, std::string_view text,
                                        TimeMs now) {
    HUB_ASSERT(destination < destinations_.size());
    Destination& d = destinations_[destination];
    std::size_t deferred_count = 0;
    std::string error = bounded_text(text);
    // Leaves d in active_: dispatch() drops it there once its queue is empty.
    for (const ReadyEntry& entry : d.ready) {
        if (!entry_live(entry)) {
            continue;
        }
        Message& message = slots_[entry.slot];
        Group& group = message.groups[entry.group_index];
        group.queued = false;
        std::uint64_t retry_ms = 0;
        for (std::uint32_t index : group.recipient_indices) {
            Recipient& r = message.recipients[index];
            if (r.state != RecipientState::ready) {
                continue;
            }
            r.attempt_count++;
            r.last_error = error;
            if (retry_ms == 0) {
                retry_ms = draw_retry_delay_ms(r.attempt_count);
            }
            defer(message, r, retry_ms, now);
            deferred_count++;
        }
        refresh_timer(entry.slot);
    }
    d.ready.clear();
    return deferred_count;
}

// --- Administration ---

Result<void, QueueError> Scheduler::hold(const QueueId& id) {
    Message* message = lookup(id);
    if (message == nullptr) {
        return unexpected(QueueError::not_found);
    }
    message->held = true;
    for (Recipient& r : message->recipients) {
        if (r.state == RecipientState::ready || r.state == RecipientState::deferred) {
            r.state = RecipientState::held;  // Its ready entry, if any, is skipped.
        }
    }
    refresh_timer(slot_of(*message));
    HUB_ASSERT(message->wake_ms == time_never);
    return {};
}

Result<void, QueueError> Scheduler::release(const QueueId& id) {
    Message* message = lookup(id);
    if (message == nullptr) {
        return unexpected(QueueError::not_found);
    }
    if (!message->held) {
        return {};
    }
    message->held = false;
    std::uint32_t slot = slot_of(*message);
    for (std::uint32_t i = 0; i < message->recipients.size(); i++) {
        if (message->recipients[i].state == RecipientState::held) {
            make_ready(slot, i);
        }
    }
    // Past its lifetime, the expiry timer fires at the next tick before any Deliver.
    refresh_timer(slot);
    return {};
}

Result<void, QueueError> Scheduler::retry_now(const QueueId& id) {
    Message* message = lookup(id);
    if (message == nullptr) {
        return unexpected(QueueError::not_found);
    }
    if (message->held) {
        return unexpected(QueueError::held);
    }
    std::uint32_t slot = slot_of(*message);
    for (std::uint32_t i = 0; i < message->recipients.size(); i++) {
        if (message->recipients[i].state == RecipientState::deferred) {
            make_ready(slot, i);
        }
    }
    refresh_timer(slot);
    return {};
}

Result<std::vector<Action>, QueueError> Scheduler::remove(const QueueId& id) {
    Message* message = lookup(id);
    if (message == nullptr) {
        return unexpected(QueueError::not_found);
    }
    message->removing = true;
    Removed removed{id, {}};
    for (std::uint32_t i = 0; i < message->recipients.size(); i++) {
        Recipient& r = message->recipients[i];
        if (r.state == RecipientState::ready || r.state == RecipientState::deferred ||
            r.state == RecipientState::held) {
            r.state = RecipientState::removed;
            message->open_count--;
            message->removed_count++;
            removed.recipient_indices.push_back(i);
        }
    }
    HUB_ASSERT(message->open_count == message->in_flight_count);
    std::vector<Action> actions;
    if (!removed.recipient_indices.empty()) {
        actions.push_back(std::move(removed));
    }
    finish_if_done(slot_of(*message), actions);
    return actions;
}

MessageSnapshot Scheduler::snapshot(const Message& message) const {
    MessageSnapshot out{message.id,   message.sender, message.arrival_unix_s,
                        message.held, message.warned, {}};
    out.recipients.reserve(message.recipients.size());
    for (std::uint32_t i = 0; i < message.recipients.size(); i++) {
        const Recipient& r = message.recipients[i];
        std::string destination_name;
        if (r.destination != no_destination) {
            destination_name = destinations_[r.destination].spec.name;
        }
        out.recipients.push_back({i, r.address, std::move(destination_name), r.state,
                                  r.attempt_count, r.next_attempt_ms, r.last_error});
    }
    return out;
}

std::vector<MessageSnapshot> Scheduler::list() const {
    std::vector<MessageSnapshot> out;
    out.reserve(index_.size());
    for (const Message& message : slots_) {
        if (message.in_use) {
            out.push_back(snapshot(message));
        }
    }
    HUB_ASSERT(out.size() == index_.size());
    return out;
}

std::optional<MessageSnapshot> Scheduler::find(const QueueId& id) const {
    const Message* message = lookup(id);
    if (message == nullptr) {
        return std::nullopt;
    }
    return snapshot(*message);
}

}  // namespace hub::queue
