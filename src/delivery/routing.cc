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

}  // namespace

Routing route(const policy::PartnerTable& partners, std::span<const smtp::Recipient> recipients) {
    const auto& table = partners.partners();
    Routing routing;
    routing.partner_index.assign(recipients.size(), -1);
    routing.relay_address.assign(recipients.size(), {});
    for (std::size_t index = 0; index < recipients.size(); index++) {
        policy::Route route;
        const std::string& address = recipients[index].address;
        if (partners.classify_recipient(address, route) == policy::RecipientDecision::accept) {
            routing.relay_address[index] = route.address;
            routing.partner_index[index] = static_cast<int>(route.partner - table.data());
            routing.any = true;
            continue;
        }
        // Reports the hub writes go to the sender's bare address at its partner.
        std::size_t at = address.rfind('@');
        const policy::Partner* owner =
            at == std::string::npos
                ? nullptr
                : partners.find_domain_owner(std::string_view(address).substr(at + 1));
        if (owner != nullptr) {
            routing.relay_address[index] = address;
            routing.partner_index[index] = static_cast<int>(owner - table.data());
            routing.any = true;
        }
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
