// archive.h -- a whole-box backup: what goes in, the manifest, and reading one back
// (docs/BACKUP.md). The container is a POSIX (pax) tar written and read with libarchive,
// inside the sealed stream of sealed_stream.h; nothing here knows passphrases.
//
// Members, by part:
//   config   config/hub.conf, config/partners.toml, directory/directory.db (SQLite online
//            backup), snmp/... (backup.snmp_dir)
//   pki      pki/ca-state/... (ca.state_dir; ca.db by online backup), pki/ca-public/...,
//            pki/tls/{certificate,key,client_ca,enroll-certificate,enroll-key}.pem
//   network  network/... (backup.network_dir, whatever hub-netcfg keeps there)
//   queue    queue/shard-<k>/<seq>.seg (only with include_queue; see "The spool cut")
// and last SHA256SUMS (sha256sum -c format) and MANIFEST (the facts below and every
// member's SHA-256 and size, SHA256SUMS included).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/sealed_stream.h"
#include "base/result.h"
#include "config/hub_config.h"

namespace hub::backup {

// The manifest's own format number: a reader refuses a higher one.
inline constexpr int manifest_version = 1;

enum class Part { config, pki, network, queue };
std::string_view part_name(Part part);
std::optional<Part> part_from_name(std::string_view name);
// The part a member path belongs to; nullopt for MANIFEST, SHA256SUMS and anything unknown.
std::optional<Part> part_of(std::string_view member_path);

struct ManifestMember {
    std::string path;
    std::string sha256_hex;
    std::uint64_t size_bytes = 0;
};

struct Manifest {
    int version = manifest_version;
    std::string hubbox_version;
    int directory_schema = 0;  // 0: the archive holds no directory.
    std::string host;
    std::int64_t created_unix_s = 0;
    std::vector<Part> parts;
    std::vector<ManifestMember> members;
};
std::string encode_manifest(const Manifest& manifest);
// Strict: every line known, every member path valid, no duplicates.
[[nodiscard]] Result<Manifest, std::string> decode_manifest(std::string_view text);
// "" if this build can restore an archive with this manifest, else why not.
std::string check_restorable(const Manifest& manifest);

// Whether a member path is one this format can hold (no "..", no absolute path, known top
// directory, bounded); the reader refuses an archive with any other.
bool member_path_valid(std::string_view path);

struct CreateOptions {
    std::string hub_conf_path;  // The file itself goes in as config/hub.conf.
    bool include_queue = false;
    std::int64_t now_unix_s = 0;
};

struct CreateReport {
    Manifest manifest;
    std::uint64_t archive_bytes = 0;
    std::size_t queue_segments = 0;
    std::uint64_t queue_bytes = 0;
};

// Writes the archive of the box that config describes to out_fd (header, then chunks);
// the caller fsyncs and renames. Runs as root: it reads hub-ca's 0700 directory.
[[nodiscard]] Result<CreateReport, std::string> create_backup(const config::HubConfig& config,
                                                              const CreateOptions& options,
                                                              StreamSealer sealer, int out_fd);

// How the reader gets its key: exactly one of the two.
struct OpenKey {
    std::optional<std::string> passphrase;
    std::optional<SecretKey> secret_key;
};

// A member as read back: its header facts, and the data in slices.
struct MemberInfo {
    std::string path;
    bool directory = false;
    std::uint32_t mode = 0;  // Permission bits.
    std::string owner;       // User and group names as stored (resolved on restore).
    std::string group;
    std::uint64_t size_bytes = 0;
};
// Called for each member, MANIFEST and SHA256SUMS included: begin(info) then
// data(slice)... then end(); returning a non-empty string stops the read with that error.
struct MemberSink {
    std::function<std::string(const MemberInfo&)> begin;
    std::function<std::string(std::string_view)> data;
    std::function<std::string()> end;
};

// Reads in_fd from its start: authenticates every chunk, checks each member's path, size
// and SHA-256 against MANIFEST, refuses an extra or missing member and a newer manifest.
// sink may be null (verify). Errors are one sentence for the administrator. The sink sees
// data before the archive's end is confirmed: it must write only to places it discards
// unless this returns success.
[[nodiscard]] Result<Manifest, std::string> read_backup(int in_fd, const OpenKey& key,
                                                        const MemberSink* sink);

}  // namespace hub::backup
