// reply.cc -- bounded, incremental SMTP reply reader (see reply.h).
#include "reply.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/core.h>

#include "base/assert.h"
#include "limits.h"

namespace hub::loadgen {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string printable_prefix(std::string_view text) {
    std::string out(text.substr(0, std::min<std::size_t>(text.size(), 80)));
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            c = '?';
        }
    }
    return out;
}

}  // namespace

bool ReplyReader::append(std::span<const char> plaintext) {
    if (buffered_bytes() + plaintext.size() > inbox_bytes_max) {
        return false;
    }
    if (head_ > 0 && head_ == inbox_.size()) {
        inbox_.clear();
        head_ = 0;
    } else if (head_ > inbox_bytes_max / 2) {
        inbox_.erase(0, head_);  // Compact now and then, not on every line.
        head_ = 0;
    }
    inbox_.append(plaintext.data(), plaintext.size());
    HUB_ASSERT(buffered_bytes() <= inbox_bytes_max);
    return true;
}

Result<std::optional<Reply>, std::string> ReplyReader::next() {
    for (;;) {
        std::string_view unread(inbox_.data() + head_, inbox_.size() - head_);
        std::size_t end = unread.find('\n');
        if (end == std::string_view::npos) {
            if (unread.size() > reply_line_bytes_max) {
                return unexpected(std::string("reply line too long"));
            }
            return std::optional<Reply>();
        }
        if (end + 1 > reply_line_bytes_max) {
            return unexpected(std::string("reply line too long"));
        }
        std::string_view text = unread.substr(0, end);
        if (!text.empty() && text.back() == '\r') {
            text.remove_suffix(1);
        }
        if (text.size() < 3 || !is_digit(text[0]) || !is_digit(text[1]) || !is_digit(text[2]) ||
            (text.size() > 3 && text[3] != ' ' && text[3] != '-')) {
            return unexpected(fmt::format("malformed reply line '{}'", printable_prefix(text)));
        }
        int code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
        if (!partial_.lines.empty() && code != partial_.code) {
            return unexpected(
                fmt::format("reply code changed mid-reply: '{}'", printable_prefix(text)));
        }
        if (partial_.lines.size() == reply_lines_max) {
            return unexpected(std::string("reply with too many lines"));
        }
        partial_.code = code;
        partial_.lines.emplace_back(text);
        head_ += end + 1;
        HUB_ASSERT(head_ <= inbox_.size());
        if (text.size() == 3 || text[3] == ' ') {
            Reply done = std::move(partial_);
            partial_ = Reply{};
            return std::optional<Reply>(std::move(done));
        }
    }
}

void ReplyReader::clear() {
    inbox_.clear();
    head_ = 0;
    partial_ = Reply{};
}

void ReplyReader::release_if_empty() {
    if (empty()) {
        std::string().swap(inbox_);
        head_ = 0;
        std::vector<std::string>().swap(partial_.lines);
    }
}

Extensions parse_ehlo(const Reply& reply) {
    Extensions extensions;
    for (std::size_t i = 1; i < reply.lines.size(); i++) {
        const std::string& line = reply.lines[i];
        if (line.size() <= 4) {
            continue;
        }
        std::string keyword = line.substr(4);
        std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (keyword.starts_with("PIPELINING")) {
            extensions.pipelining = true;
        } else if (keyword.starts_with("SIZE")) {
            extensions.size = true;
        }
    }
    return extensions;
}

std::string queue_id_of(const Reply& reply) {
    std::string_view text = reply.last();
    std::string_view marker = "queued as ";
    std::size_t at = text.find(marker);
    if (at == std::string_view::npos) {
        return "-";
    }
    std::string_view id = text.substr(at + marker.size());
    std::size_t end = id.find_first_of(" \t");
    return std::string(end == std::string_view::npos ? id : id.substr(0, end));
}

std::string first_words(const Reply& reply) {
    std::string_view text = reply.last();
    return std::string(text.substr(0, std::min<std::size_t>(text.size(), 60)));
}

}  // namespace hub::loadgen
