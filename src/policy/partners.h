// partners.h -- the partner table: who may connect, which domains each partner owns.
//
// Until the directory issue lands the table is read from a TOML file named in hub.conf:
//   [[partner]]
//   name = "partner1"
//   domains = ["partner1.gov.uk"]
//   subdomains = false            # does sub.partner1.gov.uk belong to partner1?
//   inbound = ["127.0.0.0/8"]      # connector ACL: source addresses allowed to send
//   outbound = "127.0.0.1:10025"   # the partner's smart host (IP literal and port)
//   require_client_certificate = false
//   client_cn = "partner1.gov.uk"  # when set, a verified client cert must carry this CN
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::policy {

// An IPv4 or IPv6 network; IPv4 is stored as an IPv4-mapped IPv6 address.
struct Cidr {
    std::array<std::uint8_t, 16> address{};
    std::uint8_t prefix_bits = 0;  // 0..128 (an IPv4 /24 is stored as /120).
};

// Parses "192.0.2.0/24", "::1/128", "127.0.0.1" (a host); error text says what to fix.
[[nodiscard]] Result<Cidr, std::string> parse_cidr(std::string_view text);
// True if the socket address (AF_INET or AF_INET6) is inside the network.
bool cidr_contains(const Cidr& network, const sockaddr_storage& address);

struct Partner {
    std::string name;
    std::vector<std::string> domains;  // Lower case, no trailing dot.
    bool subdomains = false;
    std::vector<Cidr> inbound;
    std::string outbound_host;  // IP literal.
    std::uint16_t outbound_port = 25;
    bool require_client_certificate = false;
    std::string client_cn;
};

enum class RecipientDecision {
    accept,           // route.partner and route.address are set.
    relay_denied,     // Not under the hub domain.
    unknown_partner,  // Under the hub domain, but no partner owns the rest.
};

struct Route {
    const Partner* partner = nullptr;
    std::string address;  // The recipient with the hub suffix stripped.
};

class PartnerTable {
public:
    PartnerTable() = default;
    PartnerTable(std::string hub_domain, std::vector<Partner> partners);

    // The partner whose inbound connector holds this source address: the most specific
    // CIDR wins, ties go to the earlier partner; nullptr if none (554 5.7.1 at greeting).
    const Partner* match_source(const sockaddr_storage& address) const;
    // The partner a verified client certificate CN names, or nullptr.
    const Partner* match_client_cn(std::string_view cn) const;
    // Classifies "user@partner2.gov.uk.lgolhub.net" (case-insensitive domain).
    RecipientDecision classify_recipient(std::string_view address, Route& route) const;

    const std::vector<Partner>& partners() const { return partners_; }
    std::string_view hub_domain() const { return hub_domain_; }

private:
    std::string hub_domain_;
    std::vector<Partner> partners_;
};

// Loads the partner TOML file; errors name the file, the partner and the key.
[[nodiscard]] Result<std::vector<Partner>, std::string> load_partners(const std::string& path);

}  // namespace hub::policy
