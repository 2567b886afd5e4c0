// tls_endpoints.cc -- TLS endpoint policies and trust anchors in the directory: read,
// write in one audited transaction, JSON, and the per-partner resolution for the engine.
//
// PURPOSE   Keep named TLS policies and what they apply to, so that every write is
//           checked as a whole (the policy itself, then its claims on partners, networks
//           and domains) and the engine gets each partner's most specific policy.
// RUNS IN   hubctl (tls-endpoint, trust) and hubd's supervisor (active_partners at start
//           and on reload).
// TRUST     Operator input, checked before it is stored; values read back are checked
//           again (check_tls_policy) before they reach the engine.
// LIMITS    policy::tls_assignments_count_max assignments, policy::tls_dn_bytes_max.
// SEE ALSO  directory/tls_endpoints.h, policy/tls_policy.h, docs/DIRECTORY.md.

#include "directory/tls_endpoints.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "base/assert.h"
#include "config/syntax.h"
#include "directory/directory.h"
#include "directory/sqlite_util.h"
#include "policy/limits.h"
#include "policy/partner_checks.h"

namespace hub::directory {

using detail::now_unix_s;
using detail::read_rows;
using detail::Statement;

namespace {

bool is_default(std::string_view name) {
    return name == policy::default_tls_policy_name;
}

}  // namespace

std::string to_json(const TlsPolicyRecord& record) {
    const policy::InboundTlsPolicy& in = record.policy.inbound;
    const policy::OutboundTlsPolicy& out = record.policy.outbound;
    return fmt::format(
        "{{\"name\":{},\"inbound\":{{\"require_tls\":{},\"min_cipher_bits\":{},"
        "\"request_client_certificate\":{},\"require_client_certificate\":{},\"cn_rule\":{},"
        "\"cn\":{},\"subject_dn\":{},\"issuer_dn\":{}}},\"outbound\":{{\"require_tls\":{},"
        "\"verify\":{},\"trust_anchor\":{},\"check_name\":{},\"server_name\":{},"
        "\"pin_sha256\":{},\"min_cipher_bits\":{},\"mode\":{}}},\"assigned\":{{\"partners\":{},"
        "\"networks\":{},\"domains\":{}}}}}",
        json_string(record.policy.name), in.require_tls, in.min_cipher_bits, in.request_certificate,
        in.require_certificate, json_string(policy::to_string(in.cn_rule)), json_optional(in.cn),
        json_optional(in.subject_dn), json_optional(in.issuer_dn), out.require_tls,
        json_string(policy::to_string(out.verify)), json_optional(out.trust_anchor), out.check_name,
        json_optional(out.server_name), json_optional(out.pin_sha256), out.min_cipher_bits,
        json_string(policy::to_string(out.mode)), json_list(record.partners),
        json_list(record.networks), json_list(record.domains));
}

std::string to_json(const TrustAnchorRecord& record) {
    return fmt::format("{{\"name\":{},\"subject\":{},\"sha256\":{},\"not_after_unix_s\":{}}}",
                       json_string(record.name), json_string(record.subject),
                       json_string(record.sha256), record.not_after_unix_s);
}

const policy::Partner* domain_owner(const std::vector<policy::Partner>& partners,
                                    std::string_view domain) {
    const policy::Partner* owner = nullptr;
    std::size_t owner_length = 0;
    for (const policy::Partner& partner : partners) {
        for (const std::string& owned : partner.domains) {
            bool exact = domain == owned;
            bool below = partner.subdomains && domain.size() > owned.size() + 1 &&
                         domain.ends_with(owned) && domain[domain.size() - owned.size() - 1] == '.';
            if ((exact || below) && owned.size() > owner_length) {
                owner = &partner;
                owner_length = owned.size();
            }
        }
    }
    return owner;
}

void resolve_tls_policies(std::vector<policy::Partner>& partners,
                          const std::vector<TlsPolicyRecord>& policies,
                          const std::vector<TrustAnchorRecord>& anchors) {
    policy::TlsPolicy fallback;  // The shipped default, should "default" be missing.
    const policy::TlsPolicy* default_policy = &fallback;
    std::map<std::string, const policy::TlsPolicy*, std::less<>> by_partner;
    // Domain assignments: the longest domain a partner owns wins.
    std::map<std::string, std::pair<std::size_t, const policy::TlsPolicy*>, std::less<>> by_domain;
    struct Network {
        policy::Cidr network;
        const policy::TlsPolicy* policy;
    };
    std::vector<Network> networks;
    for (const TlsPolicyRecord& record : policies) {
        if (is_default(record.policy.name)) {
            default_policy = &record.policy;
        }
        for (const std::string& name : record.partners) {
            by_partner[name] = &record.policy;
        }
        for (const std::string& domain : record.domains) {
            const policy::Partner* owner = domain_owner(partners, domain);
            if (owner == nullptr) {
                continue;  // The domain has gone (or its partner is not active).
            }
            auto& best = by_domain[owner->name];
            if (domain.size() > best.first) {
                best = {domain.size(), &record.policy};
            }
        }
        for (const std::string& text : record.networks) {
            if (auto network = policy::parse_cidr(text)) {
                networks.push_back(Network{*network, &record.policy});
            }
        }
    }
    std::stable_sort(networks.begin(), networks.end(), [](const Network& a, const Network& b) {
        return a.network.prefix_bits > b.network.prefix_bits;
    });
    for (policy::Partner& partner : partners) {
        const policy::TlsPolicy* own = default_policy;
        if (auto found = by_domain.find(partner.name); found != by_domain.end()) {
            own = found->second.second;
        } else if (auto assigned = by_partner.find(partner.name); assigned != by_partner.end()) {
            own = assigned->second;
        }
        partner.tls_policy_name = own->name;
        partner.inbound_tls = own->inbound;
        partner.inbound_tls_by_network.clear();
        const policy::TlsPolicy* outbound = own;
        auto host = policy::parse_cidr(partner.outbound_host);
        bool outbound_found = false;
        for (const Network& network : networks) {
            for (const policy::Cidr& inbound : partner.inbound) {
                if (policy::cidr_overlaps(network.network, inbound)) {
                    partner.inbound_tls_by_network.push_back(policy::Partner::NetworkTls{
                        network.network, network.policy->name, network.policy->inbound});
                    break;
                }
            }
            if (!outbound_found && host && policy::cidr_overlaps(network.network, *host) &&
                network.network.prefix_bits <= host->prefix_bits) {
                outbound = network.policy;
                outbound_found = true;
            }
        }
        partner.outbound_tls_policy_name = outbound->name;
        partner.outbound_tls = outbound->outbound;
        partner.outbound_trust_anchor_pem.clear();
        for (const TrustAnchorRecord& anchor : anchors) {
            if (anchor.name == partner.outbound_tls.trust_anchor) {
                partner.outbound_trust_anchor_pem = anchor.pem;
            }
        }
    }
}

namespace {

constexpr const char* select_policy_sql =
    "SELECT id, name, in_require_tls, in_min_cipher_bits, in_request_cert, in_require_cert, "
    "in_cn_rule, in_cn, in_subject_dn, in_issuer_dn, out_require_tls, out_verify, "
    "out_trust_anchor, out_check_name, out_server_name, out_pin_sha256, out_min_cipher_bits, "
    "out_mode FROM tls_policies ";

Result<TlsPolicyRecord, std::string> read_policy(sqlite3* db, Statement& row) {
    TlsPolicyRecord record;
    std::int64_t id = row.integer(0);
    policy::TlsPolicy& p = record.policy;
    p.name = row.text(1);
    p.inbound.require_tls = row.integer(2) != 0;
    p.inbound.min_cipher_bits = static_cast<int>(row.integer(3));
    p.inbound.request_certificate = row.integer(4) != 0;
    p.inbound.require_certificate = row.integer(5) != 0;
    bool known = policy::parse_cn_rule(row.text(6), p.inbound.cn_rule);
    p.inbound.cn = row.text(7);
    p.inbound.subject_dn = row.text(8);
    p.inbound.issuer_dn = row.text(9);
    p.outbound.require_tls = row.integer(10) != 0;
    known = policy::parse_outbound_verify(row.text(11), p.outbound.verify) && known;
    p.outbound.trust_anchor = row.text(12);
    p.outbound.check_name = row.integer(13) != 0;
    p.outbound.server_name = row.text(14);
    p.outbound.pin_sha256 = row.text(15);
    p.outbound.min_cipher_bits = static_cast<int>(row.integer(16));
    known = policy::parse_outbound_tls_mode(row.text(17), p.outbound.mode) && known;
    if (!known) {
        return unexpected(fmt::format("TLS policy {}: a value this build does not know", p.name));
    }
    Statement assigned(db,
                       "SELECT p.name, a.cidr, a.domain FROM tls_assignments a "
                       "LEFT JOIN partners p ON p.id = a.partner_id WHERE a.policy_id = ?");
    if (!assigned.ok()) {
        return unexpected(fmt::format("TLS policy {}: {}", p.name, sqlite3_errmsg(db)));
    }
    assigned.bind(1, id);
    int status = SQLITE_ROW;
    while ((status = assigned.step()) == SQLITE_ROW) {
        if (!assigned.is_null(0)) {
            record.partners.push_back(assigned.text(0));
        } else if (!assigned.is_null(1)) {
            record.networks.push_back(assigned.text(1));
        } else {
            record.domains.push_back(assigned.text(2));
        }
    }
    if (status != SQLITE_DONE) {
        return unexpected(fmt::format("TLS policy {}: {}", p.name, sqlite3_errmsg(db)));
    }
    std::sort(record.partners.begin(), record.partners.end());
    std::sort(record.networks.begin(), record.networks.end());
    std::sort(record.domains.begin(), record.domains.end());
    return record;
}

}  // namespace

Result<std::vector<TlsPolicyRecord>, std::string> Directory::tls_policies() {
    std::string sql = std::string(select_policy_sql) + "ORDER BY name";
    Statement statement(db_, sql.c_str());
    if (!statement.ok()) {
        return unexpected(error_text("reading TLS policies"));
    }
    std::vector<TlsPolicyRecord> records;
    int status = SQLITE_ROW;
    while ((status = statement.step()) == SQLITE_ROW) {
        auto record = read_policy(db_, statement);
        if (!record) {
            return unexpected(fmt::format("directory {}: {}", path_, record.error()));
        }
        records.push_back(std::move(*record));
    }
    if (status != SQLITE_DONE) {
        return unexpected(error_text("reading TLS policies"));
    }
    return records;
}

Result<std::optional<TlsPolicyRecord>, std::string> Directory::find_tls_policy(
    std::string_view name) {
    std::string sql = std::string(select_policy_sql) + "WHERE name = ?";
    Statement statement(db_, sql.c_str());
    if (!statement.ok()) {
        return unexpected(error_text("reading a TLS policy"));
    }
    statement.bind(1, name);
    int status = statement.step();
    if (status == SQLITE_DONE) {
        return std::optional<TlsPolicyRecord>();
    }
    if (status != SQLITE_ROW) {
        return unexpected(error_text("reading a TLS policy"));
    }
    auto record = read_policy(db_, statement);
    if (!record) {
        return unexpected(fmt::format("directory {}: {}", path_, record.error()));
    }
    return std::optional<TlsPolicyRecord>(std::move(*record));
}

Result<std::vector<TrustAnchorRecord>, std::string> Directory::trust_anchors() {
    Statement statement(
        db_,
        "SELECT name, pem, subject, sha256, not_after_unix_s FROM trust_anchors ORDER BY name");
    if (!statement.ok()) {
        return unexpected(error_text("reading trust anchors"));
    }
    std::vector<TrustAnchorRecord> anchors;
    if (read_rows(statement, anchors, [](Statement& row) {
            return TrustAnchorRecord{row.text(0), row.text(1), row.text(2), row.text(3),
                                     row.integer(4)};
        }) != SQLITE_DONE) {
        return unexpected(error_text("reading trust anchors"));
    }
    return anchors;
}

// What the policy claims must be free and real: partners that exist, networks and
// domains no other policy holds, domains a partner owns (domain_owner's, when given),
// the named trust anchor, a pin for every partner a pin policy without its own pin covers.
Result<void, std::string> Directory::check_tls_claims(const TlsPolicyRecord& record,
                                                      const std::optional<TlsPolicyRecord>& before,
                                                      std::string_view owner_wanted) {
    auto records = partners();
    if (!records) {
        return unexpected(records.error());
    }
    std::vector<policy::Partner> everyone;
    for (const PartnerRecord& partner : *records) {
        everyone.push_back(to_partner(partner));
    }
    auto find_partner = [&](std::string_view name) -> const PartnerRecord* {
        for (const PartnerRecord& partner : *records) {
            if (partner.name == name) {
                return &partner;
            }
        }
        return nullptr;
    };
    std::size_t assignments =
        record.partners.size() + record.networks.size() + record.domains.size();
    if (assignments > policy::tls_assignments_count_max) {
        return unexpected(fmt::format("TLS policy {}: at most {} assignments", record.policy.name,
                                      policy::tls_assignments_count_max));
    }
    auto policies = tls_policies();
    if (!policies) {
        return unexpected(policies.error());
    }
    auto held_elsewhere = [&](auto member, const std::string& item) -> std::string {
        for (const TlsPolicyRecord& other : *policies) {
            const std::vector<std::string>& list = other.*member;
            if (other.policy.name != record.policy.name &&
                std::find(list.begin(), list.end(), item) != list.end()) {
                return other.policy.name;
            }
        }
        return {};
    };
    for (const std::string& name : record.partners) {
        if (find_partner(name) == nullptr) {
            return unexpected(fmt::format(
                "no partner named {} (hubctl partner list shows them); nothing was assigned",
                name));
        }
        if (std::string other = held_elsewhere(&TlsPolicyRecord::partners, name); !other.empty()) {
            return unexpected(fmt::format(
                "partner {} is assigned to TLS policy {}; unassign it there first (hubctl "
                "tls-endpoint assign {} --unassign --partner {})",
                name, other, other, name));
        }
    }
    for (const std::string& network : record.networks) {
        if (std::string other = held_elsewhere(&TlsPolicyRecord::networks, network);
            !other.empty()) {
            return unexpected(fmt::format(
                "network {} is assigned to TLS policy {}; unassign it there first (hubctl "
                "tls-endpoint assign {} --unassign --cidr {})",
                network, other, other, network));
        }
    }
    bool newly = false;
    for (const std::string& domain : record.domains) {
        newly = !before || std::find(before->domains.begin(), before->domains.end(), domain) ==
                               before->domains.end();
        const policy::Partner* owner = domain_owner(everyone, domain);
        if (newly && owner == nullptr) {
            return unexpected(fmt::format(
                "no partner owns domain {}; a TLS policy is assigned to a partner's domain "
                "(hubctl partner list shows them)",
                domain));
        }
        if (newly && !owner_wanted.empty() && owner->name != owner_wanted) {
            return unexpected(fmt::format(
                "domain {} is owned by partner {}, not by {}; assign it without --partner, or "
                "name its owner",
                domain, owner->name, owner_wanted));
        }
        if (std::string other = held_elsewhere(&TlsPolicyRecord::domains, domain); !other.empty()) {
            return unexpected(fmt::format(
                "domain {} is assigned to TLS policy {}; unassign it there first (hubctl "
                "tls-endpoint assign {} --unassign --domain {})",
                domain, other, other, domain));
        }
    }
    const policy::OutboundTlsPolicy& out = record.policy.outbound;
    if (!out.trust_anchor.empty()) {
        auto anchors = trust_anchors();
        if (!anchors) {
            return unexpected(anchors.error());
        }
        if (std::none_of(anchors->begin(), anchors->end(), [&](const TrustAnchorRecord& anchor) {
                return anchor.name == out.trust_anchor;
            })) {
            return unexpected(
                fmt::format("no trust anchor named {}; add it first (hubctl trust add {} FILE.pem)",
                            out.trust_anchor, out.trust_anchor));
        }
    }
    if (out.verify == policy::OutboundVerify::pin && out.pin_sha256.empty()) {
        // Which partners would this policy cover? Resolve as the engine would.
        std::vector<TlsPolicyRecord> after_policies;
        for (const TlsPolicyRecord& other : *policies) {
            if (other.policy.name != record.policy.name) {
                after_policies.push_back(other);
            }
        }
        after_policies.push_back(record);
        std::vector<policy::Partner> resolved = everyone;
        resolve_tls_policies(resolved, after_policies, {});
        for (const policy::Partner& partner : resolved) {
            if (partner.outbound_tls_policy_name == record.policy.name &&
                partner.outbound_pin_sha256.empty()) {
                return unexpected(fmt::format(
                    "TLS policy {} verifies by pin but has none, and partner {} has none either; "
                    "give the policy one (--out-pin HEX) or the partner one (hubctl connector "
                    "set {} --pin HEX)",
                    record.policy.name, partner.name, partner.name));
            }
        }
    }
    return {};
}

Result<void, std::string> Directory::write_tls_policy(const std::optional<TlsPolicyRecord>& before,
                                                      const std::optional<TlsPolicyRecord>& after) {
    if (!after) {
        Statement remove(db_, "DELETE FROM tls_policies WHERE name = ?");
        remove.bind(1, before->policy.name);
        if (!remove.ok() || remove.step() != SQLITE_DONE) {
            return unexpected(error_text("removing a TLS policy"));
        }
        return {};
    }
    const policy::TlsPolicy& p = after->policy;
    Statement upsert(
        db_,
        "INSERT INTO tls_policies (name, in_require_tls, in_min_cipher_bits, in_request_cert, "
        "in_require_cert, in_cn_rule, in_cn, in_subject_dn, in_issuer_dn, out_require_tls, "
        "out_verify, out_trust_anchor, out_check_name, out_server_name, out_pin_sha256, "
        "out_min_cipher_bits, out_mode, created_unix_s, updated_unix_s) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18) "
        "ON CONFLICT (name) DO UPDATE SET in_require_tls = ?2, in_min_cipher_bits = ?3, "
        "in_request_cert = ?4, in_require_cert = ?5, in_cn_rule = ?6, in_cn = ?7, "
        "in_subject_dn = ?8, in_issuer_dn = ?9, out_require_tls = ?10, out_verify = ?11, "
        "out_trust_anchor = ?12, out_check_name = ?13, out_server_name = ?14, "
        "out_pin_sha256 = ?15, out_min_cipher_bits = ?16, out_mode = ?17, updated_unix_s = ?18 "
        "RETURNING id");
    upsert.bind(1, p.name);
    upsert.bind(2, std::int64_t{p.inbound.require_tls});
    upsert.bind(3, std::int64_t{p.inbound.min_cipher_bits});
    upsert.bind(4, std::int64_t{p.inbound.request_certificate});
    upsert.bind(5, std::int64_t{p.inbound.require_certificate});
    upsert.bind(6, policy::to_string(p.inbound.cn_rule));
    upsert.bind_optional(7, p.inbound.cn);
    upsert.bind_optional(8, p.inbound.subject_dn);
    upsert.bind_optional(9, p.inbound.issuer_dn);
    upsert.bind(10, std::int64_t{p.outbound.require_tls});
    upsert.bind(11, policy::to_string(p.outbound.verify));
    upsert.bind_optional(12, p.outbound.trust_anchor);
    upsert.bind(13, std::int64_t{p.outbound.check_name});
    upsert.bind_optional(14, p.outbound.server_name);
    upsert.bind_optional(15, p.outbound.pin_sha256);
    upsert.bind(16, std::int64_t{p.outbound.min_cipher_bits});
    upsert.bind(17, policy::to_string(p.outbound.mode));
    upsert.bind(18, now_unix_s());
    if (!upsert.ok() || upsert.step() != SQLITE_ROW) {
        return unexpected(error_text("writing a TLS policy"));
    }
    std::int64_t id = upsert.integer(0);
    if (upsert.step() != SQLITE_DONE) {
        return unexpected(error_text("writing a TLS policy"));
    }
    Statement clear(db_, "DELETE FROM tls_assignments WHERE policy_id = ?");
    clear.bind(1, id);
    if (!clear.ok() || clear.step() != SQLITE_DONE) {
        return unexpected(error_text("writing a TLS policy's assignments"));
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
    if (!insert_all("INSERT INTO tls_assignments (policy_id, partner_id) "
                    "SELECT ?1, id FROM partners WHERE name = ?2",
                    after->partners) ||
        !insert_all("INSERT INTO tls_assignments (policy_id, cidr) VALUES (?, ?)",
                    after->networks) ||
        !insert_all("INSERT INTO tls_assignments (policy_id, domain) VALUES (?, ?)",
                    after->domains)) {
        return unexpected(error_text("writing a TLS policy's assignments"));
    }
    return {};
}

Result<void, std::string> Directory::change_tls_policy(std::string_view name,
                                                       std::string_view action,
                                                       std::string_view actor,
                                                       const TlsPolicyEdit& edit,
                                                       std::string_view domain_owner) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    if (std::string why = policy::check_tls_policy_name(name); !why.empty()) {
        return unexpected(why);
    }
    return audited_change(actor, [&]() -> Result<std::optional<AuditNote>, std::string> {
        auto found = find_tls_policy(name);
        if (!found) {
            return unexpected(found.error());
        }
        std::optional<TlsPolicyRecord> before = std::move(*found);
        std::optional<TlsPolicyRecord> after = before;
        if (std::string why = edit(after); !why.empty()) {
            return unexpected(fmt::format("TLS policy {}: {}", name, why));
        }
        if (!after && before && is_default(name)) {
            return unexpected(std::string(
                "TLS policy default is what every partner without an assignment gets; it can be "
                "edited but not removed"));
        }
        if (after) {
            HUB_ASSERT(after->policy.name == name);  // Edits do not rename.
            if (std::string why = policy::check_tls_policy(after->policy); !why.empty()) {
                return unexpected(fmt::format("TLS policy {}: {}", name, why));
            }
            if (auto claims = check_tls_claims(*after, before, domain_owner); !claims) {
                return unexpected(fmt::format("TLS policy {}: {}", name, claims.error()));
            }
        }
        if (before == after) {
            return std::optional<AuditNote>();  // Nothing to write, nothing to audit.
        }
        if (auto written = write_tls_policy(before, after); !written) {
            return unexpected(written.error());
        }
        return AuditNote{std::string(action), fmt::format("tls:{}", name),
                         before ? to_json(*before) : std::string(),
                         after ? to_json(*after) : std::string()};
    });
}

Result<void, std::string> Directory::change_trust_anchor(
    std::string_view name, const std::optional<TrustAnchorRecord>& after, std::string_view actor) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    if (std::string why = policy::check_partner_name(name); !why.empty()) {
        return unexpected(fmt::format("trust anchor name \"{}\": {}", name, why));
    }
    return audited_change(actor, [&]() -> Result<std::optional<AuditNote>, std::string> {
        auto anchors = trust_anchors();
        if (!anchors) {
            return unexpected(anchors.error());
        }
        auto existing =
            std::find_if(anchors->begin(), anchors->end(),
                         [&](const TrustAnchorRecord& anchor) { return anchor.name == name; });
        std::string before_json = existing != anchors->end() ? to_json(*existing) : std::string();
        if (after) {
            HUB_ASSERT(after->name == name);
            if (existing != anchors->end()) {
                return unexpected(fmt::format(
                    "trust anchor {} exists already; remove it first (hubctl trust remove {})",
                    name, name));
            }
            Statement insert(db_,
                             "INSERT INTO trust_anchors (name, pem, subject, sha256, "
                             "not_after_unix_s, created_unix_s) VALUES (?, ?, ?, ?, ?, ?)");
            insert.bind(1, after->name);
            insert.bind(2, after->pem);
            insert.bind(3, after->subject);
            insert.bind(4, after->sha256);
            insert.bind(5, after->not_after_unix_s);
            insert.bind(6, now_unix_s());
            if (!insert.ok() || insert.step() != SQLITE_DONE) {
                return unexpected(error_text("adding a trust anchor"));
            }
        } else {
            if (existing == anchors->end()) {
                return unexpected(
                    fmt::format("no trust anchor named {} (hubctl trust list shows them)", name));
            }
            auto policies = tls_policies();
            if (!policies) {
                return unexpected(policies.error());
            }
            for (const TlsPolicyRecord& record : *policies) {
                if (record.policy.outbound.trust_anchor == name) {
                    return unexpected(
                        fmt::format("trust anchor {} is used by TLS policy {}; change that policy "
                                    "first (hubctl "
                                    "tls-endpoint edit {} --out-trust-anchor \"\")",
                                    name, record.policy.name, record.policy.name));
                }
            }
            Statement remove(db_, "DELETE FROM trust_anchors WHERE name = ?");
            remove.bind(1, name);
            if (!remove.ok() || remove.step() != SQLITE_DONE) {
                return unexpected(error_text("removing a trust anchor"));
            }
        }
        return AuditNote{after ? "trust add" : "trust remove", fmt::format("trust:{}", name),
                         before_json, after ? to_json(*after) : std::string()};
    });
}

namespace {

std::string apply_fields(const TlsPolicyFields& fields, policy::TlsPolicy& p) {
    policy::InboundTlsPolicy& in = p.inbound;
    policy::OutboundTlsPolicy& out = p.outbound;
    in.require_tls = fields.in_require_tls.value_or(in.require_tls);
    in.min_cipher_bits = fields.in_min_cipher_bits.value_or(in.min_cipher_bits);
    in.request_certificate = fields.in_request_certificate.value_or(in.request_certificate);
    in.require_certificate = fields.in_require_certificate.value_or(in.require_certificate);
    if (fields.in_cn) {
        if (*fields.in_cn == "partner" || *fields.in_cn == "any") {
            (void)policy::parse_cn_rule(*fields.in_cn, in.cn_rule);
            in.cn.clear();
        } else if (fields.in_cn->empty()) {
            return "--in-cn \"\": give \"partner\" (the partner's client CN), \"any\" (not "
                   "checked) or the CN the certificate must carry";
        } else {
            in.cn_rule = policy::CnRule::value;
            in.cn = *fields.in_cn;
        }
    }
    in.subject_dn = fields.in_subject_dn.value_or(in.subject_dn);
    in.issuer_dn = fields.in_issuer_dn.value_or(in.issuer_dn);
    out.require_tls = fields.out_require_tls.value_or(out.require_tls);
    if (fields.out_verify && !policy::parse_outbound_verify(*fields.out_verify, out.verify)) {
        return fmt::format(
            "--out-verify \"{}\": must be chain (the hub CA or --out-trust-anchor), pin or "
            "none (opportunistic TLS only)",
            *fields.out_verify);
    }
    out.trust_anchor = fields.out_trust_anchor.value_or(out.trust_anchor);
    out.check_name = fields.out_check_name.value_or(out.check_name);
    out.server_name = fields.out_server_name.value_or(out.server_name);
    if (fields.out_pin_sha256) {
        out.pin_sha256 = *fields.out_pin_sha256;
        if (!out.pin_sha256.empty() && policy::check_pin_sha256(out.pin_sha256).empty()) {
            // Stored as the engine compares it: lower case, no separators.
            std::string hex;
            for (char c : out.pin_sha256) {
                if (c != ':') {
                    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                }
            }
            out.pin_sha256 = hex;
        }
    }
    out.min_cipher_bits = fields.out_min_cipher_bits.value_or(out.min_cipher_bits);
    if (fields.out_mode && !policy::parse_outbound_tls_mode(*fields.out_mode, out.mode)) {
        return fmt::format(
            "--out-mode \"{}\": must be starttls (RFC 3207, on the smart host's port) or "
            "implicit (TLS from the first byte, as on port 465)",
            *fields.out_mode);
    }
    return {};
}

}  // namespace

TlsPolicyEdit create_tls_policy(std::string name, TlsPolicyFields fields) {
    return [name = std::move(name),
            fields = std::move(fields)](std::optional<TlsPolicyRecord>& record) -> std::string {
        if (record) {
            return fmt::format("exists already; change it with hubctl tls-endpoint edit {}", name);
        }
        record.emplace();
        record->policy.name = name;
        return apply_fields(fields, record->policy);
    };
}

TlsPolicyEdit edit_tls_policy(TlsPolicyFields fields) {
    return [fields = std::move(fields)](std::optional<TlsPolicyRecord>& record) -> std::string {
        if (!record) {
            return "no such TLS policy (hubctl tls-endpoint list shows them)";
        }
        return apply_fields(fields, record->policy);
    };
}

TlsPolicyEdit assign_tls_policy(std::vector<std::string> partners,
                                std::vector<std::string> networks, std::vector<std::string> domains,
                                bool unassign) {
    return [=](std::optional<TlsPolicyRecord>& record) -> std::string {
        if (!record) {
            return "no such TLS policy; create it first (hubctl tls-endpoint create NAME)";
        }
        if (partners.empty() && networks.empty() && domains.empty()) {
            return "name what to assign: --partner NAME, --cidr NETWORK or --domain DOMAIN";
        }
        auto update = [&](std::vector<std::string>& list, const std::string& item,
                          std::string_view kind) -> std::string {
            auto found = std::find(list.begin(), list.end(), item);
            if (unassign) {
                if (found == list.end()) {
                    return fmt::format("{} {} is not assigned to this policy", kind, item);
                }
                list.erase(found);
            } else if (found == list.end()) {
                list.push_back(item);
            }
            return {};
        };
        for (const std::string& name : partners) {
            if (std::string why = policy::check_partner_name(name); !why.empty()) {
                return fmt::format("--partner \"{}\": {}", name, why);
            }
            if (std::string why = update(record->partners, name, "partner"); !why.empty()) {
                return why;
            }
        }
        for (const std::string& text : networks) {
            auto network = policy::parse_cidr(text);
            if (!network) {
                return fmt::format(
                    "--cidr \"{}\": must be a network such as \"192.0.2.0/24\" or "
                    "\"2001:db8::/32\", or one address ({})",
                    text, network.error());
            }
            if (std::string why =
                    update(record->networks, policy::format_cidr(*network), "network");
                !why.empty()) {
                return why;
            }
        }
        for (const std::string& text : domains) {
            if (std::string why = policy::check_partner_domain(text); !why.empty()) {
                return fmt::format("--domain \"{}\": {}", text, why);
            }
            if (std::string why = update(record->domains, config::ascii_lower(text), "domain");
                !why.empty()) {
                return why;
            }
        }
        std::sort(record->partners.begin(), record->partners.end());
        std::sort(record->networks.begin(), record->networks.end());
        std::sort(record->domains.begin(), record->domains.end());
        return {};
    };
}

}  // namespace hub::directory
