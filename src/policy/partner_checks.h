// partner_checks.h -- the checks of one partner setting, shared by every source of partners.
//
// The partner TOML file (partners_file.cc) and the directory (directory/) take the same
// settings from different places; both judge a value with these functions so that a name,
// a certificate CN or a pin that one accepts the other accepts too. Each returns "" when
// the value is good, else a phrase saying what the value must be (without the value, for
// "<key> = <value>: <phrase>" messages).
#pragma once

#include <string>
#include <string_view>

namespace hub::policy {

// 1..partner_name_bytes_max letters, digits, '.', '_' or '-'.
std::string check_partner_name(std::string_view name);
// 1..client_cn_bytes_max printable characters.
std::string check_client_cn(std::string_view cn);
// 64 hex digits, colons allowed between them.
std::string check_pin_sha256(std::string_view pin);
// A valid domain name (config::check_domain), for domains and extra sender domains.
std::string check_partner_domain(std::string_view domain);
// The DNS name the partner server's certificate must carry.
std::string check_outbound_name(std::string_view name);

}  // namespace hub::policy
