// durable_file.h -- replacing a small file so that a crash leaves the old contents or the new,
// never a mix or nothing: write a temporary beside it, fsync, rename over it, fsync the
// directory (the rename is durable only once the directory is). For configuration and state
// files written by the admin tools and helpers (hub.conf edits, network.conf, the backup
// status, hub-snmp's group index), never the spool, which has its own records.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::base {

struct FileReplacement {
    // The new file's mode, set with fchmod whatever the umask.
    mode_t mode = 0644;
    // When both are set (not -1), the new file's owner: a file root edits for another user.
    uid_t owner_uid = static_cast<uid_t>(-1);
    gid_t owner_gid = static_cast<gid_t>(-1);
    // Appended to the path for the temporary; beside the file, so that relative paths inside
    // it resolve the same and the rename stays on one file system.
    std::string_view temporary_suffix = ".tmp";
    // Called with the temporary's path once it is written and synced, before the rename. An
    // error leaves the old file as it was and is returned as it is.
    std::function<Result<void, std::string>(const std::string& temporary)> check;
};

// Replaces path by content as described above. Errors name the file and the failed call;
// on any error the temporary is removed and path is unchanged (unless only the directory's
// fsync failed, after the rename: then the error says so).
[[nodiscard]] Result<void, std::string> replace_file(const std::string& path,
                                                     std::string_view content,
                                                     const FileReplacement& how = {});

// The last two steps for a file written some other way (a stream, under O_EXCL): renames the
// synced, closed temporary to path and fsyncs path's directory. On a failed rename the
// temporary is removed.
[[nodiscard]] Result<void, std::string> rename_durably(const std::string& temporary,
                                                       const std::string& path);

}  // namespace hub::base
