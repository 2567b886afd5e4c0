// crc32c_test.cc -- CRC-32C against the RFC 3720 B.4 test vectors.
//
// The RFC prints each CRC as wire bytes, and not consistently in one byte order; the
// values below are the CRCs as u32 (as leveldb's and the Linux kernel's tests give them).
#include "spool/crc32c.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace hub::spool {
namespace {

std::string bytes_of(std::initializer_list<int> values) {
    std::string out;
    for (int value : values) {
        out.push_back(static_cast<char>(value));
    }
    return out;
}

TEST(Crc32c, Rfc3720Vectors) {
    std::string zeros(32, '\0');
    std::string ones(32, '\xFF');
    std::string ascending;
    std::string descending;
    for (int i = 0; i < 32; i++) {
        ascending.push_back(static_cast<char>(i));
        descending.push_back(static_cast<char>(31 - i));
    }
    // An iSCSI SCSI Read (10) command PDU.
    std::string read_pdu =
        bytes_of({0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                  0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                  0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
    ASSERT_EQ(read_pdu.size(), 48u);
    EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
    EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
    EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
    EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
    EXPECT_EQ(crc32c(read_pdu), 0xD9963A56u);
}

TEST(Crc32c, CheckValueAndEmpty) {
    EXPECT_EQ(crc32c(std::string_view("123456789")), 0xE3069283u);  // The catalogue check.
    EXPECT_EQ(crc32c(std::string_view()), 0u);
}

TEST(Crc32c, ExtendEqualsWholeAtEverySplit) {
    std::string text;
    for (int i = 0; i < 100; i++) {
        text.push_back(static_cast<char>(i * 37 + 11));
    }
    std::uint32_t whole = crc32c(text);
    for (std::size_t split = 0; split <= text.size(); split++) {
        std::string_view view(text);
        std::uint32_t first = crc32c(view.substr(0, split));
        std::string_view rest = view.substr(split);
        EXPECT_EQ(crc32c_extend(first, std::span<const char>(rest.data(), rest.size())), whole)
            << "split at " << split;
    }
}

TEST(Crc32c, UnalignedStartsAgree) {
    // The eight-byte loop must not depend on the buffer's alignment.
    std::string buffer(64 + 8, 'x');
    for (std::size_t i = 0; i < buffer.size(); i++) {
        buffer[i] = static_cast<char>(i * 13);
    }
    for (std::size_t shift = 0; shift < 8; shift++) {
        std::string copy = std::string(shift, '\0') + buffer;
        std::string_view view(copy);
        EXPECT_EQ(crc32c(view.substr(shift)), crc32c(buffer));
    }
}

TEST(Crc32c, HardwareAndPortablePathsAgree) {
    // Every length from 0 to 300 at every start offset mod 8, so both the 8-byte loop and
    // the byte tail of each path are compared (on a CPU without SSE4.2 both are portable).
    std::string buffer(300 + 8, '\0');
    for (std::size_t i = 0; i < buffer.size(); i++) {
        buffer[i] = static_cast<char>((i * 131 + 7) & 0xFF);
    }
    for (std::size_t start = 0; start < 8; start++) {
        for (std::size_t length = 0; length + start <= buffer.size(); length++) {
            std::span<const char> bytes(buffer.data() + start, length);
            ASSERT_EQ(crc32c_extend(0x1234u, bytes), crc32c_extend_portable(0x1234u, bytes))
                << "start " << start << " length " << length;
        }
    }
}

}  // namespace
}  // namespace hub::spool
