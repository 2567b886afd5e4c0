// main.cc -- hub-console, the appliance's text console: the login shell of the console
// account, over SSH, on the screen and keyboard, or on a serial line.
//
// PURPOSE   A menu, never a shell (docs/CONSOLE.md):
//             hub-console [--config FILE] [--dev] [--netcfg-socket PATH]
//                         [--admin-socket PATH] [--hubctl /PATH]
//           Status, Network, Certificates, Partners, Service access, Passwords, Queue,
//           Shutdown. The menu itself is console::Model (sans-I/O); this file is the thin
//           curses view around it (the only code that includes curses.h) and the loop that
//           hands the model's actions to the Runner.
// RUNS IN   the console account's login session (unprivileged), on a terminal of 80x24 or
//           more; --dev against the development hub that tools/run starts (tools/console).
// TRUST     Every key is untrusted. The terminal is in raw mode (ISIG, IXON and ICANON off),
//           so Ctrl-C, Ctrl-Z and Ctrl-\ arrive as bytes the model refuses; SIGINT, SIGQUIT
//           and SIGTSTP are blocked besides (and SIGTSTP, SIGTTIN, SIGTTOU ignored), so not
//           even a signal sent from elsewhere stops or suspends the menu. SIGHUP (the line
//           or the SSH session went away) and SIGTERM end it cleanly. Arguments are refused
//           unless they are this program's own: sshd runs a login shell with "-c COMMAND"
//           for `ssh console@hub COMMAND`, which gets a refusal, never a command. Nothing is
//           ever given to a shell; the two programs it may run (passwd, systemctl) are fixed
//           paths with fixed arguments (runner.cc).
// LIMITS    console/limits.h (fields, pages, lines); one action at a time.
// SEE ALSO  console/model.h, programs/hub-console/runner.h, docs/CONSOLE.md.
#include <curses.h>
#include <fmt/format.h>
#include <poll.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/hub_config.h"
#include "console/model.h"
#include "programs/hub-console/runner.h"

namespace {

using hub::console::Key;
using hub::console::KeyKind;
using hub::console::Screen;
using hub::console::Style;

volatile std::sig_atomic_t stop_signal = 0;

void on_stop(int signal_number) {
    stop_signal = signal_number;
}

struct Options {
    std::string config_path = "/etc/hubbox/hub.conf";
    bool development = false;
    std::string netcfg_socket = "/run/hub-netcfg/netcfg.sock";
    // hub-console-admin (the privileged half); the appliance's unless --dev or given.
    std::optional<std::string> admin_socket;
    std::string hubctl_path;  // The Backup page's hubctl; empty: the appliance's.
};

constexpr std::string_view appliance_admin_socket = "/run/hub-console-admin.sock";

// Where the appliance installs hub-console; sshd's ForceCommand names it (rootfs/etc/ssh).
constexpr std::string_view self_path = "/usr/bin/hub-console";

// Only this program's own options, and "-c /usr/bin/hub-console" (the ForceCommand);
// anything else (sshd's "-c COMMAND" for `ssh console@hub COMMAND`, "-c sftp-server") is a
// refusal, printed before the terminal is touched.
std::optional<Options> parse_arguments(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; i++) {
        std::string_view arg = argv[i];
        if (arg == "-c" && i + 2 == argc && std::string_view(argv[i + 1]) == self_path) {
            i++;  // sshd's ForceCommand, run through this login shell: the menu itself.
        } else if (arg == "--dev") {
            options.development = true;
        } else if ((arg == "--config" || arg == "--netcfg-socket") && i + 1 < argc) {
            (arg == "--config" ? options.config_path : options.netcfg_socket) = argv[++i];
        } else if (arg == "--admin-socket" && i + 1 < argc) {
            options.admin_socket = argv[++i];
        } else if (arg == "--hubctl" && i + 1 < argc && argv[i + 1][0] == '/') {
            options.hubctl_path = argv[++i];
        } else {
            std::fputs(
                "hub-console: this account gives the console menu only; it runs no commands.\n"
                "  Log in with a terminal (ssh -t, or the screen, or the serial line).\n",
                stderr);
            return std::nullopt;
        }
    }
    return options;
}

void install_signals() {
    sigset_t blocked;
    sigemptyset(&blocked);
    for (int signal_number : {SIGINT, SIGQUIT, SIGTSTP}) {
        sigaddset(&blocked, signal_number);
    }
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    // Ignored dispositions survive exec: passwd, run on the terminal, cannot be suspended
    // either (runner.cc resets only SIGINT and SIGQUIT for it).
    for (int signal_number : {SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE}) {
        sigaction(signal_number, &ignore, nullptr);
    }
    struct sigaction stop {};
    stop.sa_handler = on_stop;
    sigemptyset(&stop.sa_mask);
    stop.sa_flags = 0;  // No SA_RESTART: a blocked read returns and the loop sees the flag.
    for (int signal_number : {SIGHUP, SIGTERM}) {
        sigaction(signal_number, &stop, nullptr);
    }
}

Key key_of(int ch) {
    switch (ch) {
        case KEY_UP:
            return Key::of(KeyKind::up);
        case KEY_DOWN:
            return Key::of(KeyKind::down);
        case KEY_LEFT:
            return Key::of(KeyKind::left);
        case KEY_RIGHT:
            return Key::of(KeyKind::right);
        case KEY_PPAGE:
            return Key::of(KeyKind::page_up);
        case KEY_NPAGE:
            return Key::of(KeyKind::page_down);
        case KEY_HOME:
            return Key::of(KeyKind::home);
        case KEY_END:
            return Key::of(KeyKind::end);
        case KEY_ENTER:
        case '\r':
        case '\n':
            return Key::of(KeyKind::enter);
        case KEY_BACKSPACE:
        case 0x7f:  // What most terminals send for the Backspace key.
        case 0x08:
            return Key::of(KeyKind::backspace);
        case '\t':
            return Key::of(KeyKind::tab);
        case KEY_BTAB:
            return Key::of(KeyKind::back_tab);
        case 0x1b:
            return Key::of(KeyKind::escape);
        case KEY_RESIZE:
            return Key::resized(COLS, LINES);
        default:
            if (ch >= 0 && ch <= 0xff) {
                return Key::byte(static_cast<unsigned char>(ch));
            }
            return Key::of(KeyKind::other);
    }
}

// True when the terminal has sent more than curses has read (poll, no wait).
bool more_input_waiting() {
    pollfd terminal{STDIN_FILENO, POLLIN, 0};
    return ::poll(&terminal, 1, 0) == 1 && (terminal.revents & POLLIN) != 0;
}

attr_t attribute_of(Style style) {
    switch (style) {
        case Style::normal:
            return A_NORMAL;
        case Style::title:
        case Style::selected:
            return A_REVERSE;
        case Style::heading:
        case Style::ok:
            return A_BOLD;
        case Style::field:
            return A_UNDERLINE;
        case Style::error:
            return A_BOLD | (has_colors() ? COLOR_PAIR(1) : A_NORMAL);
        case Style::hint:
            return A_DIM;
    }
    return A_NORMAL;
}

void draw(const Screen& screen) {
    erase();
    for (int row = 0; row < screen.rows && row < LINES; row++) {
        const auto& line = screen.lines[static_cast<std::size_t>(row)];
        attrset(attribute_of(line.style));
        mvaddnstr(row, 0, line.text.c_str(), std::min(COLS, screen.cols));
    }
    attrset(A_NORMAL);
    if (screen.cursor_row >= 0) {
        curs_set(1);
        move(screen.cursor_row, screen.cursor_col);
    } else {
        curs_set(0);
        move(LINES - 1, 0);
    }
    refresh();
}

// passwd on the terminal: curses steps aside, then takes the screen back.
int run_on_terminal(const std::vector<std::string>& argv) {
    def_prog_mode();
    endwin();
    int status = hub::hub_console::run_program(argv, false);
    int saved = errno;
    reset_prog_mode();
    clearok(stdscr, TRUE);
    refresh();
    errno = saved;
    return status;
}

bool terminal_gone() {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    if (poll(&input, 1, 0) < 0) {
        return errno != EINTR;
    }
    return (input.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

std::string account_name() {
    if (const passwd* entry = getpwuid(getuid()); entry != nullptr && entry->pw_name != nullptr) {
        return entry->pw_name;
    }
    return fmt::format("uid:{}", getuid());
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> options = parse_arguments(argc, argv);
    if (!options) {
        return 1;
    }
    if (isatty(STDIN_FILENO) != 1 || isatty(STDOUT_FILENO) != 1) {
        std::fputs("hub-console: needs a terminal (ssh -t, the screen or the serial line)\n",
                   stderr);
        return 1;
    }
    install_signals();
    hub::console::Settings settings;
    settings.development = options->development;
    if (auto config = hub::config::load_hub_config(options->config_path)) {
        settings.host_name = config->hostname;
    } else {
        settings.host_name = "(hub.conf unreadable)";
    }
    std::string account = account_name();
    // Development: this process reads and writes the hub's files itself (as tools/run's
    // user); the appliance's console asks its privileged half.
    std::string admin_socket = options->admin_socket.value_or(
        options->development ? std::string() : std::string(appliance_admin_socket));
    hub::hub_console::RunnerSettings runner_settings{options->config_path, options->development,
                                                     "console:" + account, options->netcfg_socket,
                                                     admin_socket};
    if (!options->hubctl_path.empty()) {
        runner_settings.hubctl_path = options->hubctl_path;
    }
    hub::hub_console::Runner runner(std::move(runner_settings), run_on_terminal);

    set_escdelay(50);  // Escape alone is a key here; sequences arrive within 50 ms.
    initscr();
    raw();  // No ISIG, IXON or ICANON: Ctrl-C, Ctrl-Z, Ctrl-\, Ctrl-S arrive as bytes.
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    meta(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    timeout(1000);  // getch returns at least once a second, to notice SIGHUP and SIGTERM.
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_RED, -1);
    }
    hub::console::Model model(settings);
    model.press(Key::resized(COLS, LINES));
    draw(model.render());
    // Bounded by the administrator: one pass per key (or per second without one).
    while (stop_signal == 0 && !model.finished()) {
        int ch = getch();
        if (ch == ERR) {
            // The second passed, or a signal interrupted the read; or the line is gone
            // without a SIGHUP (a closed pty reads as end of file), which ends the session
            // rather than spinning.
            if (terminal_gone()) {
                break;
            }
            continue;
        }
        model.press(key_of(ch));
        bool acted = false;
        while (std::optional<hub::console::Action> action = model.take_action()) {
            if (model.finished()) {
                break;
            }
            acted = true;
            draw(model.render());  // "Working..." while it runs.
            model.complete(runner.run(*action));
        }
        // A paste arrives as thousands of keys: the screen is drawn once they are all in,
        // not after each (the next key is already waiting).
        if (!acted && more_input_waiting()) {
            continue;
        }
        draw(model.render());
    }
    endwin();
    return 0;
}
