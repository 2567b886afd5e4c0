// checks.cc -- see checks.h.
#include "console/checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>

#include "config/syntax.h"
#include "policy/partner_checks.h"
#include "policy/partners.h"

namespace hub::console {
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

namespace {

bool all_printable(std::string_view value) {
    for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
            return false;
        }
    }
    return true;
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

// --- Pasted fields ----------------------------------------------------------------------

namespace {

// Printable ASCII and line breaks: what a paste field can hold (the model refuses the rest
// key by key; hub-console-admin gets the value from a socket and checks again).
std::string check_paste_text(std::string_view value) {
    for (char c : value) {
        auto byte = static_cast<unsigned char>(c);
        if (c != '\n' && (byte < 0x20 || byte > 0x7e)) {
            return "printable characters and line breaks only";
        }
    }
    return "";
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

}  // namespace

std::string check_key_type(std::string_view value) {
    for (std::string_view type : {"p256", "p384", "rsa3072", "rsa4096"}) {
        if (value == type) {
            return "";
        }
    }
    return "p256, p384, rsa3072 or rsa4096";
}

std::string check_certificates_paste(std::string_view value) {
    if (std::string why = check_paste_text(value); !why.empty()) {
        return why;
    }
    if (value.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos ||
        value.find("-----END CERTIFICATE-----") == std::string_view::npos) {
        return "paste a PEM certificate, from -----BEGIN CERTIFICATE----- to its END line";
    }
    return "";
}

std::string check_optional_certificates_paste(std::string_view value) {
    return value.empty() ? "" : check_certificates_paste(value);
}

std::string check_private_key_paste(std::string_view value) {
    if (std::string why = check_paste_text(value); !why.empty()) {
        return why;
    }
    bool begins = false;
    bool ends = false;
    // Bounded by value: every pass consumes one line.
    for (std::string_view rest = value; !rest.empty();) {
        std::size_t newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        begins = begins || (line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----"));
        ends =
            ends || (begins && line.starts_with("-----END ") && line.ends_with("PRIVATE KEY-----"));
    }
    if (!begins || !ends) {
        return "paste a PEM private key, from -----BEGIN ... PRIVATE KEY----- to its END line";
    }
    if (value.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
        return "the key only here: its certificate goes in the certificate field";
    }
    return "";
}

bool decode_base64_paste(std::string_view value, std::string& bytes) {
    bytes.clear();
    std::uint32_t group = 0;
    int have = 0;
    int padding = 0;
    for (char c : value) {
        if (c == '\n' || c == '\r' || c == ' ') {
            continue;
        }
        if (c == '=') {
            padding++;
            continue;
        }
        int digit = base64_value(c);
        if (digit < 0 || padding > 0) {
            return false;  // Not base64, or data after the padding.
        }
        group = (group << 6) | static_cast<std::uint32_t>(digit);
        if (++have == 4) {
            bytes.push_back(static_cast<char>((group >> 16) & 0xff));
            bytes.push_back(static_cast<char>((group >> 8) & 0xff));
            bytes.push_back(static_cast<char>(group & 0xff));
            group = 0;
            have = 0;
        }
    }
    if (have == 1 || padding > 2 || (padding > 0 && have + padding != 4)) {
        return false;
    }
    if (have == 2) {
        bytes.push_back(static_cast<char>((group >> 4) & 0xff));
    } else if (have == 3) {
        bytes.push_back(static_cast<char>((group >> 10) & 0xff));
        bytes.push_back(static_cast<char>((group >> 2) & 0xff));
    }
    return true;
}

std::string check_base64_paste(std::string_view value) {
    std::string bytes;
    if (!decode_base64_paste(value, bytes)) {
        return "base64 lines only, as `base64 bundle.p12` prints them";
    }
    return bytes.empty() ? "paste the bundle as base64 lines (base64 bundle.p12)" : "";
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
