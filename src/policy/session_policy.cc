// session_policy.cc -- partner identity and sender binding for one inbound session.
//
// PURPOSE   Decide, before any recipient is accepted, whether a session may send: the
//           partner it speaks for (source address and client certificate CN), whether that
//           partner's certificate requirement is met, and whether the envelope sender is at
//           one of that partner's domains. See session_policy.h for the rules.
// RUNS IN   every shard: start() at accept, set_certificate() after the handshake,
//           check_sender() per MAIL FROM. Reads the shared partner table, never writes it.
// TRUST     Peer-controlled: the source address, the certificate's CN (only trusted when
//           the chain verified) and the MAIL FROM address (validated here before use;
//           nothing a peer sends trips an assertion).
// LIMITS    No allocation per call; domains are folded into a stack buffer of
//           config::domain_bytes_max. extra_sender_domains is bounded by the loader.
// SEE ALSO  policy/partners.h (the table), engine/connection_flow.cc (the adapter that
//           answers and logs), smtp/server_session.h (ServerPolicy::check_sender).
#include "policy/session_policy.h"

#include <array>

#include "base/assert.h"
#include "config/limits.h"
#include "config/syntax.h"

namespace hub::policy {

std::string_view reason_token(SessionVerdict verdict) {
    switch (verdict) {
        case SessionVerdict::accept:
            return "accept";
        case SessionVerdict::no_client_certificate:
            return "no_client_certificate";
        case SessionVerdict::certificate_chain:
            return "certificate_chain";
        case SessionVerdict::cn_mismatch:
            return "cn_mismatch";
        case SessionVerdict::sender_not_partner:
            return "sender_not_partner";
        case SessionVerdict::tls_required:
            return "tls_required";
        case SessionVerdict::cipher_too_weak:
            return "cipher_too_weak";
        case SessionVerdict::subject_mismatch:
            return "subject_mismatch";
        case SessionVerdict::issuer_mismatch:
            return "issuer_mismatch";
    }
    HUB_PANIC("unknown session verdict");
}

bool partner_allows_source(const Partner& partner, const sockaddr_storage& address) {
    for (const Cidr& network : partner.inbound) {
        if (cidr_contains(network, address)) {
            return true;
        }
    }
    return false;
}

const Partner* SessionPolicy::start(const sockaddr_storage& source) {
    source_ = source;
    source_partner_ = table_.match_source(source);
    certificate_ = ClientCertificate{};
    HUB_ASSERT(source_partner_ == nullptr || partner_allows_source(*source_partner_, source));
    return source_partner_;
}

void SessionPolicy::clear() {
    source_ = sockaddr_storage{};
    source_partner_ = nullptr;
    certificate_ = ClientCertificate{};
}

SessionPolicy::Identity SessionPolicy::identify() const {
    if (source_partner_ == nullptr) {
        return Identity{};  // Refused at the greeting; nothing to identify.
    }
    Identity identity = identify_by_certificate();
    HUB_ASSERT(identity.partner != nullptr);
    return identity;
}

namespace {

SessionVerdict session_verdict_of(InboundTlsVerdict verdict) {
    switch (verdict) {
        case InboundTlsVerdict::accept:
            return SessionVerdict::accept;
        case InboundTlsVerdict::tls_required:
            return SessionVerdict::tls_required;
        case InboundTlsVerdict::cipher_too_weak:
            return SessionVerdict::cipher_too_weak;
        case InboundTlsVerdict::no_client_certificate:
            return SessionVerdict::no_client_certificate;
        case InboundTlsVerdict::certificate_chain:
            return SessionVerdict::certificate_chain;
        case InboundTlsVerdict::cn_mismatch:
            return SessionVerdict::cn_mismatch;
        case InboundTlsVerdict::subject_mismatch:
            return SessionVerdict::subject_mismatch;
        case InboundTlsVerdict::issuer_mismatch:
            return SessionVerdict::issuer_mismatch;
    }
    HUB_PANIC("unknown inbound TLS verdict");
}

InboundTlsFacts::Certificate facts_certificate(CertificateVerdict verdict) {
    switch (verdict) {
        case CertificateVerdict::none:
            return InboundTlsFacts::Certificate::none;
        case CertificateVerdict::verified:
            return InboundTlsFacts::Certificate::verified;
        case CertificateVerdict::failed:
            return InboundTlsFacts::Certificate::failed;
    }
    HUB_PANIC("unknown certificate verdict");
}

}  // namespace

SessionPolicy::Identity SessionPolicy::identify_by_certificate() const {
    const Partner& source = *source_partner_;
    // An untrusted certificate's CN proves nothing, so only a verified one names a partner;
    // it must be a partner allowed at this source address.
    const Partner* by_cn = nullptr;
    if (certificate_.verdict == CertificateVerdict::verified) {
        by_cn = table_.match_client_cn(certificate_.cn);
        if (by_cn != nullptr && !partner_allows_source(*by_cn, source_)) {
            by_cn = nullptr;
        }
    }
    const Partner& partner = by_cn != nullptr ? *by_cn : source;
    Identity identity{&partner, SessionVerdict::accept, {}};
    const InboundTlsPolicy& policy = inbound_tls_for(partner, source_, identity.tls_policy);
    InboundTlsFacts facts{
        certificate_.tls, certificate_.cipher_bits, facts_certificate(certificate_.verdict),
        certificate_.cn,  certificate_.subject_dn,  certificate_.issuer_dn};
    identity.verdict = session_verdict_of(
        judge_inbound_tls(policy, facts, partner.require_client_certificate, partner.client_cn));
    // A trusted certificate that names someone else (or nobody) is a mismatch even where
    // none is required, unless the partner does not identify by certificate at all (no
    // client_cn) or its policy takes any CN.
    bool names_someone_else = certificate_.verdict == CertificateVerdict::verified &&
                              by_cn == nullptr && policy.cn_rule == CnRule::partner &&
                              (source.require_client_certificate || !source.client_cn.empty());
    if (identity.verdict == SessionVerdict::accept && names_someone_else) {
        identity.verdict = SessionVerdict::cn_mismatch;
    }
    return identity;
}

SessionVerdict SessionPolicy::check_sender(std::string_view address, Identity& identity) const {
    identity = identify();
    if (identity.partner == nullptr) {
        // The engine refuses strangers at the greeting; a session that got here anyway
        // speaks for nobody, and nobody's domains are its to use.
        return SessionVerdict::sender_not_partner;
    }
    if (identity.verdict != SessionVerdict::accept) {
        return identity.verdict;
    }
    if (address.empty()) {
        return SessionVerdict::accept;  // RFC 5321 4.5.5: the null sender, for reports.
    }
    std::size_t at = address.rfind('@');
    if (at == std::string_view::npos) {
        return SessionVerdict::sender_not_partner;
    }
    return sender_domain_allowed(*identity.partner, address.substr(at + 1))
               ? SessionVerdict::accept
               : SessionVerdict::sender_not_partner;
}

bool SessionPolicy::sender_domain_allowed(const Partner& partner, std::string_view domain) const {
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);  // The absolute form of the same name.
    }
    if (domain.size() > config::domain_bytes_max || !config::is_valid_domain(domain)) {
        return false;  // Domain literals ("[192.0.2.1]") and junk belong to nobody.
    }
    std::array<char, config::domain_bytes_max> lower_bytes{};
    for (std::size_t i = 0; i < domain.size(); i++) {
        char c = domain[i];
        lower_bytes[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view lower(lower_bytes.data(), domain.size());
    if (table_.find_domain_owner(lower) == &partner) {
        return true;
    }
    for (const std::string& extra : partner.extra_sender_domains) {
        if (lower == extra) {
            return true;
        }
        if (partner.subdomains && lower.size() > extra.size() + 1 && lower.ends_with(extra) &&
            lower[lower.size() - extra.size() - 1] == '.') {
            return true;
        }
    }
    return false;
}

}  // namespace hub::policy
