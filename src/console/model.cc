// model.cc -- the console's menu model: keys in, a screen and actions out.
//
// PURPOSE   Everything hub-console shows and every decision about a key, without any I/O
//           (model.h), so that tables of keys can test it (model_test.cc).
// RUNS IN   hub-console, the login shell of the console account (unprivileged).
// TRUST     Keys come from whoever sits at the terminal: anything that is not a choice on
//           the page shown is refused with a message and changes nothing; form values are
//           bounded (limits.h) and checked (checks.h) before an action carries them. Text
//           from outcomes (a sender's address, a daemon's message) is made printable.
// LIMITS    limits.h: page depth, field bytes, lines and rows kept.
// SEE ALSO  console/pages.cc, programs/hub-console/main.cc, docs/CONSOLE.md.
#include "console/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "console/limits.h"

namespace hub::console {

namespace {

const std::string empty_text;

std::string fitted(std::string_view text, int cols) {
    std::string line = printable(text, static_cast<std::size_t>(cols));
    return line;
}

std::string padded(std::string text, int cols) {
    if (text.size() < static_cast<std::size_t>(cols)) {
        text.append(static_cast<std::size_t>(cols) - text.size(), ' ');
    }
    return text;
}

// Lines of text cut into pieces of at most cols characters (a text page wraps).
std::vector<std::string> wrapped(const std::vector<std::string>& lines, int cols) {
    std::vector<std::string> out;
    std::size_t width = static_cast<std::size_t>(std::max(cols - 2, 10));
    for (const std::string& line : lines) {
        if (line.empty()) {
            out.emplace_back();
            continue;
        }
        for (std::size_t at = 0; at < line.size(); at += width) {
            out.push_back(line.substr(at, width));
        }
    }
    return out;
}

void keep_bounded(std::vector<std::string>& lines) {
    if (lines.size() > text_lines_max) {
        std::size_t cut = lines.size() - text_lines_max;
        lines.resize(text_lines_max);
        lines.push_back(fmt::format("({} more lines not shown)", cut));
    }
    for (std::string& line : lines) {
        line = printable(line, line_bytes_max);
    }
}

void keep_bounded(std::vector<Row>& rows) {
    if (rows.size() > list_rows_max) {
        rows.resize(list_rows_max);
    }
    for (Row& row : rows) {
        row.text = printable(row.text, line_bytes_max);
        row.key = printable(row.key, line_bytes_max);
    }
}

// Moves selected by delta within count, keeping it visible in a window of height rows.
void move_selection(std::size_t& selected, std::size_t& top, long delta, std::size_t count,
                    std::size_t height) {
    if (count == 0) {
        selected = 0;
        top = 0;
        return;
    }
    long next = static_cast<long>(selected) + delta;
    next = std::clamp(next, 0L, static_cast<long>(count) - 1);
    selected = static_cast<std::size_t>(next);
    if (selected < top) {
        top = selected;
    }
    if (height > 0 && selected >= top + height) {
        top = selected - height + 1;
    }
}

bool same_request(const Request& a, const Request& b) {
    return a.action.kind == b.action.kind && a.action.target == b.action.target;
}

}  // namespace

std::string Screen::text() const {
    std::string out;
    for (const Line& line : lines) {
        std::string_view text = line.text;
        while (!text.empty() && text.back() == ' ') {
            text.remove_suffix(1);
        }
        out.append(text);
        out.push_back('\n');
    }
    return out;
}

const std::string& Action::field(const std::string& name) const {
    auto found = fields.find(name);
    return found == fields.end() ? empty_text : found->second;
}

const std::string& Page::value(const std::string& field_name) const {
    for (const Field& field : fields) {
        if (field.name == field_name) {
            return field.value;
        }
    }
    HUB_PANIC("a form asked for a field it does not have");
}

std::string printable(std::string_view text, std::size_t bytes_max) {
    std::string out;
    out.reserve(std::min(text.size(), bytes_max));
    for (char c : text.substr(0, std::min(text.size(), bytes_max))) {
        auto byte = static_cast<unsigned char>(c);
        out.push_back(byte >= 0x20 && byte <= 0x7e ? c : (c == '\t' ? ' ' : '?'));
    }
    return out;
}

std::string paste_summary(std::string_view value) {
    if (value.empty()) {
        return "(empty)";
    }
    std::size_t lines = 0;
    std::size_t certificates = 0;
    std::size_t keys = 0;
    // Bounded by value: every pass consumes one line.
    while (!value.empty()) {
        std::size_t newline = value.find('\n');
        std::string_view line = value.substr(0, newline);
        value.remove_prefix(newline == std::string_view::npos ? value.size() : newline + 1);
        lines++;
        if (line.starts_with("-----BEGIN ") && line.ends_with("-----")) {
            certificates += line == "-----BEGIN CERTIFICATE-----" ? 1 : 0;
            keys += line.find("PRIVATE KEY") != std::string_view::npos ? 1 : 0;
        }
    }
    std::string summary = fmt::format("({} line{}", lines, lines == 1 ? "" : "s");
    if (certificates > 0) {
        summary += fmt::format(", {} certificate{}", certificates, certificates == 1 ? "" : "s");
    }
    if (keys > 0) {
        summary += fmt::format(", {} private key{}", keys, keys == 1 ? "" : "s");
    }
    return summary + ")";
}

std::string key_name(Key key) {
    switch (key.kind) {
        case KeyKind::text:
            return fmt::format("'{}'", static_cast<char>(key.ch));
        case KeyKind::control:
            if (key.ch < 0x20) {
                return fmt::format("Ctrl-{}", static_cast<char>(key.ch + 0x40));
            }
            return key.ch == 0x7f ? "Delete" : fmt::format("byte 0x{:02x}", key.ch);
        case KeyKind::enter:
            return "Enter";
        case KeyKind::escape:
            return "Escape";
        case KeyKind::up:
            return "Up";
        case KeyKind::down:
            return "Down";
        case KeyKind::left:
            return "Left";
        case KeyKind::right:
            return "Right";
        case KeyKind::page_up:
            return "Page Up";
        case KeyKind::page_down:
            return "Page Down";
        case KeyKind::home:
            return "Home";
        case KeyKind::end:
            return "End";
        case KeyKind::backspace:
            return "Backspace";
        case KeyKind::tab:
            return "Tab";
        case KeyKind::back_tab:
            return "Shift-Tab";
        case KeyKind::resize:
            return "resize";
        case KeyKind::other:
            return "that key";
    }
    HUB_PANIC("unknown key kind");
}

Model::Model(Settings settings) : settings_(std::move(settings)) {
    pages_.push_back(main_menu(settings_));
}

void Model::set_status(std::string text, bool error) {
    status_ = printable(text, line_bytes_max);
    status_error_ = error;
}

void Model::refuse(Key key, std::string_view where) {
    set_status(fmt::format("Refused: {} is not {}", key_name(key), where), true);
}

std::size_t Model::body_rows() const {
    // Title, heading and a blank line above; status and hint below.
    return static_cast<std::size_t>(std::max(rows_ - 5, 1));
}

void Model::open(Page page) {
    HUB_ASSERT(!pages_.empty());
    if (pages_.size() >= page_depth_max) {
        set_status("Too many pages open: press Escape to go back first", true);
        return;
    }
    pages_.push_back(std::move(page));
    HUB_ASSERT(pages_.size() <= page_depth_max);
}

void Model::ask(const Request& request) {
    HUB_ASSERT(!pending_ && !running_);
    pending_ = request;
}

void Model::back() {
    if (pages_.size() <= 1) {
        return;
    }
    pages_.pop_back();
    // Back at a list: what was done from it (a partner suspended, a message held) shows.
    if (pages_.back().kind == PageKind::list && pages_.back().source) {
        ask(*pages_.back().source);
    }
}

std::optional<Action> Model::take_action() {
    if (!pending_) {
        return std::nullopt;
    }
    HUB_ASSERT(!running_);
    running_ = std::move(pending_);
    pending_.reset();
    if (running_->action.kind == ActionKind::logout) {
        finished_ = true;
    }
    return running_->action;
}

void Model::complete(Outcome outcome) {
    HUB_ASSERT(running_.has_value());
    Request request = std::move(*running_);
    running_.reset();
    if (!outcome.ok) {
        set_status(outcome.message.empty() ? "Failed" : outcome.message, true);
        return;
    }
    switch (request.present) {
        case Present::text:
        case Present::list: {
            keep_bounded(outcome.lines);
            keep_bounded(outcome.rows);
            Page& top = pages_.back();
            bool refresh = top.source && same_request(*top.source, request);
            if (!refresh) {
                // A form or question that asked is done with: its answer takes its place.
                std::size_t pops = top.pops_on_success;
                for (std::size_t i = 0; i < pops && pages_.size() > 1; i++) {
                    pages_.pop_back();
                }
                Page page;
                page.kind = request.present == Present::text ? PageKind::text : PageKind::list;
                page.title = request.title;
                if (!request.once) {
                    page.source = request;
                }
                page.open_row = request.open_row;
                open(std::move(page));
            }
            Page& shown = pages_.back();
            if (shown.kind == PageKind::text) {
                shown.lines = std::move(outcome.lines);
                shown.top = refresh ? std::min(shown.top, shown.lines.size()) : 0;
            } else {
                shown.header = printable(outcome.header, line_bytes_max);
                shown.rows = std::move(outcome.rows);
                shown.selected =
                    std::min(shown.selected, shown.rows.empty() ? 0 : shown.rows.size() - 1);
                shown.top = std::min(shown.top, shown.selected);
            }
            set_status(outcome.message, false);
            return;
        }
        case Present::message: {
            std::size_t pops = pages_.back().pops_on_success;
            for (std::size_t i = 0; i < pops && pages_.size() > 1; i++) {
                pages_.pop_back();
            }
            set_status(outcome.message.empty() ? "Done" : outcome.message, false);
            if (!outcome.confirm_token.empty()) {
                open(keep_or_undo(outcome));
                return;
            }
            // A list or text page the action changed shows its new state.
            if (pages_.back().source) {
                ask(*pages_.back().source);
            }
            return;
        }
    }
    HUB_PANIC("unknown presentation");
}

void Model::press(Key key) {
    HUB_ASSERT(!pages_.empty());
    if (key.kind == KeyKind::resize) {
        cols_ = std::clamp(key.cols, 1, screen_cols_max);
        rows_ = std::clamp(key.rows, 1, screen_rows_max);
        return;
    }
    if (pending_ || running_) {
        set_status("Busy: the last choice is still being carried out", true);
        return;
    }
    status_.clear();
    Page& page = pages_.back();
    switch (page.kind) {
        case PageKind::menu:
            press_menu(page, key);
            return;
        case PageKind::list:
            press_list(page, key);
            return;
        case PageKind::text:
            press_text(page, key);
            return;
        case PageKind::form:
            press_form(page, key);
            return;
        case PageKind::confirm:
            press_confirm(page, key);
            return;
    }
    HUB_PANIC("unknown page kind");
}

void Model::choose(Page& page, std::size_t index) {
    HUB_ASSERT(index < page.items.size());
    const MenuItem& item = page.items[index];
    page.selected = index;
    if (item.request) {
        ask(*item.request);
    } else {
        HUB_ASSERT(item.open);
        open(item.open());
    }
}

void Model::press_menu(Page& page, Key key) {
    std::size_t count = page.items.size();
    switch (key.kind) {
        case KeyKind::up:
            page.selected = page.selected == 0 ? count - 1 : page.selected - 1;
            return;
        case KeyKind::down:
        case KeyKind::tab:
            page.selected = (page.selected + 1) % count;
            return;
        case KeyKind::enter:
            choose(page, page.selected);
            return;
        case KeyKind::escape:
        case KeyKind::left:
            if (pages_.size() == 1) {
                refuse(key, "a choice here (0 logs out)");
                return;
            }
            back();
            return;
        case KeyKind::text:
            for (std::size_t i = 0; i < count; i++) {
                if (page.items[i].key == static_cast<char>(key.ch)) {
                    choose(page, i);
                    return;
                }
            }
            refuse(key, "a menu choice");
            return;
        default:
            refuse(key, "a menu choice");
            return;
    }
}

void Model::press_list(Page& page, Key key) {
    std::size_t height = body_rows() - 1;  // Less the column heads.
    switch (key.kind) {
        case KeyKind::up:
            move_selection(page.selected, page.top, -1, page.rows.size(), height);
            return;
        case KeyKind::down:
            move_selection(page.selected, page.top, 1, page.rows.size(), height);
            return;
        case KeyKind::page_up:
            move_selection(page.selected, page.top, -static_cast<long>(height), page.rows.size(),
                           height);
            return;
        case KeyKind::page_down:
            move_selection(page.selected, page.top, static_cast<long>(height), page.rows.size(),
                           height);
            return;
        case KeyKind::home:
            move_selection(page.selected, page.top, -static_cast<long>(page.rows.size()),
                           page.rows.size(), height);
            return;
        case KeyKind::end:
            move_selection(page.selected, page.top, static_cast<long>(page.rows.size()),
                           page.rows.size(), height);
            return;
        case KeyKind::enter:
            if (page.rows.empty() || !page.open_row) {
                refuse(key, "a choice here: the list is empty");
                return;
            }
            open(page.open_row(page.rows[page.selected]));
            return;
        case KeyKind::escape:
        case KeyKind::left:
            back();
            return;
        case KeyKind::text:
            if (key.ch == 'r' && page.source) {
                ask(*page.source);
                return;
            }
            refuse(key, "a choice here (Enter chooses, r refreshes)");
            return;
        default:
            refuse(key, "a choice here (Enter chooses, r refreshes)");
            return;
    }
}

void Model::press_text(Page& page, Key key) {
    std::size_t height = body_rows();
    std::size_t count = wrapped(page.lines, cols_).size();
    std::size_t last_top = count > height ? count - height : 0;
    switch (key.kind) {
        case KeyKind::up:
            page.top = page.top == 0 ? 0 : page.top - 1;
            return;
        case KeyKind::down:
            page.top = std::min(page.top + 1, last_top);
            return;
        case KeyKind::page_up:
            page.top = page.top > height ? page.top - height : 0;
            return;
        case KeyKind::page_down:
            page.top = std::min(page.top + height, last_top);
            return;
        case KeyKind::home:
            page.top = 0;
            return;
        case KeyKind::end:
            page.top = last_top;
            return;
        case KeyKind::escape:
        case KeyKind::enter:
        case KeyKind::left:
            back();
            return;
        case KeyKind::text:
            if (key.ch == 'r' && page.source) {
                ask(*page.source);
                return;
            }
            if (key.ch == 'q') {
                back();
                return;
            }
            refuse(key, "a choice here (Escape goes back, r refreshes)");
            return;
        default:
            refuse(key, "a choice here (Escape goes back, r refreshes)");
            return;
    }
}

void Model::press_form(Page& page, Key key) {
    HUB_ASSERT(!page.fields.empty() && page.selected < page.fields.size());
    Field& field = page.fields[page.selected];
    switch (key.kind) {
        case KeyKind::up:
        case KeyKind::back_tab:
            page.selected = page.selected == 0 ? page.fields.size() - 1 : page.selected - 1;
            return;
        case KeyKind::down:
        case KeyKind::tab:
            page.selected = (page.selected + 1) % page.fields.size();
            return;
        case KeyKind::enter:
            if (field.lines_max > 0) {
                press_paste_enter(page, field);
                return;
            }
            if (page.selected + 1 < page.fields.size()) {
                page.selected++;  // Enter moves on; on the last field it submits.
                return;
            }
            submit_form(page);
            return;
        case KeyKind::escape:
            set_status("Cancelled; nothing was changed", false);
            back();
            return;
        case KeyKind::backspace:
            if (!field.value.empty()) {
                field.line_breaks -= field.value.back() == '\n' ? 1 : 0;
                field.value.pop_back();
            }
            return;
        case KeyKind::text:
            if (field.value.size() >= field.bytes_max) {
                set_status(fmt::format("Refused: {} holds at most {} characters", field.label,
                                       field.bytes_max),
                           true);
                return;
            }
            field.value.push_back(static_cast<char>(key.ch));
            HUB_ASSERT(field.value.size() <=
                       (field.lines_max > 0 ? paste_bytes_max : field_bytes_max));
            return;
        default:
            refuse(key, "something a field can hold (printable characters only)");
            return;
    }
}

void Model::press_paste_enter(Page& page, Field& field) {
    HUB_ASSERT(field.lines_max > 0 && field.lines_max <= paste_lines_max);
    if (field.value.empty()) {
        return;  // Blank lines before a paste are not part of it.
    }
    std::size_t last_start = field.value.rfind('\n');
    last_start = last_start == std::string::npos ? 0 : last_start + 1;
    if (std::string_view(field.value).substr(last_start) == ".") {
        // The end of the paste: the "." and its line break go, and Enter moves on as in
        // any field (on the last one it submits).
        field.value.resize(last_start == 0 ? 0 : last_start - 1);
        field.line_breaks -= last_start == 0 ? 0 : 1;
        if (page.selected + 1 < page.fields.size()) {
            page.selected++;
            return;
        }
        submit_form(page);
        return;
    }
    // Counted as they come and go, not searched for: a paste of thousands of lines stays
    // linear in its length.
    std::size_t lines = field.line_breaks + 1;
    if (lines >= field.lines_max || field.value.size() >= field.bytes_max) {
        set_status(fmt::format("Refused: {} holds at most {} lines and {} characters", field.label,
                               field.lines_max, field.bytes_max),
                   true);
        return;
    }
    field.value.push_back('\n');
    field.line_breaks++;
}

void Model::submit_form(Page& page) {
    for (std::size_t i = 0; i < page.fields.size(); i++) {
        const Field& field = page.fields[i];
        if (!field.check) {
            continue;
        }
        if (std::string why = field.check(field.value); !why.empty()) {
            page.selected = i;
            set_status(fmt::format("{}: {}", field.label, why), true);
            return;
        }
    }
    if (page.check_form) {
        if (std::string why = page.check_form(page); !why.empty()) {
            set_status(why, true);
            return;
        }
    }
    HUB_ASSERT(page.submit);
    ask(page.submit(page));
}

void Model::press_confirm(Page& page, Key key) {
    HUB_ASSERT(page.on_yes.has_value());
    if (key.kind == KeyKind::text && (key.ch == 'y' || key.ch == 'Y')) {
        ask(*page.on_yes);
        return;
    }
    if ((key.kind == KeyKind::text && (key.ch == 'n' || key.ch == 'N')) ||
        key.kind == KeyKind::escape) {
        if (page.on_no) {
            ask(*page.on_no);
            return;
        }
        set_status("Cancelled; nothing was changed", false);
        back();
        return;
    }
    refuse(key, "an answer here (y or n)");
}

Page Model::keep_or_undo(const Outcome& outcome) {
    Page page;
    page.kind = PageKind::confirm;
    page.title = "Keep this change?";
    page.lines = {
        printable(outcome.message, line_bytes_max),
        "",
        fmt::format("The change is live but not saved: it is undone in {} seconds unless you",
                    outcome.confirm_seconds),
        "keep it. If this session stopped answering, wait: the old settings come back.",
        "",
        "Keep it? (y: keep and save, n: undo now)",
    };
    Request keep;
    keep.action.kind = ActionKind::net_keep;
    keep.action.target = outcome.confirm_token;
    Request undo = keep;
    undo.action.kind = ActionKind::net_undo;
    page.on_yes = keep;
    page.on_no = undo;
    page.pops_on_success = 1;
    return page;
}

// --- Rendering ---------------------------------------------------------------------------

namespace {

struct Canvas {
    int cols;
    int rows;
    std::vector<Line> lines;

    void put(int row, std::string_view text, Style style) {
        if (row < 0 || row >= rows) {
            return;
        }
        lines[static_cast<std::size_t>(row)] =
            Line{padded(fitted(text, cols), style == Style::normal ? 0 : cols), style};
    }
};

std::string hint_for(const Page& page, bool top_level) {
    switch (page.kind) {
        case PageKind::menu:
            return top_level ? "Type a number or Up/Down and Enter. 0 logs out."
                             : "Type a number or Up/Down and Enter. Escape goes back.";
        case PageKind::list:
            return page.open_row ? "Up/Down choose, Enter opens, r refreshes, Escape goes back."
                                 : "Up/Down move, r refreshes, Escape goes back.";
        case PageKind::text:
            return page.source ? "Up/Down/PgUp/PgDn scroll, r refreshes, Escape goes back."
                               : "Up/Down/PgUp/PgDn scroll, Escape goes back.";
        case PageKind::form:
            if (page.fields[page.selected].lines_max > 0) {
                return "Paste or type; a line with just . ends it. Tab/Up/Down: fields, "
                       "Escape cancels.";
            }
            return "Type, Tab/Up/Down between fields, Enter on the last submits, Escape cancels.";
        case PageKind::confirm:
            return "y: yes, n or Escape: no.";
    }
    HUB_PANIC("unknown page kind");
}

}  // namespace

namespace {

// The body of each kind of page, from row body, height rows at most.
void render_menu(const Page& page, Canvas& canvas, int body, int height) {
    for (std::size_t i = 0; i < page.items.size() && static_cast<int>(i) < height; i++) {
        bool chosen = i == page.selected;
        canvas.put(
            body + static_cast<int>(i),
            fmt::format(" {} {}  {}", chosen ? '>' : ' ', page.items[i].key, page.items[i].label),
            chosen ? Style::selected : Style::normal);
    }
}

void render_list(const Page& page, Canvas& canvas, int body, int height) {
    canvas.put(body, "   " + page.header, Style::heading);
    if (page.rows.empty()) {
        canvas.put(body + 1, "   (none)", Style::normal);
    }
    for (int i = 0; i + 1 < height; i++) {
        std::size_t index = page.top + static_cast<std::size_t>(i);
        if (index >= page.rows.size()) {
            break;
        }
        bool chosen = index == page.selected;
        canvas.put(body + 1 + i, (chosen ? " > " : "   ") + page.rows[index].text,
                   chosen ? Style::selected : Style::normal);
    }
}

// Text pages and questions wrap; a text page longer than the screen says which lines show.
void render_text(const Page& page, Canvas& canvas, int body, int height,
                 const std::string& heading) {
    std::vector<std::string> lines = wrapped(page.lines, canvas.cols);
    std::size_t top = page.kind == PageKind::text ? std::min(page.top, lines.size()) : 0;
    for (int i = 0; i < height && top + static_cast<std::size_t>(i) < lines.size(); i++) {
        canvas.put(body + i, " " + lines[top + static_cast<std::size_t>(i)], Style::normal);
    }
    if (page.kind == PageKind::text && lines.size() > static_cast<std::size_t>(height)) {
        canvas.put(1,
                   fmt::format("{}  (lines {}-{} of {})", heading, top + 1,
                               std::min(lines.size(), top + static_cast<std::size_t>(height)),
                               lines.size()),
                   Style::heading);
    }
}

void render_form(const Page& page, Canvas& canvas, int body, int height, Screen& screen) {
    std::size_t label_width = 0;
    for (const Field& field : page.fields) {
        label_width = std::max(label_width, field.label.size());
    }
    for (std::size_t i = 0; i < page.fields.size() && static_cast<int>(i * 2) < height; i++) {
        const Field& field = page.fields[i];
        std::string prefix =
            fmt::format(" {} {:<{}} : ", i == page.selected ? '>' : ' ', field.label, label_width);
        std::size_t room = static_cast<std::size_t>(
            std::max(canvas.cols - static_cast<int>(prefix.size()) - 2, 1));
        std::string shown = field.secret ? std::string(field.value.size(), '*') : field.value;
        if (field.lines_max > 0) {
            // A paste shows how much came and its last line, where typing happens; a long
            // last line is cut at its start so that the summary stays.
            std::size_t last_start = field.value.rfind('\n');
            last_start = last_start == std::string::npos ? 0 : last_start + 1;
            std::string summary = paste_summary(field.value);
            std::string_view last = std::string_view(field.value).substr(last_start);
            if (summary.size() + 1 + last.size() > room && summary.size() + 3 < room) {
                std::size_t keep = room - summary.size() - 2;
                shown = summary + " <" + std::string(last.substr(last.size() - keep));
            } else {
                shown = summary + " " + std::string(last);
            }
        }
        // Long values show their end, where typing happens.
        if (shown.size() > room) {
            shown = "<" + shown.substr(shown.size() - room + 1);
        }
        int row = body + static_cast<int>(i * 2);
        canvas.put(row, prefix + shown, i == page.selected ? Style::field : Style::normal);
        if (i == page.selected) {
            screen.cursor_row = row;
            screen.cursor_col =
                std::min(canvas.cols - 1, static_cast<int>(prefix.size() + shown.size()));
        }
    }
}

}  // namespace

Screen Model::render() const {
    HUB_ASSERT(!pages_.empty());
    Canvas canvas{cols_, rows_, std::vector<Line>(static_cast<std::size_t>(rows_))};
    const Page& page = pages_.back();
    std::string bar = " Hubbox console";
    if (settings_.development) {
        bar += " (development)";
    }
    std::string host = settings_.host_name + " ";
    if (bar.size() + host.size() < static_cast<std::size_t>(cols_)) {
        bar.append(static_cast<std::size_t>(cols_) - bar.size() - host.size(), ' ');
        bar += host;
    }
    canvas.put(0, bar, Style::title);
    std::string heading = " " + page.title;
    if (cols_ < design_cols || rows_ < design_rows) {
        heading += fmt::format("  (terminal {}x{}, smaller than {}x{})", cols_, rows_, design_cols,
                               design_rows);
    }
    canvas.put(1, heading, Style::heading);
    constexpr int body = 3;
    int height = static_cast<int>(body_rows());
    Screen screen;
    switch (page.kind) {
        case PageKind::menu:
            render_menu(page, canvas, body, height);
            break;
        case PageKind::list:
            render_list(page, canvas, body, height);
            break;
        case PageKind::text:
        case PageKind::confirm:
            render_text(page, canvas, body, height, heading);
            break;
        case PageKind::form:
            render_form(page, canvas, body, height, screen);
            break;
    }
    if (running_ || pending_) {
        canvas.put(rows_ - 2, " Working...", Style::ok);
    } else if (!status_.empty()) {
        // A long message (a daemon's reason) wraps upwards over the body's last rows.
        std::vector<std::string> lines = wrapped({status_}, cols_);
        std::size_t shown = std::min<std::size_t>(lines.size(), status_rows_max);
        for (std::size_t i = 0; i < shown; i++) {
            canvas.put(rows_ - 1 - static_cast<int>(shown - i), " " + lines[i],
                       status_error_ ? Style::error : Style::ok);
        }
    }
    canvas.put(rows_ - 1, " " + hint_for(page, pages_.size() == 1), Style::hint);
    screen.cols = cols_;
    screen.rows = rows_;
    screen.lines = std::move(canvas.lines);
    HUB_ASSERT(screen.lines.size() == static_cast<std::size_t>(rows_));
    return screen;
}

std::string_view action_name(ActionKind kind) {
    switch (kind) {
        case ActionKind::status:
            return "status";
        case ActionKind::partner_list:
            return "partner list";
        case ActionKind::partner_show:
            return "partner show";
        case ActionKind::partner_add:
            return "partner add";
        case ActionKind::partner_suspend:
            return "partner suspend";
        case ActionKind::partner_resume:
            return "partner resume";
        case ActionKind::partner_test:
            return "partner test";
        case ActionKind::queue_list:
            return "queue list";
        case ActionKind::queue_show:
            return "queue show";
        case ActionKind::queue_retry:
            return "queue retry";
        case ActionKind::queue_hold:
            return "queue hold";
        case ActionKind::queue_release:
            return "queue release";
        case ActionKind::queue_delete:
            return "queue delete";
        case ActionKind::ca_show:
            return "ca show";
        case ActionKind::ca_requests:
            return "ca requests";
        case ActionKind::ca_certificates:
            return "ca certificates";
        case ActionKind::ca_approve:
            return "ca approve";
        case ActionKind::ca_reject:
            return "ca reject";
        case ActionKind::ca_revoke:
            return "ca revoke";
        case ActionKind::hub_key_request:
            return "hub key request";
        case ActionKind::hub_key_install:
            return "hub key install";
        case ActionKind::hub_key_import:
            return "hub key import";
        case ActionKind::hub_key_pkcs12:
            return "hub key import pkcs12";
        case ActionKind::enrollment_reset:
            return "enrollment password";
        case ActionKind::console_password:
            return "console password";
        case ActionKind::admin_password:
            return "admin password";
        case ActionKind::net_show:
            return "network show";
        case ActionKind::net_address:
            return "network address";
        case ActionKind::net_link:
            return "network link";
        case ActionKind::net_mtu:
            return "network mtu";
        case ActionKind::net_gateway:
            return "network gateway";
        case ActionKind::net_route:
            return "network route";
        case ActionKind::net_dns:
            return "network dns";
        case ActionKind::net_hostname:
            return "network hostname";
        case ActionKind::net_ping:
            return "network ping";
        case ActionKind::net_connect:
            return "network connect";
        case ActionKind::access_show:
            return "access show";
        case ActionKind::access_set:
            return "access set";
        case ActionKind::access_ssh:
            return "access ssh";
        case ActionKind::net_keep:
            return "network keep";
        case ActionKind::net_undo:
            return "network undo";
        case ActionKind::backup_show:
            return "backup show";
        case ActionKind::backup_run:
            return "backup run";
        case ActionKind::backup_verify:
            return "backup verify";
        case ActionKind::backup_restore:
            return "backup restore";
        case ActionKind::backup_schedule:
            return "backup schedule";
        case ActionKind::reboot:
            return "reboot";
        case ActionKind::power_off:
            return "power off";
        case ActionKind::logout:
            return "log out";
    }
    HUB_PANIC("unknown action kind");
}

}  // namespace hub::console
