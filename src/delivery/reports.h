// reports.h -- the reports the hub writes itself: failure and delay DSNs, ping replies.
//
// Pure: given the original message as read back from the spool, what (if anything) is
// sent, to whom, and the line that says so.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "queue/scheduler.h"
#include "spool/spool_format.h"

namespace hub::delivery {

enum class ReportKind : std::uint8_t { failure, delay, ping };

struct ReportRequest {
    ReportKind kind = ReportKind::failure;
    spool::QueueId id;                                 // The original's.
    std::span<const queue::RecipientNote> recipients;  // Whom the report is about.
    const spool::MessageMeta* original = nullptr;
    std::string_view content;  // The original message as stored.
    std::string_view hostname;
    // "[host]:port" of the partner each envelope recipient routes to ("" if none): a
    // report names the connector even when its server never answered.
    std::span<const std::string> connectors;
    std::int64_t now_unix_s = 0;
};

struct GeneratedReport {
    std::string content;
    std::string recipient;  // The original's envelope sender.
    std::string log_text;   // What the hub did, for the log (without the queue id).
};

// Nothing when no report is due: a null sender (RFC 3464: a report about a report is
// never generated), NOTIFY=NEVER or without the kind asked for, or an auto-reply to an
// automatic message (RFC 3834) for pings.
std::optional<GeneratedReport> build_report(const ReportRequest& request);

// The spool metadata of a message the hub wrote (id left to the spool writer): from the
// null sender (RFC 3464 / RFC 3834: never answered in turn), to one recipient with
// NOTIFY=NEVER, as if received from localhost at now_ms.
spool::MessageMeta report_meta(std::string_view content, std::string recipient,
                               std::string_view hostname, std::uint64_t now_ms);

}  // namespace hub::delivery
