// form.h -- application/x-www-form-urlencoded bodies and Cookie headers, bounded.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace hub::enroll {

class Form {
public:
    // Decodes a body (WHATWG URL "application/x-www-form-urlencoded": '+' is a space,
    // %XX a byte). Errors, as a sentence: more than form_fields_count_max fields, a name
    // longer than form_field_name_bytes_max or given twice, a bad %-escape.
    [[nodiscard]] static Result<Form, std::string> parse(std::string_view body);

    // The value of a field, or empty when absent.
    std::string_view get(std::string_view name) const;
    bool has(std::string_view name) const;

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

// The value of one cookie in a Cookie header (RFC 6265 5.4), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name);

// Form text normalised for hub-ca: CR LF and CR become LF (browsers send textareas with
// CR LF, RFC 7578 / HTML's form submission), and surrounding white space is dropped.
std::string normalise_text(std::string_view text);

}  // namespace hub::enroll
