// hub_config_test.cc -- hub.conf loading: defaults, every bound, every kind of mistake.
//
// Method: each test writes a hub.conf into a fresh temporary directory, loads it and
// compares either the resulting HubConfig or the exact error text. The bounds table
// here repeats the documented bounds on purpose: changing a bound must change a test.

#include "config/hub_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>

#include "config/line_numbers_for_test.h"

namespace hub::config {
namespace {

constexpr std::string_view required_keys =
    "[tls]\ncertificate = \"hub.pem\"\nkey = \"hub.key\"\n"
    "[spool]\ndir = \"spool\"\n"
    "[partners]\nfile = \"partners.toml\"\n";

class HubConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "hub_config_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        path_ = (dir_ / "hub.conf").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    Result<HubConfig, std::string> load(std::string_view text) {
        std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
        return load_hub_config(path_);
    }
    // The error for text, or "(loaded)" when it loads.
    // Without the ":<line>" after the file name (LinesAreNamed checks those).
    std::string error_of(std::string_view text) {
        Result<HubConfig, std::string> result = load(text);
        return result ? "(loaded)" : without_lines(result.error());
    }
    std::string without_lines(std::string error) const {
        return config::without_line_numbers_for_test(std::move(error), path_);
    }
    // The file name as it starts every message.
    std::string prefix() const { return path_ + ": "; }

    struct Case {
        std::string_view text;      // Appended to required_keys.
        std::string_view expected;  // The error after "<file>: ", or "(loaded)".
    };
    void run_cases(std::span<const Case> cases) {
        for (const Case& c : cases) {
            SCOPED_TRACE(std::string(c.text));
            std::string expected = c.expected == "(loaded)" ? std::string(c.expected)
                                                            : prefix() + std::string(c.expected);
            EXPECT_EQ(error_of(std::string(required_keys) + std::string(c.text)), expected);
        }
    }

    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(HubConfigTest, DefaultsMatchTheHeader) {
    Result<HubConfig, std::string> result = load(required_keys);
    ASSERT_TRUE(result) << result.error();
    const HubConfig& config = *result;
    const HubConfig header;  // The initialisers in hub_config.h must agree with the table.
    EXPECT_EQ(config.domain, header.domain);
    EXPECT_EQ(config.hostname, header.hostname);
    EXPECT_EQ(config.shards, header.shards);
    EXPECT_EQ(config.user, header.user);
    EXPECT_EQ(config.log_level, header.log_level);
    EXPECT_EQ(config.seccomp, header.seccomp);
    EXPECT_EQ(config.smtp.host, header.smtp.host);
    EXPECT_EQ(config.smtp.port, header.smtp.port);
    EXPECT_EQ(config.smtps.host, header.smtps.host);
    EXPECT_EQ(config.smtps.port, header.smtps.port);
    EXPECT_EQ(config.client_ca_path, header.client_ca_path);
    EXPECT_EQ(config.spool_reserve_bytes, header.spool_reserve_bytes);
    EXPECT_EQ(config.segment_bytes_max, header.segment_bytes_max);
    EXPECT_EQ(config.message_bytes_max, header.message_bytes_max);
    EXPECT_EQ(config.recipients_count_max, header.recipients_count_max);
    EXPECT_EQ(config.errors_count_max, header.errors_count_max);
    EXPECT_EQ(config.connections_max, header.connections_max);
    EXPECT_EQ(config.connections_per_partner_max, header.connections_per_partner_max);
    EXPECT_EQ(config.command_timeout_s, header.command_timeout_s);
    EXPECT_EQ(config.data_timeout_s, header.data_timeout_s);
    EXPECT_EQ(config.source_path, path_);
}

TEST_F(HubConfigTest, EveryKeySet) {
    Result<HubConfig, std::string> result = load(R"(
[hub]
domain = "Example.ORG"
hostname = "mx1.example.org"
shards = 4
user = "mail"
log_level = "debug"
[listen]
smtp = "0.0.0.0:25"
smtps = "[::1]:465"
[tls]
certificate = "/etc/hub/hub.pem"
key = "/etc/hub/hub.key"
client_ca = "ca.pem"
[spool]
dir = "/var/spool/hub"
reserve_bytes = 2097152
segment_bytes_max = 1048576
[limits]
message_bytes_max = 1024
recipients_count_max = 7
errors_count_max = 3
connections_max = 9
connections_per_partner_max = 2
command_timeout_s = 30
data_timeout_s = 60
[partners]
file = "/etc/hub/partners.toml"
)");
    ASSERT_TRUE(result) << result.error();
    const HubConfig& config = *result;
    EXPECT_EQ(config.domain, "example.org");  // Stored lower case.
    EXPECT_EQ(config.hostname, "mx1.example.org");
    EXPECT_EQ(config.shards, 4u);
    EXPECT_EQ(config.user, "mail");
    EXPECT_EQ(config.log_level, "debug");
    EXPECT_EQ(config.smtp.host, "0.0.0.0");
    EXPECT_EQ(config.smtp.port, 25);
    EXPECT_EQ(config.smtps.host, "::1");
    EXPECT_EQ(config.smtps.port, 465);
    EXPECT_EQ(config.certificate_path, "/etc/hub/hub.pem");
    EXPECT_EQ(config.private_key_path, "/etc/hub/hub.key");
    EXPECT_EQ(config.client_ca_path, (dir_ / "ca.pem").string());
    EXPECT_EQ(config.spool_dir, "/var/spool/hub");
    EXPECT_EQ(config.spool_reserve_bytes, 2097152u);
    EXPECT_EQ(config.segment_bytes_max, 1048576u);
    EXPECT_EQ(config.message_bytes_max, 1024u);
    EXPECT_EQ(config.recipients_count_max, 7u);
    EXPECT_EQ(config.errors_count_max, 3u);
    EXPECT_EQ(config.connections_max, 9u);
    EXPECT_EQ(config.connections_per_partner_max, 2u);
    EXPECT_EQ(config.command_timeout_s, 30u);
    EXPECT_EQ(config.data_timeout_s, 60u);
    EXPECT_EQ(config.partners_file, "/etc/hub/partners.toml");
}

TEST_F(HubConfigTest, RelativePathsResolveAgainstTheFilesDirectory) {
    Result<HubConfig, std::string> result = load(
        "[tls]\ncertificate = \"certs/hub.pem\"\nkey = \"./hub.key\"\nclient_ca = \"../ca.pem\"\n"
        "[spool]\ndir = \"spool\"\n[partners]\nfile = \"/abs/partners.toml\"\n");
    ASSERT_TRUE(result) << result.error();
    EXPECT_EQ(result->certificate_path, (dir_ / "certs/hub.pem").string());
    EXPECT_EQ(result->private_key_path, (dir_ / "hub.key").string());
    EXPECT_EQ(result->client_ca_path, (dir_.parent_path() / "ca.pem").string());
    EXPECT_EQ(result->spool_dir, (dir_ / "spool").string());
    EXPECT_EQ(result->partners_file, "/abs/partners.toml");
}

TEST_F(HubConfigTest, RelativeConfigPathStillGivesAbsolutePaths) {
    std::ofstream(path_) << required_keys;
    std::filesystem::path saved = std::filesystem::current_path();
    std::filesystem::current_path(dir_);
    Result<HubConfig, std::string> result = load_hub_config("hub.conf");
    std::filesystem::current_path(saved);
    ASSERT_TRUE(result) << result.error();
    EXPECT_EQ(result->spool_dir, (dir_ / "spool").string());
    EXPECT_EQ(result->source_path, "hub.conf");
}

struct Bound {
    std::string_view section;
    std::string_view key;
    std::uint64_t min;
    std::uint64_t max;
};

// The documented bounds (docs/CONFIGURATION.md).
constexpr Bound bounds[] = {
    {"hub", "shards", 0, 256},
    {"spool", "reserve_bytes", 0, 1125899906842624},
    {"spool", "segment_bytes_max", 1048576, 1073741824},
    {"limits", "message_bytes_max", 1024, 1073741824},
    {"limits", "recipients_count_max", 1, 10000},
    {"limits", "errors_count_max", 1, 1000},
    {"limits", "connections_max", 1, 1000000},
    {"limits", "connections_per_partner_max", 1, 1000000},
    {"limits", "command_timeout_s", 1, 3600},
    {"limits", "data_timeout_s", 1, 7200},
    {"delivery", "retry_delay_s_min", 1, 86400},
    {"delivery", "lifetime_s", 5, 8640000},
    {"delivery", "queue_messages_max", 1, 100000},
};

TEST_F(HubConfigTest, EveryBoundIsInclusiveAndChecked) {
    for (const Bound& bound : bounds) {
        SCOPED_TRACE(std::string(bound.key));
        auto with = [&](std::string_view value) {
            // required_keys already opened [spool]; TOML forbids opening a table twice.
            std::string text(required_keys);
            std::string line = std::string(bound.key) + " = " + std::string(value) + "\n";
            if (bound.section == "spool") {
                text.insert(text.find("[partners]"), line);
            } else {
                text += "[" + std::string(bound.section) + "]\n" + line;
            }
            return error_of(text);
        };
        std::string must =
            "must be between " + std::to_string(bound.min) + " and " + std::to_string(bound.max);
        std::string name = std::string(bound.section) + "." + std::string(bound.key);
        EXPECT_EQ(with(std::to_string(bound.min)), "(loaded)");
        EXPECT_EQ(with(std::to_string(bound.max)), "(loaded)");
        EXPECT_EQ(with(std::to_string(bound.max + 1)),
                  prefix() + name + " = " + std::to_string(bound.max + 1) + ": " + must);
        if (bound.min > 0) {
            EXPECT_EQ(with(std::to_string(bound.min - 1)),
                      prefix() + name + " = " + std::to_string(bound.min - 1) + ": " + must);
        }
        EXPECT_EQ(with("-1"), prefix() + name + " = -1: " + must);
    }
}

TEST_F(HubConfigTest, ExampleFromTheHeader) {
    std::string text(required_keys);
    text += "[limits]\nmessage_bytes_max = 0\n";
    EXPECT_EQ(error_of(text),
              prefix() + "limits.message_bytes_max = 0: must be between 1024 and 1073741824");
}

TEST_F(HubConfigTest, WrongTypesNameTheExpectedType) {
    constexpr Case cases[] = {
        {"[limits]\nmessage_bytes_max = \"5M\"\n",
         "limits.message_bytes_max = \"5M\": must be an integer (not a string) between 1024 and "
         "1073741824"},
        {"[limits]\ndata_timeout_s = 1.5\n",
         "limits.data_timeout_s = 1.5: must be an integer (not a floating-point number) between 1 "
         "and 7200"},
        {"[hub]\nshards = true\n",
         "hub.shards = true: must be an integer (not a boolean) between 0 and 256"},
        {"[hub]\ndomain = 5\n", "hub.domain = 5: must be a string (not an integer): domain name"},
        {"[listen]\nsmtp = 2525\n",
         "listen.smtp = 2525: must be a string (not an integer): IPv4:port|[IPv6]:port"},
        {"[hub]\nuser = [\"a\"]\n", "hub.user = [...]: must be a string (not an array): user name"},
        {"[hub]\nlog_level = { x = 1 }\n",
         "hub.log_level = {...}: must be a string (not a table): debug|info|warning|error"},
        {"[[hub]]\ndomain = \"x.org\"\n", "hub = [...]: must be a table ([hub])"},
    };
    run_cases(cases);
    // Keys before the first [section] header belong to the root table.
    EXPECT_EQ(error_of("limits = 5\n" + std::string(required_keys)),
              prefix() + "limits = 5: must be a table ([limits])");
}

TEST_F(HubConfigTest, UnknownKeysAndSections) {
    constexpr Case cases[] = {
        {"[limits]\nmesage_bytes_max = 1\n",
         "unknown key 'limits.mesage_bytes_max'; did you mean 'limits.message_bytes_max'?"},
        {"[limits]\nmessage_size = 1\n", "unknown key 'limits.message_size'"},
        {"[hub]\ndomian = \"x.org\"\n", "unknown key 'hub.domian'; did you mean 'hub.domain'?"},
        {"[limit]\nx = 1\n", "unknown section [limit]; did you mean [limits]?"},
        {"[banana]\nx = 1\n", "unknown section [banana]"},
        {"[hub.extra]\nx = 1\n", "unknown key 'hub.extra'"},
        {"[listen]\nsubmission = \"127.0.0.1:587\"\n", "unknown key 'listen.submission'"},
        {"[limits]\nshards = 4\n",
         "unknown key 'limits.shards'; did you mean 'hub.shards' (key 'shards' in section [hub])?"},
    };
    run_cases(cases);
}

TEST_F(HubConfigTest, KeyOutsideItsSectionGetsASuggestion) {
    // A key before any [section] header belongs to the root table.
    EXPECT_EQ(error_of("domain = \"x.org\"\n" + std::string(required_keys)),
              prefix() +
                  "unknown key 'domain' outside any section; did you mean 'hub.domain' "
                  "(key 'domain' in section [hub])?");
}

TEST_F(HubConfigTest, PartnersComeFromTheDirectoryOrTheFileNotBoth) {
    constexpr std::string_view boot =
        "[tls]\ncertificate = \"hub.pem\"\nkey = \"hub.key\"\n[spool]\ndir = \"spool\"\n";
    Result<HubConfig, std::string> directory =
        load(std::string(boot) + "[directory]\npath = \"directory.db\"\n");
    ASSERT_TRUE(directory) << directory.error();
    EXPECT_EQ(directory->directory_path, (dir_ / "directory.db").string());
    EXPECT_EQ(directory->partners_file, "");
    EXPECT_EQ(error_of(std::string(boot) +
                       "[partners]\nfile = \"p.toml\"\n[directory]\npath = \"d.db\"\n"),
              prefix() +
                  "directory.path and partners.file are both set: keep one (after `hubctl "
                  "partner import`, remove partners.file)");
}

TEST_F(HubConfigTest, TheCaNeedsItsSocketAndPublicDirectory) {
    constexpr std::string_view boot =
        "[tls]\ncertificate = \"hub.pem\"\nkey = \"hub.key\"\n[spool]\ndir = \"spool\"\n"
        "[partners]\nfile = \"p.toml\"\n[ca]\nstate_dir = \"ca\"\n";
    EXPECT_EQ(error_of(std::string(boot)),
              prefix() +
                  "ca.state_dir needs ca.socket and ca.public_dir too (where hub-ca answers "
                  "and where it publishes the CRL)");
    Result<HubConfig, std::string> ca = load(std::string(boot) +
                                             "socket = \"run/ca.sock\"\npublic_dir = \"pub\"\n"
                                             "validity_days = 90\nenroll_user = \"hubenroll\"\n");
    ASSERT_TRUE(ca) << ca.error();
    EXPECT_EQ(ca->ca_state_dir, (dir_ / "ca").string());
    EXPECT_EQ(ca->ca_socket, (dir_ / "run/ca.sock").string());
    EXPECT_EQ(ca->ca_validity_days, 90u);
    EXPECT_EQ(ca->ca_crl_validity_days, 7u);
    EXPECT_EQ(ca->ca_enroll_user, "hubenroll");
}

TEST_F(HubConfigTest, MissingRequiredKeys) {
    EXPECT_EQ(error_of("[tls]\ncertificate = \"a\"\nkey = \"b\"\n[spool]\ndir = \"s\"\n"),
              prefix() +
                  "partners come from nowhere: set directory.path (the partner directory) or "
                  "partners.file (a TOML partner list)");
    std::string all = error_of("");
    EXPECT_NE(all.find(prefix() + "tls.certificate is missing"), std::string::npos) << all;
    EXPECT_NE(all.find(prefix() + "tls.key is missing"), std::string::npos) << all;
    EXPECT_NE(all.find(prefix() + "spool.dir is missing"), std::string::npos) << all;
    EXPECT_NE(all.find(prefix() + "partners come from nowhere"), std::string::npos) << all;
    EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 3) << all;
}

// backup.remote is handed to sftp(1) as arguments: only a plain sftp://user@host/path.
TEST_F(HubConfigTest, BackupRemoteIsAnSftpUrl) {
    constexpr Case cases[] = {
        {"[backup]\nremote = \"sftp://backup@192.0.2.20/srv/hubbox\"\n", "(loaded)"},
        {"[backup]\nremote = \"sftp://backup@vault.example:2222/srv/hubbox/\"\n", "(loaded)"},
        {"[backup]\nremote = \"scp://backup@vault.example/srv\"\n",
         "backup.remote = \"scp://backup@vault.example/srv\": must be "
         "sftp://user@host[:port]/path"},
        {"[backup]\nremote = \"sftp://vault.example/srv\"\n",
         "backup.remote = \"sftp://vault.example/srv\": must be sftp://user@host[:port]/path"},
        {"[backup]\nremote = \"sftp://a@b/c d\"\n",
         "backup.remote = \"sftp://a@b/c d\": must be sftp://user@host[:port]/path"},
        {"[backup]\nremote = \"sftp://a@/srv\"\n",
         "backup.remote = \"sftp://a@/srv\": must be sftp://user@host[:port]/path"},
    };
    run_cases(cases);
}

TEST_F(HubConfigTest, StringValuesAreValidated) {
    constexpr Case cases[] = {
        {"[hub]\ndomain = \"lgolhub.net\"\n", "(loaded)"},
        {"[hub]\ndomain = \"a-b.c0.uk\"\n", "(loaded)"},
        {"[hub]\ndomain = \"localhost\"\n", "(loaded)"},
        {"[hub]\ndomain = \"\"\n",
         "hub.domain = \"\": must be a domain name of letters, digits and hyphens (it is empty)"},
        {"[hub]\ndomain = \"lgol_hub.net\"\n",
         "hub.domain = \"lgol_hub.net\": must be a domain name of letters, digits and hyphens "
         "('_' is not a letter, digit, hyphen or dot)"},
        {"[hub]\ndomain = \"lgolhub.net.\"\n",
         "hub.domain = \"lgolhub.net.\": must be a domain name of letters, digits and hyphens (it "
         "ends with a dot)"},
        {"[hub]\ndomain = \"a..net\"\n",
         "hub.domain = \"a..net\": must be a domain name of letters, digits and hyphens (it has "
         "an empty label)"},
        {"[hub]\nhostname = \"-hub.net\"\n",
         "hub.hostname = \"-hub.net\": must be a domain name of letters, digits and hyphens "
         "(label \"-hub\" starts or ends with a hyphen)"},
        {"[hub]\nhostname = \"127.0.0.1\"\n",
         "hub.hostname = \"127.0.0.1\": must be a domain name of letters, digits and hyphens (the "
         "last label is all digits, like an IP address)"},
        {"[hub]\nuser = \"Hubbox\"\n",
         "hub.user = \"Hubbox\": must be a user name ('H' is not a lower-case letter, digit, '_' "
         "or '-')"},
        {"[hub]\nuser = \"_hub-1\"\n", "(loaded)"},
        {"[hub]\nlog_level = \"warning\"\n", "(loaded)"},
        {"[hub]\nlog_level = \"error\"\n", "(loaded)"},
        {"[hub]\nlog_level = \"warn\"\n",
         "hub.log_level = \"warn\": must be one of \"debug\", \"info\", \"warning\", \"error\""},
        {"[hub]\nlog_level = \"INFO\"\n",
         "hub.log_level = \"INFO\": must be one of \"debug\", \"info\", \"warning\", \"error\""},
        {"[listen]\nsmtp = \"[::]:25\"\nsmtps = \"0.0.0.0:465\"\n", "(loaded)"},
        {"[listen]\nsmtp = \"127.0.0.1:65535\"\n", "(loaded)"},
        {"[listen]\nsmtp = \"127.0.0.1\"\n",
         "listen.smtp = \"127.0.0.1\": must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric "
         "address (the \":port\" is missing)"},
        {"[listen]\nsmtp = \"127.0.0.1:0\"\n",
         "listen.smtp = \"127.0.0.1:0\": must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric "
         "address (port 0 is not a number 1..65535)"},
        {"[listen]\nsmtp = \"127.0.0.1:65536\"\n",
         "listen.smtp = \"127.0.0.1:65536\": must be \"IPv4:port\" or \"[IPv6]:port\" with a "
         "numeric address (port 65536 is not a number 1..65535)"},
        {"[listen]\nsmtp = \"localhost:25\"\n",
         "listen.smtp = \"localhost:25\": must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric "
         "address (\"localhost\" is not a numeric IPv4 address (names are not looked up))"},
        {"[listen]\nsmtps = \"::1:465\"\n",
         "listen.smtps = \"::1:465\": must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric "
         "address (an IPv6 address needs brackets, as in \"[2001:db8::1]:25\")"},
        {"[listen]\nsmtps = \"127.0.0.1:2525\"\n",
         "listen.smtps = \"127.0.0.1:2525\": must differ from listen.smtp"},
        {"[tls]\nclient_ca = \"\"\n", "tls.client_ca = \"\": must be a non-empty path"},
    };
    // The [tls] and [listen] cases redefine a table that required_keys opened, which TOML
    // forbids; rewrite those as dotted keys in the existing table instead.
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.text));
        std::string text(c.text);
        std::string body = std::string(required_keys);
        if (text.rfind("[tls]\n", 0) == 0) {
            body.insert(body.find("[spool]"), text.substr(6));
        } else {
            body += text;
        }
        std::string expected =
            c.expected == "(loaded)" ? std::string(c.expected) : prefix() + std::string(c.expected);
        EXPECT_EQ(error_of(body), expected);
    }
}

TEST_F(HubConfigTest, AllErrorsAreReportedInFileOrder) {
    std::string text = std::string(required_keys) +
                       "[limits]\n"
                       "recipients_count_max = 0\n"
                       "bogus = 1\n"
                       "command_timeout_s = 99999\n";
    EXPECT_EQ(error_of(text), prefix() +
                                  "limits.recipients_count_max = 0: must be between 1 and 10000\n" +
                                  prefix() + "unknown key 'limits.bogus'\n" + prefix() +
                                  "limits.command_timeout_s = 99999: must be between 1 and 3600");
}

TEST_F(HubConfigTest, ManyErrorsAreCapped) {
    std::string text(required_keys);
    text += "[limits]\n";
    for (int i = 0; i < 30; i++) {
        text += "unknown_" + std::to_string(i) + " = 1\n";
    }
    std::string errors = error_of(text);
    EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 20) << errors;
    EXPECT_NE(errors.find(prefix() + "... and 10 more errors"), std::string::npos) << errors;
}

TEST_F(HubConfigTest, SyntaxErrorsNameLineAndColumn) {
    std::string errors = error_of("[hub]\nshards = = 3\n");
    EXPECT_EQ(errors.rfind(path_ + ":2:", 0), 0u) << errors;
}

TEST_F(HubConfigTest, LinesAreNamed) {
    std::string text(required_keys);  // Seven lines.
    text += "[hub]\nshards = 999\nseccomp = 1\n[limits]\ndata_timeout_s = 0\n";
    Result<HubConfig, std::string> result = load(text);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), path_ + ":9: hub.shards = 999: must be between 0 and 256\n" + path_ +
                                  ":10: hub.seccomp = 1: must be true or false (not an integer)\n" +
                                  path_ +
                                  ":12: limits.data_timeout_s = 0: must be between 1 and 7200");
    EXPECT_EQ(load_hub_config(path_ + ".none").error().rfind(path_ + ".none: ", 0), 0u);
}

TEST_F(HubConfigTest, KeyLinesForLaterChecks) {
    Result<HubConfig, std::string> result =
        load(std::string(required_keys) + "[hub]\nseccomp = false\n");
    ASSERT_TRUE(result) << result.error();
    EXPECT_FALSE(result->seccomp);
    EXPECT_EQ(result->where("tls.certificate"), path_ + ":2");
    EXPECT_EQ(result->where("tls.key"), path_ + ":3");
    EXPECT_EQ(result->where("hub.seccomp"), path_ + ":9");
    EXPECT_EQ(result->where("tls.client_ca"), path_);  // Left at its default.
}

TEST_F(HubConfigTest, DuplicateKeysAreSyntaxErrors) {
    std::string errors = error_of(std::string(required_keys) + "[hub]\nshards = 1\nshards = 2\n");
    EXPECT_EQ(errors.rfind(path_ + ":", 0), 0u) << errors;
    EXPECT_NE(errors.find("shards"), std::string::npos) << errors;
}

TEST_F(HubConfigTest, UnreadableFiles) {
    EXPECT_EQ(load_hub_config(path_ + ".missing").error(),
              path_ + ".missing: cannot read: No such file or directory");
    EXPECT_EQ(load_hub_config(dir_.string()).error(),
              dir_.string() + ": cannot read: not a regular file");
    std::string big(1u << 20, '#');
    big += "\n";
    EXPECT_EQ(error_of(big), prefix() + "larger than 1048576 bytes; is this the right file?");
}

TEST(DescribeOptions, ListsEveryOptionOnce) {
    std::string text = describe_options();
    for (std::string_view name : {"hub.domain",
                                  "hub.hostname",
                                  "hub.shards",
                                  "hub.user",
                                  "hub.log_level",
                                  "listen.smtp",
                                  "listen.smtps",
                                  "tls.certificate",
                                  "tls.key",
                                  "tls.client_ca",
                                  "spool.dir",
                                  "spool.reserve_bytes",
                                  "spool.segment_bytes_max",
                                  "spool.stream_bodies",
                                  "limits.message_bytes_max",
                                  "limits.recipients_count_max",
                                  "limits.errors_count_max",
                                  "limits.connections_max",
                                  "limits.connections_per_partner_max",
                                  "limits.command_timeout_s",
                                  "limits.data_timeout_s",
                                  "delivery.retry_delay_s_min",
                                  "delivery.retry_delay_s_max",
                                  "delivery.delay_warning_s",
                                  "delivery.lifetime_s",
                                  "delivery.recovery_spread_s",
                                  "delivery.connections_max",
                                  "delivery.destination_connections_max",
                                  "delivery.queue_messages_max",
                                  "partners.file",
                                  "directory.path",
                                  "ca.state_dir",
                                  "ca.socket",
                                  "ca.public_dir",
                                  "ca.user",
                                  "ca.admin_group",
                                  "ca.enroll_user",
                                  "ca.validity_days",
                                  "ca.crl_validity_days",

                                  "health.status_socket",
                                  "health.status_group",

                                  "enroll.listen",
                                  "enroll.certificate",
                                  "enroll.key",
                                  "enroll.requests_per_minute",
                                  "enroll.posts_per_minute"}) {
        // (Built with append: GCC 12's -Wrestrict misfires on "\n" + std::string.)
        std::string line_start("\n");
        line_start.append(name).append(" ");
        std::size_t at = text.find(line_start);
        EXPECT_NE(at, std::string::npos) << name;
        EXPECT_EQ(text.find(line_start, at + 1), std::string::npos) << name;
    }
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 60);  // Header + 59 options.
    EXPECT_NE(text.find("limits.message_bytes_max"), std::string::npos);
    EXPECT_NE(text.find("1024..1073741824"), std::string::npos);
}

// docs/CONFIGURATION.md holds describe_options() between two marker lines. Run with
// HUB_UPDATE_DOCS=1 to rewrite that block after changing the table.
TEST(DescribeOptions, DocumentationIsUpToDate) {
    constexpr std::string_view begin = "<!-- BEGIN describe_options -->\n```\n";
    constexpr std::string_view end = "```\n<!-- END describe_options -->";
    std::ifstream in(HUB_CONFIGURATION_MD, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << HUB_CONFIGURATION_MD;
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string doc = buffer.str();
    std::size_t from = doc.find(begin);
    std::size_t to = doc.find(end);
    ASSERT_NE(from, std::string::npos) << "missing marker " << begin;
    ASSERT_NE(to, std::string::npos) << "missing marker " << end;
    ASSERT_LT(from, to);
    from += begin.size();
    std::string generated = describe_options();
    if (doc.substr(from, to - from) != generated && std::getenv("HUB_UPDATE_DOCS") != nullptr) {
        doc.replace(from, to - from, generated);
        std::ofstream(HUB_CONFIGURATION_MD, std::ios::binary | std::ios::trunc) << doc;
        return;
    }
    EXPECT_EQ(doc.substr(from, to - from), generated)
        << HUB_CONFIGURATION_MD << " is out of date: rerun this test with HUB_UPDATE_DOCS=1";
}

}  // namespace
}  // namespace hub::config

namespace hub::config {
namespace {

// A reload compares the file it read with the running configuration: the options that
// change live are never reported, every other difference is, by name, in table order.
TEST(ReloadComparison, OnlyOptionsThatNeedARestartAreReported) {
    HubConfig running;
    running.partners_file = "/etc/hubbox/partners.toml";
    running.spool_dir = "/var/spool/hubbox";
    HubConfig next = running;
    EXPECT_TRUE(options_needing_restart(running, next).empty());

    next.log_level = "debug";
    next.partners_file = "/etc/hubbox/partners-new.toml";
    EXPECT_TRUE(option_changes_live("hub.log_level"));
    EXPECT_TRUE(option_changes_live("partners.file"));
    EXPECT_TRUE(options_needing_restart(running, next).empty());

    next.shards = 7;
    next.smtp.port = 2526;
    next.spool_dir = "/srv/spool";
    next.directory_path = "/var/lib/hubbox/directory.db";
    next.seccomp = false;
    next.message_bytes_max = 1 << 20;
    EXPECT_FALSE(option_changes_live("directory.path"));
    std::vector<std::string> expected{
        "hub.shards",    "hub.seccomp", "listen.smtp", "spool.dir", "limits.message_bytes_max",
        "directory.path"};
    EXPECT_EQ(options_needing_restart(running, next), expected);

    // [backup] is hubctl's: a change never asks hubd for a restart.
    HubConfig with_backup = running;
    with_backup.backup_dir = "/var/lib/hubbox/backups";
    with_backup.backup_keep = 3;
    EXPECT_TRUE(options_needing_restart(running, with_backup).empty());
}

}  // namespace
}  // namespace hub::config
