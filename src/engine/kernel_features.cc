// kernel_features.cc -- proves at start-up that the kernel offers what the shards use.
//
// PURPOSE   Fail fast, with a message naming the missing feature, instead of failing on
//           the first connection. Each feature is exercised for real on a scratch ring.
// RUNS IN   hubd's main thread, before any shard starts (blocking calls are fine here).
// TRUST     none: only our own sockets and a scratch ring.
// LIMITS    one scratch ring of 8 entries, one socketpair, one loopback listener.
// SEE ALSO  kernel_features.h, ring.h (the operation list), ring.cc
#include "engine/kernel_features.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/errno_text.h"
#include "engine/ring.h"
#include "engine/ring_setup.h"

namespace hub::engine {
namespace {

// kernel.io_uring_disabled exists from 6.6; on 6.1 the file is absent and io_uring is on.
Result<void, std::string> check_not_disabled() {
    std::ifstream file("/proc/sys/kernel/io_uring_disabled");
    int value = 0;
    if (file >> value && value != 0) {
        return unexpected(std::string(
            "io_uring is disabled by sysctl kernel.io_uring_disabled=" + std::to_string(value) +
            "; set it to 0 (or 1 with hubd's group in kernel.io_uring_group)"));
    }
    return {};
}

Result<void, std::string> check_opcodes(io_uring& ring) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr) {
        return unexpected(std::string("io_uring probe failed (IORING_REGISTER_PROBE, 5.6)"));
    }
    // Every operation a Ring method can submit, from the one list.
    for (const RingOperationInfo& operation : ring_operations) {
        if (!io_uring_opcode_supported(probe, operation.opcode)) {
            io_uring_free_probe(probe);
            return unexpected(std::string("kernel lacks ") + operation.name);
        }
    }
    io_uring_free_probe(probe);
    return {};
}

// Waits for one completion with a bounded wait, so a kernel that silently ignores a flag
// cannot hang start-up.
struct ProbeCompletion {
    int res = 0;
    std::uint32_t flags = 0;
};

Result<ProbeCompletion, std::string> wait_one(io_uring& ring, const char* what) {
    __kernel_timespec timeout{.tv_sec = 2, .tv_nsec = 0};
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_wait_cqe_timeout(&ring, &cqe, &timeout);
    if (result < 0) {
        return unexpected(std::string(what) + ": no completion (" + base::errno_text(-result) +
                          ")");
    }
    ProbeCompletion copy{cqe->res, cqe->flags};
    io_uring_cqe_seen(&ring, cqe);
    return copy;
}

// The operations that need more than their opcode, each exercised below: an entry added to
// HUB_RING_OPERATIONS with such a need and no exercise here does not compile.
constexpr RingOperation exercised_for_real[] = {RingOperation::recv_multishot,
                                                RingOperation::accept_multishot};

constexpr bool every_need_exercised() {
    for (const RingOperationInfo& operation : ring_operations) {
        bool exercised = false;
        for (RingOperation checked : exercised_for_real) {
            exercised = exercised || checked == operation.operation;
        }
        if (operation.needs != ring_needs_nothing && !exercised) {
            return false;
        }
    }
    return true;
}
static_assert(every_need_exercised(), "a multishot or buffer-select operation needs a real check");

Result<void, std::string> check_multishot_recv(io_uring& ring) {
    constexpr unsigned entries = 2;
    constexpr std::size_t buffer_bytes = 64;
    BufferRingMemory memory;
    if (auto made = register_buffer_ring(ring, memory, entries, buffer_bytes, 7); !made) {
        return unexpected("provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19): " +
                          made.error());
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return unexpected("socketpair: " + base::errno_text(errno));
    }
    Ring typed(ring);
    queued_or_panic(typed.recv_multishot(Tag{Op::recv, 0, 0}, pair[0], 7));
    io_uring_submit(&ring);
    [[maybe_unused]] ssize_t sent = write(pair[1], "x", 1);
    auto cqe = wait_one(ring, "IORING_OP_RECV multishot (6.0)");
    close(pair[0]);
    close(pair[1]);
    unregister_buffer_ring(ring, memory, 7);
    if (!cqe) {
        return unexpected(cqe.error());
    }
    if (cqe->res != 1 || (cqe->flags & IORING_CQE_F_MORE) == 0 ||
        (cqe->flags & IORING_CQE_F_BUFFER) == 0) {
        return unexpected(std::string("kernel lacks IORING_OP_RECV multishot (6.0): res=") +
                          std::to_string(cqe->res));
    }
    return {};
}

Result<void, std::string> check_multishot_accept(io_uring& ring) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener, 4) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        int error = errno;
        if (listener >= 0) {
            close(listener);
        }
        return unexpected("loopback listener for the accept check: " + base::errno_text(error));
    }
    Ring typed(ring);
    queued_or_panic(typed.accept_multishot(Tag{Op::accept, 0, 0}, listener));
    io_uring_submit(&ring);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int connected = connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    auto cqe = wait_one(ring, "IORING_OP_ACCEPT multishot (5.19)");
    close(client);
    close(listener);
    if (connected != 0) {
        return unexpected("loopback connect for the accept check: " + base::errno_text(errno));
    }
    if (!cqe) {
        return unexpected(cqe.error());
    }
    if (cqe->res < 0 || (cqe->flags & IORING_CQE_F_MORE) == 0) {
        return unexpected(std::string("kernel lacks IORING_OP_ACCEPT multishot (5.19): ") +
                          (cqe->res < 0 ? base::errno_text(-cqe->res) : "no IORING_CQE_F_MORE"));
    }
    close(cqe->res);
    return {};
}

}  // namespace

Result<void, std::string> check_kernel_features() {
    if (auto enabled = check_not_disabled(); !enabled) {
        return enabled;
    }
    // A fresh ring per check, so that no completion of one check is read by the next.
    using Check = Result<void, std::string> (*)(io_uring&);
    for (Check check : {&check_opcodes, &check_multishot_recv, &check_multishot_accept}) {
        io_uring ring;
        if (auto setup = setup_ring(ring, 8); !setup) {
            return setup;
        }
        Result<void, std::string> result = check(ring);
        io_uring_queue_exit(&ring);
        if (!result) {
            return result;
        }
    }
    return {};
}

}  // namespace hub::engine
