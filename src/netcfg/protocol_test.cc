// protocol_test.cc -- frames and listing items: what encodes decodes, what is malformed
// is refused with a sentence.
#include "netcfg/protocol.h"

#include <gtest/gtest.h>

#include "netcfg/limits.h"
#include "netcfg/listing.h"

namespace hub::netcfg {
namespace {

std::vector<std::uint8_t> body_of(const Message& message) {
    auto frame = encode(message);
    return std::vector<std::uint8_t>(frame.begin() + frame_header_bytes, frame.end());
}

TEST(Protocol, RequestsRoundTrip) {
    Message message = request(Kind::set_service_access);
    message.set(Field::service, "ssh")
        .add(Field::source, "192.0.2.0/24")
        .add(Field::source, "2001:db8::/32")
        .set(Field::session, "192.0.2.7 50000 192.0.2.10 22");
    auto frame = encode(message);
    auto length = body_length(std::span(frame).first(frame_header_bytes), Direction::request);
    ASSERT_TRUE(length);
    EXPECT_EQ(*length, frame.size() - frame_header_bytes);
    auto decoded = decode(body_of(message), Direction::request);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(decoded->kind, Kind::set_service_access);
    EXPECT_EQ(decoded->all(Field::source),
              (std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32"}));
    EXPECT_EQ(decoded->get(Field::service), "ssh");
}

TEST(Protocol, AnswersRoundTrip) {
    Message answer = ok_answer("applied");
    answer.set(Field::token, "0123456789abcdef").set(Field::seconds, "60");
    answer.set(Field::text, "version 1\nssh off\n");
    auto decoded = decode(body_of(answer), Direction::answer);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(decoded->get(Field::token), "0123456789abcdef");
    EXPECT_EQ(decoded->get(Field::text), "version 1\nssh off\n");
    auto refused =
        decode(body_of(refusal(ErrorCode::conflict, "a route\x01 exists")), Direction::answer);
    ASSERT_TRUE(refused) << refused.error();
    EXPECT_EQ(parse_error_code(refused->get(Field::code)), ErrorCode::conflict);
    EXPECT_EQ(refused->get(Field::message), "a route? exists");
}

TEST(Protocol, RefusesMalformedBodies) {
    auto with = [](std::vector<std::uint8_t> fields, std::uint8_t kind) {
        std::vector<std::uint8_t> body = {protocol_version, kind};
        body.insert(body.end(), fields.begin(), fields.end());
        return body;
    };
    struct Case {
        std::vector<std::uint8_t> body;
        std::string_view error_part;
    };
    const Case cases[] = {
        {{}, "must hold a version and a kind"},
        {{2, 1}, "protocol version 2 is not spoken here; hub-netcfg speaks 1"},
        {with({}, 0), "unknown request kind 0"},
        {with({}, 21), "unknown request kind 21"},
        {with({}, 0x80), "unknown request kind 128"},
        {with({1, 0}, 7), "a field header is cut short"},
        {with({99, 0, 0}, 7), "unknown field 99"},
        {with({1, 0, 4, 'e', 't', 'h'}, 7), "field interface is longer than the frame"},
        {with({1, 0, 1, 'a', 1, 0, 1, 'b'}, 7), "field interface given twice"},
        {with({4, 0, 2, '1', '2'}, 7), "set_link takes no field mtu"},
        {with({1, 0, 1, 'a'}, 7), "set_link needs the field state"},
        {with({1, 0, 2, 'a', '\n', 3, 0, 2, 'u', 'p'}, 7), "characters that are not allowed"},
    };
    for (const Case& c : cases) {
        auto decoded = decode(c.body, Direction::request);
        ASSERT_FALSE(decoded) << c.error_part;
        EXPECT_NE(decoded.error().find(c.error_part), std::string::npos) << decoded.error();
    }
}

TEST(Protocol, ListFieldsAreBounded) {
    std::vector<std::uint8_t> body = {protocol_version,
                                      static_cast<std::uint8_t>(Kind::set_resolvers)};
    for (std::size_t i = 0; i <= list_items_max; i++) {
        body.insert(body.end(), {7, 0, 1, '1'});
    }
    auto decoded = decode(body, Direction::request);
    ASSERT_FALSE(decoded);
    EXPECT_NE(decoded.error().find("more than 64 times"), std::string::npos) << decoded.error();
}

TEST(Protocol, HeaderBounds) {
    std::uint8_t too_big[4] = {0, 2, 0, 0};  // 128 KiB: a request is smaller.
    EXPECT_FALSE(body_length(too_big, Direction::request));
    EXPECT_TRUE(body_length(too_big, Direction::answer));
    std::uint8_t too_small[4] = {0, 0, 0, 1};
    EXPECT_FALSE(body_length(too_small, Direction::answer));
}

TEST(Listing, ItemsRoundTrip) {
    InterfaceInfo interface {
        "eth0", "52:54:00:12:34:56", true, true, "up", 1500, {
            *parse_prefix("192.0.2.10/24"), *parse_prefix("fe80::1/64")
        }
    };
    auto parsed = parse_interface_item(format_item(interface));
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(*parsed, interface);
    InterfaceInfo bare{"lo", "", false, false, "unknown", 65536, {}};
    EXPECT_EQ(format_item(bare), "interface lo - down no-carrier unknown 65536");
    EXPECT_EQ(*parse_interface_item(format_item(bare)), bare);

    RouteInfo route{*parse_destination("default", Family::ipv4), *parse_address("192.0.2.1"),
                    "eth0", "static", true};
    EXPECT_EQ(format_item(route), "route default via 192.0.2.1 dev eth0 proto static managed");
    EXPECT_EQ(*parse_route_item(format_item(route)), route);
    RouteInfo connected{*parse_destination("192.0.2.0/24", Family::ipv4), std::nullopt, "eth0",
                        "kernel", false};
    EXPECT_EQ(*parse_route_item(format_item(connected)), connected);
    RouteInfo point_to_point{*parse_destination("default", Family::ipv6), std::nullopt, "wg0",
                             "boot", false};
    EXPECT_EQ(format_item(point_to_point), "route ::/0 via - dev wg0 proto boot other");
    EXPECT_EQ(*parse_route_item(format_item(point_to_point)), point_to_point);

    PingReply reply{3, 1234};
    EXPECT_EQ(*parse_ping_item(format_item(reply)), reply);
    EXPECT_FALSE(parse_ping_item("reply 1"));
    EXPECT_FALSE(parse_route_item("route default via - dev - proto x other"));
    EXPECT_FALSE(parse_interface_item("interface eth0 - sideways carrier up 1500"));
}

TEST(Listing, InterfaceNames) {
    EXPECT_EQ(interface_name_problem("eth0"), "");
    EXPECT_EQ(interface_name_problem("enp0s31f6"), "");
    EXPECT_NE(interface_name_problem(""), "");
    EXPECT_NE(interface_name_problem("a/b"), "");
    EXPECT_NE(interface_name_problem("eth0:1"), "");
    EXPECT_NE(interface_name_problem("sixteen-chars-xx"), "");
    EXPECT_NE(interface_name_problem(".."), "");
}

}  // namespace
}  // namespace hub::netcfg
