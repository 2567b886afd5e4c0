// main.cc -- loadgen: SMTP-over-TLS load generator for tests and benchmarks.
//
// PURPOSE   Drives a hub (or any ESMTP server) with N concurrent sessions of M messages
//           each, over STARTTLS or implicit TLS, optionally with a client certificate, with
//           or without PIPELINING, and reports what came back: a summary line
//           "loadgen: sent=N ok=N failed=N elapsed_s=X msgs_per_s=Y p50_ms=.. p99_ms=..
//           p999_ms=.. mb_per_s=.. connections=N" (only 250 counts as ok; latency runs from
//           the send of the final ".\r\n" to the 250), and, with --acked-log, one line
//           "<token> <queue id>" per message answered 250, written and flushed before the
//           message is counted so a crash test can trust the file. --per-connection K
//           reconnects (new TCP, full TLS handshake) every K messages; --rate R paces
//           messages open-loop; --size-dist draws sizes from a weighted list. --hold N opens
//           N TLS sessions, says EHLO and keeps them idle (memory probes).
// RUNS IN   Its own process on a developer, test or benchmark machine, beside the server it
//           measures: --threads threads (default 1), each with its own io_uring and its
//           share of the sessions, non-blocking, TLS over memory (hub::tls::Session), so
//           10,000 held sessions cost memory, not threads (worker.cc).
// TRUST     Talks to the server it is pointed at; replies are parsed defensively (bounded
//           lines, bounded multi-line replies, bounded inboxes). A server that dies or
//           misbehaves turns messages into failures, never a crash. Needs no privilege;
//           raises its RLIMIT_NOFILE soft limit to the hard limit.
// LIMITS    limits.h: sessions_count_max sessions, threads_count_max threads; --time-limit is
//           a hard bound on the whole run: at the deadline (or SIGINT/SIGTERM) every
//           connection is shut down, completions are drained for at most
//           stop_drain_ms_max, then the summary is printed regardless.
// SEE ALSO  tools/README.md, tests/integration/ (crash, concurrency, disk-full tests),
//           bench/inbound/run, bench/run.
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "limits.h"
#include "options.h"
#include "size_dist.h"
#include "stats.h"
#include "tls/tls_session.h"
#include "worker.h"

namespace hub::loadgen {
namespace {

inline constexpr std::uint64_t spare_fds = 64;  // Ring, log files, stdio, resolver.

using VoidResult = Result<void, std::string>;

VoidResult resolve_server(Shared& shared) {
    const std::string& server = shared.options.server;
    std::size_t colon = server.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == server.size()) {
        return unexpected(fmt::format("--server {}: expected HOST:PORT", server));
    }
    std::string host = server.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    std::string port = server.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (error != 0) {
        return unexpected(fmt::format("--server {}: {}", server, ::gai_strerror(error)));
    }
    std::memcpy(&shared.address, found->ai_addr, found->ai_addrlen);
    shared.address_bytes = found->ai_addrlen;
    ::freeaddrinfo(found);
    return {};
}

VoidResult make_tls_context(Shared& shared) {
    const Options& options = shared.options;
    if (options.cert_path.empty() != options.key_path.empty()) {
        return unexpected(std::string("--cert and --key go together"));
    }
    tls::ClientConfig config;
    config.trust_anchor_path = options.ca_path;
    config.verify_peer = !options.ca_path.empty();  // Without --ca: encrypted, unverified.
    config.certificate_chain_path = options.cert_path;
    config.private_key_path = options.key_path;
    config.server_name = options.servername;
    auto context = tls::ClientContext::create(config);
    if (!context) {
        return unexpected("TLS: " + context.error().message);
    }
    shared.tls_context = std::move(*context);
    return {};
}

// One descriptor per session: raise the soft limit to the hard one, and say plainly if even
// that is not enough rather than failing thousands of sessions with EMFILE.
VoidResult raise_fd_limit(const Options& options) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return unexpected(fmt::format("getrlimit: {}", std::strerror(errno)));
    }
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    std::uint64_t needed = std::uint64_t{options.session_count()} + spare_fds;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
        return unexpected(fmt::format(
            "{} sessions need about {} file descriptors but RLIMIT_NOFILE's hard limit is {}; "
            "raise it (ulimit -Hn, as root) or open fewer sessions",
            options.session_count(), needed, static_cast<unsigned long long>(limit.rlim_max)));
    }
    return {};
}

std::string random_run_id() {
    std::random_device device;
    return fmt::format("{:08x}", device());
}

enum class End { all_done, deadline, signal };

struct Run {
    std::vector<std::unique_ptr<ThreadStats>> stats;
    std::vector<std::thread> threads;

    std::vector<ThreadStats*> stats_pointers() const {
        std::vector<ThreadStats*> out;
        for (const auto& one : stats) {
            out.push_back(one.get());
        }
        return out;
    }
};

void start_threads(Shared& shared, Run& run) {
    const Options& options = shared.options;
    std::uint32_t session_count = options.session_count();
    std::uint32_t thread_count = std::min(options.threads, session_count);
    for (std::uint32_t t = 0; t < thread_count; t++) {
        std::vector<std::uint32_t> indexes;
        for (std::uint32_t i = t; i < session_count; i += thread_count) {
            indexes.push_back(i);
        }
        // Each thread paces its share of the aggregate rate.
        double rate = options.rate_per_s * static_cast<double>(indexes.size()) /
                      static_cast<double>(session_count);
        run.stats.push_back(std::make_unique<ThreadStats>());
        ThreadStats* stats = run.stats.back().get();
        run.threads.emplace_back([&shared, stats, indexes = std::move(indexes), rate]() mutable {
            VoidResult ran = run_worker(shared, *stats, std::move(indexes), rate);
            if (!ran) {
                std::fprintf(stderr, "loadgen: %s\n", ran.error().c_str());
                stats->add_error(ran.error());
            }
            stats->finished.store(true);
        });
    }
}

// Waits for every thread, the deadline or SIGINT/SIGTERM; in --hold mode says when all
// sessions are up, so a caller can measure the server while they are held.
End wait_for_end(Shared& shared, Run& run, const sigset_t& signals) {
    bool hold_reported = false;
    for (;;) {
        bool all_finished = true;
        std::uint32_t established = 0;
        std::uint32_t failures = 0;
        for (const auto& stats : run.stats) {
            all_finished = all_finished && stats->finished.load();
            established += stats->established.load();
            failures += stats->session_failures.load();
        }
        if (all_finished) {
            // The workers watch the deadline themselves and may finish just after it.
            return now_ns() >= shared.deadline_ns ? End::deadline : End::all_done;
        }
        if (shared.options.hold > 0 && !hold_reported &&
            established + failures == shared.options.hold) {
            std::printf("loadgen: holding established=%u failed=%u\n", established, failures);
            std::fflush(stdout);
            hold_reported = true;
        }
        if (now_ns() >= shared.deadline_ns) {
            return End::deadline;
        }
        timespec wait{0, 20 * 1000 * 1000};
        if (::sigtimedwait(&signals, nullptr, &wait) > 0) {
            return End::signal;
        }
    }
}

void print_errors(const Summary& summary) {
    int printed = 0;
    for (const auto& [reason, count] : summary.errors) {
        if (printed++ == errors_printed_max) {
            std::fprintf(stderr, "loadgen: ... more error kinds\n");
            break;
        }
        std::fprintf(stderr, "loadgen: error x%llu: %s\n", static_cast<unsigned long long>(count),
                     reason.c_str());
    }
}

std::string json_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out;
}

void write_json(const Options& options, const Summary& summary, End end) {
    std::FILE* file = std::fopen(options.summary_json_path.c_str(), "w");
    if (file == nullptr) {
        std::fprintf(stderr, "loadgen: --summary-json %s: %s\n", options.summary_json_path.c_str(),
                     std::strerror(errno));
        return;
    }
    double rate = summary.elapsed_s > 0 ? static_cast<double>(summary.ok) / summary.elapsed_s : 0;
    double mb_rate =
        summary.elapsed_s > 0 ? static_cast<double>(summary.ok_bytes) / 1e6 / summary.elapsed_s : 0;
    std::string text = fmt::format(
        "{{\"mode\": \"{}\", \"sessions\": {}, \"messages\": {}, \"threads\": {}, "
        "\"per_connection\": {}, \"rate\": {}, \"hold\": {}, \"planned\": {}, \"sent\": {}, "
        "\"ok\": {}, \"failed\": {}, \"ok_bytes\": {}, \"connections\": {}, "
        "\"established\": {}, \"session_failures\": {}, \"elapsed_s\": {:.3f}, "
        "\"msgs_per_s\": {:.2f}, \"mb_per_s\": {:.3f}, \"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}, "
        "\"p999_ms\": {:.3f}, \"end\": \"{}\", \"tls\": \"{}\", \"error_kinds\": {}}}\n",
        options.mode, options.sessions, options.messages, options.threads, options.per_connection,
        options.rate_per_s, options.hold, summary.planned, summary.sent, summary.ok,
        summary.planned - summary.ok, summary.ok_bytes, summary.connections, summary.established,
        summary.session_failures, summary.elapsed_s, rate, mb_rate, summary.p50_ms, summary.p99_ms,
        summary.p999_ms,
        end == End::all_done ? "done" : (end == End::deadline ? "deadline" : "signal"),
        json_escape(summary.tls_description), summary.errors.size());
    std::fputs(text.c_str(), file);
    std::fclose(file);
}

int print_summary(const Options& options, const Summary& summary, End end) {
    print_errors(summary);
    if (!summary.tls_description.empty()) {
        std::printf("loadgen: %s\n", summary.tls_description.c_str());
    }
    if (end == End::deadline && options.hold == 0) {
        std::printf("loadgen: stopped at --time-limit %.1f s\n", options.time_limit_s);
    } else if (end == End::signal) {
        std::printf("loadgen: stopped by a signal\n");
    }
    if (!options.summary_json_path.empty()) {
        write_json(options, summary, end);
    }
    if (options.hold > 0) {
        std::printf("loadgen: held=%u failed=%u elapsed_s=%.2f\n", summary.established,
                    options.hold - summary.established, summary.elapsed_s);
        std::fflush(stdout);
        return summary.established == options.hold ? 0 : 1;
    }
    double rate = summary.elapsed_s > 0 ? static_cast<double>(summary.ok) / summary.elapsed_s : 0;
    double mb_rate =
        summary.elapsed_s > 0 ? static_cast<double>(summary.ok_bytes) / 1e6 / summary.elapsed_s : 0;
    std::printf(
        "loadgen: sent=%llu ok=%llu failed=%llu elapsed_s=%.2f msgs_per_s=%.1f p50_ms=%.2f "
        "p99_ms=%.2f p999_ms=%.2f mb_per_s=%.2f connections=%llu\n",
        static_cast<unsigned long long>(summary.sent), static_cast<unsigned long long>(summary.ok),
        static_cast<unsigned long long>(summary.planned - summary.ok), summary.elapsed_s, rate,
        summary.p50_ms, summary.p99_ms, summary.p999_ms, mb_rate,
        static_cast<unsigned long long>(summary.connections));
    std::fflush(stdout);
    return summary.ok == summary.planned ? 0 : 1;
}

int run(Shared& shared) {
    const Options& options = shared.options;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Inherited by every worker thread.
    shared.start_ns = now_ns();
    shared.deadline_ns = shared.start_ns + static_cast<std::int64_t>(options.time_limit_s * 1e9);
    Run workers;
    start_threads(shared, workers);
    End end = wait_for_end(shared, workers, signals);
    shared.stop.store(true);
    // Workers notice stop within loop_wait_ms_max and drain for at most stop_drain_ms_max;
    // nothing in them blocks, so joining is bounded.
    for (std::thread& thread : workers.threads) {
        thread.join();
    }
    double elapsed_s = static_cast<double>(now_ns() - shared.start_ns) / 1e9;
    std::uint64_t planned =
        options.hold > 0 ? 0 : std::uint64_t{options.sessions} * options.messages;
    Summary summary = summarise(workers.stats_pointers(), planned, elapsed_s);
    return print_summary(options, summary, end);
}

}  // namespace
}  // namespace hub::loadgen

int main(int argc, char** argv) {
    using namespace hub::loadgen;
    CLI::App app("loadgen: SMTP-over-TLS load generator for Hubbox tests and benchmarks");
    Options options;
    add_options(app, options);
    CLI11_PARSE(app, argc, argv);
    if (options.run_id.empty()) {
        options.run_id = random_run_id();
    }
    ::signal(SIGPIPE, SIG_IGN);  // A dead server is a failed message, not a dead loadgen.
    auto sizes = SizeDistribution::parse(options.size_dist, options.size_bytes);
    if (!sizes) {
        std::fprintf(stderr, "loadgen: %s\n", sizes.error().c_str());
        return 2;
    }
    auto shared = std::make_unique<Shared>(options, std::move(*sizes));
    for (auto step : {resolve_server, make_tls_context}) {
        VoidResult ready = step(*shared);
        if (!ready) {
            std::fprintf(stderr, "loadgen: %s\n", ready.error().c_str());
            return 2;
        }
    }
    if (VoidResult fds = raise_fd_limit(options); !fds) {
        std::fprintf(stderr, "loadgen: %s\n", fds.error().c_str());
        return 2;
    }
    if (!options.acked_log_path.empty()) {
        VoidResult opened = shared->acked_log.open(options.acked_log_path);
        if (!opened) {
            std::fprintf(stderr, "loadgen: %s\n", opened.error().c_str());
            return 2;
        }
    }
    return run(*shared);
}
