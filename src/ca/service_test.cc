// service_test.cc -- hub-ca's requests end to end without a socket: passwords, submit,
// approve, reject, revoke, the CRL, the audit log, and each role's refusals.
#include "ca/service.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "ca/der.h"

namespace hub::ca {
namespace {

constexpr std::int64_t now = 1796600000;

std::string fixture(const std::string& name) {
    std::ifstream file(std::string(HUB_CA_TEST_DATA_DIR) + "/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
}

Message request(Kind kind) {
    Message message;
    message.kind = kind;
    return message;
}

class ServiceTest : public testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::path(testing::TempDir()) /
                fmt::format("hub-ca-test-{}-{}.db", getpid(), counter_++);
        std::filesystem::remove(path_);
        auto authority = Authority::create(KeyType::p256, "Hubbox CA test", now, 3650);
        ASSERT_TRUE(authority.has_value()) << authority.error();
        auto service = Service::open(path_.string(), std::move(*authority), ServiceSettings{});
        ASSERT_TRUE(service.has_value()) << service.error();
        service_.emplace(std::move(*service));
    }
    void TearDown() override {
        service_.reset();
        std::filesystem::remove(path_);
    }

    Message ask(Role role, const Message& message) {
        return service_->handle(Caller{role, role == Role::admin ? 0u : 992u}, message, now);
    }
    std::string password_for(const std::string& partner) {
        Message answer = ask(
            Role::admin,
            request(Kind::set_password).set(Field::partner, partner).set(Field::actor, "alice"));
        EXPECT_EQ(answer.kind, Kind::ok) << answer.get_or(Field::message, "");
        return std::string(answer.get_or(Field::body, ""));
    }
    Message submit(const std::string& partner, const std::string& password,
                   const std::string& csr) {
        return ask(Role::enroll, request(Kind::submit)
                                     .set(Field::partner, partner)
                                     .set(Field::password, password)
                                     .set(Field::csr, csr));
    }

    static inline int counter_ = 0;
    std::filesystem::path path_;
    std::optional<Service> service_;
};

TEST_F(ServiceTest, EnrollSubmitsAdminApprovesEnrollFetches) {
    std::string password = password_for("partner2");
    EXPECT_EQ(password.size(), generated_password_bytes);

    Message wrong = submit("partner2", "not-the-password", fixture("rsa2048.csr"));
    ASSERT_EQ(wrong.kind, Kind::refused);
    EXPECT_NE(wrong.get(Field::message).find("unknown partner or wrong enrollment password"),
              std::string::npos);
    Message unknown = submit("nobody", password, fixture("rsa2048.csr"));
    EXPECT_EQ(unknown.get(Field::message), wrong.get(Field::message)) << "same for both";
    EXPECT_EQ(refusal_code(wrong), Refusal::bad_credentials);
    EXPECT_EQ(refusal_code(unknown), Refusal::bad_credentials);
    Message weak = submit("partner2", password, fixture("rsa1024.der"));
    ASSERT_EQ(weak.kind, Kind::refused);
    EXPECT_NE(weak.get(Field::message).find("RSA 1024"), std::string::npos);
    EXPECT_EQ(refusal_code(weak), Refusal::invalid);

    Message submitted = submit("partner2", password, fixture("rsa2048.csr"));
    ASSERT_EQ(submitted.kind, Kind::ok) << submitted.get_or(Field::message, "");
    std::string id = submitted.get(Field::request_id);

    Message status = ask(Role::enroll, request(Kind::status)
                                           .set(Field::request_id, id)
                                           .set(Field::partner, "partner2")
                                           .set(Field::password, password));
    EXPECT_EQ(status.get(Field::message), "pending: waiting for the hub administrator");
    Message no_credentials = ask(Role::enroll, request(Kind::status).set(Field::request_id, id));
    EXPECT_EQ(no_credentials.kind, Kind::refused);
    std::string other = password_for("partner1");
    Message other_partner = ask(Role::enroll, request(Kind::status)
                                                  .set(Field::request_id, id)
                                                  .set(Field::partner, "partner1")
                                                  .set(Field::password, other));
    EXPECT_EQ(other_partner.get(Field::message), "no request " + id + " for this partner");

    Message listed = ask(Role::admin, request(Kind::list_requests).set(Field::format, "text"));
    EXPECT_NE(listed.get(Field::body).find("pending   partner2"), std::string::npos)
        << listed.get(Field::body);

    Message approved = ask(
        Role::admin, request(Kind::approve).set(Field::request_id, id).set(Field::actor, "alice"));
    ASSERT_EQ(approved.kind, Kind::ok) << approved.get_or(Field::message, "");
    std::string serial = approved.get(Field::serial);
    EXPECT_EQ(serial.size(), 32u);
    Message again = ask(
        Role::admin, request(Kind::approve).set(Field::request_id, id).set(Field::actor, "alice"));
    EXPECT_EQ(again.get(Field::message), "request " + id + " is approved already");
    Message late_reject = ask(Role::admin, request(Kind::reject)
                                               .set(Field::request_id, id)
                                               .set(Field::reason, "no")
                                               .set(Field::actor, "alice"));
    EXPECT_EQ(late_reject.get(Field::message), "request " + id + " is approved already");

    Message pem = ask(Role::enroll, request(Kind::fetch_certificate)
                                        .set(Field::request_id, id)
                                        .set(Field::format, "pem")
                                        .set(Field::partner, "partner2")
                                        .set(Field::password, password));
    ASSERT_EQ(pem.kind, Kind::ok) << pem.get_or(Field::message, "");
    const std::string& chain = pem.get(Field::body);
    EXPECT_EQ(chain.find("-----BEGIN CERTIFICATE-----"), 0u);
    EXPECT_NE(chain.rfind("-----BEGIN CERTIFICATE-----"), 0u) << "leaf then CA";
    Message der =
        ask(Role::admin,
            request(Kind::fetch_certificate).set(Field::request_id, id).set(Field::format, "der"));
    EXPECT_EQ(static_cast<std::uint8_t>(der.get(Field::body)[0]), 0x30);
    Message p7 = ask(
        Role::admin,
        request(Kind::fetch_certificate).set(Field::request_id, id).set(Field::format, "pkcs7"));
    EXPECT_GT(p7.get(Field::body).size(), der.get(Field::body).size());

    Message listed_certs =
        ask(Role::admin, request(Kind::list_certificates).set(Field::format, "json"));
    EXPECT_NE(listed_certs.get(Field::body).find("\"serial\":\"" + serial + "\""),
              std::string::npos);
    EXPECT_NE(listed_certs.get(Field::body).find("\"revoked\":false"), std::string::npos);
}

TEST_F(ServiceTest, RejectAndRevokeAreAuditedAndTheCrlFollows) {
    auto first = service_->crl_if_due(now);
    ASSERT_TRUE(first.has_value() && first->has_value()) << "the first CRL is made at once";
    auto second = service_->crl_if_due(now + 60);
    ASSERT_TRUE(second.has_value());
    EXPECT_FALSE(second->has_value()) << "not due a minute later";
    auto half = service_->crl_if_due(now + 4 * 86400);
    ASSERT_TRUE(half.has_value());
    EXPECT_TRUE(half->has_value()) << "due when less than half its validity remains";

    std::string password = password_for("partner2");
    std::string id_a = submit("partner2", password, fixture("rsa2048.csr")).get(Field::request_id);
    std::string id_b = submit("partner2", password, fixture("p256.der")).get(Field::request_id);
    Message empty_reason = ask(Role::admin, request(Kind::reject)
                                                .set(Field::request_id, id_a)
                                                .set(Field::reason, "")
                                                .set(Field::actor, "alice"));
    EXPECT_EQ(empty_reason.get(Field::message), "the reason must be 1..256 characters");
    Message rejected = ask(Role::admin, request(Kind::reject)
                                            .set(Field::request_id, id_a)
                                            .set(Field::reason, "wrong host name")
                                            .set(Field::actor, "alice"));
    ASSERT_EQ(rejected.kind, Kind::ok);
    Message status = ask(Role::admin, request(Kind::status).set(Field::request_id, id_a));
    EXPECT_EQ(status.get(Field::message), "rejected: wrong host name");

    std::string serial =
        ask(Role::admin,
            request(Kind::approve).set(Field::request_id, id_b).set(Field::actor, "alice"))
            .get(Field::serial);
    Message bad_reason = ask(Role::admin, request(Kind::revoke)
                                              .set(Field::serial, serial)
                                              .set(Field::reason, "stolen")
                                              .set(Field::actor, "alice"));
    EXPECT_NE(bad_reason.get(Field::message).find("use unspecified, keyCompromise"),
              std::string::npos);
    Message unknown = ask(Role::admin, request(Kind::revoke)
                                           .set(Field::serial, "abcd")
                                           .set(Field::reason, "keyCompromise")
                                           .set(Field::actor, "alice"));
    EXPECT_EQ(unknown.get(Field::message), "no certificate abcd (hubctl ca list shows them)");
    Message revoked = ask(Role::admin, request(Kind::revoke)
                                           .set(Field::serial, serial)
                                           .set(Field::reason, "keyCompromise")
                                           .set(Field::actor, "alice"));
    ASSERT_EQ(revoked.kind, Kind::ok) << revoked.get_or(Field::message, "");
    auto after = service_->crl_if_due(now + 61);
    ASSERT_TRUE(after.has_value() && after->has_value()) << "a revocation makes a new CRL";
    der::Bytes serial_bytes;
    ASSERT_TRUE(der::from_hex(serial, serial_bytes));
    EXPECT_NE(
        std::search((*after)->begin(), (*after)->end(), serial_bytes.begin(), serial_bytes.end()),
        (*after)->end());
    Message crl = ask(Role::hubd, request(Kind::fetch_crl).set(Field::format, "pem"));
    EXPECT_EQ(crl.get(Field::body).find("-----BEGIN X509 CRL-----"), 0u);

    std::string log =
        ask(Role::admin, request(Kind::audit).set(Field::format, "text")).get(Field::body);
    for (const char* entry :
         {"alice (uid 0) enrollment password partner:partner2", "enroll:partner2 request submit",
          "alice (uid 0) request reject request:", "alice (uid 0) certificate issue request:",
          "alice (uid 0) certificate revoke certificate:"}) {
        EXPECT_NE(log.find(entry), std::string::npos) << entry << " in\n" << log;
    }
    EXPECT_NE(log.find("\"reason\":\"wrong host name\""), std::string::npos);
    EXPECT_EQ(log.find(password), std::string::npos) << "the password is never audited";
}

TEST_F(ServiceTest, EachRoleIsRefusedWhatItMayNotAsk) {
    Message approve = request(Kind::approve).set(Field::request_id, "1").set(Field::actor, "x");
    EXPECT_EQ(ask(Role::enroll, approve).get(Field::message),
              "the enroll role may not approve (uid 992)");
    EXPECT_EQ(ask(Role::hubd, approve).kind, Kind::refused);
    EXPECT_EQ(refusal_code(ask(Role::hubd, approve)), Refusal::forbidden);
    EXPECT_EQ(refusal_code(ask(Role::admin, approve)), Refusal::not_found) << "no request 1";
    Message password = request(Kind::set_password).set(Field::partner, "p").set(Field::actor, "x");
    EXPECT_EQ(ask(Role::enroll, password).kind, Kind::refused);
    Message submit_request = request(Kind::submit)
                                 .set(Field::partner, "p")
                                 .set(Field::password, "x")
                                 .set(Field::csr, "x");
    EXPECT_EQ(ask(Role::hubd, submit_request).get(Field::message),
              "the hubd role may not submit (uid 992)");
    EXPECT_EQ(ask(Role::none, request(Kind::fetch_ca).set(Field::format, "pem")).kind,
              Kind::refused);
    EXPECT_EQ(ask(Role::hubd, request(Kind::fetch_ca).set(Field::format, "pem")).kind, Kind::ok);
}

TEST_F(ServiceTest, PendingRequestsPerPartnerAreBounded) {
    std::string password = password_for("partner2");
    std::string csr = fixture("p256.der");
    for (std::size_t i = 0; i < pending_per_partner_max; i++) {
        ASSERT_EQ(submit("partner2", password, csr).kind, Kind::ok);
    }
    Message over = submit("partner2", password, csr);
    EXPECT_NE(over.get(Field::message).find("already has 10 requests waiting"), std::string::npos);
}

}  // namespace
}  // namespace hub::ca
