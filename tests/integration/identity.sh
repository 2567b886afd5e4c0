#!/usr/bin/env bash
# identity.sh -- partner identity and sender binding, enforced by default, with real swaks:
#   1. no client certificate:                530 5.7.0 at MAIL, reason=no_client_certificate;
#   2. a certificate from another CA:         530 5.7.0 at MAIL, reason=certificate_chain
#      (detail = wolfSSL's reason), even though its CN is partner1.gov.uk;
#   3. a dev-CA certificate naming nobody:    550 5.7.1 at MAIL, reason=cn_mismatch;
#   4. partner2's certificate, partner1's sender: 550 5.7.1 at MAIL, reason=sender_not_partner;
#   5. mixed-case domains (Alice@Partner1.GOV.UK -> JOE@PARTNER2.GOV.UK.LGOLHUB.NET):
#      accepted, and (root, with Postfix as partner2) delivered with the hub suffix removed
#      or added and every other byte as sent;
#   6. partner2 narrowed to 127.0.0.2: its certificate from 127.0.0.1 (a source that only
#      partner1 may use) is a CN mismatch; from 127.0.0.2 it is accepted.
# Each refusal: the reply, no recipient ever accepted, nothing queued, and exactly one
# "reject: mail from ..." line with its reason in hubd's log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL

with_postfix=0
if [[ $EUID -eq 0 ]] && command -v postfix >/dev/null && [[ -x /usr/lib/postfix/sbin/master ]]; then
    with_postfix=1
fi

read -r P2_PORT < <(pick_ports 1)
hub_init --partners-file --partner2-outbound "$P2_PORT" --retry-delay 1
hub_start
grep -q '^require_client_certificate = true$' "$STATE/partners.toml" ||
    fail "dev-init should require client certificates by default:
$(cat "$STATE/partners.toml")"

# swaks_as CERT_ARGS... -- SWAKS_ARGS...: swaks over STARTTLS with the given certificate
# options (none for no certificate); prints the transcript.
swaks_as() {
    local cert=()
    while [[ $# -gt 0 && "$1" != -- ]]; do
        cert+=("$1")
        shift
    done
    shift
    timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo mx.test \
        "${cert[@]}" "$@" 2>&1 || true
}
partner_cert() { echo --tls-cert "$STATE/$1.pem" --tls-key "$STATE/$1.key"; }

# expect_refused WHAT TRANSCRIPT REPLY_REGEX LOG_TAIL_REGEX: MAIL got the reply, no RCPT was
# accepted, nothing queued, and exactly one line of hubd's log is
# "reject: mail from [127.0.0.1]: <reply>; <log tail>".
expect_refused() {
    local what="$1" transcript="$2" reply="$3" tail="$4"
    expect_match "$what: reply to MAIL FROM" "^<~\* +$reply\$" "$transcript" # <~*: error in TLS
    expect_no_match "$what: a recipient accepted" '^<~ +250 2\.1\.5' "$transcript"
    expect_no_match "$what: queued" 'queued as' "$transcript"
    local line="reject: mail from \[127\.0\.0\.1\]: $reply; $tail\$" lines
    lines="$(grep -cE -- "$line" "$HUB_LOG" || true)"
    [[ "$lines" == 1 ]] || fail "$what: expected exactly one log line matching /$line/, found $lines:
$(grep -E 'reject:' "$HUB_LOG" || true)"
    say "ok: $what: $(grep -E '^<~\* ' <<<"$transcript")"
}

# issue_leaf DIR NAME CN CA_PEM CA_KEY: a client certificate signed by that CA.
issue_leaf() {
    local dir="$1" name="$2" cn="$3"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=clientAuth >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$4" -CAkey "$5" -days 2 -sha256 \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$dir/$name.ext" \
        -out "$dir/$name.pem" 2>/dev/null || fail "openssl could not issue $name ($cn)"
}

alice='alice@partner1\.gov\.uk'

# --- 1. no client certificate -------------------------------------------------------------------
out="$(swaks_as -- --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net)"
expect_refused "no certificate" "$out" \
    '530 5\.7\.0 Client certificate required by the policy of partner partner1' \
    "reason=no_client_certificate; partner=partner1; from=<$alice>"

# --- 2. a certificate from another CA (claiming to be partner1) -------------------------------
foreign="$WORK/foreign"
mkdir -p "$foreign"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Foreign CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" \
    -keyout "$foreign/ca.key" -out "$foreign/ca.pem" 2>/dev/null ||
    fail "openssl could not make the foreign CA"
issue_leaf "$foreign" impostor partner1.gov.uk "$foreign/ca.pem" "$foreign/ca.key"
out="$(swaks_as --tls-cert "$foreign/impostor.pem" --tls-key "$foreign/impostor.key" -- \
    --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net)"
expect_refused "another CA" "$out" \
    '530 5\.7\.0 Client certificate not trusted: partner partner1 requires one issued by the hub CA' \
    "reason=certificate_chain; partner=partner1; from=<$alice>; detail=[^;]+"
say "ok: another CA: log $(grep -Eo 'detail=.*' "$HUB_LOG")"

# --- 3. the hub CA's certificate for a name no partner has ----------------------------------
issue_leaf "$WORK" stranger stranger.gov.uk "$STATE/ca.pem" "$STATE/ca.key"
out="$(swaks_as --tls-cert "$WORK/stranger.pem" --tls-key "$WORK/stranger.key" -- \
    --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net)"
expect_refused "a CN of nobody" "$out" \
    '550 5\.7\.1 Client certificate CN does not match partner partner1' \
    "reason=cn_mismatch; partner=partner1; from=<$alice>; detail=certificate CN \"stranger\.gov\.uk\""

# --- 4. partner2 sending as partner1 ------------------------------------------------------------
# shellcheck disable=SC2046
out="$(swaks_as $(partner_cert partner2) -- --from alice@partner1.gov.uk \
    --to joe@partner2.gov.uk.lgolhub.net)"
expect_refused "spoofed sender" "$out" \
    "550 5\.7\.1 <$alice>: Sender address rejected: not a domain of partner partner2" \
    "reason=sender_not_partner; partner=partner2; from=<$alice>"

expect_eq "messages queued by the refused sessions" 0 "$(queue_count)"

# --- 5. mixed-case domains ----------------------------------------------------------------------
if ((with_postfix)); then
    partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
        --key "$STATE/partner2.key"
fi
message="$WORK/mixed.eml"
printf '%s\r\n' 'From: "ALICE Smith" <Alice@Partner1.GOV.UK>' \
    'To: Joe <JOE@PARTNER2.GOV.UK.LGOLHUB.NET>, Ann@partner2.gov.uk.LgolHub.Net' \
    'Cc: Carol@Partner1.Gov.Uk, Bob@Example.COM' 'Subject: MiXeD case' \
    'Message-ID: <mixed-case@Partner1.GOV.UK>' '' 'Body: JOE@PARTNER2.GOV.UK.LGOLHUB.NET' >"$message"
# shellcheck disable=SC2046
out="$(swaks_as $(partner_cert partner1) -- --from Alice@Partner1.GOV.UK \
    --to JOE@PARTNER2.GOV.UK.LGOLHUB.NET --data "@$message")"
expect_match "mixed case: MAIL FROM" '^<~ +250 2\.1\.0' "$out"
expect_match "mixed case: RCPT TO" '^<~ +250 2\.1\.5' "$out"
expect_match "mixed case: DATA" '^<~ +250 2\.0\.0 Ok: queued as [0-9A-F]{16}$' "$out"
# The accepted line, not the queue: with partner2 up the message may already be delivered
# and gone from the queue by the time a listing looks.
queue_id="$(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | grep -Eo '[0-9A-F]{16}$')"
wait_until 10 "the accepted line of $queue_id" \
    bash -c "grep -q '$queue_id: client=' '$HUB_LOG'"
expect_match "mixed case: the accepted line keeps the sender as sent" \
    "$queue_id: client=.*from=<Alice@Partner1\\.GOV\\.UK>" "$(cat "$HUB_LOG")"
say "ok: mixed case accepted: $(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out")"
if ((with_postfix)); then
    P2="$(partner_dir partner2)"
    wait_until 60 "the mixed-case message in joe's Maildir at partner2" \
        bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge 1 ]]"
    copy="$(ls -t "$P2/mail/joe/new/"* | head -n1 | xargs cat | tr -d '\r')"
    headers="$(sed '/^$/q' <<<"$copy")"
    expect_match "joe's copy: From gains the suffix, the rest as sent" \
        '^From: "ALICE Smith" <Alice@Partner1\.GOV\.UK\.lgolhub\.net>$' "$headers"
    expect_match "joe's copy: To loses the suffix (his own partner), the rest as sent" \
        '^To: Joe <JOE@PARTNER2\.GOV\.UK>, Ann@partner2\.gov\.uk$' "$headers"
    expect_match "joe's copy: Cc (partner1 in hub form, others untouched)" \
        '^Cc: Carol@Partner1\.Gov\.Uk\.lgolhub\.net, Bob@Example\.COM$' "$headers"
    expect_match "joe's copy: Return-Path" '^Return-Path: <Alice@Partner1\.GOV\.UK\.lgolhub\.net>$' \
        "$headers"
    expect_match "joe's copy: Message-ID untouched" '^Message-ID: <mixed-case@Partner1\.GOV\.UK>$' \
        "$headers"
    expect_match "joe's copy: body untouched" '^Body: JOE@PARTNER2\.GOV\.UK\.LGOLHUB\.NET$' "$copy"
    expect_match "the hub relayed to JOE@PARTNER2.GOV.UK (partner2's log)" \
        'to=<JOE@PARTNER2\.GOV\.UK>' "$(partner_log partner2)"
    say "ok: mixed case delivered to partner2 and rewritten:"
    sed 's/^/    /' <<<"$headers" | grep -E '^    (From|To|Cc|Return-Path):'
else
    say "note: not root or no Postfix: the delivered copy of the mixed-case message is not checked"
fi

# --- 6. a partner's certificate from a source only another partner may use --------------------
hub_stop
"$PYTHON" - "$STATE/partners.toml" <<'PYEOF'
import sys
path = sys.argv[1]
text = open(path).read()
head, sep, tail = text.partition('name = "partner2"')
assert sep, "partner2 is missing from partners.toml"
tail = tail.replace('inbound = ["127.0.0.0/8"]', 'inbound = ["127.0.0.2/32"]', 1)
open(path, "w").write(head + sep + tail)
PYEOF
grep -q '"127.0.0.2/32"' "$STATE/partners.toml" || fail "could not narrow partner2's inbound"
hub_start
# shellcheck disable=SC2046
out="$(swaks_as $(partner_cert partner2) -- --from joe@partner2.gov.uk \
    --to alice@partner1.gov.uk.lgolhub.net --quit-after RCPT)"
expect_refused "partner2's certificate from partner1's source" "$out" \
    '550 5\.7\.1 Client certificate CN does not match partner partner1' \
    "reason=cn_mismatch; partner=partner1; from=<joe@partner2\.gov\.uk>; detail=certificate CN \
\"partner2\.gov\.uk\""
# shellcheck disable=SC2046
out="$(swaks_as $(partner_cert partner2) -- --local-interface 127.0.0.2 \
    --from joe@partner2.gov.uk --to alice@partner1.gov.uk.lgolhub.net --quit-after RCPT)"
expect_match "partner2 from 127.0.0.2: MAIL FROM" '^<~ +250 2\.1\.0' "$out"
expect_match "partner2 from 127.0.0.2: RCPT TO" '^<~ +250 2\.1\.5' "$out"
say "ok: partner2's certificate from 127.0.0.2 (its own network): accepted"

expect_eq "reject lines in hubd's log (one per refusal)" 5 \
    "$(grep -c 'reject: mail from' "$HUB_LOG" || true)"
say "ok: every refusal logged once"
