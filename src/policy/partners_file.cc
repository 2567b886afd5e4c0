// partners_file.cc -- load_partners: the partner TOML file, validated key by key.
//
// PURPOSE   Read the [[partner]] tables into Partner values, refusing anything ambiguous
//           (a domain claimed twice, a repeated name or certificate CN) and reporting every
//           mistake in one pass, each naming the file, the partner and the key.
// RUNS IN   hubd's supervisor at start-up and hubctl; never on the data path.
// TRUST     The operator's file. Bounded by policy/limits.h so that a wrong path cannot
//           build an enormous table.
// LIMITS    partners_file_bytes_max, partners_count_max, partner_domains_count_max,
//           partner_inbound_count_max, partner_name_bytes_max, client_cn_bytes_max.
// SEE ALSO  policy/partners.h (file format), policy/partners.cc (the table itself).

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <unordered_map>

#include "base/assert.h"
#include "config/syntax.h"
#include "config/toml_file.h"
#include "policy/limits.h"
#include "policy/partner_checks.h"
#include "policy/partners.h"

namespace hub::policy {

namespace {

constexpr std::array<std::string_view, 10> partner_keys = {"name",
                                                           "domains",
                                                           "subdomains",
                                                           "inbound",
                                                           "outbound",
                                                           "outbound_name",
                                                           "outbound_pin_sha256",
                                                           "require_client_certificate",
                                                           "client_cn",
                                                           "extra_sender_domains"};

// Where names, domains and CNs were first seen, for "already used by partner[i]".
struct Claims {
    std::unordered_map<std::string, std::size_t> names;
    std::unordered_map<std::string, std::size_t> domains;     // Lower case.
    std::unordered_map<std::string, std::size_t> client_cns;  // Lower case.
};

class PartnerLoader {
public:
    PartnerLoader(config::Diagnostics& errors, const std::vector<Partner>& partners, Claims& claims,
                  std::size_t index, const toml::table& table)
        : errors_(errors), partners_(partners), claims_(claims), index_(index), table_(table) {}

    Partner load() {
        load_name();
        for (auto&& [key, node] : table_) {
            if (std::find(partner_keys.begin(), partner_keys.end(), key.str()) ==
                partner_keys.end()) {
                std::string_view best = config::closest_word(key.str(), partner_keys);
                error(key.source(),
                      fmt::format("unknown key '{}'{}", key.str(),
                                  best.empty() ? "" : fmt::format("; did you mean '{}'?", best)));
            }
        }
        load_domains();
        partner_.subdomains = load_boolean("subdomains", false);
        load_inbound();
        load_outbound();
        // On by default: a partner is who its certificate says, not whoever shares its
        // network (see session_policy.h).
        partner_.require_client_certificate = load_boolean("require_client_certificate", true);
        load_client_cn();
        load_extra_sender_domains();
        load_outbound_tls();
        return std::move(partner_);
    }

private:
    // "partner[1] ("partner2")", or "partner[1]" until the name is known to be good.
    std::string label() const {
        return partner_.name.empty() ? fmt::format("partner[{}]", index_)
                                     : fmt::format("partner[{}] (\"{}\")", index_, partner_.name);
    }
    std::string label_of(std::size_t index) const {
        return index < partners_.size() && !partners_[index].name.empty()
                   ? fmt::format("partner[{}] (\"{}\")", index, partners_[index].name)
                   : fmt::format("partner[{}]", index);
    }
    void error(const toml::source_region& where, std::string text) {
        errors_.add(where, fmt::format("{}: {}", label(), text));
    }
    void value_error(std::string_view key, const toml::node& node, std::string_view text) {
        error(node.source(),
              fmt::format("{} = {}: {}", key, config::toml_value_for_message(node), text));
    }
    // Reported after everything else about this partner, at the end of its table.
    void missing(std::string_view key, std::string_view what) {
        std::uint64_t last_line = table_.source().begin.line;
        for (auto&& [name, node] : table_) {
            last_line = std::max<std::uint64_t>(last_line, node.source().end.line);
        }
        errors_.add_at(last_line, UINT64_MAX,
                       fmt::format("{}: {} is missing; it is required ({})", label(), key, what));
    }

    void load_name() {
        const toml::node* node = table_.get("name");
        if (node == nullptr) {
            missing("name", "a short unique name for logs and the spool");
            return;
        }
        const auto* text = node->as_string();
        if (text == nullptr) {
            value_error("name", *node,
                        fmt::format("must be a string (not {})", config::toml_type_phrase(*node)));
            return;
        }
        const std::string& name = text->get();
        if (std::string why = check_partner_name(name); !why.empty()) {
            value_error("name", *node, why);
            return;
        }
        partner_.name = name;
        auto [it, fresh] = claims_.names.emplace(name, index_);
        if (!fresh) {
            value_error("name", *node, fmt::format("already used by {}", label_of(it->second)));
        }
    }

    void load_domains() {
        const toml::node* node = table_.get("domains");
        if (node == nullptr) {
            missing("domains", "the mail domains this partner owns");
            return;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            value_error("domains", *node,
                        fmt::format("must be an array of domain names (not {})",
                                    config::toml_type_phrase(*node)));
            return;
        }
        if (array->empty() || array->size() > partner_domains_count_max) {
            value_error("domains", *node,
                        fmt::format("must list 1..{} domains", partner_domains_count_max));
            return;
        }
        for (std::size_t i = 0; i < array->size(); i++) {
            const toml::node& item = *array->get(i);
            std::string key = fmt::format("domains[{}]", i);
            const auto* text = item.as_string();
            if (text == nullptr) {
                value_error(key, item,
                            fmt::format("must be a string (not {}): a domain name",
                                        config::toml_type_phrase(item)));
                continue;
            }
            if (std::string why = check_partner_domain(text->get()); !why.empty()) {
                value_error(key, item, why);
                continue;
            }
            std::string domain = config::ascii_lower(text->get());
            auto [it, fresh] = claims_.domains.emplace(domain, index_);
            if (!fresh) {
                value_error(key, item,
                            it->second == index_
                                ? std::string("listed twice")
                                : fmt::format("already claimed by {}", label_of(it->second)));
                continue;
            }
            partner_.domains.push_back(std::move(domain));
        }
    }

    bool load_boolean(std::string_view key, bool fallback) {
        const toml::node* node = table_.get(key);
        if (node == nullptr) {
            return fallback;
        }
        const auto* boolean = node->as_boolean();
        if (boolean == nullptr) {
            value_error(
                key, *node,
                fmt::format("must be true or false (not {})", config::toml_type_phrase(*node)));
            return fallback;
        }
        return boolean->get();
    }

    void load_inbound() {
        const toml::node* node = table_.get("inbound");
        if (node == nullptr) {
            return;  // No networks: the partner only receives.
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            value_error("inbound", *node,
                        fmt::format("must be an array of networks such as \"192.0.2.0/24\" (not "
                                    "{})",
                                    config::toml_type_phrase(*node)));
            return;
        }
        if (array->size() > partner_inbound_count_max) {
            value_error("inbound", *node,
                        fmt::format("must list at most {} networks", partner_inbound_count_max));
            return;
        }
        for (std::size_t i = 0; i < array->size(); i++) {
            const toml::node& item = *array->get(i);
            std::string key = fmt::format("inbound[{}]", i);
            const auto* text = item.as_string();
            if (text == nullptr) {
                value_error(key, item,
                            fmt::format("must be a string (not {}): a network",
                                        config::toml_type_phrase(item)));
                continue;
            }
            Result<Cidr, std::string> network = parse_cidr(text->get());
            if (!network) {
                value_error(key, item,
                            fmt::format("must be a network such as \"192.0.2.0/24\" or "
                                        "\"2001:db8::/32\", or one address ({})",
                                        network.error()));
                continue;
            }
            partner_.inbound.push_back(*network);
        }
    }

    void load_outbound() {
        const toml::node* node = table_.get("outbound");
        if (node == nullptr) {
            missing("outbound", "the partner's smart host, \"IPv4:port\" or \"[IPv6]:port\"");
            return;
        }
        const auto* text = node->as_string();
        std::string why;
        config::Endpoint endpoint;
        if (text == nullptr) {
            why = fmt::format("not {}", config::toml_type_phrase(*node));
        } else {
            why = config::parse_endpoint(text->get(), endpoint, outbound_port_default);
        }
        if (!why.empty()) {
            value_error("outbound", *node,
                        fmt::format("must be \"IPv4:port\" or \"[IPv6]:port\" with a numeric "
                                    "address ({})",
                                    why));
            return;
        }
        partner_.outbound_host = std::move(endpoint.host);
        partner_.outbound_port = endpoint.port;
    }

    // The CN the partner's client certificate carries; by default its first domain (as
    // tools/dev-init and the hub CA issue them). Unique across partners either way.
    void load_client_cn() {
        const toml::node* node = table_.get("client_cn");
        if (node == nullptr) {
            if (partner_.domains.empty()) {
                return;  // Already reported as missing or wrong.
            }
            const std::string& domain = partner_.domains.front();
            auto [it, fresh] = claims_.client_cns.emplace(domain, index_);
            if (!fresh) {
                error(table_.source(),
                      fmt::format("client_cn (by default domains[0], \"{}\") is already used by "
                                  "{}; set client_cn to the CN of this partner's certificate",
                                  domain, label_of(it->second)));
                return;
            }
            partner_.client_cn = domain;
            return;
        }
        const auto* text = node->as_string();
        if (text == nullptr || !check_client_cn(text->get()).empty()) {
            value_error("client_cn", *node,
                        fmt::format("{} (leave the key out for none)",
                                    check_client_cn(text == nullptr ? "" : text->get())));
            return;
        }
        auto [it, fresh] = claims_.client_cns.emplace(config::ascii_lower(text->get()), index_);
        if (!fresh) {
            value_error("client_cn", *node,
                        fmt::format("already used by {}", label_of(it->second)));
            return;
        }
        partner_.client_cn = text->get();
    }

    // MAIL FROM domains the partner may use besides its own: a partner that relays for an
    // agency. Not claimed: another partner may own the same domain.
    void load_extra_sender_domains() {
        const toml::node* node = table_.get("extra_sender_domains");
        if (node == nullptr) {
            return;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr || array->size() > partner_domains_count_max) {
            value_error("extra_sender_domains", *node,
                        fmt::format("must be an array of at most {} domain names",
                                    partner_domains_count_max));
            return;
        }
        for (std::size_t i = 0; i < array->size(); i++) {
            const toml::node& item = *array->get(i);
            std::string key = fmt::format("extra_sender_domains[{}]", i);
            const auto* text = item.as_string();
            std::string why =
                text == nullptr
                    ? fmt::format("must be a domain name of letters, digits and hyphens (not {})",
                                  config::toml_type_phrase(item))
                    : check_partner_domain(text->get());
            if (!why.empty()) {
                value_error(key, item, why);
                continue;
            }
            partner_.extra_sender_domains.push_back(config::ascii_lower(text->get()));
        }
    }

    // How the hub checks the partner's server certificate when it delivers: the name it
    // must carry (default: the partner's first domain) and, optionally, a pinned SHA-256
    // of the leaf certificate that replaces the chain check.
    void load_outbound_tls() {
        if (const toml::node* node = table_.get("outbound_name")) {
            const auto* text = node->as_string();
            if (text == nullptr || !check_outbound_name(text->get()).empty()) {
                value_error("outbound_name", *node, check_outbound_name(""));
            } else {
                partner_.outbound_name = config::ascii_lower(text->get());
            }
        } else if (!partner_.domains.empty()) {
            partner_.outbound_name = partner_.domains.front();
        }
        if (const toml::node* node = table_.get("outbound_pin_sha256")) {
            const auto* text = node->as_string();
            if (text == nullptr || !check_pin_sha256(text->get()).empty()) {
                value_error("outbound_pin_sha256", *node, check_pin_sha256(""));
            } else {
                partner_.outbound_pin_sha256 = text->get();
            }
        }
    }

    config::Diagnostics& errors_;
    const std::vector<Partner>& partners_;  // Those loaded so far, for messages.
    Claims& claims_;
    std::size_t index_;
    const toml::table& table_;
    Partner partner_;
};

}  // namespace

Result<std::vector<Partner>, std::string> load_partners(const std::string& path) {
    Result<toml::table, std::string> parsed = config::read_toml_file(path, partners_file_bytes_max);
    if (!parsed) {
        return hub::unexpected(std::move(parsed).error());
    }
    const toml::table& root = *parsed;
    config::Diagnostics errors(path);
    std::vector<Partner> partners;
    Claims claims;
    for (auto&& [key, node] : root) {
        if (key.str() != "partner") {
            constexpr std::array<std::string_view, 1> known = {"partner"};
            std::string_view best = config::closest_word(key.str(), known);
            errors.add(key.source(),
                       fmt::format("unknown key '{}'{}", key.str(),
                                   best.empty() ? "" : "; did you mean 'partner' ([[partner]])?"));
            continue;
        }
        const toml::array* array = node.as_array();
        if (array == nullptr) {
            errors.add(node.source(),
                       fmt::format("partner = {}: must be an array of tables ([[partner]])",
                                   config::toml_value_for_message(node)));
            continue;
        }
        if (array->size() > partners_count_max) {
            errors.add(node.source(), fmt::format("more than {} partners", partners_count_max));
            continue;
        }
        for (std::size_t i = 0; i < array->size(); i++) {
            const toml::node& item = *array->get(i);
            const toml::table* table = item.as_table();
            if (table == nullptr) {
                errors.add(item.source(),
                           fmt::format("partner[{}] = {}: must be a table ([[partner]])", i,
                                       config::toml_value_for_message(item)));
                partners.emplace_back();  // Keep indexes aligned with the file.
                continue;
            }
            partners.push_back(PartnerLoader(errors, partners, claims, i, *table).load());
        }
    }
    if (!errors.empty()) {
        return hub::unexpected(errors.render());
    }
    HUB_ASSERT(partners.size() <= partners_count_max);
    HUB_ASSERT(claims.names.size() == partners.size());  // Every partner named, uniquely.
    return partners;
}

}  // namespace hub::policy
