// ca_commands.h -- hubctl ca ...: hub-ca's requests from the command line (docs/CA.md).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace hub::hubctl {

// Registers `ca` and its subcommands on app and runs whichever was parsed.
class CaCommands {
public:
    void add_to(CLI::App& app);
    // The exit code if a ca command was parsed, else nullopt. config_path is hubctl's
    // --config (ca.socket, and directory.path to check partner names).
    std::optional<int> run(const std::string& config_path);

    struct Settings;

private:
    std::shared_ptr<Settings> settings_;
};

}  // namespace hub::hubctl
