// restore.cc -- the second pass over a verified archive: members written beside their
// targets, then each unit put in place by one rename (restore.h).
#include "backup/restore.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "base/errno_text.h"
#include "directory/directory.h"

namespace hub::backup {

namespace {

constexpr std::string_view staging_suffix = ".restore-new";

// Where a member goes: a unit (one file, or one directory tree) and, inside a directory
// unit, the member's path below its root ("" for the root's own entry).
struct Placement {
    std::string target;
    bool directory_unit = false;
    std::string inner;
};

std::optional<Placement> place(const std::string& member, const RestorePlan& plan) {
    const config::HubConfig& to = plan.targets;
    const std::pair<std::string_view, const std::string*> files[] = {
        {"config/hub.conf", &plan.hub_conf_path},
        {"config/partners.toml", &to.partners_file},
        {"directory/directory.db", &to.directory_path},
        {"pki/tls/certificate.pem", &to.certificate_path},
        {"pki/tls/key.pem", &to.private_key_path},
        {"pki/tls/client_ca.pem", &to.client_ca_path},
        {"pki/tls/enroll-certificate.pem", &to.enroll_certificate_path},
        {"pki/tls/enroll-key.pem", &to.enroll_private_key_path},
    };
    for (auto [name, path] : files) {
        if (member == name) {
            return Placement{*path, false, ""};
        }
    }
    const std::pair<std::string_view, const std::string*> trees[] = {
        {"snmp/", &to.backup_snmp_dir},
        {"pki/ca-state/", &to.ca_state_dir},
        {"pki/ca-public/", &to.ca_public_dir},
        {"network/", &to.backup_network_dir},
    };
    for (auto [prefix, path] : trees) {
        if (member.starts_with(prefix)) {
            return Placement{*path, true, member.substr(prefix.size())};
        }
    }
    constexpr std::string_view queue = "queue/";
    if (member.starts_with(queue)) {
        std::string rest = member.substr(queue.size());
        std::size_t slash = rest.find('/');
        std::string shard = rest.substr(0, slash);
        if (slash == std::string::npos || !shard.starts_with("shard-")) {
            return std::nullopt;
        }
        return Placement{to.spool_dir.empty() ? "" : to.spool_dir + "/" + shard, true,
                         rest.substr(slash + 1)};
    }
    return std::nullopt;
}

std::optional<uid_t> uid_of(const std::string& name) {
    passwd entry{};
    passwd* found = nullptr;
    std::array<char, 1024> buffer{};
    if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
        return found->pw_uid;
    }
    return std::nullopt;
}

std::optional<gid_t> gid_of(const std::string& name) {
    group entry{};
    group* found = nullptr;
    std::array<char, 1024> buffer{};
    if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
        return found->gr_gid;
    }
    return std::nullopt;
}

bool fsync_path(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

std::string parent_of(const std::string& path) {
    return std::filesystem::path(path).parent_path().string();
}

// The second pass's state: units staged so far, the file being written.
class Stager {
public:
    explicit Stager(const RestorePlan& plan) : plan_(plan) {}
    ~Stager() { discard(); }

    std::string begin(const MemberInfo& info) {
        current_fd_ = -1;
        auto part = part_of(info.path);
        if (!part || !plan_.parts.contains(*part)) {
            return "";
        }
        auto placement = place(info.path, plan_);
        if (!placement) {
            return fmt::format("damaged archive: no place for member '{}'", info.path);
        }
        if (placement->target.empty()) {
            report_.skipped.push_back(info.path);
            return "";
        }
        std::string staging = placement->target + std::string(staging_suffix);
        if (!placement->directory_unit || placement->inner.empty()) {
            if (units_.contains(placement->target)) {
                return fmt::format("damaged archive: '{}' twice", info.path);
            }
            std::error_code error;
            // The highest missing ancestor: removed again if the restore fails.
            std::filesystem::path missing;
            for (std::filesystem::path at = parent_of(placement->target);
                 !at.empty() && !std::filesystem::exists(at, error); at = at.parent_path()) {
                missing = at;
                if (at == at.parent_path()) {
                    break;
                }
            }
            if (!missing.empty()) {
                created_parents_.push_back(missing.string());
            }
            std::filesystem::create_directories(parent_of(placement->target), error);
            std::filesystem::remove_all(staging, error);  // A previous failed restore's.
            units_.emplace(placement->target, placement->directory_unit);
        } else if (!units_.contains(placement->target)) {
            return fmt::format("damaged archive: '{}' comes before its directory", info.path);
        }
        std::string path = staging;
        if (placement->directory_unit && !placement->inner.empty()) {
            path += "/" + placement->inner;
        }
        if (info.directory) {
            if (!path.empty() && path.back() == '/') {
                path.pop_back();
            }
            if (::mkdir(path.c_str(), 0700) != 0) {
                return fmt::format("cannot create {}: {}", path, base::errno_text(errno));
            }
            directories_.push_back(path);
            return attributes(path, -1, info);
        }
        current_fd_ =
            ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (current_fd_ < 0) {
            return fmt::format("cannot create {}: {}", path, base::errno_text(errno));
        }
        current_path_ = path;
        current_info_ = info;
        return "";
    }

    std::string data(std::string_view bytes) {
        if (current_fd_ < 0) {
            return "";
        }
        // Bounded by the slice: each pass writes at least one byte or fails.
        while (!bytes.empty()) {
            ssize_t n = ::write(current_fd_, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return fmt::format("writing {}: {}", current_path_, base::errno_text(errno));
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return "";
    }

    std::string end() {
        if (current_fd_ < 0) {
            return "";
        }
        std::string error = attributes(current_path_, current_fd_, current_info_);
        if (error.empty() && ::fsync(current_fd_) != 0) {
            error = fmt::format("fsync {}: {}", current_path_, base::errno_text(errno));
        }
        ::close(current_fd_);
        current_fd_ = -1;
        return error;
    }

    // Puts every staged unit in place; on success nothing is left to discard.
    Result<RestoreReport, std::string> commit() {
        for (const std::string& directory : directories_) {
            if (!fsync_path(directory, O_DIRECTORY)) {
                return unexpected(fmt::format("fsync {}: {}", directory, base::errno_text(errno)));
            }
        }
        if (plan_.parts.contains(Part::queue) && !plan_.targets.spool_dir.empty()) {
            // Shards the archive does not have: their queue is not the restored one.
            std::error_code error;
            for (const auto& entry :
                 std::filesystem::directory_iterator(plan_.targets.spool_dir, error)) {
                std::string name = entry.path().filename().string();
                if (name.starts_with("shard-") && !name.ends_with(staging_suffix) &&
                    entry.is_directory(error) && !units_.contains(entry.path().string())) {
                    obsolete_.push_back(entry.path().string());
                }
            }
        }
        std::vector<std::string> placed;
        auto partly = [&](const std::string& what) {
            std::string done;
            for (const std::string& path : placed) {
                done += (done.empty() ? "" : ", ") + path;
            }
            return unexpected(fmt::format("{}; already restored: {}", what,
                                          done.empty() ? std::string("nothing") : done));
        };
        for (const auto& [target, directory_unit] : units_) {
            std::string staging = target + std::string(staging_suffix);
            if (target == plan_.targets.directory_path) {
                // The old database's log must not be replayed into the new one.
                for (const char* side : {"-wal", "-shm"}) {
                    std::string side_path = target + side;
                    if (::unlink(side_path.c_str()) != 0 && errno != ENOENT) {
                        return partly(fmt::format("cannot remove {}: {}", side_path,
                                                  base::errno_text(errno)));
                    }
                }
                report_.directory_restored = true;
            }
            if (target == plan_.targets.backup_network_dir) {
                report_.network_restored = true;
            }
            bool swapped = false;
            if (directory_unit) {
                swapped = ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(),
                                      RENAME_EXCHANGE) == 0;
                if (!swapped && errno != ENOENT) {
                    return partly(fmt::format("cannot swap {} into place: {}", target,
                                              base::errno_text(errno)));
                }
            }
            if (!swapped && ::rename(staging.c_str(), target.c_str()) != 0) {
                return partly(
                    fmt::format("cannot move {} into place: {}", target, base::errno_text(errno)));
            }
            fsync_path(parent_of(target), O_DIRECTORY);
            if (swapped) {
                std::error_code error;
                std::filesystem::remove_all(staging, error);  // The old tree, now here.
            }
            placed.push_back(target);
        }
        for (const std::string& shard : obsolete_) {
            std::error_code error;
            std::filesystem::remove_all(shard, error);
            if (error) {
                return partly(fmt::format("cannot remove {}: {}", shard, error.message()));
            }
            placed.push_back(shard + " (removed)");
        }
        units_.clear();
        created_parents_.clear();
        report_.placed = std::move(placed);
        return report_;
    }

private:
    std::string attributes(const std::string& path, int fd, const MemberInfo& info) {
        if (::geteuid() == 0) {
            auto uid = uid_of(info.owner);
            auto gid = gid_of(info.group);
            if (!uid || !gid) {
                return fmt::format(
                    "{} belongs to {}:{}, an account this machine does not have "
                    "(tools/setup or the image's sysusers make them)",
                    info.path, info.owner, info.group);
            }
            int status = fd >= 0 ? ::fchown(fd, *uid, *gid) : ::lchown(path.c_str(), *uid, *gid);
            if (status != 0) {
                return fmt::format("chown {}: {}", path, base::errno_text(errno));
            }
        }
        int status = fd >= 0 ? ::fchmod(fd, info.mode) : ::chmod(path.c_str(), info.mode);
        if (status != 0) {
            return fmt::format("chmod {}: {}", path, base::errno_text(errno));
        }
        return "";
    }

    void discard() {
        if (current_fd_ >= 0) {
            ::close(current_fd_);
            current_fd_ = -1;
        }
        for (const auto& [target, directory_unit] : units_) {
            std::error_code error;
            std::filesystem::remove_all(target + std::string(staging_suffix), error);
        }
        units_.clear();
        // Directories made only to hold staged units (nothing else can be in them yet).
        for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) {
            std::error_code error;
            std::filesystem::remove_all(*it, error);
        }
        created_parents_.clear();
    }

    const RestorePlan& plan_;
    std::map<std::string, bool> units_;  // Target -> is a directory unit.
    std::vector<std::string> directories_;
    std::vector<std::string> obsolete_;
    std::vector<std::string> created_parents_;
    int current_fd_ = -1;
    std::string current_path_;
    MemberInfo current_info_;
    RestoreReport report_;
};

}  // namespace

Result<RestoreReport, std::string> restore_backup(int in_fd, const OpenKey& key,
                                                  const RestorePlan& plan) {
    Stager stager(plan);
    MemberSink sink{
        [&](const MemberInfo& info) { return stager.begin(info); },
        [&](std::string_view bytes) { return stager.data(bytes); },
        [&]() { return stager.end(); },
    };
    auto manifest = read_backup(in_fd, key, &sink);
    if (!manifest) {
        return unexpected(manifest.error() + "; nothing was changed");
    }
    auto report = stager.commit();
    if (report && report->directory_restored) {
        auto directory =
            directory::Directory::open(plan.targets.directory_path, directory::OpenMode::existing);
        if (!directory) {
            return unexpected(
                fmt::format("restored, but the directory does not open: {}", directory.error()));
        }
        report->directory_schema = directory->schema_version();
    }
    return report;
}

}  // namespace hub::backup
