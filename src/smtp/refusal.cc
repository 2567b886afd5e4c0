// refusal.cc -- names and the log line of a Refusal.
//
// PURPOSE   One place that spells the reject line (docs/LOGGING.md), for the session's
//           refusals and the engine's alike.
// RUNS IN   every shard; pure functions.
// TRUST     addresses and details may come from the peer: they are made printable here,
//           and no field can contain the separator ";".
// LIMITS    refusal_field_bytes_max per field; longer text is cut.
// SEE ALSO  smtp/refusal.h, docs/LOGGING.md
#include "smtp/refusal.h"

#include <fmt/format.h>

#include "base/assert.h"

namespace hub::smtp {

namespace {

constexpr std::size_t refusal_field_bytes_max = 300;

// Appends text with control characters replaced, so a field never breaks the line, and
// ';' shown as ',', so that "; " always separates fields ("Bare CR or LF received;
// closing" is one of our own replies).
void append_printable(std::string& out, std::string_view text) {
    for (char c : text.substr(0, refusal_field_bytes_max)) {
        if (c == ';') {
            out += ',';
        } else {
            out += (c >= ' ' && c != '\x7f') ? c : '?';
        }
    }
}

}  // namespace

std::string_view refusal_stage_name(RefusalStage stage) {
    switch (stage) {
        case RefusalStage::connect:
            return "connect";
        case RefusalStage::tls:
            return "tls";
        case RefusalStage::ehlo:
            return "ehlo";
        case RefusalStage::mail:
            return "mail";
        case RefusalStage::rcpt:
            return "rcpt";
        case RefusalStage::data:
            return "data";
        case RefusalStage::bdat:
            return "bdat";
        case RefusalStage::starttls:
            return "starttls";
    }
    HUB_PANIC("unknown refusal stage");
}

std::string_view refusal_reason_name(RefusalReason reason) {
    switch (reason) {
        case RefusalReason::unknown_client:
            return "unknown_client";
        case RefusalReason::too_many_connections:
            return "too_many_connections";
        case RefusalReason::too_many_partner_connections:
            return "too_many_partner_connections";
        case RefusalReason::tls_failed:
            return "tls_failed";
        case RefusalReason::tls_required:
            return "tls_required";
        case RefusalReason::relay_denied:
            return "relay_denied";
        case RefusalReason::unknown_partner_domain:
            return "unknown_partner_domain";
        case RefusalReason::message_too_big:
            return "message_too_big";
        case RefusalReason::too_many_recipients:
            return "too_many_recipients";
        case RefusalReason::bare_lf:
            return "bare_lf";
        case RefusalReason::bare_cr:
            return "bare_cr";
        case RefusalReason::line_too_long:
            return "line_too_long";
        case RefusalReason::pipelined_after_starttls:
            return "pipelined_after_starttls";
        case RefusalReason::timeout:
            return "timeout";
        case RefusalReason::too_many_errors:
            return "too_many_errors";
        case RefusalReason::insufficient_storage:
            return "insufficient_storage";
        case RefusalReason::queue_write_failed:
            return "queue_write_failed";
        case RefusalReason::no_client_certificate:
            return "no_client_certificate";
        case RefusalReason::certificate_chain:
            return "certificate_chain";
        case RefusalReason::cn_mismatch:
            return "cn_mismatch";
        case RefusalReason::sender_not_partner:
            return "sender_not_partner";
        case RefusalReason::cipher_too_weak:
            return "cipher_too_weak";
        case RefusalReason::subject_mismatch:
            return "subject_mismatch";
        case RefusalReason::issuer_mismatch:
            return "issuer_mismatch";
    }
    HUB_PANIC("unknown refusal reason");
}

std::string format_refusal(const Refusal& refusal, std::string_view client_address,
                           std::string_view partner) {
    std::string line = fmt::format("reject: {} from [", refusal_stage_name(refusal.stage));
    append_printable(line, client_address);
    line += "]: ";
    append_printable(line, refusal.reply);
    line += "; reason=";
    line += refusal_reason_name(refusal.reason);
    if (!partner.empty()) {
        line += "; partner=";
        append_printable(line, partner);
    }
    if (refusal.has_from) {
        line += "; from=<";
        append_printable(line, refusal.from);
        line += '>';
    }
    if (!refusal.to.empty()) {
        line += "; to=<";
        append_printable(line, refusal.to);
        line += '>';
    }
    if (!refusal.detail.empty()) {
        line += "; detail=";
        append_printable(line, refusal.detail);
    }
    return line;
}

}  // namespace hub::smtp
