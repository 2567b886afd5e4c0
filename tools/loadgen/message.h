// message.h -- the test messages: headers with the token, then filler lines.
//
// A message is three pieces sent in order: its own header block, a slice of one shared
// filler (whole 78-byte lines, so a 5 MB message costs no 5 MB string), and a short tail
// (a last partial line and the ".\r\n" that ends DATA). No line starts with '.', so no
// dot-stuffing is needed (RFC 5321 4.5.2).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hub::loadgen {

struct Message {
    std::string head;         // Header fields and the empty line.
    std::string_view filler;  // Whole lines of the shared filler.
    std::string tail;         // Last body line, then ".\r\n".

    // Bytes of the message itself (what SIZE= announces), without the final ".\r\n".
    std::uint64_t content_bytes() const { return head.size() + filler.size() + tail.size() - 3; }
    std::uint64_t wire_bytes() const { return head.size() + filler.size() + tail.size(); }
    // Up to bytes_max bytes of the wire form starting at offset (offset < wire_bytes()).
    std::span<const char> chunk(std::uint64_t offset, std::size_t bytes_max) const;
};

class MessageFactory {
public:
    // filler_bytes_max: the largest message this factory will make (the filler's size).
    MessageFactory(std::string from, std::string to, std::uint64_t filler_bytes_max);
    // A message of about size_bytes (never less than its headers plus one line) whose
    // Message-ID is <token@loadgen.invalid> (tests/integration/lib.sh check_acked).
    Message make(std::string_view token, std::uint64_t size_bytes) const;

private:
    std::string from_;
    std::string to_;
    std::string filler_;
};

}  // namespace hub::loadgen
