// hub_conf_edit.cc -- line-level edits of one hub.conf table (hub_conf_edit.h).
//
// PURPOSE   Set a few keys of one table without rewriting the administrator's file.
// RUNS IN   hubctl and hub-console-admin (root), on an administrator's request.
// TRUST     Values come from checked forms or hubctl's options; the whole result is loaded
//           by load_hub_config before it replaces the file, which is the real check.
// LIMITS    hub.conf's own size bound (the loader's); one table per call.
// SEE ALSO  config/hub_config.h, docs/BACKUP.md "Scheduled backups".
#include "config/hub_conf_edit.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "base/durable_file.h"
#include "config/hub_config.h"

namespace hub::config {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

// "[table]" possibly followed by a comment.
bool is_header_of(std::string_view line, std::string_view table) {
    line = trim(line);
    std::string header = fmt::format("[{}]", table);
    if (!line.starts_with(header)) {
        return false;
    }
    std::string_view rest = trim(line.substr(header.size()));
    return rest.empty() || rest.front() == '#';
}

bool is_any_header(std::string_view line) {
    return trim(line).starts_with('[');
}

// The key a `key = value` line sets, or "".
std::string_view key_of(std::string_view line) {
    line = trim(line);
    std::size_t equals = line.find('=');
    if (line.empty() || line.front() == '#' || equals == std::string_view::npos) {
        return {};
    }
    return trim(line.substr(0, equals));
}

}  // namespace

bool toml_string(std::string_view text, std::string& literal) {
    literal = "\"";
    for (char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return false;
        }
        if (c == '"' || c == '\\') {
            literal += '\\';
        }
        literal += c;
    }
    literal += '"';
    return true;
}

std::string set_table_keys(std::string_view text, std::string_view table,
                           const std::vector<KeyValue>& values) {
    std::vector<std::string> lines;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    std::size_t header = lines.size();
    for (std::size_t i = 0; i < lines.size(); i++) {
        if (is_header_of(lines[i], table)) {
            header = i;
            break;
        }
    }
    std::set<std::string> done;
    if (header == lines.size()) {
        if (!lines.empty() && !trim(lines.back()).empty()) {
            lines.emplace_back();
        }
        lines.push_back(fmt::format("[{}]", table));
        header = lines.size() - 1;
    }
    std::size_t end = header + 1;
    while (end < lines.size() && !is_any_header(lines[end])) {
        end++;
    }
    for (std::size_t i = header + 1; i < end; i++) {
        std::string_view key = key_of(lines[i]);
        for (const auto& [name, value] : values) {
            if (key == name) {
                lines[i] = fmt::format("{} = {}", name, value);
                done.insert(name);
            }
        }
    }
    // New keys go after the table's last non-blank line.
    std::size_t insert_at = end;
    while (insert_at > header + 1 && trim(lines[insert_at - 1]).empty()) {
        insert_at--;
    }
    std::vector<std::string> added;
    for (const auto& [name, value] : values) {
        if (!done.contains(name)) {
            added.push_back(fmt::format("{} = {}", name, value));
            done.insert(name);
        }
    }
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(insert_at), added.begin(),
                 added.end());
    std::string out;
    for (const std::string& line : lines) {
        out += line;
        out += '\n';
    }
    return out;
}

Result<void, std::string> edit_hub_conf(const std::string& path, std::string_view table,
                                        const std::vector<KeyValue>& values) {
    std::ifstream in(path);
    if (!in) {
        return unexpected(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    std::stringstream text;
    text << in.rdbuf();
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
    }
    std::string changed = set_table_keys(text.str(), table, values);
    // Beside the file, so the loader resolves relative paths as it will at the real name.
    base::FileReplacement how;
    how.mode = info.st_mode & 07777;
    how.owner_uid = info.st_uid;
    how.owner_gid = info.st_gid;
    how.temporary_suffix = ".edit";
    how.check = [](const std::string& temporary) -> Result<void, std::string> {
        if (auto loaded = load_hub_config(temporary); !loaded) {
            return unexpected(fmt::format("the change was not made: {}", loaded.error()));
        }
        return {};
    };
    return base::replace_file(path, changed, how);
}

}  // namespace hub::config
