// command_support.h -- what every hubctl command group shares: exit codes, the one way to
// say what went wrong, and who is acting (for the audit logs).
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

namespace hub::hubctl {

inline constexpr int exit_ok = 0;
inline constexpr int exit_runtime = 1;  // The request was refused or failed; nothing changed.
inline constexpr int exit_usage = 2;    // The command line itself is wrong.

// Prints "hubctl: <message>" to stderr and returns code, for `return fail(...)`.
template <typename... Args>
int fail(int code, fmt::format_string<Args...> format, Args&&... args) {
    fmt::print(stderr, "hubctl: {}\n", fmt::format(format, std::forward<Args>(args)...));
    return code;
}

// Flushes standard output: exit_ok, or exit_runtime with the reason when it could not be
// written (a full disk, a closed pipe), so a read command never succeeds silently truncated.
int flushed();

// Prints rows as a JSON array, one element per line, each from to_json(row) (found by
// argument-dependent lookup: directory::to_json for the directory's records), then flushes.
template <typename Rows>
int print_json_array(const Rows& rows) {
    std::string out = "[";
    for (const auto& row : rows) {
        out += (out.size() > 1 ? ",\n" : "\n") + to_json(row);
    }
    fmt::print("{}\n]\n", out);
    return flushed();
}

// Who is making a change, for the directory's and hub-ca's audit logs: the administrator
// behind sudo, else the account hubctl runs as (hub-ca adds the uid it sees).
std::string actor_name();

// One line of standard input (a password); on a terminal, prompt shown and echo off.
// nullopt at end of input.
std::optional<std::string> read_secret(const char* prompt);

}  // namespace hub::hubctl
