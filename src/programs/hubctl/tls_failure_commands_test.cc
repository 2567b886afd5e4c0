// tls_failure_commands_test.cc -- hubctl tls-failures: the verdicts read from a health
// snapshot (tls_observations), and what recording them leaves in a real directory file.
//
// Method: snapshots built in memory as hubd's merge would leave them (no hubd, no socket);
// the directory is a fresh SQLite file per test, written through Directory as record does.

#include "programs/hubctl/tls_failure_commands.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace hub::hubctl {
namespace {

namespace fs = std::filesystem;
using directory::TlsObservation;

health::PartnerRow partner(std::string name) {
    health::PartnerRow row;
    row.name = std::move(name);
    return row;
}

health::Snapshot snapshot_with(std::vector<health::PartnerRow> rows) {
    health::Snapshot snapshot;
    snapshot.started_unix_ms = 1'700'000'000'000;
    snapshot.partners = std::move(rows);
    return snapshot;
}

TEST(TlsObservations, FailingWorkingAndSilentPartners) {
    health::PartnerRow clear_text = partner("partner2");
    clear_text.tls_failing_out_since_unix_ms = 1'700'000'100'500;
    clear_text.last_tls_failure_unix_ms = 1'700'000'160'900;
    clear_text.last_tls_failure = "out: no STARTTLS: delivered in clear text (opportunistic TLS)";
    clear_text.tls_failures_out = 4;
    health::PartnerRow inbound_last = partner("partner3");
    inbound_last.tls_failing_out_since_unix_ms = 1'700'000'200'000;
    inbound_last.last_tls_failure_unix_ms = 1'700'000'300'000;
    inbound_last.last_tls_failure = "in: handshake failed";
    inbound_last.last_outbound_tls_unix_ms = 1'700'000'050'000;
    inbound_last.tls_failures_out = 2;
    health::PartnerRow working = partner("partner1");
    working.last_outbound_tls_unix_ms = 1'700'000'400'000;
    working.tls_failures_out = 1;  // An old failure; TLS worked since.
    health::PartnerRow silent = partner("partner4");
    health::PartnerRow shared = partner("other");
    shared.tls_failing_out_since_unix_ms = 1'700'000'100'000;

    std::vector<TlsObservation> seen =
        tls_observations(snapshot_with({clear_text, inbound_last, working, silent, shared}));
    ASSERT_EQ(seen.size(), 3u);  // partner4 has no verdict; "other" is no one peer.

    EXPECT_EQ(seen[0].peer, "partner2");
    EXPECT_EQ(seen[0].verdict, TlsObservation::Verdict::failing);
    EXPECT_EQ(seen[0].failing_since_unix_s, 1'700'000'100);
    EXPECT_EQ(seen[0].last_failed_unix_s, 1'700'000'160);
    EXPECT_EQ(seen[0].reason, "no STARTTLS: delivered in clear text (opportunistic TLS)");
    EXPECT_EQ(seen[0].hubd_failure_count, 4);
    EXPECT_EQ(seen[0].hubd_started_unix_ms, 1'700'000'000'000);
    EXPECT_FALSE(seen[0].had_tls_since_start);

    // The last TLS failure was inbound: only "since" is known of the outbound one.
    EXPECT_EQ(seen[1].peer, "partner3");
    EXPECT_EQ(seen[1].verdict, TlsObservation::Verdict::failing);
    EXPECT_EQ(seen[1].last_failed_unix_s, 0);
    EXPECT_EQ(seen[1].reason, "");
    EXPECT_TRUE(seen[1].had_tls_since_start);

    EXPECT_EQ(seen[2].peer, "partner1");
    EXPECT_EQ(seen[2].verdict, TlsObservation::Verdict::working);
}

class TlsFailureRecording : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "tls_failures_test.XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string dir_;
};

// Two records from two hubd runs, as the recorder sees them: since stays, the count adds up,
// and a snapshot in which TLS worked clears the row.
TEST_F(TlsFailureRecording, SinceOutlivesARestartAndTlsClears) {
    auto opened = directory::Directory::open(dir_ + "/directory.db", directory::OpenMode::create);
    ASSERT_TRUE(opened) << opened.error();
    directory::Directory& directory = *opened;

    health::PartnerRow first = partner("partner2");
    first.tls_failing_out_since_unix_ms = 1'700'000'100'000;
    first.last_tls_failure_unix_ms = 1'700'000'100'000;
    first.last_tls_failure = "out: no STARTTLS";
    first.tls_failures_out = 1;
    ASSERT_TRUE(directory.record_tls_failures(tls_observations(snapshot_with({first}))));

    health::Snapshot restarted = snapshot_with({});
    restarted.started_unix_ms = 1'700'000'500'000;
    health::PartnerRow again = first;
    again.tls_failing_out_since_unix_ms = 1'700'000'600'000;
    again.last_tls_failure_unix_ms = 1'700'000'600'000;
    again.tls_failures_out = 2;
    restarted.partners = {again};
    ASSERT_TRUE(directory.record_tls_failures(tls_observations(restarted)));
    auto rows = directory.tls_failures();
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].first_failed_unix_s, 1'700'000'100);
    EXPECT_EQ((*rows)[0].last_failed_unix_s, 1'700'000'600);
    EXPECT_EQ((*rows)[0].failure_count, 3);
    EXPECT_EQ((*rows)[0].last_reason, "no STARTTLS");

    health::PartnerRow recovered = partner("partner2");
    recovered.last_outbound_tls_unix_ms = 1'700'000'700'000;
    recovered.tls_failures_out = 2;
    restarted.partners = {recovered};
    auto cleared = directory.record_tls_failures(tls_observations(restarted));
    ASSERT_TRUE(cleared) << cleared.error();
    EXPECT_EQ(cleared->cleared, std::vector<std::string>{"partner2"});
    rows = directory.tls_failures();
    ASSERT_TRUE(rows);
    EXPECT_TRUE(rows->empty());
}

}  // namespace
}  // namespace hub::hubctl
