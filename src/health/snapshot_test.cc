// snapshot_test.cc -- the health snapshot: merging shard parts, the line format's round
// trip and strictness, and the JSON and Prometheus views.
#include "health/snapshot.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>

#include "health/limits.h"

namespace hub::health {
namespace {

Snapshot sample() {
    Snapshot s;
    s.taken_unix_ms = 1700000000123;
    s.started_unix_ms = 1700000000000;
    s.spool_free_bytes = 5000;
    s.spool_total_bytes = 9000;
    s.spool_reserve_bytes = 100;
    ShardRow shard0;
    shard0.index = 0;
    shard0.cpu_ns = 1500000000;
    shard0.traffic.messages_received = 3;
    shard0.traffic.bytes_received = 300;
    shard0.traffic.queue_messages = 1;
    shard0.traffic.oldest_queued_unix_ms = 1700000000050;
    ShardRow shard1;
    shard1.index = 1;
    shard1.traffic.messages_received = 2;
    shard1.traffic.messages_delivered = 4;
    shard1.traffic.oldest_queued_unix_ms = 1700000000020;
    s.shards = {shard1, shard0};
    PartnerRow partner;
    partner.name = "partner1";
    partner.traffic.messages_received = 5;
    partner.last_inbound_unix_ms = 1700000000100;
    partner.last_tls_failure_unix_ms = 1700000000090;
    partner.last_tls_failure = "in: peer did not return a certificate = \"odd\"\n%";
    partner.tls_failures_in = 2;
    partner.tls_failures_out = 3;
    s.partners.push_back(partner);
    s.refusals["relay_denied"] = 2;
    s.refusals["unknown_client"] = 1;
    s.tls_ok[TlsKey{"in", "TLSv1.3", "TLS_AES_256_GCM_SHA384"}] = 5;
    s.tls_failed[TlsFailureKey{"out", "certificate not verified"}] = 1;
    s.certificates.push_back({"listener", "", "CN=hub.example", 1800000000});
    finish(s);
    return s;
}

TEST(HealthSnapshot, FinishSumsShardsAndSorts) {
    Snapshot s = sample();
    EXPECT_EQ(s.shards[0].index, 0u);
    EXPECT_EQ(s.total.messages_received, 5u);
    EXPECT_EQ(s.total.messages_delivered, 4u);
    EXPECT_EQ(s.total.bytes_received, 300u);
    EXPECT_EQ(s.total.oldest_queued_unix_ms, 1700000000020u);  // The earliest, not the sum.
}

TEST(HealthSnapshot, RoundTrips) {
    Snapshot s = sample();
    std::string text = encode(s);
    auto back = decode(text);
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_EQ(*back, s);
    EXPECT_EQ(encode(*back), text);
    EXPECT_TRUE(text.starts_with("hubbox-health 1\nhub taken_unix_ms=1700000000123 "));
    EXPECT_TRUE(text.ends_with("\nend\n"));
    // Text is percent-encoded: no space, '=', '%' or line break inside a value.
    EXPECT_NE(text.find("last_tls_failure=in:%20peer%20did%20not%20return%20a%20certificate%20%3D"
                        "%20\"odd\"%0A%25"),
              std::string::npos)
        << text;
}

TEST(HealthSnapshot, MergeAddsByPartnerNameAndKeepsLatestTexts) {
    Snapshot a;
    PartnerRow p;
    p.name = "p";
    p.traffic.messages_delivered = 2;
    p.traffic.oldest_queued_unix_ms = 50;
    p.last_outbound_failure_unix_ms = 10;
    p.last_outbound_failure = "older";
    a.partners.push_back(p);
    a.refusals["timeout"] = 1;
    a.shards.push_back({0, 10, {}});
    Snapshot b;
    p.traffic.messages_delivered = 3;
    p.traffic.oldest_queued_unix_ms = 0;
    p.last_outbound_failure_unix_ms = 20;
    p.last_outbound_failure = "newer";
    b.partners.push_back(p);
    PartnerRow q;
    q.name = "q";
    b.partners.push_back(q);
    b.refusals["timeout"] = 4;
    b.shards.push_back({1, 20, {}});
    Snapshot merged;
    merge(merged, b);
    merge(merged, a);
    finish(merged);
    ASSERT_EQ(merged.partners.size(), 2u);
    EXPECT_EQ(merged.partners[0].name, "p");
    EXPECT_EQ(merged.partners[0].traffic.messages_delivered, 5u);
    EXPECT_EQ(merged.partners[0].traffic.oldest_queued_unix_ms, 50u);  // 0 means none.
    EXPECT_EQ(merged.partners[0].last_outbound_failure, "newer");
    EXPECT_EQ(merged.refusals["timeout"], 5u);
    ASSERT_EQ(merged.shards.size(), 2u);
    EXPECT_EQ(merged.shards[1].cpu_ns, 20u);
}

// One shard failed TLS with the partner, another had TLS with it later: not failing; a
// failure after that success is the new "since".
TEST(HealthSnapshot, TlsFailingSinceIsClearedByALaterSuccessOnAnotherShard) {
    auto row = [](std::uint64_t since, std::uint64_t failure, std::uint64_t ok) {
        Snapshot s;
        PartnerRow p;
        p.name = "p";
        p.tls_failing_out_since_unix_ms = since;
        p.last_tls_failure_unix_ms = failure;
        p.last_tls_failure = failure != 0 ? "out: no STARTTLS" : "";
        p.last_outbound_tls_unix_ms = ok;
        s.partners.push_back(p);
        return s;
    };
    Snapshot merged;
    merge(merged, row(100, 100, 0));
    merge(merged, row(0, 0, 200));
    EXPECT_EQ(merged.partners[0].tls_failing_out_since_unix_ms, 0u);
    merge(merged, row(300, 300, 0));
    EXPECT_EQ(merged.partners[0].tls_failing_out_since_unix_ms, 300u);
    Snapshot failing;
    merge(failing, row(100, 150, 0));
    merge(failing, row(120, 120, 0));
    EXPECT_EQ(failing.partners[0].tls_failing_out_since_unix_ms, 100u);  // The earliest.
}

TEST(HealthSnapshot, FinishKeepsTheLatestPartnerCertificateAndEveryAnchor) {
    Snapshot s;
    s.certificates = {{"partner_server", "p", "/CN=p", 200},
                      {"partner_server", "p", "/CN=p", 100},
                      {"trust_anchor", "", "/CN=ca", 300},
                      {"trust_anchor", "", "/CN=ca", 400},
                      {"trust_anchor", "", "/CN=ca", 400}};
    finish(s);
    ASSERT_EQ(s.certificates.size(), 3u);
    EXPECT_EQ(s.certificates[0].not_after_unix_s, 200u);  // The renewed one, not the old.
    EXPECT_EQ(s.certificates[1].not_after_unix_s, 300u);  // Both anchors stay.
    EXPECT_EQ(s.certificates[2].not_after_unix_s, 400u);
}

TEST(HealthSnapshot, SkipsUnknownKindsAndKeysButChecksTheirSyntax) {
    std::string text =
        "hubbox-health 1\nhub taken_unix_ms=5 future_field=x\nfuture_kind a=1 b=%20\n"
        "shard index=0 messages_received=7\nend\n";
    auto s = decode(text);
    ASSERT_TRUE(s.has_value()) << s.error();
    EXPECT_EQ(s->taken_unix_ms, 5u);
    EXPECT_EQ(s->total.messages_received, 7u);
    EXPECT_FALSE(decode("hubbox-health 1\nhub\nfuture_kind a\nend\n").has_value());
}

struct BadCase {
    const char* text;
    const char* error_part;
};

TEST(HealthSnapshot, RejectsMalformedInputWithTheLine) {
    const BadCase cases[] = {
        {"", "no 'end'"},
        {"hubbox-health 2\nhub\nend\n", "line 1: expected 'hubbox-health 1'"},
        {"hubbox-health 1\nhub\n", "no 'end'"},
        {"hubbox-health 1\nhub\nend", "line 3: no line break"},
        {"hubbox-health 1\nend\n", "no 'hub' line"},
        {"hubbox-health 1\nhub\nend\nhub\n", "line 4: text after 'end'"},
        {"hubbox-health 1\nhub\nhub\nend\n", "line 3: hub: a second hub line"},
        {"hubbox-health 1\nhub taken_unix_ms=-1\nend\n", "not an unsigned decimal"},
        {"hubbox-health 1\nhub taken_unix_ms=01\nend\n", "not an unsigned decimal"},
        {"hubbox-health 1\nhub taken_unix_ms=18446744073709551616\nend\n", "not an unsigned"},
        {"hubbox-health 1\nhub taken_unix_ms=1 taken_unix_ms=1\nend\n", "given twice"},
        {"hubbox-health 1\nhub  taken_unix_ms=1\nend\n", "not key=value"},
        {"hubbox-health 1\nhub taken_unix_ms=1 \nend\n", "not key=value"},
        {"hubbox-health 1\nhub\nshard messages_received=1\nend\n", "missing index="},
        {"hubbox-health 1\nhub\nshard index=0\nshard index=0\nend\n", "shard 0 given twice"},
        {"hubbox-health 1\nhub\nshard index=256\nend\n", "not below 256"},
        {"hubbox-health 1\nhub\npartner name=a%2\nend\n", "ends inside"},
        {"hubbox-health 1\nhub\npartner name=a%41\nend\n", "needs no escape"},
        {"hubbox-health 1\nhub\npartner name=a%0a\nend\n", "bad %XX escape"},
        {"hubbox-health 1\nhub\npartner name=\nend\n", "empty partner name"},
        {"hubbox-health 1\nhub\npartner name=a\npartner name=a\nend\n", "given twice"},
        {"hubbox-health 1\nhub\nrefusal reason=x count=1\nrefusal reason=x count=2\nend\n",
         "given before"},
        {"hubbox-health 1\nhub\nrefusal reason=x\nend\n", "missing count="},
        {"hubbox-health 1\nhub\nHub\nend\n", "kind in lower case"},
        {"hubbox-health 1\nhub\nhub\tx=1\nend\n", "kind in lower case"},
        {"hubbox-health 1\nhub\npartner name=a\xff\nend\n", "must be percent-encoded"},
    };
    for (const BadCase& bad : cases) {
        auto s = decode(bad.text);
        ASSERT_FALSE(s.has_value()) << bad.text;
        EXPECT_NE(s.error().find(bad.error_part), std::string::npos)
            << bad.text << " -> " << s.error();
    }
}

TEST(HealthSnapshot, EnforcesItsBounds) {
    std::string long_line =
        "hubbox-health 1\nhub x=" + std::string(line_bytes_max, 'a') + "\nend\n";
    EXPECT_FALSE(decode(long_line).has_value());
    std::string long_text =
        "hubbox-health 1\nhub\npartner name=" + std::string(string_bytes_max + 1, 'a') + "\nend\n";
    auto s = decode(long_text);
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().find("longer than"), std::string::npos);
    std::string many = "hubbox-health 1\nhub\n";
    for (std::size_t i = 0; i <= refusal_reasons_max; i++) {
        many += "refusal reason=r" + std::to_string(i) + " count=1\n";
    }
    many += "end\n";
    EXPECT_FALSE(decode(many).has_value());
    EXPECT_FALSE(decode(std::string(snapshot_bytes_max + 1, '\n')).has_value());
}

TEST(HealthSnapshot, JsonUsesTheSameNames) {
    std::string json = to_json(sample());
    EXPECT_TRUE(json.starts_with("{\"taken_unix_ms\":1700000000123,"));
    EXPECT_NE(json.find("\"total\":{\"inbound_open\":0,"), std::string::npos);
    EXPECT_NE(json.find("\"messages_received\":5"), std::string::npos);
    EXPECT_NE(json.find("\"refusals\":{\"relay_denied\":2,\"unknown_client\":1}"),
              std::string::npos);
    // Control bytes are escaped so the JSON stays valid.
    EXPECT_NE(json.find("\\\"odd\\\"\\u000a%"), std::string::npos) << json;
}

TEST(HealthSnapshot, PrometheusFamiliesAndSamples) {
    std::string text = to_prometheus(sample());
    EXPECT_NE(text.find("# TYPE hubbox_messages_received_total counter\n"
                        "hubbox_messages_received_total{shard=\"0\"} 3\n"
                        "hubbox_messages_received_total{shard=\"1\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("hubbox_partner_messages_received_total{partner=\"partner1\"} 5\n"),
              std::string::npos);
    EXPECT_NE(text.find("hubbox_shard_cpu_seconds_total{shard=\"0\"} 1.500000000\n"),
              std::string::npos);
    EXPECT_NE(text.find("hubbox_queue_oldest_message_timestamp_seconds{shard=\"0\"} "
                        "1700000000.050\n"),
              std::string::npos);
    // Label values escape quote, backslash and line feed.
    EXPECT_NE(text.find("reason=\"in: peer did not return a certificate = \\\"odd\\\"\\n%\"}"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("hubbox_tls_handshakes_total{direction=\"in\",protocol=\"TLSv1.3\","
                        "cipher=\"TLS_AES_256_GCM_SHA384\"} 5\n"),
              std::string::npos);
    EXPECT_NE(text.find("hubbox_certificate_expiry_timestamp_seconds{role=\"listener\","
                        "partner=\"\",subject=\"CN=hub.example\"} 1800000000\n"),
              std::string::npos);
}

TEST(HealthSnapshot, FetchReportsAMissingHub) {
    auto s = fetch_snapshot("/nonexistent/status.sock");
    ASSERT_FALSE(s.has_value());
    EXPECT_NE(s.error().find("cannot reach hubd at /nonexistent/status.sock"), std::string::npos)
        << s.error();
}

// Regenerates the fuzzer's seeds (tests/fuzz/health_snapshot/) when HUB_WRITE_HEALTH_SEEDS=1;
// otherwise checks that the checked-in seeds are what encode() gives today, so a format change
// cannot leave the fuzzer starting from lines the decoder refuses at the first field.
TEST(HealthSnapshot, FuzzSeedsAreCurrent) {
    const std::pair<std::string, std::string> seeds[] = {
        {"sample.txt", encode(sample())},
        {"empty.txt", encode(Snapshot{})},
    };
    const char* write = std::getenv("HUB_WRITE_HEALTH_SEEDS");
    for (const auto& [name, bytes] : seeds) {
        std::string path = std::string(HUB_HEALTH_CORPUS_DIR) + "/" + name;
        if (write != nullptr && std::string(write) == "1") {
            std::ofstream(path, std::ios::binary) << bytes;
        }
        std::ifstream in(path, std::ios::binary);
        std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(stored, bytes) << path << " is stale: rerun with HUB_WRITE_HEALTH_SEEDS=1";
        EXPECT_TRUE(decode(stored).has_value()) << path;
    }
}

}  // namespace
}  // namespace hub::health
