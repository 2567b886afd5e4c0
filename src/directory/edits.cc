// edits.cc -- partner add/edit/suspend/resume/remove, domain add/remove as PartnerEdits.
//
// PURPOSE   Turn what the operator typed into a changed PartnerRecord, or say what to fix.
// RUNS IN   hubctl (inside Directory::change's transaction). Never on the data path.
// TRUST     Operator input, every value parsed; the record checks follow in change().
// LIMITS    Those of check_record (policy/limits.h, directory/limits.h).
// SEE ALSO  directory/directory.h, programs/hubctl/directory_commands.cc.

#include "directory/edits.h"

#include <fmt/format.h>

#include <algorithm>

#include "config/syntax.h"
#include "policy/limits.h"

namespace hub::directory {

namespace {

// Parses each network and stores it in its normal form ("10.1.2.3/8" -> "10.0.0.0/8").
std::string parse_networks(const std::vector<std::string>& texts, std::vector<std::string>& out) {
    std::vector<std::string> networks;
    for (const std::string& text : texts) {
        policy::Cidr network;
        if (std::string error = check_network(text, network); !error.empty()) {
            return error;
        }
        std::string normal = policy::format_cidr(network);
        if (std::find(networks.begin(), networks.end(), normal) != networks.end()) {
            return fmt::format("inbound \"{}\": listed twice (as {})", text, normal);
        }
        networks.push_back(std::move(normal));
    }
    out = std::move(networks);
    return {};
}

std::vector<std::string> lower_all(const std::vector<std::string>& texts) {
    std::vector<std::string> out;
    for (const std::string& text : texts) {
        out.push_back(config::ascii_lower(text));
    }
    return out;
}

std::string apply_fields(PartnerRecord& record, PartnerFields fields) {
    if (fields.contact) {
        record.contact = std::move(*fields.contact);
    }
    if (fields.domains) {
        record.domains = lower_all(*fields.domains);
    }
    if (fields.subdomains) {
        record.subdomains = *fields.subdomains;
    }
    if (fields.inbound) {
        if (std::string why = parse_networks(*fields.inbound, record.inbound); !why.empty()) {
            return why;
        }
    }
    if (fields.outbound) {
        config::Endpoint endpoint;
        std::string why =
            config::parse_endpoint(*fields.outbound, endpoint, policy::outbound_port_default);
        if (!why.empty()) {
            return fmt::format(
                "outbound \"{}\": must be \"IPv4[:port]\" or \"[IPv6][:port]\" "
                "with a numeric address ({})",
                *fields.outbound, why);
        }
        record.outbound_host = std::move(endpoint.host);
        record.outbound_port = endpoint.port;
    }
    if (fields.outbound_name) {
        record.outbound_name = config::ascii_lower(*fields.outbound_name);
    }
    if (fields.outbound_pin_sha256) {
        record.outbound_pin_sha256 = std::move(*fields.outbound_pin_sha256);
    }
    if (fields.require_client_certificate) {
        record.require_client_certificate = *fields.require_client_certificate;
    }
    if (fields.client_cn) {
        record.client_cn = std::move(*fields.client_cn);
    }
    if (fields.extra_sender_domains) {
        record.extra_sender_domains = lower_all(*fields.extra_sender_domains);
    }
    if (!record.outbound_host.empty() || (!fields.outbound_name && !fields.outbound_pin_sha256)) {
        return {};
    }
    return "an outbound name or pin needs an outbound connector; give --outbound HOST:PORT too";
}

}  // namespace

PartnerEdit add_partner(std::string name, PartnerFields fields, bool pending) {
    return [name = std::move(name), fields = std::move(fields),
            pending](std::optional<PartnerRecord>& record) -> std::string {
        if (record) {
            return std::string("exists already; change it with hubctl partner edit");
        }
        PartnerRecord fresh;
        fresh.name = name;
        fresh.state = pending ? PartnerState::pending : PartnerState::active;
        if (std::string why = apply_fields(fresh, fields); !why.empty()) {
            return why;
        }
        record = std::move(fresh);
        return {};
    };
}

PartnerEdit edit_partner(PartnerFields fields) {
    return [fields = std::move(fields)](std::optional<PartnerRecord>& record) -> std::string {
        if (!record) {
            return "no such partner (hubctl partner list shows them)";
        }
        return apply_fields(*record, fields);
    };
}

PartnerEdit set_state(PartnerState state) {
    return [state](std::optional<PartnerRecord>& record) -> std::string {
        if (!record) {
            return "no such partner (hubctl partner list shows them)";
        }
        if (record->state == state) {
            return fmt::format("already {}", to_string(state));
        }
        if (state == PartnerState::pending) {
            return "a partner cannot go back to pending; suspend it instead";
        }
        record->state = state;
        return {};
    };
}

PartnerEdit remove_partner() {
    return [](std::optional<PartnerRecord>& record) -> std::string {
        if (!record) {
            return "no such partner (hubctl partner list shows them)";
        }
        record.reset();
        return {};
    };
}

PartnerEdit add_domain(std::string domain) {
    return [domain = config::ascii_lower(domain)](std::optional<PartnerRecord>& record) {
        if (!record) {
            return std::string("no such partner (hubctl partner list shows them)");
        }
        if (std::find(record->domains.begin(), record->domains.end(), domain) !=
            record->domains.end()) {
            return fmt::format("owns {} already", domain);
        }
        record->domains.push_back(domain);
        return std::string();
    };
}

PartnerEdit remove_domain(std::string domain) {
    return [domain = config::ascii_lower(domain)](std::optional<PartnerRecord>& record) {
        if (!record) {
            return std::string("no such partner (hubctl partner list shows them)");
        }
        auto found = std::find(record->domains.begin(), record->domains.end(), domain);
        if (found == record->domains.end()) {
            return fmt::format("does not own {}", domain);
        }
        record->domains.erase(found);
        return std::string();
    };
}

}  // namespace hub::directory
