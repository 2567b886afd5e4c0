// hub-enroll -- the HTTPS certificate enrollment page.
//
// PURPOSE   Let partners' administrators submit PKCS#10 requests with their enrollment
//           password, check them, download issued certificates and the CRL. main() only
//           wires: configuration, TLS key, listener, privilege drop, then the loop.
// RUNS IN   the hub-enroll process, one thread (enroll/server.h says why).
// TRUST     Everything a browser sends is untrusted (enroll/http.h, enroll/app.h). The
//           configuration is trusted. Privilege kept: none. Started as root it binds its
//           port (443 on the appliance), reads its private key, then becomes [enroll] user
//           with no_new_privs; it never holds the CA key and reaches hub-ca only through
//           hub-ca's socket, where its uid gives it the enroll role.
// LIMITS    enroll/limits.h; hub.conf's [enroll] (docs/CONFIGURATION.md).
// SEE ALSO  docs/ENROLLMENT.md, hub-ca(8), rootfs/usr/lib/systemd/system/hub-enroll.service
//
// Usage: hub-enroll --config hub.conf | hub-enroll --help
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "base/log.h"
#include "config/hub_config.h"
#include "engine/startup.h"
#include "enroll/app.h"
#include "enroll/server.h"
#include "tls/tls_session.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

namespace {

using hub::base::log_fatal;
using hub::base::log_info;

constexpr std::string_view usage_text =
    "usage: hub-enroll --config FILE\n"
    "       hub-enroll --help\n"
    "\n"
    "  --config FILE  hub.conf: [enroll] (listen address, certificate, key, user, rate\n"
    "                 limits) and [ca] socket (docs/ENROLLMENT.md)\n"
    "  --help         print this text and exit\n";

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) {
    stop_requested.store(true);
}

std::string random_key() {
    WC_RNG rng;
    std::string key(32, '\0');
    if (wc_InitRng(&rng) != 0 || wc_RNG_GenerateBlock(&rng, reinterpret_cast<byte*>(key.data()),
                                                      static_cast<word32>(key.size())) != 0) {
        log_fatal("cannot draw the form key from the random number generator");
    }
    wc_FreeRng(&rng);
    return key;
}

// SIGTERM and SIGINT set stop_requested; they stay blocked except while the loop waits in
// ppoll (server.h), so a stop is never lost between a check and a wait.
void block_stop_signals() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
}

// The account hub-ca knows as the enrollment page's ([ca] enroll_user): the one fact both
// sides read, so the role hub-ca grants and the uid this process runs as agree. Not started
// as root: no switch (both ids -1).
hub::engine::HubUser enroll_account(const hub::config::HubConfig& config) {
    hub::engine::HubUser user;
    if (geteuid() == 0) {
        const std::string& name = config.ca_enroll_user;
        passwd* entry = name.empty() ? nullptr : getpwnam(name.c_str());
        if (entry == nullptr || entry->pw_uid == 0) {
            log_fatal(
                "{}: ca.enroll_user = \"{}\": started as root, hub-enroll needs the "
                "unprivileged account hub-ca gives the enroll role (tools/setup makes "
                "hubenroll)",
                config.where("ca.enroll_user"), name);
        }
        user = hub::engine::HubUser{entry->pw_uid, entry->pw_gid};
    }
    return user;
}

}  // namespace

int main(int argc, char** argv) {
    hub::base::log_set_program("hub-enroll");
    hub::base::log_prepare_stderr();
    std::string config_path;
    for (int i = 1; i < argc; i++) {
        std::string_view argument = argv[i];
        if (argument == "--help") {
            std::fputs(usage_text.data(), stdout);
            return 0;
        }
        if (argument == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            std::fputs(usage_text.data(), stderr);
            return 2;
        }
    }
    if (config_path.empty()) {
        std::fputs(usage_text.data(), stderr);
        return 2;
    }
    auto config = hub::config::load_hub_config(config_path);
    if (!config) {
        log_fatal("{}", config.error());
    }
    if (config->ca_socket.empty()) {
        log_fatal("{}: ca.socket is not set: the enrollment page needs hub-ca",
                  config->where("ca.socket"));
    }
    hub::engine::HubUser user = enroll_account(*config);
    hub::tls::initialise_library();
    hub::tls::ServerConfig tls_config;
    tls_config.certificate_chain_path = config->enroll_certificate_path.empty()
                                            ? config->certificate_path
                                            : config->enroll_certificate_path;
    tls_config.private_key_path = config->enroll_private_key_path.empty()
                                      ? config->private_key_path
                                      : config->enroll_private_key_path;
    tls_config.request_client_certificate = false;  // Browsers: no client certificates.
    auto context = hub::tls::ServerContext::create(tls_config);
    if (!context) {
        log_fatal("enroll TLS: {}", context.error().message);
    }
    auto listener = hub::engine::bind_listener(config->enroll_listen, "enroll.listen");
    if (!listener) {
        log_fatal("{}", listener.error());
    }
    hub::engine::drop_privileges(user, config->ca_enroll_user);

    block_stop_signals();

    hub::enroll::AppSettings settings;
    settings.requests_per_minute = config->enroll_requests_per_minute;
    settings.posts_per_minute = config->enroll_posts_per_minute;
    settings.hmac_key = random_key();
    hub::enroll::App app(std::move(settings));
    hub::enroll::ServerSettings server_settings{config->ca_socket};
    log_info("ready: https://{}:{}/ (hub-ca at {})",
             config->enroll_listen.host.find(':') != std::string::npos
                 ? "[" + config->enroll_listen.host + "]"
                 : config->enroll_listen.host,
             config->enroll_listen.port, config->ca_socket);
    auto served =
        hub::enroll::serve(*listener, std::move(*context), app, server_settings, stop_requested);
    close(*listener);
    if (!served) {
        log_fatal("{}", served.error());
    }
    log_info("stopped");
    return 0;
}
