// errno_text.h -- an errno value as strerror's text, for the messages that report a failed
// system call.
#pragma once

#include <cstring>
#include <string>

namespace hub::base {

inline std::string errno_text(int error) {
    return std::strerror(error);
}

}  // namespace hub::base
