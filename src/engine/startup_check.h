// startup_check.h -- hubd --check: everything start-up would trip over, reported at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/hub_config.h"

namespace hub::engine {

// A certificate that expires sooner than this is a warning, not an error.
inline constexpr std::int64_t certificate_expiry_warning_s = 30 * 86400;

enum class Severity { warning, error };

struct Finding {
    Severity severity = Severity::error;
    std::string where;  // "hub.conf:7", a file, or "" when the text says where.
    std::string text;
};

// Sans-I/O: a certificate's validity period against now. Not yet valid or expired is an
// error, expiring within certificate_expiry_warning_s a warning, otherwise nothing.
std::optional<Finding> check_validity(std::string where, std::string_view what,
                                      std::int64_t not_before_s, std::int64_t not_after_s,
                                      std::int64_t now_s);

// Sans-I/O: one Finding per line of a loader's error text. A line that starts with
// "<file>:<line>: " or "<file>: " (file as given) keeps that as its place; any other
// line gets fallback_where.
std::vector<Finding> findings_from_lines(std::string_view text, std::string_view file,
                                         std::string_view fallback_where);

// Sans-I/O: "<where>: error: <text>" lines, errors and warnings in the order found, and
// a last line counting them.
std::string render_findings(std::span<const Finding> findings);

// Sans-I/O: 1 if any finding is an error, else 0 (warnings alone pass).
int exit_status_of(std::span<const Finding> findings);

// Runs every check start-up depends on, for a loaded configuration: the partner file;
// the certificate, key and CA (readable, key matches, chain verifies against the CA,
// validity dates, partners' outbound TLS settings); the spool, as the hub user (uid/gid,
// -1 = the current user); hub.conf and the partner source readable by the hub user, as a
// live reload needs them (warnings); the listeners (free to bind). now_s is the Unix time to judge
// certificates by.
std::vector<Finding> check_startup(const config::HubConfig& config, uid_t hub_uid, gid_t hub_gid,
                                   std::int64_t now_s);

}  // namespace hub::engine
