// directory_commands.cc -- hubctl partner|domain|connector|audit|admin|tls-endpoint|trust|
// listener-cert|tls-failures on the partner directory (the last two dispatched to
// listener_cert_commands.cc and tls_failure_commands.cc).
//
// PURPOSE   The administrator's way to read and change partners: each write command is one
//           Directory::change (or import) transaction, audited with the administrator's
//           name; each read command prints text, or JSON with --json.
// RUNS IN   hubctl, as root or the hub user (whoever may write the directory file).
// TRUST     The operator's arguments, parsed by CLI11 and checked by directory/edits.cc.
// LIMITS    Those of the directory (directory/limits.h, policy/limits.h).
// SEE ALSO  directory/directory.h, directory/edits.h, docs/DIRECTORY.md.

#include "programs/hubctl/directory_commands.h"

#include <fmt/format.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "config/hub_config.h"
#include "directory/directory.h"
#include "directory/edits.h"
#include "directory/limits.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/listener_cert_commands.h"
#include "programs/hubctl/partner_text.h"
#include "programs/hubctl/text.h"
#include "programs/hubctl/tls_failure_commands.h"
#include "tls/limits.h"
#include "tls/pem_certificate.h"

namespace hub::hubctl {

namespace {

using directory::Directory;
using directory::PartnerFields;
using directory::PartnerRecord;

std::string time_text(std::int64_t unix_s) {
    std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

void print_record(const PartnerRecord& record) {
    for (const std::string& line : partner_lines(record)) {
        fmt::print("{}\n", line);
    }
}

}  // namespace

struct DirectoryCommands::Settings {
    std::string directory_path;
    std::string name;
    std::string domain;
    std::string file;
    bool json = false;
    bool pending = false;
    std::size_t limit = directory::audit_rows_shown_default;
    // partner add/edit and connector set; options given are those with count() > 0.
    std::string contact, outbound, outbound_name, pin, client_cn, subdomains, client_cert;
    std::vector<std::string> domains, inbound, extra_sender_domains;
    bool no_inbound = false;
    bool no_pin = false;

    CLI::App* add = nullptr;
    CLI::App* edit = nullptr;
    CLI::App* import = nullptr;
    CLI::App* list = nullptr;
    CLI::App* show = nullptr;
    CLI::App* suspend = nullptr;
    CLI::App* resume = nullptr;
    CLI::App* remove = nullptr;
    CLI::App* domain_add = nullptr;
    CLI::App* domain_remove = nullptr;
    CLI::App* connector_set = nullptr;
    CLI::App* audit = nullptr;
    CLI::App* admin_add = nullptr;
    CLI::App* admin_passwd = nullptr;
    CLI::App* admin_remove = nullptr;
    CLI::App* admin_list = nullptr;
    std::vector<CLI::Option*> field_options;

    // tls-endpoint and trust.
    CLI::App* tls_create = nullptr;
    CLI::App* tls_edit = nullptr;
    CLI::App* tls_assign = nullptr;
    CLI::App* tls_list = nullptr;
    CLI::App* tls_show = nullptr;
    CLI::App* trust_add = nullptr;
    CLI::App* trust_list = nullptr;
    CLI::App* trust_remove = nullptr;
    std::string in_require_tls, in_request_cert, in_require_cert, in_cn, in_subject_dn,
        in_issuer_dn, out_require_tls, out_verify, out_trust_anchor, out_check_name,
        out_server_name, out_pin, out_mode;
    int in_min_bits = 0, out_min_bits = 0;
    std::vector<std::string> assign_partners, assign_cidrs, assign_domains;
    bool unassign = false;
    std::vector<CLI::Option*> tls_options;

    // listener-cert.
    CLI::App* lcert_add = nullptr;
    CLI::App* lcert_remove = nullptr;
    CLI::App* lcert_list = nullptr;
    CLI::App* lcert_show = nullptr;
    std::string lcert_address, lcert_sni, lcert_certificate, lcert_key;

    // tls-failures.
    CLI::App* tlsf_record = nullptr;
    CLI::App* tlsf_list = nullptr;
    std::string status_socket;

    // option_name with its dashes: "--domain".
    bool given(std::string_view option_name) const {
        for (CLI::Option* option : field_options) {
            if (option->check_lname(std::string(option_name.substr(2))) && option->count() > 0) {
                return true;
            }
        }
        return false;
    }
};

namespace {

using Settings = DirectoryCommands::Settings;

void add_field_options(CLI::App* command, Settings& s, bool partner_fields) {
    auto keep = [&](CLI::Option* option) { s.field_options.push_back(option); };
    if (partner_fields) {
        keep(command->add_option("--contact", s.contact, "who to call about this partner"));
        keep(command->add_option("--domain", s.domains,
                                 "a mail domain the partner owns (repeat; replaces the list)"));
        keep(command
                 ->add_option("--subdomains", s.subdomains,
                              "true: sub.<domain> belongs to the partner too")
                 ->check(CLI::IsMember({"true", "false"})));
        keep(command->add_option("--client-cn", s.client_cn,
                                 "CN of the partner's client certificate (\"\": first domain)"));
        keep(command
                 ->add_option("--require-client-cert", s.client_cert,
                              "true (default): a session must show the certificate")
                 ->check(CLI::IsMember({"true", "false"})));
        keep(command->add_option("--extra-sender-domain", s.extra_sender_domains,
                                 "a MAIL FROM domain it may use besides its own (repeat)"));
    }
    keep(command->add_option("--inbound", s.inbound,
                             "a source network, e.g. 192.0.2.0/24 (repeat; replaces the list)"));
    keep(command->add_option("--outbound", s.outbound, "the partner's smart host, IP[:port]"));
    keep(command->add_option("--outbound-name", s.outbound_name,
                             "DNS name its server certificate must carry (default: first domain)"));
    keep(command->add_option("--pin", s.pin, "SHA-256 of its server certificate (64 hex digits)"));
    if (!partner_fields) {
        keep(command->add_flag("--no-inbound", s.no_inbound, "remove every inbound network"));
        keep(command->add_flag("--no-pin", s.no_pin, "remove the pin (verify the chain again)"));
    }
}

void add_tls_options(CLI::App* command, Settings& s) {
    auto keep = [&](CLI::Option* option) { s.tls_options.push_back(option); };
    auto boolean = [&](const char* name, std::string& value, const char* help) {
        keep(command->add_option(name, value, help)->check(CLI::IsMember({"true", "false"})));
    };
    boolean("--in-require-tls", s.in_require_tls, "inbound: mail only after STARTTLS");
    keep(command->add_option("--in-min-bits", s.in_min_bits,
                             "inbound: minimum cipher strength, 0 (any), 128 or 256 bits"));
    boolean("--in-request-cert", s.in_request_cert, "inbound: ask for a client certificate");
    boolean("--in-require-cert", s.in_require_cert,
            "inbound: a client certificate valid under the hub CA is required");
    keep(command->add_option("--in-cn", s.in_cn,
                             "inbound: the CN the certificate must carry: partner (the "
                             "partner's client CN), any, or the CN itself"));
    keep(command->add_option("--in-subject-dn", s.in_subject_dn,
                             "inbound: the certificate's subject, e.g. /O=Partner/CN=p.example "
                             "(\"\": any)"));
    keep(command->add_option("--in-issuer-dn", s.in_issuer_dn,
                             "inbound: the certificate's issuer DN (\"\": any)"));
    boolean("--out-require-tls", s.out_require_tls,
            "outbound: false = opportunistic TLS (with --out-verify none)");
    keep(command->add_option("--out-verify", s.out_verify, "outbound: chain, pin or none"));
    keep(command->add_option("--out-trust-anchor", s.out_trust_anchor,
                             "outbound: verify the chain against this trust anchor instead of "
                             "the hub CA (\"\": the hub CA)"));
    boolean("--out-check-name", s.out_check_name,
            "outbound: the server certificate must carry the server name");
    keep(command->add_option("--out-server-name", s.out_server_name,
                             "outbound: the name to check (\"\": the partner's outbound name)"));
    keep(command->add_option("--out-pin", s.out_pin,
                             "outbound: SHA-256 of the server's certificate (\"\": the "
                             "partner's pin)"));
    keep(command->add_option("--out-min-bits", s.out_min_bits,
                             "outbound: minimum cipher strength, 0, 128 or 256 bits"));
    keep(command->add_option("--out-mode", s.out_mode,
                             "outbound: starttls, or implicit (TLS from the first byte, port "
                             "465 style)"));
}

bool tls_given(const Settings& s, std::string_view option_name) {
    for (CLI::Option* option : s.tls_options) {
        if (option->check_lname(std::string(option_name.substr(2))) && option->count() > 0) {
            return true;
        }
    }
    return false;
}

directory::TlsPolicyFields tls_fields_from(const Settings& s) {
    directory::TlsPolicyFields fields;
    auto flag = [&](const char* name, const std::string& value, std::optional<bool>& field) {
        if (tls_given(s, name)) {
            field = value == "true";
        }
    };
    auto text = [&](const char* name, const std::string& value, std::optional<std::string>& field) {
        if (tls_given(s, name)) {
            field = value;
        }
    };
    flag("--in-require-tls", s.in_require_tls, fields.in_require_tls);
    if (tls_given(s, "--in-min-bits")) {
        fields.in_min_cipher_bits = s.in_min_bits;
    }
    flag("--in-request-cert", s.in_request_cert, fields.in_request_certificate);
    flag("--in-require-cert", s.in_require_cert, fields.in_require_certificate);
    text("--in-cn", s.in_cn, fields.in_cn);
    text("--in-subject-dn", s.in_subject_dn, fields.in_subject_dn);
    text("--in-issuer-dn", s.in_issuer_dn, fields.in_issuer_dn);
    flag("--out-require-tls", s.out_require_tls, fields.out_require_tls);
    text("--out-verify", s.out_verify, fields.out_verify);
    text("--out-trust-anchor", s.out_trust_anchor, fields.out_trust_anchor);
    flag("--out-check-name", s.out_check_name, fields.out_check_name);
    text("--out-server-name", s.out_server_name, fields.out_server_name);
    text("--out-pin", s.out_pin, fields.out_pin_sha256);
    if (tls_given(s, "--out-min-bits")) {
        fields.out_min_cipher_bits = s.out_min_bits;
    }
    text("--out-mode", s.out_mode, fields.out_mode);
    return fields;
}

PartnerFields fields_from(const Settings& s) {
    PartnerFields fields;
    if (s.given("--contact")) {
        fields.contact = s.contact;
    }
    if (s.given("--domain")) {
        fields.domains = s.domains;
    }
    if (s.given("--subdomains")) {
        fields.subdomains = s.subdomains == "true";
    }
    if (s.given("--client-cn")) {
        fields.client_cn = s.client_cn;
    }
    if (s.given("--require-client-cert")) {
        fields.require_client_certificate = s.client_cert == "true";
    }
    if (s.given("--extra-sender-domain")) {
        fields.extra_sender_domains = s.extra_sender_domains;
    }
    if (s.given("--inbound")) {
        fields.inbound = s.inbound;
    } else if (s.no_inbound) {
        fields.inbound = std::vector<std::string>{};
    }
    if (s.given("--outbound")) {
        fields.outbound = s.outbound;
    }
    if (s.given("--outbound-name")) {
        fields.outbound_name = s.outbound_name;
    }
    if (s.given("--pin")) {
        fields.outbound_pin_sha256 = s.pin;
    } else if (s.no_pin) {
        fields.outbound_pin_sha256 = std::string();
    }
    return fields;
}

}  // namespace

void DirectoryCommands::add_to(CLI::App& app) {
    settings_ = std::make_shared<Settings>();
    Settings& s = *settings_;
    app.add_option("--directory", s.directory_path,
                   "partner directory file (instead of hub.conf's directory.path)");

    CLI::App* partner = app.add_subcommand("partner", "Partners in the directory.");
    partner->require_subcommand(1);
    partner->fallthrough();
    s.add = partner->add_subcommand("add", "Add a partner (active unless --pending).");
    s.add->add_option("name", s.name, "partner name")->required();
    s.add->add_flag("--pending", s.pending, "keep it out of the hub until `partner resume`");
    add_field_options(s.add, s, true);
    s.edit = partner->add_subcommand("edit", "Change a partner's settings.");
    s.edit->add_option("name", s.name, "partner name")->required();
    add_field_options(s.edit, s, true);
    s.import = partner->add_subcommand(
        "import", "Copy every partner of a partners.toml into the directory (all or nothing).");
    s.import->add_option("file", s.file, "the TOML partner file")->required();
    s.list = partner->add_subcommand("list", "List partners.");
    s.list->add_flag("--json", s.json, "JSON instead of a table");
    s.show = partner->add_subcommand("show", "Print one partner's settings.");
    s.show->add_option("name", s.name, "partner name")->required();
    s.show->add_flag("--json", s.json, "JSON instead of text");
    s.suspend = partner->add_subcommand("suspend", "Refuse the partner's new sessions.");
    s.suspend->add_option("name", s.name, "partner name")->required();
    s.resume = partner->add_subcommand("resume", "Make a pending or suspended partner active.");
    s.resume->add_option("name", s.name, "partner name")->required();
    s.remove = partner->add_subcommand("remove", "Remove a partner, its domains and connectors.");
    s.remove->add_option("name", s.name, "partner name")->required();

    CLI::App* domain = app.add_subcommand("domain", "Partners' mail domains.");
    domain->require_subcommand(1);
    domain->fallthrough();
    s.domain_add = domain->add_subcommand("add", "Give a partner one more domain.");
    s.domain_remove = domain->add_subcommand("remove", "Take a domain from a partner.");
    for (CLI::App* command : {s.domain_add, s.domain_remove}) {
        command->add_option("name", s.name, "partner name")->required();
        command->add_option("domain", s.domain, "mail domain")->required();
    }

    CLI::App* connector = app.add_subcommand("connector", "Partners' connectors.");
    connector->require_subcommand(1);
    connector->fallthrough();
    s.connector_set = connector->add_subcommand(
        "set", "Set a partner's inbound networks and outbound smart host.");
    s.connector_set->add_option("name", s.name, "partner name")->required();
    add_field_options(s.connector_set, s, false);

    CLI::App* admin = app.add_subcommand("admin", "Administrator accounts (yescrypt passwords).");
    admin->require_subcommand(1);
    admin->fallthrough();
    s.admin_add = admin->add_subcommand(
        "add", "Add an administrator; the password is read from standard input.");
    s.admin_passwd = admin->add_subcommand(
        "passwd", "Change an administrator's password (read from standard input).");
    s.admin_remove = admin->add_subcommand("remove", "Remove an administrator (not the last).");
    for (CLI::App* command : {s.admin_add, s.admin_passwd, s.admin_remove}) {
        command->add_option("name", s.name, "administrator name")->required();
    }
    s.admin_list = admin->add_subcommand("list", "List administrators.");
    s.admin_list->add_flag("--json", s.json, "JSON instead of text");

    CLI::App* tls = app.add_subcommand(
        "tls-endpoint", "TLS endpoint policies: what the hub demands of partners' TLS.");
    tls->require_subcommand(1);
    tls->fallthrough();
    s.tls_create = tls->add_subcommand(
        "create", "Create a TLS policy (the shipped default, changed by the options given).");
    s.tls_edit = tls->add_subcommand("edit", "Change a TLS policy's settings.");
    for (CLI::App* command : {s.tls_create, s.tls_edit}) {
        command->add_option("name", s.name, "policy name")->required();
        add_tls_options(command, s);
    }
    s.tls_assign = tls->add_subcommand(
        "assign", "Apply a TLS policy to partners, networks or domains (most specific wins).");
    s.tls_assign->add_option("name", s.name, "policy name")->required();
    s.tls_assign->add_option("--partner", s.assign_partners, "a partner (repeat)");
    s.tls_assign->add_option("--cidr", s.assign_cidrs,
                             "a network: inbound clients or outbound smart hosts in it (repeat)");
    s.tls_assign->add_option("--domain", s.assign_domains,
                             "a partner's domain (repeat; with --partner, it must be that "
                             "partner's)");
    s.tls_assign->add_flag("--unassign", s.unassign, "remove these assignments instead");
    s.tls_list = tls->add_subcommand("list", "List TLS policies.");
    s.tls_list->add_flag("--json", s.json, "JSON instead of a table");
    s.tls_show = tls->add_subcommand("show", "Print one TLS policy.");
    s.tls_show->add_option("name", s.name, "policy name")->required();
    s.tls_show->add_flag("--json", s.json, "JSON instead of text");

    CLI::App* trust = app.add_subcommand(
        "trust", "Trust anchors: CA certificates outbound TLS policies may verify against.");
    trust->require_subcommand(1);
    trust->fallthrough();
    s.trust_add = trust->add_subcommand("add", "Add a CA certificate (one PEM certificate).");
    s.trust_add->add_option("name", s.name, "trust anchor name")->required();
    s.trust_add->add_option("file", s.file, "PEM file")->required();
    s.trust_list = trust->add_subcommand("list", "List trust anchors.");
    s.trust_list->add_flag("--json", s.json, "JSON instead of a table");
    s.trust_remove = trust->add_subcommand("remove", "Remove a trust anchor no policy uses.");
    s.trust_remove->add_option("name", s.name, "trust anchor name")->required();

    CLI::App* lcert = app.add_subcommand(
        "listener-cert",
        "Certificates per listening address and SNI name (in use after a hubd restart).");
    lcert->require_subcommand(1);
    lcert->fallthrough();
    s.lcert_add = lcert->add_subcommand(
        "add", "Present a certificate on a listener (or every one), for an SNI name or none.");
    s.lcert_add->add_option("name", s.name, "listener certificate name")->required();
    s.lcert_add
        ->add_option("--address", s.lcert_address,
                     "the listener, as in hub.conf (127.0.0.1:2525, [::1]:2465), or *")
        ->required();
    s.lcert_add->add_option("--sni", s.lcert_sni,
                            "the host name clients ask for (exact); leave out for clients "
                            "that send none or an unknown one");
    s.lcert_add
        ->add_option("--certificate", s.lcert_certificate,
                     "PEM file: the certificate, then its intermediates")
        ->required();
    s.lcert_add->add_option("--key", s.lcert_key, "PEM file: its private key (root-only)")
        ->required();
    s.lcert_remove = lcert->add_subcommand("remove", "Stop presenting a listener certificate.");
    s.lcert_remove->add_option("name", s.name, "listener certificate name")->required();
    s.lcert_list = lcert->add_subcommand("list", "List listener certificates.");
    s.lcert_list->add_flag("--json", s.json, "JSON instead of a table");
    s.lcert_show = lcert->add_subcommand("show", "Print one listener certificate.");
    s.lcert_show->add_option("name", s.name, "listener certificate name")->required();
    s.lcert_show->add_flag("--json", s.json, "JSON instead of text");

    CLI::App* tlsf =
        app.add_subcommand("tls-failures",
                           "Peers whose outbound TLS fails, and since when, as the directory "
                           "remembers them across hubd restarts.");
    tlsf->require_subcommand(1);
    tlsf->fallthrough();
    s.tlsf_record = tlsf->add_subcommand(
        "record",
        "Copy the running hubd's failing and recovered peers into the directory "
        "(hub-tls-record.timer runs it every minute).");
    s.tlsf_record->add_option("--socket", s.status_socket,
                              "hubd's status socket (default: hub.conf's)");
    s.tlsf_list = tlsf->add_subcommand("list", "List the remembered TLS failures.");
    s.tlsf_list->add_flag("--json", s.json, "JSON instead of a table");

    s.audit = app.add_subcommand("audit", "Print the directory's audit log, oldest first.");
    s.audit->add_option("--partner", s.name, "only this partner's changes");
    s.audit->add_option("--limit", s.limit, "the newest N entries (default 50)")
        ->check(CLI::Range(std::size_t{1}, directory::audit_rows_shown_max));
    s.audit->add_flag("--json", s.json, "JSON instead of text");
}

namespace {

Result<std::string, std::string> directory_path(const Settings& s, const std::string& config_path) {
    if (!s.directory_path.empty()) {
        return s.directory_path;
    }
    if (config_path.empty()) {
        return unexpected(
            std::string("this command needs --config FILE (with directory.path) or --directory "
                        "FILE"));
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return unexpected("error: " + config.error());
    }
    if (config->directory_path.empty()) {
        return unexpected(
            fmt::format("{} has no directory.path (its partners come from "
                        "partners.file); set directory.path and run `hubctl partner "
                        "import` first, or give --directory FILE",
                        config_path));
    }
    return config->directory_path;
}

int apply_to_running_hub(std::string_view action, const std::string& config_path) {
    ReloadReport report = reload_after_write(action, config_path);
    if (!report.ok) {
        return fail(exit_runtime, "{}", report.text);
    }
    fmt::print("{}\n", report.text);
    return flushed();
}

int list_partners(Directory& directory, bool json) {
    auto records = directory.partners();
    if (!records) {
        return fail(exit_runtime, "error: {}", records.error());
    }
    if (json) {
        return print_json_array(*records);
    }
    fmt::print("{:<20} {:<9} {:<30} {:<24} {}\n", "NAME", "STATE", "DOMAINS", "INBOUND",
               "OUTBOUND");
    for (const PartnerRecord& record : *records) {
        fmt::print("{:<20} {:<9} {:<30} {:<24} {}\n", printable(record.name),
                   directory::to_string(record.state), joined(record.domains, "-"),
                   joined(record.inbound, "-"), outbound_text(record));
    }
    return flushed();
}

int show_partner(Directory& directory, const std::string& name, bool json) {
    auto record = directory.find(name);
    if (!record) {
        return fail(exit_runtime, "error: {}", record.error());
    }
    if (!record->has_value()) {
        return fail(exit_runtime, "no partner named {} (hubctl partner list shows them)",
                    printable(name));
    }
    if (json) {
        fmt::print("{}\n", directory::to_json(**record));
    } else {
        print_record(**record);
    }
    return flushed();
}

int print_audit(Directory& directory, const Settings& s) {
    auto entries = directory.audit(s.name, s.limit);
    if (!entries) {
        return fail(exit_runtime, "error: {}", entries.error());
    }
    if (s.json) {
        std::string out = "[";
        for (const directory::AuditEntry& entry : *entries) {
            out += fmt::format(
                "{}\n{{\"id\":{},\"at\":{},\"actor\":{},\"action\":{},\"subject\":{},"
                "\"before\":{},\"after\":{}}}",
                out.size() > 1 ? "," : "", entry.id, json_string(time_text(entry.at_unix_s)),
                json_string(entry.actor), json_string(entry.action), json_string(entry.subject),
                entry.before.empty() ? "null" : entry.before,
                entry.after.empty() ? "null" : entry.after);
        }
        fmt::print("{}\n]\n", out);
        return flushed();
    }
    for (const directory::AuditEntry& entry : *entries) {
        fmt::print("{} {} {} {}\n  before: {}\n  after:  {}\n", time_text(entry.at_unix_s),
                   printable(entry.actor), printable(entry.action), printable(entry.subject),
                   entry.before.empty() ? "-" : printable(entry.before),
                   entry.after.empty() ? "-" : printable(entry.after));
    }
    return flushed();
}

// One line of standard input; on a terminal asked twice with echo off.
Result<std::string, std::string> read_password() {
    bool terminal = ::isatty(STDIN_FILENO) == 1;
    std::optional<std::string> first = read_secret("Password: ");
    if (!first) {
        return unexpected(std::string("no password on standard input"));
    }
    if (terminal) {
        std::optional<std::string> again = read_secret("Again: ");
        if (!again || *again != *first) {
            return unexpected(std::string("the two passwords differ; nothing was changed"));
        }
    }
    return *first;
}

int list_admins(Directory& directory, bool json) {
    auto accounts = directory.admins();
    if (!accounts) {
        return fail(exit_runtime, "error: {}", accounts.error());
    }
    if (json) {
        std::string out = "[";
        for (const directory::AdminAccount& account : *accounts) {
            out += fmt::format("{}\n{{\"name\":{},\"created\":{},\"password_changed\":{}}}",
                               out.size() > 1 ? "," : "", json_string(account.name),
                               json_string(time_text(account.created_unix_s)),
                               json_string(time_text(account.updated_unix_s)));
        }
        fmt::print("{}\n]\n", out);
        return flushed();
    }
    fmt::print("{:<32} {:<20} {}\n", "NAME", "CREATED", "PASSWORD CHANGED");
    for (const directory::AdminAccount& account : *accounts) {
        fmt::print("{:<32} {:<20} {}\n", printable(account.name), time_text(account.created_unix_s),
                   time_text(account.updated_unix_s));
    }
    return flushed();
}

int change_admin(Directory& directory, const Settings& s, const CLI::App* parsed) {
    directory::AdminChange change = parsed == s.admin_add      ? directory::AdminChange::add
                                    : parsed == s.admin_passwd ? directory::AdminChange::passwd
                                                               : directory::AdminChange::remove;
    std::string password;
    if (change != directory::AdminChange::remove) {
        auto read = read_password();
        if (!read) {
            return fail(exit_runtime, "error: {}", read.error());
        }
        password = std::move(*read);
    }
    if (auto changed = directory.change_admin(s.name, change, password, actor_name()); !changed) {
        return fail(exit_runtime, "error: {}", changed.error());
    }
    fmt::print("admin {}: done\n", parsed->get_name());
    return flushed();
}

std::string bits_text(int bits) {
    return bits == 0 ? std::string("any") : fmt::format("{} bits", bits);
}

void print_tls_policy(const directory::TlsPolicyRecord& record) {
    const policy::InboundTlsPolicy& in = record.policy.inbound;
    const policy::OutboundTlsPolicy& out = record.policy.outbound;
    auto or_dash = [](const std::string& value) {
        return value.empty() ? std::string("-") : printable(value);
    };
    fmt::print("name:                        {}\n", printable(record.policy.name));
    fmt::print("inbound require TLS:         {}\n", in.require_tls);
    fmt::print("inbound minimum cipher:      {}\n", bits_text(in.min_cipher_bits));
    fmt::print("inbound request certificate: {}\n", in.request_certificate);
    fmt::print("inbound require certificate: {}{}\n", in.require_certificate,
               in.require_certificate ? " (valid under the hub CA; partners that require none "
                                        "are exempt)"
                                      : "");
    fmt::print("inbound CN:                  {}\n",
               in.cn_rule == policy::CnRule::value     ? printable(in.cn)
               : in.cn_rule == policy::CnRule::partner ? std::string("the partner's client CN")
                                                       : std::string("any"));
    fmt::print("inbound subject DN:          {}\n", or_dash(in.subject_dn));
    fmt::print("inbound issuer DN:           {}\n", or_dash(in.issuer_dn));
    fmt::print("outbound require TLS:        {}\n",
               out.require_tls ? "true" : "false (opportunistic)");
    fmt::print("outbound verify:             {}\n", policy::to_string(out.verify));
    fmt::print("outbound trust anchor:       {}\n",
               out.trust_anchor.empty() ? std::string("the hub CA") : printable(out.trust_anchor));
    fmt::print("outbound check name:         {}\n", out.check_name);
    fmt::print("outbound server name:        {}\n", out.server_name.empty()
                                                        ? std::string("the partner's outbound name")
                                                        : printable(out.server_name));
    fmt::print("outbound pin:                {}\n",
               out.pin_sha256.empty() ? std::string("the partner's") : printable(out.pin_sha256));
    fmt::print("outbound minimum cipher:     {}\n", bits_text(out.min_cipher_bits));
    fmt::print("outbound mode:               {}\n", policy::to_string(out.mode));
    fmt::print("assigned partners:           {}\n", joined(record.partners, "-"));
    fmt::print("assigned networks:           {}\n", joined(record.networks, "-"));
    fmt::print("assigned domains:            {}\n", joined(record.domains, "-"));
}

int list_tls_policies(Directory& directory, bool json) {
    auto records = directory.tls_policies();
    if (!records) {
        return fail(exit_runtime, "error: {}", records.error());
    }
    if (json) {
        return print_json_array(*records);
    }
    fmt::print("{:<20} {:<34} {:<30} {}\n", "NAME", "INBOUND", "OUTBOUND", "ASSIGNED");
    for (const directory::TlsPolicyRecord& record : *records) {
        const policy::InboundTlsPolicy& in = record.policy.inbound;
        const policy::OutboundTlsPolicy& out = record.policy.outbound;
        std::string inbound =
            fmt::format("{}{}{}", in.require_tls ? "tls" : "tls-optional",
                        in.require_certificate   ? "+cert"
                        : in.request_certificate ? "+cert-asked"
                                                 : "",
                        in.min_cipher_bits != 0 ? fmt::format(">={}", in.min_cipher_bits) : "");
        std::string outbound =
            fmt::format("{}:{}:{}", out.require_tls ? "tls" : "opportunistic",
                        policy::to_string(out.verify), policy::to_string(out.mode));
        std::string assigned;
        for (const std::string& partner : record.partners) {
            assigned += (assigned.empty() ? "" : ",") + printable(partner);
        }
        for (const std::string& network : record.networks) {
            assigned += (assigned.empty() ? "" : ",") + network;
        }
        for (const std::string& domain : record.domains) {
            assigned += (assigned.empty() ? "" : ",") + printable(domain);
        }
        fmt::print("{:<20} {:<34} {:<30} {}\n", printable(record.policy.name), inbound, outbound,
                   assigned.empty() ? "-" : assigned);
    }
    return flushed();
}

int show_tls_policy(Directory& directory, const std::string& name, bool json) {
    auto record = directory.find_tls_policy(name);
    if (!record) {
        return fail(exit_runtime, "error: {}", record.error());
    }
    if (!record->has_value()) {
        return fail(exit_runtime, "no TLS policy named {} (hubctl tls-endpoint list shows them)",
                    printable(name));
    }
    if (json) {
        fmt::print("{}\n", directory::to_json(**record));
    } else {
        print_tls_policy(**record);
    }
    return flushed();
}

int list_trust_anchors(Directory& directory, bool json) {
    auto anchors = directory.trust_anchors();
    if (!anchors) {
        return fail(exit_runtime, "error: {}", anchors.error());
    }
    if (json) {
        return print_json_array(*anchors);
    }
    fmt::print("{:<20} {:<20} {:<64} {}\n", "NAME", "NOT AFTER", "SHA-256", "SUBJECT");
    for (const directory::TrustAnchorRecord& anchor : *anchors) {
        fmt::print("{:<20} {:<20} {:<64} {}\n", printable(anchor.name),
                   time_text(anchor.not_after_unix_s), anchor.sha256, printable(anchor.subject));
    }
    return flushed();
}

// The PEM file of trust add, parsed here so that a file that is not one CA certificate
// never reaches the directory.
Result<directory::TrustAnchorRecord, std::string> read_trust_anchor(const std::string& name,
                                                                    const std::string& file) {
    std::FILE* in = std::fopen(file.c_str(), "rb");
    if (in == nullptr) {
        return unexpected(fmt::format("{}: cannot read it: {}", file, std::strerror(errno)));
    }
    std::string text;
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof(buffer), in)) > 0 &&
           text.size() <= tls::trust_anchor_pem_bytes_max) {
        text.append(buffer, got);
    }
    std::fclose(in);
    auto parsed = tls::parse_pem_certificate(text);
    if (!parsed) {
        return unexpected(fmt::format("{}: {}; nothing was added", file, parsed.error()));
    }
    if (!parsed->is_ca) {
        return unexpected(fmt::format(
            "{}: {} is not a CA certificate (no basicConstraints cA); a trust anchor is the CA "
            "that issued the partner's server certificate; nothing was added",
            file, printable(parsed->subject)));
    }
    return directory::TrustAnchorRecord{name, parsed->pem, parsed->subject, parsed->sha256,
                                        parsed->not_after_unix_s};
}

int import_file(Directory& directory, const std::string& file) {
    auto partners = policy::load_partners(file);
    if (!partners) {
        return fail(exit_runtime, "error: {}\nnothing was imported", partners.error());
    }
    std::vector<PartnerRecord> records;
    for (const policy::Partner& partner : *partners) {
        records.push_back(directory::from_partner(partner));
    }
    if (auto imported = directory.import(records, actor_name()); !imported) {
        return fail(exit_runtime, "error: {}", imported.error());
    }
    fmt::print("imported {} partners from {}\n", records.size(), file);
    return 0;
}

}  // namespace

std::optional<int> DirectoryCommands::run(const std::string& config_path) {
    const Settings& s = *settings_;
    using Edit = std::pair<CLI::App*, std::function<directory::PartnerEdit()>>;
    const std::vector<Edit> edits = {
        {s.add, [&] { return directory::add_partner(s.name, fields_from(s), s.pending); }},
        {s.edit, [&] { return directory::edit_partner(fields_from(s)); }},
        {s.connector_set, [&] { return directory::edit_partner(fields_from(s)); }},
        {s.suspend, [] { return directory::set_state(directory::PartnerState::suspended); }},
        {s.resume, [] { return directory::set_state(directory::PartnerState::active); }},
        {s.remove, [] { return directory::remove_partner(); }},
        {s.domain_add, [&] { return directory::add_domain(s.domain); }},
        {s.domain_remove, [&] { return directory::remove_domain(s.domain); }},
    };
    using TlsEdit = std::pair<CLI::App*, std::function<directory::TlsPolicyEdit()>>;
    const std::vector<TlsEdit> tls_edits = {
        {s.tls_create, [&] { return directory::create_tls_policy(s.name, tls_fields_from(s)); }},
        {s.tls_edit, [&] { return directory::edit_tls_policy(tls_fields_from(s)); }},
        {s.tls_assign,
         [&] {
             return directory::assign_tls_policy(s.assign_partners, s.assign_cidrs,
                                                 s.assign_domains, s.unassign);
         }},
    };
    const CLI::App* parsed = nullptr;
    for (const CLI::App* command :
         {s.add,          s.edit,       s.connector_set, s.suspend,      s.resume,
          s.remove,       s.domain_add, s.domain_remove, s.import,       s.list,
          s.show,         s.audit,      s.admin_add,     s.admin_passwd, s.admin_remove,
          s.admin_list,   s.tls_create, s.tls_edit,      s.tls_assign,   s.tls_list,
          s.tls_show,     s.trust_add,  s.trust_list,    s.trust_remove, s.lcert_add,
          s.lcert_remove, s.lcert_list, s.lcert_show,    s.tlsf_record,  s.tlsf_list}) {
        if (command->parsed()) {
            parsed = command;
        }
    }
    if (parsed == nullptr) {
        return std::nullopt;
    }
    if (parsed == s.tlsf_record) {
        // Its own path rules: a hub.conf without a directory is nothing to record.
        return record_tls_failures(config_path, s.directory_path, s.status_socket);
    }
    auto path = directory_path(s, config_path);
    if (!path) {
        return fail(exit_usage, "{}", path.error());
    }
    bool writes = parsed != s.list && parsed != s.show && parsed != s.audit &&
                  parsed != s.admin_list && parsed != s.tls_list && parsed != s.tls_show &&
                  parsed != s.trust_list && parsed != s.lcert_list && parsed != s.lcert_show &&
                  parsed != s.tlsf_list;
    std::optional<directory::TrustAnchorRecord> anchor;
    if (parsed == s.trust_add) {
        // Before the directory is opened: a bad file leaves even a missing directory missing.
        auto read = read_trust_anchor(s.name, s.file);
        if (!read) {
            return fail(exit_runtime, "error: {}", read.error());
        }
        anchor = std::move(*read);
    }
    std::optional<directory::ListenerCertificateRecord> listener_certificate;
    if (parsed == s.lcert_add) {
        // Before the directory is opened, like trust add. With --config the address must
        // be one of that hub.conf's listeners.
        std::optional<config::HubConfig> hub_config;
        if (!config_path.empty()) {
            auto loaded = config::load_hub_config(config_path);
            if (!loaded) {
                return fail(exit_runtime, "error: {}", loaded.error());
            }
            hub_config = std::move(*loaded);
        }
        auto read =
            read_listener_certificate(ListenerCertInput{s.name, s.lcert_address, s.lcert_sni,
                                                        s.lcert_certificate, s.lcert_key},
                                      hub_config ? &*hub_config : nullptr);
        if (!read) {
            return fail(exit_runtime, "error: {}; nothing was added", read.error());
        }
        listener_certificate = std::move(*read);
    }
    auto opened = Directory::open(
        *path, writes ? directory::OpenMode::create : directory::OpenMode::existing);
    if (!opened) {
        return fail(exit_runtime, "error: {}", opened.error());
    }
    Directory& directory = *opened;
    if (parsed == s.list) {
        return list_partners(directory, s.json);
    }
    if (parsed == s.show) {
        return show_partner(directory, s.name, s.json);
    }
    if (parsed == s.audit) {
        return print_audit(directory, s);
    }
    if (parsed == s.import) {
        int imported = import_file(directory, s.file);
        if (imported != 0) {
            return imported;
        }
        directory.close();  // First: hubd then reads a directory nobody holds open.
        return apply_to_running_hub("partner import", config_path);
    }
    if (parsed == s.admin_list) {
        return list_admins(directory, s.json);
    }
    if (parsed == s.admin_add || parsed == s.admin_passwd || parsed == s.admin_remove) {
        return change_admin(directory, s, parsed);
    }
    if (parsed == s.tls_list) {
        return list_tls_policies(directory, s.json);
    }
    if (parsed == s.tls_show) {
        return show_tls_policy(directory, s.name, s.json);
    }
    if (parsed == s.trust_list) {
        return list_trust_anchors(directory, s.json);
    }
    if (parsed == s.trust_add || parsed == s.trust_remove) {
        std::string action = parsed == s.trust_add ? "trust add" : "trust remove";
        if (auto changed = directory.change_trust_anchor(s.name, anchor, actor_name()); !changed) {
            return fail(exit_runtime, "error: {}", changed.error());
        }
        directory.close();  // First: hubd then reads a directory nobody holds open.
        return apply_to_running_hub(action, config_path);
    }
    if (parsed == s.tlsf_list) {
        return list_tls_failures(directory, s.json);
    }
    if (parsed == s.lcert_list) {
        return list_listener_certificates(directory, s.json);
    }
    if (parsed == s.lcert_show) {
        return show_listener_certificate(directory, s.name, s.json);
    }
    if (parsed == s.lcert_add || parsed == s.lcert_remove) {
        std::string action = parsed == s.lcert_add ? "listener-cert add" : "listener-cert remove";
        if (auto changed =
                directory.change_listener_certificate(s.name, listener_certificate, actor_name());
            !changed) {
            return fail(exit_runtime, "error: {}", changed.error());
        }
        directory.close();  // First: hubd then reads a directory nobody holds open.
        // The running hubd keeps its certificates (their keys were read as root at start);
        // its reload answer says that a restart is needed.
        return apply_to_running_hub(action, config_path);
    }
    for (const auto& [command, make_edit] : tls_edits) {
        if (command != parsed) {
            continue;
        }
        std::string action = fmt::format("tls-endpoint {}", command->get_name());
        // With --partner, assigned domains must be those partners' own (one partner named).
        std::string owner = command == s.tls_assign && s.assign_partners.size() == 1
                                ? s.assign_partners.front()
                                : std::string();
        if (auto changed =
                directory.change_tls_policy(s.name, action, actor_name(), make_edit(), owner);
            !changed) {
            return fail(exit_runtime, "error: {}", changed.error());
        }
        directory.close();  // First: hubd then reads a directory nobody holds open.
        return apply_to_running_hub(action, config_path);
    }
    for (const auto& [command, make_edit] : edits) {
        if (command != parsed) {
            continue;
        }
        std::string action =
            fmt::format("{} {}", command->get_parent()->get_name(), command->get_name());
        if (auto changed = directory.change(s.name, action, actor_name(), make_edit()); !changed) {
            return fail(exit_runtime, "error: {}", changed.error());
        }
        directory.close();  // First: hubd then reads a directory nobody holds open.
        return apply_to_running_hub(action, config_path);
    }
    return fail(exit_usage, "nothing to do; see --help");
}

}  // namespace hub::hubctl
