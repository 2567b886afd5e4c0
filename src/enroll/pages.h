// pages.h -- the HTML of the enrollment pages (internal to enroll/).
//
// Plain, accessible HTML: one h1 per page, every input with a label and a hint tied to
// it, errors in a role="alert" block that says what to change, no script, one style sheet
// from this site (the Content-Security-Policy allows nothing else).
#pragma once

#include <string>
#include <string_view>

namespace hub::enroll::pages {

// Text made safe for HTML element content and attribute values.
std::string escape(std::string_view text);

// A whole document: title (escaped here), an optional problem sentence (escaped here) and
// the body (HTML, already escaped by the caller).
std::string document(std::string_view title, std::string_view problem, std::string_view body);

std::string_view style_sheet();

}  // namespace hub::enroll::pages
