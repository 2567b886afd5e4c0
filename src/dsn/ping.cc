// ping.cc -- the welcome reply to the ping address.
//
// PURPOSE   Write the reply a partner gets when it mails lgolhubping@<its domain>.<hub
//           domain>: a welcome, and what the hub saw of the connection.
// RUNS IN   the shard that delivers the ping message (the queue manager hands it here
//           instead of relaying it).
// TRUST     the sender, the EHLO name, the Subject, the Message-ID and the certificate
//           names are the peer's. Each goes through dsn/text.h, so none can add a header
//           field, end a line, or carry control or 8-bit octets into the reply.
// LIMITS    peer_text_bytes_max per value; lines as in dsn/limits.h.
// SEE ALSO  DESIGN 1.7, RFC 3834 (automatic responses), smtp/received.cc (the same facts in
//           the Received: header).
#include "dsn/ping.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "dsn/headers.h"
#include "dsn/limits.h"
#include "dsn/text.h"
#include "smtp/received.h"

namespace hub::dsn {

namespace {

constexpr std::string_view value_indent = "                        ";  // Under the values.

// "  Label:              value", the value wrapped under itself.
void append_fact(std::string& out, std::string_view label, std::string_view value) {
    HUB_ASSERT(label.size() + 2 < value_indent.size());
    std::string line = fmt::format("  {:<{}}{}", label, value_indent.size() - 2, value);
    text::append_wrapped(out, line, value_indent);
}

std::string tls_summary(const smtp::TlsFacts* tls) {
    if (tls == nullptr) {
        return "none: the message came in clear text";
    }
    return fmt::format("{}, cipher {}, {} bits", text::hostname(tls->version, peer_text_bytes_max),
                       text::hostname(tls->cipher, peer_text_bytes_max), tls->bits);
}

void append_certificate(std::string& out, const PingFacts& facts) {
    const smtp::TlsFacts* tls = facts.tls;
    std::string_view verdict = tls == nullptr ? "none" : std::string_view(tls->client_cert_verdict);
    if (verdict != "verified" && verdict != "failed") {
        append_fact(out, "Client certificate:",
                    facts.client_certificate_requested ? "no client certificate presented"
                                                       : "none (the hub did not ask for one)");
        return;
    }
    append_fact(out, "Client certificate:",
                verdict == "verified" ? "verified (it chains to a CA the hub trusts)"
                                      : "presented, but it failed verification");
    append_fact(out, "  Subject:", text::printable(tls->client_subject, peer_text_bytes_max));
    append_fact(out, "  Issuer:", text::printable(tls->client_issuer, peer_text_bytes_max));
}

std::string body(const PingFacts& facts, std::string_view hostname) {
    std::string partner = text::printable(facts.partner, peer_text_bytes_max);
    std::string out;
    text::append_wrapped(out,
                         partner.empty() ? fmt::format("Welcome to {}!", hostname)
                                         : fmt::format("Welcome to {}, {}!", hostname, partner),
                         "");
    out += "\r\n";
    text::append_wrapped(out,
                         fmt::format("Your message reached the Hubbox hub {}. This automatic "
                                     "reply shows what the hub saw when your server delivered "
                                     "it, so that you can check your side of the connection.",
                                     hostname),
                         "");
    out += "\r\n";
    append_fact(out, "Partner matched:", partner.empty() ? "none" : partner);
    append_fact(out, "Source address:", text::hostname(facts.client_address, peer_text_bytes_max));
    append_fact(out, "HELO/EHLO name:", text::printable(facts.helo, peer_text_bytes_max));
    append_fact(out, "TLS:", tls_summary(facts.tls));
    append_certificate(out, facts);
    append_fact(out, "Received at:", smtp::format_date_utc(facts.received_unix_s));
    append_fact(out, "Queue ID:", text::hostname(facts.queue_id, peer_text_bytes_max));
    std::string subject = text::printable(facts.original_subject, peer_text_bytes_max);
    append_fact(out, "Original Subject:", subject.empty() ? "(none)" : subject);
    out += "\r\n";
    text::append_wrapped(out, "This reply was sent automatically; nobody reads replies to it.", "");
    return out;
}

}  // namespace

std::string build_ping_reply(const PingFacts& facts) {
    HUB_ASSERT(!facts.hostname.empty());
    HUB_ASSERT(!facts.ping_address.empty());
    HUB_ASSERT(!facts.sender.empty());  // auto_reply_wanted() said no to the null sender.
    std::string hostname = text::hostname(facts.hostname, peer_text_bytes_max);
    std::string queue_id = text::hostname(facts.queue_id, peer_text_bytes_max);
    std::string message_id = text::message_id(facts.message_id);
    if (message_id.empty()) {
        message_id = fmt::format("<{}.{}.ping@{}>", facts.now_unix_s, queue_id, hostname);
    }
    std::string original_id = text::message_id(facts.original_message_id);

    std::string out;
    text::append_field(out, "Date", smtp::format_date_utc(facts.now_unix_s));
    text::append_field(out, "From",
                       fmt::format("Hubbox ping <{}>", text::address(facts.ping_address)));
    text::append_field(out, "Subject",
                       fmt::format("Hubbox ping reply: your message reached {}", hostname));
    text::append_field(out, "To", fmt::format("<{}>", text::address(facts.sender)));
    text::append_field(out, "Auto-Submitted", "auto-replied");  // RFC 3834 5.
    text::append_field(out, "Message-ID", message_id);
    if (!original_id.empty()) {
        text::append_field(out, "In-Reply-To", original_id);  // RFC 5322 3.6.4.
        text::append_field(out, "References", original_id);
    }
    text::append_field(out, "MIME-Version", "1.0");
    text::append_field(out, "Content-Type", "text/plain; charset=us-ascii");
    text::append_field(out, "Content-Transfer-Encoding", "7bit");
    out += "\r\n";
    out += body(facts, hostname);
    HUB_ASSERT(out.ends_with("\r\n"));
    return out;
}

bool auto_reply_wanted(std::string_view envelope_sender, std::string_view header_section) {
    if (envelope_sender.empty()) {
        return false;  // RFC 3834 2: never answer the null sender (bounces, other replies).
    }
    std::string_view local = envelope_sender.substr(0, envelope_sender.rfind('@'));
    std::string lowered = text::printable(local, peer_text_bytes_max);
    for (char& c : lowered) {
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (lowered == "mailer-daemon") {
        return false;
    }
    auto token = [](std::optional<std::string_view> value) {
        std::string word = text::printable(value.value_or(""), peer_text_bytes_max);
        word = word.substr(0, word.find(';'));  // RFC 3834 5: parameters follow a ';'.
        std::size_t first = word.find_first_not_of(' ');
        std::size_t last = word.find_last_not_of(' ');
        word = first == std::string::npos ? std::string() : word.substr(first, last - first + 1);
        for (char& c : word) {
            c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        }
        return word;
    };
    std::optional<std::string_view> submitted = header_value(header_section, "Auto-Submitted");
    if (submitted && token(submitted) != "no") {
        return false;  // RFC 3834 2: not in answer to an automatic message.
    }
    std::string precedence = token(header_value(header_section, "Precedence"));
    if (precedence == "bulk" || precedence == "list" || precedence == "junk") {
        return false;
    }
    return !header_value(header_section, "List-Id").has_value();  // RFC 2919 lists.
}

}  // namespace hub::dsn
