// directory_test.cc -- the partner directory: schema, import, snapshot, audit, and a table
// of bad inputs each of which must leave the database file byte-identical.
//
// Method: a fresh database in a temporary directory per test; the directory is opened and
// closed around each change as hubctl does, so the bytes compared are the whole state
// (SQLite folds the write-ahead log into the file when the last connection closes).

#include "directory/directory.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "directory/edits.h"
#include "directory/schema.h"

namespace hub::directory {
namespace {

namespace fs = std::filesystem;

constexpr const char* sample_toml = R"(
[[partner]]
name = "partner1"
domains = ["partner1.gov.uk"]
inbound = ["127.0.0.0/8"]
outbound = "127.0.0.1:10025"

[[partner]]
name = "partner2"
domains = ["Partner2.gov.uk", "agency.partner2.gov.uk"]
subdomains = true
inbound = ["10.1.2.3/16", "2001:db8::/32"]
outbound = "[::1]:10026"
require_client_certificate = false
client_cn = "mx.partner2.gov.uk"
extra_sender_domains = ["Agency.example"]
outbound_pin_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)";

class DirectoryTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "directory_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        path_ = (fs::path(dir_) / "directory.db").string();
    }
    void TearDown() override { fs::remove_all(dir_); }

    Directory open(OpenMode mode = OpenMode::create) {
        auto directory = Directory::open(path_, mode);
        EXPECT_TRUE(directory) << (directory ? "" : directory.error());
        HUB_ASSERT(directory.has_value());
        return std::move(*directory);
    }

    // partner1 and partner2 from sample_toml, through the TOML loader and import.
    void import_sample() {
        std::string toml = (fs::path(dir_) / "partners.toml").string();
        std::ofstream(toml) << sample_toml;
        auto loaded = policy::load_partners(toml);
        ASSERT_TRUE(loaded) << loaded.error();
        std::vector<PartnerRecord> records;
        for (const policy::Partner& partner : *loaded) {
            records.push_back(from_partner(partner));
        }
        Directory directory = open();
        auto imported = directory.import(records, "tester");
        ASSERT_TRUE(imported) << imported.error();
    }

    std::string file_bytes() const { return file_bytes(path_); }
    static std::string file_bytes(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    std::string dir_;
    std::string path_;
};

TEST_F(DirectoryTest, NewFileHasTheCurrentSchemaInWalMode) {
    {
        Directory directory = open();
        EXPECT_EQ(directory.schema_version(), current_schema_version());
        EXPECT_GE(current_schema_version(), 1);
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
    sqlite3_finalize(statement);
    sqlite3_close(db);
}

TEST_F(DirectoryTest, MissingFileIsRefusedWhenItMustExist) {
    auto directory = Directory::open(path_, OpenMode::existing);
    ASSERT_FALSE(directory);
    EXPECT_NE(directory.error().find("no such file; create it with `hubctl partner import"),
              std::string::npos)
        << directory.error();
    EXPECT_FALSE(fs::exists(path_));
}

TEST_F(DirectoryTest, NewerSchemaIsRefused) {
    { open(); }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    std::string set = "PRAGMA user_version = " + std::to_string(current_schema_version() + 1);
    ASSERT_EQ(sqlite3_exec(db, set.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    auto directory = Directory::open(path_, OpenMode::existing);
    ASSERT_FALSE(directory);
    EXPECT_NE(directory.error().find("is newer than this build knows"), std::string::npos)
        << directory.error();
}

TEST_F(DirectoryTest, ImportGivesTheSameTableAsTheFile) {
    import_sample();
    auto from_file = policy::load_partners((fs::path(dir_) / "partners.toml").string());
    ASSERT_TRUE(from_file);
    Directory directory = open(OpenMode::existing);
    auto active = directory.active_partners();
    ASSERT_TRUE(active) << active.error();
    ASSERT_EQ(active->size(), 2u);
    for (std::size_t i = 0; i < 2; i++) {
        const policy::Partner& want = (*from_file)[i];
        const policy::Partner& got = (*active)[i];
        EXPECT_EQ(got.name, want.name);
        EXPECT_EQ(got.domains, want.domains);
        EXPECT_EQ(got.subdomains, want.subdomains);
        ASSERT_EQ(got.inbound.size(), want.inbound.size());
        for (std::size_t j = 0; j < got.inbound.size(); j++) {
            EXPECT_EQ(policy::format_cidr(got.inbound[j]), policy::format_cidr(want.inbound[j]));
        }
        EXPECT_EQ(got.outbound_host, want.outbound_host);
        EXPECT_EQ(got.outbound_port, want.outbound_port);
        EXPECT_EQ(got.outbound_name, want.outbound_name);
        EXPECT_EQ(got.outbound_pin_sha256, want.outbound_pin_sha256);
        EXPECT_EQ(got.require_client_certificate, want.require_client_certificate);
        EXPECT_EQ(got.client_cn, want.client_cn);
        EXPECT_EQ(got.extra_sender_domains, want.extra_sender_domains);
    }
    auto audit = directory.audit("", 10);
    ASSERT_TRUE(audit);
    ASSERT_EQ(audit->size(), 2u);
    EXPECT_EQ((*audit)[0].action, "partner import");
    EXPECT_EQ((*audit)[0].actor, "tester");
    EXPECT_EQ((*audit)[0].before, "");
    EXPECT_NE((*audit)[0].after.find("\"domains\":[\"partner1.gov.uk\"]"), std::string::npos)
        << (*audit)[0].after;
}

TEST_F(DirectoryTest, SuspendedAndPendingPartnersAreNotInTheTable) {
    import_sample();
    Directory directory = open(OpenMode::existing);
    ASSERT_TRUE(directory.change("partner2", "partner suspend", "tester",
                                 set_state(PartnerState::suspended)));
    PartnerFields fields;
    fields.domains = std::vector<std::string>{"new.example"};
    ASSERT_TRUE(directory.change("partner3", "partner add", "tester",
                                 add_partner("partner3", fields, true)));
    auto active = directory.active_partners();
    ASSERT_TRUE(active);
    ASSERT_EQ(active->size(), 1u);
    EXPECT_EQ((*active)[0].name, "partner1");
    // Resumed, partner2 is back, unchanged.
    ASSERT_TRUE(
        directory.change("partner2", "partner resume", "tester", set_state(PartnerState::active)));
    active = directory.active_partners();
    ASSERT_TRUE(active);
    EXPECT_EQ(active->size(), 2u);
}

TEST_F(DirectoryTest, AuditHasBeforeAndAfter) {
    import_sample();
    Directory directory = open(OpenMode::existing);
    ASSERT_TRUE(directory.change("partner1", "domain add", "alice", add_domain("Extra.Example")));
    ASSERT_TRUE(directory.change("partner1", "partner remove", "bob", remove_partner()));
    auto audit = directory.audit("partner1", 10);
    ASSERT_TRUE(audit);
    ASSERT_EQ(audit->size(), 3u);  // import, domain add, remove.
    const AuditEntry& added = (*audit)[1];
    EXPECT_EQ(added.action, "domain add");
    EXPECT_EQ(added.actor, "alice");
    EXPECT_NE(added.before.find("\"domains\":[\"partner1.gov.uk\"]"), std::string::npos);
    EXPECT_NE(added.after.find("\"domains\":[\"partner1.gov.uk\",\"extra.example\"]"),
              std::string::npos)
        << added.after;
    const AuditEntry& removed = (*audit)[2];
    EXPECT_EQ(removed.actor, "bob");
    EXPECT_EQ(removed.before, added.after);
    EXPECT_EQ(removed.after, "");
    // The domains went with the partner: another partner may now take one.
    ASSERT_TRUE(directory.change("partner2", "domain add", "alice", add_domain("extra.example")));
    // A change that changes nothing is not audited.
    auto before = directory.audit("", 100);
    PartnerFields same;
    same.contact = "";
    ASSERT_TRUE(directory.change("partner2", "partner edit", "alice", edit_partner(same)));
    EXPECT_EQ(directory.audit("", 100)->size(), before->size());
}

TEST_F(DirectoryTest, EditNormalisesWhatItStores) {
    import_sample();
    Directory directory = open(OpenMode::existing);
    PartnerFields fields;
    fields.inbound = std::vector<std::string>{"10.1.2.3/8", "192.0.2.7"};
    fields.outbound = "192.0.2.25";
    fields.domains = std::vector<std::string>{"Partner1.GOV.uk"};
    ASSERT_TRUE(directory.change("partner1", "partner edit", "t", edit_partner(fields)));
    auto record = directory.find("partner1");
    ASSERT_TRUE(record && record->has_value());
    EXPECT_EQ((*record)->inbound, (std::vector<std::string>{"10.0.0.0/8", "192.0.2.7/32"}));
    EXPECT_EQ((*record)->outbound_host, "192.0.2.25");
    EXPECT_EQ((*record)->outbound_port, 25);
    EXPECT_EQ((*record)->domains, std::vector<std::string>{"partner1.gov.uk"});
}

// --- Bad input: a message that says what to fix, and not one byte changed. -------------

struct BadCase {
    const char* what;
    const char* partner;
    std::function<PartnerEdit()> edit;
    const char* message;  // Expected inside the error.
};

PartnerFields complete(std::string domain) {
    PartnerFields fields;
    fields.domains = std::vector<std::string>{std::move(domain)};
    fields.outbound = "127.0.0.1:10027";
    return fields;
}

template <typename Change>
PartnerFields with(std::string domain, Change change) {
    PartnerFields fields = complete(std::move(domain));
    change(fields);
    return fields;
}

std::vector<BadCase> bad_cases() {
    using F = PartnerFields;
    using V = std::vector<std::string>;
    auto add = [](const char* name, F fields, bool pending = false) {
        return [=] { return add_partner(name, fields, pending); };
    };
    auto edit = [](F fields) { return [=] { return edit_partner(fields); }; };
    return {
        {"invalid CIDR length", "p3",
         add("p3", with("p3.example", [](F& f) { f.inbound = V{"10.0.0.0/33"}; })),
         "inbound \"10.0.0.0/33\": must be a network"},
        {"CIDR that is not an address", "p3",
         add("p3", with("p3.example", [](F& f) { f.inbound = V{"ten.0.0.0/8"}; })),
         "inbound \"ten.0.0.0/8\": must be a network"},
        {"CIDR listed twice", "p3",
         add("p3", with("p3.example",
                        [](F& f) {
                            f.inbound = V{"10.0.0.0/8", "10.1.2.3/8"};
                        })),
         "listed twice (as 10.0.0.0/8)"},
        {"domain another partner owns", "p3", add("p3", complete("Partner1.gov.uk")),
         "domain partner1.gov.uk is owned by partner partner1; remove it there first"},
        {"invalid domain", "p3", add("p3", complete("-bad.example")),
         "domain \"-bad.example\": must be a domain name"},
        {"domain listed twice", "p3",
         add("p3", with("a.example",
                        [](F& f) {
                            f.domains = V{"a.example", "A.example"};
                        })),
         "domain \"a.example\": listed twice"},
        {"name with a space", "bad name", add("bad name", complete("p3.example")),
         "partner name \"bad name\": must be 1..64 letters"},
        {"name too long", std::string(65, 'n').c_str(), nullptr, ""},  // Filled in below.
        {"name taken", "partner1", add("partner1", complete("p3.example")),
         "partner partner1: exists already; change it with hubctl partner edit"},
        {"active without outbound", "p3",
         add("p3", with("p3.example", [](F& f) { f.outbound.reset(); })),
         "is active but has no outbound connector; set one"},
        {"active without domain", "p3",
         add("p3", with("p3.example", [](F& f) { f.domains.reset(); })),
         "is active but owns no domain; add one"},
        {"outbound by name", "p3",
         add("p3", with("p3.example", [](F& f) { f.outbound = "mx.p3.example:25"; })),
         "outbound \"mx.p3.example:25\": must be \"IPv4[:port]\""},
        {"outbound port 70000", "p3",
         add("p3", with("p3.example", [](F& f) { f.outbound = "127.0.0.1:70000"; })),
         "outbound \"127.0.0.1:70000\""},
        {"malformed pin", "p3",
         add("p3", with("p3.example", [](F& f) { f.outbound_pin_sha256 = "ab:cd"; })),
         "outbound pin \"ab:cd\": must be 64 hex digits"},
        {"pin without outbound", "p3",
         add("p3",
             with("p3.example",
                  [](F& f) {
                      f.outbound.reset();
                      f.outbound_pin_sha256 = std::string(64, 'a');
                  }),
             true),
         "an outbound name or pin needs an outbound connector"},
        {"client CN another partner uses", "p3",
         add("p3", with("p3.example", [](F& f) { f.client_cn = "PARTNER1.gov.uk"; })),
         "client CN \"PARTNER1.gov.uk\" is already partner partner1's"},
        {"client CN too long", "p3",
         add("p3", with("p3.example", [](F& f) { f.client_cn = std::string(65, 'c'); })),
         "must be a string of 1..64 printable characters"},
        {"contact with a line break", "p3",
         add("p3", with("p3.example", [](F& f) { f.contact = "Ann\nSmith"; })),
         "contact: must be at most 256 printable ASCII characters"},
        {"invalid extra sender domain", "p3",
         add("p3", with("p3.example", [](F& f) { f.extra_sender_domains = V{"a..b"}; })),
         "extra sender domain \"a..b\": must be a domain name"},
        {"invalid outbound name", "p3",
         add("p3", with("p3.example", [](F& f) { f.outbound_name = "bad_name"; })),
         "outbound name \"bad_name\": must be the DNS name"},
        {"edit an unknown partner", "nobody", edit(complete("x.example")),
         "partner nobody: no such partner"},
        {"edit with an invalid CIDR", "partner1", edit([] {
             F f;
             f.inbound = V{"192.0.2.0/24", "192.0.2.0/"};
             return f;
         }()),
         "inbound \"192.0.2.0/\""},
        {"edit away every domain of an active partner", "partner1", edit([] {
             F f;
             f.domains = V{};
             return f;
         }()),
         "partner partner1 is active but owns no domain"},
        {"resume an active partner", "partner1", [] { return set_state(PartnerState::active); },
         "partner partner1: already active"},
        {"resume a pending partner with no connector", "pending1",
         [] { return set_state(PartnerState::active); },
         "partner pending1 is active but has no outbound connector"},
        {"remove an unknown partner", "nobody", [] { return remove_partner(); },
         "partner nobody: no such partner"},
        {"domain another partner owns", "partner2", [] { return add_domain("partner1.gov.uk"); },
         "domain partner1.gov.uk is owned by partner partner1"},
        {"domain the partner owns already", "partner1",
         [] { return add_domain("PARTNER1.gov.uk"); },
         "partner partner1: owns partner1.gov.uk already"},
        {"domain that is not a name", "partner1", [] { return add_domain("a b.example"); },
         "domain \"a b.example\": must be a domain name"},
        {"remove a domain not owned", "partner1", [] { return remove_domain("partner2.gov.uk"); },
         "partner partner1: does not own partner2.gov.uk"},
        {"remove the last domain of an active partner", "partner1",
         [] { return remove_domain("partner1.gov.uk"); },
         "partner partner1 is active but owns no domain"},
    };
}

TEST_F(DirectoryTest, BadInputSaysWhatToFixAndChangesNothing) {
    import_sample();
    {
        Directory directory = open(OpenMode::existing);
        PartnerFields pending;
        pending.domains = std::vector<std::string>{"pending1.example"};
        ASSERT_TRUE(directory.change("pending1", "partner add", "tester",
                                     add_partner("pending1", pending, true)));
    }
    std::vector<BadCase> cases = bad_cases();
    std::string long_name(65, 'n');
    for (BadCase& c : cases) {
        if (c.edit == nullptr) {
            c.partner = long_name.c_str();
            c.edit = [&] { return add_partner(long_name, complete("p3.example"), false); };
            c.message = "must be 1..64 letters, digits";
        }
    }
    ASSERT_GE(cases.size(), 25u);
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.what);
        std::string before = file_bytes();
        std::string wal_before = file_bytes(path_ + "-wal");
        ASSERT_FALSE(before.empty());
        {
            Directory directory = open(OpenMode::existing);
            auto changed = directory.change(c.partner, "test", "tester", c.edit());
            ASSERT_FALSE(changed);
            EXPECT_NE(changed.error().find(c.message), std::string::npos) << changed.error();
        }
        EXPECT_EQ(file_bytes(), before);
        // Kept for hubd's read-only reload (SQLITE_FCNTL_PERSIST_WAL), and unchanged.
        EXPECT_TRUE(fs::exists(path_ + "-wal"));
        EXPECT_EQ(file_bytes(path_ + "-wal"), wal_before);
    }
}

TEST_F(DirectoryTest, ImportIsAllOrNothing) {
    import_sample();
    std::string before = file_bytes();
    PartnerRecord fresh = from_partner(policy::Partner{});
    fresh.name = "p3";
    fresh.domains = {"p3.example"};
    fresh.outbound_host = "127.0.0.1";
    PartnerRecord clash = fresh;
    clash.name = "p4";
    clash.domains = {"partner2.gov.uk"};
    {
        Directory directory = open(OpenMode::existing);
        auto imported = directory.import({fresh, clash}, "tester");
        ASSERT_FALSE(imported);
        EXPECT_NE(imported.error().find("partner p4: domain partner2.gov.uk is owned by partner "
                                        "partner2; remove it there first"),
                  std::string::npos)
            << imported.error();
        PartnerRecord again = fresh;
        again.name = "partner1";
        again.domains = {"p5.example"};
        imported = directory.import({again}, "tester");
        ASSERT_FALSE(imported);
        EXPECT_NE(imported.error().find("partner partner1 is already in the directory"),
                  std::string::npos);
        auto bad_actor = directory.import({fresh}, "two words");
        ASSERT_FALSE(bad_actor);
        EXPECT_NE(bad_actor.error().find("actor must be"), std::string::npos);
    }
    EXPECT_EQ(file_bytes(), before);
}

TEST(DirectoryJson, StringsStayValidJson) {
    EXPECT_EQ(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    EXPECT_EQ(json_string("Zo\xc3\xab"), "\"Zo\xc3\xab\"");               // UTF-8 kept.
    EXPECT_EQ(json_string("Zo\xeb"), "\"Zo\\u00eb\"");                    // Latin-1 escaped.
    EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"");  // A surrogate.
    EXPECT_EQ(json_string("\xc0\xaf"), "\"\\u00c0\\u00af\"");             // Overlong.
}

// --- Migrations ------------------------------------------------------------------------------

TEST_F(DirectoryTest, VersionOneFileIsMigratedKeepingItsPartners) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, schema_steps()[0], nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA user_version = 1; INSERT INTO partners (name, state, "
                           "created_unix_s, updated_unix_s) VALUES ('old', 'pending', 1, 1)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    Directory directory = open(OpenMode::existing);
    EXPECT_EQ(directory.schema_version(), current_schema_version());
    EXPECT_GE(current_schema_version(), 2);
    auto old = directory.find("old");
    ASSERT_TRUE(old && old->has_value());
    EXPECT_EQ((*old)->state, PartnerState::pending);
    auto accounts = directory.admins();  // Step 2's table is there.
    ASSERT_TRUE(accounts) << accounts.error();
    EXPECT_TRUE(accounts->empty());
}

// --- TLS endpoint policies ---------------------------------------------------------------------

TEST_F(DirectoryTest, VersionTwoFileGetsTheDefaultTlsPolicyAndKeepsItsBehaviour) {
    import_sample();
    {
        // Back to version 2, as a box that ran the previous build: step 3's tables gone.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "DROP TABLE tls_failures; DROP TABLE listener_certificates; "
                               "DROP TABLE tls_assignments; DROP TABLE tls_policies; "
                               "DROP TABLE trust_anchors; PRAGMA user_version = 2",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    Directory directory = open(OpenMode::existing);
    EXPECT_EQ(directory.schema_version(), current_schema_version());
    auto policies = directory.tls_policies();
    ASSERT_TRUE(policies) << policies.error();
    ASSERT_EQ(policies->size(), 1u);
    EXPECT_EQ((*policies)[0].policy, policy::TlsPolicy{});  // The shipped default.
    auto active = directory.active_partners();
    ASSERT_TRUE(active) << active.error();
    for (const policy::Partner& partner : *active) {
        EXPECT_EQ(partner.tls_policy_name, "default");
        EXPECT_EQ(partner.inbound_tls, policy::InboundTlsPolicy{});
        EXPECT_EQ(partner.outbound_tls, policy::OutboundTlsPolicy{});
    }
    // partner2's own settings still say what its certificate and server must be.
    EXPECT_FALSE((*active)[1].require_client_certificate);
    EXPECT_EQ((*active)[1].client_cn, "mx.partner2.gov.uk");
}

TEST_F(DirectoryTest, MostSpecificTlsAssignmentWins) {
    import_sample();
    Directory directory = open();
    auto create = [&](const char* name, TlsPolicyFields fields) {
        auto done = directory.change_tls_policy(name, "tls-endpoint create", "tester",
                                                create_tls_policy(name, std::move(fields)));
        ASSERT_TRUE(done) << done.error();
    };
    auto assign = [&](const char* name, std::vector<std::string> partners,
                      std::vector<std::string> networks, std::vector<std::string> domains) {
        auto done = directory.change_tls_policy(
            name, "tls-endpoint assign", "tester",
            assign_tls_policy(std::move(partners), std::move(networks), std::move(domains), false));
        ASSERT_TRUE(done) << done.error();
    };
    TlsPolicyFields bits128;
    bits128.in_min_cipher_bits = 128;
    TlsPolicyFields bits256;
    bits256.in_min_cipher_bits = 256;
    TlsPolicyFields implicit;
    implicit.out_mode = "implicit";
    create("by-partner", bits128);
    create("by-domain", bits256);
    create("by-network", implicit);
    assign("by-partner", {"partner1", "partner2"}, {}, {});
    assign("by-domain", {}, {}, {"Agency.Partner2.gov.uk"});  // Stored lower case.
    assign("by-network", {}, {"127.0.0.1/8"}, {});            // Stored as a network.
    auto active = directory.active_partners();
    ASSERT_TRUE(active) << active.error();
    const policy::Partner& one = (*active)[0];
    const policy::Partner& two = (*active)[1];
    EXPECT_EQ(one.tls_policy_name, "by-partner");
    EXPECT_EQ(one.inbound_tls.min_cipher_bits, 128);
    EXPECT_EQ(two.tls_policy_name, "by-domain");  // A domain beats the partner.
    EXPECT_EQ(two.inbound_tls.min_cipher_bits, 256);
    // partner1's smart host 127.0.0.1 is in the network: outbound by-network, and its
    // sources in 127.0.0.0/8 get by-network's inbound side.
    EXPECT_EQ(one.outbound_tls_policy_name, "by-network");
    EXPECT_EQ(one.outbound_tls.mode, policy::OutboundTlsMode::implicit);
    ASSERT_EQ(one.inbound_tls_by_network.size(), 1u);
    sockaddr_storage source{};
    auto& ipv4 = reinterpret_cast<sockaddr_in&>(source);
    ipv4.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &ipv4.sin_addr), 1);
    std::string_view name;
    EXPECT_EQ(policy::inbound_tls_for(one, source, name).min_cipher_bits, 0);
    EXPECT_EQ(name, "by-network");
    EXPECT_EQ(two.outbound_tls_policy_name, "by-domain");  // [::1] is not in 127.0.0.0/8.
    // Removing a partner removes its assignment with it.
    auto removed = directory.change("partner1", "partner remove", "tester", remove_partner());
    ASSERT_TRUE(removed) << removed.error();
    auto by_partner = directory.find_tls_policy("by-partner");
    ASSERT_TRUE(by_partner && by_partner->has_value());
    EXPECT_EQ((*by_partner)->partners, std::vector<std::string>{"partner2"});
}

// --- Administrators ----------------------------------------------------------------------------

TEST(AdminPassword, YescryptHashesVerifyAndDiffer) {
    auto first = hash_password("correct horse battery");
    auto second = hash_password("correct horse battery");
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->rfind("$y$", 0), 0u) << *first;
    EXPECT_NE(*first, *second);  // A fresh salt each time.
    EXPECT_TRUE(password_matches("correct horse battery", *first));
    EXPECT_FALSE(password_matches("correct horse batterY", *first));
    EXPECT_FALSE(password_matches("", *first));
    EXPECT_FALSE(password_matches("correct horse battery", "not a hash"));
}

TEST_F(DirectoryTest, AdminsAreHashedAuditedAndCheckedWithoutChangingTheFileOnError) {
    {
        Directory directory = open();
        ASSERT_TRUE(directory.change_admin("alice", AdminChange::add, "a long passphrase", "root"));
        ASSERT_TRUE(directory.change_admin("bob", AdminChange::add, "another passphrase", "root"));
        EXPECT_TRUE(*directory.check_admin_login("alice", "a long passphrase"));
        EXPECT_FALSE(*directory.check_admin_login("alice", "another passphrase"));
        EXPECT_FALSE(*directory.check_admin_login("carol", "a long passphrase"));
        ASSERT_TRUE(
            directory.change_admin("alice", AdminChange::passwd, "a newer passphrase", "alice"));
        EXPECT_TRUE(*directory.check_admin_login("alice", "a newer passphrase"));
        ASSERT_TRUE(directory.change_admin("bob", AdminChange::remove, "", "alice"));
        auto audit = directory.audit("", 10);
        ASSERT_TRUE(audit);
        ASSERT_EQ(audit->size(), 4u);
        EXPECT_EQ((*audit)[2].action, "admin passwd");
        EXPECT_EQ((*audit)[2].subject, "admin:alice");
        EXPECT_EQ((*audit)[2].after, "{\"name\":\"alice\",\"password\":\"changed\"}");
        for (const AuditEntry& entry : *audit) {
            EXPECT_EQ(entry.after.find("$y$"), std::string::npos);  // Never the hash.
        }
    }
    struct Case {
        const char* name;
        AdminChange change;
        const char* password;
        const char* message;
    };
    const Case cases[] = {
        {"alice", AdminChange::add, "a long passphrase", "administrator alice exists already"},
        {"carol", AdminChange::add, "short", "the password must be 12..1024 characters"},
        {"carol", AdminChange::add, "two\nlines passphrase", "on one line"},
        {"Carol Smith", AdminChange::add, "a long passphrase",
         "administrator name \"Carol Smith\""},
        {"carol", AdminChange::passwd, "a long passphrase", "no administrator named carol"},
        {"carol", AdminChange::remove, "", "no administrator named carol"},
        {"alice", AdminChange::remove, "", "alice is the last administrator"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.message);
        std::string before = file_bytes();
        {
            Directory directory = open(OpenMode::existing);
            auto changed = directory.change_admin(c.name, c.change, c.password, "root");
            ASSERT_FALSE(changed);
            EXPECT_NE(changed.error().find(c.message), std::string::npos) << changed.error();
        }
        EXPECT_EQ(file_bytes(), before);
    }
}

}  // namespace
}  // namespace hub::directory

namespace hub::directory {
namespace {

// hubd's reload: a read-only open sees what the last writer committed, through the -wal
// and -shm files every writer leaves in place, and cannot write.
TEST_F(DirectoryTest, ReadOnlyOpenSeesCommittedChangesAndCannotWrite) {
    import_sample();
    EXPECT_TRUE(fs::exists(path_ + "-wal"));
    EXPECT_TRUE(fs::exists(path_ + "-shm"));
    {
        Directory writer = open(OpenMode::existing);
        ASSERT_TRUE(writer.change("partner1", "partner suspend", "tester",
                                  set_state(PartnerState::suspended)));
        // The writer is still open: the reader sees its committed change.
        Directory reader = open(OpenMode::read_only);
        auto active = reader.active_partners();
        ASSERT_TRUE(active) << active.error();
        ASSERT_EQ(active->size(), 1u);
        EXPECT_EQ((*active)[0].name, "partner2");
    }
    Directory reader = open(OpenMode::read_only);
    auto changed =
        reader.change("partner2", "partner suspend", "tester", set_state(PartnerState::suspended));
    ASSERT_FALSE(changed);
    auto active = reader.active_partners();
    ASSERT_TRUE(active) << active.error();
    EXPECT_EQ(active->size(), 1u);
}

// Schema 4: listener certificates. A version-3 file gets the empty table and keeps its
// partners; rows are checked, unique per (address, SNI), audited, and a refused write
// leaves the file byte-identical.
TEST_F(DirectoryTest, VersionThreeFileGetsListenerCertificates) {
    import_sample();
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "DROP TABLE tls_failures; DROP TABLE listener_certificates; "
                               "PRAGMA user_version = 3",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    Directory directory = open(OpenMode::existing);
    EXPECT_EQ(directory.schema_version(), current_schema_version());
    EXPECT_GE(current_schema_version(), 4);
    auto rows = directory.listener_certificates();
    ASSERT_TRUE(rows) << rows.error();
    EXPECT_TRUE(rows->empty());
    auto partners = directory.partners();
    ASSERT_TRUE(partners);
    EXPECT_EQ(partners->size(), 2u);
}

TEST_F(DirectoryTest, ListenerCertificateRowsAreCheckedUniqueAndAudited) {
    Directory directory = open();
    ListenerCertificateRecord good{"mx", "127.0.0.1:2525", "mx.example.org", "/etc/hub/mx.pem",
                                   "/etc/hub/mx.key"};
    ASSERT_TRUE(directory.change_listener_certificate("mx", good, "tester"));
    struct Bad {
        ListenerCertificateRecord record;
        const char* message;
    };
    const std::vector<Bad> cases = {
        {{"mx", "*", "", "/a.pem", "/a.key"}, "listener certificate mx exists already"},
        {{"mx2", "127.0.0.1:2525", "mx.example.org", "/a.pem", "/a.key"},
         "already applies to 127.0.0.1:2525 for SNI mx.example.org"},
        {{"mx2", "localhost:25", "", "/a.pem", "/a.key"}, "listening address \"localhost:25\""},
        {{"mx2", "[0:0::1]:25", "", "/a.pem", "/a.key"}, "not in canonical form ([::1]:25)"},
        {{"mx2", "*", "MX.example.org", "/a.pem", "/a.key"}, "write it in lower case"},
        {{"mx2", "*", "*.example.org", "/a.pem", "/a.key"}, "no wildcards"},
        {{"mx2", "*", "", "a.pem", "/a.key"}, "must be an absolute path"},
        {{"mx2", "*", "", "/a.pem", ""}, "key path \"\""},
        {{"bad name", "*", "", "/a.pem", "/a.key"}, "listener certificate name \"bad name\""},
    };
    for (const Bad& bad : cases) {
        std::string before = file_bytes() + file_bytes(path_ + "-wal");
        auto changed = directory.change_listener_certificate(bad.record.name, bad.record, "tester");
        ASSERT_FALSE(changed) << bad.message;
        EXPECT_NE(changed.error().find(bad.message), std::string::npos)
            << "wanted: " << bad.message << "\ngot: " << changed.error();
        EXPECT_EQ(file_bytes() + file_bytes(path_ + "-wal"), before) << bad.message;
    }
    EXPECT_FALSE(directory.change_listener_certificate("nosuch", std::nullopt, "tester"));
    ASSERT_TRUE(directory.change_listener_certificate("mx", std::nullopt, "tester"));
    auto audit = directory.audit("listener-cert:mx", 10);
    ASSERT_TRUE(audit);
    ASSERT_EQ(audit->size(), 2u);
    EXPECT_EQ((*audit)[0].action, "listener-cert add");
    EXPECT_EQ((*audit)[0].before, "");
    EXPECT_NE((*audit)[0].after.find("\"certificate\":\"/etc/hub/mx.pem\""), std::string::npos);
    EXPECT_EQ((*audit)[1].action, "listener-cert remove");
    EXPECT_EQ((*audit)[1].after, "");
}

TEST(ListenerCertificates, SelectionPrefersTheAddressOverTheWildcard) {
    const std::vector<ListenerCertificateRecord> rows = {
        {"any", "*", "", "/any.pem", "/any.key"},
        {"smtp", "127.0.0.1:25", "", "/smtp.pem", "/smtp.key"},
        {"any-mx", "*", "mx.example", "/anymx.pem", "/anymx.key"},
        {"smtp-mx", "127.0.0.1:25", "mx.example", "/mx.pem", "/mx.key"},
        {"any-b", "*", "b.example", "/b.pem", "/b.key"},
        {"other", "127.0.0.1:465", "c.example", "/c.pem", "/c.key"},
    };
    ListenerSelection smtp = select_listener_certificates(rows, "127.0.0.1:25");
    ASSERT_NE(smtp.fallback, nullptr);
    EXPECT_EQ(smtp.fallback->name, "smtp");
    ASSERT_EQ(smtp.by_name.size(), 2u);
    EXPECT_EQ(smtp.by_name[0]->name, "any-b");    // b.example, sorted by name.
    EXPECT_EQ(smtp.by_name[1]->name, "smtp-mx");  // Its own row over the "*" row.
    ListenerSelection smtps = select_listener_certificates(rows, "127.0.0.1:465");
    ASSERT_NE(smtps.fallback, nullptr);
    EXPECT_EQ(smtps.fallback->name, "any");
    ASSERT_EQ(smtps.by_name.size(), 3u);
    EXPECT_EQ(smtps.by_name[2]->name, "any-mx");
    ListenerSelection none = select_listener_certificates({}, "127.0.0.1:25");
    EXPECT_EQ(none.fallback, nullptr);
    EXPECT_TRUE(none.by_name.empty());
    std::string canonical;
    EXPECT_EQ(canonical_listener_address("[0:0::1]:2465", canonical), "");
    EXPECT_EQ(canonical, "[::1]:2465");
    EXPECT_EQ(canonical_listener_address("*", canonical), "");
    EXPECT_EQ(canonical, "*");
    EXPECT_NE(canonical_listener_address("mx.example:25", canonical), "");
}

// Remembered TLS failures, the plan alone (sans-I/O): what a record writes and clears.
TlsObservation failing(std::string peer, std::int64_t since_s, std::int64_t last_s,
                       std::int64_t started_ms, std::int64_t count, std::string reason = "") {
    TlsObservation seen;
    seen.peer = std::move(peer);
    seen.verdict = TlsObservation::Verdict::failing;
    seen.failing_since_unix_s = since_s;
    seen.last_failed_unix_s = last_s;
    seen.reason = std::move(reason);
    seen.hubd_started_unix_ms = started_ms;
    seen.hubd_failure_count = count;
    return seen;
}

TlsObservation working(std::string peer, std::int64_t started_ms) {
    TlsObservation seen;
    seen.peer = std::move(peer);
    seen.verdict = TlsObservation::Verdict::working;
    seen.hubd_started_unix_ms = started_ms;
    return seen;
}

TEST(TlsFailurePlan, NewFailingPeerIsAddedWithHubdsCount) {
    TlsFailureChanges changes =
        plan_tls_failures({}, {failing("partner2", 100, 160, 5000, 3, "no STARTTLS")});
    ASSERT_EQ(changes.written.size(), 1u);
    EXPECT_EQ(changes.added, std::vector<std::string>{"partner2"});
    EXPECT_TRUE(changes.cleared.empty());
    const TlsFailureRow& row = changes.written[0];
    EXPECT_EQ(row.first_failed_unix_s, 100);
    EXPECT_EQ(row.last_failed_unix_s, 160);
    EXPECT_EQ(row.last_reason, "no STARTTLS");
    EXPECT_EQ(row.failure_count, 3);
    EXPECT_EQ(row.hubd_started_unix_ms, 5000);
    EXPECT_EQ(row.hubd_failure_count, 3);

    // Had TLS earlier in this run: the failures before that success are not this streak's.
    TlsObservation after_success = failing("partner2", 100, 0, 5000, 7);
    after_success.had_tls_since_start = true;
    changes = plan_tls_failures({}, {after_success});
    ASSERT_EQ(changes.written.size(), 1u);
    EXPECT_EQ(changes.written[0].failure_count, 1);
    EXPECT_EQ(changes.written[0].last_failed_unix_s, 100);  // At least since.
}

TEST(TlsFailurePlan, SameHubdRunAddsOnlyWhatItCountedSince) {
    TlsFailureRow stored{"partner2", "partner2", 100, 160, "no STARTTLS", 3, 5000, 3};
    TlsFailureChanges changes =
        plan_tls_failures({stored}, {failing("partner2", 100, 220, 5000, 5, "")});
    ASSERT_EQ(changes.written.size(), 1u);
    EXPECT_TRUE(changes.added.empty());
    const TlsFailureRow& row = changes.written[0];
    EXPECT_EQ(row.first_failed_unix_s, 100);
    EXPECT_EQ(row.last_failed_unix_s, 220);
    EXPECT_EQ(row.last_reason, "no STARTTLS");  // The snapshot did not say: kept.
    EXPECT_EQ(row.failure_count, 5);
    EXPECT_EQ(row.hubd_failure_count, 5);
    EXPECT_EQ(row.partner, "partner2");

    // Nothing new: nothing written.
    changes = plan_tls_failures({stored}, {failing("partner2", 100, 160, 5000, 3, "no STARTTLS")});
    EXPECT_TRUE(changes.empty());
}

TEST(TlsFailurePlan, RestartedHubdKeepsTheDirectorysSinceAndAddsItsWholeCount) {
    TlsFailureRow stored{"partner2", "partner2", 100, 160, "no STARTTLS", 3, 5000, 3};
    // hubd restarted at 9000 ms; it has failed twice since 900 s, its own "since".
    TlsFailureChanges changes =
        plan_tls_failures({stored}, {failing("partner2", 900, 950, 9000, 2, "handshake failed")});
    ASSERT_EQ(changes.written.size(), 1u);
    const TlsFailureRow& row = changes.written[0];
    EXPECT_EQ(row.first_failed_unix_s, 100);
    EXPECT_EQ(row.last_failed_unix_s, 950);
    EXPECT_EQ(row.last_reason, "handshake failed");
    EXPECT_EQ(row.failure_count, 5);
    EXPECT_EQ(row.hubd_started_unix_ms, 9000);
    EXPECT_EQ(row.hubd_failure_count, 2);
}

TEST(TlsFailurePlan, WorkingTlsClearsAndSilenceKeeps) {
    std::vector<TlsFailureRow> stored = {
        {"partner1", "partner1", 10, 20, "x", 1, 5000, 1},
        {"partner2", "partner2", 100, 160, "no STARTTLS", 3, 5000, 3},
    };
    // partner2's TLS works again; partner1 is not reported (no attempt since a restart).
    TlsFailureChanges changes = plan_tls_failures(stored, {working("partner2", 9000)});
    EXPECT_EQ(changes.cleared, std::vector<std::string>{"partner2"});
    EXPECT_TRUE(changes.written.empty());
    // Working TLS for a peer without a row changes nothing.
    EXPECT_TRUE(plan_tls_failures(stored, {working("partner3", 9000)}).empty());
    EXPECT_TRUE(plan_tls_failures(stored, {}).empty());
}

// Schema 5: a version-4 file gets the table; a record writes, clears, keeps since across
// a hubd restart, follows the partner, and is not audited.
TEST_F(DirectoryTest, VersionFourFileGetsTlsFailuresAndRecordsThem) {
    import_sample();
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "DROP TABLE tls_failures; PRAGMA user_version = 4", nullptr,
                               nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    Directory directory = open(OpenMode::existing);
    EXPECT_EQ(directory.schema_version(), 5);
    auto audit_before = directory.audit("", 1000);
    ASSERT_TRUE(audit_before);

    auto recorded = directory.record_tls_failures(
        {failing("partner2", 100, 160, 5000, 3, "no STARTTLS"), failing("stranger", 1, 1, 5000, 1),
         failing("other", 1, 1, 5000, 1), failing("bad name", 1, 1, 5000, 1)});
    ASSERT_TRUE(recorded) << recorded.error();
    EXPECT_EQ(recorded->added, (std::vector<std::string>{"partner2", "stranger"}));
    auto rows = directory.tls_failures();
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0],
              (TlsFailureRow{"partner2", "partner2", 100, 160, "no STARTTLS", 3, 5000, 3}));
    EXPECT_EQ((*rows)[1].partner, "");  // No partner of that name.
    EXPECT_EQ(to_json((*rows)[0]),
              R"({"peer":"partner2","partner":"partner2","since_unix_s":100,)"
              R"("last_failed_unix_s":160,"last_reason":"no STARTTLS","count":3})");

    // hubd restarted and failed again: since stays.
    recorded = directory.record_tls_failures({failing("partner2", 900, 950, 9000, 1)});
    ASSERT_TRUE(recorded) << recorded.error();
    rows = directory.tls_failures();
    ASSERT_TRUE(rows);
    EXPECT_EQ((*rows)[0].first_failed_unix_s, 100);
    EXPECT_EQ((*rows)[0].last_failed_unix_s, 950);
    EXPECT_EQ((*rows)[0].failure_count, 4);

    // A record that changes nothing leaves the file byte-identical.
    directory.close();
    std::string before = file_bytes() + file_bytes(path_ + "-wal");
    directory = open(OpenMode::existing);
    recorded = directory.record_tls_failures({failing("partner2", 900, 950, 9000, 1)});
    ASSERT_TRUE(recorded);
    EXPECT_TRUE(recorded->empty());
    directory.close();
    EXPECT_EQ(file_bytes() + file_bytes(path_ + "-wal"), before);
    directory = open(OpenMode::existing);

    // TLS works again: cleared. Removing a partner takes its row with it.
    recorded = directory.record_tls_failures({working("partner2", 9000)});
    ASSERT_TRUE(recorded);
    EXPECT_EQ(recorded->cleared, std::vector<std::string>{"partner2"});
    ASSERT_TRUE(directory.record_tls_failures({failing("partner1", 5, 5, 9000, 1)}));
    ASSERT_TRUE(directory.change("partner1", "partner remove", "tester", remove_partner()));
    rows = directory.tls_failures();
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].peer, "stranger");

    // Only the administrator's removal is in the audit log.
    auto audit_after = directory.audit("", 1000);
    ASSERT_TRUE(audit_after);
    EXPECT_EQ(audit_after->size(), audit_before->size() + 1);
}

}  // namespace
}  // namespace hub::directory
