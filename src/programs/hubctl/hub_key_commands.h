// hub_key_commands.h -- hubctl ca hub-key ...: the hub's own listener key and certificate
// (docs/CA.md, "The hub's own key").
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace hub::hubctl {

// Registers `hub-key` and its subcommands under the `ca` command (CaCommands::add_to must
// have run) and runs whichever was parsed.
class HubKeyCommands {
public:
    void add_to(CLI::App& app);
    // The exit code if a hub-key command was parsed, else nullopt. config_path is hubctl's
    // --config: [tls] key and certificate name the files.
    std::optional<int> run(const std::string& config_path);

    struct Settings;

private:
    std::shared_ptr<Settings> settings_;
};

}  // namespace hub::hubctl
