// settings_test.cc -- the settings' rules and network.conf, as tables of cases.
#include "netcfg/settings.h"

#include <gtest/gtest.h>

namespace hub::netcfg {
namespace {

const std::string header = "version 1\n";

TEST(SettingsFile, RoundTripsEveryKindOfLine) {
    std::string text =
        "# network.conf -- written by hub-netcfg; change it with the console (docs/NETWORK.md).\n"
        "version 1\n"
        "hostname hub.example.net\n"
        "interface eth0 up mtu 1500\n"
        "address eth0 192.0.2.10/24\n"
        "address eth0 2001:db8::10/64\n"
        "interface eth1 down\n"
        "interface eth2\n"
        "address eth2 198.51.100.2/30\n"
        "route default via 192.0.2.1\n"
        "route 10.0.0.0/8 via 198.51.100.1\n"
        "route default via 2001:db8::1\n"
        "resolver 192.0.2.53\n"
        "resolver 2001:db8::53\n"
        "ssh on\n"
        "access ssh 192.0.2.0/24\n"
        "access ssh 2001:db8::/32\n"
        "access smtp any\n"
        "access enrollment any\n";
    auto settings = parse_settings(text);
    ASSERT_TRUE(settings) << settings.error();
    EXPECT_EQ(settings->hostname, "hub.example.net");
    ASSERT_EQ(settings->interfaces.size(), 3u);
    EXPECT_EQ(settings->interfaces[0].mtu, 1500u);
    EXPECT_EQ(settings->interfaces[1].up, false);
    EXPECT_FALSE(settings->interfaces[2].up.has_value());
    EXPECT_EQ(settings->routes.size(), 3u);
    EXPECT_TRUE(settings->ssh_enabled);
    EXPECT_EQ(settings->access_for(Service::ssh).sources.size(), 2u);
    EXPECT_FALSE(settings->access_for(Service::snmp).any);
    std::string again = format_settings(*settings);
    auto reparsed = parse_settings(again);
    ASSERT_TRUE(reparsed) << reparsed.error();
    EXPECT_EQ(*reparsed, *settings);
    EXPECT_EQ(format_settings(*reparsed), again);
}

TEST(SettingsFile, DefaultsMatchTheBaseFirewall) {
    Settings settings = Settings::defaults();
    EXPECT_TRUE(settings.access_for(Service::smtp).any);
    EXPECT_TRUE(settings.access_for(Service::enrollment).any);
    EXPECT_FALSE(settings.access_for(Service::ssh).any);
    EXPECT_TRUE(settings.access_for(Service::ssh).sources.empty());
    EXPECT_FALSE(settings.ssh_enabled);
    auto again = parse_settings(format_settings(settings));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(*again, settings);
}

TEST(SettingsFile, RefusesBrokenFilesWithTheLine) {
    struct Case {
        std::string text;
        std::string_view error_part;
    };
    const Case cases[] = {
        {"", "no \"version 1\" line"},
        {"version 2\n", "line 1: the first line must be \"version 1\""},
        {"hostname x\nversion 1\n", "line 1: the first line must be"},
        {header + "hostname a\nhostname b\n", "line 3:"},
        {header + "interface eth0 up", "line 2: the file does not end with a newline"},
        {header + "interface  eth0\n", "line 2: words are separated by one space"},
        {header + "interface eth0 \n", "line 2: words are separated by one space"},
        {header + "interface eth0\tup\n", "line 2: characters network.conf never has"},
        {header + "interface eth0 sideways\n", "line 2: expected: interface NAME"},
        {header + "interface eth0 mtu 01500\n", "is not an MTU"},
        {header + "interface eth0 mtu 100\n", "MTU 100 is out of range 1280..9216"},
        {header + "interface eth0\ninterface eth0\n", "line 3: interface eth0 appears twice"},
        {header + "interface averyveryverylongname\n", "1..15 characters"},
        {header + "address eth0 192.0.2.10\n", "line 2: \"192.0.2.10\" needs a prefix length"},
        {header + "address eth0 192.0.2.0/24\n", "the network address of 192.0.2.0/24"},
        {header + "address eth0 192.0.2.255/24\n", "the broadcast address of 192.0.2.0/24"},
        {header + "address eth0 127.0.0.2/8\n", "loopback"},
        {header + "address eth0 192.0.2.1/24\naddress eth1 192.0.2.1/24\n", "is configured twice"},
        {header + "route default via 192.0.2.1\n", "not on any connected network"},
        {header + "route 10.0.0.1/8 via 192.0.2.1\n", "has host bits set"},
        {header + "address eth0 192.0.2.10/24\nroute default via 192.0.2.10\n",
         "one of this box's own addresses"},
        {header + "address eth0 192.0.2.10/24\nroute 10.0.0.0/8 via 192.0.2.1\n"
                  "route 10.0.0.0/8 via 192.0.2.2\n",
         "two routes to 10.0.0.0/8 (via 192.0.2.1 and via 192.0.2.2)"},
        {header + "resolver 192.0.2.1\nresolver 192.0.2.1\n", "listed twice"},
        {header + "resolver 192.0.2.1\nresolver 192.0.2.2\nresolver 192.0.2.3\nresolver "
                  "192.0.2.4\n",
         "4 resolvers; at most 3"},
        {header + "ssh maybe\n", "line 2:"},
        {header + "access telnet any\n", "unknown service \"telnet\""},
        {header + "access ssh any\naccess ssh 192.0.2.0/24\n", "\"any\" and networks together"},
        {header + "access ssh 192.0.2.1/24\n", "has host bits set"},
        {header + "access ssh 192.0.2.0/24\naccess ssh 192.0.2.0/24\n", "listed twice"},
        {header + "hostname -bad-\n", "starts or ends with '-'"},
        {header + "hostname under_score\n", "only letters, digits"},
        {header + "frobnicate yes\n", "line 2: \"frobnicate\" is not a line"},
    };
    for (const Case& c : cases) {
        auto settings = parse_settings(c.text);
        ASSERT_FALSE(settings) << c.text;
        EXPECT_NE(settings.error().find(c.error_part), std::string::npos)
            << c.text << " -> " << settings.error();
    }
}

TEST(SettingsFile, ResolvConfAndHostname) {
    auto settings =
        parse_settings(header + "hostname hub1\nresolver 192.0.2.53\nresolver 2001:db8::53\n");
    ASSERT_TRUE(settings) << settings.error();
    EXPECT_EQ(format_resolv_conf(*settings),
              "# resolv.conf -- written by hub-netcfg from network.conf.\n"
              "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
    EXPECT_EQ(format_hostname_file(*settings), "hub1\n");
}

}  // namespace
}  // namespace hub::netcfg
