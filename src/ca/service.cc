// service.cc -- hub-ca's requests against its database and the authority (service.h).
//
// PURPOSE   Keep requests, certificates, enrollment passwords, the CRL and an audit log,
//           and answer each request kind the caller's role allows.
// RUNS IN   hub-ca, one request at a time (the socket loop is single-threaded).
// TRUST     Requests were decoded and bounded by protocol.cc and come with a role from the
//           kernel's credentials. The enroll role speaks for the internet: it gets one
//           message for an unknown partner and a wrong password, and is bounded in how many
//           pending requests it can leave.
// LIMITS    ca/limits.h: pending_per_partner_max, pending_total_max, listed_rows_max,
//           reason_bytes_max.
// SEE ALSO  ca/authority.h, ca/roles.h, docs/CA.md.

#include "ca/service.h"

#include <fmt/format.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "base/assert.h"
#include "ca/der.h"
#include "directory/admins.h"
#include "directory/limits.h"
#include "directory/record.h"
#include "directory/sqlite_util.h"
#include "policy/partner_checks.h"

namespace hub::ca {

using directory::json_string;
using directory::detail::Statement;
using directory::detail::Transaction;

namespace {

constexpr int schema_version = 1;

constexpr const char* schema_sql = R"sql(
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    subject TEXT NOT NULL,
    dns_names TEXT NOT NULL,
    key_type TEXT NOT NULL,
    csr_der BLOB NOT NULL,
    submitted_unix_s INTEGER NOT NULL,
    decided_unix_s INTEGER,
    decided_by TEXT,
    reason TEXT,
    serial TEXT
);
CREATE INDEX requests_by_state ON requests (state, partner);
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    partner TEXT NOT NULL,
    subject TEXT NOT NULL,
    dns_names TEXT NOT NULL,
    not_before_unix_s INTEGER NOT NULL,
    not_after_unix_s INTEGER NOT NULL,
    der BLOB NOT NULL,
    revoked_unix_s INTEGER,
    revoke_reason TEXT,
    revoked_by TEXT
);
CREATE TABLE enrollment_passwords (
    partner TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$y$%'),
    updated_unix_s INTEGER NOT NULL
);
CREATE TABLE crl (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    number INTEGER NOT NULL,
    this_update_unix_s INTEGER NOT NULL,
    next_update_unix_s INTEGER NOT NULL,
    der BLOB NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_unix_s INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
PRAGMA user_version = 1;
)sql";

// Refused to enroll callers whatever the cause, so that the page cannot learn which
// partners exist.
constexpr std::string_view bad_credentials =
    "unknown partner or wrong enrollment password (your hub administrator issues one with "
    "hubctl ca password PARTNER)";

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const std::string& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
}

std::string utc_date(std::int64_t unix_s) {
    std::time_t seconds = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

Result<std::int64_t, std::string> parse_id(std::string_view text) {
    std::int64_t value = 0;
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return unexpected(
            fmt::format("request id \"{}\": a number, as hubctl ca requests shows", text));
    }
    for (char c : text) {
        value = value * 10 + (c - '0');
    }
    return value;
}

Result<std::string, std::string> normal_serial(std::string_view text) {
    std::string serial;
    for (char c : text) {
        if (c != ':') {
            serial.push_back(static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c));
        }
    }
    der::Bytes bytes;
    if (serial.empty() || serial.size() > 2 * 20 || !der::from_hex(serial, bytes)) {
        return unexpected(
            fmt::format("serial \"{}\": hexadecimal digits, as hubctl ca list shows them", text));
    }
    return serial;
}

std::string check_reason_text(std::string_view reason) {
    if (reason.empty() || reason.size() > reason_bytes_max) {
        return fmt::format("the reason must be 1..{} characters", reason_bytes_max);
    }
    return {};
}

// 18 random bytes as 24 characters of base64url: easy to read out, 144 bits.
Result<std::string, std::string> new_password() {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        return unexpected(std::string("cannot start the random number generator"));
    }
    std::uint8_t random[generated_password_bytes * 3 / 4];
    int status = wc_RNG_GenerateBlock(&rng, random, sizeof(random));
    wc_FreeRng(&rng);
    if (status != 0) {
        return unexpected(std::string("cannot draw random bytes"));
    }
    std::string password;
    for (std::size_t i = 0; i < sizeof(random); i += 3) {
        std::uint32_t chunk = (static_cast<std::uint32_t>(random[i]) << 16) |
                              (static_cast<std::uint32_t>(random[i + 1]) << 8) | random[i + 2];
        for (int shift = 18; shift >= 0; shift -= 6) {
            password.push_back(alphabet[(chunk >> shift) & 63]);
        }
    }
    return password;
}

// Listings answer as a text table or as JSON lines; any other format is refused by name.
std::optional<Message> listing_format_refusal(const std::string& format) {
    if (format == "text" || format == "json") {
        return std::nullopt;
    }
    return refusal(Refusal::invalid, fmt::format("format \"{}\": use text or json", format));
}

// A listing of lines (newest first as read) as one answer body, oldest first, kept within
// answer_body_bytes_max: when the lines do not all fit, the oldest are left out and the
// listing says so.
std::string bounded_listing(std::string_view header, std::vector<std::string> newest_first,
                            bool json) {
    std::size_t budget = answer_body_bytes_max - header.size() - 256;
    std::size_t kept = 0;
    std::size_t bytes = 0;
    while (kept < newest_first.size() && bytes + newest_first[kept].size() + 1 <= budget) {
        bytes += newest_first[kept].size() + 1;
        kept++;
    }
    std::size_t left_out = newest_first.size() - kept;
    newest_first.resize(kept);
    std::reverse(newest_first.begin(), newest_first.end());
    if (json) {
        // A JSON array stays an array; what was left out is said on the CLI's side only.
        return "[" + join(newest_first, ",") + "]\n";
    }
    std::string body(header);
    if (left_out > 0) {
        body += fmt::format("({} older entries not shown: the answer is limited to {} bytes)\n",
                            left_out, answer_body_bytes_max);
    }
    body += join(newest_first, "\n");
    return body + (newest_first.empty() ? "" : "\n");
}

Message answer_body(std::string body) {
    return ok_answer().set(Field::body, std::move(body));
}

std::string bytes_text(const Bytes& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::string audit_actor(std::string_view named, std::uint32_t uid) {
    return fmt::format("{} (uid {})", named.empty() ? "-" : named, uid);
}

Service::Service(sqlite3* db, Authority authority, ServiceSettings settings)
    : db_(db), authority_(std::move(authority)), settings_(settings) {}

Service::Service(Service&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      authority_(std::move(other.authority_)),
      settings_(other.settings_),
      crl_stale_(other.crl_stale_) {}

Service& Service::operator=(Service&& other) noexcept {
    if (this != &other) {
        sqlite3_close(db_);
        db_ = std::exchange(other.db_, nullptr);
        authority_ = std::move(other.authority_);
        settings_ = other.settings_;
        crl_stale_ = other.crl_stale_;
    }
    return *this;
}

Service::~Service() {
    sqlite3_close(db_);
}

Result<Service, std::string> Service::open(const std::string& db_path, Authority authority,
                                           ServiceSettings settings) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
        std::string error = fmt::format("{}: cannot open: {}", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return unexpected(error);
    }
    Service service(db, std::move(authority), settings);
    sqlite3_busy_timeout(db, directory::busy_timeout_ms);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON", nullptr, nullptr,
                 nullptr);
    Statement version(db, "PRAGMA user_version");
    if (!version.ok() || version.step() != SQLITE_ROW) {
        return unexpected(
            fmt::format("{}: not an SQLite database: {}", db_path, sqlite3_errmsg(db)));
    }
    std::int64_t found = version.integer(0);
    if (found > schema_version) {
        return unexpected(fmt::format(
            "{}: schema version {} is newer than this hub-ca knows ({}); use the hubbox that "
            "wrote it",
            db_path, found, schema_version));
    }
    if (found == 0) {
        Transaction transaction(db);
        if (!transaction.began() ||
            sqlite3_exec(db, schema_sql, nullptr, nullptr, nullptr) != SQLITE_OK ||
            !transaction.commit()) {
            return unexpected(service.error_text("creating the CA database"));
        }
    }
    return service;
}

std::string Service::error_text(std::string_view doing) {
    return fmt::format("{}: {}", doing, sqlite3_errmsg(db_));
}

Message Service::handle(const Caller& caller, const Message& request, std::int64_t now) {
    if (!role_allows(caller.role, request.kind)) {
        return refusal(Refusal::forbidden,
                       fmt::format("the {} role may not {} (uid {})", role_name(caller.role),
                                   kind_name(request.kind), caller.uid));
    }
    return dispatch(caller, request, now);
}

Message Service::dispatch(const Caller& caller, const Message& request, std::int64_t now) {
    switch (request.kind) {
        case Kind::submit:
            return submit(request, now);
        case Kind::status:
            return status(caller, request);
        case Kind::fetch_certificate:
            return fetch_certificate(caller, request);
        case Kind::fetch_crl:
            return fetch_crl(request);
        case Kind::fetch_ca:
            return fetch_ca(request);
        case Kind::list_requests:
            return list_requests(request);
        case Kind::list_certificates:
            return list_certificates(request);
        case Kind::approve:
            return approve(caller, request, now);
        case Kind::reject:
            return reject(caller, request, now);
        case Kind::revoke:
            return revoke(caller, request, now);
        case Kind::set_password:
            return set_password(caller, request, now);
        case Kind::audit:
            return audit(request);
        case Kind::ok:
        case Kind::refused:
            break;
    }
    return refusal(Refusal::malformed, "not a request");
}

bool Service::partner_password_ok(std::string_view partner, std::string_view password) {
    Statement statement(db_, "SELECT password_hash FROM enrollment_passwords WHERE partner = ?");
    if (!statement.ok()) {
        return false;
    }
    statement.bind(1, partner);
    if (statement.step() != SQLITE_ROW) {
        // Hash anyway, so a missing partner costs the same time as a wrong password.
        (void)directory::password_matches(password, "$y$j9T$AAAAAAAAAAAAAAAAAAAAA.$x");
        return false;
    }
    return directory::password_matches(password, statement.text(0));
}

Result<std::int64_t, Refused> Service::store_request(std::string_view partner,
                                                     const CheckedRequest& request,
                                                     std::int64_t now) {
    Statement counts(db_,
                     "SELECT count(*), coalesce(sum(partner = ?1), 0) FROM requests "
                     "WHERE state = 'pending'");
    counts.bind(1, partner);
    if (!counts.ok() || counts.step() != SQLITE_ROW) {
        return unexpected(Refused{Refusal::unavailable, error_text("counting requests")});
    }
    if (static_cast<std::size_t>(counts.integer(0)) >= pending_total_max) {
        return unexpected(Refused{
            Refusal::limit,
            fmt::format(
                "{} requests already wait for an administrator; try again after they are decided",
                pending_total_max)});
    }
    if (static_cast<std::size_t>(counts.integer(1)) >= pending_per_partner_max) {
        return unexpected(Refused{
            Refusal::limit,
            fmt::format(
                "partner {} already has {} requests waiting; ask the hub administrator to decide "
                "them first",
                partner, pending_per_partner_max)});
    }
    Statement insert(db_,
                     "INSERT INTO requests (partner, state, subject, dns_names, key_type, "
                     "csr_der, submitted_unix_s) VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6)");
    insert.bind(1, partner);
    insert.bind(2, request.subject);
    insert.bind(3, join(request.dns_names, " "));
    insert.bind(4, request.key_type);
    insert.bind_blob(5, request.der.data(), request.der.size());
    insert.bind(6, now);
    if (!insert.ok() || insert.step() != SQLITE_DONE) {
        return unexpected(Refused{Refusal::unavailable, error_text("storing the request")});
    }
    return sqlite3_last_insert_rowid(db_);
}

Message Service::submit(const Message& request, std::int64_t now) {
    const std::string& partner = request.get(Field::partner);
    if (std::string why = policy::check_partner_name(partner); !why.empty()) {
        return refusal(Refusal::invalid, why);
    }
    if (!partner_password_ok(partner, request.get(Field::password))) {
        return refusal(Refusal::bad_credentials, std::string(bad_credentials));
    }
    const std::string& csr = request.get(Field::csr);
    auto checked =
        check_request(std::span(reinterpret_cast<const std::uint8_t*>(csr.data()), csr.size()));
    if (!checked) {
        return refusal(Refusal::invalid, checked.error());
    }
    Transaction transaction(db_);
    if (!transaction.began()) {
        return refusal(Refusal::unavailable, error_text("starting a change"));
    }
    auto id = store_request(partner, *checked, now);
    if (!id) {
        return refusal(id.error().code, id.error().text);
    }
    std::string after = fmt::format(
        "{{\"id\":{},\"partner\":{},\"subject\":{},\"dns_names\":{},\"key\":{},\"state\":"
        "\"pending\"}}",
        *id, json_string(partner), json_string(checked->subject),
        json_string(join(checked->dns_names, " ")), json_string(checked->key_type));
    if (auto audited = audit_change("request submit", fmt::format("request:{}", *id), "", after,
                                    fmt::format("enroll:{}", partner), now);
        !audited) {
        return refusal(Refusal::unavailable, audited.error());
    }
    if (!transaction.commit()) {
        return refusal(Refusal::unavailable, error_text("committing the request"));
    }
    return ok_answer().set(Field::request_id, std::to_string(*id));
}

Message Service::status(const Caller& caller, const Message& request) {
    auto id = parse_id(request.get(Field::request_id));
    if (!id) {
        return refusal(Refusal::invalid, id.error());
    }
    bool enroll = caller.role == Role::enroll;
    if (enroll &&
        (!request.has(Field::partner) || !request.has(Field::password) ||
         !partner_password_ok(request.get(Field::partner), request.get(Field::password)))) {
        return refusal(Refusal::bad_credentials, std::string(bad_credentials));
    }
    Statement row(db_,
                  "SELECT r.partner, r.state, r.reason, r.serial, c.not_after_unix_s, "
                  "c.revoked_unix_s FROM requests r LEFT JOIN certificates c ON c.serial = "
                  "r.serial WHERE r.id = ?");
    row.bind(1, *id);
    if (!row.ok() || row.step() != SQLITE_ROW ||
        (enroll && row.text(0) != request.get(Field::partner))) {
        return refusal(Refusal::not_found,
                       fmt::format("no request {}{}", *id, enroll ? " for this partner" : ""));
    }
    std::string state = row.text(1);
    std::string text;
    if (state == "pending") {
        text = "pending: waiting for the hub administrator";
    } else if (state == "rejected") {
        text = fmt::format("rejected: {}", row.text(2));
    } else if (!row.is_null(5)) {
        text = fmt::format("revoked: certificate {} was revoked", row.text(3));
    } else {
        text = fmt::format("approved: certificate {} valid until {}", row.text(3),
                           utc_date(row.integer(4)));
    }
    return ok_answer().set(Field::message, text).set(Field::request_id, std::to_string(*id));
}

Message Service::fetch_certificate(const Caller& caller, const Message& request) {
    auto id = parse_id(request.get(Field::request_id));
    if (!id) {
        return refusal(Refusal::invalid, id.error());
    }
    bool enroll = caller.role == Role::enroll;
    if (enroll &&
        (!request.has(Field::partner) || !request.has(Field::password) ||
         !partner_password_ok(request.get(Field::partner), request.get(Field::password)))) {
        return refusal(Refusal::bad_credentials, std::string(bad_credentials));
    }
    const std::string& format = request.get(Field::format);
    if (format != "pem" && format != "der" && format != "pkcs7") {
        return refusal(Refusal::invalid,
                       fmt::format("format \"{}\": use pem, der or pkcs7", format));
    }
    Statement row(db_,
                  "SELECT r.partner, r.state, c.der FROM requests r LEFT JOIN certificates c "
                  "ON c.serial = r.serial WHERE r.id = ?");
    row.bind(1, *id);
    if (!row.ok() || row.step() != SQLITE_ROW ||
        (enroll && row.text(0) != request.get(Field::partner))) {
        return refusal(Refusal::not_found,
                       fmt::format("no request {}{}", *id, enroll ? " for this partner" : ""));
    }
    if (row.text(1) != "approved" || row.is_null(2)) {
        return refusal(Refusal::wrong_state,
                       fmt::format("request {} has no certificate: it is {}", *id, row.text(1)));
    }
    Bytes leaf = row.blob<Bytes>(2);
    const Bytes& ca = authority_.certificate_der();
    if (format == "der") {
        return answer_body(bytes_text(leaf));
    }
    if (format == "pkcs7") {
        return answer_body(bytes_text(certs_only_pkcs7(std::vector<Bytes>{leaf, ca})));
    }
    return answer_body(pem(leaf, "CERTIFICATE") + pem(ca, "CERTIFICATE"));
}

Message Service::fetch_crl(const Message& request) {
    const std::string& format = request.get(Field::format);
    if (format != "pem" && format != "der") {
        return refusal(Refusal::invalid, fmt::format("format \"{}\": use pem or der", format));
    }
    Statement row(db_, "SELECT der FROM crl WHERE id = 1");
    if (!row.ok() || row.step() != SQLITE_ROW) {
        return refusal(Refusal::unavailable, "no CRL has been made yet");
    }
    Bytes crl = row.blob<Bytes>(0);
    std::string body = format == "der" ? bytes_text(crl) : pem(crl, "X509 CRL");
    if (body.size() > answer_body_bytes_max) {
        return refusal(Refusal::unavailable,
                       fmt::format("the CRL is {} bytes, more than one answer carries; read the "
                                   "published crl.pem instead",
                                   body.size()));
    }
    return answer_body(std::move(body));
}

Message Service::fetch_ca(const Message& request) {
    const std::string& format = request.get(Field::format);
    if (format != "pem" && format != "der") {
        return refusal(Refusal::invalid, fmt::format("format \"{}\": use pem or der", format));
    }
    const Bytes& ca = authority_.certificate_der();
    return answer_body(format == "der" ? bytes_text(ca) : pem(ca, "CERTIFICATE"));
}

Message Service::list_requests(const Message& request) {
    const std::string& format = request.get(Field::format);
    if (auto refused = listing_format_refusal(format)) {
        return *refused;
    }
    Statement rows(db_,
                   "SELECT id, partner, state, key_type, subject, dns_names, submitted_unix_s, "
                   "coalesce(reason, ''), coalesce(serial, ''), coalesce(decided_by, '') "
                   "FROM requests ORDER BY id DESC LIMIT ?");
    rows.bind(1, static_cast<std::int64_t>(listed_rows_max));
    if (!rows.ok()) {
        return refusal(Refusal::unavailable, error_text("reading requests"));
    }
    bool json = format == "json";
    std::vector<std::string> lines;
    while (rows.step() == SQLITE_ROW) {
        std::string note = rows.text(2) == "rejected"   ? "reason: " + rows.text(7)
                           : rows.text(2) == "approved" ? "serial " + rows.text(8)
                                                        : "";
        if (json) {
            lines.push_back(fmt::format(
                "{{\"id\":{},\"partner\":{},\"state\":{},\"key\":{},\"subject\":{},"
                "\"dns_names\":{},\"submitted\":{},\"reason\":{},\"serial\":{},\"decided_by\":{}}}",
                rows.integer(0), json_string(rows.text(1)), json_string(rows.text(2)),
                json_string(rows.text(3)), json_string(rows.text(4)), json_string(rows.text(5)),
                json_string(utc_date(rows.integer(6))), json_string(rows.text(7)),
                json_string(rows.text(8)), json_string(rows.text(9))));
        } else {
            lines.push_back(fmt::format("{:<6} {:<9} {:<16} {:<9} {:<21} {} [{}]{}{}",
                                        rows.integer(0), rows.text(2), rows.text(1), rows.text(3),
                                        utc_date(rows.integer(6)), rows.text(4), rows.text(5),
                                        note.empty() ? "" : " ", note));
        }
    }
    return answer_body(bounded_listing(
        "ID     STATE     PARTNER          KEY       SUBMITTED             SUBJECT / DNS NAMES / "
        "NOTE\n",
        std::move(lines), json));
}

Message Service::list_certificates(const Message& request) {
    const std::string& format = request.get(Field::format);
    if (auto refused = listing_format_refusal(format)) {
        return *refused;
    }
    Statement rows(db_,
                   "SELECT serial, partner, subject, dns_names, not_after_unix_s, request_id, "
                   "revoked_unix_s, coalesce(revoke_reason, '') FROM certificates "
                   "ORDER BY rowid DESC LIMIT ?");
    rows.bind(1, static_cast<std::int64_t>(listed_rows_max));
    if (!rows.ok()) {
        return refusal(Refusal::unavailable, error_text("reading certificates"));
    }
    bool json = format == "json";
    std::vector<std::string> lines;
    while (rows.step() == SQLITE_ROW) {
        bool revoked = !rows.is_null(6);
        std::string status = revoked ? "revoked" : "valid";
        if (json) {
            lines.push_back(fmt::format(
                "{{\"serial\":{},\"partner\":{},\"subject\":{},\"dns_names\":{},"
                "\"not_after\":{},\"request_id\":{},\"revoked\":{},\"revoked_at\":{},"
                "\"revoke_reason\":{}}}",
                json_string(rows.text(0)), json_string(rows.text(1)), json_string(rows.text(2)),
                json_string(rows.text(3)), json_string(utc_date(rows.integer(4))), rows.integer(5),
                revoked ? "true" : "false",
                revoked ? json_string(utc_date(rows.integer(6))) : "null",
                json_string(rows.text(7))));
        } else {
            lines.push_back(fmt::format("{:<33} {:<16} {:<21} {:<9} {} [{}]{}", rows.text(0),
                                        rows.text(1), utc_date(rows.integer(4)), status,
                                        rows.text(2), rows.text(3),
                                        revoked ? " (" + rows.text(7) + ")" : ""));
        }
    }
    return answer_body(bounded_listing(
        "SERIAL                            PARTNER          NOT AFTER             STATUS    "
        "SUBJECT [DNS NAMES]\n",
        std::move(lines), json));
}

Result<std::string, Refused> Service::issue_request(std::int64_t id, std::string_view actor,
                                                    std::int64_t now) {
    Statement row(db_,
                  "SELECT partner, state, csr_der, subject, dns_names, key_type FROM requests "
                  "WHERE id = ?");
    row.bind(1, id);
    if (!row.ok() || row.step() != SQLITE_ROW) {
        return unexpected(Refused{
            Refusal::not_found, fmt::format("no request {} (hubctl ca requests lists them)", id)});
    }
    std::string partner = row.text(0);
    if (row.text(1) != "pending") {
        return unexpected(Refused{Refusal::wrong_state,
                                  fmt::format("request {} is {} already", id, row.text(1))});
    }
    // Checked again: the rules may have tightened since it was stored.
    auto checked = check_request(row.blob<Bytes>(2));
    if (!checked) {
        return unexpected(Refused{
            Refusal::invalid, fmt::format("request {} no longer passes: {}", id, checked.error())});
    }
    // The names the administrator saw in the list: the request's own, or for the hub's own
    // certificate the host name hub-ca gave it (its request carries none).
    checked->dns_names.clear();
    std::string stored_names = row.text(4);
    for (std::size_t at = 0; at < stored_names.size();) {
        std::size_t space = std::min(stored_names.find(' ', at), stored_names.size());
        if (space > at) {
            checked->dns_names.push_back(stored_names.substr(at, space - at));
        }
        at = space + 1;
    }
    std::string before = fmt::format(
        "{{\"id\":{},\"partner\":{},\"subject\":{},\"dns_names\":{},\"key\":{},\"state\":"
        "\"pending\"}}",
        id, json_string(partner), json_string(row.text(3)), json_string(row.text(4)),
        json_string(row.text(5)));
    auto issued = authority_.issue(*checked, now, settings_.validity_days);
    if (!issued) {
        return unexpected(Refused{Refusal::unavailable, issued.error()});
    }
    std::string serial = der::to_hex(issued->serial);
    if (auto recorded = record_certificate(id, partner, *checked, *issued, actor, now); !recorded) {
        return unexpected(Refused{Refusal::unavailable, recorded.error()});
    }
    std::string after = fmt::format(
        "{{\"id\":{},\"partner\":{},\"subject\":{},\"dns_names\":{},\"key\":{},\"state\":"
        "\"approved\",\"serial\":{},\"not_before\":{},\"not_after\":{}}}",
        id, json_string(partner), json_string(checked->subject),
        json_string(join(checked->dns_names, " ")), json_string(checked->key_type),
        json_string(serial), json_string(utc_date(issued->not_before_unix_s)),
        json_string(utc_date(issued->not_after_unix_s)));
    if (auto audited = audit_change("certificate issue", fmt::format("request:{}", id), before,
                                    after, actor, now);
        !audited) {
        return unexpected(Refused{Refusal::unavailable, audited.error()});
    }
    return serial;
}

Result<void, std::string> Service::record_certificate(std::int64_t id, std::string_view partner,
                                                      const CheckedRequest& checked,
                                                      const Issued& issued, std::string_view actor,
                                                      std::int64_t now) {
    std::string serial = der::to_hex(issued.serial);
    Statement insert(db_,
                     "INSERT INTO certificates (serial, request_id, partner, subject, dns_names, "
                     "not_before_unix_s, not_after_unix_s, der) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                     "?7, ?8)");
    insert.bind(1, serial);
    insert.bind(2, id);
    insert.bind(3, partner);
    insert.bind(4, checked.subject);
    insert.bind(5, join(checked.dns_names, " "));
    insert.bind(6, issued.not_before_unix_s);
    insert.bind(7, issued.not_after_unix_s);
    insert.bind_blob(8, issued.der.data(), issued.der.size());
    Statement update(db_,
                     "UPDATE requests SET state = 'approved', decided_unix_s = ?2, decided_by = "
                     "?3, serial = ?4 WHERE id = ?1");
    update.bind(1, id);
    update.bind(2, now);
    update.bind(3, actor);
    update.bind(4, serial);
    if (!insert.ok() || insert.step() != SQLITE_DONE || !update.ok() ||
        update.step() != SQLITE_DONE) {
        return unexpected(error_text("storing the certificate"));
    }
    return {};
}

Message Service::approve(const Caller& caller, const Message& request, std::int64_t now) {
    auto id = parse_id(request.get(Field::request_id));
    if (!id) {
        return refusal(Refusal::invalid, id.error());
    }
    std::string actor = audit_actor(request.get(Field::actor), caller.uid);
    Transaction transaction(db_);
    if (!transaction.began()) {
        return refusal(Refusal::unavailable, error_text("starting a change"));
    }
    auto serial = issue_request(*id, actor, now);
    if (!serial) {
        return refusal(serial.error().code, serial.error().text);
    }
    if (!transaction.commit()) {
        return refusal(Refusal::unavailable, error_text("committing the certificate"));
    }
    return ok_answer()
        .set(Field::serial, *serial)
        .set(Field::message, fmt::format("request {} approved: certificate {}", *id, *serial));
}

Result<Issued, std::string> Service::issue_own(const CheckedRequest& request,
                                               std::string_view actor, std::int64_t now) {
    Transaction transaction(db_);
    if (!transaction.began()) {
        return unexpected(error_text("starting a change"));
    }
    auto id = store_request("(hub)", request, now);
    if (!id) {
        return unexpected(id.error().text);
    }
    auto serial = issue_request(*id, actor, now);
    if (!serial) {
        return unexpected(serial.error().text);
    }
    Statement row(db_,
                  "SELECT der, not_before_unix_s, not_after_unix_s FROM certificates WHERE "
                  "serial = ?");
    row.bind(1, *serial);
    if (!row.ok() || row.step() != SQLITE_ROW) {
        return unexpected(error_text("reading the certificate back"));
    }
    Issued issued;
    issued.der = row.blob<Bytes>(0);
    issued.not_before_unix_s = row.integer(1);
    issued.not_after_unix_s = row.integer(2);
    der::from_hex(*serial, issued.serial);
    if (!transaction.commit()) {
        return unexpected(error_text("committing the certificate"));
    }
    return issued;
}

Message Service::reject(const Caller& caller, const Message& request, std::int64_t now) {
    auto id = parse_id(request.get(Field::request_id));
    if (!id) {
        return refusal(Refusal::invalid, id.error());
    }
    const std::string& reason = request.get(Field::reason);
    if (std::string why = check_reason_text(reason); !why.empty()) {
        return refusal(Refusal::invalid, why);
    }
    std::string actor = audit_actor(request.get(Field::actor), caller.uid);
    Transaction transaction(db_);
    if (!transaction.began()) {
        return refusal(Refusal::unavailable, error_text("starting a change"));
    }
    Statement row(db_, "SELECT partner, state, subject FROM requests WHERE id = ?");
    row.bind(1, *id);
    if (!row.ok() || row.step() != SQLITE_ROW) {
        return refusal(Refusal::not_found,
                       fmt::format("no request {} (hubctl ca requests lists them)", *id));
    }
    if (row.text(1) != "pending") {
        return refusal(Refusal::wrong_state,
                       fmt::format("request {} is {} already", *id, row.text(1)));
    }
    Statement update(db_,
                     "UPDATE requests SET state = 'rejected', decided_unix_s = ?2, decided_by = "
                     "?3, reason = ?4 WHERE id = ?1");
    update.bind(1, *id);
    update.bind(2, now);
    update.bind(3, actor);
    update.bind(4, reason);
    if (!update.ok() || update.step() != SQLITE_DONE) {
        return refusal(Refusal::unavailable, error_text("rejecting the request"));
    }
    std::string before =
        fmt::format("{{\"id\":{},\"partner\":{},\"subject\":{},\"state\":\"pending\"}}", *id,
                    json_string(row.text(0)), json_string(row.text(2)));
    std::string after = fmt::format(
        "{{\"id\":{},\"partner\":{},\"subject\":{},\"state\":\"rejected\",\"reason\":{}}}", *id,
        json_string(row.text(0)), json_string(row.text(2)), json_string(reason));
    if (auto audited = audit_change("request reject", fmt::format("request:{}", *id), before, after,
                                    actor, now);
        !audited || !transaction.commit()) {
        return refusal(Refusal::unavailable,
                       audited ? error_text("committing the rejection") : audited.error());
    }
    return ok_answer().set(Field::message, fmt::format("request {} rejected", *id));
}

Message Service::revoke(const Caller& caller, const Message& request, std::int64_t now) {
    auto serial = normal_serial(request.get(Field::serial));
    if (!serial) {
        return refusal(Refusal::invalid, serial.error());
    }
    auto reason = parse_revocation_reason(request.get(Field::reason));
    if (!reason) {
        return refusal(Refusal::invalid, reason.error());
    }
    std::string actor = audit_actor(request.get(Field::actor), caller.uid);
    Transaction transaction(db_);
    if (!transaction.began()) {
        return refusal(Refusal::unavailable, error_text("starting a change"));
    }
    Statement row(db_,
                  "SELECT partner, subject, revoked_unix_s, not_after_unix_s FROM certificates "
                  "WHERE serial = ?");
    row.bind(1, *serial);
    if (!row.ok() || row.step() != SQLITE_ROW) {
        return refusal(Refusal::not_found,
                       fmt::format("no certificate {} (hubctl ca list shows them)", *serial));
    }
    if (!row.is_null(2)) {
        return refusal(Refusal::wrong_state,
                       fmt::format("certificate {} is revoked already", *serial));
    }
    Statement update(db_,
                     "UPDATE certificates SET revoked_unix_s = ?2, revoke_reason = ?3, "
                     "revoked_by = ?4 WHERE serial = ?1");
    update.bind(1, *serial);
    update.bind(2, now);
    update.bind(3, revocation_reason_name(*reason));
    update.bind(4, actor);
    if (!update.ok() || update.step() != SQLITE_DONE) {
        return refusal(Refusal::unavailable, error_text("revoking the certificate"));
    }
    std::string common = fmt::format(
        "\"serial\":{},\"partner\":{},\"subject\":{},\"not_after\":{}", json_string(*serial),
        json_string(row.text(0)), json_string(row.text(1)), json_string(utc_date(row.integer(3))));
    std::string before = fmt::format("{{{},\"revoked\":false}}", common);
    std::string after = fmt::format("{{{},\"revoked\":true,\"reason\":{}}}", common,
                                    json_string(revocation_reason_name(*reason)));
    if (auto audited = audit_change("certificate revoke", fmt::format("certificate:{}", *serial),
                                    before, after, actor, now);
        !audited || !transaction.commit()) {
        return refusal(Refusal::unavailable,
                       audited ? error_text("committing the revocation") : audited.error());
    }
    crl_stale_ = true;
    return ok_answer().set(Field::message, fmt::format("certificate {} revoked ({})", *serial,
                                                       revocation_reason_name(*reason)));
}

Message Service::set_password(const Caller& caller, const Message& request, std::int64_t now) {
    const std::string& partner = request.get(Field::partner);
    if (std::string why = policy::check_partner_name(partner); !why.empty()) {
        return refusal(Refusal::invalid, why);
    }
    auto password = new_password();
    if (!password) {
        return refusal(Refusal::unavailable, password.error());
    }
    auto hash = directory::hash_password(*password);
    if (!hash) {
        return refusal(Refusal::unavailable, hash.error());
    }
    std::string actor = audit_actor(request.get(Field::actor), caller.uid);
    Transaction transaction(db_);
    if (!transaction.began()) {
        return refusal(Refusal::unavailable, error_text("starting a change"));
    }
    Statement existing(db_, "SELECT 1 FROM enrollment_passwords WHERE partner = ?");
    existing.bind(1, partner);
    bool had = existing.ok() && existing.step() == SQLITE_ROW;
    Statement upsert(db_,
                     "INSERT INTO enrollment_passwords (partner, password_hash, updated_unix_s) "
                     "VALUES (?1, ?2, ?3) ON CONFLICT (partner) DO UPDATE SET password_hash = "
                     "?2, updated_unix_s = ?3");
    upsert.bind(1, partner);
    upsert.bind(2, *hash);
    upsert.bind(3, now);
    if (!upsert.ok() || upsert.step() != SQLITE_DONE) {
        return refusal(Refusal::unavailable, error_text("storing the password"));
    }
    // Neither the password nor its hash is audited: only that it was set or changed.
    std::string before = had ? fmt::format("{{\"partner\":{},\"enrollment_password\":\"set\"}}",
                                           json_string(partner))
                             : "";
    std::string after = fmt::format("{{\"partner\":{},\"enrollment_password\":\"{}\"}}",
                                    json_string(partner), had ? "changed" : "set");
    if (auto audited = audit_change("enrollment password", fmt::format("partner:{}", partner),
                                    before, after, actor, now);
        !audited || !transaction.commit()) {
        return refusal(Refusal::unavailable,
                       audited ? error_text("committing the password") : audited.error());
    }
    return ok_answer().set(Field::body, *password);
}

Message Service::audit(const Message& request) {
    const std::string& format = request.get(Field::format);
    if (auto refused = listing_format_refusal(format)) {
        return *refused;
    }
    Statement rows(db_,
                   "SELECT at_unix_s, actor, action, subject, coalesce(before_json, ''), "
                   "coalesce(after_json, '') FROM audit_log ORDER BY id DESC LIMIT ?");
    rows.bind(1, static_cast<std::int64_t>(listed_rows_max));
    bool json = format == "json";
    std::vector<std::string> lines;
    while (rows.ok() && rows.step() == SQLITE_ROW) {
        std::string before = rows.text(4);
        std::string after = rows.text(5);
        if (json) {
            lines.push_back(
                fmt::format("{{\"at\":{},\"actor\":{},\"action\":{},\"subject\":{},\"before\":{},"
                            "\"after\":{}}}",
                            json_string(utc_date(rows.integer(0))), json_string(rows.text(1)),
                            json_string(rows.text(2)), json_string(rows.text(3)),
                            before.empty() ? "null" : before, after.empty() ? "null" : after));
        } else {
            lines.push_back(fmt::format("{} {} {} {}\n  before: {}\n  after:  {}",
                                        utc_date(rows.integer(0)), rows.text(1), rows.text(2),
                                        rows.text(3), before.empty() ? "-" : before,
                                        after.empty() ? "-" : after));
        }
    }
    return answer_body(bounded_listing("", std::move(lines), json));
}

Result<void, std::string> Service::audit_change(std::string_view action, std::string_view subject,
                                                std::string_view before, std::string_view after,
                                                std::string_view actor, std::int64_t now) {
    Statement insert(db_,
                     "INSERT INTO audit_log (at_unix_s, actor, action, subject, before_json, "
                     "after_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    insert.bind(1, now);
    insert.bind(2, actor);
    insert.bind(3, action);
    insert.bind(4, subject);
    insert.bind_optional(5, before);
    insert.bind_optional(6, after);
    if (!insert.ok() || insert.step() != SQLITE_DONE) {
        return unexpected(error_text("writing the audit log"));
    }
    return {};
}

Result<std::optional<Bytes>, std::string> Service::crl_if_due(std::int64_t now) {
    std::int64_t number = 0;
    {
        Statement current(db_, "SELECT number, this_update_unix_s, next_update_unix_s FROM crl");
        if (!current.ok()) {
            return unexpected(error_text("reading the CRL"));
        }
        if (current.step() == SQLITE_ROW) {
            number = current.integer(0);
            std::int64_t half = (current.integer(2) - current.integer(1)) / 2;
            if (!crl_stale_ && now < current.integer(1) + half) {
                return std::optional<Bytes>();
            }
        }
    }
    std::vector<RevokedEntry> revoked;
    Statement rows(db_,
                   "SELECT serial, revoked_unix_s, revoke_reason FROM certificates WHERE "
                   "revoked_unix_s IS NOT NULL ORDER BY revoked_unix_s");
    while (rows.ok() && rows.step() == SQLITE_ROW) {
        RevokedEntry entry;
        der::from_hex(rows.text(0), entry.serial);
        entry.revoked_unix_s = rows.integer(1);
        auto reason = parse_revocation_reason(rows.text(2));
        entry.reason = reason ? *reason : RevocationReason::unspecified;
        revoked.push_back(std::move(entry));
    }
    std::int64_t next = now + static_cast<std::int64_t>(settings_.crl_validity_days) * 86400;
    auto crl = authority_.make_crl(revoked, now, next, static_cast<std::uint64_t>(number + 1));
    if (!crl) {
        return unexpected(crl.error());
    }
    Statement store(db_,
                    "INSERT INTO crl (id, number, this_update_unix_s, next_update_unix_s, der) "
                    "VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET number = ?1, "
                    "this_update_unix_s = ?2, next_update_unix_s = ?3, der = ?4");
    store.bind(1, number + 1);
    store.bind(2, now);
    store.bind(3, next);
    store.bind_blob(4, crl->data(), crl->size());
    if (!store.ok() || store.step() != SQLITE_DONE) {
        return unexpected(error_text("storing the CRL"));
    }
    crl_stale_ = false;
    return std::optional<Bytes>(std::move(*crl));
}

}  // namespace hub::ca
