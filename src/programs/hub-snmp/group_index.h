// group_index.h -- stable RFC 2789 group indexes: one per partner name, never reused.
//
// RFC 2789 asks that a group keep its mtaGroupIndex for as long as the MTA runs; managers
// keep history per index, so hub-snmp goes further and keeps it across restarts of hubd
// and of itself. The first time a partner name is seen it gets the next free index, and
// the name -> index pairs are written to a small file in hub-snmp's state directory
// (atomically: a temporary file, fsync, rename, directory fsync). A partner that is removed
// keeps its index in the file, so a later partner never inherits its history; a renamed
// partner is a new group.
//
// Considered: the partner directory's row id (stable too, but the partners.toml source has
// none, and hub-snmp would depend on the directory's schema), and a hash of the name
// (stateless, but collisions and 31-bit indexes make it unsafe).
//
// File format (text, one pair per line, a comment line first):
//   # hub-snmp group indexes: mtaGroupIndex, a tab, the partner name; indexes are never reused
//   1\tpartner1.gov.uk
//   2\tpartner2.gov.uk
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::snmp {

class GroupIndexes {
public:
    // Parses a file's contents; the error names the line and what to fix. At most
    // index_file_bytes_max bytes and groups_count_max pairs; names as policy::check_partner_name
    // accepts them; indexes 1..group_index_max, each name and each index once.
    static Result<GroupIndexes, std::string> parse(std::string_view text);

    // The file's contents (parse(serialize()) gives back the same pairs).
    std::string serialize() const;

    std::optional<std::uint32_t> find(std::string_view name) const;
    // The name's index, giving it the next free one if new (the file must then be saved).
    // Errors: the name is not a valid partner name, or the table is full.
    Result<std::uint32_t, std::string> assign(std::string_view name);

    std::size_t size() const { return by_name_.size(); }
    bool changed() const { return changed_; }
    void mark_saved() { changed_ = false; }

private:
    std::map<std::string, std::uint32_t, std::less<>> by_name_;
    std::uint32_t highest_ = 0;
    bool changed_ = false;
};

// Reads <state_dir>/group-indexes; a missing file is an empty table.
Result<GroupIndexes, std::string> load_group_indexes(const std::string& state_dir);
// Writes it atomically and durably (see above); on success marks the table saved.
Result<void, std::string> save_group_indexes(const std::string& state_dir, GroupIndexes& table);

}  // namespace hub::snmp
