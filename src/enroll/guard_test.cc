// guard_test.cc -- form tokens (once, this browser, this form, within the hour) and the
// per-address token buckets, on an injected clock.
#include "enroll/guard.h"

#include <gtest/gtest.h>

#include "enroll/limits.h"

namespace hub::enroll {
namespace {

const std::string key(32, 'k');

TEST(FormGuard, ATokenWorksOnceForItsFormAndCookie) {
    FormGuard guard(key);
    auto cookie = guard.new_cookie();
    ASSERT_TRUE(cookie.has_value());
    EXPECT_EQ(cookie->size(), 24u);
    auto token = guard.token("request", *cookie, 1000);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(guard.redeem("status", *cookie, *token, 1001).error(), FormRefusal::invalid);
    EXPECT_EQ(guard.redeem("request", "another-cookie-xxxxxxxxx", *token, 1001).error(),
              FormRefusal::invalid);
    EXPECT_EQ(guard.redeem("request", "", *token, 1001).error(), FormRefusal::no_cookie);
    EXPECT_TRUE(guard.redeem("request", *cookie, *token, 1001).has_value());
    EXPECT_EQ(guard.redeem("request", *cookie, *token, 1002).error(), FormRefusal::replayed);
}

TEST(FormGuard, ForgedAndOldTokensAreRefused) {
    FormGuard guard(key);
    std::string cookie = "c";
    auto token = guard.token("request", cookie, 5000);
    ASSERT_TRUE(token.has_value());
    std::string flipped = *token;
    flipped[3] = flipped[3] == 'A' ? 'B' : 'A';
    EXPECT_EQ(guard.redeem("request", cookie, flipped, 5001).error(), FormRefusal::invalid);
    EXPECT_EQ(guard.redeem("request", cookie, "short", 5001).error(), FormRefusal::invalid);
    EXPECT_EQ(guard.redeem("request", cookie, *token, 5000 + form_lifetime_s + 1).error(),
              FormRefusal::expired);
    FormGuard other(std::string(32, 'x'));  // A restarted page draws another key.
    auto fresh = guard.token("request", cookie, 6000);
    EXPECT_EQ(other.redeem("request", cookie, *fresh, 6001).error(), FormRefusal::invalid);
}

TEST(FormGuard, UsedTokensAreForgottenAfterTheyExpire) {
    FormGuard guard(key);
    for (int i = 0; i < 10; i++) {
        auto token = guard.token("status", "c", 100);
        ASSERT_TRUE(guard.redeem("status", "c", *token, 100).has_value());
    }
    EXPECT_EQ(guard.used_count(), 10u);
}

TEST(RateLimiter, BucketsPerAddressRefillOverAMinute) {
    RateLimiter limiter(6, 2);
    std::int64_t now = 1'000'000;
    EXPECT_EQ(limiter.take("192.0.2.1", true, now), RateVerdict::allowed);
    EXPECT_EQ(limiter.take("192.0.2.1", true, now), RateVerdict::allowed);
    EXPECT_EQ(limiter.take("192.0.2.1", true, now), RateVerdict::limited);
    EXPECT_EQ(limiter.retry_after_s("192.0.2.1", true), 30u);  // 2 per minute: one per 30 s.
    EXPECT_EQ(limiter.take("192.0.2.1", false, now), RateVerdict::allowed);  // Pages still work.
    EXPECT_EQ(limiter.take("192.0.2.2", true, now), RateVerdict::allowed);   // Others unaffected.
    EXPECT_EQ(limiter.take("192.0.2.1", true, now + 30'000), RateVerdict::allowed);
    // Refilled to the brim (6) at +30 s, one went to the form: five pages remain.
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(limiter.take("192.0.2.1", false, now + 30'000), RateVerdict::allowed);
    }
    EXPECT_EQ(limiter.take("192.0.2.1", false, now + 30'000), RateVerdict::limited);
}

TEST(RateLimiter, AFullTableForgetsIdleAddressesFirst) {
    RateLimiter limiter(100, 10);
    std::int64_t now = 0;
    for (std::size_t i = 0; i < rate_addresses_max; i++) {
        ASSERT_EQ(limiter.take("10.0." + std::to_string(i), false, now), RateVerdict::allowed);
    }
    EXPECT_EQ(limiter.take("10.1.0.0", false, now), RateVerdict::table_full);
    // A minute later every bucket is full again, so they are forgotten to make room.
    EXPECT_EQ(limiter.take("10.1.0.0", false, now + 60'000), RateVerdict::allowed);
    EXPECT_EQ(limiter.addresses(), 1u);
}

}  // namespace
}  // namespace hub::enroll
