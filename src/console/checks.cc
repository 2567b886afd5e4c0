// checks.cc -- see checks.h.
#include "console/checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>

#include "config/syntax.h"
#include "policy/partner_checks.h"
#include "policy/partners.h"

namespace hub::console {
namespace {

bool all_printable(std::string_view value) {
    for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
            return false;
        }
    }
    return true;
}

// Splits on commas and spaces; empty pieces dropped. Bounded by value's length.
std::vector<std::string_view> split_list(std::string_view value) {
    std::vector<std::string_view> pieces;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= value.size(); i++) {
        if (i == value.size() || value[i] == ',' || value[i] == ' ') {
            if (i > start) {
                pieces.push_back(value.substr(start, i - start));
            }
            start = i + 1;
        }
    }
    return pieces;
}

bool parse_number(std::string_view value, unsigned& number) {
    if (value.empty() || value.size() > 6) {
        return false;
    }
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    return error == std::errc{} && end == value.data() + value.size();
}

bool is_ip(std::string_view value) {
    if (value.empty() || value.size() > 45) {
        return false;
    }
    std::string text(value);
    std::array<unsigned char, 16> address{};
    return inet_pton(AF_INET, text.c_str(), address.data()) == 1 ||
           inet_pton(AF_INET6, text.c_str(), address.data()) == 1;
}

}  // namespace

std::string check_partner_name(std::string_view value) {
    return policy::check_partner_name(value);
}

std::string check_partner_domain(std::string_view value) {
    return policy::check_partner_domain(value);
}

std::string check_networks(std::string_view value) {
    for (std::string_view piece : split_list(value)) {
        if (auto network = policy::parse_cidr(piece); !network) {
            return network.error();
        }
    }
    return "";
}

std::string check_smart_host(std::string_view value) {
    config::Endpoint endpoint;
    return config::parse_endpoint(value, endpoint, 25);
}

std::string check_contact(std::string_view value) {
    if (value.size() > 256 || !all_printable(value)) {
        return "at most 256 printable characters";
    }
    return "";
}

std::string check_reason_text(std::string_view value) {
    if (value.empty() || value.size() > 200 || !all_printable(value)) {
        return "a reason of 1 to 200 printable characters";
    }
    return "";
}

std::string check_revoke_reason(std::string_view value) {
    constexpr std::array<std::string_view, 6> reasons = {
        "unspecified", "keyCompromise",        "affiliationChanged",
        "superseded",  "cessationOfOperation", "privilegeWithdrawn"};
    for (std::string_view reason : reasons) {
        if (value == reason) {
            return "";
        }
    }
    return "one of: unspecified, keyCompromise, affiliationChanged, superseded, "
           "cessationOfOperation, privilegeWithdrawn";
}

std::string check_admin_name(std::string_view value) {
    return config::check_user_name(value);
}

std::string check_password(std::string_view value) {
    if (value.size() < 12 || value.size() > 1024 || !all_printable(value)) {
        return "a password of 12 to 1024 printable characters";
    }
    return "";
}

std::string check_interface(std::string_view value) {
    if (value.empty() || value.size() > 15) {
        return "an interface name of 1 to 15 characters (as the list shows)";
    }
    for (char c : value) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return "an interface name of letters, digits, '.', '_' and '-'";
        }
    }
    return "";
}

std::string check_address_cidr(std::string_view value) {
    std::size_t slash = value.find('/');
    unsigned prefix = 0;
    if (slash == std::string_view::npos || !is_ip(value.substr(0, slash)) ||
        !parse_number(value.substr(slash + 1), prefix) ||
        prefix > (value.find(':') == std::string_view::npos ? 32u : 128u)) {
        return "an address with its prefix length, e.g. 192.0.2.10/24 or 2001:db8::10/64";
    }
    return "";
}

std::string check_destination(std::string_view value) {
    if (value == "default") {
        return "";
    }
    return check_address_cidr(value).empty()
               ? ""
               : "default, or a network with its prefix length, e.g. 10.0.0.0/8";
}

std::string check_ip(std::string_view value) {
    return is_ip(value) ? "" : "an IPv4 or IPv6 address, e.g. 192.0.2.1";
}

std::string check_mtu(std::string_view value) {
    unsigned mtu = 0;
    if (!parse_number(value, mtu) || mtu < 68 || mtu > 9216) {
        return "an MTU from 68 to 9216";
    }
    return "";
}

std::string check_port(std::string_view value) {
    unsigned port = 0;
    if (!parse_number(value, port) || port < 1 || port > 65535) {
        return "a port from 1 to 65535";
    }
    return "";
}

std::string check_host(std::string_view value) {
    if (is_ip(value) || config::is_valid_domain(value)) {
        return "";
    }
    return "an IP address or a host name";
}

std::string check_host_name(std::string_view value) {
    return config::check_domain(value);
}

std::string check_dns_servers(std::string_view value) {
    std::vector<std::string_view> servers = split_list(value);
    if (servers.empty() || servers.size() > 3) {
        return "one to three server addresses, separated by spaces";
    }
    for (std::string_view server : servers) {
        if (!is_ip(server)) {
            return "one to three server addresses (IP addresses), separated by spaces";
        }
    }
    return "";
}

std::string check_sources(std::string_view value) {
    if (value == "any" || value == "none") {
        return "";
    }
    if (split_list(value).empty()) {
        return "any, none, or networks separated by commas (192.0.2.0/24, 2001:db8::/32)";
    }
    return check_networks(value);
}

std::string check_archive(std::string_view value) {
    bool plain = !value.empty() && value.size() <= 1024 &&
                 std::all_of(value.begin(), value.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                            c == '-' || c == '+' || c == ':' || c == '/';
                 });
    if (!plain || !value.ends_with(".hbk") || value.find("..") != std::string_view::npos ||
        (value.find('/') != std::string_view::npos && !value.starts_with('/'))) {
        return "an archive's name in the backup directory, or its absolute path "
               "(hubbox-....hbk)";
    }
    return "";
}

std::string check_archive_passphrase(std::string_view value) {
    if (value.size() > 1024 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= ' ' && c <= '~'; })) {
        return "the archive's passphrase (printable characters), or nothing for the box's "
               "backup passphrase file";
    }
    return "";
}

std::string check_interval_hours(std::string_view value) {
    unsigned hours = 0;
    if (!parse_number(value, hours) || hours < 1 || hours > 8760) {
        return "hours between backups, from 1 to 8760";
    }
    return "";
}

std::string check_keep(std::string_view value) {
    unsigned keep = 0;
    if (!parse_number(value, keep) || keep < 1 || keep > 1000) {
        return "archives to keep, from 1 to 1000";
    }
    return "";
}

std::string check_restore_word(std::string_view value) {
    return value == "RESTORE" ? "" : "type RESTORE (capitals) to restore, or Escape";
}

}  // namespace hub::console
