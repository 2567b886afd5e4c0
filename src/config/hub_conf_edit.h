// hub_conf_edit.h -- change a few keys of one table in hub.conf, keeping the rest as written.
//
// `hubctl backup schedule` and the console's Backup page set [backup] keys this way: the
// administrator's comments, order and other tables stay as they are, and the result must
// load (load_hub_config) before it replaces the file, so a change can never leave a
// hub.conf that hubd or hubctl would refuse.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace hub::config {

// A key and its value as a TOML literal (toml_string, or digits for an integer).
using KeyValue = std::pair<std::string, std::string>;

// text as a TOML basic string; false (and no literal) when text holds a control character,
// which paths and URLs never do.
bool toml_string(std::string_view text, std::string& literal);

// The text with each key of [table] set: a `key = ...` line of that table is replaced,
// a missing key is added after the table's last line, a missing table is appended.
std::string set_table_keys(std::string_view text, std::string_view table,
                           const std::vector<KeyValue>& values);

// set_table_keys on the file at path, checked by loading the result from a temporary file
// beside it, then put in place by rename (mode and owner kept; fsync'd). Errors: the file's,
// or the loader's message about the new text; the file is then unchanged.
[[nodiscard]] Result<void, std::string> edit_hub_conf(const std::string& path,
                                                      std::string_view table,
                                                      const std::vector<KeyValue>& values);

}  // namespace hub::config
