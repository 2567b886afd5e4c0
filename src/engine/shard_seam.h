// shard_seam.h -- what the deterministic simulator (tests/sim) puts in place of the kernel
// and the clocks under a real Shard. hubd never sets it.
//
// A shard normally owns its io_uring, registers its provided receive buffers with it, reads
// CLOCK_MONOTONIC and CLOCK_REALTIME, and asks the kernel for an accepted socket's peer
// address (getpeername). With a seam, the shard submits through seam.ring instead, takes
// its receive buffers from seam.buffers (allocated by allocate_buffer_ring, not registered:
// the fake ring hands them out itself), reads both clocks from the simulation and the peer
// address from it. Everything else, from SMTP and TLS to the spool writer and the relay,
// runs unchanged.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>

#include "engine/ring.h"
#include "engine/ring_setup.h"

namespace hub::engine {

struct ShardSeam {
    RingOps* ring = nullptr;
    BufferRingMemory* buffers = nullptr;
    std::function<std::uint64_t()> monotonic_ms;
    std::function<std::uint64_t()> wall_ms;  // Unix time in ms.
    std::function<bool(int fd, sockaddr_storage& peer)> peer_address;
};

}  // namespace hub::engine
