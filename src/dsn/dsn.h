// dsn.h -- delivery status notifications: RFC 3464 reports inside RFC 6522 multipart/report.
//
// The queue manager decides *when* to report (a 5xx, the queue lifetime, the delay warning,
// a SUCCESS request); this module decides *whether* the sender asked for it (dsn_wanted) and
// writes the whole report message (build_dsn). Both are pure: the caller passes the time,
// the ids and the host names, and spools the result.
//
// A report is laid out like Postfix's, because that is what partners' administrators know:
//
//   part 1  text/plain               "This is the mail system at host hub.lgolhub.net." ...
//                                    and, at the bottom, one paragraph per recipient with
//                                    the remote server and its exact reply.
//   part 2  message/delivery-status  Reporting-MTA, X-Hubbox-Queue-ID, Original-Envelope-Id,
//                                    Arrival-Date; then per recipient Original-Recipient,
//                                    Final-Recipient, Action, Status, Remote-MTA,
//                                    Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until.
//   part 3  text/rfc822-headers      the original header section, or message/rfc822 (the
//                                    whole original, cut at a bound) for a failure with
//                                    RET=FULL.
//
// The caller spools the report with the null reverse path (RFC 5321 4.5.5),
// to the original envelope sender, so that a report about a report can never be sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsn/limits.h"
#include "smtp/envelope.h"

namespace hub::dsn {

// Which report: the subject line, the wording of part 1, and the actions it may carry.
enum class Kind {
    failure,  // "Undelivered Mail Returned to Sender": actions failed.
    delay,    // "Delayed Mail (still being retried)": actions delayed.
    success,  // "Successful Mail Delivery Report": actions delivered or relayed.
};

// RFC 3464 2.3.3 action-value. The hub never expands a recipient, so "expanded" is absent.
enum class Action { failed, delayed, delivered, relayed };

// What happened to one recipient. Strings may hold peer-controlled text (the remote reply,
// addresses, the ORCPT); build_dsn() sanitises each of them.
struct RecipientReport {
    // RFC 3461 4.2 ORCPT as smtp::Recipient keeps it ("rfc822;joe@example"), empty when the
    // client gave none; then there is no Original-Recipient field (RFC 3464 2.3.1).
    std::string original_recipient;
    // The RCPT TO address as the hub received it ("joe@partner2.gov.uk.lgolhub.net"): the
    // address the sender knows, named in part 1. Empty: final_recipient is named instead.
    std::string envelope_recipient;
    // The address the hub was delivering to when it wrote the report (after rewriting):
    // RFC 3464 2.3.2 Final-Recipient, type rfc822. Must not be empty.
    std::string final_recipient;
    Action action = Action::failed;
    // RFC 3463 status "5.1.1". Often taken from the remote reply, so it is checked: a
    // malformed one becomes "5.0.0" / "4.0.0" / "2.0.0", and a class that contradicts the
    // action is corrected to the action's class.
    std::string status;
    std::string remote_host;     // The remote MTA's DNS name; empty for an IP-literal connector.
    std::string remote_address;  // "[127.0.0.1]:10026"; empty when no server was reached.
    // The remote server's reply, exactly as received: one or more lines separated by CRLF
    // or LF, each with its code ("550-5.1.1 ..."). Lines are joined with one space, as
    // Postfix does. Empty when the server said nothing useful (connection refused, timeout).
    std::string remote_reply;
    // The SMTP command the reply answered ("RCPT TO", "end of DATA"); shown in part 1 only.
    std::string remote_command;
    // The hub's own explanation when there is no remote reply ("connect to
    // [127.0.0.1]:10026: Connection refused", "TLS is required, but was not offered by
    // host [127.0.0.1]:10026"). Becomes Diagnostic-Code type X-Hubbox.
    std::string hub_text;
    std::int64_t last_attempt_unix_s = 0;      // 0: no Last-Attempt-Date field.
    std::int64_t will_retry_until_unix_s = 0;  // Kind::delay only; 0: no Will-Retry-Until.
};

// Everything a report needs. Views must stay valid for the call only.
struct DsnRequest {
    Kind kind = Kind::failure;
    std::string_view hostname;      // "hub.lgolhub.net": Reporting-MTA and the first line.
    std::string_view from_address;  // "MAILER-DAEMON@hub.lgolhub.net": the report's From.
    // The original envelope: mail_from (the report goes there; must not be the null
    // sender), dsn_envid, dsn_ret. Must not be null.
    const smtp::Envelope* envelope = nullptr;
    std::string_view queue_id;        // The original message's queue id.
    std::int64_t arrival_unix_s = 0;  // When the hub accepted the original.
    std::int64_t now_unix_s = 0;      // The report's Date:.
    // The report's Message-ID with its angle brackets; empty: built from now_unix_s, the
    // kind, the queue id, the recipients and the hostname.
    std::string_view message_id;
    // The original header section (with or without the empty line that ends it), and the
    // whole original message for RET=FULL. original_message may be empty: the report then
    // returns the header section even when RET=FULL was asked for.
    std::string_view original_headers;
    std::string_view original_message;
    std::vector<RecipientReport> recipients;  // At least one; actions must match the kind.
    std::size_t returned_bytes = returned_bytes_default;  // Clamped to returned_bytes_max.
};

// The complete report message (header section, empty line, MIME body), CRLF line endings,
// every line at most 998 octets and at most 78 wherever a word boundary allows it.
// Preconditions (programmer errors, asserted): envelope set, mail_from not empty, at least
// one recipient, every action valid for the kind, hostname and from_address not empty.
// Never fails.
std::string build_dsn(const DsnRequest& request);

// RFC 3461 4.1 NOTIFY: whether the original sender wants a report of this kind for this
// recipient. Never for the null sender (a report about a report would loop, RFC 5321 4.5.5);
// never with NOTIFY=NEVER; without NOTIFY, failures and delays are reported (RFC 3461 4.1
// leaves delays to the MTA: the hub reports them) but successes are not; with NOTIFY,
// exactly the kinds listed.
bool dsn_wanted(const smtp::Recipient& recipient, Kind kind, bool null_sender);

// A RecipientReport with original_recipient, envelope_recipient and final_recipient filled
// from what the client sent; the caller then sets the rest (and final_recipient, if
// rewriting changed the address).
RecipientReport recipient_report(const smtp::Recipient& recipient, Action action);

// True when the message holds an octet above 127, so that the caller spools the report
// with BODY=8BITMIME (RFC 6152). build_dsn() labels such a report 8bit.
bool has_8bit(std::string_view message);

}  // namespace hub::dsn
