// delivery_test.cc -- the relay's decisions as tables: events in, actions out.
//
// No sockets, no sleeps: time is passed to every event, as the engine passes its wall
// clock; days pass in microseconds.
#include "delivery/delivery.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "dsn/headers.h"

namespace hub::delivery {
namespace {

constexpr std::uint64_t hour_ms = 3'600'000;
constexpr std::uint64_t t0 = 1'700'000'000'000;  // Arrival of every test message.

policy::Partner make_partner(std::string name, std::string domain, std::string host,
                             std::uint16_t port) {
    policy::Partner partner;
    partner.name = std::move(name);
    partner.domains = {std::move(domain)};
    partner.outbound_host = std::move(host);
    partner.outbound_port = port;
    partner.outbound_name = "mx." + partner.domains[0];
    return partner;
}

policy::PartnerTable table() {
    return policy::PartnerTable("lgolhub.net",
                                {make_partner("partner1", "partner1.gov.uk", "192.0.2.1", 25),
                                 make_partner("partner2", "partner2.gov.uk", "192.0.2.2", 2525)});
}

spool::MessageMeta meta(std::uint32_t ordinal, std::string sender,
                        std::vector<std::string> recipients) {
    spool::MessageMeta meta;
    meta.id = spool::QueueId{0, 1, ordinal};
    meta.arrival_unix_s = t0 / 1000;
    meta.client_address = "192.0.2.10";
    meta.partner = "partner1";
    meta.envelope.helo = "client.partner1.gov.uk";
    meta.envelope.esmtp = true;
    meta.envelope.mail_from = std::move(sender);
    for (std::string& address : recipients) {
        meta.envelope.recipients.push_back(smtp::Recipient{std::move(address), 0, {}});
    }
    return meta;
}

const std::string content =
    "From: alice@partner1.gov.uk\r\nTo: bob@partner2.gov.uk\r\nSubject: hello\r\n"
    "Message-ID: <m1@partner1.gov.uk>\r\n\r\nHi.\r\n";

smtp::RecipientResult reply(smtp::RecipientStatus status, int code, std::string enhanced,
                            std::string text) {
    smtp::RecipientResult result;
    result.status = status;
    result.reply.code = code;
    result.reply.enhanced = enhanced;
    result.reply.lines = {enhanced + " " + text};
    result.remote = true;
    return result;
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

// A Delivery with default queue settings and one message stored at t0.
struct Fixture {
    policy::PartnerTable partners = table();
    Delivery delivery{partners, queue::Config{}, "hub.lgolhub.net"};
    spool::MessageMeta message;

    StoredDecision store(spool::MessageMeta stored_meta, bool loop = false) {
        message = std::move(stored_meta);
        return delivery.message_stored(StoredFacts{&message, loop, {}, false},
                                       queue::Origin::received, t0);
    }
    // The first Deliver due at or after now.
    QueueForDelivery next_deliver(std::uint64_t now) {
        auto deliveries = only<QueueForDelivery>(delivery.tick(now));
        EXPECT_EQ(deliveries.size(), 1u);
        return deliveries.empty() ? QueueForDelivery{} : deliveries[0];
    }
    std::vector<Action> report(const ReadForReport& read, std::uint64_t now) {
        Routing routing = route(partners, message.envelope.recipients);
        std::vector<queue::DestinationId> destinations;
        for (int partner : routing.partner_index) {
            destinations.push_back(
                partner < 0 ? queue::no_destination
                            : delivery.destination_of(static_cast<std::size_t>(partner)));
        }
        return delivery.report_read(read.kind, read.id, read.recipients, &message, content,
                                    destinations, now);
    }
};

TEST(Routing, PartnerBySuffixCaseAndOwnDomain) {
    policy::PartnerTable partners = table();
    struct Case {
        std::string address;
        int partner;
        std::string relayed;
    };
    const Case cases[] = {
        {"bob@partner2.gov.uk.lgolhub.net", 1, "bob@partner2.gov.uk"},
        {"Bob@Partner2.GOV.UK.LgolHub.NET", 1, "Bob@Partner2.GOV.UK"},  // Bytes kept.
        {"carol@partner1.gov.uk.lgolhub.net.", 0, "carol@partner1.gov.uk"},
        {"alice@partner1.gov.uk", 0, "alice@partner1.gov.uk"},  // A report to a sender.
        {"x@unknown.gov.uk.lgolhub.net", -1, ""},
        {"x@lgolhub.net", -1, ""},
        {"x@example.com", -1, ""},
    };
    for (const Case& c : cases) {
        std::vector<smtp::Recipient> recipients{smtp::Recipient{c.address, 0, {}}};
        Routing routing = route(partners, recipients);
        EXPECT_EQ(routing.partner_index[0], c.partner) << c.address;
        EXPECT_EQ(routing.relay_address[0], c.relayed) << c.address;
        EXPECT_EQ(routing.any, c.partner >= 0) << c.address;
    }
}

TEST(Routing, PingAddressIgnoresCase) {
    EXPECT_TRUE(is_ping("lgolhubping@partner1.gov.uk.lgolhub.net"));
    EXPECT_TRUE(is_ping("LgolHubPing@partner2.gov.uk.lgolhub.net"));
    EXPECT_FALSE(is_ping("lgolhubping2@partner1.gov.uk.lgolhub.net"));
    EXPECT_FALSE(is_ping("bob@partner1.gov.uk.lgolhub.net"));
}

TEST(Delivery, UnroutableMessageIsLeftAndLogged) {
    Fixture f;
    StoredDecision decision = f.store(meta(1, "alice@partner1.gov.uk", {"x@example.com"}));
    EXPECT_FALSE(decision.keep);
    auto lines = only<LogLine>(decision.actions);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].text.find("no recipient routes"), std::string::npos);
    EXPECT_EQ(f.delivery.scheduler().message_count(), 0u);
}

TEST(Delivery, PingIsAnsweredNotRelayed) {
    Fixture f;
    StoredDecision decision =
        f.store(meta(2, "alice@partner1.gov.uk", {"LgolHubPing@partner2.gov.uk.lgolhub.net"}));
    EXPECT_TRUE(decision.keep);
    EXPECT_FALSE(decision.in_scheduler);  // Nothing left to relay.
    auto reads = only<ReadForReport>(decision.actions);
    ASSERT_EQ(reads.size(), 1u);
    EXPECT_EQ(reads[0].kind, ReportKind::ping);
    std::vector<Action> actions = f.report(reads[0], t0 + 1000);
    EXPECT_TRUE(only<WriteStatus>(actions).empty());  // Answered once the reply is durable.
    auto replies = only<SpoolReport>(actions);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].recipient, "alice@partner1.gov.uk");
    EXPECT_NE(replies[0].content.find("hub.lgolhub.net"), std::string::npos);
    ASSERT_NE(replies[0].report, 0u);
    auto statuses =
        only<WriteStatus>(f.delivery.report_spooled(replies[0].report, true, t0 + 1010));
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::delivered);
}

TEST(Delivery, LoopIsBouncedNeverQueued) {
    Fixture f;
    std::string looped;
    for (int n = 0; n <= 30; n++) {
        looped += fmt::format("Received: from hop{} by hop{}\r\n", n, n + 1);
    }
    looped += content;
    ASSERT_TRUE(dsn::too_many_received(looped));
    StoredDecision decision =
        f.store(meta(3, "alice@partner1.gov.uk",
                     {"bob@partner2.gov.uk.lgolhub.net", "carol@partner2.gov.uk.lgolhub.net"}),
                true);
    EXPECT_TRUE(decision.keep);
    EXPECT_FALSE(decision.in_scheduler);
    EXPECT_EQ(f.delivery.scheduler().message_count(), 0u);
    EXPECT_TRUE(only<WriteStatus>(decision.actions).empty());  // They wait for the report.
    auto reads = only<ReadForReport>(decision.actions);
    ASSERT_EQ(reads.size(), 1u);
    EXPECT_EQ(reads[0].kind, ReportKind::failure);
    ASSERT_EQ(reads[0].recipients.size(), 2u);
    EXPECT_EQ(reads[0].recipients[0].last_error, loop_text);
    auto reports = only<SpoolReport>(f.report(reads[0], t0));
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].content.find("5.4.6"), std::string::npos);
    auto statuses = only<WriteStatus>(f.delivery.report_spooled(reports[0].report, true, t0 + 5));
    ASSERT_EQ(statuses.size(), 2u);
    for (const WriteStatus& status : statuses) {
        EXPECT_EQ(status.status, spool::RecipientStatus::bounced);
        EXPECT_FALSE(status.bounce_counted);  // No transaction counted these.
    }
}

TEST(Delivery, PermanentFailureBouncesNamingTheServer) {
    Fixture f;
    f.store(meta(4, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    EXPECT_EQ(deliver.partner_index, 1);
    ASSERT_EQ(deliver.deliver.items.size(), 1u);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::perm_fail, 550, "5.1.1", "No such user")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    ASSERT_EQ(decision.lines.size(), 1u);
    EXPECT_EQ(decision.lines[0].verdict, "bounced");
    EXPECT_EQ(decision.lines[0].dsn, "5.1.1");
    EXPECT_EQ(decision.lines[0].text, "host [192.0.2.2]:2525 said: 550 5.1.1 No such user");
    // The bounced status waits for the DSN: durable before it, a crash in between would
    // leave the sender untold.
    EXPECT_TRUE(only<WriteStatus>(decision.actions).empty());
    auto reads = only<ReadForReport>(decision.actions);
    ASSERT_EQ(reads.size(), 1u);
    EXPECT_TRUE(only<Release>(decision.actions).empty());  // The report is being built.
    std::vector<Action> after_report = f.report(reads[0], t0 + 20);
    EXPECT_TRUE(only<Release>(after_report).empty());  // The report is not durable yet.
    EXPECT_TRUE(only<WriteStatus>(after_report).empty());
    auto reports = only<SpoolReport>(after_report);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].recipient, "alice@partner1.gov.uk");
    EXPECT_NE(reports[0].content.find("Remote-MTA: dns; [192.0.2.2]:2525"), std::string::npos);
    EXPECT_NE(reports[0].content.find("550 5.1.1 No such user"), std::string::npos);
    std::vector<Action> spooled = f.delivery.report_spooled(reports[0].report, true, t0 + 30);
    EXPECT_TRUE(only<Release>(spooled).empty());  // The status is not durable yet.
    auto statuses = only<WriteStatus>(spooled);
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
    EXPECT_TRUE(statuses[0].bounce_counted);  // Counted with the transaction.
    EXPECT_EQ(f.delivery.statuses_pending(f.message.id), 1u);
    std::vector<Action> durable =
        f.delivery.status_durable(f.message.id, 0, spool::RecipientStatus::bounced);
    auto released = only<Release>(durable);
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0].id, f.message.id);
    auto lines = only<LogLine>(durable);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].text,
              f.message.id.to_string() + ": removed: delivered=0, bounced=1, deleted=0");
}

TEST(Delivery, TemporaryFailureDefersWithTheReason) {
    Fixture f;
    f.store(meta(5, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::temp_fail, 451, "4.3.0", "Try later")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    ASSERT_EQ(decision.lines.size(), 1u);
    EXPECT_EQ(decision.lines[0].verdict, "deferred");
    EXPECT_EQ(decision.lines[0].dsn, "4.3.0");
    EXPECT_TRUE(decision.actions.empty());  // Nothing final, nothing to report.
    auto snapshot = f.delivery.scheduler().find(f.message.id);
    ASSERT_TRUE(snapshot.has_value());
    EXPECT_EQ(snapshot->recipients[0].last_error,
              "host [192.0.2.2]:2525 said: 451 4.3.0 Try later");
}

TEST(Delivery, NoTransactionDefersWithTheHubsReason) {
    Fixture f;
    f.store(meta(6, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, nullptr,
        "connect to 192.0.2.2:2525: Connection refused", t0 + 10);
    ASSERT_EQ(decision.lines.size(), 1u);
    EXPECT_EQ(decision.lines[0].verdict, "deferred");
    EXPECT_EQ(decision.lines[0].dsn, "4.4.1");
    EXPECT_EQ(decision.lines[0].text, "connect to 192.0.2.2:2525: Connection refused");
}

// Answers every Deliver due up to until with a refused connection; returns the other
// actions in order.
std::vector<Action> defer_until(Fixture& f, std::uint64_t until) {
    std::vector<Action> seen;
    std::uint64_t now = t0;
    for (int round = 0; round < 10'000 && now <= until; round++) {
        for (Action& action : f.delivery.tick(now)) {
            if (auto* deliver = std::get_if<QueueForDelivery>(&action)) {
                for (const queue::DeliveryItem& item : deliver->deliver.items) {
                    auto decision = f.delivery.transaction_done(
                        item.id, item.recipient_indices, deliver->deliver.destination, nullptr,
                        "connect to 192.0.2.2:2525: Connection refused", now);
                    for (Action& next : decision.actions) {
                        seen.push_back(std::move(next));
                    }
                }
                f.delivery.scheduler().batch_done(deliver->deliver.destination);
            } else {
                seen.push_back(std::move(action));
            }
        }
        std::uint64_t due = f.delivery.scheduler().next_due_ms(now);
        if (due == 0 || due <= now) {
            break;
        }
        now = due;
    }
    return seen;
}

TEST(Delivery, DelayWarningAfterFourHours) {
    Fixture f;
    f.store(meta(7, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    std::vector<Action> early = defer_until(f, t0 + 3 * hour_ms);
    EXPECT_TRUE(only<ReadForReport>(early).empty());
    Fixture g;
    g.store(meta(7, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    std::vector<Action> later = defer_until(g, t0 + 5 * hour_ms);
    auto reads = only<ReadForReport>(later);
    ASSERT_EQ(reads.size(), 1u);
    EXPECT_EQ(reads[0].kind, ReportKind::delay);
    EXPECT_TRUE(only<WriteStatus>(later).empty());  // Still pending.
    auto reports = only<SpoolReport>(g.report(reads[0], t0 + 4 * hour_ms));
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].content.find("Action: delayed"), std::string::npos);
    EXPECT_EQ(reports[0].report, 0u);  // It changes no status: nothing waits for it.
}

TEST(Delivery, ExpiryBouncesNamingThePartnersConnector) {
    Fixture f;
    f.store(meta(8, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    std::vector<Action> seen = defer_until(f, t0 + 6 * 24 * hour_ms);
    EXPECT_TRUE(only<WriteStatus>(seen).empty());  // It waits for the report.
    auto reads = only<ReadForReport>(seen);
    ASSERT_EQ(reads.size(), 2u);  // The delay warning, then the failure.
    EXPECT_EQ(reads[1].kind, ReportKind::failure);
    EXPECT_TRUE(only<Release>(seen).empty());  // Its status and report are in flight.
    auto reports = only<SpoolReport>(f.report(reads[1], t0 + 5 * 24 * hour_ms));
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].content.find("Action: failed"), std::string::npos);
    EXPECT_NE(reports[0].content.find("[192.0.2.2]:2525"), std::string::npos);
    EXPECT_NE(reports[0].content.find("Connection refused"), std::string::npos);
    auto statuses = only<WriteStatus>(
        f.delivery.report_spooled(reports[0].report, true, t0 + 5 * 24 * hour_ms + 10));
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
}

TEST(Delivery, NoReportAboutAReport) {
    Fixture f;
    f.store(meta(9, "", {"bob@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::perm_fail, 550, "5.1.1", "No such user")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    auto reads = only<ReadForReport>(decision.actions);
    ASSERT_EQ(reads.size(), 1u);
    std::vector<Action> after_report = f.report(reads[0], t0 + 20);
    EXPECT_TRUE(only<SpoolReport>(after_report).empty());
    // Bounced all the same, at once: there is no report to wait for.
    auto statuses = only<WriteStatus>(after_report);
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
    EXPECT_TRUE(only<Release>(after_report).empty());  // Until the status is durable.
    auto released =
        only<Release>(f.delivery.status_durable(f.message.id, 0, spool::RecipientStatus::bounced));
    EXPECT_EQ(released.size(), 1u);
}

// Stores a message for one recipient at partner2 and has the partner refuse it (550):
// returns the failure report's read.
ReadForReport bounce_one(Fixture& f, spool::MessageMeta stored_meta) {
    f.store(std::move(stored_meta));
    QueueForDelivery deliver = f.next_deliver(t0);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::perm_fail, 550, "5.1.1", "No such user")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    EXPECT_TRUE(only<WriteStatus>(decision.actions).empty());
    auto reads = only<ReadForReport>(decision.actions);
    EXPECT_EQ(reads.size(), 1u);
    return reads.empty() ? ReadForReport{} : reads[0];
}

TEST(Delivery, NotifyNeverBouncesAtOnceWithoutAReport) {
    Fixture f;
    spool::MessageMeta never =
        meta(12, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"});
    never.envelope.recipients[0].notify = smtp::dsn_notify_never;
    ReadForReport read = bounce_one(f, std::move(never));
    std::vector<Action> after_report = f.report(read, t0 + 20);
    EXPECT_TRUE(only<SpoolReport>(after_report).empty());
    auto statuses = only<WriteStatus>(after_report);
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
}

// The DSN could not be spooled (a full disk): the bounced status keeps waiting, the
// original is kept (never released while the sender is untold), and the report is read
// and built again after report_retry_ms.
TEST(Delivery, ReportSpoolFailureKeepsTheOriginalAndTriesAgain) {
    Fixture f;
    ReadForReport read =
        bounce_one(f, meta(13, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    auto reports = only<SpoolReport>(f.report(read, t0 + 20));
    ASSERT_EQ(reports.size(), 1u);
    std::vector<Action> failed = f.delivery.report_spooled(reports[0].report, false, t0 + 30);
    EXPECT_TRUE(only<WriteStatus>(failed).empty());
    EXPECT_TRUE(only<Release>(failed).empty());
    auto lines = only<LogLine>(failed);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].level, LogLevel::warn);
    EXPECT_EQ(f.delivery.next_due_ms(t0 + 30), t0 + 30 + report_retry_ms);
    EXPECT_TRUE(only<ReadForReport>(f.delivery.tick(t0 + 30 + report_retry_ms - 1)).empty());
    auto again = only<ReadForReport>(f.delivery.tick(t0 + 30 + report_retry_ms));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].kind, ReportKind::failure);
    EXPECT_EQ(again[0].id, f.message.id);
    ASSERT_EQ(again[0].recipients.size(), 1u);
    EXPECT_EQ(again[0].recipients[0].last_error, read.recipients[0].last_error);
    EXPECT_EQ(f.delivery.next_due_ms(t0 + 30 + report_retry_ms), queue::time_never);
    auto second = only<SpoolReport>(f.report(again[0], t0 + 40 + report_retry_ms));
    ASSERT_EQ(second.size(), 1u);
    EXPECT_NE(second[0].report, reports[0].report);
    EXPECT_TRUE(f.delivery.report_spooled(reports[0].report, true, t0).empty());  // Stale.
    auto statuses = only<WriteStatus>(
        f.delivery.report_spooled(second[0].report, true, t0 + 50 + report_retry_ms));
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
    auto released =
        only<Release>(f.delivery.status_durable(f.message.id, 0, spool::RecipientStatus::bounced));
    EXPECT_EQ(released.size(), 1u);
}

// The engine could not start the report (every report job busy): tried again later, the
// status waiting; a delay warning, which changes no status, is simply given up.
TEST(Delivery, AbandonedReportIsTriedAgainUnlessItIsAWarning) {
    Fixture f;
    ReadForReport read =
        bounce_one(f, meta(14, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    std::vector<Action> abandoned =
        f.delivery.report_abandoned(read.kind, read.id, read.recipients, t0 + 20);
    EXPECT_TRUE(only<Release>(abandoned).empty());
    EXPECT_TRUE(only<WriteStatus>(abandoned).empty());
    auto again = only<ReadForReport>(f.delivery.tick(t0 + 20 + report_retry_ms));
    ASSERT_EQ(again.size(), 1u);

    Fixture g;
    g.store(meta(15, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    auto warnings = only<ReadForReport>(defer_until(g, t0 + 5 * hour_ms));
    ASSERT_EQ(warnings.size(), 1u);
    ASSERT_EQ(warnings[0].kind, ReportKind::delay);
    std::vector<Action> given_up = g.delivery.report_abandoned(
        warnings[0].kind, warnings[0].id, warnings[0].recipients, t0 + 5 * hour_ms);
    EXPECT_TRUE(given_up.empty());  // The message is still queued: nothing to release.
    EXPECT_EQ(g.delivery.next_due_ms(t0 + 5 * hour_ms),
              g.delivery.scheduler().next_due_ms(t0 + 5 * hour_ms));
}

// A copy that fails its checks can be neither delivered nor reported: its recipients are
// bounced all the same, loudly, rather than pinning a broken record for ever.
TEST(Delivery, UnreadableOriginalBouncesWithoutAReport) {
    Fixture f;
    ReadForReport read =
        bounce_one(f, meta(16, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    std::vector<Action> actions =
        f.delivery.report_read(read.kind, read.id, read.recipients, nullptr, {}, {}, t0 + 20);
    EXPECT_TRUE(only<SpoolReport>(actions).empty());
    auto lines = only<LogLine>(actions);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].level, LogLevel::error);
    auto statuses = only<WriteStatus>(actions);
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::bounced);
}

TEST(Delivery, OutcomesRecordedPerRecipient) {
    Fixture f;
    f.store(meta(10, "alice@partner1.gov.uk",
                 {"a@partner2.gov.uk.lgolhub.net", "b@partner2.gov.uk.lgolhub.net",
                  "c@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    ASSERT_EQ(deliver.deliver.items.size(), 1u);
    ASSERT_EQ(deliver.deliver.items[0].recipient_indices.size(), 3u);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::accepted, 250, "2.0.0", "Ok"),
                         reply(smtp::RecipientStatus::temp_fail, 452, "4.2.2", "Mailbox full"),
                         reply(smtp::RecipientStatus::perm_fail, 550, "5.1.1", "No such user")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    ASSERT_EQ(decision.lines.size(), 3u);
    EXPECT_EQ(decision.lines[0].verdict, "sent");
    EXPECT_EQ(decision.lines[1].verdict, "deferred");
    EXPECT_EQ(decision.lines[2].verdict, "bounced");
    auto statuses = only<WriteStatus>(decision.actions);
    ASSERT_EQ(statuses.size(), 1u);  // c's bounced status waits for its report.
    EXPECT_EQ(statuses[0].recipient_index, 0u);
    EXPECT_EQ(statuses[0].status, spool::RecipientStatus::delivered);
    auto reads = only<ReadForReport>(decision.actions);
    ASSERT_EQ(reads.size(), 1u);
    ASSERT_EQ(reads[0].recipients.size(), 1u);
    EXPECT_EQ(reads[0].recipients[0].recipient_index, 2u);
    EXPECT_EQ(f.delivery.statuses_pending(f.message.id), 1u);
    EXPECT_TRUE(only<Release>(decision.actions).empty());  // b is still pending.
}

// A message is released (and logged removed) only once every recipient is final, every
// status record durable and every report built -- in whichever order those come.
TEST(Delivery, ReleasedOnlyWhenFinalDurableAndReported) {
    Fixture f;
    f.store(meta(11, "alice@partner1.gov.uk",
                 {"a@partner2.gov.uk.lgolhub.net", "b@partner2.gov.uk.lgolhub.net"}));
    QueueForDelivery deliver = f.next_deliver(t0);
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::accepted, 250, "2.0.0", "Ok"),
                         reply(smtp::RecipientStatus::accepted, 250, "2.0.0", "Ok")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, 1, &result, {}, t0 + 10);
    EXPECT_EQ(only<WriteStatus>(decision.actions).size(), 2u);
    EXPECT_TRUE(only<Release>(decision.actions).empty());
    EXPECT_EQ(f.delivery.scheduler().message_count(), 0u);  // Finished in the scheduler.
    std::vector<Action> first =
        f.delivery.status_durable(f.message.id, 1, spool::RecipientStatus::delivered);
    EXPECT_TRUE(first.empty());
    ASSERT_EQ(f.delivery.durable_status(f.message.id).size(), 2u);
    EXPECT_EQ(f.delivery.durable_status(f.message.id)[1], spool::RecipientStatus::delivered);
    EXPECT_EQ(f.delivery.durable_status(f.message.id)[0], spool::RecipientStatus::pending);
    std::vector<Action> second =
        f.delivery.status_durable(f.message.id, 0, spool::RecipientStatus::delivered);
    ASSERT_EQ(second.size(), 2u);
    auto* line = std::get_if<LogLine>(&second[0]);
    ASSERT_NE(line, nullptr);
    EXPECT_EQ(line->text,
              f.message.id.to_string() + ": removed: delivered=2, bounced=0, deleted=0");
    EXPECT_NE(std::get_if<Release>(&second[1]), nullptr);
    EXPECT_EQ(f.delivery.statuses_pending(f.message.id), 0u);
    EXPECT_TRUE(f.delivery.durable_status(f.message.id).empty());  // Forgotten.
}

TEST(Reports, GeneratedMessagesAreNeverAnswered) {
    struct Case {
        std::string content;
        smtp::BodyType body;
    };
    const Case cases[] = {
        {"Subject: report\r\n\r\nplain\r\n", smtp::BodyType::seven_bit},
        {"Subject: report\r\n\r\nr\xc3\xa9sum\xc3\xa9\r\n", smtp::BodyType::eight_bit_mime},
    };
    for (const Case& c : cases) {
        spool::MessageMeta generated =
            report_meta(c.content, "alice@partner1.gov.uk", "hub.lgolhub.net", t0 + 1500);
        EXPECT_TRUE(generated.envelope.mail_from.empty());
        ASSERT_EQ(generated.envelope.recipients.size(), 1u);
        EXPECT_EQ(generated.envelope.recipients[0].address, "alice@partner1.gov.uk");
        EXPECT_EQ(generated.envelope.recipients[0].notify, smtp::dsn_notify_never);
        EXPECT_EQ(generated.envelope.body_type, c.body);
        EXPECT_EQ(generated.envelope.helo, "hub.lgolhub.net");
        EXPECT_EQ(generated.arrival_unix_s, t0 / 1000 + 1);
    }
}

// A live reload: a partner keeps its destination (by name) whatever its position in the
// new table; its queued mail follows its new smart host. A partner that left the table
// (suspended or removed) gets no connection: its recipients are deferred with the reason
// and go out once it is back.
TEST(Delivery, ReloadKeepsDestinationsAndDefersPartnersThatLeft) {
    Fixture f;
    f.store(meta(20, "alice@partner1.gov.uk", {"bob@partner2.gov.uk.lgolhub.net"}));
    queue::DestinationId partner2 = f.delivery.destination_of(1);

    policy::PartnerTable without_partner2(
        "lgolhub.net", {make_partner("partner1", "partner1.gov.uk", "192.0.2.1", 25)});
    f.delivery.set_partners(without_partner2);
    std::vector<Action> actions = f.delivery.tick(t0);
    EXPECT_TRUE(only<QueueForDelivery>(actions).empty());
    auto lines = only<LogLine>(actions);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].text.find("deferred 1 recipients: partner partner2 is not active"),
              std::string::npos)
        << lines[0].text;
    auto waiting = f.delivery.scheduler().find(f.message.id);
    ASSERT_TRUE(waiting.has_value());
    EXPECT_EQ(waiting->recipients[0].state, queue::RecipientState::deferred);
    EXPECT_EQ(waiting->recipients[0].last_error, Delivery::inactive_text("partner2"));
    // New mail for partner2's domain is no longer routed.
    spool::MessageMeta later =
        meta(21, "alice@partner1.gov.uk", {"ann@partner2.gov.uk.lgolhub.net"});
    StoredDecision unrouted = f.delivery.message_stored(StoredFacts{&later, false, {}, false},
                                                        queue::Origin::received, t0);
    EXPECT_FALSE(unrouted.keep);

    // Back, first in the table now and at another smart host.
    policy::PartnerTable back("lgolhub.net",
                              {make_partner("partner2", "partner2.gov.uk", "192.0.2.22", 2526),
                               make_partner("partner1", "partner1.gov.uk", "192.0.2.1", 25)});
    f.delivery.set_partners(back);
    EXPECT_EQ(f.delivery.destination_of(0), partner2);
    EXPECT_EQ(f.delivery.partner_of(partner2), 0);
    QueueForDelivery deliver = f.next_deliver(waiting->recipients[0].next_attempt_ms);
    EXPECT_EQ(deliver.partner_index, 0);
    EXPECT_EQ(deliver.deliver.destination, partner2);
    EXPECT_EQ(f.delivery.scheduler().destination(partner2).host, "192.0.2.22");
    smtp::MessageResult result;
    result.recipients = {reply(smtp::RecipientStatus::accepted, 250, "2.0.0", "Ok")};
    TransactionDecision decision = f.delivery.transaction_done(
        f.message.id, deliver.deliver.items[0].recipient_indices, partner2, &result, {},
        waiting->recipients[0].next_attempt_ms + 10);
    ASSERT_EQ(decision.lines.size(), 1u);
    EXPECT_EQ(decision.lines[0].verdict, "sent");
    EXPECT_EQ(decision.lines[0].text, "host [192.0.2.22]:2526 said: 250 2.0.0 Ok");
}

// Mail stored for a partner that is pending or suspended when hubd starts (recovered from the
// spool) waits with the reason, like mail for a partner suspended live, and goes once a reload
// makes the partner active; the recipient for the active partner goes at once, and nothing
// bounces. A ping address is never routed to a held partner.
TEST(Delivery, StoredMailForAHeldPartnerWaitsUntilItIsActive) {
    policy::PartnerTable active("lgolhub.net",
                                {make_partner("partner1", "partner1.gov.uk", "192.0.2.1", 25)});
    policy::PartnerTable held("lgolhub.net",
                              {make_partner("partner2", "partner2.gov.uk", "192.0.2.2", 25)});
    Delivery delivery{active, queue::Config{}, "hub.lgolhub.net", &held};
    spool::MessageMeta message =
        meta(30, "alice@partner1.gov.uk",
             {"bob@partner2.gov.uk.lgolhub.net", "carol@partner1.gov.uk.lgolhub.net",
              "lgolhubping@partner2.gov.uk.lgolhub.net"});
    StoredDecision stored = delivery.message_stored(StoredFacts{&message, false, {}, false},
                                                    queue::Origin::recovered, t0);
    ASSERT_TRUE(stored.keep);
    EXPECT_EQ(stored.routing.partner_index, (std::vector<int>{-1, 0, -1}));
    EXPECT_EQ(stored.routing.held_index, (std::vector<int>{0, -1, -1}));
    EXPECT_EQ(stored.routing.relay_address[0], "bob@partner2.gov.uk");
    auto queued = delivery.scheduler().find(message.id);
    ASSERT_TRUE(queued.has_value());
    EXPECT_EQ(queued->recipients[2].state, queue::RecipientState::bounced);  // As before.

    std::uint64_t due =
        std::max(queued->recipients[0].next_attempt_ms, queued->recipients[1].next_attempt_ms);
    std::vector<Action> actions = delivery.tick(due);
    auto deliveries = only<QueueForDelivery>(actions);
    ASSERT_EQ(deliveries.size(), 1u);
    EXPECT_EQ(deliveries[0].partner_index, 0);  // partner1, now.
    auto waiting = delivery.scheduler().find(message.id);
    ASSERT_TRUE(waiting.has_value());
    EXPECT_EQ(waiting->recipients[0].state, queue::RecipientState::deferred);
    EXPECT_EQ(waiting->recipients[0].last_error, Delivery::inactive_text("partner2"));

    policy::PartnerTable both("lgolhub.net",
                              {make_partner("partner1", "partner1.gov.uk", "192.0.2.1", 25),
                               make_partner("partner2", "partner2.gov.uk", "192.0.2.2", 25)});
    policy::PartnerTable none("lgolhub.net", {});
    delivery.set_partners(both, &none);
    auto later = only<QueueForDelivery>(delivery.tick(waiting->recipients[0].next_attempt_ms));
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].partner_index, 1);
    EXPECT_EQ(later[0].deliver.destination, stored.destinations[0]);
}

TEST(Wording, SessionFailures) {
    struct Case {
        smtp::FailReason reason;
        bool with_reply;
        bool down;
        std::string text;
    };
    const Case cases[] = {
        {smtp::FailReason::greeting_rejected, true, true,
         "host [192.0.2.2]:2525 said: 554 5.3.2 Go away"},
        {smtp::FailReason::tls_unavailable, true, true,
         "no STARTTLS with host [192.0.2.2]:2525 (" +
             std::string(smtp::fail_reason_name(smtp::FailReason::tls_unavailable)) + ")"},
        {smtp::FailReason::closed_by_peer, false, false,
         "no STARTTLS with host [192.0.2.2]:2525 (" +
             std::string(smtp::fail_reason_name(smtp::FailReason::closed_by_peer)) + ")"},
    };
    for (const Case& c : cases) {
        smtp::Failure failure;
        failure.reason = c.reason;
        failure.detail = "no STARTTLS";
        if (c.with_reply) {
            failure.reply = smtp::Reply{554, "5.3.2", {"5.3.2 Go away"}};
        }
        SessionFailure worded = session_failure("[192.0.2.2]:2525", failure);
        EXPECT_EQ(worded.text, c.text);
        EXPECT_EQ(worded.destination_down, c.down);
    }
}

TEST(Wording, DescribeFailureSplitsQuotedReplies) {
    dsn::RecipientReport remote;
    describe_failure("host [192.0.2.2]:2525 said: 550 5.1.1 No such user", remote);
    EXPECT_EQ(remote.remote_address, "[192.0.2.2]:2525");
    EXPECT_EQ(remote.remote_reply, "550 5.1.1 No such user");
    EXPECT_EQ(remote.status, "5.1.1");
    dsn::RecipientReport own;
    describe_failure("connect to 192.0.2.2:2525: timed out", own);
    EXPECT_TRUE(own.remote_address.empty());
    EXPECT_EQ(own.hub_text, "connect to 192.0.2.2:2525: timed out");
}

}  // namespace
}  // namespace hub::delivery
