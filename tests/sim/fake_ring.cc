// fake_ring.cc -- the simulator's ring: real file operations, seeded order, faults, crashes.
#include "fake_ring.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace hub::sim {

using engine::Completion;
using engine::Link;
using engine::Tag;

FakeRing::FakeRing(std::uint64_t seed, const std::string& dir, FaultRates faults, bool trace)
    : random_(seed), dir_(dir), faults_(faults), trace_(trace) {
    dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    HUB_ASSERT(dir_fd_ >= 0);
    DIR* listing = ::opendir(dir.c_str());
    HUB_ASSERT(listing != nullptr);
    while (dirent* entry = ::readdir(listing)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") {
            files_[name] = FileState{read_whole(name), true};
        }
    }
    ::closedir(listing);
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
    trace(operation.tag, result);
    completions_.push_back(Completion{operation.tag, result, 0});
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
    return queue(tag, Link::none, [fd, into, offset] {
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
}

// Not used by the spool writer: a simulation that reaches one of these is wrong.
bool FakeRing::accept_multishot(Tag, int) {
    HUB_PANIC("sim: accept is not simulated yet");
}
bool FakeRing::recv_multishot(Tag, int, std::uint16_t) {
    HUB_PANIC("sim: recv is not simulated yet");
}
bool FakeRing::send(Tag, int, std::span<const char>, engine::LinkedTimeout) {
    HUB_PANIC("sim: send is not simulated yet");
}
bool FakeRing::timeout(Tag, const __kernel_timespec&) {
    HUB_PANIC("sim: timeout is not simulated yet");
}
bool FakeRing::cancel(Tag, Tag) {
    HUB_PANIC("sim: cancel is not simulated yet");
}
bool FakeRing::shutdown_and_close(Tag, int) {
    HUB_PANIC("sim: shutdown is not simulated yet");
}
bool FakeRing::madvise(Tag, void*, std::size_t, int) {
    HUB_PANIC("sim: madvise is not simulated yet");
}
bool FakeRing::socket(Tag, int, int) {
    HUB_PANIC("sim: socket is not simulated yet");
}
bool FakeRing::connect(Tag, int, const sockaddr*, socklen_t, engine::LinkedTimeout) {
    HUB_PANIC("sim: connect is not simulated yet");
}

}  // namespace hub::sim
