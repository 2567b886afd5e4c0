// command_support.cc -- see command_support.h.
#include "programs/hubctl/command_support.h"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "directory/limits.h"

namespace hub::hubctl {

int flushed() {
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        return fail(exit_runtime, "error: cannot write to standard output");
    }
    return exit_ok;
}

std::string actor_name() {
    if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user != nullptr && *sudo_user) {
        return std::string(sudo_user).substr(0, directory::actor_bytes_max);
    }
    if (const passwd* entry = ::getpwuid(::geteuid()); entry != nullptr && entry->pw_name) {
        return std::string(entry->pw_name).substr(0, directory::actor_bytes_max);
    }
    return fmt::format("uid:{}", ::geteuid());
}

std::optional<std::string> read_secret(const char* prompt) {
    bool terminal = ::isatty(STDIN_FILENO) == 1;
    termios saved{};
    if (terminal) {
        fmt::print(stderr, "{}", prompt);
        ::tcgetattr(STDIN_FILENO, &saved);
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    bool got = static_cast<bool>(std::getline(std::cin, line));
    if (terminal) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fmt::print(stderr, "\n");
    }
    if (!got) {
        return std::nullopt;
    }
    return line;
}

}  // namespace hub::hubctl
