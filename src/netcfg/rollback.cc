// rollback.cc -- the confirm-or-roll-back timer (rollback.h).
//
// PURPOSE   Keep the one pending change, its token and its deadline.
// RUNS IN   hub-netcfg's loop: every request and every poll timeout looks at it.
// TRUST     Tokens come from callers: compared whole, never parsed.
// LIMITS    confirm_window_s_min..confirm_window_s_max; one pending change.
// SEE ALSO  netcfg/daemon.cc (applies and restores), docs/NETWORK.md ("Safe changes").

#include "netcfg/rollback.h"

#include <fmt/format.h>

#include "netcfg/limits.h"

namespace hub::netcfg {

void PendingChange::start(std::string token, std::int64_t now_ms, std::uint32_t window_s,
                          Settings before, Settings after, std::string description) {
    HUB_ASSERT(!entry_.has_value());  // Callers refuse a change while one is pending.
    HUB_ASSERT(window_s >= confirm_window_s_min && window_s <= confirm_window_s_max);
    HUB_ASSERT(!token.empty());
    entry_ = Entry{std::move(token), now_ms + std::int64_t{window_s} * 1000, std::move(before),
                   std::move(after), std::move(description)};
}

Result<PendingChange::Entry, Refusal> PendingChange::end(std::string_view token,
                                                         std::int64_t now_ms) {
    if (!entry_ || now_ms >= entry_->deadline_ms) {
        return unexpected(Refusal{ErrorCode::not_found,
                                  "no change is waiting for confirmation (its window may have "
                                  "closed, and then the state before it is back)"});
    }
    if (token != entry_->token) {
        return unexpected(
            Refusal{ErrorCode::bad_request,
                    fmt::format("token {} is not the pending change's ({}: status shows its token)",
                                token, entry_->description)});
    }
    Entry ended = std::move(*entry_);
    entry_.reset();
    HUB_ASSERT(!entry_.has_value());
    return ended;
}

Result<PendingChange::Entry, Refusal> PendingChange::confirm(std::string_view token,
                                                             std::int64_t now_ms) {
    return end(token, now_ms);
}

Result<PendingChange::Entry, Refusal> PendingChange::revert(std::string_view token,
                                                            std::int64_t now_ms) {
    return end(token, now_ms);
}

std::optional<PendingChange::Entry> PendingChange::take_expired(std::int64_t now_ms) {
    if (!entry_ || now_ms < entry_->deadline_ms) {
        return std::nullopt;
    }
    std::optional<Entry> expired = std::move(entry_);
    entry_.reset();
    return expired;
}

std::optional<std::int64_t> PendingChange::ms_left(std::int64_t now_ms) const {
    if (!entry_) {
        return std::nullopt;
    }
    return entry_->deadline_ms > now_ms ? entry_->deadline_ms - now_ms : 0;
}

}  // namespace hub::netcfg
