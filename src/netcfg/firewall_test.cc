// firewall_test.cc -- the access table's text for the settings (applying it is the
// integration test's: tests/integration/netcfg.sh).
#include "netcfg/firewall.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace hub::netcfg {
namespace {

TEST(Firewall, DefaultsOpenSmtpAndEnrollmentOnly) {
    std::string script = access_ruleset(Settings::defaults());
    EXPECT_EQ(script,
              "table inet hubbox_access\n"
              "delete table inet hubbox_access\n"
              "table inet hubbox_access {\n"
              "\tchain input {\n"
              "\t\ttype filter hook input priority filter - 10; policy accept;\n"
              "\t\tct state new tcp dport { 25, 465 } meta mark set 0x4842 comment \"smtp\"\n"
              "\t\tct state new tcp dport { 443 } meta mark set 0x4842 comment \"enrollment\"\n"
              "\t}\n"
              "}\n");
}

TEST(Firewall, SourcesPerFamilyAndSshOnlyWhenOn) {
    auto settings = parse_settings(
        "version 1\nssh off\naccess ssh 192.0.2.0/24\naccess snmp 198.51.100.0/24\n"
        "access snmp 203.0.113.7/32\naccess snmp 2001:db8::/32\n");
    ASSERT_TRUE(settings) << settings.error();
    std::string script = access_ruleset(*settings);
    EXPECT_EQ(script.find("dport { 22 }"), std::string::npos);
    EXPECT_NE(script.find("ct state new udp dport { 161 } ip saddr { 198.51.100.0/24, "
                          "203.0.113.7/32 } meta mark set 0x4842 comment \"snmp\"\n"),
              std::string::npos)
        << script;
    EXPECT_NE(script.find("udp dport { 161 } ip6 saddr { 2001:db8::/32 }"), std::string::npos);
    EXPECT_EQ(script.find("dport { 25, 465 }"), std::string::npos);  // SMTP closed here.
    settings->ssh_enabled = true;
    EXPECT_NE(access_ruleset(*settings).find("tcp dport { 22 } ip saddr { 192.0.2.0/24 }"),
              std::string::npos);
}

// rootfs/etc/nftables.conf carries the defaults' access table so that the box is the same
// before hub-netcfg first runs: its rules must be the ones hub-netcfg would write.
TEST(Firewall, TheImageDefaultsAreHubNetcfgsDefaults) {
    std::ifstream file(HUB_NETCFG_NFTABLES_CONF);
    ASSERT_TRUE(file) << HUB_NETCFG_NFTABLES_CONF;
    std::string conf((std::istreambuf_iterator<char>(file)), {});
    auto mark_lines = [](const std::string& text) {
        std::vector<std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            if (line.find("meta mark set") != std::string::npos) {
                line.erase(0, line.find_first_not_of(" \t"));
                lines.push_back(line);
            }
        }
        return lines;
    };
    EXPECT_EQ(mark_lines(conf), mark_lines(access_ruleset(Settings::defaults())));
    EXPECT_NE(conf.find("table inet hubbox_access {"), std::string::npos);
    EXPECT_NE(conf.find(fmt::format("meta mark 0x{:08x} accept", access_mark)), std::string::npos);
}

}  // namespace
}  // namespace hub::netcfg
