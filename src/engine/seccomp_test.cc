// seccomp_test.cc -- the allow-list hubd installs refuses what it does not list.
//
// Method: a forked child installs the very filter hubd installs (install_seccomp_filter)
// with its stderr on a pipe, then makes a call the list leaves out; the parent checks that
// the child died by SIGSYS and that its last words name the call. A second child makes
// only allowed calls and exits normally.
#include "engine/seccomp.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <cerrno>

#include <string>
#include <string_view>

namespace hub::engine {
namespace {

struct ChildOutcome {
    int status = 0;
    std::string stderr_text;
};

// Runs body in a child under the filter; body's return value is the exit code.
template <typename Body>
ChildOutcome run_filtered(Body body) {
    int pipe_fds[2];
    EXPECT_EQ(pipe(pipe_fds), 0);
    pid_t child = fork();
    if (child == 0) {
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || !install_seccomp_filter()) {
            _exit(90);
        }
        _exit(body());
    }
    close(pipe_fds[1]);
    ChildOutcome outcome;
    char chunk[512];
    for (int reads = 0; reads < 100; reads++) {  // Bounded: the child writes one line.
        ssize_t got = read(pipe_fds[0], chunk, sizeof chunk);
        if (got <= 0) {
            break;
        }
        outcome.stderr_text.append(chunk, static_cast<std::size_t>(got));
    }
    close(pipe_fds[0]);
    EXPECT_EQ(waitpid(child, &outcome.status, 0), child);
    return outcome;
}

TEST(Seccomp, ForbiddenCallsKillTheProcessNamingTheCall) {
    struct Case {
        std::string_view expected_line;
        int (*call)();
    };
    const Case cases[] = {
        {"hubd: fatal: seccomp: forbidden system call socket (41)\n",
         [] { return socket(AF_PACKET, SOCK_RAW, 0) >= 0 ? 0 : 1; }},
        {"hubd: fatal: seccomp: forbidden system call chdir (80)\n", [] { return chdir("/"); }},
        {"hubd: fatal: seccomp: forbidden system call setuid (105)\n",
         [] { return static_cast<int>(syscall(SYS_setuid, 0)); }},
        {"hubd: fatal: seccomp: forbidden system call execve (59)\n",
         [] {
             char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
             return execve("/bin/true", argv, nullptr);
         }},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.expected_line));
        if (c.expected_line.find("execve") != std::string_view::npos &&
            !sanitizer_system_calls().empty()) {
            continue;  // The sanitizer runtimes' symbolizer needs execve (seccomp.cc).
        }
        ChildOutcome outcome = run_filtered(c.call);
        ASSERT_TRUE(WIFSIGNALED(outcome.status)) << "status " << outcome.status;
        EXPECT_EQ(WTERMSIG(outcome.status), SIGSYS);
        EXPECT_EQ(outcome.stderr_text, c.expected_line);
    }
}

TEST(Seccomp, AllowedCallsWork) {
    ChildOutcome outcome = run_filtered([] {
        char buffer[8];
        bool ok = getpid() > 0 && syscall(SYS_getrandom, buffer, sizeof buffer, 0) == 8;
        ok = ok && write(STDERR_FILENO, "ok\n", 3) == 3;
        return ok ? 7 : 8;
    });
    ASSERT_TRUE(WIFEXITED(outcome.status))
        << "status " << outcome.status << " " << outcome.stderr_text;
    EXPECT_EQ(WEXITSTATUS(outcome.status), 7);
    EXPECT_EQ(outcome.stderr_text, "ok\n");
}

// A reload reads files on the supervisor thread: read-only opens work; an open that could
// write or create fails with EACCES (SQLite then reads read-only) instead of killing hubd.
TEST(Seccomp, ReadOnlyOpensOnly) {
    ChildOutcome outcome = run_filtered([] {
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        char buffer[16];
        bool ok = fd >= 0 && read(fd, buffer, sizeof buffer) > 0 && close(fd) == 0;
        if (sanitizer_system_calls().empty()) {  // Sanitizer builds allow any openat.
            for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_CREAT, O_RDONLY | O_TRUNC}) {
                errno = 0;
                int refused = open("/dev/null", flags | O_CLOEXEC, 0600);
                ok = ok && refused < 0 && errno == EACCES;
            }
        }
        return ok ? 7 : 8;
    });
    ASSERT_TRUE(WIFEXITED(outcome.status))
        << "status " << outcome.status << " " << outcome.stderr_text;
    EXPECT_EQ(WEXITSTATUS(outcome.status), 7);
}

TEST(Seccomp, ListNamesEveryCallOnceWithAReason) {
    std::vector<std::string_view> names;
    for (auto list : {allowed_system_calls(), sanitizer_system_calls()}) {
        for (const AllowedSystemCall& call : list) {
            EXPECT_NE(std::string_view(call.why), "") << call.name;
            for (std::string_view seen : names) {
                EXPECT_NE(seen, call.name);
            }
            names.push_back(call.name);
        }
    }
    EXPECT_GT(names.size(), 20u);
}

}  // namespace
}  // namespace hub::engine
