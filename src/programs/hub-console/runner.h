// runner.h -- hub-console's actions carried out: the console model asks (console/model.h),
// the Runner does it through the same library code hubctl uses, and answers with an
// Outcome. No curses here: the view (main.cc) is the only code that draws.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/hub_config.h"
#include "console/model.h"
#include "programs/hub-console/network.h"

namespace hub::hub_console {

struct RunnerSettings {
    std::string config_path;    // hub.conf: spool, status socket, directory, hub-ca's socket.
    bool development = false;   // Shutdown and the console password only say what they would do.
    std::string account;        // Who is logged in (the audit logs' actor).
    std::string netcfg_socket;  // hub-netcfg's socket.
    // hub-console-admin's socket: where the actions that need the hub's files go
    // (needs_admin); empty: this process carries them out itself (development, and
    // hub-console-admin itself).
    std::string admin_socket;
    // hubctl, which the Backup page's actions run (backup is hubctl's job: docs/BACKUP.md).
    std::string hubctl_path = "/usr/lib/hubbox/hubctl";
    // "Back up now" on the appliance: this systemd unit (hub-backup-now.service, the
    // scheduled backup's sandbox) is started and its outcome read from the status file;
    // empty: hubctl backup run is run here.
    std::string backup_unit = {};
    // "Restore" on the appliance: this systemd unit (hub-restore.service) restores, outside
    // hub-console-admin's sandbox, from a request file under restore_request_dir; empty:
    // hubctl backup restore is run here (development).
    std::string restore_unit = {};
};

// Where hub-console-admin hands a restore to restore_unit: root 0700 on /run (tmpfs,
// rootfs/usr/lib/tmpfiles.d/hubbox.conf); the unit's hubctl reads and deletes "request" and
// its output goes to "result" (rootfs/usr/lib/systemd/system/hub-restore.service).
inline constexpr const char* restore_request_dir = "/run/hubbox-restore";
// How long the console waits for the restore unit: below hub-console's 120 s wait for
// hub-console-admin's answer; a longer restore goes on and its outcome is on the Backup page.
inline constexpr int restore_wait_s = 90;

// The actions that read or write what only root and the hub user may (the directory, the
// spool, hubd's control socket, the hub's key): on the appliance hub-console hands them
// to hub-console-admin, its privileged half.
bool needs_admin(console::ActionKind kind);

// Runs argv (argv[0] an absolute path; no shell, no PATH search) on the terminal and
// returns its exit status (or -1 when it could not be started); the view gives the
// terminal back to curses afterwards.
using RunOnTerminal = std::function<int(const std::vector<std::string>& argv)>;

class Runner {
public:
    Runner(RunnerSettings settings, RunOnTerminal run_on_terminal);
    // Carries action out and says what came of it. Never throws, never exits.
    console::Outcome run(const console::Action& action);

private:
    console::Outcome ask_admin(const console::Action& action);
    console::Outcome status();
    console::Outcome partner_list();
    console::Outcome partner_show(const std::string& name);
    console::Outcome partner_write(const console::Action& action);
    console::Outcome partner_test(const std::string& name);
    console::Outcome queue_list();
    console::Outcome queue_show(const std::string& id);
    console::Outcome queue_command(const console::Action& action);
    console::Outcome ca_show();
    console::Outcome ca_listing(const console::Action& action);
    console::Outcome ca_decision(const console::Action& action);
    console::Outcome hub_key(const console::Action& action);
    console::Outcome enrollment_reset(const std::string& partner);
    console::Outcome admin_password(const console::Action& action);
    console::Outcome console_password();
    console::Outcome shutdown(const console::Action& action);
    console::Outcome backup(const console::Action& action);
    console::Outcome backup_in_unit(const config::HubConfig& config);
    console::Outcome restore_in_unit(const std::string& archive, const std::string& passphrase,
                                     const std::string& passphrase_file);
    std::vector<std::string> restore_unit_lines();

    RunnerSettings settings_;
    RunOnTerminal run_on_terminal_;
    std::unique_ptr<Network> network_;
};

// Runs argv without a shell (posix_spawn, argv[0] an absolute path), with a fixed
// environment, default signal dispositions and an empty signal mask, and waits for it.
// Standard input, output and error are the console's (the terminal) unless quiet, when
// they are /dev/null. Returns the exit status, or -1 with errno when it could not start.
int run_program(const std::vector<std::string>& argv, bool quiet);

// The same, with input written to its standard input and its standard output and error
// collected (at most output_bytes_max; the rest is read and dropped).
struct Captured {
    int status = -1;  // The exit status, or -1 (errno set) when it could not start.
    std::string output;
};
Captured run_captured(const std::vector<std::string>& argv, std::string_view input);

}  // namespace hub::hub_console
