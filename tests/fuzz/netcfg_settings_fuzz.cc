// netcfg_settings_fuzz.cc -- random text into network.conf's parser.
//
// What must hold: whatever parses is valid, formats to text that parses to the same
// settings, and that text is a fixed point of parse-then-format; a refusal says why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "netcfg/settings.h"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace hub::netcfg;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto settings = parse_settings(text);
    if (!settings) {
        check(!settings.error().empty(), "a refusal says why");
        return 0;
    }
    check(validate(*settings).has_value(), "what parses is valid");
    std::string formatted = format_settings(*settings);
    auto again = parse_settings(formatted);
    check(again.has_value(), "what was formatted parses");
    check(*again == *settings, "the same settings");
    check(format_settings(*again) == formatted, "formatting is a fixed point");
    return 0;
}
