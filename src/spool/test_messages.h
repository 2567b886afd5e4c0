// test_messages.h -- sample messages for the spool tests (test code only).
#pragma once

#include <string>

#include "spool/spool_format.h"

namespace hub::spool::testing {

// A message with every field set to something distinctive, derived from n.
inline MessageMeta sample_meta(QueueId id, int n = 0) {
    MessageMeta meta;
    meta.id = id;
    meta.arrival_unix_s = 1700000000u + static_cast<unsigned>(n);
    meta.client_address = n % 2 == 0 ? "192.0.2.17" : "2001:db8::25";
    meta.partner = "partner1.gov.uk";
    meta.envelope.helo = "mail.partner1.gov.uk";
    meta.envelope.esmtp = true;
    meta.envelope.mail_from = "alice" + std::to_string(n) + "@partner1.gov.uk";
    meta.envelope.declared_bytes = 4096u + static_cast<unsigned>(n);
    meta.envelope.body_type = smtp::BodyType::eight_bit_mime;
    meta.envelope.dsn_ret = smtp::DsnRet::headers;
    meta.envelope.dsn_envid = "envid-" + std::to_string(n);
    meta.envelope.recipients.push_back(smtp::Recipient{
        "bob@partner2.gov.uk.lgolhub.net",
        static_cast<std::uint8_t>(smtp::dsn_notify_success | smtp::dsn_notify_failure),
        "rfc822;bob@partner2.gov.uk"});
    meta.envelope.recipients.push_back(
        smtp::Recipient{"carol@partner2.gov.uk.lgolhub.net", smtp::dsn_notify_never, ""});
    meta.tls.version = "TLSv1.3";
    meta.tls.cipher = "TLS_AES_256_GCM_SHA384";
    meta.tls.bits = 256;
    meta.tls.client_cert_verdict = "verified";
    meta.tls.client_subject = "CN=partner1.gov.uk,O=Partner One";
    meta.tls.client_issuer = "CN=Hubbox dev CA";
    meta.tls.client_cn = "partner1.gov.uk";
    return meta;
}

inline std::string sample_received(int n = 0) {
    return "Received: from mail.partner1.gov.uk ([192.0.2.17])\r\n\tby hub.lgolhub.net with "
           "ESMTPS id " +
           std::to_string(n) + "\r\n";
}

inline std::string sample_body(int n = 0) {
    return "From: alice@partner1.gov.uk\r\nMessage-ID: <m" + std::to_string(n) +
           "@partner1.gov.uk>\r\nSubject: test\r\n\r\nHello " + std::to_string(n) + "\r\n";
}

}  // namespace hub::spool::testing
