// crl_refresh.cc -- the hub CA's CRL, read and loaded while hubd runs (see crl_refresh.h).
//
// PURPOSE   Make a revocation hold at the next handshake without a restart, and keep a CRL
//           in force that never silently lapses.
// RUNS IN   hubd's main thread: at start (before the shards), then the supervisor (reload
//           and its timer), after the privilege drop and under the seccomp filter: the file
//           is opened read-only, which the filter allows (engine/seccomp.cc, "reload").
// TRUST     crl.pem is hub-ca's; wolfSSL verifies its signature against the client CAs
//           before it is used (tls::load_crl), and its size is bounded before it is read.
// LIMITS    crl_bytes_max per file, crl_loaded_bytes_max over the process's life,
//           crl_refresh_interval_s between looks (engine/limits.h).
// SEE ALSO  tls/revocation.h, engine/reload.cc, engine/supervisor.cc, docs/CA.md.
#include "engine/crl_refresh.h"

#include <fmt/format.h>

#include <ctime>
#include <fstream>
#include <iterator>

#include "base/assert.h"
#include "base/log.h"
#include "engine/limits.h"

namespace hub::engine {
namespace {

std::string utc_text(std::int64_t unix_s) {
    if (unix_s == 0) {
        return "?";
    }
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    if (gmtime_r(&time, &parts) == nullptr) {
        return "?";
    }
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

// The file's bytes, at most crl_bytes_max; an error names the path.
Result<std::string, std::string> read_bounded(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(
            fmt::format("{}: cannot read (missing, or not readable by hubd's user)", path));
    }
    std::string bytes;
    bytes.resize(crl_bytes_max + 1);
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (file.bad()) {
        return unexpected(fmt::format("{}: read error", path));
    }
    bytes.resize(static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > crl_bytes_max) {
        return unexpected(fmt::format("{}: larger than {} bytes", path, crl_bytes_max));
    }
    return bytes;
}

}  // namespace

CrlRefresher::CrlRefresher(std::string crl_path, std::shared_ptr<tls::ServerContext> context)
    : CrlRefresher(std::move(crl_path),
                   std::vector<std::shared_ptr<tls::ServerContext>>{std::move(context)}) {}

CrlRefresher::CrlRefresher(std::string crl_path,
                           std::vector<std::shared_ptr<tls::ServerContext>> contexts)
    : crl_path_(std::move(crl_path)), contexts_(std::move(contexts)) {
    HUB_ASSERT(!contexts_.empty());
    for (const auto& context : contexts_) {
        HUB_ASSERT(context != nullptr);
    }
    HUB_ASSERT(!crl_path_.empty());
}

std::string CrlRefresher::in_force(std::int64_t now_unix_s) const {
    if (loaded_pem_.empty()) {
        return "no CRL is loaded, so every certificate of the hub CA is refused";
    }
    if (!current(now_unix_s)) {
        return fmt::format(
            "the loaded CRL (of {}) expired at {}, so every certificate of the hub CA is "
            "refused until hub-ca publishes a new one",
            utc_text(loaded_facts_.this_update_unix_s), utc_text(loaded_facts_.next_update_unix_s));
    }
    return fmt::format("the CRL of {} stays in force (next update {})",
                       utc_text(loaded_facts_.this_update_unix_s),
                       utc_text(loaded_facts_.next_update_unix_s));
}

bool CrlRefresher::current(std::int64_t now_unix_s) const {
    return !loaded_pem_.empty() &&
           (loaded_facts_.next_update_unix_s == 0 || now_unix_s < loaded_facts_.next_update_unix_s);
}

Result<std::string, std::string> CrlRefresher::try_refresh(std::int64_t now_unix_s) {
    auto bytes = read_bounded(crl_path_);
    if (!bytes) {
        return unexpected(std::move(bytes).error());
    }
    if (*bytes == loaded_pem_) {
        if (!current(now_unix_s)) {
            return unexpected(fmt::format("{} has not changed", crl_path_));
        }
        return fmt::format("CRL: {} unchanged (next update {})", crl_path_,
                           utc_text(loaded_facts_.next_update_unix_s));
    }
    auto facts = tls::read_crl_facts(*bytes);
    if (!facts) {
        return unexpected(fmt::format("{}: {}", crl_path_, facts.error()));
    }
    if (!loaded_pem_.empty() && facts->this_update_unix_s < loaded_facts_.this_update_unix_s) {
        return unexpected(fmt::format("{} is older ({}) than the CRL in force", crl_path_,
                                      utc_text(facts->this_update_unix_s)));
    }
    if (facts->next_update_unix_s != 0 && facts->next_update_unix_s <= now_unix_s) {
        return unexpected(fmt::format("{} expired at {} (is hub-ca running?)", crl_path_,
                                      utc_text(facts->next_update_unix_s)));
    }
    if (loaded_bytes_total_ + bytes->size() > crl_loaded_bytes_max) {
        return unexpected(fmt::format(
            "{}: this hubd has loaded {} bytes of CRLs, the most it keeps ({}); restart hubd",
            crl_path_, loaded_bytes_total_, crl_loaded_bytes_max));
    }
    // The same bytes into every listener's contexts (each has its own certificate store);
    // they check it against the same client CAs, so one refuses it exactly when all do.
    for (const auto& context : contexts_) {
        if (auto loaded = tls::load_crl(*context, *bytes); !loaded) {
            return unexpected(fmt::format("{}: {}", crl_path_, loaded.error()));
        }
    }
    loaded_bytes_total_ += bytes->size();
    loaded_pem_ = std::move(*bytes);
    loaded_facts_ = std::move(*facts);
    HUB_ASSERT(current(now_unix_s));
    return fmt::format("CRL: loaded {} ({}, issued {}, next update {})", crl_path_,
                       loaded_facts_.issuer, utc_text(loaded_facts_.this_update_unix_s),
                       utc_text(loaded_facts_.next_update_unix_s));
}

void CrlRefresher::complain(std::string_view trigger, const std::string& problem,
                            std::int64_t now_unix_s) {
    if (problem == last_problem_ &&
        now_unix_s - last_complaint_unix_s_ < static_cast<std::int64_t>(crl_complaint_interval_s)) {
        return;
    }
    last_problem_ = problem;
    last_complaint_unix_s_ = now_unix_s;
    base::log_error("CRL ({}): {}", trigger, problem);
}

Result<std::string, std::string> CrlRefresher::refresh(std::string_view trigger,
                                                       std::int64_t now_unix_s) {
    last_look_unix_s_ = now_unix_s;
    bool was_loaded = !loaded_pem_.empty();
    std::string before = loaded_pem_;
    auto done = try_refresh(now_unix_s);
    if (!done) {
        std::string problem = fmt::format("not taken: {}; {}", done.error(), in_force(now_unix_s));
        complain(trigger, problem, now_unix_s);
        return unexpected(std::move(problem));
    }
    if (loaded_pem_ != before) {
        base::log_info("{} ({}{})", *done, trigger, was_loaded ? "" : ", the first");
        last_problem_.clear();
    }
    return done;
}

void CrlRefresher::refresh_if_due(std::int64_t now_unix_s) {
    unsigned interval_s = current(now_unix_s) ? crl_refresh_interval_s : crl_retry_interval_s;
    if (now_unix_s - last_look_unix_s_ < static_cast<std::int64_t>(interval_s)) {
        return;
    }
    (void)refresh("timer", now_unix_s);  // Logs a problem itself.
}

}  // namespace hub::engine
