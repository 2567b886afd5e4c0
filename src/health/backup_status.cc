// backup_status.cc -- the backup status file: its format, its atomic write, its views.
//
// PURPOSE   One record of the last backups' outcome (backup_status.h), written by hubctl and
//           read by hub-metrics, hub-snmp and `hubctl status`.
// RUNS IN   hubctl (root, writes), the health readers (their own users, read).
// TRUST     The file is root's; the readers still decode it strictly and bound it
//           (backup_status_bytes_max), since a damaged file must become a reported error,
//           not a crash or a wrong "ok".
// SEE ALSO  docs/BACKUP.md "Health", docs/HEALTH.md "Backups".
#include "health/backup_status.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "base/durable_file.h"
#include "health/snapshot.h"

namespace hub::health {
namespace {

constexpr std::string_view header = "hubbox-backup-status 1";

// Printable ASCII only, cut to the bound: the value ends at the line's end, and it becomes
// a Prometheus label and an SNMP string.
std::string clean(std::string_view text) {
    std::string out(text.substr(0, backup_status_text_max));
    for (char& c : out) {
        if (c < ' ' || c > '~') {
            c = '?';
        }
    }
    return out;
}

bool parse_time(std::string_view text, std::int64_t& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && value >= 0 &&
           (text.size() == 1 || text.front() != '0');
}

// The single line of earlier builds: "ok <time> <archive>" or "failed <time> <reason>".
Result<BackupStatus, std::string> decode_legacy(std::string_view line) {
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    std::string_view state = line.substr(0, first);
    std::int64_t when = 0;
    if ((state != "ok" && state != "failed") || first == std::string_view::npos ||
        !parse_time(line.substr(first + 1, second == std::string_view::npos ? std::string_view::npos
                                                                            : second - first - 1),
                    when)) {
        return unexpected(std::string("not a backup status file (no 'hubbox-backup-status 1')"));
    }
    std::string detail = second == std::string_view::npos ? "" : clean(line.substr(second + 1));
    return state == "ok" ? record_success({}, when, detail) : record_failure({}, when, detail);
}

std::string utc(std::int64_t unix_s) {
    std::time_t when = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    gmtime_r(&when, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

}  // namespace

BackupStatus record_success(BackupStatus previous, std::int64_t now_unix_s,
                            std::string_view archive) {
    previous.failing = false;
    previous.last_success_unix_s = now_unix_s;
    previous.last_success_archive = clean(archive);
    return previous;
}

BackupStatus record_failure(BackupStatus previous, std::int64_t now_unix_s,
                            std::string_view reason) {
    previous.failing = true;
    previous.last_failure_unix_s = now_unix_s;
    previous.last_failure_reason = clean(reason.empty() ? "unknown reason" : reason);
    return previous;
}

std::string encode_backup_status(const BackupStatus& status) {
    return fmt::format(
        "{}\nstate {}\nlast_success_unix_s {}\nlast_success_archive {}\n"
        "last_failure_unix_s {}\nlast_failure_reason {}\nend\n",
        header, status.failing ? "failed" : "ok", status.last_success_unix_s,
        clean(status.last_success_archive), status.last_failure_unix_s,
        clean(status.last_failure_reason));
}

Result<BackupStatus, std::string> decode_backup_status(std::string_view text) {
    if (text.size() > backup_status_bytes_max) {
        return unexpected(fmt::format("larger than {} bytes", backup_status_bytes_max));
    }
    std::size_t line_end = text.find('\n');
    if (line_end == std::string_view::npos) {
        return unexpected(std::string("not a whole line: cut short"));
    }
    std::string_view first = text.substr(0, line_end);
    if (first != header) {
        return decode_legacy(first);
    }
    text.remove_prefix(line_end + 1);
    BackupStatus status;
    std::set<std::string, std::less<>> seen;
    bool have_state = false;
    int line_number = 1;
    // Bounded: every pass consumes one line of a text of at most backup_status_bytes_max.
    while (!text.empty()) {
        line_number++;
        line_end = text.find('\n');
        if (line_end == std::string_view::npos) {
            return unexpected(fmt::format("line {}: not ended: cut short", line_number));
        }
        std::string_view line = text.substr(0, line_end);
        text.remove_prefix(line_end + 1);
        if (line == "end") {
            if (!text.empty()) {
                return unexpected(fmt::format("line {}: text after 'end'", line_number + 1));
            }
            if (!have_state) {
                return unexpected(std::string("no 'state' line"));
            }
            return status;
        }
        std::size_t space = line.find(' ');
        std::string_view key = line.substr(0, space);
        std::string_view value =
            space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        if (key.empty() || !seen.insert(std::string(key)).second) {
            return unexpected(
                fmt::format("line {}: '{}' empty or given twice", line_number, clean(key)));
        }
        if (value.size() > backup_status_text_max ||
            std::any_of(value.begin(), value.end(), [](char c) { return c < ' ' || c > '~'; })) {
            return unexpected(
                fmt::format("line {}: the value of {} is not printable text of "
                            "at most {} bytes",
                            line_number, clean(key), backup_status_text_max));
        }
        bool ok = true;
        if (key == "state") {
            ok = value == "ok" || value == "failed";
            status.failing = value == "failed";
            have_state = true;
        } else if (key == "last_success_unix_s") {
            ok = parse_time(value, status.last_success_unix_s);
        } else if (key == "last_failure_unix_s") {
            ok = parse_time(value, status.last_failure_unix_s);
        } else if (key == "last_success_archive") {
            status.last_success_archive = std::string(value);
        } else if (key == "last_failure_reason") {
            status.last_failure_reason = std::string(value);
        }  // Other keys: a newer writer's; skipped.
        if (!ok) {
            return unexpected(
                fmt::format("line {}: {} '{}' is not valid", line_number, key, clean(value)));
        }
    }
    return unexpected(std::string("no 'end' line: cut short"));
}

Result<BackupStatusFile, std::string> read_backup_status(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return BackupStatusFile{};
        }
        return unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
    }
    std::string text(backup_status_bytes_max + 1, '\0');
    std::size_t have = 0;
    // Bounded: at most backup_status_bytes_max + 1 bytes, then refused.
    while (have < text.size()) {
        ssize_t got = ::read(fd, text.data() + have, text.size() - have);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            int error = errno;
            ::close(fd);
            return unexpected(fmt::format("{}: {}", path, std::strerror(error)));
        }
        if (got == 0) {
            break;
        }
        have += static_cast<std::size_t>(got);
    }
    ::close(fd);
    text.resize(have);
    auto status = decode_backup_status(text);
    if (!status) {
        return unexpected(fmt::format("{}: {}", path, status.error()));
    }
    return BackupStatusFile{true, std::move(*status)};
}

Result<void, std::string> write_backup_status(const std::string& path, const BackupStatus& status) {
    base::FileReplacement how;
    how.mode = 0644;  // whatever the umask: the health readers are other users
    return base::replace_file(path, encode_backup_status(status), how);
}

std::string backup_status_to_prometheus(const Result<BackupStatusFile, std::string>& read) {
    std::string out =
        "# HELP hubbox_backup_status_readable Whether the backup status file could be read "
        "(absent counts as readable: no backup has run).\n"
        "# TYPE hubbox_backup_status_readable gauge\n";
    if (!read) {
        return out + "hubbox_backup_status_readable 0\n";
    }
    const BackupStatus& status = read->status;
    out += "hubbox_backup_status_readable 1\n";
    out +=
        "# HELP hubbox_backup_failing Whether the latest backup attempt failed.\n"
        "# TYPE hubbox_backup_failing gauge\n";
    out += fmt::format("hubbox_backup_failing {}\n", status.failing ? 1 : 0);
    if (status.last_success_unix_s != 0) {
        out += fmt::format(
            "# HELP hubbox_backup_last_success_timestamp_seconds When the last backup "
            "succeeded.\n"
            "# TYPE hubbox_backup_last_success_timestamp_seconds gauge\n"
            "hubbox_backup_last_success_timestamp_seconds{{archive=\"{}\"}} {}\n",
            prometheus_label_value(
                std::filesystem::path(status.last_success_archive).filename().string()),
            status.last_success_unix_s);
    }
    if (status.last_failure_unix_s != 0) {
        out += fmt::format(
            "# HELP hubbox_backup_last_failure_timestamp_seconds When the last backup failed, "
            "and why.\n"
            "# TYPE hubbox_backup_last_failure_timestamp_seconds gauge\n"
            "hubbox_backup_last_failure_timestamp_seconds{{reason=\"{}\"}} {}\n",
            prometheus_label_value(status.last_failure_reason), status.last_failure_unix_s);
    }
    return out;
}

std::string backup_status_line(const BackupStatusFile& file) {
    if (!file.exists) {
        return "backup: no backup has run yet\n";
    }
    const BackupStatus& status = file.status;
    std::string line;
    if (status.failing) {
        line = fmt::format("backup: FAILED at {}: {}", utc(status.last_failure_unix_s),
                           status.last_failure_reason);
        line += status.last_success_unix_s != 0
                    ? fmt::format("; last good {}\n", utc(status.last_success_unix_s))
                    : "; no good backup yet\n";
        return line;
    }
    return fmt::format("backup: ok at {}: {}\n", utc(status.last_success_unix_s),
                       status.last_success_archive);
}

}  // namespace hub::health
