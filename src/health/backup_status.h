// backup_status.h -- the outcome of the last backups, as the health readers see it.
//
// `hubctl backup run` (hub-backup.timer) and `hubctl backup create` write a small file after
// every attempt (docs/BACKUP.md, "Health"); hub-metrics, hub-snmp and `hubctl status` read
// it. hubd never sees it: the backup is hubctl's job, and the readers already are the
// health side, so the file is the seam (docs/HEALTH.md, "Backups").
//
// The file, version 1 (text, one `key value` a line, the value to the end of the line):
//
//   hubbox-backup-status 1
//   state failed                         ok | failed: the latest attempt
//   last_success_unix_s 1796635708       0 = never
//   last_success_archive /var/lib/hubbox/backups/hubbox-hub-20261207T092828Z.hbk
//   last_failure_unix_s 1796639308       0 = never
//   last_failure_reason sftp to sftp://... failed (exit 255): ...
//   end
//
// decode is strict about what it knows (header, each known key at most once, numbers,
// `state`, `end`) and skips keys it does not know, so a newer hubctl can add some. Values
// are printable ASCII (anything else becomes '?' when written) and at most
// backup_status_text_max bytes. The one-line file of earlier builds (`ok <time> <archive>`
// or `failed <time> <reason>`) still reads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::health {

inline constexpr std::size_t backup_status_bytes_max = 8 * 1024;
inline constexpr std::size_t backup_status_text_max = 512;

struct BackupStatus {
    bool failing = false;  // The latest attempt failed.
    std::int64_t last_success_unix_s = 0;
    std::string last_success_archive;
    std::int64_t last_failure_unix_s = 0;
    std::string last_failure_reason;

    bool operator==(const BackupStatus&) const = default;
};

// The outcome of one attempt applied to the previous status.
BackupStatus record_success(BackupStatus previous, std::int64_t now_unix_s,
                            std::string_view archive);
BackupStatus record_failure(BackupStatus previous, std::int64_t now_unix_s,
                            std::string_view reason);

std::string encode_backup_status(const BackupStatus& status);
[[nodiscard]] Result<BackupStatus, std::string> decode_backup_status(std::string_view text);

// Reads and decodes path. A missing file is "no backup has run": an empty status with
// exists = false, not an error.
struct BackupStatusFile {
    bool exists = false;
    BackupStatus status;
};
[[nodiscard]] Result<BackupStatusFile, std::string> read_backup_status(const std::string& path);

// Writes path atomically: a temporary file beside it, fsync, rename, directory fsync; mode
// 0644 (the readers are other users; nothing in it is secret).
[[nodiscard]] Result<void, std::string> write_backup_status(const std::string& path,
                                                            const BackupStatus& status);

// The Prometheus families for it (docs/HEALTH.md, "Backups"). Without a file: only
// hubbox_backup_status_readable 1 and hubbox_backup_failing 0; an unreadable file:
// hubbox_backup_status_readable 0 alone.
std::string backup_status_to_prometheus(const Result<BackupStatusFile, std::string>& read);

// One line for `hubctl status` ("backup: ok at ...", "backup: FAILED at ...: why").
std::string backup_status_line(const BackupStatusFile& file);

}  // namespace hub::health
