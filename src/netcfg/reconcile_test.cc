// reconcile_test.cc -- from a kernel state to the settings: which steps, in which order,
// and what is left alone.
#include "netcfg/reconcile.h"

#include <gtest/gtest.h>

namespace hub::netcfg {
namespace {

KernelState kernel() {
    KernelState state;
    state.links.push_back(KernelLink{1, {"lo", "", true, true, "unknown", 65536, {}}});
    state.links.push_back(KernelLink{2, {"eth0", "52:54:00:00:00:01", true, true, "up", 1500, {}}});
    state.links.push_back(
        KernelLink{3, {"eth1", "52:54:00:00:00:02", false, false, "down", 1500, {}}});
    state.addresses.push_back(KernelAddress{1, *parse_prefix("127.0.0.1/8"), true});
    state.addresses.push_back(KernelAddress{2, *parse_prefix("192.0.2.10/24"), true});
    state.addresses.push_back(KernelAddress{2, *parse_prefix("fe80::1/64"), true});
    state.addresses.push_back(KernelAddress{2, *parse_prefix("2001:db8::99/64"), false});  // SLAAC
    state.routes.push_back(RouteInfo{*parse_destination("192.0.2.0/24", Family::ipv4), std::nullopt,
                                     "eth0", "kernel", false});
    state.routes.push_back(RouteInfo{*parse_destination("default", Family::ipv4),
                                     *parse_address("192.0.2.1"), "eth0", "static", true});
    state.routes.push_back(RouteInfo{*parse_destination("10.0.0.0/8", Family::ipv4),
                                     *parse_address("192.0.2.5"), "eth0", "dhcp", false});
    return state;
}

std::vector<std::string> described(const Reconciliation& plan) {
    std::vector<std::string> out;
    for (const Step& step : plan.steps) {
        out.push_back(describe(step));
    }
    return out;
}

TEST(Reconcile, MatchingStateNeedsNothing) {
    auto settings = parse_settings(
        "version 1\ninterface eth0 up\naddress eth0 192.0.2.10/24\nroute default via 192.0.2.1\n");
    ASSERT_TRUE(settings) << settings.error();
    auto plan = reconcile(kernel(), *settings);
    EXPECT_TRUE(plan.steps.empty()) << described(plan).front();
    EXPECT_TRUE(plan.warnings.empty());
}

TEST(Reconcile, ReplacingAnAddressAddsBeforeItDeletes) {
    auto settings = parse_settings(
        "version 1\ninterface eth0 mtu 1400\naddress eth0 192.0.2.20/24\n"
        "route default via 192.0.2.1\n");
    ASSERT_TRUE(settings) << settings.error();
    auto plan = reconcile(kernel(), *settings);
    EXPECT_EQ(described(plan), (std::vector<std::string>{
                                   "set the MTU of eth0 to 1400",
                                   "add address 192.0.2.20/24 to eth0",
                                   "delete address 192.0.2.10/24 from eth0",
                               }));
}

TEST(Reconcile, RoutesOnlyThroughInterfacesThatEndUp) {
    auto settings = parse_settings(
        "version 1\ninterface eth0 up\naddress eth0 192.0.2.10/24\ninterface eth1\n"
        "address eth1 198.51.100.2/24\nroute 203.0.113.0/24 via 198.51.100.1\n");
    ASSERT_TRUE(settings) << settings.error();
    auto plan = reconcile(kernel(), *settings);
    // eth1 is down and the settings leave it so: its route waits; the old default goes.
    EXPECT_EQ(described(plan), (std::vector<std::string>{
                                   "delete route default via 192.0.2.1",
                                   "add address 198.51.100.2/24 to eth1",
                               }));
    settings->interface("eth1").up = true;
    plan = reconcile(kernel(), *settings);
    EXPECT_EQ(described(plan), (std::vector<std::string>{
                                   "delete route default via 192.0.2.1",
                                   "bring eth1 up",
                                   "add address 198.51.100.2/24 to eth1",
                                   "add route 203.0.113.0/24 via 198.51.100.1",
                               }));
}

TEST(Reconcile, LeavesWhatIsNotItsOwn) {
    // No interfaces named: the kernel's addresses, the DHCP route and lo stay; only the
    // managed default route goes.
    auto plan = reconcile(kernel(), Settings::defaults());
    EXPECT_EQ(described(plan), (std::vector<std::string>{"delete route default via 192.0.2.1"}));
    auto settings = parse_settings("version 1\ninterface eth9 up\n");
    ASSERT_TRUE(settings);
    plan = reconcile(kernel(), *settings);
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_NE(plan.warnings[0].find("eth9"), std::string::npos);
}

TEST(Reconcile, BringingDownComesAfterTheAddresses) {
    auto settings = parse_settings("version 1\ninterface eth0 down\naddress eth0 192.0.2.11/24\n");
    ASSERT_TRUE(settings);
    auto plan = reconcile(kernel(), *settings);
    EXPECT_EQ(described(plan), (std::vector<std::string>{
                                   "delete route default via 192.0.2.1",
                                   "add address 192.0.2.11/24 to eth0",
                                   "delete address 192.0.2.10/24 from eth0",
                                   "bring eth0 down",
                               }));
}

}  // namespace
}  // namespace hub::netcfg
