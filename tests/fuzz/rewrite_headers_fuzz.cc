// rewrite_headers_fuzz.cc -- random messages through rewrite::rewrite_message, and random
// field bodies through rewrite::parse_address_list, against invariants.
//
// Input: byte 0 picks the recipient partner (none, partner1, partner2); the rest is the
// message, and also a field body for the parser. Partners: partner1 owns partner1.gov.uk,
// partner2 owns partner2.gov.uk and its subdomains; the hub domain is lgolhub.net.
// What must hold, whatever the bytes:
//   - parser: every domain range and fold point lies inside the body, in order, without
//     overlap; fold points are SP or HT; the count returned is the number of ranges;
//   - no "partner" text in the input (any case): the output is the input, nothing counted;
//   - the output is at most the input plus 14 bytes per '@' (".lgolhub.net" and one fold);
//   - CRLFs are preserved, plus one per fold reported in HeaderStats::lines_folded;
//   - only hub suffixes and folds change: with fold CRLFs and every ".lgolhub.net" removed,
//     input and output are the same bytes;
//   - no fold, no field rewritten: the output is the input;
//   - rewriting is idempotent: the output goes through unchanged a second time.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rewrite/address_list.h"
#include "rewrite/rewrite.h"

namespace {

using namespace hub::rewrite;

constexpr std::string_view hub_domain = "lgolhub.net";

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

class FuzzPartners final : public PartnerDomains {
public:
    std::string_view partner_of(std::string_view domain) const override {
        std::string name = lowered(domain);
        if (name == "partner1.gov.uk") {
            return "partner1";
        }
        if (name == "partner2.gov.uk" || name.ends_with(".partner2.gov.uk")) {
            return "partner2";
        }
        return {};
    }
};

std::size_t count(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string_view::npos;
         at = text.find(what, at + what.size())) {
        n++;
    }
    return n;
}

// Drops the CRLF of every fold (CRLF followed by SP or HT), then every ".lgolhub.net" in
// any case. The pattern cannot overlap itself, so its occurrences are well defined.
std::string normalised(std::string_view text) {
    std::string unfolded;
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\r' && i + 2 < text.size() && text[i + 1] == '\n' &&
            (text[i + 2] == ' ' || text[i + 2] == '\t')) {
            i++;
            continue;
        }
        unfolded.push_back(text[i]);
    }
    std::string lower_text = lowered(unfolded);
    std::string out;
    std::size_t copied = 0;
    for (std::size_t at = lower_text.find(".lgolhub.net"); at != std::string::npos;
         at = lower_text.find(".lgolhub.net", at + 12)) {
        out.append(unfolded, copied, at - copied);
        copied = at + 12;
    }
    out.append(unfolded, copied);
    return out;
}

void check_parser(std::string_view body) {
    AddressList list;
    auto result = parse_address_list(body, list);
    std::size_t end = 0;
    for (const DomainSpan& span : list.domains) {
        check(span.bytes > 0, "domain range empty");
        check(span.offset >= end && span.offset + span.bytes <= body.size(), "domain range");
        end = span.offset + span.bytes;
    }
    std::size_t previous = 0;
    for (std::size_t i = 0; i < list.fold_points.size(); i++) {
        std::size_t point = list.fold_points[i];
        check(point < body.size() && (body[point] == ' ' || body[point] == '\t'), "fold point");
        check(i == 0 || point > previous, "fold points in order");
        previous = point;
    }
    check(!result.has_value() || *result == list.domains.size(), "address count");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static const FuzzPartners partners;
    static constexpr std::string_view recipients[] = {"", "partner1", "partner2"};
    RewriteContext ctx{hub_domain, &partners, recipients[data[0] % 3]};
    std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
    check_parser(message);

    HeaderStats stats;
    std::string out = rewrite_message(message, ctx, stats);
    if (lowered(message).find("partner") == std::string::npos) {
        check(out == message, "no partner text, yet the message changed");
        check(stats.fields_rewritten == 0 && stats.addresses_rewritten == 0, "counted");
    }
    check(out.size() <= message.size() + 14 * count(message, "@"), "output too long");
    check(count(out, "\r\n") == count(message, "\r\n") + stats.lines_folded, "CRLF count");
    check(normalised(out) == normalised(message), "bytes other than hub suffixes changed");
    check(stats.fields_rewritten > 0 || stats.lines_folded > 0 || out == message,
          "changed without a rewritten field");
    check(stats.addresses_rewritten >= stats.fields_rewritten, "fields without addresses");

    HeaderStats again;
    check(rewrite_message(out, ctx, again) == out, "not idempotent");
    check(again.fields_rewritten == 0 && again.lines_folded == 0, "second pass rewrote");
    return 0;
}
