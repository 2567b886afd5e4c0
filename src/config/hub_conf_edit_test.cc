// hub_conf_edit_test.cc -- setting [backup] keys keeps the rest of hub.conf as written.
#include "config/hub_conf_edit.h"

#include <gtest/gtest.h>

#include <string>

namespace hub::config {
namespace {

TEST(HubConfEdit, ReplacesAddsAndKeepsComments) {
    const std::string text =
        "# my hub\n[hub]\nhostname = \"h\"\n\n[backup]\n# daily\nkeep = 7   # a week\n"
        "dir = \"/b\"\n\n[tls]\nkeep = 1\n";
    std::string out = set_table_keys(text, "backup", {{"keep", "3"}, {"interval_hours", "6"}});
    EXPECT_EQ(out,
              "# my hub\n[hub]\nhostname = \"h\"\n\n[backup]\n# daily\nkeep = 3\n"
              "dir = \"/b\"\ninterval_hours = 6\n\n[tls]\nkeep = 1\n");
}

TEST(HubConfEdit, AppendsAMissingTable) {
    EXPECT_EQ(set_table_keys("[hub]\nhostname = \"h\"\n", "backup", {{"keep", "2"}}),
              "[hub]\nhostname = \"h\"\n\n[backup]\nkeep = 2\n");
    EXPECT_EQ(set_table_keys("", "backup", {{"keep", "2"}}), "[backup]\nkeep = 2\n");
    // A header with a comment is the table; "[backupx]" is not.
    EXPECT_EQ(set_table_keys("[backupx]\nkeep = 1\n[backup] # b\n", "backup", {{"keep", "2"}}),
              "[backupx]\nkeep = 1\n[backup] # b\nkeep = 2\n");
}

TEST(HubConfEdit, StringLiterals) {
    std::string literal;
    ASSERT_TRUE(toml_string("/a \"b\\c", literal));
    EXPECT_EQ(literal, "\"/a \\\"b\\\\c\"");
    EXPECT_FALSE(toml_string("a\nb", literal));
    EXPECT_FALSE(toml_string(std::string("a\0b", 3), literal));
}

}  // namespace
}  // namespace hub::config
