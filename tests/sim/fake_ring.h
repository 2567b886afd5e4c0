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
#include "engine/ring_setup.h"

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

// Per-mille probabilities of the network's faults and slowness.
struct NetworkRates {
    unsigned reset = 4;      // A connection step resets the connection instead.
    unsigned partial = 300;  // A send or a delivery moves only a seeded part.
    unsigned refuse = 50;    // An outbound connect is refused.
};

// One simulated TCP connection between the hub (its fd) and a simulated peer (a client
// that connected to a listener, or a partner the hub connected to). The peer side reads
// to_peer and appends to to_hub directly; the hub side goes through the ring.
struct Pipe {
    int hub_fd = -1;
    bool outbound = false;     // The hub connected (to a partner).
    sockaddr_storage peer{};   // The client's address, or the partner's.
    int listener_fd = -1;      // Inbound: the listener it connects to.
    bool accepted = false;     // Inbound: the hub's accept completed.
    std::string to_hub;        // Sent by the peer, not yet received by the hub.
    std::string to_peer;       // Sent by the hub, not yet read by the peer.
    bool peer_closed = false;  // The peer sent FIN (after to_hub drains the hub sees 0).
    bool hub_closed = false;   // The hub shut down and closed its fd.
    bool reset = false;        // Either side sees ECONNRESET from now on.
    bool peer_reads = true;    // False: a slow peer that does not read for a while.
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
    // what the disk may hold. The ring is unusable afterwards, except in shard mode, where
    // it is the next process's ring: the network resets every connection of the dead one.
    void crash();
    // A file of the directory opened read-only outside the ring, as hubd opens recovered
    // segments at start; the ring then serves reads, punches and the close on it.
    int open_existing(const std::string& name);

    // ---- The simulated network and clock (for a whole Shard on this ring).
    // In shard mode submit_and_wait never runs operations itself: the simulation decides
    // what happens next (step, network_step, advance_clock).
    void set_shard_mode(engine::BufferRingMemory* receive_buffers, NetworkRates rates);
    void set_faults(FaultRates faults, NetworkRates network) {
        faults_ = faults;
        network_ = network;
    }
    std::uint64_t now_ms() const { return now_ms_; }
    // The next armed timer's time, or UINT64_MAX.
    std::uint64_t next_timer_ms() const;
    // Moves the clock to ms (never back) and fires the timers due by then.
    void advance_clock(std::uint64_t ms);
    // A listening socket the hub's shard accepts on.
    int listener(std::uint16_t port);
    // A client connects to listener from address: the hub accepts it when its accept is
    // armed and the network steps. Returns the pipe's id.
    int client_connect(int listener_fd, const sockaddr_storage& from);
    Pipe* pipe(int id);
    // Pipes the hub opened with connect() since the last call (the partners take them).
    std::vector<int> take_new_outbound();
    // Completes one ready network event (an accept, a delivery of bytes to an armed recv,
    // a send, an end of stream or a reset), chosen by the seed; false if none is ready.
    bool network_step();
    // Resets a connection (both sides see ECONNRESET).
    void reset(int id);
    // Socket fds the hub holds (opened and not yet closed).
    std::size_t open_sockets() const;
    bool peer_address(int fd, sockaddr_storage& peer) const;

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
    void rescan();  // Every file in the directory counts as durable, contents and entry.
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

    // Network and clock (shard mode).
    static constexpr int socket_fd_base = 1 << 20;    // Never a real fd: no mix-up possible.
    static constexpr int no_completion = -1'000'000;  // run(): armed, completes later.
    struct Timer {
        engine::Tag tag;
        std::uint64_t due_ms = 0;
    };
    struct PendingSend {
        engine::Tag tag;
        int fd = -1;
        std::span<const char> bytes;
        engine::Tag timeout_tag;
        std::uint64_t timeout_due_ms = 0;  // 0: no linked timeout.
    };
    struct PendingConnect {
        engine::Tag tag;
        engine::Tag timeout_tag;
        int fd = -1;
        bool refused = false;
    };
    bool is_socket(int fd) const { return fd >= socket_fd_base; }
    void complete(engine::Tag tag, int result, std::uint32_t flags = 0);
    void close_socket(int fd);

    bool shard_mode_ = false;
    engine::BufferRingMemory* receive_buffers_ = nullptr;
    std::uint16_t buffer_head_ = 0;  // The next provided buffer to take.
    NetworkRates network_{};
    std::uint64_t now_ms_ = 0;
    int next_socket_fd_ = socket_fd_base;
    std::map<int, std::uint16_t> listeners_;    // fd -> port.
    std::map<int, engine::Tag> armed_accepts_;  // listener fd -> tag.
    std::map<int, engine::Tag> armed_recvs_;    // socket fd -> tag.
    std::map<int, Pipe> pipes_;                 // By the hub's fd (= the pipe id).
    std::set<int> unconnected_sockets_;         // socket() done, no connect yet.
    std::vector<Timer> timers_;
    std::vector<PendingSend> sends_;
    std::vector<PendingConnect> connects_;
    std::vector<int> new_outbound_;
};

}  // namespace hub::sim
