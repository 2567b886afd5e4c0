// partner_snapshot.h -- the partner table as the shards see it, and how a reload swaps it.
//
// A PartnerSnapshot is immutable once published: the partner table, and one outbound TLS
// client context per partner (indexed like the table). The supervisor builds a new one at
// each reload and publishes it on the PartnerBoard; each shard picks it up at the top of
// its next reactor turn (one atomic load per turn). An inbound connection keeps the
// snapshot it was accepted under until it closes, and an outbound job the one it started
// under, so sessions in progress finish under the policy they began with and new ones get
// the new policy (docs/DIRECTORY.md, "Live reload").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "policy/partners.h"
#include "tls/tls_session.h"

namespace hub::engine {

struct PartnerSnapshot {
    std::uint64_t generation = 0;  // 1 at start, then one more per published reload.
    std::shared_ptr<const policy::PartnerTable> table;
    // The directory's pending and suspended partners: mail already queued for them (from
    // before a restart, say) routes to them by name and waits with a reason, as mail does for
    // a partner suspended while hubd runs, instead of staying unrouted until a restart. Never
    // used to accept mail or to pick a session's partner.
    std::shared_ptr<const policy::PartnerTable> held;
    // By partner index in table: the context its deliveries use (its outbound name, pin).
    std::vector<std::shared_ptr<tls::ClientContext>> client_contexts;
};

// The hub's own TLS files as bytes, read once before the privilege drop: the client
// certificate and key every outbound context presents, and the CA partners' servers chain
// to. XXX: the private key stays in hubd's memory for its whole life so that a partner
// added live can get a context; the server context holds the same key anyway, so this adds
// a second copy, not a new exposure.
struct OutboundKeyMaterial {
    std::string certificate_path;  // For messages only.
    std::string private_key_path;
    std::string trust_anchor_path;
    std::string certificate_pem;
    std::string private_key_pem;
    std::string trust_anchor_pem;
};

// Reads the three files named by hub.conf (tls.certificate, tls.key, tls.client_ca);
// errors name the file. Runs before the privilege drop.
[[nodiscard]] Result<OutboundKeyMaterial, std::string> read_outbound_key_material(
    const config::HubConfig& config);

// A snapshot of partners (already checked by their loader) with one client context per
// partner built from keys. A partner of previous (may be null) with the same name, outbound
// name and pin keeps its context: building one parses the CA, certificate and key, which
// for thousands of partners would make every reload take seconds. Errors name the partner
// whose outbound TLS settings fail.
[[nodiscard]] Result<std::shared_ptr<const PartnerSnapshot>, std::string> build_snapshot(
    const std::string& hub_domain, std::vector<policy::Partner> partners,
    const OutboundKeyMaterial& keys, std::uint64_t generation, const PartnerSnapshot* previous,
    std::vector<policy::Partner> held = {});

// The partner's outbound TLS endpoint policy (resolved into partner.outbound_tls) as client
// context settings: the server name (SNI and name check), the trust anchors (the hub CA or
// a named trust anchor), a pin, or neither (opportunistic). The partner's own pin replaces
// the chain under a chain policy, as it did before policies existed. The cipher minimum
// and the STARTTLS/implicit mode are the connection's (outbound_flow.cc).
void apply_outbound_policy(const policy::Partner& partner, tls::ClientConfig& client);

// Where the supervisor publishes snapshots and shards take them. publish() and current()
// take a mutex (never on the data path: a shard calls current() only when generation()
// moved); generation() is one atomic load.
class PartnerBoard {
public:
    void publish(std::shared_ptr<const PartnerSnapshot> snapshot);
    std::shared_ptr<const PartnerSnapshot> current() const;
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const PartnerSnapshot> current_;
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace hub::engine
