// queue_view.cc -- see queue_view.h. (Moved from hubctl's main.cc so that hub-console
// shows the queue with the same code.)
#include "programs/hubctl/queue_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <thread>
#include <utility>

#include "directory/configured.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/spool_admin.h"
#include "programs/hubctl/text.h"

namespace hub::hubctl {

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
