// listener_cert_commands.cc -- hubctl listener-cert add|remove|list|show: the file checks
// (wolfSSL) before a row reaches the directory, and the listings.
//
// PURPOSE   Refuse a certificate hubd could not use before it is stored, so that a restart
//           never meets a listener certificate it cannot load.
// RUNS IN   hubctl, as root (the key files are root's).
// TRUST     The operator's arguments and files; each is checked before the write.
// LIMITS    directory::listener_certificate_path_bytes_max.
// SEE ALSO  directory/listener_certificates.h, tls/tls_session.h (ServerContext),
//           docs/DIRECTORY.md ("Listener certificates").

#include "programs/hubctl/listener_cert_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "directory/listener_certificates.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/text.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace hub::hubctl {

namespace {

// Absolute without resolving links: the operator's path is what hubd opens.
std::string absolute_path(const std::string& file) {
    std::error_code error;
    std::filesystem::path path = std::filesystem::absolute(file, error);
    return error ? file : path.lexically_normal().string();
}

// "subject, valid until ..." of the certificate file's leaf, or why it cannot be read.
std::string leaf_text(const std::string& file) {
    auto facts = tls::read_certificate_facts(file);
    if (!facts) {
        return "(cannot read: " + facts.error() + ")";
    }
    return facts->front().subject;
}

}  // namespace

Result<directory::ListenerCertificateRecord, std::string> read_listener_certificate(
    const ListenerCertInput& input, const config::HubConfig* listeners) {
    directory::ListenerCertificateRecord record;
    record.name = input.name;
    if (std::string why = directory::canonical_listener_address(input.address, record.address);
        !why.empty()) {
        return unexpected(why);
    }
    if (listeners != nullptr && record.address != "*") {
        std::string smtp =
            directory::listener_address_text(listeners->smtp.host, listeners->smtp.port);
        std::string smtps =
            directory::listener_address_text(listeners->smtps.host, listeners->smtps.port);
        if (record.address != smtp && record.address != smtps) {
            return unexpected(
                fmt::format("listening address {} is not one of hubd's listeners (listen.smtp {}, "
                            "listen.smtps {}); give one of them, or *",
                            record.address, smtp, smtps));
        }
    }
    record.sni = input.sni;
    std::transform(record.sni.begin(), record.sni.end(), record.sni.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    record.certificate_path = absolute_path(input.certificate_file);
    record.key_path = absolute_path(input.key_file);
    // The fields first: a bad name or SNI is reported before the files are opened.
    if (std::string why = directory::check_listener_certificate(record); !why.empty()) {
        return unexpected(why);
    }
    for (const std::string* path : {&record.certificate_path, &record.key_path}) {
        if (::access(path->c_str(), R_OK) != 0) {
            return unexpected(fmt::format("{}: cannot read it: {}", *path, std::strerror(errno)));
        }
    }
    auto facts = tls::read_certificate_facts(record.certificate_path);
    if (!facts) {
        return unexpected(
            fmt::format("{}; give a PEM file with the certificate first, then its "
                        "intermediates",
                        facts.error()));
    }
    tls::ServerConfig server;
    server.certificate_chain_path = record.certificate_path;
    server.private_key_path = record.key_path;
    server.request_client_certificate = false;
    if (auto context = tls::ServerContext::create(server); !context) {
        return unexpected(fmt::format(
            "{} and {}: the private key does not match the certificate, or one of them cannot "
            "be used: {}",
            record.key_path, record.certificate_path, context.error().message));
    }
    return record;
}

int list_listener_certificates(directory::Directory& directory, bool json) {
    auto rows = directory.listener_certificates();
    if (!rows) {
        return fail(exit_runtime, "error: {}", rows.error());
    }
    if (json) {
        return print_json_array(*rows);
    }
    fmt::print("{:<20} {:<24} {:<30} {}\n", "NAME", "ADDRESS", "SNI", "CERTIFICATE");
    for (const directory::ListenerCertificateRecord& row : *rows) {
        fmt::print("{:<20} {:<24} {:<30} {}\n", printable(row.name), printable(row.address),
                   row.sni.empty() ? std::string("(none or unknown)") : printable(row.sni),
                   printable(row.certificate_path));
    }
    return flushed();
}

int show_listener_certificate(directory::Directory& directory, const std::string& name, bool json) {
    auto rows = directory.listener_certificates();
    if (!rows) {
        return fail(exit_runtime, "error: {}", rows.error());
    }
    auto row =
        std::find_if(rows->begin(), rows->end(),
                     [&](const directory::ListenerCertificateRecord& r) { return r.name == name; });
    if (row == rows->end()) {
        return fail(exit_runtime,
                    "error: no listener certificate named {} (hubctl listener-cert list shows "
                    "them)",
                    printable(name));
    }
    if (json) {
        fmt::print("{}\n", directory::to_json(*row));
        return flushed();
    }
    fmt::print("name:        {}\n", printable(row->name));
    fmt::print("address:     {}\n",
               row->address == "*" ? std::string("* (every listener)") : printable(row->address));
    fmt::print("sni:         {}\n", row->sni.empty() ? std::string("(none or unknown: the "
                                                                   "listener's default)")
                                                     : printable(row->sni));
    fmt::print("certificate: {}\n", printable(row->certificate_path));
    fmt::print("subject:     {}\n", printable(leaf_text(row->certificate_path)));
    fmt::print("key:         {}\n", printable(row->key_path));
    fmt::print("in use after hubd restarts (the key is read as root at start)\n");
    return flushed();
}

}  // namespace hub::hubctl
