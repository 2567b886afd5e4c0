// tls_failures.cc -- remembered outbound TLS failures: the plan (sans-I/O) and its storage.
//
// PURPOSE   Keep "which peers fail TLS, and since when" across hubd restarts, in the
//           directory, without giving hubd a way to write the directory.
// RUNS IN   hubctl tls-failures record (hub-tls-record.service, root) and list.
// TRUST     Observations come from hubd's health snapshot, already decoded and bounded by
//           health::decode; peer names are checked as partner names and reasons cut to
//           tls_failure_reason_bytes_max before they are stored.
// LIMITS    One row per peer hubd reports (health::partners_max); one transaction per record.
// SEE ALSO  directory/tls_failures.h, programs/hubctl/tls_failure_commands.cc,
//           docs/DIRECTORY.md ("Remembered TLS failures").

#include "directory/tls_failures.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "base/assert.h"
#include "directory/directory.h"
#include "directory/limits.h"
#include "directory/record.h"
#include "directory/sqlite_util.h"
#include "policy/partner_checks.h"

namespace hub::directory {

using detail::read_rows;
using detail::Statement;
using detail::Transaction;

namespace {

// The row a failing observation makes of the stored one (nullptr: none yet).
TlsFailureRow failing_row(const TlsFailureRow* stored, const TlsObservation& seen) {
    HUB_ASSERT(seen.verdict == TlsObservation::Verdict::failing);
    TlsFailureRow row;
    row.peer = seen.peer;
    std::int64_t last_failed = std::max(seen.last_failed_unix_s, seen.failing_since_unix_s);
    if (stored == nullptr) {
        row.first_failed_unix_s = seen.failing_since_unix_s;
        row.last_failed_unix_s = last_failed;
        row.last_reason = seen.reason;
        row.failure_count =
            seen.had_tls_since_start ? 1 : std::max<std::int64_t>(seen.hubd_failure_count, 1);
    } else {
        row.partner = stored->partner;
        // The directory's since wins: it is older than a restarted hubd's. min() only
        // guards against a clock that went back.
        row.first_failed_unix_s = std::min(stored->first_failed_unix_s, seen.failing_since_unix_s);
        row.last_failed_unix_s = std::max(stored->last_failed_unix_s, last_failed);
        row.last_reason = seen.reason.empty() ? stored->last_reason : seen.reason;
        bool same_run = stored->hubd_started_unix_ms == seen.hubd_started_unix_ms;
        std::int64_t counted =
            same_run
                ? std::max<std::int64_t>(seen.hubd_failure_count - stored->hubd_failure_count, 0)
                : seen.hubd_failure_count;
        row.failure_count = stored->failure_count + counted;
    }
    row.hubd_started_unix_ms = seen.hubd_started_unix_ms;
    row.hubd_failure_count = seen.hubd_failure_count;
    HUB_ASSERT(row.last_failed_unix_s >= row.first_failed_unix_s);
    HUB_ASSERT(row.failure_count >= 1);
    return row;
}

}  // namespace

TlsFailureChanges plan_tls_failures(const std::vector<TlsFailureRow>& stored,
                                    const std::vector<TlsObservation>& observed) {
    std::map<std::string, const TlsFailureRow*, std::less<>> by_peer;
    for (const TlsFailureRow& row : stored) {
        by_peer.emplace(row.peer, &row);
    }
    TlsFailureChanges changes;
    for (const TlsObservation& seen : observed) {
        auto found = by_peer.find(seen.peer);
        const TlsFailureRow* row = found == by_peer.end() ? nullptr : found->second;
        switch (seen.verdict) {
            case TlsObservation::Verdict::working:
                if (row != nullptr) {
                    changes.cleared.push_back(seen.peer);
                }
                break;
            case TlsObservation::Verdict::failing: {
                TlsFailureRow next = failing_row(row, seen);
                if (row == nullptr) {
                    changes.added.push_back(seen.peer);
                    changes.written.push_back(std::move(next));
                } else if (!(next == *row)) {
                    changes.written.push_back(std::move(next));
                }
                break;
            }
        }
    }
    HUB_ASSERT(changes.written.size() + changes.cleared.size() <= observed.size());
    return changes;
}

std::string to_json(const TlsFailureRow& row) {
    return fmt::format(
        R"({{"peer":{},"partner":{},"since_unix_s":{},"last_failed_unix_s":{},"last_reason":{},"count":{}}})",
        json_string(row.peer), json_string(row.partner), row.first_failed_unix_s,
        row.last_failed_unix_s, json_string(row.last_reason), row.failure_count);
}

Result<std::vector<TlsFailureRow>, std::string> Directory::tls_failures() {
    Statement statement(db_,
                        "SELECT f.peer, p.name, f.first_failed_unix_s, f.last_failed_unix_s, "
                        "f.last_reason, f.failure_count, f.hubd_started_unix_ms, "
                        "f.hubd_failure_count FROM tls_failures f LEFT JOIN partners p ON "
                        "p.id = f.partner_id ORDER BY f.peer");
    if (!statement.ok()) {
        return unexpected(error_text("reading TLS failures"));
    }
    std::vector<TlsFailureRow> rows;
    if (read_rows(statement, rows, [](Statement& row) {
            return TlsFailureRow{row.text(0), row.text(1),    row.integer(2), row.integer(3),
                                 row.text(4), row.integer(5), row.integer(6), row.integer(7)};
        }) != SQLITE_DONE) {
        return unexpected(error_text("reading TLS failures"));
    }
    return rows;
}

Result<TlsFailureChanges, std::string> Directory::record_tls_failures(
    const std::vector<TlsObservation>& observed) {
    std::vector<TlsObservation> checked;
    for (const TlsObservation& seen : observed) {
        // hubd names partners only by valid names; anything else (its "other" row) is no peer.
        if (!policy::check_partner_name(seen.peer).empty() ||
            seen.peer == std::string_view("other")) {
            continue;
        }
        checked.push_back(seen);
        std::string& reason = checked.back().reason;
        reason.resize(std::min(reason.size(), tls_failure_reason_bytes_max));
    }
    Transaction transaction(db_);
    if (!transaction.began()) {
        return unexpected(error_text("starting a change"));
    }
    auto stored = tls_failures();
    if (!stored) {
        return unexpected(stored.error());
    }
    TlsFailureChanges changes = plan_tls_failures(*stored, checked);
    if (changes.empty()) {
        return changes;  // Nothing written: the transaction rolls back an empty change.
    }
    Statement upsert(db_,
                     "INSERT INTO tls_failures (peer, partner_id, first_failed_unix_s, "
                     "last_failed_unix_s, last_reason, failure_count, hubd_started_unix_ms, "
                     "hubd_failure_count) VALUES (?1, (SELECT id FROM partners WHERE name = ?1), "
                     "?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (peer) DO UPDATE SET partner_id = "
                     "excluded.partner_id, first_failed_unix_s = excluded.first_failed_unix_s, "
                     "last_failed_unix_s = excluded.last_failed_unix_s, last_reason = "
                     "excluded.last_reason, failure_count = excluded.failure_count, "
                     "hubd_started_unix_ms = excluded.hubd_started_unix_ms, hubd_failure_count "
                     "= excluded.hubd_failure_count");
    if (!upsert.ok()) {
        return unexpected(error_text("recording TLS failures"));
    }
    for (const TlsFailureRow& row : changes.written) {
        upsert.reset();
        upsert.bind(1, row.peer);
        upsert.bind(2, row.first_failed_unix_s);
        upsert.bind(3, row.last_failed_unix_s);
        upsert.bind(4, row.last_reason);
        upsert.bind(5, row.failure_count);
        upsert.bind(6, row.hubd_started_unix_ms);
        upsert.bind(7, row.hubd_failure_count);
        if (upsert.step() != SQLITE_DONE) {
            return unexpected(error_text(fmt::format("recording TLS failures of {}", row.peer)));
        }
    }
    Statement clear(db_, "DELETE FROM tls_failures WHERE peer = ?");
    if (!clear.ok()) {
        return unexpected(error_text("clearing TLS failures"));
    }
    for (const std::string& peer : changes.cleared) {
        clear.reset();
        clear.bind(1, peer);
        if (clear.step() != SQLITE_DONE) {
            return unexpected(error_text(fmt::format("clearing TLS failures of {}", peer)));
        }
    }
    if (!transaction.commit()) {
        return unexpected(error_text("committing TLS failures"));
    }
    return changes;
}

}  // namespace hub::directory
