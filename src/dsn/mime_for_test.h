// mime_for_test.h -- a small, strict MIME reader for the dsn tests: it checks the structure
// the way a receiving MTA's parser would see it, independently of the code under test.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hub::dsn::test {

struct Entity {
    std::vector<std::pair<std::string, std::string>> fields;  // Name, unfolded value.
    std::string body;

    std::optional<std::string> field(std::string_view name) const {
        for (const auto& [field_name, value] : fields) {
            if (lower(field_name) == lower(name)) {
                return value;
            }
        }
        return std::nullopt;
    }
    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& field_entry : fields) {
            n += lower(field_entry.first) == lower(name) ? 1 : 0;
        }
        return n;
    }
    static std::string lower(std::string_view text) {
        std::string out(text);
        for (char& c : out) {
            c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        }
        return out;
    }
};

// Lines of a CRLF text; fails the test on a bare CR or LF or a missing final CRLF.
inline std::vector<std::string> crlf_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find("\r\n", start);
        EXPECT_NE(end, std::string_view::npos) << "text must end in CRLF";
        if (end == std::string_view::npos) {
            break;
        }
        std::string line(text.substr(start, end - start));
        EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF: " << line;
        lines.push_back(line);
        start = end + 2;
    }
    return lines;
}

// Every line ends in CRLF and holds at most 998 octets; `soft` checks 78 too.
inline void expect_lines_ok(std::string_view text, bool soft) {
    for (const std::string& line : crlf_lines(text)) {
        EXPECT_LE(line.size(), 998u) << line.substr(0, 100);
        if (soft) {
            EXPECT_LE(line.size(), 78u) << line;
        }
    }
}

// Header section and body; unfolds each field (RFC 5322 2.2.3: drop CRLF before WSP).
inline Entity parse_entity(std::string_view text) {
    Entity entity;
    std::size_t end = text.find("\r\n\r\n");
    std::string_view header = text.substr(0, end == std::string_view::npos ? text.size() : end + 2);
    entity.body = end == std::string_view::npos ? "" : std::string(text.substr(end + 4));
    for (const std::string& line : crlf_lines(header)) {
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            EXPECT_FALSE(entity.fields.empty()) << "continuation without a field";
            if (!entity.fields.empty()) {
                entity.fields.back().second += line;
            }
            continue;
        }
        std::size_t colon = line.find(':');
        EXPECT_NE(colon, std::string::npos) << "not a field: " << line;
        if (colon == std::string::npos) {
            continue;
        }
        std::string value = line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') {
            value.erase(0, 1);
        }
        entity.fields.emplace_back(line.substr(0, colon), value);
    }
    return entity;
}

// The boundary parameter of a Content-Type value.
inline std::string boundary_of(std::string_view content_type) {
    std::size_t at = content_type.find("boundary=\"");
    if (at == std::string_view::npos) {
        return {};
    }
    at += 10;
    std::size_t end = content_type.find('"', at);
    return std::string(content_type.substr(at, end - at));
}

// The body parts of a multipart body (RFC 2046 5.1.1): between "CRLF--boundary CRLF"
// delimiters, up to the close delimiter, which must end the body.
inline std::vector<std::string> split_parts(std::string_view body, std::string_view boundary) {
    std::vector<std::string> parts;
    std::string delimiter = "\r\n--" + std::string(boundary);
    std::size_t at = body.find(delimiter);
    EXPECT_NE(at, std::string_view::npos) << "no first delimiter";
    while (at != std::string_view::npos) {
        std::size_t after = at + delimiter.size();
        if (body.substr(after, 4) == "--\r\n") {
            EXPECT_EQ(after + 4, body.size()) << "text after the close delimiter";
            return parts;
        }
        EXPECT_EQ(body.substr(after, 2), "\r\n");
        std::size_t next = body.find(delimiter, after);
        EXPECT_NE(next, std::string_view::npos) << "no close delimiter";
        if (next == std::string_view::npos) {
            break;
        }
        parts.emplace_back(body.substr(after + 2, next - after - 2));
        at = next;
    }
    return parts;
}

// Undoes dsn::text::append_wrapped: "CRLF indent" back to one space, CRLF to nothing.
inline std::string unwrap(std::string_view text, std::string_view indent) {
    std::string out;
    std::string pattern = "\r\n" + std::string(indent);
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text.substr(i, pattern.size()) == pattern && i + pattern.size() < text.size() &&
            text[i + pattern.size()] != '\r') {
            out += ' ';
            i += pattern.size() - 1;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace hub::dsn::test
