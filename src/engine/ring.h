// ring.h -- a shard's io_uring: the one list of kernel operations the engine submits, the
// tag every submission carries, and the typed operations that are the only way to submit.
//
// A tag packs the purpose of a submission, a slot index and the slot's generation into
// user_data, so a completion for a connection that has since been closed and reused is
// recognised as stale (STYLE.md example 5) instead of being applied to the wrong peer.
//
// HUB_RING_OPERATIONS is the one list of io_uring operations: each typed method of RingOps
// names its entry, kernel_features.cc generates the start-up probe and the feature table
// from it, and a static_assert below holds every entry to the appliance kernel (6.1). An
// operation that is not in the list cannot be submitted: ring.cc is the only file that
// calls io_uring_prep_* (tests/ring_prep_only_in_ring.sh checks), and each of its methods
// checks the prepared opcode against its entry.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/assert.h"

namespace hub::engine {

struct KernelVersion {
    int major = 0;
    int minor = 0;
};

// Debian 12's kernel, which the appliance ships.
inline constexpr KernelVersion appliance_kernel{6, 1};

constexpr bool not_newer_than(KernelVersion version, KernelVersion limit) {
    return version.major < limit.major ||
           (version.major == limit.major && version.minor <= limit.minor);
}

// What an operation needs beyond its opcode; the start-up check exercises these for real.
enum RingNeeds : unsigned {
    ring_needs_nothing = 0,
    ring_needs_multishot = 1u << 0,         // IORING_CQE_F_MORE completions.
    ring_needs_provided_buffers = 1u << 1,  // IOSQE_BUFFER_SELECT from a buffer ring.
};

// X(method, opcode, feature name, first Linux major, minor, needs)
#define HUB_RING_OPERATIONS(X)                                                                     \
    X(accept_multishot, IORING_OP_ACCEPT, "IORING_OP_ACCEPT multishot", 5, 19,                     \
      ring_needs_multishot)                                                                        \
    X(recv_multishot, IORING_OP_RECV, "IORING_OP_RECV multishot", 6, 0,                            \
      ring_needs_multishot | ring_needs_provided_buffers)                                          \
    X(send, IORING_OP_SEND, "IORING_OP_SEND", 5, 6, ring_needs_nothing)                            \
    X(link_timeout, IORING_OP_LINK_TIMEOUT, "IORING_OP_LINK_TIMEOUT", 5, 5, ring_needs_nothing)    \
    X(timeout, IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT", 5, 4, ring_needs_nothing)                   \
    X(cancel, IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL", 5, 5, ring_needs_nothing)          \
    X(read, IORING_OP_READ, "IORING_OP_READ", 5, 6, ring_needs_nothing)                            \
    X(write, IORING_OP_WRITE, "IORING_OP_WRITE", 5, 6, ring_needs_nothing)                         \
    X(write_vectored, IORING_OP_WRITEV, "IORING_OP_WRITEV", 5, 1, ring_needs_nothing)              \
    X(fsync, IORING_OP_FSYNC, "IORING_OP_FSYNC (IORING_FSYNC_DATASYNC)", 5, 1, ring_needs_nothing) \
    X(fallocate, IORING_OP_FALLOCATE, "IORING_OP_FALLOCATE", 5, 6, ring_needs_nothing)             \
    X(openat, IORING_OP_OPENAT, "IORING_OP_OPENAT", 5, 6, ring_needs_nothing)                      \
    X(close, IORING_OP_CLOSE, "IORING_OP_CLOSE", 5, 6, ring_needs_nothing)                         \
    X(shutdown, IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN", 5, 11, ring_needs_nothing)               \
    X(unlinkat, IORING_OP_UNLINKAT, "IORING_OP_UNLINKAT", 5, 11, ring_needs_nothing)               \
    X(madvise, IORING_OP_MADVISE, "IORING_OP_MADVISE", 5, 6, ring_needs_nothing)                   \
    X(socket, IORING_OP_SOCKET, "IORING_OP_SOCKET", 5, 19, ring_needs_nothing)                     \
    X(connect, IORING_OP_CONNECT, "IORING_OP_CONNECT", 5, 5, ring_needs_nothing)

enum class RingOperation : std::uint8_t {
#define HUB_RING_OPERATION_ENUMERATOR(method, opcode, name, major, minor, needs) method,
    HUB_RING_OPERATIONS(HUB_RING_OPERATION_ENUMERATOR)
#undef HUB_RING_OPERATION_ENUMERATOR
};

struct RingOperationInfo {
    RingOperation operation;
    int opcode;
    const char* name;
    KernelVersion since;
    unsigned needs;
};

inline constexpr RingOperationInfo ring_operations[] = {
#define HUB_RING_OPERATION_ENTRY(method, opcode, name, major, minor, needs) \
    {RingOperation::method, opcode, name, {major, minor}, needs},
    HUB_RING_OPERATIONS(HUB_RING_OPERATION_ENTRY)
#undef HUB_RING_OPERATION_ENTRY
};

inline constexpr std::size_t ring_operation_count = std::size(ring_operations);

constexpr const RingOperationInfo& ring_operation_info(RingOperation operation) {
    return ring_operations[static_cast<std::size_t>(operation)];
}

constexpr bool ring_operations_in_appliance_kernel() {
    for (const RingOperationInfo& info : ring_operations) {
        if (!not_newer_than(info.since, appliance_kernel)) {
            return false;
        }
    }
    return true;
}
static_assert(ring_operations_in_appliance_kernel(),
              "an io_uring operation newer than the appliance kernel needs a detected fallback");

constexpr bool ring_operations_indexed_by_enum() {
    for (std::size_t index = 0; index < ring_operation_count; index++) {
        if (static_cast<std::size_t>(ring_operations[index].operation) != index) {
            return false;
        }
    }
    return true;
}
static_assert(ring_operations_indexed_by_enum());

// The purpose of a submission, carried in its tag; the completion is routed by it.
enum class Op : std::uint8_t {
    accept,           // index = listener index
    recv,             // index = connection slot
    send,             // index = connection slot
    send_timeout,     // the linked timeout of a send
    cancel_recv,      // pausing a connection's multishot recv
    shutdown_socket,  // linked before close_socket; completes only on failure
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

// The one operation each purpose is submitted as (no default: -Wswitch names a new Op).
constexpr RingOperation operation_of(Op op) {
    switch (op) {
        case Op::accept:
            return RingOperation::accept_multishot;
        case Op::recv:
            return RingOperation::recv_multishot;
        case Op::send:
            return RingOperation::send;
        case Op::send_timeout:
        case Op::out_connect_timeout:
            return RingOperation::link_timeout;
        case Op::cancel_recv:
            return RingOperation::cancel;
        case Op::shutdown_socket:
            return RingOperation::shutdown;
        case Op::close_socket:
        case Op::spool_close:
            return RingOperation::close;
        case Op::tick:
            return RingOperation::timeout;
        case Op::release_buffers:
            return RingOperation::madvise;
        case Op::spool_open:
            return RingOperation::openat;
        case Op::spool_dir_sync:
        case Op::spool_sync:
        case Op::spool_remove_sync:
            return RingOperation::fsync;
        case Op::spool_write:
            return RingOperation::write_vectored;
        case Op::log_write:
            return RingOperation::write;
        case Op::spool_punch:
            return RingOperation::fallocate;
        case Op::spool_unlink:
            return RingOperation::unlinkat;
        case Op::record_read:
        case Op::report_read:
        case Op::compact_read:
            return RingOperation::read;
        case Op::out_socket:
            return RingOperation::socket;
        case Op::out_connect:
            return RingOperation::connect;
    }
    HUB_PANIC("Op outside its enum");
}

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

// One completion, as the kernel's CQE says it: whom it is for, res and flags.
struct Completion {
    Tag tag;
    int result = 0;
    std::uint32_t flags = 0;
};

// Whether the next submission runs only after this one succeeded (a chain; IOSQE_IO_LINK)
// or after this one whatever its outcome (IOSQE_IO_HARDLINK).
enum class Link : std::uint8_t { none, next, next_even_on_failure };

enum class SyncKind : std::uint8_t { data_and_metadata, data_only };  // fsync / fdatasync

// A timeout linked to the operation before it: the operation is cancelled when it expires.
// after must stay valid until the ring is next submitted.
struct LinkedTimeout {
    Tag tag;
    const __kernel_timespec* after = nullptr;
};

// The longest chain of linked submissions; a chain is never split across two submits.
inline constexpr unsigned ring_chain_max = 3;

// Offset for read/write: the file's own position (O_APPEND: its end).
inline constexpr std::uint64_t file_position = ~std::uint64_t{0};

// The operations the engine submits, one method each, each named after its entry in
// HUB_RING_OPERATIONS. Each returns whether the submission was queued: false only when no
// entry was free even after submitting the queue (the kernel refused io_uring_enter); a fake
// ring may say so too. Pointers and spans must stay valid until the operation completes
// (paths and timespecs: until the next submit). Completions come back as (Tag, res, flags).
//
// The seam for a fake: shards and the spool writer use only this interface. One virtual call
// per operation, none per byte (received bytes land in the provided buffer ring's memory).
class RingOps {
public:
    virtual ~RingOps() = default;

    [[nodiscard]] virtual bool accept_multishot(Tag tag, int listener_fd) = 0;
    [[nodiscard]] virtual bool recv_multishot(Tag tag, int socket_fd,
                                              std::uint16_t buffer_group) = 0;
    [[nodiscard]] virtual bool send(Tag tag, int socket_fd, std::span<const char> bytes,
                                    LinkedTimeout timeout) = 0;
    [[nodiscard]] virtual bool timeout(Tag tag, const __kernel_timespec& after) = 0;
    [[nodiscard]] virtual bool cancel(Tag tag, Tag target) = 0;
    [[nodiscard]] virtual bool read(Tag tag, int fd, std::span<char> into,
                                    std::uint64_t offset) = 0;
    [[nodiscard]] virtual bool write(Tag tag, int fd, std::span<const char> bytes,
                                     std::uint64_t offset, Link link) = 0;
    // One write of several pieces at offset (pwritev): the spool writer writes a batch's
    // small records and the large bodies it holds where they are. The pieces and the array
    // must stay alive and unchanged until the completion.
    [[nodiscard]] virtual bool write_vectored(Tag tag, int fd, std::span<const iovec> pieces,
                                              std::uint64_t offset, Link link) = 0;
    [[nodiscard]] virtual bool fsync(Tag tag, int fd, SyncKind kind, Link link) = 0;
    [[nodiscard]] virtual bool punch_hole(Tag tag, int fd, std::uint64_t offset,
                                          std::uint64_t bytes, Link link) = 0;
    [[nodiscard]] virtual bool openat(Tag tag, int dir_fd, const char* path, int flags,
                                      unsigned mode) = 0;
    [[nodiscard]] virtual bool close(Tag tag, int fd) = 0;
    // The shutdown (tagged Op::shutdown_socket, completing only if it fails) hard-linked to
    // a close tagged tag: an armed multishot recv holds its own reference to the socket,
    // so a close alone would leave it open until the peer goes away.
    [[nodiscard]] virtual bool shutdown_and_close(Tag tag, int socket_fd) = 0;
    [[nodiscard]] virtual bool unlinkat(Tag tag, int dir_fd, const char* path, Link link) = 0;
    [[nodiscard]] virtual bool madvise(Tag tag, void* address, std::size_t bytes, int advice) = 0;
    [[nodiscard]] virtual bool socket(Tag tag, int domain, int type) = 0;
    [[nodiscard]] virtual bool connect(Tag tag, int socket_fd, const sockaddr* address,
                                       socklen_t address_bytes, LinkedTimeout timeout) = 0;

    // Submits what is queued and waits for at least wait_count completions; a negative errno
    // on failure (-EINTR, -EAGAIN and -EBUSY are transient).
    virtual int submit_and_wait(unsigned wait_count) = 0;
    // Moves up to into.size() completions out of the ring; returns how many.
    virtual unsigned take_completions(std::span<Completion> into) = 0;
};

// For call sites that cannot go on without their submission: the ring has already submitted
// its full queue and still has no entry, so the kernel is out of resources (category 3).
inline void queued_or_panic(bool queued) {
    if (!queued) [[unlikely]] {
        HUB_PANIC("io_uring: no submission entry even after submitting the queue");
    }
}

// RingOps on a real io_uring (set up by the caller, see ring_setup.h).
class Ring final : public RingOps {
public:
    explicit Ring(io_uring& ring) : ring_(ring) {}

    bool accept_multishot(Tag tag, int listener_fd) override;
    bool recv_multishot(Tag tag, int socket_fd, std::uint16_t buffer_group) override;
    bool send(Tag tag, int socket_fd, std::span<const char> bytes, LinkedTimeout timeout) override;
    bool timeout(Tag tag, const __kernel_timespec& after) override;
    bool cancel(Tag tag, Tag target) override;
    bool read(Tag tag, int fd, std::span<char> into, std::uint64_t offset) override;
    bool write(Tag tag, int fd, std::span<const char> bytes, std::uint64_t offset,
               Link link) override;
    bool write_vectored(Tag tag, int fd, std::span<const iovec> pieces, std::uint64_t offset,
                        Link link) override;
    bool fsync(Tag tag, int fd, SyncKind kind, Link link) override;
    bool punch_hole(Tag tag, int fd, std::uint64_t offset, std::uint64_t bytes, Link link) override;
    bool openat(Tag tag, int dir_fd, const char* path, int flags, unsigned mode) override;
    bool close(Tag tag, int fd) override;
    bool shutdown_and_close(Tag tag, int socket_fd) override;
    bool unlinkat(Tag tag, int dir_fd, const char* path, Link link) override;
    bool madvise(Tag tag, void* address, std::size_t bytes, int advice) override;
    bool socket(Tag tag, int domain, int type) override;
    bool connect(Tag tag, int socket_fd, const sockaddr* address, socklen_t address_bytes,
                 LinkedTimeout timeout) override;

    int submit_and_wait(unsigned wait_count) override;
    unsigned take_completions(std::span<Completion> into) override;

private:
    // A free entry for operation, tagged; at the start of a chain, room for a whole chain.
    io_uring_sqe* entry(RingOperation operation, Tag tag);
    // Checks the prepared opcode against the list and sets the link flags.
    void finish(RingOperation operation, io_uring_sqe* sqe, Link link);

    io_uring& ring_;
    unsigned chain_length_ = 0;  // Entries queued so far in the chain being built.
};

}  // namespace hub::engine
