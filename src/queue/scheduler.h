// scheduler.h -- one shard's delivery scheduler: it decides, the engine acts.
//
// Sans-I/O: no threads, no clock, no sockets, no files. The engine passes the time into
// every call that depends on it, the PRNG that jitters retries is seeded from Config, and
// every decision comes back as an Action for the engine to carry out (open or reuse a
// connection and deliver, write status records, send a DSN). The same inputs always
// give the same actions, which is what the tests rely on.
//
// Lifecycle of a recipient (RecipientState):
//
//   add ──> ready ──tick: Deliver──> in_flight ──attempt_done──> delivered   (final)
//            ^ ^                         │                  ├──> bounced     (final, 5xx
//            │ └── release, retry_now ── │ ── deferred <────┤     or lifetime passed)
//            │                           │     │ next_attempt_ms reached (tick)
//            └───────────────────────────┼─────┘
//   hold: ready/deferred -> held (an in-flight recipient that fails temporarily -> held)
//   remove: ready/deferred/held -> removed (final); in-flight ones when they come back.
//
// Time: TimeMs is milliseconds since the Unix epoch (CLOCK_REALTIME), because the queue
// lifetime and the delay warning count from the arrival time stored in the spool and must
// survive a restart. A clock step backwards only delays decisions; nothing asserts that
// time is monotonic, and all time arithmetic saturates.
//
// Typical engine loop (one per shard):
//   on start: set_destination() per partner; add(..., Origin::recovered, now) per message
//             recovered from the spool.
//   on 250 to a client: add(..., Origin::received, now).
//   whenever now >= next_due_ms(now): run every action of tick(now).
//   per message of a Deliver once its transaction ends: attempt_done(); per Deliver once
//   the connection is done with it: batch_done(); per socket: connection_opened/closed().
//   The actions of attempt_done/hold/remove/destination_down are run the same way.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"
#include "queue/backoff.h"
#include "queue/limits.h"
#include "spool/spool_format.h"

namespace hub::queue {

using spool::QueueId;

using TimeMs = std::uint64_t;  // Milliseconds since the Unix epoch; injected.
inline constexpr TimeMs time_never = UINT64_MAX;

using DestinationId = std::uint32_t;  // Index of a destination, from set_destination().
inline constexpr DestinationId no_destination = UINT32_MAX;

// Settings; the defaults are in limits.h next to their ranges. check_config() says what is
// out of range; the Scheduler constructor asserts that nothing is.
struct Config {
    std::uint32_t retry_delay_s_min = retry_delay_s_min_default;
    std::uint32_t retry_delay_s_max = retry_delay_s_max_default;
    std::uint32_t delay_warning_s = delay_warning_s_default;  // 0: never warn.
    std::uint32_t lifetime_s = lifetime_s_default;
    std::uint32_t jitter_percent = jitter_percent_default;
    // Recovered messages become due at a random point in [now, now + spread], so that a
    // restart with a full queue does not open every connection in the same millisecond.
    std::uint32_t recovery_spread_s = recovery_spread_s_default;
    std::uint32_t messages_max = queue_messages_max;
    std::uint32_t connections_max = connections_max_default;  // All destinations together.
    // Per destination, unless its DestinationSpec says otherwise.
    std::uint32_t destination_connections_max = destination_connections_max_default;
    std::uint64_t seed = 0x6875'6262'6f78'0001u;  // The engine passes a per-shard seed.
};

// Empty if every setting is in range, else one sentence naming the first that is not.
[[nodiscard]] Result<void, std::string> check_config(const Config& config);

// Where a partner's mail goes: its fixed smart host.
struct DestinationSpec {
    std::string name;  // The partner name; unique. <= destination_name_bytes_max.
    std::string host;  // IP literal. <= destination_host_bytes_max.
    std::uint16_t port = 25;
    std::uint32_t connections_max = 0;  // 0: Config::destination_connections_max.
};

enum class RecipientState : std::uint8_t {
    ready,      // Due; waits for a connection to its destination.
    in_flight,  // Handed to the engine in a Deliver; attempt_done() will say how it went.
    deferred,   // Failed temporarily (or recovered); due again at next_attempt_ms.
    held,       // Frozen by hold() until release().
    delivered,  // Final.
    bounced,    // Final: 5xx, or the queue lifetime passed.
    removed,    // Final: deleted by the administrator.
};
std::string_view to_string(RecipientState state);

// --- add() ---

struct RecipientInput {
    std::string address;  // As it will be sent in RCPT TO (hub suffix already stripped).
    // Where it goes; may be no_destination only when status is final.
    DestinationId destination = no_destination;
    // Recovery's view: delivered and bounced recipients are kept for their index only.
    spool::RecipientStatus status = spool::RecipientStatus::pending;
};

struct MessageInput {
    QueueId id;
    std::uint64_t arrival_unix_s = 0;        // The lifetime and the delay warning count from here.
    std::string sender;                      // MAIL FROM, empty for the null sender.
    std::vector<RecipientInput> recipients;  // Envelope order: index = spool recipient index.
    bool delay_warning_sent = false;
    // On hold by the administrator (recovery's view of the message_status records): every
    // pending recipient starts held and nothing is scheduled until release().
    bool held = false;
};

enum class Origin : std::uint8_t {
    received,   // Just accepted: ready at once.
    recovered,  // Rebuilt from the spool at start: due within recovery_spread_s. The spool
                // keeps no record of delay warnings, so one is assumed sent if its time has
                // passed (XXX: a restart can then skip a warning, never repeat one).
};

// A recovered message as input, with the destination the engine routed each recipient to
// (no_destination for a final one). Precondition: destinations.size() equals the message's
// recipient count.
MessageInput input_from_recovered(const spool::RecoveredMessage& message,
                                  std::span<const DestinationId> destinations);

enum class AddError : std::uint8_t {
    queue_full,       // messages_max live messages: the engine should answer 452 4.3.1
                      // before accepting (see full()); recovered overflow waits for room.
    duplicate_id,     // Already queued.
    bad_recipients,   // None, or more than recipients_count_max.
    nothing_pending,  // Every recipient is final: nothing to schedule.
};

// --- attempt_done() ---

enum class Outcome : std::uint8_t { delivered, temp_fail, perm_fail };

struct RecipientResult {
    std::uint32_t recipient_index = 0;
    Outcome outcome = Outcome::delivered;
    // The remote reply or the local reason ("connect to 127.0.0.1:10025: refused").
    std::string_view text;
};

// --- Actions ---

struct RecipientNote {
    std::uint32_t recipient_index = 0;
    std::string last_error;  // Empty if never attempted.
};

struct DeliveryItem {
    QueueId id;
    std::vector<std::uint32_t> recipient_indices;  // 1..transaction_recipients_max.
};

// Use one connection to destination (an idle cached one, or open one) for these SMTP
// transactions, in order; then attempt_done() per item and batch_done() once. Every
// recipient listed is in_flight until its attempt_done().
struct Deliver {
    DestinationId destination = no_destination;
    std::vector<DeliveryItem> items;  // 1..batch_messages_max.
};
// Send a delay DSN (RFC 3464 action "delayed") for these recipients; once per message.
struct DelayWarning {
    QueueId id;
    std::vector<RecipientNote> recipients;
};
// The queue lifetime passed: write bounced status records, send a failure DSN.
struct Expire {
    QueueId id;
    std::vector<RecipientNote> recipients;
};
// Permanent failure (5xx): write bounced status records, send a failure DSN.
struct Bounce {
    QueueId id;
    std::vector<RecipientNote> recipients;
};
// Deleted by the administrator: write bounced status records, send no DSN.
struct Removed {
    QueueId id;
    std::vector<std::uint32_t> recipient_indices;
};
// Every recipient is final; the message has left the scheduler (the spool's segment
// GC may reclaim it once its status records are written).
struct Finished {
    QueueId id;
    std::uint32_t delivered_count = 0;
    std::uint32_t bounced_count = 0;  // Including expired.
    std::uint32_t removed_count = 0;
};

using Action = std::variant<Deliver, DelayWarning, Expire, Bounce, Removed, Finished>;

// --- Administration ---

enum class QueueError : std::uint8_t { not_found, held };

struct RecipientSnapshot {
    std::uint32_t recipient_index = 0;
    std::string address;
    std::string destination;  // Partner name; empty for no_destination.
    RecipientState state = RecipientState::ready;
    std::uint32_t attempt_count = 0;
    TimeMs next_attempt_ms = 0;  // Meaningful when deferred.
    std::string last_error;
};

struct MessageSnapshot {
    QueueId id;
    std::string sender;
    std::uint64_t arrival_unix_s = 0;
    bool held = false;
    bool delay_warning_sent = false;
    std::vector<RecipientSnapshot> recipients;  // Every recipient still in memory.
};

// Connections to one destination as the scheduler counts them.
struct DestinationLoad {
    std::uint32_t busy_count = 0;   // Deliver actions not yet batch_done().
    std::uint32_t open_count = 0;   // Sockets: connection_opened() minus connection_closed().
    std::uint32_t ready_count = 0;  // Queue entries waiting (may include stale ones).
};

class Scheduler {
public:
    // Precondition: check_config(config) succeeds.
    explicit Scheduler(const Config& config);

    // Adds a destination, or updates the one with the same name (host, port and limit
    // apply to connections started afterwards). Error text if a field is out of bounds or
    // destinations_count_max is reached.
    [[nodiscard]] Result<DestinationId, std::string> set_destination(const DestinationSpec& spec);
    std::optional<DestinationId> find_destination(std::string_view name) const;
    // Precondition: destination came from set_destination().
    const DestinationSpec& destination(DestinationId destination) const;
    DestinationLoad load(DestinationId destination) const;

    // Queues a message. Pending recipients must name a destination from set_destination()
    // (asserted: the engine routes before adding). Errors: see AddError.
    [[nodiscard]] Result<void, AddError> add(MessageInput message, Origin origin, TimeMs now);
    bool full() const { return index_.size() >= config_.messages_max; }
    // How many more messages add() would take now (the engine reserves room for messages
    // whose commit is in flight, so that none is refused after its 250).
    std::size_t room() const { return config_.messages_max - index_.size(); }
    std::size_t message_count() const { return index_.size(); }

    // When tick() next has something to do: now if work is ready and a connection is
    // free (or the last tick ran out of budget), else the earliest timer, else time_never.
    // Capacity freed by batch_done/connection_closed/release/retry_now shows up here.
    TimeMs next_due_ms(TimeMs now) const;
    // Fires due timers (retries become ready, delay warnings, expiry), then hands ready
    // recipients to destinations with free connections, round-robin across destinations.
    // At most actions_per_tick_max actions and due_per_tick_max timers per call.
    std::vector<Action> tick(TimeMs now);

    // Outcome of one item of a Deliver. Every listed recipient must be in_flight (asserted:
    // each is reported once). Temporary failures are deferred with backoff, or expire if
    // the lifetime has passed; permanent ones bounce at once; other recipients of the
    // message are unaffected. Returns Bounce / Expire / Removed / Finished as they apply.
    std::vector<Action> attempt_done(const QueueId& id, std::span<const RecipientResult> results,
                                     TimeMs now);
    // The connection is done with a Deliver (every item reported). Frees its slot.
    void batch_done(DestinationId destination);
    // Socket accounting: open connections, busy or idle in the engine's connection cache,
    // count against Config::connections_max and the destination's limit.
    void connection_opened(DestinationId destination);
    void connection_closed(DestinationId destination);
    // The destination cannot be reached (connect refused, no STARTTLS, bad certificate):
    // every ready recipient for it is deferred with backoff and this text, instead of each
    // waiting message costing another failed connection. In-flight ones are unaffected.
    // Returns how many recipients were deferred.
    std::size_t destination_down(DestinationId destination, std::string_view text, TimeMs now);

    // hubctl. Held messages neither retry, warn nor expire until released; a release after
    // the lifetime expires them at the next tick.
    [[nodiscard]] Result<void, QueueError> hold(const QueueId& id);
    [[nodiscard]] Result<void, QueueError> release(const QueueId& id);
    // Deferred recipients become ready now. Error held for a held message.
    [[nodiscard]] Result<void, QueueError> retry_now(const QueueId& id);
    // Removes every recipient not in flight at once (Removed, and Finished if nothing is in
    // flight); in-flight ones are removed when their attempt_done() reports a failure.
    [[nodiscard]] Result<std::vector<Action>, QueueError> remove(const QueueId& id);
    // O(messages): an administrative snapshot, in no particular order.
    std::vector<MessageSnapshot> list() const;
    std::optional<MessageSnapshot> find(const QueueId& id) const;
    // O(messages) without copying anything (the health counters' queue gauges, asked for
    // on every scrape): calls visit(id, arrival_unix_s, destination_name, waiting) once per
    // message and destination that has recipients not yet final (waiting > 0), a message's
    // calls one after another; destination_name is "" for recipients that route nowhere.
    template <typename Visit>
    void for_each_waiting(Visit&& visit) const {
        for (const Message& message : slots_) {
            if (!message.in_use || message.open_count == 0) {
                continue;
            }
            for (const Group& group : message.groups) {
                std::uint32_t waiting = 0;
                for (std::uint32_t index : group.recipient_indices) {
                    RecipientState state = message.recipients[index].state;
                    waiting += state == RecipientState::delivered ||
                                       state == RecipientState::bounced ||
                                       state == RecipientState::removed
                                   ? 0
                                   : 1;
                }
                if (waiting > 0) {
                    std::string_view name = group.destination == no_destination
                                                ? std::string_view()
                                                : destinations_[group.destination].spec.name;
                    visit(message.id, message.arrival_unix_s, name, waiting);
                }
            }
        }
    }

private:
    struct Recipient {
        std::string address;
        std::string last_error;
        TimeMs next_attempt_ms = 0;
        std::uint32_t attempt_count = 0;
        std::uint32_t group_index = 0;
        DestinationId destination = no_destination;
        RecipientState state = RecipientState::ready;
    };
    // The recipients of a message that go to one destination; the unit of a transaction.
    struct Group {
        DestinationId destination = no_destination;
        bool queued = false;  // An entry for it sits in the destination's ready_ queue.
        std::vector<std::uint32_t> recipient_indices;
    };
    struct Message {
        QueueId id;
        std::string sender;
        std::uint64_t arrival_unix_s = 0;
        TimeMs warn_at_ms = time_never;
        TimeMs expire_at_ms = time_never;
        TimeMs wake_ms = time_never;  // Its key in timers_, or time_never if none.
        std::uint32_t generation = 0;
        std::uint32_t open_count = 0;  // Recipients not final.
        std::uint32_t in_flight_count = 0;
        std::uint32_t delivered_count = 0;
        std::uint32_t bounced_count = 0;
        std::uint32_t removed_count = 0;
        bool in_use = false;
        bool held = false;
        bool removing = false;
        bool warned = false;
        std::vector<Recipient> recipients;
        std::vector<Group> groups;
    };
    struct ReadyEntry {
        std::uint32_t slot = 0;
        std::uint32_t generation = 0;  // Stale if the slot was reused since.
        std::uint32_t group_index = 0;
    };
    struct Destination {
        DestinationSpec spec;
        std::deque<ReadyEntry> ready;  // FIFO; entries go stale lazily (hold, remove).
        bool active = false;           // Listed in active_.
        std::uint32_t busy_count = 0;
        std::uint32_t open_count = 0;
    };
    struct QueueIdHash {
        std::size_t operator()(const QueueId& id) const;
    };

    Message* lookup(const QueueId& id);
    const Message* lookup(const QueueId& id) const;
    std::uint32_t slot_of(const Message& message) const;
    std::uint32_t allocate_slot();
    void free_slot(std::uint32_t slot);
    void fill_recipients(Message& message, std::vector<RecipientInput>& inputs);
    void make_ready(std::uint32_t slot, std::uint32_t recipient_index);
    void defer(Message& message, Recipient& recipient, std::uint64_t delay_ms, TimeMs now);
    std::uint64_t draw_retry_delay_ms(std::uint32_t failed_attempts);
    TimeMs compute_wake(const Message& message) const;
    void refresh_timer(std::uint32_t slot);
    bool finish_if_done(std::uint32_t slot, std::vector<Action>& actions);
    void process_due(std::uint32_t slot, TimeMs now, std::vector<Action>& actions);
    void expire_waiting(Message& message, std::vector<Action>& actions);
    void fire_timers(TimeMs now, std::vector<Action>& actions);
    void dispatch(std::vector<Action>& actions);
    bool can_start(const Destination& destination) const;
    bool entry_live(const ReadyEntry& entry) const;
    std::optional<DeliveryItem> take_item(Destination& destination);
    std::uint32_t destination_limit(const Destination& destination) const;
    std::uint32_t sockets(const Destination& destination) const;
    void activate(DestinationId destination);
    MessageSnapshot snapshot(const Message& message) const;

    Config config_;
    Prng prng_;
    std::vector<Message> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::unordered_map<QueueId, std::uint32_t, QueueIdHash> index_;
    std::set<std::pair<TimeMs, std::uint32_t>> timers_;  // (wake_ms, slot); one per message.
    std::vector<Destination> destinations_;
    std::unordered_map<std::string, DestinationId> destination_index_;
    std::deque<DestinationId> active_;  // Destinations with ready entries, round-robin.
    // Sum over destinations of max(open, busy): sockets that exist or are about to.
    std::uint32_t sockets_count_ = 0;
};

}  // namespace hub::queue
