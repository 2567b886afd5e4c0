// hub_key.cc -- the hub's own key and certificate from an external CA (hub_key.h).
//
// PURPOSE   Make a key and its CSR, open a PKCS#12 bundle, and install a key with its
//           certificate chain after checking them (tls/key_import.h), for hubctl's
//           `ca hub-key` commands and hub-console's Certificates page alike.
// RUNS IN   hubctl as root; hub-console-admin (root) for the console on the appliance, or
//           the development console as the user who owns .hub-dev. [tls] key is root 0600
//           and hubd reads it as root before its privilege drop.
// TRUST     The key, certificates and bundle are the administrator's (a file or a paste);
//           each is bounded by its caller (hub_key_file_bytes_max, the console's paste
//           limit) and nothing is written where hubd reads until every check passed.
// LIMITS    hub_key_file_bytes_max per file read.
// SEE ALSO  programs/hubctl/hub_key_commands.cc, programs/hub-console/runner.cc,
//           tls/key_import.h, ca/authority.h, docs/CA.md ("The hub's own key").
#include "programs/hubctl/hub_key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "ca/authority.h"
#include "tls/key_import.h"
#include "tls/tls_context.h"

namespace hub::hubctl {

namespace fs = std::filesystem;

namespace {

// A staging directory beside the key (same file system, so the final renames are atomic),
// mode 0700, removed when this goes out of scope.
struct Staging {
    fs::path dir;
    ~Staging() {
        if (!dir.empty()) {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    }
};

Result<void, std::string> replace_keeping_previous(const fs::path& staged, const fs::path& path) {
    fs::path previous = path;
    previous += ".previous";
    if (::access(path.c_str(), F_OK) == 0) {
        ::unlink(previous.c_str());
        if (::link(path.c_str(), previous.c_str()) != 0) {
            return unexpected(fmt::format("{}: cannot keep the previous one as {}: {}",
                                          path.string(), previous.string(), std::strerror(errno)));
        }
    }
    if (::rename(staged.c_str(), path.c_str()) != 0) {
        return unexpected(
            fmt::format("{}: cannot replace: {}", path.string(), std::strerror(errno)));
    }
    return {};
}

std::string utc_date(std::int64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    return fmt::format("{:04}-{:02}-{:02}", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday);
}

}  // namespace

Result<std::string, std::string> read_bounded(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return unexpected(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::string bytes(hub_key_file_bytes_max + 1, '\0');
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > hub_key_file_bytes_max) {
        return unexpected(fmt::format("{}: larger than {} bytes", path, hub_key_file_bytes_max));
    }
    return bytes;
}

Result<void, std::string> write_new_file(const std::string& path, std::string_view content,
                                         unsigned int mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return unexpected(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
    }
    bool ok = ::fchmod(fd, mode) == 0;
    for (std::size_t done = 0; ok && done < content.size();) {
        ssize_t wrote = ::write(fd, content.data() + done, content.size() - done);
        ok = wrote > 0;
        done += ok ? static_cast<std::size_t>(wrote) : 0;
    }
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) {
        return unexpected(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
    }
    return {};
}

std::string pending_key_path(const std::string& key_path) {
    return key_path + ".pending";
}

Result<HubKeyRequest, std::string> request_hub_key(const config::HubConfig& config,
                                                   std::string_view key_type) {
    if (config.private_key_path.empty()) {
        return unexpected(std::string("hub.conf has no [tls] key to make a pending key beside"));
    }
    auto type = ca::parse_key_type(key_type);
    auto key = type ? ca::generate_key_pem(*type) : unexpected(type.error());
    if (!key) {
        return unexpected(key.error());
    }
    auto request = ca::make_request(*key, config.hostname);
    if (!request) {
        return unexpected(request.error());
    }
    HubKeyRequest made;
    made.pending_path = pending_key_path(config.private_key_path);
    made.common_name = config.hostname;
    ::unlink(made.pending_path.c_str());  // A new request replaces an older pending key.
    if (auto wrote = write_new_file(made.pending_path, *key, 0600); !wrote) {
        return unexpected(wrote.error());
    }
    made.csr_pem = ca::pem(*request, "CERTIFICATE REQUEST");
    return made;
}

std::string installed_text(const HubKeyInstalled& installed) {
    return fmt::format(
        "installed the hub's key {} and certificate {} ({}, valid until {}, {} certificates in "
        "the chain); the previous ones are kept as *.previous.\n"
        "hubd and hub-enroll read them when they start: systemctl restart hubd hub-enroll\n",
        installed.key_path, installed.certificate_path, installed.subject,
        utc_date(installed.not_after_s), installed.chain_certificates);
}

// The one path to the hub's key files: gathers the leaf, the intermediates and the roots,
// checks them in a staging directory, and only then replaces [tls] key and certificate
// (keeping the old ones as *.previous).
Result<HubKeyInstalled, std::string> install_hub_key(const config::HubConfig& config,
                                                     const HubKeyMaterial& material,
                                                     std::string_view no_roots_hint) {
    if (config.private_key_path.empty() || config.certificate_path.empty()) {
        return unexpected(std::string("hub.conf has no [tls] key and certificate to write"));
    }
    const std::string& certificate_pem = material.certificate_pem;
    constexpr std::string_view end_line = "-----END CERTIFICATE-----";
    std::size_t leaf_end = certificate_pem.find(end_line);
    if (certificate_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
        leaf_end == std::string::npos) {
        return unexpected(std::string("no PEM certificate (-----BEGIN CERTIFICATE-----) given"));
    }
    leaf_end += end_line.size();
    std::string leaf = certificate_pem.substr(0, leaf_end) + "\n";
    auto given = tls::split_roots(certificate_pem.substr(leaf_end) + "\n" + material.chain_pem);
    if (!given) {
        return unexpected(given.error());
    }
    auto extra = tls::split_roots(material.more_roots_pem);
    if (!extra) {
        return unexpected(fmt::format("{}: {}", material.more_roots_name, extra.error()));
    }
    std::string roots = given->roots_pem + extra->roots_pem + extra->intermediates_pem;
    if (roots.empty()) {
        return unexpected(fmt::format(
            "no root certificate to check the chain against: {} (nothing changed)", no_roots_hint));
    }
    std::string served = leaf + given->intermediates_pem;
    Staging staging;
    fs::path key_path(config.private_key_path);
    fs::path certificate_path(config.certificate_path);
    std::string pattern = (key_path.parent_path() / ".hub-key.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return unexpected(fmt::format("{}: cannot make a staging directory: {}",
                                      key_path.parent_path().string(), std::strerror(errno)));
    }
    staging.dir = pattern;
    fs::path staged_key = staging.dir / "key.pem";
    fs::path staged_certificate = staging.dir / "certificate.pem";
    fs::path staged_roots = staging.dir / "roots.pem";
    for (auto [path, content, mode] :
         {std::tuple{staged_key, std::string_view(material.key_pem), 0600U},
          std::tuple{staged_certificate, std::string_view(served), 0644U},
          std::tuple{staged_roots, std::string_view(roots), 0644U}}) {
        if (auto wrote = write_new_file(path.string(), content, mode); !wrote) {
            return unexpected(wrote.error());
        }
    }
    auto checked = tls::check_key_and_chain(staged_key, staged_certificate, staged_roots,
                                            static_cast<std::int64_t>(std::time(nullptr)));
    if (!checked) {
        return unexpected("refused, nothing changed: " + checked.error());
    }
    auto facts = tls::read_certificate_facts(staged_certificate);
    if (!facts) {
        return unexpected(facts.error());
    }
    // XXX: two renames, not one: a crash between them leaves the new key with the old
    // certificate. hubd then refuses to start with "does not work with the certificate",
    // and the *.previous files hold the old pair; rare enough for a manual step.
    if (auto replaced = replace_keeping_previous(staged_key, key_path); !replaced) {
        return unexpected(replaced.error());
    }
    if (auto replaced = replace_keeping_previous(staged_certificate, certificate_path); !replaced) {
        return unexpected(replaced.error());
    }
    HubKeyInstalled installed;
    installed.key_path = key_path.string();
    installed.certificate_path = certificate_path.string();
    installed.subject = facts->front().subject;
    installed.not_after_s = facts->front().not_after_s;
    installed.chain_certificates = facts->size();
    return installed;
}

Result<HubKeyInstalled, std::string> install_requested_hub_key(const config::HubConfig& config,
                                                               HubKeyMaterial material,
                                                               std::string_view request_hint,
                                                               std::string_view no_roots_hint) {
    const std::string pending = pending_key_path(config.private_key_path);
    auto key = read_bounded(pending);
    if (!key) {
        return unexpected(fmt::format("{} ({})", key.error(), request_hint));
    }
    material.key_pem = std::move(*key);
    auto installed = install_hub_key(config, material, no_roots_hint);
    if (installed) {
        ::unlink(pending.c_str());
    }
    return installed;
}

Result<HubKeyMaterial, std::string> open_pkcs12(std::string_view der, const std::string& password) {
    auto opened = tls::read_pkcs12(der, password);
    if (!opened) {
        return unexpected(opened.error());
    }
    HubKeyMaterial material;
    material.key_pem = std::move(opened->private_key_pem);
    material.certificate_pem = std::move(opened->certificate_pem);
    material.chain_pem = std::move(opened->chain_pem);
    return material;
}

}  // namespace hub::hubctl
