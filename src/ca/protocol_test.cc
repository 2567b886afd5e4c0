// protocol_test.cc -- frames round-trip, and each malformed frame is refused with a reason;
// the role table answers only what each role may ask.
#include "ca/protocol.h"

#include <gtest/gtest.h>

#include "ca/limits.h"
#include "ca/roles.h"

namespace hub::ca {
namespace {

std::vector<std::uint8_t> body_of(const Message& message) {
    std::vector<std::uint8_t> frame = encode(message);
    return std::vector<std::uint8_t>(frame.begin() + frame_header_bytes, frame.end());
}

TEST(Protocol, RoundTripsARequest) {
    Message submit;
    submit.kind = Kind::submit;
    submit.set(Field::partner, "partner2")
        .set(Field::password, "s3cret")
        .set(Field::csr, std::string("\x30\x00", 2));
    std::vector<std::uint8_t> frame = encode(submit);
    auto length = body_length(std::span(frame).first(frame_header_bytes), Direction::request);
    ASSERT_TRUE(length.has_value());
    EXPECT_EQ(*length, frame.size() - frame_header_bytes);
    auto decoded = decode(body_of(submit), Direction::request);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(decoded->kind, Kind::submit);
    EXPECT_EQ(decoded->get(Field::partner), "partner2");
    EXPECT_EQ(decoded->get(Field::csr), std::string("\x30\x00", 2));
    EXPECT_FALSE(decoded->has(Field::actor));
}

TEST(Protocol, RefusalsCarryATypedCode) {
    Message refused = refusal(Refusal::not_found, "no request 7");
    auto decoded = decode(body_of(refused), Direction::answer);
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(refusal_code(*decoded), Refusal::not_found);
    EXPECT_EQ(decoded->get(Field::message), "no request 7");
    EXPECT_EQ(refusal_code(ok_answer()), Refusal::malformed);
    // A refusal without a code, or with one outside the list, does not decode.
    std::vector<std::uint8_t> no_code = {2, 0x81, 9, 0, 0, 0, 1, 'x'};
    auto missing = decode(no_code, Direction::answer);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), "refused needs the field code");
    for (std::uint8_t value : {std::uint8_t{0}, std::uint8_t{refusal_max + 1}}) {
        std::vector<std::uint8_t> bad = {2, 0x81, 9, 0, 0, 0, 1, 'x', 11, 0, 0, 0, 1, value};
        auto out_of_range = decode(bad, Direction::answer);
        ASSERT_FALSE(out_of_range.has_value());
        EXPECT_EQ(out_of_range.error(), "field code has characters that are not allowed");
    }
    for (std::uint8_t value = 1; value <= refusal_max; value++) {
        EXPECT_FALSE(refusal_name(static_cast<Refusal>(value)).empty());
    }
}

TEST(Protocol, RefusesMalformedFrames) {
    struct Case {
        std::vector<std::uint8_t> body;
        const char* message;
    };
    const Case cases[] = {
        {{1}, "a frame must hold a version and a kind"},
        {{1, 5, 7, 0, 0, 0, 3, 'p', 'e', 'm'},
         "protocol version 1 is not spoken here; hub-ca speaks 2"},
        {{2, 99}, "unknown request kind 99"},
        {{2, 5}, "fetch-ca needs the field format"},
        {{2, 5, 7, 0, 0, 0, 3, 'p', 'e', 'm', 7, 0, 0, 0, 3, 'd', 'e', 'r'},
         "field format given twice"},
        {{2, 5, 1, 0, 0, 0, 1, 'x'}, "fetch-ca takes no field partner"},
        {{2, 5, 7, 0, 0, 0, 9, 'p'}, "field format is longer than the frame"},
        {{2, 5, 7, 0, 0}, "a field header is cut short"},
        {{2, 5, 42, 0, 0, 0, 0}, "unknown field 42"},
        {{2, 5, 7, 0, 0, 0, 2, 'p', '\n'}, "field format has characters that are not allowed"},
        {{2, 6, 7, 0, 0, 4, 1}, "field format is 1025 bytes; at most 1024"},
    };
    for (const Case& bad : cases) {
        std::vector<std::uint8_t> body = bad.body;
        if (body.size() == 7 && body[1] == 6) {
            body.resize(7 + 1025, 'x');
        }
        auto decoded = decode(body, Direction::request);
        ASSERT_FALSE(decoded.has_value()) << bad.message;
        EXPECT_EQ(decoded.error(), bad.message);
    }
    std::uint8_t too_big[4] = {0, 1, 0, 0};
    EXPECT_NE(body_length(too_big, Direction::request).error().find("frames are 2..65532 bytes"),
              std::string::npos);
    EXPECT_EQ(*body_length(too_big, Direction::answer), 65536u) << "answers may be larger";
    std::uint8_t too_small[4] = {0, 0, 0, 1};
    EXPECT_FALSE(body_length(too_small, Direction::request).has_value());
    std::vector<std::uint8_t> answer = {2, 0x80};
    EXPECT_EQ(decode(answer, Direction::request).error(), "unknown request kind 128");
    std::vector<std::uint8_t> request = {2, 5, 7, 0, 0, 0, 3, 'p', 'e', 'm'};
    EXPECT_EQ(decode(request, Direction::answer).error(), "unknown answer kind 5");
}

TEST(Protocol, RefusesARepeatedFieldInAnAnswer) {
    std::vector<std::uint8_t> body = {2, 0x80};
    for (int i = 0; i < 3; i++) {
        body.insert(body.end(), {9, 0, 0, 0, 0});
    }
    EXPECT_EQ(decode(body, Direction::answer).error(), "field message given twice");
}

TEST(Roles, EachRoleMayAskOnlyItsKinds) {
    RoleIds ids;
    ids.self_uid = 991;
    ids.admin_gid = 50;
    ids.enroll_uid = 992;
    ids.hubd_uid = 990;
    std::uint32_t groups[] = {10, 50};
    EXPECT_EQ(role_of({0, 0, {}}, ids), Role::admin);
    EXPECT_EQ(role_of({991, 991, {}}, ids), Role::admin);
    EXPECT_EQ(role_of({1000, 1000, groups}, ids), Role::admin);
    EXPECT_EQ(role_of({1001, 50, {}}, ids), Role::admin);
    EXPECT_EQ(role_of({992, 50, groups}, ids), Role::enroll) << "service account, not admin";
    EXPECT_EQ(role_of({990, 990, {}}, ids), Role::hubd);
    EXPECT_EQ(role_of({1002, 1002, {}}, ids), Role::none);

    for (Kind kind : {Kind::approve, Kind::reject, Kind::revoke, Kind::list_requests,
                      Kind::list_certificates, Kind::set_password, Kind::audit}) {
        EXPECT_TRUE(role_allows(Role::admin, kind));
        EXPECT_FALSE(role_allows(Role::enroll, kind)) << kind_name(kind);
        EXPECT_FALSE(role_allows(Role::hubd, kind)) << kind_name(kind);
        EXPECT_FALSE(role_allows(Role::none, kind)) << kind_name(kind);
    }
    for (Kind kind : {Kind::submit, Kind::status, Kind::fetch_certificate}) {
        EXPECT_TRUE(role_allows(Role::enroll, kind));
        EXPECT_FALSE(role_allows(Role::hubd, kind)) << kind_name(kind);
    }
    for (Kind kind : {Kind::fetch_crl, Kind::fetch_ca}) {
        EXPECT_TRUE(role_allows(Role::enroll, kind));
        EXPECT_TRUE(role_allows(Role::hubd, kind));
        EXPECT_FALSE(role_allows(Role::none, kind));
    }
    EXPECT_FALSE(role_allows(Role::admin, Kind::ok));
}

}  // namespace
}  // namespace hub::ca
