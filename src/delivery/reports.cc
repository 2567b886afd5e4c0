// reports.cc -- DSNs and ping replies from a read-back original (see reports.h).
#include "delivery/reports.h"

#include <fmt/format.h>

#include "delivery/wording.h"
#include "dsn/dsn.h"
#include "dsn/headers.h"
#include "dsn/ping.h"

namespace hub::delivery {
namespace {

std::string_view header_section(std::string_view content) {
    std::size_t end = content.find("\r\n\r\n");
    return end == std::string_view::npos ? content : content.substr(0, end + 2);
}

std::optional<GeneratedReport> build_ping(const ReportRequest& request) {
    const spool::MessageMeta& original = *request.original;
    const smtp::Envelope& envelope = original.envelope;
    if (request.recipients.empty() ||
        !dsn::auto_reply_wanted(envelope.mail_from, header_section(request.content))) {
        return std::nullopt;
    }
    std::string id_text = request.id.to_string();
    dsn::PingFacts facts;
    facts.hostname = request.hostname;
    facts.ping_address = envelope.recipients[request.recipients[0].recipient_index].address;
    facts.sender = envelope.mail_from;
    facts.partner = original.partner;
    facts.client_address = original.client_address;
    facts.helo = envelope.helo;
    facts.tls = original.tls.version.empty() ? nullptr : &original.tls;
    facts.queue_id = id_text;
    facts.received_unix_s = static_cast<std::int64_t>(original.arrival_unix_s);
    facts.now_unix_s = request.now_unix_s;
    facts.original_message_id = dsn::header_value(request.content, "Message-ID").value_or("");
    facts.original_subject = dsn::header_value(request.content, "Subject").value_or("");
    return GeneratedReport{dsn::build_ping_reply(facts), envelope.mail_from,
                           fmt::format("ping from <{}> answered", envelope.mail_from)};
}

std::optional<GeneratedReport> build_notification(const ReportRequest& request) {
    const spool::MessageMeta& original = *request.original;
    const smtp::Envelope& envelope = original.envelope;
    dsn::Kind kind = request.kind == ReportKind::delay ? dsn::Kind::delay : dsn::Kind::failure;
    std::string id_text = request.id.to_string();
    std::string from = fmt::format("MAILER-DAEMON@{}", request.hostname);
    dsn::DsnRequest dsn_request;
    dsn_request.kind = kind;
    dsn_request.hostname = request.hostname;
    dsn_request.from_address = from;
    dsn_request.envelope = &envelope;
    dsn_request.queue_id = id_text;
    dsn_request.arrival_unix_s = static_cast<std::int64_t>(original.arrival_unix_s);
    dsn_request.now_unix_s = request.now_unix_s;
    dsn_request.original_headers = header_section(request.content);
    dsn_request.original_message = request.content;
    bool null_sender = envelope.mail_from.empty();
    for (const queue::RecipientNote& note : request.recipients) {
        const smtp::Recipient& recipient = envelope.recipients[note.recipient_index];
        if (!dsn::dsn_wanted(recipient, kind, null_sender)) {
            continue;
        }
        dsn::RecipientReport line = dsn::recipient_report(
            recipient, kind == dsn::Kind::delay ? dsn::Action::delayed : dsn::Action::failed);
        describe_failure(note.last_error, line);
        if (line.remote_address.empty() && note.recipient_index < request.connectors.size()) {
            // Administrators read the bottom of a report for the server that failed:
            // name the partner's connector even when it never answered.
            line.remote_address = request.connectors[note.recipient_index];
        }
        if (line.status.empty()) {
            line.status = kind == dsn::Kind::delay ? "4.4.1" : "5.4.7";
        }
        line.last_attempt_unix_s = request.now_unix_s;
        dsn_request.recipients.push_back(std::move(line));
    }
    if (dsn_request.recipients.empty()) {
        return std::nullopt;
    }
    return GeneratedReport{
        dsn::build_dsn(dsn_request), envelope.mail_from,
        fmt::format("sender non-delivery notification ({}) to <{}>",
                    kind == dsn::Kind::delay ? "delay" : "failure", envelope.mail_from)};
}

}  // namespace

std::optional<GeneratedReport> build_report(const ReportRequest& request) {
    if (request.original == nullptr) {
        return std::nullopt;
    }
    return request.kind == ReportKind::ping ? build_ping(request) : build_notification(request);
}

spool::MessageMeta report_meta(std::string_view content, std::string recipient,
                               std::string_view hostname, std::uint64_t now_ms) {
    spool::MessageMeta meta;
    meta.arrival_unix_s = now_ms / 1000;
    meta.client_address = "localhost";
    meta.envelope.helo = std::string(hostname);
    meta.envelope.esmtp = true;
    meta.envelope.body_type =
        dsn::has_8bit(content) ? smtp::BodyType::eight_bit_mime : smtp::BodyType::seven_bit;
    smtp::Recipient to;
    to.address = std::move(recipient);
    to.notify = smtp::dsn_notify_never;  // A report about a report helps nobody.
    meta.envelope.recipients.push_back(std::move(to));
    return meta;
}

}  // namespace hub::delivery
