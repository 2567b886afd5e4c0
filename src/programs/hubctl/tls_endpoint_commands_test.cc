// tls_endpoint_commands_test.cc -- hubctl tls-endpoint, trust and listener-cert, run as the
// operator runs them: the good path with its JSON and audit, and a table of bad inputs, each of
// which must exit non-zero with a message that says what to fix and leave the directory file (and
// its write-ahead log) byte-identical.
//
// Method: the built hubctl (HUBCTL_PATH) through the shell, a fresh directory per test in a
// temporary folder, certificates from tests/data/tls.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "programs/hubctl/test_support.h"

namespace {

namespace fs = std::filesystem;

using Outcome = hub::hubctl::testing::CommandOutcome;
using hub::hubctl::testing::slurp;

class TlsEndpointCommands : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "hubctl-tls-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        db_ = dir_ / "directory.db";
    }
    void TearDown() override { fs::remove_all(dir_); }

    Outcome run(const std::string& arguments) {
        return hub::hubctl::testing::run_captured(
            std::string(HUBCTL_PATH) + " --directory " + db_.string() + " " + arguments, dir_);
    }
    void ok(const std::string& arguments) {
        Outcome result = run(arguments);
        ASSERT_EQ(result.status, 0) << arguments << "\n" << result.out << result.err;
    }
    std::string state() { return slurp(db_) + "|wal|" + slurp(fs::path(db_.string() + "-wal")); }
    static std::string data(const char* name) {
        return (fs::path(HUB_TLS_TEST_DATA_DIR) / name).string();
    }

    // Two partners, a strict policy on p1 and a network, a trust anchor and a policy using
    // it, and a pin policy that covers nobody yet.
    void build() {
        ok("partner add p1 --domain p1.example --inbound 10.1.0.0/16 --outbound 127.0.0.1:2525");
        ok("partner add p2 --domain p2.example --inbound 10.2.0.0/16 --outbound 127.0.0.1:2526 "
           "--pin " +
           std::string(64, 'a'));
        ok("tls-endpoint create strict --in-min-bits 256 --in-subject-dn /O=P1/CN=p1.example");
        ok("tls-endpoint assign strict --partner p1 --cidr 10.1.2.0/24");
        ok("trust add partnerca " + data("ca.pem"));
        ok("tls-endpoint create viaca --out-trust-anchor partnerca");
        ok("tls-endpoint create pinned --out-verify pin");
        ok("tls-endpoint assign pinned --partner p2");  // p2 has a pin of its own.
        std::ofstream(dir_ / "garbage.pem")
            << "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        std::ofstream(dir_ / "empty.pem") << "";
        std::ofstream(dir_ / "two.pem") << slurp(data("ca.pem")) << slurp(data("ca.pem"));
    }

    fs::path dir_;
    fs::path db_;
};

TEST_F(TlsEndpointCommands, CreateAssignShowListAndAudit) {
    build();
    Outcome shown = run("tls-endpoint show strict --json");
    ASSERT_EQ(shown.status, 0) << shown.err;
    EXPECT_NE(shown.out.find("\"min_cipher_bits\":256"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find("\"subject_dn\":\"/O=P1/CN=p1.example\""), std::string::npos);
    EXPECT_NE(shown.out.find("\"partners\":[\"p1\"],\"networks\":[\"10.1.2.0/24\"]"),
              std::string::npos)
        << shown.out;
    Outcome listed = run("tls-endpoint list --json");
    ASSERT_EQ(listed.status, 0);
    for (const char* name : {"\"default\"", "\"strict\"", "\"viaca\"", "\"pinned\""}) {
        EXPECT_NE(listed.out.find(name), std::string::npos) << listed.out;
    }
    Outcome text = run("tls-endpoint show default");
    EXPECT_NE(text.out.find("inbound require certificate: true"), std::string::npos) << text.out;
    Outcome anchors = run("trust list --json");
    EXPECT_NE(anchors.out.find("\"name\":\"partnerca\""), std::string::npos) << anchors.out;
    EXPECT_NE(anchors.out.find("\"sha256\":\""), std::string::npos);

    // An assignment moved: unassign, then assign elsewhere; each audited before and after.
    ok("tls-endpoint assign strict --unassign --cidr 10.1.2.0/24");
    ok("tls-endpoint assign viaca --cidr 10.1.2.0/24");
    Outcome audit = run("audit --partner tls:viaca --json");
    ASSERT_EQ(audit.status, 0);
    EXPECT_NE(audit.out.find("\"action\":\"tls-endpoint assign\""), std::string::npos);
    EXPECT_NE(audit.out.find("\"networks\":[]"), std::string::npos) << audit.out;    // before
    EXPECT_NE(audit.out.find("\"networks\":[\"10.1.2.0/24\"]"), std::string::npos);  // after
    Outcome trust_audit = run("audit --partner trust:partnerca --json");
    EXPECT_NE(trust_audit.out.find("\"action\":\"trust add\""), std::string::npos);
    EXPECT_NE(trust_audit.out.find("\"before\":null"), std::string::npos) << trust_audit.out;

    // A change that changes nothing is not written or audited.
    std::string before = state();
    ok("tls-endpoint edit strict --in-min-bits 256");
    EXPECT_TRUE(state() == before) << "a change that changes nothing was written";

    // The trust anchor goes once no policy uses it.
    ok("tls-endpoint edit viaca --out-trust-anchor ''");
    ok("trust remove partnerca");
    EXPECT_EQ(run("trust list --json").out, "[\n]\n");
}

TEST_F(TlsEndpointCommands, BadInputsSayWhatToFixAndChangeNothing) {
    build();
    struct Bad {
        std::string arguments;
        std::string message;  // A part of the error message.
    };
    const std::string aa = std::string(64, 'a');
    const std::vector<Bad> cases = {
        {"tls-endpoint create strict", "exists already; change it with hubctl tls-endpoint edit"},
        {"tls-endpoint create 'bad name!'", "TLS policy name \"bad name!\": must be 1..64"},
        {"tls-endpoint create x --in-min-bits 512", "would lock out every partner"},
        {"tls-endpoint create x --in-min-bits 100", "must be 0 (any suite the hub allows), 128"},
        {"tls-endpoint create x --in-request-cert false",
         "required but not requested, which would lock out every partner"},
        {"tls-endpoint create x --in-subject-dn 'CN=x, O=y'", "one-line form"},
        {"tls-endpoint create x --in-issuer-dn '/=x'", "inbound issuer DN \"/=x\""},
        {"tls-endpoint create x --in-require-cert false --in-cn gw.p1.example",
         "no client certificate is required"},
        {"tls-endpoint create x --in-require-tls false", "these need TLS"},
        {"tls-endpoint create x --in-cn ''", "give \"partner\""},
        {"tls-endpoint create x --out-require-tls false", "opportunistic TLS"},
        {"tls-endpoint create x --out-verify none", "verify none is only for opportunistic TLS"},
        {"tls-endpoint create x --out-verify sometimes", "must be chain"},
        {"tls-endpoint create x --out-mode smtps", "must be starttls"},
        {"tls-endpoint create x --out-require-tls false --out-verify none --out-mode implicit",
         "implicit TLS is always TLS"},
        {"tls-endpoint create x --out-verify pin --out-pin abc", "64 hex digits"},
        {"tls-endpoint create x --out-pin " + aa, "only with --out-verify pin"},
        {"tls-endpoint create x --out-trust-anchor nosuch", "no trust anchor named nosuch"},
        {"tls-endpoint create x --out-server-name 'bad_name..'", "outbound server name"},
        {"tls-endpoint edit nosuch --in-min-bits 128", "no such TLS policy"},
        {"tls-endpoint edit default --in-request-cert false", "would lock out every partner"},
        {"tls-endpoint assign strict --partner nobody", "no partner named nobody"},
        {"tls-endpoint assign strict --cidr 10.0.0.0/33", "--cidr \"10.0.0.0/33\": must be"},
        {"tls-endpoint assign strict --cidr not-a-network", "--cidr \"not-a-network\""},
        {"tls-endpoint assign strict --domain nobody.example", "no partner owns domain"},
        {"tls-endpoint assign strict --partner p1 --domain p2.example",
         "domain p2.example is owned by partner p2, not by p1"},
        {"tls-endpoint assign viaca --cidr 10.1.2.0/24", "is assigned to TLS policy strict"},
        {"tls-endpoint assign viaca --partner p1", "partner p1 is assigned to TLS policy strict"},
        {"tls-endpoint assign strict", "name what to assign"},
        {"tls-endpoint assign strict --unassign --partner p2", "not assigned to this policy"},
        {"tls-endpoint assign nosuch --partner p2", "no such TLS policy; create it first"},
        {"tls-endpoint assign pinned --cidr 127.0.0.0/8",
         "verifies by pin but has none, and partner p1 has none either"},
        {"trust add ca2 " + (dir_ / "garbage.pem").string(), "does not parse"},
        {"trust add ca2 " + (dir_ / "empty.pem").string(), "holds no PEM certificate"},
        {"trust add ca2 " + (dir_ / "two.pem").string(), "more than one certificate"},
        {"trust add ca2 " + data("client.pem"), "is not a CA certificate"},
        {"trust add ca2 " + (dir_ / "missing.pem").string(), "cannot read it"},
        {"trust add partnerca " + data("ca.pem"), "trust anchor partnerca exists already"},
        {"trust add 'bad name' " + data("ca.pem"), "trust anchor name \"bad name\""},
        {"trust remove nosuch", "no trust anchor named nosuch"},
        {"trust remove partnerca", "is used by TLS policy viaca"},
        {"connector set p2 --no-pin", "verifies by the partner's pin; keep a pin"},
        {"partner add p3 --domain p1.example --inbound 10.3.0.0/16 --outbound 127.0.0.1:2527",
         "domain p1.example is owned by partner p1"},
    };
    ASSERT_GE(cases.size(), 25u);
    for (const Bad& bad : cases) {
        std::string before = state();
        Outcome result = run(bad.arguments);
        EXPECT_NE(result.status, 0) << bad.arguments;
        EXPECT_NE(result.err.find(bad.message), std::string::npos)
            << bad.arguments << "\n  wanted: " << bad.message << "\n  got: " << result.err;
        EXPECT_TRUE(state() == before) << bad.arguments << ": the directory changed";
    }
}

// listener-cert: the good path (list, show, JSON, audit, remove) and the bad inputs, each
// leaving the directory byte-identical.
TEST_F(TlsEndpointCommands, ListenerCertificatesAddListShowRemove) {
    ok("listener-cert add smtp-default --address 127.0.0.1:2525 --certificate " +
       data("server.pem") + " --key " + data("server.key"));
    ok("listener-cert add mx --address '*' --sni MX.Example.ORG --certificate " +
       data("server-rsa.pem") + " --key " + data("server-rsa.key"));
    ok("listener-cert add v6 --address '[0:0::1]:2465' --certificate " + data("server.pem") +
       " --key " + data("server.key"));
    Outcome listed = run("listener-cert list --json");
    ASSERT_EQ(listed.status, 0) << listed.err;
    EXPECT_NE(listed.out.find("\"address\":\"*\",\"sni\":\"mx.example.org\""), std::string::npos)
        << listed.out;
    EXPECT_NE(listed.out.find("\"address\":\"[::1]:2465\""), std::string::npos) << listed.out;
    Outcome shown = run("listener-cert show mx");
    ASSERT_EQ(shown.status, 0) << shown.err;
    EXPECT_NE(shown.out.find("subject:     /C=GB/O=Hubbox Test/CN=localhost"), std::string::npos)
        << shown.out;
    Outcome audit = run("audit --partner listener-cert:mx --json");
    EXPECT_NE(audit.out.find("\"action\":\"listener-cert add\""), std::string::npos) << audit.out;
    ok("listener-cert remove mx");
    EXPECT_EQ(run("listener-cert show mx").status, 1);
    // The key bytes never reach the directory: only the paths.
    std::string key = slurp(data("server.key"));
    ASSERT_GT(key.size(), 100u);
    EXPECT_EQ(state().find(key.substr(40, 40)), std::string::npos);
}

TEST_F(TlsEndpointCommands, ListenerCertificateBadInputsChangeNothing) {
    ok("listener-cert add smtp-default --address 127.0.0.1:2525 --certificate " +
       data("server.pem") + " --key " + data("server.key"));
    std::ofstream(dir_ / "garbage.pem")
        << "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    std::ofstream(dir_ / "empty.pem") << "";
    struct Bad {
        std::string arguments;
        std::string message;
    };
    const std::string good =
        " --certificate " + data("server.pem") + " --key " + data("server.key");
    const std::vector<Bad> cases = {
        {"listener-cert add x --address 127.0.0.1:2525" + good,
         "listener certificate smtp-default already applies to 127.0.0.1:2525 without SNI"},
        {"listener-cert add smtp-default --address 127.0.0.1:2465" + good,
         "listener certificate smtp-default exists already"},
        {"listener-cert add 'bad name' --address 127.0.0.1:2525 --sni a.example" + good,
         "listener certificate name \"bad name\""},
        {"listener-cert add x --address localhost:25" + good, "listening address \"localhost:25\""},
        {"listener-cert add x --address 127.0.0.1" + good, "listening address \"127.0.0.1\""},
        {"listener-cert add x --address 127.0.0.1:99999" + good, "listening address"},
        {"listener-cert add x --address '' " + good, "listening address \"\""},
        {"listener-cert add x --address '*' --sni 'bad_name..' " + good, "SNI name \"bad_name..\""},
        {"listener-cert add x --address '*' --sni '*.example.org' " + good, "no wildcards"},
        {"listener-cert add x --address '*' --certificate " + (dir_ / "missing.pem").string() +
             " --key " + data("server.key"),
         "cannot read it"},
        {"listener-cert add x --address '*' --certificate " + data("server.pem") + " --key " +
             (dir_ / "missing.key").string(),
         "cannot read it"},
        {"listener-cert add x --address '*' --certificate " + (dir_ / "garbage.pem").string() +
             " --key " + data("server.key"),
         "does not parse"},
        {"listener-cert add x --address '*' --certificate " + (dir_ / "empty.pem").string() +
             " --key " + data("server.key"),
         "give a PEM file with the certificate first"},
        {"listener-cert add x --address '*' --certificate " + data("server.pem") + " --key " +
             data("server-rsa.key"),
         "the private key does not match the certificate"},
        {"listener-cert add x --address '*' --certificate " + data("server.pem") + " --key " +
             data("server.pem"),
         "the private key does not match the certificate, or one of them cannot be used"},
        {"listener-cert remove nosuch", "no listener certificate named nosuch"},
        {"listener-cert remove 'bad name'", "listener certificate name \"bad name\""},
    };
    for (const Bad& bad : cases) {
        std::string before = state();
        Outcome result = run(bad.arguments);
        EXPECT_NE(result.status, 0) << bad.arguments;
        EXPECT_NE(result.err.find(bad.message), std::string::npos)
            << bad.arguments << "\n  wanted: " << bad.message << "\n  got: " << result.err;
        EXPECT_TRUE(state() == before) << bad.arguments << ": the directory changed";
    }
}

}  // namespace
