// der.h -- the little DER that hub-ca writes itself: CRLs and PKCS#7 certificate bundles.
//
// wolfSSL 5.5 (Debian 12's, and the release build made from its source) can make and sign
// certificates but has no API to make a CRL or a certs-only PKCS#7, so those two structures
// are encoded here and signed with wolfCrypt (authority.cc). Each writer returns one
// complete TLV; read() is bounds-checked, for the few places that walk DER themselves.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hub::ca::der {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::uint8_t tag_boolean = 0x01;
inline constexpr std::uint8_t tag_integer = 0x02;
inline constexpr std::uint8_t tag_bit_string = 0x03;
inline constexpr std::uint8_t tag_octet_string = 0x04;
inline constexpr std::uint8_t tag_null = 0x05;
inline constexpr std::uint8_t tag_oid = 0x06;
inline constexpr std::uint8_t tag_enumerated = 0x0a;
inline constexpr std::uint8_t tag_utc_time = 0x17;
inline constexpr std::uint8_t tag_generalized_time = 0x18;
inline constexpr std::uint8_t tag_sequence = 0x30;
inline constexpr std::uint8_t tag_set = 0x31;
inline constexpr std::uint8_t tag_context_0 = 0xa0;  // [0], constructed.

// One TLV with a definite length (X.690 8.1.3).
Bytes tlv(std::uint8_t tag, std::span<const std::uint8_t> content);
// tlv() over the concatenation of the parts.
Bytes constructed(std::uint8_t tag, std::initializer_list<std::span<const std::uint8_t>> parts);
// A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prefixed when the top
// bit is set, leading zeros are dropped; X.690 8.3.2).
Bytes unsigned_integer(std::span<const std::uint8_t> magnitude);
Bytes small_integer(std::uint64_t value);
Bytes enumerated(std::uint8_t value);
// Time as RFC 5280 4.1.2.5 wants it: UTCTime through 2049, GeneralizedTime from 2050.
Bytes time(std::int64_t unix_s);
// BIT STRING with no unused bits.
Bytes bit_string(std::span<const std::uint8_t> bits);

// One TLV read back (definite length, at most four length octets): the tag, where its
// content starts and where it ends. read() is false when the TLV does not fit in data.
struct Tlv {
    std::uint8_t tag = 0;
    std::size_t content = 0;
    std::size_t end = 0;
};
bool read(std::span<const std::uint8_t> data, std::size_t at, Tlv& tlv);

// Hex (lower case) <-> bytes, for serial numbers as hubctl shows them.
std::string to_hex(std::span<const std::uint8_t> bytes);
// False on odd length or a non-hex digit.
bool from_hex(std::string_view text, Bytes& out);

}  // namespace hub::ca::der
