// queue_view.h -- what the queue holds, as hubctl queue list/show and hub-console show it:
// the spool read with spool::recover() and, when hubd runs, its scheduler's live states.
//
// Shared by hubctl (main.cc prints it as text, TSV or JSON) and hub-console (its Queue
// page), so both show the same states and routes; nothing here prints.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "engine/control.h"
#include "policy/partners.h"
#include "spool/spool_format.h"

namespace hub::hubctl {

// What a queue command works with: the spool, and (from hub.conf) the partner table.
struct QueueContext {
    std::string spool_dir;
    std::optional<config::HubConfig> config;
    std::optional<policy::PartnerTable> partners;
    unsigned shard_count = 0;  // From hub.conf; 0 when only a spool directory was given.
};

// The context of hub.conf at config_path. When its partners cannot be read the context
// has none (recipients are shown as received) and partners_warning says why.
[[nodiscard]] Result<QueueContext, std::string> queue_context(const std::string& config_path,
                                                              std::string& partners_warning);

// A running hub's scheduler view, by queue id.
struct HubMessage {
    bool held = false;
    std::vector<engine::ListLine> recipients;
};
using HubView = std::map<std::string, HubMessage>;

// Asks the hubd running on spool_dir for its listing ("list" on the control socket).
[[nodiscard]] Result<HubView, std::string> query_hub(const std::string& spool_dir);

struct RecipientView {
    std::uint32_t index = 0;
    std::string envelope_address;   // As received (hub suffix included).
    std::string address;            // As it will be delivered (hub suffix stripped).
    std::string partner;            // The partner it routes to; empty if none.
    std::string state;              // active, deferred, held, queued (stopped hub), not queued.
    std::string reason;             // The last temporary failure, if deferred.
    std::uint64_t next_try_ms = 0;  // When deferred.
    std::uint32_t attempts = 0;
};

struct MessageView {
    const spool::RecoveredMessage* message = nullptr;
    bool held = false;
    std::vector<RecipientView> recipients;  // Pending ones only.
};

// One message as the listing shows it: its pending recipients, routed the way the shard
// routes them, with the running hub's states when hub_view is given.
MessageView view_of(const QueueContext& context, const spool::RecoveredMessage& message,
                    const HubView* hub_view);

// The spool and, if hubd runs, its scheduler's view. running says which one it is.
struct QueueSnapshot {
    spool::Recovery recovery;
    std::optional<HubView> hub_view;
    bool running = false;
    std::vector<std::string> warnings;  // Damaged segments; a running hub that would not list.
};

// Reads the spool first, then the hub: a message that finishes in between is shown as "not
// queued" for this once, rather than a newly accepted one missing its state. Errors: the
// spool cannot be read.
[[nodiscard]] Result<QueueSnapshot, std::string> take_queue_snapshot(const QueueContext& context);

// "Thu Mar  7 10:00:00", local time, as mailq shows arrival.
std::string time_text(std::uint64_t unix_s);
// " (deferred: REASON; next try TIME)", " (held)" ...; "" for a plainly queued recipient.
std::string recipient_note(const RecipientView& recipient);
// queue show: envelope, recipients with their states, history, then the header section
// (or, with whole, all of content), every line made printable (tabs kept).
std::vector<std::string> message_lines(const MessageView& view, bool running,
                                       std::string_view content, bool whole);

// Asks the running hubd to hold, release, retry or delete one message; its answer ("ok:
// ..."), or why it failed (an answer that is not "ok" is an error too).
[[nodiscard]] Result<std::string, std::string> queue_command_running(const std::string& spool_dir,
                                                                     std::string_view verb,
                                                                     const spool::QueueId& id);

}  // namespace hub::hubctl
