// durable_file_test.cc -- replace_file and rename_durably on a real file system.
#include "base/durable_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hub::base {
namespace {

namespace fs = std::filesystem;

class DurableFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("durable_file_test." + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const char* name) const { return (dir_ / name).string(); }
    static std::string slurp(const std::string& file) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    static mode_t mode_of(const std::string& file) {
        struct stat info {};
        EXPECT_EQ(::stat(file.c_str(), &info), 0);
        return info.st_mode & 07777;
    }
    fs::path dir_;
};

TEST_F(DurableFileTest, ReplacesContentsAndSetsTheModeWhateverTheUmask) {
    std::string file = path("state");
    ASSERT_TRUE(replace_file(file, "old\n"));
    mode_t previous = ::umask(0077);
    FileReplacement how;
    how.mode = 0640;
    auto replaced = replace_file(file, "new contents\n", how);
    ::umask(previous);
    ASSERT_TRUE(replaced) << replaced.error();
    EXPECT_EQ(slurp(file), "new contents\n");
    EXPECT_EQ(mode_of(file), 0640u);
    EXPECT_FALSE(fs::exists(file + ".tmp"));
}

TEST_F(DurableFileTest, ARefusedCheckLeavesTheOldFileAndNoTemporary) {
    std::string file = path("hub.conf");
    ASSERT_TRUE(replace_file(file, "good = 1\n"));
    std::string seen;
    FileReplacement how;
    how.temporary_suffix = ".edit";
    how.check = [&](const std::string& temporary) -> Result<void, std::string> {
        seen = slurp(temporary);  // written and synced before the check
        return unexpected(std::string("the change was not made: bad value"));
    };
    auto replaced = replace_file(file, "good = broken\n", how);
    ASSERT_FALSE(replaced);
    EXPECT_EQ(replaced.error(), "the change was not made: bad value");
    EXPECT_EQ(seen, "good = broken\n");
    EXPECT_EQ(slurp(file), "good = 1\n");
    EXPECT_FALSE(fs::exists(file + ".edit"));
}

TEST_F(DurableFileTest, AnUnwritableDirectoryIsAnErrorNamingTheTemporary) {
    std::string file = path("missing/state");
    auto replaced = replace_file(file, "x");
    ASSERT_FALSE(replaced);
    EXPECT_NE(replaced.error().find(file + ".tmp: open: "), std::string::npos) << replaced.error();
}

TEST_F(DurableFileTest, ATemporaryThatIsASymlinkIsNotFollowed) {
    std::string file = path("state");
    std::string target = path("elsewhere");
    ASSERT_TRUE(replace_file(target, "untouched"));
    fs::create_symlink(target, file + ".tmp");
    ASSERT_FALSE(replace_file(file, "x"));
    EXPECT_EQ(slurp(target), "untouched");
    EXPECT_FALSE(fs::exists(file));
}

TEST_F(DurableFileTest, RenameDurablyMovesAWrittenFileAndRemovesItOnFailure) {
    std::string part = path("archive.part");
    ASSERT_TRUE(replace_file(part, "archive bytes"));
    ASSERT_TRUE(rename_durably(part, path("archive")));
    EXPECT_EQ(slurp(path("archive")), "archive bytes");
    EXPECT_FALSE(fs::exists(part));

    ASSERT_TRUE(replace_file(part, "second"));
    auto moved = rename_durably(part, path("no/such/dir/archive"));
    ASSERT_FALSE(moved);
    EXPECT_NE(moved.error().find(": rename: "), std::string::npos) << moved.error();
    EXPECT_FALSE(fs::exists(part));
}

}  // namespace
}  // namespace hub::base
