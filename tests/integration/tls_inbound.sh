#!/usr/bin/env bash
# tls_inbound.sh -- inbound TLS endpoint policies (hub as server), each attribute driven by
# real clients (swaks, openssl s_client), the policies managed live by hubctl tls-endpoint
# against a running hubd on the directory:
#   1. require TLS (default): MAIL in clear text gets 530 5.7.0; a policy without it lets
#      partner1 send in clear text;
#   2. client certificate required and valid under the hub CA (default): none -> 530 5.7.0,
#      another CA's -> 530 5.7.0, partner1's own -> 250;
#   3. request a client certificate: the default handshake names the acceptable CAs; a
#      policy that does not request one sends no CertificateRequest (s_client says so) and
#      accepts the session without a certificate;
#   4. minimum cipher strength 256: TLS_AES_128_GCM_SHA256 forced by s_client -> 550 5.7.0,
#      TLS_AES_256_GCM_SHA384 -> 250; assigned to one address (127.0.0.2/32) it binds only
#      sessions from there (the most specific assignment wins);
#   5. CN value: partner1's certificate -> 550 5.7.1 CN mismatch, a hub-CA certificate
#      with CN gw.partner1.gov.uk -> 250;
#   6. subject DN: /CN=partner1.gov.uk (partner1's) -> 550 5.7.1, a certificate with the
#      policy's subject /O=Partner One/CN=partner1.gov.uk -> 250;
#   7. issuer DN: a policy naming another issuer -> 550 5.7.1 for partner1's certificate;
#      one naming the hub CA -> 250.
# Each refusal: the reply to MAIL FROM, no recipient accepted, and one "reject: mail from"
# log line with its reason (and the policy in the detail).
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init --directory
hub_start
hubctl_dir() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
# tls_change ARGS...: a hubctl tls-endpoint write, applied live by hubd's reload.
tls_change() {
    local out
    out="$(hubctl_dir tls-endpoint "$@" 2>&1)" || fail "hubctl tls-endpoint $*: $out"
    expect_match "hubctl tls-endpoint $1: hubd reloaded" 'hubd reloaded' "$out"
}

FROM=alice@partner1.gov.uk
TO=joe@partner2.gov.uk.lgolhub.net

# swaks_as [--plain] CERT_ARGS... -- SWAKS_ARGS...: one transaction up to RCPT, over STARTTLS
# (or clear text with --plain), with the given certificate options; prints the transcript.
swaks_as() {
    local tls=(--tls) cert=()
    if [[ "$1" == --plain ]]; then
        tls=()
        shift
    fi
    while [[ $# -gt 0 && "$1" != -- ]]; do
        cert+=("$1")
        shift
    done
    shift
    timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" "${tls[@]}" --helo mx.test \
        --from "$FROM" --to "$TO" --quit-after RCPT "${cert[@]}" "$@" 2>&1 || true
}
p1=(--tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key")

# s_client_mail CIPHERSUITE [SOURCE] [CERT_ARGS...]: openssl s_client over STARTTLS with that
# TLS 1.3 suite, then EHLO, MAIL FROM and QUIT; prints everything it saw.
s_client_mail() {
    local suite="$1" source="${2:-127.0.0.1}"
    shift 2 || shift
    printf 'EHLO mx.test\nMAIL FROM:<%s>\nQUIT\n' "$FROM" |
        timeout 30 openssl s_client -connect "127.0.0.1:$SMTP_PORT" -starttls smtp -crlf \
            -quiet -tls1_3 -ciphersuites "$suite" -bind "$source:0" "$@" 2>&1 | tr -d '\r' || true
}

# expect_accepted WHAT TRANSCRIPT: MAIL and RCPT both got 250.
expect_accepted() {
    expect_match "$1: MAIL FROM" '^<[-~] +250 2\.1\.0' "$2"
    expect_match "$1: RCPT TO" '^<[-~] +250 2\.1\.5' "$2"
    say "ok: $1: accepted"
}

# expect_refused WHAT TRANSCRIPT REPLY_REGEX REASON [DETAIL_REGEX]: MAIL got the reply, no
# recipient accepted, and one more log line "reject: mail from [...]: <reply>; reason=...".
REJECTS=0
expect_refused() {
    local what="$1" transcript="$2" reply="$3" reason="$4" detail="${5:-}"
    expect_match "$what: reply to MAIL FROM" "^<~\*? +$reply\$" "$transcript"
    expect_no_match "$what: a recipient accepted" '^<~ +250 2\.1\.5' "$transcript"
    REJECTS=$((REJECTS + 1))
    wait_until 10 "$what: reject line $REJECTS" \
        bash -c "[[ \$(grep -c 'reject: mail from' '$HUB_LOG') -ge $REJECTS ]]"
    local line
    line="$(grep 'reject: mail from' "$HUB_LOG" | tail -n1)"
    expect_match "$what: log line" "reject: mail from \[127\.0\.0\.[12]\]: $reply; reason=$reason; .*$detail" \
        "$line"
    say "ok: $what: $(grep -E '^<~\*? +[45]' <<<"$transcript" | head -n1)"
}

# issue_leaf NAME SUBJECT: a client certificate from the hub's dev CA.
issue_leaf() {
    local name="$1" subject="$2"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
        -keyout "$WORK/$name.key" -out "$WORK/$name.csr" 2>/dev/null
    printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=clientAuth >"$WORK/$name.ext"
    openssl x509 -req -in "$WORK/$name.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca.key" \
        -days 2 -sha256 -set_serial "0x$(openssl rand -hex 8)" -extfile "$WORK/$name.ext" \
        -out "$WORK/$name.pem" 2>/dev/null || fail "openssl could not issue $name ($subject)"
}

# --- baseline: the shipped default ------------------------------------------------------------
out="$(hubctl_dir tls-endpoint show default --json)"
expect_match "default policy: TLS and certificates required" \
    '"require_tls":true,"min_cipher_bits":0,"request_client_certificate":true,"require_client_certificate":true' \
    "$out"
expect_accepted "default policy, partner1's certificate" "$(swaks_as "${p1[@]}" --)"

# --- 1. require TLS ---------------------------------------------------------------------------
out="$(swaks_as --plain "${p1[@]}" --)"
expect_match "clear text: 530 at MAIL" '^<\*\* +530 5\.7\.0 Must issue a STARTTLS command first$' "$out"
expect_no_match "clear text: a recipient accepted" '^<~ +250 2\.1\.5' "$out"
REJECTS_TLS="$(grep -c 'reason=tls_required' "$HUB_LOG" || true)"
[[ "$REJECTS_TLS" -ge 1 ]] || fail "no reason=tls_required line for the clear-text MAIL"
say "ok: require TLS: clear-text MAIL refused with 530 5.7.0"
tls_change create plain --in-require-tls false --in-require-cert false
tls_change assign plain --partner partner1
expect_accepted "policy without TLS: partner1 in clear text" "$(swaks_as --plain --)"
tls_change assign plain --unassign --partner partner1

# --- 2. client certificate required, valid under the hub CA ------------------------------------
expect_refused "no client certificate" "$(swaks_as --)" \
    '530 5\.7\.0 Client certificate required by the policy of partner partner1' \
    no_client_certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Foreign CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" -keyout "$WORK/foreign-ca.key" \
    -out "$WORK/foreign-ca.pem" 2>/dev/null || fail "openssl could not make the foreign CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=partner1.gov.uk" \
    -keyout "$WORK/impostor.key" -out "$WORK/impostor.csr" 2>/dev/null
openssl x509 -req -in "$WORK/impostor.csr" -CA "$WORK/foreign-ca.pem" \
    -CAkey "$WORK/foreign-ca.key" -days 2 -out "$WORK/impostor.pem" 2>/dev/null
expect_refused "a certificate from another CA" \
    "$(swaks_as --tls-cert "$WORK/impostor.pem" --tls-key "$WORK/impostor.key" --)" \
    '530 5\.7\.0 Client certificate not trusted: partner partner1 requires one issued by the hub CA' \
    certificate_chain

# --- 3. request a client certificate ------------------------------------------------------------
out="$(s_client_mail TLS_AES_256_GCM_SHA384 127.0.0.1 -msg)"
expect_match "default: the handshake requests a certificate" 'CertificateRequest' "$out"
tls_change create nocert --in-request-cert false --in-require-cert false
tls_change assign nocert --partner partner1
out="$(s_client_mail TLS_AES_256_GCM_SHA384 127.0.0.1 -msg)"
expect_no_match "nocert: no CertificateRequest" 'CertificateRequest' "$out"
expect_match "nocert: MAIL accepted without a certificate" '^250 2\.1\.0' "$out"
say "ok: a policy that does not request a certificate: no CertificateRequest, MAIL 250"
tls_change assign nocert --unassign --partner partner1

# --- 4. minimum cipher strength ------------------------------------------------------------------
tls_change create strong --in-min-bits 256
tls_change assign strong --partner partner1
out="$(s_client_mail TLS_AES_128_GCM_SHA256 127.0.0.1 -cert "$STATE/partner1.pem" \
    -key "$STATE/partner1.key")"
expect_refused "AES-128 forced, policy 256 bits" "$(sed 's/^/<~* /' <<<"$out")" \
    '550 5\.7\.0 Cipher too weak for the TLS policy of partner partner1' cipher_too_weak \
    'detail=TLS policy strong, 128 bits'
out="$(s_client_mail TLS_AES_256_GCM_SHA384 127.0.0.1 -cert "$STATE/partner1.pem" \
    -key "$STATE/partner1.key")"
expect_match "AES-256: MAIL accepted" '^250 2\.1\.0' "$out"
say "ok: AES-256 under the 256-bit policy: MAIL 250"
# The same with swaks over TLS 1.2, AES-128 forced by its cipher list.
expect_refused "swaks, TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 forced, policy 256 bits" \
    "$(swaks_as "${p1[@]}" --tls-protocol tlsv1_2 --tls-cipher ECDHE-ECDSA-AES128-GCM-SHA256 --)" \
    '550 5\.7\.0 Cipher too weak for the TLS policy of partner partner1' cipher_too_weak \
    'detail=TLS policy strong, 128 bits'
expect_accepted "swaks, TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384 forced" \
    "$(swaks_as "${p1[@]}" --tls-protocol tlsv1_2 --tls-cipher ECDHE-ECDSA-AES256-GCM-SHA384 --)"
# Only 127.0.0.2 is held to 256 bits: the network beats the partner's own (default) policy.
tls_change assign strong --unassign --partner partner1
tls_change assign strong --cidr 127.0.0.2/32
out="$(s_client_mail TLS_AES_128_GCM_SHA256 127.0.0.1 -cert "$STATE/partner1.pem" \
    -key "$STATE/partner1.key")"
expect_match "AES-128 from 127.0.0.1 (default policy): accepted" '^250 2\.1\.0' "$out"
out="$(s_client_mail TLS_AES_128_GCM_SHA256 127.0.0.2 -cert "$STATE/partner1.pem" \
    -key "$STATE/partner1.key")"
expect_refused "AES-128 from 127.0.0.2 (policy strong by network)" "$(sed 's/^/<~* /' <<<"$out")" \
    '550 5\.7\.0 Cipher too weak for the TLS policy of partner partner1' cipher_too_weak \
    'detail=TLS policy strong, 128 bits'
tls_change assign strong --unassign --cidr 127.0.0.2/32

# --- 5. the certificate's CN: a value ------------------------------------------------------------
tls_change create gateway --in-cn gw.partner1.gov.uk
tls_change assign gateway --partner partner1
expect_refused "CN value, partner1's own certificate" "$(swaks_as "${p1[@]}" --)" \
    '550 5\.7\.1 Client certificate CN does not match partner partner1' cn_mismatch \
    'certificate CN "partner1\.gov\.uk"'
issue_leaf gw "/CN=gw.partner1.gov.uk"
expect_accepted "CN value, a certificate for gw.partner1.gov.uk" \
    "$(swaks_as --tls-cert "$WORK/gw.pem" --tls-key "$WORK/gw.key" --)"
tls_change assign gateway --unassign --partner partner1

# --- 6. subject DN ------------------------------------------------------------------------------
tls_change create subject --in-subject-dn "/O=Partner One/CN=partner1.gov.uk"
tls_change assign subject --partner partner1
expect_refused "subject DN, partner1's certificate (/CN=partner1.gov.uk)" \
    "$(swaks_as "${p1[@]}" --)" \
    '550 5\.7\.1 Client certificate subject does not match the TLS policy of partner partner1' \
    subject_mismatch 'detail=TLS policy subject, certificate subject "/CN=partner1\.gov\.uk"'
issue_leaf org "/O=Partner One/CN=partner1.gov.uk"
expect_accepted "subject DN, a certificate with that subject" \
    "$(swaks_as --tls-cert "$WORK/org.pem" --tls-key "$WORK/org.key" --)"
tls_change assign subject --unassign --partner partner1

# --- 7. issuer DN --------------------------------------------------------------------------------
tls_change create issuer --in-issuer-dn "/O=Partner One/CN=Partner One Issuing CA"
tls_change assign issuer --partner partner1
expect_refused "issuer DN, partner1's certificate (issued by the hub's dev CA)" \
    "$(swaks_as "${p1[@]}" --)" \
    '550 5\.7\.1 Client certificate issuer does not match the TLS policy of partner partner1' \
    issuer_mismatch 'certificate issuer "/CN=Hubbox Dev CA"'
tls_change edit issuer --in-issuer-dn "/CN=Hubbox Dev CA"
expect_accepted "issuer DN naming the hub CA" "$(swaks_as "${p1[@]}" --)"

out="$(hubctl_dir audit --json)"
for action in "tls-endpoint create" "tls-endpoint assign" "tls-endpoint edit"; do
    expect_match "audit: $action" "\"action\":\"$action\"" "$out"
done
expect_eq "messages queued (every session stopped at RCPT)" 0 "$(queue_count)"
say "ok: $REJECTS policy refusals, each with its reply and one log line"
