// model.h -- the console's menu as a sans-I/O state machine: keys in, a screen and typed
// actions out.
//
// The model never touches the terminal, a socket or a file. hub-console's view turns
// curses key codes into Keys, calls press(), draws render()'s lines as they are, and
// carries out what take_action() hands it (through the same library code hubctl uses),
// then gives the outcome back with complete(). Everything the administrator can reach is
// a Page: a menu, a list to choose from, a text to read, a form or a yes/no question, kept
// on a bounded stack (limits.h). Anything typed that is not a choice on the page shown is
// refused with a message on the status line; nothing typed is ever run.
//
// The pages are data (pages.cc builds them); the tests in model_test.cc drive the model
// with tables of keys and check the screens and actions that come out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hub::console {

// --- Keys in -----------------------------------------------------------------------------

enum class KeyKind {
    text,     // A printable ASCII character (0x20..0x7e) in ch.
    control,  // Any other byte (Ctrl-C arrives here as 0x03: the terminal sends no signal).
    enter,
    escape,
    up,
    down,
    left,
    right,
    page_up,
    page_down,
    home,
    end,
    backspace,
    tab,
    back_tab,
    resize,  // The terminal is now cols x rows.
    other,   // A function key or anything else the view does not name.
};

struct Key {
    KeyKind kind = KeyKind::other;
    unsigned char ch = 0;  // text and control
    int cols = 0;          // resize
    int rows = 0;

    static Key of(KeyKind kind) { return Key{kind, 0, 0, 0}; }
    // A byte as typed: printable ASCII is text, everything else control.
    static Key byte(unsigned char c) {
        return Key{c >= 0x20 && c <= 0x7e ? KeyKind::text : KeyKind::control, c, 0, 0};
    }
    static Key resized(int cols, int rows) { return Key{KeyKind::resize, 0, cols, rows}; }
};

// --- The screen out ----------------------------------------------------------------------

enum class Style {
    normal,
    title,     // The top bar.
    heading,   // A page's heading or a list's column heads.
    selected,  // The highlighted menu item or list row.
    field,     // A form field's value.
    error,     // A refusal or a failed action, on the status line.
    ok,        // A done action, on the status line.
    hint,      // The bottom line: which keys do what.
};

struct Line {
    std::string text;  // Printable ASCII only, at most cols characters.
    Style style = Style::normal;
};

// Exactly rows lines, each cut to cols; the cursor where a field is being typed in.
struct Screen {
    int cols = 0;
    int rows = 0;
    std::vector<Line> lines;
    int cursor_row = -1;  // -1: hide the cursor.
    int cursor_col = -1;

    // The whole screen as text, one line per row, as tmux's capture-pane shows it.
    std::string text() const;
};

// --- Actions out, outcomes in ------------------------------------------------------------

enum class ActionKind {
    status,            // The status page.
    partner_list,      // rows: key = partner name
    partner_show,      // target = partner
    partner_add,       // fields: name, domain, inbound, outbound, contact
    partner_suspend,   // target = partner
    partner_resume,    // target = partner
    partner_test,      // target = partner: a test message to its ping address (transcript)
    queue_list,        // rows: key = queue id
    queue_show,        // target = queue id
    queue_retry,       // target = queue id
    queue_hold,        // target = queue id
    queue_release,     // target = queue id
    queue_delete,      // target = queue id
    ca_show,           // the hub certificate and the CA
    ca_requests,       // rows: key = request id
    ca_certificates,   // rows: key = serial
    ca_approve,        // target = request id
    ca_reject,         // target = request id; fields: reason
    ca_revoke,         // target = serial; fields: reason
    hub_key_request,   // target = key type: a new pending hub key; lines: its CSR
    hub_key_install,   // fields: certificate, chain, ca (PEM pastes): for the pending key
    hub_key_import,    // fields: key, certificate, chain, ca (PEM pastes)
    hub_key_pkcs12,    // fields: bundle (base64 lines), password, ca (PEM paste)
    enrollment_reset,  // fields: partner
    console_password,  // the console account's own password (passwd(1) on the terminal)
    admin_password,    // fields: name, password
    net_show,          // interfaces, addresses, routes, DNS, host name
    net_address,       // fields: interface, address (CIDR); target "set", "add", "remove"
    net_link,          // fields: interface; target "up" or "down"
    net_mtu,           // fields: interface, mtu
    net_gateway,       // fields: gateway
    net_route,         // fields: destination ("default" or CIDR), gateway; "add", "remove"
    net_dns,           // fields: servers
    net_hostname,      // fields: hostname
    net_ping,          // fields: host
    net_connect,       // fields: host, port
    access_show,       // which sources may reach each service
    access_set,        // target = service; fields: sources
    access_ssh,        // target = "enable" or "disable"
    net_keep,          // target = a pending network change's token: keep and save it
    net_undo,          // target = a pending network change's token: undo it now
    backup_show,       // the schedule, the last outcome, the archives kept
    backup_run,        // a backup now, as the schedule makes it
    backup_verify,     // fields: archive, passphrase (empty: backup.passphrase_file)
    backup_restore,    // fields: archive, passphrase, confirm ("RESTORE")
    backup_schedule,   // fields: interval_hours, keep
    reboot,
    power_off,
    logout,
};
std::string_view action_name(ActionKind kind);

struct Action {
    ActionKind kind = ActionKind::status;
    std::string target;                         // The item it is about, if any.
    std::map<std::string, std::string> fields;  // A form's values, by field name.

    const std::string& field(const std::string& name) const;
};

// One choice in a list page: key is what an action on it names (a partner, a queue id).
struct Row {
    std::string key;
    std::string text;
};

struct Outcome {
    bool ok = true;
    std::string message;             // Status line (message actions), or why it failed.
    std::vector<std::string> lines;  // Text pages.
    std::string header;              // List pages: the column heads.
    std::vector<Row> rows;           // List pages.
    // A change that could cut the administrator off is live but not saved: it is undone
    // after confirm_seconds unless kept (hub-netcfg's confirm timer). The model then asks.
    std::string confirm_token;
    std::uint32_t confirm_seconds = 0;
};

// --- Pages -------------------------------------------------------------------------------

struct Page;

// What an answered action becomes on screen.
enum class Present {
    text,     // A text page (or the same page refreshed).
    list,     // A list page to choose from (or the same page refreshed).
    message,  // The status line; on success the asking form or question closes.
};

struct Request {
    Action action;
    Present present = Present::message;
    std::string title;                             // Of the text or list page.
    std::function<Page(const Row& row)> open_row;  // List: the page a chosen row opens.
    // A text answer to a change (a new key made, a key installed, a password reset): its
    // page offers no 'r', which would make the change again.
    bool once = false;
};

// A field's check, run when the form is submitted: "" when the value is acceptable, else
// what to type instead.
using Check = std::function<std::string(std::string_view value)>;

struct Field {
    std::string name;   // The key in Action::fields.
    std::string label;  // Shown left of the value.
    std::size_t bytes_max = 64;
    bool secret = false;  // Shown as '*'.
    Check check;
    std::string value;
    // A pasted field when > 0: Enter adds a line (value keeps them joined by '\n'), a line
    // with just "." ends the paste; at most lines_max lines and bytes_max bytes
    // (paste_lines_max, paste_bytes_max). Shown as "(12 lines, 1 certificate)" and its
    // last line.
    std::size_t lines_max = 0;
    std::size_t line_breaks = 0;  // The '\n's in value, counted as they come and go.
};

struct MenuItem {
    char key = 0;  // The character that chooses it.
    std::string label;
    std::function<Page()> open;      // Either a page to open...
    std::optional<Request> request;  // ...or an action to run.
};

enum class PageKind { menu, list, text, form, confirm };

struct Page {
    PageKind kind = PageKind::menu;
    std::string title;
    std::vector<MenuItem> items;     // menu
    std::vector<std::string> lines;  // text; confirm: the question
    std::string header;              // list
    std::vector<Row> rows;           // list
    std::vector<Field> fields;       // form
    // form: the request its values make (after every field's check passed); a form may
    // also refuse the values as a whole (two passwords differ) with a message.
    std::function<Request(const Page& form)> submit;
    std::function<std::string(const Page& form)> check_form;
    std::optional<Request> on_yes;  // confirm
    std::optional<Request> on_no;   // confirm: what 'n' and Escape do (unset: just close it)
    std::optional<Request> source;  // list, text: what filled it ('r' asks again)
    std::function<Page(const Row&)> open_row;  // list
    std::size_t selected = 0;                  // menu item, list row, form field
    std::size_t top = 0;                       // first line or row shown
    std::size_t pops_on_success = 0;           // form, confirm: pages to close when it succeeded

    const std::string& value(const std::string& field_name) const;
};

// What the program knows that the pages show (header, which sections exist).
struct Settings {
    std::string host_name;     // Shown in the title bar.
    bool development = false;  // Dev hub: shutdown and the console password only report.
};

// --- The model ---------------------------------------------------------------------------

class Model {
public:
    explicit Model(Settings settings);

    // A key from the terminal (a resize too).
    void press(Key key);
    // The action the last keys asked for, once; nullopt when none is waiting. While one is
    // out, keys are refused until complete() is called.
    std::optional<Action> take_action();
    // The outcome of the action take_action() returned.
    void complete(Outcome outcome);
    // The screen now, laid out for the last size (80x24 until a resize says otherwise).
    Screen render() const;
    // True once the administrator chose "Log out".
    bool finished() const { return finished_; }
    // What is on the status line (for tests).
    const std::string& status() const { return status_; }
    std::size_t depth() const { return pages_.size(); }
    const Page& top() const { return pages_.back(); }

    // Used by the pages' items (pages.cc).
    void open(Page page);
    void ask(const Request& request);

private:
    void press_menu(Page& page, Key key);
    void press_list(Page& page, Key key);
    void press_text(Page& page, Key key);
    void press_form(Page& page, Key key);
    void press_confirm(Page& page, Key key);
    void choose(Page& page, std::size_t index);
    void submit_form(Page& page);
    void press_paste_enter(Page& page, Field& field);
    void back();
    void refuse(Key key, std::string_view where);
    void set_status(std::string text, bool error);
    Page keep_or_undo(const Outcome& outcome);
    std::size_t body_rows() const;

    Settings settings_;
    std::vector<Page> pages_;
    int cols_ = 80;
    int rows_ = 24;
    std::string status_;
    bool status_error_ = false;
    std::optional<Request> pending_;  // Asked; not yet taken by the program.
    std::optional<Request> running_;  // Taken; its outcome not yet in.
    bool finished_ = false;
};

// Printable ASCII only: every other byte becomes '?', so a sender-chosen address or a
// daemon's message cannot drive the terminal. Cut at bytes_max.
std::string printable(std::string_view text, std::size_t bytes_max = 1024);
// A pasted field's value in brief: "(12 lines, 1 certificate, 1 private key)", "(empty)".
std::string paste_summary(std::string_view value);
// How a refused key is named on the status line: "Ctrl-C", "'!'", "Escape" ...
std::string key_name(Key key);

// The main menu (pages.cc).
Page main_menu(const Settings& settings);

}  // namespace hub::console
