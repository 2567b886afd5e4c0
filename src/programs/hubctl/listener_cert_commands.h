// listener_cert_commands.h -- hubctl listener-cert: which certificate hubd presents on which
// listening address and for which SNI name (docs/DIRECTORY.md, "Listener certificates").
// Registered and dispatched by directory_commands.cc (they share --directory and the
// reload after a write); the checks and the printing are here.
#pragma once

#include <string>

#include "base/result.h"
#include "config/hub_config.h"
#include "directory/directory.h"

namespace hub::hubctl {

struct ListenerCertInput {
    std::string name;
    std::string address;  // As typed: "*", "127.0.0.1:2525", "[::1]:2465".
    std::string sni;      // As typed; "" for clients without SNI.
    std::string certificate_file;
    std::string key_file;
};

// The row to store, after every check that needs no database: the address is "*" or a
// numeric endpoint (and, when listeners is given, one of hub.conf's listen.smtp and
// listen.smtps), the SNI name a host name (stored lower case), both files readable, the
// certificate file PEM with the leaf first, the key its key (a TLS server context is made
// with them, as hubd will). Paths are stored absolute. Errors say what to fix.
[[nodiscard]] Result<directory::ListenerCertificateRecord, std::string> read_listener_certificate(
    const ListenerCertInput& input, const config::HubConfig* listeners);

int list_listener_certificates(directory::Directory& directory, bool json);
int show_listener_certificate(directory::Directory& directory, const std::string& name, bool json);

}  // namespace hub::hubctl
