// main.cc -- hub-netcfg, the box's network and firewall configuration helper.
//
// PURPOSE   The one process that changes the box's interfaces, routes and firewall:
//             hub-netcfg serve --socket PATH --state-dir DIR [--console-user NAME]
//                              [--confirm-window-s N] [--netns NAME [--base-ruleset FILE]]
//             hub-netcfg apply-saved --state-dir DIR [--netns NAME]
//             hub-netcfg ask [--socket PATH] [--session S] [--always] VERB ARGS...
//           serve applies the saved settings (DIR/network.conf), then answers typed
//           requests on a Unix socket one connection at a time, and rolls back a risky
//           change that is not confirmed in time. apply-saved applies the saved settings
//           once and exits (boot). With --netns NAME (development), everything happens
//           inside the network namespace NAME, made with a veth pair to NAME-peer if it
//           does not exist; the host's interfaces, routes and firewall are never touched.
//           ask sends one request, as the console would (ask.cc).
// RUNS IN   its own process: on the box as `hubnet` with only CAP_NET_ADMIN (ambient, from
//           its unit); in development as root (making namespaces needs CAP_SYS_ADMIN).
// TRUST     Callers are told apart by SO_PEERCRED: root and --console-user's account and
//           group may ask, nobody else; requests are decoded and bounded by
//           netcfg/protocol.cc and checked by netcfg/planner.cc before anything is applied.
// LIMITS    netcfg/limits.h. Exit status: 0 ok (serve: stopped by SIGTERM/SIGINT), 1 error
//           (the message says what to fix), 2 usage.
// SEE ALSO  docs/NETWORK.md, rootfs/usr/lib/systemd/system/hub-netcfg.service.

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "ask.h"
#include "base/fd_io.h"
#include "base/log.h"
#include "netcfg/daemon.h"
#include "netcfg/firewall.h"
#include "netcfg/limits.h"
#include "netcfg/socket_io.h"

namespace {

using namespace hub::netcfg;
using hub::Result;
using hub::unexpected;
namespace fs = std::filesystem;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;

volatile std::sig_atomic_t stop_requested = 0;

void on_stop_signal(int) {
    stop_requested = 1;
}

std::int64_t now_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

// Runs a program (development namespaces only) and waits for it.
Result<void, std::string> run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    pid_t child = ::fork();
    if (child == 0) {
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        std::string line;
        for (const std::string& arg : argv) {
            line += (line.empty() ? "" : " ") + arg;
        }
        return unexpected(fmt::format("{} failed", line));
    }
    return {};
}

// The development namespaces: NAME (the box: eth0, with no address until one is set
// through hub-netcfg) and NAME-peer (its neighbour: eth0 192.0.2.1/24 and 2001:db8::1/64,
// the documentation networks), joined by a veth pair. Made with iproute2, once.
Result<void, std::string> make_dev_namespaces(const std::string& name) {
    if (fs::exists("/run/netns/" + name)) {
        return {};
    }
    std::string peer = name + "-peer";
    const std::vector<std::vector<std::string>> commands = {
        {"ip", "netns", "add", name},
        {"ip", "netns", "add", peer},
        {"ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
         peer},
        {"ip", "-n", name, "link", "set", "lo", "up"},
        {"ip", "-n", peer, "link", "set", "lo", "up"},
        {"ip", "-n", peer, "address", "add", "192.0.2.1/24", "dev", "eth0"},
        {"ip", "-n", peer, "address", "add", "2001:db8::1/64", "dev", "eth0", "nodad"},
        {"ip", "-n", peer, "link", "set", "eth0", "up"},
    };
    for (const auto& command : commands) {
        if (auto done = run(command); !done) {
            return done;
        }
    }
    hub::base::log_info(
        "made the development namespaces {} and {} (veth eth0 <-> eth0, peer "
        "192.0.2.1/24, 2001:db8::1/64)",
        name, peer);
    return {};
}

// Moves the whole (still single-threaded) process into the namespace: every socket made
// afterwards -- rtnetlink, nftables, the probes -- is the namespace's.
Result<void, std::string> enter_namespace(const std::string& name) {
    std::string path = "/run/netns/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
    }
    int entered = ::setns(fd, CLONE_NEWNET);
    int error = errno;
    ::close(fd);
    if (entered != 0) {
        return unexpected(fmt::format("setns {}: {}", path, std::strerror(error)));
    }
    // A new namespace allows ICMP datagram sockets to no group; allow them as systemd does
    // on the box (docs/NETWORK.md, "Probes").
    std::ofstream("/proc/sys/net/ipv4/ping_group_range") << "0 2147483647\n";
    return {};
}

Result<int, std::string> listen_on(const std::string& path) {
    return hub::base::listen_unix(path, listen_backlog, "--socket");
}

Result<RoleIds, std::string> role_ids(const std::string& console_user) {
    RoleIds ids;
    if (console_user.empty()) {
        return ids;
    }
    passwd* entry = ::getpwnam(console_user.c_str());
    if (entry == nullptr) {
        // Fails closed: without the console's account only root may ask. The box's unit
        // names `console`, which the console's own sysusers file makes.
        hub::base::log_warn(
            "--console-user \"{}\": no such user on this system; only root may "
            "ask",
            console_user);
        return ids;
    }
    ids.console_uid = entry->pw_uid;
    ids.console_gid = entry->pw_gid;
    return ids;
}

Peer peer_of(const ucred& credentials) {
    Peer peer{credentials.uid, credentials.gid, {}};
    std::vector<gid_t> groups(64);
    if (passwd* entry = ::getpwuid(credentials.uid); entry != nullptr) {
        int count = static_cast<int>(groups.size());
        if (::getgrouplist(entry->pw_name, entry->pw_gid, groups.data(), &count) < 0) {
            count = 0;  // More than 64 groups: judged on its uid and primary group only.
        }
        peer.groups.assign(groups.begin(), groups.begin() + count);
    }
    return peer;
}

void answer_one(int listener, Daemon& daemon, const RoleIds& ids) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    set_timeouts(fd, socket_timeout_ms);
    ucred credentials{};
    socklen_t size = sizeof(credentials);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
        ::close(fd);
        return;
    }
    // The request is read before the role is looked at, so that a caller who may not ask
    // still gets its refusal instead of a reset while it is writing.
    auto request = read_message(fd, Direction::request);
    Message answer;
    std::string what = request ? std::string(kind_name(request->kind)) : "?";
    if (!may_ask(peer_of(credentials), ids)) {
        answer = refusal(ErrorCode::not_permitted,
                         fmt::format("uid {} may not ask hub-netcfg (only root and the console's "
                                     "account)",
                                     credentials.uid));
    } else if (!request) {
        answer = refusal(ErrorCode::bad_request, request.error());
    } else {
        answer = daemon.handle(*request, now_ms());
    }
    if (answer.kind == Kind::refused) {
        hub::base::log_info("{} from uid {}: refused ({}): {}", what, credentials.uid,
                            answer.get(Field::code), answer.get(Field::message));
    } else {
        hub::base::log_debug("{} from uid {}: ok", what, credentials.uid);
    }
    (void)write_message(fd, answer);
    ::close(fd);
}

struct ServeOptions {
    std::string socket_path;
    DaemonOptions service;
    std::string console_user;
    std::string base_ruleset;
};

int serve(const ServeOptions& options) {
    auto ids = role_ids(options.console_user);
    if (!ids) {
        hub::base::log_error("{}", ids.error());
        return exit_error;
    }
    if (!options.base_ruleset.empty()) {
        std::ifstream file(options.base_ruleset);
        std::string script((std::istreambuf_iterator<char>(file)), {});
        if (!file || script.empty()) {
            hub::base::log_error("--base-ruleset {}: cannot read it", options.base_ruleset);
            return exit_error;
        }
        if (auto applied = apply_ruleset(script); !applied) {
            hub::base::log_error("--base-ruleset {}: {}", options.base_ruleset, applied.error());
            return exit_error;
        }
    }
    auto opened = Daemon::open(options.service);
    if (!opened) {
        hub::base::log_error("{}", opened.error());
        return exit_error;
    }
    Daemon& service = **opened;
    // A saved setting the kernel refuses is logged, not fatal: the daemon must serve so
    // that the administrator can correct it from the console (a restart loop could not).
    if (auto warnings = service.apply_saved(); !warnings) {
        hub::base::log_error(
            "applying the saved settings: {}; serving anyway, so that they can "
            "be corrected",
            warnings.error());
    } else {
        for (const std::string& warning : *warnings) {
            hub::base::log_warn("{}", warning);
        }
    }
    auto listener = listen_on(options.socket_path);
    if (!listener) {
        hub::base::log_error("{}", listener.error());
        return exit_error;
    }
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;  // No SA_RESTART: poll() returns EINTR.
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    hub::base::log_info("ready on {} (uid {}, confirm window {} s)", options.socket_path,
                        ::getuid(), options.service.confirm_window_s);
    while (stop_requested == 0) {
        auto due_ms = service.ms_until_due(now_ms());
        int wait_ms = due_ms ? static_cast<int>(std::min<std::int64_t>(*due_ms + 1, 60000)) : -1;
        pollfd poll_fd{*listener, POLLIN, 0};
        if (::poll(&poll_fd, 1, wait_ms) > 0) {
            answer_one(*listener, service, *ids);
        }
        if (auto rolled_back = service.tick(now_ms())) {
            hub::base::log_warn("{}", *rolled_back);
        }
    }
    ::close(*listener);
    ::unlink(options.socket_path.c_str());
    // A change still waiting for confirmation is not what network.conf says: put the
    // saved state back rather than leave an unconfirmed one behind.
    if (auto warnings_again = service.apply_saved(); !warnings_again) {
        hub::base::log_error("at stop, applying the saved settings: {}", warnings_again.error());
    }
    hub::base::log_info("stopped");
    return exit_ok;
}

int apply_saved(const DaemonOptions& options) {
    auto opened = Daemon::open(options);
    if (!opened) {
        hub::base::log_error("{}", opened.error());
        return exit_error;
    }
    Daemon& service = **opened;
    auto warnings = service.apply_saved();
    if (!warnings) {
        hub::base::log_error("{}", warnings.error());
        return exit_error;
    }
    for (const std::string& warning : *warnings) {
        hub::base::log_warn("{}", warning);
    }
    hub::base::log_info("applied {}/network.conf", options.state_dir);
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hub-netcfg");
    CLI::App app{"hub-netcfg: the box's network and firewall helper (docs/NETWORK.md)."};
    app.require_subcommand(1);
    ServeOptions options;
    std::string netns;
    options.service.state_dir = "/var/lib/hubbox/network";
    options.socket_path = "/run/hub-netcfg/netcfg.sock";
    CLI::App* serve_command = app.add_subcommand("serve", "Answer requests on --socket.");
    serve_command->add_option("--socket", options.socket_path, "the Unix socket to listen on");
    serve_command->add_option("--state-dir", options.service.state_dir,
                              "network.conf, resolv.conf, hostname");
    serve_command->add_option("--console-user", options.console_user,
                              "the account (and its group) besides root that may ask");
    serve_command
        ->add_option("--confirm-window-s", options.service.confirm_window_s,
                     "seconds a risky change waits for confirmation")
        ->check(CLI::Range(confirm_window_s_min, confirm_window_s_max));
    serve_command->add_option("--netns", netns,
                              "development: work inside this network namespace (made, with a "
                              "veth pair to NAME-peer, if missing)");
    serve_command->add_option("--base-ruleset", options.base_ruleset,
                              "development: load this nftables file (rootfs/etc/nftables.conf) "
                              "in the namespace first");
    CLI::App* apply_command =
        app.add_subcommand("apply-saved", "Apply --state-dir/network.conf once (boot).");
    apply_command->add_option("--state-dir", options.service.state_dir,
                              "network.conf, resolv.conf, hostname");
    apply_command->add_option("--netns", netns, "development: inside this network namespace");
    CLI::App* ask_command =
        app.add_subcommand("ask", "Send hub-netcfg one request (the console's calls).");
    std::string session;
    bool always = false;
    std::vector<std::string> words;
    if (const char* from_ssh = std::getenv("SSH_CONNECTION")) {
        session = from_ssh;
    }
    ask_command->add_option("--socket", options.socket_path, "hub-netcfg's socket");
    ask_command->add_option("--session", session,
                            "the SSH session, as SSH_CONNECTION says (default: $SSH_CONNECTION)");
    ask_command->add_flag("--always", always, "apply a change with the confirm timer");
    ask_command->add_option("words", words,
                            "VERB ARGS... (hub-netcfg ask with no verb lists them)");
    ask_command->positionals_at_end();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);
        return code == 0 ? exit_ok : exit_usage;
    }
    if (!options.base_ruleset.empty() && netns.empty()) {
        hub::base::log_error(
            "--base-ruleset is for a development namespace (--netns); the box "
            "loads /etc/nftables.conf itself");
        return exit_usage;
    }
    if (ask_command->parsed()) {
        return ask(options.socket_path, session, always, words);
    }
    ::umask(022);
    if (!netns.empty()) {
        if (serve_command->parsed()) {
            if (auto made = make_dev_namespaces(netns); !made) {
                hub::base::log_error("{}", made.error());
                return exit_error;
            }
        }
        if (auto entered = enter_namespace(netns); !entered) {
            hub::base::log_error("{}", entered.error());
            return exit_error;
        }
    }
    if (serve_command->parsed()) {
        return serve(options);
    }
    return apply_saved(options.service);
}
