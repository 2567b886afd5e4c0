// kernel_features.h -- the io_uring features hubd uses, and a start-up check for each.
//
// The appliance ships Debian 12's 6.1 kernel. Every feature below exists in 6.1, and the
// table says since when, so that a static_assert stops anyone from adding one that the
// appliance kernel lacks without also adding a fallback. The start-up check exercises each
// feature for real (a multishot recv on a socketpair, a multishot accept on a loopback
// listener) rather than trusting the version number, and names the missing one.
#pragma once

#include <string>

#include "base/result.h"

namespace hub::engine {

struct KernelVersion {
    int major = 0;
    int minor = 0;
};

inline constexpr KernelVersion appliance_kernel{6, 1};

struct RingFeature {
    const char* name;
    KernelVersion since;
};

// Everything the engine submits or sets up; checked against appliance_kernel below.
inline constexpr RingFeature ring_features_used[] = {
    {"IORING_OP_ACCEPT multishot", {5, 19}},
    {"IORING_OP_RECV multishot", {6, 0}},
    {"provided buffer rings (IORING_REGISTER_PBUF_RING)", {5, 19}},
    {"IORING_OP_SEND", {5, 6}},
    {"IORING_OP_LINK_TIMEOUT", {5, 5}},
    {"IORING_OP_TIMEOUT", {5, 4}},
    {"IORING_OP_ASYNC_CANCEL", {5, 5}},
    {"IORING_OP_WRITE", {5, 6}},
    {"IORING_OP_FSYNC (IORING_FSYNC_DATASYNC)", {5, 1}},
    {"IORING_OP_FALLOCATE", {5, 6}},
    {"IORING_OP_OPENAT", {5, 6}},
    {"IORING_OP_CLOSE", {5, 6}},
    {"IORING_OP_READ", {5, 6}},
    {"IORING_OP_UNLINKAT", {5, 11}},
    {"IORING_OP_MADVISE", {5, 6}},
    {"IORING_OP_SHUTDOWN", {5, 11}},
    {"IOSQE_CQE_SKIP_SUCCESS", {5, 17}},
    {"IORING_SETUP_CQSIZE", {5, 5}},
    {"IORING_SETUP_SUBMIT_ALL", {5, 18}},
    {"IORING_SETUP_SINGLE_ISSUER", {6, 0}},
    {"IORING_SETUP_DEFER_TASKRUN", {6, 1}},
};

constexpr bool not_newer_than(KernelVersion version, KernelVersion limit) {
    return version.major < limit.major ||
           (version.major == limit.major && version.minor <= limit.minor);
}

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
