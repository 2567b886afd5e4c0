// ring_setup.h -- creating a shard's ring and its provided buffer ring.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"

namespace hub::engine {

// Sets up a ring for one thread: SINGLE_ISSUER and DEFER_TASKRUN (both in 6.1), so that
// completions run only when this thread asks for them. Fails with a message that names
// io_uring_disabled when the kernel refuses io_uring itself.
[[nodiscard]] Result<void, std::string> setup_ring(io_uring& ring, unsigned entries);

// The memory behind one provided buffer ring: the ring of descriptors and the buffers.
struct BufferRingMemory {
    io_uring_buf_ring* ring = nullptr;
    std::size_t ring_bytes = 0;
    char* buffers = nullptr;
    std::size_t buffer_bytes = 0;
    unsigned entries = 0;
};

// Allocates entries buffers of buffer_bytes, registers them as group group_id and hands
// all of them to the kernel.
[[nodiscard]] Result<void, std::string> register_buffer_ring(io_uring& ring,
                                                             BufferRingMemory& memory,
                                                             unsigned entries,
                                                             std::size_t buffer_bytes,
                                                             std::uint16_t group_id);
void unregister_buffer_ring(io_uring& ring, BufferRingMemory& memory, std::uint16_t group_id);

// The memory of a buffer ring with every buffer in it, not registered with any ring: for a
// fake ring (shard_seam.h), which hands the buffers out itself. Freed by free_buffer_ring.
[[nodiscard]] Result<void, std::string> allocate_buffer_ring(BufferRingMemory& memory,
                                                             unsigned entries,
                                                             std::size_t buffer_bytes);
void free_buffer_ring(BufferRingMemory& memory);

// Gives buffer buffer_id back to the kernel (one at a time; the caller batches advances).
void recycle_buffer(BufferRingMemory& memory, std::uint16_t buffer_id);

}  // namespace hub::engine
