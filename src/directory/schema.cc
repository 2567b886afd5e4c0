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

constexpr std::array<const char*, 5> steps = {
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
    // 3: TLS endpoint policies, their assignments (a partner, a network or a domain) and the
    // named trust anchors outbound policies may verify against. The policy "default" is
    // what every partner had before: mandatory TLS, client certificates requested and
    // required with the partner's CN, outbound chain and name verified over STARTTLS;
    // partners' require_client_certificate, client_cn, server_name and pin_sha256 keep
    // their meaning and fill in the policy's "the partner's" values.
    R"sql(
CREATE TABLE trust_anchors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    pem TEXT NOT NULL CHECK (pem LIKE '-----BEGIN CERTIFICATE-----%'),
    subject TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    not_after_unix_s INTEGER NOT NULL,
    created_unix_s INTEGER NOT NULL
);
CREATE TABLE tls_policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    in_require_tls INTEGER NOT NULL DEFAULT 1 CHECK (in_require_tls IN (0, 1)),
    in_min_cipher_bits INTEGER NOT NULL DEFAULT 0 CHECK (in_min_cipher_bits IN (0, 128, 256)),
    in_request_cert INTEGER NOT NULL DEFAULT 1 CHECK (in_request_cert IN (0, 1)),
    in_require_cert INTEGER NOT NULL DEFAULT 1 CHECK (in_require_cert IN (0, 1)),
    in_cn_rule TEXT NOT NULL DEFAULT 'partner' CHECK (in_cn_rule IN ('partner', 'value', 'any')),
    in_cn TEXT,
    in_subject_dn TEXT,
    in_issuer_dn TEXT,
    out_require_tls INTEGER NOT NULL DEFAULT 1 CHECK (out_require_tls IN (0, 1)),
    out_verify TEXT NOT NULL DEFAULT 'chain' CHECK (out_verify IN ('chain', 'pin', 'none')),
    out_trust_anchor TEXT REFERENCES trust_anchors (name),
    out_check_name INTEGER NOT NULL DEFAULT 1 CHECK (out_check_name IN (0, 1)),
    out_server_name TEXT,
    out_pin_sha256 TEXT,
    out_min_cipher_bits INTEGER NOT NULL DEFAULT 0 CHECK (out_min_cipher_bits IN (0, 128, 256)),
    out_mode TEXT NOT NULL DEFAULT 'starttls' CHECK (out_mode IN ('starttls', 'implicit')),
    created_unix_s INTEGER NOT NULL,
    updated_unix_s INTEGER NOT NULL
);
INSERT INTO tls_policies (name, created_unix_s, updated_unix_s)
    VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER));
-- Exactly one target per row; a partner's assignment goes with the partner.
CREATE TABLE tls_assignments (
    id INTEGER PRIMARY KEY,
    policy_id INTEGER NOT NULL REFERENCES tls_policies (id) ON DELETE CASCADE,
    partner_id INTEGER UNIQUE REFERENCES partners (id) ON DELETE CASCADE,
    cidr TEXT UNIQUE,
    domain TEXT UNIQUE CHECK (domain = lower(domain)),
    CHECK ((partner_id IS NOT NULL) + (cidr IS NOT NULL) + (domain IS NOT NULL) = 1)
);
CREATE INDEX tls_assignments_by_policy ON tls_assignments (policy_id);
)sql",
    // 4: certificates per listening address and SNI name. Only the file paths: the keys
    // stay root-only files that hubd reads before it drops privileges (the hub user reads
    // this database). address is "host:port" / "[v6]:port" in canonical form, or "*";
    // sni is a lower-case host name, or '' for a client that sends none (or an unknown one).
    R"sql(
CREATE TABLE listener_certificates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL CHECK (address <> ''),
    sni TEXT NOT NULL DEFAULT '' CHECK (sni = lower(sni)),
    certificate_path TEXT NOT NULL CHECK (certificate_path LIKE '/%'),
    key_path TEXT NOT NULL CHECK (key_path LIKE '/%'),
    created_unix_s INTEGER NOT NULL,
    UNIQUE (address, sni)
);
)sql",
    // 5: the peers whose outbound TLS fails, and since when, recorded from hubd's health
    // snapshot by `hubctl tls-failures record` (hubd itself never writes the directory).
    // peer is the destination as hubd names it (a partner's name); partner_id the partner
    // of that name when recorded (it goes with the partner). Not audited: these are hubd's
    // observations, not an administrator's change. hubd_* let a record add only what hubd
    // counted since the previous one.
    R"sql(
CREATE TABLE tls_failures (
    peer TEXT PRIMARY KEY CHECK (peer <> ''),
    partner_id INTEGER REFERENCES partners (id) ON DELETE CASCADE,
    first_failed_unix_s INTEGER NOT NULL,
    last_failed_unix_s INTEGER NOT NULL CHECK (last_failed_unix_s >= first_failed_unix_s),
    last_reason TEXT NOT NULL DEFAULT '',
    failure_count INTEGER NOT NULL CHECK (failure_count >= 1),
    hubd_started_unix_ms INTEGER NOT NULL,
    hubd_failure_count INTEGER NOT NULL
);
)sql",
};

}  // namespace

std::span<const char* const> schema_steps() {
    return steps;
}

}  // namespace hub::directory
