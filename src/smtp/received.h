// received.h -- the Received: trace header the hub adds to each accepted message.
//
// RFC 5321 4.4 and RFC 5322 3.6.7, laid out the way Postfix does it so that partners'
// administrators read it at a glance, with the TLS facts of the inbound hop (RFC 3848
// "ESMTPS") and the client certificate verdict:
//
//   Received: from mx.partner1.gov.uk (unknown [127.0.0.1])
//   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
//   	(Client CN "partner1.gov.uk", Issuer "Hubbox Dev CA" (verified OK))
//   	by hub.lgolhub.net (Hubbox) with ESMTPS id 00000001000003
//   	for <joe@partner2.gov.uk.lgolhub.net>; Wed, 25 Nov 2026 21:00:00 +0000
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/envelope.h"

namespace hub::smtp {

// Views must stay valid for the call only. Everything here may be peer-controlled
// (helo, certificate names, addresses) and is sanitised by format_received().
struct ReceivedFacts {
    std::string_view helo;            // EHLO/HELO argument.
    std::string_view client_address;  // Numeric address: "127.0.0.1", "2001:db8::1".
    std::string_view by_host;         // The hub's hostname.
    bool esmtp = true;                // EHLO (true) or HELO (false).
    const TlsFacts* tls = nullptr;    // nullptr: the message came in clear text.
    // Whether the hub asked for a client certificate; tells "No client certificate
    // requested" from "Client certificate not present" when the verdict is "none".
    bool client_certificate_requested = true;
    std::string_view queue_id;
    std::string_view for_address;  // Only when the message has exactly one recipient.
    std::int64_t unix_time_s = 0;  // The caller's clock; nothing here reads one.
};

// The whole header, folded with CRLF TAB so that lines stay within 78 characters
// where a single word allows it, and ending in CRLF. Never fails.
std::string format_received(const ReceivedFacts& facts);

// RFC 5322 3.3 date-time in UTC: "Wed, 25 Nov 2026 21:00:00 +0000".
std::string format_date_utc(std::int64_t unix_time_s);

}  // namespace hub::smtp
