// wire.cc -- see wire.h.
#include "console/wire.h"

#include <fmt/format.h>

#include <vector>

#include "console/limits.h"

namespace hub::console {

namespace {

std::string encoded(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x21 || byte > 0x7e || c == '%') {
            out += fmt::format("%{:02X}", byte);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

Result<std::string, std::string> decoded(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c != '%') {
            out.push_back(c);
            continue;
        }
        if (i + 2 >= text.size()) {
            return unexpected(std::string("a % without two hex digits"));
        }
        int high = hex_value(text[i + 1]);
        int low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) {
            return unexpected(std::string("a % without two upper-case hex digits"));
        }
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

// The lines of a block: header first, "end" last, nothing after it.
Result<std::vector<std::string_view>, std::string> block_lines(std::string_view text,
                                                               std::size_t bytes_max) {
    if (text.size() > bytes_max) {
        return unexpected(fmt::format("more than {} bytes", bytes_max));
    }
    std::vector<std::string_view> lines;
    // Bounded by text: every pass consumes one line.
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        if (newline == std::string_view::npos) {
            return unexpected(std::string("a line without its line break"));
        }
        lines.push_back(text.substr(0, newline));
        text.remove_prefix(newline + 1);
    }
    if (lines.size() < 2 || lines.front() != wire_header || lines.back() != "end") {
        return unexpected(fmt::format("not a \"{}\" block closed by \"end\"", wire_header));
    }
    lines.pop_back();
    lines.erase(lines.begin());
    return lines;
}

// "key rest": the key and the rest (which may be empty).
std::pair<std::string_view, std::string_view> split_key(std::string_view line) {
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) {
        return {line, {}};
    }
    return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

Result<ActionKind, std::string> action_kind_named(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(ActionKind::logout); i++) {
        auto kind = static_cast<ActionKind>(i);
        if (action_name(kind) == name) {
            return kind;
        }
    }
    return unexpected(fmt::format("unknown action \"{}\"", printable(name, 64)));
}

std::string encode_action(const Action& action) {
    std::string out = std::string(wire_header) + "\n";
    out += "kind " + encoded(action_name(action.kind)) + "\n";
    out += "target " + encoded(action.target) + "\n";
    for (const auto& [name, value] : action.fields) {
        out += "field " + encoded(name) + " " + encoded(value) + "\n";
    }
    return out + "end\n";
}

Result<Action, std::string> decode_action(std::string_view text) {
    auto lines = block_lines(text, wire_request_bytes_max);
    if (!lines) {
        return unexpected(lines.error());
    }
    Action action;
    bool have_kind = false;
    bool have_target = false;
    std::size_t pastes = 0;  // Values longer than field_bytes_max (wire.h).
    for (std::string_view line : *lines) {
        auto [key, rest] = split_key(line);
        if (key == "kind" && !have_kind) {
            auto name = decoded(rest);
            if (!name) {
                return unexpected(name.error());
            }
            auto kind = action_kind_named(*name);
            if (!kind) {
                return unexpected(kind.error());
            }
            action.kind = *kind;
            have_kind = true;
        } else if (key == "target" && !have_target) {
            auto target = decoded(rest);
            if (!target || target->size() > field_bytes_max) {
                return unexpected(std::string("a bad target"));
            }
            action.target = std::move(*target);
            have_target = true;
        } else if (key == "field" && action.fields.size() < wire_fields_max) {
            auto [name_text, value_text] = split_key(rest);
            auto name = decoded(name_text);
            auto value = decoded(value_text);
            bool pasted = value && value->size() > field_bytes_max;
            pastes += pasted ? 1 : 0;
            if (!name || !value || name->empty() || value->size() > paste_bytes_max ||
                pastes > paste_fields_max || action.fields.count(*name) != 0) {
                return unexpected(std::string("a bad or repeated field"));
            }
            action.fields.emplace(std::move(*name), std::move(*value));
        } else {
            return unexpected(fmt::format("unexpected line \"{}\"", printable(line, 64)));
        }
    }
    if (!have_kind) {
        return unexpected(std::string("no kind"));
    }
    return action;
}

std::string encode_outcome(const Outcome& outcome) {
    std::string out = std::string(wire_header) + "\n";
    out += fmt::format("ok {}\n", outcome.ok ? 1 : 0);
    out += "message " + encoded(outcome.message) + "\n";
    out += "header " + encoded(outcome.header) + "\n";
    for (const std::string& line : outcome.lines) {
        out += "line " + encoded(line) + "\n";
    }
    for (const Row& row : outcome.rows) {
        out += "row " + encoded(row.key) + " " + encoded(row.text) + "\n";
    }
    return out + "end\n";
}

Result<Outcome, std::string> decode_outcome(std::string_view text) {
    auto lines = block_lines(text, wire_answer_bytes_max);
    if (!lines) {
        return unexpected(lines.error());
    }
    Outcome outcome;
    bool have_ok = false;
    for (std::string_view line : *lines) {
        auto [key, rest] = split_key(line);
        if (key == "ok" && !have_ok && (rest == "0" || rest == "1")) {
            outcome.ok = rest == "1";
            have_ok = true;
            continue;
        }
        if (key == "row" && outcome.rows.size() < list_rows_max) {
            auto [key_text, row_text] = split_key(rest);
            auto row_key = decoded(key_text);
            auto row_value = decoded(row_text);
            if (!row_key || !row_value) {
                return unexpected(std::string("a bad row"));
            }
            outcome.rows.push_back(Row{std::move(*row_key), std::move(*row_value)});
            continue;
        }
        auto value = decoded(rest);
        if (!value) {
            return unexpected(value.error());
        }
        if (key == "message") {
            outcome.message = std::move(*value);
        } else if (key == "header") {
            outcome.header = std::move(*value);
        } else if (key == "line" && outcome.lines.size() < text_lines_max) {
            outcome.lines.push_back(std::move(*value));
        } else {
            return unexpected(fmt::format("unexpected line \"{}\"", printable(line, 64)));
        }
    }
    if (!have_ok) {
        return unexpected(std::string("no ok line"));
    }
    return outcome;
}

}  // namespace hub::console
