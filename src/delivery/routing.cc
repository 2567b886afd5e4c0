// routing.cc -- recipient -> partner for stored messages (see routing.h).
#include "delivery/routing.h"

#include <fmt/format.h>

#include "config/syntax.h"

namespace hub::delivery {
namespace {

std::string_view local_part(std::string_view address) {
    std::size_t at = address.rfind('@');
    return at == std::string_view::npos ? address : address.substr(0, at);
}

// The partner of table that address goes to (its index, or -1), and the address as relayed.
int route_one(const policy::PartnerTable& table, const std::string& address,
              std::string& relay_address) {
    policy::Route route;
    if (table.classify_recipient(address, route) == policy::RecipientDecision::accept) {
        relay_address = route.address;
        return static_cast<int>(route.partner - table.partners().data());
    }
    // Reports the hub writes go to the sender's bare address at its partner.
    std::size_t at = address.rfind('@');
    const policy::Partner* owner =
        at == std::string::npos ? nullptr
                                : table.find_domain_owner(std::string_view(address).substr(at + 1));
    if (owner == nullptr) {
        return -1;
    }
    relay_address = address;
    return static_cast<int>(owner - table.partners().data());
}

}  // namespace

Routing route(const policy::PartnerTable& partners, std::span<const smtp::Recipient> recipients,
              const policy::PartnerTable* held) {
    Routing routing;
    routing.partner_index.assign(recipients.size(), -1);
    routing.held_index.assign(recipients.size(), -1);
    routing.relay_address.assign(recipients.size(), {});
    for (std::size_t index = 0; index < recipients.size(); index++) {
        const std::string& address = recipients[index].address;
        routing.partner_index[index] = route_one(partners, address, routing.relay_address[index]);
        if (routing.partner_index[index] < 0 && held != nullptr && !is_ping(address)) {
            routing.held_index[index] = route_one(*held, address, routing.relay_address[index]);
        }
        routing.any =
            routing.any || routing.partner_index[index] >= 0 || routing.held_index[index] >= 0;
    }
    return routing;
}

bool is_ping(std::string_view address) {
    return config::ascii_iequals(local_part(address), ping_local_part);
}

std::string connector_text(const policy::Partner& partner) {
    return fmt::format("[{}]:{}", partner.outbound_host, partner.outbound_port);
}

}  // namespace hub::delivery
