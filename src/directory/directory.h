// directory.h -- the partner directory: an SQLite database of partners, their domains and
// connectors, and an audit log of every change.
//
// hubctl writes it, one transaction per command; hubd reads it at start and on reload
// and turns the active partners into an immutable policy::PartnerTable (snapshot()).
// The schema is versioned with PRAGMA user_version and brought up to date on open by an
// ordered list of migrations (schema.cc); a database from a newer build is refused.
// See docs/DIRECTORY.md for the schema, the commands and the reload semantics.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "directory/admins.h"
#include "directory/listener_certificates.h"
#include "directory/record.h"
#include "directory/tls_endpoints.h"
#include "directory/tls_failures.h"
#include "policy/partners.h"

namespace hub::directory {

enum class OpenMode {
    existing,  // Refuse a missing file (hubd, read commands).
    create,    // Create it, with the current schema (write commands).
    // hubd's reload, after the privilege drop: SQLITE_OPEN_READONLY, never migrates (the
    // open at start did) and refuses a schema other than this build's. SQLite then reads
    // a WAL database through a read-only -shm, or without one when no writer has it open.
    read_only,
};

struct EnginePartners {
    std::vector<policy::Partner> active;
    std::vector<policy::Partner> held;  // Pending or suspended.
};

struct AuditEntry {
    std::int64_t id = 0;
    std::int64_t at_unix_s = 0;
    std::string actor;
    std::string action;   // "partner add", "domain remove", "admin add", ...
    std::string subject;  // The partner's name, or "admin:<name>".
    std::string before;   // JSON, or "" when the partner did not exist.
    std::string after;    // JSON, or "" when it was removed.
};

enum class AdminChange { add, passwd, remove };

// "" if actor (who makes a change, for the audit log) is 1..actor_bytes_max printable
// characters without spaces, else what to fix.
std::string check_actor(std::string_view actor);

// What a write does to one partner: given the stored record (nullopt: none by that name),
// leaves the record it should become (nullopt: remove it), or returns what to fix.
using PartnerEdit = std::function<std::string(std::optional<PartnerRecord>& record)>;

class Directory {
public:
    // Opens (and migrates) the database; the error names the file and what to do.
    [[nodiscard]] static Result<Directory, std::string> open(const std::string& path,
                                                             OpenMode mode);
    Directory(Directory&& other) noexcept;
    Directory& operator=(Directory&& other) noexcept;
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;
    ~Directory();
    // Ends the connection now (the last one checkpoints the WAL); nothing may be called
    // afterwards but the destructor.
    void close();

    int schema_version();

    // Every partner, by name.
    [[nodiscard]] Result<std::vector<PartnerRecord>, std::string> partners();
    [[nodiscard]] Result<std::optional<PartnerRecord>, std::string> find(std::string_view name);
    // The newest entries, oldest first; subject "" = every partner.
    [[nodiscard]] Result<std::vector<AuditEntry>, std::string> audit(std::string_view subject,
                                                                     std::size_t limit);

    // One transaction: the edit, the record's own checks, the cross-partner checks (a
    // domain another partner owns, a client CN another partner uses) and the audit entry.
    // On any error nothing is written.
    [[nodiscard]] Result<void, std::string> change(std::string_view name, std::string_view action,
                                                   std::string_view actor, const PartnerEdit& edit);
    // One transaction for the whole list (partners.toml): refused as a whole if any
    // partner already exists or breaks a rule. Each partner gets its own audit entry.
    [[nodiscard]] Result<void, std::string> import(const std::vector<PartnerRecord>& records,
                                                   std::string_view actor);

    // Administrators (admins.cc): add and passwd hash password with yescrypt; remove
    // refuses the last account. One audited transaction each; the hash is not audited.
    [[nodiscard]] Result<std::vector<AdminAccount>, std::string> admins();
    [[nodiscard]] Result<void, std::string> change_admin(std::string_view name, AdminChange change,
                                                         std::string_view password,
                                                         std::string_view actor);
    // True if name exists and password is its password.
    [[nodiscard]] Result<bool, std::string> check_admin_login(std::string_view name,
                                                              std::string_view password);

    // TLS endpoint policies and trust anchors (tls_endpoints.cc). change_tls_policy is one
    // transaction: the edit, the policy's own checks (policy::check_tls_policy), the
    // cross checks (assigned partners exist, networks and domains are not another
    // policy's, a domain is owned by a partner -- by domain_owner when it is not empty --,
    // a named trust anchor exists, a pin policy's partners have a pin) and the audit entry
    // (subject "tls:<name>"). "default" can be edited but not removed.
    [[nodiscard]] Result<std::vector<TlsPolicyRecord>, std::string> tls_policies();
    [[nodiscard]] Result<std::optional<TlsPolicyRecord>, std::string> find_tls_policy(
        std::string_view name);
    [[nodiscard]] Result<void, std::string> change_tls_policy(std::string_view name,
                                                              std::string_view action,
                                                              std::string_view actor,
                                                              const TlsPolicyEdit& edit,
                                                              std::string_view domain_owner = {});
    [[nodiscard]] Result<std::vector<TrustAnchorRecord>, std::string> trust_anchors();
    // add (after set; the name must be free) or remove (nullopt; refused while a policy
    // names it). Audited with subject "trust:<name>".
    [[nodiscard]] Result<void, std::string> change_trust_anchor(
        std::string_view name, const std::optional<TrustAnchorRecord>& after,
        std::string_view actor);

    // Certificates per listening address and SNI name (listener_certificates.cc), by name.
    // change_listener_certificate adds (after set; the name and its (address, SNI) must be
    // free) or removes (nullopt) one row, audited with subject "listener-cert:<name>". The
    // files are not opened here: hubctl checks them with wolfSSL first.
    [[nodiscard]] Result<std::vector<ListenerCertificateRecord>, std::string>
    listener_certificates();
    [[nodiscard]] Result<void, std::string> change_listener_certificate(
        std::string_view name, const std::optional<ListenerCertificateRecord>& after,
        std::string_view actor);

    // Remembered outbound TLS failures (tls_failures.cc), by peer, with the partner of that
    // name if there is one.
    [[nodiscard]] Result<std::vector<TlsFailureRow>, std::string> tls_failures();
    // One transaction: the stored rows, plan_tls_failures(observed), its writes and clears.
    // Peers that are no partner name are ignored, reasons cut to tls_failure_reason_bytes_max.
    // Not audited (hubd's observations, not an administrator's change). Returns the changes.
    [[nodiscard]] Result<TlsFailureChanges, std::string> record_tls_failures(
        const std::vector<TlsObservation>& observed);

    // The engine's table: the active partners, in name order, with their TLS policies
    // resolved (resolve_tls_policies).
    [[nodiscard]] Result<std::vector<policy::Partner>, std::string> active_partners();
    // The partners the engine reads, in one read: the active ones (its partner table) and
    // the pending and suspended ones (held: only mail already queued routes to them, and
    // waits; docs/DIRECTORY.md, "Partners that are suspended or removed").
    [[nodiscard]] Result<EnginePartners, std::string> engine_partners();

private:
    explicit Directory(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    // A partner's rows as after says (nullopt: removed); not audited.
    Result<void, std::string> write_record(std::string_view name,
                                           const std::optional<PartnerRecord>& after);
    Result<void, std::string> write_children(std::int64_t id, const PartnerRecord& record);
    Result<void, std::string> check_claims(const PartnerRecord& record);
    Result<void, std::string> check_pin_policy(const PartnerRecord& record);
    Result<void, std::string> write_tls_policy(const std::optional<TlsPolicyRecord>& before,
                                               const std::optional<TlsPolicyRecord>& after);
    Result<void, std::string> check_tls_claims(const TlsPolicyRecord& record,
                                               const std::optional<TlsPolicyRecord>& before,
                                               std::string_view domain_owner);
    // What an audited change wrote, for its audit_log row; before/after "" for none.
    struct AuditNote {
        std::string action;
        std::string subject;
        std::string before;
        std::string after;
    };
    // Reads what it needs, checks, writes its rows and says what to audit; nullopt when
    // there is nothing to change (then nothing is written or audited).
    using AuditedWrite = std::function<Result<std::optional<AuditNote>, std::string>()>;
    // The shape every administrator's change shares: one transaction holding write(), its
    // audit entry and the commit. Any error rolls all of it back: the file is unchanged.
    // The caller checks the actor and its arguments first.
    Result<void, std::string> audited_change(std::string_view actor, const AuditedWrite& write);
    // One audit_log row; before/after "" are stored as NULL.
    Result<void, std::string> audit_change(std::string_view action, std::string_view subject,
                                           std::string_view before, std::string_view after,
                                           std::string_view actor);
    Result<void, std::string> exec(const char* sql);
    std::string error_text(std::string_view doing);

    sqlite3* db_ = nullptr;
    std::string path_;
};

// The newest schema this build knows.
int current_schema_version();

}  // namespace hub::directory
