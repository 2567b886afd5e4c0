// received.cc -- the Received: trace header.
//
// PURPOSE   Format the hub's Received: header from facts the engine collected.
// RUNS IN   every shard, once per accepted message, before the message is spooled.
// TRUST     helo, addresses and certificate names are peer-controlled: each is reduced to
//           a safe character set, so a peer can neither end the header (CR, LF) nor forge
//           a comment such as "(verified OK)" inside its own text.
// LIMITS    lines fold at received_line_bytes_max; each peer field is cut at
//           received_field_bytes_max.
// SEE ALSO  RFC 5321 4.4, RFC 5322 3.6.7 and 3.3, RFC 3848, Postfix smtpd's Received:.
#include "smtp/received.h"

#include <fmt/format.h>

#include <array>
#include <vector>

#include "base/assert.h"

namespace hub::smtp {

namespace {

constexpr std::size_t received_line_bytes_max = 78;  // RFC 5322 2.1.1 "SHOULD".
constexpr std::size_t received_field_bytes_max = 255;

enum class Charset {
    hostname,  // helo, client address, queue id: [A-Za-z0-9.-_:[]] only.
    quoted,    // certificate names inside "...": printable, but no " \ ( ).
    address,   // an address inside <...>: printable, but no < > and no spaces.
};

bool allowed(char c, Charset charset) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    switch (charset) {
        case Charset::hostname:
            return alnum || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        case Charset::quoted:
            return c >= ' ' && c <= '~' && c != '"' && c != '\\' && c != '(' && c != ')';
        case Charset::address:
            return c > ' ' && c <= '~' && c != '<' && c != '>';
    }
    HUB_PANIC("unknown charset");
}

// Replaces what the charset does not allow with '?', and cuts overlong fields.
std::string sanitise(std::string_view text, Charset charset) {
    std::string out;
    std::size_t length = std::min(text.size(), received_field_bytes_max);
    out.reserve(length + 3);
    for (std::size_t i = 0; i < length; i++) {
        out += allowed(text[i], charset) ? text[i] : '?';
    }
    if (text.size() > length) {
        out += "...";
    }
    if (out.empty()) {
        out = "unknown";
    }
    HUB_ASSERT(out.find_first_of("\r\n") == std::string::npos);
    return out;
}

// The CN of a distinguished name in either "/C=GB/CN=x" or "CN=x, O=y" form, or the
// whole name when it has no CN.
std::string_view common_name(std::string_view dn) {
    char separator = (!dn.empty() && dn.front() == '/') ? '/' : ',';
    std::size_t start = 0;
    while (start < dn.size()) {
        std::size_t end = dn.find(separator, start);
        std::string_view part =
            dn.substr(start, end == std::string_view::npos ? dn.npos : end - start);
        while (!part.empty() && part.front() == ' ') {
            part.remove_prefix(1);
        }
        if (part.size() > 3 && (part.substr(0, 3) == "CN=" || part.substr(0, 3) == "cn=")) {
            return part.substr(3);
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return dn;
}

// Greedy folding: each group starts a new line (the Postfix layout); within a group,
// words wrap onto a continuation line when the current one would pass the limit.
class Folder {
public:
    // The first two words of a group ("from helo", "for <rcpt>;") are split only when that
    // makes the second fit; a word longer than any line stays with its keyword.
    void group(std::initializer_list<std::string_view> words) {
        std::size_t index = 0;
        for (std::string_view word : words) {
            HUB_ASSERT(!word.empty());
            if (out_.empty()) {
                out_ = "Received:";
                line_bytes_ = out_.size();
            }
            bool fits = line_bytes_ + 1 + word.size() <= received_line_bytes_max;
            bool fold_fits = 1 + word.size() <= received_line_bytes_max;
            if ((index == 0 && groups_ > 0) || (!fits && (index >= 2 || fold_fits))) {
                out_ += "\r\n\t";
                line_bytes_ = 1;
            } else {
                out_ += ' ';
                line_bytes_++;
            }
            out_ += word;
            line_bytes_ += word.size();
            index++;
        }
        groups_++;
    }
    std::string finish() {
        out_ += "\r\n";
        return std::move(out_);
    }

private:
    std::string out_;
    std::size_t line_bytes_ = 0;
    std::size_t groups_ = 0;
};

void certificate_group(Folder& folder, const TlsFacts& tls, bool requested) {
    const std::string& verdict = tls.client_cert_verdict;
    if (verdict != "verified" && verdict != "failed") {
        if (requested) {
            folder.group({"(Client", "certificate", "not", "present)"});
        } else {
            folder.group({"(No", "client", "certificate", "requested)"});
        }
        return;
    }
    std::string_view cn_source =
        tls.client_cn.empty() ? common_name(tls.client_subject) : std::string_view(tls.client_cn);
    std::string cn = fmt::format("\"{}\",", sanitise(cn_source, Charset::quoted));
    std::string issuer =
        fmt::format("\"{}\"", sanitise(common_name(tls.client_issuer), Charset::quoted));
    if (verdict == "verified") {
        folder.group({"(Client", "CN", cn, "Issuer", issuer, "(verified", "OK))"});
    } else {
        folder.group({"(Client", "CN", cn, "Issuer", issuer, "(verification", "failed))"});
    }
}

}  // namespace

std::string format_date_utc(std::int64_t unix_time_s) {
    constexpr std::array<const char*, 7> weekdays{"Thu", "Fri", "Sat", "Sun",
                                                  "Mon", "Tue", "Wed"};  // 1970-01-01: Thu.
    constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::int64_t days = unix_time_s / 86400;
    std::int64_t seconds = unix_time_s % 86400;
    if (seconds < 0) {
        seconds += 86400;
        days--;
    }
    std::int64_t weekday = ((days % 7) + 7) % 7;
    // Howard Hinnant's civil_from_days: proleptic Gregorian calendar from a day count.
    std::int64_t z = days + 719468;
    std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    std::int64_t doe = z - era * 146097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    std::int64_t mp = (5 * doy + 2) / 153;
    std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    HUB_ASSERT(month >= 1 && month <= 12 && day >= 1 && day <= 31);
    return fmt::format("{}, {} {} {} {:02}:{:02}:{:02} +0000",
                       weekdays[static_cast<std::size_t>(weekday)], day,
                       months[static_cast<std::size_t>(month - 1)], year, seconds / 3600,
                       seconds / 60 % 60, seconds % 60);
}

std::string format_received(const ReceivedFacts& facts) {
    std::string helo = sanitise(facts.helo, Charset::hostname);
    std::string address = fmt::format("[{}])", sanitise(facts.client_address, Charset::hostname));
    std::string by = sanitise(facts.by_host, Charset::hostname);
    std::string id = sanitise(facts.queue_id, Charset::hostname);
    std::string date = format_date_utc(facts.unix_time_s);
    // RFC 3848: ESMTPS is ESMTP over TLS; plain SMTP over TLS gets the same "S".
    std::string_view protocol =
        facts.esmtp ? (facts.tls ? "ESMTPS" : "ESMTP") : (facts.tls ? "SMTPS" : "SMTP");

    Folder folder;
    folder.group({"from", helo, "(unknown", address});  // No reverse DNS on the data path.
    if (facts.tls != nullptr) {
        const TlsFacts& tls = *facts.tls;
        std::string bits = fmt::format("({}/{}", tls.bits, tls.bits);
        folder.group({"(using", sanitise(tls.version, Charset::hostname), "with", "cipher",
                      sanitise(tls.cipher, Charset::hostname), bits, "bits))"});
        certificate_group(folder, tls, facts.client_certificate_requested);
    }
    if (facts.for_address.empty()) {
        std::string last_id = id + ";";
        folder.group({"by", by, "(Hubbox)", "with", protocol, "id", last_id});
        folder.group({date});
    } else {
        folder.group({"by", by, "(Hubbox)", "with", protocol, "id", id});
        std::string recipient = fmt::format("<{}>;", sanitise(facts.for_address, Charset::address));
        folder.group({"for", recipient, date});
    }
    return folder.finish();
}

}  // namespace hub::smtp
