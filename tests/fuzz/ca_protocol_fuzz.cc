// ca_protocol_fuzz.cc -- random bytes into hub-ca's frame decoder.
//
// Input: a whole frame (4-byte length, body) as a client would send it, decoded as a
// request and as an answer. The harness checks
// what must hold whatever arrives: a header outside the bounds is refused; a body that
// decodes re-encodes to exactly the same bytes when its fields were in tag order (the
// encoder's order), and whatever decodes stays within the field limits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "ca/limits.h"
#include "ca/protocol.h"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace hub::ca;
    if (size < frame_header_bytes) {
        return 0;
    }
    std::span<const std::uint8_t> input(data, size);
    auto length = body_length(input.first(frame_header_bytes), Direction::request);
    if (!length) {
        return 0;
    }
    check(*length >= 2 && *length <= request_frame_bytes_max - frame_header_bytes,
          "length bounded");
    std::span<const std::uint8_t> body = input.subspan(frame_header_bytes);
    if (body.size() > *length) {
        body = body.first(*length);
    }
    // The same body as a request (what hub-ca reads) and as an answer (what hubctl and the
    // enrollment page read, refusals with their code).
    for (Direction direction : {Direction::request, Direction::answer}) {
        auto message = decode(body, direction);
        if (!message) {
            check(!message.error().empty(), "a refusal says why");
            continue;
        }
        if (message->kind == Kind::refused) {
            auto code = static_cast<std::uint8_t>(refusal_code(*message));
            check(code >= 1 && code <= refusal_max, "a decoded refusal has a known code");
        }
        std::vector<std::uint8_t> again = encode(*message);
        check(again.size() - frame_header_bytes == body.size(), "re-encoding keeps the size");
        auto decoded = decode(std::span(again).subspan(frame_header_bytes), direction);
        check(decoded.has_value(), "what decoded once decodes again");
        check(decoded->kind == message->kind && decoded->fields == message->fields, "same message");
    }
    return 0;
}
