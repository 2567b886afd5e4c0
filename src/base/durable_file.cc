// durable_file.cc -- write, fsync, rename, directory fsync (durable_file.h).
#include "base/durable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hub::base {
namespace {

std::string failed(const std::string& what, const char* call, int error) {
    return fmt::format("{}: {}: {}", what, call, std::strerror(error));
}

// Writes all of content, retrying after EINTR and short writes; the errno on failure.
int write_all(int fd, std::string_view content) {
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t wrote = ::write(fd, content.data() + done, content.size() - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return wrote < 0 ? errno : EIO;
        }
        done += static_cast<std::size_t>(wrote);
    }
    return 0;
}

}  // namespace

Result<void, std::string> rename_durably(const std::string& temporary, const std::string& path) {
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int error = errno;
        ::unlink(temporary.c_str());
        return unexpected(failed(path, "rename", error));
    }
    std::string directory = std::filesystem::path(path).parent_path().string();
    if (directory.empty()) {
        directory = ".";
    }
    int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
        int error = errno;
        if (dir_fd >= 0) {
            ::close(dir_fd);
        }
        return unexpected(fmt::format("{} is replaced, but its directory could not be synced: {}",
                                      path, failed(directory, "fsync", error)));
    }
    ::close(dir_fd);
    return {};
}

Result<void, std::string> replace_file(const std::string& path, std::string_view content,
                                       const FileReplacement& how) {
    std::string temporary = path + std::string(how.temporary_suffix);
    int fd =
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, how.mode);
    if (fd < 0) {
        return unexpected(failed(temporary, "open", errno));
    }
    const char* call = "fchmod";
    int error = ::fchmod(fd, how.mode) == 0 ? 0 : errno;
    bool chown_wanted =
        how.owner_uid != static_cast<uid_t>(-1) && how.owner_gid != static_cast<gid_t>(-1);
    if (error == 0 && chown_wanted) {
        call = "fchown";
        error = ::fchown(fd, how.owner_uid, how.owner_gid) == 0 ? 0 : errno;
    }
    if (error == 0) {
        call = "write";
        error = write_all(fd, content);
    }
    if (error == 0) {
        call = "fsync";
        error = ::fsync(fd) == 0 ? 0 : errno;
    }
    ::close(fd);
    if (error != 0) {
        ::unlink(temporary.c_str());
        return unexpected(failed(temporary, call, error));
    }
    if (how.check) {
        if (auto checked = how.check(temporary); !checked) {
            ::unlink(temporary.c_str());
            return checked;
        }
    }
    return rename_durably(temporary, path);
}

}  // namespace hub::base
