// ring.cc -- the typed operations on a real io_uring; the only io_uring_prep_* calls.
//
// PURPOSE   Turn each typed operation into one prepared SQE (or a short linked chain),
//           checked against its entry in HUB_RING_OPERATIONS, and hand completions back as
//           (Tag, res, flags).
// RUNS IN   the shard thread that owns the ring (and tests).
// TRUST     none: arguments come from our own code.
// LIMITS    chains of at most ring_chain_max entries, never split across two submits.
// SEE ALSO  ring.h, kernel_features.cc (probes the same list at start-up)
#include "engine/ring.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <array>
#include <climits>

namespace hub::engine {

io_uring_sqe* Ring::entry(RingOperation operation, Tag tag) {
    HUB_ASSERT(operation_of(tag.op) == operation);  // The tag's purpose is this operation.
    if (chain_length_ == 0) {
        // A chain split by a submit would run its head unlinked: make room for a whole one.
        if (io_uring_sq_space_left(&ring_) < ring_chain_max) {
            io_uring_submit(&ring_);
        }
        if (io_uring_sq_space_left(&ring_) < ring_chain_max) {
            return nullptr;
        }
    }
    HUB_ASSERT(chain_length_ < ring_chain_max);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    HUB_ASSERT(sqe != nullptr);  // Room for the whole chain was made at its start.
    return sqe;
}

void Ring::finish(RingOperation operation, io_uring_sqe* sqe, Link link) {
    HUB_ASSERT(sqe->opcode == ring_operation_info(operation).opcode);
    switch (link) {
        case Link::none:
            chain_length_ = 0;
            return;
        case Link::next:
            sqe->flags |= IOSQE_IO_LINK;
            chain_length_++;
            return;
        case Link::next_even_on_failure:
            sqe->flags |= IOSQE_IO_HARDLINK;
            chain_length_++;
            return;
    }
    HUB_PANIC("Link outside its enum");
}

bool Ring::accept_multishot(Tag tag, int listener_fd) {
    io_uring_sqe* sqe = entry(RingOperation::accept_multishot, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_multishot_accept(sqe, listener_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::accept_multishot, sqe, Link::none);
    return true;
}

bool Ring::recv_multishot(Tag tag, int socket_fd, std::uint16_t buffer_group) {
    io_uring_sqe* sqe = entry(RingOperation::recv_multishot, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_recv_multishot(sqe, socket_fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::recv_multishot, sqe, Link::none);
    return true;
}

bool Ring::send(Tag tag, int socket_fd, std::span<const char> bytes, LinkedTimeout timeout) {
    HUB_ASSERT(timeout.after != nullptr);
    io_uring_sqe* sqe = entry(RingOperation::send, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_send(sqe, socket_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::send, sqe, Link::next);
    io_uring_sqe* expiry = entry(RingOperation::link_timeout, timeout.tag);
    // The cast: liburing takes a non-const pointer, but the kernel only reads it.
    io_uring_prep_link_timeout(expiry, const_cast<__kernel_timespec*>(timeout.after), 0);
    io_uring_sqe_set_data64(expiry, timeout.tag.pack());
    finish(RingOperation::link_timeout, expiry, Link::none);
    return true;
}

bool Ring::timeout(Tag tag, const __kernel_timespec& after) {
    io_uring_sqe* sqe = entry(RingOperation::timeout, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_timeout(sqe, const_cast<__kernel_timespec*>(&after), 0, 0);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::timeout, sqe, Link::none);
    return true;
}

bool Ring::cancel(Tag tag, Tag target) {
    io_uring_sqe* sqe = entry(RingOperation::cancel, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_cancel64(sqe, target.pack(), 0);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::cancel, sqe, Link::none);
    return true;
}

bool Ring::read(Tag tag, int fd, std::span<char> into, std::uint64_t offset) {
    io_uring_sqe* sqe = entry(RingOperation::read, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_read(sqe, fd, into.data(), static_cast<unsigned>(into.size()), offset);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::read, sqe, Link::none);
    return true;
}

bool Ring::write(Tag tag, int fd, std::span<const char> bytes, std::uint64_t offset, Link link) {
    io_uring_sqe* sqe = entry(RingOperation::write, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_write(sqe, fd, bytes.data(), static_cast<unsigned>(bytes.size()), offset);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::write, sqe, link);
    return true;
}

bool Ring::write_vectored(Tag tag, int fd, std::span<const iovec> pieces, std::uint64_t offset,
                          Link link) {
    io_uring_sqe* sqe = entry(RingOperation::write_vectored, tag);
    if (sqe == nullptr) {
        return false;
    }
    HUB_ASSERT(!pieces.empty() && pieces.size() <= IOV_MAX);
    io_uring_prep_writev(sqe, fd, pieces.data(), static_cast<unsigned>(pieces.size()), offset);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::write_vectored, sqe, link);
    return true;
}

bool Ring::fsync(Tag tag, int fd, SyncKind kind, Link link) {
    io_uring_sqe* sqe = entry(RingOperation::fsync, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_fsync(sqe, fd, kind == SyncKind::data_only ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::fsync, sqe, link);
    return true;
}

bool Ring::punch_hole(Tag tag, int fd, std::uint64_t offset, std::uint64_t bytes, Link link) {
    io_uring_sqe* sqe = entry(RingOperation::fallocate, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(offset), static_cast<off_t>(bytes));
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::fallocate, sqe, link);
    return true;
}

bool Ring::openat(Tag tag, int dir_fd, const char* path, int flags, unsigned mode) {
    io_uring_sqe* sqe = entry(RingOperation::openat, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_openat(sqe, dir_fd, path, flags, mode);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::openat, sqe, Link::none);
    return true;
}

bool Ring::close(Tag tag, int fd) {
    io_uring_sqe* sqe = entry(RingOperation::close, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::close, sqe, Link::none);
    return true;
}

bool Ring::shutdown_and_close(Tag tag, int socket_fd) {
    Tag shutdown_tag{Op::shutdown_socket, tag.index, tag.generation};
    io_uring_sqe* sqe = entry(RingOperation::shutdown, shutdown_tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_shutdown(sqe, socket_fd, SHUT_RDWR);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, shutdown_tag.pack());
    finish(RingOperation::shutdown, sqe, Link::next_even_on_failure);  // Close even if it fails.
    io_uring_sqe* closing = entry(RingOperation::close, tag);
    io_uring_prep_close(closing, socket_fd);
    io_uring_sqe_set_data64(closing, tag.pack());
    finish(RingOperation::close, closing, Link::none);
    return true;
}

bool Ring::unlinkat(Tag tag, int dir_fd, const char* path, Link link) {
    io_uring_sqe* sqe = entry(RingOperation::unlinkat, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_unlinkat(sqe, dir_fd, path, 0);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::unlinkat, sqe, link);
    return true;
}

bool Ring::madvise(Tag tag, void* address, std::size_t bytes, int advice) {
    io_uring_sqe* sqe = entry(RingOperation::madvise, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_madvise(sqe, address, static_cast<off_t>(bytes), advice);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::madvise, sqe, Link::none);
    return true;
}

bool Ring::socket(Tag tag, int domain, int type) {
    io_uring_sqe* sqe = entry(RingOperation::socket, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_socket(sqe, domain, type, 0, 0);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::socket, sqe, Link::none);
    return true;
}

bool Ring::connect(Tag tag, int socket_fd, const sockaddr* address, socklen_t address_bytes,
                   LinkedTimeout timeout) {
    HUB_ASSERT(timeout.after != nullptr);
    io_uring_sqe* sqe = entry(RingOperation::connect, tag);
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_connect(sqe, socket_fd, address, address_bytes);
    io_uring_sqe_set_data64(sqe, tag.pack());
    finish(RingOperation::connect, sqe, Link::next);
    io_uring_sqe* expiry = entry(RingOperation::link_timeout, timeout.tag);
    io_uring_prep_link_timeout(expiry, const_cast<__kernel_timespec*>(timeout.after), 0);
    io_uring_sqe_set_data64(expiry, timeout.tag.pack());
    finish(RingOperation::link_timeout, expiry, Link::none);
    return true;
}

int Ring::submit_and_wait(unsigned wait_count) {
    HUB_ASSERT(chain_length_ == 0);  // No chain is left half built across a loop turn.
    return io_uring_submit_and_wait(&ring_, wait_count);
}

unsigned Ring::take_completions(std::span<Completion> into) {
    // io_uring_peek_batch_cqe, unlike walking the CQ by hand, also flushes an overflowed CQ.
    constexpr unsigned chunk_max = 64;
    std::array<io_uring_cqe*, chunk_max> cqes;
    unsigned taken = 0;
    while (taken < into.size()) {
        unsigned wanted = std::min<unsigned>(chunk_max, static_cast<unsigned>(into.size()) - taken);
        unsigned count = io_uring_peek_batch_cqe(&ring_, cqes.data(), wanted);
        for (unsigned i = 0; i < count; i++) {
            into[taken + i] =
                Completion{Tag::unpack(cqes[i]->user_data), cqes[i]->res, cqes[i]->flags};
        }
        io_uring_cq_advance(&ring_, count);
        taken += count;
        if (count < wanted) {
            break;
        }
    }
    HUB_ASSERT(taken <= into.size());
    return taken;
}

}  // namespace hub::engine
