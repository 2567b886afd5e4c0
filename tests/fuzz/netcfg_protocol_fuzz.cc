// netcfg_protocol_fuzz.cc -- random bytes into hub-netcfg's frame decoder and item parsers.
//
// Input: a whole request frame (4-byte length, body) as a local caller would send it. What
// must hold whatever arrives: a header outside the bounds is refused; a body that decodes
// re-encodes to the same size and decodes again to the same message; a refusal says why.
// The same bytes, as text, go through the listing item parsers: whatever parses formats
// back to a line that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "netcfg/limits.h"
#include "netcfg/listing.h"
#include "netcfg/protocol.h"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

void items(std::string_view text) {
    using namespace hub::netcfg;
    if (auto interface = parse_interface_item(text)) {
        auto again = parse_interface_item(format_item(*interface));
        check(again && *again == *interface, "interface item round trip");
    }
    if (auto route = parse_route_item(text)) {
        auto again = parse_route_item(format_item(*route));
        check(again && *again == *route, "route item round trip");
    }
    if (auto reply = parse_ping_item(text)) {
        auto again = parse_ping_item(format_item(*reply));
        check(again && *again == *reply, "ping item round trip");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace hub::netcfg;
    items(std::string_view(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 2048)));
    if (size < frame_header_bytes) {
        return 0;
    }
    std::span<const std::uint8_t> input(data, size);
    for (Direction direction : {Direction::request, Direction::answer}) {
        auto length = body_length(input.first(frame_header_bytes), direction);
        if (!length) {
            continue;
        }
        check(*length >= 2 && *length <= frame_bytes_max(direction) - frame_header_bytes,
              "length bounded");
        std::span<const std::uint8_t> body = input.subspan(frame_header_bytes);
        if (body.size() > *length) {
            body = body.first(*length);
        }
        auto message = decode(body, direction);
        if (!message) {
            check(!message.error().empty(), "a refusal says why");
            continue;
        }
        std::vector<std::uint8_t> again = encode(*message);
        check(again.size() - frame_header_bytes == body.size(), "re-encoding keeps the size");
        auto decoded = decode(std::span(again).subspan(frame_header_bytes), direction);
        check(decoded.has_value(), "what decoded once decodes again");
        check(decoded->kind == message->kind && decoded->fields == message->fields, "same message");
    }
    return 0;
}
