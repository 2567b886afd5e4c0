// seccomp.h -- the system-call allow-list hubd's threads run under after the privilege drop.
#pragma once

#include <span>
#include <string>

#include "base/result.h"

namespace hub::engine {

// One system call that hubd's threads may make once privileges are dropped, and why.
struct AllowedSystemCall {
    const char* name;  // As libseccomp and strace name it.
    const char* why;
};

// The allow-list. docs/ARCHITECTURE.md ("System calls after the privilege drop") gives the
// same list; a call added here must be added there with its reason.
std::span<const AllowedSystemCall> allowed_system_calls();

// What the ASan/UBSan runtimes add (thread stacks, reports, the leak check at exit). Empty
// unless this is a sanitizer build; those calls are never allowed in a release build.
std::span<const AllowedSystemCall> sanitizer_system_calls();

// Installs the allow-list on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC), so
// threads started earlier and later are covered alike. Any other call raises SIGSYS; the
// handler writes "fatal: seccomp: forbidden system call <name> (<number>)" to stderr with
// one write(2) and the process dies by SIGSYS. clone is allowed only for threads
// (CLONE_THREAD), clone3 fails with ENOSYS (so glibc falls back to clone, whose flags a
// filter can see), tgkill only within this process and write only to stderr.
// Precondition: no_new_privs is set. Errors: what libseccomp refused, as text.
[[nodiscard]] Result<void, std::string> install_seccomp_filter();

}  // namespace hub::engine
