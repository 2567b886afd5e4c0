// refusal.h -- what the server refused, as a typed event, and its one log line.
//
// Every refusal (a client, a command, a recipient or a message turned away by policy or
// by a limit) produces one Refusal: the server session reports those it decides (see
// ServerSession::refusals()), the engine those it decides itself (connect, TLS). The
// engine turns each into exactly one info line, Postfix style, so an administrator can
// grep by client and by reason:
//
//   reject: <stage> from [<ip>]: <code> <enhanced> <text>; reason=<token>
//           [; partner=<name>][; from=<addr>][; to=<addr>][; detail=<text>]
//
// Protocol errors (bad syntax, commands out of order) are not refusals: they only count
// towards errors_count_max, whose 421 is (too_many_errors). docs/LOGGING.md lists the
// reasons; the session never logs itself (sans-I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hub::smtp {

// Where in the conversation the refusal happened (Postfix's CONNECT, RCPT, ...).
enum class RefusalStage { connect, tls, ehlo, mail, rcpt, data, bdat, starttls };

enum class RefusalReason {
    unknown_client,                // connect: the address is in no partner's connector.
    too_many_connections,          // connect: the hub's connection limit.
    too_many_partner_connections,  // connect: the partner's connection limit.
    tls_failed,                    // tls: the handshake failed (detail: wolfSSL's reason).
    tls_required,                  // a mail command in clear text: 530 5.7.0.
    relay_denied,                  // rcpt: outside the hub domain.
    unknown_partner_domain,        // rcpt: in the hub domain, but no partner owns it.
    message_too_big,               // mail (SIZE=) or the end of data/bdat.
    too_many_recipients,           // rcpt: past recipients_count_max.
    bare_lf,                       // data/bdat: a bare LF (SMTP smuggling).
    bare_cr,                       // data/bdat: a bare CR (SMTP smuggling).
    line_too_long,                 // data/bdat: a text line over 998 characters.
    pipelined_after_starttls,      // starttls: clear-text bytes after STARTTLS, discarded.
    timeout,                       // any stage: the client went quiet.
    too_many_errors,               // any stage: errors_count_max reached, 421 and close.
    insufficient_storage,          // mail or data/bdat: the spool is (nearly) full.
    queue_write_failed,            // data/bdat: the spool could not make it durable.
    no_client_certificate,         // mail: the partner's policy requires a certificate.
    certificate_chain,             // mail: the certificate does not chain to the hub CA.
    cn_mismatch,                   // mail: the certificate names no partner allowed here.
    sender_not_partner,            // mail: the sender is not at one of the partner's domains.
    cipher_too_weak,               // mail: fewer key bits than the partner's TLS policy's minimum.
    subject_mismatch,              // mail: the certificate's subject DN is not the TLS policy's.
    issuer_mismatch,               // mail: the certificate's issuer DN is not the TLS policy's.
};
// How many reasons there are (the health counters keep one count per reason); a reason
// added after issuer_mismatch must move this (engine/shard_health_test.cc checks).
inline constexpr std::size_t refusal_reason_count =
    static_cast<std::size_t>(RefusalReason::issuer_mismatch) + 1;

struct Refusal {
    RefusalStage stage = RefusalStage::connect;
    RefusalReason reason = RefusalReason::timeout;
    std::string reply;  // The reply line as sent, without CRLF: "550 5.7.1 Relay ...".
    std::string from;   // The envelope sender, if a MAIL was accepted ("" for <>).
    bool has_from = false;
    std::string to;      // The refused recipient (rcpt stage).
    std::string detail;  // Extra text: wolfSSL's reason, the bytes discarded, ...
};

std::string_view refusal_stage_name(RefusalStage stage);
std::string_view refusal_reason_name(RefusalReason reason);

// The line's text after the "hubd[pid]: info: " prefix. partner may be empty. Fields
// that come from the peer are made printable (no control characters, no line breaks).
std::string format_refusal(const Refusal& refusal, std::string_view client_address,
                           std::string_view partner);

}  // namespace hub::smtp
