// partner_text.h -- a partner's record and a directory write's outcome, as hubctl and
// hub-console show them (the same words on both).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "directory/record.h"

namespace hub::hubctl {

// hubctl partner show: one "name:   value" line per setting, text made printable.
std::vector<std::string> partner_lines(const directory::PartnerRecord& record);
// The partner's outbound connector as "IP:port" or "[IPv6]:port", "-" when it has none.
std::string outbound_text(const directory::PartnerRecord& record);
// Items joined with commas (made printable), or empty_text when there are none.
std::string joined(const std::vector<std::string>& items, std::string_view empty_text);

// What became of a directory write for the running hub.
struct ReloadReport {
    bool ok = true;    // false: written, but the hub does not do what the directory says yet.
    std::string text;  // "partner add: done; hubd reloaded: ..." and the like.
};
// After a write: the hubd running on config_path's spool (if any) is asked to reload, so
// that the change holds for new sessions at once. The write stands either way. Without a
// config_path no hubd can be found and the text says to reload by hand.
ReloadReport reload_after_write(std::string_view action, const std::string& config_path);

}  // namespace hub::hubctl
