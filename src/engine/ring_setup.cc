// ring_setup.cc -- ring and provided-buffer-ring set-up shared by shards and the check.
//
// PURPOSE   One place that knows the set-up flags and the buffer ring memory layout.
// RUNS IN   hubd's main thread (feature check) and each shard thread before its loop.
// TRUST     none.
// LIMITS    engine/limits.h sizes the rings.
// SEE ALSO  kernel_features.cc, shard.cc
#include "engine/ring_setup.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "base/assert.h"

namespace hub::engine {

Result<void, std::string> setup_ring(io_uring& ring, unsigned entries) {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 2;
    int result = io_uring_queue_init_params(entries, &ring, &params);
    if (result == -EPERM) {
        return unexpected(
            std::string("io_uring_setup: permission denied (kernel.io_uring_disabled, or a seccomp "
                        "policy of the container, forbids io_uring)"));
    }
    if (result == -EINVAL) {
        return unexpected(std::string(
            "io_uring_setup rejected IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN: the kernel is "
            "older than 6.1, which the appliance requires"));
    }
    if (result < 0) {
        return unexpected("io_uring_setup: " + std::string(std::strerror(-result)));
    }
    if ((params.features & IORING_FEAT_NODROP) == 0) {
        io_uring_queue_exit(&ring);
        return unexpected(std::string("kernel lacks IORING_FEAT_NODROP (5.5)"));
    }
    return {};
}

namespace {

// Maps the descriptor ring and the buffers; the caller fills the ring once it is in use.
Result<void, std::string> map_buffer_ring(BufferRingMemory& memory, unsigned entries,
                                          std::size_t buffer_bytes) {
    HUB_ASSERT(entries > 0 && (entries & (entries - 1)) == 0);
    HUB_ASSERT(memory.ring == nullptr);
    memory.ring_bytes = entries * sizeof(io_uring_buf);
    void* ring_memory = mmap(nullptr, memory.ring_bytes, PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_memory == MAP_FAILED) {
        return unexpected("mmap buffer ring: " + std::string(std::strerror(errno)));
    }
    void* buffers = mmap(nullptr, entries * buffer_bytes, PROT_READ | PROT_WRITE,
                         MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffers == MAP_FAILED) {
        munmap(ring_memory, memory.ring_bytes);
        return unexpected("mmap receive buffers: " + std::string(std::strerror(errno)));
    }
    memory.ring = static_cast<io_uring_buf_ring*>(ring_memory);
    memory.buffers = static_cast<char*>(buffers);
    memory.buffer_bytes = buffer_bytes;
    memory.entries = entries;
    return {};
}

void fill_buffer_ring(BufferRingMemory& memory) {
    io_uring_buf_ring_init(memory.ring);
    int mask = io_uring_buf_ring_mask(memory.entries);
    for (unsigned index = 0; index < memory.entries; index++) {
        io_uring_buf_ring_add(memory.ring, memory.buffers + index * memory.buffer_bytes,
                              static_cast<unsigned>(memory.buffer_bytes),
                              static_cast<unsigned short>(index), mask, static_cast<int>(index));
    }
    io_uring_buf_ring_advance(memory.ring, static_cast<int>(memory.entries));
}

}  // namespace

Result<void, std::string> register_buffer_ring(io_uring& ring, BufferRingMemory& memory,
                                               unsigned entries, std::size_t buffer_bytes,
                                               std::uint16_t group_id) {
    if (auto mapped = map_buffer_ring(memory, entries, buffer_bytes); !mapped) {
        return mapped;
    }
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uint64_t>(memory.ring);
    registration.ring_entries = entries;
    registration.bgid = group_id;
    int result = io_uring_register_buf_ring(&ring, &registration, 0);
    if (result < 0) {
        free_buffer_ring(memory);
        return unexpected("IORING_REGISTER_PBUF_RING: " + std::string(std::strerror(-result)));
    }
    fill_buffer_ring(memory);
    return {};
}

Result<void, std::string> allocate_buffer_ring(BufferRingMemory& memory, unsigned entries,
                                               std::size_t buffer_bytes) {
    if (auto mapped = map_buffer_ring(memory, entries, buffer_bytes); !mapped) {
        return mapped;
    }
    fill_buffer_ring(memory);
    return {};
}

void free_buffer_ring(BufferRingMemory& memory) {
    if (memory.ring == nullptr) {
        return;
    }
    munmap(memory.buffers, memory.entries * memory.buffer_bytes);
    munmap(memory.ring, memory.ring_bytes);
    memory = BufferRingMemory{};
}

void unregister_buffer_ring(io_uring& ring, BufferRingMemory& memory, std::uint16_t group_id) {
    if (memory.ring == nullptr) {
        return;
    }
    io_uring_unregister_buf_ring(&ring, group_id);
    free_buffer_ring(memory);
}

void recycle_buffer(BufferRingMemory& memory, std::uint16_t buffer_id) {
    HUB_ASSERT(buffer_id < memory.entries);
    io_uring_buf_ring_add(memory.ring, memory.buffers + buffer_id * memory.buffer_bytes,
                          static_cast<unsigned>(memory.buffer_bytes), buffer_id,
                          io_uring_buf_ring_mask(memory.entries), 0);
    io_uring_buf_ring_advance(memory.ring, 1);
}

}  // namespace hub::engine
