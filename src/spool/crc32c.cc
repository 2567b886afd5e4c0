// crc32c.cc -- CRC-32C: the SSE4.2 crc32 instruction where the CPU has it, else slicing by 8.
//
// PURPOSE   Checksum spool records when they are written and when they are read back.
// RUNS IN   every shard (encoding) and recovery (hubd start-up, hubctl); no shared state.
// TRUST     any bytes; the result is only ever compared, never trusted.
// LIMITS    none; linear in the input. Hardware: eight bytes per instruction (about 8 GB/s);
//           software: eight bytes per step through 8 KiB of tables (about 1.5 GB/s), which
//           was 14% of hubd's CPU relaying 5 MB messages (every byte is summed when written
//           and again when read back for delivery).
// SEE ALSO  crc32c.h, RFC 3720 B.4 (test vectors in crc32c_test.cc)
#include "spool/crc32c.h"

#include <array>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "base/assert.h"

namespace hub::spool {
namespace {

inline constexpr std::uint32_t castagnoli_reflected = 0x82F63B78u;

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of byte b followed
// by k zero bytes, which lets one step fold eight input bytes at once.
constexpr Tables make_tables() {
    Tables tables{};
    for (std::uint32_t byte = 0; byte < 256; byte++) {
        std::uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1u) != 0 ? (crc >> 1) ^ castagnoli_reflected : crc >> 1;
        }
        tables[0][byte] = crc;
    }
    for (std::size_t k = 1; k < 8; k++) {
        for (std::uint32_t byte = 0; byte < 256; byte++) {
            std::uint32_t previous = tables[k - 1][byte];
            tables[k][byte] = (previous >> 8) ^ tables[0][previous & 0xFFu];
        }
    }
    return tables;
}

constexpr Tables tables = make_tables();
static_assert(tables[0][128] == castagnoli_reflected, "one bit shifted out once is the polynomial");

inline std::uint32_t load_le32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

#if defined(__x86_64__)
// The crc32 instruction computes exactly CRC-32C (the Castagnoli polynomial, reflected),
// without the initial and final inversion, which stay ours.
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc,
                                                             std::span<const char> bytes) {
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    std::uint64_t state = ~crc;
    while (left >= 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, p, sizeof(word));  // Unaligned load; x86 is little-endian.
        state = _mm_crc32_u64(state, word);
        p += 8;
        left -= 8;
    }
    auto narrow = static_cast<std::uint32_t>(state);
    while (left > 0) {
        narrow = _mm_crc32_u8(narrow, static_cast<unsigned char>(*p));
        p++;
        left--;
    }
    return ~narrow;
}

// Asked once: every x86-64 server CPU of the last fifteen years says yes.
const bool cpu_has_sse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const char> bytes) {
#if defined(__x86_64__)
    if (cpu_has_sse42) {
        return extend_sse42(crc, bytes);
    }
#endif
    return crc32c_extend_portable(crc, bytes);
}

std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::span<const char> bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t left = bytes.size();
    std::uint32_t state = ~crc;
    while (left >= 8) {
        std::uint32_t low = load_le32(p) ^ state;
        std::uint32_t high = load_le32(p + 4);
        state = tables[7][low & 0xFFu] ^ tables[6][(low >> 8) & 0xFFu] ^
                tables[5][(low >> 16) & 0xFFu] ^ tables[4][low >> 24] ^ tables[3][high & 0xFFu] ^
                tables[2][(high >> 8) & 0xFFu] ^ tables[1][(high >> 16) & 0xFFu] ^
                tables[0][high >> 24];
        p += 8;
        left -= 8;
    }
    while (left > 0) {
        state = (state >> 8) ^ tables[0][(state ^ *p) & 0xFFu];
        p++;
        left--;
    }
    HUB_ASSERT(p == reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size());
    return ~state;
}

}  // namespace hub::spool
