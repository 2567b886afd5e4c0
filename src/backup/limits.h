// limits.h -- the bounds of a backup archive (docs/BACKUP.md). Each is checked where an
// archive is read, since a file handed to `hubctl backup verify` may come from anywhere.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::backup {

// Plaintext bytes per secretstream chunk. Every chunk but the last is exactly this long, so
// the reader needs no length field and a truncated or extended file is caught by the tag.
inline constexpr std::size_t chunk_bytes = 64 * 1024;
// The latest creation time a manifest may name (9999-12-31T23:59:59Z): a larger number would
// not fit the signed time it is kept in, and could not be written back as it was read.
inline constexpr std::uint64_t created_unix_s_max = 253402300799;

// Argon2id cost written into a new archive: libsodium's MODERATE (3 passes, 256 MiB), about
// a second on the appliance's cores, for an archive that may be stored off the box for years.
inline constexpr std::uint32_t kdf_opslimit_default = 3;
inline constexpr std::uint32_t kdf_memlimit_kib_default = 256 * 1024;
// What a reader accepts from a header it has not yet authenticated: enough for archives
// made with stronger settings, never so much that a crafted header exhausts the box.
inline constexpr std::uint32_t kdf_opslimit_max = 16;
inline constexpr std::uint32_t kdf_memlimit_kib_max = 1024 * 1024;
inline constexpr std::uint32_t kdf_memlimit_kib_min = 8 * 1024;

// A passphrase is at least this long (creating an archive; a reader takes any length).
inline constexpr std::size_t passphrase_bytes_min = 12;
inline constexpr std::size_t passphrase_bytes_max = 1024;

// Members read whole into memory: configuration files, keys, the SQLite databases.
inline constexpr std::uint64_t member_in_memory_bytes_max = 512ull * 1024 * 1024;
// Any one member (a spool segment is at most spool.segment_bytes_max, 1 GiB).
inline constexpr std::uint64_t member_bytes_max = 2ull * 1024 * 1024 * 1024;
inline constexpr std::size_t members_count_max = 100000;
inline constexpr std::size_t member_path_bytes_max = 512;
inline constexpr std::size_t manifest_bytes_max = 16 * 1024 * 1024;
// Files taken from a configuration directory (network, snmp), recursively.
inline constexpr std::size_t tree_files_max = 10000;
inline constexpr int tree_depth_max = 8;

// Scheduled backups: how many archives `backup.keep` may ask to keep.
inline constexpr std::uint32_t keep_count_max = 1000;

}  // namespace hub::backup
