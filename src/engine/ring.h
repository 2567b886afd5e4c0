// ring.h -- a shard's io_uring, and the tag every submission carries.
//
// A tag packs the operation, a slot index and the slot's generation into user_data, so a
// completion for a connection that has since been closed and reused is recognised as stale
// (STYLE.md example 5) instead of being applied to the wrong peer.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "base/assert.h"

namespace hub::engine {

enum class Op : std::uint8_t {
    accept,           // index = listener index
    recv,             // index = connection slot
    send,             // index = connection slot
    send_timeout,     // the linked timeout of a send
    cancel_recv,      // pausing a connection's multishot recv
    close_socket,     // index = connection slot
    tick,             // the shard's deadline scan timer
    release_buffers,  // madvise of the idle receive buffers
    spool_open,       // spool writer operations: index unused
    spool_dir_sync,
    spool_write,
    spool_sync,
    spool_punch,
    spool_close,
    spool_unlink,       // a dead segment's deletion
    spool_remove_sync,  // the directory fsync that makes it durable
    log_write,          // the shard's log lines to stderr
    record_read,        // delivery: a spooled record read back; index = job, generation = item
    report_read,        // a record read back for a report; index = report job
    compact_read,       // a record read back to be copied forward; index = copy item
    out_socket,         // outbound: socket created; index = connection slot
    out_connect,        // outbound: connected
    out_connect_timeout,
};

struct Tag {
    Op op = Op::tick;
    std::uint32_t index = 0;  // < 2^24
    std::uint32_t generation = 0;

    static constexpr std::uint32_t index_max = (1u << 24) - 1;

    std::uint64_t pack() const {
        HUB_ASSERT(index <= index_max);
        return (static_cast<std::uint64_t>(generation) << 32) |
               (static_cast<std::uint64_t>(index) << 8) | static_cast<std::uint64_t>(op);
    }
    static Tag unpack(std::uint64_t user_data) {
        return Tag{static_cast<Op>(user_data & 0xff),
                   static_cast<std::uint32_t>((user_data >> 8) & index_max),
                   static_cast<std::uint32_t>(user_data >> 32)};
    }
};

class Ring {
public:
    explicit Ring(io_uring& ring) : ring_(ring) {}

    // A free SQE, tagged. When the SQ is full the pending ones are submitted first, so
    // this never fails; the CQ is sized (twice the SQ, NODROP) so completions are not lost.
    io_uring_sqe* sqe(Tag tag) {
        io_uring_sqe* entry = io_uring_get_sqe(&ring_);
        if (entry == nullptr) {
            io_uring_submit(&ring_);
            entry = io_uring_get_sqe(&ring_);
        }
        HUB_ASSERT(entry != nullptr);  // An empty SQ after submit always has room.
        io_uring_sqe_set_data64(entry, tag.pack());
        return entry;
    }

    io_uring& native() { return ring_; }

private:
    io_uring& ring_;
};

}  // namespace hub::engine
