// tls_policy.cc -- TLS endpoint policies: names, checks, and the inbound verdict.
//
// PURPOSE   One definition of a good TLS policy (hubctl refuses what could never be met)
//           and the sans-I/O decision an inbound session's TLS facts get at MAIL FROM.
// RUNS IN   hubctl and hubd's supervisor (checks); every shard (judge_inbound_tls).
// TRUST     Policies are operator input, checked here. The facts are peer-controlled:
//           the CN and DNs are compared only, never parsed for more than '/' and '='.
// LIMITS    policy::tls_dn_bytes_max for a DN; no allocation in judge_inbound_tls.
// SEE ALSO  policy/tls_policy.h, engine/connection_flow.cc, docs/DIRECTORY.md.

#include "policy/tls_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "base/assert.h"
#include "policy/limits.h"
#include "policy/partner_checks.h"

namespace hub::policy {

std::string_view to_string(CnRule rule) {
    switch (rule) {
        case CnRule::partner:
            return "partner";
        case CnRule::value:
            return "value";
        case CnRule::any:
            return "any";
    }
    HUB_PANIC("unknown CN rule");
}

std::string_view to_string(OutboundVerify verify) {
    switch (verify) {
        case OutboundVerify::chain:
            return "chain";
        case OutboundVerify::pin:
            return "pin";
        case OutboundVerify::none:
            return "none";
    }
    HUB_PANIC("unknown outbound verification");
}

std::string_view to_string(OutboundTlsMode mode) {
    switch (mode) {
        case OutboundTlsMode::starttls:
            return "starttls";
        case OutboundTlsMode::implicit:
            return "implicit";
    }
    HUB_PANIC("unknown outbound TLS mode");
}

bool parse_cn_rule(std::string_view text, CnRule& rule) {
    for (CnRule candidate : {CnRule::partner, CnRule::value, CnRule::any}) {
        if (text == to_string(candidate)) {
            rule = candidate;
            return true;
        }
    }
    return false;
}

bool parse_outbound_verify(std::string_view text, OutboundVerify& verify) {
    for (OutboundVerify candidate :
         {OutboundVerify::chain, OutboundVerify::pin, OutboundVerify::none}) {
        if (text == to_string(candidate)) {
            verify = candidate;
            return true;
        }
    }
    return false;
}

bool parse_outbound_tls_mode(std::string_view text, OutboundTlsMode& mode) {
    for (OutboundTlsMode candidate : {OutboundTlsMode::starttls, OutboundTlsMode::implicit}) {
        if (text == to_string(candidate)) {
            mode = candidate;
            return true;
        }
    }
    return false;
}

std::string check_tls_policy_name(std::string_view name) {
    if (std::string why = check_partner_name(name); !why.empty()) {
        return fmt::format("TLS policy name \"{}\": {}", name, why);
    }
    return {};
}

namespace {

bool cipher_bits_allowed(int bits) {
    return bits == 0 || bits == 128 || bits == 256;
}

// Splits "/C=GB/O=A/CN=b" into its "K=V" parts; false if it is not of that shape.
template <typename Each>
bool for_each_rdn(std::string_view dn, Each each) {
    if (dn.empty() || dn.front() != '/') {
        return false;
    }
    dn.remove_prefix(1);
    while (!dn.empty()) {
        std::size_t next = dn.find('/');
        std::string_view part = dn.substr(0, next);
        std::size_t equals = part.find('=');
        if (equals == 0 || equals == std::string_view::npos) {
            return false;
        }
        each(part.substr(0, equals), part.substr(equals + 1));
        dn = next == std::string_view::npos ? std::string_view() : dn.substr(next + 1);
    }
    return true;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string check_min_bits(int bits, std::string_view direction) {
    if (!cipher_bits_allowed(bits)) {
        return fmt::format(
            "{} minimum cipher strength {}: must be 0 (any suite the hub allows), 128 or 256 "
            "bits (the hub offers AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 only, so a "
            "higher value would lock out every partner)",
            direction, bits);
    }
    return {};
}

}  // namespace

std::string check_distinguished_name(std::string_view dn) {
    auto printable = [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte >= 0x20 && byte < 0x7f;
    };
    bool parts_good = true;
    bool shaped = for_each_rdn(dn, [&](std::string_view key, std::string_view value) {
        if (value.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c));
            })) {
            parts_good = false;
        }
    });
    if (!shaped || !parts_good || dn.size() > tls_dn_bytes_max ||
        !std::all_of(dn.begin(), dn.end(), printable)) {
        return fmt::format(
            "must be a distinguished name in one-line form, such as \"/C=GB/O=Partner "
            "One/CN=partner1.example\" (as `openssl x509 -noout -subject -nameopt compat` "
            "prints it), at most {} printable ASCII characters",
            tls_dn_bytes_max);
    }
    return {};
}

bool same_distinguished_name(std::string_view a, std::string_view b) {
    // Compared part by part so that "/cn=X" and "/CN=x" are the same name.
    std::array<std::string_view, tls_dn_parts_max * 2> parts_a{};
    std::size_t count_a = 0;
    bool fits = true;
    bool shaped = for_each_rdn(a, [&](std::string_view key, std::string_view value) {
        if (count_a + 2 > parts_a.size()) {
            fits = false;
            return;
        }
        parts_a[count_a++] = key;
        parts_a[count_a++] = value;
    });
    if (!shaped || !fits) {
        return false;
    }
    std::size_t index = 0;
    bool same = true;
    shaped = for_each_rdn(b, [&](std::string_view key, std::string_view value) {
        if (index + 2 > count_a || !equal_ignoring_case(parts_a[index], key) ||
            !equal_ignoring_case(parts_a[index + 1], value)) {
            same = false;
        }
        index += 2;
    });
    return shaped && same && index == count_a;
}

std::string check_tls_policy(const TlsPolicy& policy) {
    if (std::string why = check_tls_policy_name(policy.name); !why.empty()) {
        return why;
    }
    const InboundTlsPolicy& in = policy.inbound;
    if (std::string why = check_min_bits(in.min_cipher_bits, "inbound"); !why.empty()) {
        return why;
    }
    if (in.require_certificate && !in.request_certificate) {
        return "inbound: a client certificate is required but not requested, which would lock "
               "out every partner; request it (--in-request-cert true) or stop requiring it "
               "(--in-require-cert false)";
    }
    if (in.cn_rule == CnRule::value) {
        if (std::string why = check_client_cn(in.cn); !why.empty()) {
            return fmt::format("inbound CN \"{}\": {}", in.cn, why);
        }
    } else if (!in.cn.empty()) {
        return "inbound: a CN value is set but the CN rule is not \"value\"";
    }
    bool checks_certificate =
        in.cn_rule == CnRule::value || !in.subject_dn.empty() || !in.issuer_dn.empty();
    if (checks_certificate && !in.require_certificate) {
        return "inbound: a CN value, subject DN or issuer DN is checked but no client "
               "certificate is required; require one (--in-require-cert true) or drop the check";
    }
    for (const auto& [key, dn] :
         {std::pair{"subject", &in.subject_dn}, std::pair{"issuer", &in.issuer_dn}}) {
        if (!dn->empty()) {
            if (std::string why = check_distinguished_name(*dn); !why.empty()) {
                return fmt::format("inbound {} DN \"{}\": {}", key, *dn, why);
            }
        }
    }
    if (!in.require_tls && (in.require_certificate || in.min_cipher_bits != 0)) {
        return "inbound: TLS is not required, yet a client certificate or a cipher strength "
               "is; these need TLS (require TLS, or drop them)";
    }
    const OutboundTlsPolicy& out = policy.outbound;
    if (std::string why = check_min_bits(out.min_cipher_bits, "outbound"); !why.empty()) {
        return why;
    }
    if (!out.require_tls && out.verify != OutboundVerify::none) {
        return fmt::format(
            "outbound: opportunistic TLS (--out-require-tls false) cannot verify the peer "
            "(its failure would fall back to clear text); set --out-verify none, or keep TLS "
            "required to verify by {}",
            to_string(out.verify));
    }
    if (out.require_tls && out.verify == OutboundVerify::none) {
        return "outbound: verify none is only for opportunistic TLS (--out-require-tls false); "
               "a required TLS session verifies the chain or a pin";
    }
    if (!out.require_tls && out.mode == OutboundTlsMode::implicit) {
        return "outbound: implicit TLS is always TLS; it cannot be opportunistic";
    }
    if (!out.require_tls && out.min_cipher_bits != 0) {
        return "outbound: a minimum cipher strength needs required TLS";
    }
    if (out.verify != OutboundVerify::chain &&
        (!out.trust_anchor.empty() || !out.server_name.empty())) {
        return "outbound: a trust anchor or server name is used only with --out-verify chain";
    }
    if (out.verify != OutboundVerify::pin && !out.pin_sha256.empty()) {
        return "outbound: a pin is used only with --out-verify pin";
    }
    if (!out.pin_sha256.empty()) {
        if (std::string why = check_pin_sha256(out.pin_sha256); !why.empty()) {
            return fmt::format("outbound pin \"{}\": {}", out.pin_sha256, why);
        }
    }
    if (!out.server_name.empty()) {
        if (std::string why = check_outbound_name(out.server_name); !why.empty()) {
            return fmt::format("outbound server name \"{}\": {}", out.server_name, why);
        }
        if (!out.check_name) {
            return "outbound: a server name is set but the name check is off";
        }
    }
    if (!out.trust_anchor.empty()) {
        if (std::string why = check_partner_name(out.trust_anchor); !why.empty()) {
            return fmt::format("outbound trust anchor \"{}\": {}", out.trust_anchor, why);
        }
    }
    return {};
}

std::string_view reason_token(InboundTlsVerdict verdict) {
    switch (verdict) {
        case InboundTlsVerdict::accept:
            return "accept";
        case InboundTlsVerdict::tls_required:
            return "tls_required";
        case InboundTlsVerdict::cipher_too_weak:
            return "cipher_too_weak";
        case InboundTlsVerdict::no_client_certificate:
            return "no_client_certificate";
        case InboundTlsVerdict::certificate_chain:
            return "certificate_chain";
        case InboundTlsVerdict::cn_mismatch:
            return "cn_mismatch";
        case InboundTlsVerdict::subject_mismatch:
            return "subject_mismatch";
        case InboundTlsVerdict::issuer_mismatch:
            return "issuer_mismatch";
    }
    HUB_PANIC("unknown inbound TLS verdict");
}

InboundTlsVerdict judge_inbound_tls(const InboundTlsPolicy& policy, const InboundTlsFacts& facts,
                                    bool partner_requires_certificate,
                                    std::string_view partner_cn) {
    if (!facts.tls) {
        return policy.require_tls ? InboundTlsVerdict::tls_required
               : policy.require_certificate && partner_requires_certificate
                   ? InboundTlsVerdict::no_client_certificate
                   : InboundTlsVerdict::accept;
    }
    if (facts.cipher_bits < policy.min_cipher_bits) {
        return InboundTlsVerdict::cipher_too_weak;
    }
    if (!policy.require_certificate || !partner_requires_certificate) {
        return InboundTlsVerdict::accept;
    }
    switch (facts.certificate) {
        case InboundTlsFacts::Certificate::none:
            return InboundTlsVerdict::no_client_certificate;
        case InboundTlsFacts::Certificate::failed:
            return InboundTlsVerdict::certificate_chain;
        case InboundTlsFacts::Certificate::verified:
            break;
    }
    std::string_view want_cn = policy.cn_rule == CnRule::value     ? std::string_view(policy.cn)
                               : policy.cn_rule == CnRule::partner ? partner_cn
                                                                   : std::string_view();
    if (policy.cn_rule != CnRule::any && !equal_ignoring_case(want_cn, facts.cn)) {
        return InboundTlsVerdict::cn_mismatch;
    }
    if (!policy.subject_dn.empty() &&
        !same_distinguished_name(policy.subject_dn, facts.subject_dn)) {
        return InboundTlsVerdict::subject_mismatch;
    }
    if (!policy.issuer_dn.empty() && !same_distinguished_name(policy.issuer_dn, facts.issuer_dn)) {
        return InboundTlsVerdict::issuer_mismatch;
    }
    return InboundTlsVerdict::accept;
}

}  // namespace hub::policy
