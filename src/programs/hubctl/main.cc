// main.cc -- hubctl, the administrator's command line.
//
// PURPOSE   Inspect a hub without disturbing it, and manage its queue:
//             hubctl --config FILE queue list [--format text|tsv]
//             hubctl --spool DIR queue list [--format text|tsv]
//             hubctl --config FILE queue hold|release|retry|delete QUEUE_ID
//             hubctl config-doc
//           "queue list" shows the live messages like Postfix's mailq (text) or one
//           line per message for scripts (tsv, columns in CONTRACTS: queue_id, sender,
//           recipients, size_bytes, age_s, message_id; the null sender is "<>").
//           Only recipients still pending are listed, as mailq does.
// RUNS IN   an administrator's shell (root, or the hub user), beside a running or a
//           stopped hubd. "queue list" never talks to hubd: it reads hub.conf and scans the
//           spool read-only with spool::recover(), whose torn-tail rule makes a record being
//           appended at that moment simply not shown yet. hold/release/retry/delete write
//           one line to the running hubd's control socket (<spool>/control.sock, 0600) and
//           print its one-line answer.
// TRUST     hub.conf is the administrator's own file. Spool contents are not trusted:
//           the decoder validates them, and every string printed is made safe for a
//           terminal (text) or escaped (tsv) since senders choose addresses and headers.
// LIMITS    those of spool::recover() (spool/limits.h); messages are printed as they
//           are listed, so output costs no memory beyond the recovery itself.
//           Exit status: 0 ok, 1 runtime error (the message names the path), 2 usage.
//           Built with exceptions (CLI11 reports usage errors by throwing), unlike src/
//           libraries; nothing of ours throws.
// SEE ALSO  spool/spool_format.h, config/hub_config.h, docs/CONFIGURATION.md, postqueue(1)
#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"
#include "config/hub_config.h"
#include "engine/control.h"
#include "spool/spool_format.h"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;

struct Options {
    std::string config_path;
    std::string spool_dir;
    std::string format = "text";
    std::string queue_id;
};

template <typename... Args>
int fail(int code, fmt::format_string<Args...> format, Args&&... args) {
    fmt::print(stderr, "hubctl: {}\n", fmt::format(format, std::forward<Args>(args)...));
    return code;
}

// Control characters and DEL become '?', so that a hostile address cannot drive the
// administrator's terminal.
std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = '?';
        }
    }
    return out;
}

// TSV fields: backslash, tab, newline and other control characters escaped as \\, \t, \n
// and \xNN; commas too inside the recipients column, which they separate.
std::string tsv_field(std::string_view text, bool escape_comma) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (byte < 0x20 || byte == 0x7F || (escape_comma && c == ',')) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::vector<std::string_view> pending_recipients(const hub::spool::RecoveredMessage& message) {
    std::vector<std::string_view> out;
    const auto& recipients = message.meta.envelope.recipients;
    for (std::size_t i = 0; i < recipients.size() && i < message.recipient_status.size(); i++) {
        if (message.recipient_status[i] == hub::spool::RecipientStatus::pending) {
            out.emplace_back(recipients[i].address);
        }
    }
    return out;
}

// "Thu Mar  7 10:00:00", local time, as mailq shows arrival.
std::string arrival_text(std::uint64_t unix_s) {
    std::time_t when = static_cast<std::time_t>(unix_s);
    std::tm local{};
    char text[32];
    if (localtime_r(&when, &local) == nullptr ||
        std::strftime(text, sizeof text, "%a %b %e %H:%M:%S", &local) == 0) {
        return "?";
    }
    return text;
}

void print_text(const hub::spool::Recovery& recovery) {
    if (recovery.messages.empty()) {
        fmt::print("Mail queue is empty\n");
        return;
    }
    fmt::print("{:<16} {:>8} {:<20} {}\n", "-Queue ID-------", "--Size--", "----Arrival Time----",
               "-Sender/Recipient-------");
    std::uint64_t total_bytes = 0;
    for (const hub::spool::RecoveredMessage& message : recovery.messages) {
        const std::string& sender = message.meta.envelope.mail_from;
        fmt::print("{:<16} {:>8} {:<20} {}\n", message.meta.id.to_string(), message.content_bytes,
                   arrival_text(message.meta.arrival_unix_s),
                   sender.empty() ? std::string("MAILER-DAEMON") : printable(sender));
        for (std::string_view recipient : pending_recipients(message)) {
            fmt::print("{:47}{}\n", "", printable(recipient));
        }
        fmt::print("\n");
        total_bytes += message.content_bytes;
    }
    std::size_t count = recovery.messages.size();
    fmt::print("-- {} Kbytes in {} Request{}.\n", (total_bytes + 1023) / 1024, count,
               count == 1 ? "" : "s");
}

void print_tsv(const hub::spool::Recovery& recovery) {
    fmt::print("#queue_id\tsender\trecipients\tsize_bytes\tage_s\tmessage_id\n");
    auto now = static_cast<std::uint64_t>(std::time(nullptr));
    for (const hub::spool::RecoveredMessage& message : recovery.messages) {
        std::string recipients;
        for (std::string_view recipient : pending_recipients(message)) {
            recipients += recipients.empty() ? "" : ",";
            recipients += tsv_field(recipient, true);
        }
        const std::string& sender = message.meta.envelope.mail_from;
        std::uint64_t arrival = message.meta.arrival_unix_s;
        fmt::print("{}\t{}\t{}\t{}\t{}\t{}\n", message.meta.id.to_string(),
                   sender.empty() ? std::string("<>") : tsv_field(sender, false), recipients,
                   message.content_bytes, now > arrival ? now - arrival : 0,
                   tsv_field(message.message_id, false));
    }
}

// Damage worth an administrator's attention; a torn tail is what a running hub's
// in-progress write looks like, and what a crash leaves, so it is not reported.
void warn_about_segments(const hub::spool::Recovery& recovery) {
    for (const hub::spool::SegmentSummary& segment : recovery.segments) {
        switch (segment.problem) {
            case hub::spool::SegmentProblem::none:
            case hub::spool::SegmentProblem::torn_tail:
                break;
            case hub::spool::SegmentProblem::corrupt_record:
            case hub::spool::SegmentProblem::bad_segment_header:
            case hub::spool::SegmentProblem::not_regular_file:
                fmt::print(stderr, "hubctl: warning: {}: {}; {} bytes after it not read\n",
                           segment.path, printable(segment.problem_detail),
                           segment.file_bytes - segment.valid_bytes);
                break;
        }
    }
}

int queue_list(const Options& options) {
    std::string spool_dir = options.spool_dir;
    if (spool_dir.empty()) {
        if (options.config_path.empty()) {
            return fail(exit_usage, "queue list needs --config FILE or --spool DIR");
        }
        auto config = hub::config::load_hub_config(options.config_path);
        if (!config) {
            return fail(exit_runtime, "error: {}", config.error());
        }
        spool_dir = config->spool_dir;
    }
    auto recovery = hub::spool::recover(spool_dir, 0);
    if (!recovery) {
        return fail(exit_runtime, "error: cannot read the spool: {}", recovery.error().detail);
    }
    warn_about_segments(*recovery);
    if (options.format == "tsv") {
        print_tsv(*recovery);
    } else {
        print_text(*recovery);
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        return fail(exit_runtime, "error: cannot write the listing to standard output");
    }
    return exit_ok;
}

// Spool directory from --spool or --config; empty (after printing why) on error.
std::string spool_dir_of(const Options& options, int& status) {
    if (!options.spool_dir.empty()) {
        return options.spool_dir;
    }
    if (options.config_path.empty()) {
        status = fail(exit_usage, "this command needs --config FILE or --spool DIR");
        return {};
    }
    auto config = hub::config::load_hub_config(options.config_path);
    if (!config) {
        status = fail(exit_runtime, "error: {}", config.error());
        return {};
    }
    return config->spool_dir;
}

// hold / release / retry / delete: one line to the running hubd's control socket.
int queue_control(const Options& options, std::string_view verb) {
    int status = exit_ok;
    std::string spool_dir = spool_dir_of(options, status);
    if (spool_dir.empty()) {
        return status;
    }
    hub::spool::QueueId id;
    if (!hub::spool::QueueId::parse(options.queue_id, id)) {
        return fail(exit_usage, "'{}' is not a queue id: 16 hex digits, as queue list shows",
                    printable(options.queue_id));
    }
    std::string path = hub::engine::control_socket_path(spool_dir);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        return fail(exit_runtime, "error: control socket path too long: {}", path);
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        int error = errno;
        if (fd >= 0) {
            close(fd);
        }
        return fail(exit_runtime,
                    "error: cannot reach a running hubd at {} ({}); is hubd running with this "
                    "spool?",
                    path, std::strerror(error));
    }
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string line = fmt::format("{} {}\n", verb, id.to_string());
    std::array<char, 512> answer{};
    ssize_t got = -1;
    if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
        got = recv(fd, answer.data(), answer.size() - 1, 0);
    }
    close(fd);
    if (got <= 0) {
        return fail(exit_runtime, "error: hubd did not answer on {}", path);
    }
    std::string_view text(answer.data(), static_cast<std::size_t>(got));
    fmt::print("{}", printable(text.substr(0, text.find('\n'))) + "\n");
    return text.starts_with("ok") ? exit_ok : exit_runtime;
}

int config_doc() {
    fmt::print("{}", hub::config::describe_options());
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        return fail(exit_runtime, "error: cannot write to standard output");
    }
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hubctl");
    Options options;
    CLI::App app{"hubctl: inspect a Hubbox hub (running or stopped) and manage its queue."};
    app.require_subcommand(1);
    app.fallthrough();  // Global options may also follow the subcommands.
    CLI::Option* config = app.add_option("--config", options.config_path,
                                         "hub.conf to take the spool directory from");
    CLI::Option* spool = app.add_option("--spool", options.spool_dir,
                                        "spool directory to read (instead of --config)");
    config->excludes(spool);
    CLI::App* queue = app.add_subcommand("queue", "The mail queue.");
    queue->require_subcommand(1);
    queue->fallthrough();
    CLI::App* list = queue->add_subcommand(
        "list", "List live messages: like mailq (text) or tab-separated for scripts (tsv).");
    list->add_option("--format", options.format, "text (default) or tsv")
        ->check(CLI::IsMember({"text", "tsv"}));
    std::vector<std::pair<CLI::App*, std::string_view>> controls;
    for (auto [verb, help] : {std::pair<std::string_view, std::string_view>{
                                  "hold", "Stop delivering a message until it is released."},
                              {"release", "Deliver a held message again."},
                              {"retry", "Retry a deferred message now."},
                              {"delete", "Remove a message from the queue (no report)."}}) {
        CLI::App* command = queue->add_subcommand(std::string(verb), std::string(help));
        command->add_option("queue_id", options.queue_id, "queue id (16 hex digits)")->required();
        controls.emplace_back(command, verb);
    }
    CLI::App* doc = app.add_subcommand("config-doc", "Print the hub.conf option table.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);  // Prints help (code 0) or the usage error.
        return code == 0 ? exit_ok : exit_usage;
    }
    if (list->parsed()) {
        return queue_list(options);
    }
    if (doc->parsed()) {
        return config_doc();
    }
    for (auto [command, verb] : controls) {
        if (command->parsed()) {
            return queue_control(options, verb);
        }
    }
    return fail(exit_usage, "nothing to do; see --help");
}
