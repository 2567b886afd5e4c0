// queue_view.cc -- see queue_view.h. (Moved from hubctl's main.cc so that hub-console
// shows the queue with the same code.)
#include "programs/hubctl/queue_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <string_view>
#include <thread>
#include <utility>

#include "directory/configured.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/spool_admin.h"
#include "programs/hubctl/text.h"

namespace hub::hubctl {

namespace {

std::uint64_t now_s() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

}  // namespace

Result<QueueContext, std::string> queue_context(const std::string& config_path,
                                                std::string& partners_warning) {
    QueueContext context;
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return unexpected(config.error());
    }
    context.spool_dir = config->spool_dir;
    context.shard_count =
        config->shards != 0 ? config->shards : std::max(1u, std::thread::hardware_concurrency());
    auto partners = directory::load_configured_partners(*config);
    if (partners) {
        context.partners.emplace(config->domain, std::move(*partners));
    } else {
        partners_warning = partners.error();
    }
    context.config = std::move(*config);
    return context;
}

// --- Talking to a running hubd ---------------------------------------------------------

Result<HubView, std::string> query_hub(const std::string& spool_dir) {
    auto answer = control_request(spool_dir, "list");
    if (!answer) {
        return unexpected(answer.error());
    }
    std::string_view text = *answer;
    std::size_t last = text.rfind('\n');
    std::string_view status = last == std::string_view::npos ? text : text.substr(last + 1);
    if (status != "ok") {
        return unexpected("hubd answered: " + printable(status));
    }
    HubView view;
    text = last == std::string_view::npos ? std::string_view{} : text.substr(0, last + 1);
    // Bounded by the answer's size: every pass consumes one line.
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        engine::ListLine line;
        if (!engine::parse_list_line(text.substr(0, newline), line)) {
            return unexpected("hubd's listing has a line hubctl does not understand");
        }
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        HubMessage& message = view[line.id.to_string()];
        if (line.recipient) {
            message.recipients.push_back(std::move(line));
        } else {
            message.held = line.held;
        }
    }
    return view;
}

// --- What a listing shows ----------------------------------------------------------------

// Routes one recipient the way the shard does (Shard::route_message): a hub-form address
// to its partner, with the suffix stripped; a partner's bare address (a report the hub
// wrote) to that partner as it is.
namespace {

void route_recipient(const QueueContext& context, RecipientView& recipient) {
    recipient.address = recipient.envelope_address;
    if (!context.partners) {
        return;
    }
    policy::Route route;
    if (context.partners->classify_recipient(recipient.envelope_address, route) ==
        policy::RecipientDecision::accept) {
        recipient.address = route.address;
        recipient.partner = route.partner->name;
        return;
    }
    std::string_view address = recipient.envelope_address;
    std::size_t at = address.rfind('@');
    if (at != std::string_view::npos) {
        if (const auto* owner = context.partners->find_domain_owner(address.substr(at + 1))) {
            recipient.partner = owner->name;
        }
    }
}

void apply_hub_state(const HubMessage* hub_message, RecipientView& recipient) {
    if (hub_message == nullptr) {
        recipient.state = "not queued";  // In the spool, but hubd did not schedule it.
        return;
    }
    for (const engine::ListLine& line : hub_message->recipients) {
        if (line.recipient_index != recipient.index) {
            continue;
        }
        recipient.attempts = line.attempt_count;
        if (line.state == "ready" || line.state == "in_flight") {
            recipient.state = "active";
        } else if (line.state == "deferred") {
            recipient.state = "deferred";
            recipient.reason = line.last_error;
            recipient.next_try_ms = line.next_attempt_ms;
        } else {
            recipient.state = line.state;  // held, or final since the spool was read.
        }
        return;
    }
    recipient.state = "not queued";
}
}  // namespace

MessageView view_of(const QueueContext& context, const spool::RecoveredMessage& message,
                    const HubView* hub_view) {
    MessageView view;
    view.message = &message;
    view.held = message.held;
    const HubMessage* hub_message = nullptr;
    if (hub_view != nullptr) {
        auto found = hub_view->find(message.meta.id.to_string());
        hub_message = found == hub_view->end() ? nullptr : &found->second;
        view.held = hub_message != nullptr ? hub_message->held : message.held;
    }
    const auto& recipients = message.meta.envelope.recipients;
    for (std::size_t i = 0; i < recipients.size() && i < message.recipient_status.size(); i++) {
        if (message.recipient_status[i] != spool::RecipientStatus::pending) {
            continue;
        }
        RecipientView recipient;
        recipient.index = static_cast<std::uint32_t>(i);
        recipient.envelope_address = recipients[i].address;
        route_recipient(context, recipient);
        if (hub_view != nullptr) {
            apply_hub_state(hub_message, recipient);
        } else {
            recipient.state = view.held ? "held" : "queued";
        }
        view.recipients.push_back(std::move(recipient));
    }
    return view;
}

Result<QueueSnapshot, std::string> take_queue_snapshot(const QueueContext& context) {
    auto recovery = spool::recover(context.spool_dir, context.shard_count);
    if (!recovery) {
        return unexpected("cannot read the spool: " + recovery.error().detail);
    }
    QueueSnapshot snapshot;
    // Damage worth an administrator's attention; a torn tail is what a running hub's
    // in-progress write looks like, and what a crash leaves, so it is not reported.
    for (const spool::SegmentSummary& segment : recovery->segments) {
        switch (segment.problem) {
            case spool::SegmentProblem::none:
            case spool::SegmentProblem::torn_tail:
                break;
            case spool::SegmentProblem::corrupt_record:
            case spool::SegmentProblem::bad_segment_header:
            case spool::SegmentProblem::not_regular_file:
                snapshot.warnings.push_back(fmt::format(
                    "{}: {}; {} bytes after it not read", segment.path,
                    printable(segment.problem_detail), segment.file_bytes - segment.valid_bytes));
                break;
        }
    }
    snapshot.recovery = std::move(*recovery);
    snapshot.running = hubd_running(context.spool_dir);
    if (snapshot.running) {
        auto view = query_hub(context.spool_dir);
        if (!view) {
            // The states are then the spool's; say so rather than fail the listing.
            snapshot.warnings.push_back(
                fmt::format("hubd runs but: {}; showing the spool alone", view.error()));
            snapshot.running = false;
        } else {
            snapshot.hub_view = std::move(*view);
        }
    }
    return snapshot;
}

// "Thu Mar  7 10:00:00", local time, as mailq shows arrival.
std::string time_text(std::uint64_t unix_s) {
    std::time_t when = static_cast<std::time_t>(unix_s);
    std::tm local{};
    char text[32];
    if (localtime_r(&when, &local) == nullptr ||
        std::strftime(text, sizeof text, "%a %b %e %H:%M:%S", &local) == 0) {
        return "?";
    }
    return text;
}

std::string recipient_note(const RecipientView& recipient) {
    if (recipient.state == "deferred") {
        // No reason yet: recovered after a restart, waiting for its first new attempt.
        std::string reason = recipient.reason.empty() ? std::string("not tried since hubd started")
                                                      : printable(recipient.reason);
        return fmt::format(" (deferred: {}; next try {})", reason,
                           time_text(recipient.next_try_ms / 1000));
    }
    if (recipient.state == "queued") {
        return "";
    }
    return fmt::format(" ({})", recipient.state);
}

namespace {

std::string history_line(const spool::StatusEvent& event, const spool::RecoveredMessage& message) {
    if (event.type == spool::RecordType::message_status) {
        std::time_t seconds = static_cast<std::time_t>(event.time_unix_ms / 1000);
        return fmt::format("{}  message {}", time_text(static_cast<std::uint64_t>(seconds)),
                           spool::to_string(event.message_status));
    }
    const auto& recipients = message.meta.envelope.recipients;
    std::string address = event.recipient_index < recipients.size()
                              ? printable(recipients[event.recipient_index].address)
                              : std::string("?");
    std::string_view status =
        event.recipient_status == spool::RecipientStatus::delivered ? "delivered" : "bounced";
    // Status records (format version 1) carry no time.
    return fmt::format("{:<19}  recipient {} <{}> {}", "(time not recorded)", event.recipient_index,
                       address, status);
}

// Adds the content's header section (or all of it), one line per line, CR removed and
// control characters other than tab shown as '?'.
void content_lines(std::string_view content, bool whole, std::vector<std::string>& lines) {
    // Bounded by the content: every pass consumes one line.
    while (!content.empty()) {
        std::size_t newline = content.find('\n');
        std::string_view line = content.substr(0, newline);
        content.remove_prefix(newline == std::string_view::npos ? content.size() : newline + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty() && !whole) {
            return;
        }
        std::string shown = printable(line);
        for (std::size_t i = 0; i < line.size(); i++) {
            if (line[i] == '\t') {
                shown[i] = '\t';
            }
        }
        lines.push_back(std::move(shown));
    }
}

void envelope_lines(const MessageView& view, std::vector<std::string>& lines) {
    const spool::MessageMeta& meta = view.message->meta;
    lines.push_back(fmt::format("*** ENVELOPE RECORDS {} ***", meta.id.to_string()));
    lines.push_back(fmt::format("arrival_time: {} ({} s ago)", time_text(meta.arrival_unix_s),
                                now_s() > meta.arrival_unix_s ? now_s() - meta.arrival_unix_s : 0));
    lines.push_back(fmt::format("message_size: {}", view.message->content_bytes));
    lines.push_back(fmt::format("client: [{}] helo={} partner={}", printable(meta.client_address),
                                printable(meta.envelope.helo), printable(meta.partner)));
    lines.push_back(fmt::format("tls: {} {} ({} bits), client certificate {}",
                                printable(meta.tls.version), printable(meta.tls.cipher),
                                meta.tls.bits, printable(meta.tls.client_cert_verdict)));
    lines.push_back(fmt::format("sender: {}", printable(meta.envelope.mail_from)));
    lines.push_back(fmt::format("held: {}", view.held ? "yes" : "no"));
    const auto& recipients = meta.envelope.recipients;
    for (std::size_t i = 0; i < recipients.size(); i++) {
        std::string line = fmt::format("recipient {}: {}", i, printable(recipients[i].address));
        auto pending = std::find_if(view.recipients.begin(), view.recipients.end(),
                                    [&](const RecipientView& r) { return r.index == i; });
        if (pending == view.recipients.end()) {
            line += " (done)";  // Delivered or bounced: see the history.
        } else {
            if (pending->address != pending->envelope_address) {
                line += " -> " + printable(pending->address);
            }
            if (!pending->partner.empty()) {
                line += " via " + printable(pending->partner);
            }
            line += pending->state == "queued" ? " (queued)" : recipient_note(*pending);
        }
        lines.push_back(fmt::format("{}", line));
    }
}

}  // namespace

std::vector<std::string> message_lines(const MessageView& view, bool running,
                                       std::string_view content, bool whole) {
    std::vector<std::string> lines;
    envelope_lines(view, lines);
    lines.push_back(fmt::format("view: hubd {}", running ? "running" : "stopped"));
    lines.push_back("*** HISTORY ***");
    for (const spool::StatusEvent& event : view.message->history) {
        lines.push_back(history_line(event, *view.message));
    }
    lines.push_back(whole ? "*** MESSAGE CONTENTS ***" : "*** HEADER RECORDS ***");
    content_lines(content, whole, lines);
    lines.push_back("*** END ***");
    return lines;
}

Result<std::string, std::string> queue_command_running(const std::string& spool_dir,
                                                       std::string_view verb,
                                                       const spool::QueueId& id) {
    auto answer = control_request(spool_dir, fmt::format("{} {}", verb, id.to_string()));
    if (!answer) {
        return unexpected(answer.error());
    }
    std::string_view text = *answer;
    std::string line = printable(text.substr(0, text.find('\n')));
    if (!text.starts_with("ok")) {
        return unexpected(line);
    }
    return line;
}

}  // namespace hub::hubctl
