// pacing.h -- open-loop pacing: message i is due at start + i / rate.
//
// Each thread paces its own share of the aggregate --rate (rate x its sessions / all
// sessions), so threads never coordinate. A session that wants to send takes the next
// ticket; if the ticket is already due (the run is behind) it sends at once, otherwise it
// waits until the ticket's time. Tickets are handed out in order, so their due times never
// decrease and the waiting sessions form a FIFO.
#pragma once

#include <cstdint>

#include "base/assert.h"

namespace hub::loadgen {

class Pacer {
public:
    // rate_per_s == 0: unpaced (every ticket is due at start_ns).
    Pacer(double rate_per_s, std::int64_t start_ns) : rate_per_s_(rate_per_s), start_ns_(start_ns) {
        HUB_ASSERT(rate_per_s >= 0);
    }

    bool paced() const { return rate_per_s_ > 0; }

    // The due time (ns, same clock as start_ns) of the next message; advances the ticket.
    std::int64_t take() {
        std::uint64_t ticket = next_ticket_++;
        if (!paced()) {
            return start_ns_;
        }
        double offset_ns = static_cast<double>(ticket) * 1e9 / rate_per_s_;
        std::int64_t due_ns = start_ns_ + static_cast<std::int64_t>(offset_ns);
        HUB_ASSERT(due_ns >= start_ns_);
        return due_ns;
    }

    std::uint64_t tickets_taken() const { return next_ticket_; }

private:
    double rate_per_s_;
    std::int64_t start_ns_;
    std::uint64_t next_ticket_ = 0;
};

}  // namespace hub::loadgen
