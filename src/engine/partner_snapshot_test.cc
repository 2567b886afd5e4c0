// partner_snapshot_test.cc -- building and publishing partner snapshots.
//
// Method: snapshots are built from the test CA's files read into memory (as hubd reads its
// own before the privilege drop) and published on a board the way the supervisor does;
// the checks are on what a shard would take. No sockets, no threads.
#include "engine/partner_snapshot.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::engine {
namespace {

std::string data_path(std::string_view file) {
    return std::string(HUB_TLS_TEST_DATA_DIR) + "/" + std::string(file);
}

OutboundKeyMaterial keys() {
    config::HubConfig config;
    config.certificate_path = data_path("client.pem");
    config.private_key_path = data_path("client.key");
    config.client_ca_path = data_path("ca.pem");
    auto read = read_outbound_key_material(config);
    EXPECT_TRUE(read) << (read ? "" : read.error());
    return read ? *read : OutboundKeyMaterial{};
}

policy::Partner partner(std::string name, std::string domain, std::string outbound_name = "") {
    policy::Partner made;
    made.name = std::move(name);
    made.domains = {domain};
    made.outbound_host = "192.0.2.1";
    made.outbound_name = outbound_name.empty() ? domain : outbound_name;
    made.client_cn = domain;
    return made;
}

TEST(PartnerSnapshot, KeyMaterialErrorsNameTheFile) {
    config::HubConfig config;
    config.certificate_path = data_path("client.pem");
    config.private_key_path = data_path("no-such.key");
    auto read = read_outbound_key_material(config);
    ASSERT_FALSE(read);
    EXPECT_NE(read.error().find("no-such.key: cannot open"), std::string::npos) << read.error();
}

// One context per partner; a partner whose outbound name and pin are unchanged keeps its
// context across a reload (by name, whatever its position); a changed name gets a new one.
TEST(PartnerSnapshot, ContextsPerPartnerAndKeptWhenUnchanged) {
    OutboundKeyMaterial material = keys();
    auto first =
        build_snapshot("lgolhub.net", {partner("a", "a.example"), partner("b", "b.example")},
                       material, 1, nullptr);
    ASSERT_TRUE(first) << first.error();
    ASSERT_EQ((*first)->client_contexts.size(), 2u);
    EXPECT_NE((*first)->client_contexts[0], nullptr);
    EXPECT_EQ((*first)->client_contexts[0]->config().server_name, "a.example");
    EXPECT_TRUE((*first)->client_contexts[0]->config().private_key_pem.empty());  // Not copied.

    auto second =
        build_snapshot("lgolhub.net",
                       {partner("c", "c.example"), partner("b", "b.example", "mx.b.example"),
                        partner("a", "a.example")},
                       material, 2, first->get());
    ASSERT_TRUE(second) << second.error();
    const auto& contexts = (*second)->client_contexts;
    ASSERT_EQ(contexts.size(), 3u);
    EXPECT_EQ(contexts[2], (*first)->client_contexts[0]);  // a: unchanged, kept.
    EXPECT_NE(contexts[1], (*first)->client_contexts[1]);  // b: new outbound name.
    EXPECT_EQ(contexts[1]->config().server_name, "mx.b.example");
    EXPECT_EQ(contexts[0]->config().server_name, "c.example");  // c: new partner.
}

TEST(PartnerSnapshot, BadPinNamesThePartner) {
    policy::Partner pinned = partner("p", "p.example");
    pinned.outbound_pin_sha256 = "not-hex";
    auto built = build_snapshot("lgolhub.net", {pinned}, keys(), 1, nullptr);
    ASSERT_FALSE(built);
    EXPECT_NE(built.error().find("partner p: outbound TLS: "), std::string::npos) << built.error();
}

// What a shard sees: the generation moves only when a snapshot is published, and the
// snapshot it then takes stays valid after the board moves on.
TEST(PartnerBoard, ShardsTakeTheNewestAndKeepWhatTheyHold) {
    OutboundKeyMaterial material = keys();
    PartnerBoard board;
    EXPECT_EQ(board.generation(), 0u);
    auto first = build_snapshot("lgolhub.net", {partner("a", "a.example")}, material, 1, nullptr);
    ASSERT_TRUE(first);
    board.publish(*first);
    EXPECT_EQ(board.generation(), 1u);
    std::shared_ptr<const PartnerSnapshot> held = board.current();  // A connection's.
    auto second = build_snapshot("lgolhub.net", {}, material, 2, held.get());
    ASSERT_TRUE(second);
    board.publish(*second);
    EXPECT_EQ(board.generation(), 2u);
    EXPECT_TRUE(board.current()->table->partners().empty());
    ASSERT_EQ(held->table->partners().size(), 1u);
    EXPECT_EQ(held->table->partners()[0].name, "a");
}

}  // namespace
}  // namespace hub::engine
