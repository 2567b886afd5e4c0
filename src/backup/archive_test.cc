// archive_test.cc -- the manifest's strict format and the restore checks on it, and the
// member path rules a reader holds every archive to.
#include "backup/archive.h"

#include <gtest/gtest.h>

#include "directory/directory.h"

namespace hub::backup {
namespace {

Manifest sample() {
    Manifest manifest;
    manifest.hubbox_version = "0.1";
    manifest.directory_schema = 1;
    manifest.host = "hub.example";
    manifest.created_unix_s = 1765100000;
    manifest.parts = {Part::config, Part::pki, Part::queue};
    manifest.members = {
        {"config/hub.conf", std::string(64, 'a'), 120},
        {"queue/shard-0/", std::string(64, 'b'), 0},
        {"queue/shard-0/00000001.seg", std::string(64, 'c'), 4096},
    };
    return manifest;
}

TEST(Manifest, RoundTrips) {
    std::string text = encode_manifest(sample());
    EXPECT_NE(text.find("created 1765100000 2025-12-07T09:33:20Z\n"), std::string::npos) << text;
    auto decoded = decode_manifest(text);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(decoded->host, "hub.example");
    EXPECT_EQ(decoded->directory_schema, 1);
    ASSERT_EQ(decoded->members.size(), 3u);
    EXPECT_EQ(decoded->members[2].path, "queue/shard-0/00000001.seg");
    EXPECT_EQ(decoded->members[2].size_bytes, 4096u);
    EXPECT_EQ(decoded->parts.size(), 3u);
    EXPECT_EQ(check_restorable(*decoded), "");
}

TEST(Manifest, MalformedIsRefused) {
    std::string good = encode_manifest(sample());
    auto replace = [&](std::string_view from, std::string_view to) {
        std::string text = good;
        text.replace(text.find(from), from.size(), to);
        return text;
    };
    for (const std::string& bad :
         {good.substr(0, good.size() - 4), good + "member x\n", replace("hubbox-backup 1", "x 1"),
          replace("config/hub.conf", "../etc/passwd"), replace("config/hub.conf", "/etc/passwd"),
          replace("config/hub.conf", "config/../../x"), replace("parts config", "parts all"),
          replace(std::string(64, 'a'), "abc"),
          replace("queue/shard-0/00000001.seg", "config/hub.conf"), replace("host", "colour")}) {
        EXPECT_FALSE(decode_manifest(bad).has_value()) << bad;
    }
}

TEST(Manifest, NewerVersionsAreRefusedWithTheReason) {
    auto newer = decode_manifest("hubbox-backup 2\nsomething-new yes\n");
    ASSERT_TRUE(newer.has_value()) << newer.error();
    EXPECT_NE(check_restorable(*newer).find("made by a newer Hubbox"), std::string::npos);
    Manifest schema = sample();
    schema.directory_schema = directory::current_schema_version() + 1;
    EXPECT_NE(check_restorable(schema).find("directory schema"), std::string::npos);
}

TEST(MemberPath, OnlyKnownPartsAndNoEscapes) {
    EXPECT_TRUE(member_path_valid("MANIFEST"));
    EXPECT_TRUE(member_path_valid("pki/ca-state/ca.key"));
    EXPECT_TRUE(member_path_valid("network/"));
    EXPECT_FALSE(member_path_valid("etc/shadow"));
    EXPECT_FALSE(member_path_valid("network/../../etc"));
    EXPECT_FALSE(member_path_valid("network//x"));
    EXPECT_FALSE(member_path_valid("/network/x"));
    EXPECT_FALSE(member_path_valid("network/a\nb"));
    EXPECT_EQ(part_of("directory/directory.db"), Part::config);
    EXPECT_EQ(part_of("snmp/snmpd.conf"), Part::config);
    EXPECT_EQ(part_of("pki/tls/key.pem"), Part::pki);
}

}  // namespace
}  // namespace hub::backup
