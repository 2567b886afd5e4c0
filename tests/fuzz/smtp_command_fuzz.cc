// smtp_command_fuzz.cc -- random client bytes through a whole SMTP server session.
//
// Input: byte 0 picks the configuration (TLS mode, error limit, message size, how commits
// end); the rest is what the client sends, cut into arrivals of varying size. The harness
// plays the engine (handshakes complete at once, commits are answered) and checks what
// must hold whatever the peer sends: replies are well-formed CRLF lines with a code, the
// inbox and the body stay within their bounds, a ready message has only CRLF line endings
// and short lines, and a closed session stays silent.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "smtp/server_session.h"

namespace {

using namespace hub::smtp;

// A failed invariant aborts with its text on stderr, which libFuzzer shows with the input.
void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

class FuzzPolicy final : public ServerPolicy {
public:
    RcptVerdict check_recipient(std::string_view address) override {
        check(!address.empty(), "the policy never sees an empty address");
        switch (address.size() % 5) {
            case 0:
                return RcptVerdict::relay_denied;
            case 1:
                return RcptVerdict::unknown_partner;
            case 2:
                return RcptVerdict::tls_required;
            default:
                return RcptVerdict::accept;
        }
    }
    bool spool_has_space() override { return (++calls_ % 7) != 0; }

private:
    unsigned calls_ = 0;
};

void check_replies(std::string& replies) {
    std::string_view text = replies;
    check(text.empty() || text.ends_with("\r\n"), "replies end with CRLF");
    while (!text.empty()) {
        std::size_t end = text.find("\r\n");
        check(end != std::string_view::npos, "every reply line has CRLF");
        std::string_view line = text.substr(0, end);
        check(line.size() >= 4, "reply has code and separator");
        check(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
                  line[2] >= '0' && line[2] <= '9',
              "three-digit code");
        check(line[3] == ' ' || line[3] == '-', "separator");
        for (char c : line) {
            check(c >= ' ' && c <= '~', "printable reply");
        }
        text.remove_prefix(end + 2);
    }
    replies.clear();
}

void check_message(const ServerSession& session, std::uint64_t message_bytes_max) {
    std::string_view body = session.body();
    check(body.size() <= message_bytes_max + 2, "body bounded");
    std::size_t line_bytes = 0;
    for (std::size_t i = 0; i < body.size(); i++) {
        if (body[i] == '\r') {
            check(i + 1 < body.size() && body[i + 1] == '\n', "no bare CR in a message");
        } else if (body[i] == '\n') {
            check(i > 0 && body[i - 1] == '\r', "no bare LF in a message");
            line_bytes = 0;
        } else if (++line_bytes > text_line_bytes_max - 2) {
            check(false, "no over-long line in a message");
        }
    }
    check(body.empty() || body.ends_with("\r\n"), "message ends with CRLF");
    const Envelope& envelope = session.envelope();
    check(!envelope.recipients.empty(), "a message has recipients");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::uint8_t options = data[0];
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    ServerConfig config;
    config.hostname = "hub.lgolhub.net";
    config.message_bytes_max = (options & 1) ? 300 : 4096;
    config.recipients_count_max = 3;
    config.errors_count_max = (options & 2) ? 1000 : 10;
    bool implicit_tls = (options & 4) != 0;
    config.starttls_offered = !implicit_tls;
    config.tls_required = (options & 8) == 0;
    FuzzPolicy policy;
    ServerSession session(config, policy);
    TlsFacts tls;
    tls.version = "TLSv1.3";
    if (implicit_tls) {
        session.tls_started(tls);
    }
    session.start((options & 0xF0) == 0xF0, "fuzz");

    unsigned commits = options >> 4;
    std::size_t step = 0;
    bool closed_seen = false;
    while (true) {
        check_replies(session.replies());
        bool handshake = false;
        for (Event event = session.next_event(); event != Event::none;
             event = session.next_event()) {
            check(!closed_seen, "nothing after close");
            if (event == Event::start_tls) {
                handshake = true;
            } else if (event == Event::message_ready) {
                check_message(session, config.message_bytes_max);
                CommitResult result;
                result.status = static_cast<CommitResult::Status>(commits++ % 3);
                result.queue_id = "0123456789ABCDEF";
                session.commit_done(result);
                check_replies(session.replies());
            } else if (event == Event::close) {
                closed_seen = true;
            }
        }
        if (handshake && !session.closed()) {
            session.tls_started(tls);
        }
        check(session.inbox_space_bytes() <= inbox_bytes, "inbox bounded");
        check(closed_seen == session.closed(), "close event iff closed");
        if (input.empty()) {
            if (!session.input_pending()) {
                break;
            }
            session.feed({});
            continue;
        }
        std::size_t piece = (step++ * 7919 + options) % 97 + 1;
        piece = std::min({piece, input.size(), session.inbox_space_bytes()});
        if (piece == 0) {
            if (!session.input_pending()) {
                break;  // Full inbox while waiting: nothing more can happen.
            }
            session.feed({});
            continue;
        }
        session.feed(std::span<const char>(input.data(), piece));
        input.remove_prefix(piece);
        if (session.closed()) {
            check(session.replies().size() < 1024, "bounded output after close");
        }
    }
    check_replies(session.replies());
    return 0;
}
