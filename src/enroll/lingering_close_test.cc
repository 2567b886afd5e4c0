// lingering_close_test.cc -- the read-and-discard after a connection's last answer: it ends
// when the visitor closes, and never later than drain_bytes_max thrown away or
// drain_timeout_ms, whichever comes first. Time is passed in, so the bounds are exact.
#include "enroll/lingering_close.h"

#include <gtest/gtest.h>

#include "enroll/limits.h"

namespace hub::enroll {
namespace {

using End = LingeringClose::End;

constexpr std::int64_t start_ms = 1'000'000;

TEST(LingeringClose, KeepsReadingUntilTheVisitorCloses) {
    LingeringClose linger(start_ms);
    EXPECT_EQ(linger.end(start_ms), End::not_yet);
    EXPECT_EQ(linger.read_bytes_max(), drain_bytes_max);
    // A refused 100 KB form arriving in TLS records: all of it is read and thrown away.
    for (int record = 0; record < 7; record++) {
        linger.discarded(16 * 1024 + 29);
        EXPECT_EQ(linger.end(start_ms + 10 * record), End::not_yet);
    }
    linger.visitor_closed();
    EXPECT_EQ(linger.end(start_ms + 100), End::visitor_closed);
    EXPECT_EQ(linger.discarded_bytes(), 7u * (16 * 1024 + 29));
}

TEST(LingeringClose, EndsAtTheByteLimit) {
    LingeringClose linger(start_ms);
    linger.discarded(drain_bytes_max - 1);
    EXPECT_EQ(linger.read_bytes_max(), 1u);
    EXPECT_EQ(linger.end(start_ms), End::not_yet);
    linger.discarded(1);
    EXPECT_EQ(linger.read_bytes_max(), 0u);             // The loop reads no more,
    EXPECT_EQ(linger.end(start_ms), End::bytes_limit);  // and closes at once.
}

TEST(LingeringClose, EndsAtTheTimeLimitEvenIfTheVisitorKeepsSending) {
    LingeringClose linger(start_ms);
    EXPECT_EQ(linger.deadline_ms(), start_ms + drain_timeout_ms);
    for (std::int64_t t = 0; t < drain_timeout_ms; t += 100) {
        linger.discarded(10);  // A trickle: far under the byte limit.
        EXPECT_EQ(linger.end(start_ms + t), End::not_yet) << "at " << t << " ms";
    }
    EXPECT_EQ(linger.end(start_ms + drain_timeout_ms), End::time_limit);
}

TEST(LingeringClose, AVisitorThatClosedEndsItEvenPastTheLimits) {
    LingeringClose linger(start_ms);
    linger.discarded(drain_bytes_max);
    linger.visitor_closed();
    EXPECT_EQ(linger.end(start_ms + drain_timeout_ms), End::visitor_closed);
}

}  // namespace
}  // namespace hub::enroll
