// routing.h -- which partner each recipient of a stored message goes to.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/partners.h"
#include "smtp/envelope.h"

namespace hub::delivery {

// DESIGN.md 1.7: mail to this local part at any partner domain is answered by the hub.
// TODO(lead): make it a hub.conf option (delivery.ping_local_part).
inline constexpr std::string_view ping_local_part = "lgolhubping";

// Per envelope recipient: the partner it routes to (-1: none) and the address as it is
// relayed (hub suffix stripped).
struct Routing {
    std::vector<int> partner_index;
    // When partner_index is -1: the held partner (pending or suspended) it routes to, or -1.
    std::vector<int> held_index;
    std::vector<std::string> relay_address;
    bool any = false;  // At least one recipient routes (to a partner or a held one).
};

// Routes every recipient: an address under the hub domain goes to the partner owning the
// rest (suffix stripped); a bare address at a partner's own domain (a report the hub
// wrote, to a sender) goes to that partner as it is. A recipient no partner takes is looked
// up the same way among held (may be null); a ping address never routes to a held partner
// (the hub answers pings only for active ones).
Routing route(const policy::PartnerTable& partners, std::span<const smtp::Recipient> recipients,
              const policy::PartnerTable* held = nullptr);

// The ping address (case-insensitive local part), answered by the hub itself.
bool is_ping(std::string_view address);

// "[host]:port" of a partner's outbound connector (how reports and logs name it).
std::string connector_text(const policy::Partner& partner);

}  // namespace hub::delivery
