// alerts_test.cc -- notifications on edges only: TLS failing (the hub's verdict and the
// inferred one), queue threshold with hysteresis, the spool reserve, certificates entering
// their last days; hubd restarts and unreachable polls change nothing they should not.
#include "programs/hub-snmp/alerts.h"

#include <gtest/gtest.h>

namespace hub::snmp {
namespace {

constexpr std::int64_t now_s = 1'800'000'000;
constexpr std::int64_t day_s = 86'400;

HubFacts hub_with(std::vector<PartnerFacts> partners) {
    HubFacts facts;
    facts.reachable = true;
    facts.partners = std::move(partners);
    return facts;
}

PartnerFacts partner(std::string name, std::uint64_t tls_failures, std::uint64_t sent,
                     std::uint64_t queued) {
    PartnerFacts p;
    p.name = std::move(name);
    p.tls_failures_outbound = tls_failures;
    p.traffic.transmitted_messages = sent;
    p.traffic.stored_messages = queued;
    return p;
}

std::vector<AlertKind> kinds(const std::vector<Alert>& alerts) {
    std::vector<AlertKind> out;
    for (const Alert& alert : alerts) {
        out.push_back(alert.kind);
    }
    return out;
}

AlertTracker tracker() {
    return AlertTracker(AlertSettings{.queue_threshold = 10, .certificate_warning_days = 30});
}

TEST(Alerts, InferredTlsFailingAndRecovery) {
    AlertTracker alerts = tracker();
    // First poll: counters are a baseline, whatever they say.
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 4, 1, 0)}), now_s).empty());
    EXPECT_FALSE(alerts.partner("p")->tls_failing);
    // The counter grows: failing, once.
    std::vector<Alert> got = alerts.observe(hub_with({partner("p", 5, 1, 0)}), now_s);
    ASSERT_EQ(kinds(got), std::vector{AlertKind::partner_tls_failing});
    EXPECT_EQ(got[0].partner, "p");
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 6, 1, 0)}), now_s).empty());
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 6, 1, 0)}), now_s).empty());
    EXPECT_TRUE(alerts.partner("p")->tls_failing);  // No news is no recovery.
    // A delivery with no new TLS failure: recovered.
    EXPECT_EQ(kinds(alerts.observe(hub_with({partner("p", 6, 2, 0)}), now_s)),
              std::vector{AlertKind::partner_tls_recovered});
    // hubd restarted (counters lower): a new baseline, no alert either way.
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 1, 0, 0)}), now_s).empty());
}

TEST(Alerts, TheHubsOwnVerdictWins) {
    AlertTracker alerts = tracker();
    PartnerFacts p = partner("p", 0, 0, 0);
    p.tls_failing = true;
    p.last_tls_error = "server does not offer STARTTLS";
    std::vector<Alert> got = alerts.observe(hub_with({p}), now_s);  // Already true at start.
    ASSERT_EQ(kinds(got), std::vector{AlertKind::partner_tls_failing});
    EXPECT_NE(got[0].text.find("does not offer STARTTLS"), std::string::npos);
    EXPECT_TRUE(alerts.observe(hub_with({p}), now_s).empty());
    p.tls_failing = false;
    EXPECT_EQ(kinds(alerts.observe(hub_with({p}), now_s)),
              std::vector{AlertKind::partner_tls_recovered});
}

TEST(Alerts, QueueThresholdWithHysteresis) {
    AlertTracker alerts = tracker();
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 0, 0, 9)}), now_s).empty());
    EXPECT_EQ(kinds(alerts.observe(hub_with({partner("p", 0, 0, 10)}), now_s)),
              std::vector{AlertKind::partner_queue_high});
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 0, 0, 30)}), now_s).empty());
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 0, 0, 6)}), now_s).empty());  // > half
    EXPECT_EQ(kinds(alerts.observe(hub_with({partner("p", 0, 0, 5)}), now_s)),
              std::vector{AlertKind::partner_queue_normal});
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 0, 0, 9)}), now_s).empty());
}

TEST(Alerts, PartnersInNameOrderAndForgottenWhenGone) {
    AlertTracker alerts = tracker();
    std::vector<Alert> got =
        alerts.observe(hub_with({partner("b", 0, 0, 50), partner("a", 0, 0, 50)}), now_s);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].partner, "a");
    EXPECT_EQ(got[1].partner, "b");
    alerts.observe(hub_with({partner("a", 0, 0, 50)}), now_s);
    EXPECT_EQ(alerts.partner("b"), nullptr);
}

TEST(Alerts, SpoolReserve) {
    AlertTracker alerts = tracker();
    HubFacts facts = hub_with({});
    facts.spool.free_bytes = 100 << 20;
    facts.spool.reserve_bytes = 64 << 20;
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());
    facts.spool.free_bytes = 10 << 20;
    EXPECT_EQ(kinds(alerts.observe(facts, now_s)), std::vector{AlertKind::spool_below_reserve});
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());
    facts.spool.below_reserve = false;  // The hub's verdict, when it gives one, wins.
    EXPECT_EQ(kinds(alerts.observe(facts, now_s)), std::vector{AlertKind::spool_reserve_recovered});
}

TEST(Alerts, CertificatesOncePerCertificate) {
    AlertTracker alerts = tracker();
    HubFacts facts = hub_with({});
    facts.certificates.push_back({"hub", "CN=hub", now_s + 31 * day_s});
    facts.certificates.push_back({"client CA", "CN=ca", now_s + 400 * day_s});
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());
    std::vector<Alert> got = alerts.observe(facts, now_s + 2 * day_s);  // 29 days left
    ASSERT_EQ(kinds(got), std::vector{AlertKind::certificate_expiring});
    EXPECT_EQ(got[0].certificate_position, 0u);
    EXPECT_NE(got[0].text.find("expires in 29 days"), std::string::npos) << got[0].text;
    EXPECT_TRUE(alerts.observe(facts, now_s + 3 * day_s).empty());
    // Renewed, then that one too comes close: a new notification.
    facts.certificates[0].not_after_unix_s = now_s + 60 * day_s;
    EXPECT_TRUE(alerts.observe(facts, now_s + 3 * day_s).empty());
    EXPECT_EQ(alerts.observe(facts, now_s + 35 * day_s).size(), 1u);
}

TEST(Alerts, UnreachableChangesNothing) {
    AlertTracker alerts = tracker();
    alerts.observe(hub_with({partner("p", 0, 0, 50)}), now_s);
    HubFacts down;
    EXPECT_TRUE(alerts.observe(down, now_s).empty());
    EXPECT_TRUE(alerts.partner("p")->queue_high);
    EXPECT_TRUE(alerts.observe(hub_with({partner("p", 0, 0, 50)}), now_s).empty());
}

TEST(Alerts, DaysLeftRoundsDown) {
    EXPECT_EQ(days_left(now_s + day_s, now_s), 1);
    EXPECT_EQ(days_left(now_s + day_s - 1, now_s), 0);
    EXPECT_EQ(days_left(now_s - 1, now_s), -1);
    EXPECT_EQ(days_left(now_s - day_s, now_s), -1);
    EXPECT_EQ(days_left(now_s - day_s - 1, now_s), -2);
}

TEST(Alerts, BackupFailedAndRecoveredEvenWithHubdDown) {
    AlertTracker alerts = tracker();
    HubFacts facts;  // hubd unreachable: the backup's state is still known.
    facts.backup.configured = true;
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());  // ok from the start: nothing to say
    facts.backup.failing = true;
    facts.backup.last_failure_reason = "target unwritable";
    std::vector<Alert> got = alerts.observe(facts, now_s);
    ASSERT_EQ(kinds(got), std::vector{AlertKind::backup_failed});
    EXPECT_NE(got[0].text.find("target unwritable"), std::string::npos);
    EXPECT_TRUE(alerts.backup_failing());
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());  // one per episode
    facts.reachable = true;
    EXPECT_TRUE(alerts.observe(facts, now_s).empty());
    facts.backup.failing = false;
    EXPECT_EQ(kinds(alerts.observe(facts, now_s)), std::vector{AlertKind::backup_recovered});
    // Without a status file there is no backup alert at all.
    AlertTracker unconfigured = tracker();
    HubFacts none;
    none.backup.failing = true;
    EXPECT_TRUE(unconfigured.observe(none, now_s).empty());
}

}  // namespace
}  // namespace hub::snmp
