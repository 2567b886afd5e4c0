// kernel_features.h -- the io_uring features hubd uses, and a start-up check for each.
//
// The appliance ships Debian 12's 6.1 kernel. Every feature below exists in 6.1, and the
// table says since when, so that a static_assert stops anyone from adding one that the
// appliance kernel lacks without also adding a fallback. The operations come from the one
// list in ring.h (HUB_RING_OPERATIONS), so an operation the engine can submit is always in
// the table and in the start-up probe (IORING_REGISTER_PROBE). The start-up check also
// exercises the multishot and provided-buffer needs for real (a multishot recv on a
// socketpair, a multishot accept on a loopback listener) rather than trusting the version
// number, and names the missing one.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "base/result.h"
#include "engine/ring.h"

namespace hub::engine {

struct RingFeature {
    const char* name;
    KernelVersion since;
};

// What the engine needs besides the operations in HUB_RING_OPERATIONS (ring.h): set-up
// flags, submission flags and registrations.
inline constexpr RingFeature ring_setup_features_used[] = {
    {"provided buffer rings (IORING_REGISTER_PBUF_RING)", {5, 19}},
    {"IORING_REGISTER_PROBE", {5, 6}},
    {"IOSQE_CQE_SKIP_SUCCESS", {5, 17}},
    {"IORING_SETUP_CQSIZE", {5, 5}},
    {"IORING_SETUP_SUBMIT_ALL", {5, 18}},
    {"IORING_SETUP_SINGLE_ISSUER", {6, 0}},
    {"IORING_SETUP_DEFER_TASKRUN", {6, 1}},
};

inline constexpr std::size_t ring_feature_count =
    ring_operation_count + std::size(ring_setup_features_used);

// Everything the engine submits or sets up: the operation list, then the set-up features.
constexpr std::array<RingFeature, ring_feature_count> make_ring_features_used() {
    std::array<RingFeature, ring_feature_count> features{};
    std::size_t next = 0;
    for (const RingOperationInfo& operation : ring_operations) {
        features[next++] = RingFeature{operation.name, operation.since};
    }
    for (const RingFeature& feature : ring_setup_features_used) {
        features[next++] = feature;
    }
    return features;
}
inline constexpr std::array<RingFeature, ring_feature_count> ring_features_used =
    make_ring_features_used();

constexpr bool all_features_in_appliance_kernel() {
    for (const RingFeature& feature : ring_features_used) {
        if (!not_newer_than(feature.since, appliance_kernel)) {
            return false;
        }
    }
    return true;
}
static_assert(all_features_in_appliance_kernel(),
              "an io_uring feature newer than the appliance kernel needs a detected fallback");

// Checks io_uring is enabled (kernel.io_uring_disabled) and that each feature above
// works; the error names the first one missing and what to do.
[[nodiscard]] Result<void, std::string> check_kernel_features();

}  // namespace hub::engine
