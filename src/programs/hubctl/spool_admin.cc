// spool_admin.cc -- the spool lock as hubctl sees it, and its writes to a stopped spool.
//
// PURPOSE   Let hold/release/delete work while hubd is stopped, without ever appending to a
//           segment hubd might be writing, and with the same durability as hubd's own.
// RUNS IN   hubctl (root or the hub user), blocking system calls.
// TRUST     the spool directory is the hub's; names are built by spool::segment_relative_path
//           and created O_EXCL|O_NOFOLLOW, so nothing already there is overwritten.
// LIMITS    one new segment per shard directory per command.
// SEE ALSO  engine/control.h (lock_spool, the hubd side), spool/spool_format.h
#include "programs/hubctl/spool_admin.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/assert.h"
#include "engine/control.h"
#include "spool/limits.h"

namespace hub::hubctl {
namespace {

std::string errno_text(const std::string& what) {
    return fmt::format("{}: {}", what, std::strerror(errno));
}

// Writes all of bytes at the start of fd.
bool write_all(int fd, const std::string& bytes) {
    std::size_t done = 0;
    // Bounded: every pass writes at least one byte or returns.
    while (done < bytes.size()) {
        ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            if (wrote == 0) {
                errno = ENOSPC;
            }
            return false;
        }
        done += static_cast<std::size_t>(wrote);
    }
    return true;
}

}  // namespace

SpoolLock::~SpoolLock() {
    if (fd_ >= 0) {
        ::close(fd_);  // Releases the flock.
    }
}

Result<SpoolLock, std::string> try_lock_spool(const std::string& spool_dir) {
    std::string path = engine::spool_lock_path(spool_dir);
    int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return unexpected(errno_text("cannot open the spool lock " + path));
    }
    SpoolLock lock;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        lock.fd_ = fd;
        return lock;
    }
    int error = errno;
    ::close(fd);
    if (error != EWOULDBLOCK) {
        errno = error;
        return unexpected(errno_text("cannot lock " + path));
    }
    return lock;  // Not held: hubd runs.
}

bool hubd_running(const std::string& spool_dir) {
    std::string path = engine::spool_lock_path(spool_dir);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return false;  // No lock file: no hubd of this version ever ran here.
    }
    bool running = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);  // Drops the shared lock, if taken.
    return running;
}

Result<std::string, std::string> write_admin_segment(const std::string& spool_dir,
                                                     std::uint8_t shard, std::uint32_t segment_seq,
                                                     const std::vector<AdminRecord>& records,
                                                     std::uint64_t time_unix_ms) {
    HUB_ASSERT(!records.empty());
    HUB_ASSERT(segment_seq > 0 && segment_seq <= spool::segment_seq_max);
    std::string bytes;
    spool::append_segment_header(shard, segment_seq, bytes);
    for (const AdminRecord& record : records) {
        spool::append_message_status_record(record.id, record.status, time_unix_ms, bytes);
    }
    std::string shard_dir = fmt::format("{}/shard-{}", spool_dir, shard);
    std::string path = spool_dir + "/" + spool::segment_relative_path(shard, segment_seq);
    int dir_fd = ::open(shard_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 && errno == ENOENT) {
        if (::mkdir(shard_dir.c_str(), 0700) != 0) {
            return unexpected(errno_text("cannot create " + shard_dir));
        }
        dir_fd = ::open(shard_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dir_fd < 0) {
        return unexpected(errno_text("cannot open " + shard_dir));
    }
    struct stat dir_info {};
    int fd = ::fstat(dir_fd, &dir_info) != 0
                 ? -1
                 : ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    std::string error;
    if (fd < 0) {
        error = errno_text("cannot create " + path);
    } else if (::geteuid() == 0 && ::fchown(fd, dir_info.st_uid, dir_info.st_gid) != 0) {
        error = errno_text("cannot give " + path + " to the spool's owner");
        ::unlink(path.c_str());
    } else if (!write_all(fd, bytes) || ::fsync(fd) != 0) {
        error = errno_text("cannot write " + path);
        ::unlink(path.c_str());  // Nothing in it was promised to anyone.
    } else if (::fsync(dir_fd) != 0) {
        error = errno_text("cannot sync " + shard_dir);  // The name may not be durable.
    }
    if (fd >= 0) {
        ::close(fd);
    }
    ::close(dir_fd);
    if (!error.empty()) {
        return unexpected(error);
    }
    return path;
}

}  // namespace hub::hubctl
