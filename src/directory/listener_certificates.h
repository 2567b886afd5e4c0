// listener_certificates.h -- which certificate hubd presents on which listening address,
// and for which SNI name, as the directory stores it.
//
// A row names files, never key bytes: the hub user reads the directory, the keys stay
// root-only files that hubd reads at start, before its privilege drop. hubctl checks the
// files with wolfSSL before a row is written; hubd builds one server context per row that
// applies to one of its listeners (select_listener_certificates). See docs/DIRECTORY.md,
// "Listener certificates".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::directory {

struct ListenerCertificateRecord {
    std::string name;
    std::string address;           // Canonical "IPv4:port" or "[IPv6]:port", or "*" (any listener).
    std::string sni;               // Lower-case host name; "" = no SNI or one no row names.
    std::string certificate_path;  // Absolute; PEM, leaf first.
    std::string key_path;          // Absolute; PEM.

    bool operator==(const ListenerCertificateRecord&) const = default;
};

// "" when text is "*" or a numeric endpoint (config::parse_endpoint), and then canonical
// holds the form stored and compared ("*", "127.0.0.1:2525", "[::1]:2465"); else what to fix.
std::string canonical_listener_address(std::string_view text, std::string& canonical);
// The canonical form of a listener of hub.conf.
std::string listener_address_text(std::string_view host, std::uint16_t port);

// "" if the record's own fields are valid (name, address, SNI a lower-case DNS name or "",
// absolute paths), else what to fix. The files themselves are hubctl's to check.
std::string check_listener_certificate(const ListenerCertificateRecord& record);

// {"name":...,"address":...,"sni":...,"certificate":...,"key":...}
std::string to_json(const ListenerCertificateRecord& record);

// What one listener (address in canonical form) presents: its default (the row for this
// address with no SNI, else the "*" row with no SNI, else nullptr: tls.certificate), and one
// row per SNI name (a row for this address wins over a "*" row with the same name).
struct ListenerSelection {
    const ListenerCertificateRecord* fallback = nullptr;
    std::vector<const ListenerCertificateRecord*> by_name;  // Sorted by sni.
};
ListenerSelection select_listener_certificates(const std::vector<ListenerCertificateRecord>& rows,
                                               std::string_view address);

}  // namespace hub::directory
