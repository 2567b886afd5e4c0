// crl_refresh.h -- keeps the hub CA's CRL loaded in hubd's server TLS context.
//
// hub-ca writes <ca.public_dir>/crl.pem (through a rename) after every revocation and
// whenever half of the CRL's validity has gone. hubd reads it at start, at every reload
// (SIGHUP, `hubctl reload`, and `hubctl ca revoke`, which asks for one) and once a minute,
// and gives wolfSSL every CRL whose bytes changed. wolfSSL checks nextUpdate at every
// handshake, so a CRL loaded once would fail every partner after it expires: the timer is
// what keeps a hub that nobody touches working.
//
// When the file is missing, unreadable, invalid, or older than the loaded one, the last
// good CRL stays loaded and the problem is logged (error) and reported by the next reload.
// An expired CRL is never replaced by "no CRL": the hub CA's certificates then fail their
// handshake verdict until hub-ca publishes a fresh one (fail closed; docs/CA.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tls/revocation.h"

namespace hub::tls {
class ServerContext;
}

namespace hub::engine {

class CrlRefresher {
public:
    // context: the server context, with enable_crl_check done. crl_path: absolute.
    CrlRefresher(std::string crl_path, std::shared_ptr<tls::ServerContext> context);
    // Every server context hubd presents (one per listener and listener certificate), each
    // with enable_crl_check done; a CRL is loaded into all of them.
    CrlRefresher(std::string crl_path, std::vector<std::shared_ptr<tls::ServerContext>> contexts);

    // Reads crl_path (read-only: allowed under hubd's seccomp filter, like reload's reads)
    // and loads it when its bytes differ from the loaded CRL's. Ok: one line for the
    // administrator ("CRL: loaded ..." or "CRL: unchanged ..."). Error: why the file was
    // not taken, and which CRL (if any) stays in force. Logs a load at info and a problem
    // at error (the same problem again at most every crl_complaint_interval_s).
    Result<std::string, std::string> refresh(std::string_view trigger, std::int64_t now_unix_s);

    // The supervisor's timer: refresh when crl_refresh_interval_s have passed since the
    // last look (crl_retry_interval_s while no current CRL is loaded).
    void refresh_if_due(std::int64_t now_unix_s);

    // Whether a CRL is loaded and its nextUpdate is still ahead of now_unix_s.
    bool current(std::int64_t now_unix_s) const;

private:
    Result<std::string, std::string> try_refresh(std::int64_t now_unix_s);
    std::string in_force(std::int64_t now_unix_s) const;
    void complain(std::string_view trigger, const std::string& problem, std::int64_t now_unix_s);

    std::string crl_path_;
    std::vector<std::shared_ptr<tls::ServerContext>> contexts_;
    std::string loaded_pem_;  // The bytes of the CRL in force; empty: none loaded yet.
    tls::CrlFacts loaded_facts_;
    std::size_t loaded_bytes_total_ = 0;  // Every load's size: wolfSSL keeps each one.
    std::int64_t last_look_unix_s_ = 0;
    std::string last_problem_;  // Logged already; the same one is repeated only hourly.
    std::int64_t last_complaint_unix_s_ = 0;
};

}  // namespace hub::engine
