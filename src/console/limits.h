// limits.h -- the bounds the console's menu model keeps (console/model.h).
//
// Everything an administrator types is bounded here, so a key held down or a paste of
// 10,000 characters fills a field and is then refused key by key, never grows memory.
#pragma once

#include <cstddef>

namespace hub::console {

// The screen the console is designed for (a serial line's or KVM's 80x24). Smaller
// terminals still get every line, cut at the right edge, and a note saying so.
inline constexpr int design_cols = 80;
inline constexpr int design_rows = 24;
// Anything larger is laid out as if it were this large (a bound on the screen's size).
inline constexpr int screen_cols_max = 512;
inline constexpr int screen_rows_max = 256;

// A form field's value: the longest field is a password (1,024 bytes, the directory's
// limit for administrator passwords).
inline constexpr std::size_t field_bytes_max = 1024;
// A pasted field (a PEM certificate, a chain, a key, a PKCS#12 bundle as base64 lines): the
// same bound as hubctl's for a key or certificate file (hub_key_file_bytes_max), and as many
// lines as 64-character PEM lines fill it.
inline constexpr std::size_t paste_bytes_max = 256 * 1024;
inline constexpr std::size_t paste_lines_max = 4096;
// Pasted fields in one form (and so in one action on the wire): certificate, chain, root.
inline constexpr std::size_t paste_fields_max = 4;
// Pages open at once: main menu, a section, a list, an item, a form, a confirmation.
inline constexpr std::size_t page_depth_max = 8;
// Lines of a text page and rows of a list page kept from one answer; the rest is cut
// with a line that says so.
inline constexpr std::size_t text_lines_max = 5000;
inline constexpr std::size_t list_rows_max = 5000;
// The status line grows upwards to this many rows for a long message.
inline constexpr std::size_t status_rows_max = 3;
// A line kept from an answer (cut beyond; the screen shows at most screen_cols_max).
inline constexpr std::size_t line_bytes_max = 1024;

static_assert(design_cols <= screen_cols_max && design_rows <= screen_rows_max);
static_assert(line_bytes_max >= screen_cols_max, "a kept line may fill the widest screen");

}  // namespace hub::console
