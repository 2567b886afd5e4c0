// fake_ring.cc -- the simulator's ring: real file operations, seeded order, faults, crashes.
#include "fake_ring.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace hub::sim {

using engine::Completion;
using engine::Link;
using engine::Tag;

FakeRing::FakeRing(std::uint64_t seed, const std::string& dir, FaultRates faults, bool trace)
    : random_(seed), dir_(dir), faults_(faults), trace_(trace) {
    dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    HUB_ASSERT(dir_fd_ >= 0);
    rescan();
}

FakeRing::~FakeRing() {
    for (const auto& [fd, name] : files_by_fd_) {
        ::close(fd);
    }
    if (dir_fd_ >= 0) {
        ::close(dir_fd_);
    }
}

std::uint64_t FakeRing::below(std::uint64_t bound) {
    HUB_ASSERT(bound > 0);
    return random_() % bound;
}

bool FakeRing::fail_roll(unsigned per_mille) {
    return below(1000) < per_mille;
}

std::string FakeRing::read_whole(const std::string& name) const {
    std::string contents;
    int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return contents;
    }
    char buffer[16384];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        HUB_ASSERT(got >= 0);
        if (got == 0) {
            break;
        }
        contents.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    return contents;
}

bool FakeRing::queue(Tag tag, Link link, std::function<int()> run) {
    queued_.push_back(Operation{tag, link, std::move(run), 0, false});
    return true;
}

void FakeRing::trace(const Tag& tag, int result) const {
    if (trace_) {
        std::fprintf(stderr, "  ring: op %u index %u -> %d\n", static_cast<unsigned>(tag.op),
                     tag.index, result);
    }
}

int FakeRing::submit_and_wait(unsigned wait_count) {
    // Group the queue into chains: an operation linked to the next one shares its chain.
    std::deque<Operation> chain;
    for (Operation& operation : queued_) {
        bool linked = operation.link != Link::none;
        chain.push_back(std::move(operation));
        if (!linked) {
            chains_.push_back(std::move(chain));
            chain.clear();
        }
    }
    HUB_ASSERT(chain.empty());  // A chain is never split across two submits (ring.h).
    queued_.clear();
    if (shard_mode_) {
        return 0;  // The simulation decides what completes next.
    }
    for (unsigned turn = 0; completions_.size() < wait_count && turn < 1000; turn++) {
        if (!step()) {
            break;
        }
    }
    return 0;
}

bool FakeRing::step() {
    if (chains_.empty()) {
        return false;
    }
    std::size_t pick = below(chains_.size());
    std::deque<Operation>& chain = chains_[pick];
    Operation operation = std::move(chain.front());
    chain.pop_front();
    int result = operation.run();
    if (result != no_completion) {
        trace(operation.tag, result);
        completions_.push_back(Completion{operation.tag, result, 0});
    }
    bool failed = result < 0 || (operation.is_write &&
                                 static_cast<std::size_t>(result) < operation.expected_bytes);
    if (failed && operation.link == Link::next) {
        // The kernel cancels the rest of a chain after a failed (or short) link, up to and
        // including the first operation that is not linked on.
        while (!chain.empty()) {
            Operation cancelled = std::move(chain.front());
            chain.pop_front();
            trace(cancelled.tag, -ECANCELED);
            completions_.push_back(Completion{cancelled.tag, -ECANCELED, 0});
            if (cancelled.link != Link::next) {
                break;  // A hard link would carry on; ring_chain_max keeps chains short.
            }
        }
    }
    if (chain.empty()) {
        chains_.erase(chains_.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    return true;
}

unsigned FakeRing::take_completions(std::span<Completion> into) {
    unsigned taken = 0;
    while (taken < into.size() && !completions_.empty()) {
        into[taken++] = completions_.front();
        completions_.pop_front();
    }
    return taken;
}

int FakeRing::run_write(int fd, std::span<const char> bytes, std::uint64_t offset) {
    HUB_ASSERT(files_by_fd_.count(fd) == 1 && offset != engine::file_position);
    if (fail_roll(faults_.no_space)) {
        return -ENOSPC;
    }
    std::size_t count = bytes.size();
    if (count > 0 && fail_roll(faults_.short_write)) {
        count = below(count);  // The device filled up part-way.
    }
    ssize_t written = ::pwrite(fd, bytes.data(), count, static_cast<off_t>(offset));
    return written < 0 ? -errno : static_cast<int>(written);
}

int FakeRing::run_fsync(int fd) {
    if (fail_roll(faults_.sync_eio)) {
        return -EIO;
    }
    if (fd == dir_fd_) {
        // The directory's entries become what the disk keeps (creations and deletions).
        for (auto& [name, state] : files_) {
            state.durable_exists = ::faccessat(dir_fd_, name.c_str(), F_OK, 0) == 0;
        }
        return 0;
    }
    auto file = files_by_fd_.find(fd);
    HUB_ASSERT(file != files_by_fd_.end());
    files_[file->second].synced = read_whole(file->second);
    return 0;
}

bool FakeRing::write(Tag tag, int fd, std::span<const char> bytes, std::uint64_t offset,
                     Link link) {
    if (fd == STDERR_FILENO && files_by_fd_.count(fd) == 0) {
        // The shard's log lines: shown with the trace, completed whole.
        return queue(tag, link, [this, bytes] {
            if (trace_) {
                std::fwrite(bytes.data(), 1, bytes.size(), stderr);
            }
            return static_cast<int>(bytes.size());
        });
    }
    queued_.push_back(Operation{tag, link,
                                [this, fd, bytes, offset] { return run_write(fd, bytes, offset); },
                                bytes.size(), true});
    return true;
}

// The pieces are gathered when the operation runs (they must be alive until then, as for
// the kernel), and written as one write with the same faults.
bool FakeRing::write_vectored(Tag tag, int fd, std::span<const iovec> pieces, std::uint64_t offset,
                              Link link) {
    std::size_t bytes = 0;
    for (const iovec& piece : pieces) {
        bytes += piece.iov_len;
    }
    queued_.push_back(Operation{tag, link,
                                [this, fd, pieces, offset] {
                                    std::string gathered;
                                    for (const iovec& piece : pieces) {
                                        gathered.append(static_cast<const char*>(piece.iov_base),
                                                        piece.iov_len);
                                    }
                                    return run_write(fd, gathered, offset);
                                },
                                bytes, true});
    return true;
}

bool FakeRing::fsync(Tag tag, int fd, engine::SyncKind, Link link) {
    // fsync and fdatasync are the same here: the model has no metadata but the size,
    // which fdatasync covers too.
    return queue(tag, link, [this, fd] { return run_fsync(fd); });
}

bool FakeRing::punch_hole(Tag tag, int fd, std::uint64_t offset, std::uint64_t bytes, Link link) {
    return queue(tag, link, [this, fd, offset, bytes] {
        if (fail_roll(faults_.punch_eio)) {
            return -EIO;
        }
        int done = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               static_cast<off_t>(offset), static_cast<off_t>(bytes));
        return done < 0 ? -errno : 0;
    });
}

bool FakeRing::read(Tag tag, int fd, std::span<char> into, std::uint64_t offset) {
    return queue(tag, Link::none, [this, tag, fd, into, offset] {
        if (trace_) {
            std::fprintf(stderr, "  ring: read op %u index %u generation %u, %zu bytes\n",
                         static_cast<unsigned>(tag.op), tag.index, tag.generation, into.size());
        }
        ssize_t got = ::pread(fd, into.data(), into.size(), static_cast<off_t>(offset));
        return got < 0 ? -errno : static_cast<int>(got);
    });
}

bool FakeRing::openat(Tag tag, int dir_fd, const char* path, int flags, unsigned mode) {
    HUB_ASSERT(dir_fd == dir_fd_);
    std::string name = path;  // Valid only until the next submit: copy it now.
    return queue(tag, Link::none, [this, name, flags, mode] {
        if ((flags & O_CREAT) != 0 && fail_roll(faults_.open_no_space)) {
            return -ENOSPC;
        }
        int fd = ::openat(dir_fd_, name.c_str(), flags, mode);
        if (fd < 0) {
            return -errno;
        }
        files_by_fd_[fd] = name;
        files_.try_emplace(name, FileState{});  // New: neither contents nor entry durable.
        return fd;
    });
}

bool FakeRing::close(Tag tag, int fd) {
    if (is_socket(fd)) {
        return queue(tag, Link::none, [this, fd] {
            close_socket(fd);
            return 0;
        });
    }
    HUB_ASSERT(files_by_fd_.count(fd) == 1 && closing_fds_.insert(fd).second);
    return queue(tag, Link::none, [this, fd] {
        closing_fds_.erase(fd);
        HUB_ASSERT(files_by_fd_.erase(fd) == 1);
        return ::close(fd) < 0 ? -errno : 0;
    });
}

bool FakeRing::unlinkat(Tag tag, int dir_fd, const char* path, Link link) {
    HUB_ASSERT(dir_fd == dir_fd_);
    std::string name = path;
    return queue(tag, link, [this, name] {
        if (fail_roll(faults_.unlink_eio)) {
            return -EIO;
        }
        if (::unlinkat(dir_fd_, name.c_str(), 0) < 0) {
            return -errno;
        }
        unlinks_done_++;
        return 0;
    });
}

void FakeRing::crash() {
    for (const auto& [fd, name] : files_by_fd_) {
        ::close(fd);
    }
    files_by_fd_.clear();
    closing_fds_.clear();
    queued_.clear();
    chains_.clear();
    completions_.clear();
    for (const auto& [name, state] : files_) {
        if (!state.durable_exists) {
            ::unlinkat(dir_fd_, name.c_str(), 0);
            if (trace_) {
                std::fprintf(stderr, "  crash: %s vanishes\n", name.c_str());
            }
            continue;
        }
        // The synced image, overlaid with a prefix of what was written since: writes reach
        // the disk in file order, and the cut falls anywhere (most often before any).
        std::string now = read_whole(name);
        std::size_t kept = below(3) == 0 ? below(now.size() + 1) : 0;
        std::string image = state.synced;
        if (image.size() < kept) {
            image.resize(kept, '\0');
        }
        image.replace(0, kept, now, 0, kept);
        if (trace_) {
            std::fprintf(stderr, "  crash: %s keeps %zu synced + %zu of %zu written bytes\n",
                         name.c_str(), state.synced.size(), kept, now.size());
        }
        int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        HUB_ASSERT(fd >= 0);
        HUB_ASSERT(::write(fd, image.data(), image.size()) == static_cast<ssize_t>(image.size()));
        ::close(fd);
    }
    files_.clear();
    if (shard_mode_) {
        // hubd dies with the power: every connection it had is reset, the listeners' queues
        // too; the clock and the peers go on. The disk is what it is now, all of it durable.
        for (auto& [fd, pipe] : pipes_) {
            if (!pipe.hub_closed) {
                pipe.reset = true;
                pipe.hub_closed = true;
            }
        }
        armed_accepts_.clear();
        armed_recvs_.clear();
        unconnected_sockets_.clear();
        timers_.clear();
        sends_.clear();
        connects_.clear();
        new_outbound_.clear();
        rescan();
    }
}

void FakeRing::rescan() {
    DIR* listing = ::opendir(dir_.c_str());
    HUB_ASSERT(listing != nullptr);
    while (dirent* entry = ::readdir(listing)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") {
            files_[name] = FileState{read_whole(name), true};
        }
    }
    ::closedir(listing);
}

int FakeRing::open_existing(const std::string& name) {
    int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_CLOEXEC);
    HUB_ASSERT(fd >= 0);
    files_by_fd_[fd] = name;
    return fd;
}

// ---- The simulated network and clock.

void FakeRing::set_shard_mode(engine::BufferRingMemory* receive_buffers, NetworkRates rates) {
    shard_mode_ = true;
    receive_buffers_ = receive_buffers;
    buffer_head_ = 0;
    network_ = rates;
}

void FakeRing::complete(Tag tag, int result, std::uint32_t flags) {
    trace(tag, result);
    completions_.push_back(Completion{tag, result, flags});
}

std::uint64_t FakeRing::next_timer_ms() const {
    std::uint64_t next = UINT64_MAX;
    for (const Timer& timer : timers_) {
        next = std::min(next, timer.due_ms);
    }
    for (const PendingSend& send : sends_) {
        if (send.timeout_due_ms != 0) {
            next = std::min(next, send.timeout_due_ms);
        }
    }
    return next;
}

void FakeRing::advance_clock(std::uint64_t ms) {
    now_ms_ = std::max(now_ms_, ms);
    for (std::size_t index = 0; index < timers_.size();) {
        if (timers_[index].due_ms <= now_ms_) {
            complete(timers_[index].tag, -ETIME);
            timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(index));
        } else {
            index++;
        }
    }
    for (std::size_t index = 0; index < sends_.size();) {
        PendingSend& send = sends_[index];
        if (send.timeout_due_ms != 0 && send.timeout_due_ms <= now_ms_) {
            complete(send.tag, -ECANCELED);  // The linked timeout cancelled it.
            complete(send.timeout_tag, -ETIME);
            sends_.erase(sends_.begin() + static_cast<std::ptrdiff_t>(index));
        } else {
            index++;
        }
    }
}

int FakeRing::listener(std::uint16_t port) {
    int fd = next_socket_fd_++;
    listeners_[fd] = port;
    return fd;
}

int FakeRing::client_connect(int listener_fd, const sockaddr_storage& from) {
    HUB_ASSERT(listeners_.count(listener_fd) == 1);
    int fd = next_socket_fd_++;
    Pipe& pipe = pipes_[fd];
    pipe.hub_fd = fd;
    pipe.peer = from;
    pipe.listener_fd = listener_fd;
    return fd;
}

Pipe* FakeRing::pipe(int id) {
    auto found = pipes_.find(id);
    return found == pipes_.end() ? nullptr : &found->second;
}

std::vector<int> FakeRing::take_new_outbound() {
    std::vector<int> taken;
    taken.swap(new_outbound_);
    return taken;
}

void FakeRing::reset(int id) {
    if (Pipe* found = pipe(id)) {
        found->reset = true;
    }
}

std::size_t FakeRing::open_sockets() const {
    std::size_t count = unconnected_sockets_.size();
    for (const auto& [fd, pipe] : pipes_) {
        if (!pipe.hub_closed && (pipe.accepted || pipe.outbound)) {
            count++;
        }
    }
    return count;
}

bool FakeRing::peer_address(int fd, sockaddr_storage& peer) const {
    auto found = pipes_.find(fd);
    if (found == pipes_.end()) {
        return false;
    }
    peer = found->second.peer;
    return true;
}

void FakeRing::close_socket(int fd) {
    unconnected_sockets_.erase(fd);
    if (auto armed = armed_recvs_.find(fd); armed != armed_recvs_.end()) {
        complete(armed->second, 0);  // The shutdown ends the multishot recv.
        armed_recvs_.erase(armed);
    }
    if (Pipe* found = pipe(fd)) {
        found->hub_closed = true;
    }
}

bool FakeRing::network_step() {
    // Every ready event, then one of them chosen by the seed.
    enum class Kind { accept, recv, send, connect };
    struct Ready {
        Kind kind;
        int key;  // Pipe id, or index into sends_/connects_.
    };
    std::vector<Ready> ready;
    for (const auto& [fd, pipe] : pipes_) {
        if (!pipe.outbound && !pipe.accepted && !pipe.hub_closed &&
            armed_accepts_.count(pipe.listener_fd) == 1) {
            ready.push_back({Kind::accept, fd});
        }
        if (armed_recvs_.count(fd) == 1 &&
            (pipe.reset || !pipe.to_hub.empty() || pipe.peer_closed)) {
            ready.push_back({Kind::recv, fd});
        }
    }
    for (std::size_t index = 0; index < sends_.size(); index++) {
        const Pipe* target = pipe(sends_[index].fd);
        if (target == nullptr || target->reset || target->peer_reads) {
            ready.push_back({Kind::send, static_cast<int>(index)});
        }
    }
    for (std::size_t index = 0; index < connects_.size(); index++) {
        ready.push_back({Kind::connect, static_cast<int>(index)});
    }
    if (ready.empty()) {
        return false;
    }
    Ready chosen = ready[below(ready.size())];
    switch (chosen.kind) {
        case Kind::accept: {
            Pipe& pipe = pipes_[chosen.key];
            pipe.accepted = true;
            complete(armed_accepts_[pipe.listener_fd], pipe.hub_fd, IORING_CQE_F_MORE);
            return true;
        }
        case Kind::recv: {
            Pipe& pipe = pipes_[chosen.key];
            Tag tag = armed_recvs_[chosen.key];
            if (!pipe.reset && fail_roll(network_.reset)) {
                pipe.reset = true;
            }
            if (pipe.reset) {
                armed_recvs_.erase(chosen.key);
                complete(tag, -ECONNRESET);
                return true;
            }
            if (pipe.to_hub.empty()) {
                armed_recvs_.erase(chosen.key);
                complete(tag, 0);  // The peer's FIN.
                return true;
            }
            io_uring_buf_ring* ring = receive_buffers_->ring;
            std::uint16_t tail = io_uring_smp_load_acquire(&ring->tail);
            if (tail == buffer_head_) {
                armed_recvs_.erase(chosen.key);
                complete(tag, -ENOBUFS);
                return true;
            }
            const io_uring_buf& buffer = ring->bufs[buffer_head_ & (receive_buffers_->entries - 1)];
            buffer_head_++;
            std::size_t count = std::min<std::size_t>(pipe.to_hub.size(), buffer.len);
            if (count > 1 && fail_roll(network_.partial)) {
                count = 1 + below(count - 1);  // A slow peer's bytes arrive in pieces.
            }
            std::memcpy(reinterpret_cast<char*>(buffer.addr), pipe.to_hub.data(), count);
            pipe.to_hub.erase(0, count);
            complete(tag, static_cast<int>(count),
                     IORING_CQE_F_MORE | IORING_CQE_F_BUFFER |
                         (static_cast<std::uint32_t>(buffer.bid) << IORING_CQE_BUFFER_SHIFT));
            return true;
        }
        case Kind::send: {
            PendingSend send = sends_[static_cast<std::size_t>(chosen.key)];
            sends_.erase(sends_.begin() + chosen.key);
            Pipe* target = pipe(send.fd);
            if (target != nullptr && !target->reset && fail_roll(network_.reset)) {
                target->reset = true;
            }
            int result;
            if (target == nullptr || target->reset) {
                result = -ECONNRESET;
            } else {
                std::size_t count = send.bytes.size();
                if (count > 1 && fail_roll(network_.partial)) {
                    count = 1 + below(count - 1);  // A short send: the shard sends the rest.
                }
                target->to_peer.append(send.bytes.data(), count);
                result = static_cast<int>(count);
            }
            complete(send.tag, result);
            if (send.timeout_due_ms != 0) {
                complete(send.timeout_tag, -ECANCELED);
            }
            return true;
        }
        case Kind::connect: {
            PendingConnect connect = connects_[static_cast<std::size_t>(chosen.key)];
            connects_.erase(connects_.begin() + chosen.key);
            if (connect.refused || unconnected_sockets_.count(connect.fd) == 0) {
                complete(connect.tag, -ECONNREFUSED);
            } else {
                complete(connect.tag, 0);
                new_outbound_.push_back(connect.fd);
            }
            unconnected_sockets_.erase(connect.fd);
            if (connect.refused) {
                pipes_.erase(connect.fd);
            }
            complete(connect.timeout_tag, -ECANCELED);
            return true;
        }
    }
    return false;
}

bool FakeRing::accept_multishot(Tag tag, int listener_fd) {
    HUB_ASSERT(shard_mode_ && listeners_.count(listener_fd) == 1);
    return queue(tag, Link::none, [this, tag, listener_fd] {
        armed_accepts_[listener_fd] = tag;
        return no_completion;
    });
}

bool FakeRing::recv_multishot(Tag tag, int socket_fd, std::uint16_t) {
    HUB_ASSERT(shard_mode_ && is_socket(socket_fd));
    return queue(tag, Link::none, [this, tag, socket_fd] {
        const Pipe* target = pipe(socket_fd);
        if (target == nullptr || target->hub_closed) {
            return -EBADF;
        }
        armed_recvs_[socket_fd] = tag;
        return no_completion;
    });
}

bool FakeRing::send(Tag tag, int socket_fd, std::span<const char> bytes,
                    engine::LinkedTimeout timeout) {
    HUB_ASSERT(shard_mode_ && is_socket(socket_fd));
    std::uint64_t after_ms = 0;
    if (timeout.after != nullptr) {
        after_ms = static_cast<std::uint64_t>(timeout.after->tv_sec) * 1000 +
                   static_cast<std::uint64_t>(timeout.after->tv_nsec) / 1000000;
    }
    // Registered at once (the span stays valid until the completion, as for the kernel).
    queue(tag, Link::none, [this, tag, socket_fd, bytes, timeout, after_ms] {
        sends_.push_back(PendingSend{tag, socket_fd, bytes, timeout.tag,
                                     timeout.after != nullptr ? now_ms_ + after_ms : 0});
        return no_completion;
    });
    return true;
}

bool FakeRing::timeout(Tag tag, const __kernel_timespec& after) {
    HUB_ASSERT(shard_mode_);
    std::uint64_t due = now_ms_ + static_cast<std::uint64_t>(after.tv_sec) * 1000 +
                        static_cast<std::uint64_t>(after.tv_nsec) / 1000000;
    timers_.push_back(Timer{tag, due});  // The clock runs from now, not from the submit.
    return true;
}

bool FakeRing::cancel(Tag tag, Tag target) {
    HUB_ASSERT(shard_mode_);
    return queue(tag, Link::none, [this, target] {
        for (auto armed = armed_recvs_.begin(); armed != armed_recvs_.end(); ++armed) {
            if (armed->second.pack() == target.pack()) {
                complete(armed->second, -ECANCELED);
                armed_recvs_.erase(armed);
                return 0;
            }
        }
        return -ENOENT;
    });
}

bool FakeRing::shutdown_and_close(Tag tag, int socket_fd) {
    HUB_ASSERT(shard_mode_ && is_socket(socket_fd));
    return queue(tag, Link::none, [this, socket_fd] {
        close_socket(socket_fd);
        return 0;  // The close's completion; the shutdown's comes only on failure.
    });
}

bool FakeRing::madvise(Tag tag, void*, std::size_t, int) {
    return queue(tag, Link::none, [] { return 0; });
}

bool FakeRing::socket(Tag tag, int, int) {
    HUB_ASSERT(shard_mode_);
    return queue(tag, Link::none, [this] {
        int fd = next_socket_fd_++;
        unconnected_sockets_.insert(fd);
        return fd;
    });
}

bool FakeRing::connect(Tag tag, int socket_fd, const sockaddr* address, socklen_t address_bytes,
                       engine::LinkedTimeout timeout) {
    HUB_ASSERT(shard_mode_ && is_socket(socket_fd));
    sockaddr_storage to{};
    std::memcpy(&to, address, std::min<std::size_t>(address_bytes, sizeof(to)));
    return queue(tag, Link::none, [this, tag, socket_fd, to, timeout] {
        bool refused = fail_roll(network_.refuse);
        if (!refused) {
            Pipe& pipe = pipes_[socket_fd];
            pipe.hub_fd = socket_fd;
            pipe.outbound = true;
            pipe.peer = to;
        }
        connects_.push_back(PendingConnect{tag, timeout.tag, socket_fd, refused});
        return no_completion;
    });
}

}  // namespace hub::sim
