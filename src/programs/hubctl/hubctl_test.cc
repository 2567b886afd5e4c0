// hubctl_test.cc -- runs the built hubctl against spools written with the encoder.
//
// Method: build a spool in a temporary directory with spool::append_* (several shards,
// a delivered recipient, a fully delivered message, a torn tail, hostile characters),
// run HUBCTL_PATH through the shell with stdout and stderr captured to files, and compare
// the output and exit status with what CONTRACTS.md promises.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "programs/hubctl/test_support.h"
#include "spool/limits.h"
#include "spool/spool_format.h"

namespace hub::spool {
namespace {

namespace fs = std::filesystem;

using Outcome = hubctl::testing::CommandOutcome;
using hubctl::testing::slurp;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::stringstream stream(text);
    for (std::string line; std::getline(stream, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::vector<std::string> split(const std::string& line, char separator) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, separator);) {
        fields.push_back(field);
    }
    if (!line.empty() && line.back() == separator) {
        fields.emplace_back();
    }
    return fields;
}

MessageMeta meta(QueueId id, std::string from, std::vector<std::string> to, std::uint64_t arrival) {
    MessageMeta m;
    m.id = id;
    m.arrival_unix_s = arrival;
    m.client_address = "127.0.0.1";
    m.envelope.helo = "client.example";
    m.envelope.esmtp = true;
    m.envelope.mail_from = std::move(from);
    for (std::string& address : to) {
        m.envelope.recipients.push_back(smtp::Recipient{std::move(address), 0, ""});
    }
    m.tls.version = "TLSv1.3";
    m.tls.cipher = "TLS_AES_128_GCM_SHA256";
    m.tls.bits = 128;
    return m;
}

class HubctlTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "hubctl-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        spool_ = dir_ / "spool";
        fs::create_directories(spool_);
        now_ = static_cast<std::uint64_t>(std::time(nullptr));
    }
    void TearDown() override { fs::remove_all(dir_); }

    Outcome run(const std::string& arguments) {
        return hubctl::testing::run_captured(std::string(HUBCTL_PATH) + " " + arguments, dir_);
    }

    void write_segment(std::uint8_t shard, std::uint32_t seq, const std::string& bytes) {
        fs::path file = spool_ / segment_relative_path(shard, seq);
        fs::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << bytes;
    }

    // Shard 0: A (2 recipients, the first delivered), B (all delivered); a torn record.
    // Shard 1: C from the null sender, with hostile characters.
    void build_spool() {
        std::string zero;
        append_segment_header(0, 0, zero);
        append_message_record(
            meta(a_, "alice@partner1.gov.uk",
                 {"done@partner2.gov.uk.lgolhub.net", "bob@partner2.gov.uk.lgolhub.net"},
                 now_ - 1000),
            "Received: by hub\r\n", "Message-ID: <a@partner1>\r\n\r\nHi\r\n", zero);
        append_message_record(
            meta(b_, "x@partner1.gov.uk", {"y@partner2.gov.uk.lgolhub.net"}, now_ - 10), "",
            "Subject: gone\r\n\r\n", zero);
        append_status_record(a_, 0, RecipientStatus::delivered, zero);
        append_status_record(b_, 0, RecipientStatus::delivered, zero);
        std::string torn;
        append_message_record(meta(QueueId{0, 0, 2}, "torn@x", {"t@y"}, now_), "", "x", torn);
        write_segment(0, 0, zero + torn.substr(0, torn.size() / 2));
        std::string one;
        append_segment_header(1, 7, one);
        append_message_record(meta(c_, "", {"\"a,b\"@partner1.gov.uk", "tab\there@x"}, now_ - 5),
                              "", std::string(3000, 'z'), one);
        write_segment(1, 7, one);
    }

    fs::path dir_;
    fs::path spool_;
    std::uint64_t now_ = 0;
    QueueId a_{0, 0, 0};
    QueueId b_{0, 0, 1};
    QueueId c_{1, 7, 0};
};

TEST_F(HubctlTest, TsvListsLiveMessagesAndPendingRecipients) {
    build_spool();
    Outcome result = run("--spool " + spool_.string() + " queue list --format tsv");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.err, "");
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 3u) << result.out;
    EXPECT_EQ(lines[0],
              "#queue_id\tsender\trecipients\tsize_bytes\tage_s\tmessage_"
              "id\theld\tstates\tdelivered_as\tview");
    std::vector<std::string> a = split(lines[1], '\t');
    ASSERT_EQ(a.size(), 10u) << lines[1];
    EXPECT_EQ(a[0], "0000000000000000");
    EXPECT_EQ(a[1], "alice@partner1.gov.uk");
    EXPECT_EQ(a[2], "bob@partner2.gov.uk.lgolhub.net");  // The delivered one is not shown.
    EXPECT_EQ(a[3], std::to_string(std::string("Received: by hub\r\nMessage-ID: "
                                               "<a@partner1>\r\n\r\nHi\r\n")
                                       .size()));
    EXPECT_GE(std::stoul(a[4]), 1000u);
    EXPECT_LT(std::stoul(a[4]), 1000u + 120u);
    EXPECT_EQ(a[5], "<a@partner1>");
    EXPECT_EQ(a[6], "0");       // Not held.
    EXPECT_EQ(a[7], "queued");  // A stopped hub: the spool cannot tell active from deferred.
    EXPECT_EQ(a[8], "bob@partner2.gov.uk.lgolhub.net");  // No partner table: as received.
    EXPECT_EQ(a[9], "stopped");
    std::vector<std::string> c = split(lines[2], '\t');
    ASSERT_EQ(c.size(), 10u) << lines[2];
    EXPECT_EQ(c[0], "0100000007000000");
    EXPECT_EQ(c[1], "<>");
    EXPECT_EQ(c[2], "\"a\\x2cb\"@partner1.gov.uk,tab\\there@x");
    EXPECT_EQ(c[3], "3000");
    EXPECT_EQ(c[5], "");
}

TEST_F(HubctlTest, TextLooksLikeMailq) {
    build_spool();
    Outcome result = run("queue list --spool " + spool_.string());  // Options after the command.
    ASSERT_EQ(result.status, 0) << result.err;
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 10u) << result.out;
    EXPECT_EQ(lines[0].substr(0, 21), "-- hubd is stopped: s");
    lines.erase(lines.begin());
    EXPECT_EQ(lines[0], "-Queue ID------- --Size-- ----Arrival Time---- -Sender/Recipient-------");
    EXPECT_EQ(lines[1].substr(0, 26), "0000000000000000       50 ");
    EXPECT_EQ(lines[1].substr(47), "alice@partner1.gov.uk");
    EXPECT_EQ(lines[2], std::string(47, ' ') + "bob@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(lines[3], "");
    EXPECT_EQ(lines[4].substr(0, 26), "0100000007000000     3000 ");
    EXPECT_EQ(lines[4].substr(47), "MAILER-DAEMON");
    EXPECT_EQ(lines[5], std::string(47, ' ') + "\"a,b\"@partner1.gov.uk");
    EXPECT_EQ(lines[6], std::string(47, ' ') + "tab?here@x");  // No raw control characters.
    EXPECT_EQ(lines[7], "");
    EXPECT_EQ(lines[8], "-- 3 Kbytes in 2 Requests.");
}

TEST_F(HubctlTest, EmptyQueue) {
    Outcome result = run("--spool " + spool_.string() + " queue list");
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(lines_of(result.out).at(1), "Mail queue is empty");
    result = run("--spool " + spool_.string() + " queue list --format tsv");
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out,
              "#queue_id\tsender\trecipients\tsize_bytes\tage_s\tmessage_"
              "id\theld\tstates\tdelivered_as\tview\n");
    result = run("--spool " + spool_.string() + " queue list --format json");
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, "[]\n");
}

TEST_F(HubctlTest, CorruptSegmentsAreWarnedAboutNotFatal) {
    build_spool();
    std::string bytes;
    append_segment_header(0, 9, bytes);  // Names segment 9, stored as segment 3.
    write_segment(0, 3, bytes);
    Outcome result = run("--spool " + spool_.string() + " queue list --format tsv");
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(lines_of(result.out).size(), 3u);
    EXPECT_NE(result.err.find("warning: " + (spool_ / "shard-0/00000003.seg").string()),
              std::string::npos)
        << result.err;
}

TEST_F(HubctlTest, RuntimeErrorsNameThePath) {
    Outcome result = run("--spool " + (dir_ / "missing").string() + " queue list");
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find((dir_ / "missing").string()), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
    result = run("--config " + (dir_ / "nope.conf").string() + " queue list");
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("nope.conf"), std::string::npos) << result.err;
}

TEST_F(HubctlTest, UsageErrorsExitTwo) {
    for (const std::string& arguments :
         {std::string(""), std::string("queue"), std::string("queue list"),
          std::string("--spool /x queue list --format xml"), std::string("frobnicate"),
          std::string("--spool /x --config /y queue list"), std::string("--bogus")}) {
        Outcome result = run(arguments);
        EXPECT_EQ(result.status, 2) << "hubctl " << arguments << ": " << result.err;
        EXPECT_FALSE(result.err.empty()) << arguments;
    }
    Outcome help = run("--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("queue"), std::string::npos);
}

TEST_F(HubctlTest, ConfigGivesTheSpoolDirectory) {
    build_spool();
    // Relative paths in hub.conf are relative to its own directory.
    std::ofstream(dir_ / "hub.conf") << "[tls]\ncertificate = \"hub.pem\"\nkey = \"hub.key\"\n"
                                        "[spool]\ndir = \"spool\"\n"
                                        "[partners]\nfile = \"partners.toml\"\n";
    Outcome result = run("--config " + (dir_ / "hub.conf").string() + " queue list --format tsv");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(lines_of(result.out).size(), 3u) << result.out;
}

// hubctl reload needs the hub.conf hubd runs with, and says so when no hubd runs on its
// spool (no control socket): exit 1, nothing else to do.
TEST_F(HubctlTest, ReloadWithoutARunningHub) {
    build_spool();
    Outcome usage = run("reload");
    EXPECT_EQ(usage.status, 2) << usage.err;
    EXPECT_NE(usage.err.find("reload needs --config FILE"), std::string::npos) << usage.err;
    std::ofstream(dir_ / "hub.conf") << "[tls]\ncertificate = \"hub.pem\"\nkey = \"hub.key\"\n"
                                        "[spool]\ndir = \"spool\"\n"
                                        "[partners]\nfile = \"partners.toml\"\n";
    Outcome stopped = run("--config " + (dir_ / "hub.conf").string() + " reload");
    EXPECT_EQ(stopped.status, 1) << stopped.err;
    EXPECT_NE(stopped.err.find("no hubd runs on"), std::string::npos) << stopped.err;
    EXPECT_NE(stopped.err.find("it reads hub.conf and its partners when it starts"),
              std::string::npos)
        << stopped.err;
}

TEST_F(HubctlTest, JsonListParsesAndEscapes) {
    build_spool();
    Outcome result = run("--spool " + spool_.string() + " queue list --format json");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("\"queue_id\": \"0100000007000000\""), std::string::npos);
    EXPECT_NE(result.out.find("\"address\": \"tab\\there@x\""), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("\"address\": \"\\\"a,b\\\"@partner1.gov.uk\""), std::string::npos)
        << result.out;
    std::string check =
        "python3 -c 'import json,sys; q=json.load(open(sys.argv[1])); "
        "assert len(q)==2 and q[1][\"recipients\"][1][\"state\"]==\"queued\"' " +
        (dir_ / "out").string();
    EXPECT_EQ(std::system(check.c_str()), 0) << result.out;
}

TEST_F(HubctlTest, StoppedHubHoldReleaseDeleteAreRecords) {
    build_spool();
    std::string spool = "--spool " + spool_.string();
    Outcome result = run(spool + " queue hold 0000000000000000");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("ok: 0000000000000000 held"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("hubd is stopped"), std::string::npos) << result.out;
    EXPECT_TRUE(fs::exists(spool_ / "shard-0/00000001.seg"));  // A new segment, after 0.
    EXPECT_TRUE(fs::exists(spool_ / "hubd.lock"));
    result = run(spool + " queue list --format tsv");
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 3u) << result.out;
    EXPECT_EQ(split(lines[1], '\t')[6], "1");
    EXPECT_EQ(split(lines[1], '\t')[7], "held");
    result = run(spool + " queue hold ALL");  // Already held: nothing written for it.
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("ok: 0000000000000000 already held"), std::string::npos);
    EXPECT_NE(result.out.find("ok: 0100000007000000 held"), std::string::npos);
    EXPECT_TRUE(fs::exists(spool_ / "shard-1/00000008.seg"));
    result = run(spool + " queue release 0000000000000000 0100000007000000");
    ASSERT_EQ(result.status, 0) << result.err;
    result = run(spool + " queue delete 0100000007000000");
    ASSERT_EQ(result.status, 0) << result.err;
    result = run(spool + " queue list --format tsv");
    lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 2u) << result.out;  // The deleted one is gone.
    EXPECT_EQ(split(lines[1], '\t')[6], "0");
    result = run(spool + " queue show 0000000000000000");
    ASSERT_EQ(result.status, 0) << result.err;
    std::size_t held = result.out.find("message held");
    std::size_t released = result.out.find("message released");
    EXPECT_NE(held, std::string::npos) << result.out;
    EXPECT_NE(released, std::string::npos) << result.out;
    EXPECT_LT(held, released);
    EXPECT_NE(result.out.find("recipient 0 <done@partner2.gov.uk.lgolhub.net> delivered"),
              std::string::npos)
        << result.out;
    result = run(spool + " queue show 0100000007000000");
    EXPECT_EQ(result.status, 1);
}

TEST_F(HubctlTest, ShowPrintsEnvelopeHeadersAndBody) {
    build_spool();
    std::string spool = "--spool " + spool_.string();
    Outcome result = run(spool + " queue show 0000000000000000");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("sender: alice@partner1.gov.uk\n"), std::string::npos);
    EXPECT_NE(result.out.find("recipient 0: done@partner2.gov.uk.lgolhub.net (done)\n"),
              std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("recipient 1: bob@partner2.gov.uk.lgolhub.net (queued)\n"),
              std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("*** HEADER RECORDS ***\nReceived: by hub\nMessage-ID: "
                              "<a@partner1>\n*** END ***\n"),
              std::string::npos)
        << result.out;
    result = run(spool + " queue show --body 0000000000000000");
    EXPECT_NE(result.out.find("*** MESSAGE CONTENTS ***\nReceived: by hub\nMessage-ID: "
                              "<a@partner1>\n\nHi\n*** END ***\n"),
              std::string::npos)
        << result.out;
}

// Spool format 3: a streamed message (slices, then its commit) is listed and shown whole
// like any other; slices without a commit are no message.
TEST_F(HubctlTest, StreamedMessagesAreListedAndShownWhole) {
    std::string content = "Received: by hub\r\nMessage-ID: <s@partner1>\r\n\r\n";
    for (int line = 0; content.size() < 3 * slice_content_bytes_max; line++) {
        content += (line % 4 == 0 ? "." : "") + std::string(900, 'b') + "\r\n";
    }
    std::string bytes;
    append_segment_header(2, 3, bytes);
    QueueId id{2, 3, 0};
    StreamedMessageEncoder streamed(id);
    StreamedMessageEncoder abandoned(QueueId{2, 3, 1});
    std::string_view view(content);
    for (std::size_t at = 0; at < content.size(); at += slice_content_bytes_max) {
        streamed.append_slice(view.substr(at, slice_content_bytes_max), bytes);
        abandoned.append_slice(view.substr(at, 100), bytes);
    }
    streamed.append_commit(meta(id, "s@partner1.gov.uk", {"r@partner2.gov.uk.lgolhub.net"}, now_),
                           bytes);
    write_segment(2, 3, bytes);
    std::string spool = "--spool " + spool_.string();
    Outcome result = run(spool + " queue list --format tsv");
    ASSERT_EQ(result.status, 0) << result.err;
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 2u) << result.out;
    std::vector<std::string> row = split(lines[1], '\t');
    ASSERT_EQ(row.size(), 10u) << lines[1];
    EXPECT_EQ(row[0], "0200000003000000");
    EXPECT_EQ(row[3], std::to_string(content.size()));
    EXPECT_EQ(row[5], "<s@partner1>");
    result = run(spool + " queue show --body 0200000003000000");
    ASSERT_EQ(result.status, 0) << result.err;
    std::string expected = content;
    for (std::size_t at = expected.find("\r\n"); at != std::string::npos;
         at = expected.find("\r\n", at)) {
        expected.erase(at, 1);
    }
    EXPECT_NE(result.out.find("*** MESSAGE CONTENTS ***\n" + expected + "*** END ***\n"),
              std::string::npos);
}

TEST_F(HubctlTest, RefusedCommandsChangeNothing) {
    build_spool();
    std::string spool = "--spool " + spool_.string();
    struct Case {
        std::string arguments;
        int status;
        std::string error;
    };
    const Case cases[] = {
        {"queue hold 0000000000000000 FFFFFFFFFFFFFFFF", 1, "not in the queue: FFFFFFFFFFFFFFFF"},
        {"queue hold 0000000000000000 nonsense", 2, "'nonsense' is not a queue id"},
        {"queue delete 0000000000000001", 1, "not in the queue"},  // Delivered already.
        {"queue retry 0000000000000000", 1, "retry needs a running hubd"},
        {"queue hold ALL 0000000000000000", 2, "ALL stands alone"},
        {"queue hold 0000000000000000 --partner partner2", 2, "--partner selects among ALL"},
        {"queue hold ALL --partner partner2", 2, "no such partner"},  // No --config.
        {"queue hodl 0000000000000000", 2, "did you mean 'hold'?"},
        {"queue relase ALL", 2, "did you mean 'release'?"},
        {"queue lst", 2, "did you mean 'list'?"},
        {"qeueu list", 2, "did you mean 'queue'?"},
        {"queue purge", 2, "the commands are: list, show, hold, release, retry, delete"},
    };
    for (const Case& c : cases) {
        Outcome result = run(spool + " " + c.arguments);
        EXPECT_EQ(result.status, c.status) << c.arguments << ": " << result.err;
        EXPECT_NE(result.err.find(c.error), std::string::npos) << c.arguments << ": " << result.err;
        EXPECT_FALSE(fs::exists(spool_ / "shard-0/00000001.seg")) << c.arguments;
        EXPECT_FALSE(fs::exists(spool_ / "shard-1/00000008.seg")) << c.arguments;
    }
}

TEST_F(HubctlTest, ConfigDocPrintsTheOptionTable) {
    Outcome result = run("config-doc");
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("spool.dir"), std::string::npos);
    EXPECT_NE(result.out.find("limits.message_bytes_max"), std::string::npos);
}

}  // namespace
}  // namespace hub::spool
