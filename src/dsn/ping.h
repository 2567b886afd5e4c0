// ping.h -- the automatic reply to mail sent to the ping address.
//
// DESIGN 1.7: mail to lgolhubping@<partner domain>.<hub domain> is answered with a welcome
// message that reports what the hub saw on the way in (the partner it matched, the source
// address, the TLS parameters, the client certificate and its verdict, the time). It is the
// first test every new partner runs, so the reply says plainly what worked and what did not.
//
// The caller spools the reply with the null reverse path (RFC 3834 3: a response is not
// itself answered), to the original envelope sender, after auto_reply_wanted() said yes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/envelope.h"

namespace hub::dsn {

// What the hub saw. Views must stay valid for the call only. Everything marked "peer" is
// sanitised by build_ping_reply(): printable ASCII only, no line ends, cut at a bound.
struct PingFacts {
    std::string_view hostname;            // "hub.lgolhub.net".
    std::string_view ping_address;        // "lgolhubping@partner1.gov.uk.lgolhub.net": the From.
    std::string_view sender;              // peer: the original envelope sender; the reply's To.
    std::string_view partner;             // The partner the hub matched; empty: none matched.
    std::string_view client_address;      // "127.0.0.1" or "[127.0.0.1]:45678".
    std::string_view helo;                // peer: the EHLO/HELO name.
    const smtp::TlsFacts* tls = nullptr;  // peer names inside; nullptr: no TLS.
    bool client_certificate_requested = true;  // Tells "not requested" from "not presented".
    std::string_view queue_id;                 // The ping message's queue id.
    std::int64_t received_unix_s = 0;          // When the hub accepted the ping message.
    std::int64_t now_unix_s = 0;               // The reply's Date:.
    // The reply's Message-ID with angle brackets; empty: built from now_unix_s, the queue
    // id and the hostname.
    std::string_view message_id;
    // peer: the original's Message-ID and Subject field values, raw (header_value() gives
    // them); folded values are unfolded. A Message-ID that is not a plain "<left@right>" is
    // left out of In-Reply-To and References.
    std::string_view original_message_id;
    std::string_view original_subject;
};

// The complete reply message: From the ping address, To the sender, Subject "Hubbox ping
// reply: your message reached <hostname>", Auto-Submitted: auto-replied (RFC 3834 5),
// In-Reply-To and References the original Message-ID when it has a usable one; a plain
// text body. CRLF line endings, lines within 78 octets where the words allow and never
// past 998. Preconditions (asserted): hostname, ping_address and sender not empty.
std::string build_ping_reply(const PingFacts& facts);

// RFC 3834 2: whether an automatic reply may be sent for a message: not to the null sender,
// nor to a message whose Auto-Submitted field is anything but "no", nor to a mailing list's
// or a bulk message (Precedence: bulk / list / junk, or a List-Id field). The header section
// is the original message's.
bool auto_reply_wanted(std::string_view envelope_sender, std::string_view header_section);

}  // namespace hub::dsn
