// command_support.cc -- see command_support.h.
#include "programs/hubctl/command_support.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "directory/limits.h"

namespace hub::hubctl {

std::string actor_name() {
    if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user != nullptr && *sudo_user) {
        return std::string(sudo_user).substr(0, directory::actor_bytes_max);
    }
    if (const passwd* entry = ::getpwuid(::geteuid()); entry != nullptr && entry->pw_name) {
        return std::string(entry->pw_name).substr(0, directory::actor_bytes_max);
    }
    return fmt::format("uid:{}", ::geteuid());
}

}  // namespace hub::hubctl
