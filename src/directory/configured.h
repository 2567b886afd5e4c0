// configured.h -- the partners hub.conf points at: the directory (directory.path) or,
// for boxes not yet migrated, the TOML file (partners.file).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "directory/directory.h"
#include "policy/partners.h"

namespace hub::directory {

// The active partners from directory.path when set, else every partner of partners.file.
// mode: how the directory is opened (hubd's reload reads it with OpenMode::read_only).
[[nodiscard]] Result<std::vector<policy::Partner>, std::string> load_configured_partners(
    const config::HubConfig& config, OpenMode mode = OpenMode::existing);

// What hubd reads at start and at each reload: the active partners as above, and the
// directory's pending and suspended ones (held; none from partners.file, which has no states).
[[nodiscard]] Result<EnginePartners, std::string> load_engine_partners(
    const config::HubConfig& config, OpenMode mode = OpenMode::existing);

// The directory's listener certificates (none with partners.file, which has no such table).
[[nodiscard]] Result<std::vector<ListenerCertificateRecord>, std::string>
load_listener_certificates(const config::HubConfig& config, OpenMode mode = OpenMode::existing);

}  // namespace hub::directory
