// ring_test.cc -- the typed operations against a real io_uring, and the operation list.
//
// Method: each typed operation is submitted on a small real ring against a tmpfile, a pipe,
// a socketpair or a loopback listener (cheap, local, no waiting on the network), and its
// completion must come back with the tag it was given and the result the kernel reports.
// Every wait is bounded (a 2 s timeout). The table tests check what the static_asserts
// cannot say alone: no opcode twice, and that every Op maps to an entry.
#include "engine/ring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "engine/kernel_features.h"
#include "engine/ring_setup.h"

namespace hub::engine {
namespace {

class RingTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(setup_ring(storage_, 16)); }
    void TearDown() override { io_uring_queue_exit(&storage_); }

    // Submits and collects completions until count have arrived (each wait at most 2 s).
    std::vector<Completion> complete(std::size_t count) {
        std::vector<Completion> all;
        for (int turn = 0; turn < 8 && all.size() < count; turn++) {
            io_uring_submit(&storage_);
            __kernel_timespec wait{.tv_sec = 2, .tv_nsec = 0};
            io_uring_cqe* cqe = nullptr;
            if (io_uring_wait_cqe_timeout(&storage_, &cqe, &wait) != 0) {
                break;
            }
            Completion taken[8];
            unsigned got = ring_.take_completions(taken);
            all.insert(all.end(), taken, taken + got);
        }
        return all;
    }

    Completion complete_one() {
        std::vector<Completion> all = complete(1);
        EXPECT_EQ(all.size(), 1u);
        return all.empty() ? Completion{} : all[0];
    }

    int scratch_file() {
        char path[] = "/tmp/hub-ring-test-XXXXXX";
        int fd = mkstemp(path);
        EXPECT_GE(fd, 0);
        unlink(path);
        return fd;
    }

    io_uring storage_{};
    Ring ring_{storage_};
};

TEST_F(RingTest, WriteThenReadAFile) {
    int fd = scratch_file();
    std::string text = "hello, ring";
    ASSERT_TRUE(ring_.write(Tag{Op::log_write, 5, 9}, fd, text, 0, Link::none));
    Completion written = complete_one();
    EXPECT_EQ(written.tag.op, Op::log_write);
    EXPECT_EQ(written.tag.index, 5u);
    EXPECT_EQ(written.tag.generation, 9u);
    EXPECT_EQ(written.result, static_cast<int>(text.size()));

    std::string back(5, '\0');
    ASSERT_TRUE(ring_.read(Tag{Op::record_read, 1, 2}, fd, std::span<char>(back), 7));
    Completion read = complete_one();
    EXPECT_EQ(read.tag.op, Op::record_read);
    EXPECT_EQ(read.result, 4);  // Only "ring" lies beyond offset 7.
    EXPECT_EQ(back.substr(0, 4), "ring");
    ::close(fd);
}

TEST_F(RingTest, WriteLinkedToDataSyncRunsBoth) {
    int fd = scratch_file();
    std::string text(4096, 'x');
    ASSERT_TRUE(ring_.write(Tag{Op::log_write, 0, 0}, fd, text, 0, Link::next));
    ASSERT_TRUE(ring_.fsync(Tag{Op::spool_sync, 0, 0}, fd, SyncKind::data_only, Link::none));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].tag.op, Op::log_write);
    EXPECT_EQ(all[0].result, 4096);
    EXPECT_EQ(all[1].tag.op, Op::spool_sync);
    EXPECT_EQ(all[1].result, 0);
    ::close(fd);
}

// The spool writer's batch: small records and a large body where it lies, one write.
TEST_F(RingTest, VectoredWriteGathersItsPiecesLinkedToTheSync) {
    int fd = scratch_file();
    std::string head = "head:";
    std::string body(300 * 1024, 'b');
    std::string tail = ":tail";
    std::vector<iovec> pieces = {
        {head.data(), head.size()}, {body.data(), body.size()}, {tail.data(), tail.size()}};
    ASSERT_TRUE(ring_.write_vectored(Tag{Op::spool_write, 3, 4}, fd, pieces, 16, Link::next));
    ASSERT_TRUE(ring_.fsync(Tag{Op::spool_sync, 0, 0}, fd, SyncKind::data_only, Link::none));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].tag.op, Op::spool_write);
    EXPECT_EQ(all[0].tag.index, 3u);
    EXPECT_EQ(all[0].result, static_cast<int>(head.size() + body.size() + tail.size()));
    EXPECT_EQ(all[1].result, 0);
    std::string back(head.size() + body.size() + tail.size(), '\0');
    ASSERT_EQ(pread(fd, back.data(), back.size(), 16), static_cast<ssize_t>(back.size()));
    EXPECT_TRUE(back == head + body + tail);
    ::close(fd);
}

TEST_F(RingTest, FailedLinkCancelsTheSync) {
    // A write to a read-only descriptor fails, so the linked sync must not run.
    int fd = scratch_file();
    int read_only = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(read_only, 0);
    ASSERT_TRUE(ring_.write(Tag{Op::log_write, 0, 0}, read_only, "x", 0, Link::next));
    ASSERT_TRUE(ring_.fsync(Tag{Op::spool_sync, 0, 0}, read_only, SyncKind::data_only, Link::none));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].result, -EBADF);
    EXPECT_EQ(all[1].result, -ECANCELED);
    ::close(read_only);
    ::close(fd);
}

TEST_F(RingTest, PunchHoleAndMetadataSync) {
    int fd = scratch_file();
    std::string text(8192, 'y');
    ASSERT_EQ(pwrite(fd, text.data(), text.size(), 0), 8192);
    ASSERT_TRUE(ring_.punch_hole(Tag{Op::spool_punch, 0, 0}, fd, 0, 4096, Link::next));
    ASSERT_TRUE(
        ring_.fsync(Tag{Op::spool_sync, 1, 0}, fd, SyncKind::data_and_metadata, Link::none));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].result, 0);
    EXPECT_EQ(all[1].result, 0);
    char first = 'y';
    ASSERT_EQ(pread(fd, &first, 1, 0), 1);
    EXPECT_EQ(first, '\0');
    ::close(fd);
}

TEST_F(RingTest, OpenatUnlinkatAndClose) {
    char directory[] = "/tmp/hub-ring-dir-XXXXXX";
    ASSERT_NE(mkdtemp(directory), nullptr);
    int dir_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_fd, 0);
    ASSERT_TRUE(ring_.openat(Tag{Op::spool_open, 0, 0}, dir_fd, "segment",
                             O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    Completion opened = complete_one();
    ASSERT_GE(opened.result, 0);
    ASSERT_TRUE(ring_.close(Tag{Op::spool_close, 0, 0}, opened.result));
    EXPECT_EQ(complete_one().result, 0);
    ASSERT_TRUE(ring_.unlinkat(Tag{Op::spool_unlink, 0, 0}, dir_fd, "segment", Link::next));
    ASSERT_TRUE(ring_.fsync(Tag{Op::spool_remove_sync, 0, 0}, dir_fd, SyncKind::data_and_metadata,
                            Link::none));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].result, 0);
    EXPECT_EQ(all[1].result, 0);
    EXPECT_NE(faccessat(dir_fd, "segment", F_OK, 0), 0);
    ::close(dir_fd);
    rmdir(directory);
}

TEST_F(RingTest, TimeoutExpires) {
    __kernel_timespec after{.tv_sec = 0, .tv_nsec = 1000000};
    ASSERT_TRUE(ring_.timeout(Tag{Op::tick, 0, 0}, after));
    Completion expired = complete_one();
    EXPECT_EQ(expired.tag.op, Op::tick);
    EXPECT_EQ(expired.result, -ETIME);
}

TEST_F(RingTest, MadviseDropsPages) {
    constexpr std::size_t bytes = 4096;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    ASSERT_NE(memory, MAP_FAILED);
    static_cast<char*>(memory)[0] = 'z';
    ASSERT_TRUE(ring_.madvise(Tag{Op::release_buffers, 0, 0}, memory, bytes, MADV_DONTNEED));
    EXPECT_EQ(complete_one().result, 0);
    EXPECT_EQ(static_cast<char*>(memory)[0], '\0');  // Zero page on the next touch.
    munmap(memory, bytes);
}

TEST_F(RingTest, SendWithLinkedTimeoutAndMultishotRecvWithProvidedBuffers) {
    BufferRingMemory buffers;
    ASSERT_TRUE(register_buffer_ring(storage_, buffers, 4, 64, 3));
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ASSERT_TRUE(ring_.recv_multishot(Tag{Op::recv, 2, 1}, pair[1], 3));
    __kernel_timespec after{.tv_sec = 2, .tv_nsec = 0};
    std::string text = "EHLO x\r\n";
    ASSERT_TRUE(ring_.send(Tag{Op::send, 2, 1}, pair[0], text,
                           LinkedTimeout{Tag{Op::send_timeout, 2, 1}, &after}));
    std::vector<Completion> all = complete(3);  // send, its cancelled timeout, one recv.
    ASSERT_EQ(all.size(), 3u);
    int checked = 0;
    for (const Completion& completion : all) {
        if (completion.tag.op == Op::send) {
            EXPECT_EQ(completion.result, static_cast<int>(text.size()));
            checked++;
        } else if (completion.tag.op == Op::send_timeout) {
            EXPECT_EQ(completion.result, -ECANCELED);  // The send won.
            checked++;
        } else if (completion.tag.op == Op::recv) {
            EXPECT_EQ(completion.result, static_cast<int>(text.size()));
            EXPECT_NE(completion.flags & IORING_CQE_F_MORE, 0u);
            ASSERT_NE(completion.flags & IORING_CQE_F_BUFFER, 0u);
            auto id = static_cast<std::uint16_t>(completion.flags >> IORING_CQE_BUFFER_SHIFT);
            EXPECT_EQ(std::string(buffers.buffers + id * buffers.buffer_bytes, text.size()), text);
            checked++;
        }
    }
    EXPECT_EQ(checked, 3);
    ::close(pair[0]);
    ::close(pair[1]);
    complete(1);  // The recv ends (no F_MORE) now the peer is gone.
    unregister_buffer_ring(storage_, buffers, 3);
}

TEST_F(RingTest, CancelEndsAMultishotRecv) {
    BufferRingMemory buffers;
    ASSERT_TRUE(register_buffer_ring(storage_, buffers, 4, 64, 3));
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ASSERT_TRUE(ring_.recv_multishot(Tag{Op::recv, 4, 6}, pair[1], 3));
    io_uring_submit(&storage_);
    ASSERT_TRUE(ring_.cancel(Tag{Op::cancel_recv, 4, 6}, Tag{Op::recv, 4, 6}));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    for (const Completion& completion : all) {
        if (completion.tag.op == Op::cancel_recv) {
            EXPECT_EQ(completion.result, 0);
        } else {
            EXPECT_EQ(completion.tag.op, Op::recv);
            EXPECT_EQ(completion.result, -ECANCELED);
            EXPECT_EQ(completion.flags & IORING_CQE_F_MORE, 0u);
        }
    }
    ::close(pair[0]);
    ::close(pair[1]);
    unregister_buffer_ring(storage_, buffers, 3);
}

TEST_F(RingTest, SocketConnectAcceptAndShutdownClose) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);

    ASSERT_TRUE(ring_.socket(Tag{Op::out_socket, 1, 1}, AF_INET, SOCK_STREAM | SOCK_CLOEXEC));
    Completion made = complete_one();
    EXPECT_EQ(made.tag.op, Op::out_socket);
    ASSERT_GE(made.result, 0);
    int client = made.result;

    ASSERT_TRUE(ring_.accept_multishot(Tag{Op::accept, 0, 0}, listener));
    __kernel_timespec after{.tv_sec = 2, .tv_nsec = 0};
    ASSERT_TRUE(ring_.connect(Tag{Op::out_connect, 1, 1}, client,
                              reinterpret_cast<const sockaddr*>(&address), length,
                              LinkedTimeout{Tag{Op::out_connect_timeout, 1, 1}, &after}));
    std::vector<Completion> all = complete(3);  // connect, its cancelled timeout, accept.
    ASSERT_EQ(all.size(), 3u);
    int accepted = -1;
    for (const Completion& completion : all) {
        switch (completion.tag.op) {
            case Op::out_connect:
                EXPECT_EQ(completion.result, 0);
                break;
            case Op::out_connect_timeout:
                EXPECT_EQ(completion.result, -ECANCELED);
                break;
            case Op::accept:
                EXPECT_GE(completion.result, 0);
                EXPECT_NE(completion.flags & IORING_CQE_F_MORE, 0u);
                accepted = completion.result;
                break;
            default:
                ADD_FAILURE() << "unexpected completion";
        }
    }
    ASSERT_GE(accepted, 0);

    // The shutdown completes silently; the close reports under the tag given.
    ASSERT_TRUE(ring_.shutdown_and_close(Tag{Op::close_socket, 1, 1}, client));
    Completion closed = complete_one();
    EXPECT_EQ(closed.tag.op, Op::close_socket);
    EXPECT_EQ(closed.result, 0);
    char byte = 0;
    EXPECT_EQ(::read(accepted, &byte, 1), 0);  // The peer saw our FIN.
    ::close(accepted);
    ::close(listener);
}

TEST_F(RingTest, ConnectTimesOutThroughItsLinkedTimeout) {
    // A listener with a full backlog and no accept: a SYN to it is never answered.
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(listen(listener, 0), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    std::vector<int> fillers;
    for (int filler = 0; filler < 4; filler++) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), length);
        fillers.push_back(fd);
    }
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    __kernel_timespec after{.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    ASSERT_TRUE(ring_.connect(Tag{Op::out_connect, 1, 1}, client,
                              reinterpret_cast<const sockaddr*>(&address), length,
                              LinkedTimeout{Tag{Op::out_connect_timeout, 1, 1}, &after}));
    std::vector<Completion> all = complete(2);
    ASSERT_EQ(all.size(), 2u);
    for (const Completion& completion : all) {
        if (completion.tag.op == Op::out_connect) {
            EXPECT_EQ(completion.result, -ECANCELED);
        } else {
            EXPECT_EQ(completion.tag.op, Op::out_connect_timeout);
            EXPECT_EQ(completion.result, -ETIME);
        }
    }
    ::close(client);
    for (int fd : fillers) {
        ::close(fd);
    }
    ::close(listener);
}

TEST_F(RingTest, AFullQueueIsSubmittedAndChainsAreNeverSplit) {
    // 16 entries: queue far more linked pairs than fit; every one must complete, linked.
    // One lone entry first, so that a pair would straddle the full queue (entries 16 and 17)
    // if the ring only submitted when it ran out.
    int fd = scratch_file();
    ASSERT_TRUE(ring_.write(Tag{Op::log_write, 99, 0}, fd, "ab", 200, Link::none));
    constexpr int pairs = 40;
    for (int pair = 0; pair < pairs; pair++) {
        ASSERT_TRUE(ring_.write(Tag{Op::log_write, static_cast<std::uint32_t>(pair), 0}, fd, "ab",
                                static_cast<std::uint64_t>(pair) * 2, Link::next));
        ASSERT_TRUE(ring_.fsync(Tag{Op::spool_sync, static_cast<std::uint32_t>(pair), 0}, fd,
                                SyncKind::data_only, Link::none));
        // Any submit came before the pair's head, so both entries still wait in the queue.
        EXPECT_GE(io_uring_sq_ready(&storage_), 2u) << "a chain was split across a submit";
    }
    constexpr std::size_t expected = 2 * pairs + 1;
    std::vector<Completion> all = complete(expected);
    for (int turn = 0; turn < 8 && all.size() < expected; turn++) {
        std::vector<Completion> more = complete(expected - all.size());
        all.insert(all.end(), more.begin(), more.end());
    }
    ASSERT_EQ(all.size(), expected);
    for (const Completion& completion : all) {
        EXPECT_GE(completion.result, 0);
    }
    ::close(fd);
}

TEST(RingOperations, EveryEntryIsInTheApplianceKernelAndNamedOnce) {
    std::set<int> opcodes;
    std::set<std::string> names;
    for (const RingOperationInfo& info : ring_operations) {
        EXPECT_TRUE(not_newer_than(info.since, KernelVersion{6, 1})) << info.name;
        EXPECT_TRUE(opcodes.insert(info.opcode).second) << "opcode listed twice: " << info.name;
        EXPECT_TRUE(names.insert(info.name).second) << info.name;
        EXPECT_EQ(&ring_operation_info(info.operation), &info);
    }
    EXPECT_EQ(opcodes.size(), ring_operation_count);
}

TEST(RingOperations, EveryOpMapsToAnEntryAndEveryEntryIsUsed) {
    std::set<RingOperation> used;
    for (unsigned value = 0; value <= static_cast<unsigned>(Op::out_connect_timeout); value++) {
        RingOperation operation = operation_of(static_cast<Op>(value));
        ASSERT_LT(static_cast<std::size_t>(operation), ring_operation_count);
        used.insert(operation);
    }
    EXPECT_EQ(used.size(), ring_operation_count) << "an entry no Op submits";
}

TEST(RingOperations, FeatureTableHoldsEveryOperationAndSetupFeature) {
    std::set<std::string> features;
    for (const RingFeature& feature : ring_features_used) {
        EXPECT_TRUE(not_newer_than(feature.since, appliance_kernel)) << feature.name;
        EXPECT_TRUE(features.insert(feature.name).second) << "listed twice: " << feature.name;
    }
    for (const RingOperationInfo& info : ring_operations) {
        EXPECT_EQ(features.count(info.name), 1u) << info.name;
    }
    EXPECT_EQ(features.count("IORING_SETUP_DEFER_TASKRUN"), 1u);
}

TEST(RingOperations, VersionComparison) {
    struct Case {
        KernelVersion version;
        bool in_6_1;
    };
    const Case cases[] = {{{5, 1}, true},  {{6, 0}, true},  {{6, 1}, true},
                          {{6, 2}, false}, {{7, 0}, false}, {{5, 19}, true}};
    for (const Case& c : cases) {
        EXPECT_EQ(not_newer_than(c.version, appliance_kernel), c.in_6_1)
            << c.version.major << "." << c.version.minor;
    }
}

TEST(RingOperations, KernelHasEveryFeature) {
    EXPECT_TRUE(check_kernel_features());
}

}  // namespace
}  // namespace hub::engine
