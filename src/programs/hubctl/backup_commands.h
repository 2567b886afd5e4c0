// backup_commands.h -- hubctl backup create|run|verify|restore|extract|keygen: whole-box
// backup archives (docs/BACKUP.md).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace hub::hubctl {

// Registers `backup` and its subcommands on app and runs whichever was parsed.
class BackupCommands {
public:
    void add_to(CLI::App& app);
    // The exit code if a backup command was parsed, else nullopt. config_path is hubctl's
    // --config: what to back up, and where a restore puts things.
    std::optional<int> run(const std::string& config_path);

    struct Settings;

private:
    std::shared_ptr<Settings> settings_;
};

// The last scheduled backup's outcome, one line for `hubctl status` ("" when the box
// schedules none); sets failed when the last run failed.
std::string backup_status_line(const std::string& config_path, bool& failed);

}  // namespace hub::hubctl
