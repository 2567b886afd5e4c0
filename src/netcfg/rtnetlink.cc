// rtnetlink.cc -- links, addresses and routes over rtnetlink with libmnl (rtnetlink.h).
//
// PURPOSE   Dump the kernel's network state and carry out reconcile()'s steps.
// RUNS IN   hub-netcfg (with CAP_NET_ADMIN), in its network namespace (the box's, or the
//           dev namespace made by `hub-netcfg serve --netns`).
// TRUST     The kernel's answers: every attribute is type-checked by libmnl before use.
// LIMITS    netlink_buffer_bytes per receive; live_links_max links in a dump.
// SEE ALSO  netcfg/reconcile.h, rtnetlink(7).

#include "netcfg/rtnetlink.h"

#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "netcfg/limits.h"

namespace hub::netcfg {

namespace {

std::string operstate_name(std::uint8_t state) {
    switch (state) {
        case IF_OPER_UNKNOWN:
            return "unknown";
        case IF_OPER_NOTPRESENT:
            return "notpresent";
        case IF_OPER_DOWN:
            return "down";
        case IF_OPER_LOWERLAYERDOWN:
            return "lowerlayerdown";
        case IF_OPER_TESTING:
            return "testing";
        case IF_OPER_DORMANT:
            return "dormant";
        case IF_OPER_UP:
            return "up";
        default:
            return std::to_string(state);
    }
}

std::string protocol_name(std::uint8_t protocol) {
    switch (protocol) {
        case RTPROT_KERNEL:
            return "kernel";
        case RTPROT_BOOT:
            return "boot";
        case RTPROT_STATIC:
            return "static";
        case RTPROT_RA:
            return "ra";
        case RTPROT_DHCP:
            return "dhcp";
        default:
            return std::to_string(protocol);
    }
}

std::optional<IpAddress> address_from(const nlattr* attribute, std::uint8_t family) {
    std::size_t bytes = family == AF_INET ? 4 : 16;
    if (attribute == nullptr || mnl_attr_get_payload_len(attribute) != bytes) {
        return std::nullopt;
    }
    IpAddress address;
    address.family = family == AF_INET ? Family::ipv4 : Family::ipv6;
    std::memcpy(address.bytes.data(), mnl_attr_get_payload(attribute), bytes);
    return address;
}

// Collects the attributes of one message by type (the last of each wins, as in iproute2).
template <std::size_t Max>
struct Attributes {
    std::array<const nlattr*, Max + 1> by_type{};

    static int collect(const nlattr* attribute, void* data) {
        auto* self = static_cast<Attributes*>(data);
        auto type = mnl_attr_get_type(attribute);
        if (type <= Max) {
            self->by_type[type] = attribute;
        }
        return MNL_CB_OK;
    }
    const nlattr* operator[](std::size_t type) const { return by_type[type]; }
};

struct LinkCollector {
    KernelState& state;
    bool too_many = false;

    static int on_message(const nlmsghdr* header, void* data) {
        auto* self = static_cast<LinkCollector*>(data);
        const auto* message = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(header));
        Attributes<IFLA_MAX> attributes;
        mnl_attr_parse(header, sizeof(*message), Attributes<IFLA_MAX>::collect, &attributes);
        if (self->state.links.size() >= live_links_max) {
            self->too_many = true;
            return MNL_CB_OK;
        }
        KernelLink link;
        link.index = message->ifi_index;
        link.info.up = (message->ifi_flags & IFF_UP) != 0;
        link.info.carrier = (message->ifi_flags & IFF_LOWER_UP) != 0;
        if (const nlattr* name = attributes[IFLA_IFNAME];
            name != nullptr && mnl_attr_validate(name, MNL_TYPE_NUL_STRING) == 0) {
            link.info.name = mnl_attr_get_str(name);
        }
        if (const nlattr* mtu = attributes[IFLA_MTU];
            mtu != nullptr && mnl_attr_validate(mtu, MNL_TYPE_U32) == 0) {
            link.info.mtu = mnl_attr_get_u32(mtu);
        }
        if (const nlattr* state = attributes[IFLA_OPERSTATE];
            state != nullptr && mnl_attr_validate(state, MNL_TYPE_U8) == 0) {
            link.info.oper_state = operstate_name(mnl_attr_get_u8(state));
        }
        if (const nlattr* mac = attributes[IFLA_ADDRESS];
            mac != nullptr && mnl_attr_get_payload_len(mac) == 6) {
            const auto* bytes = static_cast<const std::uint8_t*>(mnl_attr_get_payload(mac));
            link.info.mac = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0],
                                        bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
        }
        self->state.links.push_back(std::move(link));
        return MNL_CB_OK;
    }
};

struct AddressCollector {
    KernelState& state;

    static int on_message(const nlmsghdr* header, void* data) {
        auto* self = static_cast<AddressCollector*>(data);
        const auto* message = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(header));
        if (message->ifa_family != AF_INET && message->ifa_family != AF_INET6) {
            return MNL_CB_OK;
        }
        Attributes<IFA_MAX> attributes;
        mnl_attr_parse(header, sizeof(*message), Attributes<IFA_MAX>::collect, &attributes);
        // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer's on a
        // point-to-point link); IPv6 has IFA_ADDRESS only, unless there is a peer.
        auto address = address_from(attributes[IFA_LOCAL], message->ifa_family);
        if (!address) {
            address = address_from(attributes[IFA_ADDRESS], message->ifa_family);
        }
        if (!address || message->ifa_prefixlen > prefix_length_max(address->family)) {
            return MNL_CB_OK;
        }
        std::uint32_t flags = message->ifa_flags;
        if (const nlattr* all = attributes[IFA_FLAGS];
            all != nullptr && mnl_attr_validate(all, MNL_TYPE_U32) == 0) {
            flags = mnl_attr_get_u32(all);
        }
        self->state.addresses.push_back(KernelAddress{static_cast<int>(message->ifa_index),
                                                      Prefix{*address, message->ifa_prefixlen},
                                                      (flags & IFA_F_PERMANENT) != 0});
        return MNL_CB_OK;
    }
};

struct RouteCollector {
    KernelState& state;
    std::vector<std::pair<int, std::size_t>> oifs;  // Route index -> interface index.

    static int on_message(const nlmsghdr* header, void* data) {
        auto* self = static_cast<RouteCollector*>(data);
        const auto* message = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(header));
        if ((message->rtm_family != AF_INET && message->rtm_family != AF_INET6) ||
            message->rtm_type != RTN_UNICAST) {
            return MNL_CB_OK;
        }
        Attributes<RTA_MAX> attributes;
        mnl_attr_parse(header, sizeof(*message), Attributes<RTA_MAX>::collect, &attributes);
        std::uint32_t table = message->rtm_table;
        if (const nlattr* full = attributes[RTA_TABLE];
            full != nullptr && mnl_attr_validate(full, MNL_TYPE_U32) == 0) {
            table = mnl_attr_get_u32(full);
        }
        if (table != RT_TABLE_MAIN) {
            return MNL_CB_OK;
        }
        RouteInfo route;
        route.destination.address.family =
            message->rtm_family == AF_INET ? Family::ipv4 : Family::ipv6;
        if (auto destination = address_from(attributes[RTA_DST], message->rtm_family)) {
            route.destination.address = *destination;
        }
        if (message->rtm_dst_len > prefix_length_max(route.destination.address.family)) {
            return MNL_CB_OK;
        }
        route.destination.length = message->rtm_dst_len;
        route.gateway = address_from(attributes[RTA_GATEWAY], message->rtm_family);
        route.protocol = protocol_name(message->rtm_protocol);
        route.managed = message->rtm_protocol == RTPROT_STATIC;
        if (const nlattr* oif = attributes[RTA_OIF];
            oif != nullptr && mnl_attr_validate(oif, MNL_TYPE_U32) == 0) {
            self->oifs.emplace_back(static_cast<int>(mnl_attr_get_u32(oif)),
                                    self->state.routes.size());
        }
        self->state.routes.push_back(std::move(route));
        return MNL_CB_OK;
    }
};

std::string kernel_error(const char* what, int error) {
    return fmt::format("{}: {}", what, std::strerror(error));
}

int family_code(Family family) {
    return family == Family::ipv4 ? AF_INET : AF_INET6;
}

}  // namespace

void Rtnetlink::Closer::operator()(mnl_socket* socket) const {
    mnl_socket_close(socket);
}

Rtnetlink::Rtnetlink(mnl_socket* socket)
    : socket_(socket), port_id_(mnl_socket_get_portid(socket)) {
    sequence_ = static_cast<unsigned>(std::time(nullptr));
}

Rtnetlink::~Rtnetlink() = default;

Result<Rtnetlink, std::string> Rtnetlink::open() {
    mnl_socket* socket = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (socket == nullptr) {
        return unexpected(kernel_error("rtnetlink socket", errno));
    }
    if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        int error = errno;
        mnl_socket_close(socket);
        return unexpected(kernel_error("rtnetlink bind", error));
    }
    return Rtnetlink(socket);
}

template <typename Callback>
Result<void, std::string> Rtnetlink::dump_kind(int type, std::uint8_t family, Callback& callback) {
    std::vector<char> buffer(netlink_buffer_bytes);
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = static_cast<std::uint16_t>(type);
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    header->nlmsg_seq = ++sequence_;
    // Each dump takes its message's own header (ifinfomsg, ifaddrmsg, rtmsg), all of which
    // start with the family byte; the rest stays zero (no filter).
    std::size_t header_bytes = type == RTM_GETLINK   ? sizeof(ifinfomsg)
                               : type == RTM_GETADDR ? sizeof(ifaddrmsg)
                                                     : sizeof(rtmsg);
    auto* first = static_cast<std::uint8_t*>(mnl_nlmsg_put_extra_header(header, header_bytes));
    first[0] = family;
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0) {
        return unexpected(kernel_error("rtnetlink send", errno));
    }
    unsigned sequence = header->nlmsg_seq;
    while (true) {
        ssize_t received = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
        if (received < 0) {
            return unexpected(kernel_error("rtnetlink receive", errno));
        }
        int result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), sequence,
                                port_id_, Callback::on_message, &callback);
        if (result < 0) {
            return unexpected(kernel_error("rtnetlink dump", errno));
        }
        if (result == MNL_CB_STOP) {
            return {};
        }
    }
}

Result<KernelState, std::string> Rtnetlink::dump() {
    KernelState state;
    LinkCollector links{state};
    if (auto done = dump_kind(RTM_GETLINK, AF_UNSPEC, links); !done) {
        return unexpected(done.error());
    }
    if (links.too_many) {
        return unexpected(fmt::format("more than {} interfaces", live_links_max));
    }
    AddressCollector addresses{state};
    if (auto done = dump_kind(RTM_GETADDR, AF_UNSPEC, addresses); !done) {
        return unexpected(done.error());
    }
    RouteCollector routes{state, {}};
    if (auto done = dump_kind(RTM_GETROUTE, AF_UNSPEC, routes); !done) {
        return unexpected(done.error());
    }
    for (const auto& [oif, route] : routes.oifs) {
        int wanted = oif;
        auto link = std::find_if(state.links.begin(), state.links.end(),
                                 [&](const KernelLink& l) { return l.index == wanted; });
        if (link != state.links.end()) {
            state.routes[route].interface = link->info.name;
        }
    }
    for (const KernelAddress& address : state.addresses) {
        for (KernelLink& link : state.links) {
            if (link.index == address.index) {
                link.info.addresses.push_back(address.prefix);
            }
        }
    }
    for (KernelLink& link : state.links) {
        std::sort(link.info.addresses.begin(), link.info.addresses.end());
    }
    return state;
}

Result<void, std::string> Rtnetlink::request(void* buffer, std::size_t bytes) {
    auto* header = static_cast<nlmsghdr*>(buffer);
    HUB_ASSERT(header->nlmsg_len <= bytes);
    header->nlmsg_flags =
        static_cast<std::uint16_t>(header->nlmsg_flags | NLM_F_REQUEST | NLM_F_ACK);
    header->nlmsg_seq = ++sequence_;
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0) {
        return unexpected(kernel_error("rtnetlink send", errno));
    }
    std::vector<char> answer(netlink_buffer_bytes);
    ssize_t received = mnl_socket_recvfrom(socket_.get(), answer.data(), answer.size());
    if (received < 0) {
        return unexpected(kernel_error("rtnetlink receive", errno));
    }
    if (mnl_cb_run(answer.data(), static_cast<std::size_t>(received), header->nlmsg_seq, port_id_,
                   nullptr, nullptr) < 0) {
        return unexpected(std::string(std::strerror(errno)));
    }
    return {};
}

Result<void, std::string> Rtnetlink::run(const Step& step) {
    std::vector<char> buffer(netlink_buffer_bytes);
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    switch (step.op) {
        case Step::Op::set_mtu:
        case Step::Op::set_up:
        case Step::Op::set_down: {
            header->nlmsg_type = RTM_NEWLINK;
            auto* link =
                static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifinfomsg)));
            link->ifi_family = AF_UNSPEC;
            link->ifi_index = step.index;
            if (step.op == Step::Op::set_mtu) {
                mnl_attr_put_u32(header, IFLA_MTU, step.mtu);
            } else {
                link->ifi_change = IFF_UP;
                link->ifi_flags = step.op == Step::Op::set_up ? IFF_UP : 0;
            }
            break;
        }
        case Step::Op::add_address:
        case Step::Op::delete_address: {
            header->nlmsg_type = step.op == Step::Op::add_address ? RTM_NEWADDR : RTM_DELADDR;
            if (step.op == Step::Op::add_address) {
                header->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
            }
            auto* address =
                static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifaddrmsg)));
            address->ifa_family =
                static_cast<std::uint8_t>(family_code(step.prefix.address.family));
            address->ifa_prefixlen = step.prefix.length;
            address->ifa_scope = RT_SCOPE_UNIVERSE;
            address->ifa_index = static_cast<std::uint32_t>(step.index);
            auto bytes = static_cast<std::uint32_t>(step.prefix.address.byte_count());
            mnl_attr_put(header, IFA_LOCAL, bytes, step.prefix.address.bytes.data());
            mnl_attr_put(header, IFA_ADDRESS, bytes, step.prefix.address.bytes.data());
            break;
        }
        case Step::Op::add_route:
        case Step::Op::delete_route: {
            header->nlmsg_type = step.op == Step::Op::add_route ? RTM_NEWROUTE : RTM_DELROUTE;
            if (step.op == Step::Op::add_route) {
                header->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
            }
            auto* route = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(rtmsg)));
            route->rtm_family = static_cast<std::uint8_t>(family_code(step.prefix.address.family));
            route->rtm_dst_len = step.prefix.length;
            route->rtm_table = RT_TABLE_MAIN;
            route->rtm_protocol = RTPROT_STATIC;  // What marks a route as hub-netcfg's.
            route->rtm_scope = RT_SCOPE_UNIVERSE;
            route->rtm_type = RTN_UNICAST;
            auto bytes = static_cast<std::uint32_t>(step.prefix.address.byte_count());
            if (step.prefix.length > 0) {
                mnl_attr_put(header, RTA_DST, bytes, step.prefix.address.bytes.data());
            }
            mnl_attr_put(header, RTA_GATEWAY, bytes, step.gateway.bytes.data());
            break;
        }
    }
    if (auto done = request(buffer.data(), buffer.size()); !done) {
        return unexpected(fmt::format("{}: the kernel refused: {}", describe(step), done.error()));
    }
    return {};
}

Result<std::vector<std::string>, std::string> converge(Rtnetlink& netlink,
                                                       const Settings& settings) {
    std::vector<std::string> warnings;
    for (int pass = 0; pass < reconcile_passes_max; pass++) {
        auto live = netlink.dump();
        if (!live) {
            return unexpected(live.error());
        }
        Reconciliation plan = reconcile(*live, settings);
        warnings = plan.warnings;
        if (plan.steps.empty()) {
            return warnings;
        }
        for (const Step& step : plan.steps) {
            if (auto done = netlink.run(step); !done) {
                return unexpected(done.error());
            }
        }
    }
    auto live = netlink.dump();
    if (!live) {
        return unexpected(live.error());
    }
    Reconciliation left = reconcile(*live, settings);
    if (!left.steps.empty()) {
        return unexpected(
            fmt::format("the kernel does not keep the settings: {} (and {} more "
                        "steps) after {} passes",
                        describe(left.steps.front()), left.steps.size() - 1, reconcile_passes_max));
    }
    return left.warnings;
}

}  // namespace hub::netcfg
