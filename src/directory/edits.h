// edits.h -- the changes hubctl makes to a partner, as PartnerEdits for Directory::change.
//
// Values arrive as the operator typed them ("10.0.0.0/8", "192.0.2.1:25"); each edit
// parses them, says what to fix when one is wrong, and leaves normalised values in the
// record (lower-case domains, networks in format_cidr's form). The record's own checks
// and the cross-partner checks then run in Directory::change, in the same transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "directory/directory.h"

namespace hub::directory {

// Settings of partner add / partner edit; an unset field is left as it is (edit) or at
// its default (add). Lists replace the stored list.
struct PartnerFields {
    std::optional<std::string> contact;
    std::optional<std::vector<std::string>> domains;
    std::optional<bool> subdomains;
    std::optional<std::vector<std::string>> inbound;
    std::optional<std::string> outbound;  // "IPv4[:port]" or "[IPv6][:port]".
    std::optional<std::string> outbound_name;
    std::optional<std::string> outbound_pin_sha256;  // "" clears the pin.
    std::optional<bool> require_client_certificate;
    std::optional<std::string> client_cn;  // "" = the first domain.
    std::optional<std::vector<std::string>> extra_sender_domains;
};

// A new partner; active unless pending (an active one needs a domain and an outbound
// connector). Refused if the name is taken.
PartnerEdit add_partner(std::string name, PartnerFields fields, bool pending);
// Changes the given fields of an existing partner.
PartnerEdit edit_partner(PartnerFields fields);
// suspend (active or pending -> suspended) and resume (-> active).
PartnerEdit set_state(PartnerState state);
PartnerEdit remove_partner();
PartnerEdit add_domain(std::string domain);
PartnerEdit remove_domain(std::string domain);

}  // namespace hub::directory
