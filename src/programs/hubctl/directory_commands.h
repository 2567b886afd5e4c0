// directory_commands.h -- hubctl partner|domain|connector|audit|admin: the partner
// directory's command line (docs/DIRECTORY.md).
#pragma once

#include <CLI/CLI.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hub::hubctl {

// Registers the commands on app and runs whichever of them was parsed.
class DirectoryCommands {
public:
    void add_to(CLI::App& app);
    // The exit code if one of these commands was parsed, else nullopt. config_path is
    // hubctl's --config (where directory.path and the spool are read from).
    std::optional<int> run(const std::string& config_path);

    struct Settings;  // The parsed options and the commands (directory_commands.cc).

private:
    std::shared_ptr<Settings> settings_;
};

}  // namespace hub::hubctl
