// reload.cc -- live reload of hub.conf and the partner table (see reload.h).
//
// PURPOSE   Turn "read the configuration again" into one new immutable partner snapshot,
//           or into a refusal that leaves the running hub exactly as it was.
// RUNS IN   hubd's main thread: at start (publish_first), then the supervisor, after the
//           privilege drop and under the seccomp filter. It opens hub.conf and the
//           partner source read-only as the hub user (seccomp refuses any open for
//           writing with EACCES, which SQLite answers by reading the directory read-only).
// TRUST     hub.conf, partners.toml and the directory are the administrator's; each is
//           checked by its own loader before anything is published.
// LIMITS    queue::destinations_count_max partner names over the process's life.
// SEE ALSO  partner_snapshot.h, supervisor.cc, docs/DIRECTORY.md ("Live reload").
#include "engine/reload.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "directory/configured.h"
#include "queue/limits.h"

namespace hub::engine {
namespace {

std::vector<std::string> sorted_names(const std::vector<policy::Partner>& partners) {
    std::vector<std::string> names;
    names.reserve(partners.size());
    for (const policy::Partner& partner : partners) {
        names.push_back(partner.name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& name : names) {
        out += (out.empty() ? "" : ", ") + name;
    }
    return out;
}

}  // namespace

Reloader::Reloader(std::string config_path, config::HubConfig running, OutboundKeyMaterial keys,
                   PartnerBoard& board)
    : config_path_(std::move(config_path)),
      running_(std::move(running)),
      keys_(std::move(keys)),
      board_(board) {}

Result<void, std::string> Reloader::publish_first(directory::EnginePartners partners) {
    HUB_ASSERT(generation_ == 0);
    std::vector<std::string> names = sorted_names(partners.active);
    std::vector<std::string> held = sorted_names(partners.held);
    auto snapshot = build_snapshot(running_.domain, std::move(partners.active), keys_, 1, nullptr,
                                   std::move(partners.held));
    if (!snapshot) {
        return unexpected(std::move(snapshot).error());
    }
    generation_ = 1;
    partner_names_ = names;
    names_ever_.insert(names.begin(), names.end());
    names_ever_.insert(held.begin(), held.end());  // Scheduler destinations too.
    board_.publish(std::move(*snapshot));
    return {};
}

Result<std::string, std::string> Reloader::reload(std::string_view trigger) {
    auto done = try_reload();
    if (crl_ != nullptr) {
        auto now = std::chrono::system_clock::now().time_since_epoch();
        auto crl =
            crl_->refresh(trigger, std::chrono::duration_cast<std::chrono::seconds>(now).count());
        std::string line = crl ? *crl : "CRL " + crl.error();
        if (done) {
            *done += "; " + line;
        } else {
            done = unexpected(done.error() + "; the CRL is read regardless: " + line);
        }
    }
    if (done) {
        base::log_info("reload ({}): {}", trigger, *done);
    } else {
        base::log_error("reload ({}) refused, nothing changed: {}", trigger, done.error());
    }
    return done;
}

Result<std::string, std::string> Reloader::try_reload() {
    HUB_ASSERT(generation_ > 0);
    auto next = config::load_hub_config(config_path_);
    if (!next) {
        return unexpected(std::move(next).error());
    }
    std::vector<std::string> restart = config::options_needing_restart(running_, *next);
    if (!restart.empty()) {
        return unexpected(fmt::format(
            "{} changed {}; these settings need a restart of hubd (systemctl restart hubd), "
            "or undo the change",
            config_path_, joined(restart)));
    }
    auto partners = directory::load_engine_partners(*next, directory::OpenMode::read_only);
    if (!partners && !next->directory_path.empty()) {
        return unexpected(fmt::format(
            "{} (a reload reads it as user {}: the file and its -wal and -shm files must be "
            "readable by that user; docs/DIRECTORY.md)",
            partners.error(), running_.user));
    }
    if (!partners) {
        return unexpected(std::move(partners).error());
    }
    std::vector<std::string> names = sorted_names(partners->active);
    std::vector<std::string> held = sorted_names(partners->held);
    std::set<std::string, std::less<>> ever = names_ever_;
    ever.insert(names.begin(), names.end());
    ever.insert(held.begin(), held.end());
    if (ever.size() > queue::destinations_count_max) {
        return unexpected(fmt::format(
            "this hubd has seen {} partner names since it started, more than the {} its "
            "queues can hold; restart hubd to forget the removed ones",
            ever.size(), queue::destinations_count_max));
    }
    std::shared_ptr<const PartnerSnapshot> previous = board_.current();
    auto snapshot = build_snapshot(running_.domain, std::move(partners->active), keys_,
                                   generation_ + 1, previous.get(), std::move(partners->held));
    if (!snapshot) {
        return unexpected(std::move(snapshot).error());
    }
    // Everything checked: from here on the reload happens.
    generation_++;
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::set_difference(names.begin(), names.end(), partner_names_.begin(), partner_names_.end(),
                        std::back_inserter(added));
    std::set_difference(partner_names_.begin(), partner_names_.end(), names.begin(), names.end(),
                        std::back_inserter(removed));
    std::string summary =
        fmt::format("partner table {}: {} active partners", generation_, names.size());
    if (!added.empty()) {
        summary += "; added " + joined(added);
    }
    if (!removed.empty()) {
        summary += "; gone (suspended or removed) " + joined(removed);
    }
    if (next->log_level != running_.log_level) {
        base::LogLevel level = base::LogLevel::info;
        if (base::log_level_from_name(next->log_level, level)) {
            base::log_threshold.store(level);
        }
        summary += "; hub.log_level " + next->log_level;
    }
    if (next->partners_file != running_.partners_file) {
        summary += "; partners.file " + next->partners_file;
    }
    if (!next->directory_path.empty()) {
        auto rows = directory::load_listener_certificates(*next, directory::OpenMode::read_only);
        if (!rows) {
            summary += "; listener certificates not read: " + rows.error();
        } else if (*rows != listener_certificates_) {
            summary +=
                "; listener certificates changed; restart hubd to present them (their keys are "
                "read as root at start; the listeners keep their certificates until then)";
        }
    }
    running_.log_level = next->log_level;
    running_.partners_file = next->partners_file;
    partner_names_ = std::move(names);
    names_ever_ = std::move(ever);
    board_.publish(std::move(*snapshot));
    return summary;
}

}  // namespace hub::engine
