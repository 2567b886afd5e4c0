// der.cc -- DER encoding of the structures hub-ca writes itself (der.h).
//
// PURPOSE   Encode CRLs and PKCS#7 bundles, which wolfSSL 5.5 cannot make.
// RUNS IN   hub-ca.
// TRUST     Inputs are hub-ca's own values (serials, times, certificates it issued).
// LIMITS    Lengths up to 2^32 - 1 (long form, at most four length octets).
// SEE ALSO  ca/authority.cc (make_crl, certs_only_pkcs7), X.690 8 and 10.

#include "ca/der.h"

#include <ctime>

#include "base/assert.h"

namespace hub::ca::der {

namespace {

void append_length(Bytes& out, std::size_t length) {
    HUB_ASSERT(length <= 0xffffffffu);
    if (length < 0x80) {
        out.push_back(static_cast<std::uint8_t>(length));
        return;
    }
    std::uint8_t octets[4];
    std::size_t count = 0;
    for (std::size_t rest = length; rest != 0; rest >>= 8) {
        octets[count++] = static_cast<std::uint8_t>(rest & 0xff);
    }
    out.push_back(static_cast<std::uint8_t>(0x80 | count));
    while (count > 0) {
        out.push_back(octets[--count]);
    }
}

}  // namespace

Bytes tlv(std::uint8_t tag, std::span<const std::uint8_t> content) {
    Bytes out;
    out.reserve(content.size() + 6);
    out.push_back(tag);
    append_length(out, content.size());
    out.insert(out.end(), content.begin(), content.end());
    return out;
}

Bytes constructed(std::uint8_t tag, std::initializer_list<std::span<const std::uint8_t>> parts) {
    Bytes content;
    for (std::span<const std::uint8_t> part : parts) {
        content.insert(content.end(), part.begin(), part.end());
    }
    return tlv(tag, content);
}

Bytes unsigned_integer(std::span<const std::uint8_t> magnitude) {
    std::size_t first = 0;
    while (first + 1 < magnitude.size() && magnitude[first] == 0) {
        first++;
    }
    Bytes content;
    if (magnitude.empty() || (magnitude[first] & 0x80) != 0) {
        content.push_back(0);
    }
    content.insert(content.end(), magnitude.begin() + static_cast<std::ptrdiff_t>(first),
                   magnitude.end());
    return tlv(tag_integer, content);
}

Bytes small_integer(std::uint64_t value) {
    std::uint8_t magnitude[8];
    for (int i = 7; i >= 0; i--) {
        magnitude[i] = static_cast<std::uint8_t>(value & 0xff);
        value >>= 8;
    }
    return unsigned_integer(magnitude);
}

Bytes enumerated(std::uint8_t value) {
    HUB_ASSERT(value < 0x80);
    const std::uint8_t content[1] = {value};
    return tlv(tag_enumerated, content);
}

Bytes time(std::int64_t unix_s) {
    std::time_t seconds = static_cast<std::time_t>(unix_s);
    std::tm utc{};
    HUB_ASSERT(gmtime_r(&seconds, &utc) != nullptr);
    int year = utc.tm_year + 1900;
    char text[20];
    bool utc_time = year < 2050;
    int length =
        utc_time ? std::snprintf(text, sizeof(text), "%02d%02d%02d%02d%02d%02dZ", year % 100,
                                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec)
                 : std::snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02dZ", year,
                                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    HUB_ASSERT(length > 0 && static_cast<std::size_t>(length) < sizeof(text));
    return tlv(
        utc_time ? tag_utc_time : tag_generalized_time,
        std::span(reinterpret_cast<const std::uint8_t*>(text), static_cast<std::size_t>(length)));
}

Bytes bit_string(std::span<const std::uint8_t> bits) {
    Bytes content;
    content.reserve(bits.size() + 1);
    content.push_back(0);  // No unused bits in the last octet.
    content.insert(content.end(), bits.begin(), bits.end());
    return tlv(tag_bit_string, content);
}

bool read(std::span<const std::uint8_t> data, std::size_t at, Tlv& tlv) {
    if (at >= data.size() || data.size() - at < 2) {
        return false;
    }
    tlv.tag = data[at];
    std::size_t length = data[at + 1];
    std::size_t content = at + 2;
    if ((length & 0x80) != 0) {
        std::size_t octets = length & 0x7f;
        if (octets == 0 || octets > 4 || data.size() - content < octets) {
            return false;
        }
        length = 0;
        for (std::size_t i = 0; i < octets; i++) {
            length = (length << 8) | data[content + i];
        }
        content += octets;
    }
    if (data.size() - content < length) {
        return false;
    }
    tlv.content = content;
    tlv.end = content + length;
    return true;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (std::uint8_t byte : bytes) {
        text.push_back(digits[byte >> 4]);
        text.push_back(digits[byte & 0xf]);
    }
    return text;
}

bool from_hex(std::string_view text, Bytes& out) {
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    if (text.size() % 2 != 0) {
        return false;
    }
    out.clear();
    for (std::size_t i = 0; i < text.size(); i += 2) {
        int high = value(text[i]);
        int low = value(text[i + 1]);
        if (high < 0 || low < 0) {
            return false;
        }
        out.push_back(static_cast<std::uint8_t>(high * 16 + low));
    }
    return true;
}

}  // namespace hub::ca::der
