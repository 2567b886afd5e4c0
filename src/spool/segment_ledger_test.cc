// segment_ledger_test.cc -- liveness accounting and the reclamation plan.
//
// Method: build a shard's segments as tables (bytes, live records), play pins, unpins and
// removals on them, and check which segment may go next and when compaction is planned.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "spool/limits.h"
#include "spool/segment_ledger.h"

namespace hub::spool {
namespace {

struct Row {
    std::uint32_t seq;
    std::uint64_t bytes;
    std::uint32_t live;
    std::uint64_t live_bytes;
    bool keep = false;
};

SegmentLedger ledger_of(const std::vector<Row>& rows, std::optional<std::uint32_t> append) {
    SegmentLedger ledger;
    for (const Row& row : rows) {
        ledger.add(row.seq, row.bytes, row.live, row.live_bytes, row.keep);
    }
    if (append) {
        ledger.set_append_segment(*append);
    }
    return ledger;
}

TEST(SegmentLedger, PinAndUnpinCountLiveRecordsPerSegment) {
    SegmentLedger ledger = ledger_of({{1, 0, 0, 0}}, 2);
    ledger.grew(1, 3000);
    ledger.pin(1, 1000);
    ledger.pin(1, 2000);
    ledger.grew(2, 500);
    ledger.pin(2, 500);
    ledger.pin(9, 100);  // Not this ledger's segment: ignored.
    EXPECT_EQ(ledger.find(1)->live, 2u);
    EXPECT_EQ(ledger.find(1)->live_bytes, 3000u);
    EXPECT_EQ(ledger.live_bytes(), 3500u);
    EXPECT_EQ(ledger.total_bytes(), 3500u);
    ledger.unpin(1, 2000);
    EXPECT_EQ(ledger.find(1)->live, 1u);
    EXPECT_EQ(ledger.find(1)->live_bytes, 1000u);
    EXPECT_EQ(ledger.find(9), nullptr);
}

TEST(SegmentLedger, SegmentsGoOldestFirstAndNeverTheAppendSegment) {
    // 1 dead, 2 live, 3 dead, 4 the append segment (dead).
    SegmentLedger ledger =
        ledger_of({{1, 100, 0, 0}, {2, 100, 1, 90}, {3, 100, 0, 0}, {4, 10, 0, 0}}, 4);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(1));
    EXPECT_EQ(ledger.take_removal(), std::nullopt) << "one deletion at a time";
    ledger.removed(1);
    EXPECT_EQ(ledger.take_removal(), std::nullopt) << "2 is live: 3 waits behind it";
    ledger.unpin(2, 90);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(2));
    ledger.removed(2);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(3));
    ledger.removed(3);
    EXPECT_EQ(ledger.take_removal(), std::nullopt) << "the append segment stays";
    ledger.set_append_segment(5);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(4));
    ledger.removed(4);
    EXPECT_EQ(ledger.segments().size(), 1u);
}

TEST(SegmentLedger, AKeptOrFailedSegmentIsNeverDeleted) {
    SegmentLedger ledger = ledger_of({{1, 100, 0, 0, true}, {2, 100, 0, 0}}, 3);
    EXPECT_EQ(ledger.take_removal(), std::nullopt);
    SegmentLedger other = ledger_of({{1, 100, 0, 0}, {2, 100, 0, 0}}, 3);
    ASSERT_EQ(other.take_removal(), std::optional<std::uint32_t>(1));
    other.removal_failed(1);
    EXPECT_EQ(other.take_removal(), std::nullopt);
    EXPECT_EQ(other.compaction_plan(), std::nullopt);
}

struct PlanCase {
    const char* name;
    std::vector<Row> rows;
    std::uint32_t append;
    std::optional<std::uint32_t> plan_seq;
    std::uint64_t freed_bytes;
};

TEST(SegmentLedger, CompactionPlan) {
    static_assert(compaction_live_percent_max == 50, "the table assumes half");
    const std::vector<PlanCase> cases = {
        {"empty head: deleted, not compacted", {{1, 1000, 0, 0}, {2, 10, 0, 0}}, 2, {}, 0},
        {"head one tenth live", {{1, 1000, 1, 100}, {2, 10, 0, 0}}, 2, 1, 1000},
        {"head exactly half live", {{1, 1000, 3, 500}, {2, 10, 0, 0}}, 2, 1, 1000},
        {"head mostly live", {{1, 1000, 3, 501}, {2, 10, 0, 0}}, 2, {}, 0},
        {"mostly live head, but it blocks a dead run",
         {{1, 1000, 8, 900}, {2, 1000, 0, 0}, {3, 1000, 0, 0}, {4, 10, 0, 0}},
         4,
         1,
         3000},
        {"the dead run ends at a live segment",
         {{1, 1000, 8, 900}, {2, 500, 0, 0}, {3, 1000, 1, 10}, {4, 1000, 0, 0}, {5, 1, 0, 0}},
         5,
         {},
         0},
        {"the head is the append segment", {{1, 1000, 1, 10}}, 1, {}, 0},
        {"a kept head is not ours to copy", {{1, 1000, 1, 10, true}, {2, 1, 0, 0}}, 2, {}, 0},
    };
    for (const PlanCase& c : cases) {
        SegmentLedger ledger = ledger_of(c.rows, c.append);
        std::optional<CompactionPlan> plan = ledger.compaction_plan();
        ASSERT_EQ(plan.has_value(), c.plan_seq.has_value()) << c.name;
        if (plan) {
            EXPECT_EQ(plan->seq, *c.plan_seq) << c.name;
            EXPECT_EQ(plan->freed_bytes, c.freed_bytes) << c.name;
            EXPECT_EQ(plan->live, c.rows.front().live) << c.name;
            EXPECT_EQ(plan->live_bytes, c.rows.front().live_bytes) << c.name;
        }
    }
}

TEST(SegmentLedger, CompactedHeadIsDeletedOnceItsCopiesAreDurable) {
    SegmentLedger ledger = ledger_of({{1, 1000, 2, 200}, {2, 1000, 0, 0}}, 3);
    ASSERT_TRUE(ledger.compaction_plan().has_value());
    // The copies land in the append segment: pinned there, unpinned from the head.
    ledger.grew(3, 200);
    ledger.pin(3, 100);
    ledger.pin(3, 100);
    ledger.unpin(1, 100);
    EXPECT_EQ(ledger.take_removal(), std::nullopt);
    ledger.unpin(1, 100);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(1));
    ledger.removed(1);
    ASSERT_EQ(ledger.take_removal(), std::optional<std::uint32_t>(2));
    ledger.removed(2);
    EXPECT_EQ(ledger.total_bytes(), 200u);
    EXPECT_EQ(ledger.live_bytes(), 200u);
}

}  // namespace
}  // namespace hub::spool
