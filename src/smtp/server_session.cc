// server_session.cc -- the inbound SMTP server as a sans-I/O state machine.
//
// PURPOSE   Turn the bytes a client sends into replies and engine events (start TLS,
//           message ready, close), enforcing RFC 5321 framing and the hub's policy hooks.
// RUNS IN   every shard, one object per inbound connection; no syscalls, no clock, no disk.
// TRUST     every byte fed in comes from an untrusted peer. Peer text never reaches a reply
//           unchecked, never trips an assertion, and never changes how bytes are framed
//           except through the rules below:
//             - only CRLF ends a command line or a content line (RFC 5321 2.3.8);
//             - a bare CR or LF in DATA content closes the connection (SMTP smuggling);
//             - bytes after STARTTLS are thrown away (RFC 3207 5, CVE-2011-0411).
// LIMITS    smtp/limits.h: command lines of 512 bytes, text lines of 1000, a 16 KiB inbox,
//           32 commands per feed(), recipients, errors and message bytes from ServerConfig.
// SEE ALSO  smtp/server_session.h (the engine contract), smtp/command.h (the grammar),
//           tests/transcripts/ (golden conversations), tests/fuzz/smtp_*_fuzz.cc.
#include "smtp/server_session.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "smtp/line_break.h"

namespace hub::smtp {

namespace {

constexpr std::size_t reject_text_bytes_max = 200;
constexpr std::string_view need_starttls = "530 5.7.0 Must issue a STARTTLS command first";

// Control characters other than HT have no business in a command line; refusing them
// keeps them out of logs and of anything derived from the line.
bool has_control_character(std::string_view line) {
    return std::any_of(line.begin(), line.end(),
                       [](char c) { return (c >= 0 && c < ' ' && c != '\t') || c == '\x7f'; });
}

// RFC 3207 4: before TLS only the commands that lead to it, or away, are allowed.
bool allowed_before_tls(Verb verb) {
    switch (verb) {
        case Verb::ehlo:
        case Verb::helo:
        case Verb::starttls:
        case Verb::noop:
        case Verb::rset:
        case Verb::quit:
            return true;
        case Verb::mail:
        case Verb::rcpt:
        case Verb::data:
        case Verb::bdat:
        case Verb::help:
        case Verb::vrfy:
        case Verb::expn:
        case Verb::unknown:
            return false;
    }
    HUB_PANIC("unknown verb");
}

// The log's stage for a command; commands outside a stage of their own (VRFY, NOOP, ...)
// take the stage the transaction has reached.
RefusalStage command_stage(Verb verb, RefusalStage reached) {
    switch (verb) {
        case Verb::ehlo:
        case Verb::helo:
            return RefusalStage::ehlo;
        case Verb::mail:
            return RefusalStage::mail;
        case Verb::rcpt:
            return RefusalStage::rcpt;
        case Verb::data:
            return RefusalStage::data;
        case Verb::bdat:
            return RefusalStage::bdat;
        case Verb::starttls:
            return RefusalStage::starttls;
        case Verb::noop:
        case Verb::rset:
        case Verb::quit:
        case Verb::help:
        case Verb::vrfy:
        case Verb::expn:
        case Verb::unknown:
            return reached;
    }
    HUB_PANIC("unknown verb");
}

RefusalReason refusal_reason_of(SenderVerdict verdict) {
    switch (verdict) {
        case SenderVerdict::no_client_certificate:
            return RefusalReason::no_client_certificate;
        case SenderVerdict::certificate_chain:
            return RefusalReason::certificate_chain;
        case SenderVerdict::cn_mismatch:
            return RefusalReason::cn_mismatch;
        case SenderVerdict::sender_not_partner:
            return RefusalReason::sender_not_partner;
        case SenderVerdict::tls_required:
            return RefusalReason::tls_required;
        case SenderVerdict::cipher_too_weak:
            return RefusalReason::cipher_too_weak;
        case SenderVerdict::subject_mismatch:
            return RefusalReason::subject_mismatch;
        case SenderVerdict::issuer_mismatch:
            return RefusalReason::issuer_mismatch;
        case SenderVerdict::accept:
            break;
    }
    HUB_PANIC("an accepted sender is not a refusal");
}

// RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ).
bool parse_notify(std::string_view value, std::uint8_t& bits) {
    bits = 0;
    while (true) {
        std::size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        if (iequals(item, "NEVER")) {
            bits |= dsn_notify_never;
        } else if (iequals(item, "SUCCESS")) {
            bits |= dsn_notify_success;
        } else if (iequals(item, "FAILURE")) {
            bits |= dsn_notify_failure;
        } else if (iequals(item, "DELAY")) {
            bits |= dsn_notify_delay;
        } else {
            return false;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
    return (bits & dsn_notify_never) == 0 || bits == dsn_notify_never;
}

// RFC 3461 4.2: ORCPT=addr-type ";" xtext; kept as "type;decoded".
bool parse_orcpt(std::string_view value, std::string& orcpt) {
    std::size_t semicolon = value.find(';');
    if (semicolon == 0 || semicolon == std::string_view::npos) {
        return false;
    }
    std::string_view type = value.substr(0, semicolon);
    for (char c : type) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            return false;
        }
    }
    std::string decoded;
    if (!xtext_decode(value.substr(semicolon + 1), orcpt_bytes_max, decoded) || decoded.empty()) {
        return false;
    }
    orcpt.assign(type);
    orcpt += ';';
    orcpt += decoded;
    return true;
}

}  // namespace

// RFC 4954 6 and RFC 3463 3.8: 530 5.7.0 asks the client to authenticate (here: with a
// certificate the hub trusts) and try again; 550 5.7.1 is "not authorized", final.
std::string sender_refusal_reply(const SenderCheck& check, std::string_view mail_from) {
    switch (check.verdict) {
        case SenderVerdict::no_client_certificate:
            return fmt::format("530 5.7.0 Client certificate required by the policy of partner {}",
                               check.partner);
        case SenderVerdict::certificate_chain:
            return fmt::format(
                "530 5.7.0 Client certificate not trusted: partner {} requires one issued by "
                "the hub CA",
                check.partner);
        case SenderVerdict::cn_mismatch:
            return fmt::format("550 5.7.1 Client certificate CN does not match partner {}",
                               check.partner);
        case SenderVerdict::sender_not_partner:
            return fmt::format(
                "550 5.7.1 <{}>: Sender address rejected: not a domain of partner {}", mail_from,
                check.partner);
        case SenderVerdict::tls_required:
            return std::string(need_starttls);
        // RFC 3463 3.8: X.7.0 "other security status" for a session that is encrypted,
        // but not strongly enough; X.7.1 "not authorized" for a certificate the policy
        // does not name. Both final: retrying the same client gets the same answer.
        case SenderVerdict::cipher_too_weak:
            return fmt::format("550 5.7.0 Cipher too weak for the TLS policy of partner {}",
                               check.partner);
        case SenderVerdict::subject_mismatch:
            return fmt::format(
                "550 5.7.1 Client certificate subject does not match the TLS policy of partner "
                "{}",
                check.partner);
        case SenderVerdict::issuer_mismatch:
            return fmt::format(
                "550 5.7.1 Client certificate issuer does not match the TLS policy of partner {}",
                check.partner);
        case SenderVerdict::accept:
            break;
    }
    HUB_PANIC("no reply for an accepted sender");
}

ServerSession::ServerSession(const ServerConfig& config, ServerPolicy& policy)
    : config_(config), policy_(policy) {
    HUB_ASSERT(!config_.hostname.empty());
    HUB_ASSERT(is_printable_ascii(config_.hostname));  // It goes into every reply.
}

void ServerSession::start(bool reject, std::string_view reject_text) {
    HUB_ASSERT(phase_ == Phase::not_started);
    if (reject) {
        std::string line = "554 5.7.1 ";
        if (reject_text.empty()) {
            reject_text = "Access denied";
        }
        for (char c : reject_text.substr(0, reject_text_bytes_max)) {
            line += (c >= ' ' && c <= '~') ? c : '?';  // Never a line break in a reply.
        }
        close_with(line);
        return;
    }
    set_phase(Phase::commands);
    reply(fmt::format("220 {} ESMTP Hubbox", config_.hostname));
}

std::size_t ServerSession::inbox_space_bytes() const {
    return inbox_.space_bytes();
}

bool ServerSession::feed(std::span<const char> plaintext_in) {
    HUB_ASSERT(phase_ != Phase::not_started);  // The engine calls start() first.
    if (phase_ == Phase::closed) {
        return false;  // Bytes that raced the close; nobody will answer them.
    }
    if (phase_ == Phase::tls_handshake) {
        // Plaintext during the handshake can only be an injection attempt (or an engine
        // that forgot to switch transports); it is never executed.
        discarded_after_starttls_ += plaintext_in.size();
        return false;
    }
    HUB_ASSERT(plaintext_in.size() <= inbox_.space_bytes());  // Engine never over-delivers.
    if (!plaintext_in.empty()) {  // feed({}) passes a null pointer; memcpy must not see it.
        bool appended = inbox_.append(plaintext_in);
        HUB_ASSERT(appended);
    }
    return run(commands_per_feed_max);
}

bool ServerSession::input_pending() const {
    if (inbox_.empty()) {
        return false;
    }
    switch (phase_) {
        case Phase::commands: {
            // A partial command line is not work: feeding again would change nothing, and
            // an engine that rescheduled on it would spin.
            std::span<const char> readable = inbox_.readable();
            std::string_view text(readable.data(), readable.size());
            return discarding_line_ || text.size() >= command_line_bytes_max ||
                   text.find(crlf) != std::string_view::npos;
        }
        case Phase::data_content:
        case Phase::bdat_content:
        case Phase::bdat_discard:
            return true;  // Content is consumed as it comes.
        case Phase::not_started:
        case Phase::tls_handshake:
        case Phase::awaiting_commit:
        case Phase::closed:
            return false;
    }
    HUB_PANIC("unknown phase");
}

// Runs whole units (a command line, a message's end, a BDAT chunk) until the budget is
// spent, the inbox runs dry, or the session waits for the engine.
bool ServerSession::run(std::uint32_t budget) {
    HUB_ASSERT(budget <= commands_per_feed_max);
    while (budget > 0 && !inbox_.empty()) {
        bool unit_done = false;
        switch (phase_) {
            case Phase::commands:
                unit_done = discarding_line_ ? step_discard_line() : step_command();
                break;
            case Phase::data_content:
                unit_done = step_data();
                break;
            case Phase::bdat_content:
            case Phase::bdat_discard:
                unit_done = step_bdat();
                break;
            case Phase::not_started:
            case Phase::tls_handshake:
            case Phase::awaiting_commit:
            case Phase::closed:
                return false;
        }
        if (!unit_done) {
            return false;  // Need more bytes.
        }
        budget--;
    }
    return input_pending();
}

bool ServerSession::step_command() {
    std::span<const char> readable = inbox_.readable();
    std::string_view text(readable.data(),
                          std::min<std::size_t>(readable.size(), command_line_bytes_max));
    std::size_t end = text.find(crlf);
    if (end == std::string_view::npos) {
        if (readable.size() < command_line_bytes_max) {
            return false;  // The line may still end within the limit.
        }
        // RFC 5321 4.5.3.1.4: too long. Drop the first 512 bytes (no CRLF ends in them)
        // and then everything up to the next CRLF, which may start with the last of them.
        discard_saw_cr_ = text.back() == '\r';
        discarding_line_ = true;
        inbox_.consume(text.size());
        reply_error("500 5.5.2 Line too long");
        return true;
    }
    std::string_view line = text.substr(0, end);
    // Consume before running: STARTTLS clears the inbox. The view stays valid because
    // nothing is appended to the inbox while a command runs.
    inbox_.consume(end + crlf.size());
    timer_epoch_++;
    run_command(line);
    return true;
}

bool ServerSession::step_discard_line() {
    std::span<const char> readable = inbox_.readable();
    std::string_view text(readable.data(), readable.size());
    HUB_ASSERT(discarding_line_ && !text.empty());
    std::size_t used = std::string_view::npos;
    if (discard_saw_cr_ && text.front() == '\n') {
        used = 1;  // The CR ended the previous feed.
    } else if (std::size_t end = text.find(crlf); end != std::string_view::npos) {
        used = end + crlf.size();
    }
    if (used == std::string_view::npos) {
        discard_saw_cr_ = text.back() == '\r';
        inbox_.consume(text.size());
        return false;
    }
    inbox_.consume(used);
    discarding_line_ = false;
    discard_saw_cr_ = false;
    timer_epoch_++;
    return true;
}

void ServerSession::run_command(std::string_view line) {
    HUB_ASSERT(phase_ == Phase::commands);
    HUB_ASSERT(line.size() + crlf.size() <= command_line_bytes_max);
    if (line.find_first_of(crlf) != std::string_view::npos) {
        // RFC 5321 2.3.8: a bare CR or LF is never a line ending, so the line is garbage.
        reply_error("500 5.5.2 Bare CR or LF in command");
        return;
    }
    if (line.empty()) {
        reply_error("500 5.5.2 Error: bad syntax");
        return;
    }
    if (has_control_character(line)) {
        reply_error("500 5.5.2 Error: control character in command");
        return;
    }
    CommandLine command = split_command(line);
    stage_ = command_stage(command.verb, transaction_stage());
    if (config_.tls_required && !tls_ && !allowed_before_tls(command.verb)) {
        note_refusal(RefusalReason::tls_required, need_starttls);
        std::uint64_t chunk_bytes = 0;
        bool last = false;
        if (command.verb == Verb::bdat && parse_bdat_args(command.args, chunk_bytes, last)) {
            bdat_reject(chunk_bytes, need_starttls);  // Keep the framing: read the chunk.
            return;
        }
        reply_error(need_starttls);
        return;
    }
    dispatch(command.verb, command.args);
}

void ServerSession::dispatch(Verb verb, std::string_view args) {
    switch (verb) {
        case Verb::ehlo:
            on_ehlo(args, true);
            return;
        case Verb::helo:
            on_ehlo(args, false);
            return;
        case Verb::mail:
            on_mail(args);
            return;
        case Verb::rcpt:
            on_rcpt(args);
            return;
        case Verb::data:
            on_data(args);
            return;
        case Verb::bdat:
            on_bdat(args);
            return;
        case Verb::starttls:
            on_starttls(args);
            return;
        case Verb::rset:
            if (!args.empty()) {
                reply_error("501 5.5.4 Syntax: RSET");
                return;
            }
            reset_transaction();
            reply("250 2.0.0 Ok");
            return;
        case Verb::noop:
            reply("250 2.0.0 Ok");  // RFC 5321 4.1.1.9: any argument is ignored.
            return;
        case Verb::quit:
            close_with("221 2.0.0 Bye");
            return;
        case Verb::help:
            reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS");
            return;
        case Verb::vrfy:
            if (args.empty()) {
                reply_error("501 5.5.4 Syntax: VRFY address");
                return;
            }
            // RFC 5321 3.5.3: 252 discloses nothing about who exists.
            reply("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
            return;
        case Verb::expn:
            reply_error("502 5.5.1 EXPN not available");
            return;
        case Verb::unknown:
            reply_error("500 5.5.1 Error: command not recognized");
            return;
    }
    HUB_PANIC("unknown verb");
}

void ServerSession::on_ehlo(std::string_view args, bool esmtp) {
    std::size_t first = args.find_first_not_of(' ');
    args = first == std::string_view::npos ? std::string_view() : args.substr(first);
    if (args.empty()) {
        reply_error(esmtp ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
        return;
    }
    if (args.size() > helo_bytes_max || !is_printable_ascii(args)) {
        reply_error("501 5.5.4 Error: invalid hostname");
        return;
    }
    reset_transaction();  // RFC 5321 4.1.4: EHLO and HELO also reset the transaction.
    envelope_.helo.assign(args);
    envelope_.esmtp = esmtp;
    helo_seen_ = true;
    if (!esmtp) {
        reply(fmt::format("250 {}", config_.hostname));
        return;
    }
    // RFC 5321 4.1.1.1: one 250 line per extension, the last one with a space.
    std::string lines = fmt::format("250-{}\r\n", config_.hostname);
    lines += "250-PIPELINING\r\n";                                       // RFC 2920
    lines += fmt::format("250-SIZE {}\r\n", config_.message_bytes_max);  // RFC 1870
    lines += "250-8BITMIME\r\n";                                         // RFC 6152
    lines += "250-ENHANCEDSTATUSCODES\r\n";                              // RFC 2034
    lines += "250-CHUNKING\r\n";                                         // RFC 3030
    bool offer_starttls = !tls_ && config_.starttls_offered;
    lines += offer_starttls ? "250-DSN\r\n250 STARTTLS" : "250 DSN";  // RFC 3461, RFC 3207
    reply(lines);
}

void ServerSession::on_mail(std::string_view args) {
    if (!helo_seen_) {
        reply_error("503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (mail_seen_) {
        reply_error("503 5.5.1 Error: nested MAIL command");
        return;
    }
    Result<PathArgument, PathError> path = parse_path_argument(args, "FROM:");
    if (!path) {
        reply_error(path.error() == PathError::syntax ? "501 5.5.4 Syntax: MAIL FROM:<address>"
                                                      : "501 5.1.7 Bad sender address syntax");
        return;
    }
    // RFC 5321 4.5.5: the null reverse-path <> is how bounces arrive.
    if (!path->address.empty() && !is_valid_mailbox(path->address)) {
        reply_error("501 5.1.7 Bad sender address syntax");
        return;
    }
    if (!mail_params(path->params)) {
        reset_transaction();  // Forget the parameters parsed before the bad one.
        return;
    }
    // Who may send is settled before any recipient: a refused session spools nothing.
    SenderCheck sender = policy_.check_sender(path->address);
    if (sender.verdict != SenderVerdict::accept) {
        std::string refused = sender_refusal_reply(sender, path->address);
        if (Refusal* refusal = note_refusal(refusal_reason_of(sender.verdict), refused)) {
            refusal->from.assign(path->address);
            refusal->has_from = true;
            refusal->detail = std::move(sender.detail);
        }
        reset_transaction();
        reply_error(refused);
        return;
    }
    if (envelope_.declared_bytes > config_.message_bytes_max) {
        constexpr std::string_view too_big = "552 5.3.4 Message size exceeds fixed limit";
        if (Refusal* refusal = note_refusal(RefusalReason::message_too_big, too_big)) {
            refusal->from.assign(path->address);
            refusal->has_from = true;
            refusal->detail = fmt::format("SIZE={}", envelope_.declared_bytes);
        }
        reset_transaction();
        reply_error(too_big);  // RFC 1870 6.1
        return;
    }
    if (!policy_.spool_has_space()) {
        // Not counted as a client error: the shortage is ours, and it is temporary. Nor
        // are the RCPT and DATA a pipelining client sent behind this MAIL (need_mail).
        constexpr std::string_view no_space = "452 4.3.1 Insufficient system storage";
        if (Refusal* refusal = note_refusal(RefusalReason::insufficient_storage, no_space)) {
            refusal->from.assign(path->address);
            refusal->has_from = true;
        }
        reset_transaction();
        reply(no_space);
        refused_for_space_ = true;
        return;
    }
    envelope_.mail_from.assign(path->address);
    mail_seen_ = true;
    refused_for_space_ = false;
    reply("250 2.1.0 Ok");
}

// MAIL FROM parameters: SIZE (RFC 1870), BODY (RFC 6152), RET and ENVID (RFC 3461 4.3-4.4).
bool ServerSession::mail_params(std::string_view text) {
    Params params;
    if (!parse_params(text, params)) {
        reply_error("501 5.5.4 Syntax: bad MAIL parameters");
        return false;
    }
    unsigned seen = 0;  // One bit per known keyword: each may appear once.
    for (std::size_t i = 0; i < params.count; i++) {
        const Param& param = params.items[i];
        unsigned bit = 0;
        bool ok = param.has_value;
        if (iequals(param.keyword, "SIZE")) {
            bit = 1;
            ok = ok && parse_decimal(param.value, envelope_.declared_bytes);
        } else if (iequals(param.keyword, "BODY")) {
            bit = 2;
            bool eight = iequals(param.value, "8BITMIME");
            ok = ok && (eight || iequals(param.value, "7BIT"));
            envelope_.body_type = eight ? BodyType::eight_bit_mime : BodyType::seven_bit;
        } else if (iequals(param.keyword, "RET")) {
            bit = 4;
            bool full = iequals(param.value, "FULL");
            ok = ok && (full || iequals(param.value, "HDRS"));
            envelope_.dsn_ret = full ? DsnRet::full : DsnRet::headers;
        } else if (iequals(param.keyword, "ENVID")) {
            bit = 8;
            ok = ok && xtext_decode(param.value, envid_bytes_max, envelope_.dsn_envid);
        } else {
            // The keyword passed parse_params (letters, digits, hyphens): safe to echo.
            reply_error(fmt::format("555 5.5.4 Unsupported option: {}", param.keyword));
            return false;
        }
        if (!ok || (seen & bit) != 0) {
            reply_error(fmt::format("501 5.5.4 Bad {} parameter", param.keyword));
            return false;
        }
        seen |= bit;
    }
    return true;
}

// "need MAIL" after our own 452 for lack of space is the client following its pipeline,
// not a client error: counting it would end a patient client's session with 421 while the
// disk is full.
void ServerSession::need_mail() {
    if (refused_for_space_) {
        reply("503 5.5.1 Error: need MAIL command");
    } else {
        reply_error("503 5.5.1 Error: need MAIL command");
    }
}

void ServerSession::on_rcpt(std::string_view args) {
    if (!mail_seen_) {
        need_mail();
        return;
    }
    if (bdat_seen_) {
        reply_error("503 5.5.1 Error: RCPT after BDAT");  // RFC 3030 2: recipients come first.
        return;
    }
    Result<PathArgument, PathError> path = parse_path_argument(args, "TO:");
    if (!path) {
        reply_error(path.error() == PathError::syntax ? "501 5.5.4 Syntax: RCPT TO:<address>"
                                                      : "501 5.1.3 Bad recipient address syntax");
        return;
    }
    // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted as a recipient.
    if (!is_valid_mailbox(path->address) && !iequals(path->address, "postmaster")) {
        reply_error("501 5.1.3 Bad recipient address syntax");
        return;
    }
    Recipient recipient;
    if (!rcpt_params(path->params, recipient)) {
        return;
    }
    if (envelope_.recipients.size() >= config_.recipients_count_max) {
        // RFC 5321 4.5.3.1.10: 452 tells the client to send the rest in a later
        // transaction. Only a client that keeps going far past the limit is penalised.
        constexpr std::string_view too_many = "452 4.5.3 Too many recipients";
        note_refusal(RefusalReason::too_many_recipients, too_many, path->address);
        recipients_overshoot_++;
        if (recipients_overshoot_ > recipients_overshoot_max) {
            reply_error(too_many);
        } else {
            reply(too_many);
        }
        return;
    }
    switch (policy_.check_recipient(path->address)) {
        case RcptVerdict::accept:
            recipient.address.assign(path->address);
            envelope_.recipients.push_back(std::move(recipient));
            reply("250 2.1.5 Ok");
            return;
        case RcptVerdict::relay_denied: {
            constexpr std::string_view denied = "550 5.7.1 Relay access denied";
            note_refusal(RefusalReason::relay_denied, denied, path->address);
            reply_error(denied);
            return;
        }
        case RcptVerdict::unknown_partner: {
            constexpr std::string_view unknown =
                "550 5.1.2 Recipient domain is not served by this hub";
            note_refusal(RefusalReason::unknown_partner_domain, unknown, path->address);
            reply_error(unknown);
            return;
        }
        case RcptVerdict::tls_required:
            reply_error("530 5.7.0 Recipient's partner policy requires a verified TLS client");
            return;
    }
    HUB_PANIC("unknown recipient verdict");
}

// RCPT TO parameters: NOTIFY and ORCPT (RFC 3461 4.1-4.2).
bool ServerSession::rcpt_params(std::string_view text, Recipient& recipient) {
    Params params;
    if (!parse_params(text, params)) {
        reply_error("501 5.5.4 Syntax: bad RCPT parameters");
        return false;
    }
    unsigned seen = 0;
    for (std::size_t i = 0; i < params.count; i++) {
        const Param& param = params.items[i];
        unsigned bit = 0;
        bool ok = param.has_value;
        if (iequals(param.keyword, "NOTIFY")) {
            bit = 1;
            ok = ok && parse_notify(param.value, recipient.notify);
        } else if (iequals(param.keyword, "ORCPT")) {
            bit = 2;
            ok = ok && parse_orcpt(param.value, recipient.orcpt);
        } else {
            reply_error(fmt::format("555 5.5.4 Unsupported option: {}", param.keyword));
            return false;
        }
        if (!ok || (seen & bit) != 0) {
            reply_error(fmt::format("501 5.5.4 Bad {} parameter", param.keyword));
            return false;
        }
        seen |= bit;
    }
    return true;
}

void ServerSession::on_data(std::string_view args) {
    if (!args.empty()) {
        reply_error("501 5.5.4 Syntax: DATA");
        return;
    }
    if (!mail_seen_) {
        need_mail();
        return;
    }
    if (bdat_seen_) {
        reply_error("503 5.5.1 Error: DATA after BDAT");  // RFC 3030 3: not in one transaction.
        return;
    }
    if (envelope_.recipients.empty()) {
        reply_error("554 5.5.1 Error: no valid recipients");  // RFC 5321 3.3
        return;
    }
    HUB_ASSERT(body_.empty() && line_state_ == LineState::start);
    set_phase(Phase::data_content);
    reply("354 End data with <CR><LF>.<CR><LF>");
}

void ServerSession::on_bdat(std::string_view args) {
    std::uint64_t chunk_bytes = 0;
    bool last = false;
    if (!parse_bdat_args(args, chunk_bytes, last)) {
        // The chunk size is unknown, so its octets cannot be skipped; they will read as
        // (bad) commands and run into the error limit.
        reply_error("501 5.5.4 Syntax: BDAT size [LAST]");
        return;
    }
    // RFC 3030 2: a rejected chunk is still read in full before the reply.
    if (!mail_seen_) {
        bdat_reject(chunk_bytes, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (envelope_.recipients.empty()) {
        bdat_reject(chunk_bytes, "503 5.5.1 Error: need RCPT command");
        return;
    }
    bdat_seen_ = true;
    chunk_left_ = chunk_bytes;
    chunk_bytes_ = chunk_bytes;
    chunk_last_ = last;
    if (chunk_bytes == 0) {
        finish_chunk();  // "BDAT 0 LAST" ends a message; "BDAT 0" is a no-op chunk.
        return;
    }
    set_phase(Phase::bdat_content);
}

void ServerSession::bdat_reject(std::uint64_t chunk_bytes, std::string_view reply_line) {
    HUB_ASSERT(phase_ == Phase::commands);
    if (chunk_bytes == 0) {
        reply_error(reply_line);
        return;
    }
    chunk_left_ = chunk_bytes;
    chunk_reply_ = reply_line;
    set_phase(Phase::bdat_discard);
}

void ServerSession::on_starttls(std::string_view args) {
    if (!args.empty()) {
        reply_error("501 5.5.4 Syntax: STARTTLS");
        return;
    }
    if (tls_) {
        reply_error("503 5.5.1 Error: TLS already active");
        return;
    }
    if (!config_.starttls_offered) {
        reply_error("502 5.5.1 Error: command not implemented");
        return;
    }
    constexpr std::string_view ready = "220 2.0.0 Ready to start TLS";
    reply(ready);
    // RFC 3207 5 and CVE-2011-0411: whatever the client pipelined after STARTTLS was sent
    // in clear text and may come from an attacker in the path. It is never executed.
    if (!inbox_.empty()) {
        if (Refusal* refusal = note_refusal(RefusalReason::pipelined_after_starttls, ready)) {
            refusal->detail = fmt::format("{} bytes discarded", inbox_.size_bytes());
        }
    }
    discarded_after_starttls_ += inbox_.size_bytes();
    inbox_.clear();
    discarding_line_ = false;
    reset_transaction();
    set_phase(Phase::tls_handshake);
    push_event(Event::start_tls);
}

bool ServerSession::step_data() {
    std::span<const char> readable = inbox_.readable();
    Scan scan = scan_content(readable, true);
    HUB_ASSERT(scan.used <= readable.size());
    inbox_.consume(scan.used);
    switch (scan.end) {
        case ScanEnd::need_more:
            HUB_ASSERT(inbox_.empty());
            return false;
        case ScanEnd::end_of_data:
            timer_epoch_++;
            finish_message();
            return true;
        case ScanEnd::bare_line_ending:
            // SMTP smuggling: a receiver that ends DATA on LF.LF or CR.CR would see a
            // second message here that we would not. Neither end-of-data nor the bytes
            // after it are trusted: the message is dropped and the connection closed.
            body_.clear();
            std::string closing =
                fmt::format("521 5.5.2 {} Bare CR or LF received; closing", config_.hostname);
            note_refusal(bare_lf_ ? RefusalReason::bare_lf : RefusalReason::bare_cr, closing);
            close_with(closing);
            return true;
    }
    HUB_PANIC("unknown scan end");
}

bool ServerSession::step_bdat() {
    std::span<const char> readable = inbox_.readable();
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(readable.size(), chunk_left_));
    HUB_ASSERT(take > 0);  // run() only steps with a non-empty inbox; chunks are non-empty.
    if (phase_ == Phase::bdat_content) {
        Scan scan = scan_content(readable.first(take), false);
        HUB_ASSERT(scan.end == ScanEnd::need_more && scan.used == take);
    }
    inbox_.consume(take);
    chunk_left_ -= take;
    if (chunk_left_ > 0) {
        return false;
    }
    timer_epoch_++;
    if (phase_ == Phase::bdat_discard) {
        set_phase(Phase::commands);
        reply_error(chunk_reply_);
        return true;
    }
    finish_chunk();
    return true;
}

void ServerSession::finish_chunk() {
    HUB_ASSERT(chunk_left_ == 0 && bdat_seen_);
    if (!chunk_last_) {
        set_phase(Phase::commands);
        reply(fmt::format("250 2.0.0 {} octets received", chunk_bytes_));
        return;
    }
    // BDAT content has no end marker, so the last line may lack its CRLF; body() promises
    // CRLF line endings, so one is added. A CR left over at the very end is a bare CR.
    if (line_state_ == LineState::after_cr) {
        bare_line_ending_ = true;
        append_body("\r");
    } else if (line_state_ == LineState::middle) {
        append_body(crlf);
    }
    finish_message();
}

// Scans message content. DATA (dot_stuffed) removes the leading dot of each line (RFC
// 5321 4.5.2) and stops at CRLF "." CRLF; a bare CR or LF stops it too. BDAT content is
// taken octet for octet: a bare CR or LF only marks the message for rejection at its end,
// since BDAT's octet counts already frame it exactly.
ServerSession::Scan ServerSession::scan_content(std::span<const char> in, bool dot_stuffed) {
    std::size_t i = 0;
    while (i < in.size()) {
        char c = in[i];
        switch (line_state_) {
            case LineState::start:
                if (dot_stuffed && c == '.') {
                    line_state_ = LineState::after_dot;
                    i++;
                    continue;
                }
                line_state_ = LineState::middle;
                continue;
            case LineState::after_dot:
                if (c == '\r') {
                    line_state_ = LineState::dot_cr;
                    i++;
                    continue;
                }
                line_state_ = LineState::middle;
                continue;
            case LineState::middle: {
                std::size_t run_end = next_line_break(std::string_view(in.data(), in.size()), i);
                if (run_end > i) {
                    append_line_bytes(std::string_view(in.data() + i, run_end - i));
                    i = run_end;
                } else if (c == '\r') {
                    line_state_ = LineState::after_cr;
                    i++;
                } else if (dot_stuffed) {
                    bare_lf_ = true;
                    return Scan{i, ScanEnd::bare_line_ending};  // Bare LF.
                } else {
                    bare_lf_ = bare_lf_ || !bare_line_ending_;  // The first one names it.
                    bare_line_ending_ = true;  // Kept, so that the size counts every octet.
                    append_body("\n");
                    line_bytes_ = 0;
                    i++;
                }
                continue;
            }
            case LineState::after_cr:
                if (c == '\n') {
                    append_body(crlf);
                    line_bytes_ = 0;
                    line_state_ = LineState::start;
                    timer_epoch_++;  // A whole line arrived: the client is alive.
                    i++;
                    continue;
                }
                if (dot_stuffed) {
                    return Scan{i, ScanEnd::bare_line_ending};  // Bare CR.
                }
                bare_line_ending_ = true;
                append_body("\r");
                line_state_ = LineState::middle;
                continue;
            case LineState::dot_cr:
                HUB_ASSERT(dot_stuffed);
                if (c == '\n') {
                    line_state_ = LineState::start;
                    return Scan{i + 1, ScanEnd::end_of_data};  // RFC 5321 4.1.1.4
                }
                return Scan{i, ScanEnd::bare_line_ending};  // "." CR without LF.
        }
        HUB_PANIC("unknown line state");
    }
    return Scan{in.size(), ScanEnd::need_more};
}

void ServerSession::append_line_bytes(std::string_view bytes) {
    line_bytes_ += bytes.size();
    if (line_bytes_ + crlf.size() > text_line_bytes_max) {
        long_line_ = true;  // RFC 5321 4.5.3.1.6; reported when the message ends.
    }
    append_body(bytes);
}

std::string ServerSession::take_body() {
    std::string body;
    body.swap(body_);
    return body;
}

std::size_t ServerSession::streamable_body_bytes() const {
    bool receiving = phase_ == Phase::data_content || phase_ == Phase::bdat_content ||
                     (phase_ == Phase::commands && bdat_seen_);
    if (!receiving || !header_block_ended_ || header_block_too_large_ || oversized_) {
        return 0;
    }
    return body_.size();
}

std::string ServerSession::take_body_piece(std::size_t bytes, std::size_t next_piece_bytes) {
    HUB_ASSERT(bytes > 0 && bytes <= streamable_body_bytes());
    std::string piece;
    if (bytes == body_.size()) {
        piece.swap(body_);
        body_.reserve(next_piece_bytes);
    } else {
        // The piece keeps the buffer it was received into; what follows it (at most one
        // feed's worth when the engine takes pieces as they fill) is the one copy.
        std::string rest;
        rest.reserve(std::max(next_piece_bytes, body_.size() - bytes));
        rest.append(body_, bytes, std::string::npos);
        body_.resize(bytes);
        piece.swap(body_);
        body_.swap(rest);
    }
    body_bytes_taken_ += bytes;
    return piece;
}

void ServerSession::append_body(std::string_view bytes) {
    content_bytes_ += bytes.size();
    if (oversized_) {
        return;
    }
    if (content_bytes_ > config_.message_bytes_max) {
        // RFC 1870 6.3: keep reading to the end, then 552. Nothing more is kept.
        oversized_ = true;
        std::string().swap(body_);
        return;
    }
    if (header_block_too_large_) {
        return;  // 552 5.3.4 at the end whatever follows: nothing more is kept.
    }
    body_.append(bytes);
    HUB_ASSERT(body_.size() <= config_.message_bytes_max);
    track_header_block();
}

// Finds the end of the header block as the content arrives: no piece is taken before it
// (body_ still holds the content from its first byte), so body_ is what is searched.
// Matches what the end of data decides on the whole content: the block ends at the first
// CRLF CRLF (or at once when the content starts with CRLF: no header fields), and is too
// large when that is not within the first header_block_bytes_max + 2 bytes.
void ServerSession::track_header_block() {
    if (header_block_ended_) {
        return;
    }
    HUB_ASSERT(body_bytes_taken_ == 0);
    std::string_view content = body_;
    if (content.size() < 2) {
        return;
    }
    if (content.starts_with(crlf)) {
        header_block_ended_ = true;
        return;
    }
    constexpr std::string_view blank_line = "\r\n\r\n";
    std::size_t end = content.find(blank_line, header_scan_from_);
    if (end != std::string_view::npos) {
        header_block_ended_ = true;
        header_block_too_large_ = end + blank_line.size() > header_block_bytes_max + 2;
    } else if (content.size() >= header_block_bytes_max + 2) {
        header_block_ended_ = true;
        header_block_too_large_ = true;
    } else {
        header_scan_from_ = content.size() - std::min(content.size(), blank_line.size() - 1);
        return;
    }
    if (header_block_too_large_) {
        std::string().swap(body_);
    }
}

void ServerSession::finish_message() {
    HUB_ASSERT(mail_seen_ && !envelope_.recipients.empty());
    std::string_view verdict;
    RefusalReason reason = RefusalReason::message_too_big;
    if (oversized_) {
        verdict = "552 5.3.4 Message size exceeds fixed limit";
    } else if (bare_line_ending_) {
        verdict = "550 5.6.0 Message contains bare CR or LF";
        reason = bare_lf_ ? RefusalReason::bare_lf : RefusalReason::bare_cr;
    } else if (long_line_) {
        verdict = "550 5.6.0 Message line longer than 998 characters";
        reason = RefusalReason::line_too_long;
    } else if (header_block_too_large_ ||
               (!header_block_ended_ && content_bytes_ > header_block_bytes_max)) {
        verdict = "552 5.3.4 Message header size exceeds fixed limit";
    }
    if (!verdict.empty()) {
        stage_ = content_stage();
        note_refusal(reason, verdict);
        reset_transaction();
        set_phase(Phase::commands);
        reply_error(verdict);
        return;
    }
    set_phase(Phase::awaiting_commit);
    push_event(Event::message_ready);
}

void ServerSession::commit_done(const CommitResult& result) {
    if (phase_ == Phase::closed) {
        return;  // Timed out while the spool worked; nobody is listening.
    }
    HUB_ASSERT(phase_ == Phase::awaiting_commit);
    set_phase(Phase::commands);
    stage_ = content_stage();
    switch (result.status) {
        case CommitResult::Status::durable:
            HUB_ASSERT(!result.queue_id.empty() && is_printable_ascii(result.queue_id));
            reply(fmt::format("250 2.0.0 Ok: queued as {}", result.queue_id));
            break;
        case CommitResult::Status::failed: {
            constexpr std::string_view failed = "451 4.3.0 Error: queue file write error";
            note_refusal(RefusalReason::queue_write_failed, failed);
            reply(failed);
            break;
        }
        case CommitResult::Status::no_space: {
            constexpr std::string_view no_space = "452 4.3.1 Insufficient system storage";
            note_refusal(RefusalReason::insufficient_storage, no_space);
            reply(no_space);
            break;
        }
    }
    reset_transaction();
    // Commands pipelined behind the message waited in the inbox; answer them now.
    run(commands_per_feed_max);
}

void ServerSession::tls_started(const TlsFacts& tls) {
    if (phase_ == Phase::closed) {
        return;
    }
    HUB_ASSERT(phase_ == Phase::tls_handshake || phase_ == Phase::not_started);
    HUB_ASSERT(!tls_);  // One handshake per connection.
    tls_ = tls;
    // RFC 3207 4.2: forget everything learned from the client before the handshake.
    reset_transaction();
    envelope_ = Envelope{};
    helo_seen_ = false;
    discarded_after_starttls_ += inbox_.size_bytes();
    inbox_.clear();
    discarding_line_ = false;
    if (phase_ == Phase::tls_handshake) {
        set_phase(Phase::commands);
    }
}

void ServerSession::on_timeout() {
    if (phase_ == Phase::closed || phase_ == Phase::not_started) {
        return;
    }
    if (phase_ == Phase::data_content) {
        stage_ = RefusalStage::data;
    } else if (phase_ == Phase::bdat_content || phase_ == Phase::bdat_discard) {
        stage_ = RefusalStage::bdat;
    } else if (phase_ == Phase::tls_handshake) {
        stage_ = RefusalStage::tls;
    }
    std::string closing = fmt::format("421 4.4.2 {} Error: timeout exceeded", config_.hostname);
    note_refusal(RefusalReason::timeout, closing);
    close_with(closing);
}

std::uint32_t ServerSession::deadline_ms() const {
    switch (phase_) {
        case Phase::not_started:
        case Phase::commands:
        case Phase::tls_handshake:
        case Phase::closed:
            return config_.command_timeout_ms;
        case Phase::data_content:
        case Phase::bdat_content:
        case Phase::bdat_discard:
        case Phase::awaiting_commit:
            return config_.data_timeout_ms;
    }
    HUB_PANIC("unknown phase");
}

bool ServerSession::closed() const {
    return phase_ == Phase::closed;
}

Event ServerSession::next_event() {
    if (events_count_ == 0) {
        return Event::none;
    }
    Event event = events_[events_head_];
    events_head_ = (events_head_ + 1) % events_count_max;
    events_count_--;
    return event;
}

void ServerSession::push_event(Event event) {
    HUB_ASSERT(event != Event::none);
    HUB_ASSERT(events_count_ < events_count_max);  // Each event stops processing.
    events_[(events_head_ + events_count_) % events_count_max] = event;
    events_count_++;
}

void ServerSession::reset_transaction() {
    HUB_ASSERT(phase_ != Phase::awaiting_commit);  // The engine still reads body().
    mail_seen_ = false;
    bdat_seen_ = false;
    envelope_.mail_from.clear();
    envelope_.declared_bytes = 0;
    envelope_.body_type = BodyType::seven_bit;
    envelope_.dsn_ret = DsnRet::unset;
    envelope_.dsn_envid.clear();
    envelope_.recipients.clear();
    if (body_.capacity() > body_keep_bytes_max) {
        std::string().swap(body_);  // An idle connection does not hold a large buffer.
    } else {
        body_.clear();
    }
    recipients_overshoot_ = 0;
    line_state_ = LineState::start;
    line_bytes_ = 0;
    chunk_left_ = 0;
    chunk_bytes_ = 0;
    chunk_last_ = false;
    oversized_ = false;
    long_line_ = false;
    bare_line_ending_ = false;
    bare_lf_ = false;
    content_bytes_ = 0;
    body_bytes_taken_ = 0;
    transaction_serial_++;
    header_block_ended_ = false;
    header_block_too_large_ = false;
    header_scan_from_ = 0;
}

void ServerSession::set_phase(Phase phase) {
    if (phase_ != phase) {
        phase_ = phase;
        timer_epoch_++;
    }
}

void ServerSession::reply(std::string_view line) {
    HUB_ASSERT(!line.empty() && line.size() < 1024);
    HUB_ASSERT_SLOW(line.find('\0') == std::string_view::npos);
    replies_ += line;
    replies_ += crlf;
}

// RFC 5321 4.2: every 4xx/5xx answer to the client's doing counts; past the limit the
// client is told 421 and dropped, so a broken or hostile peer cannot loop for ever.
void ServerSession::reply_error(std::string_view line) {
    HUB_ASSERT(line.front() == '4' || line.front() == '5');
    HUB_ASSERT(phase_ != Phase::closed);
    reply(line);
    errors_count_++;
    if (errors_count_ >= config_.errors_count_max) {
        std::string closing = fmt::format("421 4.7.0 {} Too many errors", config_.hostname);
        if (Refusal* refusal = note_refusal(RefusalReason::too_many_errors, closing)) {
            refusal->detail = fmt::format("{} errors", errors_count_);
        }
        close_with(closing);
    }
}

// One refusal for the engine's log (refusal.h), at the current stage, with the sender
// of an open transaction. Past refusals_count_max untaken ones it is counted instead:
// peer input must never grow it without bound.
Refusal* ServerSession::note_refusal(RefusalReason reason, std::string_view reply_line,
                                     std::string_view to) {
    if (refusals_.size() >= refusals_count_max) {
        refusals_dropped_++;
        return nullptr;
    }
    Refusal& refusal = refusals_.emplace_back();
    refusal.stage = stage_;
    refusal.reason = reason;
    refusal.reply.assign(reply_line);
    refusal.to.assign(to);
    if (mail_seen_) {
        refusal.from = envelope_.mail_from;
        refusal.has_from = true;
    }
    return &refusal;
}

// The stage a command outside MAIL/RCPT/DATA/BDAT/EHLO/STARTTLS is logged under.
RefusalStage ServerSession::transaction_stage() const {
    if (!envelope_.recipients.empty()) {
        return RefusalStage::rcpt;
    }
    if (mail_seen_) {
        return RefusalStage::mail;
    }
    return helo_seen_ ? RefusalStage::ehlo : RefusalStage::connect;
}

RefusalStage ServerSession::content_stage() const {
    return bdat_seen_ ? RefusalStage::bdat : RefusalStage::data;
}

void ServerSession::close_with(std::string_view line) {
    HUB_ASSERT(phase_ != Phase::closed);
    reply(line);
    set_phase(Phase::closed);
    inbox_.clear();
    inbox_.release_if_empty();
    discarding_line_ = false;
    push_event(Event::close);
}

}  // namespace hub::smtp

namespace hub::smtp {

void ServerSession::release_idle_buffers() {
    inbox_.release_if_empty();
    if (body_.empty()) {
        std::string().swap(body_);
    }
}

}  // namespace hub::smtp
