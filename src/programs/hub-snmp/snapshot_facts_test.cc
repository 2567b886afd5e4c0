// snapshot_facts_test.cc -- hubd's health snapshot in hub-snmp's terms: never-times, the
// RFC 2789 association totals, the TLS verdict per partner, certificate labels; and a
// snapshot that went through hubd's own line format maps the same.
#include "programs/hub-snmp/snapshot_facts.h"

#include <gtest/gtest.h>

namespace hub::snmp {
namespace {

health::Snapshot sample() {
    health::Snapshot s;
    s.taken_unix_ms = 1'800'000'100'000;
    s.started_unix_ms = 1'800'000'000'000;
    s.spool_free_bytes = 5u << 20;
    s.spool_reserve_bytes = 1u << 20;
    s.spool_total_bytes = 9u << 20;
    health::ShardRow shard;
    shard.index = 0;
    shard.cpu_ns = 2'000'000'000;
    shard.traffic.messages_received = 3;
    shard.traffic.outbound_total = 5;
    shard.traffic.outbound_failed = 2;
    shard.traffic.inbound_open = 1;
    shard.traffic.outbound_open = 1;
    s.shards.push_back(shard);
    health::PartnerRow p;
    p.name = "partner2.gov.uk";
    p.traffic.outbound_total = 5;
    p.traffic.outbound_failed = 2;
    p.traffic.messages_delivered = 3;
    p.traffic.queue_messages = 1;
    p.traffic.oldest_queued_unix_ms = 1'800'000'050'000;
    p.last_outbound_unix_ms = 1'800'000'060'000;
    p.last_outbound_attempt_unix_ms = 1'800'000'090'000;
    p.last_outbound_failure_unix_ms = 1'800'000'090'000;
    p.last_outbound_failure = "TLS with 127.0.0.1:10026 failed: no STARTTLS";
    p.last_tls_failure_unix_ms = 1'800'000'090'000;
    p.last_tls_failure = "out: no STARTTLS in the EHLO reply";
    s.partners.push_back(p);
    health::PartnerRow quiet;
    quiet.name = "partner1.gov.uk";
    s.partners.push_back(quiet);
    s.certificates.push_back({"listener", "", "CN=hub.lgolhub.net", 1'900'000'000});
    s.certificates.push_back({"partner", "partner2.gov.uk", "CN=partner2", 1'900'000'000});
    health::finish(s);
    return s;
}

TEST(SnapshotFacts, MapsTheHubAndItsPartners) {
    HubFacts facts = facts_from_snapshot(sample(), "0.1");
    ASSERT_TRUE(facts.reachable);
    EXPECT_EQ(facts.version, "0.1");
    EXPECT_EQ(facts.started_at, 1'800'000'000'000);
    EXPECT_EQ(facts.traffic.received_messages, 3u);
    // RFC 2789: failed associations are not in the accumulated total.
    EXPECT_EQ(facts.traffic.outbound_total, 3u);
    EXPECT_EQ(facts.traffic.outbound_failed, 2u);
    EXPECT_FALSE(facts.traffic.loops_detected.has_value());
    ASSERT_EQ(facts.shards.size(), 1u);
    EXPECT_EQ(facts.shards[0].connections_now, 2u);
    EXPECT_EQ(facts.shards[0].cpu_ns, 2'000'000'000u);
    EXPECT_EQ(facts.spool.free_bytes, 5u << 20);
    EXPECT_FALSE(facts.spool.below_reserve.has_value());  // mib_map and alerts compare.

    ASSERT_EQ(facts.partners.size(), 2u);
    const PartnerFacts* p2 = nullptr;
    const PartnerFacts* p1 = nullptr;
    for (const PartnerFacts& p : facts.partners) {
        (p.name == "partner2.gov.uk" ? p2 : p1) = &p;
    }
    ASSERT_TRUE(p1 && p2);
    EXPECT_EQ(p2->traffic.transmitted_messages, 3u);
    EXPECT_EQ(p2->oldest_stored_at, 1'800'000'050'000);
    EXPECT_EQ(p2->tls_failing, true);  // Failed after the last delivery.
    EXPECT_EQ(p2->last_tls_error, "out: no STARTTLS in the EHLO reply");
    EXPECT_EQ(p2->last_outbound_failure, "TLS with 127.0.0.1:10026 failed: no STARTTLS");
    // Never is absent, not time 0.
    EXPECT_FALSE(p1->last_inbound_at.has_value());
    EXPECT_FALSE(p1->oldest_stored_at.has_value());
    EXPECT_EQ(p1->tls_failing, false);
    EXPECT_EQ(p1->last_outbound_failure, "");

    ASSERT_EQ(facts.certificates.size(), 2u);
    std::vector<std::string> labels{facts.certificates[0].label, facts.certificates[1].label};
    std::sort(labels.begin(), labels.end());
    EXPECT_EQ(labels, (std::vector<std::string>{"hub", "partner partner2.gov.uk"}));
}

TEST(SnapshotFacts, ADeliveryAfterTheTlsFailureClearsIt) {
    health::Snapshot s = sample();
    for (health::PartnerRow& p : s.partners) {
        if (p.name == "partner2.gov.uk") {
            p.last_outbound_unix_ms = p.last_tls_failure_unix_ms + 1;
        }
    }
    HubFacts facts = facts_from_snapshot(s, "0.1");
    for (const PartnerFacts& p : facts.partners) {
        if (p.name == "partner2.gov.uk") {
            EXPECT_EQ(p.tls_failing, false);
            EXPECT_EQ(p.last_outbound_failure, "");  // The last attempt succeeded.
        }
    }
}

TEST(SnapshotFacts, SameFactsThroughTheLineFormat) {
    health::Snapshot s = sample();
    Result<health::Snapshot, std::string> decoded = health::decode(health::encode(s));
    ASSERT_TRUE(decoded) << decoded.error();
    HubFacts direct = facts_from_snapshot(s, "v");
    HubFacts wire = facts_from_snapshot(*decoded, "v");
    ASSERT_EQ(direct.partners.size(), wire.partners.size());
    for (std::size_t i = 0; i < direct.partners.size(); i++) {
        EXPECT_EQ(direct.partners[i].name, wire.partners[i].name);
        EXPECT_EQ(direct.partners[i].tls_failing, wire.partners[i].tls_failing);
        EXPECT_EQ(direct.partners[i].traffic.transmitted_messages,
                  wire.partners[i].traffic.transmitted_messages);
    }
}

TEST(SnapshotFacts, Unreachable) {
    HubFacts facts = unreachable_facts("cannot reach hubd");
    EXPECT_FALSE(facts.reachable);
    EXPECT_EQ(facts.unreachable_reason, "cannot reach hubd");
}

}  // namespace
}  // namespace hub::snmp
