// partner_snapshot.cc -- building and publishing partner snapshots (see partner_snapshot.h).
//
// PURPOSE   One code path for the partner table at start and at every reload: the table,
//           its outbound TLS contexts from key bytes in memory, and the hand-over to shards.
// RUNS IN   hubd's main thread (start-up, then the supervisor at each reload); shards only
//           read the board.
// TRUST     The partners come from their checked loader; the key bytes from root-owned
//           files read before the privilege drop.
// LIMITS    policy/limits.h (partners); one context per partner.
// SEE ALSO  supervisor.cc (reload), shard.cc (adopt_partners), docs/DIRECTORY.md.
#include "engine/partner_snapshot.h"

#include "base/assert.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

namespace hub::engine {
namespace {

// At most this many bytes of PEM per file: a certificate chain or a CA bundle is far less.
inline constexpr std::size_t pem_file_bytes_max = 4u << 20;

Result<std::string, std::string> read_small_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    }
    std::string bytes;
    char chunk[16384];
    while (file.read(chunk, sizeof(chunk)) || file.gcount() > 0) {
        bytes.append(chunk, static_cast<std::size_t>(file.gcount()));
        if (bytes.size() > pem_file_bytes_max) {
            return unexpected(
                fmt::format("{}: more than {} bytes; not a PEM file", path, pem_file_bytes_max));
        }
    }
    if (file.bad()) {
        return unexpected(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    return bytes;
}

}  // namespace

void apply_outbound_policy(const policy::Partner& partner, tls::ClientConfig& client) {
    const policy::OutboundTlsPolicy& out = partner.outbound_tls;
    client.server_name = out.server_name.empty() ? partner.outbound_name : out.server_name;
    switch (out.verify) {
        case policy::OutboundVerify::chain:
            if (!partner.outbound_trust_anchor_pem.empty()) {
                client.trust_anchor_pem = partner.outbound_trust_anchor_pem;
                client.trust_anchor_path = "trust anchor " + out.trust_anchor;
            }
            // As before policies: the partner's own pin replaces the chain.
            client.pinned_sha256 = partner.outbound_pin_sha256;
            client.verify_peer = partner.outbound_pin_sha256.empty();
            if (client.verify_peer && !out.check_name) {
                client.server_name.clear();  // No SNI, no name check: the chain alone.
            }
            break;
        case policy::OutboundVerify::pin:
            client.pinned_sha256 =
                out.pin_sha256.empty() ? partner.outbound_pin_sha256 : out.pin_sha256;
            // No pin anywhere (the directory refuses that; a hand-edited row could still):
            // fail closed to the chain rather than verify nothing.
            client.verify_peer = client.pinned_sha256.empty();
            break;
        case policy::OutboundVerify::none:  // Opportunistic: encrypted, not authenticated.
            client.pinned_sha256.clear();
            client.verify_peer = false;
            break;
    }
}

Result<OutboundKeyMaterial, std::string> read_outbound_key_material(
    const config::HubConfig& config) {
    OutboundKeyMaterial keys;
    keys.certificate_path = config.certificate_path;
    keys.private_key_path = config.private_key_path;
    keys.trust_anchor_path = config.client_ca_path;
    auto certificate = read_small_file(config.certificate_path);
    if (!certificate) {
        return unexpected(std::move(certificate).error());
    }
    keys.certificate_pem = std::move(*certificate);
    auto key = read_small_file(config.private_key_path);
    if (!key) {
        return unexpected(std::move(key).error());
    }
    keys.private_key_pem = std::move(*key);
    if (!config.client_ca_path.empty()) {
        auto anchors = read_small_file(config.client_ca_path);
        if (!anchors) {
            return unexpected(std::move(anchors).error());
        }
        keys.trust_anchor_pem = std::move(*anchors);
    }
    return keys;
}

Result<std::shared_ptr<const PartnerSnapshot>, std::string> build_snapshot(
    const std::string& hub_domain, std::vector<policy::Partner> partners,
    const OutboundKeyMaterial& keys, std::uint64_t generation, const PartnerSnapshot* previous,
    std::vector<policy::Partner> held) {
    auto snapshot = std::make_shared<PartnerSnapshot>();
    snapshot->generation = generation;
    snapshot->table = std::make_shared<const policy::PartnerTable>(hub_domain, std::move(partners));
    snapshot->held = std::make_shared<const policy::PartnerTable>(hub_domain, std::move(held));
    std::unordered_map<std::string_view, std::size_t> previous_index;
    if (previous != nullptr) {
        const auto& old = previous->table->partners();
        for (std::size_t index = 0; index < old.size(); index++) {
            previous_index.emplace(old[index].name, index);
        }
    }
    // The hub's own certificate is its client certificate towards partners.
    for (const policy::Partner& partner : snapshot->table->partners()) {
        if (auto found = previous_index.find(partner.name); found != previous_index.end()) {
            const policy::Partner& old = previous->table->partners()[found->second];
            if (old.outbound_name == partner.outbound_name &&
                old.outbound_pin_sha256 == partner.outbound_pin_sha256 &&
                old.outbound_tls == partner.outbound_tls &&
                old.outbound_trust_anchor_pem == partner.outbound_trust_anchor_pem) {
                snapshot->client_contexts.push_back(previous->client_contexts[found->second]);
                continue;
            }
        }
        tls::ClientConfig client;
        client.trust_anchor_path = keys.trust_anchor_path;
        client.certificate_chain_path = keys.certificate_path;
        client.private_key_path = keys.private_key_path;
        client.trust_anchor_pem = keys.trust_anchor_pem;
        client.certificate_chain_pem = keys.certificate_pem;
        client.private_key_pem = keys.private_key_pem;
        apply_outbound_policy(partner, client);
        auto context = tls::ClientContext::create(client);
        if (!context) {
            return unexpected(
                fmt::format("partner {}: outbound TLS: {}", partner.name, context.error().message));
        }
        snapshot->client_contexts.push_back(std::move(*context));
    }
    return std::shared_ptr<const PartnerSnapshot>(std::move(snapshot));
}

void PartnerBoard::publish(std::shared_ptr<const PartnerSnapshot> snapshot) {
    HUB_ASSERT(snapshot != nullptr && snapshot->table != nullptr);
    std::uint64_t generation = snapshot->generation;
    {
        std::lock_guard lock(mutex_);
        HUB_ASSERT(current_ == nullptr || generation > current_->generation);
        current_ = std::move(snapshot);
    }
    generation_.store(generation, std::memory_order_release);
}

std::shared_ptr<const PartnerSnapshot> PartnerBoard::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

}  // namespace hub::engine
