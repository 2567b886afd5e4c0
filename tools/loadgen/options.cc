// options.cc -- the command line (see options.h and tools/README.md).
#include "options.h"

#include <CLI/CLI.hpp>

#include "limits.h"

namespace hub::loadgen {

void add_options(CLI::App& app, Options& options) {
    app.add_option("--server", options.server, "HOST:PORT of the SMTP server");
    app.add_option("--sessions", options.sessions, "concurrent sessions")
        ->check(CLI::Range(1u, sessions_count_max));
    app.add_option("--messages", options.messages, "messages per session");
    app.add_option("--size", options.size_bytes, "approximate bytes per message (headers+body)")
        ->check(CLI::Range(std::uint64_t{1}, message_bytes_max));
    app.add_option("--size-dist", options.size_dist,
                   "'fixed' (--size) or BYTES:WEIGHT,... e.g. 1024:70,102400:25,5242880:5");
    app.add_option("--seed", options.seed, "seed for --size-dist draws (deterministic)");
    app.add_option("--mode", options.mode, "starttls or implicit")
        ->check(CLI::IsMember({"starttls", "implicit"}));
    app.add_option("--ca", options.ca_path, "CA file: verify the server certificate");
    app.add_option("--cert", options.cert_path, "client certificate chain (PEM)");
    app.add_option("--key", options.key_path, "client private key (PEM)");
    app.add_option("--servername", options.servername, "SNI and certificate name to check");
    app.add_option("--from", options.from, "envelope and header sender");
    app.add_option("--to", options.to, "envelope and header recipient");
    app.add_option("--helo", options.helo, "EHLO name");
    app.add_option("--pipelining", options.pipelining, "on or off")
        ->check(CLI::IsMember({"on", "off"}));
    app.add_option("--acked-log", options.acked_log_path,
                   "append '<token> <queue id>' per message answered 250");
    app.add_option("--run-id", options.run_id, "token prefix (default: random)");
    app.add_option("--summary-json", options.summary_json_path,
                   "also write the summary figures to this file as JSON");
    app.add_option("--time-limit", options.time_limit_s, "hard bound on the run, seconds")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--reply-timeout", options.reply_timeout_s,
                   "seconds without progress while waiting for a reply (not with --hold)")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--rate", options.rate_per_s,
                   "aggregate messages per second, open-loop paced (0: as fast as possible)")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--per-connection", options.per_connection,
                   "messages per TLS connection, then QUIT and reconnect (0: all on one)");
    app.add_option("--threads", options.threads, "threads, each with its own io_uring")
        ->check(CLI::Range(1u, threads_count_max));
    app.add_option("--hold", options.hold,
                   "open N TLS sessions, EHLO, hold them idle until --time-limit or a signal")
        ->check(CLI::Range(0u, sessions_count_max));
}

}  // namespace hub::loadgen
