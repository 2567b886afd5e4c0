// record.cc -- PartnerRecord: conversion to and from policy::Partner, JSON, self-checks.
//
// PURPOSE   Keep one definition of a good partner, whichever source it comes from: the
//           value checks are policy/partner_checks.h's, shared with partners.toml.
// RUNS IN   hubctl and hubd's supervisor (start-up, reload). Never on the data path.
// TRUST     Operator input; checked here before the directory stores it.
// LIMITS    policy/limits.h (counts, name and CN length), directory/limits.h (contact).
// SEE ALSO  directory/directory.h, policy/partner_checks.h, docs/DIRECTORY.md.

#include "directory/record.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "config/syntax.h"
#include "directory/limits.h"
#include "policy/limits.h"
#include "policy/partner_checks.h"

namespace hub::directory {

std::string_view to_string(PartnerState state) {
    switch (state) {
        case PartnerState::pending:
            return "pending";
        case PartnerState::active:
            return "active";
        case PartnerState::suspended:
            return "suspended";
    }
    HUB_ASSERT(false);
    return "";
}

bool parse_state(std::string_view text, PartnerState& state) {
    for (PartnerState candidate :
         {PartnerState::pending, PartnerState::active, PartnerState::suspended}) {
        if (text == to_string(candidate)) {
            state = candidate;
            return true;
        }
    }
    return false;
}

policy::Partner to_partner(const PartnerRecord& record) {
    policy::Partner partner;
    partner.name = record.name;
    partner.domains = record.domains;
    partner.subdomains = record.subdomains;
    for (const std::string& text : record.inbound) {
        Result<policy::Cidr, std::string> network = policy::parse_cidr(text);
        HUB_ASSERT(network.has_value());  // Checked before it was stored.
        partner.inbound.push_back(*network);
    }
    partner.outbound_host = record.outbound_host;
    partner.outbound_port = record.outbound_port;
    std::string first_domain = record.domains.empty() ? "" : record.domains.front();
    partner.outbound_name = record.outbound_name.empty() ? first_domain : record.outbound_name;
    partner.outbound_pin_sha256 = record.outbound_pin_sha256;
    partner.require_client_certificate = record.require_client_certificate;
    partner.client_cn = record.client_cn.empty() ? first_domain : record.client_cn;
    partner.extra_sender_domains = record.extra_sender_domains;
    return partner;
}

PartnerRecord from_partner(const policy::Partner& partner) {
    PartnerRecord record;
    record.name = partner.name;
    record.state = PartnerState::active;
    record.domains = partner.domains;
    record.subdomains = partner.subdomains;
    for (const policy::Cidr& network : partner.inbound) {
        record.inbound.push_back(policy::format_cidr(network));
    }
    record.outbound_host = partner.outbound_host;
    record.outbound_port = partner.outbound_port;
    record.outbound_name = partner.outbound_name;
    record.outbound_pin_sha256 = partner.outbound_pin_sha256;
    record.require_client_certificate = partner.require_client_certificate;
    record.client_cn = partner.client_cn;
    record.extra_sender_domains = partner.extra_sender_domains;
    return record;
}

namespace {

// RFC 3629: well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        auto byte = static_cast<unsigned char>(text[i]);
        std::size_t length = byte < 0x80                    ? 1
                             : byte >= 0xc2 && byte <= 0xdf ? 2
                             : byte >= 0xe0 && byte <= 0xef ? 3
                             : byte >= 0xf0 && byte <= 0xf4 ? 4
                                                            : 0;
        if (length == 0 || i + length > text.size()) {
            return false;
        }
        std::uint32_t code = length == 1 ? byte : byte & (0x7fu >> length);
        for (std::size_t k = 1; k < length; k++) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) {
                return false;
            }
            code = (code << 6) | (next & 0x3fu);
        }
        constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            return false;
        }
        i += length;
    }
    return true;
}

}  // namespace

std::string json_string(std::string_view text) {
    // Text that is not UTF-8 (a client CN is bytes) has its high bytes escaped one by one,
    // so that the JSON stays valid.
    bool escape_high = !is_utf8(text);
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f || (escape_high && byte >= 0x80)) {
            out += fmt::format("\\u{:04x}", byte);
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const std::string& item : items) {
        out += (out.size() > 1 ? "," : "") + json_string(item);
    }
    return out + "]";
}

std::string json_optional(const std::string& text) {
    return text.empty() ? "null" : json_string(text);
}

std::string to_json(const PartnerRecord& record) {
    std::string outbound =
        record.outbound_host.empty()
            ? "null"
            : fmt::format("{{\"host\":{},\"port\":{},\"name\":{},\"pin_sha256\":{}}}",
                          json_string(record.outbound_host), record.outbound_port,
                          json_optional(record.outbound_name),
                          json_optional(record.outbound_pin_sha256));
    return fmt::format(
        "{{\"name\":{},\"contact\":{},\"state\":{},\"domains\":{},\"subdomains\":{},"
        "\"inbound\":{},\"outbound\":{},\"require_client_certificate\":{},\"client_cn\":{},"
        "\"extra_sender_domains\":{}}}",
        json_string(record.name), json_string(record.contact), json_string(to_string(record.state)),
        json_list(record.domains), record.subdomains, json_list(record.inbound), outbound,
        record.require_client_certificate, json_optional(record.client_cn),
        json_list(record.extra_sender_domains));
}

namespace {

std::string check_domains(const std::vector<std::string>& domains, std::string_view key) {
    if (domains.size() > policy::partner_domains_count_max) {
        return fmt::format("{}: at most {} domains", key, policy::partner_domains_count_max);
    }
    for (std::size_t i = 0; i < domains.size(); i++) {
        if (std::string why = policy::check_partner_domain(domains[i]); !why.empty()) {
            return fmt::format("{} \"{}\": {}", key, domains[i], why);
        }
        if (domains[i] != config::ascii_lower(domains[i])) {
            return fmt::format("{} \"{}\": must be stored lower case", key, domains[i]);
        }
        if (std::find(domains.begin(), domains.begin() + static_cast<std::ptrdiff_t>(i),
                      domains[i]) != domains.begin() + static_cast<std::ptrdiff_t>(i)) {
            return fmt::format("{} \"{}\": listed twice", key, domains[i]);
        }
    }
    return {};
}

std::string check_connectors(const PartnerRecord& record) {
    if (record.inbound.size() > policy::partner_inbound_count_max) {
        return fmt::format("inbound: at most {} networks", policy::partner_inbound_count_max);
    }
    for (const std::string& text : record.inbound) {
        policy::Cidr network;
        if (std::string error = check_network(text, network); !error.empty()) {
            return error;
        }
    }
    if (!record.outbound_host.empty()) {
        config::Endpoint endpoint;
        std::string shown = record.outbound_host.find(':') == std::string::npos
                                ? record.outbound_host
                                : "[" + record.outbound_host + "]";
        std::string why =
            config::parse_endpoint(fmt::format("{}:{}", shown, record.outbound_port), endpoint, 0);
        if (!why.empty()) {
            return fmt::format(
                "outbound \"{}:{}\": must be \"IPv4:port\" or \"[IPv6]:port\" "
                "with a numeric address ({})",
                record.outbound_host, record.outbound_port, why);
        }
    }
    if (!record.outbound_name.empty()) {
        if (std::string why = policy::check_outbound_name(record.outbound_name); !why.empty()) {
            return fmt::format("outbound name \"{}\": {}", record.outbound_name, why);
        }
    }
    if (!record.outbound_pin_sha256.empty()) {
        if (std::string why = policy::check_pin_sha256(record.outbound_pin_sha256); !why.empty()) {
            return fmt::format("outbound pin \"{}\": {}", record.outbound_pin_sha256, why);
        }
    }
    return {};
}

}  // namespace

std::string check_network(std::string_view text, policy::Cidr& network) {
    Result<policy::Cidr, std::string> parsed = policy::parse_cidr(text);
    if (!parsed) {
        return fmt::format(
            "inbound \"{}\": must be a network such as \"192.0.2.0/24\" or \"2001:db8::/32\", "
            "or one address ({})",
            text, parsed.error());
    }
    network = *parsed;
    return "";
}

std::string check_record(const PartnerRecord& record) {
    if (std::string why = policy::check_partner_name(record.name); !why.empty()) {
        return fmt::format("partner name \"{}\": {}", record.name, why);
    }
    // ASCII: the audit log's JSON must stay valid whatever was typed.
    auto printable = [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte >= 0x20 && byte < 0x7f;
    };
    if (record.contact.size() > contact_bytes_max ||
        !std::all_of(record.contact.begin(), record.contact.end(), printable)) {
        return fmt::format("contact: must be at most {} printable ASCII characters",
                           contact_bytes_max);
    }
    if (std::string why = check_domains(record.domains, "domain"); !why.empty()) {
        return why;
    }
    if (std::string why = check_domains(record.extra_sender_domains, "extra sender domain");
        !why.empty()) {
        return why;
    }
    if (std::string why = check_connectors(record); !why.empty()) {
        return why;
    }
    if (!record.client_cn.empty()) {
        if (std::string why = policy::check_client_cn(record.client_cn); !why.empty()) {
            return fmt::format("client CN \"{}\": {}", record.client_cn, why);
        }
    }
    if (record.state == PartnerState::active) {
        if (record.domains.empty()) {
            return fmt::format(
                "partner {} is active but owns no domain; add one (hubctl domain "
                "add {} DOMAIN) or keep it pending",
                record.name, record.name);
        }
        if (record.outbound_host.empty()) {
            return fmt::format(
                "partner {} is active but has no outbound connector; set one "
                "(hubctl connector set {} --outbound HOST:PORT) or keep it "
                "pending",
                record.name, record.name);
        }
    }
    return {};
}

}  // namespace hub::directory
