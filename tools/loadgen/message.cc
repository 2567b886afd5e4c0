// message.cc -- test message construction (see message.h).
#include "message.h"

#include <algorithm>
#include <ctime>

#include <fmt/core.h>

#include "base/assert.h"
#include "limits.h"

namespace hub::loadgen {
namespace {

std::string rfc5322_date() {
    std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[64];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &parts);
    return text;
}

}  // namespace

std::span<const char> Message::chunk(std::uint64_t offset, std::size_t bytes_max) const {
    HUB_ASSERT(offset < wire_bytes());
    for (std::string_view piece : {std::string_view(head), filler, std::string_view(tail)}) {
        if (offset < piece.size()) {
            std::size_t count =
                std::min<std::size_t>(bytes_max, piece.size() - static_cast<std::size_t>(offset));
            return std::span<const char>(piece.data() + offset, count);
        }
        offset -= piece.size();
    }
    HUB_PANIC("offset checked against wire_bytes()");
}

MessageFactory::MessageFactory(std::string from, std::string to, std::uint64_t filler_bytes_max)
    : from_(std::move(from)), to_(std::move(to)) {
    std::string line(body_line_bytes - 2, 'x');
    std::string_view label = "loadgen filler ";
    line.replace(0, label.size(), label);
    line += "\r\n";
    filler_.reserve(filler_bytes_max);
    while (filler_.size() + body_line_bytes <= filler_bytes_max) {
        filler_ += line;
    }
}

Message MessageFactory::make(std::string_view token, std::uint64_t size_bytes) const {
    Message message;
    message.head = fmt::format(
        "From: <{}>\r\nTo: <{}>\r\nSubject: loadgen {}\r\nMessage-ID: <{}@loadgen.invalid>\r\n"
        "Date: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        from_, to_, token, token, rfc5322_date());
    std::uint64_t header_bytes = message.head.size();
    std::uint64_t body_bytes = size_bytes > header_bytes ? size_bytes - header_bytes : 0;
    std::uint64_t whole =
        std::min<std::uint64_t>(body_bytes / body_line_bytes * body_line_bytes, filler_.size());
    message.filler = std::string_view(filler_).substr(0, static_cast<std::size_t>(whole));
    std::uint64_t rest = body_bytes - whole;
    if (rest > 0 || whole == 0) {
        message.tail.append(static_cast<std::size_t>(rest > 2 ? rest - 2 : 1), 'y');
        message.tail += "\r\n";
    }
    message.tail += ".\r\n";  // RFC 5321 4.1.1.4: end of mail data.
    HUB_ASSERT(message.wire_bytes() >= message.head.size() + 3);
    return message;
}

}  // namespace hub::loadgen
