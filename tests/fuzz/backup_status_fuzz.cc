// backup_status_fuzz.cc -- decode arbitrary bytes as the backup status file.
//
// Beyond "no crash, no leak", it checks that what decodes re-encodes canonically: encoding
// the decoded status and decoding that gives the same status, and the views (Prometheus,
// hubctl status) never fail on it. Seeds in tests/fuzz/backup_status/: the writer's output
// and the one-line file of earlier builds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "health/backup_status.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto decoded = hub::health::decode_backup_status(text);
    if (!decoded) {
        HUB_ASSERT(!decoded.error().empty());
        return 0;
    }
    std::string once = hub::health::encode_backup_status(*decoded);
    HUB_ASSERT(once.size() <= hub::health::backup_status_bytes_max);
    auto again = hub::health::decode_backup_status(once);
    HUB_ASSERT(again.has_value());
    HUB_ASSERT(*again == *decoded);
    HUB_ASSERT(hub::health::encode_backup_status(*again) == once);
    hub::health::BackupStatusFile file{true, *decoded};
    (void)hub::health::backup_status_to_prometheus(file);
    (void)hub::health::backup_status_line(file);
    return 0;
}
