// rollback.h -- the confirm-or-roll-back timer for a change that could cut the
// administrator off.
//
// Sans-I/O: time is passed in (milliseconds on a monotonic clock), the token is made by the
// caller. At most one change is pending: it is live in the kernel and the firewall, but
// the settings saved on disk are still the ones before it, so a reboot in the window also
// brings the old state back. confirm() with its token ends the window (the caller then saves
// the new settings); when the deadline passes, take_expired() hands back the settings to
// restore. See docs/NETWORK.md ("Safe changes").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "netcfg/protocol.h"
#include "netcfg/settings.h"

namespace hub::netcfg {

class PendingChange {
public:
    struct Entry {
        std::string token;
        std::int64_t deadline_ms = 0;
        Settings before;  // Restored when the window closes unconfirmed.
        Settings after;   // Saved on confirm.
        std::string description;
    };

    bool pending() const { return entry_.has_value(); }
    // Precondition: !pending(); window_s within confirm_window_s_min..max.
    void start(std::string token, std::int64_t now_ms, std::uint32_t window_s, Settings before,
               Settings after, std::string description);
    // The pending change, if its token matches and its window is open: ends the window and
    // returns it. Errors: not_found (nothing pending, or the window closed), bad_request
    // (another token).
    [[nodiscard]] Result<Entry, Refusal> confirm(std::string_view token, std::int64_t now_ms);
    // Ends the window early to restore the state before (revert): the same checks.
    [[nodiscard]] Result<Entry, Refusal> revert(std::string_view token, std::int64_t now_ms);
    // The pending change when its deadline has passed (it is no longer pending then).
    std::optional<Entry> take_expired(std::int64_t now_ms);
    // Milliseconds until the deadline (0 when due), nullopt when nothing is pending.
    std::optional<std::int64_t> ms_left(std::int64_t now_ms) const;
    const std::optional<Entry>& entry() const { return entry_; }

private:
    [[nodiscard]] Result<Entry, Refusal> end(std::string_view token, std::int64_t now_ms);

    std::optional<Entry> entry_;
};

}  // namespace hub::netcfg
