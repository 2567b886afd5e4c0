// directory.cc -- the partner directory on SQLite: open and migrate, read, write, audit.
//
// PURPOSE   Store partners so that every change is one transaction, checked as a whole
//           and audited with the partner's state before and after.
// RUNS IN   hubctl (reads and writes) and hubd's supervisor (active_partners at start and
//           on reload). Never on the data path: shards see only the PartnerTable built
//           from active_partners().
// TRUST     The database is the hub's own file; values are still checked when read back
//           into the engine's table (check_record), so a hand-edited row cannot crash hubd.
// LIMITS    directory/limits.h; policy/limits.h for counts.
// SEE ALSO  directory/directory.h, directory/schema.cc, docs/DIRECTORY.md.

#include "directory/directory.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "base/assert.h"
#include "config/syntax.h"
#include "directory/limits.h"
#include "directory/schema.h"
#include "directory/sqlite_util.h"
#include "policy/limits.h"

namespace hub::directory {

using detail::effective_client_cn;
using detail::now_unix_s;
using detail::read_rows;
using detail::Statement;
using detail::Transaction;

namespace {

// One column of a partner's child rows, in insertion order; false on a database error.
bool read_list(sqlite3* db, const char* sql, std::int64_t partner_id,
               std::vector<std::string>& items) {
    Statement statement(db, sql);
    if (!statement.ok()) {
        return false;
    }
    statement.bind(1, partner_id);
    int status = SQLITE_ROW;
    while ((status = statement.step()) == SQLITE_ROW) {
        items.push_back(statement.text(0));
    }
    return status == SQLITE_DONE;
}

constexpr const char* select_partner_sql =
    "SELECT p.id, p.name, p.contact, p.state, p.subdomains, p.require_client_certificate, "
    "p.client_cn, o.host, o.port, o.server_name, o.pin_sha256 FROM partners p "
    "LEFT JOIN outbound_connectors o ON o.partner_id = p.id ";

// Reads the rest of a partner from the row select_partner_sql produced.
Result<PartnerRecord, std::string> read_record(sqlite3* db, Statement& row) {
    PartnerRecord record;
    std::int64_t id = row.integer(0);
    record.name = row.text(1);
    record.contact = row.text(2);
    if (!parse_state(row.text(3), record.state)) {
        return unexpected(
            fmt::format("partner {}: unknown state \"{}\"", record.name, row.text(3)));
    }
    record.subdomains = row.integer(4) != 0;
    record.require_client_certificate = row.integer(5) != 0;
    record.client_cn = row.text(6);
    record.outbound_host = row.text(7);
    std::int64_t port = row.integer(8);
    record.outbound_port = static_cast<std::uint16_t>(port >= 1 && port <= 65535 ? port : 25);
    record.outbound_name = row.text(9);
    record.outbound_pin_sha256 = row.text(10);
    if (!read_list(db, "SELECT domain FROM domains WHERE partner_id = ? ORDER BY id", id,
                   record.domains) ||
        !read_list(db, "SELECT domain FROM extra_sender_domains WHERE partner_id = ? ORDER BY id",
                   id, record.extra_sender_domains) ||
        !read_list(db, "SELECT cidr FROM inbound_connectors WHERE partner_id = ? ORDER BY id", id,
                   record.inbound)) {
        return unexpected(fmt::format("partner {}: cannot read its domains and connectors: {}",
                                      record.name, sqlite3_errmsg(db)));
    }
    return record;
}

}  // namespace

int current_schema_version() {
    return static_cast<int>(schema_steps().size());
}

Result<Directory, std::string> Directory::open(const std::string& path, OpenMode mode) {
    std::error_code error;
    if (mode != OpenMode::create && !std::filesystem::exists(path, error)) {
        return unexpected(
            fmt::format("directory {}: no such file; create it with `hubctl "
                        "partner import partners.toml` or `hubctl partner add`",
                        path));
    }
    sqlite3* db = nullptr;
    int flags = (mode == OpenMode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                SQLITE_OPEN_NOMUTEX | (mode == OpenMode::create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        return unexpected(fmt::format("directory {}: cannot open: {}", path, why));
    }
    Directory directory(db, path);
    if (mode != OpenMode::read_only) {
        // The -wal and -shm files stay when the last writer closes: hubd's reload reads
        // the directory read-only as the hub user, and SQLite can read a WAL database
        // read-only only while both exist (a reader that may not write cannot create them).
        int persist = 1;
        sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    }
    sqlite3_busy_timeout(db, busy_timeout_ms);
    sqlite3_extended_result_codes(db, 1);
    if (auto done = directory.exec("PRAGMA foreign_keys = ON"); !done) {
        return unexpected(done.error());
    }
    int version = directory.schema_version();
    if (version < 0) {
        return unexpected(directory.error_text("reading the schema version"));
    }
    if (version > current_schema_version()) {
        return unexpected(
            fmt::format("directory {}: schema version {} is newer than this "
                        "build knows ({}); use the hubbox that wrote it",
                        path, version, current_schema_version()));
    }
    if (version < current_schema_version() && mode == OpenMode::read_only) {
        return unexpected(
            fmt::format("directory {}: schema version {} is older than this build's ({}) and "
                        "a reload cannot migrate it; restart hubd",
                        path, version, current_schema_version()));
    }
    if (version < current_schema_version()) {
        // WAL once, when the file is new; the mode is then stored in the file.
        if (auto done = directory.exec("PRAGMA journal_mode = WAL"); !done) {
            return unexpected(done.error());
        }
    }
    for (int step = version; step < current_schema_version(); step++) {
        Transaction transaction(db);
        if (!transaction.began()) {
            return unexpected(directory.error_text("starting a migration"));
        }
        if (auto done = directory.exec(schema_steps()[static_cast<std::size_t>(step)]); !done) {
            return unexpected(done.error());
        }
        std::string set_version = fmt::format("PRAGMA user_version = {}", step + 1);
        if (auto done = directory.exec(set_version.c_str()); !done) {
            return unexpected(done.error());
        }
        if (!transaction.commit()) {
            return unexpected(
                directory.error_text(fmt::format("migrating to schema {}", step + 1)));
        }
    }
    return directory;
}

Directory::Directory(Directory&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Directory& Directory::operator=(Directory&& other) noexcept {
    if (this != &other) {
        sqlite3_close(db_);
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
    }
    return *this;
}

Directory::~Directory() {
    close();
}

void Directory::close() {
    sqlite3_close(db_);  // A no-op on nullptr.
    db_ = nullptr;
}

std::string Directory::error_text(std::string_view doing) {
    return fmt::format("directory {}: {}: {}", path_, doing, sqlite3_errmsg(db_));
}

Result<void, std::string> Directory::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        return unexpected(fmt::format("directory {}: {}", path_, text));
    }
    return {};
}

int Directory::schema_version() {
    Statement statement(db_, "PRAGMA user_version");
    if (!statement.ok() || statement.step() != SQLITE_ROW) {
        return -1;
    }
    return static_cast<int>(statement.integer(0));
}

Result<std::vector<PartnerRecord>, std::string> Directory::partners() {
    std::string sql = std::string(select_partner_sql) + "ORDER BY p.name";
    Statement statement(db_, sql.c_str());
    if (!statement.ok()) {
        return unexpected(error_text("reading partners"));
    }
    std::vector<PartnerRecord> records;
    int status = SQLITE_ROW;
    while ((status = statement.step()) == SQLITE_ROW) {
        if (records.size() >= policy::partners_count_max) {
            return unexpected(fmt::format("directory {}: more than {} partners", path_,
                                          policy::partners_count_max));
        }
        auto record = read_record(db_, statement);
        if (!record) {
            return unexpected(fmt::format("directory {}: {}", path_, record.error()));
        }
        records.push_back(std::move(*record));
    }
    if (status != SQLITE_DONE) {
        return unexpected(error_text("reading partners"));
    }
    return records;
}

Result<std::optional<PartnerRecord>, std::string> Directory::find(std::string_view name) {
    std::string sql = std::string(select_partner_sql) + "WHERE p.name = ?";
    Statement statement(db_, sql.c_str());
    if (!statement.ok()) {
        return unexpected(error_text("reading a partner"));
    }
    statement.bind(1, name);
    int status = statement.step();
    if (status == SQLITE_DONE) {
        return std::optional<PartnerRecord>();
    }
    if (status != SQLITE_ROW) {
        return unexpected(error_text("reading a partner"));
    }
    auto record = read_record(db_, statement);
    if (!record) {
        return unexpected(fmt::format("directory {}: {}", path_, record.error()));
    }
    return std::optional<PartnerRecord>(std::move(*record));
}

Result<std::vector<AuditEntry>, std::string> Directory::audit(std::string_view subject,
                                                              std::size_t limit) {
    Statement statement(db_,
                        "SELECT id, at_unix_s, actor, action, subject, before_json, after_json "
                        "FROM (SELECT * FROM audit_log WHERE ?1 = '' OR subject = ?1 "
                        "ORDER BY id DESC LIMIT ?2) ORDER BY id");
    if (!statement.ok()) {
        return unexpected(error_text("reading the audit log"));
    }
    statement.bind(1, subject);
    statement.bind(2, static_cast<std::int64_t>(limit));
    std::vector<AuditEntry> entries;
    if (read_rows(statement, entries, [](Statement& row) {
            return AuditEntry{row.integer(0), row.integer(1), row.text(2), row.text(3),
                              row.text(4),    row.text(5),    row.text(6)};
        }) != SQLITE_DONE) {
        return unexpected(error_text("reading the audit log"));
    }
    return entries;
}

// Another partner's claim on one of this record's domains or on its client CN.
Result<void, std::string> Directory::check_claims(const PartnerRecord& record) {
    Statement lookup(db_,
                     "SELECT p.name FROM domains d JOIN partners p ON p.id = d.partner_id "
                     "WHERE d.domain = ? AND p.name <> ?");
    if (!lookup.ok()) {
        return unexpected(error_text("checking domains"));
    }
    for (const std::string& domain : record.domains) {
        lookup.reset();
        lookup.bind(1, domain);
        lookup.bind(2, record.name);
        if (lookup.step() == SQLITE_ROW) {
            std::string other = lookup.text(0);
            return unexpected(
                fmt::format("domain {} is owned by partner {}; remove it there "
                            "first (hubctl domain remove {} {})",
                            domain, other, other, domain));
        }
    }
    // Client CNs are compared ignoring ASCII case, as the session matches them.
    std::string cn = effective_client_cn(record);
    if (cn.empty()) {
        return {};
    }
    auto others = partners();
    if (!others) {
        return unexpected(others.error());
    }
    for (const PartnerRecord& other : *others) {
        if (other.name == record.name) {
            continue;
        }
        if (config::ascii_lower(effective_client_cn(other)) == config::ascii_lower(cn)) {
            return unexpected(
                fmt::format("client CN \"{}\" is already partner {}'s; give this "
                            "partner its own (--client-cn)",
                            cn, other.name));
        }
    }
    return {};
}

// A partner's domains and connectors, replacing what was stored (in one transaction).
Result<void, std::string> Directory::write_children(std::int64_t id, const PartnerRecord& record) {
    for (const char* sql : {"DELETE FROM domains WHERE partner_id = ?",
                            "DELETE FROM extra_sender_domains WHERE partner_id = ?",
                            "DELETE FROM inbound_connectors WHERE partner_id = ?",
                            "DELETE FROM outbound_connectors WHERE partner_id = ?"}) {
        Statement clear(db_, sql);
        clear.bind(1, id);
        if (!clear.ok() || clear.step() != SQLITE_DONE) {
            return unexpected(error_text("writing a partner"));
        }
    }
    auto insert_all = [&](const char* sql, const std::vector<std::string>& items) {
        Statement insert(db_, sql);
        for (const std::string& item : items) {
            insert.reset();
            insert.bind(1, id);
            insert.bind(2, item);
            if (!insert.ok() || insert.step() != SQLITE_DONE) {
                return false;
            }
        }
        return true;
    };
    if (!insert_all("INSERT INTO domains (partner_id, domain) VALUES (?, ?)", record.domains) ||
        !insert_all("INSERT INTO extra_sender_domains (partner_id, domain) VALUES (?, ?)",
                    record.extra_sender_domains) ||
        !insert_all("INSERT INTO inbound_connectors (partner_id, cidr) VALUES (?, ?)",
                    record.inbound)) {
        return unexpected(error_text("writing a partner's domains and connectors"));
    }
    if (!record.outbound_host.empty()) {
        Statement outbound(db_,
                           "INSERT INTO outbound_connectors (partner_id, host, port, "
                           "server_name, pin_sha256) VALUES (?, ?, ?, ?, ?)");
        outbound.bind(1, id);
        outbound.bind(2, record.outbound_host);
        outbound.bind(3, std::int64_t{record.outbound_port});
        outbound.bind_optional(4, record.outbound_name);
        outbound.bind_optional(5, record.outbound_pin_sha256);
        if (!outbound.ok() || outbound.step() != SQLITE_DONE) {
            return unexpected(error_text("writing an outbound connector"));
        }
    }
    return {};
}

Result<void, std::string> Directory::write_record(std::string_view name,
                                                  const std::optional<PartnerRecord>& after) {
    std::int64_t now = now_unix_s();
    if (!after) {
        Statement remove(db_, "DELETE FROM partners WHERE name = ?");
        remove.bind(1, name);
        if (!remove.ok() || remove.step() != SQLITE_DONE) {
            return unexpected(error_text("removing a partner"));
        }
    } else {
        const PartnerRecord& record = *after;
        Statement upsert(db_,
                         "INSERT INTO partners (name, contact, state, subdomains, "
                         "require_client_certificate, client_cn, created_unix_s, updated_unix_s) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (name) DO UPDATE SET "
                         "contact = ?2, state = ?3, subdomains = ?4, "
                         "require_client_certificate = ?5, client_cn = ?6, updated_unix_s = ?7 "
                         "RETURNING id");
        upsert.bind(1, record.name);
        upsert.bind(2, record.contact);
        upsert.bind(3, to_string(record.state));
        upsert.bind(4, std::int64_t{record.subdomains});
        upsert.bind(5, std::int64_t{record.require_client_certificate});
        upsert.bind_optional(6, record.client_cn);
        upsert.bind(7, now);
        if (!upsert.ok() || upsert.step() != SQLITE_ROW) {
            return unexpected(error_text("writing a partner"));
        }
        std::int64_t id = upsert.integer(0);
        if (upsert.step() != SQLITE_DONE) {
            return unexpected(error_text("writing a partner"));
        }
        if (auto written = write_children(id, record); !written) {
            return written;
        }
    }
    return {};
}

Result<void, std::string> Directory::audited_change(std::string_view actor,
                                                    const AuditedWrite& write) {
    Transaction transaction(db_);
    if (!transaction.began()) {
        return unexpected(error_text("starting a change"));
    }
    auto written = write();
    if (!written) {
        return unexpected(written.error());
    }
    if (!written->has_value()) {
        return {};  // Nothing to write, nothing to audit.
    }
    const AuditNote& note = **written;
    HUB_ASSERT(!note.action.empty() && !note.subject.empty());  // Every entry names both.
    HUB_ASSERT(!note.before.empty() || !note.after.empty());    // A change has a side.
    if (auto audited = audit_change(note.action, note.subject, note.before, note.after, actor);
        !audited) {
        return audited;
    }
    if (!transaction.commit()) {
        return unexpected(error_text("committing a change"));
    }
    return {};
}

Result<void, std::string> Directory::audit_change(std::string_view action, std::string_view subject,
                                                  std::string_view before, std::string_view after,
                                                  std::string_view actor) {
    Statement audit(db_,
                    "INSERT INTO audit_log (at_unix_s, actor, action, subject, before_json, "
                    "after_json) VALUES (?, ?, ?, ?, ?, ?)");
    audit.bind(1, now_unix_s());
    audit.bind(2, actor);
    audit.bind(3, action);
    audit.bind(4, subject);
    audit.bind_optional(5, before);
    audit.bind_optional(6, after);
    if (!audit.ok() || audit.step() != SQLITE_DONE) {
        return unexpected(error_text("writing the audit log"));
    }
    return {};
}

std::string check_actor(std::string_view actor) {
    auto printable = [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; };
    if (actor.empty() || actor.size() > actor_bytes_max ||
        !std::all_of(actor.begin(), actor.end(), printable)) {
        return fmt::format("the actor must be 1..{} printable characters without spaces",
                           actor_bytes_max);
    }
    return {};
}

Result<void, std::string> Directory::change(std::string_view name, std::string_view action,
                                            std::string_view actor, const PartnerEdit& edit) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    return audited_change(actor, [&]() -> Result<std::optional<AuditNote>, std::string> {
        auto found = find(name);
        if (!found) {
            return unexpected(found.error());
        }
        std::optional<PartnerRecord> before = std::move(*found);
        std::optional<PartnerRecord> after = before;
        if (std::string why = edit(after); !why.empty()) {
            return unexpected(fmt::format("partner {}: {}", name, why));
        }
        if (after) {
            HUB_ASSERT(after->name == name);  // Edits do not rename.
            if (std::string why = check_record(*after); !why.empty()) {
                return unexpected(why);
            }
            if (auto claims = check_claims(*after); !claims) {
                return unexpected(claims.error());
            }
            if (auto pinned = check_pin_policy(*after); !pinned) {
                return unexpected(pinned.error());
            }
        }
        if (before == after) {
            return std::optional<AuditNote>();
        }
        if (auto written = write_record(name, after); !written) {
            return unexpected(written.error());
        }
        return AuditNote{std::string(action), std::string(name),
                         before ? to_json(*before) : std::string(),
                         after ? to_json(*after) : std::string()};
    });
}

// A partner left without a pin while its outbound TLS policy verifies by the partner's pin.
Result<void, std::string> Directory::check_pin_policy(const PartnerRecord& record) {
    if (!record.outbound_pin_sha256.empty() || record.outbound_host.empty()) {
        return {};
    }
    auto policies = tls_policies();
    if (!policies) {
        return unexpected(policies.error());
    }
    std::vector<policy::Partner> one{to_partner(record)};
    resolve_tls_policies(one, *policies, {});
    const policy::OutboundTlsPolicy& out = one.front().outbound_tls;
    if (out.verify == policy::OutboundVerify::pin && out.pin_sha256.empty()) {
        return unexpected(fmt::format(
            "partner {}: its TLS policy {} verifies by the partner's pin; keep a pin (--pin HEX) "
            "or assign another policy first",
            record.name, one.front().outbound_tls_policy_name));
    }
    return {};
}

Result<void, std::string> Directory::import(const std::vector<PartnerRecord>& records,
                                            std::string_view actor) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    Transaction transaction(db_);
    if (!transaction.began()) {
        return unexpected(error_text("starting the import"));
    }
    for (const PartnerRecord& record : records) {
        if (std::string why = check_record(record); !why.empty()) {
            return unexpected(why);
        }
        auto found = find(record.name);
        if (!found) {
            return unexpected(found.error());
        }
        if (found->has_value()) {
            return unexpected(
                fmt::format("partner {} is already in the directory; nothing was "
                            "imported (remove it first, or edit it with hubctl "
                            "partner edit)",
                            record.name));
        }
        if (auto claims = check_claims(record); !claims) {
            return unexpected(
                fmt::format("partner {}: {}; nothing was imported", record.name, claims.error()));
        }
        if (auto written = write_record(record.name, record); !written) {
            return unexpected(written.error());
        }
        if (auto audited = audit_change("partner import", record.name, "", to_json(record), actor);
            !audited) {
            return unexpected(audited.error());
        }
    }
    if (!transaction.commit()) {
        return unexpected(error_text("committing the import"));
    }
    return {};
}

Result<std::vector<policy::Partner>, std::string> Directory::active_partners() {
    auto both = engine_partners();
    if (!both) {
        return unexpected(std::move(both).error());
    }
    return std::move(both->active);
}

Result<EnginePartners, std::string> Directory::engine_partners() {
    auto records = partners();
    if (!records) {
        return unexpected(records.error());
    }
    EnginePartners out;
    for (const PartnerRecord& record : *records) {
        // Rows written by hubctl pass; a hand-edited row must not reach the engine.
        if (std::string why = check_record(record); !why.empty()) {
            return unexpected(fmt::format("directory {}: partner {}: {}", path_, record.name, why));
        }
        (record.state == PartnerState::active ? out.active : out.held)
            .push_back(to_partner(record));
    }
    auto policies = tls_policies();
    if (!policies) {
        return unexpected(policies.error());
    }
    for (const TlsPolicyRecord& policy : *policies) {
        // As for partners: a hand-edited row must not reach the engine.
        if (std::string why = policy::check_tls_policy(policy.policy); !why.empty()) {
            return unexpected(
                fmt::format("directory {}: TLS policy {}: {}", path_, policy.policy.name, why));
        }
    }
    auto anchors = trust_anchors();
    if (!anchors) {
        return unexpected(anchors.error());
    }
    resolve_tls_policies(out.active, *policies, *anchors);
    resolve_tls_policies(out.held, *policies, *anchors);
    return out;
}

}  // namespace hub::directory
