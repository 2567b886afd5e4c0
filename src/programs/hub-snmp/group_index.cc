// group_index.cc -- the partner name -> mtaGroupIndex table and its file.
//
// PURPOSE   Stable group indexes across polls and restarts (group_index.h says why).
// RUNS IN   hub-snmp, on its only thread.
// TRUST     The file is hub-snmp's own (its state directory, 0600), but it is parsed as
//           untrusted input all the same: bounded, every line checked, a bad file is an
//           error that names the line, never a crash. Fuzzed: tests/fuzz/snmp_group_index.
// LIMITS    index_file_bytes_max bytes, groups_count_max pairs (limits.h).
// SEE ALSO  mib_map.cc (uses the indexes), docs/SNMP.md "Group indexes".
#include "programs/hub-snmp/group_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "base/durable_file.h"
#include "base/errno_text.h"
#include "policy/partner_checks.h"
#include "programs/hub-snmp/limits.h"

namespace hub::snmp {
namespace {

constexpr std::string_view file_name = "group-indexes";
constexpr std::string_view header =
    "# hub-snmp group indexes: mtaGroupIndex, a tab, the partner name; indexes are never "
    "reused\n";

}  // namespace

Result<GroupIndexes, std::string> GroupIndexes::parse(std::string_view text) {
    if (text.size() > index_file_bytes_max) {
        return unexpected("the file has " + std::to_string(text.size()) + " bytes, more than the " +
                          std::to_string(index_file_bytes_max) + " a table of " +
                          std::to_string(groups_count_max) + " groups needs");
    }
    GroupIndexes table;
    std::set<std::uint32_t> seen;
    std::size_t line_number = 0;
    while (!text.empty()) {
        line_number++;
        std::size_t end = text.find('\n');
        if (end == std::string_view::npos) {
            return unexpected("line " + std::to_string(line_number) +
                              ": the last line has no newline (a torn write?)");
        }
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end + 1);
        std::string where = "line " + std::to_string(line_number) + ": ";
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::size_t tab = line.find('\t');
        if (tab == std::string_view::npos) {
            return unexpected(where + "expected an index, a tab and a partner name");
        }
        std::string_view digits = line.substr(0, tab);
        std::string_view name = line.substr(tab + 1);
        std::uint32_t index = 0;
        auto [stop, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (digits.empty() || error != std::errc() || stop != digits.data() + digits.size() ||
            index == 0 || index > group_index_max || digits.front() == '0') {
            return unexpected(where + "the index must be a number from 1 to " +
                              std::to_string(group_index_max) + " without leading zeros");
        }
        if (std::string problem = policy::check_partner_name(name); !problem.empty()) {
            return unexpected(where + "the partner name must be " + problem);
        }
        if (table.by_name_.size() >= groups_count_max) {
            return unexpected(where + "more than " + std::to_string(groups_count_max) + " groups");
        }
        if (!seen.insert(index).second) {
            return unexpected(where + "index " + std::to_string(index) + " appears twice");
        }
        if (!table.by_name_.emplace(std::string(name), index).second) {
            return unexpected(where + "partner " + std::string(name) + " appears twice");
        }
        table.highest_ = std::max(table.highest_, index);
    }
    return table;
}

std::string GroupIndexes::serialize() const {
    std::map<std::uint32_t, std::string_view> by_index;
    for (const auto& [name, index] : by_name_) {
        by_index.emplace(index, name);
    }
    std::string text(header);
    for (const auto& [index, name] : by_index) {
        text += std::to_string(index);
        text += '\t';
        text += name;
        text += '\n';
    }
    return text;
}

std::optional<std::uint32_t> GroupIndexes::find(std::string_view name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        return std::nullopt;
    }
    return it->second;
}

Result<std::uint32_t, std::string> GroupIndexes::assign(std::string_view name) {
    if (std::optional<std::uint32_t> known = find(name)) {
        return *known;
    }
    if (std::string problem = policy::check_partner_name(name); !problem.empty()) {
        return unexpected("partner name '" + std::string(name) +
                          "' cannot name a group: " + problem);
    }
    if (by_name_.size() >= groups_count_max || highest_ >= group_index_max) {
        return unexpected("the group table is full (" + std::to_string(groups_count_max) +
                          " groups); partner " + std::string(name) + " gets no group");
    }
    highest_++;
    by_name_.emplace(std::string(name), highest_);
    changed_ = true;
    return highest_;
}

Result<GroupIndexes, std::string> load_group_indexes(const std::string& state_dir) {
    std::string path = state_dir + "/" + std::string(file_name);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return GroupIndexes{};
        }
        return unexpected(path + ": " + base::errno_text(errno));
    }
    std::string text;
    char buffer[16384];
    for (;;) {
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            int error = errno;
            ::close(fd);
            return unexpected(path + ": " + base::errno_text(error));
        }
        if (got == 0) {
            break;
        }
        text.append(buffer, static_cast<std::size_t>(got));
        if (text.size() > index_file_bytes_max) {
            break;  // parse() reports the size.
        }
    }
    ::close(fd);
    Result<GroupIndexes, std::string> table = GroupIndexes::parse(text);
    if (!table) {
        return unexpected(path + ": " + table.error() +
                          " (fix or remove the file; removing it renumbers the groups)");
    }
    return table;
}

Result<void, std::string> save_group_indexes(const std::string& state_dir, GroupIndexes& table) {
    std::string path = state_dir + "/" + std::string(file_name);
    base::FileReplacement how;
    how.mode = 0600;
    how.temporary_suffix = ".new";
    if (auto replaced = base::replace_file(path, table.serialize(), how); !replaced) {
        return replaced;
    }
    table.mark_saved();
    return {};
}

}  // namespace hub::snmp
