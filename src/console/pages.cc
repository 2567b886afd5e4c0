// pages.cc -- the console's menus, forms and questions, as data (console/model.h).
//
// One function per section of the main menu. An item either opens a page or asks for an
// action; a list page says which page a chosen row opens. Forms name their fields, bound
// each one and give it its check (checks.h); what the action carries is only those values.
#include <fmt/format.h>

#include <utility>

#include "console/checks.h"
#include "console/limits.h"
#include "console/model.h"

namespace hub::console {

namespace {

Request request(ActionKind kind, Present present, std::string title = "", std::string target = "") {
    Request r;
    r.action.kind = kind;
    r.action.target = std::move(target);
    r.present = present;
    r.title = std::move(title);
    return r;
}

MenuItem opens(char key, std::string label, std::function<Page()> page) {
    MenuItem item;
    item.key = key;
    item.label = std::move(label);
    item.open = std::move(page);
    return item;
}

MenuItem asks(char key, std::string label, Request r) {
    MenuItem item;
    item.key = key;
    item.label = std::move(label);
    item.request = std::move(r);
    return item;
}

Page menu(std::string title, std::vector<MenuItem> items) {
    Page page;
    page.kind = PageKind::menu;
    page.title = std::move(title);
    page.items = std::move(items);
    return page;
}

Field field(std::string name, std::string label, std::size_t bytes_max, Check check,
            bool secret = false) {
    Field f;
    f.name = std::move(name);
    f.label = std::move(label);
    f.bytes_max = bytes_max;
    f.check = std::move(check);
    f.secret = secret;
    return f;
}

// A form whose values all go into the action's fields.
Page form(std::string title, std::vector<Field> fields, Request r) {
    Page page;
    page.kind = PageKind::form;
    page.title = std::move(title);
    page.fields = std::move(fields);
    page.pops_on_success = 1;
    page.submit = [r = std::move(r)](const Page& filled) {
        Request out = r;
        for (const Field& f : filled.fields) {
            out.action.fields[f.name] = f.value;
        }
        return out;
    };
    return page;
}

Page question(std::string title, std::vector<std::string> lines, Request r) {
    Page page;
    page.kind = PageKind::confirm;
    page.title = std::move(title);
    page.lines = std::move(lines);
    page.lines.emplace_back();
    page.lines.emplace_back("Are you sure? (y/n)");
    page.on_yes = std::move(r);
    page.pops_on_success = 1;
    return page;
}

// --- Status ------------------------------------------------------------------------------

MenuItem status_item() {
    return asks('1', "Status", request(ActionKind::status, Present::text, "Status"));
}

// --- Network -----------------------------------------------------------------------------

Field interface_field() {
    return field("interface", "Interface", 15, check_interface);
}

Page network_menu() {
    using K = ActionKind;
    auto change = [](std::string title, std::vector<Field> fields, K kind,
                     std::string target = "") {
        return [=] { return form(title, fields, request(kind, Present::message, "", target)); };
    };
    Field address = field("address", "Address/prefix", 49, check_address_cidr);
    Field destination = field("destination", "Destination (default or net)", 49, check_destination);
    Field gateway = field("gateway", "Gateway", 45, check_ip);
    return menu(
        "Network",
        {
            asks('1', "Interfaces, addresses, routes, DNS and host name",
                 request(K::net_show, Present::text, "Network")),
            opens('2', "Set an interface's address (replaces that family's)",
                  change("Set the address", {interface_field(), address}, K::net_address, "set")),
            opens('3', "Add an address",
                  change("Add an address", {interface_field(), address}, K::net_address, "add")),
            opens('4', "Remove an address",
                  change("Remove an address", {interface_field(), address}, K::net_address,
                         "remove")),
            opens('5', "Bring an interface up",
                  change("Bring an interface up", {interface_field()}, K::net_link, "up")),
            opens('6', "Take an interface down",
                  change("Take an interface down", {interface_field()}, K::net_link, "down")),
            opens('7', "Set an interface's MTU",
                  change("Set the MTU", {interface_field(), field("mtu", "MTU", 4, check_mtu)},
                         K::net_mtu)),
            opens('8', "Set the default gateway",
                  change("Default gateway", {gateway}, K::net_gateway)),
            opens('9', "Add a route",
                  change("Add a route", {destination, gateway}, K::net_route, "add")),
            opens('r', "Remove a route",
                  change("Remove a route", {destination, gateway}, K::net_route, "remove")),
            opens('d', "DNS servers",
                  change("DNS servers", {field("servers", "Servers", 140, check_dns_servers)},
                         K::net_dns)),
            opens('h', "Host name",
                  change("Host name", {field("hostname", "Host name", 253, check_host_name)},
                         K::net_hostname)),
            opens('p', "Ping a host",
                  [] {
                      return form("Ping", {field("host", "Address", 45, check_ip)},
                                  request(K::net_ping, Present::text, "Ping"));
                  }),
            opens('t', "TCP connect test",
                  [] {
                      return form("TCP connect test",
                                  {field("host", "Address", 45, check_ip),
                                   field("port", "Port", 5, check_port)},
                                  request(K::net_connect, Present::text, "TCP connect test"));
                  }),
        });
}

// --- Certificates ------------------------------------------------------------------------

Page request_page(const Row& row) {
    std::string id = row.key;
    return menu(
        fmt::format("Certificate request {}", id),
        {
            opens('1', "Approve (issue the certificate)",
                  [id] {
                      return question(
                          fmt::format("Approve request {}", id),
                          {fmt::format("The CA issues the certificate request {} asks for.", id)},
                          request(ActionKind::ca_approve, Present::message, "", id));
                  }),
            opens('2', "Reject",
                  [id] {
                      return form(
                          fmt::format("Reject request {}", id),
                          {field("reason", "Reason (told to the partner)", 200, check_reason_text)},
                          request(ActionKind::ca_reject, Present::message, "", id));
                  }),
        });
}

Page certificate_page(const Row& row) {
    std::string serial = row.key;
    return menu(fmt::format("Certificate {}", serial),
                {
                    opens('1', "Revoke",
                          [serial] {
                              Field reason = field("reason", "Reason", 32, check_revoke_reason);
                              reason.value = "unspecified";
                              return form(
                                  fmt::format("Revoke {}", serial), {reason},
                                  request(ActionKind::ca_revoke, Present::message, "", serial));
                          }),
                });
}

// A field a PEM text or base64 lines are pasted into (Field::lines_max).
Field paste_field(std::string name, std::string label, Check check) {
    Field f = field(std::move(name), std::move(label), paste_bytes_max, std::move(check));
    f.lines_max = paste_lines_max;
    return f;
}

// The hub's own key from an external CA (hubctl ca hub-key; docs/CA.md "The hub's own
// key"): a key made here and its CSR, or a signed certificate, a PEM key or a PKCS#12
// bundle pasted in. Each install checks first; a refusal changes nothing.
Page hub_key_request_menu() {
    auto make = [](char key, std::string label, std::string type) {
        Request r = request(ActionKind::hub_key_request, Present::text,
                            "Certificate request for the external CA", std::move(type));
        r.once = true;  // 'r' would make yet another key.
        return asks(key, std::move(label), std::move(r));
    };
    return menu("Hub key: new key and request", {
                                                    make('1', "P-256 (ECDSA, the default)", "p256"),
                                                    make('2', "P-384 (ECDSA)", "p384"),
                                                    make('3', "RSA 3072", "rsa3072"),
                                                    make('4', "RSA 4096", "rsa4096"),
                                                });
}

// What an install answers: a text page saying what was installed, not to be asked again.
Request installed(ActionKind kind) {
    Request r = request(kind, Present::text, "Hub key installed");
    r.once = true;
    return r;
}

Field chain_field() {
    return paste_field("chain", "Intermediates (optional)", check_optional_certificates_paste);
}

Field root_field() {
    return paste_field("ca", "CA root (if not in chain)", check_optional_certificates_paste);
}

Page hub_key_install_form() {
    return form("Hub key: install the signed certificate",
                {paste_field("certificate", "Signed certificate", check_certificates_paste),
                 chain_field(), root_field()},
                installed(ActionKind::hub_key_install));
}

Page hub_key_import_form() {
    return form("Hub key: import a PEM key and certificate",
                {paste_field("key", "Private key", check_private_key_paste),
                 paste_field("certificate", "Certificate", check_certificates_paste), chain_field(),
                 root_field()},
                installed(ActionKind::hub_key_import));
}

Page hub_key_pkcs12_form() {
    return form(
        "Hub key: import a PKCS#12 bundle",
        {paste_field("bundle", "Bundle (base64 lines)", check_base64_paste),
         field("password", "Bundle password", field_bytes_max, nullptr, true), root_field()},
        installed(ActionKind::hub_key_pkcs12));
}

Page certificates_menu() {
    Request requests = request(ActionKind::ca_requests, Present::list, "Certificate requests");
    requests.open_row = request_page;
    Request issued = request(ActionKind::ca_certificates, Present::list, "Issued certificates");
    issued.open_row = certificate_page;
    return menu(
        "Certificates",
        {
            asks('1', "The hub's certificate and the CA",
                 request(ActionKind::ca_show, Present::text, "Hub certificate and CA")),
            asks('2', "Partners' certificate requests (approve, reject)", requests),
            asks('3', "Issued certificates (revoke)", issued),
            opens('4', "Hub key: new key and request for an external CA", hub_key_request_menu),
            opens('5', "Hub key: install the signed certificate", hub_key_install_form),
            opens('6', "Hub key: import a PEM key and certificate", hub_key_import_form),
            opens('7', "Hub key: import a PKCS#12 bundle", hub_key_pkcs12_form),
        });
}

// --- Partners ----------------------------------------------------------------------------

Page partner_page(const Row& row) {
    std::string name = row.key;
    return menu(
        fmt::format("Partner {}", name),
        {
            asks('1', "Show its settings",
                 request(ActionKind::partner_show, Present::text, "Partner " + name, name)),
            opens('2', "Suspend (refuse its new sessions; its queued mail waits)",
                  [name] {
                      return question(
                          fmt::format("Suspend {}", name),
                          {fmt::format("{} is taken out of the hub's partner table "
                                       "at once.",
                                       name),
                           "Mail queued for it stays queued until it is resumed."},
                          request(ActionKind::partner_suspend, Present::message, "", name));
                  }),
            asks('3', "Resume (make it active)",
                 request(ActionKind::partner_resume, Present::message, "", name)),
            asks('4', "Send a test message to its ping address (SMTP/TLS transcript)",
                 request(ActionKind::partner_test, Present::text, "Test message to " + name, name)),
        });
}

Page partners_menu() {
    Request list = request(ActionKind::partner_list, Present::list, "Partners");
    list.open_row = partner_page;
    return menu("Partners",
                {
                    asks('1', "List partners (show, suspend, resume)", list),
                    opens('2', "Add a partner",
                          [] {
                              return form(
                                  "Add a partner",
                                  {field("name", "Name", 64, check_partner_name),
                                   field("domain", "Mail domain", 253, check_partner_domain),
                                   field("inbound", "Source networks", 400, check_networks),
                                   field("outbound", "Smart host IP[:port]", 53, check_smart_host),
                                   field("contact", "Contact", 256, check_contact)},
                                  request(ActionKind::partner_add, Present::message));
                          }),
                });
}

// --- Service access ----------------------------------------------------------------------

Page access_menu() {
    auto sources = [](char key, std::string label, std::string service) {
        return opens(key, label, [label, service] {
            return form(label,
                        {field("sources", "Sources (any, none, networks)", 400, check_sources)},
                        request(ActionKind::access_set, Present::message, "", service));
        });
    };
    return menu("Service access",
                {
                    asks('1', "Show who may reach each service",
                         request(ActionKind::access_show, Present::text, "Service access")),
                    sources('2', "Who may reach SSH", "ssh"),
                    sources('3', "Who may reach SMTP (25 and 465)", "smtp"),
                    sources('4', "Who may reach the enrollment page", "enrollment"),
                    sources('5', "Who may reach SNMP", "snmp"),
                    opens('6', "Enable SSH",
                          [] {
                              return question(
                                  "Enable SSH",
                                  {"sshd starts, reachable from the SSH sources only."},
                                  request(ActionKind::access_ssh, Present::message, "", "enable"));
                          }),
                    opens('7', "Disable SSH",
                          [] {
                              return question(
                                  "Disable SSH",
                                  {"sshd stops; sessions over SSH (this one too, if it is "
                                   "one) end."},
                                  request(ActionKind::access_ssh, Present::message, "", "disable"));
                          }),
                });
}

// --- Passwords ---------------------------------------------------------------------------

Page passwords_menu() {
    return menu("Passwords",
                {
                    asks('1', "Change the console password",
                         request(ActionKind::console_password, Present::message)),
                    opens('2', "Change an administrator's password",
                          [] {
                              Page page = form(
                                  "Administrator password",
                                  {field("name", "Administrator", 32, check_admin_name),
                                   field("password", "New password", 1024, check_password, true),
                                   field("again", "Again", 1024, nullptr, true)},
                                  request(ActionKind::admin_password, Present::message));
                              page.check_form = [](const Page& filled) -> std::string {
                                  return filled.value("password") == filled.value("again")
                                             ? ""
                                             : "The two passwords differ; type them again";
                              };
                              return page;
                          }),
                    opens('3', "Reset a partner's enrollment-page password",
                          [] {
                              Request reset = request(ActionKind::enrollment_reset, Present::text,
                                                      "New enrollment password");
                              reset.once = true;  // 'r' would reset the password again.
                              return form("Enrollment password",
                                          {field("partner", "Partner", 64, check_partner_name)},
                                          std::move(reset));
                          }),
                });
}

// --- Queue -------------------------------------------------------------------------------

Page message_page(const Row& row) {
    std::string id = row.key;
    auto command = [&](ActionKind kind) { return request(kind, Present::message, "", id); };
    return menu(fmt::format("Message {}", id),
                {
                    asks('1', "Show envelope, history and headers",
                         request(ActionKind::queue_show, Present::text, "Message " + id, id)),
                    asks('2', "Retry now", command(ActionKind::queue_retry)),
                    asks('3', "Hold (stop delivering it)", command(ActionKind::queue_hold)),
                    asks('4', "Release (deliver it again)", command(ActionKind::queue_release)),
                    opens('5', "Delete (no report is sent)",
                          [id] {
                              return question(
                                  fmt::format("Delete {}", id),
                                  {fmt::format("Message {} leaves the queue for good; "
                                               "nobody is told.",
                                               id)},
                                  request(ActionKind::queue_delete, Present::message, "", id));
                          }),
                });
}

Page queue_menu() {
    Request list = request(ActionKind::queue_list, Present::list, "Queue");
    list.open_row = message_page;
    return menu("Queue", {asks('1', "List the queue (show, retry, hold, release, delete)", list)});
}

// --- Backup ------------------------------------------------------------------------------

Page backup_menu() {
    using K = ActionKind;
    Field archive = field("archive", "Archive (name or path)", 1024, check_archive);
    Field passphrase =
        field("passphrase", "Passphrase (empty: the box's)", 1024, check_archive_passphrase, true);
    return menu(
        "Backup",
        {
            asks('1', "Schedule, last outcome and archives",
                 request(K::backup_show, Present::text, "Backup")),
            opens('2', "Back up now",
                  [] {
                      return question("Back up now",
                                      {"An archive is made now with the schedule's settings",
                                       "([backup] in hub.conf): kept here, copied to the "
                                       "remote if one is set."},
                                      request(K::backup_run, Present::text, "Backup made"));
                  }),
            opens('3', "Verify an archive",
                  [archive, passphrase] {
                      return form("Verify an archive", {archive, passphrase},
                                  request(K::backup_verify, Present::text, "Verify"));
                  }),
            opens('4', "Restore an archive",
                  [archive, passphrase] {
                      return form(
                          "Restore (the hub stops and starts again)",
                          {archive, passphrase,
                           field("confirm", "Type RESTORE to confirm", 7, check_restore_word)},
                          request(K::backup_restore, Present::text, "Restore"));
                  }),
            opens('5', "Set the schedule and retention",
                  [] {
                      return form("Backup schedule",
                                  {field("interval_hours", "Hours between backups", 4,
                                         check_interval_hours),
                                   field("keep", "Archives to keep", 4, check_keep)},
                                  request(K::backup_schedule, Present::message));
                  }),
        });
}

// --- Shutdown ----------------------------------------------------------------------------

Page shutdown_menu(bool development) {
    std::string note = development ? "(development: the console only says what it would do)"
                                   : "Mail being received is refused while the hub is down.";
    return menu("Shutdown",
                {
                    opens('1', "Reboot",
                          [note] {
                              return question("Reboot", {"The hub restarts.", note},
                                              request(ActionKind::reboot, Present::message));
                          }),
                    opens('2', "Power off",
                          [note] {
                              return question("Power off",
                                              {"The hub stops and stays off until someone "
                                               "powers it on.",
                                               note},
                                              request(ActionKind::power_off, Present::message));
                          }),
                });
}

}  // namespace

Page main_menu(const Settings& settings) {
    bool development = settings.development;
    return menu("Main menu",
                {
                    status_item(),
                    opens('2', "Network", network_menu),
                    opens('3', "Certificates", certificates_menu),
                    opens('4', "Partners", partners_menu),
                    opens('5', "Service access", access_menu),
                    opens('6', "Passwords", passwords_menu),
                    opens('7', "Queue", queue_menu),
                    opens('8', "Shutdown", [development] { return shutdown_menu(development); }),
                    opens('9', "Backup", backup_menu),
                    asks('0', "Log out", request(ActionKind::logout, Present::message)),
                });
}

}  // namespace hub::console
