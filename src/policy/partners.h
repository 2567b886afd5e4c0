// partners.h -- the partner table: who may connect, which domains each partner owns.
//
// Until the directory issue lands the table is read from a TOML file named in hub.conf:
//   [[partner]]
//   name = "partner1"
//   domains = ["partner1.gov.uk"]
//   subdomains = false            # does sub.partner1.gov.uk belong to partner1?
//   inbound = ["127.0.0.0/8"]      # connector ACL: source addresses allowed to send
//   outbound = "127.0.0.1:10025"   # the partner's smart host (IP literal and port)
//   require_client_certificate = true   # the default; see session_policy.h
//   client_cn = "partner1.gov.uk"  # CN its client certificate carries (default: domains[0])
//   extra_sender_domains = []      # MAIL FROM domains it may use besides its own
//   outbound_name = "mx.partner1.gov.uk"  # name in its server certificate (default: domains[0])
//   outbound_pin_sha256 = "ab:cd:..."     # optional: pin its leaf certificate instead
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "policy/tls_policy.h"

namespace hub::policy {

// An IPv4 or IPv6 network; IPv4 is stored as an IPv4-mapped IPv6 address.
struct Cidr {
    std::array<std::uint8_t, 16> address{};
    std::uint8_t prefix_bits = 0;  // 0..128 (an IPv4 /24 is stored as /120).
};

// Parses "192.0.2.0/24", "::1/128", "127.0.0.1" (a host); error text says what to fix.
// A prefix without its length is a host (/32 or /128). Host bits set below the prefix
// ("10.1.2.3/8") are accepted and cleared, as ip(8) and iptables do, so the result is
// always a network address ("10.0.0.0/8"). The length is decimal without leading zeros.
// Errors (a phrase without the input, for "<key> = <value>: ..." messages): not an
// address, no length after '/', a length above 32 (IPv4) or 128 (IPv6).
[[nodiscard]] Result<Cidr, std::string> parse_cidr(std::string_view text);
// True if the socket address (AF_INET or AF_INET6) is inside the network. IPv4 peers are
// compared in their IPv4-mapped form, so ::ffff:127.0.0.1 (an IPv4 peer on a dual-stack
// socket) and 127.0.0.1 both match 127.0.0.0/8, and an IPv6 network that covers
// ::ffff:0:0/96 (such as ::/0) matches IPv4 peers too. Other families never match.
bool cidr_contains(const Cidr& network, const sockaddr_storage& address);
// True if the two networks share an address (one holds the other).
bool cidr_overlaps(const Cidr& a, const Cidr& b);
// "192.0.2.0/24" for IPv4-mapped networks of /96 or longer, else "2001:db8::/32".
std::string format_cidr(const Cidr& network);

struct Partner {
    std::string name;
    std::vector<std::string> domains;  // Lower case, no trailing dot.
    bool subdomains = false;
    std::vector<Cidr> inbound;
    std::string outbound_host;  // IP literal.
    std::uint16_t outbound_port = 25;
    std::string outbound_name;        // Name the server certificate must carry (SNI too).
    std::string outbound_pin_sha256;  // Optional pin of the server's leaf certificate.
    // A session from this partner must present a client certificate that chains to
    // tls.client_ca and carries client_cn (session_policy.h). Off, the partner is known by
    // its source address alone, which any host in its inbound networks can claim.
    bool require_client_certificate = true;
    std::string client_cn;  // The loader defaults it to domains[0]; empty: identify by source.
    // Envelope sender domains the partner may use besides its own (a partner relaying for
    // an agency); lower case. Their subdomains too when subdomains = true.
    std::vector<std::string> extra_sender_domains;
    // TLS endpoint policy (tls_policy.h), resolved by the directory: the partner's own
    // (domain or partner assignment, else "default"), inbound networks' overrides (longest
    // prefix first; a source inside one gets its policy), and the outbound policy (a network
    // assignment holding outbound_host, else the partner's own). partners.toml partners get
    // "default" throughout.
    std::string tls_policy_name = std::string(default_tls_policy_name);
    InboundTlsPolicy inbound_tls;
    struct NetworkTls {
        Cidr network;
        std::string policy_name;
        InboundTlsPolicy inbound;
    };
    std::vector<NetworkTls> inbound_tls_by_network;
    std::string outbound_tls_policy_name = std::string(default_tls_policy_name);
    OutboundTlsPolicy outbound_tls;
    std::string outbound_trust_anchor_pem;  // outbound_tls.trust_anchor's certificate.
};

// The inbound policy for a session of partner from source, and its name.
const InboundTlsPolicy& inbound_tls_for(const Partner& partner, const sockaddr_storage& source,
                                        std::string_view& policy_name);

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
    // The partner a verified client certificate CN names (ASCII case-insensitive), or
    // nullptr.
    const Partner* match_client_cn(std::string_view cn) const;
    // Classifies "user@partner2.gov.uk.lgolhub.net" (case-insensitive domain).
    // The address is split at its LAST '@', so a quoted local part may hold '@'
    // ("\"a@b\"@partner2.gov.uk.lgolhub.net"); it is kept exactly as given. The domain must
    // be a valid name (config::check_domain) ending in "." + hub domain; one trailing dot
    // (the absolute form, "partner2.gov.uk.lgolhub.net.") is ignored, as Postfix does.
    // What is left after removing the suffix must be a domain a partner owns, or a
    // subdomain of one whose partner has subdomains = true; the most specific owner wins.
    //   accept           route.partner set, route.address = local + "@" + remainder
    //                    (both byte for byte as given: only the hub suffix is removed).
    //   unknown_partner  the domain is the hub domain itself, or no partner owns the rest.
    //   relay_denied     no '@', empty local part, invalid domain, not under the hub.
    // On anything but accept the route is cleared. route.partner points into this table.
    RecipientDecision classify_recipient(std::string_view address, Route& route) const;

    const std::vector<Partner>& partners() const { return partners_; }
    std::string_view hub_domain() const { return hub_domain_; }
    // The partner owning a bare domain (exactly, or as a subdomain when the partner allows
    // it; the most specific owner wins), case-insensitive; nullptr if none. Used to route
    // reports the hub writes to a sender's own address and by address rewriting.
    const Partner* find_domain_owner(std::string_view domain) const;

private:
    // Sorted by domain, then partner order: lookups are binary searches, no allocation.
    struct DomainEntry {
        std::string domain;
        std::size_t partner_index = 0;
    };
    // Sorted by prefix length, longest first, then partner order: the first hit wins.
    struct SourceEntry {
        Cidr network;
        std::size_t partner_index = 0;
    };

    std::string hub_domain_;
    std::vector<Partner> partners_;
    std::vector<DomainEntry> domains_;
    std::vector<SourceEntry> sources_;
};

// Loads the partner TOML file; errors name the file, the partner and the key, e.g.
// "partners.toml: partner[1] (\"partner2\"): inbound[0] = \"10.0.0.0/33\": must be ...".
// Every mistake is reported, one per line, in file order. Checked: only [[partner]]
// tables and known keys; name unique (letters, digits, '.', '_', '-'); domains a non-empty
// list of valid names, none claimed twice (stored lower case); inbound a list of networks
// (parse_cidr); outbound "IPv4[:port]" or "[IPv6][:port]", port 25 when left out;
// subdomains and require_client_certificate booleans; client_cn (default domains[0])
// unique; extra_sender_domains a list of valid names, stored lower case. A file
// with no partners loads as an empty table (every connection is then refused).
[[nodiscard]] Result<std::vector<Partner>, std::string> load_partners(const std::string& path);

}  // namespace hub::policy
