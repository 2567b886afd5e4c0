// mib_map_test.cc -- the hub's facts as MIB variables: which OID carries which fact, in
// which unit, what is left out when the hub does not report it, and what a notification
// carries.
#include "programs/hub-snmp/mib_map.h"

#include <gtest/gtest.h>

namespace hub::snmp {
namespace {

constexpr std::int64_t now_ms = 1'800'000'000'000;
const MapSettings settings{.appl_index = 1, .queue_threshold = 10, .certificate_warning_days = 30};
// sysUpTime 1000 s: things that happened within the last 1000 s have a TimeStamp.
const MapClock clock_now{.now_unix_ms = now_ms, .uptime_cs = 100'000};

HubFacts sample() {
    HubFacts facts;
    facts.reachable = true;
    facts.version = "0.1";
    facts.started_at = now_ms - 600'000;  // 600 s ago, within sysUpTime
    facts.traffic.received_messages = 12;
    facts.traffic.received_recipients = 14;
    facts.traffic.received_bytes = 10 * 1024 + 1023;
    facts.traffic.stored_messages = 2;
    facts.traffic.stored_bytes = 4096;
    facts.traffic.transmitted_messages = 10;
    facts.traffic.inbound_now = 1;
    facts.spool.free_bytes = std::uint64_t{5} << 30;
    facts.spool.total_bytes = std::uint64_t{8} << 30;
    facts.spool.reserve_bytes = std::uint64_t{64} << 20;
    PartnerFacts p2;
    p2.name = "partner2.gov.uk";
    p2.traffic.received_messages = 0;
    p2.traffic.transmitted_messages = 7;
    p2.traffic.transmitted_bytes = 3000;
    p2.traffic.stored_messages = 2;
    p2.traffic.outbound_total = 0;
    p2.traffic.outbound_failed = 0;
    p2.oldest_stored_at = now_ms - 90'000;
    p2.tls_failures_outbound = 3;
    p2.last_tls_error = "no STARTTLS";
    PartnerFacts p1;
    p1.name = "partner1.gov.uk";
    p1.traffic.received_messages = 12;
    facts.partners = {p2, p1};
    facts.certificates.push_back({"hub", "CN=hub.lgolhub.net", now_ms / 1000 + 10 * 86'400});
    ShardFacts shard;
    shard.connections_now = 1;
    shard.stored_messages = 2;
    facts.shards.push_back(shard);
    return facts;
}

GroupIndexes groups_for(const HubFacts& facts) {
    GroupIndexes groups;
    EXPECT_TRUE(groups.assign("partner1.gov.uk"));  // index 1
    for (const PartnerFacts& p : facts.partners) {
        EXPECT_TRUE(groups.assign(p.name));  // partner2 gets 2
    }
    return groups;
}

struct Mapped {
    HubFacts facts = sample();
    GroupIndexes groups = groups_for(facts);
    AlertTracker alerts{AlertSettings{.queue_threshold = 10, .certificate_warning_days = 30}};
    View view;
    Mapped() {
        alerts.observe(facts, now_ms / 1000);
        view = build_view(facts, groups, alerts, settings, clock_now, 4242);
    }
    std::string at(const std::string& name) const {
        for (const Binding& b : view.bindings()) {
            if (oid_to_string(b.name) == name) {
                return value_to_string(b.value);
            }
        }
        return "absent";
    }
};

TEST(MibMap, ApplTableNamesHubd) {
    Mapped m;
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.2.1"), "STRING: \"hubd\"");
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.4.1"), "STRING: \"0.1\"");
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.5.1"), "Timeticks: 40000");  // 1000 s - 600 s
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.6.1"), "INTEGER: 1");        // up
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.7.1"), "Timeticks: 4242");
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.8.1"), "Gauge32: 1");
    EXPECT_EQ(m.at("1.3.6.1.2.1.27.1.1.9.1"), "absent");  // not reported by the hub
}

TEST(MibMap, MtaTableCountsAndKilooctets) {
    Mapped m;
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.1.1"), "Counter32: 12");  // received
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.2.1"), "Gauge32: 2");     // stored = queued now
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.3.1"), "Counter32: 10");  // transmitted
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.4.1"), "Counter32: 10");  // 11263 bytes = 10 KB
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.5.1"), "Gauge32: 4");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.7.1"), "Counter32: 14");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.10.1"), "Counter32: 0");  // no conversions, ever
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.1.1.12.1"), "absent");
}

TEST(MibMap, OneGroupPerPartnerUnderItsStableIndex) {
    Mapped m;
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.25.1.1"), "STRING: \"partner1.gov.uk\"");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.25.1.2"), "STRING: \"partner2.gov.uk\"");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.2.1.1"), "Counter32: 12");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.5.1.2"), "Counter32: 7");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.8.1.2"), "Counter32: 2");  // 3000 bytes
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.4.1.2"), "Gauge32: 2");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.12.1.2"), "INTEGER: 9000");  // 90 s in cs
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.22.1.2"), "STRING: \"never\"");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.24.1.2"), "OID: 1.3.6.1.2.1.27.4.25");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.30.1.2"), "INTEGER: 60000");  // since hubd start
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.31.1.2"), "INTEGER: 0");
    EXPECT_EQ(m.at("1.3.6.1.2.1.28.2.1.3.1.2"), "absent");
}

TEST(MibMap, HubboxObjects) {
    Mapped m;
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.1.1.0"), "INTEGER: 1");     // reachable
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.1.2.0"), "Gauge32: 10");    // threshold
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.2.1.0"), "Gauge32: 5120");  // MiB free
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.2.3.0"), "Gauge32: 64");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.2.4.0"), "INTEGER: 2");  // not below
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.3.1.2.2"), "STRING: \"partner2.gov.uk\"");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.3.1.3.2"), "Counter32: 3");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.3.1.5.2"), "INTEGER: 2");  // baseline: not failing
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.3.1.6.2"), "STRING: \"no STARTTLS\"");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.4.1.2.1"), "STRING: \"hub\"");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.4.1.5.1"), "INTEGER: 10");
    EXPECT_EQ(m.at("1.3.6.1.4.1.32473.1.1.5.1.2.1"), "Gauge32: 1");
}

TEST(MibMap, UnreachableHubIsDownWithNoStaleRows) {
    HubFacts down;
    down.unreachable_reason = "connect: No such file or directory";
    GroupIndexes groups;
    AlertTracker alerts{AlertSettings{}};
    View view = build_view(down, groups, alerts, settings, clock_now, 7);
    std::vector<std::string> names;
    for (const Binding& b : view.bindings()) {
        names.push_back(oid_to_string(b.name) + " " + value_to_string(b.value));
    }
    EXPECT_EQ(names, (std::vector<std::string>{
                         "1.3.6.1.2.1.27.1.1.2.1 STRING: \"hubd\"",
                         "1.3.6.1.2.1.27.1.1.3.1 STRING: \"\"",
                         "1.3.6.1.2.1.27.1.1.6.1 INTEGER: 2",
                         "1.3.6.1.2.1.27.1.1.7.1 Timeticks: 7",
                         "1.3.6.1.2.1.27.1.1.16.1 STRING: \"Hubbox mail hub: relays mail between "
                         "partner organisations over mandatory TLS\"",
                         "1.3.6.1.4.1.32473.1.1.1.1.0 INTEGER: 2",
                         "1.3.6.1.4.1.32473.1.1.1.2.0 Gauge32: 10",
                         "1.3.6.1.4.1.32473.1.1.1.3.0 Gauge32: 30",
                         "1.3.6.1.4.1.32473.1.1.1.4.0 STRING: \"connect: No such file or "
                         "directory\"",
                     }));
}

TEST(MibMap, CongestedBelowTheReserve) {
    HubFacts facts = sample();
    facts.spool.free_bytes = 1 << 20;
    EXPECT_EQ(appl_oper_status(facts), 4);
    facts.spool.below_reserve = false;
    EXPECT_EQ(appl_oper_status(facts), 1);
}

TEST(MibMap, NotificationCarriesTrapOidThenItsObjects) {
    Mapped m;
    Alert alert;
    alert.kind = AlertKind::partner_tls_failing;
    alert.partner = "partner2.gov.uk";
    std::vector<Binding> bindings =
        notification_bindings(alert, m.facts, m.groups, m.view, settings);
    std::vector<std::string> shown;
    for (const Binding& b : bindings) {
        shown.push_back(oid_to_string(b.name) + " " + value_to_string(b.value));
    }
    EXPECT_EQ(shown, (std::vector<std::string>{
                         "1.3.6.1.6.3.1.1.4.1.0 OID: 1.3.6.1.4.1.32473.1.0.1",
                         "1.3.6.1.4.1.32473.1.1.3.1.2.2 STRING: \"partner2.gov.uk\"",
                         "1.3.6.1.4.1.32473.1.1.3.1.3.2 Counter32: 3",
                         "1.3.6.1.4.1.32473.1.1.3.1.6.2 STRING: \"no STARTTLS\"",
                     }));
    Alert queue;
    queue.kind = AlertKind::partner_queue_high;
    queue.partner = "partner2.gov.uk";
    bindings = notification_bindings(queue, m.facts, m.groups, m.view, settings);
    ASSERT_EQ(bindings.size(), 4u);
    EXPECT_EQ(oid_to_string(bindings[2].name), "1.3.6.1.2.1.28.2.1.4.1.2");
    Alert certificate;
    certificate.kind = AlertKind::certificate_expiring;
    certificate.certificate_position = 0;
    bindings = notification_bindings(certificate, m.facts, m.groups, m.view, settings);
    ASSERT_EQ(bindings.size(), 5u);
    EXPECT_EQ(bindings[3].value.text, date_and_time(now_ms / 1000 + 10 * 86'400));  // binary
}

TEST(MibMap, DateAndTimeIsUtc) {
    // 2027-01-15 08:30:05 UTC
    std::string octets = date_and_time(1'800'001'805);
    ASSERT_EQ(octets.size(), 11u);
    int year = (static_cast<unsigned char>(octets[0]) << 8) | static_cast<unsigned char>(octets[1]);
    EXPECT_EQ(year, 2027);
    EXPECT_EQ(octets[2], 1);
    EXPECT_EQ(octets[3], 15);
    EXPECT_EQ(octets[4], 8);
    EXPECT_EQ(octets[5], 30);
    EXPECT_EQ(octets[6], 5);
    EXPECT_EQ(octets[8], '+');
}

TEST(MibMap, BackupObjectsAndNotificationsWithHubdDown) {
    HubFacts down;
    down.unreachable_reason = "down";
    down.backup.configured = true;
    down.backup.failing = true;
    down.backup.last_success_unix_s = 1'800'000'000;
    down.backup.last_archive = "/b/hubbox-h-1.hbk";
    down.backup.last_failure_unix_s = 1'800'003'600;
    down.backup.last_failure_reason = "sftp refused";
    GroupIndexes groups;
    AlertTracker alerts{AlertSettings{}};
    View view = build_view(down, groups, alerts, settings, clock_now, 7);
    std::vector<std::string> backup;
    for (const Binding& b : view.bindings()) {
        std::string name = oid_to_string(b.name);
        if (name.starts_with("1.3.6.1.4.1.32473.1.1.6.")) {
            backup.push_back(name + " " + value_to_string(b.value));
        }
    }
    ASSERT_EQ(backup.size(), 5u);
    EXPECT_EQ(backup[0], "1.3.6.1.4.1.32473.1.1.6.1.0 INTEGER: 1");
    EXPECT_EQ(backup[2], "1.3.6.1.4.1.32473.1.1.6.3.0 STRING: \"/b/hubbox-h-1.hbk\"");
    EXPECT_EQ(backup[4], "1.3.6.1.4.1.32473.1.1.6.5.0 STRING: \"sftp refused\"");
    Alert failed;
    failed.kind = AlertKind::backup_failed;
    std::vector<Binding> bindings = notification_bindings(failed, down, groups, view, settings);
    ASSERT_EQ(bindings.size(), 3u);
    EXPECT_EQ(value_to_string(bindings[0].value), "OID: 1.3.6.1.4.1.32473.1.0.8");
    EXPECT_EQ(bindings[1].value.text, date_and_time(1'800'003'600));
    EXPECT_EQ(value_to_string(bindings[2].value), "STRING: \"sftp refused\"");
    // No status file given: no hubboxBackup objects.
    down.backup.configured = false;
    view = build_view(down, groups, alerts, settings, clock_now, 7);
    for (const Binding& b : view.bindings()) {
        EXPECT_FALSE(oid_to_string(b.name).starts_with("1.3.6.1.4.1.32473.1.1.6."));
    }
}

}  // namespace
}  // namespace hub::snmp
