// rewrite.h -- address rewriting so that replies flow back through the hub.
//
// A partner's users see every other partner's addresses in "hub form", the partner domain
// followed by the hub domain (alice@partner1.gov.uk.lgolhub.net), and their own partner's
// addresses bare. Mail to a hub-form address reaches the hub, which strips the suffix and
// relays it on. This header holds the pure functions; the engine supplies the partner table
// through PartnerDomains and the hub domain from hub.conf.
//
// Nothing here does I/O or keeps state between calls; message text is untrusted and never
// trips an assertion.
#pragma once

#include <string>
#include <string_view>

namespace hub::rewrite {

// Which partner owns a domain. The engine adapts policy::PartnerTable.
class PartnerDomains {
public:
    virtual ~PartnerDomains();
    // The owning partner's name, or empty if no partner owns `domain`. Domains compare
    // case-insensitively (the implementer folds case); `domain` has no trailing dot and may
    // hold any bytes, UTF-8 included. The view stays valid as long as the table does.
    virtual std::string_view partner_of(std::string_view domain) const = 0;
};

struct RewriteContext {
    std::string_view hub_domain;               // "lgolhub.net"; not empty.
    const PartnerDomains* partners = nullptr;  // Not null.
    // The partner this copy is delivered to: its own domains are shown bare. Empty when
    // the copy goes to no partner (nobody sees bare addresses then).
    std::string_view recipient_partner;
};

// Envelope recipient (an RCPT TO address without <>): the domain loses a trailing
// "." + hub_domain (compared case-insensitively):
//   joe@partner2.gov.uk.lgolhub.net -> joe@partner2.gov.uk
// An address without that suffix, or without '@', is returned unchanged. The domain is
// what follows the last '@' (a quoted local part may hold '@').
std::string envelope_recipient(std::string_view address, const RewriteContext& ctx);

// Envelope sender (MAIL FROM without <>): an address at a partner domain gains the hub
// suffix unless that partner is ctx.recipient_partner:
//   alice@partner1.gov.uk -> alice@partner1.gov.uk.lgolhub.net
// The null sender stays empty; an address already in hub form, at no partner's domain,
// or without '@' is returned unchanged.
std::string envelope_sender(std::string_view address, const RewriteContext& ctx);

// The display rule for one header address domain D:
//   - D = X "." hub_domain and X owned by a partner: bare X when that partner is the
//     recipient partner, else D unchanged;
//   - else D owned by a partner: D when it is the recipient partner's, else
//     D "." hub_domain;
//   - else D unchanged.
// Domains longer than limits.h domain_bytes_max are never a partner's.
std::string display_domain(std::string_view domain, const RewriteContext& ctx);

struct HeaderStats {
    unsigned fields_rewritten = 0;     // Address fields where at least one domain changed.
    unsigned addresses_rewritten = 0;  // Domains changed.
    // Address fields left exactly as they were because they do not parse, break a bound
    // in limits.h, or would need a line longer than 998 octets with no place to fold.
    unsigned fields_unparseable = 0;
    // Added to the contract: header sections left alone as a whole (bare LF or CR, a line
    // that is neither a field nor a continuation, above header_section_bytes_max).
    unsigned sections_unparseable = 0;
    unsigned lines_folded = 0;  // Added: CRLFs inserted to keep lines within 998 octets.
};

// Applies the display rule to every address in the fields From, Sender, Reply-To, To, Cc,
// Bcc, Resent-From, Resent-Sender, Resent-To, Resent-Cc and Resent-Bcc (names compared
// case-insensitively) of a CRLF message: the header section runs to the first empty line,
// the rest is copied untouched. Only domain bytes change; display names, quoted strings,
// comments, groups, routes, folding, encoded words and UTF-8 survive byte for byte, and
// domain literals stay as they are.
// A rewritten line longer than 998 octets (RFC 5322 2.1.1) is folded before a space
// between addresses; a field that cannot be parsed or folded is left exactly as it was
// and counted. A header section that is not CRLF text made of fields is returned as is.
// `stats` is added to, not reset.
std::string rewrite_message(std::string_view message, const RewriteContext& ctx,
                            HeaderStats& stats);

// The same rewriting without copying the body: `header` is the header section as
// rewrite_message renders it, and the message the partner receives is header followed by
// message.substr(body_offset) (the empty line and the body, untouched). Only the header
// section is held, and it is bounded: a section above header_section_bytes_max, or one
// that is not CRLF fields, is left alone (header empty, body_offset 0), as rewrite_message
// leaves it.
struct RewrittenHeader {
    std::string header;
    std::size_t body_offset = 0;
};
RewrittenHeader rewrite_header(std::string_view message, const RewriteContext& ctx,
                               HeaderStats& stats);

}  // namespace hub::rewrite
