// restore_test.cc -- create_backup, read_backup and restore_backup on real files in a
// temporary directory: what goes in comes back byte for byte with its mode, an older
// directory schema is migrated on the way, and a damaged archive leaves every target as it
// was (no staged copy left behind either).
#include "backup/restore.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backup/limits.h"
#include "directory/directory.h"
#include "directory/schema.h"

namespace hub::backup {
namespace {

namespace fs = std::filesystem;
constexpr KdfCost test_cost{1, kdf_memlimit_kib_min};
constexpr std::string_view passphrase = "restore test passphrase";

void write_file(const fs::path& path, std::string_view text, mode_t mode = 0644) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

mode_t mode_of(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
}

// A box under root: hub.conf's paths all below it, as tools/dev-init makes them.
config::HubConfig make_box(const fs::path& root) {
    config::HubConfig config;
    config.hostname = "hub.restore-test.example";
    config.certificate_path = (root / "hub.pem").string();
    config.private_key_path = (root / "hub.key").string();
    config.spool_dir = (root / "spool").string();
    config.directory_path = (root / "directory.db").string();
    config.ca_state_dir = (root / "ca").string();
    config.ca_public_dir = (root / "ca-public").string();
    config.backup_network_dir = (root / "network").string();
    return config;
}

class RestoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "restore_test.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        work_ = pattern;
        box_ = make_box(work_ / "box");
        write_file(work_ / "box" / "hub.conf", "# the box's hub.conf\n");
        write_file(box_.certificate_path, "certificate\n");
        write_file(box_.private_key_path, "private key\n", 0600);
        write_file(fs::path(box_.ca_state_dir) / "ca.key", "ca key\n", 0600);
        ::chmod(box_.ca_state_dir.c_str(), 0700);
        write_file(fs::path(box_.ca_public_dir) / "crl.pem", "crl\n");
        write_file(fs::path(box_.backup_network_dir) / "firewall" / "extra.nft", "rules\n", 0640);
        write_file(fs::path(box_.spool_dir) / "shard-0" / "00000001.seg", std::string(100000, 's'),
                   0600);
        write_file(fs::path(box_.spool_dir) / "shard-1" / "00000002.seg", "segment two", 0600);
        // A directory at schema 1, as an older Hubbox left it.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(box_.directory_path.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, directory::schema_steps()[0], nullptr, nullptr, nullptr),
                  SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "PRAGMA user_version = 1; INSERT INTO partners (name, state, "
                               "created_unix_s, updated_unix_s) VALUES ('partner1', 'pending', "
                               "1, 1);",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
        archive_ = (work_ / "box.hbk").string();
        auto sealer = StreamSealer::for_passphrase(passphrase, test_cost);
        ASSERT_TRUE(sealer.has_value());
        int fd = ::open(archive_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        CreateOptions options;
        options.hub_conf_path = (work_ / "box" / "hub.conf").string();
        options.include_queue = true;
        options.now_unix_s = 1765100000;
        auto report = create_backup(box_, options, std::move(*sealer), fd);
        ::close(fd);
        ASSERT_TRUE(report.has_value()) << report.error();
        EXPECT_EQ(report->queue_segments, 2u);
        EXPECT_EQ(report->manifest.directory_schema, 1);
    }
    void TearDown() override { fs::remove_all(work_); }

    Result<RestoreReport, std::string> restore_into(const fs::path& root,
                                                    const std::string& archive) {
        RestorePlan plan;
        plan.hub_conf_path = (root / "hub.conf").string();
        plan.targets = make_box(root);
        plan.parts = {Part::config, Part::pki, Part::network, Part::queue};
        int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_GE(fd, 0);
        OpenKey key;
        key.passphrase = std::string(passphrase);
        auto report = restore_backup(fd, key, plan);
        ::close(fd);
        return report;
    }

    fs::path work_;
    config::HubConfig box_;
    std::string archive_;
};

TEST_F(RestoreTest, EverythingComesBackAndTheDirectoryIsMigrated) {
    fs::path fresh = work_ / "fresh";
    // A shard the archive does not have: its queue is not the restored one.
    write_file(fresh / "spool" / "shard-7" / "00000009.seg", "stale");
    auto report = restore_into(fresh, archive_);
    ASSERT_TRUE(report.has_value()) << report.error();
    EXPECT_EQ(read_file(fresh / "hub.conf"), "# the box's hub.conf\n");
    EXPECT_EQ(read_file(fresh / "hub.key"), "private key\n");
    EXPECT_EQ(mode_of(fresh / "hub.key"), 0600u);
    EXPECT_EQ(read_file(fresh / "ca" / "ca.key"), "ca key\n");
    EXPECT_EQ(mode_of(fresh / "ca"), 0700u);
    EXPECT_EQ(read_file(fresh / "ca-public" / "crl.pem"), "crl\n");
    EXPECT_EQ(read_file(fresh / "network" / "firewall" / "extra.nft"), "rules\n");
    EXPECT_EQ(mode_of(fresh / "network" / "firewall" / "extra.nft"), 0640u);
    EXPECT_EQ(read_file(fresh / "spool" / "shard-0" / "00000001.seg"), std::string(100000, 's'));
    EXPECT_EQ(read_file(fresh / "spool" / "shard-1" / "00000002.seg"), "segment two");
    EXPECT_FALSE(fs::exists(fresh / "spool" / "shard-7"));
    EXPECT_TRUE(report->directory_restored);
    EXPECT_EQ(report->directory_schema, directory::current_schema_version());
    auto directory = directory::Directory::open((fresh / "directory.db").string(),
                                                directory::OpenMode::existing);
    ASSERT_TRUE(directory.has_value()) << directory.error();
    auto partner = directory->find("partner1");
    ASSERT_TRUE(partner.has_value());
    EXPECT_TRUE(partner->has_value());
    for (const auto& entry : fs::recursive_directory_iterator(fresh)) {
        EXPECT_EQ(entry.path().string().find(".restore-new"), std::string::npos) << entry.path();
    }
}

TEST_F(RestoreTest, RestoringOverAnExistingBoxReplacesEachUnit) {
    fs::path target = work_ / "target";
    write_file(target / "ca" / "ca.key", "another CA\n", 0600);
    write_file(target / "ca" / "leftover", "from the old CA\n");
    write_file(target / "directory.db-wal", "an old log that must not be replayed");
    auto report = restore_into(target, archive_);
    ASSERT_TRUE(report.has_value()) << report.error();
    EXPECT_EQ(read_file(target / "ca" / "ca.key"), "ca key\n");
    EXPECT_FALSE(fs::exists(target / "ca" / "leftover"));
    EXPECT_EQ(report->directory_schema, directory::current_schema_version());
}

TEST_F(RestoreTest, ADamagedArchiveChangesNothing) {
    fs::path target = work_ / "target";
    write_file(target / "hub.conf", "the running box's\n");
    write_file(target / "ca" / "ca.key", "the running CA\n", 0600);
    std::string damaged = (work_ / "damaged.hbk").string();
    fs::copy_file(archive_, damaged);
    std::uintmax_t size = fs::file_size(damaged);
    // Late in the file: the first members were already staged when the damage is found.
    int fd = ::open(damaged.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(size - 40)), 1);
    byte = static_cast<char>(byte ^ 0x20);
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(size - 40)), 1);
    ::close(fd);
    auto report = restore_into(target, damaged);
    ASSERT_FALSE(report.has_value());
    EXPECT_NE(report.error().find("nothing was changed"), std::string::npos) << report.error();
    EXPECT_EQ(read_file(target / "hub.conf"), "the running box's\n");
    EXPECT_EQ(read_file(target / "ca" / "ca.key"), "the running CA\n");
    EXPECT_FALSE(fs::exists(target / "spool"));
    EXPECT_FALSE(fs::exists(target / "directory.db"));
    for (const auto& entry : fs::recursive_directory_iterator(target)) {
        EXPECT_EQ(entry.path().string().find(".restore-new"), std::string::npos) << entry.path();
    }
}

}  // namespace
}  // namespace hub::backup
