// spool_admin.h -- how hubctl finds out whether hubd runs, and writes to a stopped spool.
//
// hubd holds an exclusive flock on <spool>/hubd.lock for its whole life (engine/control.h).
// hubctl asks for the same lock without waiting: if it gets it, no hubd runs on this spool
// and none can start until hubctl lets go (hubd waits up to 10 s for it), so hubctl may
// append records itself; if not, hubd runs and takes commands on its control socket.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "spool/spool_format.h"

namespace hub::hubctl {

// The spool lock, held by hubctl while it writes to a stopped spool. Moves only.
class SpoolLock {
public:
    SpoolLock() = default;
    SpoolLock(SpoolLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    SpoolLock& operator=(SpoolLock&&) = delete;
    SpoolLock(const SpoolLock&) = delete;
    ~SpoolLock();
    bool held() const { return fd_ >= 0; }

private:
    friend Result<SpoolLock, std::string> try_lock_spool(const std::string& spool_dir);
    int fd_ = -1;
};

// Takes the lock if no hubd holds it; an unheld SpoolLock means hubd is running. Errors:
// the lock file cannot be created or opened (the text names the path).
[[nodiscard]] Result<SpoolLock, std::string> try_lock_spool(const std::string& spool_dir);

// Whether a hubd holds the lock now (a shared lock is taken and dropped at once, so this
// never writes and never keeps hubd from starting for longer than the test).
bool hubd_running(const std::string& spool_dir);

struct AdminRecord {
    spool::QueueId id;
    spool::MessageStatus status = spool::MessageStatus::held;
};

// Writes records into a new segment in <spool>/shard-<shard>: the segment header and the
// message_status records, stamped time_unix_ms; file fdatasync'd, then the directory
// fsync'd, before it returns. segment_seq must be unused (recovery's next_segment_seq).
// Precondition: the caller holds the spool lock. The new file gets the shard directory's
// owner, so that hubd (which drops to that user) can read it.
[[nodiscard]] Result<std::string, std::string> write_admin_segment(
    const std::string& spool_dir, std::uint8_t shard, std::uint32_t segment_seq,
    const std::vector<AdminRecord>& records, std::uint64_t time_unix_ms);

}  // namespace hub::hubctl
