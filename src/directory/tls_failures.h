// tls_failures.h -- the peers whose outbound TLS failed, and since when, as the directory
// remembers them across hubd restarts.
//
// hubd keeps the live facts in its health snapshot (health::PartnerRow: failing since,
// the last outbound TLS session) and may not write the directory; `hubctl tls-failures
// record` (hub-tls-record.timer, every minute) turns that snapshot into observations and
// stores them here in one transaction. The planning is sans-I/O (plan_tls_failures), so
// the upsert and clear rules are unit-tested without a database or a hubd. Not an
// administrator's change, so not in the audit log. See docs/DIRECTORY.md, "Remembered TLS
// failures".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hub::directory {

// One row of tls_failures.
struct TlsFailureRow {
    std::string peer;     // The destination as hubd names it: the partner's name.
    std::string partner;  // The directory's partner of that name, "" if there is none now
                          // (read only: filled in from partners when listed).
    std::int64_t first_failed_unix_s = 0;  // Failing since; kept across hubd restarts.
    std::int64_t last_failed_unix_s = 0;
    std::string last_reason;         // hubd's text; "" when the snapshot did not say.
    std::int64_t failure_count = 0;  // Outbound TLS failures counted since first_failed (at
                                     // least: see plan_tls_failures).
    // Bookkeeping to add hubd's since-start counter without counting twice: the hubd run
    // (its start time) and its counter at the last record.
    std::int64_t hubd_started_unix_ms = 0;
    std::int64_t hubd_failure_count = 0;

    bool operator==(const TlsFailureRow&) const = default;
};

// What hubd's snapshot says about one peer's outbound TLS now.
struct TlsObservation {
    enum class Verdict {
        failing,  // every attempt since failing_since_unix_s failed TLS (or went clear text)
        working,  // the last attempt had TLS
    };
    std::string peer;
    Verdict verdict = Verdict::failing;
    std::int64_t failing_since_unix_s = 0;  // failing only.
    std::int64_t last_failed_unix_s = 0;    // failing only; 0 when not known.
    std::string reason;                     // failing only; "" when not known.
    std::int64_t hubd_started_unix_ms = 0;
    std::int64_t hubd_failure_count = 0;  // Outbound TLS failures since hubd started.
    bool had_tls_since_start = false;     // Some earlier attempt in this run had TLS.
};

struct TlsFailureChanges {
    std::vector<TlsFailureRow> written;  // New or changed rows, to store as they are.
    std::vector<std::string> cleared;    // Peers whose TLS works again: their rows go.
    std::vector<std::string> added;      // The peers in written that had no row.

    bool empty() const { return written.empty() && cleared.empty(); }
};

// The rows to write and remove so that stored reflects observed. Peers hubd did not
// report, or reported without a verdict (no attempt since it started), keep their rows.
// A failing peer's row keeps its first_failed (the directory's "since" outlives hubd's);
// its count grows by what hubd counted since the last record (all of it after a hubd
// restart). A new row starts with hubd's count, or 1 if this run had TLS with the peer
// before (failures before that success are not this streak's; the count is then a lower
// bound). A row that would not change is not written.
TlsFailureChanges plan_tls_failures(const std::vector<TlsFailureRow>& stored,
                                    const std::vector<TlsObservation>& observed);

// {"peer":...,"partner":...,"since_unix_s":...,"last_failed_unix_s":...,"last_reason":...,
//  "count":...}
std::string to_json(const TlsFailureRow& row);

}  // namespace hub::directory
