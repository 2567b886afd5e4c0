// backup_manifest_fuzz.cc -- decode arbitrary bytes as a backup MANIFEST, and as a backup
// file's header (docs/BACKUP.md).
//
// Beyond "no crash, no leak, no huge allocation": every member a decoded manifest lists has a
// valid path, and the format is canonical on what it keeps (encoding the decoded manifest and
// decoding that gives the same encoding). A header either is refused or names a known key
// kind with an Argon2id cost inside the limits, which is what keeps a crafted archive from
// making the reader derive a key at any cost it likes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backup/archive.h"
#include "backup/limits.h"
#include "backup/sealed_stream.h"
#include "base/assert.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto header = hub::backup::read_header(text);
    if (header && header->key_kind == hub::backup::KeyKind::passphrase) {
        HUB_ASSERT(header->cost.opslimit <= hub::backup::kdf_opslimit_max);
        HUB_ASSERT(header->cost.memlimit_kib <= hub::backup::kdf_memlimit_kib_max);
        HUB_ASSERT(header->cost.memlimit_kib >= hub::backup::kdf_memlimit_kib_min);
    }
    auto manifest = hub::backup::decode_manifest(text);
    if (!manifest) {
        HUB_ASSERT(!manifest.error().empty());
        return 0;
    }
    if (manifest->version > hub::backup::manifest_version) {
        HUB_ASSERT(!hub::backup::check_restorable(*manifest).empty());
        return 0;
    }
    HUB_ASSERT(manifest->members.size() <= hub::backup::members_count_max);
    for (const auto& member : manifest->members) {
        HUB_ASSERT(hub::backup::member_path_valid(member.path));
        HUB_ASSERT(member.size_bytes <= hub::backup::member_bytes_max);
    }
    std::string once = hub::backup::encode_manifest(*manifest);
    auto again = hub::backup::decode_manifest(once);
    HUB_ASSERT(again.has_value());
    HUB_ASSERT(hub::backup::encode_manifest(*again) == once);
    return 0;
}
