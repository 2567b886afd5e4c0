// listener_certificates.cc -- certificates per listening address and SNI name: the checks,
// storage in one audited transaction, and the choice of rows for one listener.
//
// PURPOSE   Let one box present different certificates on different addresses and, on
//           one address, by the name the client asks for (SNI).
// RUNS IN   hubctl (listener-cert), hubd at start (as root) and at each reload (to notice a
//           change that needs a restart).
// TRUST     Operator input, checked before it is stored; the files are checked by hubctl
//           (wolfSSL) before the write and again by hubd when it builds its contexts.
// LIMITS    Paths up to listener_certificate_path_bytes_max; names as partner names.
// SEE ALSO  directory/listener_certificates.h, programs/hubd/main.cc, docs/DIRECTORY.md.

#include "directory/listener_certificates.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "config/syntax.h"
#include "directory/directory.h"
#include "directory/limits.h"
#include "directory/record.h"
#include "directory/sqlite_util.h"
#include "policy/partner_checks.h"

namespace hub::directory {

using detail::now_unix_s;
using detail::read_rows;
using detail::Statement;

std::string listener_address_text(std::string_view host, std::uint16_t port) {
    std::string text(host);
    unsigned char bytes[16];
    char canonical[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, text.c_str(), bytes) == 1 &&
        inet_ntop(AF_INET6, bytes, canonical, sizeof(canonical)) != nullptr) {
        return fmt::format("[{}]:{}", canonical, port);
    }
    return fmt::format("{}:{}", text, port);
}

std::string canonical_listener_address(std::string_view text, std::string& canonical) {
    if (text == "*") {
        canonical = "*";
        return {};
    }
    config::Endpoint endpoint;
    if (std::string why = config::parse_endpoint(text, endpoint); !why.empty()) {
        return fmt::format(
            "listening address \"{}\": {}; give a listener of hub.conf (listen.smtp or "
            "listen.smtps, e.g. 127.0.0.1:2525 or [::1]:2465) or * for every listener",
            text, why);
    }
    canonical = listener_address_text(endpoint.host, endpoint.port);
    return {};
}

std::string check_listener_certificate(const ListenerCertificateRecord& record) {
    if (std::string why = policy::check_partner_name(record.name); !why.empty()) {
        return fmt::format("listener certificate name \"{}\": {}", record.name, why);
    }
    std::string canonical;
    if (std::string why = canonical_listener_address(record.address, canonical); !why.empty()) {
        return why;
    }
    if (canonical != record.address) {
        return fmt::format("listening address \"{}\" is not in canonical form ({})", record.address,
                           canonical);
    }
    if (!record.sni.empty()) {
        std::string lower = record.sni;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower != record.sni) {
            return fmt::format("SNI name \"{}\": write it in lower case ({})", record.sni, lower);
        }
        if (std::string why = config::check_domain(record.sni); !why.empty()) {
            return fmt::format(
                "SNI name \"{}\": {}; give the host name clients connect to, exactly (no "
                "wildcards), or leave --sni out for clients that send none",
                record.sni, why);
        }
    }
    for (const auto& [what, path] :
         {std::pair{"certificate", &record.certificate_path}, std::pair{"key", &record.key_path}}) {
        if (path->empty() || path->front() != '/' ||
            path->size() > listener_certificate_path_bytes_max ||
            path->find('\0') != std::string::npos) {
            return fmt::format(
                "{} path \"{}\": must be an absolute path of at most {} bytes (hubd reads it "
                "at start, from any working directory)",
                what, *path, listener_certificate_path_bytes_max);
        }
    }
    return {};
}

std::string to_json(const ListenerCertificateRecord& record) {
    return fmt::format(R"({{"name":{},"address":{},"sni":{},"certificate":{},"key":{}}})",
                       json_string(record.name), json_string(record.address),
                       json_string(record.sni), json_string(record.certificate_path),
                       json_string(record.key_path));
}

ListenerSelection select_listener_certificates(const std::vector<ListenerCertificateRecord>& rows,
                                               std::string_view address) {
    ListenerSelection out;
    for (const ListenerCertificateRecord& row : rows) {
        if (row.address != address && row.address != "*") {
            continue;
        }
        bool specific = row.address != "*";
        if (row.sni.empty()) {
            if (out.fallback == nullptr || specific) {
                out.fallback = &row;
            }
            continue;
        }
        auto same = std::find_if(
            out.by_name.begin(), out.by_name.end(),
            [&](const ListenerCertificateRecord* other) { return other->sni == row.sni; });
        if (same == out.by_name.end()) {
            out.by_name.push_back(&row);
        } else if (specific) {
            *same = &row;
        }
    }
    std::sort(out.by_name.begin(), out.by_name.end(),
              [](const ListenerCertificateRecord* a, const ListenerCertificateRecord* b) {
                  return a->sni < b->sni;
              });
    return out;
}

Result<std::vector<ListenerCertificateRecord>, std::string> Directory::listener_certificates() {
    Statement statement(db_,
                        "SELECT name, address, sni, certificate_path, key_path FROM "
                        "listener_certificates ORDER BY name");
    if (!statement.ok()) {
        return unexpected(error_text("reading listener certificates"));
    }
    std::vector<ListenerCertificateRecord> rows;
    if (read_rows(statement, rows, [](Statement& row) {
            return ListenerCertificateRecord{row.text(0), row.text(1), row.text(2), row.text(3),
                                             row.text(4)};
        }) != SQLITE_DONE) {
        return unexpected(error_text("reading listener certificates"));
    }
    return rows;
}

Result<void, std::string> Directory::change_listener_certificate(
    std::string_view name, const std::optional<ListenerCertificateRecord>& after,
    std::string_view actor) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    if (std::string why = policy::check_partner_name(name); !why.empty()) {
        return unexpected(fmt::format("listener certificate name \"{}\": {}", name, why));
    }
    if (after) {
        HUB_ASSERT(after->name == name);
        if (std::string why = check_listener_certificate(*after); !why.empty()) {
            return unexpected(why);
        }
    }
    return audited_change(actor, [&]() -> Result<std::optional<AuditNote>, std::string> {
        auto rows = listener_certificates();
        if (!rows) {
            return unexpected(rows.error());
        }
        auto existing =
            std::find_if(rows->begin(), rows->end(),
                         [&](const ListenerCertificateRecord& row) { return row.name == name; });
        std::string before_json = existing != rows->end() ? to_json(*existing) : std::string();
        if (after) {
            if (existing != rows->end()) {
                return unexpected(fmt::format(
                    "listener certificate {} exists already; remove it first (hubctl listener-cert "
                    "remove {})",
                    name, name));
            }
            for (const ListenerCertificateRecord& row : *rows) {
                if (row.address == after->address && row.sni == after->sni) {
                    return unexpected(fmt::format(
                        "listener certificate {} already applies to {} {}; remove it first "
                        "(hubctl listener-cert remove {})",
                        row.name, row.address == "*" ? "every listener" : row.address,
                        row.sni.empty() ? std::string("without SNI") : "for SNI " + row.sni,
                        row.name));
                }
            }
            Statement insert(
                db_,
                "INSERT INTO listener_certificates (name, address, sni, "
                "certificate_path, key_path, created_unix_s) VALUES (?, ?, ?, ?, ?, ?)");
            insert.bind(1, after->name);
            insert.bind(2, after->address);
            insert.bind(3, after->sni);
            insert.bind(4, after->certificate_path);
            insert.bind(5, after->key_path);
            insert.bind(6, now_unix_s());
            if (!insert.ok() || insert.step() != SQLITE_DONE) {
                return unexpected(error_text("adding a listener certificate"));
            }
        } else {
            if (existing == rows->end()) {
                return unexpected(fmt::format(
                    "no listener certificate named {} (hubctl listener-cert list shows them)",
                    name));
            }
            Statement remove(db_, "DELETE FROM listener_certificates WHERE name = ?");
            remove.bind(1, name);
            if (!remove.ok() || remove.step() != SQLITE_DONE) {
                return unexpected(error_text("removing a listener certificate"));
            }
        }
        return AuditNote{after ? "listener-cert add" : "listener-cert remove",
                         fmt::format("listener-cert:{}", name), before_json,
                         after ? to_json(*after) : std::string()};
    });
}

}  // namespace hub::directory
