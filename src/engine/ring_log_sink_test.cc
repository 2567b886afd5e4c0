// ring_log_sink_test.cc -- several shards' log lines on one stderr, none lost or torn.
//
// Method: fd 2 is pointed (dup2) at a temporary regular file opened without O_APPEND, or at
// a pipe drained by a reader thread; writer_count threads each run a RingLogSink on their
// own io_uring, as shards do, and write lines_per_writer numbered lines. Afterwards every
// line must be present exactly once and whole. The regular file is the "hubd 2>file" case
// that lost lines before base::log_prepare_stderr() set O_APPEND; the pipe checks that no
// ring write is longer than PIPE_BUF (a longer one may interleave with another writer's).
#include "engine/ring_log_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "engine/ring_setup.h"
#include "gtest/gtest.h"

namespace hub::engine {
namespace {

constexpr int writer_count = 4;
constexpr int lines_per_writer = 4000;
constexpr int lines_per_turn = 50;  // Lines written between two flushes, as in a busy shard.

// One shard's worth of logging: its own ring and sink, lines flushed once per "turn".
void write_lines(int writer) {
    io_uring ring_storage{};
    ASSERT_TRUE(setup_ring(ring_storage, 64));
    Ring ring(ring_storage);
    RingLogSink sink(ring);
    int written = 0;
    for (int turn = 0; turn < 100000 && (written < lines_per_writer || sink.writing()); turn++) {
        for (int i = 0; i < lines_per_turn && written < lines_per_writer; i++, written++) {
            // Lines of different lengths, so that batches end at different places.
            sink.write_line(fmt::format("hubd[1]: info: writer={} line={} {}\n", writer, written,
                                        std::string(static_cast<std::size_t>(written % 97), 'x')));
        }
        sink.flush();
        io_uring_submit_and_wait(&ring_storage, 1);
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(&ring_storage, &cqe) == 0) {
            int result = cqe->res;
            io_uring_cqe_seen(&ring_storage, cqe);
            sink.on_write_done(result);
        }
    }
    sink.drain_blocking();
    EXPECT_EQ(sink.dropped_lines_for_test(), 0u);
    io_uring_queue_exit(&ring_storage);
}

void run_writers() {
    std::vector<std::thread> writers;
    for (int writer = 0; writer < writer_count; writer++) {
        writers.emplace_back(write_lines, writer);
    }
    for (std::thread& thread : writers) {
        thread.join();
    }
}

// Every expected line exactly once, each whole, nothing else.
void expect_all_lines(const std::string& text) {
    ASSERT_TRUE(text.empty() || text.back() == '\n');
    std::set<std::string> seen;
    std::size_t start = 0;
    std::size_t torn = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        std::string line = text.substr(start, end - start);
        start = end + 1;
        int writer = -1;
        int number = -1;
        if (std::sscanf(line.c_str(), "hubd[1]: info: writer=%d line=%d", &writer, &number) != 2 ||
            line != fmt::format("hubd[1]: info: writer={} line={} {}", writer, number,
                                std::string(static_cast<std::size_t>(number % 97), 'x'))) {
            torn++;
            continue;
        }
        EXPECT_TRUE(seen.insert(line).second) << "twice: " << line;
    }
    EXPECT_EQ(torn, 0u);
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(writer_count * lines_per_writer));
}

// Points fd 2 at `fd` for the test's lifetime (gtest's own output goes to stdout).
class StderrRedirect {
public:
    explicit StderrRedirect(int fd) : saved_(dup(STDERR_FILENO)) { dup2(fd, STDERR_FILENO); }
    ~StderrRedirect() {
        dup2(saved_, STDERR_FILENO);
        close(saved_);
    }

private:
    int saved_;
};

TEST(RingLogSink, RegularFileWithoutAppendLosesNothing) {
    char path[] = "/tmp/ring-log-sink-test-XXXXXX";
    int fd = mkstemp(path);  // O_RDWR, no O_APPEND: "hubd 2>file".
    ASSERT_GE(fd, 0);
    {
        StderrRedirect redirect(fd);
        base::log_prepare_stderr();
        EXPECT_NE(fcntl(STDERR_FILENO, F_GETFL) & O_APPEND, 0);
        EXPECT_GT(base::log_write_bytes_max(), std::size_t{PIPE_BUF});
        run_writers();
    }
    std::string text;
    char buffer[65536];
    ssize_t got = 0;
    while ((got = pread(fd, buffer, sizeof(buffer), static_cast<off_t>(text.size()))) > 0) {
        text.append(buffer, static_cast<std::size_t>(got));
    }
    close(fd);
    unlink(path);
    expect_all_lines(text);
}

TEST(RingLogSink, PipeLinesNeverInterleave) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    std::string text;
    std::thread reader([&] {
        char buffer[65536];
        ssize_t got = 0;
        while ((got = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) {
            text.append(buffer, static_cast<std::size_t>(got));
        }
    });
    {
        StderrRedirect redirect(pipe_fds[1]);
        base::log_prepare_stderr();  // A pipe: left as it is, writes of PIPE_BUF at most.
        EXPECT_EQ(base::log_write_bytes_max(), std::size_t{PIPE_BUF});
        run_writers();
    }
    close(pipe_fds[1]);
    reader.join();
    close(pipe_fds[0]);
    expect_all_lines(text);
}

}  // namespace
}  // namespace hub::engine
