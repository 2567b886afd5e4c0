// tls_policy.h -- TLS endpoint policies: what the hub demands of a partner's TLS, inbound
// (the hub as server) and outbound (the hub as client), and the inbound verdict.
//
// A policy is named and stored in the directory (docs/DIRECTORY.md, "TLS endpoints"); the
// directory resolves, per partner, which policy applies (the most specific assignment:
// the client's source network, then a domain of the partner, then the partner, then the
// policy named "default") and hands the resolved values to the engine inside the
// immutable partner table, so a reload applies a changed policy to new sessions only.
//
// Sans-I/O: judge_inbound_tls() takes what the TLS layer saw of a session (cipher
// strength, the client certificate's verdict, CN, subject and issuer) and the partner's
// policy and returns a typed verdict; the engine turns it into the SMTP reply.
//
// The default values are the shipped default: mandatory TLS both ways, a client
// certificate requested and required (chaining to the hub CA, CN = the partner's
// client_cn), outbound chain and name verified against the hub CA over STARTTLS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hub::policy {

// Which CN the inbound client certificate must carry.
enum class CnRule {
    partner,  // The partner's client_cn (its host name; default: its first domain).
    value,    // InboundTlsPolicy::cn exactly (ASCII case-insensitive).
    any,      // Not checked; the certificate must still chain (when required).
};

struct InboundTlsPolicy {
    bool require_tls = true;          // Mail commands before STARTTLS get 530 5.7.0.
    int min_cipher_bits = 0;          // 0, 128 or 256: the session's symmetric key bits.
    bool request_certificate = true;  // Ask for a client certificate in the handshake.
    // A certificate chaining to the hub CA (tls.client_ca) must be presented. Applies
    // together with the partner's own require_client_certificate: a partner that does not
    // require one (identified by source address) is not asked by the policy either.
    bool require_certificate = true;
    CnRule cn_rule = CnRule::partner;
    std::string cn;          // With CnRule::value.
    std::string subject_dn;  // "" = any; else the certificate's subject, one-line form.
    std::string issuer_dn;   // "" = any; else the certificate's issuer, one-line form.

    bool operator==(const InboundTlsPolicy&) const = default;
};

enum class OutboundVerify {
    chain,  // The server's chain to the hub CA (or the named trust anchor), and its name.
    pin,    // The server's leaf certificate's SHA-256 (the partner's pin or the policy's).
    none,   // Encrypted, not authenticated; only with opportunistic TLS.
};

enum class OutboundTlsMode {
    starttls,  // RFC 3207 on the smart host's port.
    implicit,  // TLS from the first byte (RFC 8314, port 465 style).
};

struct OutboundTlsPolicy {
    // False: opportunistic TLS (RFC 7435), an explicit, non-default choice: TLS when the
    // peer offers it, clear text when it does not.
    bool require_tls = true;
    OutboundVerify verify = OutboundVerify::chain;
    std::string trust_anchor;  // With chain: a named trust anchor instead of the hub CA.
    bool check_name = true;    // With chain: the certificate must carry the server name.
    std::string server_name;   // "" = the partner's outbound name.
    std::string pin_sha256;    // With pin: "" = the partner's pin.
    int min_cipher_bits = 0;   // 0, 128 or 256.
    OutboundTlsMode mode = OutboundTlsMode::starttls;

    bool operator==(const OutboundTlsPolicy&) const = default;
};

// The policy every partner without a more specific assignment gets; it always exists.
inline constexpr std::string_view default_tls_policy_name = "default";

struct TlsPolicy {
    std::string name = std::string(default_tls_policy_name);
    InboundTlsPolicy inbound;
    OutboundTlsPolicy outbound;

    bool operator==(const TlsPolicy&) const = default;
};

std::string_view to_string(CnRule rule);
std::string_view to_string(OutboundVerify verify);
std::string_view to_string(OutboundTlsMode mode);
[[nodiscard]] bool parse_cn_rule(std::string_view text, CnRule& rule);
[[nodiscard]] bool parse_outbound_verify(std::string_view text, OutboundVerify& verify);
[[nodiscard]] bool parse_outbound_tls_mode(std::string_view text, OutboundTlsMode& mode);

// "" if the policy can be met by some partner, else what to fix: values out of range
// (a cipher strength other than 0, 128, 256; a DN that is not "/K=V/..."; a bad pin or
// name) and combinations no client could ever satisfy ("would lock out every partner": a
// certificate required but never requested; a CN value or DN check without a required
// certificate) or that contradict themselves (opportunistic TLS with verification,
// implicit TLS without required TLS, a pin check without verify = pin).
std::string check_tls_policy(const TlsPolicy& policy);

// 1..64 of [A-Za-z0-9._-], like partner names.
std::string check_tls_policy_name(std::string_view name);
// A distinguished name in the one-line form wolfSSL and `openssl x509 -nameopt compat`
// print: "/C=GB/O=Partner One/CN=partner1.test". "" if good, else what to fix.
std::string check_distinguished_name(std::string_view dn);
// Equal as distinguished names: attribute types ignoring case, values ignoring ASCII case.
bool same_distinguished_name(std::string_view a, std::string_view b);

// What the TLS layer saw of an inbound session, at MAIL FROM.
struct InboundTlsFacts {
    bool tls = false;
    int cipher_bits = 0;
    enum class Certificate { none, verified, failed } certificate = Certificate::none;
    std::string cn, subject_dn, issuer_dn;
};

// The inbound policy's verdict on a session (before the partner's sender binding).
enum class InboundTlsVerdict {
    accept,
    tls_required,           // 530 5.7.0: no TLS.
    cipher_too_weak,        // 554 5.7.0: fewer key bits than min_cipher_bits.
    no_client_certificate,  // 530 5.7.0: required, none presented.
    certificate_chain,      // 530 5.7.0: presented, does not chain to the hub CA.
    cn_mismatch,            // 550 5.7.1: the CN is not the one the policy names.
    subject_mismatch,       // 550 5.7.1: the subject DN differs.
    issuer_mismatch,        // 550 5.7.1: the issuer DN differs.
};
std::string_view reason_token(InboundTlsVerdict verdict);

// partner_requires_certificate and partner_cn are the partner's own settings (its
// require_client_certificate and client_cn). Checks in order: TLS, cipher strength,
// certificate presence and chain, then CN, subject and issuer.
InboundTlsVerdict judge_inbound_tls(const InboundTlsPolicy& policy, const InboundTlsFacts& facts,
                                    bool partner_requires_certificate, std::string_view partner_cn);

}  // namespace hub::policy
