// service.h -- hub-ca's request handling: the store, the authority and the audit log.
//
// A Service owns hub-ca's database (requests, certificates, enrollment passwords, its
// audit log, the current CRL) and the Authority. handle() answers one decoded request for
// a caller whose role the socket code has established; it makes no socket or file calls
// other than SQLite's on its own database, so tests drive it directly.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "ca/authority.h"
#include "ca/limits.h"
#include "ca/protocol.h"
#include "ca/roles.h"

namespace hub::ca {

// A refusal on its way to an answer: the code for programs, the sentence for people.
struct Refused {
    Refusal code = Refusal::unavailable;
    std::string text;
};

struct ServiceSettings {
    std::uint32_t validity_days = validity_days_default;
    std::uint32_t crl_validity_days = crl_validity_days_default;
};

struct Caller {
    Role role = Role::none;
    std::uint32_t uid = 0;
};

class Service {
public:
    // Opens (creating if missing) the database at db_path, schema version checked.
    [[nodiscard]] static Result<Service, std::string> open(const std::string& db_path,
                                                           Authority authority,
                                                           ServiceSettings settings);
    Service(Service&& other) noexcept;
    Service& operator=(Service&& other) noexcept;
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;
    ~Service();

    // The answer to one request: ok with its fields, or refused with a message. A role
    // that may not send the kind is refused before anything is read.
    Message handle(const Caller& caller, const Message& request, std::int64_t now_unix_s);

    // A new CRL when one is due (none yet, a revocation since the last, or less than half
    // of its validity left), stored as the current one; nullopt when the current stands.
    [[nodiscard]] Result<std::optional<Bytes>, std::string> crl_if_due(std::int64_t now_unix_s);

    // Issues a certificate for a request hub-ca made itself (the hub's own listener
    // certificate): recorded and audited like an approved partner request.
    [[nodiscard]] Result<Issued, std::string> issue_own(const CheckedRequest& request,
                                                        std::string_view actor,
                                                        std::int64_t now_unix_s);

    const Authority& authority() const { return authority_; }

private:
    Service(sqlite3* db, Authority authority, ServiceSettings settings);
    Message dispatch(const Caller& caller, const Message& request, std::int64_t now);
    Message submit(const Message& request, std::int64_t now);
    Message status(const Caller& caller, const Message& request);
    Message fetch_certificate(const Caller& caller, const Message& request);
    Message fetch_crl(const Message& request);
    Message fetch_ca(const Message& request);
    Message list_requests(const Message& request);
    Message list_certificates(const Message& request);
    Message approve(const Caller& caller, const Message& request, std::int64_t now);
    Message reject(const Caller& caller, const Message& request, std::int64_t now);
    Message revoke(const Caller& caller, const Message& request, std::int64_t now);
    Message set_password(const Caller& caller, const Message& request, std::int64_t now);
    Message audit(const Message& request);

    bool partner_password_ok(std::string_view partner, std::string_view password);
    Result<std::int64_t, Refused> store_request(std::string_view partner,
                                                const CheckedRequest& request, std::int64_t now);
    Result<std::string, Refused> issue_request(std::int64_t id, std::string_view actor,
                                               std::int64_t now);
    Result<void, std::string> record_certificate(std::int64_t id, std::string_view partner,
                                                 const CheckedRequest& checked,
                                                 const Issued& issued, std::string_view actor,
                                                 std::int64_t now);
    Result<void, std::string> audit_change(std::string_view action, std::string_view subject,
                                           std::string_view before, std::string_view after,
                                           std::string_view actor, std::int64_t now);
    std::string error_text(std::string_view doing);

    sqlite3* db_ = nullptr;
    Authority authority_;
    ServiceSettings settings_;
    bool crl_stale_ = false;
};

// "alice (uid 1000)": the actor a request names, with the uid the kernel reported, so the
// audit log cannot be made to blame somebody else entirely.
std::string audit_actor(std::string_view named, std::uint32_t uid);

}  // namespace hub::ca
