// archive.cc -- collecting the box into a tar (libarchive) inside the sealed stream, and
// reading one back with every check (archive.h, docs/BACKUP.md).
#include "backup/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>

#include "backup/limits.h"
#include "base/errno_text.h"
#include "directory/directory.h"

namespace hub::backup {

namespace {

constexpr std::string_view manifest_name = "MANIFEST";
constexpr std::string_view sums_name = "SHA256SUMS";
constexpr std::string_view hubbox_version = "0.1";

// --- SHA-256 ------------------------------------------------------------------------------

class Sha256 {
public:
    Sha256() { crypto_hash_sha256_init(&state_); }
    void add(std::string_view bytes) {
        crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()),
                                  bytes.size());
    }
    std::string hex() {
        std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
        crypto_hash_sha256_final(&state_, digest.data());
        std::array<char, crypto_hash_sha256_BYTES * 2 + 1> text{};
        sodium_bin2hex(text.data(), text.size(), digest.data(), digest.size());
        return std::string(text.data(), crypto_hash_sha256_BYTES * 2);
    }

private:
    crypto_hash_sha256_state state_{};
};

// --- Names of accounts --------------------------------------------------------------------

std::string user_name(uid_t uid) {
    passwd entry{};
    passwd* found = nullptr;
    std::array<char, 1024> buffer{};
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
        return found->pw_name;
    }
    return std::to_string(uid);
}

std::string group_name(gid_t gid) {
    group entry{};
    group* found = nullptr;
    std::array<char, 1024> buffer{};
    if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
        return found->gr_name;
    }
    return std::to_string(gid);
}

// --- Sources ------------------------------------------------------------------------------

// One member to write: its bytes are in memory, or read from fd up to size_bytes.
struct Source {
    std::string path;
    bool directory = false;
    std::uint32_t mode = 0600;
    std::string owner = "root";
    std::string group = "root";
    std::int64_t mtime_unix_s = 0;
    std::string bytes;
    int fd = -1;  // Owned; closed after writing.
    std::uint64_t size_bytes = 0;
};

struct SourceList {
    std::vector<Source> sources;
    ~SourceList() {
        for (Source& source : sources) {
            if (source.fd >= 0) {
                ::close(source.fd);
            }
        }
    }
};

void take_attributes(const struct stat& st, Source& source) {
    source.mode = st.st_mode & 07777;
    source.owner = user_name(st.st_uid);
    source.group = group_name(st.st_gid);
    source.mtime_unix_s = st.st_mtim.tv_sec;
}

Result<void, std::string> add_directory_entry(const std::string& path, std::string member,
                                              SourceList& list) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return unexpected(fmt::format("{}: {}", path, base::errno_text(errno)));
    }
    Source source;
    source.path = std::move(member);
    source.directory = true;
    take_attributes(st, source);
    list.sources.push_back(std::move(source));
    return {};
}

Result<void, std::string> add_file(const std::string& path, std::string member, SourceList& list) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return unexpected(fmt::format("{}: {}", path, base::errno_text(errno)));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return unexpected(fmt::format("{}: not a regular file", path));
    }
    if (static_cast<std::uint64_t>(st.st_size) > member_bytes_max) {
        ::close(fd);
        return unexpected(fmt::format("{}: larger than a member may be", path));
    }
    Source source;
    source.path = std::move(member);
    take_attributes(st, source);
    source.fd = fd;
    source.size_bytes = static_cast<std::uint64_t>(st.st_size);
    list.sources.push_back(std::move(source));
    return {};
}

// A consistent copy of a live SQLite database, made in memory: the online backup API
// copies page by page under SQLite's own locking, so it sees one committed state even while
// hubctl or hub-ca writes; the copy never touches the disk unencrypted.
Result<std::string, std::string> sqlite_snapshot(const std::string& path) {
    sqlite3* source = nullptr;
    if (sqlite3_open_v2(path.c_str(), &source, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        std::string error = source != nullptr ? sqlite3_errmsg(source) : "out of memory";
        sqlite3_close(source);
        return unexpected(fmt::format("{}: {}", path, error));
    }
    sqlite3_busy_timeout(source, 10000);
    sqlite3* copy = nullptr;
    if (sqlite3_open_v2(":memory:", &copy, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        sqlite3_close(copy);
        sqlite3_close(source);
        return unexpected(std::string("SQLite: cannot open an in-memory database"));
    }
    std::string result;
    std::string error;
    sqlite3_backup* backup = sqlite3_backup_init(copy, "main", source, "main");
    if (backup == nullptr) {
        error = sqlite3_errmsg(copy);
    } else {
        // -1: all pages in one step, so the copy is one snapshot (a step-wise copy restarts
        // whenever another connection writes; one step holds a read transaction instead).
        int status = sqlite3_backup_step(backup, -1);
        for (int tries = 0; (status == SQLITE_BUSY || status == SQLITE_LOCKED) && tries < 100;
             tries++) {
            sqlite3_sleep(100);
            status = sqlite3_backup_step(backup, -1);
        }
        sqlite3_backup_finish(backup);
        if (status != SQLITE_DONE) {
            error = sqlite3_errstr(status);
        }
    }
    if (error.empty()) {
        sqlite3_int64 size = 0;
        unsigned char* bytes = sqlite3_serialize(copy, "main", &size, 0);
        if (bytes == nullptr) {
            error = "cannot serialise the copy";
        } else {
            result.assign(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(size));
            sqlite3_free(bytes);
        }
    }
    sqlite3_close(copy);
    sqlite3_close(source);
    if (!error.empty()) {
        return unexpected(fmt::format("{}: online backup: {}", path, error));
    }
    return result;
}

Result<void, std::string> add_sqlite(const std::string& path, std::string member,
                                     SourceList& list) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return unexpected(fmt::format("{}: {}", path, base::errno_text(errno)));
    }
    auto bytes = sqlite_snapshot(path);
    if (!bytes) {
        return unexpected(bytes.error());
    }
    Source source;
    source.path = std::move(member);
    take_attributes(st, source);
    source.size_bytes = bytes->size();
    source.bytes = std::move(*bytes);
    list.sources.push_back(std::move(source));
    return {};
}

bool is_sqlite_side_file(std::string_view name) {
    return name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal");
}

// A directory tree: its entry, its files (SQLite databases by online backup, their side
// files left out), subdirectories to tree_depth_max; symbolic links and sockets skipped.
Result<void, std::string> add_tree(const std::string& path, const std::string& member, int depth,
                                   SourceList& list, std::size_t& files) {
    if (depth > tree_depth_max) {
        return unexpected(fmt::format("{}: deeper than {} levels", path, tree_depth_max));
    }
    if (auto added = add_directory_entry(path, member + "/", list); !added) {
        return added;
    }
    std::error_code error;
    std::vector<std::filesystem::directory_entry> entries;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
        entries.push_back(entry);
    }
    if (error) {
        return unexpected(fmt::format("{}: {}", path, error.message()));
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& entry : entries) {
        std::string name = entry.path().filename().string();
        std::string child = member + "/" + name;
        if (entry.is_symlink(error)) {
            continue;
        }
        if (entry.is_directory(error)) {
            if (auto added = add_tree(entry.path().string(), child, depth + 1, list, files);
                !added) {
                return added;
            }
            continue;
        }
        if (!entry.is_regular_file(error) || is_sqlite_side_file(name)) {
            continue;
        }
        if (++files > tree_files_max) {
            return unexpected(fmt::format("{}: more than {} files", path, tree_files_max));
        }
        auto added = name.ends_with(".db") ? add_sqlite(entry.path().string(), child, list)
                                           : add_file(entry.path().string(), child, list);
        if (!added) {
            return added;
        }
    }
    return {};
}

bool exists(const std::string& path) {
    struct stat st {};
    return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

// The spool cut (docs/BACKUP.md): every segment opened, oldest first per shard, and its
// size taken at that moment; listings repeated until no new segment appears. An open fd
// keeps a segment readable if hubd deletes it meanwhile; a segment gone before it was
// opened held nothing live (deletion comes only after its live messages were copied into a
// newer segment, which is opened later); bytes appended after the size was taken are left
// out, and a record cut there is a torn tail that recovery drops.
Result<void, std::string> add_spool(const std::string& spool_dir, SourceList& list,
                                    std::size_t& segments, std::uint64_t& bytes) {
    std::set<std::string> taken;
    for (int round = 0; round < 16; round++) {
        std::vector<std::pair<std::string, std::string>> found;  // (member, path)
        std::error_code error;
        for (const auto& shard : std::filesystem::directory_iterator(spool_dir, error)) {
            std::string shard_name = shard.path().filename().string();
            if (!shard_name.starts_with("shard-") || !shard.is_directory(error)) {
                continue;
            }
            std::string shard_member = "queue/" + shard_name;
            if (!taken.contains(shard_member + "/")) {
                if (auto added =
                        add_directory_entry(shard.path().string(), shard_member + "/", list);
                    !added) {
                    return added;
                }
                taken.insert(shard_member + "/");
            }
            for (const auto& segment : std::filesystem::directory_iterator(shard.path(), error)) {
                std::string name = segment.path().filename().string();
                std::string member = shard_member + "/" + name;
                if (name.ends_with(".seg") && !taken.contains(member)) {
                    found.emplace_back(member, segment.path().string());
                }
            }
        }
        if (error) {
            return unexpected(fmt::format("{}: {}", spool_dir, error.message()));
        }
        if (found.empty()) {
            return {};
        }
        // Oldest first: segment names are their sequence numbers in fixed-width hex.
        std::sort(found.begin(), found.end());
        for (auto& [member, path] : found) {
            taken.insert(member);
            auto added = add_file(path, member, list);
            if (!added) {
                if (!exists(path)) {
                    continue;  // Deleted by hubd before we opened it: nothing live was in it.
                }
                return added;
            }
            segments++;
            bytes += list.sources.back().size_bytes;
            if (list.sources.size() > members_count_max) {
                return unexpected(std::string("the spool has more segments than a backup holds"));
            }
        }
    }
    return unexpected(std::string("the spool kept growing new segments; try again"));
}

Result<std::vector<Part>, std::string> collect(const config::HubConfig& config,
                                               const CreateOptions& options, SourceList& list,
                                               CreateReport& report) {
    std::vector<Part> parts;
    // config
    if (auto added = add_file(options.hub_conf_path, "config/hub.conf", list); !added) {
        return unexpected(added.error());
    }
    if (!config.partners_file.empty() && exists(config.partners_file)) {
        if (auto added = add_file(config.partners_file, "config/partners.toml", list); !added) {
            return unexpected(added.error());
        }
    }
    if (!config.directory_path.empty() && exists(config.directory_path)) {
        if (auto added = add_sqlite(config.directory_path, "directory/directory.db", list);
            !added) {
            return unexpected(added.error());
        }
    }
    std::size_t files = 0;
    if (!config.backup_snmp_dir.empty() && exists(config.backup_snmp_dir)) {
        if (auto added = add_tree(config.backup_snmp_dir, "snmp", 0, list, files); !added) {
            return unexpected(added.error());
        }
    }
    parts.push_back(Part::config);
    // pki
    if (!config.ca_state_dir.empty() && exists(config.ca_state_dir)) {
        if (auto added = add_tree(config.ca_state_dir, "pki/ca-state", 0, list, files); !added) {
            return unexpected(added.error());
        }
    }
    if (!config.ca_public_dir.empty() && exists(config.ca_public_dir)) {
        if (auto added = add_tree(config.ca_public_dir, "pki/ca-public", 0, list, files); !added) {
            return unexpected(added.error());
        }
    }
    const std::pair<const std::string*, std::string_view> tls_files[] = {
        {&config.certificate_path, "certificate.pem"},
        {&config.private_key_path, "key.pem"},
        {&config.client_ca_path, "client_ca.pem"},
        {&config.enroll_certificate_path, "enroll-certificate.pem"},
        {&config.enroll_private_key_path, "enroll-key.pem"},
    };
    for (auto [path, name] : tls_files) {
        if (!path->empty() && exists(*path)) {
            if (auto added = add_file(*path, fmt::format("pki/tls/{}", name), list); !added) {
                return unexpected(added.error());
            }
        }
    }
    parts.push_back(Part::pki);
    // network
    if (!config.backup_network_dir.empty() && exists(config.backup_network_dir)) {
        if (auto added = add_tree(config.backup_network_dir, "network", 0, list, files); !added) {
            return unexpected(added.error());
        }
        parts.push_back(Part::network);
    }
    // queue
    if (options.include_queue) {
        if (auto added =
                add_spool(config.spool_dir, list, report.queue_segments, report.queue_bytes);
            !added) {
            return unexpected(added.error());
        }
        parts.push_back(Part::queue);
    }
    return parts;
}

// --- Writing ------------------------------------------------------------------------------

struct WriteContext {
    StreamSealer* sealer = nullptr;
    int fd = -1;
    std::string ciphertext;
    std::uint64_t written_bytes = 0;
    std::string error;

    bool flush() {
        std::string_view rest = ciphertext;
        while (!rest.empty()) {
            ssize_t n = ::write(fd, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                error = fmt::format("writing the archive: {}", base::errno_text(errno));
                return false;
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
            written_bytes += static_cast<std::uint64_t>(n);
        }
        ciphertext.clear();
        return true;
    }
};

la_ssize_t write_callback(struct archive*, void* context, const void* buffer, size_t length) {
    auto* writer = static_cast<WriteContext*>(context);
    writer->sealer->push(std::string_view(static_cast<const char*>(buffer), length),
                         writer->ciphertext);
    if (!writer->flush()) {
        return -1;
    }
    return static_cast<la_ssize_t>(length);
}

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;

std::string archive_error(struct archive* archive, const WriteContext& writer) {
    if (!writer.error.empty()) {
        return writer.error;
    }
    const char* text = archive_error_string(archive);
    return text != nullptr ? text : "libarchive failed";
}

Result<void, std::string> write_member(struct archive* archive, const WriteContext& writer,
                                       Source& source, ManifestMember& listed) {
    EntryPtr entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), source.path.c_str());
    archive_entry_set_filetype(entry.get(), source.directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), source.mode);
    archive_entry_set_uname(entry.get(), source.owner.c_str());
    archive_entry_set_gname(entry.get(), source.group.c_str());
    archive_entry_set_mtime(entry.get(), source.mtime_unix_s, 0);
    archive_entry_set_size(entry.get(),
                           source.directory ? 0 : static_cast<la_int64_t>(source.size_bytes));
    if (archive_write_header(archive, entry.get()) != ARCHIVE_OK) {
        return unexpected(archive_error(archive, writer));
    }
    Sha256 hash;
    listed.path = source.path;
    listed.size_bytes = source.directory ? 0 : source.size_bytes;
    auto put = [&](std::string_view bytes) -> bool {
        hash.add(bytes);
        return archive_write_data(archive, bytes.data(), bytes.size()) ==
               static_cast<la_ssize_t>(bytes.size());
    };
    if (!source.directory && source.fd < 0) {
        if (!put(source.bytes)) {
            return unexpected(archive_error(archive, writer));
        }
        sodium_memzero(source.bytes.data(), source.bytes.size());
    } else if (!source.directory) {
        std::string buffer(chunk_bytes, '\0');
        std::uint64_t offset = 0;
        while (offset < source.size_bytes) {
            std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(buffer.size(), source.size_bytes - offset));
            ssize_t n = ::pread(source.fd, buffer.data(), want, static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return unexpected(
                    fmt::format("{}: read failed before its recorded size", source.path));
            }
            if (!put(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) {
                return unexpected(archive_error(archive, writer));
            }
            offset += static_cast<std::uint64_t>(n);
        }
        ::close(source.fd);
        source.fd = -1;
    }
    listed.sha256_hex = hash.hex();
    return {};
}

Source text_member(std::string path, std::string bytes, std::int64_t now_unix_s) {
    Source source;
    source.path = std::move(path);
    source.mode = 0600;
    source.mtime_unix_s = now_unix_s;
    source.size_bytes = bytes.size();
    source.bytes = std::move(bytes);
    return source;
}

std::string iso_time(std::int64_t unix_s) {
    std::time_t time = unix_s;
    std::tm tm{};
    gmtime_r(&time, &tm);
    std::array<char, 32> text{};
    std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text.data();
}

// --- Reading ------------------------------------------------------------------------------

struct ReadContext {
    int fd = -1;
    std::optional<StreamOpener> opener;
    std::string ciphertext;
    std::string plaintext;  // What the last callback handed to libarchive.
    bool at_end = false;
    std::optional<OpenFailure> failure;
    std::string io_error;
};

la_ssize_t read_callback(struct archive*, void* context, const void** buffer) {
    auto* reader = static_cast<ReadContext*>(context);
    reader->plaintext.clear();
    // Bounded: each pass reads at least one byte or ends the stream.
    while (reader->plaintext.empty() && !reader->at_end) {
        reader->ciphertext.resize(chunk_bytes);
        ssize_t n = ::read(reader->fd, reader->ciphertext.data(), reader->ciphertext.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            reader->io_error = base::errno_text(errno);
            return -1;
        }
        if (n == 0) {
            reader->at_end = true;
            if (auto finished = reader->opener->finish(reader->plaintext); !finished) {
                reader->failure = finished.error();
                return -1;
            }
            break;
        }
        auto pushed = reader->opener->push(
            std::string_view(reader->ciphertext.data(), static_cast<std::size_t>(n)),
            reader->plaintext);
        if (!pushed) {
            reader->failure = pushed.error();
            return -1;
        }
    }
    *buffer = reader->plaintext.data();
    return static_cast<la_ssize_t>(reader->plaintext.size());
}

std::string read_error(struct archive* archive, const ReadContext& reader) {
    if (reader.failure) {
        return describe(*reader.failure);
    }
    if (!reader.io_error.empty()) {
        return "reading the archive: " + reader.io_error;
    }
    const char* text = archive_error_string(archive);
    return fmt::format("damaged archive: {}", text != nullptr ? text : "the tar inside is invalid");
}

Result<void, std::string> read_exact(int fd, std::string& out, std::size_t length) {
    out.resize(length);
    std::size_t have = 0;
    while (have < length) {
        ssize_t n = ::read(fd, out.data() + have, length - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return unexpected("reading the archive: " + base::errno_text(errno));
        }
        if (n == 0) {
            break;
        }
        have += static_cast<std::size_t>(n);
    }
    out.resize(have);
    return {};
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool is_hex64(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

}  // namespace

// --- Parts and paths ----------------------------------------------------------------------

std::string_view part_name(Part part) {
    switch (part) {
        case Part::config:
            return "config";
        case Part::pki:
            return "pki";
        case Part::network:
            return "network";
        case Part::queue:
            return "queue";
    }
    return "?";
}

std::optional<Part> part_from_name(std::string_view name) {
    for (Part part : {Part::config, Part::pki, Part::network, Part::queue}) {
        if (part_name(part) == name) {
            return part;
        }
    }
    return std::nullopt;
}

std::optional<Part> part_of(std::string_view path) {
    std::string_view top = path.substr(0, path.find('/'));
    if (top == "config" || top == "directory" || top == "snmp") {
        return Part::config;
    }
    if (top == "pki") {
        return Part::pki;
    }
    if (top == "network") {
        return Part::network;
    }
    if (top == "queue") {
        return Part::queue;
    }
    return std::nullopt;
}

bool member_path_valid(std::string_view path) {
    if (path.empty() || path.size() > member_path_bytes_max || path.front() == '/') {
        return false;
    }
    if (path == manifest_name || path == sums_name) {
        return true;
    }
    if (!part_of(path)) {
        return false;
    }
    std::string_view rest = path;
    if (rest.back() == '/') {
        rest.remove_suffix(1);  // A directory entry.
    }
    // Bounded by the path's length: each pass removes one component.
    while (!rest.empty()) {
        std::size_t slash = rest.find('/');
        std::string_view part = rest.substr(0, slash);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        for (char c : part) {
            auto byte = static_cast<unsigned char>(c);
            if (byte < 0x20 || byte == 0x7f) {
                return false;
            }
        }
        rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    }
    return true;
}

// --- Manifest ------------------------------------------------------------------------------

std::string encode_manifest(const Manifest& manifest) {
    std::string text = fmt::format("hubbox-backup {}\n", manifest.version);
    text += fmt::format("hubbox-version {}\n", manifest.hubbox_version);
    text += fmt::format("directory-schema {}\n", manifest.directory_schema);
    text += fmt::format("host {}\n", manifest.host);
    text +=
        fmt::format("created {} {}\n", manifest.created_unix_s, iso_time(manifest.created_unix_s));
    text += "parts";
    for (Part part : manifest.parts) {
        text += fmt::format(" {}", part_name(part));
    }
    text += "\n";
    for (const ManifestMember& member : manifest.members) {
        text += fmt::format("member {} {} {}\n", member.sha256_hex, member.size_bytes, member.path);
    }
    text += "end\n";
    return text;
}

Result<Manifest, std::string> decode_manifest(std::string_view text) {
    auto bad = [](std::string_view why) {
        return unexpected(fmt::format("damaged archive: its MANIFEST {}", why));
    };
    if (text.size() > manifest_bytes_max) {
        return bad("is too large");
    }
    Manifest manifest;
    manifest.version = 0;
    std::set<std::string, std::less<>> seen;
    bool ended = false;
    bool created = false;
    // Bounded by the text: each pass consumes one line.
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        if (newline == std::string_view::npos) {
            return bad("does not end with a newline");
        }
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        if (ended) {
            return bad("has lines after its end");
        }
        std::size_t space = line.find(' ');
        std::string_view key = line.substr(0, space);
        std::string_view value = space == std::string_view::npos ? "" : line.substr(space + 1);
        std::uint64_t number = 0;
        if (key == "hubbox-backup") {
            if (manifest.version != 0 || !parse_u64(value, number) || number == 0 ||
                number > 1000000) {
                return bad("has a bad version line");
            }
            manifest.version = static_cast<int>(number);
            if (manifest.version > manifest_version) {
                // A newer manifest may have lines this reader does not know: stop here, and
                // let check_restorable say so.
                return manifest;
            }
        } else if (manifest.version == 0) {
            return bad("does not start with its version");
        } else if (key == "hubbox-version") {
            manifest.hubbox_version = std::string(value);
        } else if (key == "directory-schema") {
            if (!parse_u64(value, number) || number > 1000000) {
                return bad("has a bad directory-schema line");
            }
            manifest.directory_schema = static_cast<int>(number);
        } else if (key == "host") {
            manifest.host = std::string(value);
        } else if (key == "created") {
            if (!parse_u64(value.substr(0, value.find(' ')), number) ||
                number > created_unix_s_max) {
                return bad("has a bad created line");
            }
            manifest.created_unix_s = static_cast<std::int64_t>(number);
            created = true;
        } else if (key == "parts") {
            // Bounded by the line: each pass consumes one word.
            while (!value.empty()) {
                std::size_t end = value.find(' ');
                auto part = part_from_name(value.substr(0, end));
                if (!part) {
                    return bad("names an unknown part");
                }
                manifest.parts.push_back(*part);
                value.remove_prefix(end == std::string_view::npos ? value.size() : end + 1);
            }
        } else if (key == "member") {
            std::size_t first = value.find(' ');
            std::size_t second =
                first == std::string_view::npos ? first : value.find(' ', first + 1);
            if (second == std::string_view::npos) {
                return bad("has a bad member line");
            }
            ManifestMember member;
            member.sha256_hex = std::string(value.substr(0, first));
            member.path = std::string(value.substr(second + 1));
            if (!is_hex64(member.sha256_hex) ||
                !parse_u64(value.substr(first + 1, second - first - 1), member.size_bytes) ||
                member.size_bytes > member_bytes_max || !member_path_valid(member.path) ||
                member.path == manifest_name) {
                return bad("has a bad member line");
            }
            if (!seen.insert(member.path).second) {
                return bad("lists a member twice");
            }
            if (manifest.members.size() >= members_count_max) {
                return bad("lists too many members");
            }
            manifest.members.push_back(std::move(member));
        } else if (key == "end" && value.empty()) {
            ended = true;
        } else {
            return bad("has an unknown line");
        }
    }
    if (!ended || !created || manifest.version == 0) {
        return bad("is incomplete");
    }
    return manifest;
}

std::string check_restorable(const Manifest& manifest) {
    if (manifest.version > manifest_version) {
        return fmt::format(
            "made by a newer Hubbox (manifest version {}, this one reads up to "
            "{}); restore it with that version or newer",
            manifest.version, manifest_version);
    }
    if (manifest.directory_schema > directory::current_schema_version()) {
        return fmt::format(
            "made by a newer Hubbox (directory schema {}, this one knows up to "
            "{}); restore it with that version or newer",
            manifest.directory_schema, directory::current_schema_version());
    }
    return "";
}

// --- Create --------------------------------------------------------------------------------

Result<CreateReport, std::string> create_backup(const config::HubConfig& config,
                                                const CreateOptions& options, StreamSealer sealer,
                                                int out_fd) {
    CreateReport report;
    SourceList list;
    auto parts = collect(config, options, list, report);
    if (!parts) {
        return unexpected(parts.error());
    }
    Manifest& manifest = report.manifest;
    manifest.hubbox_version = std::string(hubbox_version);
    manifest.host = config.hostname;
    manifest.created_unix_s = options.now_unix_s;
    manifest.parts = std::move(*parts);
    for (const Source& source : list.sources) {
        if (source.path == "directory/directory.db") {
            // The schema of the copy: its user_version, read from the SQLite header
            // (offset 60, big endian), so a restore knows whether to migrate.
            if (source.bytes.size() >= 64) {
                auto byte = [&](std::size_t i) {
                    return static_cast<std::uint32_t>(static_cast<unsigned char>(source.bytes[i]));
                };
                manifest.directory_schema =
                    static_cast<int>(byte(60) << 24 | byte(61) << 16 | byte(62) << 8 | byte(63));
            }
        }
    }

    WriteContext writer;
    writer.sealer = &sealer;
    writer.fd = out_fd;
    writer.ciphertext = sealer.header();
    if (!writer.flush()) {
        return unexpected(writer.error);
    }
    ArchivePtr archive(archive_write_new(), archive_write_free);
    if (archive_write_set_format_pax_restricted(archive.get()) != ARCHIVE_OK ||
        archive_write_open2(archive.get(), &writer, nullptr, write_callback, nullptr, nullptr) !=
            ARCHIVE_OK) {
        return unexpected(archive_error(archive.get(), writer));
    }
    for (Source& source : list.sources) {
        ManifestMember listed;
        if (auto written = write_member(archive.get(), writer, source, listed); !written) {
            return unexpected(written.error());
        }
        manifest.members.push_back(std::move(listed));
    }
    std::string sums;
    for (const ManifestMember& member : manifest.members) {
        if (member.path.back() != '/') {
            sums += fmt::format("{}  {}\n", member.sha256_hex, member.path);
        }
    }
    Source sums_source = text_member(std::string(sums_name), std::move(sums), options.now_unix_s);
    ManifestMember sums_listed;
    if (auto written = write_member(archive.get(), writer, sums_source, sums_listed); !written) {
        return unexpected(written.error());
    }
    manifest.members.push_back(std::move(sums_listed));
    Source manifest_source =
        text_member(std::string(manifest_name), encode_manifest(manifest), options.now_unix_s);
    ManifestMember manifest_listed;
    if (auto written = write_member(archive.get(), writer, manifest_source, manifest_listed);
        !written) {
        return unexpected(written.error());
    }
    if (archive_write_close(archive.get()) != ARCHIVE_OK) {
        return unexpected(archive_error(archive.get(), writer));
    }
    sealer.finish(writer.ciphertext);
    if (!writer.flush()) {
        return unexpected(writer.error);
    }
    report.archive_bytes = writer.written_bytes;
    return report;
}

// --- Read ----------------------------------------------------------------------------------

Result<Manifest, std::string> read_backup(int in_fd, const OpenKey& key, const MemberSink* sink) {
    std::string header;
    if (auto read = read_exact(in_fd, header, stream_header_bytes); !read) {
        return unexpected(read.error());
    }
    auto facts = read_header(header);
    if (!facts) {
        return unexpected(describe(facts.error()));
    }
    ReadContext reader;
    reader.fd = in_fd;
    if (facts->key_kind == KeyKind::passphrase) {
        if (!key.passphrase) {
            return unexpected(describe(OpenFailure{OpenError::wrong_key_kind, 9}));
        }
        auto opener = StreamOpener::with_passphrase(header, *key.passphrase);
        if (!opener) {
            return unexpected(describe(opener.error()));
        }
        reader.opener.emplace(std::move(*opener));
    } else {
        if (!key.secret_key) {
            return unexpected(describe(OpenFailure{OpenError::wrong_key_kind, 9}));
        }
        auto opener = StreamOpener::with_secret_key(header, *key.secret_key);
        if (!opener) {
            return unexpected(describe(opener.error()));
        }
        reader.opener.emplace(std::move(*opener));
    }

    ArchivePtr archive(archive_read_new(), archive_read_free);
    archive_read_support_format_tar(archive.get());
    if (archive_read_open(archive.get(), &reader, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
        return unexpected(read_error(archive.get(), reader));
    }
    struct Seen {
        std::string sha256_hex;
        std::uint64_t size_bytes = 0;
    };
    std::map<std::string, Seen, std::less<>> seen;
    std::string manifest_text;
    bool manifest_last = false;
    std::string buffer(chunk_bytes, '\0');
    // Bounded: members_count_max entries, each read to its declared size.
    for (;;) {
        archive_entry* entry = nullptr;
        int status = archive_read_next_header(archive.get(), &entry);
        if (status == ARCHIVE_EOF) {
            break;
        }
        if (status != ARCHIVE_OK) {
            return unexpected(read_error(archive.get(), reader));
        }
        if (manifest_last) {
            return unexpected(std::string("damaged archive: a member follows its MANIFEST"));
        }
        MemberInfo info;
        const char* path = archive_entry_pathname(entry);
        info.path = path != nullptr ? path : "";
        auto type = archive_entry_filetype(entry);
        info.directory = type == AE_IFDIR;
        if (info.directory && !info.path.ends_with('/')) {
            info.path += '/';
        }
        if ((type != AE_IFREG && type != AE_IFDIR) || !member_path_valid(info.path)) {
            return unexpected(fmt::format("damaged archive: unexpected member '{}'", info.path));
        }
        if (seen.contains(info.path) || seen.size() >= members_count_max) {
            return unexpected(fmt::format("damaged archive: member '{}' twice", info.path));
        }
        info.mode = archive_entry_perm(entry) & 07777;
        const char* owner = archive_entry_uname(entry);
        const char* group = archive_entry_gname(entry);
        info.owner = owner != nullptr ? owner : "root";
        info.group = group != nullptr ? group : "root";
        la_int64_t size = archive_entry_size(entry);
        if (size < 0 || static_cast<std::uint64_t>(size) > member_bytes_max ||
            (info.directory && size != 0)) {
            return unexpected(
                fmt::format("damaged archive: member '{}' has a bad size", info.path));
        }
        info.size_bytes = static_cast<std::uint64_t>(size);
        bool is_manifest = info.path == manifest_name;
        if (is_manifest && info.size_bytes > manifest_bytes_max) {
            return unexpected(std::string("damaged archive: its MANIFEST is too large"));
        }
        bool to_sink = sink != nullptr;  // MANIFEST too: an extract keeps it.
        if (to_sink) {
            if (std::string error = sink->begin(info); !error.empty()) {
                return unexpected(error);
            }
        }
        Sha256 hash;
        std::uint64_t total = 0;
        // Bounded by the member's size (libarchive stops at it).
        for (;;) {
            la_ssize_t n = archive_read_data(archive.get(), buffer.data(), buffer.size());
            if (n < 0) {
                return unexpected(read_error(archive.get(), reader));
            }
            if (n == 0) {
                break;
            }
            std::string_view slice(buffer.data(), static_cast<std::size_t>(n));
            hash.add(slice);
            total += static_cast<std::uint64_t>(n);
            if (is_manifest) {
                manifest_text.append(slice);
            }
            if (to_sink) {
                if (std::string error = sink->data(slice); !error.empty()) {
                    return unexpected(error);
                }
            }
        }
        if (total != info.size_bytes) {
            return unexpected(fmt::format("damaged archive: member '{}' is short", info.path));
        }
        if (to_sink) {
            if (std::string error = sink->end(); !error.empty()) {
                return unexpected(error);
            }
        }
        seen.emplace(info.path, Seen{hash.hex(), total});
        manifest_last = is_manifest;
    }
    // The tar's end is not the stream's: read on to the FINAL chunk, so that a file cut
    // in its padding, or with bytes appended, is refused too.
    if (!reader.at_end) {
        std::string rest;
        // Bounded by the file: each pass reads or ends.
        for (;;) {
            const void* ignored = nullptr;
            la_ssize_t n = read_callback(archive.get(), &reader, &ignored);
            if (n < 0) {
                return unexpected(read_error(archive.get(), reader));
            }
            if (n == 0 && reader.at_end) {
                break;
            }
            if (!std::all_of(reader.plaintext.begin(), reader.plaintext.end(),
                             [](char c) { return c == '\0'; })) {
                return unexpected(std::string("damaged archive: data after the tar's end"));
            }
        }
    }
    if (!manifest_last) {
        return unexpected(std::string("damaged archive: no MANIFEST at its end"));
    }
    auto manifest = decode_manifest(manifest_text);
    if (!manifest) {
        return unexpected(manifest.error());
    }
    if (std::string refusal = check_restorable(*manifest); !refusal.empty()) {
        return unexpected(refusal);
    }
    std::size_t listed = 0;
    for (const ManifestMember& member : manifest->members) {
        auto found = seen.find(member.path);
        if (found == seen.end()) {
            return unexpected(
                fmt::format("damaged archive: member '{}' is listed but missing", member.path));
        }
        if (found->second.sha256_hex != member.sha256_hex ||
            found->second.size_bytes != member.size_bytes) {
            return unexpected(
                fmt::format("damaged archive: member '{}' does not match its SHA-256 in MANIFEST",
                            member.path));
        }
        listed++;
    }
    if (listed + 1 != seen.size()) {
        return unexpected(std::string("damaged archive: it holds members MANIFEST does not list"));
    }
    return manifest;
}

}  // namespace hub::backup
