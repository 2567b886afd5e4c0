// firewall.cc -- the service-access table (firewall.h).
//
// PURPOSE   Who may reach SSH, SMTP, the enrollment page and SNMP, as nftables rules.
// RUNS IN   hub-netcfg (with CAP_NET_ADMIN), in its network namespace.
// TRUST     Validated settings only: every address in the script was parsed and printed
//           by address.cc, so nothing from a caller reaches nft as text.
// LIMITS    sources_per_service_max networks per service.
// SEE ALSO  rootfs/etc/nftables.conf (the base table), docs/NETWORK.md.

#include "netcfg/firewall.h"

#include <fmt/format.h>
#include <nftables/libnftables.h>

#include <memory>

namespace hub::netcfg {

namespace {

std::string mark_rule(Service service, std::string_view source_match) {
    std::string ports(service_ports(service));  // "tcp 25, 465"
    std::string_view protocol = std::string_view(ports).substr(0, 3);
    std::string_view list = std::string_view(ports).substr(4);
    return fmt::format("\t\tct state new {} dport {{ {} }} {}meta mark set 0x{:x} comment \"{}\"\n",
                       protocol, list, source_match.empty() ? "" : std::string(source_match) + " ",
                       access_mark, service_name(service));
}

std::string source_set(const Access& access, Family family) {
    std::string out;
    for (const Prefix& source : access.sources) {
        if (source.address.family != family) {
            continue;
        }
        out += out.empty() ? "" : ", ";
        out += to_string(source);
    }
    return out;
}

}  // namespace

std::string access_ruleset(const Settings& settings) {
    std::string rules;
    for (Service service : all_services) {
        if (service == Service::ssh && !settings.ssh_enabled) {
            continue;  // SSH switched off: closed whatever its sources say.
        }
        const Access& access = settings.access_for(service);
        if (access.any) {
            rules += mark_rule(service, "");
            continue;
        }
        for (Family family : {Family::ipv4, Family::ipv6}) {
            std::string set = source_set(access, family);
            if (!set.empty()) {
                rules += mark_rule(
                    service,
                    fmt::format("{} saddr {{ {} }}", family == Family::ipv4 ? "ip" : "ip6", set));
            }
        }
    }
    // "table" first so that "delete table" finds one on a box that has none yet; all of it
    // is one transaction, so the old table stays if anything is refused.
    return fmt::format(
        "table inet {0}\n"
        "delete table inet {0}\n"
        "table inet {0} {{\n"
        "\tchain input {{\n"
        "\t\ttype filter hook input priority filter - 10; policy accept;\n"
        "{1}"
        "\t}}\n"
        "}}\n",
        access_table_name, rules);
}

Result<void, std::string> apply_ruleset(const std::string& script) {
    struct Free {
        void operator()(nft_ctx* context) const { nft_ctx_free(context); }
    };
    std::unique_ptr<nft_ctx, Free> context(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!context) {
        return unexpected(std::string("nftables: cannot make a context"));
    }
    nft_ctx_buffer_output(context.get());
    nft_ctx_buffer_error(context.get());
    if (nft_run_cmd_from_buffer(context.get(), script.c_str()) != 0) {
        std::string error = nft_ctx_get_error_buffer(context.get());
        while (!error.empty() && error.back() == '\n') {
            error.pop_back();
        }
        return unexpected(fmt::format("nftables refused the access table: {}", error));
    }
    return {};
}

}  // namespace hub::netcfg
