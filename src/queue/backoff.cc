// backoff.cc -- retry delays and their jitter (see backoff.h).
#include "queue/backoff.h"

#include "base/assert.h"
#include "queue/limits.h"

namespace hub::queue {

std::uint64_t Prng::next() {
    state_ += 0x9E37'79B9'7F4A'7C15u;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58'476D'1CE4'E5B9u;
    z = (z ^ (z >> 27)) * 0x94D0'49BB'1331'11EBu;
    return z ^ (z >> 31);
}

std::uint64_t Prng::below(std::uint64_t bound) {
    HUB_ASSERT(bound > 0);
    unsigned __int128 wide = static_cast<unsigned __int128>(next()) * bound;
    std::uint64_t value = static_cast<std::uint64_t>(wide >> 64);
    HUB_ASSERT(value < bound);
    return value;
}

std::uint64_t retry_delay_ms(std::uint32_t delay_s_min, std::uint32_t delay_s_max,
                             std::uint32_t failed_attempts) {
    HUB_ASSERT(delay_s_min >= 1 && delay_s_min <= delay_s_max);
    HUB_ASSERT(failed_attempts >= 1);
    std::uint64_t delay_s = delay_s_min;
    // Doubling stops at the cap, so the loop runs at most log2(max / min) + 1 times
    // whatever failed_attempts is, and delay_s never overflows.
    for (std::uint32_t i = 1; i < failed_attempts && delay_s < delay_s_max; i++) {
        delay_s *= 2;
    }
    if (delay_s > delay_s_max) {
        delay_s = delay_s_max;
    }
    HUB_ASSERT(delay_s >= delay_s_min && delay_s <= delay_s_max);
    return delay_s * 1000;
}

std::uint64_t jitter_ms(std::uint64_t delay_ms, std::uint32_t jitter_percent, Prng& prng) {
    HUB_ASSERT(jitter_percent <= jitter_percent_max);
    HUB_ASSERT(delay_ms <= std::uint64_t{retry_delay_s_ceiling} * 1000 * 2);  // No overflow.
    std::uint64_t spread_permille = std::uint64_t{jitter_percent} * 10;
    // factor_permille is in [1000 - spread, 1000 + spread].
    std::uint64_t factor_permille = 1000 - spread_permille + prng.below(2 * spread_permille + 1);
    std::uint64_t jittered = delay_ms * factor_permille / 1000;
    HUB_ASSERT(jittered * 1000 <= delay_ms * (1000 + spread_permille));
    return jittered;
}

}  // namespace hub::queue
