// tls_endpoints.h -- TLS endpoint policies and trust anchors as the directory stores them.
//
// A TlsPolicyRecord is a named policy::TlsPolicy with what it is assigned to: partners
// (all their connections), networks (an inbound client's source, an outbound smart host's
// address) and domains (the partner owning the domain). The engine gets, per partner, the
// most specific one (network, then domain, then partner, then "default"), resolved by
// resolve_tls_policies() into policy::Partner. See docs/DIRECTORY.md, "TLS endpoints".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "policy/partners.h"
#include "policy/tls_policy.h"

namespace hub::directory {

struct TlsPolicyRecord {
    policy::TlsPolicy policy;
    std::vector<std::string> partners;  // Partner names, sorted.
    std::vector<std::string> networks;  // format_cidr form, sorted.
    std::vector<std::string> domains;   // Lower case, sorted.

    bool operator==(const TlsPolicyRecord&) const = default;
};

// A CA certificate an outbound policy may verify a partner's server against instead of
// the hub CA.
struct TrustAnchorRecord {
    std::string name;
    std::string pem;  // One certificate.
    std::string subject;
    std::string sha256;  // Of the DER, 64 lower-case hex digits.
    std::int64_t not_after_unix_s = 0;

    bool operator==(const TrustAnchorRecord&) const = default;
};

// What a write does to one policy (nullopt before: no policy by that name); leaves the
// record it should become, or returns what to fix.
using TlsPolicyEdit = std::function<std::string(std::optional<TlsPolicyRecord>& record)>;

// Settings of tls-endpoint create / edit as the operator typed them; unset fields are left
// as they are (edit) or at the shipped default (create).
struct TlsPolicyFields {
    std::optional<bool> in_require_tls;
    std::optional<int> in_min_cipher_bits;
    std::optional<bool> in_request_certificate;
    std::optional<bool> in_require_certificate;
    std::optional<std::string> in_cn;          // "partner", "any", or the CN itself.
    std::optional<std::string> in_subject_dn;  // "" clears.
    std::optional<std::string> in_issuer_dn;   // "" clears.
    std::optional<bool> out_require_tls;
    std::optional<std::string> out_verify;        // "chain", "pin", "none".
    std::optional<std::string> out_trust_anchor;  // "" = the hub CA.
    std::optional<bool> out_check_name;
    std::optional<std::string> out_server_name;  // "" = the partner's outbound name.
    std::optional<std::string> out_pin_sha256;   // "" clears.
    std::optional<int> out_min_cipher_bits;
    std::optional<std::string> out_mode;  // "starttls", "implicit".
};

// A new policy (refused if the name is taken), the shipped default changed by fields.
TlsPolicyEdit create_tls_policy(std::string name, TlsPolicyFields fields);
// Changes the given fields of an existing policy.
TlsPolicyEdit edit_tls_policy(TlsPolicyFields fields);
// Adds (or with unassign removes) assignments; networks are parsed (parse_cidr) and stored
// in format_cidr form, domains lower case.
TlsPolicyEdit assign_tls_policy(std::vector<std::string> partners,
                                std::vector<std::string> networks, std::vector<std::string> domains,
                                bool unassign);

// {"name":"strict","inbound":{...},"outbound":{...},"assigned":{"partners":[...],...}}
std::string to_json(const TlsPolicyRecord& record);
// {"name":...,"subject":...,"sha256":...,"not_after":...}: the PEM itself is not printed.
std::string to_json(const TrustAnchorRecord& record);

// Fills each partner's TLS fields (policy::Partner's inbound_tls, outbound_tls, ...) from
// the policies: a network assignment holding the source (inbound, per session) or the
// smart host (outbound), else a domain assignment on one of the partner's domains, else a
// partner assignment, else "default". anchors give the PEM of a named trust anchor.
void resolve_tls_policies(std::vector<policy::Partner>& partners,
                          const std::vector<TlsPolicyRecord>& policies,
                          const std::vector<TrustAnchorRecord>& anchors);

// The partner (of partners, by name) owning domain: exactly, or as a subdomain of a
// partner with subdomains; the longest owner wins. nullptr if none.
const policy::Partner* domain_owner(const std::vector<policy::Partner>& partners,
                                    std::string_view domain);

}  // namespace hub::directory
