// stats.cc -- merging per-thread figures (see stats.h).
#include "stats.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace hub::loadgen {

Result<void, std::string> AckedLog::open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) {
        return unexpected(fmt::format("--acked-log {}: {}", path, std::strerror(errno)));
    }
    return {};
}

AckedLog::~AckedLog() {
    if (file_ != nullptr) {
        std::fclose(file_);
    }
}

void AckedLog::append(const std::string& token, const std::string& queue_id) {
    if (file_ == nullptr) {
        return;
    }
    std::lock_guard lock(mutex_);
    std::fprintf(file_, "%s %s\n", token.c_str(), queue_id.c_str());
    std::fflush(file_);
}

double percentile(const std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) {
        return 0;
    }
    auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()));
    return sorted[std::min(rank, sorted.size() - 1)];
}

Summary summarise(std::vector<ThreadStats*> threads, std::uint64_t planned, double elapsed_s) {
    Summary summary;
    summary.planned = planned;
    summary.elapsed_s = elapsed_s;
    std::vector<double> latencies;
    for (ThreadStats* stats : threads) {
        summary.sent += stats->sent.load();
        summary.ok += stats->ok.load();
        summary.ok_bytes += stats->ok_bytes;
        summary.connections += stats->connections;
        summary.established += stats->established.load();
        summary.session_failures += stats->session_failures.load();
        latencies.insert(latencies.end(), stats->latencies_ms.begin(), stats->latencies_ms.end());
        for (const auto& [reason, count] : stats->errors) {
            summary.errors[reason] += count;
        }
        if (summary.tls_description.empty()) {
            summary.tls_description = stats->tls_description;
        }
    }
    std::sort(latencies.begin(), latencies.end());
    summary.p50_ms = percentile(latencies, 0.50);
    summary.p99_ms = percentile(latencies, 0.99);
    summary.p999_ms = percentile(latencies, 0.999);
    return summary;
}

}  // namespace hub::loadgen
