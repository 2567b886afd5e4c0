// snapshot.cc -- merging shard counters, and the snapshot's line format.
//
// PURPOSE   One text form of the health counters, shared by hubd and every reader.
// RUNS IN   hubd's supervisor (merge, encode); hubctl, hub-metrics, hub-snmp (decode).
// TRUST     the text comes from hubd over a local socket; decode is still strict and
//           bounded so a truncated or confused answer is an error, never half a snapshot.
// LIMITS    health/limits.h
// SEE ALSO  snapshot.h, export.cc, docs/HEALTH.md
#include "health/snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include "base/assert.h"
#include "health/limits.h"

namespace hub::health {

const std::vector<TrafficField> traffic_fields = {
    {"inbound_open", &Traffic::inbound_open, true, "inbound_connections_open",
     "Inbound SMTP connections open now."},
    {"inbound_total", &Traffic::inbound_total, false, "inbound_connections_total",
     "Inbound SMTP connections accepted."},
    {"inbound_refused", &Traffic::inbound_refused, false, "inbound_connections_refused_total",
     "Inbound connections refused at connect or in the TLS handshake."},
    {"messages_received", &Traffic::messages_received, false, "messages_received_total",
     "Messages made durable and answered 250."},
    {"messages_rejected", &Traffic::messages_rejected, false, "messages_rejected_total",
     "Refusals at MAIL, RCPT, DATA or BDAT."},
    {"recipients_received", &Traffic::recipients_received, false, "recipients_received_total",
     "Recipients of the messages received."},
    {"bytes_received", &Traffic::bytes_received, false, "received_bytes_total",
     "Bytes of the messages received, as spooled."},
    {"outbound_open", &Traffic::outbound_open, true, "outbound_connections_open",
     "Outbound delivery connections open now."},
    {"outbound_total", &Traffic::outbound_total, false, "outbound_connections_total",
     "Outbound delivery connections attempted."},
    {"outbound_failed", &Traffic::outbound_failed, false, "outbound_connections_failed_total",
     "Outbound connections that failed to connect or to set up TLS."},
    {"messages_delivered", &Traffic::messages_delivered, false, "messages_delivered_total",
     "Delivery transactions in which the partner accepted at least one recipient."},
    {"messages_deferred", &Traffic::messages_deferred, false, "messages_deferred_total",
     "Delivery attempts that left recipients for a retry."},
    {"messages_bounced", &Traffic::messages_bounced, false, "messages_bounced_total",
     "Delivery attempts that bounced recipients."},
    {"recipients_delivered", &Traffic::recipients_delivered, false, "recipients_delivered_total",
     "Recipients the partner accepted."},
    {"recipients_deferred", &Traffic::recipients_deferred, false, "recipients_deferred_total",
     "Recipient delivery attempts deferred for a retry."},
    {"recipients_bounced", &Traffic::recipients_bounced, false, "recipients_bounced_total",
     "Recipients bounced (permanent failure or queue lifetime)."},
    {"bytes_delivered", &Traffic::bytes_delivered, false, "delivered_bytes_total",
     "Message bytes sent in accepted deliveries."},
    {"queue_messages", &Traffic::queue_messages, true, "queue_messages",
     "Messages in the queue now."},
    {"queue_recipients", &Traffic::queue_recipients, true, "queue_recipients",
     "Recipients waiting in the queue now."},
    {"queue_bytes", &Traffic::queue_bytes, true, "queue_bytes",
     "Bytes of the messages in the queue now."},
    {"oldest_queued_unix_ms", &Traffic::oldest_queued_unix_ms, true,
     "queue_oldest_message_timestamp_seconds",
     "When the oldest message in the queue arrived (absent when the queue is empty)."},
};

namespace {

// --- Merging --------------------------------------------------------------------------

void add_traffic(Traffic& into, const Traffic& part) {
    for (const TrafficField& field : traffic_fields) {
        if (field.member == &Traffic::oldest_queued_unix_ms) {
            continue;
        }
        into.*field.member += part.*field.member;
    }
    if (part.oldest_queued_unix_ms != 0 &&
        (into.oldest_queued_unix_ms == 0 ||
         part.oldest_queued_unix_ms < into.oldest_queued_unix_ms)) {
        into.oldest_queued_unix_ms = part.oldest_queued_unix_ms;
    }
}

void take_later(std::uint64_t& time, std::string* text, std::uint64_t part_time,
                const std::string* part_text) {
    if (part_time > time) {
        time = part_time;
        if (text != nullptr) {
            *text = *part_text;
        }
    }
}

void merge_partner(PartnerRow& into, const PartnerRow& part) {
    add_traffic(into.traffic, part.traffic);
    take_later(into.last_inbound_unix_ms, nullptr, part.last_inbound_unix_ms, nullptr);
    take_later(into.last_outbound_unix_ms, nullptr, part.last_outbound_unix_ms, nullptr);
    take_later(into.last_outbound_attempt_unix_ms, nullptr, part.last_outbound_attempt_unix_ms,
               nullptr);
    take_later(into.last_tls_failure_unix_ms, &into.last_tls_failure, part.last_tls_failure_unix_ms,
               &part.last_tls_failure);
    into.tls_failures_in += part.tls_failures_in;
    into.tls_failures_out += part.tls_failures_out;
    // Shards keep their own: the earliest of those still failing, unless another shard
    // had TLS with the partner since; then only a failure after that success counts.
    take_later(into.last_outbound_tls_unix_ms, nullptr, part.last_outbound_tls_unix_ms, nullptr);
    if (part.tls_failing_out_since_unix_ms != 0 &&
        (into.tls_failing_out_since_unix_ms == 0 ||
         part.tls_failing_out_since_unix_ms < into.tls_failing_out_since_unix_ms)) {
        into.tls_failing_out_since_unix_ms = part.tls_failing_out_since_unix_ms;
    }
    if (into.tls_failing_out_since_unix_ms != 0 &&
        into.tls_failing_out_since_unix_ms <= into.last_outbound_tls_unix_ms) {
        bool failed_after = into.last_tls_failure.starts_with("out:") &&
                            into.last_tls_failure_unix_ms > into.last_outbound_tls_unix_ms;
        into.tls_failing_out_since_unix_ms = failed_after ? into.last_tls_failure_unix_ms : 0;
    }
    take_later(into.last_inbound_refusal_unix_ms, &into.last_inbound_refusal,
               part.last_inbound_refusal_unix_ms, &part.last_inbound_refusal);
    take_later(into.last_outbound_failure_unix_ms, &into.last_outbound_failure,
               part.last_outbound_failure_unix_ms, &part.last_outbound_failure);
}

// --- Encoding -------------------------------------------------------------------------

bool plain_byte(unsigned char c) {
    return c > 0x20 && c < 0x7F && c != '%' && c != '=';
}

void put_text(std::string& out, std::string_view key, std::string_view value) {
    out += ' ';
    out += key;
    out += '=';
    value = value.substr(0, string_bytes_max);
    for (char c : value) {
        auto byte = static_cast<unsigned char>(c);
        if (plain_byte(byte)) {
            out += c;
        } else {
            fmt::format_to(std::back_inserter(out), "%{:02X}", byte);
        }
    }
}

void put_number(std::string& out, std::string_view key, std::uint64_t value) {
    fmt::format_to(std::back_inserter(out), " {}={}", key, value);
}

void put_traffic(std::string& out, const Traffic& traffic) {
    for (const TrafficField& field : traffic_fields) {
        put_number(out, field.name, traffic.*field.member);
    }
}

// --- Decoding -------------------------------------------------------------------------

// One line's fields; lookups mark what was used so duplicates are caught once.
class Fields {
public:
    std::string error;

    bool parse(std::string_view text) {
        // Bounded: at most fields_per_line_max fields.
        while (!text.empty()) {
            if (fields_.size() == fields_per_line_max) {
                error = fmt::format("more than {} fields", fields_per_line_max);
                return false;
            }
            if (text.front() != ' ') {
                error = "fields are separated by one space";
                return false;
            }
            text.remove_prefix(1);
            std::size_t end = text.find(' ');
            std::string_view field = text.substr(0, end);
            text = end == std::string_view::npos ? std::string_view() : text.substr(end);
            std::size_t equals = field.find('=');
            if (equals == std::string_view::npos || equals == 0) {
                error = fmt::format("'{}' is not key=value", printable(field));
                return false;
            }
            std::string_view key = field.substr(0, equals);
            for (char c : key) {
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
                    error = fmt::format("bad key '{}'", printable(key));
                    return false;
                }
            }
            for (const auto& [seen, value] : fields_) {
                if (seen == key) {
                    error = fmt::format("key '{}' given twice", key);
                    return false;
                }
            }
            fields_.emplace_back(key, field.substr(equals + 1));
        }
        return true;
    }

    std::optional<std::string_view> raw(std::string_view key) const {
        for (const auto& [name, value] : fields_) {
            if (name == key) {
                return value;
            }
        }
        return std::nullopt;
    }

    // A missing number is 0 (an older hubd that lacks a newer field) unless required.
    bool number(std::string_view key, std::uint64_t& value, bool required = false) {
        std::optional<std::string_view> text = raw(key);
        if (!text) {
            if (required) {
                error = fmt::format("missing {}=", key);
                return false;
            }
            value = 0;
            return true;
        }
        bool digits =
            !text->empty() && text->size() <= 20 &&
            std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
        auto [end, failed] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (!digits || failed != std::errc() || end != text->data() + text->size() ||
            (text->size() > 1 && text->front() == '0')) {
            error = fmt::format("{}= is not an unsigned decimal number", key);
            return false;
        }
        return true;
    }

    bool text(std::string_view key, std::string& value, bool required = false) {
        std::optional<std::string_view> raw_value = raw(key);
        value.clear();
        if (!raw_value) {
            if (required) {
                error = fmt::format("missing {}=", key);
                return false;
            }
            return true;
        }
        std::string_view in = *raw_value;
        // Bounded: one pass over at most line_bytes_max bytes.
        for (std::size_t i = 0; i < in.size(); i++) {
            auto byte = static_cast<unsigned char>(in[i]);
            if (byte != '%') {
                if (!plain_byte(byte)) {
                    error = fmt::format("{}= holds a byte that must be percent-encoded", key);
                    return false;
                }
                value += in[i];
            } else {
                unsigned decoded = 0;
                if (in.size() - i < 3) {
                    error = fmt::format("{}= ends inside a %XX escape", key);
                    return false;
                }
                for (std::size_t k = 1; k <= 2; k++) {
                    char c = in[i + k];
                    unsigned digit = 0;
                    if (c >= '0' && c <= '9') {
                        digit = static_cast<unsigned>(c - '0');
                    } else if (c >= 'A' && c <= 'F') {
                        digit = static_cast<unsigned>(c - 'A' + 10);
                    } else {
                        error = fmt::format("{}= has a bad %XX escape (upper-case hex)", key);
                        return false;
                    }
                    decoded = decoded * 16 + digit;
                }
                if (plain_byte(static_cast<unsigned char>(decoded))) {
                    error = fmt::format("{}= escapes a byte that needs no escape", key);
                    return false;
                }
                value += static_cast<char>(decoded);
                i += 2;
            }
            if (value.size() > string_bytes_max) {
                error = fmt::format("{}= is longer than {} bytes", key, string_bytes_max);
                return false;
            }
        }
        return true;
    }

    static std::string printable(std::string_view text) {
        std::string out(text.substr(0, 40));
        for (char& c : out) {
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
                c = '?';
            }
        }
        return out;
    }

private:
    std::vector<std::pair<std::string_view, std::string_view>> fields_;
};

bool read_traffic(Fields& fields, Traffic& traffic) {
    for (const TrafficField& field : traffic_fields) {
        if (!fields.number(field.name, traffic.*field.member)) {
            return false;
        }
    }
    return true;
}

template <typename Map, typename Key>
bool add_row(Map& map, Key key, std::uint64_t count, std::size_t max, std::string& error) {
    if (map.size() == max) {
        error = fmt::format("more than {} rows of this kind", max);
        return false;
    }
    if (!map.emplace(std::move(key), count).second) {
        error = "a row with this key was given before";
        return false;
    }
    return true;
}

// What decode() has seen so far, for the duplicate checks.
struct Seen {
    bool hub = false;
    std::set<std::uint32_t> shard_indexes;
    std::set<std::string> partner_names;
};

bool read_hub(Fields& fields, Snapshot& snapshot, Seen& seen) {
    if (seen.hub) {
        fields.error = "a second hub line";
        return false;
    }
    seen.hub = true;
    return fields.number("taken_unix_ms", snapshot.taken_unix_ms) &&
           fields.number("started_unix_ms", snapshot.started_unix_ms) &&
           fields.number("spool_free_bytes", snapshot.spool_free_bytes) &&
           fields.number("spool_total_bytes", snapshot.spool_total_bytes) &&
           fields.number("spool_reserve_bytes", snapshot.spool_reserve_bytes);
}

bool read_shard(Fields& fields, Snapshot& snapshot, Seen& seen) {
    ShardRow row;
    std::uint64_t index = 0;
    if (!fields.number("index", index, true) || !fields.number("cpu_ns", row.cpu_ns) ||
        !read_traffic(fields, row.traffic)) {
        return false;
    }
    if (index >= shards_max) {
        fields.error = fmt::format("shard index {} is not below {}", index, shards_max);
        return false;
    }
    row.index = static_cast<std::uint32_t>(index);
    if (!seen.shard_indexes.insert(row.index).second) {
        fields.error = fmt::format("shard {} given twice", index);
        return false;
    }
    snapshot.shards.push_back(row);
    return true;
}

bool read_partner(Fields& fields, Snapshot& snapshot, Seen& seen) {
    PartnerRow row;
    if (!fields.text("name", row.name, true) || !read_traffic(fields, row.traffic) ||
        !fields.number("last_inbound_unix_ms", row.last_inbound_unix_ms) ||
        !fields.number("last_outbound_unix_ms", row.last_outbound_unix_ms) ||
        !fields.number("last_outbound_attempt_unix_ms", row.last_outbound_attempt_unix_ms) ||
        !fields.number("last_tls_failure_unix_ms", row.last_tls_failure_unix_ms) ||
        !fields.text("last_tls_failure", row.last_tls_failure) ||
        !fields.number("tls_failures_in", row.tls_failures_in) ||
        !fields.number("tls_failures_out", row.tls_failures_out) ||
        !fields.number("tls_failing_out_since_unix_ms", row.tls_failing_out_since_unix_ms) ||
        !fields.number("last_outbound_tls_unix_ms", row.last_outbound_tls_unix_ms) ||
        !fields.number("last_inbound_refusal_unix_ms", row.last_inbound_refusal_unix_ms) ||
        !fields.text("last_inbound_refusal", row.last_inbound_refusal) ||
        !fields.number("last_outbound_failure_unix_ms", row.last_outbound_failure_unix_ms) ||
        !fields.text("last_outbound_failure", row.last_outbound_failure)) {
        return false;
    }
    if (row.name.empty()) {
        fields.error = "empty partner name";
        return false;
    }
    if (seen.partner_names.size() == partners_max) {
        fields.error = fmt::format("more than {} partners", partners_max);
        return false;
    }
    if (!seen.partner_names.insert(row.name).second) {
        fields.error = "partner '" + Fields::printable(row.name) + "' given twice";
        return false;
    }
    snapshot.partners.push_back(std::move(row));
    return true;
}

bool read_certificate(Fields& fields, Snapshot& snapshot) {
    Certificate certificate;
    if (!fields.text("role", certificate.role, true) ||
        !fields.text("partner", certificate.partner) ||
        !fields.text("subject", certificate.subject) ||
        !fields.number("not_after_unix_s", certificate.not_after_unix_s, true)) {
        return false;
    }
    if (snapshot.certificates.size() == certificates_max) {
        fields.error = fmt::format("more than {} certificates", certificates_max);
        return false;
    }
    snapshot.certificates.push_back(std::move(certificate));
    return true;
}

// The refusal, tls and tls_failure tables: key fields and a count.
bool read_table_row(std::string_view kind, Fields& fields, Snapshot& snapshot) {
    std::uint64_t count = 0;
    if (kind == "refusal") {
        std::string reason;
        return fields.text("reason", reason, true) && fields.number("count", count, true) &&
               add_row(snapshot.refusals, std::move(reason), count, refusal_reasons_max,
                       fields.error);
    }
    if (kind == "tls") {
        TlsKey key;
        return fields.text("direction", key.direction, true) &&
               fields.text("protocol", key.protocol, true) &&
               fields.text("cipher", key.cipher, true) && fields.number("count", count, true) &&
               add_row(snapshot.tls_ok, std::move(key), count, tls_rows_max, fields.error);
    }
    HUB_ASSERT(kind == "tls_failure");
    TlsFailureKey key;
    return fields.text("direction", key.direction, true) &&
           fields.text("reason", key.reason, true) && fields.number("count", count, true) &&
           add_row(snapshot.tls_failed, std::move(key), count, tls_failure_rows_max, fields.error);
}

// Applies one record to snapshot; false with fields.error set when it is wrong.
bool read_record(std::string_view kind, Fields& fields, Snapshot& snapshot, Seen& seen) {
    if (kind == "hub") {
        return read_hub(fields, snapshot, seen);
    }
    if (kind == "shard") {
        return read_shard(fields, snapshot, seen);
    }
    if (kind == "partner") {
        return read_partner(fields, snapshot, seen);
    }
    if (kind == "refusal" || kind == "tls" || kind == "tls_failure") {
        return read_table_row(kind, fields, snapshot);
    }
    if (kind == "certificate") {
        return read_certificate(fields, snapshot);
    }
    return true;  // A kind a newer hubd added: its fields were checked, its meaning skipped.
}

bool valid_kind(std::string_view kind) {
    return !kind.empty() && kind.size() <= 32 && std::all_of(kind.begin(), kind.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || c == '_';
    });
}

}  // namespace

void finish(Snapshot& snapshot) {
    std::sort(snapshot.shards.begin(), snapshot.shards.end(),
              [](const ShardRow& a, const ShardRow& b) { return a.index < b.index; });
    std::sort(snapshot.partners.begin(), snapshot.partners.end(),
              [](const PartnerRow& a, const PartnerRow& b) { return a.name < b.name; });
    std::sort(snapshot.certificates.begin(), snapshot.certificates.end());
    // Exact duplicates go; and for a partner's certificate (two shards may have seen the
    // old and the renewed one) only the latest expiry of a (role, partner, subject) stays.
    // The hub's own and the trust anchors are kept as they are: an old and a new CA with
    // one subject both matter until the old one is gone.
    std::vector<Certificate> kept;
    for (Certificate& certificate : snapshot.certificates) {
        bool partner_role = certificate.role.starts_with("partner");
        if (!kept.empty() && kept.back().role == certificate.role &&
            kept.back().partner == certificate.partner &&
            kept.back().subject == certificate.subject &&
            (partner_role || kept.back().not_after_unix_s == certificate.not_after_unix_s)) {
            kept.back() = std::move(certificate);  // Sorted: this one expires later.
            continue;
        }
        kept.push_back(std::move(certificate));
    }
    snapshot.certificates = std::move(kept);
    snapshot.total = Traffic{};
    for (const ShardRow& shard : snapshot.shards) {
        add_traffic(snapshot.total, shard.traffic);
    }
}

void merge(Snapshot& into, const Snapshot& part) {
    for (const ShardRow& shard : part.shards) {
        auto same = std::find_if(into.shards.begin(), into.shards.end(),
                                 [&](const ShardRow& row) { return row.index == shard.index; });
        if (same == into.shards.end()) {
            into.shards.push_back(shard);
        } else {
            same->cpu_ns += shard.cpu_ns;
            add_traffic(same->traffic, shard.traffic);
        }
    }
    for (const PartnerRow& partner : part.partners) {
        auto same = std::find_if(into.partners.begin(), into.partners.end(),
                                 [&](const PartnerRow& row) { return row.name == partner.name; });
        if (same == into.partners.end()) {
            into.partners.push_back(partner);
        } else {
            merge_partner(*same, partner);
        }
    }
    for (const auto& [reason, count] : part.refusals) {
        into.refusals[reason] += count;
    }
    for (const auto& [key, count] : part.tls_ok) {
        into.tls_ok[key] += count;
    }
    for (const auto& [key, count] : part.tls_failed) {
        into.tls_failed[key] += count;
    }
    into.certificates.insert(into.certificates.end(), part.certificates.begin(),
                             part.certificates.end());
}

std::string encode(const Snapshot& snapshot) {
    std::string out(format_header);
    out += "\nhub";
    put_number(out, "taken_unix_ms", snapshot.taken_unix_ms);
    put_number(out, "started_unix_ms", snapshot.started_unix_ms);
    put_number(out, "spool_free_bytes", snapshot.spool_free_bytes);
    put_number(out, "spool_total_bytes", snapshot.spool_total_bytes);
    put_number(out, "spool_reserve_bytes", snapshot.spool_reserve_bytes);
    out += '\n';
    for (const ShardRow& shard : snapshot.shards) {
        out += "shard";
        put_number(out, "index", shard.index);
        put_number(out, "cpu_ns", shard.cpu_ns);
        put_traffic(out, shard.traffic);
        out += '\n';
    }
    for (const PartnerRow& partner : snapshot.partners) {
        out += "partner";
        put_text(out, "name", partner.name);
        put_traffic(out, partner.traffic);
        put_number(out, "last_inbound_unix_ms", partner.last_inbound_unix_ms);
        put_number(out, "last_outbound_unix_ms", partner.last_outbound_unix_ms);
        put_number(out, "last_outbound_attempt_unix_ms", partner.last_outbound_attempt_unix_ms);
        put_number(out, "last_tls_failure_unix_ms", partner.last_tls_failure_unix_ms);
        put_text(out, "last_tls_failure", partner.last_tls_failure);
        put_number(out, "tls_failures_in", partner.tls_failures_in);
        put_number(out, "tls_failures_out", partner.tls_failures_out);
        put_number(out, "tls_failing_out_since_unix_ms", partner.tls_failing_out_since_unix_ms);
        put_number(out, "last_outbound_tls_unix_ms", partner.last_outbound_tls_unix_ms);
        put_number(out, "last_inbound_refusal_unix_ms", partner.last_inbound_refusal_unix_ms);
        put_text(out, "last_inbound_refusal", partner.last_inbound_refusal);
        put_number(out, "last_outbound_failure_unix_ms", partner.last_outbound_failure_unix_ms);
        put_text(out, "last_outbound_failure", partner.last_outbound_failure);
        out += '\n';
    }
    for (const auto& [reason, count] : snapshot.refusals) {
        out += "refusal";
        put_text(out, "reason", reason);
        put_number(out, "count", count);
        out += '\n';
    }
    for (const auto& [key, count] : snapshot.tls_ok) {
        out += "tls";
        put_text(out, "direction", key.direction);
        put_text(out, "protocol", key.protocol);
        put_text(out, "cipher", key.cipher);
        put_number(out, "count", count);
        out += '\n';
    }
    for (const auto& [key, count] : snapshot.tls_failed) {
        out += "tls_failure";
        put_text(out, "direction", key.direction);
        put_text(out, "reason", key.reason);
        put_number(out, "count", count);
        out += '\n';
    }
    for (const Certificate& certificate : snapshot.certificates) {
        out += "certificate";
        put_text(out, "role", certificate.role);
        put_text(out, "partner", certificate.partner);
        put_text(out, "subject", certificate.subject);
        put_number(out, "not_after_unix_s", certificate.not_after_unix_s);
        out += '\n';
    }
    out += "end\n";
    return out;
}

Result<Snapshot, std::string> decode(std::string_view text) {
    if (text.size() > snapshot_bytes_max) {
        return unexpected(fmt::format("status answer larger than {} bytes", snapshot_bytes_max));
    }
    Snapshot snapshot;
    Seen seen;
    bool ended = false;
    // Bounded: every pass consumes one line of the bounded text.
    for (std::size_t number = 1; !text.empty(); number++) {
        std::size_t newline = text.find('\n');
        if (newline == std::string_view::npos) {
            return unexpected(fmt::format("line {}: no line break (truncated answer?)", number));
        }
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        auto fail = [&](std::string_view what) {
            return unexpected(fmt::format("line {}: {}", number, what));
        };
        if (ended) {
            return fail("text after 'end'");
        }
        if (line.size() > line_bytes_max) {
            return fail(fmt::format("longer than {} bytes", line_bytes_max));
        }
        if (number == 1) {
            if (line != format_header) {
                return fail(fmt::format("expected '{}' (another version of hubd?)", format_header));
            }
            continue;
        }
        if (line == "end") {
            ended = true;
            continue;
        }
        std::size_t space = line.find(' ');
        std::string_view kind = line.substr(0, space);
        if (!valid_kind(kind)) {
            return fail("a record starts with its kind in lower case");
        }
        Fields fields;
        std::string_view rest = space == std::string_view::npos ? "" : line.substr(space);
        if (!fields.parse(rest) || !read_record(kind, fields, snapshot, seen)) {
            return fail(fmt::format("{}: {}", kind, fields.error));
        }
    }
    if (!ended) {
        return unexpected(std::string("no 'end' line (truncated answer?)"));
    }
    if (!seen.hub) {
        return unexpected(std::string("no 'hub' line"));
    }
    finish(snapshot);
    return snapshot;
}

}  // namespace hub::health
