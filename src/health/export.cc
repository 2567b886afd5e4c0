// export.cc -- the snapshot as JSON (hubctl status --json) and as Prometheus text.
//
// PURPOSE   Two read-only views of one snapshot; no counting happens here.
// RUNS IN   hubctl, hub-metrics.
// TRUST     the snapshot was decoded strictly; text fields are still escaped for each
//           format, since partner names and TLS reasons end up in label values.
// LIMITS    output is linear in the snapshot, which health/limits.h bounds.
// SEE ALSO  snapshot.h, docs/HEALTH.md (the metric names)
#include <fmt/format.h>

#include <ctime>

#include "health/snapshot.h"

namespace hub::health {
namespace {

// --- JSON -------------------------------------------------------------------------------

void json_text(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte >= 0x7F) {
            // Bytes beyond ASCII are escaped one by one, so the output stays valid JSON
            // whatever a peer's TLS reason or certificate subject held.
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", byte);
        } else {
            out += c;
        }
    }
    out += '"';
}

void json_key(std::string& out, std::string_view key, bool& first) {
    out += first ? "" : ",";
    first = false;
    json_text(out, key);
    out += ':';
}

void json_number(std::string& out, std::string_view key, std::uint64_t value, bool& first) {
    json_key(out, key, first);
    fmt::format_to(std::back_inserter(out), "{}", value);
}

void json_string(std::string& out, std::string_view key, std::string_view value, bool& first) {
    json_key(out, key, first);
    json_text(out, value);
}

void json_traffic_fields(std::string& out, const Traffic& traffic, bool& first) {
    for (const TrafficField& field : traffic_fields) {
        json_number(out, field.name, traffic.*field.member, first);
    }
}

// --- Prometheus -------------------------------------------------------------------------

}  // namespace

std::string prometheus_label_value(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (byte < 0x20 || byte >= 0x7F) {
            out += '?';
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// Milliseconds (or nanoseconds) as exact decimal seconds, without a float's rounding.
std::string seconds_from_ms(std::uint64_t ms) {
    return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}
std::string seconds_from_ns(std::uint64_t ns) {
    return fmt::format("{}.{:09}", ns / 1000000000, ns % 1000000000);
}

void traffic_families(std::string& out, const Snapshot& snapshot) {
    for (const TrafficField& field : traffic_fields) {
        bool timestamp = field.member == &Traffic::oldest_queued_unix_ms;
        std::string name = fmt::format("hubbox_{}", field.prometheus);
        family(out, name, field.gauge ? "gauge" : "counter",
               fmt::format("{} By shard.", field.help));
        for (const ShardRow& shard : snapshot.shards) {
            std::uint64_t value = shard.traffic.*field.member;
            if (timestamp && value == 0) {
                continue;
            }
            fmt::format_to(std::back_inserter(out), "{}{{shard=\"{}\"}} {}\n", name, shard.index,
                           timestamp ? seconds_from_ms(value) : std::to_string(value));
        }
        name = fmt::format("hubbox_partner_{}", field.prometheus);
        family(out, name, field.gauge ? "gauge" : "counter",
               fmt::format("{} By partner: inbound as sender, outbound and queue as destination.",
                           field.help));
        for (const PartnerRow& partner : snapshot.partners) {
            std::uint64_t value = partner.traffic.*field.member;
            if (timestamp && value == 0) {
                continue;
            }
            fmt::format_to(std::back_inserter(out), "{}{{partner=\"{}\"}} {}\n", name,
                           prometheus_label_value(partner.name),
                           timestamp ? seconds_from_ms(value) : std::to_string(value));
        }
    }
}

struct PartnerTime {
    std::string_view prometheus;
    std::uint64_t PartnerRow::*time;
    std::string PartnerRow::*reason;  // Or nullptr.
    std::string_view help;
};

const PartnerTime partner_times[] = {
    {"hubbox_partner_last_inbound_timestamp_seconds", &PartnerRow::last_inbound_unix_ms, nullptr,
     "When the partner's last message was received."},
    {"hubbox_partner_last_delivery_timestamp_seconds", &PartnerRow::last_outbound_unix_ms, nullptr,
     "When the partner last accepted a delivery."},
    {"hubbox_partner_last_outbound_attempt_timestamp_seconds",
     &PartnerRow::last_outbound_attempt_unix_ms, nullptr,
     "When the hub last tried to connect to the partner."},
    {"hubbox_partner_last_tls_failure_timestamp_seconds", &PartnerRow::last_tls_failure_unix_ms,
     &PartnerRow::last_tls_failure, "When a TLS handshake with the partner last failed, and why."},
    {"hubbox_partner_last_inbound_refusal_timestamp_seconds",
     &PartnerRow::last_inbound_refusal_unix_ms, &PartnerRow::last_inbound_refusal,
     "When the hub last refused something the partner sent, and the reason."},
    {"hubbox_partner_last_outbound_failure_timestamp_seconds",
     &PartnerRow::last_outbound_failure_unix_ms, &PartnerRow::last_outbound_failure,
     "When a connection to the partner last failed, and why."},
};

void partner_time_families(std::string& out, const Snapshot& snapshot) {
    for (const PartnerTime& metric : partner_times) {
        family(out, metric.prometheus, "gauge", metric.help);
        for (const PartnerRow& partner : snapshot.partners) {
            std::uint64_t value = partner.*metric.time;
            if (value == 0) {
                continue;
            }
            std::string labels =
                fmt::format("partner=\"{}\"", prometheus_label_value(partner.name));
            if (metric.reason != nullptr) {
                labels +=
                    fmt::format(",reason=\"{}\"", prometheus_label_value(partner.*metric.reason));
            }
            fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", metric.prometheus, labels,
                           seconds_from_ms(value));
        }
    }
}

// --- Text -------------------------------------------------------------------------------

std::string printable_text(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7F) {
            c = '?';
        }
    }
    return out;
}

std::string utc_text(std::uint64_t unix_s) {
    auto time = static_cast<std::time_t>(unix_s);
    std::tm broken_down{};
    gmtime_r(&time, &broken_down);
    char text[32] = {};
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &broken_down);
    return text;
}

// "-" for never, else how long before taken, e.g. "35s ago", "4h ago".
std::string ago(std::uint64_t taken_ms, std::uint64_t then_ms) {
    if (then_ms == 0) {
        return "-";
    }
    std::uint64_t seconds = taken_ms > then_ms ? (taken_ms - then_ms) / 1000 : 0;
    if (seconds < 120) {
        return fmt::format("{}s ago", seconds);
    }
    if (seconds < 7200) {
        return fmt::format("{}m ago", seconds / 60);
    }
    if (seconds < 172800) {
        return fmt::format("{}h ago", seconds / 3600);
    }
    return fmt::format("{}d ago", seconds / 86400);
}

std::string mib(std::uint64_t bytes) {
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

void text_traffic_row(std::string& out, std::string_view name, const Traffic& t,
                      std::uint64_t taken_ms, std::string_view last_in, std::string_view last_out) {
    fmt::format_to(std::back_inserter(out),
                   "{:<20} {:>9} {:>8} {:>9} {:>8} {:>7} {:>6} {:>10} {:>10} {:>10}\n",
                   printable_text(name).substr(0, 20), t.messages_received, t.messages_rejected,
                   t.messages_delivered, t.messages_deferred, t.messages_bounced, t.queue_messages,
                   ago(taken_ms, t.oldest_queued_unix_ms), last_in, last_out);
}

void json_partner(std::string& out, const PartnerRow& partner) {
    out += '{';
    bool inner = true;
    json_string(out, "name", partner.name, inner);
    json_traffic_fields(out, partner.traffic, inner);
    json_number(out, "last_inbound_unix_ms", partner.last_inbound_unix_ms, inner);
    json_number(out, "last_outbound_unix_ms", partner.last_outbound_unix_ms, inner);
    json_number(out, "last_outbound_attempt_unix_ms", partner.last_outbound_attempt_unix_ms, inner);
    json_number(out, "last_tls_failure_unix_ms", partner.last_tls_failure_unix_ms, inner);
    json_string(out, "last_tls_failure", partner.last_tls_failure, inner);
    json_number(out, "tls_failures_in", partner.tls_failures_in, inner);
    json_number(out, "tls_failures_out", partner.tls_failures_out, inner);
    json_number(out, "tls_failing_out_since_unix_ms", partner.tls_failing_out_since_unix_ms, inner);
    json_number(out, "last_outbound_tls_unix_ms", partner.last_outbound_tls_unix_ms, inner);
    json_number(out, "last_inbound_refusal_unix_ms", partner.last_inbound_refusal_unix_ms, inner);
    json_string(out, "last_inbound_refusal", partner.last_inbound_refusal, inner);
    json_number(out, "last_outbound_failure_unix_ms", partner.last_outbound_failure_unix_ms, inner);
    json_string(out, "last_outbound_failure", partner.last_outbound_failure, inner);
    out += '}';
}

// refusals, tls, tls_failures and certificates.
void json_tables(std::string& out, const Snapshot& snapshot, bool& first) {
    bool inner = true;
    json_key(out, "refusals", first);
    out += '{';
    for (const auto& [reason, count] : snapshot.refusals) {
        json_number(out, reason, count, inner);
    }
    out += '}';
    json_key(out, "tls", first);
    out += '[';
    bool row_first = true;
    for (const auto& [key, count] : snapshot.tls_ok) {
        out += row_first ? "{" : ",{";
        row_first = false;
        inner = true;
        json_string(out, "direction", key.direction, inner);
        json_string(out, "protocol", key.protocol, inner);
        json_string(out, "cipher", key.cipher, inner);
        json_number(out, "count", count, inner);
        out += '}';
    }
    out += ']';
    json_key(out, "tls_failures", first);
    out += '[';
    row_first = true;
    for (const auto& [key, count] : snapshot.tls_failed) {
        out += row_first ? "{" : ",{";
        row_first = false;
        inner = true;
        json_string(out, "direction", key.direction, inner);
        json_string(out, "reason", key.reason, inner);
        json_number(out, "count", count, inner);
        out += '}';
    }
    out += ']';
    json_key(out, "certificates", first);
    out += '[';
    row_first = true;
    for (const Certificate& certificate : snapshot.certificates) {
        out += row_first ? "{" : ",{";
        row_first = false;
        inner = true;
        json_string(out, "role", certificate.role, inner);
        json_string(out, "partner", certificate.partner, inner);
        json_string(out, "subject", certificate.subject, inner);
        json_number(out, "not_after_unix_s", certificate.not_after_unix_s, inner);
        out += '}';
    }
    out += ']';
}

// Each partner's last TLS and delivery failure, one line each.
void text_last_failures(std::string& out, const Snapshot& s) {
    for (const PartnerRow& p : s.partners) {
        if (p.tls_failing_out_since_unix_ms != 0) {
            fmt::format_to(std::back_inserter(out), "{}: outbound TLS failing since {}\n",
                           printable_text(p.name),
                           ago(s.taken_unix_ms, p.tls_failing_out_since_unix_ms));
        }
        if (p.last_tls_failure_unix_ms != 0) {
            fmt::format_to(std::back_inserter(out), "{}: last TLS failure {}: {}\n",
                           printable_text(p.name), ago(s.taken_unix_ms, p.last_tls_failure_unix_ms),
                           printable_text(p.last_tls_failure));
        }
        if (p.last_outbound_failure_unix_ms != 0) {
            fmt::format_to(std::back_inserter(out), "{}: last delivery failure {}: {}\n",
                           printable_text(p.name),
                           ago(s.taken_unix_ms, p.last_outbound_failure_unix_ms),
                           printable_text(p.last_outbound_failure));
        }
    }
}

}  // namespace

std::string to_text(const Snapshot& s) {
    std::string out;
    std::uint64_t up_s =
        s.taken_unix_ms > s.started_unix_ms ? (s.taken_unix_ms - s.started_unix_ms) / 1000 : 0;
    fmt::format_to(
        std::back_inserter(out),
        "hubd up {}d {:02}:{:02}:{:02} (since {} UTC), {} shards; counters since start\n",
        up_s / 86400, up_s / 3600 % 24, up_s / 60 % 60, up_s % 60,
        utc_text(s.started_unix_ms / 1000), s.shards.size());
    fmt::format_to(
        std::back_inserter(out), "spool: {} free of {}, reserve {}{}\n", mib(s.spool_free_bytes),
        mib(s.spool_total_bytes), mib(s.spool_reserve_bytes),
        s.spool_free_bytes < s.spool_reserve_bytes ? " -- BELOW RESERVE: new mail gets 452" : "");
    const Traffic& t = s.total;
    fmt::format_to(std::back_inserter(out),
                   "connections: inbound {} open, {} total, {} refused; outbound {} open, {} "
                   "total, {} failed\n",
                   t.inbound_open, t.inbound_total, t.inbound_refused, t.outbound_open,
                   t.outbound_total, t.outbound_failed);
    fmt::format_to(std::back_inserter(out),
                   "recipients: {} received, {} delivered, {} deferred, {} bounced; bytes: {} in, "
                   "{} out\n\n",
                   t.recipients_received, t.recipients_delivered, t.recipients_deferred,
                   t.recipients_bounced, t.bytes_received, t.bytes_delivered);
    fmt::format_to(std::back_inserter(out),
                   "{:<20} {:>9} {:>8} {:>9} {:>8} {:>7} {:>6} {:>10} {:>10} {:>10}\n", "partner",
                   "received", "rejected", "delivered", "deferred", "bounced", "queued", "oldest",
                   "last in", "last out");
    text_traffic_row(out, "(all)", t, s.taken_unix_ms, "", "");
    for (const PartnerRow& p : s.partners) {
        text_traffic_row(out, p.name, p.traffic, s.taken_unix_ms,
                         ago(s.taken_unix_ms, p.last_inbound_unix_ms),
                         ago(s.taken_unix_ms, p.last_outbound_unix_ms));
    }
    text_last_failures(out, s);
    out += "\nrefusals:";
    for (const auto& [reason, count] : s.refusals) {
        fmt::format_to(std::back_inserter(out), " {} {};", printable_text(reason), count);
    }
    out += s.refusals.empty() ? " none\n" : "\n";
    out += "TLS:";
    for (const auto& [key, count] : s.tls_ok) {
        fmt::format_to(std::back_inserter(out), " {} {} {} {};", key.direction,
                       printable_text(key.protocol), printable_text(key.cipher), count);
    }
    out += s.tls_ok.empty() ? " none\n" : "\n";
    out += "TLS failures:";
    for (const auto& [key, count] : s.tls_failed) {
        fmt::format_to(std::back_inserter(out), " {} \"{}\" {};", key.direction,
                       printable_text(key.reason), count);
    }
    out += s.tls_failed.empty() ? " none\n" : "\n";
    for (const Certificate& c : s.certificates) {
        std::int64_t left_s = static_cast<std::int64_t>(c.not_after_unix_s) -
                              static_cast<std::int64_t>(s.taken_unix_ms / 1000);
        fmt::format_to(std::back_inserter(out), "certificate {}{}{} {}: expires {} UTC ({})\n",
                       c.role, c.partner.empty() ? "" : " of ", printable_text(c.partner),
                       printable_text(c.subject), utc_text(c.not_after_unix_s),
                       left_s < 0 ? "EXPIRED" : fmt::format("{} days left", left_s / 86400));
    }
    for (const ShardRow& shard : s.shards) {
        fmt::format_to(std::back_inserter(out),
                       "shard {}: cpu {}.{:03}s, inbound {} open, outbound {} open, {} queued\n",
                       shard.index, shard.cpu_ns / 1000000000, shard.cpu_ns / 1000000 % 1000,
                       shard.traffic.inbound_open, shard.traffic.outbound_open,
                       shard.traffic.queue_messages);
    }
    return out;
}

std::string to_json(const Snapshot& snapshot) {
    std::string out = "{";
    bool first = true;
    json_number(out, "taken_unix_ms", snapshot.taken_unix_ms, first);
    json_number(out, "started_unix_ms", snapshot.started_unix_ms, first);
    json_number(out, "spool_free_bytes", snapshot.spool_free_bytes, first);
    json_number(out, "spool_total_bytes", snapshot.spool_total_bytes, first);
    json_number(out, "spool_reserve_bytes", snapshot.spool_reserve_bytes, first);
    json_key(out, "total", first);
    out += '{';
    bool inner = true;
    json_traffic_fields(out, snapshot.total, inner);
    out += "}";
    json_key(out, "shards", first);
    out += '[';
    for (std::size_t i = 0; i < snapshot.shards.size(); i++) {
        const ShardRow& shard = snapshot.shards[i];
        out += i == 0 ? "{" : ",{";
        inner = true;
        json_number(out, "index", shard.index, inner);
        json_number(out, "cpu_ns", shard.cpu_ns, inner);
        json_traffic_fields(out, shard.traffic, inner);
        out += '}';
    }
    out += ']';
    json_key(out, "partners", first);
    out += '[';
    for (std::size_t i = 0; i < snapshot.partners.size(); i++) {
        out += i == 0 ? "" : ",";
        json_partner(out, snapshot.partners[i]);
    }
    out += ']';
    json_tables(out, snapshot, first);
    out += "}\n";
    return out;
}

std::string to_prometheus(const Snapshot& snapshot) {
    std::string out;
    family(out, "hubbox_start_time_seconds", "gauge",
           "When hubd started; every counter counts from then.");
    fmt::format_to(std::back_inserter(out), "hubbox_start_time_seconds {}\n",
                   seconds_from_ms(snapshot.started_unix_ms));
    family(out, "hubbox_spool_free_bytes", "gauge", "Free space on the spool's file system.");
    fmt::format_to(std::back_inserter(out), "hubbox_spool_free_bytes {}\n",
                   snapshot.spool_free_bytes);
    family(out, "hubbox_spool_size_bytes", "gauge", "Size of the spool's file system.");
    fmt::format_to(std::back_inserter(out), "hubbox_spool_size_bytes {}\n",
                   snapshot.spool_total_bytes);
    family(out, "hubbox_spool_reserve_bytes", "gauge",
           "Free space below which new mail is refused with 452.");
    fmt::format_to(std::back_inserter(out), "hubbox_spool_reserve_bytes {}\n",
                   snapshot.spool_reserve_bytes);
    family(out, "hubbox_shard_cpu_seconds_total", "counter", "CPU time of each shard thread.");
    for (const ShardRow& shard : snapshot.shards) {
        fmt::format_to(std::back_inserter(out),
                       "hubbox_shard_cpu_seconds_total{{shard=\"{}\"}} {}\n", shard.index,
                       seconds_from_ns(shard.cpu_ns));
    }
    traffic_families(out, snapshot);
    partner_time_families(out, snapshot);
    family(out, "hubbox_partner_tls_failures_total", "counter",
           "TLS failures with the partner: failed handshakes, and servers that offered no "
           "STARTTLS.");
    for (const PartnerRow& partner : snapshot.partners) {
        for (bool outbound : {false, true}) {
            fmt::format_to(std::back_inserter(out),
                           "hubbox_partner_tls_failures_total{{partner=\"{}\",direction=\"{}\"}} "
                           "{}\n",
                           prometheus_label_value(partner.name), outbound ? "out" : "in",
                           outbound ? partner.tls_failures_out : partner.tls_failures_in);
        }
    }
    family(out, "hubbox_refusals_total", "counter",
           "Refusals by reason (the reason= of the reject: log lines).");
    for (const auto& [reason, count] : snapshot.refusals) {
        fmt::format_to(std::back_inserter(out), "hubbox_refusals_total{{reason=\"{}\"}} {}\n",
                       prometheus_label_value(reason), count);
    }
    family(out, "hubbox_tls_handshakes_total", "counter",
           "Completed TLS handshakes by direction, protocol and cipher.");
    for (const auto& [key, count] : snapshot.tls_ok) {
        fmt::format_to(
            std::back_inserter(out),
            "hubbox_tls_handshakes_total{{direction=\"{}\",protocol=\"{}\",cipher=\"{}\"}} "
            "{}\n",
            prometheus_label_value(key.direction), prometheus_label_value(key.protocol),
            prometheus_label_value(key.cipher), count);
    }
    family(out, "hubbox_tls_handshake_failures_total", "counter",
           "Failed TLS handshakes by direction and reason.");
    for (const auto& [key, count] : snapshot.tls_failed) {
        fmt::format_to(std::back_inserter(out),
                       "hubbox_tls_handshake_failures_total{{direction=\"{}\",reason=\"{}\"}} {}\n",
                       prometheus_label_value(key.direction), prometheus_label_value(key.reason),
                       count);
    }
    family(out, "hubbox_certificate_expiry_timestamp_seconds", "gauge",
           "When a certificate the hub uses or checks expires (notAfter).");
    const Certificate* previous = nullptr;
    for (const Certificate& certificate : snapshot.certificates) {
        // Sorted, so the same label set comes together with the earliest expiry first,
        // which is the one to warn about; one series per label set.
        if (previous != nullptr && previous->role == certificate.role &&
            previous->partner == certificate.partner && previous->subject == certificate.subject) {
            continue;
        }
        previous = &certificate;
        fmt::format_to(std::back_inserter(out),
                       "hubbox_certificate_expiry_timestamp_seconds{{role=\"{}\",partner=\"{}\","
                       "subject=\"{}\"}} {}\n",
                       prometheus_label_value(certificate.role),
                       prometheus_label_value(certificate.partner),
                       prometheus_label_value(certificate.subject), certificate.not_after_unix_s);
    }
    return out;
}

}  // namespace hub::health
