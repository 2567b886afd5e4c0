// record.h -- one partner as the directory stores it, and its JSON form.
//
// A PartnerRecord is what an administrator edits: settings left at their default are
// empty here (client_cn and outbound_name then follow the partner's first domain), and
// the partner has a state. to_partner() resolves it into the policy::Partner the engine
// uses; only active partners reach the engine's table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/partners.h"

namespace hub::directory {

enum class PartnerState { pending, active, suspended };

std::string_view to_string(PartnerState state);
// "pending" | "active" | "suspended"; false for anything else.
[[nodiscard]] bool parse_state(std::string_view text, PartnerState& state);

struct PartnerRecord {
    std::string name;
    std::string contact;
    PartnerState state = PartnerState::pending;
    std::vector<std::string> domains;  // Lower case, in the order given; [0] is the default.
    bool subdomains = false;
    std::vector<std::string> inbound;  // Networks in format_cidr's form.
    std::string outbound_host;         // IP literal; empty: no outbound connector yet.
    std::uint16_t outbound_port = 25;
    std::string outbound_name;  // Empty: domains[0].
    std::string outbound_pin_sha256;
    bool require_client_certificate = true;
    std::string client_cn;                          // Empty: domains[0].
    std::vector<std::string> extra_sender_domains;  // Lower case.

    bool operator==(const PartnerRecord&) const = default;
};

// The engine's view: defaults resolved, inbound networks parsed (they were validated
// before they were stored, so they parse).
policy::Partner to_partner(const PartnerRecord& record);
// A partner read from partners.toml, as an active record (its defaults already resolved
// by the loader are kept as explicit values).
PartnerRecord from_partner(const policy::Partner& partner);

// {"name":"partner1","contact":"","state":"active","domains":[...],...}: for --json and
// the audit log's before/after.
std::string to_json(const PartnerRecord& record);
std::string json_string(std::string_view text);
// ["a","b"]; and a string or null when empty.
std::string json_list(const std::vector<std::string>& items);
std::string json_optional(const std::string& text);

// "" if the record is good on its own (each value, and an active partner has a domain and
// an outbound connector), else what to fix. Cross-partner rules (a domain or a client CN
// used by another partner) are the directory's.
std::string check_record(const PartnerRecord& record);

// "" if text is an inbound network ("192.0.2.0/24", "2001:db8::/32" or one address), else
// what to fix; network receives it when it is one.
std::string check_network(std::string_view text, policy::Cidr& network);

}  // namespace hub::directory
