// line_numbers_for_test.h -- error texts without their line numbers, for tests that compare
// a loader's message text and check the "file:line" part separately.
#pragma once

#include <cstddef>
#include <string>

namespace hub::config {

// Removes the ":<line>" after every "<path>:" in error ("f.toml:12: x" -> "f.toml: x").
inline std::string without_line_numbers_for_test(std::string error, const std::string& path) {
    for (std::size_t at = 0; (at = error.find(path + ":", at)) != std::string::npos;) {
        std::size_t digits = at + path.size() + 1;
        std::size_t end = digits;
        while (end < error.size() && error[end] >= '0' && error[end] <= '9') {
            end++;
        }
        if (end > digits && error.compare(end, 2, ": ") == 0) {
            error.erase(digits - 1, end - digits + 1);
        }
        at = digits;
    }
    return error;
}

}  // namespace hub::config
