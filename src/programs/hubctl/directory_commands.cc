// directory_commands.cc -- hubctl partner|domain|connector|audit on the partner directory.
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

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "config/hub_config.h"
#include "directory/directory.h"
#include "directory/edits.h"
#include "directory/limits.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/partner_text.h"
#include "programs/hubctl/text.h"

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

int flushed() {
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        return fail(exit_runtime, "error: cannot write to standard output");
    }
    return exit_ok;
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
        std::string out = "[";
        for (const PartnerRecord& record : *records) {
            out += (out.size() > 1 ? ",\n" : "\n") + directory::to_json(record);
        }
        fmt::print("{}\n]\n", out);
        return flushed();
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
    const CLI::App* parsed = nullptr;
    for (const CLI::App* command :
         {s.add, s.edit, s.connector_set, s.suspend, s.resume, s.remove, s.domain_add,
          s.domain_remove, s.import, s.list, s.show, s.audit, s.admin_add, s.admin_passwd,
          s.admin_remove, s.admin_list}) {
        if (command->parsed()) {
            parsed = command;
        }
    }
    if (parsed == nullptr) {
        return std::nullopt;
    }
    auto path = directory_path(s, config_path);
    if (!path) {
        return fail(exit_usage, "{}", path.error());
    }
    bool writes =
        parsed != s.list && parsed != s.show && parsed != s.audit && parsed != s.admin_list;
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
