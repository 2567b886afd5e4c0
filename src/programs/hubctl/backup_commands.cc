// backup_commands.cc -- hubctl backup: make, check, copy away and restore whole-box
// archives (docs/BACKUP.md).
//
// PURPOSE   hubctl --config F backup create --to DIR|sftp://user@host[:port]/path
//                      [--include-queue] [--passphrase-file F | --public-key F]
//           hubctl --config F backup run          (the timer's: [backup] in hub.conf;
//                                                  its outcome goes to backup.status_file)
//           hubctl --config F backup schedule [--dir D] [--keep N] [--interval-hours H]
//           hubctl backup verify FILE [--passphrase-file F | --secret-key F]
//           hubctl --config F backup restore FILE [--only config|pki|network|queue]...
//           hubctl --config F backup restore --request FILE   (hub-restore.service: the
//                      archive, the parts and the passphrase from a root 0600 file, which
//                      is deleted as soon as it is read)
//           hubctl backup extract FILE --to DIR   (members as plain files; any machine)
//           hubctl backup keygen --out FILE       (FILE secret, FILE.pub public)
//           A passphrase not given by file is read from standard input (twice on a
//           terminal when creating).
// RUNS IN   root's shell or hub-backup.service (root with CAP_DAC_READ_SEARCH only, for
//           create/run): it reads hub-ca's 0700 directory and the spool; restore writes
//           them back with their owners. It never talks to hub-ca for the CA key.
// TRUST     An archive to verify, restore or extract may come from anywhere: nothing of it
//           is used before its chunk authenticated, paths are held to member_path_valid, and
//           nothing is put in place before the whole archive was read and checked once.
// LIMITS    backup/limits.h. Exit 0 ok, 1 refused or failed (nothing changed unless the
//           message says so), 2 usage.
// SEE ALSO  backup/archive.h, backup/restore.h, backup/sealed_stream.h, docs/BACKUP.md.
#include "programs/hubctl/backup_commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "backup/archive.h"
#include "backup/limits.h"
#include "backup/restore.h"
#include "backup/sealed_stream.h"
#include "base/durable_file.h"
#include "base/errno_text.h"
#include "config/hub_conf_edit.h"
#include "config/hub_config.h"
#include "health/backup_status.h"
#include "programs/hubctl/command_support.h"
#include "programs/hubctl/spool_admin.h"

extern char** environ;

namespace hub::hubctl {

struct BackupCommands::Settings {
    std::string to;
    std::string file;
    std::string passphrase_file;
    std::string public_key_file;
    std::string secret_key_file;
    std::string out;
    std::string ssh_key;
    std::string known_hosts;
    std::vector<std::string> only;
    std::string request;  // restore --request: the console's hand-over (take_restore_request)
    // A passphrase from a restore request; never from the command line or the environment.
    std::optional<std::string> passphrase;
    bool include_queue = false;
    bool if_due = false;
    std::uint32_t keep = 0;            // schedule: 0 = not given (the range starts at 1)
    std::uint32_t interval_hours = 0;  // schedule: 0 = not given
    std::string dir;                   // schedule
    CLI::App* create = nullptr;
    CLI::App* schedule = nullptr;
    CLI::App* run = nullptr;
    CLI::App* verify = nullptr;
    CLI::App* restore = nullptr;
    CLI::App* extract = nullptr;
    CLI::App* keygen = nullptr;
};

namespace {

constexpr std::string_view archive_prefix = "hubbox-";
constexpr std::string_view archive_suffix = ".hbk";
// Where the appliance keeps the backup status file: the one place of the data partition
// hub-metrics and hub-snmp may read (rootfs tmpfiles.d, their units).
constexpr std::string_view appliance_status_file = "/var/lib/hubbox/health/backup-status";

// --- Keys and passphrases ---------------------------------------------------------------

Result<std::string, std::string> read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return unexpected(fmt::format("{}: cannot read", path));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > backup::passphrase_bytes_max + 2) {
        return unexpected(fmt::format("{}: too long for a passphrase or key", path));
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    return text;
}

// A key file: 64 hex digits on one line.
template <typename Key>
Result<Key, std::string> read_key_file(const std::string& path) {
    auto text = read_small_file(path);
    if (!text) {
        return unexpected(text.error());
    }
    Key key{};
    std::size_t length = 0;
    if (text->size() != key.size() * 2 ||
        sodium_hex2bin(key.data(), key.size(), text->data(), text->size(), nullptr, &length,
                       nullptr) != 0 ||
        length != key.size()) {
        return unexpected(fmt::format("{}: not a key (64 hex digits; hubctl backup keygen)", path));
    }
    return key;
}

std::optional<std::string> passphrase_from(const std::string& file, bool twice, int& code) {
    if (!file.empty()) {
        auto text = read_small_file(file);
        if (!text) {
            code = fail(exit_runtime, "{}", text.error());
            return std::nullopt;
        }
        return *text;
    }
    auto first = read_secret("backup passphrase: ");
    if (!first) {
        code = fail(exit_runtime, "no passphrase on standard input");
        return std::nullopt;
    }
    if (twice && ::isatty(STDIN_FILENO) == 1) {
        auto again = read_secret("again: ");
        if (!again || *again != *first) {
            code = fail(exit_runtime, "the two passphrases differ; nothing was written");
            return std::nullopt;
        }
    }
    return first;
}

std::optional<backup::OpenKey> open_key(const BackupCommands::Settings& s, int& code) {
    backup::OpenKey key;
    if (!s.secret_key_file.empty()) {
        auto secret = read_key_file<backup::SecretKey>(s.secret_key_file);
        if (!secret) {
            code = fail(exit_runtime, "{}", secret.error());
            return std::nullopt;
        }
        key.secret_key = *secret;
        return key;
    }
    if (s.passphrase) {
        key.passphrase = *s.passphrase;
        return key;
    }
    auto passphrase = passphrase_from(s.passphrase_file, false, code);
    if (!passphrase) {
        return std::nullopt;
    }
    key.passphrase = std::move(*passphrase);
    return key;
}

// --- Running other programs ---------------------------------------------------------------

// Runs argv (no shell) and waits; its output goes to ours, or its standard output to the
// file stdout_path when one is given. The exit status, or -1.
int run_program(const std::vector<std::string>& argv, const std::string& stdout_path = "") {
    std::vector<char*> pointers;
    for (const std::string& arg : argv) {
        pointers.push_back(const_cast<char*>(arg.c_str()));
    }
    pointers.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!stdout_path.empty()) {
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    pid_t pid = 0;
    int spawned = posix_spawnp(&pid, pointers[0], &actions, nullptr, pointers.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        return -1;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// --- sftp ---------------------------------------------------------------------------------

struct SftpTarget {
    std::string user;
    std::string host;
    std::string port = "22";
    std::string path;
};

std::optional<SftpTarget> parse_sftp(std::string_view url) {
    constexpr std::string_view scheme = "sftp://";
    if (!url.starts_with(scheme)) {
        return std::nullopt;
    }
    url.remove_prefix(scheme.size());
    std::size_t at = url.find('@');
    std::size_t slash = url.find('/');
    if (at == 0 || at == std::string_view::npos || slash == std::string_view::npos ||
        slash < at + 2) {
        return std::nullopt;
    }
    SftpTarget target;
    target.user = std::string(url.substr(0, at));
    std::string_view host = url.substr(at + 1, slash - at - 1);
    std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
        target.port = std::string(host.substr(colon + 1));
        host = host.substr(0, colon);
    }
    target.host = std::string(host);
    target.path = std::string(url.substr(slash));
    bool plain = std::all_of(url.begin(), url.end(), [](char c) {
        return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '\'';
    });
    if (!plain || target.user.starts_with('-') || target.host.empty() ||
        target.host.starts_with('-') || target.port.empty() ||
        !std::all_of(target.port.begin(), target.port.end(), ::isdigit)) {
        return std::nullopt;
    }
    return target;
}

// Runs one sftp batch against target; what it printed goes to listing_path when given.
// The host key must be the one in known_hosts (StrictHostKeyChecking=yes, no other file
// consulted); no password is ever asked (BatchMode).
int run_sftp_batch(const SftpTarget& target, const std::string& batch_path,
                   const std::string& ssh_key, const std::string& known_hosts,
                   const std::string& listing_path = "") {
    // No -q: it would also silence ssh's own "Host key verification failed".
    std::vector<std::string> argv = {"sftp", "-b", batch_path, "-P", target.port, "-i", ssh_key};
    for (std::string option :
         {std::string("BatchMode=yes"), std::string("LogLevel=ERROR"),
          std::string("StrictHostKeyChecking=yes"), "UserKnownHostsFile=" + known_hosts,
          std::string("GlobalKnownHostsFile=/dev/null"), std::string("IdentitiesOnly=yes"),
          std::string("ConnectTimeout=30"), std::string("ServerAliveInterval=15")}) {
        argv.push_back("-o");
        argv.push_back(std::move(option));
    }
    argv.push_back("--");
    argv.push_back(target.user + "@" + target.host);
    return run_program(argv, listing_path);
}

Result<void, std::string> write_batch(const std::string& path, const std::string& commands) {
    std::ofstream batch(path, std::ios::trunc);
    batch << commands;
    batch.close();
    if (!batch) {
        return unexpected(fmt::format("{}: cannot write", path));
    }
    return {};
}

// Copies local_path to the remote directory with OpenSSH's sftp: uploaded under a .part
// name and renamed, so the remote never shows a half archive under the real name.
Result<void, std::string> sftp_upload(const std::string& local_path, const std::string& url,
                                      const std::string& ssh_key, const std::string& known_hosts) {
    auto target = parse_sftp(url);
    if (!target) {
        return unexpected(fmt::format("{}: not sftp://user@host[:port]/path", url));
    }
    if (ssh_key.empty() || known_hosts.empty()) {
        return unexpected(std::string(
            "an sftp copy needs the key to log in with and the pinned host key (--ssh-key and "
            "--known-hosts, or backup.ssh_key and backup.known_hosts)"));
    }
    std::string name = std::filesystem::path(local_path).filename().string();
    std::string remote = target->path;
    if (!remote.ends_with('/')) {
        remote += '/';
    }
    std::string batch_path = local_path + ".sftp-batch";
    auto written = write_batch(
        batch_path, fmt::format("put \"{}\" \"{}{}.part\"\nrename \"{}{}.part\" \"{}{}\"\n",
                                local_path, remote, name, remote, name, remote, name));
    if (!written) {
        return written;
    }
    int status = run_sftp_batch(*target, batch_path, ssh_key, known_hosts);
    ::unlink(batch_path.c_str());
    if (status != 0) {
        return unexpected(
            fmt::format("sftp to {} failed (exit {}): see its message above; a changed host key is "
                        "refused until backup.known_hosts is updated",
                        url, status));
    }
    return {};
}

// The order of this box's archive names, oldest first: "hubbox-<host>-<UTC stamp>[-N].hbk"
// by stamp, then N (absent = 1). The stamp is fixed-width, so it compares as text; a bare
// name comparison would put "...Z-2.hbk" before "...Z.hbk".
struct ArchiveOrder {
    std::string stamp;
    unsigned n = 1;
    std::string name;
    auto operator<=>(const ArchiveOrder&) const = default;
};

std::optional<ArchiveOrder> archive_order(std::string_view name, std::string_view prefix) {
    constexpr std::size_t stamp_size = 16;  // 20261207T092828Z
    if (!name.starts_with(prefix) || !name.ends_with(archive_suffix) ||
        name.size() < prefix.size() + stamp_size + archive_suffix.size()) {
        return std::nullopt;
    }
    std::string_view rest = name.substr(prefix.size());
    rest.remove_suffix(archive_suffix.size());
    ArchiveOrder order{std::string(rest.substr(0, stamp_size)), 1, std::string(name)};
    rest.remove_prefix(stamp_size);
    if (!rest.empty()) {
        if (rest.front() != '-' || rest.size() > 4 ||
            !std::all_of(rest.begin() + 1, rest.end(), ::isdigit) || rest.size() == 1) {
            return std::nullopt;
        }
        order.n = static_cast<unsigned>(std::stoul(std::string(rest.substr(1))));
    }
    return order;
}

// Retention at the remote: this box's archives there ("hubbox-<hostname>-..."; another
// box's in a shared directory are never touched) beyond keep are removed, oldest first.
// Two sftp sessions: a listing, then the removals.
Result<void, std::string> sftp_prune(const std::string& scratch_dir, const std::string& url,
                                     const std::string& hostname, std::uint32_t keep,
                                     const std::string& ssh_key, const std::string& known_hosts) {
    auto target = parse_sftp(url);
    if (!target) {
        return unexpected(fmt::format("{}: not sftp://user@host[:port]/path", url));
    }
    std::string remote = target->path;
    if (!remote.ends_with('/')) {
        remote += '/';
    }
    std::string prefix = fmt::format("{}{}-", archive_prefix, hostname);
    std::string batch_path = scratch_dir + "/prune.sftp-batch";
    std::string listing_path = scratch_dir + "/prune.listing";
    auto written = write_batch(batch_path, fmt::format("ls -1 \"{}\"\n", remote));
    if (!written) {
        return written;
    }
    int status = run_sftp_batch(*target, batch_path, ssh_key, known_hosts, listing_path);
    std::vector<ArchiveOrder> archives;
    {
        std::ifstream listing(listing_path);
        // Bounded by what sftp printed: one line per remote file.
        for (std::string line; std::getline(listing, line);) {
            if (line.starts_with("sftp>")) {
                continue;
            }
            std::string name = std::filesystem::path(line).filename().string();
            if (auto order = archive_order(name, prefix)) {
                archives.push_back(std::move(*order));
            }
        }
    }
    ::unlink(listing_path.c_str());
    if (status != 0) {
        ::unlink(batch_path.c_str());
        return unexpected(
            fmt::format("listing {} for retention failed (sftp exit {})", url, status));
    }
    std::sort(archives.begin(), archives.end());
    if (archives.size() <= keep) {
        ::unlink(batch_path.c_str());
        return {};
    }
    std::string commands;
    for (std::size_t i = 0; i + keep < archives.size(); i++) {
        commands += fmt::format("rm \"{}{}\"\n", remote, archives[i].name);
    }
    written = write_batch(batch_path, commands);
    if (!written) {
        return written;
    }
    status = run_sftp_batch(*target, batch_path, ssh_key, known_hosts);
    ::unlink(batch_path.c_str());
    if (status != 0) {
        return unexpected(
            fmt::format("removing old archives at {} failed (sftp exit {}); "
                        "backup.keep = {} is not kept there",
                        url, status, keep));
    }
    for (std::size_t i = 0; i + keep < archives.size(); i++) {
        fmt::print("retention: removed {}{} at the remote\n", remote, archives[i].name);
    }
    return {};
}

// --- Create ---------------------------------------------------------------------------------

std::string utc_stamp(std::time_t now) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
    return text;
}

struct Made {
    std::string path;
    backup::CreateReport report;
};

// Writes a new archive into directory (O_EXCL under a .part name, fsync, rename, directory
// fsync) and returns its path.
Result<Made, std::string> make_archive(const config::HubConfig& config,
                                       const std::string& config_path, const std::string& directory,
                                       bool include_queue, backup::StreamSealer sealer) {
    std::time_t now = std::time(nullptr);
    std::string base =
        fmt::format("{}/{}{}-{}", directory, archive_prefix, config.hostname, utc_stamp(now));
    std::string path;
    std::string part_path;
    int fd = -1;
    for (int n = 1; n <= 100 && fd < 0; n++) {
        path = n == 1 ? base + std::string(archive_suffix)
                      : fmt::format("{}-{}{}", base, n, archive_suffix);
        part_path = path + ".part";
        if (::access(path.c_str(), F_OK) == 0) {
            continue;
        }
        fd = ::open(part_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            return unexpected(fmt::format("{}: {}", part_path, base::errno_text(errno)));
        }
    }
    if (fd < 0) {
        return unexpected(fmt::format("{}: too many archives this second", directory));
    }
    backup::CreateOptions options;
    options.hub_conf_path = config_path;
    options.include_queue = include_queue;
    options.now_unix_s = now;
    auto report = backup::create_backup(config, options, std::move(sealer), fd);
    bool synced = report && ::fsync(fd) == 0;
    int sync_errno = errno;
    ::close(fd);
    if (!report || !synced) {
        ::unlink(part_path.c_str());
        return unexpected(report
                              ? fmt::format("fsync {}: {}", part_path, base::errno_text(sync_errno))
                              : report.error());
    }
    if (auto moved = base::rename_durably(part_path, path); !moved) {
        return unexpected(moved.error());
    }
    return Made{path, std::move(*report)};
}

Result<backup::StreamSealer, std::string> make_sealer(const std::string& passphrase_file,
                                                      const std::string& public_key_file,
                                                      int& code) {
    if (!public_key_file.empty()) {
        auto key = read_key_file<backup::PublicKey>(public_key_file);
        if (!key) {
            return unexpected(key.error());
        }
        return backup::StreamSealer::for_public_key(*key);
    }
    auto passphrase = passphrase_from(passphrase_file, true, code);
    if (!passphrase) {
        return unexpected(std::string());  // Already said.
    }
    auto sealer = backup::StreamSealer::for_passphrase(
        *passphrase, {backup::kdf_opslimit_default, backup::kdf_memlimit_kib_default});
    sodium_memzero(passphrase->data(), passphrase->size());
    return sealer;
}

void print_made(const Made& made) {
    const backup::Manifest& manifest = made.report.manifest;
    std::string parts;
    for (backup::Part part : manifest.parts) {
        parts += (parts.empty() ? "" : " ") + std::string(backup::part_name(part));
    }
    fmt::print("backup: {} ({} bytes, {} members; parts: {})\n", made.path,
               made.report.archive_bytes, manifest.members.size(), parts);
    if (std::find(manifest.parts.begin(), manifest.parts.end(), backup::Part::queue) !=
        manifest.parts.end()) {
        fmt::print("queue: {} segments, {} bytes\n", made.report.queue_segments,
                   made.report.queue_bytes);
    }
}

int create(const BackupCommands::Settings& s, const std::string& config_path) {
    if (config_path.empty()) {
        return fail(exit_usage, "backup create needs --config FILE (the box to back up)");
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return fail(exit_runtime, "{}", config.error());
    }
    int code = exit_runtime;
    auto sealer = make_sealer(s.passphrase_file, s.public_key_file, code);
    if (!sealer) {
        return sealer.error().empty() ? code : fail(exit_runtime, "{}", sealer.error());
    }
    bool remote = s.to.starts_with("sftp://");
    std::string directory = s.to;
    std::string scratch;
    if (remote) {
        // The archive is made in a private scratch directory, copied, then removed.
        char pattern[] = "/tmp/hubbox-backup.XXXXXX";
        const char* made = ::mkdtemp(pattern);
        if (made == nullptr) {
            return fail(exit_runtime, "cannot make a scratch directory: {}",
                        base::errno_text(errno));
        }
        scratch = made;
        directory = scratch;
    }
    auto made = make_archive(*config, config_path, directory, s.include_queue, std::move(*sealer));
    if (!made) {
        if (!scratch.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(scratch, ignored);
        }
        return fail(exit_runtime, "backup failed: {}", made.error());
    }
    print_made(*made);
    if (remote) {
        auto sent =
            sftp_upload(made->path, s.to, s.ssh_key.empty() ? config->backup_ssh_key : s.ssh_key,
                        s.known_hosts.empty() ? config->backup_known_hosts : s.known_hosts);
        std::error_code ignored;
        std::filesystem::remove_all(scratch, ignored);
        if (!sent) {
            return fail(exit_runtime, "{}", sent.error());
        }
        fmt::print("copied to {}\n", s.to);
    }
    return exit_ok;
}

// --- The scheduled run ----------------------------------------------------------------------

std::string status_path(const config::HubConfig& config) {
    if (!config.backup_status_file.empty()) {
        return config.backup_status_file;
    }
    return config.backup_dir.empty() ? "" : config.backup_dir + "/status";
}

// Records this attempt's outcome in the status file the health readers show
// (health/backup_status.h), keeping the other outcome's last time. False (and said) when the
// file cannot be written: the health side would then show a stale state.
bool write_status(const config::HubConfig& config, bool ok, std::string_view detail) {
    std::string path = status_path(config);
    if (path.empty()) {
        return true;
    }
    auto previous = health::read_backup_status(path);
    health::BackupStatus status = previous ? previous->status : health::BackupStatus{};
    std::int64_t now = std::time(nullptr);
    status = ok ? health::record_success(std::move(status), now, detail)
                : health::record_failure(std::move(status), now, detail);
    auto written = health::write_backup_status(path, status);
    if (!written) {
        fmt::print(stderr, "hubctl: the backup status file was not written: {}\n", written.error());
        return false;
    }
    return true;
}

// Deletes the oldest archives in directory beyond keep: oldest by modification time (two
// archives made in the same second differ only by a "-2" suffix, which sorts first by
// name), then by name.
void apply_retention(const std::string& directory, std::uint32_t keep) {
    std::vector<std::pair<std::filesystem::file_time_type, std::string>> archives;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        std::string name = entry.path().filename().string();
        if (name.starts_with(archive_prefix) && name.ends_with(archive_suffix)) {
            archives.emplace_back(entry.last_write_time(error), entry.path().string());
        }
    }
    std::sort(archives.begin(), archives.end());
    for (std::size_t i = 0; i + keep < archives.size(); i++) {
        if (::unlink(archives[i].second.c_str()) == 0) {
            fmt::print("retention: removed {}\n", archives[i].second);
        }
    }
}

// When the last backup succeeded, from the status file; 0 if never. A failure since does
// not matter here: --if-due retries a failed run at once anyway.
std::time_t last_good_backup(const config::HubConfig& config, bool& failing) {
    auto read = health::read_backup_status(status_path(config));
    failing = read && read->status.failing;
    return read ? static_cast<std::time_t>(read->status.last_success_unix_s) : 0;
}

int scheduled_run(const std::string& config_path, bool if_due) {
    if (config_path.empty()) {
        return fail(exit_usage, "backup run needs --config FILE");
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return fail(exit_runtime, "{}", config.error());
    }
    if (config->backup_dir.empty()) {
        if (if_due) {
            fmt::print("no backup.dir in {}: no scheduled backups on this box\n", config_path);
            return exit_ok;
        }
        return fail(exit_runtime, "{}: no backup.dir: no scheduled backups on this box",
                    config_path);
    }
    if (if_due) {
        // The timer wakes hourly; a few minutes of slack so that its random delay never
        // pushes a daily backup to the next day. A failed last run is retried at once.
        bool failing = false;
        std::time_t last = last_good_backup(*config, failing);
        std::time_t interval_s = static_cast<std::time_t>(config->backup_interval_hours) * 3600;
        if (!failing && last != 0 && std::time(nullptr) - last < interval_s - 15 * 60) {
            fmt::print("not due: the last backup was {} minutes ago (backup.interval_hours = {})\n",
                       (std::time(nullptr) - last) / 60, config->backup_interval_hours);
            return exit_ok;
        }
    }
    auto failed = [&](const std::string& why) {
        (void)write_status(*config, false, why);
        return fail(exit_runtime, "scheduled backup failed: {}", why);
    };
    if (config->backup_passphrase_file.empty() == config->backup_public_key.empty()) {
        return failed("set exactly one of backup.passphrase_file and backup.public_key");
    }
    int code = exit_runtime;
    auto sealer = make_sealer(config->backup_passphrase_file, config->backup_public_key, code);
    if (!sealer) {
        return failed(sealer.error().empty() ? "no passphrase" : sealer.error());
    }
    auto made = make_archive(*config, config_path, config->backup_dir, config->backup_include_queue,
                             std::move(*sealer));
    if (!made) {
        return failed(made.error());
    }
    print_made(*made);
    // Local retention first: the new archive is safe here whatever the remote does.
    apply_retention(config->backup_dir, config->backup_keep);
    if (!config->backup_remote.empty()) {
        auto sent = sftp_upload(made->path, config->backup_remote, config->backup_ssh_key,
                                config->backup_known_hosts);
        if (!sent) {
            return failed(sent.error());
        }
        auto pruned =
            sftp_prune(config->backup_dir, config->backup_remote, config->hostname,
                       config->backup_keep, config->backup_ssh_key, config->backup_known_hosts);
        if (!pruned) {
            return failed(pruned.error());
        }
    }
    if (!write_status(*config, true, made->path)) {
        return exit_runtime;
    }
    return exit_ok;
}

// --- The schedule -------------------------------------------------------------------------

// Shows, and with options sets, [backup] dir, keep and interval_hours in hub.conf (the timer
// itself is fixed: it wakes hourly and `run --if-due` reads these).
int schedule(const BackupCommands::Settings& s, const std::string& config_path) {
    if (config_path.empty()) {
        return fail(exit_usage, "backup schedule needs --config FILE");
    }
    std::vector<config::KeyValue> values;
    if (!s.dir.empty()) {
        std::string literal;
        if (!s.dir.starts_with('/') || !config::toml_string(s.dir, literal)) {
            return fail(exit_usage, "--dir {}: give an absolute path", s.dir);
        }
        values.emplace_back("dir", literal);
    }
    if (s.keep != 0) {
        values.emplace_back("keep", std::to_string(s.keep));
    }
    if (s.interval_hours != 0) {
        values.emplace_back("interval_hours", std::to_string(s.interval_hours));
    }
    auto before = config::load_hub_config(config_path);
    if (!before) {
        return fail(exit_runtime, "{}", before.error());
    }
    // On the appliance the health readers see only /var/lib/hubbox/health (backup.dir is
    // root 0700), so a box that schedules backups there gets its status file there.
    if (!values.empty() && before->backup_status_file.empty() &&
        std::filesystem::is_directory(std::filesystem::path(appliance_status_file).parent_path())) {
        std::string literal;
        (void)config::toml_string(appliance_status_file, literal);
        values.emplace_back("status_file", literal);
    }
    if (!values.empty()) {
        auto edited = config::edit_hub_conf(config_path, "backup", values);
        if (!edited) {
            return fail(exit_runtime, "{}", edited.error());
        }
        fmt::print("changed [backup] in {}; hub-backup.timer uses it at its next wake-up\n",
                   config_path);
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return fail(exit_runtime, "{}", config.error());
    }
    if (config->backup_dir.empty()) {
        fmt::print("schedule: off (no backup.dir)\n");
    } else {
        fmt::print("schedule: every {} hours into {}, keeping {}\n", config->backup_interval_hours,
                   config->backup_dir, config->backup_keep);
    }
    if (!config->backup_remote.empty()) {
        fmt::print("remote copy: {} (keeping {} of this box's there)\n", config->backup_remote,
                   config->backup_keep);
    }
    if (!status_path(*config).empty()) {
        fmt::print("status file: {}\n", status_path(*config));
    }
    bool failed = false;
    std::string line = backup_status_line(config_path, failed);
    std::fwrite(line.data(), 1, line.size(), stdout);
    return exit_ok;
}

// --- Verify, extract ------------------------------------------------------------------------

int open_archive(const std::string& path, int& fd) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fail(exit_runtime, "{}: {}", path, base::errno_text(errno));
    }
    return exit_ok;
}

void print_manifest(const backup::Manifest& manifest) {
    std::string parts;
    for (backup::Part part : manifest.parts) {
        parts += (parts.empty() ? "" : " ") + std::string(backup::part_name(part));
    }
    std::time_t created = manifest.created_unix_s;
    std::tm tm{};
    gmtime_r(&created, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fmt::print(
        "host: {}\ncreated: {}\nhubbox version: {}\ndirectory schema: {}\nparts: {}\n"
        "members: {}\n",
        manifest.host, when, manifest.hubbox_version, manifest.directory_schema, parts,
        manifest.members.size());
}

int verify(const BackupCommands::Settings& s) {
    int code = exit_runtime;
    auto key = open_key(s, code);
    if (!key) {
        return code;
    }
    int fd = -1;
    if (int opened = open_archive(s.file, fd); opened != exit_ok) {
        return opened;
    }
    auto manifest = backup::read_backup(fd, *key, nullptr);
    ::close(fd);
    if (!manifest) {
        return fail(exit_runtime, "{}: {}", s.file, manifest.error());
    }
    print_manifest(*manifest);
    fmt::print("ok: every member authenticated and matches its SHA-256\n");
    return exit_ok;
}

int extract(const BackupCommands::Settings& s) {
    if (s.to.empty()) {
        return fail(exit_usage, "backup extract needs --to DIR (a new directory)");
    }
    int code = exit_runtime;
    auto key = open_key(s, code);
    if (!key) {
        return code;
    }
    int fd = -1;
    if (int opened = open_archive(s.file, fd); opened != exit_ok) {
        return opened;
    }
    if (::mkdir(s.to.c_str(), 0700) != 0) {
        ::close(fd);
        return fail(exit_runtime, "{}: {} (give a directory that does not exist yet)", s.to,
                    base::errno_text(errno));
    }
    int out = -1;
    std::string current;
    backup::MemberSink sink{
        [&](const backup::MemberInfo& info) -> std::string {
            std::string path = s.to + "/" + info.path;
            if (info.directory) {
                std::error_code error;
                std::filesystem::create_directories(path, error);
                return error ? fmt::format("{}: {}", path, error.message()) : "";
            }
            std::error_code error;
            std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
            out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            current = path;
            return out < 0 ? fmt::format("{}: {}", path, base::errno_text(errno)) : "";
        },
        [&](std::string_view bytes) -> std::string {
            while (!bytes.empty()) {
                ssize_t n = ::write(out, bytes.data(), bytes.size());
                if (n <= 0 && errno != EINTR) {
                    return fmt::format("{}: {}", current, base::errno_text(errno));
                }
                bytes.remove_prefix(n > 0 ? static_cast<std::size_t>(n) : 0);
            }
            return "";
        },
        [&]() -> std::string {
            if (out >= 0) {
                ::close(out);
                out = -1;
            }
            return "";
        },
    };
    auto manifest = backup::read_backup(fd, *key, &sink);
    ::close(fd);
    if (out >= 0) {
        ::close(out);
    }
    if (!manifest) {
        std::error_code ignored;
        std::filesystem::remove_all(s.to, ignored);
        return fail(exit_runtime, "{}: {}; nothing was extracted", s.file, manifest.error());
    }
    print_manifest(*manifest);
    fmt::print("extracted to {} (check: cd {} && sha256sum -c SHA256SUMS)\n", s.to, s.to);
    return exit_ok;
}

int keygen(const BackupCommands::Settings& s) {
    if (s.out.empty()) {
        return fail(exit_usage, "backup keygen needs --out FILE");
    }
    backup::PublicKey public_key{};
    backup::SecretKey secret_key{};
    backup::make_key_pair(public_key, secret_key);
    auto hex = [](const auto& key) {
        std::string text(key.size() * 2 + 1, '\0');
        sodium_bin2hex(text.data(), text.size(), key.data(), key.size());
        text.pop_back();
        return text + "\n";
    };
    int fd = ::open(s.out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(exit_runtime, "{}: {}", s.out, base::errno_text(errno));
    }
    std::string secret_text = hex(secret_key);
    bool ok = ::write(fd, secret_text.data(), secret_text.size()) ==
              static_cast<ssize_t>(secret_text.size());
    ::close(fd);
    sodium_memzero(secret_text.data(), secret_text.size());
    sodium_memzero(secret_key.data(), secret_key.size());
    std::ofstream pub(s.out + ".pub", std::ios::trunc);
    pub << hex(public_key);
    if (!ok || !pub) {
        return fail(exit_runtime, "{}: cannot write the key pair", s.out);
    }
    fmt::print("secret key: {} (keep it off the box)\npublic key: {}.pub (backup.public_key)\n",
               s.out, s.out);
    return exit_ok;
}

// --- Restore --------------------------------------------------------------------------------

bool socket_answers(const std::string& path) {
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
        return false;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size());
    bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return answers;
}

bool under_systemd() {
    return ::access("/run/systemd/system", F_OK) == 0;
}

constexpr const char* hub_units[] = {"hub-enroll.service", "hubd.service", "hub-ca.service"};

// A restore request: key=value lines (archive, only (repeatable), and passphrase or
// passphrase_file), the passphrase as printable ASCII, so one line each.
constexpr std::size_t restore_request_bytes_max = 4096 + backup::passphrase_bytes_max;

// The console's hand-over to hub-restore.service (docs/BACKUP.md, "Restore from the
// console"): hub-console-admin writes the request as root 0600 in a root 0700 directory
// under /run and starts the unit, whose hubctl takes it here. The file is deleted as soon as
// it is read, whatever it holds, so the passphrase lives on only in this process's memory;
// one that is not root's own, or that others may read, is refused (someone else wrote it).
int take_restore_request(BackupCommands::Settings& s) {
    int fd = ::open(s.request.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return fail(exit_runtime, "restore request {}: {}; nothing was changed", s.request,
                    base::errno_text(errno));
    }
    struct stat facts {};
    std::string text;
    std::string why;
    if (::fstat(fd, &facts) != 0) {
        why = base::errno_text(errno);
    } else if (!S_ISREG(facts.st_mode) || facts.st_uid != ::geteuid() ||
               (facts.st_mode & 077) != 0) {
        why = "not a regular file of this user's with mode 0600";
    } else if (facts.st_size < 0 ||
               static_cast<std::uint64_t>(facts.st_size) > restore_request_bytes_max) {
        why = fmt::format("longer than {} bytes", restore_request_bytes_max);
    } else {
        text.resize(static_cast<std::size_t>(facts.st_size));
        std::size_t got = 0;
        // Bounded by the file's size, checked above.
        while (got < text.size()) {
            ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                why = n < 0 ? base::errno_text(errno) : "shorter than its size";
                break;
            }
            got += static_cast<std::size_t>(n);
        }
    }
    ::close(fd);
    ::unlink(s.request.c_str());
    std::size_t start = 0;
    // Bounded by the request's size.
    while (why.empty() && start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string_view line(text.data() + start, end - start);
        start = end + 1;
        std::size_t equals = line.find('=');
        std::string_view key = line.substr(0, equals);
        std::string_view value = equals == std::string_view::npos ? "" : line.substr(equals + 1);
        if (equals == std::string_view::npos) {
            why = "a line without '='";
        } else if (key == "archive" && s.file.empty() && value.starts_with('/')) {
            s.file = value;
        } else if (key == "only") {
            s.only.emplace_back(value);
        } else if (key == "passphrase" && !s.passphrase && s.passphrase_file.empty()) {
            s.passphrase = std::string(value);
        } else if (key == "passphrase_file" && !s.passphrase && s.passphrase_file.empty() &&
                   value.starts_with('/')) {
            s.passphrase_file = value;
        } else {
            why = fmt::format(
                "\"{}\" is not expected here (archive=/PATH once, only=PART, "
                "passphrase= or passphrase_file=/PATH once)",
                key);
        }
    }
    sodium_memzero(text.data(), text.size());
    if (why.empty() && s.file.empty()) {
        why = "no archive=/PATH";
    }
    if (why.empty() && !s.passphrase && s.passphrase_file.empty()) {
        why = "no passphrase= or passphrase_file=";
    }
    if (!why.empty()) {
        return fail(exit_runtime, "restore request {}: {}; nothing was changed", s.request, why);
    }
    return exit_ok;
}

int restore(BackupCommands::Settings& s, const std::string& config_path) {
    if (config_path.empty()) {
        return fail(
            exit_usage,
            "backup restore needs --config FILE (where hub.conf goes, and the box's paths)");
    }
    if (s.request.empty() == s.file.empty()) {
        return fail(exit_usage, "backup restore: give the archive FILE or --request FILE");
    }
    if (!s.request.empty()) {
        // hub-restore.service sends our output to a file the console reads: line by line, so
        // a refusal (standard error) stays the last line after what standard output said.
        std::setvbuf(stdout, nullptr, _IOLBF, 0);
        if (int taken = take_restore_request(s); taken != exit_ok) {
            return taken;
        }
    }
    struct Wiper {
        std::optional<std::string>& passphrase;
        ~Wiper() {
            if (passphrase) {
                sodium_memzero(passphrase->data(), passphrase->size());
            }
        }
    } wiper{s.passphrase};
    std::set<backup::Part> only;
    for (const std::string& name : s.only) {
        auto part = backup::part_from_name(name);
        if (!part) {
            return fail(exit_usage, "--only {}: one of config, pki, network, queue", name);
        }
        only.insert(*part);
    }
    int code = exit_runtime;
    auto key = open_key(s, code);
    if (!key) {
        return code;
    }
    int fd = -1;
    if (int opened = open_archive(s.file, fd); opened != exit_ok) {
        return opened;
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    // Pass 1: the whole archive authenticated and checked; its hub.conf kept aside.
    std::string archived_conf;
    bool in_conf = false;
    backup::MemberSink capture{
        [&](const backup::MemberInfo& info) {
            in_conf = info.path == "config/hub.conf";
            return std::string();
        },
        [&](std::string_view bytes) {
            if (in_conf) {
                archived_conf.append(bytes);
            }
            return std::string();
        },
        [&]() {
            in_conf = false;
            return std::string();
        },
    };
    auto manifest = backup::read_backup(fd, *key, &capture);
    if (!manifest) {
        return fail(exit_runtime, "{}: {}; nothing was changed", s.file, manifest.error());
    }
    backup::RestorePlan plan;
    plan.hub_conf_path = config_path;
    for (backup::Part part : manifest->parts) {
        if (only.empty() || only.contains(part)) {
            plan.parts.insert(part);
        }
    }
    for (backup::Part part : only) {
        if (!plan.parts.contains(part)) {
            return fail(exit_runtime, "{}: holds no {} part; nothing was changed", s.file,
                        backup::part_name(part));
        }
    }
    // Where things go: the archived hub.conf read at the place it will live, so that its
    // relative paths resolve there; without the config part, the box's own.
    auto current = config::load_hub_config(config_path);
    if (plan.parts.contains(backup::Part::config) && !archived_conf.empty()) {
        std::string check_path = config_path + ".restore-check";
        {
            std::ofstream out(check_path, std::ios::trunc);
            out << archived_conf;
        }
        auto archived = config::load_hub_config(check_path);
        ::unlink(check_path.c_str());
        if (!archived) {
            return fail(exit_runtime,
                        "the archived hub.conf does not load here: {}; nothing was "
                        "changed",
                        archived.error());
        }
        plan.targets = std::move(*archived);
    } else if (current) {
        plan.targets = *current;
    } else {
        return fail(exit_runtime, "{}; nothing was changed", current.error());
    }

    // The hub must not run while its files are replaced: hubd (its spool lock), hub-ca
    // (its socket). Under systemd they are stopped and started again; elsewhere refused.
    std::vector<std::string> spools = {plan.targets.spool_dir};
    std::vector<std::string> ca_sockets = {plan.targets.ca_socket};
    if (current) {
        spools.push_back(current->spool_dir);
        ca_sockets.push_back(current->ca_socket);
    }
    bool running = false;
    for (const std::string& spool : spools) {
        running = running || (!spool.empty() && hubd_running(spool));
    }
    for (const std::string& socket : ca_sockets) {
        running = running || socket_answers(socket);
    }
    // The units that were active, in stop order (started again in reverse).
    std::vector<std::string> stopped_units;
    if (running) {
        if (!under_systemd()) {
            return fail(exit_runtime,
                        "hubd or hub-ca is running on this box; stop them first (a restore "
                        "replaces their files); nothing was changed");
        }
        for (const char* unit : hub_units) {
            if (run_program({"systemctl", "is-active", "--quiet", unit}) == 0) {
                stopped_units.push_back(unit);
            }
        }
        std::vector<std::string> argv = {"systemctl", "stop"};
        argv.insert(argv.end(), stopped_units.begin(), stopped_units.end());
        if (stopped_units.empty() || run_program(argv) != 0) {
            return fail(exit_runtime,
                        "could not stop the hub's units with systemctl; nothing "
                        "was changed");
        }
        fmt::print("stopped for the restore:");
        for (const std::string& unit : stopped_units) {
            fmt::print(" {}", unit);
        }
        fmt::print("\n");
    }
    // Held through the restore, so hubd cannot start on a half-placed spool.
    std::optional<SpoolLock> lock;
    if (!plan.targets.spool_dir.empty()) {
        std::error_code ignored;
        std::filesystem::create_directories(plan.targets.spool_dir, ignored);
        auto taken = try_lock_spool(plan.targets.spool_dir);
        if (!taken || !taken->held()) {
            return fail(exit_runtime, "hubd started on {} meanwhile; nothing was changed",
                        plan.targets.spool_dir);
        }
        lock.emplace(std::move(*taken));
    }

    // Pass 2: staged beside the targets, checked again, then put in place.
    if (::lseek(fd, 0, SEEK_SET) != 0) {
        return fail(exit_runtime, "{}: cannot read it again: {}", s.file, base::errno_text(errno));
    }
    auto report = backup::restore_backup(fd, *key, plan);
    if (!report) {
        return fail(exit_runtime, "restore failed: {}", report.error());
    }
    for (const std::string& placed : report->placed) {
        fmt::print("restored: {}\n", placed);
    }
    for (const std::string& skipped : report->skipped) {
        fmt::print("skipped (no place in this hub.conf): {}\n", skipped);
    }
    if (report->directory_restored) {
        fmt::print("directory: schema {} (archive had {})\n", report->directory_schema,
                   manifest->directory_schema);
    }
    if (report->network_restored) {
        fmt::print(
            "network: the saved configuration is back in {}; apply it with "
            "hub-netcfg apply-saved\n",
            plan.targets.backup_network_dir);
    }
    lock.reset();
    if (!stopped_units.empty()) {
        std::vector<std::string> argv = {"systemctl", "start"};
        argv.insert(argv.end(), stopped_units.rbegin(), stopped_units.rend());
        if (run_program(argv) != 0) {
            return fail(exit_runtime, "restored, but systemctl start failed: start the hub");
        }
        fmt::print("started again\n");
    }
    fmt::print("ok: restored from {} (made {} on {})\n", s.file, manifest->created_unix_s,
               manifest->host);
    return exit_ok;
}

}  // namespace

void BackupCommands::add_to(CLI::App& app) {
    settings_ = std::make_shared<Settings>();
    Settings& s = *settings_;
    CLI::App* backup = app.add_subcommand(
        "backup", "Encrypted whole-box backups: create, run, verify, restore (docs/BACKUP.md).");
    backup->require_subcommand(1);
    backup->fallthrough();
    s.create = backup->add_subcommand(
        "create", "Write an archive of this box into DIR, or copy it to sftp://user@host/path.");
    s.create->add_option("--to", s.to, "directory, or sftp://user@host[:port]/path")->required();
    s.create->add_flag("--include-queue", s.include_queue, "also a snapshot of the spool");
    s.create->add_option("--passphrase-file", s.passphrase_file,
                         "read the passphrase from this file (else standard input)");
    s.create->add_option("--public-key", s.public_key_file,
                         "seal to this public key (hubctl backup keygen) instead of a passphrase");
    s.create->add_option("--ssh-key", s.ssh_key,
                         "sftp: the key to log in with (else backup.ssh_key)");
    s.create->add_option("--known-hosts", s.known_hosts,
                         "sftp: the pinned host key (else backup.known_hosts)");
    s.run = backup->add_subcommand(
        "run", "The scheduled backup: [backup] in hub.conf (retention, remote copy, status).");
    s.run->add_flag("--if-due", s.if_due,
                    "only when backup.interval_hours have passed since the last good one");
    s.schedule = backup->add_subcommand(
        "schedule", "Show the schedule and the last outcome; set dir, keep, interval_hours.");
    s.schedule->add_option("--dir", s.dir, "where scheduled archives go (backup.dir)");
    s.schedule->add_option("--keep", s.keep, "archives kept here and at the remote (backup.keep)")
        ->check(CLI::Range(1, 1000));
    s.schedule
        ->add_option("--interval-hours", s.interval_hours,
                     "hours between backups (backup.interval_hours)")
        ->check(CLI::Range(1, 8760));
    s.verify = backup->add_subcommand(
        "verify", "Check an archive's integrity and the passphrase, without restoring.");
    s.restore = backup->add_subcommand(
        "restore", "Put an archive back: refused whole if anything is wrong with it.");
    s.extract = backup->add_subcommand(
        "extract", "Write an archive's members as plain files into a new directory.");
    for (CLI::App* reader : {s.verify, s.restore, s.extract}) {
        CLI::Option* file = reader->add_option("file", s.file, "the archive");
        if (reader != s.restore) {
            file->required();  // restore: the file or --request (checked by restore())
        }
        reader->add_option("--passphrase-file", s.passphrase_file,
                           "read the passphrase from this file (else standard input)");
        reader->add_option("--secret-key", s.secret_key_file,
                           "the secret key, for an archive sealed to its public key");
    }
    s.restore->add_option("--only", s.only, "config, pki, network or queue (repeatable)");
    s.restore->add_option("--request", s.request,
                          "hub-restore.service: the archive, parts and passphrase from this "
                          "root 0600 file, deleted once read (docs/BACKUP.md)");
    s.extract->add_option("--to", s.to, "a directory that does not exist yet")->required();
    s.keygen = backup->add_subcommand(
        "keygen", "Make a key pair for sealed archives: FILE (secret) and FILE.pub.");
    s.keygen->add_option("--out", s.out, "where the secret key goes")->required();
}

std::optional<int> BackupCommands::run(const std::string& config_path) {
    Settings& s = *settings_;
    if (s.create->parsed()) {
        return create(s, config_path);
    }
    if (s.run->parsed()) {
        return scheduled_run(config_path, s.if_due);
    }
    if (s.schedule->parsed()) {
        return schedule(s, config_path);
    }
    if (s.verify->parsed()) {
        return verify(s);
    }
    if (s.restore->parsed()) {
        return restore(s, config_path);
    }
    if (s.extract->parsed()) {
        return extract(s);
    }
    if (s.keygen->parsed()) {
        return keygen(s);
    }
    return std::nullopt;
}

std::string backup_status_line(const std::string& config_path, bool& failed) {
    failed = false;
    if (config_path.empty()) {
        return "";
    }
    auto config = config::load_hub_config(config_path);
    if (!config) {
        return "";
    }
    std::string path = status_path(*config);
    if (path.empty()) {
        return "";
    }
    auto read = health::read_backup_status(path);
    if (!read) {
        failed = true;
        return fmt::format("backup: status unreadable: {}\n", read.error());
    }
    failed = read->status.failing;
    return health::backup_status_line(*read);
}

}  // namespace hub::hubctl
