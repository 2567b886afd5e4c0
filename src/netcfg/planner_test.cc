// planner_test.cc -- change requests against settings and a kernel view: the settings that
// come out, the refusals (code and message), and which changes need a confirmation.
#include "netcfg/planner.h"

#include <gtest/gtest.h>

namespace hub::netcfg {
namespace {

LiveView box() {
    LiveView live;
    live.interfaces.push_back(
        InterfaceInfo{"lo", "", true, true, "unknown", 65536, {*parse_prefix("127.0.0.1/8")}});
    live.interfaces.push_back(InterfaceInfo{
        "eth0", "52:54:00:00:00:01", true, true, "up", 1500, {*parse_prefix("192.0.2.10/24")}});
    live.interfaces.push_back(InterfaceInfo{
        "eth1", "52:54:00:00:00:02", true, true, "up", 1500, {*parse_prefix("198.51.100.2/24")}});
    return live;
}

Settings current() {
    auto settings = parse_settings(
        "version 1\ninterface eth0 up\naddress eth0 192.0.2.10/24\ninterface eth1 up\n"
        "address eth1 198.51.100.2/24\nroute default via 192.0.2.1\nssh on\n"
        "access ssh 192.0.2.0/24\naccess smtp any\naccess enrollment any\n");
    EXPECT_TRUE(settings) << settings.error();
    return *settings;
}

Message make(Kind kind, std::vector<std::pair<Field, std::string>> fields) {
    Message message = request(kind);
    for (auto& [field, value] : fields) {
        if (is_list_field(field)) {
            message.add(field, value);
        } else {
            message.set(field, value);
        }
    }
    return message;
}

struct Refused {
    Message request;
    ErrorCode code;
    std::string_view message_part;
};

TEST(Planner, RefusesBadInputWithWhatIsWrong) {
    const Refused cases[] = {
        {make(Kind::set_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.300/24"}}),
         ErrorCode::invalid_value, "is not an IPv4 or IPv6 address"},
        {make(Kind::set_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.20/33"}}),
         ErrorCode::invalid_value, "prefix length 33 is out of range"},
        {make(Kind::set_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.20"}}),
         ErrorCode::invalid_value, "needs a prefix length"},
        {make(Kind::set_address, {{Field::interface, "eth9"}, {Field::address, "192.0.2.20/24"}}),
         ErrorCode::not_found, "there is no interface eth9"},
        {make(Kind::add_address, {{Field::interface, "eth1"}, {Field::address, "192.0.2.10/24"}}),
         ErrorCode::conflict, "is configured twice"},
        {make(Kind::add_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.10/25"}}),
         ErrorCode::conflict, "eth0 has 192.0.2.10/24 already"},
        {make(Kind::delete_address,
              {{Field::interface, "eth0"}, {Field::address, "192.0.2.99/24"}}),
         ErrorCode::not_found, "has no static address 192.0.2.99/24"},
        {make(Kind::delete_address,
              {{Field::interface, "eth0"}, {Field::address, "192.0.2.10/24"}}),
         ErrorCode::conflict, "route default via 192.0.2.1: the gateway is not on any connected"},
        {make(Kind::set_mtu, {{Field::interface, "eth0"}, {Field::mtu, "576"}}),
         ErrorCode::invalid_value, "MTU 576 is out of range 1280..9216"},
        {make(Kind::set_mtu, {{Field::interface, "eth0"}, {Field::mtu, "big"}}),
         ErrorCode::invalid_value, "is not a number"},
        {make(Kind::set_link, {{Field::interface, "eth0"}, {Field::state, "sideways"}}),
         ErrorCode::invalid_value, "set up or down"},
        {make(Kind::set_default_gateway, {{Field::gateway, "203.0.113.1"}}), ErrorCode::conflict,
         "not on any connected network"},
        {make(Kind::set_default_gateway, {{Field::gateway, "192.0.2.10"}}), ErrorCode::conflict,
         "one of this box's own addresses"},
        {make(Kind::add_route, {{Field::destination, "default"}, {Field::gateway, "192.0.2.1"}}),
         ErrorCode::conflict, "the route default via 192.0.2.1 exists already"},
        {make(Kind::add_route, {{Field::destination, "default"}, {Field::gateway, "192.0.2.2"}}),
         ErrorCode::conflict, "two routes to default"},
        {make(Kind::add_route,
              {{Field::destination, "10.0.0.1/8"}, {Field::gateway, "198.51.100.1"}}),
         ErrorCode::invalid_value, "has host bits set: the network is 10.0.0.0/8"},
        {make(Kind::add_route,
              {{Field::destination, "2001:db8::/32"}, {Field::gateway, "198.51.100.1"}}),
         ErrorCode::invalid_value, "one is IPv4, the other IPv6"},
        {make(Kind::delete_route,
              {{Field::destination, "10.0.0.0/8"}, {Field::gateway, "198.51.100.1"}}),
         ErrorCode::not_found, "there is no route 10.0.0.0/8 via 198.51.100.1"},
        {make(Kind::set_resolvers, {{Field::resolver, "1.1.1.1"},
                                    {Field::resolver, "8.8.8.8"},
                                    {Field::resolver, "9.9.9.9"},
                                    {Field::resolver, "192.0.2.53"}}),
         ErrorCode::invalid_value, "4 resolvers; at most 3"},
        {make(Kind::set_resolvers, {{Field::resolver, "dns.example"}}), ErrorCode::invalid_value,
         "resolver:"},
        {make(Kind::set_hostname, {{Field::hostname, "hub_1"}}), ErrorCode::invalid_value,
         "only letters, digits"},
        {make(Kind::set_service_access,
              {{Field::service, "telnet"}, {Field::source, "192.0.2.0/24"}}),
         ErrorCode::invalid_value, "one of ssh, smtp, enrollment, snmp"},
        {make(Kind::set_service_access,
              {{Field::service, "ssh"}, {Field::source, "any"}, {Field::source, "10.0.0.0/8"}}),
         ErrorCode::invalid_value, "\"any\" stands alone"},
        {make(Kind::set_service_access, {{Field::service, "ssh"},
                                         {Field::source, "10.0.0.0/8"},
                                         {Field::source, "10.1.0.0/16"}}),
         ErrorCode::conflict, "overlap"},
        {make(Kind::set_service_access, {{Field::service, "snmp"}, {Field::source, "10.0.0.1/8"}}),
         ErrorCode::invalid_value, "has host bits set"},
        {make(Kind::set_ssh, {{Field::state, "maybe"}}), ErrorCode::invalid_value,
         "switched on or off"},
        {make(Kind::set_ssh, {{Field::state, "on"}, {Field::session, "nonsense"}}),
         ErrorCode::bad_request, "SSH_CONNECTION's form"},
        {make(Kind::set_ssh, {{Field::state, "on"}, {Field::confirm, "never"}}),
         ErrorCode::bad_request, "the only value is \"always\""},
    };
    Settings settings = current();
    for (const Refused& c : cases) {
        auto plan = plan_change(settings, c.request, box());
        ASSERT_FALSE(plan) << kind_name(c.request.kind) << " " << c.message_part;
        EXPECT_EQ(plan.error().code, c.code) << plan.error().message;
        EXPECT_NE(plan.error().message.find(c.message_part), std::string::npos)
            << plan.error().message;
    }
}

TEST(Planner, ChangesProduceTheSettings) {
    Settings settings = current();
    auto plan = plan_change(
        settings,
        make(Kind::set_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.20/24"}}),
        box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->next.find_interface("eth0")->addresses,
              std::vector<Prefix>{*parse_prefix("192.0.2.20/24")});
    EXPECT_EQ(plan->description, "set_address eth0 192.0.2.20/24");
    EXPECT_FALSE(plan->risky);

    plan = plan_change(
        settings,
        make(Kind::add_address, {{Field::interface, "eth0"}, {Field::address, "2001:db8::10/64"}}),
        box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->next.find_interface("eth0")->addresses.size(), 2u);

    plan = plan_change(settings,
                       make(Kind::set_default_gateway, {{Field::gateway, "198.51.100.1"}}), box());
    ASSERT_TRUE(plan) << plan.error().message;
    ASSERT_EQ(plan->next.routes.size(), 1u);
    EXPECT_EQ(to_string(plan->next.routes[0].gateway), "198.51.100.1");

    plan = plan_change(settings,
                       make(Kind::add_route,
                            {{Field::destination, "10.0.0.0/8"}, {Field::gateway, "198.51.100.1"}}),
                       box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->next.routes.size(), 2u);

    plan = plan_change(
        settings, make(Kind::set_mtu, {{Field::interface, "eth1"}, {Field::mtu, "9000"}}), box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->next.find_interface("eth1")->mtu, 9000u);

    plan = plan_change(settings,
                       make(Kind::set_service_access, {{Field::service, "snmp"},
                                                       {Field::source, "2001:db8::/32"},
                                                       {Field::source, "203.0.113.0/24"}}),
                       box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->next.access_for(Service::snmp).sources.size(), 2u);

    plan = plan_change(settings, make(Kind::set_service_access, {{Field::service, "smtp"}}), box());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_FALSE(plan->next.access_for(Service::smtp).any);  // Closed.
}

TEST(Planner, RiskyChangesAreThoseTheSshSessionUses) {
    Settings settings = current();
    const std::string session = "192.0.2.7 50000 192.0.2.10 22";   // On eth0's network.
    const std::string remote = "203.0.113.9 50000 192.0.2.10 22";  // Through the gateway.
    struct Case {
        Message request;
        bool risky;
        std::string_view risk_part;
    };
    const Case cases[] = {
        {make(Kind::set_address, {{Field::interface, "eth0"},
                                  {Field::address, "192.0.2.20/24"},
                                  {Field::session, session}}),
         true, "the SSH session arrives on eth0"},
        {make(Kind::set_address, {{Field::interface, "eth1"},
                                  {Field::address, "198.51.100.3/24"},
                                  {Field::session, session}}),
         false, ""},
        {make(Kind::set_mtu,
              {{Field::interface, "eth0"}, {Field::mtu, "1400"}, {Field::session, session}}),
         true, "arrives on eth0"},
        {make(Kind::set_link,
              {{Field::interface, "eth1"}, {Field::state, "down"}, {Field::session, session}}),
         false, ""},
        {make(Kind::set_default_gateway, {{Field::gateway, "192.0.2.2"}, {Field::session, remote}}),
         true, "the route to default carries the SSH session"},
        {make(Kind::set_default_gateway,
              {{Field::gateway, "192.0.2.2"}, {Field::session, session}}),
         false, ""},  // The client is on a connected network: the default route is not used.
        {make(Kind::add_route, {{Field::destination, "203.0.113.0/24"},
                                {Field::gateway, "198.51.100.1"},
                                {Field::session, remote}}),
         true, "the route to 203.0.113.0/24"},
        {make(Kind::set_service_access,
              {{Field::service, "ssh"}, {Field::source, "10.0.0.0/8"}, {Field::session, session}}),
         true, "would no longer let 192.0.2.7 reach SSH"},
        {make(
             Kind::set_service_access,
             {{Field::service, "ssh"}, {Field::source, "192.0.2.0/25"}, {Field::session, session}}),
         false, ""},
        {make(Kind::set_ssh, {{Field::state, "off"}, {Field::session, session}}), true,
         "would no longer let"},
        {make(Kind::set_service_access, {{Field::service, "smtp"}, {Field::session, session}}),
         false, ""},
        {make(Kind::set_address, {{Field::interface, "eth0"}, {Field::address, "192.0.2.20/24"}}),
         false, ""},  // No session: the local console.
        {make(Kind::set_hostname, {{Field::hostname, "hub2"}, {Field::session, session}}), false,
         ""},
        {make(Kind::set_mtu,
              {{Field::interface, "eth1"}, {Field::mtu, "1400"}, {Field::confirm, "always"}}),
         true, "a confirmation was asked for"},
    };
    for (const Case& c : cases) {
        auto plan = plan_change(settings, c.request, box());
        ASSERT_TRUE(plan) << plan.error().message;
        EXPECT_EQ(plan->risky, c.risky) << plan->description << ": " << plan->risk;
        EXPECT_NE(plan->risk.find(c.risk_part), std::string::npos) << plan->risk;
    }
}

TEST(Planner, RestorableSettingsPinWhatTheChangeSetsFirst) {
    Settings settings = current();  // eth0 and eth1: up given, MTU left alone.
    auto plan = plan_change(
        settings, make(Kind::set_mtu, {{Field::interface, "eth1"}, {Field::mtu, "9000"}}), box());
    ASSERT_TRUE(plan);
    Settings before = restorable(settings, plan->next, box());
    EXPECT_EQ(before.find_interface("eth1")->mtu, 1500u);          // The kernel's, to go back to.
    EXPECT_FALSE(before.find_interface("eth0")->mtu.has_value());  // Untouched stays unset.
    EXPECT_EQ(before.find_interface("eth1")->up, true);
    EXPECT_EQ(restorable(settings, settings, box()), settings);
}

TEST(Planner, Sessions) {
    auto session = parse_session("2001:db8::7 50000 2001:db8::10 22");
    ASSERT_TRUE(session);
    EXPECT_EQ(to_string(session->client), "2001:db8::7");
    EXPECT_EQ(to_string(session->server), "2001:db8::10");
    EXPECT_FALSE(parse_session("192.0.2.7 50000 192.0.2.10"));
    EXPECT_FALSE(parse_session("192.0.2.7 50000 192.0.2.10 22 extra"));
    EXPECT_FALSE(parse_session(""));
}

}  // namespace
}  // namespace hub::netcfg
