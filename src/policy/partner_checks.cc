// partner_checks.cc -- one partner setting at a time (see partner_checks.h).
//
// PURPOSE   One definition of a good partner name, client CN, pin and domain, used by the
//           TOML loader and the directory alike.
// RUNS IN   hubd's supervisor at start-up, hubctl. Never on the data path.
// TRUST     Operator input; every byte is checked.
// LIMITS    partner_name_bytes_max, client_cn_bytes_max.
// SEE ALSO  policy/partners_file.cc, directory/directory.cc.

#include "policy/partner_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "config/syntax.h"
#include "policy/limits.h"

namespace hub::policy {

std::string check_partner_name(std::string_view name) {
    auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    };
    if (name.empty() || name.size() > partner_name_bytes_max ||
        !std::all_of(name.begin(), name.end(), allowed)) {
        return fmt::format("must be 1..{} letters, digits, '.', '_' or '-'",
                           partner_name_bytes_max);
    }
    return {};
}

std::string check_client_cn(std::string_view cn) {
    auto printable = [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; };
    if (cn.empty() || cn.size() > client_cn_bytes_max ||
        !std::all_of(cn.begin(), cn.end(), printable)) {
        return fmt::format("must be a string of 1..{} printable characters", client_cn_bytes_max);
    }
    return {};
}

std::string check_pin_sha256(std::string_view pin) {
    std::size_t hex_digits = 0;
    for (char c : pin) {
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            hex_digits++;
        } else if (c != ':') {
            hex_digits = 0;
            break;
        }
    }
    if (hex_digits != 64) {
        return "must be 64 hex digits (colons allowed): the SHA-256 of the partner server's "
               "certificate";
    }
    return {};
}

std::string check_partner_domain(std::string_view domain) {
    std::string why = config::check_domain(domain);
    if (!why.empty()) {
        return fmt::format("must be a domain name of letters, digits and hyphens ({})", why);
    }
    return {};
}

std::string check_outbound_name(std::string_view name) {
    if (!config::is_valid_domain(name)) {
        return "must be the DNS name in the partner server's certificate";
    }
    return {};
}

}  // namespace hub::policy
