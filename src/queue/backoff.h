// backoff.h -- retry delays and the seeded PRNG that jitters them.
//
// Pure functions of their arguments, so that a test can replay a schedule from a seed.
#pragma once

#include <cstdint>

namespace hub::queue {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and every seed (zero included) gives a
// full-period stream. Not for secrets: it only spreads retries so that mail deferred
// together does not come back together.
class Prng {
public:
    explicit Prng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next();
    // Uniform in [0, bound); precondition bound > 0. Lemire's multiply-shift: the bias is
    // below bound / 2^64, far below anything a schedule can show.
    std::uint64_t below(std::uint64_t bound);

private:
    std::uint64_t state_;
};

// The delay before the next attempt after failed_attempts (>= 1) temporary failures,
// without jitter: delay_s_min doubled for each failure after the first, capped at
// delay_s_max. Preconditions: 1 <= delay_s_min <= delay_s_max.
// With the defaults (300, 3600): 5, 10, 20, 40, 60, 60 ... minutes.
std::uint64_t retry_delay_ms(std::uint32_t delay_s_min, std::uint32_t delay_s_max,
                             std::uint32_t failed_attempts);

// delay_ms scaled by a factor drawn uniformly (in steps of 0.1%) from
// [1 - jitter_percent/100, 1 + jitter_percent/100]. Precondition: jitter_percent < 100.
// A capped delay is jittered too, so the longest wait is delay_s_max * (1 + jitter).
std::uint64_t jitter_ms(std::uint64_t delay_ms, std::uint32_t jitter_percent, Prng& prng);

}  // namespace hub::queue
