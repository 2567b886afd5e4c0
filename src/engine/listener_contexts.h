// listener_contexts.h -- the TLS server contexts hubd's listeners present: tls.certificate,
// or the directory's listener certificate for that address, and one context per SNI name.
//
// Built once, as root before the privilege drop (the key files are root's); a change to
// the rows needs a restart, which a reload reports (reload.cc). docs/DIRECTORY.md,
// "Listener certificates".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "directory/listener_certificates.h"
#include "tls/tls_session.h"

namespace hub::engine {

struct ListenerContexts {
    std::shared_ptr<tls::ServerContext> smtp;   // listen.smtp (STARTTLS).
    std::shared_ptr<tls::ServerContext> smtps;  // listen.smtps (implicit TLS).
    // Every context made, SNI ones included: each gets the CRL (crl_refresh.h).
    std::vector<std::shared_ptr<tls::ServerContext>> all;
    // What each listener presents, one line per listener, for the start-up log.
    std::vector<std::string> summary;
};

// For each listener: its default context (the row for its address without SNI, else the
// "*" row without SNI, else tls.certificate / tls.key) and, when rows name SNI hosts for
// it, one context per name selected in the handshake. Every context has tls.client_ca and,
// when crl_issuer is not empty, the CRL check for that CA (revocation.h). Errors name the
// row and the file: hubd does not start with a listener certificate it cannot use.
[[nodiscard]] Result<ListenerContexts, std::string> make_listener_contexts(
    const config::HubConfig& config, const std::vector<directory::ListenerCertificateRecord>& rows,
    const std::string& crl_issuer);

// Rows whose address is neither listener nor "*" (a listener moved in hub.conf), by name.
std::vector<std::string> unused_listener_certificates(
    const config::HubConfig& config, const std::vector<directory::ListenerCertificateRecord>& rows);

}  // namespace hub::engine
