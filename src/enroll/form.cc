// form.cc -- urlencoded forms and cookies (form.h).
//
// PURPOSE   Split a form body into named fields and read one cookie.
// RUNS IN   hub-enroll, on a request body already bounded by http.cc.
// TRUST     Internet input: every field count and name length is bounded; values are
//           bounded by the body (form_body_bytes_max).
// LIMITS    enroll/limits.h: form_fields_count_max, form_field_name_bytes_max.
// SEE ALSO  WHATWG URL standard, "application/x-www-form-urlencoded parsing".

#include "enroll/form.h"

#include <fmt/format.h>

#include <algorithm>

#include "enroll/limits.h"

namespace hub::enroll {

namespace {

int hex_value(char c) {
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
}

Result<std::string, std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
            int low = high >= 0 ? hex_value(text[i + 2]) : -1;
            if (low < 0) {
                return unexpected(
                    std::string("the form has a broken %-escape; send it again "
                                "from the page"));
            }
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

Result<Form, std::string> Form::parse(std::string_view body) {
    Form form;
    while (!body.empty()) {
        std::size_t amp = body.find('&');
        std::string_view pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        if (form.fields_.size() >= form_fields_count_max) {
            return unexpected(
                fmt::format("the form has more than {} fields", form_fields_count_max));
        }
        std::size_t equals = pair.find('=');
        auto name = percent_decode(pair.substr(0, equals));
        auto value = percent_decode(equals == std::string_view::npos ? std::string_view()
                                                                     : pair.substr(equals + 1));
        if (!name || !value) {
            return unexpected(name ? value.error() : name.error());
        }
        if (name->empty() || name->size() > form_field_name_bytes_max) {
            return unexpected(std::string("the form has a field without a proper name"));
        }
        if (form.has(*name)) {
            return unexpected(fmt::format("the form field \"{}\" is given twice", *name));
        }
        form.fields_.emplace_back(std::move(*name), std::move(*value));
    }
    return form;
}

std::string_view Form::get(std::string_view name) const {
    auto found = std::find_if(fields_.begin(), fields_.end(),
                              [&](const auto& field) { return field.first == name; });
    return found == fields_.end() ? std::string_view() : std::string_view(found->second);
}

bool Form::has(std::string_view name) const {
    return std::any_of(fields_.begin(), fields_.end(),
                       [&](const auto& field) { return field.first == name; });
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        std::size_t semicolon = header.find(';');
        std::string_view pair = header.substr(0, semicolon);
        header =
            semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
        while (!pair.empty() && pair.front() == ' ') {
            pair.remove_prefix(1);
        }
        std::size_t equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return pair.substr(equals + 1);
        }
    }
    return {};
}

std::string normalise_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < text.size() && text[i + 1] == '\n') {
                i++;
            }
        } else {
            out.push_back(text[i]);
        }
    }
    auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t'; };
    std::size_t first = 0;
    while (first < out.size() && space(out[first])) {
        first++;
    }
    std::size_t last = out.size();
    while (last > first && space(out[last - 1])) {
        last--;
    }
    return out.substr(first, last - first);
}

}  // namespace hub::enroll
