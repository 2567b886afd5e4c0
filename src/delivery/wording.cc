// wording.cc -- failure and outcome texts (see wording.h).
#include "delivery/wording.h"

#include <fmt/format.h>

#include "base/assert.h"

namespace hub::delivery {

std::string remote_said(std::string_view peer, const smtp::Reply& reply) {
    return fmt::format("host {} said: {}", peer, reply.full_text());
}

std::string recipient_text(std::string_view peer, const smtp::RecipientResult& outcome) {
    return outcome.remote ? remote_said(peer, outcome.reply) : outcome.reply.full_text();
}

SessionFailure session_failure(std::string_view peer, const smtp::Failure& failure) {
    bool tls = failure.reason == smtp::FailReason::tls_unavailable ||
               failure.reason == smtp::FailReason::tls_failed;
    SessionFailure result;
    result.text = failure.reply && !tls ? remote_said(peer, *failure.reply)
                                        : fmt::format("{} with host {} ({})", failure.detail, peer,
                                                      smtp::fail_reason_name(failure.reason));
    result.destination_down = tls || failure.reason == smtp::FailReason::greeting_rejected;
    return result;
}

queue::Outcome outcome_of(smtp::RecipientStatus status) {
    switch (status) {
        case smtp::RecipientStatus::accepted:
            return queue::Outcome::delivered;
        case smtp::RecipientStatus::temp_fail:
            return queue::Outcome::temp_fail;
        case smtp::RecipientStatus::perm_fail:
            return queue::Outcome::perm_fail;
    }
    HUB_PANIC("unknown recipient status");
}

std::string_view verdict(queue::Outcome outcome) {
    switch (outcome) {
        case queue::Outcome::delivered:
            return "sent";
        case queue::Outcome::temp_fail:
            return "deferred";
        case queue::Outcome::perm_fail:
            return "bounced";
    }
    HUB_PANIC("unknown outcome");
}

std::string dsn_code(const smtp::RecipientResult* outcome) {
    if (outcome != nullptr && !outcome->reply.enhanced.empty()) {
        return outcome->reply.enhanced;
    }
    if (outcome != nullptr && outcome->reply.code >= 200) {
        return fmt::format("{}.0.0", outcome->reply.code_class());
    }
    return "4.4.1";
}

void describe_failure(std::string_view text, dsn::RecipientReport& report) {
    constexpr std::string_view prefix = "host ";
    constexpr std::string_view said = " said: ";
    std::size_t split = text.find(said);
    if (text.starts_with(prefix) && split != std::string_view::npos) {
        report.remote_address = std::string(text.substr(prefix.size(), split - prefix.size()));
        report.remote_reply = std::string(text.substr(split + said.size()));
        report.status = report.remote_reply.size() > 4 ? report.remote_reply.substr(4, 5) : "";
    } else {
        report.hub_text = std::string(text);
    }
}

}  // namespace hub::delivery
