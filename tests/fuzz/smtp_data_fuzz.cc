// smtp_data_fuzz.cc -- random message content through DATA or BDAT, against a model.
//
// Input: byte 0 picks DATA or BDAT, the arrival sizes and the BDAT chunking; the rest is
// the content. The session is first brought to an open transaction (EHLO, MAIL, RCPT).
// A small, obviously-correct model says what must happen:
//   DATA: the content ends at the first CRLF "." CRLF (counting the CRLF before DATA's
//         first line). A bare CR or LF before that end closes the connection with 521 and
//         nothing is queued (SMTP smuggling); otherwise the queued body is the content up
//         to that end, dot-unstuffed, unless a line is too long (550) or it is too big (552).
//   BDAT: the content is sent in chunks of the given sizes with LAST on the final one; any
//         bare CR or LF means 550, otherwise the body is exactly the content (plus a CRLF
//         when the last line has none).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "smtp/server_session.h"

namespace {

using namespace hub::smtp;

constexpr std::uint64_t message_bytes_max = 2048;

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

class AcceptAll final : public ServerPolicy {
public:
    RcptVerdict check_recipient(std::string_view) override { return RcptVerdict::accept; }
    bool spool_has_space() override { return true; }
};

// The offset of the first bare CR or LF in text, or npos. A CR at the very end is not
// bare yet (its LF may still come) unless cr_at_end_is_bare.
std::size_t first_bare(std::string_view text, bool cr_at_end_is_bare) {
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\r') {
            if (i + 1 == text.size()) {
                return cr_at_end_is_bare ? i : std::string_view::npos;
            }
            if (text[i + 1] != '\n') {
                return i;
            }
            i++;
        } else if (text[i] == '\n') {
            return i;
        }
    }
    return std::string_view::npos;
}

bool has_long_line(std::string_view body) {
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find("\r\n", start);
        std::size_t length = (end == std::string_view::npos ? body.size() : end) - start;
        if (length + 2 > text_line_bytes_max) {
            return true;
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 2;
    }
    return false;
}

struct Expected {
    bool closes = false;              // 521 and close.
    std::optional<std::string> body;  // message_ready with this body.
    std::string verdict;              // Or this final reply (550/552), or nothing yet.
    std::size_t content_bytes = 0;    // What to feed: bytes after the end are commands.
};

Expected model_data(std::string_view content) {
    Expected expected;
    expected.content_bytes = content.size();
    std::string framed = "\r\n" + std::string(content);
    std::size_t end = framed.find("\r\n.\r\n");
    std::size_t scan_to = end == std::string::npos ? framed.size() : end + 5;
    std::size_t bare = first_bare(std::string_view(framed).substr(0, scan_to), false);
    if (bare != std::string::npos && (end == std::string::npos || bare < end + 3)) {
        expected.closes = true;
        return expected;
    }
    if (end == std::string::npos) {
        return expected;  // Still inside DATA.
    }
    expected.content_bytes = end + 3;  // framed has two more bytes in front.
    std::string body;
    std::size_t start = 2;
    while (start < end + 2) {
        std::size_t line_end = framed.find("\r\n", start);
        std::string_view line(framed.data() + start, line_end - start);
        if (!line.empty() && line.front() == '.') {
            line.remove_prefix(1);  // RFC 5321 4.5.2
        }
        body.append(line);
        body += "\r\n";
        start = line_end + 2;
    }
    if (body.size() > message_bytes_max) {
        expected.verdict = "552 5.3.4";
    } else if (has_long_line(body)) {
        expected.verdict = "550 5.6.0";
    } else {
        expected.body = body;
    }
    return expected;
}

Expected model_bdat(std::string_view content) {
    Expected expected;
    std::string body(content);
    if (!body.empty() && !body.ends_with("\r\n") && body.back() != '\r') {
        body += "\r\n";
    }
    if (body.size() > message_bytes_max) {
        expected.verdict = "552 5.3.4";
    } else if (first_bare(content, true) != std::string_view::npos) {
        expected.verdict = "550 5.6.0";
    } else if (has_long_line(body)) {
        expected.verdict = "550 5.6.0";
    } else {
        expected.body = body;
    }
    return expected;
}

struct Outcome {
    bool closed = false;
    std::optional<std::string> body;
    std::string replies;
};

void feed_all(ServerSession& session, std::string_view bytes, std::size_t piece_bytes,
              Outcome& outcome) {
    while (!bytes.empty() && !session.closed()) {
        std::size_t piece = std::min({piece_bytes, bytes.size(), session.inbox_space_bytes()});
        if (piece == 0) {
            return;  // Awaiting a commit with a full inbox.
        }
        bool more = session.feed(std::span<const char>(bytes.data(), piece));
        bytes.remove_prefix(piece);
        while (more) {
            more = session.feed({});
        }
        for (Event event = session.next_event(); event != Event::none;
             event = session.next_event()) {
            check(event != Event::start_tls, "no STARTTLS in content");
            if (event == Event::message_ready) {
                check(!outcome.body, "one message only");
                outcome.body = std::string(session.body());
            } else if (event == Event::close) {
                outcome.closed = true;
            }
        }
        outcome.replies += session.replies();
        session.replies().clear();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::uint8_t options = data[0];
    std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
    bool bdat = (options & 1) != 0;
    std::size_t piece_bytes = (options >> 1) % 64 + 1;

    ServerConfig config;
    config.hostname = "hub.lgolhub.net";
    config.message_bytes_max = message_bytes_max;
    AcceptAll policy;
    ServerSession session(config, policy);
    session.tls_started(TlsFacts{});
    session.start(false);
    Outcome setup;
    feed_all(session, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\n", 512, setup);
    check(setup.replies.ends_with("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "transaction open");

    Outcome outcome;
    Expected expected;
    if (!bdat) {
        feed_all(session, "DATA\r\n", 6, outcome);
        outcome.replies.clear();
        expected = model_data(content);
        feed_all(session, content.substr(0, expected.content_bytes), piece_bytes, outcome);
    } else {
        // Chunks of up to piece_bytes * 3 octets, the last one flagged LAST.
        std::string_view rest = content;
        do {
            std::size_t chunk = std::min(rest.size(), piece_bytes * 3);
            bool last = chunk == rest.size();
            std::string command = "BDAT " + std::to_string(chunk) + (last ? " LAST\r\n" : "\r\n");
            feed_all(session, command, piece_bytes, outcome);
            feed_all(session, rest.substr(0, chunk), piece_bytes, outcome);
            rest.remove_prefix(chunk);
        } while (!rest.empty());
        expected = model_bdat(content);
    }

    check(outcome.closed == expected.closes, "closes exactly on a bare CR or LF in DATA");
    if (expected.closes) {
        check(!outcome.body, "nothing queued from a smuggling attempt");
        check(outcome.replies.ends_with(
                  "521 5.5.2 hub.lgolhub.net Bare CR or LF received; closing\r\n"),
              "521 on smuggling");
        return 0;
    }
    check(outcome.body.has_value() == expected.body.has_value(), "message_ready as modelled");
    if (expected.body) {
        check(*outcome.body == *expected.body, "body as modelled");
    }
    if (!expected.verdict.empty()) {
        check(outcome.replies.find(expected.verdict) != std::string::npos, "verdict as modelled");
    }
    return 0;
}
