// size_dist.h -- message sizes: one fixed size or a weighted list, drawn deterministically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::loadgen {

class SizeDistribution {
public:
    struct Entry {
        std::uint64_t bytes = 0;
        std::uint64_t weight = 0;
    };

    // "fixed" (every message is fixed_bytes) or "BYTES:WEIGHT,BYTES:WEIGHT,..." with
    // 1 <= BYTES <= message_bytes_max, 1 <= WEIGHT <= 1000000, at most size_dist_entries_max
    // entries. Errors: a text naming what is wrong.
    [[nodiscard]] static Result<SizeDistribution, std::string> parse(std::string_view spec,
                                                                     std::uint64_t fixed_bytes);

    // The size of message message_index of session session_index: a pure function of the
    // seed and the two indexes, so a run is repeatable whatever the thread count or timing.
    std::uint64_t pick(std::uint64_t seed, std::uint32_t session_index,
                       std::uint32_t message_index) const;
    std::uint64_t bytes_max() const;
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
    std::uint64_t weight_total_ = 0;
};

// SplitMix64: a tiny, well-mixed hash of a 64-bit value (Steele, Lea, Flood 2014).
std::uint64_t splitmix64(std::uint64_t value);

}  // namespace hub::loadgen
