// options.h -- the load generator's command line (CLI11), shared read-only by all threads.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace hub::loadgen {

struct Options {
    std::string server = "127.0.0.1:2525";
    std::uint32_t sessions = 1;
    std::uint32_t messages = 1;
    std::uint64_t size_bytes = 1024;
    std::string size_dist = "fixed";
    std::uint64_t seed = 1;
    std::string mode = "starttls";
    std::string ca_path;
    std::string cert_path;
    std::string key_path;
    std::string servername;
    std::string from = "loadgen@partner1.gov.uk";
    std::string to = "user@partner2.gov.uk.lgolhub.net";
    std::string helo = "loadgen.partner1.gov.uk";
    std::string pipelining = "on";
    std::string acked_log_path;
    std::string run_id;
    std::string summary_json_path;
    double time_limit_s = 300;
    double reply_timeout_s = 120;
    double rate_per_s = 0;             // Aggregate; 0: as fast as possible.
    std::uint32_t per_connection = 0;  // Messages per TLS connection; 0: all on one.
    std::uint32_t hold = 0;
    std::uint32_t threads = 1;

    bool implicit_tls() const { return mode == "implicit"; }
    bool want_pipelining() const { return pipelining == "on"; }
    // Sessions the run opens: --hold N, else --sessions.
    std::uint32_t session_count() const { return hold > 0 ? hold : sessions; }
};

// Declares every option on app, writing into options.
void add_options(CLI::App& app, Options& options);

}  // namespace hub::loadgen
