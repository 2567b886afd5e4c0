// client_session.cc -- the outbound SMTP client as a sans-I/O state machine.
//
// PURPOSE   Deliver messages to one remote server over one connection: greeting, EHLO,
//           mandatory STARTTLS, EHLO again, then per message [RSET] MAIL RCPT... DATA,
//           content, and a verdict per recipient; QUIT at the end.
// RUNS IN   every shard, one object per outbound connection; no syscalls, no clock, no disk.
// TRUST     every byte fed in comes from a remote server, which may be broken or hostile:
//             - replies are framed strictly (reply_parser.cc) and each must answer a command
//               we sent; an unsolicited or malformed one fails the connection;
//             - with require_tls, no MAIL, RCPT or content is ever written before
//               tls_started(): a server that hides STARTTLS gets nothing (RFC 3207 6);
//             - bytes after the 220 to STARTTLS fail the connection (RFC 3207 5: they were
//               sent in clear and could be injected, the mirror of CVE-2011-0411);
//             - a reply that arrives before the end of data is never taken as a delivery.
//           What we send comes from our spool, but is still checked: addresses must be
//           valid RFC 5321 mailboxes, so no CR or LF can reach a command line, and content
//           gets CRLF for every bare CR or LF, so no peer can see an end of data we did not
//           mean (SMTP smuggling).
// LIMITS    smtp/limits.h: reply lines of 512 bytes, 64 lines per reply, commands of at most
//           client_command_bytes_max, client_output_bytes of output at a time (content is
//           dot-stuffed slice by slice as the engine drains it), recipients_count_max per
//           transaction, RFC 5321 4.5.3.2 deadlines from ClientConfig.
// SEE ALSO  smtp/client_session.h (the engine contract), smtp/reply_parser.h,
//           tests/fuzz/smtp_reply_fuzz.cc.
#include "smtp/client_session.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "smtp/command.h"
#include "smtp/line_break.h"

namespace hub::smtp {

namespace {

constexpr std::size_t detail_bytes_max = 200;
// Content is stuffed only into a slice of at least this much free output, so that the
// engine is not handed a trickle of tiny pieces.
constexpr std::size_t content_slice_bytes_min = 4096;
static_assert(content_slice_bytes_min < client_output_bytes / 2);

// "RCPT TO:<" path ">" " NOTIFY=SUCCESS,FAILURE,DELAY" " ORCPT=" value CRLF.
static_assert(9 + path_bytes_max + 29 + 7 + orcpt_value_bytes_max + 2 <= client_command_bytes_max);
// "MAIL FROM:<" path ">" " SIZE=" 20 digits " BODY=8BITMIME" " RET=HDRS" " ENVID=" xtext CRLF.
static_assert(11 + path_bytes_max + 26 + 14 + 9 + 7 + envid_xtext_bytes_max + 2 <=
              client_command_bytes_max);
static_assert(helo_bytes_max + 7 <= client_command_bytes_max);

// Engine-supplied detail (wolfSSL messages, errno text) goes into logs and reports.
std::string masked(std::string_view text) {
    std::string out(text.substr(0, detail_bytes_max));
    for (char& c : out) {
        if (c < ' ' || c > '~') {
            c = '?';
        }
    }
    return out;
}

Reply local_reply(int code, std::string_view enhanced, std::string_view text) {
    Reply reply;
    reply.code = code;
    reply.enhanced.assign(enhanced);
    reply.lines.push_back(fmt::format("{} {}", enhanced, text));
    return reply;
}

RecipientStatus status_for(const Reply& reply) {
    switch (reply.code_class()) {
        case 2:
            return RecipientStatus::accepted;
        case 5:
            return RecipientStatus::perm_fail;
        default:
            return RecipientStatus::temp_fail;
    }
}

bool is_failure(const Reply& reply) {
    return reply.code_class() == 4 || reply.code_class() == 5;
}

// RFC 3461 4: xtext = *( xchar / hexchar ); "+" and "=" and anything outside "!".."~"
// are written as "+" and two upper-case hex digits.
std::string xtext_encode(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            out += c;
        } else {
            out += fmt::format("+{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        }
    }
    return out;
}

// RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ).
std::string notify_value(std::uint8_t bits) {
    if ((bits & dsn_notify_never) != 0) {
        return "NEVER";
    }
    std::string out;
    for (auto [bit, name] :
         {std::pair{dsn_notify_success, "SUCCESS"}, std::pair{dsn_notify_failure, "FAILURE"},
          std::pair{dsn_notify_delay, "DELAY"}}) {
        if ((bits & bit) != 0) {
            out += out.empty() ? "" : ",";
            out += name;
        }
    }
    return out;
}

// RFC 3461 4.2: ORCPT=addr-type ";" xtext. Recipient::orcpt holds "type;decoded" (as the
// server session stores it); empty when it cannot be sent within the RFC's 500 octets.
std::string orcpt_value(std::string_view orcpt) {
    std::size_t semicolon = orcpt.find(';');
    std::string_view type = "rfc822";
    std::string_view address = orcpt;
    if (semicolon != std::string_view::npos) {
        type = orcpt.substr(0, semicolon);
        address = orcpt.substr(semicolon + 1);
    }
    bool type_ok = !type.empty() && std::all_of(type.begin(), type.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-';
    });
    if (!type_ok || address.empty()) {
        return {};
    }
    std::string value = fmt::format("{};{}", type, xtext_encode(address));
    return value.size() <= orcpt_value_bytes_max ? value : std::string();
}

}  // namespace

std::string_view fail_reason_name(FailReason reason) {
    switch (reason) {
        case FailReason::connect_failed:
            return "connect_failed";
        case FailReason::greeting_rejected:
            return "greeting_rejected";
        case FailReason::ehlo_rejected:
            return "ehlo_rejected";
        case FailReason::tls_unavailable:
            return "tls_unavailable";
        case FailReason::tls_failed:
            return "tls_failed";
        case FailReason::protocol_error:
            return "protocol_error";
        case FailReason::timeout:
            return "timeout";
        case FailReason::closed_by_peer:
            return "closed_by_peer";
        case FailReason::content_unreadable:
            return "content_unreadable";
    }
    HUB_PANIC("unknown fail reason");
}

ClientSession::ClientSession(const ClientConfig& config) : config_(config) {
    HUB_ASSERT(!config_.hostname.empty() && config_.hostname.size() <= helo_bytes_max);
    HUB_ASSERT(is_printable_ascii(config_.hostname));  // It goes into the EHLO line.
    HUB_ASSERT(config_.hostname.find(' ') == std::string::npos);
    HUB_ASSERT(config_.recipients_count_max >= 1);
}

void ClientSession::start() {
    HUB_ASSERT(phase_ == Phase::not_started);
    set_phase(Phase::greeting);
}

void ClientSession::feed(std::span<const char> plaintext_in) {
    HUB_ASSERT(phase_ != Phase::not_started);  // The engine calls start() first.
    if (terminal()) {
        return;  // Bytes that raced the end; nobody acts on them.
    }
    if (phase_ == Phase::tls_handshake) {
        if (!plaintext_in.empty()) {
            fail(FailReason::protocol_error, nullptr, "plaintext during the TLS handshake");
        }
        return;
    }
    while (!plaintext_in.empty()) {
        std::size_t used = parser_.feed(plaintext_in);
        plaintext_in = plaintext_in.subspan(used);
        if (parser_.status() == ReplyParser::Status::failed) {
            fail(FailReason::protocol_error, nullptr, describe(parser_.error()));
            return;
        }
        if (parser_.status() == ReplyParser::Status::need_more) {
            HUB_ASSERT(plaintext_in.empty());
            return;
        }
        Reply reply = parser_.take_reply();
        timer_epoch_++;
        input_follows_ = !plaintext_in.empty();
        on_reply(reply);
        input_follows_ = false;
        if (terminal()) {
            return;
        }
        fill_output();  // The next commands go out before the next reply is read.
    }
}

void ClientSession::on_reply(const Reply& reply) {
    // RFC 5321 3.8: 421 may answer any command; the server is closing the connection.
    if (reply.code == 421 && phase_ != Phase::greeting && phase_ != Phase::quit) {
        fail(FailReason::closed_by_peer, &reply, "the server is closing the connection");
        return;
    }
    switch (phase_) {
        case Phase::greeting:
            on_greeting(reply);
            return;
        case Phase::ehlo:
            on_ehlo(reply);
            return;
        case Phase::helo:
            on_helo(reply);
            return;
        case Phase::starttls:
            on_starttls(reply);
            return;
        case Phase::transaction:
            on_transaction_reply(reply);
            return;
        case Phase::content:
        case Phase::data_end:
            on_end_of_data(reply);
            return;
        case Phase::quit:
            set_phase(Phase::closed);  // RFC 5321 4.1.1.10: any reply ends it.
            push_event(ClientEvent::closed);
            return;
        case Phase::ready:
            fail(FailReason::protocol_error, &reply, "reply without a command");
            return;
        case Phase::not_started:
        case Phase::tls_handshake:
        case Phase::failed:
        case Phase::closed:
            break;
    }
    HUB_PANIC("reply in a phase that reads none");
}

void ClientSession::on_greeting(const Reply& reply) {
    greeting_ = reply;
    if (reply.code == 220) {  // RFC 5321 3.1
        send_line(fmt::format("EHLO {}", config_.hostname));
        set_phase(Phase::ehlo);
        return;
    }
    if (is_failure(reply)) {
        // RFC 5321 3.1: after a 554 greeting the client should QUIT; after 421 the server
        // is already gone.
        fail(FailReason::greeting_rejected, &reply, "greeting refused", reply.code != 421);
        return;
    }
    fail(FailReason::protocol_error, &reply, "greeting is not 220");
}

void ClientSession::on_ehlo(const Reply& reply) {
    if (reply.code_class() == 2) {
        parse_extensions(reply);
        if (tls_active_) {
            become_ready();
        } else if (extensions_.starttls) {
            send_line("STARTTLS");  // RFC 3207 4
            set_phase(Phase::starttls);
        } else if (config_.require_tls) {
            fail(FailReason::tls_unavailable, &reply, "no STARTTLS in the EHLO reply", true);
        } else {
            become_ready();
        }
        return;
    }
    if (reply.code == 500 || reply.code == 502) {
        // RFC 5321 3.2: a server that does not know EHLO; HELO has no extensions, so no
        // STARTTLS either.
        if (config_.require_tls && !tls_active_) {
            fail(FailReason::tls_unavailable, &reply, "EHLO refused, so no STARTTLS", true);
            return;
        }
        send_line(fmt::format("HELO {}", config_.hostname));
        set_phase(Phase::helo);
        return;
    }
    if (is_failure(reply)) {
        fail(FailReason::ehlo_rejected, &reply, "EHLO refused", true);
        return;
    }
    fail(FailReason::protocol_error, &reply, "unexpected reply to EHLO");
}

void ClientSession::on_helo(const Reply& reply) {
    if (reply.code_class() == 2) {
        extensions_ = Extensions{};
        become_ready();
        return;
    }
    if (is_failure(reply)) {
        fail(FailReason::ehlo_rejected, &reply, "HELO refused", true);
        return;
    }
    fail(FailReason::protocol_error, &reply, "unexpected reply to HELO");
}

void ClientSession::on_starttls(const Reply& reply) {
    if (reply.code == 220 && input_follows_) {
        // RFC 3207 5: the 220 must be the last plaintext; bytes after it could have been
        // injected by someone in the path (the client side of CVE-2011-0411).
        fail(FailReason::protocol_error, &reply, "bytes after the 220 to STARTTLS");
        return;
    }
    if (reply.code == 220) {  // RFC 3207 4
        set_phase(Phase::tls_handshake);
        push_event(ClientEvent::start_tls);
        return;
    }
    if (is_failure(reply)) {
        fail(FailReason::tls_unavailable, &reply, "STARTTLS refused", true);
        return;
    }
    fail(FailReason::protocol_error, &reply, "unexpected reply to STARTTLS");
}

// RFC 5321 4.1.1.1: the first line greets, each further line is "keyword [params]".
void ClientSession::parse_extensions(const Reply& reply) {
    extensions_ = Extensions{};
    for (std::size_t i = 1; i < reply.lines.size(); i++) {
        std::string_view line = reply.lines[i];
        std::size_t space = line.find(' ');
        std::string_view keyword = line.substr(0, space);
        std::string_view params =
            space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        if (iequals(keyword, "STARTTLS")) {
            extensions_.starttls = true;
        } else if (iequals(keyword, "PIPELINING")) {
            extensions_.pipelining = true;
        } else if (iequals(keyword, "SIZE")) {
            extensions_.size = true;
            std::uint64_t size_max = 0;
            // RFC 1870 4: "SIZE" alone, or "SIZE 0", states no fixed limit.
            if (!params.empty() && parse_decimal(params.substr(0, params.find(' ')), size_max)) {
                extensions_.size_max = size_max;
            }
        } else if (iequals(keyword, "8BITMIME")) {
            extensions_.eight_bit_mime = true;
        } else if (iequals(keyword, "DSN")) {
            extensions_.dsn = true;
        } else if (iequals(keyword, "CHUNKING")) {
            extensions_.chunking = true;
        } else if (iequals(keyword, "ENHANCEDSTATUSCODES")) {
            extensions_.enhanced_status_codes = true;
        }
    }
}

void ClientSession::tls_started() {
    if (terminal()) {
        return;
    }
    HUB_ASSERT(!tls_active_);  // One handshake per connection.
    tls_active_ = true;
    if (phase_ == Phase::not_started) {
        return;  // Implicit TLS: start() follows.
    }
    HUB_ASSERT(phase_ == Phase::tls_handshake);
    // RFC 3207 4.2: forget what the server said before TLS and ask again.
    extensions_ = Extensions{};
    send_line(fmt::format("EHLO {}", config_.hostname));
    set_phase(Phase::ehlo);
}

void ClientSession::become_ready() {
    set_phase(Phase::ready);
    if (message_active_) {
        begin_transaction();  // Handed over before the session was ready.
        return;
    }
    push_event(ClientEvent::ready);
}

void ClientSession::send_message(const OutboundMessage& message) {
    HUB_ASSERT(!message_active_);
    HUB_ASSERT(phase_ != Phase::quit);  // After quit() nothing more is sent.
    std::size_t count = message.recipients.size();
    message_ = message;
    result_ = MessageResult{};
    result_.recipients.assign(count, RecipientResult{});
    verdicts_.assign(count, Verdict::pending);
    message_active_ = true;
    if (terminal()) {
        // A failed event may still wait in the queue: give the message back untouched.
        for (std::size_t i = 0; i < count; i++) {
            result_.recipients[i] = failure_outcome_;
            verdicts_[i] = Verdict::final;
        }
        finish_message();
        return;
    }
    if (!message.mail_from.empty() && !is_valid_mailbox(message.mail_from)) {
        Reply bad = local_reply(553, "5.1.7", "Bad sender address syntax");
        for (std::size_t i = 0; i < count; i++) {
            settle(i, bad, false);
        }
    }
    std::uint32_t usable = 0;
    for (std::size_t i = 0; i < count; i++) {
        if (verdicts_[i] != Verdict::pending) {
            continue;
        }
        if (!is_valid_mailbox(message.recipients[i].address)) {
            settle(i, local_reply(553, "5.1.3", "Bad recipient address syntax"), false);
        } else if (usable >= config_.recipients_count_max) {
            // RFC 5321 4.5.3.1.10: the rest wait for another transaction.
            settle(i, local_reply(452, "4.5.3", "Too many recipients for one transaction"), false);
        } else {
            usable++;
        }
    }
    if (usable == 0) {
        finish_message();
        return;
    }
    if (phase_ == Phase::ready) {
        begin_transaction();
    }
}

void ClientSession::begin_transaction() {
    HUB_ASSERT(phase_ == Phase::ready && message_active_);
    std::uint64_t declared = message_.size != 0 ? message_.size : message_.text_bytes();
    if (extensions_.size && extensions_.size_max > 0 && declared > extensions_.size_max) {
        // RFC 1870 6.1: do not send what the server has said it will refuse.
        Reply too_big =
            local_reply(552, "5.3.4",
                        fmt::format("Message size {} exceeds the server's fixed limit of {} bytes",
                                    declared, extensions_.size_max));
        for (std::size_t i = 0; i < verdicts_.size(); i++) {
            if (verdicts_[i] == Verdict::pending) {
                settle(i, too_big, false);
            }
        }
        finish_message();
        return;
    }
    rcpt_order_.clear();
    for (std::size_t i = 0; i < verdicts_.size(); i++) {
        if (verdicts_[i] == Verdict::pending) {
            rcpt_order_.push_back(static_cast<std::uint32_t>(i));
        }
    }
    HUB_ASSERT(!rcpt_order_.empty());
    // RFC 5321 4.1.1.5: RSET before a new transaction on a connection that had one, so
    // that whatever the last one left behind (a refused DATA) is cleared.
    with_rset_ = mail_sent_;
    steps_count_ = (with_rset_ ? 1 : 0) + 1 + rcpt_order_.size() + 1;
    sent_ = 0;
    replied_ = 0;
    stop_sending_ = false;
    mail_accepted_ = false;
    accepted_count_ = 0;
    empty_data_ = false;
    content_at_ = 0;
    piece_ = message_.content;
    piece_at_ = 0;
    content_queued_ = false;
    at_line_start_ = true;
    pending_cr_ = false;
    set_phase(Phase::transaction);
    fill_output();
}

ClientSession::Step ClientSession::step_at(std::size_t index) const {
    HUB_ASSERT(index < steps_count_);
    if (with_rset_) {
        if (index == 0) {
            return Step::rset;
        }
        index--;
    }
    if (index == 0) {
        return Step::mail;
    }
    return index <= rcpt_order_.size() ? Step::rcpt : Step::data;
}

std::uint32_t ClientSession::recipient_at(std::size_t index) const {
    HUB_ASSERT(step_at(index) == Step::rcpt);
    return rcpt_order_[index - (with_rset_ ? 2 : 1)];
}

bool ClientSession::can_send_more() const {
    if (phase_ != Phase::transaction || stop_sending_ || sent_ >= steps_count_) {
        return false;
    }
    // RFC 5321 3.3: no DATA once every RCPT is known to have been refused.
    return !(step_at(sent_) == Step::data && replied_ == sent_ && accepted_count_ == 0);
}

bool ClientSession::transaction_complete() const {
    return replied_ == sent_ && !can_send_more();
}

void ClientSession::on_transaction_reply(const Reply& reply) {
    if (replied_ >= sent_) {
        fail(FailReason::protocol_error, &reply, "reply without a command");
        return;
    }
    std::size_t index = replied_++;
    switch (step_at(index)) {
        case Step::rset:
            if (reply.code_class() != 2) {
                fail(FailReason::protocol_error, &reply, "RSET refused");
                return;
            }
            break;
        case Step::mail:
            if (reply.code_class() == 2) {
                mail_accepted_ = true;
            } else if (is_failure(reply)) {
                // The MAIL verdict applies to every recipient; pipelined RCPT and DATA
                // replies (503) that follow change nothing.
                for (std::uint32_t i : rcpt_order_) {
                    settle(i, reply, true);
                }
                stop_sending_ = true;
            } else {
                fail(FailReason::protocol_error, &reply, "unexpected reply to MAIL");
                return;
            }
            break;
        case Step::rcpt: {
            std::uint32_t i = recipient_at(index);
            if (!mail_accepted_) {
                break;
            }
            if (reply.code_class() == 2) {
                verdicts_[i] = Verdict::accepted_at_rcpt;
                result_.recipients[i].reply = reply;
                accepted_count_++;
            } else if (is_failure(reply)) {
                settle(i, reply, true);
            } else {
                fail(FailReason::protocol_error, &reply, "unexpected reply to RCPT");
                return;
            }
            break;
        }
        case Step::data:
            on_data_reply(reply);
            return;
    }
    if (transaction_complete()) {
        finish_message();
    }
}

void ClientSession::on_data_reply(const Reply& reply) {
    if (reply.code == 354) {  // RFC 5321 4.1.1.4
        if (mail_accepted_ && accepted_count_ > 0) {
            result_.content_sent = true;
            set_phase(Phase::content);
            return;
        }
        // RFC 2920 3.1: a pipelined DATA accepted although no recipient was; the only
        // way out is an empty message, which the server must then refuse.
        empty_data_ = true;
        send_line(".");
        set_phase(Phase::data_end);
        return;
    }
    if (is_failure(reply)) {
        // With no recipient accepted this is the expected 503/554 and changes nothing; the
        // server may keep a half transaction, which the next message's RSET clears.
        settle_accepted(reply, true);
        stop_sending_ = true;
        HUB_ASSERT(transaction_complete());
        finish_message();
        return;
    }
    fail(FailReason::protocol_error, &reply, "unexpected reply to DATA");
}

void ClientSession::on_end_of_data(const Reply& reply) {
    bool verdict = reply.code_class() == 2 || is_failure(reply);
    if (empty_data_) {
        if (!verdict) {
            fail(FailReason::protocol_error, &reply, "unexpected reply to the end of data");
            return;
        }
        finish_message();  // Every recipient already has its verdict.
        return;
    }
    if (phase_ == Phase::content) {
        // The server answered before it had all of the content. A refusal is believed
        // (it refuses what it saw); an acceptance is not. Either way the stream is out of
        // step, so the connection ends.
        if (is_failure(reply)) {
            settle_accepted(reply, true);
        }
        fail(FailReason::protocol_error, &reply, "reply before the end of data");
        return;
    }
    if (!verdict) {
        fail(FailReason::protocol_error, &reply, "unexpected reply to the end of data");
        return;
    }
    settle_accepted(reply, true);
    finish_message();
}

void ClientSession::settle(std::size_t recipient, const Reply& reply, bool remote) {
    HUB_ASSERT(verdicts_[recipient] != Verdict::final);
    RecipientResult& result = result_.recipients[recipient];
    result.status = status_for(reply);
    result.reply = reply;
    result.remote = remote;
    verdicts_[recipient] = Verdict::final;
}

void ClientSession::settle_accepted(const Reply& reply, bool remote) {
    for (std::size_t i = 0; i < verdicts_.size(); i++) {
        if (verdicts_[i] == Verdict::accepted_at_rcpt) {
            settle(i, reply, remote);
        }
    }
}

void ClientSession::finish_message() {
    HUB_ASSERT(message_active_);
    HUB_ASSERT(std::all_of(verdicts_.begin(), verdicts_.end(),
                           [](Verdict verdict) { return verdict == Verdict::final; }));
    message_active_ = false;
    message_.head = {};  // The engine may free them now.
    message_.content = {};
    piece_ = {};
    piece_at_ = 0;
    push_event(ClientEvent::message_done);
    switch (phase_) {
        case Phase::ready:
        case Phase::transaction:
        case Phase::content:
        case Phase::data_end:
            set_phase(Phase::ready);
            push_event(ClientEvent::ready);
            return;
        default:
            return;  // Before ready, or terminal: no ready event.
    }
}

// ---- Output -------------------------------------------------------------------------------

std::span<const char> ClientSession::pending_output() {
    fill_output();
    return std::span<const char>(output_.data() + output_head_, output_bytes());
}

void ClientSession::consume_output(std::size_t count) {
    HUB_ASSERT(count <= output_bytes());
    output_head_ += count;
    if (output_head_ == output_.size()) {
        output_.clear();  // Keeps the capacity.
        output_head_ = 0;
    }
    if (phase_ == Phase::content && count > 0) {
        timer_epoch_++;  // RFC 5321 4.5.3.2.5: the deadline is per block sent.
        if (content_queued_ && output_bytes() == 0) {
            set_phase(Phase::data_end);
        }
    }
}

void ClientSession::fill_output() {
    if (phase_ == Phase::transaction) {
        fill_commands();
    } else if (phase_ == Phase::content) {
        fill_content();
    }
}

// RFC 2920 3.1: with PIPELINING the whole transaction goes out at once (DATA last in the
// group); without it, each command waits for the reply to the one before.
void ClientSession::fill_commands() {
    while (can_send_more() && (extensions_.pipelining || sent_ == replied_) &&
           output_bytes() + client_command_bytes_max <= client_output_bytes) {
        if (step_at(sent_) == Step::mail) {
            mail_sent_ = true;
        }
        send_line(format_command(sent_));
        sent_++;
    }
}

std::string ClientSession::format_command(std::size_t index) const {
    switch (step_at(index)) {
        case Step::rset:
            return "RSET";
        case Step::data:
            return "DATA";
        case Step::mail: {
            std::string line = fmt::format("MAIL FROM:<{}>", message_.mail_from);
            if (extensions_.size) {  // RFC 1870 6.1
                std::uint64_t declared = message_.size != 0 ? message_.size : message_.text_bytes();
                line += fmt::format(" SIZE={}", declared);
            }
            // RFC 6152 3: BODY=8BITMIME only to a peer that offers it; without it the
            // content goes as it is (see client_session.h).
            if (message_.body_type == BodyType::eight_bit_mime && extensions_.eight_bit_mime) {
                line += " BODY=8BITMIME";
            }
            if (extensions_.dsn) {  // RFC 3461 4.3, 4.4: only to a DSN peer.
                if (message_.ret == DsnRet::full) {
                    line += " RET=FULL";
                } else if (message_.ret == DsnRet::headers) {
                    line += " RET=HDRS";
                }
                std::string envid = xtext_encode(message_.envid);
                if (!envid.empty() && envid.size() <= envid_xtext_bytes_max) {
                    line += fmt::format(" ENVID={}", envid);
                }
            }
            return line;
        }
        case Step::rcpt: {
            const Recipient& recipient = message_.recipients[recipient_at(index)];
            std::string line = fmt::format("RCPT TO:<{}>", recipient.address);
            if (extensions_.dsn) {  // RFC 3461 4.1, 4.2: only to a DSN peer.
                if (recipient.notify != 0) {
                    line += fmt::format(" NOTIFY={}", notify_value(recipient.notify));
                }
                if (std::string orcpt = orcpt_value(recipient.orcpt); !orcpt.empty()) {
                    line += fmt::format(" ORCPT={}", orcpt);
                }
            }
            return line;
        }
    }
    HUB_PANIC("unknown step");
}

// Streams the content in slices: each call dot-stuffs as much as fits the free output
// (an input byte becomes at most two output bytes), so a 5 MB message never needs more
// than client_output_bytes of buffer. The text is the head, then the content's pieces in
// order; stuff() keeps its line state across every boundary between them.
void ClientSession::fill_content() {
    std::uint64_t text_bytes = message_.text_bytes();
    // Compact only when at most half is left to move, so each byte is moved at most once.
    if (output_head_ > 0 && output_bytes() <= client_output_bytes / 2) {
        output_.erase(0, output_head_);
        output_head_ = 0;
    }
    while (!content_queued_) {
        std::size_t space = client_output_bytes - output_.size();
        if (space < content_slice_bytes_min) {
            return;
        }
        if (content_at_ == text_bytes) {
            if (pending_cr_) {
                pending_cr_ = false;
                line_endings_repaired_++;
                output_ += crlf;
            } else if (!at_line_start_) {
                output_ += crlf;  // The end-of-data mark needs a line of its own.
            }
            output_ += ".\r\n";  // RFC 5321 4.1.1.4
            content_queued_ = true;
            break;
        }
        bool in_head = content_at_ < message_.head.size();
        std::string_view source =
            in_head ? message_.head.substr(content_at_) : piece_.substr(piece_at_);
        if (source.empty()) {
            HUB_ASSERT(needs_content());
            return;  // The engine hands the next piece over (add_content).
        }
        std::size_t take = std::min(source.size(), (space - 8) / 2);
        stuff(source.substr(0, take));
        content_at_ += take;
        if (!in_head) {
            piece_at_ += take;
        }
        HUB_ASSERT(content_at_ <= text_bytes);
        HUB_ASSERT(output_.size() <= client_output_bytes);
    }
}

bool ClientSession::needs_content() const {
    return phase_ == Phase::content && message_active_ && !content_queued_ &&
           content_at_ >= message_.head.size() && piece_at_ == piece_.size() &&
           content_at_ < message_.text_bytes();
}

void ClientSession::add_content(std::string_view piece) {
    HUB_ASSERT(needs_content());
    HUB_ASSERT(!piece.empty() && content_at_ + piece.size() <= message_.text_bytes());
    piece_ = piece;
    piece_at_ = 0;
}

void ClientSession::abort_content(std::string_view detail) {
    HUB_ASSERT(message_active_ && !terminal());
    // No final "." ever goes out: output_ is dropped and the engine closes, so the server
    // sees DATA end with the connection and discards the transaction (RFC 5321 4.1.1.4).
    fail(FailReason::content_unreadable, nullptr, detail);
}

// RFC 5321 4.5.2: a line that starts with "." gets one more. Bare CR and bare LF become
// CRLF (counted): a lone LF followed by "." would be an end of data to a lax receiver.
void ClientSession::stuff(std::string_view content) {
    std::size_t i = 0;
    while (i < content.size()) {
        char c = content[i];
        if (pending_cr_) {
            pending_cr_ = false;
            output_ += crlf;
            at_line_start_ = true;
            if (c == '\n') {
                i++;
            } else {
                line_endings_repaired_++;  // Bare CR; c starts the next line.
            }
            continue;
        }
        if (c == '\r') {
            pending_cr_ = true;
            i++;
            continue;
        }
        if (c == '\n') {
            line_endings_repaired_++;
            output_ += crlf;
            at_line_start_ = true;
            i++;
            continue;
        }
        if (at_line_start_ && c == '.') {
            output_ += '.';
        }
        std::size_t end = next_line_break(content, i);
        output_.append(content.substr(i, end - i));
        at_line_start_ = false;
        i = end;
    }
}

void ClientSession::send_line(std::string_view line) {
    HUB_ASSERT(!line.empty() && line.size() + crlf.size() <= client_command_bytes_max);
    HUB_ASSERT_SLOW(line.find_first_of(crlf) == std::string_view::npos);
    if (output_head_ > 0) {
        output_.erase(0, output_head_);
        output_head_ = 0;
    }
    HUB_ASSERT(output_.size() + line.size() + crlf.size() <= client_output_bytes);
    output_ += line;
    output_ += crlf;
}

// ---- Ending -------------------------------------------------------------------------------

void ClientSession::quit() {
    if (terminal()) {
        return;
    }
    HUB_ASSERT(phase_ == Phase::ready && !message_active_);
    send_line("QUIT");  // RFC 5321 4.1.1.10
    set_phase(Phase::quit);
}

void ClientSession::on_timeout() {
    switch (phase_) {
        case Phase::not_started:
        case Phase::ready:
        case Phase::failed:
        case Phase::closed:
            return;  // No deadline was armed.
        case Phase::quit:
            set_phase(Phase::closed);  // Nothing was at stake any more.
            push_event(ClientEvent::closed);
            return;
        default:
            fail(FailReason::timeout, nullptr, fmt::format("waiting for {}", waiting_for()));
            return;
    }
}

void ClientSession::on_transport_failed(FailReason reason, std::string_view detail) {
    HUB_ASSERT(reason == FailReason::connect_failed || reason == FailReason::tls_failed ||
               reason == FailReason::closed_by_peer);
    if (terminal()) {
        return;
    }
    if (phase_ == Phase::quit && reason == FailReason::closed_by_peer) {
        set_phase(Phase::closed);  // Closing without 221 after QUIT is harmless.
        push_event(ClientEvent::closed);
        return;
    }
    fail(reason, nullptr, detail);
}

std::string_view ClientSession::waiting_for() const {
    switch (phase_) {
        case Phase::greeting:
            return "the greeting";
        case Phase::ehlo:
            return "the EHLO reply";
        case Phase::helo:
            return "the HELO reply";
        case Phase::starttls:
            return "the STARTTLS reply";
        case Phase::tls_handshake:
            return "the TLS handshake";
        case Phase::transaction:
            if (replied_ < sent_) {
                switch (step_at(replied_)) {
                    case Step::rset:
                        return "the RSET reply";
                    case Step::mail:
                        return "the MAIL reply";
                    case Step::rcpt:
                        return "the RCPT reply";
                    case Step::data:
                        return "the DATA reply";
                }
            }
            return "the server to read commands";
        case Phase::content:
            return "the server to read message content";
        case Phase::data_end:
            return "the reply to the end of data";
        default:
            return "the server";
    }
}

// The one place a connection ends badly. Recipients of a message in flight that have no
// verdict yet get temp_fail (the queue retries them); courtesy_quit politely ends a
// conversation that is still in step (RFC 5321 4.1.1.10), otherwise output is dropped.
void ClientSession::fail(FailReason reason, const Reply* reply, std::string_view detail,
                         bool courtesy_quit) {
    HUB_ASSERT(!terminal());
    failure_.reason = reason;
    failure_.reply = reply != nullptr ? std::optional<Reply>(*reply) : std::nullopt;
    failure_.detail = masked(detail);

    // Recipients quote the server's reply when it says why (a refusal, a 421, a refused
    // STARTTLS); otherwise a local reply names the reason.
    bool quote_peer =
        reply != nullptr && is_failure(*reply) &&
        (reason == FailReason::greeting_rejected || reason == FailReason::ehlo_rejected ||
         reason == FailReason::closed_by_peer ||
         (reason == FailReason::tls_unavailable && phase_ == Phase::starttls));
    RecipientResult outcome;
    outcome.status = RecipientStatus::temp_fail;
    if (quote_peer) {
        outcome.reply = *reply;
        outcome.remote = true;
        // A 5xx greeting is the one connection-level refusal taken as final.
        if (reason == FailReason::greeting_rejected && reply->code_class() == 5) {
            outcome.status = RecipientStatus::perm_fail;
        }
    } else {
        outcome.reply = local_failure_reply(reason, failure_.detail);
    }
    failure_outcome_ = outcome;
    if (message_active_) {
        for (std::size_t i = 0; i < verdicts_.size(); i++) {
            if (verdicts_[i] != Verdict::final) {
                result_.recipients[i] = outcome;
                verdicts_[i] = Verdict::final;
            }
        }
    }
    output_.clear();
    output_head_ = 0;
    if (courtesy_quit) {
        send_line("QUIT");
    }
    set_phase(Phase::failed);
    if (message_active_) {
        finish_message();
    }
    push_event(ClientEvent::failed);
}

Reply ClientSession::local_failure_reply(FailReason reason, std::string_view detail) {
    std::string_view enhanced = "4.4.0";
    std::string_view what;
    switch (reason) {
        case FailReason::connect_failed:
            enhanced = "4.4.1";
            what = "Connection failed";
            break;
        case FailReason::greeting_rejected:
            what = "Greeting refused";
            break;
        case FailReason::ehlo_rejected:
            enhanced = "4.5.0";
            what = "EHLO refused";
            break;
        case FailReason::tls_unavailable:
            enhanced = "4.7.10";  // RFC 5248 registry: Encryption Needed.
            what = "TLS is required but not available";
            break;
        case FailReason::tls_failed:
            enhanced = "4.7.5";
            what = "TLS handshake failed";
            break;
        case FailReason::protocol_error:
            enhanced = "4.5.0";
            what = "Protocol error";
            break;
        case FailReason::timeout:
            enhanced = "4.4.2";
            what = "Timeout";
            break;
        case FailReason::closed_by_peer:
            enhanced = "4.4.2";
            what = "Connection closed by the server";
            break;
        case FailReason::content_unreadable:
            enhanced = "4.3.0";  // RFC 3463: other or undefined mail system status.
            what = "The spooled message is damaged";
            break;
    }
    return local_reply(451, enhanced,
                       detail.empty() ? std::string(what) : fmt::format("{}: {}", what, detail));
}

// ---- Bookkeeping --------------------------------------------------------------------------

std::uint32_t ClientSession::deadline_ms() const {
    switch (phase_) {
        case Phase::not_started:
        case Phase::ready:
        case Phase::failed:
        case Phase::closed:
            return 0;
        case Phase::greeting:
            return config_.greeting_timeout_ms;
        case Phase::ehlo:
        case Phase::helo:
        case Phase::starttls:
        case Phase::tls_handshake:
        case Phase::quit:
            return config_.command_timeout_ms;
        case Phase::transaction:
            if (replied_ < sent_) {
                switch (step_at(replied_)) {
                    case Step::rset:
                        return config_.command_timeout_ms;
                    case Step::mail:
                        return config_.mail_timeout_ms;
                    case Step::rcpt:
                        return config_.rcpt_timeout_ms;
                    case Step::data:
                        return config_.data_init_timeout_ms;
                }
            }
            return config_.command_timeout_ms;
        case Phase::content:
            return config_.data_block_timeout_ms;
        case Phase::data_end:
            return config_.data_end_timeout_ms;
    }
    HUB_PANIC("unknown phase");
}

bool ClientSession::idle() const {
    return phase_ == Phase::ready && !message_active_;
}

bool ClientSession::terminal() const {
    return phase_ == Phase::failed || phase_ == Phase::closed;
}

ClientEvent ClientSession::next_event() {
    if (events_count_ == 0) {
        return ClientEvent::none;
    }
    ClientEvent event = events_[events_head_];
    events_head_ = (events_head_ + 1) % client_events_count_max;
    events_count_--;
    return event;
}

void ClientSession::push_event(ClientEvent event) {
    HUB_ASSERT(event != ClientEvent::none);
    HUB_ASSERT(events_count_ < client_events_count_max);  // The engine drains after each call.
    events_[(events_head_ + events_count_) % client_events_count_max] = event;
    events_count_++;
}

void ClientSession::set_phase(Phase phase) {
    if (phase_ != phase) {
        phase_ = phase;
        timer_epoch_++;
    }
}

void ClientSession::release_idle_buffers() {
    if (output_bytes() == 0) {
        std::string().swap(output_);
        output_head_ = 0;
    }
    if (!message_active_) {
        message_ = OutboundMessage{};
        verdicts_.clear();
        verdicts_.shrink_to_fit();
        rcpt_order_.clear();
        rcpt_order_.shrink_to_fit();
    }
}

}  // namespace hub::smtp
