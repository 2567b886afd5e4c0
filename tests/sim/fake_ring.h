// fake_ring.h -- a deterministic io_uring for the simulator: engine::RingOps on real files in
// a per-run directory, completing in a seeded order, injecting faults, modelling durability.
//
// Single-threaded and driven by the simulation: submissions queue until submit_and_wait,
// which makes them in flight as chains (IOSQE_IO_LINK); step() runs the head operation of
// one chain chosen by the seed, for real, and queues its completion. A failed or short link
// cancels the rest of its chain with -ECANCELED, as the kernel does.
//
// Durability: every file has a shadow copy of its synced image (updated when an fdatasync
// or fsync of it completes) and a durable directory entry (updated when an fsync of the
// directory completes). crash() closes every fd and rewrites the directory to what a power
// cut may leave: unsynced creations vanish, unsynced deletions come back, and each file
// keeps its synced image overlaid with a seeded prefix of the bytes written since (a torn
// tail; often none of them). Nothing depends on the wall clock: one seed, one run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/ring.h"

namespace hub::sim {

// Per-mille probabilities of each injected fault.
struct FaultRates {
    unsigned short_write = 20;  // The write stops after a seeded part of its bytes.
    unsigned no_space = 20;     // The write fails with -ENOSPC before writing.
    unsigned sync_eio = 20;     // The fdatasync fails with -EIO; nothing becomes durable.
    unsigned punch_eio = 10;    // The punch fails with -EIO.
    unsigned open_no_space = 10;
    unsigned unlink_eio = 10;
};

class FakeRing final : public engine::RingOps {
public:
    // dir: an existing directory the run owns; files already in it count as durable.
    FakeRing(std::uint64_t seed, const std::string& dir, FaultRates faults, bool trace);
    ~FakeRing() override;

    int dir_fd() const { return dir_fd_; }
    // A number in [0, bound) from the run's generator.
    std::uint64_t below(std::uint64_t bound);

    // Runs the head operation of one in-flight chain; false if none is in flight.
    bool step();
    bool busy() const { return !chains_.empty() || !queued_.empty(); }
    // Regular files this ring has open (not counting the directory), and of those the
    // ones whose close is not yet queued: what the caller still holds.
    std::size_t open_files() const { return files_by_fd_.size(); }
    std::size_t held_files() const { return files_by_fd_.size() - closing_fds_.size(); }
    std::size_t unlinks_done() const { return unlinks_done_; }

    // A power cut: every fd closed, pending operations lost, the directory rewritten to
    // what the disk may hold. The ring is unusable afterwards.
    void crash();

    bool accept_multishot(engine::Tag tag, int listener_fd) override;
    bool recv_multishot(engine::Tag tag, int socket_fd, std::uint16_t buffer_group) override;
    bool send(engine::Tag tag, int socket_fd, std::span<const char> bytes,
              engine::LinkedTimeout timeout) override;
    bool timeout(engine::Tag tag, const __kernel_timespec& after) override;
    bool cancel(engine::Tag tag, engine::Tag target) override;
    bool read(engine::Tag tag, int fd, std::span<char> into, std::uint64_t offset) override;
    bool write(engine::Tag tag, int fd, std::span<const char> bytes, std::uint64_t offset,
               engine::Link link) override;
    bool write_vectored(engine::Tag tag, int fd, std::span<const iovec> pieces,
                        std::uint64_t offset, engine::Link link) override;
    bool fsync(engine::Tag tag, int fd, engine::SyncKind kind, engine::Link link) override;
    bool punch_hole(engine::Tag tag, int fd, std::uint64_t offset, std::uint64_t bytes,
                    engine::Link link) override;
    bool openat(engine::Tag tag, int dir_fd, const char* path, int flags, unsigned mode) override;
    bool close(engine::Tag tag, int fd) override;
    bool shutdown_and_close(engine::Tag tag, int socket_fd) override;
    bool unlinkat(engine::Tag tag, int dir_fd, const char* path, engine::Link link) override;
    bool madvise(engine::Tag tag, void* address, std::size_t bytes, int advice) override;
    bool socket(engine::Tag tag, int domain, int type) override;
    bool connect(engine::Tag tag, int socket_fd, const sockaddr* address, socklen_t address_bytes,
                 engine::LinkedTimeout timeout) override;

    int submit_and_wait(unsigned wait_count) override;
    unsigned take_completions(std::span<engine::Completion> into) override;

private:
    // One queued operation: run() performs it and returns the completion's result.
    struct Operation {
        engine::Tag tag;
        engine::Link link = engine::Link::none;
        std::function<int()> run;
        std::size_t expected_bytes = 0;  // For a write: fewer is a short write (breaks a link).
        bool is_write = false;
    };
    // A file of the directory as the disk knows it.
    struct FileState {
        std::string synced;           // Contents covered by a completed sync.
        bool durable_exists = false;  // The directory entry survives a crash.
    };

    bool queue(engine::Tag tag, engine::Link link, std::function<int()> run);
    bool fail_roll(unsigned per_mille);
    std::string read_whole(const std::string& name) const;
    int run_write(int fd, std::span<const char> bytes, std::uint64_t offset);
    int run_fsync(int fd);
    void trace(const engine::Tag& tag, int result) const;

    std::mt19937_64 random_;
    std::string dir_;
    int dir_fd_ = -1;
    FaultRates faults_;
    bool trace_;
    std::vector<Operation> queued_;  // Not yet submitted.
    std::vector<std::deque<Operation>> chains_;
    std::deque<engine::Completion> completions_;
    std::map<int, std::string> files_by_fd_;
    std::set<int> closing_fds_;  // A close is queued or in flight.
    std::map<std::string, FileState> files_;
    std::size_t unlinks_done_ = 0;
};

}  // namespace hub::sim
