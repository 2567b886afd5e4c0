// checks.h -- the form fields' checks, run when a form is submitted (console/model.h).
//
// Each returns "" when the value is acceptable, else one sentence saying what to type.
// Where a rule has an owner (partner names and domains: policy/partner_checks.h; networks:
// policy::parse_cidr; host names: config/syntax.h) the check is the owner's own function,
// so the console and hubctl refuse the same values; the owner checks again when it writes.
// The rest are the console's: the shapes it passes on to hub-ca and hub-netcfg, which
// check again too. Every check refuses shell metacharacters by accepting only the
// characters its value can hold; nothing typed is ever given to a shell anyway.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hub::console {

// A list field ("a, b c"): the pieces between commas and spaces, empty ones dropped.
std::vector<std::string_view> split_list(std::string_view value);

std::string check_partner_name(std::string_view value);
std::string check_partner_domain(std::string_view value);
// Comma-separated networks (192.0.2.0/24, 2001:db8::/32); empty allowed.
std::string check_networks(std::string_view value);
// A partner's smart host: IPv4[:port] or [IPv6][:port].
std::string check_smart_host(std::string_view value);
// Printable ASCII, at most 256 characters (the directory's contact rule).
std::string check_contact(std::string_view value);
// A reason told to a partner: 1..200 printable characters.
std::string check_reason_text(std::string_view value);
// RFC 5280's reason names that hub-ca accepts.
std::string check_revoke_reason(std::string_view value);
// An administrator's name: a POSIX-portable user name.
std::string check_admin_name(std::string_view value);
// 12..1024 printable characters.
std::string check_password(std::string_view value);
// A network interface name: 1..15 of letters, digits, '.', '_', '-'.
std::string check_interface(std::string_view value);
// An IPv4 or IPv6 address with a prefix length: 192.0.2.10/24.
std::string check_address_cidr(std::string_view value);
// "default" or a network with its prefix length (a route's destination).
std::string check_destination(std::string_view value);
// An IPv4 or IPv6 address.
std::string check_ip(std::string_view value);
// 68..9216.
std::string check_mtu(std::string_view value);
// 1..65535.
std::string check_port(std::string_view value);
// An IP address or a host name.
std::string check_host(std::string_view value);
// A host name (LDH).
std::string check_host_name(std::string_view value);
// One to three IP addresses separated by spaces or commas.
std::string check_dns_servers(std::string_view value);
// "any", "none", or comma-separated networks.
std::string check_sources(std::string_view value);
// A backup archive: a name in backup.dir or an absolute path, ending in .hbk, of letters,
// digits and . _ - + : / only (no "..").
std::string check_archive(std::string_view value);
// A backup passphrase as typed to open an archive: empty (the box's passphrase file) or
// 1..1024 printable characters.
std::string check_archive_passphrase(std::string_view value);
// 1..8760 (backup.interval_hours' range).
std::string check_interval_hours(std::string_view value);
// 1..1000 (backup.keep's range).
std::string check_keep(std::string_view value);
// Exactly "RESTORE": typed to confirm a restore.
std::string check_restore_word(std::string_view value);

// Pasted fields (console/model.h, Field::lines_max): printable ASCII lines only.
// A key type for a new hub key: p256, p384, rsa3072 or rsa4096.
std::string check_key_type(std::string_view value);
// PEM text holding at least one certificate (-----BEGIN CERTIFICATE-----).
std::string check_certificates_paste(std::string_view value);
// Empty, or PEM text holding at least one certificate (an optional chain or root).
std::string check_optional_certificates_paste(std::string_view value);
// PEM text holding one private key (-----BEGIN ... PRIVATE KEY-----).
std::string check_private_key_paste(std::string_view value);
// Base64 lines (as `base64 bundle.p12` prints them) that decode to at least one byte.
std::string check_base64_paste(std::string_view value);
// Into bytes, the bytes base64 lines stand for (line breaks and spaces ignored); false
// when a character is not base64 or the padding is wrong.
bool decode_base64_paste(std::string_view value, std::string& bytes);

}  // namespace hub::console
