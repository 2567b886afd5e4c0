// schema.cc -- the directory's schema, as an ordered list of migrations.
//
// PURPOSE   Bring any older directory up to this build's schema, one step per version.
// RUNS IN   Directory::open (hubctl, hubd's supervisor).
// TRUST     The database file is the hub's own; its version number is still checked.
// LIMITS    One transaction per step; a failed step leaves the previous version intact.
// SEE ALSO  directory/directory.cc (migrate), docs/DIRECTORY.md (schema).
//
// Never edit a step once it has shipped: add a new one. Step i (0-based) takes the
// database from user_version i to i + 1.

#include <array>
#include <span>

#include "directory/schema.h"

namespace hub::directory {

namespace {

constexpr std::array<const char*, 2> steps = {
    // 1: partners, their domains, connectors and the audit log.
    R"sql(
CREATE TABLE partners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    contact TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'suspended')),
    subdomains INTEGER NOT NULL DEFAULT 0 CHECK (subdomains IN (0, 1)),
    require_client_certificate INTEGER NOT NULL DEFAULT 1
        CHECK (require_client_certificate IN (0, 1)),
    client_cn TEXT,
    created_unix_s INTEGER NOT NULL,
    updated_unix_s INTEGER NOT NULL
);
CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    domain TEXT NOT NULL UNIQUE CHECK (domain = lower(domain) AND domain <> '')
);
CREATE INDEX domains_by_partner ON domains (partner_id);
CREATE TABLE extra_sender_domains (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    domain TEXT NOT NULL CHECK (domain = lower(domain) AND domain <> ''),
    UNIQUE (partner_id, domain)
);
CREATE TABLE inbound_connectors (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    cidr TEXT NOT NULL,
    UNIQUE (partner_id, cidr)
);
CREATE TABLE outbound_connectors (
    partner_id INTEGER PRIMARY KEY REFERENCES partners (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    server_name TEXT,
    pin_sha256 TEXT
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
CREATE INDEX audit_by_subject ON audit_log (subject, id);
)sql",
    // 2: administrator accounts; passwords as yescrypt hashes (libcrypt, "$y$...").
    R"sql(
CREATE TABLE admins (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$y$%'),
    created_unix_s INTEGER NOT NULL,
    updated_unix_s INTEGER NOT NULL
);
)sql",
};

}  // namespace

std::span<const char* const> schema_steps() {
    return steps;
}

}  // namespace hub::directory
