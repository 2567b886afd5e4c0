// shard_health_test.cc -- a shard's counters: refusals by reason and stage, TLS rows,
// partner rows kept by name (a renumbered or removed partner keeps its counts), bounds.
#include "engine/shard_health.h"

#include <gtest/gtest.h>

#include <set>

#include "health/limits.h"

namespace hub::engine {
namespace {

TEST(ShardHealth, EveryRefusalReasonHasItsOwnName) {
    std::set<std::string_view> names;
    for (std::size_t reason = 0; reason < smtp::refusal_reason_count; reason++) {
        names.insert(smtp::refusal_reason_name(static_cast<smtp::RefusalReason>(reason)));
    }
    EXPECT_EQ(names.size(), smtp::refusal_reason_count);
    EXPECT_EQ(names.count(""), 0u);
}

TEST(ShardHealth, RefusalsCountByReasonAndStage) {
    ShardHealth health(3);
    health::PartnerRow* partner = health.partner("partner1");
    smtp::Refusal refusal;
    refusal.stage = smtp::RefusalStage::connect;
    refusal.reason = smtp::RefusalReason::unknown_client;
    health.count_refusal(refusal, nullptr, 10);
    refusal.stage = smtp::RefusalStage::rcpt;
    refusal.reason = smtp::RefusalReason::relay_denied;
    health.count_refusal(refusal, partner, 20);
    health.count_refusal(refusal, partner, 30);
    refusal.stage = smtp::RefusalStage::ehlo;
    refusal.reason = smtp::RefusalReason::timeout;
    health.count_refusal(refusal, partner, 40);
    health::Snapshot part = health.part(7);
    ASSERT_EQ(part.shards.size(), 1u);
    EXPECT_EQ(part.shards[0].index, 3u);
    EXPECT_EQ(part.shards[0].cpu_ns, 7u);
    EXPECT_EQ(part.shards[0].traffic.inbound_refused, 1u);
    EXPECT_EQ(part.shards[0].traffic.messages_rejected, 2u);  // Not the timeout.
    EXPECT_EQ(part.refusals["unknown_client"], 1u);
    EXPECT_EQ(part.refusals["relay_denied"], 2u);
    EXPECT_EQ(part.refusals["timeout"], 1u);
    ASSERT_EQ(part.partners.size(), 1u);
    EXPECT_EQ(part.partners[0].traffic.messages_rejected, 2u);
    EXPECT_EQ(part.partners[0].last_inbound_refusal, "timeout");
    EXPECT_EQ(part.partners[0].last_inbound_refusal_unix_ms, 40u);
}

TEST(ShardHealth, PartnerRowsAreByNameAndStable) {
    ShardHealth health(0);
    EXPECT_EQ(health.partner(""), nullptr);
    health::PartnerRow* first = health.partner("b");
    first->traffic.messages_received = 4;
    health.partner("a");
    // A reload that renumbers partners changes nothing: the row is found by name, at the
    // same address, with its counts.
    EXPECT_EQ(health.partner("b"), first);
    EXPECT_EQ(health.partner("b")->traffic.messages_received, 4u);
    health::Snapshot part = health.part(0);
    ASSERT_EQ(part.partners.size(), 2u);
    EXPECT_EQ(part.partners[0].name, "a");
}

TEST(ShardHealth, PartnerNamesPastTheBoundShareOneRow) {
    ShardHealth health(0);
    for (std::size_t i = 0; i < health::partners_max + 10; i++) {
        ASSERT_NE(health.partner("p" + std::to_string(i)), nullptr);
    }
    health::Snapshot part = health.part(0);
    EXPECT_EQ(part.partners.size(), health::partners_max);
    EXPECT_EQ(health.partner("p99999")->name, health::other_key);
    health::finish(part);
    EXPECT_TRUE(health::decode(health::encode(part)).has_value());
}

TEST(ShardHealth, TheLatestCertificatePerPartnerAndDirection) {
    ShardHealth health(0);
    health.note_certificate(true, "p", "/CN=p", 100);
    health.note_certificate(true, "p", "/CN=p", 200);  // Renewed.
    health.note_certificate(false, "p", "/CN=client", 300);
    health.note_certificate(false, "", "/CN=stranger", 300);  // No partner: not kept.
    health.note_certificate(false, "q", "/CN=q", 0);          // No date: not kept.
    health::Snapshot part = health.part(0);
    ASSERT_EQ(part.certificates.size(), 2u);
    health::finish(part);
    EXPECT_EQ(part.certificates[0].role, "partner_client");
    EXPECT_EQ(part.certificates[1].role, "partner_server");
    EXPECT_EQ(part.certificates[1].not_after_unix_s, 200u);
}

TEST(ShardHealth, TlsRowsByDirectionProtocolCipherAndFailuresByReason) {
    ShardHealth health(0);
    health::PartnerRow* partner = health.partner("p");
    health.count_tls(false, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
    health.count_tls(false, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
    health.count_tls(true, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
    health.count_tls_failure(true, "certificate has expired", partner, 99);
    health::Snapshot part = health.part(0);
    EXPECT_EQ((part.tls_ok[{"in", "TLSv1.3", "TLS_AES_256_GCM_SHA384"}]), 2u);
    EXPECT_EQ((part.tls_ok[{"out", "TLSv1.3", "TLS_AES_256_GCM_SHA384"}]), 1u);
    EXPECT_EQ((part.tls_failed[{"out", "certificate has expired"}]), 1u);
    EXPECT_EQ(part.partners[0].last_tls_failure, "out: certificate has expired");
    EXPECT_EQ(part.partners[0].last_tls_failure_unix_ms, 99u);
    EXPECT_EQ(part.partners[0].tls_failures_out, 1u);
    EXPECT_EQ(part.partners[0].tls_failures_in, 0u);
    for (int i = 0; i < 3000; i++) {
        health.count_tls_failure(false, "reason " + std::to_string(i), nullptr, 1);
    }
    part = health.part(0);
    EXPECT_LE(part.tls_failed.size(), health::tls_failure_rows_max);
    EXPECT_GT((part.tls_failed[{"in", health::other_key}]), 0u);
}

}  // namespace
}  // namespace hub::engine
