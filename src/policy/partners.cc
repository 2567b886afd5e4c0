// partners.cc -- the partner table: source networks, certificate names, recipient routing.
//
// PURPOSE   Decide, for a connection, which partner it comes from (source address or
//           client certificate CN), and for each recipient whether the hub relays it and
//           to which partner. Also loads and validates the partner file.
// RUNS IN   load_partners: hubd's supervisor at start-up and hubctl. The PartnerTable is
//           built once and then read (never written) by every shard: match_source at
//           accept, match_client_cn after the handshake, classify_recipient per RCPT.
// TRUST     Peer-controlled input: the source address and every recipient address (any
//           bytes up to the SMTP line limit). classify_recipient validates the domain
//           before using it and never asserts on it. The partner file is the operator's.
// LIMITS    policy/limits.h: partners, domains and networks per partner, file size.
//           Lookups are binary searches over a sorted domain index (no allocation except
//           the returned route.address) and a scan of source networks, longest first.
// SEE ALSO  policy/partners.h, config/syntax.h (domain and endpoint syntax),
//           docs/CONFIGURATION.md, tools/dev-init (writes a development partners.toml).

#include "policy/partners.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/assert.h"
#include "config/limits.h"
#include "config/syntax.h"
#include "config/toml_file.h"
#include "policy/limits.h"

namespace hub::policy {

namespace {

constexpr std::uint8_t ipv4_mapped_prefix_bits = 96;  // ::ffff:0:0/96, RFC 4291 2.5.5.2.

void set_ipv4_mapped(std::array<std::uint8_t, 16>& address, const std::uint8_t* ipv4) {
    address.fill(0);
    address[10] = 0xff;
    address[11] = 0xff;
    std::memcpy(address.data() + 12, ipv4, 4);
}

bool prefix_matches(const std::array<std::uint8_t, 16>& network,
                    const std::array<std::uint8_t, 16>& address, std::uint8_t prefix_bits) {
    HUB_ASSERT(prefix_bits <= 128);
    std::size_t whole_bytes = prefix_bits / 8;
    if (std::memcmp(network.data(), address.data(), whole_bytes) != 0) {
        return false;
    }
    unsigned rest_bits = prefix_bits % 8;
    if (rest_bits == 0) {
        return true;
    }
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest_bits));
    return (network[whole_bytes] & mask) == (address[whole_bytes] & mask);
}

// Parses the decimal prefix length: digits only, no leading zeros, at most max.
std::string parse_prefix_length(std::string_view text, unsigned max, unsigned& length) {
    if (text.empty()) {
        return "the prefix length after '/' is missing";
    }
    bool digits = text.size() <= 3 && std::all_of(text.begin(), text.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || (text.size() > 1 && text.front() == '0')) {
        return fmt::format("prefix length {} is not a number 0..{}",
                           config::quote_for_message(text), max);
    }
    unsigned value = 0;
    for (char c : text) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > max) {
        return fmt::format("prefix length {} is more than {}, the {} maximum", value, max,
                           max == 32 ? "IPv4" : "IPv6");
    }
    length = value;
    return "";
}

}  // namespace

Result<Cidr, std::string> parse_cidr(std::string_view text) {
    std::size_t slash = text.find('/');
    std::string address_text(text.substr(0, slash));  // inet_pton needs a terminated string.
    if (address_text.empty()) {
        return hub::unexpected(std::string("the address is missing"));
    }
    bool ipv6 = address_text.find(':') != std::string::npos;
    Cidr cidr;
    unsigned max = ipv6 ? 128 : 32;
    if (ipv6) {
        if (inet_pton(AF_INET6, address_text.c_str(), cidr.address.data()) != 1) {
            return hub::unexpected(
                fmt::format("{} is not an IPv6 address", config::quote_for_message(address_text)));
        }
    } else {
        std::array<std::uint8_t, 4> ipv4{};
        if (inet_pton(AF_INET, address_text.c_str(), ipv4.data()) != 1) {
            return hub::unexpected(
                fmt::format("{} is not an IPv4 address", config::quote_for_message(address_text)));
        }
        set_ipv4_mapped(cidr.address, ipv4.data());
    }
    unsigned length = max;
    if (slash != std::string_view::npos) {
        std::string why = parse_prefix_length(text.substr(slash + 1), max, length);
        if (!why.empty()) {
            return hub::unexpected(std::move(why));
        }
    }
    unsigned prefix_bits = ipv6 ? length : length + ipv4_mapped_prefix_bits;
    HUB_ASSERT(prefix_bits <= 128);
    cidr.prefix_bits = static_cast<std::uint8_t>(prefix_bits);
    // Clear host bits: "10.1.2.3/8" means 10.0.0.0/8.
    for (unsigned bit = prefix_bits; bit < 128; bit++) {
        cidr.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return cidr;
}

bool cidr_contains(const Cidr& network, const sockaddr_storage& address) {
    HUB_ASSERT(network.prefix_bits <= 128);
    std::array<std::uint8_t, 16> peer{};
    if (address.ss_family == AF_INET) {
        const auto& ipv4 = reinterpret_cast<const sockaddr_in&>(address);
        set_ipv4_mapped(peer, reinterpret_cast<const std::uint8_t*>(&ipv4.sin_addr));
    } else if (address.ss_family == AF_INET6) {
        const auto& ipv6 = reinterpret_cast<const sockaddr_in6&>(address);
        std::memcpy(peer.data(), &ipv6.sin6_addr, peer.size());
    } else {
        return false;
    }
    return prefix_matches(network.address, peer, network.prefix_bits);
}

bool cidr_overlaps(const Cidr& a, const Cidr& b) {
    return prefix_matches(a.address, b.address, std::min(a.prefix_bits, b.prefix_bits));
}

const InboundTlsPolicy& inbound_tls_for(const Partner& partner, const sockaddr_storage& source,
                                        std::string_view& policy_name) {
    for (const Partner::NetworkTls& network : partner.inbound_tls_by_network) {
        if (cidr_contains(network.network, source)) {
            policy_name = network.policy_name;
            return network.inbound;
        }
    }
    policy_name = partner.tls_policy_name;
    return partner.inbound_tls;
}

std::string format_cidr(const Cidr& network) {
    HUB_ASSERT(network.prefix_bits <= 128);
    std::array<std::uint8_t, 16> mapped_zero{};
    set_ipv4_mapped(mapped_zero, mapped_zero.data() + 12);  // ::ffff:0.0.0.0
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (network.prefix_bits >= ipv4_mapped_prefix_bits &&
        prefix_matches(network.address, mapped_zero, ipv4_mapped_prefix_bits)) {
        const char* written = inet_ntop(AF_INET, network.address.data() + 12, text.data(),
                                        static_cast<socklen_t>(text.size()));
        HUB_ASSERT(written != nullptr);  // The buffer fits any address.
        return fmt::format("{}/{}", text.data(), network.prefix_bits - ipv4_mapped_prefix_bits);
    }
    const char* written = inet_ntop(AF_INET6, network.address.data(), text.data(),
                                    static_cast<socklen_t>(text.size()));
    HUB_ASSERT(written != nullptr);  // The buffer fits any address.
    return fmt::format("{}/{}", text.data(), network.prefix_bits);
}

PartnerTable::PartnerTable(std::string hub_domain, std::vector<Partner> partners)
    : hub_domain_(config::ascii_lower(hub_domain)), partners_(std::move(partners)) {
    for (std::size_t i = 0; i < partners_.size(); i++) {
        for (std::string& domain : partners_[i].domains) {
            domain = config::ascii_lower(domain);  // load_partners already did; tests may not.
            domains_.push_back(DomainEntry{domain, i});
        }
        for (const Cidr& network : partners_[i].inbound) {
            sources_.push_back(SourceEntry{network, i});
        }
    }
    // Stable sorts keep partner order among equals: ties go to the earlier partner.
    std::stable_sort(
        domains_.begin(), domains_.end(),
        [](const DomainEntry& a, const DomainEntry& b) { return a.domain < b.domain; });
    std::stable_sort(sources_.begin(), sources_.end(),
                     [](const SourceEntry& a, const SourceEntry& b) {
                         return a.network.prefix_bits > b.network.prefix_bits;
                     });
    HUB_ASSERT_SLOW(std::is_sorted(
        domains_.begin(), domains_.end(),
        [](const DomainEntry& a, const DomainEntry& b) { return a.domain < b.domain; }));
}

const Partner* PartnerTable::match_source(const sockaddr_storage& address) const {
    for (const SourceEntry& source : sources_) {
        if (cidr_contains(source.network, address)) {
            HUB_ASSERT(source.partner_index < partners_.size());
            return &partners_[source.partner_index];
        }
    }
    return nullptr;
}

const Partner* PartnerTable::match_client_cn(std::string_view cn) const {
    if (cn.empty()) {
        return nullptr;
    }
    for (const Partner& partner : partners_) {
        if (!partner.client_cn.empty() && config::ascii_iequals(partner.client_cn, cn)) {
            return &partner;
        }
    }
    return nullptr;
}

// The partner owning domain (any case): an exact owner first, else the owner of the
// nearest parent domain that also takes subdomains.
const Partner* PartnerTable::find_domain_owner(std::string_view domain) const {
    if (domain.size() > config::domain_bytes_max) {
        return nullptr;  // No partner domain is that long (the loader checks each one).
    }
    // Domain names compare without regard to ASCII case (RFC 4343); the index is lower case.
    std::array<char, config::domain_bytes_max> lower_bytes{};
    for (std::size_t i = 0; i < domain.size(); i++) {
        char c = domain[i];
        lower_bytes[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    domain = std::string_view(lower_bytes.data(), domain.size());
    bool exact = true;
    while (!domain.empty()) {
        auto it = std::lower_bound(
            domains_.begin(), domains_.end(), domain,
            [](const DomainEntry& entry, std::string_view key) { return entry.domain < key; });
        for (; it != domains_.end() && it->domain == domain; ++it) {
            const Partner& partner = partners_[it->partner_index];
            if (exact || partner.subdomains) {
                return &partner;
            }
        }
        std::size_t dot = domain.find('.');
        if (dot == std::string_view::npos) {
            break;
        }
        domain.remove_prefix(dot + 1);
        exact = false;
    }
    return nullptr;
}

RecipientDecision PartnerTable::classify_recipient(std::string_view address, Route& route) const {
    route = Route{};
    std::size_t at = address.rfind('@');
    if (at == std::string_view::npos || at == 0) {
        return RecipientDecision::relay_denied;
    }
    std::string_view local = address.substr(0, at);
    std::string_view domain = address.substr(at + 1);
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);  // "example.net." is the absolute form of the same name.
    }
    if (!config::is_valid_domain(domain)) {
        return RecipientDecision::relay_denied;
    }
    std::array<char, config::domain_bytes_max> lower_bytes{};
    for (std::size_t i = 0; i < domain.size(); i++) {
        char c = domain[i];
        lower_bytes[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view lower(lower_bytes.data(), domain.size());
    if (hub_domain_.empty()) {
        return RecipientDecision::relay_denied;
    }
    if (lower == hub_domain_) {
        return RecipientDecision::unknown_partner;  // "postmaster@lgolhub.net": no partner.
    }
    if (lower.size() <= hub_domain_.size() + 1 || !lower.ends_with(hub_domain_) ||
        lower[lower.size() - hub_domain_.size() - 1] != '.') {
        return RecipientDecision::relay_denied;
    }
    std::size_t remainder_bytes = lower.size() - hub_domain_.size() - 1;
    std::string_view remainder = lower.substr(0, remainder_bytes);
    HUB_ASSERT(!remainder.empty() && remainder.back() != '.');  // check_domain: no empty label.
    const Partner* partner = find_domain_owner(remainder);
    if (partner == nullptr) {
        return RecipientDecision::unknown_partner;
    }
    // Only the hub suffix is rewritten; the partner's part keeps the case it came in.
    std::string_view remainder_as_given = domain.substr(0, remainder_bytes);
    route.partner = partner;
    route.address.reserve(local.size() + 1 + remainder_as_given.size());
    route.address.append(local).append("@").append(remainder_as_given);
    return RecipientDecision::accept;
}

}  // namespace hub::policy
