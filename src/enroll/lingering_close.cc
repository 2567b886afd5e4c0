// lingering_close.cc -- bounds of the read-and-discard after a connection's last answer
// (lingering_close.h).
//
// PURPOSE   Decide how long the loop keeps reading a connection it is closing, so that an
//           early answer (413, 400, 408) reaches the visitor instead of a reset.
// RUNS IN   hub-enroll's loop (server.cc); no system calls.
// TRUST     The bytes counted come from the internet and are never looked at; the count
//           and the time are what bound them.
// LIMITS    enroll/limits.h: drain_bytes_max, drain_timeout_ms.
// SEE ALSO  enroll/server.cc (start_lingering_close, linger), RFC 9112 9.6.

#include "enroll/lingering_close.h"

#include "base/assert.h"
#include "enroll/limits.h"

namespace hub::enroll {

LingeringClose::LingeringClose(std::int64_t now_ms) : deadline_ms_(now_ms + drain_timeout_ms) {}

std::size_t LingeringClose::read_bytes_max() const {
    return drain_bytes_max - discarded_bytes_;
}

void LingeringClose::discarded(std::size_t bytes) {
    HUB_ASSERT(bytes <= read_bytes_max());
    discarded_bytes_ += bytes;
}

LingeringClose::End LingeringClose::end(std::int64_t now_ms) const {
    if (visitor_closed_) {
        return End::visitor_closed;
    }
    if (discarded_bytes_ >= drain_bytes_max) {
        return End::bytes_limit;
    }
    if (now_ms >= deadline_ms_) {
        return End::time_limit;
    }
    return End::not_yet;
}

}  // namespace hub::enroll
