// size_dist.cc -- parsing and drawing message sizes (see size_dist.h).
#include "size_dist.h"

#include <algorithm>
#include <charconv>

#include <fmt/core.h>

#include "base/assert.h"
#include "limits.h"

namespace hub::loadgen {
namespace {

inline constexpr std::uint64_t weight_max = 1000000;

Result<std::uint64_t, std::string> parse_number(std::string_view text, std::string_view what) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return unexpected(fmt::format("--size-dist: {} '{}' is not a number", what, text));
    }
    return value;
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t value) {
    value += 0x9e3779b97f4a7c15ull;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

Result<SizeDistribution, std::string> SizeDistribution::parse(std::string_view spec,
                                                              std::uint64_t fixed_bytes) {
    SizeDistribution distribution;
    if (spec == "fixed") {
        distribution.entries_.push_back(Entry{fixed_bytes, 1});
        distribution.weight_total_ = 1;
        return distribution;
    }
    for (bool more = true; more;) {  // Every item, including an empty one after a comma.
        std::size_t comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        more = comma != std::string_view::npos;
        spec = more ? spec.substr(comma + 1) : std::string_view();
        std::size_t colon = item.find(':');
        if (colon == std::string_view::npos) {
            return unexpected(fmt::format("--size-dist: '{}' is not BYTES:WEIGHT", item));
        }
        auto bytes = parse_number(item.substr(0, colon), "size");
        auto weight = parse_number(item.substr(colon + 1), "weight");
        if (!bytes || !weight) {
            return unexpected(!bytes ? bytes.error() : weight.error());
        }
        if (*bytes == 0 || *bytes > message_bytes_max) {
            return unexpected(
                fmt::format("--size-dist: size {} is outside 1..{}", *bytes, message_bytes_max));
        }
        if (*weight == 0 || *weight > weight_max) {
            return unexpected(
                fmt::format("--size-dist: weight {} is outside 1..{}", *weight, weight_max));
        }
        if (distribution.entries_.size() == size_dist_entries_max) {
            return unexpected(
                fmt::format("--size-dist: more than {} entries", size_dist_entries_max));
        }
        distribution.entries_.push_back(Entry{*bytes, *weight});
        distribution.weight_total_ += *weight;
    }
    if (distribution.entries_.empty()) {
        return unexpected(std::string("--size-dist: empty list"));
    }
    return distribution;
}

std::uint64_t SizeDistribution::pick(std::uint64_t seed, std::uint32_t session_index,
                                     std::uint32_t message_index) const {
    HUB_ASSERT(!entries_.empty() && weight_total_ > 0);
    if (entries_.size() == 1) {
        return entries_[0].bytes;
    }
    std::uint64_t key = (std::uint64_t{session_index} << 32) | message_index;
    std::uint64_t ticket = splitmix64(splitmix64(seed) ^ key) % weight_total_;
    for (const Entry& entry : entries_) {
        if (ticket < entry.weight) {
            return entry.bytes;
        }
        ticket -= entry.weight;
    }
    HUB_PANIC("ticket below weight_total_ always lands in an entry");
}

std::uint64_t SizeDistribution::bytes_max() const {
    std::uint64_t most = 0;
    for (const Entry& entry : entries_) {
        most = std::max(most, entry.bytes);
    }
    return most;
}

}  // namespace hub::loadgen
