// partners_test.cc -- networks, source matching, recipient classification, partner files.
//
// Method: tables of cases. Socket addresses are built from text with inet_pton, partner
// files are written to a temporary directory; no sockets are opened.

#include "policy/partners.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/un.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>

#include "config/line_numbers_for_test.h"

namespace hub::policy {
namespace {

// "192.0.2.1" becomes an AF_INET address, anything with ':' an AF_INET6 one.
sockaddr_storage socket_address(const std::string& text) {
    sockaddr_storage storage{};
    if (text.find(':') == std::string::npos) {
        auto& ipv4 = reinterpret_cast<sockaddr_in&>(storage);
        ipv4.sin_family = AF_INET;
        EXPECT_EQ(inet_pton(AF_INET, text.c_str(), &ipv4.sin_addr), 1) << text;
    } else {
        auto& ipv6 = reinterpret_cast<sockaddr_in6&>(storage);
        ipv6.sin6_family = AF_INET6;
        EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &ipv6.sin6_addr), 1) << text;
    }
    return storage;
}

Cidr cidr(std::string_view text) {
    Result<Cidr, std::string> parsed = parse_cidr(text);
    EXPECT_TRUE(parsed) << text << ": " << (parsed ? "" : parsed.error());
    return parsed ? *parsed : Cidr{};
}

struct CidrCase {
    std::string_view text;
    std::string_view formatted;  // Expected format_cidr(), or "" when an error is expected.
    std::string_view error;
    unsigned prefix_bits;
};

TEST(Cidr, Parse) {
    constexpr CidrCase cases[] = {
        {"192.0.2.0/24", "192.0.2.0/24", "", 120},
        {"127.0.0.0/8", "127.0.0.0/8", "", 104},
        {"127.0.0.1", "127.0.0.1/32", "", 128},
        {"192.0.2.7/32", "192.0.2.7/32", "", 128},
        {"0.0.0.0/0", "0.0.0.0/0", "", 96},
        {"10.1.2.3/8", "10.0.0.0/8", "", 104},  // Host bits are cleared.
        {"10.255.0.0/9", "10.128.0.0/9", "", 105},
        {"::1", "::1/128", "", 128},
        {"::1/128", "::1/128", "", 128},
        {"::/0", "::/0", "", 0},
        {"2001:db8::/32", "2001:db8::/32", "", 32},
        {"2001:DB8:ffff::1/33", "2001:db8:8000::/33", "", 33},
        {"::ffff:10.0.0.0/104", "10.0.0.0/8", "", 104},  // The same network as 10.0.0.0/8.
        {"::ffff:0:0/95", "::fffe:0:0/95", "", 95},
        {"", "", "the address is missing", 0},
        {"/24", "", "the address is missing", 0},
        {"10.0.0.0/", "", "the prefix length after '/' is missing", 0},
        {"10.0.0.0/33", "", "prefix length 33 is more than 32, the IPv4 maximum", 0},
        {"::/129", "", "prefix length 129 is more than 128, the IPv6 maximum", 0},
        {"10.0.0.0/1000", "", "prefix length \"1000\" is not a number 0..32", 0},
        {"10.0.0.0/08", "", "prefix length \"08\" is not a number 0..32", 0},
        {"10.0.0.0/-1", "", "prefix length \"-1\" is not a number 0..32", 0},
        {"10.0.0.0/ 8", "", "prefix length \" 8\" is not a number 0..32", 0},
        {"10.0.0.0/24/8", "", "prefix length \"24/8\" is not a number 0..32", 0},
        {"10.0.0.256/8", "", "\"10.0.0.256\" is not an IPv4 address", 0},
        {"10.0.0/8", "", "\"10.0.0\" is not an IPv4 address", 0},
        {" 10.0.0.0/8", "", "\" 10.0.0.0\" is not an IPv4 address", 0},
        {"localhost", "", "\"localhost\" is not an IPv4 address", 0},
        {"fe80::1%eth0/64", "", "\"fe80::1%eth0\" is not an IPv6 address", 0},
        {"2001:db8:::/32", "", "\"2001:db8:::\" is not an IPv6 address", 0},
    };
    for (const CidrCase& c : cases) {
        SCOPED_TRACE(std::string(c.text));
        Result<Cidr, std::string> parsed = parse_cidr(c.text);
        if (c.formatted.empty()) {
            ASSERT_FALSE(parsed);
            EXPECT_EQ(parsed.error(), c.error);
        } else {
            ASSERT_TRUE(parsed) << parsed.error();
            EXPECT_EQ(format_cidr(*parsed), c.formatted);
            EXPECT_EQ(parsed->prefix_bits, c.prefix_bits);
        }
    }
}

struct ContainsCase {
    std::string_view network;
    std::string_view address;
    bool inside;
};

TEST(Cidr, Contains) {
    constexpr ContainsCase cases[] = {
        {"127.0.0.0/8", "127.0.0.1", true},
        {"127.0.0.0/8", "127.255.255.255", true},
        {"127.0.0.0/8", "128.0.0.1", false},
        {"127.0.0.0/8", "::ffff:127.0.0.1", true},  // IPv4 peer on a dual-stack socket.
        {"127.0.0.0/8", "::ffff:126.0.0.1", false},
        {"127.0.0.0/8", "::1", false},
        {"127.0.0.0/8", "::127.0.0.1", false},  // IPv4-compatible is not IPv4-mapped.
        {"0.0.0.0/0", "192.0.2.1", true},
        {"0.0.0.0/0", "::ffff:198.51.100.1", true},
        {"0.0.0.0/0", "::1", false},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"192.0.2.1", "192.0.2.1", true},
        {"192.0.2.1/32", "192.0.2.2", false},
        {"10.0.0.0/9", "10.127.255.255", true},
        {"10.0.0.0/9", "10.128.0.0", false},
        {"::/0", "2001:db8::1", true},
        {"::/0", "192.0.2.1", true},  // Documented: ::/0 covers the mapped range too.
        {"::1/128", "::1", true},
        {"::1/128", "::2", false},
        {"::1/128", "127.0.0.1", false},
        {"2001:db8::/32", "2001:db8:ffff::1", true},
        {"2001:db8::/32", "2001:db9::1", false},
        {"2001:db8:8000::/33", "2001:db8:8000::1", true},
        {"2001:db8:8000::/33", "2001:db8:7fff::1", false},
        {"::ffff:192.0.2.0/120", "192.0.2.9", true},
    };
    for (const ContainsCase& c : cases) {
        EXPECT_EQ(cidr_contains(cidr(c.network), socket_address(std::string(c.address))), c.inside)
            << c.network << " " << c.address;
    }
    sockaddr_storage unix_address{};
    unix_address.ss_family = AF_UNIX;
    EXPECT_FALSE(cidr_contains(cidr("::/0"), unix_address));
}

Partner make_partner(std::string name, std::vector<std::string> domains, bool subdomains,
                     std::vector<std::string_view> inbound = {}, std::string client_cn = "") {
    Partner partner;
    partner.name = std::move(name);
    partner.domains = std::move(domains);
    partner.subdomains = subdomains;
    for (std::string_view network : inbound) {
        partner.inbound.push_back(cidr(network));
    }
    partner.outbound_host = "127.0.0.1";
    partner.outbound_port = 10025;
    partner.client_cn = std::move(client_cn);
    return partner;
}

TEST(PartnerTable, MatchSourceMostSpecificThenEarliest) {
    PartnerTable table("lgolhub.net",
                       {make_partner("p1", {"p1.org"}, false, {"127.0.0.0/8", "2001:db8::/32"}),
                        make_partner("p2", {"p2.org"}, false, {"127.0.0.2/32"}),
                        make_partner("p3", {"p3.org"}, false, {"127.0.0.0/8", "2001:db8:1::/48"}),
                        make_partner("p4", {"p4.org"}, false, {})});
    struct Case {
        std::string_view address;
        std::string_view partner;  // "" = none.
    };
    constexpr Case cases[] = {
        {"127.0.0.2", "p2"},        {"::ffff:127.0.0.2", "p2"}, {"127.0.0.3", "p1"},
        {"::ffff:127.9.9.9", "p1"}, {"10.0.0.1", ""},           {"2001:db8::5", "p1"},
        {"2001:db8:1::5", "p3"},    {"2001:db9::1", ""},        {"::1", ""},
    };
    for (const Case& c : cases) {
        const Partner* partner = table.match_source(socket_address(std::string(c.address)));
        EXPECT_EQ(partner == nullptr ? "" : partner->name, c.partner) << c.address;
    }
    EXPECT_EQ(PartnerTable().match_source(socket_address("127.0.0.1")), nullptr);
}

TEST(PartnerTable, MatchClientCn) {
    PartnerTable table("lgolhub.net", {make_partner("p1", {"p1.org"}, false, {}, "partner1.gov.uk"),
                                       make_partner("p2", {"p2.org"}, false, {}, "")});
    ASSERT_NE(table.match_client_cn("partner1.gov.uk"), nullptr);
    EXPECT_EQ(table.match_client_cn("partner1.gov.uk")->name, "p1");
    EXPECT_EQ(table.match_client_cn("PARTNER1.gov.UK")->name, "p1");
    EXPECT_EQ(table.match_client_cn("partner2.gov.uk"), nullptr);
    EXPECT_EQ(table.match_client_cn("partner1.gov.uk.evil"), nullptr);
    EXPECT_EQ(table.match_client_cn(""), nullptr);  // p2 has no CN; "" must not match it.
}

struct RecipientCase {
    std::string_view address;
    RecipientDecision decision;
    std::string_view partner;  // When accepted.
    std::string_view routed;   // route.address when accepted.
};

constexpr RecipientDecision accept = RecipientDecision::accept;
constexpr RecipientDecision unknown = RecipientDecision::unknown_partner;
constexpr RecipientDecision denied = RecipientDecision::relay_denied;

TEST(PartnerTable, ClassifyRecipient) {
    PartnerTable table("LgolHub.net",  // Compared case-insensitively too.
                       {make_partner("partner1", {"partner1.gov.uk"}, false),
                        make_partner("partner2", {"partner2.gov.uk", "P2.Example"}, true),
                        make_partner("council", {"council.org"}, true),
                        make_partner("north", {"north.council.org"}, false)});
    const std::string long_label(63, 'a');
    const std::string too_long = long_label + "." + long_label + "." + long_label + "." +
                                 long_label + ".partner2.gov.uk.lgolhub.net";
    constexpr RecipientCase cases[] = {
        {"alice@partner1.gov.uk.lgolhub.net", accept, "partner1", "alice@partner1.gov.uk"},
        // Only the hub suffix goes; every other byte keeps its case.
        {"Alice.Smith@PARTNER1.Gov.UK.LGOLHUB.NET", accept, "partner1",
         "Alice.Smith@PARTNER1.Gov.UK"},
        {"JOE@PARTNER2.GOV.UK.lgolhub.net", accept, "partner2", "JOE@PARTNER2.GOV.UK"},
        {"bob@partner2.gov.uk.lgolhub.net", accept, "partner2", "bob@partner2.gov.uk"},
        {"bob@sub.partner2.gov.uk.lgolhub.net", accept, "partner2", "bob@sub.partner2.gov.uk"},
        {"bob@a.b.Partner2.gov.uk.lgolhub.net", accept, "partner2", "bob@a.b.Partner2.gov.uk"},
        {"bob@p2.example.lgolhub.net", accept, "partner2", "bob@p2.example"},
        {"x@north.council.org.lgolhub.net", accept, "north", "x@north.council.org"},
        {"x@a.north.council.org.lgolhub.net", accept, "council", "x@a.north.council.org"},
        {"x@council.org.lgolhub.net", accept, "council", "x@council.org"},
        {"x@south.council.org.lgolhub.net", accept, "council", "x@south.council.org"},
        {"\"a@b\"@partner2.gov.uk.lgolhub.net", accept, "partner2", "\"a@b\"@partner2.gov.uk"},
        {"x@partner2.gov.uk.lgolhub.net.", accept, "partner2", "x@partner2.gov.uk"},
        {"x@@partner1.gov.uk.lgolhub.net", accept, "partner1", "x@@partner1.gov.uk"},
        {"postmaster@lgolhub.net", unknown, "", ""},
        {"x@LGOLHUB.NET", unknown, "", ""},
        {"x@lgolhub.net.", unknown, "", ""},
        {"x@sub.partner1.gov.uk.lgolhub.net", unknown, "", ""},  // partner1: no subdomains.
        {"x@unknown.gov.uk.lgolhub.net", unknown, "", ""},
        {"x@gov.uk.lgolhub.net", unknown, "", ""},
        {"x@uk.lgolhub.net", unknown, "", ""},
        {"x@example.lgolhub.net", unknown, "", ""},
        {"x@partner1.gov.uk", denied, "", ""},
        {"x@example.com", denied, "", ""},
        {"x@evil-lgolhub.net", denied, "", ""},
        {"x@partner1.gov.ukxlgolhub.net", denied, "", ""},
        {"x@lgolhub.net.evil.com", denied, "", ""},
        {"x@net", denied, "", ""},
        {"nobody", denied, "", ""},
        {"", denied, "", ""},
        {"@partner1.gov.uk.lgolhub.net", denied, "", ""},
        {"x@", denied, "", ""},
        {"x@.", denied, "", ""},
        {"x@partner2.gov.uk.lgolhub.net..", denied, "", ""},
        {"x@.partner1.gov.uk.lgolhub.net", denied, "", ""},
        {"x@partner1..gov.uk.lgolhub.net", denied, "", ""},
        {"x@partner_1.gov.uk.lgolhub.net", denied, "", ""},
        {"x@[127.0.0.1]", denied, "", ""},
        {"x@partner1.gov.uk.lgolhub.net ", denied, "", ""},
        {"x@partner1.gov.uk.lgolhub.net>", denied, "", ""},
    };
    for (const RecipientCase& c : cases) {
        SCOPED_TRACE(std::string(c.address));
        Route route{&table.partners()[0], "stale"};
        EXPECT_EQ(table.classify_recipient(c.address, route), c.decision);
        if (c.decision == accept) {
            ASSERT_NE(route.partner, nullptr);
            EXPECT_EQ(route.partner->name, c.partner);
            EXPECT_EQ(route.address, c.routed);
        } else {
            EXPECT_EQ(route.partner, nullptr);
            EXPECT_EQ(route.address, "");
        }
    }
    Route route;
    EXPECT_EQ(table.classify_recipient("x@" + too_long, route), denied);
    EXPECT_EQ(table.classify_recipient("x@" + too_long.substr(64), route), accept);
    EXPECT_EQ(PartnerTable().classify_recipient("x@partner1.gov.uk.lgolhub.net", route), denied);
    EXPECT_EQ(table.hub_domain(), "lgolhub.net");
}

TEST(PartnerTable, FindDomainOwnerIgnoresCase) {
    PartnerTable table("lgolhub.net", {make_partner("partner1", {"partner1.gov.uk"}, false),
                                       make_partner("council", {"Council.org"}, true)});
    struct Case {
        std::string_view domain;
        std::string_view partner;  // "" = nobody.
    };
    constexpr Case cases[] = {
        {"partner1.gov.uk", "partner1"},     {"Partner1.GOV.UK", "partner1"},
        {"PARTNER1.GOV.UK", "partner1"},     {"mail.partner1.gov.uk", ""},
        {"council.org", "council"},          {"A.B.COUNCIL.ORG", "council"},
        {"partner1.gov.uk.lgolhub.net", ""}, {"", ""},
    };
    for (const Case& c : cases) {
        const Partner* owner = table.find_domain_owner(c.domain);
        EXPECT_EQ(owner == nullptr ? "" : owner->name, c.partner) << c.domain;
    }
    EXPECT_EQ(table.find_domain_owner(std::string(300, 'a')), nullptr);
}

// Not a fuzzer (those live in tests/fuzz), but a cheap seeded sweep that runs under ASan
// in every unit-test run: random strings over the characters that matter to the parsers
// must never crash, and every accepted route must be the input minus the hub suffix.
TEST(PartnerTable, RandomAddressesKeepTheInvariants) {
    PartnerTable table("lgolhub.net", {make_partner("p", {"a.b", "b"}, true, {"10.0.0.0/8"})});
    constexpr std::string_view alphabet = "@@..ab-ABl0:/[]\"\\ ";
    constexpr std::string_view suffixes[] = {"", ".lgolhub.net", "a.b.lgolhub.net",
                                             "@b.lgolhub.net."};
    std::mt19937 random(20240601);  // Fixed: a failure reproduces.
    std::size_t accepted = 0;
    for (int round = 0; round < 20000; round++) {
        std::string text;
        std::size_t length = random() % 24;
        for (std::size_t i = 0; i < length; i++) {
            text += alphabet[random() % alphabet.size()];
        }
        text += suffixes[random() % std::size(suffixes)];
        Route route;
        if (table.classify_recipient(text, route) == RecipientDecision::accept) {
            accepted++;
            ASSERT_NE(route.partner, nullptr) << text;
            std::size_t at = text.rfind('@');
            ASSERT_EQ(route.address.substr(0, at), text.substr(0, at)) << text;
            std::string rest = text.substr(at);
            if (rest.back() == '.') {
                rest.pop_back();
            }
            // Byte for byte up to the suffix, which matches in any case.
            ASSERT_EQ(rest.substr(0, rest.size() - 12), route.address.substr(at)) << text;
            std::string suffix = rest.substr(rest.size() - 12);
            for (char& c : suffix) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            ASSERT_EQ(suffix, ".lgolhub.net") << text;
        }
        (void)parse_cidr(text);  // Must not crash on anything either.
    }
    EXPECT_GT(accepted, 100u);  // The sweep does reach the accepting path.
}

class PartnersFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "partners_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        path_ = (dir_ / "partners.toml").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    Result<std::vector<Partner>, std::string> load(std::string_view text) {
        std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
        return load_partners(path_);
    }
    // The error for text without the ":<line>" after the file name (LinesAreNamed checks
    // those), or "(loaded)".
    std::string error_of(std::string_view text) {
        Result<std::vector<Partner>, std::string> result = load(text);
        return result ? "(loaded)" : without_lines(result.error());
    }
    std::string without_lines(std::string error) const {
        return config::without_line_numbers_for_test(std::move(error), path_);
    }

    std::filesystem::path dir_;
    std::string path_;
};

constexpr std::string_view dev_partners = R"(
[[partner]]
name = "partner1"
domains = ["partner1.gov.uk"]
inbound = ["127.0.0.0/8"]
outbound = "127.0.0.1:10025"
client_cn = "partner1.gov.uk"

[[partner]]
name = "partner2"
domains = ["Partner2.GOV.uk", "p2.example"]
subdomains = true
inbound = ["127.0.0.0/8", "::1"]
outbound = "[::1]:10026"
require_client_certificate = false
client_cn = "partner2.gov.uk"
extra_sender_domains = ["agency.gov.uk", "Other.Example"]

[[partner]]
name = "receive-only"
domains = ["ro.example"]
outbound = "192.0.2.1"
)";

TEST_F(PartnersFileTest, OutboundTlsNameDefaultsToFirstDomainAndPinsAreChecked) {
    Result<std::vector<Partner>, std::string> result = load(dev_partners);
    ASSERT_TRUE(result) << result.error();
    EXPECT_EQ((*result)[0].outbound_name, "partner1.gov.uk");
    EXPECT_EQ((*result)[1].outbound_name, "partner2.gov.uk");  // Lower-cased domains[0].
    EXPECT_TRUE((*result)[0].outbound_pin_sha256.empty());

    std::string pin(64, 'a');
    Result<std::vector<Partner>, std::string> pinned = load(
        "[[partner]]\nname = \"p\"\ndomains = [\"p.example\"]\noutbound = \"192.0.2.1:25\"\n"
        "outbound_name = \"mx.p.example\"\noutbound_pin_sha256 = \"" +
        pin + "\"\n");
    ASSERT_TRUE(pinned) << pinned.error();
    EXPECT_EQ((*pinned)[0].outbound_name, "mx.p.example");
    EXPECT_EQ((*pinned)[0].outbound_pin_sha256, pin);

    std::string bad = error_of(
        "[[partner]]\nname = \"p\"\ndomains = [\"p.example\"]\noutbound = \"192.0.2.1:25\"\n"
        "outbound_pin_sha256 = \"abc\"\n");
    EXPECT_NE(bad.find("outbound_pin_sha256"), std::string::npos) << bad;
    EXPECT_NE(bad.find("64 hex digits"), std::string::npos) << bad;
}

TEST_F(PartnersFileTest, LoadsAFullFile) {
    Result<std::vector<Partner>, std::string> result = load(dev_partners);
    ASSERT_TRUE(result) << result.error();
    const std::vector<Partner>& partners = *result;
    ASSERT_EQ(partners.size(), 3u);
    EXPECT_EQ(partners[0].name, "partner1");
    EXPECT_EQ(partners[0].domains, std::vector<std::string>{"partner1.gov.uk"});
    EXPECT_FALSE(partners[0].subdomains);
    ASSERT_EQ(partners[0].inbound.size(), 1u);
    EXPECT_EQ(format_cidr(partners[0].inbound[0]), "127.0.0.0/8");
    EXPECT_EQ(partners[0].outbound_host, "127.0.0.1");
    EXPECT_EQ(partners[0].outbound_port, 10025);
    EXPECT_TRUE(partners[0].require_client_certificate);  // The default.
    EXPECT_EQ(partners[0].client_cn, "partner1.gov.uk");
    EXPECT_TRUE(partners[0].extra_sender_domains.empty());
    EXPECT_EQ(partners[1].domains, (std::vector<std::string>{"partner2.gov.uk", "p2.example"}));
    EXPECT_TRUE(partners[1].subdomains);
    ASSERT_EQ(partners[1].inbound.size(), 2u);
    EXPECT_EQ(format_cidr(partners[1].inbound[1]), "::1/128");
    EXPECT_EQ(partners[1].outbound_host, "::1");
    EXPECT_EQ(partners[1].outbound_port, 10026);
    EXPECT_FALSE(partners[1].require_client_certificate);
    EXPECT_EQ(partners[1].extra_sender_domains,
              (std::vector<std::string>{"agency.gov.uk", "other.example"}));
    EXPECT_TRUE(partners[2].inbound.empty());
    EXPECT_EQ(partners[2].outbound_port, 25);        // Left out: the SMTP port.
    EXPECT_EQ(partners[2].client_cn, "ro.example");  // By default its first domain.

    PartnerTable table("lgolhub.net", std::move(*result));
    Route route;
    EXPECT_EQ(table.classify_recipient("u@x.partner2.gov.uk.lgolhub.net", route), accept);
    EXPECT_EQ(route.partner->name, "partner2");
}

TEST_F(PartnersFileTest, EmptyFileIsAnEmptyTable) {
    Result<std::vector<Partner>, std::string> result = load("# no partners yet\n");
    ASSERT_TRUE(result) << result.error();
    EXPECT_TRUE(result->empty());
}

struct FileCase {
    std::string_view text;
    std::string_view error;  // After "<file>: "; several lines repeat the prefix.
};

constexpr std::string_view p1 =
    "[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n";

// Each case is a whole file and every error it must produce, in order.
constexpr FileCase file_cases[] = {
    {"[[partner]]\nname = \"p1\"\ndomain = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[0] (\"p1\"): unknown key 'domain'; did you mean 'domains'?\n{}"
     "partner[0] (\"p1\"): domains is missing; it is required (the mail domains this "
     "partner owns)"},
    {"[[partner]]\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[0]: name is missing; it is required (a short unique name for logs and the "
     "spool)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\n",
     "partner[0] (\"p1\"): outbound is missing; it is required (the partner's smart host, "
     "\"IPv4:port\" or \"[IPv6]:port\")"},
    {"[[partner]]\nname = 7\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[0]: name = 7: must be a string (not an integer)"},
    {"[[partner]]\nname = \"p 1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[0]: name = \"p 1\": must be 1..64 letters, digits, '.', '_' or '-'"},
    {"[[partner]]\nname = \"p1\"\ndomains = \"p1.org\"\noutbound = \"127.0.0.1:25\"\n",
     "partner[0] (\"p1\"): domains = \"p1.org\": must be an array of domain names (not a "
     "string)"},
    {"[[partner]]\nname = \"p1\"\ndomains = []\noutbound = \"127.0.0.1:25\"\n",
     "partner[0] (\"p1\"): domains = []: must list 1..1000 domains"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"ok.org\", 5, \"bad_name.org\", \"x.org.\"]\n"
     "outbound = \"127.0.0.1:25\"\n",
     "partner[0] (\"p1\"): domains[1] = 5: must be a string (not an integer): a domain name\n{}"
     "partner[0] (\"p1\"): domains[2] = \"bad_name.org\": must be a domain name of letters, "
     "digits and hyphens ('_' is not a letter, digit, hyphen or dot)\n{}"
     "partner[0] (\"p1\"): domains[3] = \"x.org.\": must be a domain name of letters, digits "
     "and hyphens (it ends with a dot)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"a.org\", \"A.ORG\"]\n"
     "outbound = \"127.0.0.1:25\"\n",
     "partner[0] (\"p1\"): domains[1] = \"A.ORG\": listed twice"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "[[partner]]\nname = \"p1\"\ndomains = [\"P1.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[1] (\"p1\"): name = \"p1\": already used by partner[0] (\"p1\")\n{}"
     "partner[1] (\"p1\"): domains[0] = \"P1.org\": already claimed by partner[0] (\"p1\")"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "subdomains = \"yes\"\nrequire_client_certificate = 1\n",
     "partner[0] (\"p1\"): subdomains = \"yes\": must be true or false (not a string)\n{}"
     "partner[0] (\"p1\"): require_client_certificate = 1: must be true or false (not an "
     "integer)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "inbound = [\"127.0.0.0/8\", \"10.0.0.0/33\", 7]\n",
     "partner[0] (\"p1\"): inbound[1] = \"10.0.0.0/33\": must be a network such as "
     "\"192.0.2.0/24\" or \"2001:db8::/32\", or one address (prefix length 33 is more than "
     "32, the IPv4 maximum)\n{}"
     "partner[0] (\"p1\"): inbound[2] = 7: must be a string (not an integer): a network"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "inbound = \"127.0.0.0/8\"\n",
     "partner[0] (\"p1\"): inbound = \"127.0.0.0/8\": must be an array of networks such as "
     "\"192.0.2.0/24\" (not a string)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"mx.p1.org:25\"\n",
     "partner[0] (\"p1\"): outbound = \"mx.p1.org:25\": must be \"IPv4:port\" or "
     "\"[IPv6]:port\" with a numeric address (\"mx.p1.org\" is not a numeric IPv4 address "
     "(names are not looked up))"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"::1:25\"\n",
     "partner[0] (\"p1\"): outbound = \"::1:25\": must be \"IPv4:port\" or \"[IPv6]:port\" "
     "with a numeric address (an IPv6 address needs brackets, as in \"[2001:db8::1]:25\")"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = 25\n",
     "partner[0] (\"p1\"): outbound = 25: must be \"IPv4:port\" or \"[IPv6]:port\" with a "
     "numeric address (not an integer)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "client_cn = \"\"\n",
     "partner[0] (\"p1\"): client_cn = \"\": must be a string of 1..64 printable characters "
     "(leave the key out for none)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "client_cn = \"Same.CN\"\n"
     "[[partner]]\nname = \"p2\"\ndomains = [\"p2.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "client_cn = \"same.cn\"\n",
     "partner[1] (\"p2\"): client_cn = \"same.cn\": already used by partner[0] (\"p1\")"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "[[partner]]\nname = \"p2\"\ndomains = [\"p2.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "client_cn = \"P1.org\"\n",
     "partner[1] (\"p2\"): client_cn = \"P1.org\": already used by partner[0] (\"p1\")"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "client_cn = \"p2.org\"\n"
     "[[partner]]\nname = \"p2\"\ndomains = [\"p2.org\"]\noutbound = \"127.0.0.1:25\"\n",
     "partner[1] (\"p2\"): client_cn (by default domains[0], \"p2.org\") is already used by "
     "partner[0] (\"p1\"); set client_cn to the CN of this partner's certificate"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "extra_sender_domains = [\"ok.org\", \"bad_one\", 3]\n",
     "partner[0] (\"p1\"): extra_sender_domains[1] = \"bad_one\": must be a domain name of "
     "letters, digits and hyphens ('_' is not a letter, digit, hyphen or dot)\n{}"
     "partner[0] (\"p1\"): extra_sender_domains[2] = 3: must be a domain name of letters, "
     "digits and hyphens (not an integer)"},
    {"[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
     "extra_sender_domains = \"a.org\"\n",
     "partner[0] (\"p1\"): extra_sender_domains = \"a.org\": must be an array of at most 1000 "
     "domain names"},
    {"[[partners]]\nname = \"p1\"\n",
     "unknown key 'partners'; did you mean 'partner' ([[partner]])?"},
    {"[[peer]]\nname = \"p1\"\n", "unknown key 'peer'"},
    {"partner = 5\n", "partner = 5: must be an array of tables ([[partner]])"},
    {"[partner]\nname = \"p1\"\n", "partner = {...}: must be an array of tables ([[partner]])"},
    {"partner = [5]\n", "partner[0] = 5: must be a table ([[partner]])"},
};

TEST_F(PartnersFileTest, Errors) {
    for (const FileCase& c : file_cases) {
        SCOPED_TRACE(std::string(c.text));
        std::string expected = path_ + ": " + std::string(c.error);
        for (std::size_t at; (at = expected.find("{}")) != std::string::npos;) {
            expected.replace(at, 2, path_ + ": ");
        }
        EXPECT_EQ(error_of(c.text), expected);
    }
}

TEST_F(PartnersFileTest, InlineTablesWork) {
    Result<std::vector<Partner>, std::string> result =
        load("partner = [{ name = \"p1\", domains = [\"p1.org\"], outbound = \"[::1]\" }]\n");
    ASSERT_TRUE(result) << result.error();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ((*result)[0].outbound_host, "::1");
    EXPECT_EQ((*result)[0].outbound_port, 25);
}

TEST_F(PartnersFileTest, LinesAreNamed) {
    Result<std::vector<Partner>, std::string> result = load(
        "[[partner]]\nname = \"p1\"\ndomains = [\"p1.org\"]\noutbound = \"127.0.0.1:25\"\n"
        "outbound_pin_sha256 = \"zz\"\noutbound_name = \"-bad-\"\n");
    ASSERT_FALSE(result);
    std::string error = result.error();
    EXPECT_NE(error.find(path_ + ":5: partner[0] (\"p1\"): outbound_pin_sha256"), std::string::npos)
        << error;
    EXPECT_NE(error.find("\n" + path_ + ":6: partner[0] (\"p1\"): outbound_name"),
              std::string::npos)
        << error;
}

TEST_F(PartnersFileTest, SyntaxAndReadErrors) {
    std::string error = load(std::string(p1) + "name = \"again\"\n").error();
    EXPECT_EQ(error.rfind(path_ + ":5:", 0), 0u) << error;
    EXPECT_EQ(load_partners(path_ + ".missing").error(),
              path_ + ".missing: cannot read: No such file or directory");
}

}  // namespace
}  // namespace hub::policy
