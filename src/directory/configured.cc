// configured.cc -- load_configured_partners: the directory or the TOML file.
//
// PURPOSE   One place that decides where the partner table comes from, for hubd (start,
//           reload, --check) and hubctl.
// RUNS IN   hubd's supervisor, hubctl. Never on the data path.
// TRUST     hub.conf decides; each source checks its own content.
// LIMITS    Those of the source (policy/limits.h).
// SEE ALSO  directory/directory.h, policy/partners.h (load_partners), docs/DIRECTORY.md.

#include "directory/configured.h"

#include "base/assert.h"
#include "directory/directory.h"

namespace hub::directory {

Result<std::vector<policy::Partner>, std::string> load_configured_partners(
    const config::HubConfig& config, OpenMode mode) {
    auto both = load_engine_partners(config, mode);
    if (!both) {
        return unexpected(std::move(both).error());
    }
    return std::move(both->active);
}

Result<EnginePartners, std::string> load_engine_partners(const config::HubConfig& config,
                                                         OpenMode mode) {
    if (config.directory_path.empty()) {
        auto partners = policy::load_partners(config.partners_file);
        if (!partners) {
            return unexpected(std::move(partners).error());
        }
        return EnginePartners{std::move(*partners), {}};
    }
    HUB_ASSERT(mode != OpenMode::create);
    auto directory = Directory::open(config.directory_path, mode);
    if (!directory) {
        return unexpected(std::move(directory).error());
    }
    return directory->engine_partners();
}

Result<std::vector<ListenerCertificateRecord>, std::string> load_listener_certificates(
    const config::HubConfig& config, OpenMode mode) {
    if (config.directory_path.empty()) {
        return std::vector<ListenerCertificateRecord>();
    }
    HUB_ASSERT(mode != OpenMode::create);
    auto directory = Directory::open(config.directory_path, mode);
    if (!directory) {
        return unexpected(std::move(directory).error());
    }
    return directory->listener_certificates();
}

}  // namespace hub::directory
