// assert.h -- invariants that stay on in release builds.
//
// HUB_ASSERT is for cheap checks of things only our own code controls; a peer, the disk
// or the kernel never trips one (validate those and return an error instead).
// HUB_ASSERT_SLOW is for O(n) checks and compiles away unless HUB_SLOW_ASSERTS is set
// (debug and simulation builds).
#pragma once

namespace hub::base {
[[noreturn]] void panic(const char* file, int line, const char* what);
}  // namespace hub::base

#define HUB_ASSERT(cond)                                   \
    do {                                                   \
        if (!(cond)) [[unlikely]] {                        \
            ::hub::base::panic(__FILE__, __LINE__, #cond); \
        }                                                  \
    } while (0)

#define HUB_PANIC(what) ::hub::base::panic(__FILE__, __LINE__, what)

#ifdef HUB_SLOW_ASSERTS
#define HUB_ASSERT_SLOW(cond) HUB_ASSERT(cond)
#else
#define HUB_ASSERT_SLOW(cond) \
    do {                      \
    } while (0)
#endif
