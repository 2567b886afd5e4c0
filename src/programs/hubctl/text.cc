// text.cc -- escaping for hubctl's text, tsv and json output, and the typo suggester.
//
// PURPOSE   Make spool strings (chosen by senders) safe in every output format, and turn a
//           mistyped subcommand into a suggestion.
// RUNS IN   hubctl.
// TRUST     inputs are untrusted bytes; outputs are always valid for their format.
// LIMITS    config::edit_distance compares words of at most suggestion_word_bytes_max bytes.
// SEE ALSO  main.cc
#include "programs/hubctl/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "config/syntax.h"

namespace hub::hubctl {

std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = '?';
        }
    }
    return out;
}

std::string tsv_field(std::string_view text, bool escape_comma) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (byte < 0x20 || byte == 0x7F || (escape_comma && c == ',')) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

namespace {

// Length of the valid UTF-8 sequence at text[0] (RFC 3629 4), or 0 if it is not one.
std::size_t utf8_sequence_bytes(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(0);
    std::size_t length = lead < 0x80                    ? 1
                         : lead >= 0xC2 && lead <= 0xDF ? 2
                         : lead >= 0xE0 && lead <= 0xEF ? 3
                         : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                        : 0;
    if (length == 0 || length > text.size()) {
        return 0;
    }
    for (std::size_t i = 1; i < length; i++) {
        if ((byte(i) & 0xC0) != 0x80) {
            return 0;
        }
    }
    // Overlong three- and four-byte forms, surrogates and code points above U+10FFFF.
    if ((lead == 0xE0 && byte(1) < 0xA0) || (lead == 0xED && byte(1) > 0x9F) ||
        (lead == 0xF0 && byte(1) < 0x90) || (lead == 0xF4 && byte(1) > 0x8F)) {
        return 0;
    }
    return length;
}

}  // namespace

std::string json_string(std::string_view text) {
    std::string out = "\"";
    while (!text.empty()) {
        auto c = static_cast<unsigned char>(text[0]);
        std::size_t length = utf8_sequence_bytes(text);
        if (length == 0) {
            out += "\\ufffd";  // Not UTF-8: the replacement character.
            text.remove_prefix(1);
            continue;
        }
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            out += fmt::format("\\u{:04x}", c);
        } else {
            out.append(text.substr(0, length));
        }
        text.remove_prefix(length);
    }
    out += '"';
    return out;
}

std::optional<std::string_view> closest_word(std::string_view word,
                                             std::span<const std::string_view> candidates) {
    std::optional<std::string_view> best;
    std::size_t best_distance = SIZE_MAX;
    for (std::string_view candidate : candidates) {
        std::size_t distance = config::edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    if (!best || best_distance == 0 || best_distance > 2 ||
        best_distance > std::max<std::size_t>(1, word.size() / 2)) {
        return std::nullopt;
    }
    return best;
}

}  // namespace hub::hubctl
