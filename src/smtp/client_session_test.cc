// client_session_test.cc -- the outbound SMTP client against scripted server replies.
//
// Method: each table row is a conversation. A script step is either what the server sends
// ("\n" stands for CRLF; fed as one arrival) or an engine action starting with "!":
// "!send N" hands over messages()[N], "!quit", "!timeout", "!eof", "!tls_failed"; a step
// starting with "=" is sent byte for byte (shown as "S= " with CR and LF escaped). The
// harness plays the engine: after every call it drains pending_output() whole and the
// events, and completes a TLS handshake right after ClientEvent::start_tls. The transcript
// shows server lines as "S: ", client lines as "C: ", and events in brackets:
// "[done accepted:250 perm:550L]" lists each recipient's status and reply code ("L": a
// local reply, not the server's), "[failed reason code]" the failure and the server's
// reply code if one ended the session.
#include "smtp/client_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::smtp {
namespace {

constexpr std::string_view hub_host = "hub.lgolhub.net";

struct Options {
    bool require_tls = true;
    std::uint32_t recipients_count_max = 100;
};

std::vector<OutboundMessage> messages() {
    std::vector<OutboundMessage> out(8);
    // 0: one recipient, plain content.
    out[0].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[0].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[0].content = "Subject: hi\r\n\r\nHello Joe\r\n";
    // 1: two recipients.
    out[1].mail_from = "bob@partner1.gov.uk.lgolhub.net";
    out[1].recipients = {{"joe@partner2.gov.uk", 0, ""}, {"ann@partner2.gov.uk", 0, ""}};
    out[1].content = "Subject: two\r\n\r\nbody\r\n";
    // 2: dot-stuffing and line endings.
    out[2].mail_from = "";
    out[2].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[2].content = ".hidden\r\n..two\r\nnormal\r\n.\r\na\nb\r.c\r\nlast";
    // 3: too big for "SIZE 1000".
    out[3].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[3].size = 5000;
    out[3].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[3].content = "Subject: big\r\n\r\nbig\r\n";
    // 4: DSN parameters and 8-bit content.
    out[4].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[4].body_type = BodyType::eight_bit_mime;
    out[4].ret = DsnRet::headers;
    out[4].envid = "id+1 2";
    out[4].recipients = {{"joe@partner2.gov.uk", dsn_notify_success | dsn_notify_failure,
                          "rfc822;joe@partner2.gov.uk.lgolhub.net"},
                         {"ann@partner2.gov.uk", dsn_notify_never, ""}};
    out[4].content = "Subject: caf\xc3\xa9\r\n\r\nx\r\n";
    // 5: a bad address, and three good ones (the cap tests use recipients_count_max 2).
    out[5].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[5].recipients = {{"bad address@x", 0, ""},
                         {"a@partner2.gov.uk", 0, ""},
                         {"b@partner2.gov.uk", 0, ""},
                         {"c@partner2.gov.uk", 0, ""}};
    out[5].content = "x\r\n";
    // 6: a sender with a line break smuggled in.
    out[6].mail_from = "a@b.example>\r\nRCPT TO:<x@y.example";
    out[6].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[6].content = "x\r\n";
    // 7: empty content.
    out[7].mail_from = "alice@partner1.gov.uk.lgolhub.net";
    out[7].recipients = {{"joe@partner2.gov.uk", 0, ""}};
    out[7].content = "";
    return out;
}

class Harness {
public:
    explicit Harness(Options options = {}) : messages_(messages()) {
        ClientConfig config;
        config.hostname = std::string(hub_host);
        config.require_tls = options.require_tls;
        config.recipients_count_max = options.recipients_count_max;
        session.emplace(config);
        session->start();
        drain();
    }

    void step(std::string_view item) {
        if (item.starts_with("!send ")) {
            std::size_t index = static_cast<std::size_t>(std::stoul(std::string(item.substr(6))));
            session->send_message(messages_.at(index));
        } else if (item == "!quit") {
            session->quit();
        } else if (item == "!timeout") {
            session->on_timeout();
        } else if (item == "!eof") {
            session->on_transport_failed(FailReason::closed_by_peer, "EOF");
        } else if (item == "!tls_failed") {
            session->on_transport_failed(FailReason::tls_failed, "bad certificate");
        } else if (item.starts_with("=")) {
            std::string_view raw = item.substr(1);  // Exact bytes, shown escaped.
            transcript += "S= ";
            for (char c : raw) {
                transcript += c == '\r' ? "\\r" : c == '\n' ? "\\n" : std::string(1, c);
            }
            transcript += "\n";
            session->feed(std::span<const char>(raw.data(), raw.size()));
        } else {
            ASSERT_FALSE(item.starts_with("!")) << item;
            std::string bytes;
            std::string_view text = item;
            while (!text.empty()) {
                std::size_t end = text.find('\n');
                std::string_view line = text.substr(0, end);
                transcript += "S: " + std::string(line) + "\n";
                bytes += line;
                if (end == std::string_view::npos) {
                    break;  // A partial line: sent without CRLF.
                }
                bytes += "\r\n";
                text.remove_prefix(end + 1);
            }
            session->feed(std::span<const char>(bytes.data(), bytes.size()));
        }
        drain();
    }

    void drain() {
        while (true) {
            take_output();
            ClientEvent event = session->next_event();
            if (event == ClientEvent::none) {
                return;
            }
            switch (event) {
                case ClientEvent::start_tls:
                    transcript += "[start_tls]\n";
                    take_output();
                    session->tls_started();
                    break;
                case ClientEvent::ready:
                    transcript += "[ready]\n";
                    break;
                case ClientEvent::message_done:
                    transcript += describe_result(session->message_result());
                    results.push_back(session->message_result());
                    break;
                case ClientEvent::failed: {
                    const Failure& failure = session->failure();
                    transcript += "[failed " + std::string(fail_reason_name(failure.reason));
                    if (failure.reply) {
                        transcript += " " + std::to_string(failure.reply->code);
                    }
                    transcript += "]\n";
                    break;
                }
                case ClientEvent::closed:
                    transcript += "[closed]\n";
                    break;
                case ClientEvent::none:
                    break;
            }
        }
    }

    void take_output() {
        while (true) {
            std::span<const char> out = session->pending_output();
            EXPECT_LE(out.size(), client_output_bytes);
            if (out.empty()) {
                break;
            }
            wire.append(out.data(), out.size());
            session->consume_output(out.size());
        }
        std::size_t end;
        while ((end = wire.find("\r\n")) != std::string::npos) {
            std::string line = wire.substr(0, end);
            EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << line;
            transcript += "C: " + line + "\n";
            wire.erase(0, end + 2);
        }
    }

    static std::string describe_result(const MessageResult& result) {
        std::string out = "[done";
        for (const RecipientResult& recipient : result.recipients) {
            switch (recipient.status) {
                case RecipientStatus::accepted:
                    out += " accepted:";
                    break;
                case RecipientStatus::temp_fail:
                    out += " temp:";
                    break;
                case RecipientStatus::perm_fail:
                    out += " perm:";
                    break;
            }
            out += std::to_string(recipient.reply.code);
            if (!recipient.remote) {
                out += "L";
            }
        }
        return out + "]\n";
    }

    std::vector<OutboundMessage> messages_;
    std::optional<ClientSession> session;
    std::string transcript;
    std::string wire;  // Client bytes not yet ending in CRLF.
    std::vector<MessageResult> results;
};

struct Case {
    const char* name;
    std::vector<std::string> script;
    std::string expected;
    Options options = {};
};

// The server's replies up to ready, and what the transcript shows for them.
const std::string ehlo_before_tls = "250-mx.partner2.gov.uk\n250-PIPELINING\n250 STARTTLS\n";
const std::string ehlo_pipelining =
    "250-mx.partner2.gov.uk\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n"
    "250-ENHANCEDSTATUSCODES\n250 DSN\n";
const std::string ehlo_plain = "250-mx.partner2.gov.uk\n250 ENHANCEDSTATUSCODES\n";

std::vector<std::string> preface(const std::string& ehlo_after_tls) {
    return {"220 mx.partner2.gov.uk ESMTP\n", ehlo_before_tls, "220 2.0.0 Ready to start TLS\n",
            ehlo_after_tls};
}

std::string shown(const std::string& server_text) {
    std::string out;
    std::string_view text = server_text;
    while (!text.empty()) {
        std::size_t end = text.find('\n');
        out += "S: " + std::string(text.substr(0, end)) + "\n";
        text.remove_prefix(end + 1);
    }
    return out;
}

std::string preface_shown(const std::string& ehlo_after_tls) {
    return "S: 220 mx.partner2.gov.uk ESMTP\nC: EHLO hub.lgolhub.net\n" + shown(ehlo_before_tls) +
           "C: STARTTLS\nS: 220 2.0.0 Ready to start TLS\n[start_tls]\nC: EHLO hub.lgolhub.net\n" +
           shown(ehlo_after_tls) + "[ready]\n";
}

std::vector<std::string> with(std::vector<std::string> head, std::vector<std::string> tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}

const std::string mail0 = "C: MAIL FROM:<alice@partner1.gov.uk.lgolhub.net> SIZE=26\n";
const std::string mail0_plain = "C: MAIL FROM:<alice@partner1.gov.uk.lgolhub.net>\n";
const std::string content0 = "C: Subject: hi\nC: \nC: Hello Joe\nC: .\n";
const std::string mail1 = "C: MAIL FROM:<bob@partner1.gov.uk.lgolhub.net> SIZE=22\n";
const std::string rcpt_joe = "C: RCPT TO:<joe@partner2.gov.uk>\n";
const std::string rcpt_ann = "C: RCPT TO:<ann@partner2.gov.uk>\n";
const std::string content1 = "C: Subject: two\nC: \nC: body\nC: .\n";

std::vector<Case> cases() {
    const std::string p = preface_shown(ehlo_pipelining);
    const std::string pp = preface_shown(ehlo_plain);
    return {
        // --- Whole deliveries ------------------------------------------------------------
        {"pipelined_happy_path",
         with(preface(ehlo_pipelining), {"!send 0", "250 2.1.0 Ok\n250 2.1.5 Ok\n354 End data\n",
                                         "250 2.0.0 Ok: queued\n", "!quit", "221 2.0.0 Bye\n"}),
         p + mail0 + rcpt_joe + "C: DATA\nS: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 354 End data\n" +
             content0 +
             "S: 250 2.0.0 Ok: queued\n[done accepted:250]\n[ready]\nC: QUIT\n"
             "S: 221 2.0.0 Bye\n[closed]\n"},
        {"one_at_a_time_without_pipelining",
         with(preface(ehlo_plain), {"!send 1", "250 2.1.0 Ok\n", "250 2.1.5 Ok\n",
                                    "251 2.1.5 Will forward\n", "354 go\n", "250 2.0.0 Ok\n"}),
         pp + "C: MAIL FROM:<bob@partner1.gov.uk.lgolhub.net>\nS: 250 2.1.0 Ok\n" + rcpt_joe +
             "S: 250 2.1.5 Ok\n" + rcpt_ann + "S: 251 2.1.5 Will forward\nC: DATA\nS: 354 go\n" +
             content1 + "S: 250 2.0.0 Ok\n[done accepted:250 accepted:250]\n[ready]\n"},
        {"replies_split_across_arrivals",
         with(preface(ehlo_pipelining),
              {"!send 0", "250 2.1.0 O", "k\n250-2.1.5 Ok\n250 2.1.5 really\n3", "54 go\n",
               "250 2.0.0 Ok\n"}),
         p + mail0 + rcpt_joe +
             "C: DATA\nS: 250 2.1.0 O\nS: k\nS: 250-2.1.5 Ok\nS: 250 2.1.5 really\nS: 3\n"
             "S: 54 go\n" +
             content0 + "S: 250 2.0.0 Ok\n[done accepted:250]\n[ready]\n"},
        {"message_handed_over_before_ready",
         with({"!send 0"}, with(preface(ehlo_pipelining),
                                {"250 2.1.0 Ok\n250 2.1.5 Ok\n354 go\n", "250 2.0.0 Ok\n"})),
         // No [ready] after the handshake: the waiting message starts at once.
         [&] {
             std::string text = p;
             text.erase(text.rfind("[ready]\n"));
             return text;
         }() +
             mail0 + rcpt_joe + "C: DATA\nS: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 354 go\n" +
             content0 + "S: 250 2.0.0 Ok\n[done accepted:250]\n[ready]\n"},
        {"two_messages_rset_between",
         with(preface(ehlo_pipelining),
              {"!send 0", "250 2.1.0 Ok\n250 2.1.5 Ok\n354 go\n", "250 2.0.0 Ok\n", "!send 1",
               "250 2.0.0 Ok\n250 2.1.0 Ok\n250 2.1.5 Ok\n250 2.1.5 Ok\n354 go\n",
               "250 2.0.0 Ok\n"}),
         p + mail0 + rcpt_joe + "C: DATA\nS: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 354 go\n" +
             content0 + "S: 250 2.0.0 Ok\n[done accepted:250]\n[ready]\nC: RSET\n" + mail1 +
             rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 2.0.0 Ok\nS: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 250 2.1.5 Ok\n"
             "S: 354 go\n" +
             content1 + "S: 250 2.0.0 Ok\n[done accepted:250 accepted:250]\n[ready]\n"},
        {"dot_stuffing_and_line_endings",
         with(preface(ehlo_plain), {"!send 2", "250 Ok\n", "250 Ok\n", "354 go\n", "250 Ok\n"}),
         pp + "C: MAIL FROM:<>\nS: 250 Ok\n" + rcpt_joe +
             "S: 250 Ok\nC: DATA\nS: 354 go\nC: ..hidden\nC: ...two\nC: normal\nC: ..\nC: a\n"
             "C: b\nC: ..c\nC: last\nC: .\nS: 250 Ok\n[done accepted:250]\n[ready]\n"},
        {"empty_content",
         with(preface(ehlo_plain), {"!send 7", "250 Ok\n", "250 Ok\n", "354 go\n", "250 Ok\n"}),
         pp + mail0_plain + "S: 250 Ok\n" + rcpt_joe +
             "S: 250 Ok\nC: DATA\nS: 354 go\nC: .\nS: 250 Ok\n[done accepted:250]\n[ready]\n"},
        {"quit_closed_by_eof", with(preface(ehlo_plain), {"!quit", "!eof"}),
         pp + "C: QUIT\n[closed]\n"},
        {"quit_timeout_is_closed", with(preface(ehlo_plain), {"!quit", "!timeout"}),
         pp + "C: QUIT\n[closed]\n"},
        // --- STARTTLS ---------------------------------------------------------------------
        {"starttls_missing_nothing_sent",
         {"!send 0", "220 mx ESMTP\n", "250-mx\n250-PIPELINING\n250 SIZE 1000\n"},
         "S: 220 mx ESMTP\nC: EHLO hub.lgolhub.net\nS: 250-mx\nS: 250-PIPELINING\n"
         "S: 250 SIZE 1000\nC: QUIT\n[done temp:451L]\n[failed tls_unavailable 250]\n"},
        {"starttls_missing_idle",
         {"220 mx ESMTP\n", "250 mx\n"},
         "S: 220 mx ESMTP\nC: EHLO hub.lgolhub.net\nS: 250 mx\nC: QUIT\n"
         "[failed tls_unavailable 250]\n"},
        {"ehlo_unknown_means_no_tls",
         {"!send 0", "220 mx\n", "502 5.5.1 Command not implemented\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\nS: 502 5.5.1 Command not implemented\n"
         "C: QUIT\n[done temp:451L]\n[failed tls_unavailable 502]\n"},
        {"starttls_refused",
         {"!send 0", "220 mx\n", ehlo_before_tls, "454 4.7.0 TLS not available\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\n" + shown(ehlo_before_tls) +
             "C: STARTTLS\nS: 454 4.7.0 TLS not available\nC: QUIT\n[done temp:454]\n"
             "[failed tls_unavailable 454]\n"},
        {"bytes_after_starttls_220",
         {"!send 0", "220 mx\n", ehlo_before_tls, "220 2.0.0 Go\n250-evil\n250 PIPELINING\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\n" + shown(ehlo_before_tls) +
             "C: STARTTLS\nS: 220 2.0.0 Go\nS: 250-evil\nS: 250 PIPELINING\n[done temp:451L]\n"
             "[failed protocol_error 220]\n"},
        {"tls_optional_without_starttls",
         {"!send 0", "220 mx\n", "250-mx\n250 8BITMIME\n", "250 Ok\n", "250 Ok\n", "354 go\n",
          "250 Ok\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\nS: 250-mx\nS: 250 8BITMIME\n" + mail0_plain +
             "S: 250 Ok\n" + rcpt_joe + "S: 250 Ok\nC: DATA\nS: 354 go\n" + content0 +
             "S: 250 Ok\n[done accepted:250]\n[ready]\n",
         Options{false, 100}},
        {"tls_optional_helo_fallback",
         {"220 mx\n", "500 5.5.1 What?\n", "250 mx\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\nS: 500 5.5.1 What?\nC: HELO hub.lgolhub.net\n"
         "S: 250 mx\n[ready]\n",
         Options{false, 100}},
        // --- Greeting and EHLO -------------------------------------------------------------
        {"greeting_554_is_permanent",
         {"!send 1", "554 5.7.1 Go away\n"},
         "S: 554 5.7.1 Go away\nC: QUIT\n[done perm:554 perm:554]\n"
         "[failed greeting_rejected 554]\n"},
        {"greeting_421_is_temporary",
         {"!send 1", "421 4.3.2 Busy\n"},
         "S: 421 4.3.2 Busy\n[done temp:421 temp:421]\n[failed greeting_rejected 421]\n"},
        {"greeting_not_220",
         {"!send 0", "250 hello\n"},
         "S: 250 hello\n[done temp:451L]\n[failed protocol_error 250]\n"},
        {"ehlo_refused",
         {"!send 0", "220 mx\n", "550 5.7.1 Not you\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\nS: 550 5.7.1 Not you\nC: QUIT\n"
         "[done temp:550]\n[failed ehlo_rejected 550]\n"},
        {"ehlo_after_tls_refused_falls_back_to_helo",
         {"220 mx\n", ehlo_before_tls, "220 2.0.0 Go\n", "502 5.5.1 No EHLO\n", "250 mx\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\n" + shown(ehlo_before_tls) +
             "C: STARTTLS\nS: 220 2.0.0 Go\n[start_tls]\nC: EHLO hub.lgolhub.net\n"
             "S: 502 5.5.1 No EHLO\nC: HELO hub.lgolhub.net\nS: 250 mx\n[ready]\n"},
        // --- Per-message outcomes ----------------------------------------------------------
        {"size_refused_locally", with(preface(ehlo_pipelining), {"!send 3"}),
         p + "[done perm:552L]\n[ready]\n"},
        {"size_zero_means_no_limit",
         with(preface("250-mx\n250-size 0\n250 pipelining\n"),
              {"!send 3", "250 Ok\n250 Ok\n354 go\n", "250 Ok\n"}),
         preface_shown("250-mx\n250-size 0\n250 pipelining\n") +
             "C: MAIL FROM:<alice@partner1.gov.uk.lgolhub.net> SIZE=5000\n" + rcpt_joe +
             "C: DATA\nS: 250 Ok\nS: 250 Ok\nS: 354 go\nC: Subject: big\nC: \nC: big\nC: .\n"
             "S: 250 Ok\n[done accepted:250]\n[ready]\n"},
        {"partial_rcpt_rejection",
         with(preface(ehlo_pipelining),
              {"!send 1", "250 2.1.0 Ok\n550 5.1.1 No such user\n250 2.1.5 Ok\n354 go\n",
               "250 2.0.0 Ok\n"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 2.1.0 Ok\nS: 550 5.1.1 No such user\nS: 250 2.1.5 Ok\n"
             "S: 354 go\n" +
             content1 + "S: 250 2.0.0 Ok\n[done perm:550 accepted:250]\n[ready]\n"},
        {"all_rcpt_rejected_pipelined_then_rset",
         with(preface(ehlo_pipelining),
              {"!send 1",
               "250 2.1.0 Ok\n550 5.1.1 No\n450 4.2.1 Later\n554 5.5.1 No valid recipients\n",
               "!send 0", "250 Ok\n250 Ok\n250 Ok\n354 go\n", "250 Ok\n"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 2.1.0 Ok\nS: 550 5.1.1 No\nS: 450 4.2.1 Later\n"
             "S: 554 5.5.1 No valid recipients\n[done perm:550 temp:450]\n[ready]\nC: RSET\n" +
             mail0 + rcpt_joe + "C: DATA\nS: 250 Ok\nS: 250 Ok\nS: 250 Ok\nS: 354 go\n" + content0 +
             "S: 250 Ok\n[done accepted:250]\n[ready]\n"},
        {"all_rcpt_rejected_but_data_354",
         with(preface(ehlo_pipelining),
              {"!send 0", "250 Ok\n550 5.1.1 No\n354 go\n", "554 5.5.1 Empty\n"}),
         p + mail0 + rcpt_joe +
             "C: DATA\nS: 250 Ok\nS: 550 5.1.1 No\nS: 354 go\nC: .\nS: 554 5.5.1 Empty\n"
             "[done perm:550]\n[ready]\n"},
        {"all_rcpt_rejected_one_at_a_time",
         with(preface(ehlo_plain), {"!send 1", "250 Ok\n", "550 5.1.1 No\n", "551 5.1.6 Moved\n"}),
         pp + "C: MAIL FROM:<bob@partner1.gov.uk.lgolhub.net>\nS: 250 Ok\n" + rcpt_joe +
             "S: 550 5.1.1 No\n" + rcpt_ann +
             "S: 551 5.1.6 Moved\n[done perm:550 perm:551]\n"
             "[ready]\n"},
        {"mail_rejected_pipelined",
         with(preface(ehlo_pipelining),
              {"!send 1",
               "451 4.3.0 Try later\n503 5.5.1 Need MAIL\n503 5.5.1 Need MAIL\n"
               "503 5.5.1 Need MAIL\n"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 451 4.3.0 Try later\nS: 503 5.5.1 Need MAIL\nS: 503 5.5.1 Need MAIL\n"
             "S: 503 5.5.1 Need MAIL\n[done temp:451 temp:451]\n[ready]\n"},
        {"mail_rejected_one_at_a_time",
         with(preface(ehlo_plain), {"!send 1", "553 5.7.1 Sender refused\n"}),
         pp + "C: MAIL FROM:<bob@partner1.gov.uk.lgolhub.net>\nS: 553 5.7.1 Sender refused\n"
              "[done perm:553 perm:553]\n[ready]\n"},
        {"data_452",
         with(preface(ehlo_pipelining),
              {"!send 1", "250 Ok\n250 Ok\n250 Ok\n452 4.3.1 Insufficient storage\n"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 Ok\nS: 250 Ok\nS: 250 Ok\nS: 452 4.3.1 Insufficient storage\n"
             "[done temp:452 temp:452]\n[ready]\n"},
        {"end_of_data_refused",
         with(preface(ehlo_pipelining),
              {"!send 0", "250 Ok\n250 Ok\n354 go\n", "550 5.7.1 Spam\n"}),
         p + mail0 + rcpt_joe + "C: DATA\nS: 250 Ok\nS: 250 Ok\nS: 354 go\n" + content0 +
             "S: 550 5.7.1 Spam\n[done perm:550]\n[ready]\n"},
        {"bad_addresses_and_recipient_cap",
         with(preface(ehlo_plain),
              {"!send 5", "250 Ok\n", "250 Ok\n", "250 Ok\n", "354 go\n", "250 Ok\n"}),
         pp + mail0_plain +
             "S: 250 Ok\nC: RCPT TO:<a@partner2.gov.uk>\nS: 250 Ok\n"
             "C: RCPT TO:<b@partner2.gov.uk>\nS: 250 Ok\nC: DATA\nS: 354 go\nC: x\nC: .\n"
             "S: 250 Ok\n[done perm:553L accepted:250 accepted:250 temp:452L]\n[ready]\n",
         Options{true, 2}},
        {"smuggled_sender_never_sent", with(preface(ehlo_plain), {"!send 6"}),
         pp + "[done perm:553L]\n[ready]\n"},
        // --- DSN and 8BITMIME ---------------------------------------------------------------
        {"dsn_parameters_when_advertised", with(preface(ehlo_pipelining), {"!send 4"}),
         p + "C: MAIL FROM:<alice@partner1.gov.uk.lgolhub.net> SIZE=21 BODY=8BITMIME RET=HDRS "
             "ENVID=id+2B1+202\n"
             "C: RCPT TO:<joe@partner2.gov.uk> NOTIFY=SUCCESS,FAILURE "
             "ORCPT=rfc822;joe@partner2.gov.uk.lgolhub.net\n"
             "C: RCPT TO:<ann@partner2.gov.uk> NOTIFY=NEVER\nC: DATA\n"},
        {"no_dsn_parameters_otherwise", with(preface("250-mx\n250 PIPELINING\n"), {"!send 4"}),
         preface_shown("250-mx\n250 PIPELINING\n") +
             "C: MAIL FROM:<alice@partner1.gov.uk.lgolhub.net>\n" + rcpt_joe + rcpt_ann +
             "C: DATA\n"},
        // --- Failures mid-session -----------------------------------------------------------
        {"421_mid_transaction",
         with(preface(ehlo_plain), {"!send 1", "250 Ok\n", "250 Ok\n", "421 4.7.0 Closing\n"}),
         pp + "C: MAIL FROM:<bob@partner1.gov.uk.lgolhub.net>\nS: 250 Ok\n" + rcpt_joe +
             "S: 250 Ok\n" + rcpt_ann +
             "S: 421 4.7.0 Closing\n[done temp:421 temp:421]\n[failed closed_by_peer 421]\n"},
        {"421_while_idle", with(preface(ehlo_plain), {"421 4.4.2 Idle timeout\n"}),
         pp + "S: 421 4.4.2 Idle timeout\n[failed closed_by_peer 421]\n"},
        {"unsolicited_reply_while_idle", with(preface(ehlo_plain), {"250 Surprise\n"}),
         pp + "S: 250 Surprise\n[failed protocol_error 250]\n"},
        {"timeout_waiting_for_mail_reply",
         with(preface(ehlo_pipelining), {"!send 1", "250 Ok\n250 Ok\n", "!timeout"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 Ok\nS: 250 Ok\n[done temp:451L temp:451L]\n[failed timeout]\n"},
        {"timeout_waiting_for_greeting",
         {"!send 0", "!timeout"},
         "[done temp:451L]\n[failed timeout]\n"},
        {"timeout_while_idle_does_nothing", with(preface(ehlo_plain), {"!timeout"}), pp},
        {"eof_after_end_of_data",
         with(preface(ehlo_pipelining), {"!send 0", "250 Ok\n250 Ok\n354 go\n", "!eof"}),
         p + mail0 + rcpt_joe + "C: DATA\nS: 250 Ok\nS: 250 Ok\nS: 354 go\n" + content0 +
             "[done temp:451L]\n[failed closed_by_peer]\n"},
        {"eof_keeps_rcpt_refusals",
         with(preface(ehlo_pipelining), {"!send 1", "250 Ok\n550 5.1.1 No\n", "!eof"}),
         p + mail1 + rcpt_joe + rcpt_ann +
             "C: DATA\nS: 250 Ok\nS: 550 5.1.1 No\n[done perm:550 temp:451L]\n"
             "[failed closed_by_peer]\n"},
        {"malformed_reply", with(preface(ehlo_pipelining), {"!send 0", "250 Ok\n250-Ok\n251 Ok\n"}),
         p + mail0 + rcpt_joe +
             "C: DATA\nS: 250 Ok\nS: 250-Ok\nS: 251 Ok\n[done temp:451L]\n"
             "[failed protocol_error]\n"},
        {"bare_lf_reply",
         {"!send 0", "220 mx\n", "=250-mx\n250 STARTTLS\r\n"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\nS= 250-mx\\n250 STARTTLS\\r\\n\n"
         "[done temp:451L]\n[failed protocol_error]\n"},
        {"send_after_failure_is_given_back",
         {"554 No\n", "!send 1"},
         "S: 554 No\nC: QUIT\n[failed greeting_rejected 554]\n[done perm:554 perm:554]\n"},
        {"tls_failure_reported_by_engine",
         {"!send 0", "220 mx\n", ehlo_before_tls, "!tls_failed"},
         "S: 220 mx\nC: EHLO hub.lgolhub.net\n" + shown(ehlo_before_tls) +
             "C: STARTTLS\n[done temp:451L]\n[failed tls_failed]\n"},
    };
}

TEST(ClientSession, Conversations) {
    for (const Case& row : cases()) {
        SCOPED_TRACE(row.name);
        Harness harness(row.options);
        for (const std::string& item : row.script) {
            harness.step(item);
        }
        EXPECT_EQ(harness.transcript, row.expected) << row.name;
    }
}

TEST(ClientSession, RepliesAndTextsForReports) {
    Harness harness;
    for (const std::string& item :
         with(preface(ehlo_pipelining),
              {"!send 1", "250 Ok\n550-5.1.1 No such\n550 5.1.1 user here\n250 Ok\n354 go\n",
               "250 2.0.0 Ok: queued as 0123456789ABCDEF\n"})) {
        harness.step(item);
    }
    ASSERT_EQ(harness.results.size(), 1u);
    const MessageResult& result = harness.results[0];
    ASSERT_EQ(result.recipients.size(), 2u);
    EXPECT_TRUE(result.content_sent);
    EXPECT_EQ(result.recipients[0].reply.full_text(), "550 5.1.1 No such 5.1.1 user here");
    EXPECT_EQ(result.recipients[0].reply.enhanced, "5.1.1");
    EXPECT_TRUE(result.recipients[0].remote);
    EXPECT_EQ(result.recipients[1].reply.full_text(), "250 2.0.0 Ok: queued as 0123456789ABCDEF");
    const Extensions& extensions = harness.session->extensions();
    EXPECT_TRUE(extensions.pipelining && extensions.size && extensions.eight_bit_mime &&
                extensions.dsn && extensions.enhanced_status_codes);
    EXPECT_FALSE(extensions.starttls || extensions.chunking);
    EXPECT_EQ(extensions.size_max, 1000u);
    EXPECT_TRUE(harness.session->tls_active());
    EXPECT_EQ(harness.session->greeting().full_text(), "220 mx.partner2.gov.uk ESMTP");
    EXPECT_EQ(harness.session->line_endings_repaired(), 0u);
}

TEST(ClientSession, LocalFailureTexts) {
    Harness harness;
    harness.step("!send 0");
    harness.step("220 mx\n");
    harness.step("250 mx\n");
    ASSERT_EQ(harness.results.size(), 1u);
    EXPECT_EQ(harness.results[0].recipients[0].reply.full_text(),
              "451 4.7.10 TLS is required but not available: no STARTTLS in the EHLO reply");
    EXPECT_EQ(harness.session->failure().detail, "no STARTTLS in the EHLO reply");

    Harness timeout;
    timeout.step("!send 0");
    timeout.step("!timeout");
    EXPECT_EQ(timeout.results.at(0).recipients[0].reply.full_text(),
              "451 4.4.2 Timeout: waiting for the greeting");

    Harness engine;
    engine.session->on_transport_failed(FailReason::connect_failed, "Connection\r\nrefused");
    engine.drain();
    EXPECT_EQ(engine.session->failure().detail, "Connection??refused");
    EXPECT_EQ(engine.transcript, "[failed connect_failed]\n");
}

TEST(ClientSession, DeadlinesFollowRfc5321) {
    ClientConfig config;
    config.hostname = "hub.lgolhub.net";
    config.greeting_timeout_ms = 1;
    config.command_timeout_ms = 2;
    config.mail_timeout_ms = 3;
    config.rcpt_timeout_ms = 4;
    config.data_init_timeout_ms = 5;
    config.data_block_timeout_ms = 6;
    config.data_end_timeout_ms = 7;
    ClientSession session(config);
    std::vector<OutboundMessage> all = messages();
    auto feed = [&](std::string_view text) { session.feed(std::span(text.data(), text.size())); };
    auto drain = [&] {
        while (!session.pending_output().empty()) {
            session.consume_output(session.pending_output().size());
        }
    };
    EXPECT_EQ(session.deadline_ms(), 0u);
    session.start();
    std::uint64_t epoch = session.timer_epoch();
    EXPECT_EQ(session.deadline_ms(), 1u);
    feed("220 mx\r\n");
    EXPECT_GT(session.timer_epoch(), epoch);
    EXPECT_EQ(session.deadline_ms(), 2u);
    feed("250-mx\r\n250 STARTTLS\r\n");
    EXPECT_EQ(session.deadline_ms(), 2u);
    feed("220 go\r\n");
    EXPECT_EQ(session.next_event(), ClientEvent::start_tls);
    EXPECT_EQ(session.deadline_ms(), 2u);  // The handshake.
    session.tls_started();
    feed("250 mx\r\n");
    EXPECT_EQ(session.next_event(), ClientEvent::ready);
    EXPECT_EQ(session.deadline_ms(), 0u);  // Idle.
    session.send_message(all[0]);
    drain();
    EXPECT_EQ(session.deadline_ms(), 3u);
    feed("250 Ok\r\n");
    drain();
    EXPECT_EQ(session.deadline_ms(), 4u);
    feed("250 Ok\r\n");
    drain();
    EXPECT_EQ(session.deadline_ms(), 5u);
    feed("354 go\r\n");
    EXPECT_EQ(session.deadline_ms(), 6u);
    epoch = session.timer_epoch();
    drain();
    EXPECT_GT(session.timer_epoch(), epoch);
    EXPECT_EQ(session.deadline_ms(), 7u);
    feed("250 Ok\r\n");
    EXPECT_EQ(session.deadline_ms(), 0u);
    session.quit();
    EXPECT_EQ(session.deadline_ms(), 2u);
}

// A 5 MB message goes out in slices no larger than the output buffer, and what arrives is
// the exact dot-stuffed content.
TEST(ClientSession, LargeContentIsStreamed) {
    std::string content;
    std::string expected;
    for (int i = 0; content.size() < 5 * 1024 * 1024; i++) {
        std::string line;
        if (i % 3 == 0) {
            line += '.';  // Stuffed: the wire shows two.
            expected += '.';
        }
        line.append(static_cast<std::size_t>(i % 200), 'x');
        line += "\r\n";
        content += line;
        expected += line;
    }
    expected += ".\r\n";
    Harness harness;
    for (const std::string& item : with(preface(ehlo_plain), {})) {
        harness.step(item);
    }
    OutboundMessage message = messages()[0];
    message.content = content;
    harness.session->send_message(message);
    std::string wire;
    auto take = [&](std::size_t piece_max) {
        std::span<const char> out = harness.session->pending_output();
        EXPECT_LE(out.size(), client_output_bytes);
        std::size_t piece = std::min(piece_max, out.size());
        wire.append(out.data(), piece);
        harness.session->consume_output(piece);
        return piece;
    };
    auto feed = [&](std::string_view text) {
        harness.session->feed(std::span(text.data(), text.size()));
    };
    take(100000);
    feed("250 Ok\r\n");
    take(100000);
    feed("250 Ok\r\n");
    take(100000);
    ASSERT_EQ(wire,
              "MAIL FROM:<alice@partner1.gov.uk.lgolhub.net>\r\n"
              "RCPT TO:<joe@partner2.gov.uk>\r\nDATA\r\n");
    wire.clear();
    feed("354 go\r\n");
    std::size_t pieces = 0;
    while (take(16 * 1024 + pieces % 1000) > 0) {
        pieces++;
    }
    EXPECT_GT(pieces, 300u);
    EXPECT_EQ(wire.size(), expected.size());
    EXPECT_TRUE(wire == expected);
    feed("250 Ok\r\n");
    EXPECT_EQ(harness.session->next_event(), ClientEvent::message_done);
    EXPECT_EQ(harness.session->message_result().recipients[0].status, RecipientStatus::accepted);
}

// The engine sends the rewritten header block as head and the rest from where it was read
// back: the wire is the same wherever the text is cut, even inside a CRLF, before a dot
// that starts a line, or inside a bare CR or LF that must become CRLF.
TEST(ClientSession, HeadAndContentAreOneText) {
    const std::string text =
        "From: a@b\r\n\r\n.one\r\n..two\r\nbare\rcr\nlf\r\n.\r\n"
        "\r\n.\r\nlast.";
    auto wire_of = [](std::string_view head, std::string_view content) {
        Harness harness;
        for (const std::string& item : with(preface(ehlo_plain), {})) {
            harness.step(item);
        }
        OutboundMessage message = messages()[0];
        message.head = head;
        message.content = content;
        harness.session->send_message(message);
        std::string wire;
        auto take = [&] {
            std::span<const char> out = harness.session->pending_output();
            wire.append(out.data(), out.size());
            harness.session->consume_output(out.size());
        };
        auto feed = [&](std::string_view reply) {
            harness.session->feed(std::span(reply.data(), reply.size()));
        };
        take();
        feed("250 Ok\r\n");
        take();
        feed("250 Ok\r\n");
        take();
        wire.clear();
        feed("354 go\r\n");
        take();
        feed("250 Ok\r\n");
        EXPECT_EQ(harness.session->next_event(), ClientEvent::message_done);
        return wire;
    };
    const std::string whole = wire_of("", text);
    EXPECT_EQ(whole,
              "From: a@b\r\n\r\n..one\r\n...two\r\nbare\r\ncr\r\nlf\r\n..\r\n\r\n..\r\n"
              "last.\r\n.\r\n");
    for (std::size_t cut = 0; cut <= text.size(); cut++) {
        SCOPED_TRACE(cut);
        std::string_view all(text);
        EXPECT_EQ(wire_of(all.substr(0, cut), all.substr(cut)), whole);
    }
}

// The wire for head + pieces (pieces[0] is OutboundMessage::content, the rest handed over
// with add_content() whenever the session asks), output taken take_bytes at a time, and
// how many pieces it asked for.
struct PiecesWire {
    std::string wire;
    std::size_t asked = 0;
};
PiecesWire wire_of_pieces(std::string_view head, const std::vector<std::string>& pieces,
                          std::size_t take_bytes = client_output_bytes) {
    Harness harness;
    for (const std::string& item : with(preface(ehlo_plain), {})) {
        harness.step(item);
    }
    OutboundMessage message = messages()[0];
    message.head = head;
    message.content = pieces.empty() ? std::string_view{} : std::string_view(pieces[0]);
    for (std::size_t index = 1; index < pieces.size(); index++) {
        message.later_bytes += pieces[index].size();
    }
    harness.session->send_message(message);
    PiecesWire result;
    std::size_t next = 1;
    auto take = [&] {
        for (int rounds = 0; rounds < 1000000; rounds++) {
            std::span<const char> out = harness.session->pending_output();
            std::size_t taken = std::min(out.size(), take_bytes);
            result.wire.append(out.data(), taken);
            harness.session->consume_output(taken);
            if (taken > 0) {
                continue;
            }
            if (!harness.session->needs_content()) {
                return;
            }
            EXPECT_LT(next, pieces.size());
            if (next >= pieces.size()) {
                return;
            }
            result.asked++;
            harness.session->add_content(pieces[next++]);
        }
    };
    auto feed = [&](std::string_view reply) {
        harness.session->feed(std::span(reply.data(), reply.size()));
    };
    take();
    feed("250 Ok\r\n");
    take();
    feed("250 Ok\r\n");
    take();
    result.wire.clear();
    EXPECT_FALSE(harness.session->needs_content());  // Not before 354.
    feed("354 go\r\n");
    take();
    EXPECT_EQ(next, pieces.size());
    feed("250 Ok\r\n");
    EXPECT_EQ(harness.session->next_event(), ClientEvent::message_done);
    return result;
}

std::string stuffed_whole(std::string_view text) {
    return wire_of_pieces("", {std::string(text)}).wire;
}

// Content handed over in pieces (a streamed message read back slice by slice) reaches the
// wire exactly as if it were one text, whatever falls on a boundary.
TEST(ClientSession, ContentInPiecesIsOneText) {
    const std::string line998(998, 'l');
    struct Case {
        const char* name;
        std::string head;
        std::vector<std::string> pieces;
        std::string expected;  // The wire from 354 on.
    };
    const std::vector<Case> cases = {
        {"dot_first_after_crlf_ending_the_previous_piece",
         "",
         {"a\r\n", ".b\r\n", ".\r\n", "c\r\n"},
         "a\r\n..b\r\n..\r\nc\r\n.\r\n"},
        {"cr_ends_one_piece_lf_starts_the_next",
         "",
         {"a\r", "\n.b\r", "\nc\r\n"},
         "a\r\n..b\r\nc\r\n.\r\n"},
        {"cr_ends_a_piece_and_a_dot_follows_lf",
         "",
         {"x\r", "\n", ".", "\r", "\n"},
         "x\r\n..\r\n.\r\n"},
        {"bare_cr_at_a_piece_end_then_text", "", {"a\r", "b\r\n"}, "a\r\nb\r\n.\r\n"},
        {"bare_lf_starts_a_piece", "", {"a", "\nb\r\n"}, "a\r\nb\r\n.\r\n"},
        {"lone_dot_line_split_in_three",
         "",
         {"a\r\n", ".", "\r", "\nz\r\n"},
         "a\r\n..\r\nz\r\n.\r\n"},
        {"last_piece_ends_in_cr", "", {"a\r\n", "b\r"}, "a\r\nb\r\n.\r\n"},
        {"last_piece_without_crlf", "", {"a\r\n", "b"}, "a\r\nb\r\n.\r\n"},
        {"head_then_pieces", "From: a@b\r\n", {"\r\n", ".x\r\n"}, "From: a@b\r\n\r\n..x\r\n.\r\n"},
        {"empty_first_piece", "From: a@b\r\n\r\n", {"", ".x\r\n"}, "From: a@b\r\n\r\n..x\r\n.\r\n"},
        {"line_of_998_spans_pieces",
         "",
         {line998.substr(0, 500), line998.substr(500) + "\r", "\n." + line998.substr(1) + "\r\n"},
         line998 + "\r\n.." + line998.substr(1) + "\r\n.\r\n"},
    };
    for (const Case& test : cases) {
        SCOPED_TRACE(test.name);
        PiecesWire got = wire_of_pieces(test.head, test.pieces);
        EXPECT_EQ(got.wire, test.expected);
        EXPECT_EQ(got.asked, test.pieces.size() - 1);
        std::string whole = test.head;
        for (const std::string& piece : test.pieces) {
            whole += piece;
        }
        EXPECT_EQ(stuffed_whole(whole), test.expected);
        // And taken a few bytes at a time: pieces then arrive with output still waiting.
        EXPECT_EQ(wire_of_pieces(test.head, test.pieces, 7).wire, test.expected);
    }
}

// Every way of cutting a text full of boundary hazards into head and three pieces gives
// the wire the whole text gives.
TEST(ClientSession, ContentInPiecesEveryCut) {
    const std::string text = "H: v\r\n\r\n.a\r\n\r\n.\r\nb\rc\n.d\r";
    const std::string whole = stuffed_whole(text);
    EXPECT_EQ(whole, "H: v\r\n\r\n..a\r\n\r\n..\r\nb\r\nc\r\n..d\r\n.\r\n");
    std::string_view all(text);
    for (std::size_t a = 0; a <= text.size(); a++) {
        for (std::size_t b = a; b <= text.size(); b++) {
            for (std::size_t c = b + 1; c < text.size(); c++) {
                SCOPED_TRACE(testing::Message() << a << " " << b << " " << c);
                std::vector<std::string> pieces = {std::string(all.substr(a, b - a)),
                                                   std::string(all.substr(b, c - b)),
                                                   std::string(all.substr(c))};
                ASSERT_EQ(wire_of_pieces(all.substr(0, a), pieces).wire, whole);
            }
        }
    }
}

// 5 MB in 256 KiB pieces, dot lines and 998-byte lines placed across every boundary.
TEST(ClientSession, LargeContentInSlicePieces) {
    constexpr std::size_t slice = 256 * 1024;
    std::string text;
    while (text.size() < 5 * 1024 * 1024) {
        std::size_t boundary = (text.size() / slice + 1) * slice;
        // A 998-byte line ending 3 bytes into the next slice, then a dot line.
        std::size_t fill = boundary - text.size() - 995 - 2;
        text.append(fill > 2 ? fill - 2 : 0, 'f');
        text += "\r\n";
        text += std::string(998, 'x') + "\r\n";
        text += ".dot\r\n";
    }
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < text.size(); at += slice) {
        pieces.push_back(text.substr(at, slice));
    }
    PiecesWire got = wire_of_pieces("", pieces);
    EXPECT_EQ(got.asked, pieces.size() - 1);
    EXPECT_TRUE(got.wire == stuffed_whole(text));
}

// A piece that cannot be had: the session fails before the final dot, without QUIT, and
// the accepted recipients are deferred.
TEST(ClientSession, AbortContentSendsNoFinalDot) {
    Harness harness;
    for (const std::string& item : with(preface(ehlo_plain), {})) {
        harness.step(item);
    }
    const std::string first = "Subject: x\r\n\r\nbody\r\n";
    OutboundMessage message = messages()[0];
    message.content = first;
    message.later_bytes = 100;
    harness.session->send_message(message);
    std::string wire;
    auto take = [&] {
        std::span<const char> out = harness.session->pending_output();
        wire.append(out.data(), out.size());
        harness.session->consume_output(out.size());
    };
    auto feed = [&](std::string_view reply) {
        harness.session->feed(std::span(reply.data(), reply.size()));
    };
    take();
    feed("250 Ok\r\n");
    take();
    feed("250 Ok\r\n");
    take();
    wire.clear();
    feed("354 go\r\n");
    take();
    EXPECT_EQ(wire, first);
    ASSERT_TRUE(harness.session->needs_content());
    harness.session->abort_content("slice 1 fails its check");
    EXPECT_TRUE(harness.session->pending_output().empty());
    EXPECT_FALSE(harness.session->needs_content());
    EXPECT_EQ(harness.session->next_event(), ClientEvent::message_done);
    const RecipientResult& joe = harness.session->message_result().recipients[0];
    EXPECT_EQ(joe.status, RecipientStatus::temp_fail);
    EXPECT_FALSE(joe.remote);
    EXPECT_EQ(joe.reply.code, 451);
    EXPECT_EQ(harness.session->next_event(), ClientEvent::failed);
    EXPECT_EQ(harness.session->failure().reason, FailReason::content_unreadable);
    EXPECT_TRUE(harness.session->terminal());
}

// A reply in the middle of the content: a refusal is believed, an acceptance is not, and
// the connection ends either way.
TEST(ClientSession, ReplyBeforeEndOfData) {
    std::string content(1024 * 1024, 'x');
    for (int code : {552, 250}) {
        SCOPED_TRACE(code);
        Harness harness;
        for (const std::string& item : with(preface(ehlo_pipelining), {})) {
            harness.step(item);
        }
        OutboundMessage message = messages()[0];
        message.content = content;
        message.size = 10;
        harness.session->send_message(message);
        harness.session->consume_output(harness.session->pending_output().size());
        std::string replies = "250 Ok\r\n250 Ok\r\n354 go\r\n";
        harness.session->feed(std::span(replies.data(), replies.size()));
        harness.session->consume_output(harness.session->pending_output().size());
        std::string early = std::to_string(code) + " 5.3.4 Too big\r\n";
        harness.session->feed(std::span(early.data(), early.size()));
        EXPECT_EQ(harness.session->next_event(), ClientEvent::message_done);
        EXPECT_EQ(harness.session->message_result().recipients[0].status,
                  code == 552 ? RecipientStatus::perm_fail : RecipientStatus::temp_fail);
        EXPECT_EQ(harness.session->next_event(), ClientEvent::failed);
        EXPECT_EQ(harness.session->failure().reason, FailReason::protocol_error);
        EXPECT_TRUE(harness.session->pending_output().empty());
    }
}

TEST(ClientSession, ImplicitTls) {
    ClientConfig config;
    config.hostname = "hub.lgolhub.net";
    ClientSession session(config);
    session.tls_started();
    session.start();
    std::string text = "220 mx\r\n";
    session.feed(std::span(text.data(), text.size()));
    std::span<const char> out = session.pending_output();
    EXPECT_EQ(std::string_view(out.data(), out.size()), "EHLO hub.lgolhub.net\r\n");
    session.consume_output(out.size());
    text = "250 mx\r\n";  // No STARTTLS needed: TLS is already up.
    session.feed(std::span(text.data(), text.size()));
    EXPECT_EQ(session.next_event(), ClientEvent::ready);
    EXPECT_TRUE(session.idle());
    session.release_idle_buffers();
    EXPECT_TRUE(session.pending_output().empty());
}

}  // namespace
}  // namespace hub::smtp
