// toml_file.h -- toml++ as Hubbox uses it: no exceptions, header-only, bounded input.
//
// Include this header instead of <toml++/toml.h>. Debian's libtomlplusplus-dev ships a
// shared library built WITH exceptions and its CMake target adds -DTOML_HEADER_ONLY=0
// -DTOML_SHARED_LIB=1; our libraries are built with -fno-exceptions and want
// toml::parse to return a parse_result instead of throwing. So we switch back to the
// header-only build with exceptions off. toml++ puts the two modes in different inline
// namespaces (toml::v3::noex vs toml::v3::ex), so this cannot clash with anyone who links
// the shared library in its exceptions mode.
#pragma once

#ifdef TOMLPLUSPLUS_H
#error "include config/toml_file.h before any other toml++ header"
#endif
#undef TOML_EXCEPTIONS
#define TOML_EXCEPTIONS 0
#undef TOML_SHARED_LIB
#define TOML_SHARED_LIB 0
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::config {

// Reads the file (at most bytes_max bytes; a bigger file is refused, not truncated) and
// parses it. Errors: "<path>: cannot read: <reason>", "<path>: larger than N bytes ...",
// "<path>:<line>:<column>: <what the TOML parser expected>".
[[nodiscard]] Result<toml::table, std::string> read_toml_file(const std::string& path,
                                                              std::uint64_t bytes_max);

// "a string", "an integer", "an array", ... for "must be X (not Y)" messages.
std::string_view toml_type_phrase(const toml::node& node);

// The value as written in a message: strings quoted and cut (quote_for_message), numbers
// and booleans as TOML writes them, "[...]" for arrays and "{...}" for tables.
std::string toml_value_for_message(const toml::node& node);

// Collects every error in a file so the operator can fix them in one pass. Messages are
// reported in file order, each as "<file>:<line>: <text>" ("<file>: <text>" for what is
// missing from the whole file), at most errors_reported_max of them.
class Diagnostics {
public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}

    // An error about something at a place in the file.
    void add(const toml::source_region& where, std::string text);
    // An error reported as if at this line and column (e.g. "key is missing" after the
    // last line of the table that should have held it).
    void add_at(std::uint64_t line, std::uint64_t column, std::string text);
    // An error about something missing from the whole file, reported after the others.
    void add_missing(std::string text);

    bool empty() const { return errors_.empty(); }
    const std::string& file() const { return file_; }
    // All errors, one per line, without a final newline. Precondition: !empty().
    std::string render() const;

private:
    struct Entry {
        std::uint64_t line = 0;
        std::uint64_t column = 0;
        std::string text;
    };
    std::string file_;
    std::vector<Entry> errors_;
};

}  // namespace hub::config
