// restore.h -- putting an archive's members back in place (docs/BACKUP.md, "Restore").
//
// The caller has already read the whole archive once (read_backup without a sink) and so
// knows it is complete, authentic and not from a newer Hubbox. restore_backup reads it a
// second time and writes every member of the chosen parts beside its target, under a
// ".restore-new" name (files fsync'd, directories built whole), checking everything again;
// only when that second pass has succeeded does it put each unit in place: a file by
// rename(2), a directory by renameat2(RENAME_EXCHANGE) with the old one then removed. So a
// refused or failing archive leaves every target untouched, and each unit is either old or
// new, never a mixture. The directory database's -wal and -shm files go before the new
// database takes the name, so SQLite cannot replay the old log into it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "backup/archive.h"
#include "base/result.h"
#include "config/hub_config.h"

namespace hub::backup {

struct RestorePlan {
    std::string hub_conf_path;  // Where config/hub.conf goes.
    // The paths every other member goes to: from the archived hub.conf when config is
    // restored (read where it will live, so relative paths land in the same place), else
    // from the box's own.
    config::HubConfig targets;
    std::set<Part> parts;
};

struct RestoreReport {
    std::vector<std::string> placed;   // Targets put in place, in order.
    std::vector<std::string> skipped;  // Members with no target in the configuration.
    bool directory_restored = false;
    int directory_schema = 0;  // After the migration, when the directory was restored.
    bool network_restored = false;
};

// in_fd must be at the archive's start. A restored directory is then opened as a writer
// once, which migrates an older schema to this build's. On error, nothing of the targets
// was changed unless the text says which units were already in place (only an I/O error
// while renaming, or a failed migration, can do that).
[[nodiscard]] Result<RestoreReport, std::string> restore_backup(int in_fd, const OpenKey& key,
                                                                const RestorePlan& plan);

}  // namespace hub::backup
