// spool_test_support.h -- what the spool writer's and the compactor's tests share (tests
// only): a spool directory with a real io_uring, the test message's envelope, streamed
// content whose every line names its position, and one turn of the ring.
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/ring.h"
#include "engine/ring_setup.h"
#include "gtest/gtest.h"
#include "spool/spool_format.h"

namespace hub::engine {

// A fixture with <tmp>/shard-0 open as dir_fd_ and a 64-entry ring; both go at the end.
class SpoolOnRingTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/spool-on-ring-test-XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        root_ = pattern;
        std::filesystem::create_directories(root_ + "/shard-0");
        dir_fd_ = open((root_ + "/shard-0").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_GE(dir_fd_, 0);
        ASSERT_TRUE(setup_ring(ring_storage_, 64));
    }
    void TearDown() override {
        io_uring_queue_exit(&ring_storage_);
        close(dir_fd_);
        std::filesystem::remove_all(root_);
    }

    bool segment_exists(std::uint32_t seq) const {
        return std::filesystem::exists(root_ + "/" + spool::segment_relative_path(0, seq));
    }

    // The envelope every test message has: alice at partner1 to joe at partner2's hub name.
    static spool::MessageMeta test_meta(const spool::QueueId& id) {
        spool::MessageMeta meta;
        meta.id = id;
        meta.arrival_unix_s = 1700000000;
        meta.client_address = "127.0.0.1";
        meta.envelope.mail_from = "alice@partner1.gov.uk";
        meta.envelope.recipients.push_back({"joe@partner2.gov.uk.lgolhub.net", 0, ""});
        return meta;
    }

    // Content of `bytes` bytes whose every line names its position, so that a slice out of
    // place would not compare equal.
    static std::string numbered_content(std::size_t bytes, char tag) {
        std::string content =
            "Received: test\r\nMessage-ID: <s" + std::string(1, tag) + "@test>\r\n\r\n";
        for (std::size_t line = 0; content.size() < bytes; line++) {
            content += std::string(1, tag) + std::to_string(line) + std::string(60, '.') + "\r\n";
        }
        content.resize(bytes - 2);
        content += "\r\n";
        return content;
    }

    // One turn of the ring: waits for a completion and hands every one to
    // complete(tag, result).
    template <typename Complete>
    void turn(Complete&& complete) {
        io_uring_submit_and_wait(&ring_storage_, 1);
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(&ring_storage_, &cqe) == 0) {
            Tag tag = Tag::unpack(cqe->user_data);
            int result = cqe->res;
            io_uring_cqe_seen(&ring_storage_, cqe);
            complete(tag, result);
        }
    }

    // Hands completions to complete(tag, result) until none arrives for 200 ms (a writer
    // may be waiting for its tick, which a blocking wait would wait for in vain), calling
    // after_batch() after each batch.
    template <typename Complete, typename AfterBatch>
    void settle_ring(Complete&& complete, AfterBatch&& after_batch) {
        for (int batch = 0; batch < 10000; batch++) {
            io_uring_submit(&ring_storage_);
            __kernel_timespec wait{0, 200 * 1000 * 1000};
            io_uring_cqe* cqe = nullptr;
            if (io_uring_wait_cqe_timeout(&ring_storage_, &cqe, &wait) != 0) {
                break;
            }
            while (io_uring_peek_cqe(&ring_storage_, &cqe) == 0) {
                Tag tag = Tag::unpack(cqe->user_data);
                int result = cqe->res;
                io_uring_cqe_seen(&ring_storage_, cqe);
                complete(tag, result);
            }
            after_batch();
        }
    }

    std::string root_;
    int dir_fd_ = -1;
    io_uring ring_storage_{};
    Ring ring_{ring_storage_};
};

}  // namespace hub::engine
