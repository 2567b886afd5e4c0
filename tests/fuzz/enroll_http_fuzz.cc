// enroll_http_fuzz.cc -- random bytes into hub-enroll's HTTP parser and pages.
//
// Input: what a browser might send over TLS, cut into pieces at the first byte's choice.
// Whatever arrives: the parser stays within its buffer, an error names a 4xx/5xx status
// and a sentence, every request it yields is bounded, and the application answers each
// request with a response or a hub-ca call (never a crash), and pages for refusals.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "enroll/app.h"
#include "enroll/http.h"
#include "enroll/limits.h"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace hub::enroll;
    if (size == 0) {
        return 0;
    }
    static App app(AppSettings{1'000'000, 1'000'000, std::string(32, 'k')});
    std::size_t piece = 1 + data[0] % 64;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    RequestParser parser;
    std::int64_t now_ms = 1'700'000'000'000;
    for (std::size_t offset = 0; offset < input.size(); offset += piece) {
        std::string_view chunk = input.substr(offset, piece);
        if (chunk.size() > parser.space_bytes()) {
            return 0;  // The server stops reading when the buffer is full.
        }
        check(parser.feed(std::span<const char>(chunk.data(), chunk.size())), "feed fits");
        for (int budget = 0; budget < 8; budget++) {
            auto next = parser.next();
            if (!next) {
                check(next.error().status >= 400 && next.error().status < 600, "error status");
                check(!next.error().message.empty(), "error says why");
                Response page = App::error_page(next.error().status, next.error().message);
                check(page.close, "an error closes");
                return 0;
            }
            if (!next->has_value()) {
                break;
            }
            const Request& request = **next;
            check(request.body.size() <= form_body_bytes_max, "body bounded");
            check(request.path.size() <= target_bytes_max, "path bounded");
            auto answer = app.handle(request, "192.0.2.1", now_ms);
            if (auto* call = std::get_if<CaCall>(&answer)) {
                // Every refusal code in turn: each must become an error page.
                auto code =
                    static_cast<hub::ca::Refusal>(1 + request.body.size() % hub::ca::refusal_max);
                Response page =
                    app.finish(call->pending, hub::ca::refusal(code, "refused"), now_ms);
                check(page.status >= 400, "a refusal is an error page");
                check(serialise(page, false).size() <= response_bytes_max, "refusal bounded");
            } else {
                check(serialise(std::get<Response>(answer), false).size() <= response_bytes_max,
                      "page bounded");
            }
        }
    }
    return 0;
}
