// stats.h -- what one thread counted, and the summary made from all threads at the end.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"

namespace hub::loadgen {

// Written by one worker thread. The atomics are also read by the main thread while the run
// goes on (the --hold report); everything else is read only after the thread was joined.
struct ThreadStats {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint32_t> established{0};  // --hold: sessions past EHLO.
    std::atomic<std::uint32_t> session_failures{0};
    std::atomic<bool> finished{false};
    std::uint64_t ok_bytes = 0;
    std::uint64_t connections = 0;  // TCP connections opened.
    std::vector<double> latencies_ms;
    std::map<std::string, std::uint64_t> errors;
    std::string tls_description;  // "tls=TLSv1.3 cipher=..." from the first handshake.

    void add_error(const std::string& reason) { errors[reason]++; }
};

// "<token> <queue id>" per acknowledged message; written and flushed (to the kernel) before
// the message is counted, so a crash test can trust every line.
class AckedLog {
public:
    [[nodiscard]] Result<void, std::string> open(const std::string& path);
    ~AckedLog();
    void append(const std::string& token, const std::string& queue_id);

private:
    std::mutex mutex_;
    std::FILE* file_ = nullptr;
};

struct Summary {
    std::uint64_t planned = 0;
    std::uint64_t sent = 0;
    std::uint64_t ok = 0;
    std::uint64_t ok_bytes = 0;
    std::uint64_t connections = 0;
    std::uint32_t established = 0;
    std::uint32_t session_failures = 0;
    double elapsed_s = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double p999_ms = 0;
    std::map<std::string, std::uint64_t> errors;
    std::string tls_description;
};

// Merges the threads' figures; sorts the latencies (the threads must have been joined).
Summary summarise(std::vector<ThreadStats*> threads, std::uint64_t planned, double elapsed_s);
// The value at fraction (0..1) of sorted samples, nearest rank; 0 when there are none.
double percentile(const std::vector<double>& sorted, double fraction);

}  // namespace hub::loadgen
