// rewrite.cc -- envelope and header address rewriting, so replies flow back through the hub.
//
// PURPOSE   Show every partner address to a recipient in the form that routes a reply
//           through the hub: hub form (alice@partner1.gov.uk.lgolhub.net) for other
//           partners' domains, bare for the recipient partner's own. The envelope gets the
//           same treatment: recipients lose the hub suffix, the sender gains it.
// RUNS IN   every shard, once per outbound copy of a message (the display rule depends on
//           the recipient partner). Pure: no I/O, no clock, no state between calls.
// TRUST     the message is untrusted text from a partner's users. Only the bytes of
//           addr-spec domains ever change. A field that does not parse, or a header section
//           that is not CRLF text made of fields, is passed on exactly as it came and
//           counted: an unrewritten address still works (a reply skips the hub), a mangled
//           header could lose mail or change its meaning.
// LIMITS    rewrite/limits.h: header section and field bytes, addresses per field, comment
//           depth, 998-octet lines (RFC 5322 2.1.1). Buffers are reused across the fields
//           of a message; nothing is allocated per byte.
// SEE ALSO  rewrite/address_list.h (the RFC 5322 3.4 parser), rewrite/rewrite.h (the rule),
//           tests/fuzz/rewrite_headers_fuzz.cc, DESIGN.md section 1.
#include "rewrite/rewrite.h"

#include <array>
#include <span>
#include <vector>

#include "base/assert.h"
#include "rewrite/address_list.h"
#include "rewrite/limits.h"

namespace hub::rewrite {

PartnerDomains::~PartnerDomains() = default;

namespace {

constexpr std::string_view crlf = "\r\n";

// RFC 5322 3.6.2-3.6.3 and 3.6.6: the fields that carry addresses a reply may use.
constexpr std::array<std::string_view, 11> address_fields = {
    "From",        "Sender",        "Reply-To",  "To",        "Cc",         "Bcc",
    "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Bcc",
};

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

// True if domain = X "." hub with X not empty (DNS names compare case-insensitively).
bool has_hub_suffix(std::string_view domain, std::string_view hub) {
    if (domain.size() < hub.size() + 2) {
        return false;
    }
    std::size_t dot = domain.size() - hub.size() - 1;
    return domain[dot] == '.' && iequals(domain.substr(dot + 1), hub);
}

void check_context(const RewriteContext& ctx) {
    HUB_ASSERT(!ctx.hub_domain.empty());
    HUB_ASSERT(ctx.partners != nullptr);
}

// What the display rule does to one domain: keep its first keep_bytes, then maybe append
// "." hub_domain. Unchanged is keep_bytes == domain size without the suffix.
struct DomainEdit {
    std::size_t keep_bytes = 0;
    bool add_suffix = false;

    bool changes(std::size_t domain_bytes) const {
        return add_suffix || keep_bytes != domain_bytes;
    }
};

DomainEdit display_edit(std::string_view domain, const RewriteContext& ctx) {
    DomainEdit unchanged{domain.size(), false};
    if (domain.empty() || domain.size() > domain_bytes_max) {
        return unchanged;
    }
    const PartnerDomains& partners = *ctx.partners;
    if (has_hub_suffix(domain, ctx.hub_domain)) {
        std::string_view bare = domain.substr(0, domain.size() - ctx.hub_domain.size() - 1);
        std::string_view owner = partners.partner_of(bare);
        if (!owner.empty()) {
            // Hub form of a partner domain: bare only for that partner's own users.
            return owner == ctx.recipient_partner ? DomainEdit{bare.size(), false} : unchanged;
        }
    }
    std::string_view owner = partners.partner_of(domain);
    if (owner.empty() || owner == ctx.recipient_partner) {
        return unchanged;
    }
    return DomainEdit{domain.size(), true};
}

void append_edited(std::string& out, std::string_view domain, DomainEdit edit,
                   const RewriteContext& ctx) {
    HUB_ASSERT(edit.keep_bytes <= domain.size());
    out.append(domain.substr(0, edit.keep_bytes));
    if (edit.add_suffix) {
        out.push_back('.');
        out.append(ctx.hub_domain);
    }
}

// Where the header section ends: its bytes (each line with its CRLF, the empty line that
// closes it excluded), or npos when the message has neither an empty line nor a final CRLF.
std::size_t header_section_bytes(std::string_view message) {
    if (message.starts_with(crlf)) {
        return 0;  // No header fields at all.
    }
    std::size_t blank = message.find("\r\n\r\n");
    if (blank != std::string_view::npos) {
        return blank + 2;
    }
    return message.ends_with(crlf) || message.empty() ? message.size() : std::string_view::npos;
}

// RFC 5322 3.6.8 field-name = 1*ftext, and 4.5.8 obs-optional allows WSP before the colon.
// Returns the colon's offset in the line, or npos if the line is no field's first line.
std::size_t field_colon(std::string_view line) {
    std::size_t name_end = 0;
    while (name_end < line.size() && line[name_end] >= 33 && line[name_end] <= 126 &&
           line[name_end] != ':') {
        name_end++;
    }
    std::size_t colon = name_end;
    while (colon < line.size() && is_wsp(line[colon])) {
        colon++;
    }
    if (name_end == 0 || colon == line.size() || line[colon] != ':') {
        return std::string_view::npos;
    }
    return colon;
}

// RFC 5322 2.2 and 2.2.3: every line ends in CRLF, has no other CR or LF, and is either a
// field's first line or a continuation starting with WSP; the first line is a field.
bool is_field_section(std::string_view header) {
    if (header.size() > header_section_bytes_max) {
        return false;
    }
    std::size_t start = 0;
    while (start < header.size()) {
        std::size_t end = header.find(crlf, start);
        if (end == std::string_view::npos) {
            return false;
        }
        std::string_view line = header.substr(start, end - start);
        if (line.find_first_of("\r\n") != std::string_view::npos) {
            return false;
        }
        bool continuation = !line.empty() && is_wsp(line.front());
        if (continuation ? start == 0 : field_colon(line) == std::string_view::npos) {
            return false;
        }
        start = end + 2;
    }
    HUB_ASSERT(start == header.size());
    return true;
}

// The end of the field that starts at `start` of a valid section: after the CRLF of its
// last line (the first CRLF not followed by WSP).
std::size_t field_end(std::string_view header, std::size_t start) {
    std::size_t end = header.find(crlf, start);
    while (end != std::string_view::npos && end + 2 < header.size() && is_wsp(header[end + 2])) {
        end = header.find(crlf, end + 2);
    }
    HUB_ASSERT(end != std::string_view::npos);  // is_field_section() saw every CRLF.
    return end + 2;
}

bool is_address_field(std::string_view name) {
    while (!name.empty() && is_wsp(name.back())) {
        name.remove_suffix(1);
    }
    for (std::string_view known : address_fields) {
        if (iequals(name, known)) {
            return true;
        }
    }
    return false;
}

// Rewrites address fields one at a time into the message output, reusing its buffers.
class FieldRewriter {
public:
    FieldRewriter(const RewriteContext& ctx, HeaderStats& stats) : ctx_(ctx), stats_(stats) {}

    // `field` runs from its name to the CRLF of its last line, included.
    void rewrite(std::string_view field, std::size_t colon, std::string& out) {
        HUB_ASSERT(colon < field.size() && field[colon] == ':' && field.ends_with(crlf));
        std::string_view body = field.substr(colon + 1, field.size() - colon - 3);
        if (!plan(body)) {
            stats_.fields_unparseable++;
            out.append(field);
            return;
        }
        if (edits_.empty()) {
            out.append(field);
            return;
        }
        splice(field.substr(0, colon + 1), body);
        if (!fold(out)) {
            // RFC 5322 2.1.1: better a field left as it came than a line over 998 octets.
            stats_.fields_unparseable++;
            out.append(field);
            return;
        }
        stats_.fields_rewritten++;
        stats_.addresses_rewritten += static_cast<unsigned>(edits_.size());
    }

private:
    struct Edit {
        std::size_t offset = 0;  // The domain's range in the body.
        std::size_t bytes = 0;
        DomainEdit edit;
    };

    // Parses the body and lists the domains the display rule changes. False if the field
    // must be left as it is.
    bool plan(std::string_view body) {
        edits_.clear();
        if (!parse_address_list(body, list_)) {
            return false;
        }
        for (const DomainSpan& span : list_.domains) {
            std::string_view domain = body.substr(span.offset, span.bytes);
            if (span.literal) {
                continue;  // An address literal names a host, not a partner's domain.
            }
            if (span.has_cfws) {
                // XXX: an obs-domain with comments inside ("a@partner1 (x) . gov.uk") has
                // no single byte range to splice. Such a partner address is left alone
                // (the field counted); any other stays, as it would anyway.
                std::array<char, domain_bytes_max> value{};
                std::size_t value_bytes = 0;
                if (strip_domain_cfws(domain, value, value_bytes) &&
                    display_edit({value.data(), value_bytes}, ctx_).changes(value_bytes)) {
                    return false;
                }
                continue;
            }
            DomainEdit edit = display_edit(domain, ctx_);
            if (edit.changes(domain.size())) {
                edits_.push_back(Edit{span.offset, span.bytes, edit});
            }
        }
        return true;
    }

    // Builds field_ (name and colon, the body with the edits, CRLF) and fold_points_ (the
    // parser's fold points, moved to their offsets in field_).
    void splice(std::string_view name_colon, std::string_view body) {
        field_.assign(name_colon);
        fold_points_.clear();
        std::size_t copied = 0;  // Body bytes consumed so far.
        std::size_t next_point = 0;
        auto copy_to = [&](std::size_t until) {
            const std::vector<std::size_t>& points = list_.fold_points;
            for (; next_point < points.size() && points[next_point] < until; next_point++) {
                HUB_ASSERT(points[next_point] >= copied);  // Never inside a domain.
                fold_points_.push_back(field_.size() + points[next_point] - copied);
            }
            field_.append(body.substr(copied, until - copied));
            copied = until;
        };
        for (const Edit& edit : edits_) {
            copy_to(edit.offset);
            append_edited(field_, body.substr(edit.offset, edit.bytes), edit.edit, ctx_);
            copied = edit.offset + edit.bytes;
        }
        copy_to(body.size());
        field_.append(crlf);
        HUB_ASSERT(copied == body.size());
    }

    // Appends field_ to `out`, inserting CRLF before fold points so that no line exceeds
    // 998 octets (RFC 5322 2.1.1, 2.2.3). Each line is cut at the last fold point that
    // keeps it short enough. False (nothing appended) if a line has no such point.
    bool fold(std::string& out) {
        chosen_.clear();
        std::size_t next_point = 0;
        std::size_t line_start = 0;
        while (line_start < field_.size()) {
            std::size_t line_end = field_.find(crlf, line_start);
            HUB_ASSERT(line_end != std::string::npos);
            while (line_end - line_start > line_bytes_max) {
                std::size_t cut = std::string::npos;
                while (next_point < fold_points_.size() && fold_points_[next_point] <= line_start) {
                    next_point++;
                }
                while (next_point < fold_points_.size() && fold_points_[next_point] < line_end &&
                       fold_points_[next_point] - line_start <= line_bytes_max) {
                    cut = fold_points_[next_point++];
                }
                if (cut == std::string::npos) {
                    return false;
                }
                chosen_.push_back(cut);
                line_start = cut;  // The new line starts with the WSP folded before.
            }
            line_start = line_end + 2;
        }
        std::size_t copied = 0;
        for (std::size_t cut : chosen_) {
            HUB_ASSERT(is_wsp(field_[cut]));
            out.append(std::string_view(field_).substr(copied, cut - copied));
            out.append(crlf);
            copied = cut;
        }
        out.append(std::string_view(field_).substr(copied));
        stats_.lines_folded += static_cast<unsigned>(chosen_.size());
        return true;
    }

    const RewriteContext& ctx_;
    HeaderStats& stats_;
    AddressList list_;
    std::vector<Edit> edits_;
    std::string field_;
    std::vector<std::size_t> fold_points_;
    std::vector<std::size_t> chosen_;
};

}  // namespace

std::string display_domain(std::string_view domain, const RewriteContext& ctx) {
    check_context(ctx);
    std::string out;
    append_edited(out, domain, display_edit(domain, ctx), ctx);
    return out;
}

std::string envelope_recipient(std::string_view address, const RewriteContext& ctx) {
    check_context(ctx);
    std::size_t at = address.rfind('@');
    if (at == std::string_view::npos || !has_hub_suffix(address.substr(at + 1), ctx.hub_domain)) {
        return std::string(address);
    }
    std::string out(address.substr(0, address.size() - ctx.hub_domain.size() - 1));
    HUB_ASSERT(out.size() > at + 1);  // has_hub_suffix() leaves a domain.
    return out;
}

std::string envelope_sender(std::string_view address, const RewriteContext& ctx) {
    check_context(ctx);
    std::size_t at = address.rfind('@');
    if (at == std::string_view::npos) {
        return std::string(address);  // The null sender, or a bare local part.
    }
    std::string_view domain = address.substr(at + 1);
    if (domain.empty() || domain.size() > domain_bytes_max ||
        has_hub_suffix(domain, ctx.hub_domain)) {
        return std::string(address);
    }
    std::string_view owner = ctx.partners->partner_of(domain);
    if (owner.empty() || owner == ctx.recipient_partner) {
        return std::string(address);
    }
    std::string out(address);
    out.push_back('.');
    out.append(ctx.hub_domain);
    return out;
}

RewrittenHeader rewrite_header(std::string_view message, const RewriteContext& ctx,
                               HeaderStats& stats) {
    check_context(ctx);
    std::size_t header_bytes = header_section_bytes(message);
    if (header_bytes == std::string_view::npos ||
        !is_field_section(message.substr(0, header_bytes))) {
        // Bare LF (or CR) line ends, a line that is not a field: nothing can be trusted
        // about where fields start, so nothing is touched.
        stats.sections_unparseable++;
        return RewrittenHeader{};
    }
    std::string_view header = message.substr(0, header_bytes);
    RewrittenHeader out;
    out.header.reserve(header.size() + 64);
    out.body_offset = header_bytes;
    FieldRewriter rewriter(ctx, stats);
    std::size_t start = 0;
    while (start < header.size()) {
        std::size_t end = field_end(header, start);
        std::string_view field = header.substr(start, end - start);
        std::size_t colon = field_colon(field);
        HUB_ASSERT(colon != std::string_view::npos);  // is_field_section() checked it.
        if (is_address_field(field.substr(0, colon))) {
            rewriter.rewrite(field, colon, out.header);
        } else {
            out.header.append(field);
        }
        start = end;
    }
    return out;
}

std::string rewrite_message(std::string_view message, const RewriteContext& ctx,
                            HeaderStats& stats) {
    RewrittenHeader rewritten = rewrite_header(message, ctx, stats);
    std::string out;
    out.reserve(rewritten.header.size() + message.size() - rewritten.body_offset);
    out.append(rewritten.header);
    out.append(message.substr(rewritten.body_offset));  // The empty line and the body.
    return out;
}

}  // namespace hub::rewrite
