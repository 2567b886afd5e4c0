// ask.h -- `hub-netcfg ask`: one request through netcfg::Client, from the command line.
#pragma once

#include <string>
#include <vector>

namespace hub::netcfg {

// words: the verb and its arguments (docs/NETWORK.md, "hub-netcfg ask"). Prints the answer
// on stdout (a refusal on stderr). Returns 0 when answered ok, 1 when refused or
// unreachable, 2 for a verb or arguments it does not know.
int ask(const std::string& socket_path, const std::string& session, bool always,
        const std::vector<std::string>& words);

}  // namespace hub::netcfg
