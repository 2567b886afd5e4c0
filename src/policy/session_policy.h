// session_policy.h -- who an inbound session speaks for, and whether it may send.
//
// Sans-I/O: the engine tells the policy the source address at accept and the client
// certificate after the TLS handshake; at MAIL FROM it asks check_sender() and turns the
// typed verdict into a reply and a log line. The decision is made before any recipient is
// accepted, so a refused session never gets a message into the spool.
//
// Identity (the partner the session speaks for):
//   - the source address picks a partner by its inbound networks (PartnerTable::
//     match_source); a stranger was refused at the greeting and never gets here;
//   - a verified certificate whose CN is the client_cn of a partner whose inbound networks
//     also hold the source address names that partner, which need not be the source's
//     choice (two partners may share a network, such as loopback in development);
//   - a verified certificate whose CN names no partner allowed at this source address is
//     a CN mismatch, unless the source's partner neither requires a certificate nor has a
//     client_cn (then the certificate says nothing about it and is ignored);
//   - no certificate, or one that does not chain to tls.client_ca, is refused when the
//     source's partner has require_client_certificate (the default) and ignored otherwise.
// TLS endpoint policy: the identified partner's (for the session's source address,
// inbound_tls_for) decides whether a certificate is required at all (together with the
// partner's own require_client_certificate), which CN it must carry (the partner's
// client_cn, a fixed value, or any), its subject and issuer DNs and the minimum cipher
// strength (judge_inbound_tls).
// Sender binding: the envelope sender must be the null sender or at a domain the identified
// partner owns (PartnerTable::find_domain_owner, so subdomains only with subdomains = true
// and the most specific owner wins), or at one of its extra_sender_domains (and their
// subdomains when subdomains = true). Domains compare without regard to ASCII case.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "policy/partners.h"

namespace hub::policy {

// The TLS layer's verdict on the client certificate.
enum class CertificateVerdict {
    none,      // No TLS, or no certificate presented.
    verified,  // Chains to tls.client_ca.
    failed,    // Presented, but does not chain (another CA, expired, self-signed...).
};

// What the TLS layer saw of the session: the client certificate and the cipher strength.
struct ClientCertificate {
    CertificateVerdict verdict = CertificateVerdict::none;
    std::string cn;           // Subject CN when presented.
    std::string chain_error;  // Why it failed to verify (wolfSSL's text); empty otherwise.
    std::string subject_dn;   // One-line DNs, when presented.
    std::string issuer_dn;
    bool tls = false;  // The handshake completed (set_certificate is called after it).
    int cipher_bits = 0;
};

// What the policy says of a session at MAIL FROM. The enumerator names match the log's
// reason tokens (smtp::RefusalReason, which the session reports each refusal under).
enum class SessionVerdict {
    accept,
    no_client_certificate,  // The partner requires a certificate; none was presented.
    certificate_chain,      // One was presented, but it does not chain to tls.client_ca.
    cn_mismatch,            // Verified, but its CN names no partner allowed at this source.
    sender_not_partner,     // MAIL FROM is not at a domain of the identified partner.
    // The partner's TLS endpoint policy (tls_policy.h), after its identity:
    tls_required,      // No TLS, and the policy requires it.
    cipher_too_weak,   // Fewer key bits than the policy's minimum.
    subject_mismatch,  // The certificate's subject DN is not the policy's.
    issuer_mismatch,   // The certificate's issuer DN is not the policy's.
};

// "no_client_certificate", "certificate_chain", "cn_mismatch", "sender_not_partner";
// "accept" for accept.
std::string_view reason_token(SessionVerdict verdict);

class SessionPolicy {
public:
    // table must outlive the policy (it is the shard's read-only partner table).
    explicit SessionPolicy(const PartnerTable& table) : table_(table) {}

    // A new connection from source; forgets the previous certificate. Returns the partner
    // the source address alone picks (nullptr: refuse at the greeting).
    const Partner* start(const sockaddr_storage& source);
    // Before a new connection: nothing known.
    void clear();
    // After the TLS handshake (STARTTLS or implicit TLS).
    void set_certificate(ClientCertificate certificate) { certificate_ = std::move(certificate); }

    // The partner the session speaks for, and the verdict on the TLS session alone
    // (accept, or a certificate or TLS policy verdict). When the verdict is not accept,
    // partner is the partner whose policy refused: the one the source address chose, or
    // the one a verified certificate's CN named. partner is nullptr only before start() or
    // for a source no partner holds. tls_policy names the TLS endpoint policy applied.
    struct Identity {
        const Partner* partner = nullptr;
        SessionVerdict verdict = SessionVerdict::accept;
        std::string_view tls_policy;
    };
    Identity identify() const;

    // MAIL FROM (address without <>, empty for the null sender): the identity verdict,
    // then the sender binding. identity receives what identify() returned.
    SessionVerdict check_sender(std::string_view address, Identity& identity) const;

    // True if address (the envelope sender's domain) may be used by partner: owned by it
    // (see the file comment) or one of its extra_sender_domains. Case-insensitive; one
    // trailing dot is ignored; domain literals and invalid names never match.
    bool sender_domain_allowed(const Partner& partner, std::string_view domain) const;

    const Partner* source_partner() const { return source_partner_; }
    const ClientCertificate& certificate() const { return certificate_; }

private:
    Identity identify_by_certificate() const;

    const PartnerTable& table_;
    sockaddr_storage source_{};
    const Partner* source_partner_ = nullptr;
    ClientCertificate certificate_;
};

// True if one of partner's inbound networks holds address.
bool partner_allows_source(const Partner& partner, const sockaddr_storage& address);

}  // namespace hub::policy
