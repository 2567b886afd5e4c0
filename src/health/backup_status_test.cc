// backup_status_test.cc -- the backup status file: round trips, strict decoding, the views.
#include "health/backup_status.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace hub::health {
namespace {

TEST(BackupStatus, SuccessThenFailureKeepsBoth) {
    BackupStatus status = record_success({}, 1000, "/b/hubbox-h-1.hbk");
    status = record_failure(status, 2000, "sftp to x failed\nexit 255");
    EXPECT_TRUE(status.failing);
    EXPECT_EQ(status.last_success_unix_s, 1000);
    EXPECT_EQ(status.last_success_archive, "/b/hubbox-h-1.hbk");
    EXPECT_EQ(status.last_failure_unix_s, 2000);
    EXPECT_EQ(status.last_failure_reason, "sftp to x failed?exit 255");
    auto decoded = decode_backup_status(encode_backup_status(status));
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(*decoded, status);
    status = record_success(status, 3000, "/b/hubbox-h-3.hbk");
    EXPECT_FALSE(status.failing);
    EXPECT_EQ(status.last_failure_unix_s, 2000);  // Kept: when it last failed.
    decoded = decode_backup_status(encode_backup_status(status));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, status);
}

TEST(BackupStatus, ReasonsAreBounded) {
    BackupStatus status = record_failure({}, 5, std::string(10'000, 'x'));
    EXPECT_EQ(status.last_failure_reason.size(), backup_status_text_max);
    EXPECT_TRUE(decode_backup_status(encode_backup_status(status)));
}

TEST(BackupStatus, StrictDecoding) {
    const std::string good =
        "hubbox-backup-status 1\nstate ok\nlast_success_unix_s 7\nlast_success_archive a\n"
        "last_failure_unix_s 0\nlast_failure_reason \nend\n";
    ASSERT_TRUE(decode_backup_status(good));
    const char* bad[] = {
        "",
        "hubbox-backup-status 1",
        "hubbox-backup-status 1\nstate ok\n",                 // no end
        "hubbox-backup-status 1\nstate ok\nend",              // end not ended
        "hubbox-backup-status 1\nend\n",                      // no state
        "hubbox-backup-status 1\nstate maybe\nend\n",         // bad state
        "hubbox-backup-status 1\nstate ok\nstate ok\nend\n",  // twice
        "hubbox-backup-status 1\nstate ok\nlast_success_unix_s -1\nend\n",
        "hubbox-backup-status 1\nstate ok\nlast_success_unix_s 07\nend\n",
        "hubbox-backup-status 1\nstate ok\nlast_success_unix_s 1x\nend\n",
        "hubbox-backup-status 1\nstate ok\nlast_failure_reason a\tb\nend\n",
        "hubbox-backup-status 1\nstate ok\nend\nmore\n",
        "hubbox-backup-status 2\nstate ok\nend\n",
        "something else\n",
    };
    for (const char* text : bad) {
        EXPECT_FALSE(decode_backup_status(text)) << text;
    }
    // A newer writer's key is skipped.
    auto newer = decode_backup_status("hubbox-backup-status 1\nstate failed\nnext 9\nend\n");
    ASSERT_TRUE(newer);
    EXPECT_TRUE(newer->failing);
    std::string huge = "hubbox-backup-status 1\nstate ok\nx " +
                       std::string(backup_status_bytes_max, 'a') + "\nend\n";
    EXPECT_FALSE(decode_backup_status(huge));
}

TEST(BackupStatus, LegacyLineReads) {
    auto ok = decode_backup_status("ok 1796635708 /var/lib/hubbox/backups/a.hbk\n");
    ASSERT_TRUE(ok);
    EXPECT_FALSE(ok->failing);
    EXPECT_EQ(ok->last_success_unix_s, 1796635708);
    EXPECT_EQ(ok->last_success_archive, "/var/lib/hubbox/backups/a.hbk");
    auto failed = decode_backup_status("failed 12 no passphrase\n");
    ASSERT_TRUE(failed);
    EXPECT_TRUE(failed->failing);
    EXPECT_EQ(failed->last_failure_reason, "no passphrase");
    EXPECT_FALSE(decode_backup_status("ok soon\n"));
}

TEST(BackupStatus, FileWriteReadAndViews) {
    char pattern[] = "/tmp/backup-status-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    std::string path = std::string(pattern) + "/status";
    auto missing = read_backup_status(path);
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->exists);
    EXPECT_NE(backup_status_to_prometheus(missing).find("\nhubbox_backup_failing 0\n"),
              std::string::npos);
    BackupStatus status =
        record_failure(record_success({}, 100, "/d/hubbox-a.hbk"), 200, "target \"x\" unwritable");
    ASSERT_TRUE(write_backup_status(path, status));
    struct stat info {};
    ASSERT_EQ(stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0644u);
    auto read = read_backup_status(path);
    ASSERT_TRUE(read) << read.error();
    EXPECT_TRUE(read->exists);
    EXPECT_EQ(read->status, status);
    std::string metrics = backup_status_to_prometheus(read);
    EXPECT_NE(metrics.find("hubbox_backup_status_readable 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("hubbox_backup_failing 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("hubbox_backup_last_success_timestamp_seconds{archive=\"hubbox-a."
                           "hbk\"} 100\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("hubbox_backup_last_failure_timestamp_seconds{reason=\"target "
                           "\\\"x\\\" unwritable\"} 200\n"),
              std::string::npos);
    EXPECT_NE(backup_status_line(*read).find("backup: FAILED at 1970-01-01 00:03:20 UTC"),
              std::string::npos);
    std::ofstream(path, std::ios::trunc) << "garbage\n";
    auto damaged = read_backup_status(path);
    ASSERT_FALSE(damaged);
    EXPECT_EQ(backup_status_to_prometheus(damaged).find("hubbox_backup_failing"),
              std::string::npos);
    EXPECT_NE(backup_status_to_prometheus(damaged).find("hubbox_backup_status_readable 0"),
              std::string::npos);
    std::string cleanup = std::string("rm -rf ") + pattern;
    EXPECT_EQ(std::system(cleanup.c_str()), 0);
}

}  // namespace
}  // namespace hub::health
