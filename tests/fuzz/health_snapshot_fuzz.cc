// health_snapshot_fuzz.cc -- decode arbitrary bytes as a health snapshot (status answer).
//
// Beyond "no crash, no leak, no huge allocation", it checks that what decodes is within
// the limits and that the format is canonical on what it keeps: encoding the decoded
// snapshot and decoding that again gives the same snapshot, and encoding it a second time
// gives the same bytes (when it stays within snapshot_bytes_max). The text views must not fail on
// anything that decodes. Seeds in tests/fuzz/health_snapshot/ are encoder output (snapshot_test.cc,
// FuzzSeeds).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "health/limits.h"
#include "health/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto decoded = hub::health::decode(text);
    if (!decoded) {
        HUB_ASSERT(!decoded.error().empty());
        return 0;
    }
    HUB_ASSERT(decoded->shards.size() <= hub::health::shards_max);
    HUB_ASSERT(decoded->partners.size() <= hub::health::partners_max);
    std::string once = hub::health::encode(*decoded);
    if (once.size() > hub::health::snapshot_bytes_max) {
        // Encoding writes every known field, so a huge input of sparse rows can grow past
        // the bound; hubd's own snapshots are far below it (docs/HEALTH.md).
        return 0;
    }
    auto again = hub::health::decode(once);
    HUB_ASSERT(again.has_value());
    HUB_ASSERT(*again == *decoded);
    HUB_ASSERT(hub::health::encode(*again) == once);
    (void)hub::health::to_json(*decoded);
    (void)hub::health::to_prometheus(*decoded);
    return 0;
}
