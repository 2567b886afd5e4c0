// address_test.cc -- parsing, printing and containment of addresses and prefixes.
#include "netcfg/address.h"

#include <gtest/gtest.h>

namespace hub::netcfg {
namespace {

TEST(Address, ParsesBothFamiliesAndPrintsThemBack) {
    for (std::string_view text : {"192.0.2.10", "2001:db8::10", "10.0.0.1", "fd00::1"}) {
        auto address = parse_address(text);
        ASSERT_TRUE(address) << text;
        EXPECT_EQ(to_string(*address), text);
    }
    EXPECT_EQ(parse_address("192.0.2.10")->family, Family::ipv4);
    EXPECT_EQ(parse_address("2001:db8::10")->family, Family::ipv6);
}

TEST(Address, RefusesWhatIsNoAddress) {
    for (std::string_view text : {"", "192.0.2", "192.0.2.256", "1.2.3.4.5", "hub", "2001:db8:::1",
                                  " 192.0.2.1", "192.0.2.1 ", "0x7f.1.1.1", "::ffff:1.2.3.4.5",
                                  "1234567890123456789012345678901234567890123456"}) {
        auto address = parse_address(text);
        EXPECT_FALSE(address) << text;
        if (!address) {
            EXPECT_NE(address.error().find("is not an IPv4 or IPv6 address"), std::string::npos);
        }
    }
}

TEST(Prefix, LengthIsRequiredAndInRange) {
    struct Case {
        std::string_view text;
        std::string_view error_part;  // Empty: accepted.
    };
    const Case cases[] = {
        {"192.0.2.10/24", ""},
        {"192.0.2.10/32", ""},
        {"2001:db8::1/128", ""},
        {"192.0.2.10", "needs a prefix length"},
        {"192.0.2.10/33", "prefix length 33 is out of range: an IPv4 prefix is 0..32"},
        {"2001:db8::1/129", "prefix length 129 is out of range: an IPv6 prefix is 0..128"},
        {"192.0.2.10/024", "must be a number"},
        {"192.0.2.10/", "must be a number"},
        {"192.0.2.10/-1", "must be a number"},
        {"192.0.2.10/2x", "must be a number"},
    };
    for (const Case& c : cases) {
        auto prefix = parse_prefix(c.text);
        if (c.error_part.empty()) {
            ASSERT_TRUE(prefix) << c.text << ": " << prefix.error();
            EXPECT_EQ(to_string(*prefix), c.text);
        } else {
            ASSERT_FALSE(prefix) << c.text;
            EXPECT_NE(prefix.error().find(c.error_part), std::string::npos) << prefix.error();
        }
    }
}

TEST(Prefix, DestinationsHaveNoHostBits) {
    auto network = parse_destination("10.0.0.0/8", Family::ipv4);
    ASSERT_TRUE(network);
    auto with_host_bits = parse_destination("10.0.0.1/8", Family::ipv4);
    ASSERT_FALSE(with_host_bits);
    EXPECT_NE(with_host_bits.error().find("the network is 10.0.0.0/8"), std::string::npos);
    auto any4 = parse_destination("default", Family::ipv4);
    ASSERT_TRUE(any4);
    EXPECT_EQ(to_string(*any4), "0.0.0.0/0");
    EXPECT_EQ(destination_string(*any4), "default");
    auto any6 = parse_destination("default", Family::ipv6);
    ASSERT_TRUE(any6);
    EXPECT_EQ(to_string(*any6), "::/0");
}

TEST(Prefix, ContainsAndOverlaps) {
    auto net = *parse_prefix("192.0.2.10/24");
    EXPECT_TRUE(contains(net, *parse_address("192.0.2.1")));
    EXPECT_TRUE(contains(net, *parse_address("192.0.2.255")));
    EXPECT_FALSE(contains(net, *parse_address("192.0.3.1")));
    EXPECT_FALSE(contains(net, *parse_address("2001:db8::1")));
    auto host = *parse_prefix("192.0.2.10/32");
    EXPECT_TRUE(contains(host, *parse_address("192.0.2.10")));
    EXPECT_FALSE(contains(host, *parse_address("192.0.2.11")));
    auto v6 = *parse_prefix("2001:db8:1::/48");
    EXPECT_TRUE(contains(v6, *parse_address("2001:db8:1:ffff::1")));
    EXPECT_FALSE(contains(v6, *parse_address("2001:db8:2::1")));
    EXPECT_TRUE(overlaps(*parse_prefix("10.0.0.0/8"), *parse_prefix("10.1.0.0/16")));
    EXPECT_FALSE(overlaps(*parse_prefix("10.0.0.0/16"), *parse_prefix("10.1.0.0/16")));
    EXPECT_EQ(to_string(network_of(net)), "192.0.2.0/24");
    EXPECT_TRUE(has_host_bits(net));
    EXPECT_FALSE(has_host_bits(network_of(net)));
}

TEST(Address, UnusableAddressesSayWhy) {
    EXPECT_NE(unusable_reason(*parse_address("127.0.0.1")).find("loopback"), std::string::npos);
    EXPECT_NE(unusable_reason(*parse_address("224.0.0.1")).find("multicast"), std::string::npos);
    EXPECT_NE(unusable_reason(*parse_address("0.1.2.3")).find("this network"), std::string::npos);
    EXPECT_NE(unusable_reason(*parse_address("::")).find("unspecified"), std::string::npos);
    EXPECT_NE(unusable_reason(*parse_address("fe80::1")).find("link-local"), std::string::npos);
    EXPECT_NE(unusable_reason(*parse_address("ff02::1")).find("multicast"), std::string::npos);
    EXPECT_EQ(unusable_reason(*parse_address("192.0.2.1")), "");
    EXPECT_EQ(unusable_reason(*parse_address("2001:db8::1")), "");
}

}  // namespace
}  // namespace hub::netcfg
