// reload.h -- live reload: hub.conf and the partner source read again, a new partner
// snapshot published to every shard.
//
// Triggered by SIGHUP, by `hubctl reload`, and by hubctl after each directory write (both
// through the control socket). All or nothing: a reload that cannot read or check what it
// needs, or that finds a hub.conf change only a restart can apply, changes nothing and
// says why. See docs/DIRECTORY.md ("Live reload") and docs/CONFIGURATION.md ("Reload").
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "directory/directory.h"
#include "engine/crl_refresh.h"
#include "engine/partner_snapshot.h"
#include "policy/partners.h"

namespace hub::engine {

class Reloader {
public:
    // running: the configuration hubd started with (reloads compare against it); keys: the
    // TLS files read before the privilege drop; board: where snapshots are published.
    Reloader(std::string config_path, config::HubConfig running, OutboundKeyMaterial keys,
             PartnerBoard& board);

    // hubd's start: publishes the first snapshot (generation 1). Errors: a partner's
    // outbound TLS settings.
    [[nodiscard]] Result<void, std::string> publish_first(directory::EnginePartners partners);

    // Reads hub.conf and the partner source again (the directory read-only, as the hub
    // user) and publishes a new snapshot. Ok: one line for the administrator ("partner
    // table 3: 4 active partners; added p3"). Error: why nothing changed -- hub.conf
    // unreadable or invalid, an option that needs a restart, the partner source unreadable
    // or invalid, a partner's outbound TLS, or more partner names than the scheduler can
    // ever hold. Logs the outcome either way, naming trigger ("SIGHUP", "hubctl").
    Result<std::string, std::string> reload(std::string_view trigger);

    // Every reload also reads the hub CA's CRL again (crl_refresh.h), whatever becomes of
    // the rest: a revocation must not wait for a hub.conf mistake to be fixed. Null: this
    // hub has no [ca] public_dir, so no CRL.
    void set_crl_refresher(CrlRefresher* crl) { crl_ = crl; }

    // The directory's listener certificates hubd started with. Their keys were read as root
    // before the privilege drop, so a reload cannot apply a change to them: it applies the
    // rest and its answer says "listener certificates changed; restart hubd".
    void set_listener_certificates(std::vector<directory::ListenerCertificateRecord> rows) {
        listener_certificates_ = std::move(rows);
    }

private:
    Result<std::string, std::string> try_reload();

    std::string config_path_;
    config::HubConfig running_;
    OutboundKeyMaterial keys_;
    PartnerBoard& board_;
    CrlRefresher* crl_ = nullptr;
    std::vector<directory::ListenerCertificateRecord> listener_certificates_;
    std::uint64_t generation_ = 0;
    std::vector<std::string> partner_names_;  // Of the published table, sorted.
    // Every partner name any published table held: each is a destination in every shard's
    // scheduler for the process's life (queue::destinations_count_max at most).
    std::set<std::string, std::less<>> names_ever_;
};

}  // namespace hub::engine
