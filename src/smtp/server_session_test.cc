// server_session_test.cc -- the SMTP server state machine, bytes in, replies and events out.
//
// Method: each table row is a conversation. The harness starts a session (by default as
// on the implicit-TLS listener, so that most rows need no STARTTLS), feeds each string of
// `feeds` as one arrival (split only where the inbox is full), plays the engine (a
// STARTTLS handshake completes at the end of the arrival that asked for it, a message is
// committed as soon as it is ready) and compares the transcript: replies with CRLF shown
// as "\n", events as "[start_tls]", "[message_ready]" and "[close]".
#include "smtp/server_session.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace hub::smtp {
namespace {

constexpr std::string_view hub_host = "hub.lgolhub.net";

class FakePolicy final : public ServerPolicy {
public:
    // The local part picks the verdict; the connecting partner is always partner1.
    SenderCheck check_sender(std::string_view address) override {
        senders.emplace_back(address);
        SenderCheck check{SenderVerdict::accept, "partner1", ""};
        if (address.starts_with("nocert@")) {
            check.verdict = SenderVerdict::no_client_certificate;
        } else if (address.starts_with("badchain@")) {
            check.verdict = SenderVerdict::certificate_chain;
        } else if (address.starts_with("wrongcn@")) {
            check.verdict = SenderVerdict::cn_mismatch;
        } else if (address.starts_with("spoof@")) {
            check.verdict = SenderVerdict::sender_not_partner;
        }
        return check;
    }
    RcptVerdict check_recipient(std::string_view address) override {
        checked.emplace_back(address);
        if (address.starts_with("needcert@")) {
            return RcptVerdict::tls_required;
        }
        if (address.ends_with("@partner1.gov.uk.lgolhub.net") ||
            address.ends_with("@partner2.gov.uk.lgolhub.net")) {
            return RcptVerdict::accept;
        }
        if (address.ends_with(".lgolhub.net")) {
            return RcptVerdict::unknown_partner;
        }
        return RcptVerdict::relay_denied;
    }
    bool spool_has_space() override { return space; }

    bool space = true;
    std::vector<std::string> checked;
    std::vector<std::string> senders;
};

TlsFacts fake_tls() {
    TlsFacts tls;
    tls.version = "TLSv1.3";
    tls.cipher = "TLS_AES_256_GCM_SHA384";
    tls.bits = 256;
    tls.client_cert_verdict = "verified";
    tls.client_cn = "partner1.gov.uk";
    return tls;
}

struct Options {
    bool implicit_tls = true;  // Start as on the smtps listener: TLS already active.
    bool tls_required = true;
    bool starttls_offered = true;
    std::uint64_t message_bytes_max = 1000;
    std::uint32_t recipients_count_max = 3;
    std::uint32_t errors_count_max = 10;
    bool spool_space = true;
    bool manual_commit = false;                // Leave message_ready unanswered (see commit()).
    std::deque<CommitResult::Status> commits;  // Default: every commit is durable.
    // Nonzero: play a streaming engine, taking the content in pieces of this size as soon as
    // the session offers that much (the message is then the pieces and the rest).
    std::size_t piece_bytes = 0;
};

class Harness {
public:
    explicit Harness(Options options = {}) : options_(std::move(options)) {
        ServerConfig config;
        config.hostname = std::string(hub_host);
        config.message_bytes_max = options_.message_bytes_max;
        config.recipients_count_max = options_.recipients_count_max;
        config.errors_count_max = options_.errors_count_max;
        config.tls_required = options_.tls_required;
        config.starttls_offered = options_.starttls_offered && !options_.implicit_tls;
        policy.space = options_.spool_space;
        session.emplace(config, policy);
        if (options_.implicit_tls) {
            session->tls_started(fake_tls());
        }
        session->start(false);
        drain();
        transcript.clear();  // Rows do not repeat the greeting.
    }

    // One arrival: fed in pieces no larger than the inbox's space, then re-fed with
    // nothing while the session says work remains (what the engine does after yielding).
    void feed(std::string_view bytes) {
        bool pending_handshake = false;
        while (!bytes.empty() && !session->closed()) {
            std::size_t space = session->inbox_space_bytes();
            std::size_t piece = std::min(space, bytes.size());
            EXPECT_LE(space, inbox_bytes);
            bool more = session->feed(std::span<const char>(bytes.data(), piece));
            bytes.remove_prefix(piece);
            pending_handshake |= drain();
            take_pieces();
            for (int spins = 0; more && spins < 1000; spins++) {
                more = session->feed({});
                pending_handshake |= drain();
                take_pieces();
            }
            if (piece == 0 && bytes.size() > 0) {
                break;  // Awaiting a manual commit with a full inbox.
            }
        }
        if (pending_handshake && !session->closed()) {
            session->tls_started(fake_tls());
            drain();
        }
    }

    void commit(CommitResult::Status status) {
        CommitResult result;
        result.status = status;
        result.queue_id = "Q" + std::to_string(++queued_);
        session->commit_done(result);
        drain();
    }

    // Moves replies and events into the transcript; true if a handshake was asked for.
    bool drain() {
        bool handshake = false;
        while (true) {
            take_replies();
            Event event = session->next_event();
            if (event == Event::none) {
                return handshake;
            }
            switch (event) {
                case Event::start_tls:
                    transcript += "[start_tls]\n";
                    handshake = true;
                    break;
                case Event::message_ready:
                    transcript += "[message_ready]\n";
                    if (pieces_serial_ != session->transaction_serial()) {
                        pieces_.clear();  // Pieces of a refused message: abandoned.
                    }
                    EXPECT_EQ(session->body_bytes_taken(), pieces_.size());
                    messages.emplace_back(pieces_ + std::string(session->body()));
                    pieces_.clear();
                    envelopes.push_back(session->envelope());
                    EXPECT_LE(session->body().size(), options_.message_bytes_max);
                    if (!options_.manual_commit) {
                        CommitResult::Status status = CommitResult::Status::durable;
                        if (!options_.commits.empty()) {
                            status = options_.commits.front();
                            options_.commits.pop_front();
                        }
                        commit(status);
                    }
                    break;
                case Event::close:
                    transcript += "[close]\n";
                    break;
                case Event::none:
                    break;
            }
        }
    }

    // The streaming engine's part: pieces as they fill, never before the header block
    // ended; the session's own buffer stays within a piece and one arrival.
    void take_pieces() {
        if (options_.piece_bytes == 0) {
            return;
        }
        if (pieces_serial_ != session->transaction_serial()) {
            pieces_.clear();  // The message was refused or reset: its pieces are dead.
            pieces_serial_ = session->transaction_serial();
        }
        while (session->streamable_body_bytes() >= options_.piece_bytes) {
            if (pieces_.empty()) {
                std::string_view head = session->body();
                EXPECT_TRUE(head.starts_with("\r\n") ||
                            head.find("\r\n\r\n") != std::string_view::npos)
                    << "a piece offered before the header block ended";
            }
            pieces_ += session->take_body_piece(options_.piece_bytes, options_.piece_bytes);
            pieces_taken++;
        }
        body_held_max = std::max(body_held_max, session->body().size());
    }

    void take_replies() {
        std::string& replies = session->replies();
        EXPECT_TRUE(replies.empty() || replies.ends_with("\r\n")) << replies;
        for (std::size_t i = 0; i < replies.size(); i++) {
            if (replies[i] == '\r') {
                EXPECT_TRUE(i + 1 < replies.size() && replies[i + 1] == '\n') << replies;
                continue;
            }
            EXPECT_TRUE(replies[i] != '\n' || (i > 0 && replies[i - 1] == '\r')) << replies;
            transcript += replies[i];
        }
        replies.clear();
        // Refusals as "stage reason | reply | from | to", one per reply that refused.
        for (const Refusal& refusal : session->refusals()) {
            refused.push_back(fmt::format("{} {} | {} | {} | {}", refusal_stage_name(refusal.stage),
                                          refusal_reason_name(refusal.reason), refusal.reply,
                                          refusal.has_from ? "<" + refusal.from + ">" : "-",
                                          refusal.to));
        }
        session->refusals().clear();
    }

    Options options_;
    FakePolicy policy;
    std::optional<ServerSession> session;
    std::string transcript;
    std::vector<std::string> messages;
    std::vector<Envelope> envelopes;
    std::string pieces_;  // Taken from the message being received.
    std::uint64_t pieces_serial_ = 0;
    std::size_t pieces_taken = 0;
    std::size_t body_held_max = 0;
    std::vector<std::string> refused;
    int queued_ = 0;
};

struct Case {
    const char* name;
    std::vector<std::string> feeds;
    std::string expected;
    Options options = {};
};

std::string repeat(char c, std::size_t count) {
    return std::string(count, c);
}

const std::string ehlo_reply =
    "250-hub.lgolhub.net\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n"
    "250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250 DSN\n";
const std::string ehlo_reply_starttls =
    "250-hub.lgolhub.net\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n"
    "250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250-DSN\n250 STARTTLS\n";
const std::string mail_rcpt =
    "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n";
const std::string mail_rcpt_reply = ehlo_reply + "250 2.1.0 Ok\n250 2.1.5 Ok\n";
const std::string smuggle_close =
    "521 5.5.2 hub.lgolhub.net Bare CR or LF received; closing\n[close]\n";

// The same text as seen with message_bytes_max = 100000.
std::string big(std::string text) {
    std::size_t at = text.find("SIZE 1000\n");
    return text.replace(at, 10, "SIZE 100000\n");
}

Options plain() {
    Options options;
    options.implicit_tls = false;
    return options;
}

Options with_commits(std::deque<CommitResult::Status> commits) {
    Options options;
    options.commits = std::move(commits);
    return options;
}

Options with_errors_max(std::uint32_t errors) {
    Options options;
    options.errors_count_max = errors;
    return options;
}

// A message that sets the scene for the smuggling rows: DATA is open, a first line is in.
std::string smuggle(std::string_view variant) {
    return mail_rcpt + "DATA\r\nSubject: one\r\n\r\nbody" + std::string(variant) +
           "MAIL FROM:<evil@b.example>\r\nRCPT TO:<x@partner1.gov.uk.lgolhub.net>\r\nDATA\r\n"
           "smuggled\r\n.\r\n";
}
// The same attack cut so that CRLF "." CR arrives across three feeds.
std::vector<std::string> smuggle_split() {
    std::string whole = smuggle("\r\n.\r");
    std::size_t body = whole.find("body") + 4;
    return {whole.substr(0, body + 2), whole.substr(body + 2, 2), whole.substr(body + 4)};
}
const std::string smuggle_prefix = mail_rcpt_reply + "354 End data with <CR><LF>.<CR><LF>\n";

std::vector<Case> cases() {
    return {
        // --- EHLO / HELO -----------------------------------------------------------------
        {"ehlo_after_tls", {"EHLO client.example\r\n"}, ehlo_reply},
        {"ehlo_offers_starttls", {"EHLO client.example\r\n"}, ehlo_reply_starttls, plain()},
        {"helo_plain_250", {"HELO client.example\r\n"}, "250 hub.lgolhub.net\n"},
        {"ehlo_without_argument",
         {"EHLO\r\n", "EHLO   \r\n"},
         "501 5.5.4 Syntax: EHLO hostname\n501 5.5.4 Syntax: EHLO hostname\n"},
        {"helo_without_argument", {"HELO\r\n"}, "501 5.5.4 Syntax: HELO hostname\n"},
        {"ehlo_non_ascii_argument",
         {"EHLO caf\xc3\xa9\r\n"},
         "501 5.5.4 Error: invalid hostname\n"},
        {"ehlo_resets_transaction",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT "
          "TO:<u@partner2.gov.uk.lgolhub.net>\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n" + ehlo_reply + "503 5.5.1 Error: need MAIL command\n"},
        {"commands_case_insensitive",
         {"ehlo c\r\nmail from:<a@b.example> body=8bitmime\r\nrCpT "
          "tO:<u@partner2.gov.uk.lgolhub.net>\r\n"
          "NoOp\r\nrset\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n250 2.1.5 Ok\n250 2.0.0 Ok\n250 2.0.0 Ok\n"},
        // --- Before TLS -------------------------------------------------------------------
        {"mail_before_tls_530",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"
          "DATA\r\nHELP\r\nVRFY x\r\nEXPN x\r\nXYZZY\r\n"},
         ehlo_reply_starttls + "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n"
                               "530 5.7.0 Must issue a STARTTLS command first\n",
         plain()},
        {"allowed_before_tls",
         {"HELO c\r\nNOOP\r\nRSET\r\nQUIT\r\n"},
         "250 hub.lgolhub.net\n250 2.0.0 Ok\n250 2.0.0 Ok\n221 2.0.0 Bye\n[close]\n",
         plain()},
        {"bdat_before_tls_reads_chunk",
         {"EHLO c\r\nBDAT 6\r\nNOOP\r\n", "NOOP\r\n"},
         ehlo_reply_starttls + "530 5.7.0 Must issue a STARTTLS command first\n250 2.0.0 Ok\n",
         plain()},
        {"tls_not_required_allows_clear_text",
         {mail_rcpt},
         ehlo_reply_starttls + "250 2.1.0 Ok\n250 2.1.5 Ok\n",
         [] {
             Options options = plain();
             options.tls_required = false;
             return options;
         }()},
        // --- STARTTLS ---------------------------------------------------------------------
        {"starttls_then_ehlo",
         {"EHLO c\r\nSTARTTLS\r\n", "EHLO c\r\n"},
         ehlo_reply_starttls + "220 2.0.0 Ready to start TLS\n[start_tls]\n" + ehlo_reply,
         plain()},
        {"starttls_injection_discarded",
         {"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@b.example>\r\nRCPT "
          "TO:<u@partner2.gov.uk.lgolhub.net>\r\n",
          "MAIL FROM:<a@b.example>\r\n"},
         ehlo_reply_starttls + "220 2.0.0 Ready to start TLS\n[start_tls]\n"
                               "503 5.5.1 Error: send HELO/EHLO first\n",
         plain()},
        {"starttls_injection_split_line",
         {"EHLO c\r\nSTARTTLS\r", "\nEHLO evil\r\nMAIL FROM:<evil@b.example>\r\n",
          "MAIL FROM:<a@b.example>\r\n"},
         // The handshake completes after the second arrival, whose tail is discarded.
         ehlo_reply_starttls + "220 2.0.0 Ready to start TLS\n[start_tls]\n"
                               "503 5.5.1 Error: send HELO/EHLO first\n",
         plain()},
        {"starttls_forgets_helo",
         {"EHLO c\r\nSTARTTLS\r\n",
          "MAIL FROM:<a@b.example>\r\nEHLO c\r\nMAIL FROM:<a@b.example>\r\n"},
         ehlo_reply_starttls +
             "220 2.0.0 Ready to start TLS\n[start_tls]\n"
             "503 5.5.1 Error: send HELO/EHLO first\n" +
             ehlo_reply + "250 2.1.0 Ok\n",
         plain()},
        {"starttls_with_argument", {"STARTTLS now\r\n"}, "501 5.5.4 Syntax: STARTTLS\n", plain()},
        {"starttls_when_active", {"STARTTLS\r\n"}, "503 5.5.1 Error: TLS already active\n"},
        {"starttls_not_offered",
         {"STARTTLS\r\n"},
         "502 5.5.1 Error: command not implemented\n",
         [] {
             Options options = plain();
             options.starttls_offered = false;
             return options;
         }()},
        // --- Command line framing ------------------------------------------------------------
        {"bare_lf_in_command",
         {"NOOP\nNOOP\r\nNOOP\r\n"},
         "500 5.5.2 Bare CR or LF in command\n250 2.0.0 Ok\n"},
        {"bare_cr_in_command", {"NO\rOP\r\n"}, "500 5.5.2 Bare CR or LF in command\n"},
        {"lf_only_lines_never_end",
         {"NOOP\nNOOP\n", "NOOP\r\n"},
         "500 5.5.2 Bare CR or LF in command\n"},
        {"crlf_split_across_feeds", {"NOOP\r", "\nNOOP", "\r\n"}, "250 2.0.0 Ok\n250 2.0.0 Ok\n"},
        {"line_of_512_accepted", {"NOOP " + repeat('x', 505) + "\r\n"}, "250 2.0.0 Ok\n"},
        {"line_of_513_refused",
         {"NOOP " + repeat('x', 506) + "\r\nNOOP\r\n"},
         "500 5.5.2 Line too long\n250 2.0.0 Ok\n"},
        {"long_line_cr_lf_across_feeds",
         {repeat('x', 600) + "\r", "\nNOOP\r\n"},
         "500 5.5.2 Line too long\n250 2.0.0 Ok\n"},
        {"long_line_bare_lf_inside_discard",
         {repeat('x', 600) + "\nNOOP\r\nNOOP\r\n"},
         "500 5.5.2 Line too long\n250 2.0.0 Ok\n"},
        {"empty_line", {"\r\n"}, "500 5.5.2 Error: bad syntax\n"},
        {"control_character",
         {"NOOP \x01\r\n", std::string("NOOP \0\r\n", 8)},
         "500 5.5.2 Error: control character in command\n"
         "500 5.5.2 Error: control character in command\n"},
        // --- Simple commands --------------------------------------------------------------------
        {"simple_commands",
         {"NOOP\r\nNOOP hello\r\nRSET\r\nHELP\r\nVRFY joe\r\nEXPN list\r\nXYZZY\r\n"},
         "250 2.0.0 Ok\n250 2.0.0 Ok\n250 2.0.0 Ok\n"
         "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS\n"
         "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\n"
         "502 5.5.1 EXPN not available\n500 5.5.1 Error: command not recognized\n"},
        {"vrfy_without_argument", {"VRFY\r\n"}, "501 5.5.4 Syntax: VRFY address\n"},
        {"rset_with_argument", {"RSET x\r\n"}, "501 5.5.4 Syntax: RSET\n"},
        {"quit_closes_and_ignores_rest",
         {"QUIT\r\nNOOP\r\n", "NOOP\r\n"},
         "221 2.0.0 Bye\n[close]\n"},
        // --- MAIL
        // ---------------------------------------------------------------------------------
        {"mail_before_ehlo",
         {"MAIL FROM:<a@b.example>\r\n"},
         "503 5.5.1 Error: send HELO/EHLO first\n"},
        {"mail_null_sender", {"EHLO c\r\nMAIL FROM:<>\r\n"}, ehlo_reply + "250 2.1.0 Ok\n"},
        {"mail_space_after_colon",
         {"EHLO c\r\nMAIL FROM: <a@b.example>\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n"},
        {"mail_all_parameters",
         {"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=999 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n"},
        {"mail_nested",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n503 5.5.1 Error: nested MAIL command\n"},
        {"mail_bad_syntax",
         {"EHLO c\r\nMAIL a@b.example\r\nMAIL FROM:a@b.example\r\nMAIL FROM:<a@b.example\r\n"
          "MAIL FROM:<a@b.example>x\r\nMAIL\r\n"},
         ehlo_reply + "501 5.5.4 Syntax: MAIL FROM:<address>\n"
                      "501 5.5.4 Syntax: MAIL FROM:<address>\n"
                      "501 5.5.4 Syntax: MAIL FROM:<address>\n"
                      "501 5.5.4 Syntax: MAIL FROM:<address>\n"
                      "501 5.5.4 Syntax: MAIL FROM:<address>\n"},
        {"mail_bad_address",
         {"EHLO c\r\nMAIL FROM:<a>\r\nMAIL FROM:<a@>\r\nMAIL FROM:<a..b@c>\r\nMAIL FROM:<a@-b>\r\n"
          "MAIL FROM:<a b@c>\r\nMAIL FROM:<caf\xc3\xa9@c>\r\n"},
         ehlo_reply + "501 5.1.7 Bad sender address syntax\n501 5.1.7 Bad sender address syntax\n"
                      "501 5.1.7 Bad sender address syntax\n501 5.1.7 Bad sender address syntax\n"
                      "501 5.1.7 Bad sender address syntax\n501 5.1.7 Bad sender address syntax\n"},
        {"mail_size_over_max",
         {"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=1001\r\nMAIL FROM:<a@b.example> SIZE=1000\r\n"},
         ehlo_reply + "552 5.3.4 Message size exceeds fixed limit\n250 2.1.0 Ok\n"},
        {"mail_unknown_parameter",
         {"EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nMAIL FROM:<a@b.example> AUTH=<>\r\n"},
         ehlo_reply +
             "555 5.5.4 Unsupported option: SMTPUTF8\n555 5.5.4 Unsupported option: AUTH\n"},
        {"mail_bad_parameter_values",
         {"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=x\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
          "MAIL FROM:<a@b.example> RET=ALL\r\nMAIL FROM:<a@b.example> ENVID=a+0D+0Ab\r\n"
          "MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\nMAIL FROM:<a@b.example> SIZE\r\n"},
         ehlo_reply + "501 5.5.4 Bad SIZE parameter\n501 5.5.4 Bad BODY parameter\n"
                      "501 5.5.4 Bad RET parameter\n501 5.5.4 Bad ENVID parameter\n"
                      "501 5.5.4 Bad SIZE parameter\n501 5.5.4 Bad SIZE parameter\n"},
        {"mail_spool_full",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"},
         ehlo_reply + "452 4.3.1 Insufficient system storage\n",
         [] {
             Options options;
             options.spool_space = false;
             return options;
         }()},
        // Partner identity and sender binding are settled at MAIL, before any recipient:
        // each refusal leaves no transaction open, and the next MAIL may succeed.
        {"mail_sender_refused",
         {"EHLO c\r\nMAIL FROM:<nocert@partner1.gov.uk>\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"
          "MAIL FROM:<badchain@partner1.gov.uk> SIZE=10\r\n"
          "MAIL FROM:<wrongcn@partner1.gov.uk>\r\nMAIL FROM:<spoof@Partner2.gov.uk>\r\n"
          "MAIL FROM:<a@partner1.gov.uk>\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"},
         ehlo_reply +
             "530 5.7.0 Client certificate required by the policy of partner partner1\n"
             "503 5.5.1 Error: need MAIL command\n"
             "530 5.7.0 Client certificate not trusted: partner partner1 requires one issued "
             "by the hub CA\n"
             "550 5.7.1 Client certificate CN does not match partner partner1\n"
             "550 5.7.1 <spoof@Partner2.gov.uk>: Sender address rejected: not a domain of "
             "partner partner1\n"
             "250 2.1.0 Ok\n250 2.1.5 Ok\n"},
        // Syntax is checked first: a malformed MAIL is a syntax error, whoever sends it.
        {"mail_syntax_before_sender_policy",
         {"EHLO c\r\nMAIL FROM:<nocert@partner1.gov.uk> FOO=1\r\n"},
         ehlo_reply + "555 5.5.4 Unsupported option: FOO\n"},
        {"mail_refusals_count_as_errors",
         {"EHLO c\r\nMAIL FROM:<nocert@p.example>\r\nMAIL FROM:<spoof@p.example>\r\n"},
         ehlo_reply +
             "530 5.7.0 Client certificate required by the policy of partner partner1\n"
             "550 5.7.1 <spoof@p.example>: Sender address rejected: not a domain of partner "
             "partner1\n421 4.7.0 hub.lgolhub.net Too many errors\n[close]\n",
         with_errors_max(2)},
        {"mail_spool_full_is_not_a_client_error",
         {"EHLO c\r\n" +
          [] {
              std::string pipeline;
              for (int i = 0; i < 12; i++) {
                  pipeline +=
                      "MAIL FROM:<a@b.example>\r\nRCPT TO:<v@partner1.gov.uk.lgolhub.net>"
                      "\r\nDATA\r\n";
              }
              return pipeline + "NOOP\r\n";
          }()},
         ehlo_reply +
             [] {
                 std::string replies;
                 for (int i = 0; i < 12; i++) {
                     replies +=
                         "452 4.3.1 Insufficient system storage\n"
                         "503 5.5.1 Error: need MAIL command\n"
                         "503 5.5.1 Error: need MAIL command\n";
                 }
                 return replies + "250 2.0.0 Ok\n";
             }(),
         [] {
             Options options;
             options.spool_space = false;
             return options;
         }()},
        // --- RCPT
        // ---------------------------------------------------------------------------------
        {"rcpt_before_mail",
         {"EHLO c\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"},
         ehlo_reply + "503 5.5.1 Error: need MAIL command\n"},
        {"rcpt_verdicts",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@elsewhere.example>\r\n"
          "RCPT TO:<u@partner9.lgolhub.net>\r\nRCPT TO:<needcert@partner2.gov.uk.lgolhub.net>\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n550 5.7.1 Relay access denied\n"
                      "550 5.1.2 Recipient domain is not served by this hub\n"
                      "530 5.7.0 Recipient's partner policy requires a verified TLS client\n"
                      "250 2.1.5 Ok\n"},
        {"rcpt_too_many",
         {mail_rcpt +
          "RCPT TO:<v@partner2.gov.uk.lgolhub.net>\r\nRCPT TO:<w@partner2.gov.uk.lgolhub.net>\r\n"
          "RCPT TO:<x@partner2.gov.uk.lgolhub.net>\r\n"},
         mail_rcpt_reply + "250 2.1.5 Ok\n250 2.1.5 Ok\n452 4.5.3 Too many recipients\n"},
        {"rcpt_parameters",
         {mail_rcpt.substr(0, mail_rcpt.size() - 2) +
          " NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+40x\r\n"
          "RCPT TO:<v@partner2.gov.uk.lgolhub.net> NOTIFY=NEVER\r\n"},
         mail_rcpt_reply + "250 2.1.5 Ok\n"},
        {"rcpt_bad_parameters",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net> NOTIFY=NEVER,SUCCESS\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net> NOTIFY=SOMETIMES\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net> ORCPT=u@x\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net> ORCPT=rfc822;+0A\r\n"
          "RCPT TO:<u@partner2.gov.uk.lgolhub.net> FOO=1\r\n"},
         ehlo_reply +
             "250 2.1.0 Ok\n501 5.5.4 Bad NOTIFY parameter\n501 5.5.4 Bad NOTIFY parameter\n"
             "501 5.5.4 Bad ORCPT parameter\n501 5.5.4 Bad ORCPT parameter\n"
             "555 5.5.4 Unsupported option: FOO\n"},
        {"rcpt_bad_address",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<>\r\nRCPT TO:u@x\r\nRCPT "
          "TO:<Postmaster>\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n501 5.1.3 Bad recipient address syntax\n"
                      "501 5.5.4 Syntax: RCPT TO:<address>\n550 5.7.1 Relay access denied\n"},
        // --- DATA
        // ----------------------------------------------------------------------------------
        {"data_without_mail",
         {"EHLO c\r\nDATA\r\n"},
         ehlo_reply + "503 5.5.1 Error: need MAIL command\n"},
        {"data_without_rcpt",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n554 5.5.1 Error: no valid recipients\n"},
        {"data_with_argument",
         {mail_rcpt + "DATA x\r\n"},
         mail_rcpt_reply + "501 5.5.4 Syntax: DATA\n"},
        {"data_accepted",
         {mail_rcpt + "DATA\r\nSubject: x\r\n\r\nhello\r\n.\r\n"},
         smuggle_prefix + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"data_pipelined_in_order",
         {mail_rcpt +
          "DATA\r\nhello\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<v@partner1.gov.uk.lgolhub.net>\r\n"
          "DATA\r\nsecond\r\n.\r\nQUIT\r\n"},
         smuggle_prefix +
             "[message_ready]\n250 2.0.0 Ok: queued as Q1\n250 2.1.0 Ok\n250 2.1.5 Ok\n"
             "354 End data with <CR><LF>.<CR><LF>\n[message_ready]\n"
             "250 2.0.0 Ok: queued as Q2\n221 2.0.0 Bye\n[close]\n"},
        {"data_byte_by_byte_end",
         {mail_rcpt + "DATA\r\nx\r", "\n", ".", "\r", "\n"},
         smuggle_prefix + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"data_dot_lines_are_not_the_end",
         {mail_rcpt + "DATA\r\n.x\r\n..\r\n. \r\n.\r\n"},
         smuggle_prefix + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"commit_failed_and_no_space",
         {mail_rcpt +
          "DATA\r\nx\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<v@partner1.gov.uk.lgolhub.net>\r\n"
          "DATA\r\ny\r\n.\r\nRCPT TO:<v@partner1.gov.uk.lgolhub.net>\r\n"},
         smuggle_prefix + "[message_ready]\n451 4.3.0 Error: queue file write error\n250 2.1.0 Ok\n"
                          "250 2.1.5 Ok\n354 End data with <CR><LF>.<CR><LF>\n[message_ready]\n"
                          "452 4.3.1 Insufficient system storage\n"
                          "503 5.5.1 Error: need MAIL command\n",
         with_commits({CommitResult::Status::failed, CommitResult::Status::no_space})},
        {"data_long_line",
         {mail_rcpt + "DATA\r\n" + repeat('a', 600),
          repeat('b', 399) + "\r\nmore\r\n.\r\nNOOP\r\n"},
         big(smuggle_prefix) + "550 5.6.0 Message line longer than 998 characters\n250 2.0.0 Ok\n",
         [] {
             Options options;
             options.message_bytes_max = 100000;
             return options;
         }()},
        {"data_line_of_1000_accepted",
         {mail_rcpt + "DATA\r\n" + repeat('a', 998) + "\r\n.\r\n"},
         big(smuggle_prefix) + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n",
         [] {
             Options options;
             options.message_bytes_max = 100000;
             return options;
         }()},
        {"data_oversized_once",
         {mail_rcpt + "DATA\r\n", repeat('a', 500) + "\r\n" + repeat('b', 500) + "\r\n",
          repeat('c', 500) + "\r\n.\r\nNOOP\r\n"},
         smuggle_prefix + "552 5.3.4 Message size exceeds fixed limit\n250 2.0.0 Ok\n"},
        // --- SMTP smuggling: every bare CR/LF shape closes the connection --------------------
        {"smuggle_lf_dot_lf", {smuggle("\n.\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_cr_dot_lf", {smuggle("\r.\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_lf_dot_crlf", {smuggle("\n.\r\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_crlf_dot_cr", {smuggle("\r\n.\r")}, smuggle_prefix + smuggle_close},
        {"smuggle_cr_dot_cr", {smuggle("\r.\r")}, smuggle_prefix + smuggle_close},
        {"smuggle_cr_dot_crlf", {smuggle("\r.\r\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_crlf_dot_lf", {smuggle("\r\n.\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_lf_dot_cr", {smuggle("\n.\r")}, smuggle_prefix + smuggle_close},
        {"smuggle_bare_lf_mid_line", {smuggle("x\ny")}, smuggle_prefix + smuggle_close},
        {"smuggle_bare_cr_mid_line", {smuggle("x\ry")}, smuggle_prefix + smuggle_close},
        {"smuggle_crcrlf", {smuggle("\r\r\n.\r\n")}, smuggle_prefix + smuggle_close},
        {"smuggle_split_feeds", smuggle_split(), smuggle_prefix + smuggle_close},
        // --- BDAT
        // -----------------------------------------------------------------------------------
        {"bdat_before_mail_reads_chunk",
         {"EHLO c\r\nBDAT 12\r\nNOOP\r\nNOOP\r\nNOOP\r\n"},
         ehlo_reply + "503 5.5.1 Error: need MAIL command\n250 2.0.0 Ok\n"},
        {"bdat_before_rcpt_reads_chunk",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nBDAT 6 LAST\r\n", "QUIT\r\n", "NOOP\r\n"},
         ehlo_reply + "250 2.1.0 Ok\n503 5.5.1 Error: need RCPT command\n250 2.0.0 Ok\n"},
        {"bdat_chunks",
         {mail_rcpt + "BDAT 5\r\nhelloBDAT 8 LAST\r\n world\r\n"},
         mail_rcpt_reply +
             "250 2.0.0 5 octets received\n[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"bdat_zero_last",
         {mail_rcpt + "BDAT 0 LAST\r\n"},
         mail_rcpt_reply + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"bdat_zero_chunk",
         {mail_rcpt + "BDAT 0\r\nBDAT 3 last\r\nabc"},
         mail_rcpt_reply +
             "250 2.0.0 0 octets received\n[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"bdat_dot_line_is_content",
         {mail_rcpt + "BDAT 9 LAST\r\nx\r\n.\r\ny\r\n"},
         mail_rcpt_reply + "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"bdat_bare_lf",
         {mail_rcpt + "BDAT 4\r\nx\n.\nBDAT 3 LAST\r\nz\r\nNOOP\r\n"},
         mail_rcpt_reply + "250 2.0.0 4 octets received\n550 5.6.0 Message contains bare CR or LF\n"
                           "250 2.0.0 Ok\n"},
        {"bdat_bare_cr_at_end",
         {mail_rcpt + "BDAT 2 LAST\r\nx\r"},
         mail_rcpt_reply + "550 5.6.0 Message contains bare CR or LF\n"},
        {"bdat_crlf_across_chunks",
         {mail_rcpt + "BDAT 2\r\nx\rBDAT 1 LAST\r\n\n"},
         mail_rcpt_reply +
             "250 2.0.0 2 octets received\n[message_ready]\n250 2.0.0 Ok: queued as Q1\n"},
        {"bdat_oversized",
         {mail_rcpt + "BDAT 800\r\n" + repeat('a', 800) + "BDAT 800 LAST\r\n" + repeat('b', 800) +
          "NOOP\r\n"},
         mail_rcpt_reply +
             "250 2.0.0 800 octets received\n552 5.3.4 Message size exceeds fixed limit\n"
             "250 2.0.0 Ok\n"},
        {"bdat_then_data",
         {mail_rcpt + "BDAT 3\r\nabcDATA\r\n"},
         mail_rcpt_reply + "250 2.0.0 3 octets received\n503 5.5.1 Error: DATA after BDAT\n"},
        {"bdat_then_rcpt",
         {mail_rcpt + "BDAT 3\r\nabcRCPT TO:<v@partner2.gov.uk.lgolhub.net>\r\n"},
         mail_rcpt_reply + "250 2.0.0 3 octets received\n503 5.5.1 Error: RCPT after BDAT\n"},
        {"bdat_bad_syntax",
         {mail_rcpt + "BDAT\r\nBDAT x\r\nBDAT 5 FIRST\r\nBDAT -1\r\nBDAT 99999999999999999999\r\n"},
         mail_rcpt_reply +
             "501 5.5.4 Syntax: BDAT size [LAST]\n501 5.5.4 Syntax: BDAT size [LAST]\n"
             "501 5.5.4 Syntax: BDAT size [LAST]\n501 5.5.4 Syntax: BDAT size [LAST]\n"
             "501 5.5.4 Syntax: BDAT size [LAST]\n"},
        {"bdat_long_line",
         {mail_rcpt + "BDAT 1003 LAST\r\n" + repeat('a', 1001) + "\r\n"},
         big(mail_rcpt_reply) + "550 5.6.0 Message line longer than 998 characters\n",
         [] {
             Options options;
             options.message_bytes_max = 100000;
             return options;
         }()},
        {"rset_ends_bdat",
         {mail_rcpt + "BDAT 3\r\nabcRSET\r\nBDAT 3 LAST\r\nabc"},
         mail_rcpt_reply +
             "250 2.0.0 3 octets received\n250 2.0.0 Ok\n503 5.5.1 Error: need MAIL command\n"},
        // --- Error limit
        // ---------------------------------------------------------------------------
        {"too_many_errors",
         {"X\r\nX\r\nX\r\nNOOP\r\nX\r\nX\r\n"},
         "500 5.5.1 Error: command not recognized\n500 5.5.1 Error: command not recognized\n"
         "500 5.5.1 Error: command not recognized\n250 2.0.0 Ok\n"
         "500 5.5.1 Error: command not recognized\n"
         "421 4.7.0 hub.lgolhub.net Too many errors\n[close]\n",
         with_errors_max(4)},
        {"too_many_errors_530",
         {"MAIL\r\nMAIL\r\nMAIL\r\n"},
         "530 5.7.0 Must issue a STARTTLS command first\n"
         "530 5.7.0 Must issue a STARTTLS command first\n"
         "421 4.7.0 hub.lgolhub.net Too many errors\n[close]\n",
         [] {
             Options options = plain();
             options.errors_count_max = 2;
             return options;
         }()},
    };
}

class ConversationTest : public ::testing::TestWithParam<Case> {};

TEST_P(ConversationTest, RepliesAndEvents) {
    const Case& row = GetParam();
    Harness harness(row.options);
    for (const std::string& bytes : row.feeds) {
        harness.feed(bytes);
    }
    EXPECT_EQ(harness.transcript, row.expected);
}

INSTANTIATE_TEST_SUITE_P(Table, ConversationTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& row_info) {
                             return std::string(row_info.param.name);
                         });

// Refusal events (smtp/refusal.h): one per refusing reply, with the stage, the reason and
// the reply as sent; protocol errors (syntax, order) are not refusals.
struct RefusalCase {
    const char* name;
    std::vector<std::string> feeds;
    std::vector<std::string> expected;
    Options options = {};
};

std::vector<RefusalCase> refusal_cases() {
    const std::string data_open = mail_rcpt + "DATA\r\n";
    return {
        {"accepted_message_refuses_nothing", {data_open + "x\r\n.\r\nQUIT\r\n"}, {}},
        {"protocol_errors_are_not_refusals",
         {"EHLO c\r\nRCPT TO:<u@x.example>\r\nMAIL FROM:<bad\r\nFOO\r\n"},
         {}},
        {"mail_before_tls",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"},
         {"mail tls_required | 530 5.7.0 Must issue a STARTTLS command first | - | "},
         plain()},
        {"vrfy_before_tls_takes_the_reached_stage",
         {"EHLO c\r\nVRFY u\r\n"},
         {"ehlo tls_required | 530 5.7.0 Must issue a STARTTLS command first | - | "},
         plain()},
        {"bdat_before_tls",
         {"EHLO c\r\nBDAT 3\r\nabc"},
         {"bdat tls_required | 530 5.7.0 Must issue a STARTTLS command first | - | "},
         plain()},
        {"sender_refused_by_policy",
         {"EHLO c\r\nMAIL FROM:<nocert@partner1.gov.uk>\r\nMAIL FROM:<spoof@p.example>\r\n"},
         {"mail no_client_certificate | 530 5.7.0 Client certificate required by the policy of "
          "partner partner1 | <nocert@partner1.gov.uk> | ",
          "mail sender_not_partner | 550 5.7.1 <spoof@p.example>: Sender address rejected: not a "
          "domain of partner partner1 | <spoof@p.example> | "}},
        {"relay_denied",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@elsewhere.example>\r\n"},
         {"rcpt relay_denied | 550 5.7.1 Relay access denied | <a@b.example> | "
          "u@elsewhere.example"}},
        {"unknown_partner_domain_null_sender",
         {"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<u@nobody.lgolhub.net>\r\n"},
         {"rcpt unknown_partner_domain | 550 5.1.2 Recipient domain is not served by this hub "
          "| <> | u@nobody.lgolhub.net"}},
        {"size_declared_too_big",
         {"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=5000\r\n"},
         {"mail message_too_big | 552 5.3.4 Message size exceeds fixed limit | <a@b.example> | "}},
        {"data_too_big",
         {data_open + repeat('a', 900) + "\r\n" + repeat('b', 900) + "\r\n.\r\n"},
         {"data message_too_big | 552 5.3.4 Message size exceeds fixed limit | <a@b.example> "
          "| "}},
        {"spool_full_at_mail",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"},
         {"mail insufficient_storage | 452 4.3.1 Insufficient system storage | <a@b.example> "
          "| "},
         [] {
             Options options;
             options.spool_space = false;
             return options;
         }()},
        {"too_many_recipients",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
          "RCPT TO:<u1@partner2.gov.uk.lgolhub.net>\r\nRCPT TO:<u2@partner2.gov.uk.lgolhub.net>\r\n"
          "RCPT TO:<u3@partner2.gov.uk.lgolhub.net>\r\nRCPT "
          "TO:<u4@partner2.gov.uk.lgolhub.net>\r\n"},
         {"rcpt too_many_recipients | 452 4.5.3 Too many recipients | <a@b.example> | "
          "u4@partner2.gov.uk.lgolhub.net"}},
        {"bare_lf_in_data",
         {data_open + "x\n.\nMAIL FROM:<evil@x.example>\r\n"},
         {"data bare_lf | 521 5.5.2 hub.lgolhub.net Bare CR or LF received; closing | "
          "<a@b.example> | "}},
        {"bare_cr_in_data",
         {data_open + "x\r.\r"},
         {"data bare_cr | 521 5.5.2 hub.lgolhub.net Bare CR or LF received; closing | "
          "<a@b.example> | "}},
        {"bare_lf_in_bdat",
         {mail_rcpt + "BDAT 5 LAST\r\nab\ncd"},
         {"bdat bare_lf | 550 5.6.0 Message contains bare CR or LF | <a@b.example> | "}},
        {"bare_cr_then_lf_in_bdat_is_named_by_the_first",
         {mail_rcpt + "BDAT 6 LAST\r\nab\rc\nd"},
         {"bdat bare_cr | 550 5.6.0 Message contains bare CR or LF | <a@b.example> | "}},
        {"long_line_in_data",
         {data_open + repeat('a', 999) + "\r\n.\r\n"},
         {"data line_too_long | 550 5.6.0 Message line longer than 998 characters | "
          "<a@b.example> | "},
         [] {
             Options options;
             options.message_bytes_max = 5000;
             return options;
         }()},
        {"pipelined_after_starttls",
         {"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\n"},
         {"starttls pipelined_after_starttls | 220 2.0.0 Ready to start TLS | - | "},
         plain()},
        {"starttls_alone_is_fine", {"EHLO c\r\nSTARTTLS\r\n"}, {}, plain()},
        {"too_many_errors_after_its_last_refusal",
         {"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@elsewhere.example>\r\n"
          "RCPT TO:<v@elsewhere.example>\r\n"},
         {"rcpt relay_denied | 550 5.7.1 Relay access denied | <a@b.example> | "
          "u@elsewhere.example",
          "rcpt relay_denied | 550 5.7.1 Relay access denied | <a@b.example> | "
          "v@elsewhere.example",
          "rcpt too_many_errors | 421 4.7.0 hub.lgolhub.net Too many errors | <a@b.example> | "},
         with_errors_max(2)},
        {"too_many_errors_from_syntax_alone",
         {"EHLO c\r\nFOO\r\nBAR\r\n"},
         {"ehlo too_many_errors | 421 4.7.0 hub.lgolhub.net Too many errors | - | "},
         with_errors_max(2)},
        {"commit_failures",
         {data_open + "x\r\n.\r\n" + mail_rcpt.substr(8) + "DATA\r\ny\r\n.\r\n"},
         {"data queue_write_failed | 451 4.3.0 Error: queue file write error | <a@b.example> | ",
          "data insufficient_storage | 452 4.3.1 Insufficient system storage | <a@b.example> | "},
         with_commits({CommitResult::Status::failed, CommitResult::Status::no_space})},
    };
}

class RefusalTest : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(RefusalTest, OneEventPerRefusingReply) {
    const RefusalCase& row = GetParam();
    Harness harness(row.options);
    for (const std::string& bytes : row.feeds) {
        harness.feed(bytes);
    }
    EXPECT_EQ(harness.refused, row.expected) << harness.transcript;
}

INSTANTIATE_TEST_SUITE_P(Table, RefusalTest, ::testing::ValuesIn(refusal_cases()),
                         [](const ::testing::TestParamInfo<RefusalCase>& row_info) {
                             return std::string(row_info.param.name);
                         });

TEST(ServerSession, TimeoutRefusalNamesTheStage) {
    struct Row {
        std::string feed;
        std::string expected_stage;
    };
    for (const Row& row : std::vector<Row>{{"", "connect"},
                                           {"EHLO c\r\n", "ehlo"},
                                           {mail_rcpt, "rcpt"},
                                           {mail_rcpt + "DATA\r\nx", "data"},
                                           {mail_rcpt + "BDAT 10\r\nx", "bdat"}}) {
        Harness harness;
        harness.feed(row.feed);
        harness.refused.clear();
        harness.session->on_timeout();
        harness.drain();
        ASSERT_EQ(harness.refused.size(), 1u) << row.feed;
        EXPECT_TRUE(harness.refused[0].starts_with(row.expected_stage + " timeout | 421 4.4.2 "))
            << harness.refused[0];
    }
}

TEST(ServerSession, RefusalsAreBoundedBetweenTakes) {
    Harness harness(with_errors_max(1000));
    harness.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
    std::string many;
    for (int i = 0; i < 200; i++) {
        many += "RCPT TO:<u@elsewhere.example>\r\n";
    }
    ServerSession& session = *harness.session;
    // Fed without taking: the session keeps at most refusals_count_max and counts the rest.
    for (int i = 0; i < 20 && !session.closed(); i++) {
        session.feed(
            std::span<const char>(many.data(), std::min(many.size(), session.inbox_space_bytes())));
    }
    EXPECT_EQ(session.refusals().size(), refusals_count_max);
    EXPECT_GT(session.refusals_dropped(), 0u);
}

TEST(Refusal, LineFormat) {
    Refusal refusal;
    refusal.stage = RefusalStage::rcpt;
    refusal.reason = RefusalReason::relay_denied;
    refusal.reply = "550 5.7.1 Relay access denied";
    refusal.from = "a@b.example";
    refusal.has_from = true;
    refusal.to = "u@x.example";
    EXPECT_EQ(format_refusal(refusal, "192.0.2.1", "partner1"),
              "reject: rcpt from [192.0.2.1]: 550 5.7.1 Relay access denied; "
              "reason=relay_denied; partner=partner1; from=<a@b.example>; to=<u@x.example>");
    Refusal tls;
    tls.stage = RefusalStage::tls;
    tls.reason = RefusalReason::tls_failed;
    tls.reply = "454 4.7.0 TLS handshake failed";
    tls.detail = "bad record mac\r\nfake: line; reason=forged";
    EXPECT_EQ(format_refusal(tls, "::1", ""),
              "reject: tls from [::1]: 454 4.7.0 TLS handshake failed; reason=tls_failed; "
              "detail=bad record mac??fake: line, reason=forged");
    Refusal smuggling;
    smuggling.stage = RefusalStage::data;
    smuggling.reason = RefusalReason::bare_lf;
    smuggling.reply = "521 5.5.2 hub.lgolhub.net Bare CR or LF received; closing";
    EXPECT_EQ(format_refusal(smuggling, "192.0.2.1", "p"),
              "reject: data from [192.0.2.1]: 521 5.5.2 hub.lgolhub.net Bare CR or LF "
              "received, closing; reason=bare_lf; partner=p");
}

TEST(ServerSession, Greeting) {
    FakePolicy policy;
    ServerConfig config;
    config.hostname = "hub.lgolhub.net";
    ServerSession session(config, policy);
    EXPECT_EQ(session.deadline_ms(), 300000u);
    session.start(false);
    EXPECT_EQ(session.replies(), "220 hub.lgolhub.net ESMTP Hubbox\r\n");
    EXPECT_EQ(session.next_event(), Event::none);
    EXPECT_FALSE(session.closed());
}

TEST(ServerSession, RejectAtGreeting) {
    FakePolicy policy;
    ServerConfig config;
    config.hostname = "hub.lgolhub.net";
    ServerSession session(config, policy);
    session.start(true, "Access denied: [192.0.2.1]\r\nforged");
    EXPECT_EQ(session.replies(), "554 5.7.1 Access denied: [192.0.2.1]??forged\r\n");
    EXPECT_EQ(session.next_event(), Event::close);
    EXPECT_EQ(session.next_event(), Event::none);
    EXPECT_TRUE(session.closed());
    EXPECT_FALSE(session.feed(std::span<const char>("NOOP\r\n", 6)));
    EXPECT_EQ(session.replies(), "554 5.7.1 Access denied: [192.0.2.1]??forged\r\n");
}

TEST(ServerSession, EnvelopeFromParameters) {
    Harness harness;
    harness.feed(
        "EHLO client.example\r\nMAIL FROM:<a@b.example> SIZE=12 BODY=8BITMIME RET=FULL "
        "ENVID=id+2Bone\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net> NOTIFY=FAILURE,DELAY "
        "ORCPT=rfc822;U+40Partner2.gov.uk\r\nRCPT TO:<@relay.example,@r2.example:"
        "v@partner1.gov.uk.lgolhub.net>\r\nDATA\r\nhi\r\n.\r\n");
    ASSERT_EQ(harness.envelopes.size(), 1u);
    const Envelope& envelope = harness.envelopes[0];
    EXPECT_EQ(envelope.helo, "client.example");
    EXPECT_TRUE(envelope.esmtp);
    EXPECT_EQ(envelope.mail_from, "a@b.example");
    EXPECT_EQ(envelope.declared_bytes, 12u);
    EXPECT_EQ(envelope.body_type, BodyType::eight_bit_mime);
    EXPECT_EQ(envelope.dsn_ret, DsnRet::full);
    EXPECT_EQ(envelope.dsn_envid, "id+one");
    ASSERT_EQ(envelope.recipients.size(), 2u);
    EXPECT_EQ(envelope.recipients[0].address, "u@partner2.gov.uk.lgolhub.net");
    EXPECT_EQ(envelope.recipients[0].notify, dsn_notify_failure | dsn_notify_delay);
    EXPECT_EQ(envelope.recipients[0].orcpt, "rfc822;U@Partner2.gov.uk");
    EXPECT_EQ(envelope.recipients[1].address, "v@partner1.gov.uk.lgolhub.net");  // Route gone.
    EXPECT_EQ(envelope.recipients[1].notify, 0);
    EXPECT_EQ(harness.messages[0], "hi\r\n");
    // The policy saw each address once, without brackets or parameters.
    EXPECT_EQ(harness.policy.checked, (std::vector<std::string>{"u@partner2.gov.uk.lgolhub.net",
                                                                "v@partner1.gov.uk.lgolhub.net"}));
}

TEST(ServerSession, HeloAndNullSenderInEnvelope) {
    Harness harness;
    harness.feed(
        "HELO old.example\r\nMAIL FROM:<>\r\nRCPT TO:<u@partner2.gov.uk.lgolhub.net>\r\n"
        "DATA\r\n.\r\n");
    ASSERT_EQ(harness.envelopes.size(), 1u);
    EXPECT_FALSE(harness.envelopes[0].esmtp);
    EXPECT_EQ(harness.envelopes[0].helo, "old.example");
    EXPECT_EQ(harness.envelopes[0].mail_from, "");
    EXPECT_EQ(harness.policy.senders, std::vector<std::string>{""});  // The policy saw <>.
    EXPECT_EQ(harness.messages[0], "");  // An empty message is still a message.
}

TEST(ServerSession, DotUnstuffing) {
    Harness harness;
    harness.feed(mail_rcpt +
                 "DATA\r\nSubject: dots\r\n\r\n..\r\n...x\r\n.y\r\n. \r\n"
                 "a.\r\n\r\n.\r\n");
    ASSERT_EQ(harness.messages.size(), 1u);
    EXPECT_EQ(harness.messages[0], "Subject: dots\r\n\r\n.\r\n..x\r\ny\r\n \r\na.\r\n\r\n");
}

TEST(ServerSession, BdatBodyIsExact) {
    Harness harness;
    harness.feed(mail_rcpt + "BDAT 8\r\n.x\r\n..\r\nBDAT 3 LAST\r\nend");
    ASSERT_EQ(harness.messages.size(), 1u);
    EXPECT_EQ(harness.messages[0], ".x\r\n..\r\nend\r\n");  // No unstuffing; CRLF added.
}

TEST(ServerSession, BdatChunkArrivesInPieces) {
    Harness harness;
    std::string chunk = "Subject: pieces\r\n\r\n" + repeat('z', 300) + "\r\n";
    harness.feed(mail_rcpt + "BDAT " + std::to_string(chunk.size()) + " LAST\r\n");
    for (char c : chunk) {
        harness.feed(std::string(1, c));
    }
    harness.feed("QUIT\r\n");
    ASSERT_EQ(harness.messages.size(), 1u);
    EXPECT_EQ(harness.messages[0], chunk);
    EXPECT_TRUE(
        harness.transcript.ends_with("250 2.0.0 Ok: queued as Q1\n221 2.0.0 Bye\n[close]\n"));
}

TEST(ServerSession, StarttlsCountsDiscardedBytes) {
    Harness harness(plain());
    harness.feed("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(harness.session->discarded_after_starttls_bytes(), 25u);
    EXPECT_TRUE(harness.session->tls_active());
    EXPECT_EQ(harness.session->helo(), "");
}

TEST(ServerSession, BytesFedDuringHandshakeAreDiscarded) {
    Harness harness(plain());
    std::string_view starttls = "STARTTLS\r\n";
    harness.session->feed(std::span<const char>(starttls.data(), starttls.size()));
    EXPECT_EQ(harness.session->next_event(), Event::start_tls);
    std::string_view injected = "EHLO x\r\nMAIL FROM:<a@b.example>\r\n";
    EXPECT_FALSE(harness.session->feed(std::span<const char>(injected.data(), injected.size())));
    EXPECT_EQ(harness.session->replies(), "220 2.0.0 Ready to start TLS\r\n");
    harness.session->replies().clear();
    harness.session->tls_started(fake_tls());
    harness.feed("MAIL FROM:<a@b.example>\r\n");
    EXPECT_EQ(harness.transcript, "503 5.5.1 Error: send HELO/EHLO first\n");
    EXPECT_EQ(harness.session->discarded_after_starttls_bytes(), injected.size());
}

TEST(ServerSession, TimeoutAndDeadlines) {
    Harness harness;
    ServerSession& session = *harness.session;
    EXPECT_EQ(session.deadline_ms(), 300000u);
    harness.feed(mail_rcpt + "DATA\r\n");
    EXPECT_EQ(session.deadline_ms(), 600000u);  // RFC 5321 4.5.3.2.6 inside content.
    harness.feed("x\r\n.\r\n");
    EXPECT_EQ(session.deadline_ms(), 300000u);
    harness.feed("BDAT 100\r\n");  // No transaction: the chunk is read and then refused.
    EXPECT_EQ(session.deadline_ms(), 600000u);
    harness.transcript.clear();
    session.on_timeout();
    harness.drain();
    EXPECT_EQ(harness.transcript, "421 4.4.2 hub.lgolhub.net Error: timeout exceeded\n[close]\n");
    EXPECT_TRUE(session.closed());
    session.on_timeout();  // A second expiry changes nothing.
    harness.drain();
    EXPECT_EQ(harness.transcript, "421 4.4.2 hub.lgolhub.net Error: timeout exceeded\n[close]\n");
}

TEST(ServerSession, TricklingClientDoesNotRearmTimer) {
    Harness harness;
    ServerSession& session = *harness.session;
    std::uint64_t epoch = session.timer_epoch();
    for (char c : std::string_view("NOOP")) {
        harness.feed(std::string(1, c));
        EXPECT_EQ(session.timer_epoch(), epoch) << "partial bytes must not re-arm the timer";
    }
    harness.feed("\r\n");
    EXPECT_GT(session.timer_epoch(), epoch);
    // Inside DATA, only whole lines count as progress too.
    harness.feed(mail_rcpt + "DATA\r\n");
    epoch = session.timer_epoch();
    for (char c : std::string_view("Subject: slow")) {
        harness.feed(std::string(1, c));
        EXPECT_EQ(session.timer_epoch(), epoch);
    }
    harness.feed("\r\n");
    EXPECT_GT(session.timer_epoch(), epoch);
    // And a command line that never ends re-arms nothing while it is being thrown away.
    harness.feed(".\r\n");
    harness.feed(repeat('x', 600));
    epoch = session.timer_epoch();
    for (int i = 0; i < 100; i++) {
        harness.feed("x");
    }
    EXPECT_EQ(session.timer_epoch(), epoch);
}

TEST(ServerSession, BudgetPerFeed) {
    Harness harness;
    ServerSession& session = *harness.session;
    std::string noops;
    for (int i = 0; i < 40; i++) {
        noops += "NOOP\r\n";
    }
    EXPECT_TRUE(session.feed(std::span<const char>(noops.data(), noops.size())));
    EXPECT_TRUE(session.input_pending());
    std::string first = session.replies();
    EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), commands_per_feed_max);
    EXPECT_FALSE(session.feed({}));
    EXPECT_FALSE(session.input_pending());
    std::string all = session.replies();
    EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 40);
}

TEST(ServerSession, PartialLineIsNotPendingWork) {
    Harness harness;
    ServerSession& session = *harness.session;
    std::string input;
    for (int i = 0; i < 40; i++) {
        input += "NOOP\r\n";
    }
    input += "MAIL FROM:<a@b";  // No CRLF yet: feeding again would change nothing.
    EXPECT_TRUE(session.feed(std::span<const char>(input.data(), input.size())));
    EXPECT_FALSE(session.feed({}));
    EXPECT_FALSE(session.input_pending());
    std::string more = ">\r\n";
    EXPECT_FALSE(session.feed(std::span<const char>(more.data(), more.size())));
    EXPECT_TRUE(session.replies().ends_with("503 5.5.1 Error: send HELO/EHLO first\r\n"));
}

TEST(ServerSession, PipelinedCommandsWaitForCommit) {
    Options options;
    options.manual_commit = true;
    Harness harness(options);
    ServerSession& session = *harness.session;
    harness.feed(mail_rcpt + "DATA\r\nhello\r\n.\r\nRSET\r\nQUIT\r\n");
    EXPECT_EQ(harness.transcript, smuggle_prefix + "[message_ready]\n");
    EXPECT_EQ(harness.messages.at(0), "hello\r\n");
    EXPECT_FALSE(session.input_pending());  // Nothing runs while the spool works.
    EXPECT_EQ(session.deadline_ms(), 600000u);
    // More bytes are buffered, not run.
    harness.feed("NOOP\r\n");
    EXPECT_EQ(harness.transcript, smuggle_prefix + "[message_ready]\n");
    EXPECT_EQ(session.body(), "hello\r\n");  // Still readable for the spool.
    harness.commit(CommitResult::Status::durable);
    EXPECT_EQ(harness.transcript, smuggle_prefix +
                                      "[message_ready]\n250 2.0.0 Ok: queued as Q1\n"
                                      "250 2.0.0 Ok\n221 2.0.0 Bye\n[close]\n");
}

TEST(ServerSession, InboxFullWhileWaitingForCommit) {
    Options options;
    options.manual_commit = true;
    Harness harness(options);
    ServerSession& session = *harness.session;
    harness.feed(mail_rcpt + "DATA\r\nhello\r\n.\r\n");
    std::string noops;
    while (noops.size() < inbox_bytes) {
        noops += "NOOP\r\n";
    }
    std::size_t space = session.inbox_space_bytes();
    ASSERT_LE(space, inbox_bytes);
    EXPECT_FALSE(session.feed(std::span<const char>(noops.data(), space)));
    EXPECT_EQ(session.inbox_space_bytes(), 0u);  // Back-pressure reaches the engine.
    harness.commit(CommitResult::Status::durable);
    EXPECT_TRUE(session.input_pending());  // The budget ran out; the engine feeds again.
    while (session.feed({})) {
    }
    harness.drain();
    auto lines = [](std::string_view text) {
        return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    };
    // EHLO, MAIL, RCPT, 354, [message_ready], the 250 for the message, then one per NOOP.
    EXPECT_EQ(lines(harness.transcript), lines(smuggle_prefix) + 2 + space / 6);
    EXPECT_FALSE(session.closed());
}

TEST(ServerSession, LongLineInManyFeeds) {
    Harness harness;
    std::string line = repeat('A', 10000) + "\r\n";
    for (std::size_t i = 0; i < line.size(); i += 97) {
        harness.feed(line.substr(i, 97));
    }
    harness.feed("NOOP\r\n");
    EXPECT_EQ(harness.transcript, "500 5.5.2 Line too long\n250 2.0.0 Ok\n");
}

TEST(ServerSession, BodyNeverPassesTheLimit) {
    Options options;
    options.message_bytes_max = 4096;
    Harness harness(options);
    harness.feed(mail_rcpt + "DATA\r\n");
    std::string line = repeat('q', 80) + "\r\n";
    for (int i = 0; i < 1000; i++) {
        harness.feed(line);
        ASSERT_LE(harness.session->body().size(), 4096u);
    }
    harness.feed(".\r\nNOOP\r\n");
    EXPECT_TRUE(
        harness.transcript.ends_with("552 5.3.4 Message size exceeds fixed limit\n250 2.0.0 Ok\n"));
    EXPECT_TRUE(harness.messages.empty());
}

// Only a bounded header block is ever held for rewriting: one longer than
// header_block_bytes_max is refused at the end of data, one exactly at it is accepted.
TEST(ServerSession, HeaderBlockIsBounded) {
    std::string field_line = "X-Filler: " + repeat('h', 500) + "\r\n";
    std::string header;
    while (header.size() + field_line.size() <= header_block_bytes_max) {
        header += field_line;
    }
    std::size_t short_by = header_block_bytes_max - header.size();
    if (short_by > 0) {
        header += "X-Last: " + repeat('l', short_by - std::string("X-Last: \r\n").size()) + "\r\n";
    }
    ASSERT_EQ(header.size(), header_block_bytes_max);
    for (bool over : {false, true}) {
        SCOPED_TRACE(over);
        std::string message = (over ? "X-One: more\r\n" : "") + header + "\r\nbody\r\n";
        Options options;
        options.message_bytes_max = 2 * header_block_bytes_max;
        Harness harness(options);
        harness.feed(mail_rcpt + "DATA\r\n" + message + ".\r\nNOOP\r\n");
        if (over) {
            EXPECT_TRUE(harness.transcript.ends_with(
                "552 5.3.4 Message header size exceeds fixed limit\n250 2.0.0 Ok\n"));
            EXPECT_TRUE(harness.messages.empty());
        } else {
            ASSERT_EQ(harness.messages.size(), 1u);
            EXPECT_TRUE(harness.messages[0] == message);
        }
    }
}

// Taking the content in pieces while it arrives changes no reply and no byte of the
// message: dot lines, 998-byte lines and the blank line fall on every side of a piece's
// edge (pieces of 7 to 1024 bytes, content fed whole and in 1-byte arrivals), DATA and BDAT.
TEST(ServerSession, ContentTakenInPiecesIsTheSameMessage) {
    std::string content = "From: a@b.example\r\nSubject: pieces\r\n\r\n";
    for (int line = 0; line < 200; line++) {  // More than one inbox.
        if (line % 5 == 0) {
            content += "." + std::to_string(line) + "\r\n";  // Stuffed on the wire.
        } else if (line % 7 == 0) {
            content += std::string(998, static_cast<char>('a' + line % 26)) + "\r\n";
        } else {
            content += "line " + std::to_string(line) + "\r\n";
        }
    }
    std::string stuffed;
    for (std::size_t start = 0; start < content.size();) {
        std::size_t end = content.find("\r\n", start) + 2;
        std::string_view line = std::string_view(content).substr(start, end - start);
        stuffed += (line.starts_with(".") ? "." : "") + std::string(line);
        start = end;
    }
    std::string data_conversation = mail_rcpt + "DATA\r\n" + stuffed + ".\r\nNOOP\r\n";
    std::string bdat_conversation = mail_rcpt + "BDAT 100\r\n" + content.substr(0, 100) + "BDAT " +
                                    std::to_string(content.size() - 100) + " LAST\r\n" +
                                    content.substr(100) + "NOOP\r\n";
    for (const std::string& conversation : {data_conversation, bdat_conversation}) {
        Options whole_options;
        whole_options.message_bytes_max = 1 << 20;
        Harness whole(whole_options);
        whole.feed(conversation);
        ASSERT_EQ(whole.messages.size(), 1u);
        EXPECT_TRUE(whole.messages[0] == content);
        for (std::size_t piece : {7u, 64u, 1000u, 1024u}) {
            for (bool trickle : {false, true}) {
                SCOPED_TRACE(fmt::format("piece {} trickle {}", piece, trickle));
                Options options = whole_options;
                options.piece_bytes = piece;
                Harness streamed(options);
                if (trickle) {
                    for (char c : conversation) {
                        streamed.feed(std::string_view(&c, 1));
                    }
                } else {
                    streamed.feed(conversation);
                }
                EXPECT_EQ(streamed.transcript, whole.transcript);
                ASSERT_EQ(streamed.messages.size(), 1u);
                EXPECT_TRUE(streamed.messages[0] == content);
                EXPECT_GT(streamed.pieces_taken, 0u);
                // Holds at most a piece and one arrival (an inbox) beside the header block.
                EXPECT_LE(streamed.body_held_max, std::max<std::size_t>(piece, 64) + inbox_bytes);
            }
        }
    }
}

// The size limit counts the bytes already taken: a message over it is refused with 552
// 5.3.4 after its pieces left, exactly as when it is held whole, nothing more is offered
// once it is over, and the next transaction starts afresh.
TEST(ServerSession, SizeLimitCountsPiecesAlreadyTaken) {
    Options options;
    options.message_bytes_max = 1000;
    options.piece_bytes = 100;
    Harness harness(options);
    std::string content = "Subject: big\r\n\r\n";
    while (content.size() < 1500) {
        content += "0123456789012345678901234567890123456789\r\n";
    }
    std::uint64_t serial = harness.session->transaction_serial();
    harness.feed(mail_rcpt + "DATA\r\n" + content + ".\r\n");
    EXPECT_TRUE(harness.transcript.ends_with("552 5.3.4 Message size exceeds fixed limit\n"));
    EXPECT_TRUE(harness.messages.empty());
    EXPECT_LE(harness.pieces_taken, 10u);  // Never more than the limit left the session.
    EXPECT_NE(harness.session->transaction_serial(), serial);
    EXPECT_EQ(harness.session->streamable_body_bytes(), 0u);
    std::string small = "Subject: small\r\n\r\n" + repeat('s', 300) + "\r\n";
    harness.feed(mail_rcpt + "DATA\r\n" + small + ".\r\n");
    ASSERT_EQ(harness.messages.size(), 1u);
    EXPECT_TRUE(harness.messages[0] == small);
}

// A header block over the limit is never offered (the engine must read it whole) and is
// not kept past the limit: 552 5.3.4 at the end, as without streaming.
TEST(ServerSession, OversizedHeaderBlockIsNeitherOfferedNorKept) {
    Options options;
    options.message_bytes_max = 4 * header_block_bytes_max;
    options.piece_bytes = 4096;
    Harness harness(options);
    std::string field_line = "X-Filler: " + repeat('h', 500) + "\r\n";
    std::string header;
    while (header.size() < header_block_bytes_max + 4096) {
        header += field_line;
    }
    harness.feed(mail_rcpt + "DATA\r\n" + header + "\r\nbody\r\n.\r\n");
    EXPECT_TRUE(
        harness.transcript.ends_with("552 5.3.4 Message header size exceeds fixed limit\n"));
    EXPECT_EQ(harness.pieces_taken, 0u);
    EXPECT_LE(harness.body_held_max, header_block_bytes_max + 2 + inbox_bytes);
}

TEST(ServerSession, RecipientOvershootCountsOnlyFarPastTheLimit) {
    Options options;
    options.errors_count_max = 3;
    Harness harness(options);
    std::string rcpts;
    for (int i = 0; i < 20; i++) {
        rcpts += "RCPT TO:<u" + std::to_string(i) + "@partner2.gov.uk.lgolhub.net>\r\n";
    }
    harness.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + rcpts + "NOOP\r\n");
    EXPECT_FALSE(harness.session->closed());  // 17 times 452 4.5.3, none counted.
    EXPECT_TRUE(harness.transcript.ends_with("452 4.5.3 Too many recipients\n250 2.0.0 Ok\n"));
}

TEST(ServerSession, InboxSpaceIsBounded) {
    Harness harness;
    EXPECT_EQ(harness.session->inbox_space_bytes(), inbox_bytes);
    std::string partial = "NOOP";
    harness.session->feed(std::span<const char>(partial.data(), partial.size()));
    EXPECT_EQ(harness.session->inbox_space_bytes(), inbox_bytes - 4);
}

// --- The command grammar on its own -----------------------------------------------------

TEST(Command, Mailboxes) {
    for (std::string_view good :
         {"a@b", "a.b@c.example", "\"a b\"@c", "\"a\\\"b\"@c", "x@[192.0.2.1]",
          "x@[IPv6:2001:db8::1]", "a+tag@b-c.example", "!#$%&'*+-/=?^_`{|}~@x"}) {
        EXPECT_TRUE(is_valid_mailbox(good)) << good;
    }
    for (std::string_view bad :
         {"", "a", "@b", "a@", "a@b.", "a@.b", "a@b..c", ".a@b", "a.@b", "a b@c", "a@b_c", "a@-b",
          "a@b-", "a@[1.2.3.4", "a@[a[b]", "\"a@b", "a\"@b", "a@b c", "\x01@b"}) {
        EXPECT_FALSE(is_valid_mailbox(bad)) << bad;
    }
    EXPECT_TRUE(is_valid_mailbox(repeat('l', 64) + "@b"));
    EXPECT_FALSE(is_valid_mailbox(repeat('l', 65) + "@b"));
    EXPECT_FALSE(is_valid_domain(repeat('d', 64)));
    EXPECT_TRUE(is_valid_domain(repeat('d', 63)));
}

TEST(Command, PathArgument) {
    auto path = parse_path_argument("FROM:<a@b> SIZE=1  BODY=7BIT", "FROM:");
    ASSERT_TRUE(path);
    EXPECT_EQ(path->address, "a@b");
    EXPECT_EQ(path->params, "SIZE=1  BODY=7BIT");
    path = parse_path_argument("to:<\"x>y\"@b>", "TO:");
    ASSERT_TRUE(path);
    EXPECT_EQ(path->address, "\"x>y\"@b");
    path = parse_path_argument("TO:<@a.example,@b.example:u@c>", "TO:");
    ASSERT_TRUE(path);
    EXPECT_EQ(path->address, "u@c");
    EXPECT_EQ(parse_path_argument("TO:<@a.example:>", "TO:").error(), PathError::address);
    EXPECT_EQ(parse_path_argument("TO:<@a.example,u@c>", "TO:").error(), PathError::address);
    EXPECT_EQ(parse_path_argument("TO:<a@b>   ", "TO:")->params, "");
    EXPECT_EQ(parse_path_argument("TO:<" + repeat('a', 260) + "@b>", "TO:").error(),
              PathError::address);
    EXPECT_EQ(parse_path_argument("TO:  <a@b>", "TO:").error(), PathError::syntax);
}

TEST(Command, Params) {
    Params params;
    ASSERT_TRUE(parse_params("A=1 B  C-D=x", params));
    ASSERT_EQ(params.count, 3u);
    EXPECT_EQ(params.items[1].keyword, "B");
    EXPECT_FALSE(params.items[1].has_value);
    EXPECT_EQ(params.items[2].value, "x");
    EXPECT_FALSE(parse_params("A=", params));
    EXPECT_FALSE(parse_params("-A=1", params));
    EXPECT_FALSE(parse_params("A=1=2", params));
    EXPECT_FALSE(parse_params("A B C D E F G H I", params));  // More than esmtp_params_count_max.
}

TEST(Command, Xtext) {
    std::string decoded;
    EXPECT_TRUE(xtext_decode("abc+2B+3d", 100, decoded));
    EXPECT_EQ(decoded, "abc+=");
    EXPECT_FALSE(xtext_decode("a+2", 100, decoded));
    EXPECT_FALSE(xtext_decode("a+zz", 100, decoded));
    EXPECT_FALSE(xtext_decode("a+0D+0A", 100, decoded));  // Would inject header lines.
    EXPECT_FALSE(xtext_decode("a+FF", 100, decoded));
    EXPECT_FALSE(xtext_decode("a b", 100, decoded));
    EXPECT_FALSE(xtext_decode("abcd", 3, decoded));
    EXPECT_TRUE(xtext_decode("abc", 3, decoded));
}

TEST(Command, SplitAndBdat) {
    CommandLine command = split_command("mAiL FROM:<a@b>  ");
    EXPECT_EQ(command.verb, Verb::mail);
    EXPECT_EQ(command.args, "FROM:<a@b>");
    EXPECT_EQ(split_command("MAILX").verb, Verb::unknown);
    EXPECT_EQ(split_command("starttls").verb, Verb::starttls);
    std::uint64_t size = 0;
    bool last = false;
    EXPECT_TRUE(parse_bdat_args("0010 last", size, last));
    EXPECT_EQ(size, 10u);
    EXPECT_TRUE(last);
    EXPECT_TRUE(parse_bdat_args("9999999999999999999", size, last));
    EXPECT_FALSE(last);
    EXPECT_FALSE(parse_bdat_args("10  LAST", size, last));
    EXPECT_FALSE(parse_bdat_args("+1", size, last));
}

}  // namespace
}  // namespace hub::smtp
