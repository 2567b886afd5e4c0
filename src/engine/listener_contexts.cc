// listener_contexts.cc -- hubd's server contexts per listener and SNI name (see the header).
//
// PURPOSE   Present different certificates on different addresses, and by SNI on one.
// RUNS IN   hubd's main thread at start, as root, before the privilege drop.
// TRUST     hub.conf and the directory are the administrator's; hubctl checked the files
//           when it stored the rows, and ServerContext::create checks them again here.
// LIMITS    Two listeners; one context per distinct file pair for SNI, shared by both.
// SEE ALSO  tls/tls_session.h (ServerContext::add_server_name), docs/DIRECTORY.md.

#include "engine/listener_contexts.h"

#include <fmt/format.h>

#include <map>
#include <utility>

#include "tls/revocation.h"

namespace hub::engine {

namespace {

using Files = std::pair<std::string, std::string>;  // Certificate chain, key.

class Maker {
public:
    Maker(const config::HubConfig& config, const std::string& crl_issuer)
        : config_(config), crl_issuer_(crl_issuer) {}

    // A new context for these files (what = the row or setting, for errors).
    Result<std::shared_ptr<tls::ServerContext>, std::string> make(const Files& files,
                                                                  std::string_view what) {
        tls::ServerConfig server;
        server.certificate_chain_path = files.first;
        server.private_key_path = files.second;
        server.client_ca_path = config_.client_ca_path;
        auto context = tls::ServerContext::create(server);
        if (!context) {
            return unexpected(fmt::format("TLS: {}: {}", what, context.error().message));
        }
        if (!crl_issuer_.empty()) {
            if (auto enabled = tls::enable_crl_check(**context, crl_issuer_); !enabled) {
                return unexpected(fmt::format("CRL: {}", enabled.error()));
            }
        }
        all.push_back(*context);
        return std::move(*context);
    }

    // SNI targets are shared: both listeners may name the same files.
    Result<std::shared_ptr<tls::ServerContext>, std::string> shared(const Files& files,
                                                                    std::string_view what) {
        if (auto found = by_files_.find(files); found != by_files_.end()) {
            return found->second;
        }
        auto made = make(files, what);
        if (made) {
            by_files_.emplace(files, *made);
        }
        return made;
    }

    std::vector<std::shared_ptr<tls::ServerContext>> all;

private:
    const config::HubConfig& config_;
    const std::string& crl_issuer_;
    std::map<Files, std::shared_ptr<tls::ServerContext>> by_files_;
};

Result<std::shared_ptr<tls::ServerContext>, std::string> make_for_listener(
    Maker& maker, const config::HubConfig& config,
    const std::vector<directory::ListenerCertificateRecord>& rows, const std::string& address,
    std::string& summary) {
    directory::ListenerSelection selection = directory::select_listener_certificates(rows, address);
    Files files{config.certificate_path, config.private_key_path};
    std::string what = "tls.certificate";
    if (selection.fallback != nullptr) {
        files = {selection.fallback->certificate_path, selection.fallback->key_path};
        what = fmt::format("listener certificate {}", selection.fallback->name);
    }
    // Its own context even when another listener has the same files: the SNI names are
    // per listener and live in the default context.
    auto context = maker.make(files, what);
    if (!context) {
        return context;
    }
    summary = fmt::format("listener {}: {} ({})", address, what, files.first);
    for (const directory::ListenerCertificateRecord* row : selection.by_name) {
        auto target = maker.shared({row->certificate_path, row->key_path},
                                   fmt::format("listener certificate {}", row->name));
        if (!target) {
            return target;
        }
        if (auto added = (*context)->add_server_name(row->sni, *target); !added) {
            return unexpected(fmt::format("listener certificate {}: {}", row->name, added.error()));
        }
        summary += fmt::format("; SNI {}: listener certificate {} ({})", row->sni, row->name,
                               row->certificate_path);
    }
    return context;
}

}  // namespace

Result<ListenerContexts, std::string> make_listener_contexts(
    const config::HubConfig& config, const std::vector<directory::ListenerCertificateRecord>& rows,
    const std::string& crl_issuer) {
    Maker maker(config, crl_issuer);
    ListenerContexts out;
    std::string smtp_summary;
    std::string smtps_summary;
    auto smtp = make_for_listener(
        maker, config, rows, directory::listener_address_text(config.smtp.host, config.smtp.port),
        smtp_summary);
    if (!smtp) {
        return unexpected(std::move(smtp).error());
    }
    auto smtps = make_for_listener(
        maker, config, rows, directory::listener_address_text(config.smtps.host, config.smtps.port),
        smtps_summary);
    if (!smtps) {
        return unexpected(std::move(smtps).error());
    }
    out.smtp = std::move(*smtp);
    out.smtps = std::move(*smtps);
    out.all = std::move(maker.all);
    out.summary = {std::move(smtp_summary), std::move(smtps_summary)};
    return out;
}

std::vector<std::string> unused_listener_certificates(
    const config::HubConfig& config,
    const std::vector<directory::ListenerCertificateRecord>& rows) {
    std::string smtp = directory::listener_address_text(config.smtp.host, config.smtp.port);
    std::string smtps = directory::listener_address_text(config.smtps.host, config.smtps.port);
    std::vector<std::string> unused;
    for (const directory::ListenerCertificateRecord& row : rows) {
        if (row.address != "*" && row.address != smtp && row.address != smtps) {
            unused.push_back(fmt::format("{} ({})", row.name, row.address));
        }
    }
    return unused;
}

}  // namespace hub::engine
