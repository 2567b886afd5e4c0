// line_break.h -- finding the end of a text line fast, for the DATA paths in and out.
//
// Both ServerSession (reading a message) and ClientSession (dot-stuffing one) walk every
// byte of every message; a 5 MB message is some 65,000 lines. A byte-at-a-time loop or
// std::string_view::find_first_of("\r\n") (libstdc++ calls memchr once per byte for a
// two-byte set) made those walks the top of hubd's profile for large messages. Two memchr
// calls per line run at memory speed instead.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace hub::smtp {

inline constexpr std::string_view crlf = "\r\n";

// The index of the first CR or LF at or after from, or text.size() if there is none.
inline std::size_t next_line_break(std::string_view text, std::size_t from) {
    const char* begin = text.data() + from;
    std::size_t left = text.size() - from;
    // LF first: the CR, when there is one, is normally just before it, so the second search
    // is short.
    const void* lf = std::memchr(begin, '\n', left);
    std::size_t until =
        lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - begin) : left;
    const void* cr = std::memchr(begin, '\r', until);
    std::size_t at =
        cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - begin) : until;
    return from + at;
}

}  // namespace hub::smtp
