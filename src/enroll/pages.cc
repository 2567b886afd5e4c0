// pages.cc -- the enrollment pages' HTML frame and style (pages.h).
//
// PURPOSE   One document frame for every page, with escaping in one place.
// RUNS IN   hub-enroll.
// TRUST     Whatever a visitor typed is escaped before it is put into a page.
// LIMITS    None of its own: inputs are bounded by http.cc and app.cc.
// SEE ALSO  enroll/app.cc (the pages' bodies), docs/ENROLLMENT.md.

#include "enroll/pages.h"

#include <fmt/format.h>

namespace hub::enroll::pages {

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string document(std::string_view title, std::string_view problem, std::string_view body) {
    std::string alert;
    if (!problem.empty()) {
        alert = fmt::format(
            "<div class=\"problem\" role=\"alert\" aria-labelledby=\"problem-title\">\n"
            "<h2 id=\"problem-title\">Not done</h2>\n<p>{}</p>\n</div>\n",
            escape(problem));
    }
    return fmt::format(
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>{0} - Hubbox certificate enrollment</title>\n"
        "<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n"
        "<header>\n<p class=\"site\"><a href=\"/\">Hubbox certificate enrollment</a></p>\n"
        "<nav aria-label=\"Pages\">\n<ul>\n"
        "<li><a href=\"/request\">Request a certificate</a></li>\n"
        "<li><a href=\"/status\">Check a request</a></li>\n"
        "<li><a href=\"/download\">Download a certificate</a></li>\n"
        "<li><a href=\"/crl\">Revocation list (CRL)</a></li>\n"
        "<li><a href=\"/ca.pem\">CA certificate</a></li>\n"
        "</ul>\n</nav>\n</header>\n"
        "<main>\n<h1>{0}</h1>\n{1}{2}</main>\n</body>\n</html>\n",
        escape(title), alert, body);
}

std::string_view style_sheet() {
    return "body { font-family: sans-serif; max-width: 46rem; margin: 1rem auto; padding: 0 1rem;"
           " line-height: 1.5; color: #111; background: #fff; }\n"
           "nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1rem; }\n"
           "label, legend { font-weight: bold; }\n"
           "input, textarea, button { font: inherit; }\n"
           "input[type=text], input[type=password], textarea { width: 100%; box-sizing: "
           "border-box; }\n"
           "textarea { font-family: monospace; }\n"
           ".hint { color: #444; font-size: 0.95em; }\n"
           ".problem { border: 3px solid #b00020; padding: 0 1rem; margin: 1rem 0; }\n"
           ".done { border: 3px solid #00703c; padding: 0 1rem; margin: 1rem 0; }\n"
           "a:focus, input:focus, textarea:focus, button:focus { outline: 3px solid #fd0; }\n";
}

}  // namespace hub::enroll::pages
