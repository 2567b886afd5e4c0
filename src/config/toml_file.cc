// toml_file.cc -- bounded reading of TOML files and uniform error messages.
//
// PURPOSE   Read hub.conf and the partner file without exceptions, refuse files that are
//           clearly not configuration, and report every mistake in one pass, in file order.
// RUNS IN   hubd's supervisor at start-up and hubctl; never on the data path.
// TRUST     The files belong to the operator (root-owned on the appliance). The size bound
//           protects against a wrong path, not a hostile author.
// LIMITS    Caller's bytes_max; errors_reported_max messages per file.
// SEE ALSO  config/hub_config.cc, policy/partners.cc.

#include "config/toml_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "base/assert.h"
#include "base/errno_text.h"
#include "config/limits.h"
#include "config/syntax.h"

namespace hub::config {

namespace {

// Reads the whole file into text; returns "" or what went wrong.
std::string read_bounded(const std::string& path, std::uint64_t bytes_max, std::string& text) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fmt::format("cannot read: {}", base::errno_text(errno));
    }
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        ::close(fd);
        return "cannot read: not a regular file";
    }
    std::string problem;
    char chunk[16384];
    while (true) {
        ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            problem = fmt::format("cannot read: {}", base::errno_text(errno));
            break;
        }
        if (got == 0) {
            break;
        }
        text.append(chunk, static_cast<std::size_t>(got));
        if (text.size() > bytes_max) {
            problem = fmt::format("larger than {} bytes; is this the right file?", bytes_max);
            break;
        }
    }
    ::close(fd);
    return problem;
}

}  // namespace

Result<toml::table, std::string> read_toml_file(const std::string& path, std::uint64_t bytes_max) {
    HUB_ASSERT(bytes_max > 0);
    std::string text;
    std::string problem = read_bounded(path, bytes_max, text);
    if (!problem.empty()) {
        return hub::unexpected(fmt::format("{}: {}", path, problem));
    }
    HUB_ASSERT(text.size() <= bytes_max);
    toml::parse_result parsed = toml::parse(text, path);
    if (!parsed) {
        const toml::parse_error& error = parsed.error();
        return hub::unexpected(fmt::format("{}:{}:{}: {}", path, error.source().begin.line,
                                           error.source().begin.column, error.description()));
    }
    return std::move(parsed).table();
}

std::string_view toml_type_phrase(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::none:
            return "nothing";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
    }
    HUB_PANIC("unknown toml node type");
}

std::string toml_value_for_message(const toml::node& node) {
    if (const auto* text = node.as_string()) {
        return quote_for_message(text->get());
    }
    if (const auto* integer = node.as_integer()) {
        return fmt::format("{}", integer->get());
    }
    if (const auto* floating = node.as_floating_point()) {
        return fmt::format("{}", floating->get());
    }
    if (const auto* boolean = node.as_boolean()) {
        return boolean->get() ? "true" : "false";
    }
    if (const auto* array = node.as_array()) {
        return array->empty() ? "[]" : "[...]";
    }
    if (node.is_table()) {
        return "{...}";
    }
    return fmt::format("({})", toml_type_phrase(node));
}

void Diagnostics::add(const toml::source_region& where, std::string text) {
    errors_.push_back(Entry{where.begin.line, where.begin.column, std::move(text)});
}

void Diagnostics::add_at(std::uint64_t line, std::uint64_t column, std::string text) {
    errors_.push_back(Entry{line, column, std::move(text)});
}

void Diagnostics::add_missing(std::string text) {
    errors_.push_back(Entry{UINT64_MAX, 0, std::move(text)});
}

std::string Diagnostics::render() const {
    HUB_ASSERT(!errors_.empty());
    std::vector<const Entry*> order;
    order.reserve(errors_.size());
    for (const Entry& entry : errors_) {
        order.push_back(&entry);
    }
    std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
        return a->line != b->line ? a->line < b->line : a->column < b->column;
    });
    std::string out;
    std::size_t shown = std::min(order.size(), errors_reported_max);
    for (std::size_t i = 0; i < shown; i++) {
        if (i > 0) {
            out += '\n';
        }
        std::uint64_t line = order[i]->line;
        if (line == 0 || line == UINT64_MAX) {
            out += fmt::format("{}: {}", file_, order[i]->text);  // Not at one place.
        } else {
            out += fmt::format("{}:{}: {}", file_, line, order[i]->text);
        }
    }
    if (shown < order.size()) {
        out += fmt::format("\n{}: ... and {} more errors", file_, order.size() - shown);
    }
    return out;
}

}  // namespace hub::config
