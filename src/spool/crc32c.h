// crc32c.h -- CRC-32C (Castagnoli), the checksum of every spool record.
//
// Polynomial 0x1EDC6F41 (reflected 0x82F63B78), initial value and final xor 0xFFFFFFFF,
// as in RFC 3720 B.4 (iSCSI) and ext4/btrfs metadata. Castagnoli was chosen over the
// zlib CRC-32 for its better error detection at the record lengths we write, and because
// the SSE4.2 crc32 instruction computes exactly this function.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace hub::spool {

// Continues a checksum: crc32c_extend(crc32c(a), b) == crc32c(a + b). Start from 0.
// Uses the CPU's crc32 instruction when it has one (SSE4.2), else the portable path.
std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const char> bytes);

// The same function from tables, on any CPU (tests compare the two paths).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::span<const char> bytes);

inline std::uint32_t crc32c(std::string_view bytes) {
    return crc32c_extend(0, std::span<const char>(bytes.data(), bytes.size()));
}

}  // namespace hub::spool
