// runner.cc -- hub-console's actions, carried out (runner.h).
//
// PURPOSE   Turn each console::Action into the request hubctl would make: the status socket
//           (health::fetch_snapshot), the partner directory (directory::Directory and
//           hubctl's reload after a write), the queue (hubctl_core's queue view and hubd's
//           control socket), hub-ca's socket (ca::exchange), hub-netcfg (network.cc), and
//           for the console password and shutdown one fixed program without a shell.
// RUNS IN   hub-console, as the console account (unprivileged).
// TRUST     Action values come from the model's checked form fields; every answer is
//           shown through console::printable by the model. Nothing is given to a shell.
// LIMITS    Those of each client (health/limits.h, ca/limits.h, hubctl's answer bound).
// SEE ALSO  console/model.h, programs/hubctl/, docs/CONSOLE.md.
#include "programs/hub-console/runner.h"

#include "programs/hub-console/connector_test.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "base/assert.h"
#include "ca/protocol.h"
#include "ca/socket_io.h"
#include "config/hub_config.h"
#include "console/checks.h"
#include "console/wire.h"
#include "directory/directory.h"
#include "directory/edits.h"
#include "engine/control.h"
#include "health/backup_status.h"
#include "health/snapshot.h"
#include "programs/hubctl/hub_key.h"
#include "programs/hubctl/partner_text.h"
#include "programs/hubctl/queue_view.h"
#include "programs/hubctl/spool_admin.h"
#include "tls/tls_context.h"

#ifndef HUB_VERSION
#define HUB_VERSION "unknown"
#endif

extern char** environ;

namespace hub::hub_console {

using console::Action;
using console::ActionKind;
using console::Outcome;
using console::Row;

namespace {

Outcome failed(std::string message) {
    Outcome outcome;
    outcome.ok = false;
    outcome.message = std::move(message);
    return outcome;
}

Outcome said(std::string message) {
    Outcome outcome;
    outcome.message = std::move(message);
    return outcome;
}

std::string bytes_text(std::uint64_t bytes) {
    constexpr std::array<const char*, 5> units = {"B", "KB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < units.size()) {
        value /= 1024;
        unit++;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string utc_text(std::uint64_t unix_s) {
    std::time_t when = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    char text[32];
    if (gmtime_r(&when, &utc) == nullptr ||
        std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &utc) == 0) {
        return "?";
    }
    return text;
}

std::string duration_text(std::uint64_t seconds) {
    if (seconds >= 86400) {
        return fmt::format("{}d {}h", seconds / 86400, seconds % 86400 / 3600);
    }
    if (seconds >= 3600) {
        return fmt::format("{}h {:02}m", seconds / 3600, seconds % 3600 / 60);
    }
    return fmt::format("{}m {:02}s", seconds / 60, seconds % 60);
}

std::string read_small_file(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

// "free X of Y" for the file system holding path, or why not.
std::string space_text(const std::string& path) {
    struct statvfs fs {};
    if (statvfs(path.c_str(), &fs) != 0) {
        return fmt::format("{}: {}", path, std::strerror(errno));
    }
    std::uint64_t unit = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
    return fmt::format("{} free of {} ({})", bytes_text(fs.f_bavail * unit),
                       bytes_text(fs.f_blocks * unit), path);
}

// Every interface: state, MTU and addresses (getifaddrs and /sys/class/net, read only).
std::vector<std::string> nic_lines() {
    std::map<std::string, std::vector<std::string>> addresses;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return {fmt::format("  cannot list interfaces: {}", std::strerror(errno))};
    }
    for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        std::vector<std::string>& mine = addresses[entry->ifa_name];
        if (entry->ifa_addr == nullptr ||
            (entry->ifa_addr->sa_family != AF_INET && entry->ifa_addr->sa_family != AF_INET6)) {
            continue;
        }
        char host[NI_MAXHOST];
        socklen_t size =
            entry->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (getnameinfo(entry->ifa_addr, size, host, sizeof host, nullptr, 0, NI_NUMERICHOST) ==
            0) {
            mine.emplace_back(host);
        }
    }
    freeifaddrs(list);
    std::vector<std::string> lines;
    for (const auto& [name, list_of] : addresses) {
        std::string base = "/sys/class/net/" + name + "/";
        std::string state = read_small_file(base + "operstate");
        std::string mtu = read_small_file(base + "mtu");
        std::string joined;
        for (const std::string& address : list_of) {
            joined += (joined.empty() ? "" : " ") + address;
        }
        lines.push_back(fmt::format("  {:<10} {:<8} mtu {:<5} {}", name,
                                    state.empty() ? "?" : state, mtu.empty() ? "?" : mtu,
                                    joined.empty() ? "-" : joined));
    }
    return lines;
}

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    // Bounded by text: every pass consumes one line.
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        lines.emplace_back(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    }
    return lines;
}

Result<config::HubConfig, std::string> load_config(const std::string& path) {
    auto config = config::load_hub_config(path);
    if (!config) {
        return unexpected(config.error());
    }
    return config;
}

Result<directory::Directory, std::string> open_directory(const std::string& config_path,
                                                         directory::OpenMode mode) {
    auto config = load_config(config_path);
    if (!config) {
        return unexpected(config.error());
    }
    if (config->directory_path.empty()) {
        return unexpected(
            fmt::format("{} has no directory.path: its partners come from partners.file, which the "
                        "console does not change (docs/DIRECTORY.md)",
                        config_path));
    }
    return directory::Directory::open(config->directory_path, mode);
}

Result<ca::Message, std::string> ask_ca(const std::string& config_path, ca::Message request) {
    auto config = load_config(config_path);
    if (!config) {
        return unexpected(config.error());
    }
    if (config->ca_socket.empty()) {
        return unexpected(std::string("this hub runs no CA ([ca] socket is not set)"));
    }
    auto answer = ca::exchange(config->ca_socket, request);
    if (!answer) {
        return unexpected(answer.error());
    }
    if (answer->kind != ca::Kind::ok) {
        return unexpected("hub-ca refused: " +
                          std::string(answer->get_or(ca::Field::message, "?")));
    }
    return std::move(*answer);
}

// A child program starts with no signal blocked and SIGINT, SIGQUIT, SIGHUP, SIGTERM and
// SIGPIPE at their defaults (the menu blocks or ignores them); SIGTSTP, SIGTTIN and SIGTTOU
// stay ignored (inherited), so it cannot be suspended with the menu waiting for it.
void init_child_signals(posix_spawnattr_t& attributes) {
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all_default;
    sigemptyset(&all_default);
    for (int signal_number : {SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGPIPE}) {
        sigaddset(&all_default, signal_number);
    }
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all_default);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

// argv as posix_spawn takes it: pointers into the caller's strings, which outlive the call.
std::vector<char*> spawn_argv(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    return args;
}

// A fixed environment: nothing the login brought (LD_PRELOAD, IFS, ...) reaches a child.
std::array<char*, 3> fixed_environment() {
    return {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
            const_cast<char*>("LANG=C.UTF-8"), nullptr};
}

}  // namespace

Captured run_captured(const std::vector<std::string>& argv, std::string_view input) {
    HUB_ASSERT(!argv.empty() && argv[0].starts_with("/"));
    constexpr std::size_t output_bytes_max = 256 * 1024;
    Captured captured;
    int in_pipe[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
        return captured;
    }
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        return captured;
    }
    std::vector<char*> args = spawn_argv(argv);
    std::array<char*, 3> env = fixed_environment();
    posix_spawnattr_t attributes;
    init_child_signals(attributes);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_adddup2(&files, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&files, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&files, out_pipe[1], STDERR_FILENO);
    pid_t pid = -1;
    int error = posix_spawn(&pid, args[0], &files, &attributes, args.data(), env.data());
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attributes);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (error != 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        errno = error;
        return captured;
    }
    // The input is a passphrase line at most, far below a pipe's buffer: written whole
    // before the output is read, without waiting on the child.
    std::string_view rest = input;
    while (!rest.empty()) {
        ssize_t written = ::write(in_pipe[1], rest.data(), rest.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            break;  // It closed its input: it did not want it.
        }
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
    ::close(in_pipe[1]);
    char chunk[8192];
    // Bounded by the child's output; what is beyond output_bytes_max is dropped.
    for (;;) {
        ssize_t got = ::read(out_pipe[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        std::size_t room = output_bytes_max - std::min(output_bytes_max, captured.output.size());
        captured.output.append(chunk, std::min(room, static_cast<std::size_t>(got)));
    }
    ::close(out_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return captured;
        }
    }
    captured.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return captured;
}

int run_program(const std::vector<std::string>& argv, bool quiet) {
    HUB_ASSERT(!argv.empty() && argv[0].starts_with("/"));
    std::vector<char*> args = spawn_argv(argv);
    // A fixed environment: nothing the login brought (LD_PRELOAD, IFS, ...) reaches it.
    std::string term = std::string("TERM=") + (getenv("TERM") ? getenv("TERM") : "vt100");
    std::array<char*, 4> env = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
                                const_cast<char*>("LANG=C.UTF-8"), term.data(), nullptr};
    posix_spawnattr_t attributes;
    init_child_signals(attributes);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    if (quiet) {
        for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
            posix_spawn_file_actions_addopen(&files, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY,
                                             0);
        }
    }
    pid_t pid = -1;
    int error = posix_spawn(&pid, args[0], &files, &attributes, args.data(), env.data());
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attributes);
    if (error != 0) {
        errno = error;
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Runner::Runner(RunnerSettings settings, RunOnTerminal run_on_terminal)
    : settings_(std::move(settings)),
      run_on_terminal_(std::move(run_on_terminal)),
      network_(make_network(settings_.netcfg_socket)) {}

bool needs_admin(ActionKind kind) {
    switch (kind) {
        case ActionKind::partner_list:
        case ActionKind::partner_show:
        case ActionKind::partner_add:
        case ActionKind::partner_suspend:
        case ActionKind::partner_resume:
        case ActionKind::partner_test:
        case ActionKind::queue_list:
        case ActionKind::queue_show:
        case ActionKind::queue_retry:
        case ActionKind::queue_hold:
        case ActionKind::queue_release:
        case ActionKind::queue_delete:
        case ActionKind::admin_password:
        case ActionKind::backup_show:
        case ActionKind::backup_run:
        case ActionKind::backup_verify:
        case ActionKind::backup_restore:
        case ActionKind::backup_schedule:
        case ActionKind::hub_key_request:
        case ActionKind::hub_key_install:
        case ActionKind::hub_key_import:
        case ActionKind::hub_key_pkcs12:
            return true;
        default:
            return false;
    }
}

Outcome Runner::ask_admin(const Action& action) {
    const std::string& path = settings_.admin_socket;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        return failed("hub-console-admin's socket path is too long");
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0) {
            ::close(fd);
        }
        return failed(fmt::format("cannot reach hub-console-admin at {}: {}", path, why));
    }
    // A test message may take a few 15 s steps; nothing else takes long.
    timeval timeout{120, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    std::string request = console::encode_action(action);
    std::string_view rest = request;
    while (!rest.empty()) {
        ssize_t sent = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (sent <= 0) {
            ::close(fd);
            return failed(fmt::format("hub-console-admin: {}", std::strerror(errno)));
        }
        rest.remove_prefix(static_cast<std::size_t>(sent));
    }
    ::shutdown(fd, SHUT_WR);
    std::string answer;
    std::array<char, 65536> chunk{};
    // Bounded by wire_answer_bytes_max and the receive timeout.
    while (answer.size() <= console::wire_answer_bytes_max) {
        ssize_t got = ::recv(fd, chunk.data(), chunk.size(), 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        answer.append(chunk.data(), static_cast<std::size_t>(got));
    }
    ::close(fd);
    auto outcome = console::decode_outcome(answer);
    if (!outcome) {
        return failed("hub-console-admin's answer: " + outcome.error());
    }
    return std::move(*outcome);
}

Outcome Runner::run(const Action& action) {
    if (!settings_.admin_socket.empty() && needs_admin(action.kind)) {
        return ask_admin(action);
    }
    switch (action.kind) {
        case ActionKind::status:
            return status();
        case ActionKind::partner_list:
            return partner_list();
        case ActionKind::partner_show:
            return partner_show(action.target);
        case ActionKind::partner_test:
            return partner_test(action.target);
        case ActionKind::partner_add:
        case ActionKind::partner_suspend:
        case ActionKind::partner_resume:
            return partner_write(action);
        case ActionKind::queue_list:
            return queue_list();
        case ActionKind::queue_show:
            return queue_show(action.target);
        case ActionKind::queue_retry:
        case ActionKind::queue_hold:
        case ActionKind::queue_release:
        case ActionKind::queue_delete:
            return queue_command(action);
        case ActionKind::ca_show:
            return ca_show();
        case ActionKind::ca_requests:
        case ActionKind::ca_certificates:
            return ca_listing(action);
        case ActionKind::ca_approve:
        case ActionKind::ca_reject:
        case ActionKind::ca_revoke:
            return ca_decision(action);
        case ActionKind::hub_key_request:
        case ActionKind::hub_key_install:
        case ActionKind::hub_key_import:
        case ActionKind::hub_key_pkcs12:
            return hub_key(action);
        case ActionKind::enrollment_reset:
            return enrollment_reset(action.field("partner"));
        case ActionKind::console_password:
            return console_password();
        case ActionKind::admin_password:
            return admin_password(action);
        case ActionKind::net_show:
        case ActionKind::net_address:
        case ActionKind::net_link:
        case ActionKind::net_mtu:
        case ActionKind::net_gateway:
        case ActionKind::net_route:
        case ActionKind::net_dns:
        case ActionKind::net_hostname:
        case ActionKind::net_ping:
        case ActionKind::net_connect:
        case ActionKind::access_show:
        case ActionKind::access_set:
        case ActionKind::access_ssh:
        case ActionKind::net_keep:
        case ActionKind::net_undo:
            return network_->run(action);
        case ActionKind::backup_show:
        case ActionKind::backup_run:
        case ActionKind::backup_verify:
        case ActionKind::backup_restore:
        case ActionKind::backup_schedule:
            return backup(action);
        case ActionKind::reboot:
        case ActionKind::power_off:
            return shutdown(action);
        case ActionKind::logout:
            return said("Logged out");
    }
    HUB_PANIC("unknown action kind");
}

// --- Status ------------------------------------------------------------------------------

namespace {

// The status page's lines about hubd, from its health snapshot.
void snapshot_lines(const health::Snapshot& s, std::vector<std::string>& lines) {
    std::uint64_t now_s = s.taken_unix_ms / 1000;
    std::uint64_t up_ms =
        s.taken_unix_ms > s.started_unix_ms ? s.taken_unix_ms - s.started_unix_ms : 0;
    lines.push_back(fmt::format("hubd         up {} (since {})", duration_text(up_ms / 1000),
                                utc_text(s.started_unix_ms / 1000)));
    for (const health::ShardRow& shard : s.shards) {
        double load = up_ms == 0 ? 0.0
                                 : 100.0 * static_cast<double>(shard.cpu_ns) /
                                       (static_cast<double>(up_ms) * 1e6);
        lines.push_back(fmt::format(
            "Shard {:<6} {:5.1f}% CPU since start, {} inbound and {} outbound open, {} queued",
            shard.index, load, shard.traffic.inbound_open, shard.traffic.outbound_open,
            shard.traffic.queue_messages));
    }
    const health::Traffic& t = s.total;
    std::uint64_t oldest_s = t.oldest_queued_unix_ms / 1000;
    std::string oldest = t.oldest_queued_unix_ms == 0
                             ? std::string()
                             : ", oldest " + duration_text(now_s > oldest_s ? now_s - oldest_s : 0);
    lines.push_back(fmt::format("Queue        {} messages, {} recipients, {}{}", t.queue_messages,
                                t.queue_recipients, bytes_text(t.queue_bytes), oldest));
    // The counters start with hubd: "today" on a hub restarted today is since then.
    lines.push_back(
        fmt::format("Messages     since start: in {}, out {}, deferred {}, bounced {}, rejected {}",
                    t.messages_received, t.messages_delivered, t.messages_deferred,
                    t.messages_bounced, t.messages_rejected));
    lines.push_back("Failing partner connectors:");
    std::size_t first = lines.size();
    for (const health::PartnerRow& partner : s.partners) {
        // Failing: the last failure is newer than the last success.
        bool failing_out = partner.last_outbound_failure_unix_ms > partner.last_outbound_unix_ms;
        bool failing_tls = partner.last_tls_failure_unix_ms > partner.last_outbound_unix_ms &&
                           partner.last_tls_failure_unix_ms > partner.last_inbound_unix_ms;
        if (failing_out || failing_tls) {
            lines.push_back(fmt::format(
                "  {:<12} {}  {}", partner.name,
                utc_text(std::max(partner.last_outbound_failure_unix_ms,
                                  partner.last_tls_failure_unix_ms) /
                         1000),
                failing_out ? partner.last_outbound_failure : partner.last_tls_failure));
        }
    }
    if (lines.size() == first) {
        lines.push_back("  none");
    }
    lines.push_back("Certificates expiring within 30 days:");
    first = lines.size();
    for (const health::Certificate& certificate : s.certificates) {
        if (certificate.not_after_unix_s <= now_s + 30 * 86400) {
            std::int64_t days_left = (static_cast<std::int64_t>(certificate.not_after_unix_s) -
                                      static_cast<std::int64_t>(now_s)) /
                                     86400;
            lines.push_back(fmt::format("  {} {} {}: {} days left ({})", certificate.role,
                                        certificate.partner, certificate.subject, days_left,
                                        utc_text(certificate.not_after_unix_s)));
        }
    }
    if (lines.size() == first) {
        lines.push_back("  none");
    }
    lines.push_back(fmt::format("Spool        {} free of {} (new mail refused below {})",
                                bytes_text(s.spool_free_bytes), bytes_text(s.spool_total_bytes),
                                bytes_text(s.spool_reserve_bytes)));
}

}  // namespace

Outcome Runner::status() {
    auto config = load_config(settings_.config_path);
    if (!config) {
        return failed(config.error());
    }
    Outcome outcome;
    std::vector<std::string>& lines = outcome.lines;
    lines.push_back(fmt::format("Hub          {}, Hubbox {}", config->hostname, HUB_VERSION));
    auto snapshot = health::fetch_snapshot(
        engine::status_socket_path(config->spool_dir, config->status_socket));
    if (snapshot) {
        snapshot_lines(*snapshot, lines);
    } else {
        lines.push_back("hubd         not reachable: " + snapshot.error());
    }
    // The data partition: where the directory (or hub.conf) lives.
    std::string data_file =
        config->directory_path.empty() ? config->source_path : config->directory_path;
    std::size_t slash = data_file.rfind('/');
    std::string data_dir = slash == std::string::npos ? std::string(".")
                           : slash == 0               ? std::string("/")
                                                      : data_file.substr(0, slash);
    lines.push_back("Data         " + space_text(data_dir));
    lines.push_back("Network interfaces:");
    for (std::string& line : nic_lines()) {
        lines.push_back(std::move(line));
    }
    return outcome;
}

// --- Partners ----------------------------------------------------------------------------

Outcome Runner::partner_list() {
    auto directory = open_directory(settings_.config_path, directory::OpenMode::existing);
    if (!directory) {
        return failed(directory.error());
    }
    auto records = directory->partners();
    if (!records) {
        return failed(records.error());
    }
    Outcome outcome;
    outcome.header = fmt::format("{:<20} {:<9} {:<28} {}", "NAME", "STATE", "DOMAINS", "OUTBOUND");
    for (const directory::PartnerRecord& record : *records) {
        outcome.rows.push_back(Row{
            record.name,
            fmt::format("{:<20} {:<9} {:<28} {}", record.name, directory::to_string(record.state),
                        hubctl::joined(record.domains, "-"), hubctl::outbound_text(record))});
    }
    outcome.message = fmt::format("{} partners", records->size());
    return outcome;
}

Outcome Runner::partner_show(const std::string& name) {
    auto directory = open_directory(settings_.config_path, directory::OpenMode::existing);
    if (!directory) {
        return failed(directory.error());
    }
    auto record = directory->find(name);
    if (!record) {
        return failed(record.error());
    }
    if (!record->has_value()) {
        return failed(fmt::format("no partner named {}", name));
    }
    Outcome outcome;
    outcome.lines = hubctl::partner_lines(**record);
    return outcome;
}

Outcome Runner::partner_write(const Action& action) {
    std::string name;
    directory::PartnerEdit edit;
    std::string verb;
    switch (action.kind) {
        case ActionKind::partner_add: {
            name = action.field("name");
            directory::PartnerFields fields;
            fields.domains = std::vector<std::string>{action.field("domain")};
            fields.inbound = split_list(action.field("inbound"));
            if (!action.field("outbound").empty()) {
                fields.outbound = action.field("outbound");
            }
            if (!action.field("contact").empty()) {
                fields.contact = action.field("contact");
            }
            edit = directory::add_partner(name, std::move(fields), false);
            verb = "partner add";
            break;
        }
        case ActionKind::partner_suspend:
            name = action.target;
            edit = directory::set_state(directory::PartnerState::suspended);
            verb = "partner suspend";
            break;
        case ActionKind::partner_resume:
            name = action.target;
            edit = directory::set_state(directory::PartnerState::active);
            verb = "partner resume";
            break;
        default:
            HUB_PANIC("not a partner write");
    }
    {
        auto directory = open_directory(settings_.config_path, directory::OpenMode::existing);
        if (!directory) {
            return failed(directory.error());
        }
        if (auto changed = directory->change(name, verb, settings_.account, edit); !changed) {
            return failed(changed.error());
        }
    }  // Closed first: hubd then reads a directory nobody holds open.
    hubctl::ReloadReport report = hubctl::reload_after_write(verb, settings_.config_path);
    return report.ok ? said(report.text) : failed(report.text);
}

Outcome Runner::partner_test(const std::string& name) {
    // The partner as hubd has it (directory or partners.file), as delivery would use it.
    std::string warning;
    auto context = hubctl::queue_context(settings_.config_path, warning);
    if (!context) {
        return failed(context.error());
    }
    if (!context->partners) {
        return failed(warning);
    }
    for (const policy::Partner& partner : context->partners->partners()) {
        if (partner.name != name) {
            continue;
        }
        ConnectorTest test = test_connector(*context->config, partner);
        Outcome outcome;
        outcome.lines = std::move(test.transcript);
        outcome.message = test.delivered
                              ? "The partner's server accepted the test message"
                              : "The test message was not delivered (the transcript says why)";
        return outcome;
    }
    return failed(fmt::format("{} is not an active partner (suspended, pending or unknown)", name));
}

// --- Queue -------------------------------------------------------------------------------

Outcome Runner::queue_list() {
    std::string warning;
    auto context = hubctl::queue_context(settings_.config_path, warning);
    if (!context) {
        return failed(context.error());
    }
    auto snapshot = hubctl::take_queue_snapshot(*context);
    if (!snapshot) {
        return failed(snapshot.error());
    }
    const hubctl::HubView* hub_view = snapshot->hub_view ? &*snapshot->hub_view : nullptr;
    Outcome outcome;
    outcome.header = fmt::format("{:<17} {:>8} {:<20} {}", "QUEUE ID", "SIZE", "ARRIVAL",
                                 "SENDER -> RECIPIENTS (STATE)");
    for (const spool::RecoveredMessage& message : snapshot->recovery.messages) {
        hubctl::MessageView view = hubctl::view_of(*context, message, hub_view);
        std::string recipients;
        for (const hubctl::RecipientView& recipient : view.recipients) {
            recipients +=
                fmt::format(" {}{}", recipient.address, hubctl::recipient_note(recipient));
        }
        const std::string& sender = message.meta.envelope.mail_from;
        std::string id = message.meta.id.to_string();
        outcome.rows.push_back(Row{
            id, fmt::format("{}{} {:>8} {:<20} {} ->{}", id, view.held ? '!' : ' ',
                            message.content_bytes, hubctl::time_text(message.meta.arrival_unix_s),
                            sender.empty() ? "MAILER-DAEMON" : sender, recipients)});
    }
    outcome.message =
        fmt::format("{} messages; {}", outcome.rows.size(),
                    snapshot->running ? "states from the running hubd"
                                      : "hubd is stopped: states from the spool alone");
    if (!snapshot->warnings.empty()) {
        outcome.message += "; warning: " + snapshot->warnings.front();
    }
    return outcome;
}

Outcome Runner::queue_show(const std::string& text) {
    spool::QueueId id;
    if (!spool::QueueId::parse(text, id)) {
        return failed("not a queue id");
    }
    std::string warning;
    auto context = hubctl::queue_context(settings_.config_path, warning);
    if (!context) {
        return failed(context.error());
    }
    auto snapshot = hubctl::take_queue_snapshot(*context);
    if (!snapshot) {
        return failed(snapshot.error());
    }
    const auto& messages = snapshot->recovery.messages;
    auto found = std::find_if(messages.begin(), messages.end(),
                              [&](const spool::RecoveredMessage& m) { return m.meta.id == id; });
    if (found == messages.end()) {
        return failed(fmt::format("{} is not in the queue (delivered or deleted)", text));
    }
    auto content = spool::read_content(*found);
    if (!content) {
        return failed(content.error().detail);
    }
    const hubctl::HubView* hub_view = snapshot->hub_view ? &*snapshot->hub_view : nullptr;
    Outcome outcome;
    outcome.lines = hubctl::message_lines(hubctl::view_of(*context, *found, hub_view),
                                          snapshot->running, *content, false);
    return outcome;
}

Outcome Runner::queue_command(const Action& action) {
    spool::QueueId id;
    if (!spool::QueueId::parse(action.target, id)) {
        return failed("not a queue id");
    }
    std::string_view verb = action.kind == ActionKind::queue_retry     ? "retry"
                            : action.kind == ActionKind::queue_hold    ? "hold"
                            : action.kind == ActionKind::queue_release ? "release"
                                                                       : "delete";
    auto config = load_config(settings_.config_path);
    if (!config) {
        return failed(config.error());
    }
    if (!hubctl::hubd_running(config->spool_dir)) {
        // A stopped hub's queue is changed by writing to its spool under the spool lock,
        // which needs the hub user's rights: hubctl's job, not the console's.
        return failed(
            fmt::format("hubd is not running: the console changes a running hub's "
                        "queue only (start hubd, or use hubctl queue {})",
                        verb));
    }
    auto answer = hubctl::queue_command_running(config->spool_dir, verb, id);
    return answer ? said(*answer) : failed(answer.error());
}

// --- Certificates ------------------------------------------------------------------------

Outcome Runner::ca_show() {
    auto config = load_config(settings_.config_path);
    if (!config) {
        return failed(config.error());
    }
    Outcome outcome;
    auto snapshot = health::fetch_snapshot(
        engine::status_socket_path(config->spool_dir, config->status_socket));
    if (snapshot) {
        std::uint64_t now_s = snapshot->taken_unix_ms / 1000;
        for (const health::Certificate& certificate : snapshot->certificates) {
            if (certificate.role != "listener" && certificate.role != "trust_anchor") {
                continue;
            }
            std::int64_t days_left = (static_cast<std::int64_t>(certificate.not_after_unix_s) -
                                      static_cast<std::int64_t>(now_s)) /
                                     86400;
            outcome.lines.push_back(fmt::format(
                "{}: {}", certificate.role == "listener" ? "Hub certificate" : "Trusted CA",
                certificate.subject));
            outcome.lines.push_back(fmt::format("    valid until {} ({} days left)",
                                                utc_text(certificate.not_after_unix_s), days_left));
        }
    } else {
        outcome.lines.push_back("hubd not reachable (" + snapshot.error() + ")");
    }
    // The file itself (0644): the chain the listener presents, leaf first.
    outcome.lines.push_back(fmt::format("Hub certificate file: {}", config->certificate_path));
    if (auto chain = tls::read_certificate_facts(config->certificate_path); chain) {
        for (const tls::CertificateFacts& certificate : *chain) {
            outcome.lines.push_back(
                fmt::format("    {}: {} to {}", certificate.subject,
                            utc_text(static_cast<std::uint64_t>(
                                std::max<std::int64_t>(certificate.not_before_s, 0))),
                            utc_text(static_cast<std::uint64_t>(
                                std::max<std::int64_t>(certificate.not_after_s, 0)))));
        }
    } else {
        outcome.lines.push_back("    " + chain.error());
    }
    ca::Message request;
    request.kind = ca::Kind::fetch_ca;
    request.set(ca::Field::format, "pem");
    auto answer = ask_ca(settings_.config_path, std::move(request));
    outcome.lines.emplace_back();
    if (!answer) {
        outcome.lines.push_back("The CA: " + answer.error());
        return outcome;
    }
    outcome.lines.push_back("The CA certificate (hub-ca), for partners to trust:");
    for (std::string& line : split_lines(answer->get_or(ca::Field::body, ""))) {
        outcome.lines.push_back(std::move(line));
    }
    return outcome;
}

Outcome Runner::ca_listing(const Action& action) {
    ca::Message request;
    request.kind = action.kind == ActionKind::ca_requests ? ca::Kind::list_requests
                                                          : ca::Kind::list_certificates;
    request.set(ca::Field::format, "text");
    auto answer = ask_ca(settings_.config_path, std::move(request));
    if (!answer) {
        return failed(answer.error());
    }
    Outcome outcome;
    std::vector<std::string> lines = split_lines(answer->get_or(ca::Field::body, ""));
    for (std::size_t i = 0; i < lines.size(); i++) {
        if (i == 0) {
            outcome.header = lines[i];  // The listing's column heads.
            continue;
        }
        if (lines[i].starts_with("(")) {
            outcome.message = lines[i];  // "(N older entries not shown ...)"
            continue;
        }
        std::string key = lines[i].substr(0, lines[i].find(' '));
        // Only pending requests can be decided, only valid certificates revoked.
        outcome.rows.push_back(Row{key, lines[i]});
    }
    if (outcome.message.empty()) {
        outcome.message = fmt::format("{} entries", outcome.rows.size());
    }
    return outcome;
}

Outcome Runner::ca_decision(const Action& action) {
    ca::Message request;
    switch (action.kind) {
        case ActionKind::ca_approve:
            request.kind = ca::Kind::approve;
            request.set(ca::Field::request_id, action.target);
            break;
        case ActionKind::ca_reject:
            request.kind = ca::Kind::reject;
            request.set(ca::Field::request_id, action.target);
            request.set(ca::Field::reason, action.field("reason"));
            break;
        case ActionKind::ca_revoke:
            request.kind = ca::Kind::revoke;
            request.set(ca::Field::serial, action.target);
            request.set(ca::Field::reason, action.field("reason"));
            break;
        default:
            HUB_PANIC("not a CA decision");
    }
    request.set(ca::Field::actor, settings_.account);
    auto answer = ask_ca(settings_.config_path, std::move(request));
    if (!answer) {
        return failed(answer.error());
    }
    return said(std::string(answer->get_or(ca::Field::message, "done")));
}

// The hub's own key from an external CA: the same calls as hubctl ca hub-key (hub_key.h).
// On the appliance this runs in hub-console-admin, as root, which owns [tls] key.
Outcome Runner::hub_key(const Action& action) {
    auto config = load_config(settings_.config_path);
    if (!config) {
        return failed(config.error());
    }
    if (action.kind == ActionKind::hub_key_request) {
        auto made = hubctl::request_hub_key(*config, action.target);
        if (!made) {
            return failed(made.error());
        }
        Outcome outcome;
        outcome.lines = {
            fmt::format("A new {} key waits in {}; the request names CN={}.", action.target,
                        made->pending_path, made->common_name),
            "Give the external CA these lines; install what it signs with Certificates, 5:", ""};
        for (std::string& line : split_lines(made->csr_pem)) {
            outcome.lines.push_back(std::move(line));
        }
        outcome.message = "New key made and kept pending; nothing else changed";
        return outcome;
    }
    constexpr std::string_view no_roots_hint =
        "paste the issuing CA's root certificate in the CA root field";
    hubctl::HubKeyMaterial material;
    if (action.kind == ActionKind::hub_key_pkcs12) {
        std::string der;
        if (!console::decode_base64_paste(action.field("bundle"), der)) {
            return failed("Bundle: base64 lines only, as `base64 bundle.p12` prints them");
        }
        auto opened = hubctl::open_pkcs12(der, action.field("password"));
        if (!opened) {
            return failed("The bundle: refused, nothing changed: " + opened.error());
        }
        material = std::move(*opened);
    } else {
        material.key_pem = action.field("key");
        material.certificate_pem = action.field("certificate");
        material.chain_pem = action.field("chain");
    }
    material.more_roots_pem = action.field("ca");
    material.more_roots_name = "CA root";
    auto installed = action.kind == ActionKind::hub_key_install
                         ? hubctl::install_requested_hub_key(
                               *config, std::move(material),
                               "make a new key and request first: Certificates, 4", no_roots_hint)
                         : hubctl::install_hub_key(*config, material, no_roots_hint);
    if (!installed) {
        return failed(installed.error());
    }
    Outcome outcome;
    outcome.lines = split_lines(hubctl::installed_text(*installed));
    outcome.message = "The hub's key and certificate are installed";
    return outcome;
}

Outcome Runner::enrollment_reset(const std::string& partner) {
    // The directory is the list of partners: a password for a name it does not hold
    // would be a typo (hubctl ca password checks the same).
    auto directory = open_directory(settings_.config_path, directory::OpenMode::existing);
    if (directory) {
        auto found = directory->find(partner);
        if (!found) {
            return failed(found.error());
        }
        if (!found->has_value()) {
            return failed(fmt::format("no partner named {} in the directory", partner));
        }
    }
    ca::Message request;
    request.kind = ca::Kind::set_password;
    request.set(ca::Field::partner, partner).set(ca::Field::actor, settings_.account);
    auto answer = ask_ca(settings_.config_path, std::move(request));
    if (!answer) {
        return failed(answer.error());
    }
    Outcome outcome;
    outcome.lines = {fmt::format("The enrollment-page password for {}:", partner),
                     "",
                     "    " + std::string(answer->get_or(ca::Field::body, "")),
                     "",
                     "It is shown once: give it to the partner's administrator now.",
                     "hub-ca keeps only its hash; the old password no longer works."};
    outcome.message = "Enrollment password reset";
    return outcome;
}

// --- Passwords ---------------------------------------------------------------------------

Outcome Runner::admin_password(const Action& action) {
    auto directory = open_directory(settings_.config_path, directory::OpenMode::existing);
    if (!directory) {
        return failed(directory.error());
    }
    auto changed = directory->change_admin(action.field("name"), directory::AdminChange::passwd,
                                           action.field("password"), settings_.account);
    if (!changed) {
        return failed(changed.error());
    }
    return said(fmt::format("The password of administrator {} is changed (yescrypt)",
                            action.field("name")));
}

Outcome Runner::console_password() {
    // passwd(1) asks for the current password, then the new one twice, and stores it as
    // PAM's pam_unix does on Debian 12: yescrypt. It runs on the terminal, not in a shell.
    const std::vector<std::string> argv = {"/usr/bin/passwd"};
    if (settings_.development) {
        return said(fmt::format("Development: would run {} for {} on this terminal", argv[0],
                                settings_.account));
    }
    int status = run_on_terminal_(argv);
    if (status == 0) {
        return said("The console password is changed");
    }
    return failed(status < 0 ? fmt::format("cannot run {}: {}", argv[0], std::strerror(errno))
                             : "The console password is unchanged (passwd refused)");
}

// --- Shutdown ----------------------------------------------------------------------------

Outcome Runner::shutdown(const Action& action) {
    // systemd does it: systemctl asks logind, which polkit allows for the console account
    // (rootfs/etc/polkit-1/rules.d/50-hubbox-console.rules).
    const std::vector<std::string> argv = {
        "/usr/bin/systemctl", action.kind == ActionKind::reboot ? "reboot" : "poweroff"};
    if (settings_.development) {
        return said(
            fmt::format("Development: would run {} {} (nothing was done)", argv[0], argv[1]));
    }
    int status = run_program(argv, true);
    if (status != 0) {
        return failed(status < 0
                          ? fmt::format("cannot run {}: {}", argv[0], std::strerror(errno))
                          : fmt::format("{} {} failed (status {})", argv[0], argv[1], status));
    }
    return said(action.kind == ActionKind::reboot ? "Rebooting..." : "Powering off...");
}

namespace {

std::vector<std::string> output_lines(const std::string& output) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    // Bounded by the captured output's size.
    while (start < output.size()) {
        std::size_t end = output.find('\n', start);
        if (end == std::string::npos) {
            end = output.size();
        }
        lines.push_back(output.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// The last thing hubctl said: its reason when it failed.
std::string last_line(const std::string& output) {
    std::vector<std::string> lines = output_lines(output);
    while (!lines.empty() && lines.back().empty()) {
        lines.pop_back();
    }
    return lines.empty() ? "no output" : lines.back();
}

}  // namespace

// "Back up now" on the appliance: the backup runs in its own unit, as root with only the
// right to read (the CA key, the spool), not in this helper's sandbox, which hides the CA.
// systemctl start waits for the oneshot to end; its outcome is the status file's.
Outcome Runner::backup_in_unit(const config::HubConfig& config) {
    Captured done = run_captured({"/usr/bin/systemctl", "start", settings_.backup_unit}, "");
    std::string status_path = !config.backup_status_file.empty() ? config.backup_status_file
                              : config.backup_dir.empty()        ? std::string()
                                                                 : config.backup_dir + "/status";
    auto read = health::read_backup_status(status_path);
    if (done.status != 0) {
        std::string why = read && read->exists && read->status.failing
                              ? read->status.last_failure_reason
                              : last_line(done.output);
        return failed(fmt::format("{} failed: {}", settings_.backup_unit, why));
    }
    if (!read) {
        return failed(read.error());
    }
    Outcome outcome;
    outcome.lines = {health::backup_status_line(*read)};
    return outcome;
}

namespace {

// systemctl start UNIT, waited for at most seconds: its exit status (0: the unit succeeded),
// or nullopt when it was still waiting then. systemd does not cancel a job when the client
// that asked for it goes, so the unit carries on.
std::optional<int> start_unit_waiting(const std::string& unit, int seconds) {
    std::vector<std::string> argv = {"/usr/bin/systemctl", "start", unit};
    std::vector<char*> args = spawn_argv(argv);
    std::array<char*, 3> env = fixed_environment();
    posix_spawnattr_t attributes;
    init_child_signals(attributes);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
        posix_spawn_file_actions_addopen(&files, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    pid_t pid = -1;
    int error = posix_spawn(&pid, args[0], &files, &attributes, args.data(), env.data());
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attributes);
    if (error != 0) {
        return 127;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    // Bounded by the deadline.
    for (;;) {
        pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (done < 0 && errno != EINTR) {
            return 127;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        ::usleep(200 * 1000);
    }
    ::kill(pid, SIGTERM);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return std::nullopt;
}

std::string unit_state(const std::string& unit) {
    Captured shown = run_captured({"/usr/bin/systemctl", "show", "-P", "ActiveState", unit}, "");
    std::string state = shown.status == 0 ? shown.output : "";
    while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) {
        state.pop_back();
    }
    return state;
}

// The restore unit's output (hubctl's, through StandardOutput=truncate:), its last part at
// most: what the console shows.
std::string read_restore_result() {
    constexpr std::streamsize result_bytes_max = 64 * 1024;
    std::ifstream in(std::string(restore_request_dir) + "/result", std::ios::binary);
    if (!in) {
        return "";
    }
    in.seekg(0, std::ios::end);
    std::streamoff size = in.tellg();
    in.seekg(std::max<std::streamoff>(0, size - result_bytes_max));
    std::string text(static_cast<std::size_t>(std::min<std::streamoff>(size, result_bytes_max)),
                     '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
    return text;
}

}  // namespace

// "Restore" on the appliance: hubctl restores in hub-restore.service, which may stop and
// start the hub's units and write the CA's files, neither of which this helper's sandbox
// allows. The passphrase goes over in a request file only root can read, which the unit's
// hubctl deletes as soon as it has read it (docs/BACKUP.md, "Restore from the console");
// never on a command line or in an environment.
Outcome Runner::restore_in_unit(const std::string& archive, const std::string& passphrase,
                                const std::string& passphrase_file) {
    const std::string& unit = settings_.restore_unit;
    if (unit_state(unit) == "activating") {
        return failed(
            fmt::format("{} is restoring already; the Backup page shows its outcome "
                        "when it ends",
                        unit));
    }
    std::string request_path = std::string(restore_request_dir) + "/request";
    std::string result_path = std::string(restore_request_dir) + "/result";
    // A request left by a unit that never started, and the last restore's output.
    ::unlink(request_path.c_str());
    ::unlink(result_path.c_str());
    std::string text =
        "archive=" + archive + "\n" +
        (passphrase.empty() ? "passphrase_file=" + passphrase_file : "passphrase=" + passphrase) +
        "\n";
    int fd =
        ::open(request_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool written =
        fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int write_error = errno;
    std::fill(text.begin(), text.end(), '\0');
    if (fd >= 0) {
        ::close(fd);
    }
    if (!written) {
        ::unlink(request_path.c_str());
        return failed(fmt::format("cannot hand the restore to {}: {}: {}", unit, request_path,
                                  std::strerror(write_error)));
    }
    std::optional<int> status = start_unit_waiting(unit, restore_wait_s);
    if (!status) {
        return said(
            fmt::format("{} is still restoring after {} s; the Backup page shows its "
                        "outcome when it ends",
                        unit, restore_wait_s));
    }
    ::unlink(request_path.c_str());  // Gone already unless the unit never started.
    std::string result = read_restore_result();
    if (*status != 0) {
        return failed(result.empty()
                          ? fmt::format("{} failed; journalctl -u {} says why", unit, unit)
                          : last_line(result));
    }
    if (result.empty()) {
        return failed(
            fmt::format("{} ended without a word; journalctl -u {} says why", unit, unit));
    }
    Outcome outcome;
    outcome.lines = output_lines(result);
    return outcome;
}

// The restore unit on the Backup page: running, or how the last one since boot ended.
std::vector<std::string> Runner::restore_unit_lines() {
    if (settings_.restore_unit.empty()) {
        return {};
    }
    if (unit_state(settings_.restore_unit) == "activating") {
        return {"", "Restore: running (" + settings_.restore_unit + ")"};
    }
    std::string result = read_restore_result();
    if (result.empty()) {
        return {};
    }
    return {"", "Last restore (since boot): " + last_line(result)};
}

// The Backup page: hubctl does the work (it owns backups, and hub-backup.service runs the
// same commands), with fixed arguments and the form's checked values; a passphrase goes to
// its standard input, never to its command line.
Outcome Runner::backup(const Action& action) {
    auto config = config::load_hub_config(settings_.config_path);
    if (!config) {
        return failed(config.error());
    }
    const std::string& hubctl = settings_.hubctl_path;
    std::vector<std::string> argv = {hubctl, "--config", settings_.config_path, "backup"};
    std::string input;
    std::string archive;  // The form's archive as an absolute path.
    auto with_archive = [&](const char* verb) -> std::string {
        archive = action.field("archive");
        if (!archive.starts_with('/')) {
            if (config->backup_dir.empty()) {
                return "no backup.dir on this box: give the archive's absolute path";
            }
            archive = config->backup_dir + "/" + archive;
        }
        argv.push_back(verb);
        argv.push_back(archive);
        if (action.field("passphrase").empty()) {
            if (config->backup_passphrase_file.empty()) {
                return "this box has no backup.passphrase_file: type the archive's passphrase";
            }
            argv.push_back("--passphrase-file");
            argv.push_back(config->backup_passphrase_file);
        } else {
            input = action.field("passphrase") + "\n";
        }
        return "";
    };
    switch (action.kind) {
        case ActionKind::backup_show:
            argv.push_back("schedule");
            break;
        case ActionKind::backup_run:
            if (!settings_.backup_unit.empty()) {
                return backup_in_unit(*config);
            }
            argv.push_back("run");
            break;
        case ActionKind::backup_verify:
            if (std::string why = with_archive("verify"); !why.empty()) {
                return failed(why);
            }
            break;
        case ActionKind::backup_restore:
            if (action.field("confirm") != "RESTORE") {
                return failed("a restore is confirmed by typing RESTORE");
            }
            if (std::string why = with_archive("restore"); !why.empty()) {
                return failed(why);
            }
            if (!settings_.restore_unit.empty()) {
                std::fill(input.begin(), input.end(), '\0');
                return restore_in_unit(archive, action.field("passphrase"),
                                       config->backup_passphrase_file);
            }
            break;
        case ActionKind::backup_schedule:
            argv.insert(argv.end(), {"schedule", "--interval-hours", action.field("interval_hours"),
                                     "--keep", action.field("keep")});
            break;
        default:
            HUB_PANIC("not a backup action");
    }
    Captured done = run_captured(argv, input);
    if (!input.empty()) {
        std::fill(input.begin(), input.end(), '\0');
    }
    if (done.status < 0) {
        return failed(fmt::format("cannot run {}: {}", hubctl, std::strerror(errno)));
    }
    if (done.status != 0) {
        return failed(last_line(done.output));
    }
    if (action.kind == ActionKind::backup_schedule) {
        for (const std::string& line : output_lines(done.output)) {
            if (line.starts_with("schedule:")) {
                return said("Backup " + line);
            }
        }
        return said("Backup schedule set");
    }
    Outcome outcome;
    outcome.lines = output_lines(done.output);
    if (action.kind == ActionKind::backup_show && !config->backup_dir.empty()) {
        // The archives kept here, newest first (their names hold their UTC time).
        std::vector<std::string> names;
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(config->backup_dir, error)) {
            std::string name = entry.path().filename().string();
            if (name.starts_with("hubbox-") && name.ends_with(".hbk")) {
                names.push_back(fmt::format("  {}  {}", name, bytes_text(entry.file_size(error))));
            }
        }
        std::sort(names.rbegin(), names.rend());
        outcome.lines.emplace_back();
        outcome.lines.push_back(names.empty() ? "No archive in " + config->backup_dir
                                              : "Archives in " + config->backup_dir + ":");
        outcome.lines.insert(outcome.lines.end(), names.begin(), names.end());
    }
    if (action.kind == ActionKind::backup_show) {
        std::vector<std::string> restore_lines = restore_unit_lines();
        outcome.lines.insert(outcome.lines.end(), restore_lines.begin(), restore_lines.end());
    }
    return outcome;
}

}  // namespace hub::hub_console
