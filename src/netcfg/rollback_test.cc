// rollback_test.cc -- the confirm-or-roll-back timer on an injected clock.
#include "netcfg/rollback.h"

#include <gtest/gtest.h>

namespace hub::netcfg {
namespace {

Settings with_hostname(const char* name) {
    Settings settings = Settings::defaults();
    settings.hostname = name;
    return settings;
}

TEST(Rollback, ConfirmWithinTheWindowKeepsTheChange) {
    PendingChange pending;
    EXPECT_FALSE(pending.ms_left(0));
    pending.start("00000000000000aa", 1000, 60, with_hostname("before"), with_hostname("after"),
                  "set_hostname after");
    EXPECT_TRUE(pending.pending());
    EXPECT_EQ(pending.ms_left(1000), 60000);
    EXPECT_FALSE(pending.take_expired(60999));
    auto wrong = pending.confirm("00000000000000bb", 2000);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, ErrorCode::bad_request);
    EXPECT_TRUE(pending.pending());
    auto confirmed = pending.confirm("00000000000000aa", 60999);
    ASSERT_TRUE(confirmed);
    EXPECT_EQ(confirmed->after.hostname, "after");
    EXPECT_FALSE(pending.pending());
    EXPECT_FALSE(pending.take_expired(1000000));
    auto again = pending.confirm("00000000000000aa", 61000);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::not_found);
}

TEST(Rollback, TheWindowClosingHandsBackTheStateBefore) {
    PendingChange pending;
    pending.start("00000000000000aa", 0, 5, with_hostname("before"), with_hostname("after"),
                  "set_hostname after");
    EXPECT_EQ(pending.ms_left(4000), 1000);
    EXPECT_EQ(pending.ms_left(7000), 0);
    auto late = pending.confirm("00000000000000aa", 5000);  // At the deadline: too late.
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code, ErrorCode::not_found);
    auto expired = pending.take_expired(5000);
    ASSERT_TRUE(expired);
    EXPECT_EQ(expired->before.hostname, "before");
    EXPECT_FALSE(pending.pending());
}

TEST(Rollback, RevertEndsTheWindowEarly) {
    PendingChange pending;
    pending.start("00000000000000aa", 0, 60, with_hostname("before"), with_hostname("after"), "x");
    auto reverted = pending.revert("00000000000000aa", 10);
    ASSERT_TRUE(reverted);
    EXPECT_EQ(reverted->before.hostname, "before");
    EXPECT_FALSE(pending.pending());
    pending.start("00000000000000cc", 20, 1, with_hostname("a"), with_hostname("b"), "y");
    EXPECT_TRUE(pending.pending());  // A new change may start once the last one ended.
}

}  // namespace
}  // namespace hub::netcfg
