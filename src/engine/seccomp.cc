// seccomp.cc -- the system-call allow-list, installed after the privilege drop.
//
// PURPOSE   Shrink what a bug in a shard (TLS, SMTP parsing) can do: after start-up hubd
//           needs a few dozen system calls, so every other one kills the process.
// RUNS IN   hubd's main thread, once, after setuid and no_new_privs and after the control
//           socket exists; TSYNC applies the filter to every thread.
// TRUST     none: no input; the list is fixed at compile time.
// LIMITS    system_call_number_max names precomputed for the SIGSYS handler.
// SEE ALSO  docs/ARCHITECTURE.md ("System calls after the privilege drop"), programs/hubd.
//
// Note: io_uring operations (accept, recv, send, openat, write, fsync, connect ...) are
// not system calls of the thread and are not filtered by seccomp; the ring itself is
// created before the filter is needed and only io_uring_enter/register are listed. Which
// operations a ring may carry is decided by the code, not by this filter.
#include "engine/seccomp.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace hub::engine {
namespace {

// Clang spells sanitizer detection __has_feature, gcc __SANITIZE_ADDRESS__.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitizer_build = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitizer_build = true;
#else
constexpr bool sanitizer_build = false;
#endif
#else
constexpr bool sanitizer_build = false;
#endif

// Calls with no argument restriction. clone, clone3, tgkill and write get their own rules
// in install_seccomp_filter.
constexpr std::array allowed{
    AllowedSystemCall{"io_uring_enter", "every shard's submit and wait"},
    AllowedSystemCall{"io_uring_setup", "a shard's ring, made as the thread starts"},
    AllowedSystemCall{"io_uring_register", "a shard's provided buffer ring"},
    AllowedSystemCall{"getpeername", "once per accepted connection"},
    AllowedSystemCall{"getrandom", "wolfSSL seeds each TLS session's DRBG"},
    AllowedSystemCall{"setsockopt", "TCP_NODELAY on outbound sockets; SO_RCVTIMEO on hubctl's"},
    AllowedSystemCall{"mmap", "the allocator (mimalloc), thread stacks"},
    AllowedSystemCall{"munmap", "the allocator, thread stacks"},
    AllowedSystemCall{"madvise", "mi_collect returns memory on every tick"},
    AllowedSystemCall{"mprotect", "thread stack guard pages, the allocator"},
    AllowedSystemCall{"brk", "the C library's own allocations"},
    AllowedSystemCall{"futex", "mutexes and condition variables (control mailboxes)"},
    AllowedSystemCall{"clock_gettime", "clocks when the vDSO is not used"},
    AllowedSystemCall{"clock_nanosleep", "sleeps at start-up and stop"},
    AllowedSystemCall{"nanosleep", "sleeps at start-up and stop"},
    AllowedSystemCall{"sched_setaffinity", "a shard pins itself to its core"},
    AllowedSystemCall{"sched_getaffinity", "thread start-up in the C library"},
    AllowedSystemCall{"sched_yield", "spin-wait back-off in locks"},
    AllowedSystemCall{"set_robust_list", "every new thread"},
    AllowedSystemCall{"rseq", "every new thread"},
    AllowedSystemCall{"rt_sigprocmask", "thread start; abort(); the SIGSYS report"},
    AllowedSystemCall{"rt_sigtimedwait", "the supervisor waits for SIGTERM/SIGINT/SIGHUP"},
    AllowedSystemCall{"rt_sigreturn", "return from a signal handler"},
    AllowedSystemCall{"restart_syscall", "the kernel resumes a sleep a signal interrupted"},
    AllowedSystemCall{"statfs", "the supervisor polls spool free space (statvfs)"},
    AllowedSystemCall{"accept4", "the supervisor accepts hubctl on the control socket"},
    AllowedSystemCall{"recvfrom", "the supervisor reads hubctl's command line"},
    AllowedSystemCall{"sendto", "the supervisor answers hubctl"},
    AllowedSystemCall{"close", "hubctl connections; descriptors at stop"},
    AllowedSystemCall{"unlink", "the control socket at stop"},
    AllowedSystemCall{"getpid", "log lines; abort()"},
    AllowedSystemCall{"gettid", "abort() and the SIGSYS report"},
    AllowedSystemCall{"exit", "a thread ends"},
    AllowedSystemCall{"exit_group", "the process ends"},
    // A reload (reload.cc) reads hub.conf, partners.toml or the directory (SQLite, read
    // only) on the supervisor thread. Files are no wider open than before: a shard's ring
    // can read any file the hub user can (IORING_OP_OPENAT/READ), unseen by this filter.
    AllowedSystemCall{"read", "reload: hub.conf, partners.toml"},
    AllowedSystemCall{"pread64", "reload: SQLite reads the directory"},
    AllowedSystemCall{"lseek", "reload: the C++ file streams"},
    AllowedSystemCall{"newfstatat", "reload: file sizes and existence (SQLite, the loaders)"},
    AllowedSystemCall{"fstat", "reload: file sizes"},
    AllowedSystemCall{"access", "reload: SQLite checks that the -wal file exists"},
    AllowedSystemCall{"geteuid", "reload: SQLite asks whether it runs as root (file owners)"},
    // Restricted by argument below, listed here so the docs and the handler name them.
    AllowedSystemCall{"clone", "new threads only (CLONE_THREAD)"},
    AllowedSystemCall{"tgkill", "signals within this process only (abort, SIGSYS report)"},
    AllowedSystemCall{"write", "standard error only (log lines before a shard's ring)"},
    AllowedSystemCall{"openat",
                      "reload: read-only opens only; one for writing or creating fails with "
                      "EACCES, which SQLite answers by reading the directory read-only"},
    AllowedSystemCall{"fcntl", "reload: SQLite's shared locks (F_GETLK, F_SETLK) only"},
};

// Names add_plain_rules leaves to add_restricted_rules.
bool restricted(std::string_view name) {
    return name == "clone" || name == "tgkill" || name == "write" || name == "openat" ||
           name == "fcntl";
}

// What ASan/UBSan do besides: alternate signal stacks per thread, reading /proc/self/maps
// and the binary for reports, and LeakSanitizer's check at exit, which clones a tracer
// that ptrace-attaches every thread.
constexpr std::array sanitizer_extra{
    AllowedSystemCall{"sigaltstack", "ASan's per-thread signal stack"},
    AllowedSystemCall{"prctl", "ASan/LSan (PR_GET_DUMPABLE, PR_SET_PTRACER)"},
    AllowedSystemCall{"readlink", "report symbolisation (/proc/self/exe)"},
    AllowedSystemCall{"readlinkat", "report symbolisation"},
    // openat (any flags; /proc/self/maps and /proc/self/task at report time) and fcntl
    // lose their argument rules (add_restricted_rules); read, pread64, fstat, newfstatat,
    // lseek and access, which the runtimes also use, are on the main list.
    AllowedSystemCall{"getdents64", "LSan lists /proc/self/task"},
    AllowedSystemCall{"ptrace", "LSan stops every thread for the leak check"},
    AllowedSystemCall{"wait4", "LSan waits for its tracer"},
    AllowedSystemCall{"rt_sigaction", "ASan's and LSan's handlers"},
    AllowedSystemCall{"getppid", "LSan's tracer"},
    AllowedSystemCall{"kill", "LSan's tracer"},
    AllowedSystemCall{"sched_getparam", "LSan"},
    AllowedSystemCall{"getrlimit", "ASan at thread start"},
    AllowedSystemCall{"prlimit64", "ASan at thread start"},
    AllowedSystemCall{"uname", "ASan at report time"},
    AllowedSystemCall{"pipe2", "report symbolisation"},
    AllowedSystemCall{"execve", "report symbolisation (llvm-symbolizer)"},
    // The sanitizer runtime's own syscall wrappers use the legacy x86-64 numbers.
    AllowedSystemCall{"open", "LSan's tracer reads /proc/self/task"},
    AllowedSystemCall{"stat", "the sanitizer runtime"},
    AllowedSystemCall{"lstat", "the sanitizer runtime"},
    AllowedSystemCall{"getdents", "LSan's tracer lists threads"},
    AllowedSystemCall{"dup2", "report output"},
    AllowedSystemCall{"dup3", "report output"},
    AllowedSystemCall{"mremap", "the sanitizer allocator"},
    AllowedSystemCall{"waitid", "LSan waits for its tracer"},
    AllowedSystemCall{"process_vm_readv", "LSan reads thread registers"},
};

inline constexpr int system_call_number_max = 512;  // x86-64 numbers stay below 460.

// The SIGSYS handler's text, made before the filter exists: the handler may only copy
// bytes and call write(2).
std::array<const char*, system_call_number_max> call_names{};

void append(char*& out, const char* end, const char* text) {
    while (*text != '\0' && out < end) {
        *out++ = *text++;
    }
}

void append_number(char*& out, const char* end, long number) {
    char digits[24];
    int count = 0;
    unsigned long value =
        number < 0 ? 0ul - static_cast<unsigned long>(number) : static_cast<unsigned long>(number);
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0 && count < 20);
    if (number < 0 && out < end) {
        *out++ = '-';
    }
    while (count > 0 && out < end) {
        *out++ = digits[--count];
    }
}

// Async-signal-safe: fixed buffer, precomputed names, one write(2), then SIGSYS's default
// action (SA_RESETHAND restored it on entry; SA_NODEFER lets it through at once).
void on_forbidden_call(int, siginfo_t* info, void*) {
    char line[160];
    char* out = line;
    const char* end = line + sizeof(line) - 1;
    int number = info->si_syscall;
    const char* name = number >= 0 && number < system_call_number_max
                           ? call_names[static_cast<std::size_t>(number)]
                           : nullptr;
    append(out, end, "hubd: fatal: seccomp: forbidden system call ");
    append(out, end, name != nullptr ? name : "?");
    append(out, end, " (");
    append_number(out, end, number);
    append(out, end, ")\n");
    [[maybe_unused]] ssize_t written = write(STDERR_FILENO, line, static_cast<size_t>(out - line));
    raise(SIGSYS);
    _exit(128 + SIGSYS);  // Not reached: the default action ends the process.
}

void name_every_call() {
    for (int number = 0; number < system_call_number_max; number++) {
        // libseccomp's names are static for the native architecture; ours for the
        // handler's lifetime, which is the process's.
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
        call_names[static_cast<std::size_t>(number)] = name;
    }
}

Result<void, std::string> failed(const char* step, int result) {
    return unexpected(std::string("seccomp: ") + step + ": " + std::strerror(-result));
}

// openat: read-only opens pass; one that could write or create fails with EACCES rather
// than killing hubd, because SQLite tries the -wal and -shm files read-write first and
// falls back to read-only on EACCES. fcntl: the record locks SQLite takes, nothing else.
Result<void, std::string> add_reload_file_rules(scmp_filter_ctx filter) {
    constexpr scmp_datum_t write_bits = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND;
    int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, write_bits, O_RDONLY});
    if (result != 0) {
        return failed("openat", result);
    }
    for (scmp_arg_cmp writes : {scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY},
                                scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDWR},
                                scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT},
                                scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, O_TRUNC, O_TRUNC},
                                scmp_arg_cmp{2, SCMP_CMP_MASKED_EQ, O_APPEND, O_APPEND}}) {
        result = seccomp_rule_add(filter, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, writes);
        if (result != 0) {
            return failed("openat (for writing)", result);
        }
    }
    for (scmp_datum_t command : {scmp_datum_t{F_GETLK}, scmp_datum_t{F_SETLK}}) {
        result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                                  scmp_arg_cmp{1, SCMP_CMP_EQ, command, 0});
        if (result != 0) {
            return failed("fcntl", result);
        }
    }
    return {};
}

Result<void, std::string> add_restricted_rules(scmp_filter_ctx filter) {
    int result = 0;
    if (sanitizer_build) {
        // LeakSanitizer's tracer is a clone without CLONE_THREAD; ASan writes reports and
        // reads /proc through other descriptors.
        for (const char* name : {"clone", "tgkill", "write", "openat", "fcntl"}) {
            result =
                seccomp_rule_add(filter, SCMP_ACT_ALLOW, seccomp_syscall_resolve_name(name), 0);
            if (result != 0) {
                return failed(name, result);
            }
        }
    } else {
        result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD});
        if (result != 0) {
            return failed("clone", result);
        }
        result =
            seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                             scmp_arg_cmp{0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()), 0});
        if (result != 0) {
            return failed("tgkill", result);
        }
        result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                                  scmp_arg_cmp{0, SCMP_CMP_EQ, STDERR_FILENO, 0});
        if (result != 0) {
            return failed("write", result);
        }
        // glibc's first pthread_create installs the handlers of its two internal signals
        // (SIGCANCEL = SIGRTMIN-2 = 32, SIGSETXID = 33) after the filter is in place; no
        // other handler may change. Only sanitizer builds were covering this.
        for (scmp_datum_t signal_number : {scmp_datum_t{32}, scmp_datum_t{33}}) {
            result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1,
                                      scmp_arg_cmp{0, SCMP_CMP_EQ, signal_number, 0});
            if (result != 0) {
                return failed("rt_sigaction", result);
            }
        }
        if (auto files = add_reload_file_rules(filter); !files) {
            return files;
        }
    }
    // glibc tries clone3 first and falls back to clone on ENOSYS; clone3's flags sit in
    // memory a filter cannot read.
    result = seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (result != 0) {
        return failed("clone3", result);
    }
    return {};
}

Result<void, std::string> add_plain_rules(scmp_filter_ctx filter,
                                          std::span<const AllowedSystemCall> calls) {
    for (const AllowedSystemCall& call : calls) {
        if (restricted(call.name)) {
            continue;  // add_restricted_rules.
        }
        int number = seccomp_syscall_resolve_name(call.name);
        if (number == __NR_SCMP_ERROR) {
            return unexpected(std::string("seccomp: unknown system call ") + call.name);
        }
        if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, number, 0); result != 0) {
            return failed(call.name, result);
        }
    }
    return {};
}

}  // namespace

std::span<const AllowedSystemCall> allowed_system_calls() {
    return allowed;
}

std::span<const AllowedSystemCall> sanitizer_system_calls() {
    if (sanitizer_build) {
        return sanitizer_extra;
    }
    return {};
}

Result<void, std::string> install_seccomp_filter() {
    name_every_call();
    struct sigaction action {};
    action.sa_sigaction = on_forbidden_call;
    action.sa_flags = static_cast<int>(SA_SIGINFO | SA_RESETHAND | SA_NODEFER);
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, nullptr) != 0) {
        return unexpected(std::string("seccomp: sigaction(SIGSYS): ") + std::strerror(errno));
    }
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_TRAP);
    if (filter == nullptr) {
        return unexpected(std::string("seccomp: seccomp_init failed"));
    }
    Result<void, std::string> result = add_plain_rules(filter, allowed);
    if (result) {
        result = add_plain_rules(filter, sanitizer_system_calls());
    }
    if (result) {
        result = add_restricted_rules(filter);
    }
    if (result) {
        if (int attr = seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, 1); attr != 0) {
            result = failed("TSYNC", attr);
        }
    }
    if (result) {
        if (int loaded = seccomp_load(filter); loaded != 0) {
            result = failed("seccomp_load", loaded);
        }
    }
    seccomp_release(filter);
    return result;
}

}  // namespace hub::engine
