// scheduler_test.cc -- the delivery scheduler driven by an injected clock.
//
// Method: a FakeEngine plays the engine's part. It jumps the clock straight to
// next_due_ms(), runs tick(), and answers every Deliver at once with outcomes chosen by
// the test, checking on the way that no recipient is handed out twice while in flight and
// that each is delivered at most once. No sleeps, no wall clock: days pass in microseconds.
#include "queue/scheduler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace hub::queue {
namespace {

constexpr TimeMs second_ms = 1000;
constexpr TimeMs minute_ms = 60 * second_ms;
constexpr TimeMs hour_ms = 60 * minute_ms;
constexpr TimeMs day_ms = 24 * hour_ms;
constexpr TimeMs t0 = 1'700'000'000'000;  // Arrival time of most test messages.
constexpr std::uint64_t t0_s = t0 / 1000;

QueueId qid(std::uint32_t n) {
    return QueueId{1, 7, n};
}

std::uint64_t key(const QueueId& id, std::uint32_t recipient_index) {
    return (std::uint64_t{id.ordinal} << 20) | recipient_index;
}

template <typename T>
std::vector<T> only(const std::vector<Action>& actions) {
    std::vector<T> out;
    for (const Action& action : actions) {
        if (const T* a = std::get_if<T>(&action)) {
            out.push_back(*a);
        }
    }
    return out;
}

MessageInput message(std::uint32_t n, std::vector<DestinationId> destinations,
                     std::uint64_t arrival_s = t0_s) {
    MessageInput input;
    input.id = qid(n);
    input.arrival_unix_s = arrival_s;
    input.sender = "alice@partner1.gov.uk.lgolhub.net";
    for (std::size_t i = 0; i < destinations.size(); i++) {
        input.recipients.push_back({fmt::format("user{}@partner2.gov.uk", i), destinations[i],
                                    spool::RecipientStatus::pending});
    }
    return input;
}

// Plays the engine: answers Deliver actions at once, records everything else.
struct FakeEngine {
    using Decide = std::function<Outcome(DestinationId, const QueueId&, std::uint32_t, TimeMs)>;

    FakeEngine(Scheduler& scheduler_in, Decide decide_in)
        : scheduler(scheduler_in), decide(std::move(decide_in)) {}

    Scheduler& scheduler;
    Decide decide;
    TimeMs now = t0;
    std::set<std::uint64_t> in_flight;
    std::map<std::uint64_t, int> delivered;      // Per recipient: how often.
    std::map<std::uint64_t, int> attempted;      // Per recipient: how often in a Deliver.
    std::vector<std::pair<TimeMs, Action>> log;  // Every action but Deliver.
    std::size_t deliver_count = 0;
    std::size_t ticks = 0;

    void handle(std::vector<Action> actions) {
        for (Action& action : actions) {
            if (auto* deliver = std::get_if<Deliver>(&action)) {
                run(*deliver);
            } else {
                log.emplace_back(now, std::move(action));
            }
        }
    }

    void run(const Deliver& deliver) {
        deliver_count++;
        ASSERT_FALSE(deliver.items.empty());
        ASSERT_LE(deliver.items.size(), batch_messages_max);
        for (const DeliveryItem& item : deliver.items) {
            for (std::uint32_t index : item.recipient_indices) {
                ASSERT_TRUE(in_flight.insert(key(item.id, index)).second)
                    << "recipient handed out twice while in flight";
                attempted[key(item.id, index)]++;
            }
        }
        for (const DeliveryItem& item : deliver.items) {
            std::vector<RecipientResult> results;
            for (std::uint32_t index : item.recipient_indices) {
                Outcome outcome = decide(deliver.destination, item.id, index, now);
                results.push_back({index, outcome, "451 4.4.1 partner2 is down"});
                in_flight.erase(key(item.id, index));
                if (outcome == Outcome::delivered) {
                    delivered[key(item.id, index)]++;
                }
            }
            handle(scheduler.attempt_done(item.id, results, now));
        }
        scheduler.batch_done(deliver.destination);
    }

    // Runs every tick due up to and including end; the clock stops at end.
    void run_until(TimeMs end) {
        for (int guard = 0; guard < 1'000'000; guard++) {
            TimeMs due = scheduler.next_due_ms(now);
            if (due > end) {
                now = end;
                return;
            }
            ASSERT_GE(due, now);
            now = due;
            std::vector<Action> actions = scheduler.tick(now);
            ASSERT_LE(actions.size(), actions_per_tick_max);
            ticks++;
            handle(std::move(actions));
        }
        FAIL() << "the scheduler never went idle";
    }

    template <typename T>
    std::vector<std::pair<TimeMs, T>> logged() const {
        std::vector<std::pair<TimeMs, T>> out;
        for (const auto& [when, action] : log) {
            if (const T* a = std::get_if<T>(&action)) {
                out.emplace_back(when, *a);
            }
        }
        return out;
    }
};

Outcome always(Outcome outcome, DestinationId, const QueueId&, std::uint32_t, TimeMs) {
    return outcome;
}

class SchedulerTest : public ::testing::Test {
protected:
    void make(Config config = {}) {
        scheduler_ = std::make_unique<Scheduler>(config);
        p1_ = *scheduler_->set_destination({"partner1", "127.0.0.1", 10025, 0});
        p2_ = *scheduler_->set_destination({"partner2", "127.0.0.1", 10026, 0});
    }
    void SetUp() override { make(); }
    Scheduler& s() { return *scheduler_; }
    void add(std::uint32_t n, std::vector<DestinationId> destinations, TimeMs now = t0) {
        ASSERT_TRUE(s().add(message(n, std::move(destinations)), Origin::received, now));
    }
    RecipientSnapshot recipient(std::uint32_t n, std::uint32_t index) {
        std::optional<MessageSnapshot> snapshot = s().find(qid(n));
        EXPECT_TRUE(snapshot.has_value());
        return snapshot ? snapshot->recipients.at(index) : RecipientSnapshot{};
    }

    std::unique_ptr<Scheduler> scheduler_;
    DestinationId p1_ = 0;
    DestinationId p2_ = 0;
};

// --- Configuration and add() ---

TEST_F(SchedulerTest, ConfigRanges) {
    EXPECT_TRUE(check_config(Config{}));
    Config bad;
    bad.retry_delay_s_max = bad.retry_delay_s_min - 1;
    EXPECT_EQ(check_config(bad).error(), "retry_delay_s_max = 299 is outside 300..86400");
    bad = Config{};
    bad.delay_warning_s = bad.lifetime_s;
    EXPECT_FALSE(check_config(bad));
    bad = Config{};
    bad.jitter_percent = 60;
    EXPECT_FALSE(check_config(bad));
    bad = Config{};
    bad.destination_connections_max = bad.connections_max + 1;
    EXPECT_FALSE(check_config(bad));
    bad = Config{};
    bad.delay_warning_s = 0;  // Never warn.
    EXPECT_TRUE(check_config(bad));
}

TEST_F(SchedulerTest, Destinations) {
    EXPECT_EQ(s().find_destination("partner2"), p2_);
    EXPECT_FALSE(s().find_destination("partner3"));
    auto again = s().set_destination({"partner2", "127.0.0.2", 25, 3});
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, p2_);
    EXPECT_EQ(s().destination(p2_).host, "127.0.0.2");
    EXPECT_FALSE(s().set_destination({"", "127.0.0.1", 25, 0}));
    EXPECT_FALSE(s().set_destination({"x", "", 25, 0}));
    EXPECT_FALSE(s().set_destination({std::string(65, 'x'), "127.0.0.1", 25, 0}));
}

TEST_F(SchedulerTest, AddErrors) {
    Config config;
    config.messages_max = 2;
    make(config);
    add(1, {p1_});
    EXPECT_EQ(s().add(message(1, {p1_}), Origin::received, t0).error(), AddError::duplicate_id);
    EXPECT_EQ(s().add(message(2, {}), Origin::received, t0).error(), AddError::bad_recipients);
    MessageInput done = message(3, {p1_, p1_});
    done.recipients[0].status = spool::RecipientStatus::delivered;
    done.recipients[1].status = spool::RecipientStatus::bounced;
    EXPECT_EQ(s().add(done, Origin::received, t0).error(), AddError::nothing_pending);
    add(4, {p1_});
    EXPECT_TRUE(s().full());
    EXPECT_EQ(s().add(message(5, {p1_}), Origin::received, t0).error(), AddError::queue_full);
    EXPECT_EQ(s().message_count(), 2u);
}

// --- Delivery and retries ---

TEST_F(SchedulerTest, NewMessageIsDeliveredAtOnceAndFinishes) {
    add(1, {p1_, p2_, p1_});
    EXPECT_EQ(s().next_due_ms(t0), t0);
    std::vector<Action> actions = s().tick(t0);
    std::vector<Deliver> delivers = only<Deliver>(actions);
    ASSERT_EQ(delivers.size(), 2u);  // One per destination.
    EXPECT_EQ(delivers[0].destination, p1_);
    EXPECT_EQ(delivers[0].items.at(0).recipient_indices, (std::vector<std::uint32_t>{0, 2}));
    EXPECT_EQ(delivers[1].destination, p2_);
    EXPECT_EQ(delivers[1].items.at(0).recipient_indices, (std::vector<std::uint32_t>{1}));
    EXPECT_EQ(recipient(1, 0).state, RecipientState::in_flight);
    EXPECT_TRUE(s().tick(t0).empty());  // Nothing handed out twice.

    RecipientResult ok[] = {{0, Outcome::delivered, "250 ok"}, {2, Outcome::delivered, "250"}};
    EXPECT_TRUE(s().attempt_done(qid(1), ok, t0 + 10).empty());
    RecipientResult ok2[] = {{1, Outcome::delivered, "250 ok"}};
    std::vector<Finished> finished = only<Finished>(s().attempt_done(qid(1), ok2, t0 + 20));
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].id, qid(1));
    EXPECT_EQ(finished[0].delivered_count, 3u);
    EXPECT_EQ(s().message_count(), 0u);
    s().batch_done(p1_);
    s().batch_done(p2_);
    EXPECT_EQ(s().next_due_ms(t0 + 20), time_never);
}

TEST_F(SchedulerTest, BackoffSequenceWithinJitter) {
    add(1, {p1_});
    FakeEngine engine{s(), std::bind_front(always, Outcome::temp_fail)};
    const TimeMs expected_min[] = {5, 10, 20, 40, 60, 60};
    TimeMs last_attempt = t0;
    engine.run_until(t0);  // The first attempt, at once.
    for (TimeMs delay_min : expected_min) {
        RecipientSnapshot r = recipient(1, 0);
        ASSERT_EQ(r.state, RecipientState::deferred);
        EXPECT_EQ(r.last_error, "451 4.4.1 partner2 is down");
        TimeMs delay = r.next_attempt_ms - last_attempt;
        EXPECT_GE(delay, delay_min * minute_ms * 9 / 10) << delay_min;
        EXPECT_LE(delay, delay_min * minute_ms * 11 / 10) << delay_min;
        // Nothing happens a millisecond early; the retry happens exactly on time.
        engine.run_until(r.next_attempt_ms - 1);
        EXPECT_EQ(recipient(1, 0).attempt_count, r.attempt_count);
        engine.run_until(r.next_attempt_ms);
        EXPECT_EQ(recipient(1, 0).attempt_count, r.attempt_count + 1);
        last_attempt = r.next_attempt_ms;
    }
    EXPECT_EQ(engine.attempted[key(qid(1), 0)], 7);
}

std::vector<TimeMs> retry_times(std::uint64_t seed) {
    Config config;
    config.seed = seed;
    Scheduler scheduler(config);
    DestinationId p = *scheduler.set_destination({"partner1", "127.0.0.1", 25, 0});
    for (std::uint32_t n = 0; n < 20; n++) {
        EXPECT_TRUE(scheduler.add(message(n, {p}), Origin::received, t0));
    }
    FakeEngine engine{scheduler, std::bind_front(always, Outcome::temp_fail)};
    engine.run_until(t0 + 3 * hour_ms);
    std::vector<TimeMs> out;
    for (const MessageSnapshot& m : scheduler.list()) {
        out.push_back(m.recipients[0].next_attempt_ms);
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST_F(SchedulerTest, DeterministicWithASeed) {
    EXPECT_EQ(retry_times(99), retry_times(99));
    EXPECT_NE(retry_times(99), retry_times(100));
}

TEST_F(SchedulerTest, DelayWarningExactlyOnceAfterFourHours) {
    add(1, {p1_, p2_});
    // partner2 is down; partner1 takes its copy at once.
    FakeEngine engine{s(), [&](DestinationId d, const QueueId&, std::uint32_t, TimeMs) {
                          return d == p2_ ? Outcome::temp_fail : Outcome::delivered;
                      }};
    engine.run_until(t0 + 4 * hour_ms - 1);
    EXPECT_TRUE(engine.logged<DelayWarning>().empty());
    engine.run_until(t0 + 2 * day_ms);
    auto warnings = engine.logged<DelayWarning>();
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].first, t0 + 4 * hour_ms);
    ASSERT_EQ(warnings[0].second.recipients.size(), 1u);  // Only the undelivered one.
    EXPECT_EQ(warnings[0].second.recipients[0].recipient_index, 1u);
    EXPECT_EQ(warnings[0].second.recipients[0].last_error, "451 4.4.1 partner2 is down");
    EXPECT_TRUE(s().find(qid(1))->delay_warning_sent);
    EXPECT_TRUE(engine.logged<Expire>().empty());
}

TEST_F(SchedulerTest, NoDelayWarningWhenDisabled) {
    Config config;
    config.delay_warning_s = 0;
    make(config);
    add(1, {p1_});
    FakeEngine engine{s(), std::bind_front(always, Outcome::temp_fail)};
    engine.run_until(t0 + 6 * day_ms);
    EXPECT_TRUE(engine.logged<DelayWarning>().empty());
    EXPECT_EQ(engine.logged<Expire>().size(), 1u);
}

TEST_F(SchedulerTest, ExpiryAtLifetimeOnce) {
    Config config;
    config.lifetime_s = 2 * 3600;
    config.delay_warning_s = 3600;
    make(config);
    add(1, {p1_, p1_, p2_});
    FakeEngine engine{s(), [&](DestinationId d, const QueueId&, std::uint32_t, TimeMs) {
                          return d == p1_ ? Outcome::temp_fail : Outcome::delivered;
                      }};
    engine.run_until(t0 + 2 * hour_ms - 1);
    EXPECT_TRUE(engine.logged<Expire>().empty());
    EXPECT_EQ(engine.logged<DelayWarning>().size(), 1u);
    engine.run_until(t0 + 30 * day_ms);
    auto expires = engine.logged<Expire>();
    ASSERT_EQ(expires.size(), 1u);
    EXPECT_EQ(expires[0].first, t0 + 2 * hour_ms);
    ASSERT_EQ(expires[0].second.recipients.size(), 2u);
    EXPECT_EQ(expires[0].second.recipients[0].recipient_index, 0u);
    EXPECT_EQ(expires[0].second.recipients[1].recipient_index, 1u);
    EXPECT_EQ(expires[0].second.recipients[1].last_error, "451 4.4.1 partner2 is down");
    auto finished = engine.logged<Finished>();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].second.delivered_count, 1u);
    EXPECT_EQ(finished[0].second.bounced_count, 2u);
    EXPECT_EQ(s().message_count(), 0u);
    EXPECT_EQ(engine.logged<DelayWarning>().size(), 1u);
}

TEST_F(SchedulerTest, InFlightRecipientExpiresWhenItComesBack) {
    Config config;
    config.lifetime_s = 3600;
    config.delay_warning_s = 0;
    make(config);
    add(1, {p1_});
    ASSERT_EQ(only<Deliver>(s().tick(t0 + hour_ms - 1)).size(), 1u);
    EXPECT_TRUE(s().tick(t0 + hour_ms).empty());  // In flight: not expired under its feet.
    RecipientResult fail[] = {{0, Outcome::temp_fail, "421 busy"}};
    std::vector<Action> actions = s().attempt_done(qid(1), fail, t0 + hour_ms + 5);
    ASSERT_EQ(only<Expire>(actions).size(), 1u);
    EXPECT_EQ(only<Expire>(actions)[0].recipients[0].last_error, "421 busy");
    EXPECT_EQ(only<Finished>(actions).size(), 1u);
}

TEST_F(SchedulerTest, PermanentFailureBouncesAtOnceOthersUnaffected) {
    add(1, {p1_, p1_, p1_});
    ASSERT_EQ(only<Deliver>(s().tick(t0)).size(), 1u);
    RecipientResult results[] = {{0, Outcome::perm_fail, "550 5.1.1 no such user"},
                                 {1, Outcome::temp_fail, "452 4.2.2 mailbox full"},
                                 {2, Outcome::delivered, "250 ok"}};
    std::vector<Action> actions = s().attempt_done(qid(1), results, t0 + 1);
    ASSERT_EQ(actions.size(), 1u);
    std::vector<Bounce> bounces = only<Bounce>(actions);
    ASSERT_EQ(bounces.size(), 1u);
    ASSERT_EQ(bounces[0].recipients.size(), 1u);
    EXPECT_EQ(bounces[0].recipients[0].recipient_index, 0u);
    EXPECT_EQ(bounces[0].recipients[0].last_error, "550 5.1.1 no such user");
    EXPECT_EQ(recipient(1, 0).state, RecipientState::bounced);
    EXPECT_EQ(recipient(1, 1).state, RecipientState::deferred);
    EXPECT_EQ(recipient(1, 2).state, RecipientState::delivered);
    s().batch_done(p1_);

    FakeEngine engine{s(), std::bind_front(always, Outcome::delivered)};
    engine.now = t0 + 1;
    engine.run_until(t0 + hour_ms);
    EXPECT_EQ(engine.attempted[key(qid(1), 1)], 1);
    EXPECT_EQ(engine.attempted.size(), 1u);  // Neither the bounced nor the delivered one.
    auto finished = engine.logged<Finished>();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].second.delivered_count, 2u);
    EXPECT_EQ(finished[0].second.bounced_count, 1u);
}

TEST_F(SchedulerTest, LargeMessageSplitsIntoTransactionsOfAHundred) {
    add(1, std::vector<DestinationId>(250, p1_));
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 1u);
    ASSERT_EQ(delivers[0].items.size(), 3u);
    EXPECT_EQ(delivers[0].items[0].recipient_indices.size(), 100u);
    EXPECT_EQ(delivers[0].items[1].recipient_indices.size(), 100u);
    EXPECT_EQ(delivers[0].items[2].recipient_indices.size(), 50u);
    EXPECT_EQ(delivers[0].items[2].recipient_indices.back(), 249u);
}

// --- Concurrency ---

TEST_F(SchedulerTest, DestinationConcurrencyLimit) {
    ASSERT_TRUE(s().set_destination({"partner1", "127.0.0.1", 10025, 3}));
    for (std::uint32_t n = 0; n < 100; n++) {
        add(n, {p1_});
    }
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 3u);
    for (const Deliver& d : delivers) {
        EXPECT_EQ(d.items.size(), batch_messages_max);
    }
    EXPECT_EQ(s().load(p1_).busy_count, 3u);
    // Blocked until a connection frees; only the delay warnings are scheduled.
    EXPECT_EQ(s().next_due_ms(t0), t0 + 4 * hour_ms);
    EXPECT_TRUE(s().tick(t0).empty());
    for (const DeliveryItem& item : delivers[0].items) {
        RecipientResult ok[] = {{0, Outcome::delivered, "250"}};
        (void)s().attempt_done(item.id, ok, t0);
    }
    s().batch_done(p1_);
    EXPECT_EQ(s().next_due_ms(t0 + 5), t0 + 5);
    EXPECT_EQ(only<Deliver>(s().tick(t0 + 5)).size(), 1u);
}

TEST_F(SchedulerTest, OverallConcurrencyLimitCountsIdleSockets) {
    Config config;
    config.connections_max = 5;
    config.destination_connections_max = 3;
    make(config);
    // partner1 has six batches' worth, partner2 more than it can take.
    for (std::uint32_t n = 0; n < 240; n++) {
        add(n, {n < 120 ? p1_ : p2_});
    }
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 5u);  // Round-robin: p1, p2, p1, p2, p1; p2 is then stuck.
    EXPECT_EQ(s().load(p1_).busy_count, 3u);
    EXPECT_EQ(s().load(p2_).busy_count, 2u);
    // The engine opens a socket for each; p1's three finish and stay idle in its cache.
    for (int i = 0; i < 3; i++) {
        s().connection_opened(p1_);
    }
    s().connection_opened(p2_);
    s().connection_opened(p2_);
    for (const Deliver& d : delivers) {
        if (d.destination != p1_) {
            continue;
        }
        for (const DeliveryItem& item : d.items) {
            RecipientResult ok[] = {{0, Outcome::delivered, "250"}};
            (void)s().attempt_done(item.id, ok, t0);
        }
        s().batch_done(p1_);
    }
    // p1 reuses its idle sockets; p2 may not open a third while five sockets exist.
    delivers = only<Deliver>(s().tick(t0 + 1));
    ASSERT_EQ(delivers.size(), 3u);
    for (const Deliver& d : delivers) {
        EXPECT_EQ(d.destination, p1_);
    }
    EXPECT_TRUE(s().tick(t0 + 1).empty());
    // partner1's queue is empty; it closes a socket after a batch: p2 may open its third.
    s().batch_done(p1_);
    s().connection_closed(p1_);
    delivers = only<Deliver>(s().tick(t0 + 2));
    ASSERT_EQ(delivers.size(), 1u);
    EXPECT_EQ(delivers[0].destination, p2_);
}

// --- Administration ---

TEST_F(SchedulerTest, HoldStopsDeliveryReleaseResumes) {
    add(1, {p1_});
    add(2, {p1_});
    ASSERT_TRUE(s().hold(qid(1)));
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 1u);
    ASSERT_EQ(delivers[0].items.size(), 1u);
    EXPECT_EQ(delivers[0].items[0].id, qid(2));
    RecipientResult ok[] = {{0, Outcome::delivered, "250"}};
    EXPECT_EQ(only<Finished>(s().attempt_done(qid(2), ok, t0)).size(), 1u);
    s().batch_done(p1_);
    EXPECT_EQ(recipient(1, 0).state, RecipientState::held);
    EXPECT_TRUE(s().find(qid(1))->held);

    // Held mail neither warns nor expires, however long it waits.
    FakeEngine engine{s(), std::bind_front(always, Outcome::delivered)};
    engine.run_until(t0 + 10 * day_ms);
    EXPECT_EQ(engine.deliver_count, 0u);
    EXPECT_TRUE(engine.log.empty());

    ASSERT_TRUE(s().release(qid(1)));
    engine.run_until(t0 + 10 * day_ms);  // Released after its lifetime: it expires now.
    ASSERT_EQ(engine.logged<Expire>().size(), 1u);
    EXPECT_EQ(engine.deliver_count, 0u);
    EXPECT_EQ(s().hold(qid(1)).error(), QueueError::not_found);
}

TEST_F(SchedulerTest, ReleaseWithinLifetimeDelivers) {
    add(1, {p1_});
    ASSERT_TRUE(s().hold(qid(1)));
    EXPECT_TRUE(s().tick(t0).empty());
    ASSERT_TRUE(s().release(qid(1)));
    ASSERT_TRUE(s().release(qid(1)));  // Releasing twice is harmless.
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0 + minute_ms));
    ASSERT_EQ(delivers.size(), 1u);
    EXPECT_EQ(delivers[0].items.size(), 1u);  // One entry, not two.
}

TEST_F(SchedulerTest, HoldWhileInFlightHoldsOnTemporaryFailure) {
    add(1, {p1_});
    ASSERT_EQ(only<Deliver>(s().tick(t0)).size(), 1u);
    ASSERT_TRUE(s().hold(qid(1)));
    RecipientResult fail[] = {{0, Outcome::temp_fail, "421 later"}};
    EXPECT_TRUE(s().attempt_done(qid(1), fail, t0 + 1).empty());
    EXPECT_EQ(recipient(1, 0).state, RecipientState::held);
    EXPECT_EQ(recipient(1, 0).last_error, "421 later");
}

TEST_F(SchedulerTest, RetryNowMakesDueNow) {
    add(1, {p1_});
    FakeEngine engine{s(), std::bind_front(always, Outcome::temp_fail)};
    engine.run_until(t0 + minute_ms);
    EXPECT_EQ(engine.deliver_count, 1u);
    EXPECT_GT(s().next_due_ms(engine.now), engine.now);
    ASSERT_TRUE(s().retry_now(qid(1)));
    EXPECT_EQ(recipient(1, 0).state, RecipientState::ready);
    EXPECT_EQ(s().next_due_ms(engine.now), engine.now);
    engine.run_until(engine.now);
    EXPECT_EQ(engine.deliver_count, 2u);
    EXPECT_EQ(recipient(1, 0).attempt_count, 2u);
    EXPECT_EQ(s().retry_now(qid(9)).error(), QueueError::not_found);
    ASSERT_TRUE(s().hold(qid(1)));
    EXPECT_EQ(s().retry_now(qid(1)).error(), QueueError::held);
}

TEST_F(SchedulerTest, RemoveReportsRecipients) {
    add(1, {p1_, p2_, p2_});
    RecipientResult first[] = {{0, Outcome::delivered, "250"}};
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 2u);
    (void)s().attempt_done(qid(1), first, t0);
    RecipientResult second[] = {{1, Outcome::temp_fail, "451"}, {2, Outcome::temp_fail, "451"}};
    (void)s().attempt_done(qid(1), second, t0);
    auto removed = s().remove(qid(1));
    ASSERT_TRUE(removed);
    ASSERT_EQ(removed->size(), 2u);
    std::vector<Removed> r = only<Removed>(*removed);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].recipient_indices, (std::vector<std::uint32_t>{1, 2}));
    std::vector<Finished> finished = only<Finished>(*removed);
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].delivered_count, 1u);
    EXPECT_EQ(finished[0].removed_count, 2u);
    EXPECT_FALSE(s().find(qid(1)));
    EXPECT_EQ(s().remove(qid(1)).error(), QueueError::not_found);
    EXPECT_EQ(s().next_due_ms(t0), time_never);
}

TEST_F(SchedulerTest, RemoveWhileInFlightFinishesWhenItComesBack) {
    add(1, {p1_, p2_});
    ASSERT_EQ(only<Deliver>(s().tick(t0)).size(), 2u);
    auto removed = s().remove(qid(1));
    ASSERT_TRUE(removed);
    EXPECT_TRUE(removed->empty());  // Both in flight.
    RecipientResult ok[] = {{0, Outcome::delivered, "250"}};
    EXPECT_TRUE(s().attempt_done(qid(1), ok, t0 + 1).empty());
    RecipientResult fail[] = {{1, Outcome::temp_fail, "451"}};
    std::vector<Action> actions = s().attempt_done(qid(1), fail, t0 + 2);
    ASSERT_EQ(only<Removed>(actions).size(), 1u);
    EXPECT_EQ(only<Removed>(actions)[0].recipient_indices, (std::vector<std::uint32_t>{1}));
    ASSERT_EQ(only<Finished>(actions).size(), 1u);
    EXPECT_EQ(only<Finished>(actions)[0].removed_count, 1u);
}

TEST_F(SchedulerTest, ListShowsStates) {
    add(1, {p1_, p2_});
    (void)s().tick(t0);
    RecipientResult fail[] = {{1, Outcome::temp_fail, "451 4.4.1 down"}};
    (void)s().attempt_done(qid(1), fail, t0 + 1);
    std::vector<MessageSnapshot> list = s().list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].id, qid(1));
    EXPECT_EQ(list[0].sender, "alice@partner1.gov.uk.lgolhub.net");
    EXPECT_EQ(list[0].arrival_unix_s, t0_s);
    ASSERT_EQ(list[0].recipients.size(), 2u);
    const RecipientSnapshot& a = list[0].recipients[0];
    EXPECT_EQ(a.address, "user0@partner2.gov.uk");
    EXPECT_EQ(a.destination, "partner1");
    EXPECT_EQ(a.state, RecipientState::in_flight);
    const RecipientSnapshot& b = list[0].recipients[1];
    EXPECT_EQ(b.destination, "partner2");
    EXPECT_EQ(to_string(b.state), "deferred");
    EXPECT_EQ(b.attempt_count, 1u);
    EXPECT_GE(b.next_attempt_ms, t0 + 1 + 4 * minute_ms + 30 * second_ms);
    EXPECT_EQ(b.last_error, "451 4.4.1 down");
}

// The health counters' view: per message and destination, the recipients not yet final.
TEST_F(SchedulerTest, ForEachWaitingCountsWhatIsNotFinal) {
    add(1, {p1_, p2_, p2_});
    add(2, {p1_});
    (void)s().tick(t0);
    RecipientResult results[] = {{0, Outcome::delivered, "250 ok"},
                                 {1, Outcome::temp_fail, "451 4.4.1 down"}};
    (void)s().attempt_done(qid(1), results, t0 + 1);
    std::vector<std::string> seen;
    s().for_each_waiting([&](const QueueId& id, std::uint64_t arrival_unix_s,
                             std::string_view destination, std::uint32_t waiting) {
        EXPECT_EQ(arrival_unix_s, t0_s);
        seen.push_back(id.to_string() + " " + std::string(destination) + " " +
                       std::to_string(waiting));
    });
    std::sort(seen.begin(), seen.end());
    // Message 1: partner1's copy delivered, both of partner2's waiting; message 2 in flight.
    EXPECT_EQ(seen, (std::vector<std::string>{qid(1).to_string() + " partner2 2",
                                              qid(2).to_string() + " partner1 1"}));
}

TEST_F(SchedulerTest, LastErrorIsBounded) {
    add(1, {p1_});
    (void)s().tick(t0);
    std::string huge(100'000, 'x');
    RecipientResult fail[] = {{0, Outcome::temp_fail, huge}};
    (void)s().attempt_done(qid(1), fail, t0);
    EXPECT_EQ(recipient(1, 0).last_error.size(), last_error_bytes_max);
}

// --- Partner down (end to end in relay_postfix.sh; here the scheduler's half) ---

TEST_F(SchedulerTest, PartnerDownThenBackEachRecipientDeliveredOnce) {
    for (std::uint32_t n = 0; n < 10; n++) {
        add(n, {p2_, p2_});
    }
    bool partner_up = false;
    FakeEngine engine{s(), [&](DestinationId, const QueueId&, std::uint32_t, TimeMs) {
                          return partner_up ? Outcome::delivered : Outcome::temp_fail;
                      }};
    engine.run_until(t0 + 3 * hour_ms);
    EXPECT_TRUE(engine.delivered.empty());
    EXPECT_GE(engine.deliver_count, 5u);  // Retried: t0, +5, +15, +35, +75, +135 min.
    for (const MessageSnapshot& m : s().list()) {
        for (const RecipientSnapshot& r : m.recipients) {
            EXPECT_EQ(r.state, RecipientState::deferred);
            EXPECT_GE(r.attempt_count, 5u);
        }
    }
    partner_up = true;
    engine.run_until(t0 + 5 * hour_ms);
    EXPECT_EQ(s().message_count(), 0u);
    ASSERT_EQ(engine.delivered.size(), 20u);
    for (const auto& [recipient_key, count] : engine.delivered) {
        EXPECT_EQ(count, 1) << recipient_key;
    }
    EXPECT_EQ(engine.logged<Finished>().size(), 10u);
    EXPECT_TRUE(engine.logged<Expire>().empty());
    EXPECT_TRUE(engine.logged<Bounce>().empty());
}

TEST_F(SchedulerTest, DestinationDownDefersTheWholeQueueAtOnce) {
    ASSERT_TRUE(s().set_destination({"partner2", "127.0.0.1", 10026, 1}));
    for (std::uint32_t n = 0; n < 100; n++) {
        add(n, {p2_});
    }
    add(100, {p1_});
    std::vector<Deliver> delivers = only<Deliver>(s().tick(t0));
    ASSERT_EQ(delivers.size(), 2u);
    // The connection to partner2 is refused: its batch fails, and so does the rest.
    for (const DeliveryItem& item :
         delivers[0].destination == p2_ ? delivers[0].items : delivers[1].items) {
        RecipientResult fail[] = {{0, Outcome::temp_fail, "connect refused"}};
        (void)s().attempt_done(item.id, fail, t0);
    }
    EXPECT_EQ(s().destination_down(p2_, "connect to 127.0.0.1:10026: refused", t0), 80u);
    s().batch_done(p2_);
    EXPECT_EQ(s().load(p2_).ready_count, 0u);
    EXPECT_TRUE(only<Deliver>(s().tick(t0)).empty());
    EXPECT_EQ(recipient(99, 0).last_error, "connect to 127.0.0.1:10026: refused");
    EXPECT_EQ(recipient(99, 0).attempt_count, 1u);
    EXPECT_EQ(recipient(100, 0).state, RecipientState::in_flight);  // partner1 unaffected.
    // Retries come back spread by jitter over 4.5 .. 5.5 minutes.
    TimeMs due = s().next_due_ms(t0);
    EXPECT_GE(due, t0 + 4 * minute_ms + 30 * second_ms);
    EXPECT_LE(due, t0 + 5 * minute_ms + 30 * second_ms);
}

// --- Restart ---

spool::RecoveredMessage recovered(std::uint32_t n, std::uint64_t arrival_s,
                                  std::vector<spool::RecipientStatus> statuses) {
    spool::RecoveredMessage m;
    m.meta.id = qid(n);
    m.meta.arrival_unix_s = arrival_s;
    m.meta.envelope.mail_from = "bob@partner1.gov.uk.lgolhub.net";
    for (std::size_t i = 0; i < statuses.size(); i++) {
        m.meta.envelope.recipients.push_back({fmt::format("r{}@partner2.gov.uk", i), 0, ""});
    }
    m.recipient_status = std::move(statuses);
    return m;
}

TEST_F(SchedulerTest, RestartFromRecoveredStatuses) {
    using spool::RecipientStatus;
    TimeMs now = t0 + 5 * hour_ms;  // The hub restarts five hours after the arrival.
    spool::RecoveredMessage m = recovered(
        1, t0_s, {RecipientStatus::delivered, RecipientStatus::pending, RecipientStatus::bounced});
    DestinationId routes[] = {no_destination, p2_, no_destination};
    ASSERT_TRUE(s().add(input_from_recovered(m, routes), Origin::recovered, now));
    std::optional<MessageSnapshot> snapshot = s().find(qid(1));
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->sender, "bob@partner1.gov.uk.lgolhub.net");
    EXPECT_TRUE(snapshot->delay_warning_sent);  // Its time passed before the restart.
    EXPECT_EQ(snapshot->recipients[0].state, RecipientState::delivered);
    EXPECT_EQ(snapshot->recipients[1].state, RecipientState::deferred);
    EXPECT_EQ(snapshot->recipients[1].address, "r1@partner2.gov.uk");
    EXPECT_EQ(snapshot->recipients[2].state, RecipientState::bounced);
    EXPECT_LE(snapshot->recipients[1].next_attempt_ms, now + 60 * second_ms);

    FakeEngine engine{s(), std::bind_front(always, Outcome::delivered)};
    engine.now = now;
    engine.run_until(now + minute_ms);
    EXPECT_EQ(engine.attempted.size(), 1u);  // Only the pending one is tried.
    EXPECT_EQ(engine.attempted[key(qid(1), 1)], 1);
    auto finished = engine.logged<Finished>();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].second.delivered_count, 2u);
    EXPECT_EQ(finished[0].second.bounced_count, 1u);
    EXPECT_TRUE(engine.logged<DelayWarning>().empty());
}

TEST_F(SchedulerTest, RecoveredHoldStaysHeldUntilReleased) {
    using spool::RecipientStatus;
    TimeMs now = t0 + hour_ms;
    spool::RecoveredMessage m = recovered(
        1, t0_s, {RecipientStatus::delivered, RecipientStatus::pending, RecipientStatus::pending});
    m.held = true;  // A durable "held" message_status record, as recovery reports it.
    DestinationId routes[] = {no_destination, p2_, p1_};
    MessageInput input = input_from_recovered(m, routes);
    EXPECT_TRUE(input.held);
    ASSERT_TRUE(s().add(std::move(input), Origin::recovered, now));
    std::optional<MessageSnapshot> snapshot = s().find(qid(1));
    ASSERT_TRUE(snapshot);
    EXPECT_TRUE(snapshot->held);
    EXPECT_EQ(snapshot->recipients[0].state, RecipientState::delivered);
    EXPECT_EQ(snapshot->recipients[1].state, RecipientState::held);
    EXPECT_EQ(snapshot->recipients[2].state, RecipientState::held);
    EXPECT_EQ(s().next_due_ms(now), time_never);  // No timer: no retry, warning or expiry.
    EXPECT_EQ(s().retry_now(qid(1)).error(), QueueError::held);

    FakeEngine engine{s(), std::bind_front(always, Outcome::delivered)};
    engine.now = now;
    engine.run_until(now + 2 * day_ms);
    EXPECT_EQ(engine.deliver_count, 0u);
    EXPECT_TRUE(engine.log.empty());

    ASSERT_TRUE(s().release(qid(1)));
    engine.run_until(now + 2 * day_ms + minute_ms);
    EXPECT_EQ(engine.attempted[key(qid(1), 1)], 1);  // Each pending recipient once.
    EXPECT_EQ(engine.attempted[key(qid(1), 2)], 1);
    EXPECT_EQ(engine.attempted.count(key(qid(1), 0)), 0u);
    auto finished = engine.logged<Finished>();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].second.delivered_count, 3u);
}

TEST_F(SchedulerTest, RecoveredHoldCanBeRemoved) {
    using spool::RecipientStatus;
    spool::RecoveredMessage m = recovered(1, t0_s, {RecipientStatus::pending});
    m.held = true;
    DestinationId routes[] = {p1_};
    ASSERT_TRUE(s().add(input_from_recovered(m, routes), Origin::recovered, t0));
    auto removed = s().remove(qid(1));
    ASSERT_TRUE(removed);
    ASSERT_EQ(only<Removed>(*removed).size(), 1u);
    EXPECT_EQ(only<Finished>(*removed).size(), 1u);
    EXPECT_FALSE(s().find(qid(1)));
    EXPECT_EQ(s().message_count(), 0u);
}

TEST_F(SchedulerTest, RoomCountsDownToFull) {
    Config config;
    config.messages_max = 2;
    make(config);
    EXPECT_EQ(s().room(), 2u);
    add(1, {p1_});
    EXPECT_EQ(s().room(), 1u);
    add(2, {p1_});
    EXPECT_EQ(s().room(), 0u);
    EXPECT_TRUE(s().full());
    EXPECT_EQ(s().add(message(3, {p1_}), Origin::received, t0).error(), AddError::queue_full);
}

TEST_F(SchedulerTest, RestartSpreadsRecoveredMessages) {
    using spool::RecipientStatus;
    Config config;
    config.destination_connections_max = 100;
    make(config);
    DestinationId routes[] = {p1_};
    for (std::uint32_t n = 0; n < 600; n++) {
        spool::RecoveredMessage m = recovered(n, t0_s, {RecipientStatus::pending});
        ASSERT_TRUE(s().add(input_from_recovered(m, routes), Origin::recovered, t0 + minute_ms));
    }
    FakeEngine engine{s(), std::bind_front(always, Outcome::delivered)};
    engine.now = t0 + minute_ms;
    std::map<TimeMs, std::size_t> per_second;
    std::vector<std::pair<TimeMs, std::size_t>> seen;
    while (s().message_count() > 0) {
        std::size_t before = engine.delivered.size();
        TimeMs due = s().next_due_ms(engine.now);
        ASSERT_LE(due, t0 + 2 * minute_ms);
        engine.run_until(due);
        per_second[(engine.now - t0 - minute_ms) / second_ms] += engine.delivered.size() - before;
    }
    EXPECT_EQ(engine.delivered.size(), 600u);
    // Spread over the minute: about ten a second, never a stampede.
    EXPECT_GE(per_second.size(), 55u);
    for (const auto& [second, count] : per_second) {
        EXPECT_LE(count, 40u) << second;
    }
    EXPECT_TRUE(engine.logged<DelayWarning>().empty());
}

TEST_F(SchedulerTest, RecoveredBeforeWarningTimeStillWarns) {
    using spool::RecipientStatus;
    DestinationId routes[] = {p1_};
    spool::RecoveredMessage m = recovered(1, t0_s, {RecipientStatus::pending});
    ASSERT_TRUE(s().add(input_from_recovered(m, routes), Origin::recovered, t0 + hour_ms));
    FakeEngine engine{s(), std::bind_front(always, Outcome::temp_fail)};
    engine.now = t0 + hour_ms;
    engine.run_until(t0 + 5 * hour_ms);
    auto warnings = engine.logged<DelayWarning>();
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].first, t0 + 4 * hour_ms);
}

// --- Bounds ---

TEST_F(SchedulerTest, LargeQueueTickStaysBounded) {
    Config config;
    config.connections_max = connections_max;
    config.destination_connections_max = 10;
    make(config);
    std::vector<DestinationId> destinations;
    for (int i = 0; i < 1000; i++) {
        destinations.push_back(*s().set_destination({fmt::format("p{}", i), "127.0.0.1", 25, 0}));
    }
    for (std::uint32_t n = 0; n < 10'000; n++) {
        add(n, {destinations[n % destinations.size()]});
    }
    std::set<std::uint64_t> handed_out;
    std::size_t ticks = 0;
    while (handed_out.size() < 10'000) {
        std::vector<Action> actions = s().tick(t0);
        ASSERT_LE(actions.size(), actions_per_tick_max);
        ASSERT_FALSE(actions.empty());
        for (const Deliver& d : only<Deliver>(actions)) {
            for (const DeliveryItem& item : d.items) {
                ASSERT_TRUE(handed_out.insert(key(item.id, 0)).second);
            }
        }
        ticks++;
    }
    // 1,000 Deliver actions (one per destination, ten messages each), 256 per tick.
    EXPECT_EQ(ticks, (1000 + actions_per_tick_max - 1) / actions_per_tick_max);
    EXPECT_TRUE(s().tick(t0).empty());
}

TEST_F(SchedulerTest, LargeQueueExpiringAtOnceStaysBounded) {
    Config config;
    config.lifetime_s = 3600;
    config.delay_warning_s = 0;
    make(config);
    for (std::uint32_t n = 0; n < 10'000; n++) {
        add(n, {p1_});
    }
    // partner1 is down and nothing gets through before the lifetime ends.
    FakeEngine engine{s(), std::bind_front(always, Outcome::temp_fail)};
    (void)s().destination_down(p1_, "connect refused", t0);
    engine.now = t0 + hour_ms;
    std::size_t expired = 0;
    for (int i = 0; i < 1000 && s().message_count() > 0; i++) {
        std::vector<Action> actions = s().tick(engine.now);
        ASSERT_LE(actions.size(), actions_per_tick_max);
        ASSERT_TRUE(only<Deliver>(actions).empty());
        expired += only<Expire>(actions).size();
    }
    EXPECT_EQ(expired, 10'000u);
    EXPECT_EQ(s().message_count(), 0u);
}

}  // namespace
}  // namespace hub::queue
