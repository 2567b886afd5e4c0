// group_index_test.cc -- stable group indexes: assignment, round trip, bad files named by
// line, and the file written atomically in a temporary directory.
#include "programs/hub-snmp/group_index.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "programs/hub-snmp/limits.h"

namespace hub::snmp {
namespace {

TEST(GroupIndexes, NewNamesGetTheNextIndexAndKeepIt) {
    GroupIndexes table;
    EXPECT_EQ(table.assign("partner2.gov.uk").value(), 1u);
    EXPECT_EQ(table.assign("partner1.gov.uk").value(), 2u);
    EXPECT_EQ(table.assign("partner2.gov.uk").value(), 1u);
    EXPECT_TRUE(table.changed());
    Result<GroupIndexes, std::string> again = GroupIndexes::parse(table.serialize());
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->find("partner1.gov.uk"), 2u);
    EXPECT_EQ(again->find("partner2.gov.uk"), 1u);
    EXPECT_FALSE(again->changed());
    // After a partner was removed from the file by hand, a new one still never reuses
    // the highest index in use.
    EXPECT_EQ(again->assign("partner3.gov.uk").value(), 3u);
}

TEST(GroupIndexes, GapsAreKept) {
    Result<GroupIndexes, std::string> table =
        GroupIndexes::parse("# comment\n7\told.example\n3\tb\n");
    ASSERT_TRUE(table) << table.error();
    EXPECT_EQ(table->assign("c").value(), 8u);
    EXPECT_EQ(table->serialize(),
              "# hub-snmp group indexes: mtaGroupIndex, a tab, the partner name; indexes are "
              "never reused\n3\tb\n7\told.example\n8\tc\n");
}

TEST(GroupIndexes, BadFilesSayWhichLineAndWhat) {
    struct Case {
        const char* text;
        const char* error;
    };
    const Case cases[] = {
        {"1\ta\n1\tb\n", "line 2: index 1 appears twice"},
        {"1\ta\n2\ta\n", "line 2: partner a appears twice"},
        {"0\ta\n", "line 1: the index must be a number from 1 to 2147483647"},
        {"01\ta\n", "without leading zeros"},
        {"2147483648\ta\n", "line 1: the index must be"},
        {"x\ta\n", "line 1: the index must be"},
        {"1 a\n", "line 1: expected an index, a tab and a partner name"},
        {"1\tbad name\n", "line 1: the partner name must be"},
        {"1\t\n", "line 1: the partner name must be"},
        {"1\ta", "line 1: the last line has no newline"},
    };
    for (const Case& c : cases) {
        Result<GroupIndexes, std::string> table = GroupIndexes::parse(c.text);
        ASSERT_FALSE(table) << c.text;
        EXPECT_NE(table.error().find(c.error), std::string::npos)
            << "for " << c.text << ": " << table.error();
    }
    std::string huge(index_file_bytes_max + 1, '#');
    EXPECT_FALSE(GroupIndexes::parse(huge));
}

TEST(GroupIndexes, RefusesNamesThatAreNotPartnerNames) {
    GroupIndexes table;
    EXPECT_FALSE(table.assign("two words"));
    EXPECT_FALSE(table.assign(std::string(200, 'a')));
    EXPECT_FALSE(table.changed());
}

TEST(GroupIndexes, FillsUpAndSaysSo) {
    GroupIndexes table;
    for (std::size_t i = 0; i < groups_count_max; i++) {
        ASSERT_TRUE(table.assign("p" + std::to_string(i)));
    }
    Result<std::uint32_t, std::string> full = table.assign("one-more");
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().find("full"), std::string::npos);
    EXPECT_TRUE(GroupIndexes::parse(table.serialize()));  // The largest table still loads.
}

class GroupIndexFile : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/hub-snmp-test.XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(GroupIndexFile, MissingIsEmptySavedIsLoaded) {
    Result<GroupIndexes, std::string> table = load_group_indexes(dir_);
    ASSERT_TRUE(table) << table.error();
    EXPECT_EQ(table->size(), 0u);
    ASSERT_TRUE(table->assign("partner1.gov.uk"));
    ASSERT_TRUE(save_group_indexes(dir_, *table));
    EXPECT_FALSE(table->changed());
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/group-indexes.new"));
    EXPECT_EQ(std::filesystem::status(dir_ + "/group-indexes").permissions() &
                  std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    Result<GroupIndexes, std::string> again = load_group_indexes(dir_);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->find("partner1.gov.uk"), 1u);
}

TEST_F(GroupIndexFile, ABadFileNamesItselfAndTheWayOut) {
    std::ofstream(dir_ + "/group-indexes") << "1\tp\n1\tq\n";
    Result<GroupIndexes, std::string> table = load_group_indexes(dir_);
    ASSERT_FALSE(table);
    EXPECT_NE(table.error().find(dir_ + "/group-indexes: line 2"), std::string::npos)
        << table.error();
    EXPECT_NE(table.error().find("removing it renumbers"), std::string::npos);
}

}  // namespace
}  // namespace hub::snmp
