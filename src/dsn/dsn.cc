// dsn.cc -- delivery status notifications (RFC 3464 inside RFC 6522 multipart/report).
//
// PURPOSE   Decide whether the sender asked for a report (RFC 3461 NOTIFY) and write the
//           whole report message: a human-readable part that names the hub and, at the
//           bottom, each remote server and its exact reply; the machine-readable
//           message/delivery-status part; and the original header section or message.
// RUNS IN   the shard whose queue manager decided to report (a 5xx reply, the delay
//           warning, the queue lifetime, a NOTIFY=SUCCESS delivery).
// TRUST     the remote reply and host name are the remote server's; the sender, ENVID,
//           ORCPT and the original message are the original client's. Every such string
//           is reduced by dsn/text.h before it is written, and the MIME boundary is chosen
//           so that it occurs nowhere in the parts, whatever the peers wrote.
// LIMITS    diagnostic_bytes_max per reply, returned_bytes_* for the returned message,
//           line lengths per RFC 5322 2.1.1 (dsn/limits.h).
// SEE ALSO  RFC 3461 (NOTIFY, RET, ENVID, ORCPT), RFC 3463 (status codes), RFC 3464
//           (delivery-status fields), RFC 6522 (multipart/report), RFC 3834
//           (Auto-Submitted), RFC 2046 5.1.1 (boundaries); Postfix's bounce(8) for the
//           layout partners' administrators are used to.
#include "dsn/dsn.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "dsn/text.h"
#include "smtp/received.h"

namespace hub::dsn {

namespace {

bool action_fits(Kind kind, Action action) {
    switch (kind) {
        case Kind::failure:
            return action == Action::failed;
        case Kind::delay:
            return action == Action::delayed;
        case Kind::success:
            return action == Action::delivered || action == Action::relayed;
    }
    HUB_PANIC("unknown kind");
}

std::string_view action_word(Action action) {
    switch (action) {
        case Action::failed:
            return "failed";
        case Action::delayed:
            return "delayed";
        case Action::delivered:
            return "delivered";
        case Action::relayed:
            return "relayed";
    }
    HUB_PANIC("unknown action");
}

std::string_view subject_of(Kind kind) {
    switch (kind) {
        case Kind::failure:
            return "Undelivered Mail Returned to Sender";
        case Kind::delay:
            return "Delayed Mail (still being retried)";
        case Kind::success:
            return "Successful Mail Delivery Report";
    }
    HUB_PANIC("unknown kind");
}

// RFC 3463 2: status-code = class "." subject "." detail, class 2 / 4 / 5, subject and
// detail 1 to 3 digits. The status often comes from a remote reply, so it is checked, and
// the class follows the action (RFC 3464 2.3.4: a failed action has a 5.x.x status).
std::string checked_status(std::string_view status, Action action) {
    char wanted = action == Action::failed ? '5' : (action == Action::delayed ? '4' : '2');
    auto digits = [](std::string_view part) {
        return !part.empty() && part.size() <= 3 &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    std::size_t first = status.find('.');
    std::size_t second = first == std::string_view::npos ? first : status.find('.', first + 1);
    bool ok = first == 1 && second != std::string_view::npos &&
              digits(status.substr(2, second - 2)) && digits(status.substr(second + 1)) &&
              (status[0] == '2' || status[0] == '4' || status[0] == '5');
    if (!ok) {
        return fmt::format("{}.0.0", wanted);
    }
    std::string out(status);
    out[0] = wanted;
    HUB_ASSERT(out.size() <= 9);
    return out;
}

// The reply's lines, joined with one space as Postfix does ("550-5.1.1 a 550 5.1.1 b"),
// then reduced to printable text.
std::string joined_reply(std::string_view reply) {
    std::string joined;
    std::size_t start = 0;
    while (start < reply.size() && joined.size() <= diagnostic_bytes_max) {
        std::size_t end = reply.find_first_of("\r\n", start);
        std::string_view line = reply.substr(start, end == reply.npos ? reply.npos : end - start);
        if (!line.empty()) {
            if (!joined.empty()) {
                joined += ' ';
            }
            joined.append(line.substr(0, diagnostic_bytes_max + 1));
        }
        start = end == reply.npos ? reply.size() : end + 1;
    }
    return text::printable(joined, diagnostic_bytes_max);
}

std::string remote_name(const RecipientReport& recipient) {
    std::string host = text::hostname(recipient.remote_host, address_bytes_max);
    std::string address = text::hostname(recipient.remote_address, address_bytes_max);
    if (host.empty() && address.empty()) {
        return "the remote server";
    }
    return host + address;  // Postfix's "mx.example[192.0.2.1]:25".
}

std::string shown_recipient(const RecipientReport& recipient) {
    return text::address(recipient.envelope_recipient.empty() ? recipient.final_recipient
                                                              : recipient.envelope_recipient);
}

// The paragraph at the bottom of part 1 that administrators read: who refused, and what
// exactly it said.
std::string bottom_line(const RecipientReport& recipient) {
    std::string line = fmt::format("<{}>: ", shown_recipient(recipient));
    std::string reply = joined_reply(recipient.remote_reply);
    if (!reply.empty()) {
        switch (recipient.action) {
            case Action::failed:
            case Action::delayed:
                line += fmt::format("host {} said: {}", remote_name(recipient), reply);
                break;
            case Action::delivered:
                line += fmt::format("delivered via host {}: {}", remote_name(recipient), reply);
                break;
            case Action::relayed:
                line += fmt::format("relayed via host {}: {}", remote_name(recipient), reply);
                break;
        }
        std::string command = text::printable(recipient.remote_command, peer_text_bytes_max);
        if (!command.empty()) {
            line += fmt::format(" (in reply to {} command)", command);
        }
    } else if (!recipient.hub_text.empty()) {
        line += text::printable(recipient.hub_text, diagnostic_bytes_max);
    } else {
        line += fmt::format("{} (status {})", action_word(recipient.action),
                            checked_status(recipient.status, recipient.action));
    }
    return line;
}

// Part 3: what of the original message goes back to the sender.
struct Returned {
    std::string content;  // CRLF lines; empty: no third part.
    bool full = false;    // message/rfc822 (true) or text/rfc822-headers.
    bool cut = false;     // The original was longer than the bound.
    std::size_t bytes = 0;
};

Returned returned_part(const DsnRequest& request) {
    Returned returned;
    returned.bytes = std::min(request.returned_bytes, returned_bytes_max);
    HUB_ASSERT(returned.bytes > 0);
    // RFC 3461 4.3: RET=FULL asks for the whole message in a "failed" report; without RET
    // the choice is the MTA's, and the hub returns headers only: the sender has the message,
    // and a partner's administrator needs the headers to trace it. Delay and success reports
    // carry headers only.
    returned.full = request.kind == Kind::failure &&
                    request.envelope->dsn_ret == smtp::DsnRet::full &&
                    !request.original_message.empty();
    if (returned.full) {
        returned.cut =
            !text::append_lines(returned.content, request.original_message, returned.bytes);
        return returned;
    }
    std::string_view headers = text::header_section(
        request.original_headers.empty() ? request.original_message : request.original_headers);
    if (!headers.empty()) {
        returned.cut = !text::append_lines(returned.content, headers, returned.bytes);
    }
    return returned;
}

void append_paragraph(std::string& out, std::string_view paragraph) {
    text::append_wrapped(out, paragraph, "");
    out += "\r\n";
}

std::string returned_sentence(const Returned& returned) {
    if (returned.content.empty()) {
        return {};
    }
    std::string what = returned.full ? "Your message" : "The header section of your message";
    if (returned.cut) {
        return fmt::format("{} is attached below, cut after its first {} bytes.", what,
                           returned.bytes);
    }
    return what + " is attached below.";
}

// Part 1, for people: which hub is speaking, what happened, and at the bottom each
// recipient with the remote server's exact reply.
std::string notification(const DsnRequest& request, std::string_view hostname,
                         const Returned& returned) {
    std::string out;
    append_paragraph(out, fmt::format("This is the mail system at host {}.", hostname));
    switch (request.kind) {
        case Kind::failure:
            append_paragraph(out,
                             "Your message could not be delivered to one or more recipients. "
                             "The hub has given up on them; the reason for each is at the "
                             "bottom of this report, in the words of the server that refused "
                             "the message where there was one.");
            break;
        case Kind::delay: {
            append_paragraph(out,
                             "This is a warning only: you do not need to send your message "
                             "again.");
            std::int64_t until = 0;
            for (const RecipientReport& recipient : request.recipients) {
                until = std::max(until, recipient.will_retry_until_unix_s);
            }
            std::string when =
                until > 0 ? fmt::format(" until {}", smtp::format_date_utc(until)) : "";
            append_paragraph(out, fmt::format("Your message could not yet be delivered to one "
                                              "or more recipients. The hub keeps trying{}, and "
                                              "will write to you again if it gives up. The "
                                              "reason for each delay is at the bottom of this "
                                              "report.",
                                              when));
            break;
        }
        case Kind::success: {
            append_paragraph(out,
                             "Your message was delivered to the recipients at the bottom of "
                             "this report, as you asked.");
            bool relayed =
                std::any_of(request.recipients.begin(), request.recipients.end(),
                            [](const RecipientReport& r) { return r.action == Action::relayed; });
            if (relayed) {
                append_paragraph(out,
                                 "A recipient marked \"relayed\" was passed to a server that "
                                 "does not send delivery reports, so you will hear nothing "
                                 "more about it.");
            }
            break;
        }
    }
    std::string sentence = returned_sentence(returned);
    if (!sentence.empty()) {
        append_paragraph(out, sentence);
    }
    if (request.kind != Kind::success) {
        append_paragraph(out,
                         "If you ask your mail administrator for help, include this whole "
                         "report: the lines at the bottom name the server that answered and "
                         "what it said.");
    }
    append_paragraph(out, fmt::format("                   The mail system at {}", hostname));
    for (std::size_t i = 0; i < request.recipients.size(); i++) {
        if (i > 0) {
            out += "\r\n";
        }
        text::append_wrapped(out, bottom_line(request.recipients[i]), "    ");
    }
    return out;
}

// "rfc822;joe@example" from the ORCPT as smtp::Recipient keeps it.
std::string original_recipient_field(std::string_view orcpt) {
    std::size_t semicolon = orcpt.find(';');
    std::string_view type =
        semicolon == std::string_view::npos ? "rfc822" : orcpt.substr(0, semicolon);
    std::string_view address =
        semicolon == std::string_view::npos ? orcpt : orcpt.substr(semicolon + 1);
    return text::hostname(type, 32) + ";" + text::xtext_field(address, orcpt_bytes_max);
}

// Part 2, for programs: RFC 3464 2.2 per-message fields, then 2.3 per-recipient fields,
// each group after an empty line, in the order of the RFC 3464 2.1 grammar.
std::string delivery_status(const DsnRequest& request, std::string_view hostname) {
    const smtp::Envelope& envelope = *request.envelope;
    std::string out;
    if (!envelope.dsn_envid.empty()) {
        text::append_field(out, "Original-Envelope-Id",
                           text::xtext_field(envelope.dsn_envid, envid_bytes_max));
    }
    text::append_field(out, "Reporting-MTA", fmt::format("dns; {}", hostname));
    if (request.arrival_unix_s > 0) {
        text::append_field(out, "Arrival-Date", smtp::format_date_utc(request.arrival_unix_s));
    }
    text::append_field(out, "X-Hubbox-Queue-ID", text::hostname(request.queue_id, 64));
    text::append_field(out, "X-Hubbox-Sender",
                       fmt::format("rfc822; {}", text::address(envelope.mail_from)));
    for (const RecipientReport& recipient : request.recipients) {
        out += "\r\n";
        if (!recipient.original_recipient.empty()) {
            text::append_field(out, "Original-Recipient",
                               original_recipient_field(recipient.original_recipient));
        }
        text::append_field(out, "Final-Recipient",
                           fmt::format("rfc822; {}", text::address(recipient.final_recipient)));
        text::append_field(out, "Action", action_word(recipient.action));
        text::append_field(out, "Status", checked_status(recipient.status, recipient.action));
        std::string host = text::hostname(recipient.remote_host, address_bytes_max);
        std::string address = text::hostname(recipient.remote_address, address_bytes_max);
        if (!host.empty() || !address.empty()) {
            text::append_field(out, "Remote-MTA",
                               fmt::format("dns; {}", host.empty() ? address : host));
        }
        std::string reply = joined_reply(recipient.remote_reply);
        if (!reply.empty()) {
            text::append_field(out, "Diagnostic-Code", "smtp; " + reply);
        } else if (!recipient.hub_text.empty()) {
            text::append_field(
                out, "Diagnostic-Code",
                "X-Hubbox; " + text::printable(recipient.hub_text, diagnostic_bytes_max));
        }
        if (recipient.last_attempt_unix_s > 0) {
            text::append_field(out, "Last-Attempt-Date",
                               smtp::format_date_utc(recipient.last_attempt_unix_s));
        }
        if (recipient.action == Action::delayed && recipient.will_retry_until_unix_s > 0) {
            text::append_field(out, "Will-Retry-Until",
                               smtp::format_date_utc(recipient.will_retry_until_unix_s));
        }
    }
    return out;
}

[[maybe_unused]] bool occurs_in(std::initializer_list<std::string_view> parts,
                                std::string_view needle) {
    return std::any_of(parts.begin(), parts.end(), [needle](std::string_view part) {
        return part.find(needle) != std::string_view::npos;
    });
}

// RFC 2046 5.1.1: the boundary must occur in none of the parts. The candidates are
// "<queue id>.<time>/<n>/<host>"; one pass over the parts collects every n a part could
// clash with (any "--<queue id>.<time>/" followed by digits), and the smallest n not
// among them is taken. A part of N octets holds fewer than N such strings, so the search
// is bounded, and no content can force a clash however it guesses the pattern.
std::string choose_boundary(const DsnRequest& request, std::string_view hostname,
                            std::initializer_list<std::string_view> parts) {
    std::string stem =
        fmt::format("{}.{}/", text::hostname(request.queue_id, 24), request.now_unix_s);
    for (char& c : stem) {
        c = (c == '[' || c == ']' || c == '?') ? '_' : c;  // Not RFC 2046 bchars.
    }
    std::string needle = "--" + stem;
    std::vector<std::uint64_t> taken;
    for (std::string_view part : parts) {
        for (std::size_t at = part.find(needle); at != std::string_view::npos;
             at = part.find(needle, at + 1)) {
            std::uint64_t n = 0;
            std::size_t i = at + needle.size();
            for (std::size_t digits = 0;
                 i < part.size() && part[i] >= '0' && part[i] <= '9' && digits < 12;
                 i++, digits++) {
                n = n * 10 + static_cast<std::uint64_t>(part[i] - '0');
            }
            taken.push_back(n);
        }
    }
    std::sort(taken.begin(), taken.end());
    std::uint64_t n = 0;
    for (std::uint64_t t : taken) {
        if (t == n) {
            n++;
        } else if (t > n) {
            break;
        }
    }
    std::string boundary = fmt::format("{}{}/", stem, n);
    std::string host(
        hostname.substr(0, boundary_bytes_max - std::min(boundary.size(), boundary_bytes_max)));
    for (char& c : host) {
        c = (c == '[' || c == ']' || c == '?') ? '_' : c;
    }
    boundary += host;
    HUB_ASSERT(boundary.size() <= boundary_bytes_max);
    HUB_ASSERT_SLOW(!occurs_in(parts, "--" + boundary));
    return boundary;
}

// FNV-1a over the final recipients: two reports of one kind for one message in the same
// second (two recipients failing apart) still get different Message-IDs.
std::uint32_t recipients_hash(const DsnRequest& request) {
    std::uint32_t hash = 2166136261u;
    for (const RecipientReport& recipient : request.recipients) {
        for (char c : recipient.final_recipient) {
            hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
        }
        hash = (hash ^ 0xffu) * 16777619u;  // Separates the addresses.
    }
    return hash;
}

// Every line ends in CRLF and holds at most 998 octets (RFC 5322 2.1.1, 2.3).
[[maybe_unused]] bool well_formed(std::string_view message) {
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < message.size(); i++) {
        if (message[i] == '\r' || message[i] == '\n') {
            if (message[i] != '\r' || i + 1 >= message.size() || message[i + 1] != '\n') {
                return false;
            }
            if (i - line_start > line_bytes_hard_max) {
                return false;
            }
            i++;
            line_start = i + 1;
        }
    }
    return line_start == message.size();
}

// The report's own header section (RFC 5322 3.6, RFC 2045, RFC 6522 3).
void append_top_fields(std::string& out, const DsnRequest& request, std::string_view hostname,
                       std::string_view boundary, bool eight_bit) {
    std::string message_id = text::message_id(request.message_id);
    if (message_id.empty()) {
        constexpr std::string_view kind_letters = "FDS";
        message_id = fmt::format("<{}.{}.{}{:08x}@{}>", request.now_unix_s,
                                 text::hostname(request.queue_id, 64),
                                 kind_letters[static_cast<std::size_t>(request.kind)],
                                 recipients_hash(request), hostname);
    }
    text::append_field(out, "Date", smtp::format_date_utc(request.now_unix_s));
    text::append_field(
        out, "From", fmt::format("Mail Delivery System <{}>", text::address(request.from_address)));
    text::append_field(out, "Subject", subject_of(request.kind));
    text::append_field(out, "To", fmt::format("<{}>", text::address(request.envelope->mail_from)));
    text::append_field(out, "Auto-Submitted", "auto-replied");  // RFC 3834 5.
    text::append_field(out, "Message-ID", message_id);
    text::append_field(out, "MIME-Version", "1.0");
    text::append_field(out, "Content-Type",
                       fmt::format("multipart/report; report-type=delivery-status; "
                                   "boundary=\"{}\"",
                                   boundary));
    if (eight_bit) {
        text::append_field(out, "Content-Transfer-Encoding", "8bit");  // RFC 2045 6.4.
    }
}

}  // namespace

std::string build_dsn(const DsnRequest& request) {
    HUB_ASSERT(request.envelope != nullptr);
    HUB_ASSERT(!request.envelope->mail_from.empty());  // dsn_wanted() is false for it.
    HUB_ASSERT(!request.recipients.empty());
    HUB_ASSERT(!request.hostname.empty() && !request.from_address.empty());
    for (const RecipientReport& recipient : request.recipients) {
        HUB_ASSERT(action_fits(request.kind, recipient.action));
        HUB_ASSERT(!recipient.final_recipient.empty());
    }
    std::string hostname = text::hostname(request.hostname, address_bytes_max);
    Returned returned = returned_part(request);
    std::string part1 = notification(request, hostname, returned);
    std::string part2 = delivery_status(request, hostname);
    std::string boundary = choose_boundary(request, hostname, {part1, part2, returned.content});
    bool eight_bit = has_8bit(returned.content);
    HUB_ASSERT(!has_8bit(part1) && !has_8bit(part2));  // Sanitised to US-ASCII.

    std::string out;
    append_top_fields(out, request, hostname, boundary, eight_bit);
    out += "\r\n";
    out += "This is a MIME-encapsulated message.\r\n";

    out += fmt::format("\r\n--{}\r\n", boundary);
    out += "Content-Description: Notification\r\n";
    out += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    out += part1;

    out += fmt::format("\r\n--{}\r\n", boundary);
    out += "Content-Description: Delivery report\r\n";
    out += "Content-Type: message/delivery-status\r\n\r\n";
    out += part2;

    if (!returned.content.empty()) {
        out += fmt::format("\r\n--{}\r\n", boundary);
        bool failure = request.kind == Kind::failure;
        out += fmt::format("Content-Description: {}{}\r\n",
                           failure ? "Undelivered Message" : "Message",
                           returned.full ? "" : " Headers");
        out += returned.full ? "Content-Type: message/rfc822\r\n"
                             : "Content-Type: text/rfc822-headers\r\n";
        if (eight_bit) {
            out += "Content-Transfer-Encoding: 8bit\r\n";
        }
        out += "\r\n";
        out += returned.content;
    }
    out += fmt::format("\r\n--{}--\r\n", boundary);
    HUB_ASSERT_SLOW(well_formed(out));
    return out;
}

bool dsn_wanted(const smtp::Recipient& recipient, Kind kind, bool null_sender) {
    if (null_sender) {
        return false;  // RFC 5321 4.5.5: never report on a report.
    }
    std::uint8_t notify = recipient.notify;
    if ((notify & smtp::dsn_notify_never) != 0) {
        return false;  // RFC 3461 4.1: NEVER excludes every other keyword.
    }
    switch (kind) {
        case Kind::failure:
            return notify == 0 || (notify & smtp::dsn_notify_failure) != 0;
        case Kind::delay:
            // RFC 3461 4.1: without NOTIFY the MTA may report delays; the hub does, since a
            // partner's user otherwise waits days for the final bounce without a word.
            return notify == 0 || (notify & smtp::dsn_notify_delay) != 0;
        case Kind::success:
            return (notify & smtp::dsn_notify_success) != 0;
    }
    HUB_PANIC("unknown kind");
}

RecipientReport recipient_report(const smtp::Recipient& recipient, Action action) {
    RecipientReport report;
    report.original_recipient = recipient.orcpt;
    report.envelope_recipient = recipient.address;
    report.final_recipient = recipient.address;
    report.action = action;
    return report;
}

bool has_8bit(std::string_view message) {
    return std::any_of(message.begin(), message.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace hub::dsn
