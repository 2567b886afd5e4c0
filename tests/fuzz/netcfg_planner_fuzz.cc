// netcfg_planner_fuzz.cc -- decoded requests into hub-netcfg's planner.
//
// Input: a request frame, as for netcfg_protocol_fuzz. Whatever decodes as a change is
// planned against fixed settings and a fixed kernel view. What must hold: the planner never
// trips an assertion; a refusal has a message; a plan's settings pass validate(), survive
// network.conf's round trip, and the settings to restore (restorable) are valid too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "netcfg/limits.h"
#include "netcfg/planner.h"
#include "netcfg/protocol.h"

namespace {

using namespace hub::netcfg;

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

const Settings& current() {
    static const Settings settings = *parse_settings(
        "version 1\ninterface eth0 up\naddress eth0 192.0.2.10/24\naddress eth0 2001:db8::10/64\n"
        "route default via 192.0.2.1\nssh on\naccess ssh 192.0.2.0/24\naccess smtp any\n");
    return settings;
}

const LiveView& live() {
    static const LiveView view = [] {
        LiveView v;
        v.interfaces.push_back(InterfaceInfo{
            "eth0", "52:54:00:00:00:01", true, true, "up", 1500, {*parse_prefix("192.0.2.10/24")}});
        v.interfaces.push_back(
            InterfaceInfo{"eth1", "52:54:00:00:00:02", false, false, "down", 1500, {}});
        return v;
    }();
    return view;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < frame_header_bytes + 2) {
        return 0;
    }
    std::span<const std::uint8_t> body(data + frame_header_bytes, size - frame_header_bytes);
    if (body.size() > request_frame_bytes_max - frame_header_bytes) {
        return 0;
    }
    auto request = decode(body, Direction::request);
    if (!request || !is_change(request->kind)) {
        return 0;
    }
    auto plan = plan_change(current(), *request, live());
    if (!plan) {
        check(!plan.error().message.empty(), "a refusal says why");
        return 0;
    }
    check(validate(plan->next).has_value(), "a plan's settings are valid");
    auto again = parse_settings(format_settings(plan->next));
    check(again.has_value() && *again == plan->next, "a plan's settings round-trip");
    check(validate(restorable(current(), plan->next, live())).has_value(),
          "the settings to restore are valid");
    check(!plan->risky || !plan->risk.empty(), "a risky plan says why");
    return 0;
}
