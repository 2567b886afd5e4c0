// partner_text.cc -- see partner_text.h. (Moved from hubctl's directory commands so that
// hub-console shows a partner and a write's outcome in the same words.)
#include "programs/hubctl/partner_text.h"

#include <fmt/format.h>

#include "config/hub_config.h"
#include "programs/hubctl/control_client.h"
#include "programs/hubctl/text.h"

namespace hub::hubctl {

std::string joined(const std::vector<std::string>& items, std::string_view empty_text) {
    if (items.empty()) {
        return std::string(empty_text);
    }
    std::string out;
    for (const std::string& item : items) {
        out += (out.empty() ? "" : ",") + printable(item);
    }
    return out;
}

std::string outbound_text(const directory::PartnerRecord& record) {
    if (record.outbound_host.empty()) {
        return "-";
    }
    return record.outbound_host.find(':') == std::string::npos
               ? fmt::format("{}:{}", record.outbound_host, record.outbound_port)
               : fmt::format("[{}]:{}", record.outbound_host, record.outbound_port);
}

std::vector<std::string> partner_lines(const directory::PartnerRecord& record) {
    std::vector<std::string> lines;
    std::string first = record.domains.empty() ? "" : record.domains.front();
    auto or_default = [&](const std::string& value) {
        return value.empty() ? fmt::format("{} (first domain)", printable(first))
                             : printable(value);
    };
    lines.push_back(fmt::format("name:                       {}", printable(record.name)));
    lines.push_back(
        fmt::format("state:                      {}", directory::to_string(record.state)));
    lines.push_back(fmt::format("contact:                    {}", printable(record.contact)));
    lines.push_back(fmt::format("domains:                    {}", joined(record.domains, "-")));
    lines.push_back(fmt::format("subdomains:                 {}", record.subdomains));
    lines.push_back(
        fmt::format("inbound:                    {}", joined(record.inbound, "- (receives only)")));
    lines.push_back(fmt::format("outbound:                   {}", outbound_text(record)));
    lines.push_back(
        fmt::format("outbound_name:              {}", or_default(record.outbound_name)));
    lines.push_back(fmt::format(
        "outbound_pin_sha256:        {}",
        record.outbound_pin_sha256.empty() ? "-" : printable(record.outbound_pin_sha256)));
    lines.push_back(
        fmt::format("require_client_certificate: {}", record.require_client_certificate));
    lines.push_back(fmt::format("client_cn:                  {}", or_default(record.client_cn)));
    lines.push_back(
        fmt::format("extra_sender_domains:       {}", joined(record.extra_sender_domains, "-")));
    return lines;
}

ReloadReport reload_after_write(std::string_view action, const std::string& config_path) {
    if (config_path.empty()) {
        return {true, fmt::format("{}: done; without --config no running hubd was asked to reload "
                                  "(run `hubctl --config hub.conf reload`)",
                                  action)};
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return {false, fmt::format("{}: done, but no hubd was asked to reload: {}", action,
                                   config.error())};
    }
    ReloadOutcome outcome = request_reload(config->spool_dir);
    if (!outcome.running) {
        return {true, fmt::format("{}: done; hubd is not running and reads the directory when it "
                                  "starts",
                                  action)};
    }
    if (!outcome.answered) {
        return {false, fmt::format("{}: written to the directory, but the running hubd could not "
                                   "be asked to reload ({}); run `hubctl --config {} reload` as "
                                   "root or the hub user",
                                   action, printable(outcome.text), config_path)};
    }
    if (!outcome.applied) {
        return {false, fmt::format("{}: written to the directory, but the running hubd refused "
                                   "the reload and keeps its partner table: {}",
                                   action, printable(outcome.text))};
    }
    return {true, fmt::format("{}: done; hubd reloaded: {}", action, printable(outcome.text))};
}

}  // namespace hub::hubctl
