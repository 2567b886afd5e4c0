// smtp_reply_fuzz.cc -- random server bytes into an outbound SMTP client session.
//
// Input: byte 0 picks the configuration (bit 0: TLS optional; bit 1: a message is handed
// over before the greeting; bits 2-3: which messages; bits 4-5 both set: the engine takes
// only 700 bytes of output per round; bit 6: arrivals are fed whole, not cut in pieces);
// the rest is what the server sends, arrivals separated by NUL bytes. The
// harness plays the engine (handshakes complete at once; on ready it sends the next message,
// two in all, then QUIT) and checks what must hold whatever the server sends: output stays
// within its bound, nothing but EHLO/STARTTLS/QUIT goes out before TLS when TLS is
// required, no bare LF ever goes out, every message handed over gets exactly one
// message_done with one well-formed result per recipient, and the session always ends
// (failed or closed) once the input is exhausted and the deadline passes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/client_session.h"

namespace {

using namespace hub::smtp;

// A failed invariant aborts with its text on stderr, which libFuzzer shows with the input.
void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

const std::string& large_content() {
    static const std::string content = [] {
        std::string text = "Subject: large\r\n\r\n";
        for (int i = 0; text.size() < 150 * 1024; i++) {
            text += (i % 4 == 0) ? ".dot line\r\n" : (i % 7 == 0) ? "bare lf\n" : "plain line\r\n";
        }
        return text + "no final newline";
    }();
    return content;
}

std::vector<OutboundMessage> fuzz_messages() {
    std::vector<OutboundMessage> out(4);
    out[0].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[0].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[0].content = "Subject: hi\r\n\r\n.\r\nHello\r\n";
    out[1].mail_from = "";
    out[1].body_type = BodyType::eight_bit_mime;
    out[1].ret = DsnRet::full;
    out[1].envid = "env id";
    out[1].recipients = {{"a@partner2.gov.uk", dsn_notify_failure, "rfc822;a@x.example"},
                         {"b@partner2.gov.uk", dsn_notify_never, ""},
                         {"c@partner2.gov.uk", 0, ""}};
    out[1].content = "Subject: caf\xc3\xa9\r\n\r\nx";
    out[2].mail_from = "bob@partner1.gov.uk.lgolhub.net";
    out[2].recipients = {{"joe@partner2.gov.uk", 0, ""}, {"ann@partner2.gov.uk", 0, ""}};
    out[2].content = large_content();
    out[3].mail_from = "bob@partner1.gov.uk.lgolhub.net";
    out[3].size = 999999;
    out[3].recipients = {{"not an address", 0, ""}, {"ann@partner2.gov.uk", 0, ""}};
    out[3].content = "x\r\n";
    return out;
}

class Engine {
public:
    Engine(std::uint8_t options, const std::vector<OutboundMessage>& messages)
        : options_(options), messages_(messages), session_(config(options)) {}

    static ClientConfig config(std::uint8_t options) {
        ClientConfig config;
        config.hostname = "hub.lgolhub.net";
        config.require_tls = (options & 1) == 0;
        config.recipients_count_max = 2;
        return config;
    }

    void run(std::string_view input) {
        session_.start();
        if ((options_ & 2) != 0) {
            hand_over();
        }
        settle(output_round_bytes());
        std::size_t step = 0;
        while (!input.empty()) {
            // NUL separates arrivals (a real server waits for our command before it
            // answers); an arrival is fed whole or in pieces of varying size.
            std::size_t end = std::min(input.find('\0'), input.size());
            std::string_view arrival = input.substr(0, end);
            input.remove_prefix(std::min(end + 1, input.size()));
            while (!arrival.empty()) {
                std::size_t piece =
                    (options_ & 0x40) != 0 ? arrival.size() : (step++ * 7919 + options_) % 61 + 1;
                piece = std::min(piece, arrival.size());
                session_.feed(std::span<const char>(arrival.data(), piece));
                arrival.remove_prefix(piece);
                settle(output_round_bytes());
            }
        }
        settle(SIZE_MAX);  // The engine sends everything it was given.
        if (!session_.terminal()) {
            session_.on_timeout();
            settle(SIZE_MAX);
        }
        if (!session_.terminal()) {
            // Idle (no deadline): the server closes the cached connection.
            check(session_.idle() || session_.deadline_ms() == 0, "only idle has no deadline");
            session_.on_transport_failed(FailReason::closed_by_peer, "EOF");
            settle(SIZE_MAX);
        }
        check(session_.terminal(), "the session ends");
        check(done_count_ == handed_count_, "one message_done per message");
        check(session_.next_event() == ClientEvent::none, "no event after the end");
    }

private:
    std::size_t output_round_bytes() const {
        // Either the whole output each round, or a trickle, so that replies can arrive while
        // content is still going out.
        return (options_ & 0x30) == 0x30 ? 700 : SIZE_MAX;
    }

    void hand_over() {
        const OutboundMessage& message = messages_[(((options_ >> 2) & 3) + handed_count_) & 3];
        session_.send_message(message);
        recipients_count_.push_back(message.recipients.size());
        handed_count_++;
    }

    void settle(std::size_t output_budget) {
        while (true) {
            output_budget -= take_output(output_budget);
            ClientEvent event = session_.next_event();
            if (event == ClientEvent::none) {
                return;
            }
            // After the end, only the give-back of a message handed over on a ready event
            // that was already followed by failed.
            check(!ended_ || event == ClientEvent::message_done, "nothing after the end");
            switch (event) {
                case ClientEvent::start_tls:
                    check(session_.pending_output().empty(), "nothing to send after STARTTLS");
                    session_.tls_started();
                    break;
                case ClientEvent::ready:
                    check(session_.terminal() || session_.idle(), "ready means idle");
                    if (handed_count_ < 2) {
                        hand_over();
                    } else {
                        session_.quit();
                    }
                    break;
                case ClientEvent::message_done:
                    check_result();
                    break;
                case ClientEvent::failed:
                case ClientEvent::closed:
                    ended_ = true;
                    break;
                case ClientEvent::none:
                    break;
            }
        }
    }

    std::size_t take_output(std::size_t budget) {
        std::size_t taken = 0;
        while (taken < budget) {
            std::span<const char> out = session_.pending_output();
            check(out.size() <= client_output_bytes, "output bounded");
            if (out.empty()) {
                break;
            }
            std::size_t piece = std::min(out.size(), budget - taken);
            check_wire(std::string_view(out.data(), piece));
            session_.consume_output(piece);
            taken += piece;
        }
        return taken;
    }

    void check_wire(std::string_view bytes) {
        for (char c : bytes) {
            check(c != '\n' || last_ == '\r', "no bare LF on the wire");
            check(last_ != '\r' || c == '\n', "no bare CR on the wire");
            last_ = c;
        }
        if (!session_.tls_active() && (options_ & 1) == 0) {
            clear_text_ += bytes;
            std::string_view text = clear_text_;
            while (true) {
                std::size_t end = text.find("\r\n");
                if (end == std::string_view::npos) {
                    break;
                }
                std::string_view line = text.substr(0, end);
                check(line == "EHLO hub.lgolhub.net" || line == "STARTTLS" || line == "QUIT",
                      "only EHLO, STARTTLS and QUIT before TLS");
                text.remove_prefix(end + 2);
            }
            clear_text_.erase(0, clear_text_.size() - text.size());
        }
    }

    void check_result() {
        check(done_count_ < handed_count_, "message_done only for a message handed over");
        const MessageResult& result = session_.message_result();
        check(result.recipients.size() == recipients_count_[done_count_], "one result each");
        for (const RecipientResult& recipient : result.recipients) {
            const Reply& reply = recipient.reply;
            check(reply.code >= 200 && reply.code <= 599, "reply code");
            check(!reply.lines.empty(), "reply text");
            int expected_class = recipient.status == RecipientStatus::accepted    ? 2
                                 : recipient.status == RecipientStatus::perm_fail ? 5
                                                                                  : 4;
            check(reply.code_class() == expected_class ||
                      (recipient.status == RecipientStatus::temp_fail && reply.code_class() == 5 &&
                       recipient.remote),
                  "status follows the reply class");
            check(recipient.status != RecipientStatus::accepted || result.content_sent,
                  "accepted only after content");
        }
        done_count_++;
    }

    std::uint8_t options_;
    const std::vector<OutboundMessage>& messages_;
    ClientSession session_;
    std::size_t handed_count_ = 0;
    std::size_t done_count_ = 0;
    std::vector<std::size_t> recipients_count_;
    bool ended_ = false;
    char last_ = 0;
    std::string clear_text_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static const std::vector<OutboundMessage> messages = fuzz_messages();
    Engine engine(data[0], messages);
    engine.run(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    return 0;
}
