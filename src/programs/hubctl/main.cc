// main.cc -- hubctl, the administrator's command line.
//
// PURPOSE   Inspect a hub without disturbing it, and manage its queue:
//             hubctl --config FILE queue list [--format text|tsv|json]
//             hubctl --config FILE queue show QUEUE_ID [--body]
//             hubctl --config FILE queue hold|release|delete QUEUE_ID...|ALL [--partner NAME]
//             hubctl --config FILE queue retry QUEUE_ID...|ALL [--partner NAME]
//             hubctl --config FILE status [--json] [--socket PATH]
//             hubctl config-doc
//             hubctl --config FILE reload
//           (--spool DIR instead of --config works too, without routing: recipients are
//           then shown as received, and --partner is not available.)
//           "queue list" shows the live messages like Postfix's mailq (text), one line per
//           message for scripts (tsv, columns: queue_id, sender, recipients, size_bytes,
//           age_s, message_id, held, states, delivered_as, view; the null sender is "<>"),
//           or a JSON array of messages with their recipients. Only recipients still
//           pending are listed, as mailq does. "queue show" is postcat -q: envelope,
//           history (status records in spool order), headers, or the whole message.
//           "status" prints the running hub's health counters (docs/HEALTH.md) from its
//           read-only status socket, as text or JSON (--json).
// RUNS IN   an administrator's shell (root, or the hub user), beside a running or a
//           stopped hubd. Reading never talks to hubd through the spool: it scans it
//           read-only with spool::recover(), whose torn-tail rule makes a record being
//           appended at that moment simply not shown yet; a running hubd is also asked
//           (control socket) for each recipient's live state. hold/release/delete on a
//           running hub go to its control socket (answered when the record is durable); on
//           a stopped hub hubctl takes the spool lock and writes the records itself
//           (spool_admin.h). retry needs a running hub. "reload" asks a running hubd to read
//           hub.conf and its partners again (docs/DIRECTORY.md, "Live reload").
// TRUST     hub.conf and the partner file are the administrator's own. Spool contents are
//           not trusted: the decoder validates them, and every string printed is made safe
//           for a terminal (text), escaped (tsv) or encoded (json), since senders choose
//           addresses and headers.
// LIMITS    those of spool::recover() (spool/limits.h); a hub answer of at most
//           hub_answer_bytes_max. Exit status: 0 ok, 1 runtime error or a refused
//           command (the message says what to fix), 2 usage. Built with exceptions (CLI11
//           reports usage errors by throwing), unlike src/ libraries; nothing of ours throws.
// SEE ALSO  spool/spool_format.h, engine/control.h, docs/DELIVERY.md (queue tools),
//           postqueue(1), postcat(1)
#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "config/hub_config.h"
#include "directory/configured.h"
#include "engine/control.h"
#include "health/snapshot.h"
#include "policy/partners.h"
#include "programs/hubctl/backup_commands.h"
#include "programs/hubctl/ca_commands.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/directory_commands.h"
#include "programs/hubctl/hub_key_commands.h"
#include "programs/hubctl/queue_view.h"
#include "programs/hubctl/spool_admin.h"
#include "programs/hubctl/text.h"
#include "programs/hubctl/tls_failure_commands.h"
#include "spool/spool_format.h"

namespace {

using hub::hubctl::control_request;
using hub::hubctl::flushed;
using hub::hubctl::HubMessage;
using hub::hubctl::HubView;
using hub::hubctl::json_string;
using hub::hubctl::MessageView;
using hub::hubctl::printable;
using hub::hubctl::recipient_note;
using hub::hubctl::RecipientView;
using hub::hubctl::time_text;
using hub::hubctl::tsv_field;
using hub::hubctl::view_of;
using hub::spool::QueueId;
using hub::spool::RecoveredMessage;

constexpr int exit_ok = 0;
constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;

constexpr std::array<std::string_view, 15> top_commands = {
    "queue",     "status",       "config-doc", "partner",       "domain",
    "connector", "audit",        "admin",      "reload",        "ca",
    "backup",    "tls-endpoint", "trust",      "listener-cert", "tls-failures"};
constexpr std::array<std::string_view, 6> queue_commands = {"list",    "show",  "hold",
                                                            "release", "retry", "delete"};

struct Options {
    std::string config_path;
    std::string spool_dir;
    std::string format = "text";
    std::string show_id;
    std::vector<std::string> ids;
    std::string partner;
    bool body = false;
    bool json = false;
    std::string socket_path;
};

template <typename... Args>
int fail(int code, fmt::format_string<Args...> format, Args&&... args) {
    fmt::print(stderr, "hubctl: {}\n", fmt::format(format, std::forward<Args>(args)...));
    return code;
}

using Context = hub::hubctl::QueueContext;

// Fills context from --spool or --config; on error prints why and returns the exit code.
std::optional<int> load_context(const Options& options, Context& context) {
    if (!options.spool_dir.empty()) {
        context.spool_dir = options.spool_dir;
        return std::nullopt;
    }
    if (options.config_path.empty()) {
        return fail(exit_usage, "this command needs --config FILE or --spool DIR");
    }
    std::string partners_warning;
    auto loaded = hub::hubctl::queue_context(options.config_path, partners_warning);
    if (!loaded) {
        return fail(exit_runtime, "error: {}", loaded.error());
    }
    if (!partners_warning.empty()) {
        fmt::print(stderr, "hubctl: warning: {}; recipients are shown as received\n",
                   partners_warning);
    }
    context = std::move(*loaded);
    return std::nullopt;
}

std::uint64_t now_unix_s() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

std::string_view view_name(bool running) {
    return running ? "running" : "stopped";
}

void print_view_note(bool running) {
    if (running) {
        fmt::print("-- hubd is running: states from its scheduler\n");
    } else {
        fmt::print(
            "-- hubd is stopped: states from the spool alone (deferral reasons and "
            "retry times are kept only by a running hubd)\n");
    }
}

// Postfix mailq's marks after the queue id: '!' held, '*' being delivered.
char mark_of(const MessageView& view) {
    if (view.held) {
        return '!';
    }
    bool active = std::any_of(view.recipients.begin(), view.recipients.end(),
                              [](const RecipientView& r) { return r.state == "active"; });
    return active ? '*' : ' ';
}

void print_text(const std::vector<MessageView>& views, bool running) {
    print_view_note(running);
    if (views.empty()) {
        fmt::print("Mail queue is empty\n");
        return;
    }
    fmt::print("{:<16} {:>8} {:<20} {}\n", "-Queue ID-------", "--Size--", "----Arrival Time----",
               "-Sender/Recipient-------");
    std::uint64_t total_bytes = 0;
    for (const MessageView& view : views) {
        const RecoveredMessage& message = *view.message;
        const std::string& sender = message.meta.envelope.mail_from;
        fmt::print("{:<16}{}{:>8} {:<20} {}\n", message.meta.id.to_string(), mark_of(view),
                   message.content_bytes, time_text(message.meta.arrival_unix_s),
                   sender.empty() ? std::string("MAILER-DAEMON") : printable(sender));
        for (const RecipientView& recipient : view.recipients) {
            fmt::print("{:47}{}{}\n", "", printable(recipient.address), recipient_note(recipient));
        }
        fmt::print("\n");
        total_bytes += message.content_bytes;
    }
    std::size_t count = views.size();
    fmt::print("-- {} Kbytes in {} Request{}.\n", (total_bytes + 1023) / 1024, count,
               count == 1 ? "" : "s");
}

std::string joined(const std::vector<RecipientView>& recipients,
                   std::string RecipientView::*field) {
    std::string out;
    for (const RecipientView& recipient : recipients) {
        out += out.empty() ? "" : ",";
        out += tsv_field(recipient.*field, true);
    }
    return out;
}

void print_tsv(const std::vector<MessageView>& views, bool running) {
    fmt::print(
        "#queue_id\tsender\trecipients\tsize_bytes\tage_s\tmessage_id\theld\tstates\t"
        "delivered_as\tview\n");
    std::uint64_t now = now_unix_s();
    for (const MessageView& view : views) {
        const RecoveredMessage& message = *view.message;
        const std::string& sender = message.meta.envelope.mail_from;
        std::uint64_t arrival = message.meta.arrival_unix_s;
        fmt::print("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", message.meta.id.to_string(),
                   sender.empty() ? std::string("<>") : tsv_field(sender, false),
                   joined(view.recipients, &RecipientView::envelope_address), message.content_bytes,
                   now > arrival ? now - arrival : 0, tsv_field(message.message_id, false),
                   view.held ? 1 : 0, joined(view.recipients, &RecipientView::state),
                   joined(view.recipients, &RecipientView::address), view_name(running));
    }
}

std::string json_recipient(const RecipientView& recipient) {
    std::string next_try = recipient.state == "deferred"
                               ? std::to_string(recipient.next_try_ms / 1000)
                               : std::string("null");
    return fmt::format(
        "{{\"index\": {}, \"address\": {}, \"envelope_address\": {}, \"partner\": {}, "
        "\"state\": {}, \"reason\": {}, \"next_try_unix_s\": {}, \"attempts\": {}}}",
        recipient.index, json_string(recipient.address), json_string(recipient.envelope_address),
        json_string(recipient.partner), json_string(recipient.state), json_string(recipient.reason),
        next_try, recipient.attempts);
}

void print_json(const std::vector<MessageView>& views, bool running) {
    std::uint64_t now = now_unix_s();
    fmt::print("[");
    for (std::size_t m = 0; m < views.size(); m++) {
        const MessageView& view = views[m];
        const RecoveredMessage& message = *view.message;
        std::uint64_t arrival = message.meta.arrival_unix_s;
        fmt::print(
            "{}\n  {{\"queue_id\": \"{}\", \"view\": \"{}\", \"sender\": {}, "
            "\"arrival_unix_s\": {}, \"age_s\": {}, \"size_bytes\": {}, \"message_id\": {}, "
            "\"held\": {}, \"recipients\": [",
            m == 0 ? "" : ",", message.meta.id.to_string(), view_name(running),
            json_string(message.meta.envelope.mail_from), arrival,
            now > arrival ? now - arrival : 0, message.content_bytes,
            json_string(message.message_id), view.held ? "true" : "false");
        for (std::size_t r = 0; r < view.recipients.size(); r++) {
            fmt::print("{}\n    {}", r == 0 ? "" : ",", json_recipient(view.recipients[r]));
        }
        fmt::print("]}}");
    }
    fmt::print("{}]\n", views.empty() ? "" : "\n");
}

using Snapshot = hub::hubctl::QueueSnapshot;

// The spool and, if hubd runs, its scheduler's view; warnings to stderr.
std::optional<int> take_snapshot(const Context& context, Snapshot& snapshot) {
    auto taken = hub::hubctl::take_queue_snapshot(context);
    if (!taken) {
        return fail(exit_runtime, "error: {}", taken.error());
    }
    snapshot = std::move(*taken);
    for (const std::string& warning : snapshot.warnings) {
        fmt::print(stderr, "hubctl: warning: {}\n", warning);
    }
    return std::nullopt;
}

int queue_list(const Options& options) {
    Context context;
    if (auto error = load_context(options, context)) {
        return *error;
    }
    Snapshot snapshot;
    if (auto error = take_snapshot(context, snapshot)) {
        return *error;
    }
    const HubView* hub_view = snapshot.hub_view ? &*snapshot.hub_view : nullptr;
    std::vector<MessageView> views;
    for (const RecoveredMessage& message : snapshot.recovery.messages) {
        views.push_back(view_of(context, message, hub_view));
    }
    if (options.format == "tsv") {
        print_tsv(views, snapshot.running);
    } else if (options.format == "json") {
        print_json(views, snapshot.running);
    } else {
        print_text(views, snapshot.running);
    }
    return flushed();
}

// --- queue show ------------------------------------------------------------------------

int queue_show(const Options& options) {
    QueueId id;
    if (!QueueId::parse(options.show_id, id)) {
        return fail(exit_usage, "'{}' is not a queue id: 16 hex digits, as queue list shows",
                    printable(options.show_id));
    }
    Context context;
    if (auto error = load_context(options, context)) {
        return *error;
    }
    Snapshot snapshot;
    if (auto error = take_snapshot(context, snapshot)) {
        return *error;
    }
    auto found = std::find_if(snapshot.recovery.messages.begin(), snapshot.recovery.messages.end(),
                              [&](const RecoveredMessage& m) { return m.meta.id == id; });
    if (found == snapshot.recovery.messages.end()) {
        return fail(exit_runtime,
                    "{} is not in the queue (delivered, deleted, or mistyped); see queue list",
                    id.to_string());
    }
    auto content = hub::spool::read_content(*found);
    if (!content) {
        return fail(exit_runtime, "error: {}", content.error().detail);
    }
    const HubView* hub_view = snapshot.hub_view ? &*snapshot.hub_view : nullptr;
    MessageView view = view_of(context, *found, hub_view);
    for (const std::string& line :
         hub::hubctl::message_lines(view, snapshot.running, *content, options.body)) {
        fmt::print("{}\n", line);
    }
    return flushed();
}

// --- hold / release / retry / delete ---------------------------------------------------

// Whether any pending recipient of message routes to partner.
bool routes_to(const Context& context, const RecoveredMessage& message, std::string_view partner) {
    MessageView view = view_of(context, message, nullptr);
    return std::any_of(view.recipients.begin(), view.recipients.end(),
                       [&](const RecipientView& r) { return r.partner == partner; });
}

// The messages the command names: the ids given (every one must be live, or nothing is
// done), or ALL (optionally only those routed to --partner). nullopt after printing why.
std::optional<std::vector<const RecoveredMessage*>> select_targets(
    const Options& options, const Context& context, const hub::spool::Recovery& recovery,
    int& status) {
    std::vector<const RecoveredMessage*> targets;
    bool all = options.ids.size() == 1 && options.ids[0] == "ALL";
    if (all) {
        for (const RecoveredMessage& message : recovery.messages) {
            if (options.partner.empty() || routes_to(context, message, options.partner)) {
                targets.push_back(&message);
            }
        }
        return targets;
    }
    std::vector<std::string> unknown;
    for (const std::string& text : options.ids) {
        QueueId id;
        (void)QueueId::parse(text, id);  // Checked in queue_admin.
        auto found = std::find_if(recovery.messages.begin(), recovery.messages.end(),
                                  [&](const RecoveredMessage& m) { return m.meta.id == id; });
        if (found == recovery.messages.end()) {
            unknown.push_back(id.to_string());
        } else if (std::find(targets.begin(), targets.end(), &*found) == targets.end()) {
            targets.push_back(&*found);
        }
    }
    if (!unknown.empty()) {
        std::string list;
        for (const std::string& id : unknown) {
            list += (list.empty() ? "" : ", ") + id;
        }
        status = fail(exit_runtime,
                      "not in the queue: {} (mistyped, or already delivered or deleted; see "
                      "queue list); nothing was changed",
                      list);
        return std::nullopt;
    }
    return targets;
}

std::optional<hub::spool::MessageStatus> status_for(std::string_view verb) {
    if (verb == "hold") {
        return hub::spool::MessageStatus::held;
    }
    if (verb == "release") {
        return hub::spool::MessageStatus::released;
    }
    if (verb == "delete") {
        return hub::spool::MessageStatus::deleted;
    }
    return std::nullopt;  // retry: no record.
}

// hubd is stopped and hubctl holds the spool lock: one new segment per shard directory.
int admin_stopped(const Context& context, const hub::spool::Recovery& recovery,
                  const std::vector<const RecoveredMessage*>& targets,
                  hub::spool::MessageStatus status) {
    unsigned shard_count =
        context.shard_count != 0
            ? context.shard_count
            : std::max<unsigned>(1, static_cast<unsigned>(recovery.next_segment_seq.size()));
    std::map<unsigned, std::vector<hub::hubctl::AdminRecord>> by_shard;
    std::vector<std::string> lines;
    for (const RecoveredMessage* message : targets) {
        std::string id = message->meta.id.to_string();
        if (status == hub::spool::MessageStatus::held && message->held) {
            lines.push_back(fmt::format("ok: {} already held", id));
            continue;
        }
        if (status == hub::spool::MessageStatus::released && !message->held) {
            lines.push_back(fmt::format("ok: {} is not held", id));
            continue;
        }
        // The directory of the shard that will own it: the running hub's own rule.
        by_shard[message->meta.id.shard % shard_count].push_back({message->meta.id, status});
        lines.push_back(fmt::format("ok: {} {}", id, hub::spool::to_string(status)));
    }
    auto now_ms = static_cast<std::uint64_t>(std::time(nullptr)) * 1000;
    for (const auto& [shard, records] : by_shard) {
        std::uint32_t seq = shard < recovery.next_segment_seq.size()
                                ? std::max<std::uint32_t>(1, recovery.next_segment_seq[shard])
                                : 1;
        auto written = hub::hubctl::write_admin_segment(
            context.spool_dir, static_cast<std::uint8_t>(shard), seq, records, now_ms);
        if (!written) {
            return fail(exit_runtime,
                        "error: {}; no record of this command was written to "
                        "that shard's directory",
                        written.error());
        }
    }
    for (const std::string& line : lines) {
        fmt::print("{}\n", line);
    }
    fmt::print("-- hubd is stopped: written to the spool; in effect when hubd starts\n");
    return flushed();
}

int admin_running(const Context& context, std::string_view verb,
                  const std::vector<const RecoveredMessage*>& targets) {
    int status = exit_ok;
    for (const RecoveredMessage* message : targets) {
        std::string id = message->meta.id.to_string();
        auto answer = control_request(context.spool_dir, fmt::format("{} {}", verb, id));
        if (!answer) {
            fmt::print("error: {}: {}\n", id, answer.error());
            status = exit_runtime;
            continue;
        }
        std::string_view text = *answer;
        fmt::print("{}\n", printable(text.substr(0, text.find('\n'))));
        if (!text.starts_with("ok")) {
            status = exit_runtime;
        }
    }
    return std::max(status, flushed());
}

std::optional<int> check_ids(const Options& options) {
    if (options.ids.empty()) {
        return fail(exit_usage, "name the messages: queue ids (as queue list shows) or ALL");
    }
    bool all = std::find(options.ids.begin(), options.ids.end(), "ALL") != options.ids.end();
    if (all && options.ids.size() > 1) {
        return fail(exit_usage, "ALL stands alone: give either ALL or queue ids");
    }
    if (!options.partner.empty() && !all) {
        return fail(exit_usage, "--partner selects among ALL: use 'ALL --partner {}'",
                    printable(options.partner));
    }
    for (const std::string& text : options.ids) {
        QueueId id;
        if (!all && !QueueId::parse(text, id)) {
            return fail(exit_usage,
                        "'{}' is not a queue id: 16 hex digits, as queue list shows (or ALL); "
                        "nothing was changed",
                        printable(text));
        }
    }
    return std::nullopt;
}

// hubctl status: the running hub's health counters (docs/HEALTH.md), read from its status
// socket, which hubd's user, root and the monitoring group may read.
int status(const Options& options) {
    std::string path = options.socket_path;
    if (path.empty()) {
        if (!options.spool_dir.empty()) {
            path = hub::engine::status_socket_path(options.spool_dir, "");
        } else if (!options.config_path.empty()) {
            auto config = hub::config::load_hub_config(options.config_path);
            if (!config) {
                return fail(exit_runtime, "error: {}", config.error());
            }
            path = hub::engine::status_socket_path(config->spool_dir, config->status_socket);
        } else {
            return fail(exit_usage, "status needs --config FILE, --spool DIR or --socket PATH");
        }
    }
    auto snapshot = hub::health::fetch_snapshot(path);
    if (!snapshot) {
        // The backup's outcome is a file, so it is shown even when hubd is down.
        bool backup_failed = false;
        std::string line = hub::hubctl::backup_status_line(options.config_path, backup_failed);
        std::fwrite(line.data(), 1, line.size(), stdout);
        return fail(exit_runtime, "{}", snapshot.error());
    }
    std::string text =
        options.json ? hub::health::to_json(*snapshot) : hub::health::to_text(*snapshot);
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (!options.json) {
        // What the directory remembers of peers failing TLS (hubctl tls-failures record),
        // which outlives this hubd's own memory above.
        std::string remembered = hub::hubctl::remembered_tls_failures_text(options.config_path);
        std::fwrite(remembered.data(), 1, remembered.size(), stdout);
        // The scheduled backup's last outcome (docs/BACKUP.md), from its status file.
        bool backup_failed = false;
        std::string line = hub::hubctl::backup_status_line(options.config_path, backup_failed);
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return exit_ok;
}

int queue_admin(const Options& options, std::string_view verb) {
    if (auto error = check_ids(options)) {
        return *error;
    }
    Context context;
    if (auto error = load_context(options, context)) {
        return *error;
    }
    if (!options.partner.empty()) {
        bool known =
            context.partners &&
            std::any_of(context.partners->partners().begin(), context.partners->partners().end(),
                        [&](const auto& p) { return p.name == options.partner; });
        if (!known) {
            return fail(
                exit_usage, "--partner {}: no such partner in {}", printable(options.partner),
                context.config ? context.config->partners_file : std::string("(needs --config)"));
        }
    }
    auto lock = hub::hubctl::try_lock_spool(context.spool_dir);
    if (!lock) {
        return fail(exit_runtime, "error: {}", lock.error());
    }
    std::optional<hub::spool::MessageStatus> status = status_for(verb);
    if (lock->held() && !status) {
        return fail(exit_runtime,
                    "retry needs a running hubd (a stopped hub keeps no retry schedule: when "
                    "hubd starts it tries every queued message within recovery_spread_s); "
                    "start hubd, then retry");
    }
    auto recovery = hub::spool::recover(context.spool_dir, context.shard_count);
    if (!recovery) {
        return fail(exit_runtime, "error: cannot read the spool: {}", recovery.error().detail);
    }
    int select_status = exit_ok;
    auto targets = select_targets(options, context, *recovery, select_status);
    if (!targets) {
        return select_status;
    }
    if (targets->empty()) {
        fmt::print("-- no message matches; nothing to do\n");
        return flushed();
    }
    if (lock->held()) {
        return admin_stopped(context, *recovery, *targets, *status);
    }
    return admin_running(context, verb, *targets);
}

int config_doc() {
    fmt::print("{}", hub::config::describe_options());
    return flushed();
}

// CLI11's "The following argument was not expected" does not say what was meant: find
// the command words (skipping options and their values) and suggest the closest one.
std::optional<int> suggest_command(int argc, char** argv) {
    constexpr std::array<std::string_view, 6> with_value = {
        "--config", "--spool", "--format", "--partner", "--directory", "--ca-socket"};
    std::vector<std::string_view> words;
    for (int i = 1; i < argc && words.size() < 2; i++) {
        std::string_view arg = argv[i];
        if (arg.starts_with("-")) {
            if (std::find(with_value.begin(), with_value.end(), arg) != with_value.end()) {
                i++;
            }
            continue;
        }
        words.push_back(arg);
    }
    if (words.empty()) {
        return std::nullopt;
    }
    auto check = [](std::string_view word, std::span<const std::string_view> known,
                    std::string_view where) -> std::optional<int> {
        if (std::find(known.begin(), known.end(), word) != known.end()) {
            return std::nullopt;
        }
        auto suggestion = hub::hubctl::closest_word(word, known);
        if (suggestion) {
            return fail(exit_usage, "unknown {}command '{}'; did you mean '{}'?", where,
                        printable(word), *suggestion);
        }
        std::string list;
        for (std::string_view name : known) {
            list += (list.empty() ? "" : ", ") + std::string(name);
        }
        return fail(exit_usage, "unknown {}command '{}'; the commands are: {}", where,
                    printable(word), list);
    };
    if (auto error = check(words[0], top_commands, "")) {
        return error;
    }
    if (words[0] == "queue" && words.size() > 1) {
        return check(words[1], queue_commands, "queue ");
    }
    return std::nullopt;
}

// hubctl reload: the running hubd's own answer, or why it could not be asked.
int reload_hub(const Options& options) {
    if (options.config_path.empty()) {
        return fail(exit_usage, "reload needs --config FILE (the hub.conf hubd runs with)");
    }
    auto config = hub::config::load_hub_config(options.config_path);
    if (!config) {
        return fail(exit_runtime, "error: {}", config.error());
    }
    hub::hubctl::ReloadOutcome outcome = hub::hubctl::request_reload(config->spool_dir);
    if (!outcome.running) {
        return fail(exit_runtime, "error: {}; it reads hub.conf and its partners when it starts",
                    outcome.text);
    }
    if (!outcome.answered) {
        return fail(exit_runtime, "error: {}", printable(outcome.text));
    }
    if (!outcome.applied) {
        return fail(exit_runtime, "error: hubd refused the reload and runs unchanged: {}",
                    printable(outcome.text));
    }
    fmt::print("reloaded: {}\n", printable(outcome.text));
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hubctl");
    if (auto error = suggest_command(argc, argv)) {
        return *error;
    }
    Options options;
    CLI::App app{
        "hubctl: inspect a Hubbox hub (running or stopped), manage its queue and its "
        "partner directory."};
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
        "list", "List live messages: like mailq (text), tab-separated (tsv) or JSON.");
    list->add_option("--format", options.format, "text (default), tsv or json")
        ->check(CLI::IsMember({"text", "tsv", "json"}));
    CLI::App* show = queue->add_subcommand(
        "show", "Print a message's envelope, history and headers (like postcat -q).");
    show->add_option("queue_id", options.show_id, "queue id (16 hex digits)")->required();
    show->add_flag("--body", options.body, "print the whole message, not only its headers");
    std::vector<std::pair<CLI::App*, std::string_view>> controls;
    for (auto [verb, help] :
         {std::pair<std::string_view, std::string_view>{
              "hold", "Stop delivering messages until released (kept across restarts)."},
          {"release", "Deliver held messages again."},
          {"retry", "Retry deferred messages now (running hubd only)."},
          {"delete", "Remove messages from the queue for good (no report)."}}) {
        CLI::App* command = queue->add_subcommand(std::string(verb), std::string(help));
        command->add_option("queue_ids", options.ids, "queue ids (16 hex digits), or ALL")
            ->required();
        command->add_option("--partner", options.partner,
                            "with ALL: only messages with a recipient routed to this partner");
        controls.emplace_back(command, verb);
    }
    CLI::App* status_command = app.add_subcommand(
        "status", "The running hub's health counters (docs/HEALTH.md), as text or JSON.");
    status_command->add_flag("--json", options.json, "print JSON (the snapshot's own names)");
    status_command->add_option("--socket", options.socket_path,
                               "status socket (default: health.status_socket of --config, or "
                               "status.sock in the spool)");
    CLI::App* doc = app.add_subcommand("config-doc", "Print the hub.conf option table.");
    CLI::App* reload = app.add_subcommand(
        "reload",
        "Ask the running hubd to read hub.conf and its partners again (the partner table "
        "changes for new sessions; exit 1 with the reason when it refuses, nothing changed).");
    hub::hubctl::DirectoryCommands directory_commands;
    directory_commands.add_to(app);
    hub::hubctl::CaCommands ca_commands;
    ca_commands.add_to(app);
    hub::hubctl::BackupCommands backup_commands;
    backup_commands.add_to(app);
    hub::hubctl::HubKeyCommands hub_key_commands;
    hub_key_commands.add_to(app);  // Under `ca`, so after ca_commands.
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);  // Prints help (code 0) or the usage error.
        return code == 0 ? exit_ok : exit_usage;
    }
    if (list->parsed()) {
        return queue_list(options);
    }
    if (show->parsed()) {
        return queue_show(options);
    }
    if (doc->parsed()) {
        return config_doc();
    }
    if (reload->parsed()) {
        return reload_hub(options);
    }
    if (status_command->parsed()) {
        return status(options);
    }
    if (auto code = directory_commands.run(options.config_path)) {
        return *code;
    }
    if (auto code = ca_commands.run(options.config_path)) {
        return *code;
    }
    if (auto code = backup_commands.run(options.config_path)) {
        return *code;
    }
    if (auto code = hub_key_commands.run(options.config_path)) {
        return *code;
    }
    for (auto [command, verb] : controls) {
        if (command->parsed()) {
            return queue_admin(options, verb);
        }
    }
    return fail(exit_usage, "nothing to do; see --help");
}
