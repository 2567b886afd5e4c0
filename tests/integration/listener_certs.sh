#!/usr/bin/env bash
# listener_certs.sh -- certificates per listening address and SNI name (root: the keys are
# root-only files hubd reads before it drops privileges), with real clients:
#   1. hubctl listener-cert add against a running hubd: the answer says the change needs a
#      restart, and the running listeners keep presenting tls.certificate;
#   2. after the restart, openssl s_client (STARTTLS on listen.smtp, implicit TLS on
#      listen.smtps) sees each address's own certificate without SNI and with an unknown
#      name, the SNI row's certificate for its name on its address, and the "*" SNI row's
#      on both addresses;
#   3. swaks relays over each listener, with SNI, with partner1's client certificate (the
#      inbound policy still applies on every context), and a session without a certificate
#      is still refused;
#   hubd --check reports a row whose key no longer matches its certificate;
#   4. listener-cert remove and a restart bring back tls.certificate.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL
[[ $EUID -eq 0 ]] || skip "needs root: listener keys are root-only files read before the privilege drop"

hub_init --directory
hub_start
hubctl_dir() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }

# issue_server NAME CN: a server certificate from the hub's dev CA, key root-only.
mkdir -m 0700 "$WORK/keys"
issue_server() {
    local name="$1" cn="$2"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Hub Test/CN=$cn" \
        -keyout "$WORK/keys/$name.key" -out "$WORK/$name.csr" 2>/dev/null
    printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=serverAuth "subjectAltName=DNS:$cn" >"$WORK/$name.ext"
    openssl x509 -req -in "$WORK/$name.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca.key" \
        -days 2 -sha256 -set_serial "0x$(openssl rand -hex 8)" -extfile "$WORK/$name.ext" \
        -out "$WORK/$name.pem" 2>/dev/null || fail "openssl could not issue $name ($cn)"
    chmod 0600 "$WORK/keys/$name.key"
}
issue_server smtp smtp.hub.test
issue_server smtps smtps.hub.test
issue_server mx1 mx1.hub.test
issue_server any mx2.hub.test

# subject_of PORT MODE [SERVERNAME]: the subject of the certificate the listener presents,
# MODE starttls or implicit; no SERVERNAME: no SNI at all.
subject_of() {
    local port="$1" mode="$2" name="${3:-}" args=()
    [[ "$mode" == starttls ]] && args+=(-starttls smtp)
    if [[ -n "$name" ]]; then args+=(-servername "$name"); else args+=(-noservername); fi
    timeout 30 openssl s_client -connect "127.0.0.1:$port" "${args[@]}" </dev/null 2>/dev/null |
        openssl x509 -noout -subject -nameopt compat 2>/dev/null || true
}
expect_subject() {
    local what="$1" want="$2" got
    got="$(subject_of "${@:3}")"
    expect_eq "$what" "subject=$want" "$got"
    say "ok: $what: $want"
}

DEFAULT="/CN=hub.lgolhub.net"
expect_subject "before: STARTTLS listener, tls.certificate" "$DEFAULT" "$SMTP_PORT" starttls

# --- 1. rows added live: the answer says restart, nothing changes until then ---------------
add() {
    local out
    out="$(hubctl_dir listener-cert add "$@" 2>&1)" || fail "hubctl listener-cert add $*: $out"
    expect_match "listener-cert add $1: restart needed" \
        'hubd reloaded: .*listener certificates changed; restart hubd' "$out"
}
add smtp-default --address "127.0.0.1:$SMTP_PORT" --certificate "$WORK/smtp.pem" \
    --key "$WORK/keys/smtp.key"
add smtps-default --address "127.0.0.1:$SMTPS_PORT" --certificate "$WORK/smtps.pem" \
    --key "$WORK/keys/smtps.key"
add smtp-mx1 --address "127.0.0.1:$SMTP_PORT" --sni mx1.hub.test --certificate "$WORK/mx1.pem" \
    --key "$WORK/keys/mx1.key"
add any-mx2 --address '*' --sni MX2.hub.test --certificate "$WORK/any.pem" \
    --key "$WORK/keys/any.key"
out="$(hubctl_dir listener-cert add stray --address 127.0.0.9:25 --certificate "$WORK/smtp.pem" \
    --key "$WORK/keys/smtp.key" 2>&1)" && fail "an address that is no listener was accepted"
expect_match "an address that is no listener" "is not one of hubd's listeners" "$out"
expect_subject "live: STARTTLS listener keeps tls.certificate" "$DEFAULT" "$SMTP_PORT" starttls
expect_subject "live: SNI row not used before the restart" "$DEFAULT" "$SMTP_PORT" starttls \
    mx1.hub.test
out="$(hubctl_dir listener-cert list --json)"
expect_match "list: four rows" '"name":"smtps-default"' "$out"

# --- 2. after the restart: by address, by SNI, the default for an unknown name ----------------
hub_stop
# hubd --check (hubd stopped: it binds the listeners) judges the rows' files as it judges
# tls.certificate.
out="$("$HUBD" --check --config "$STATE/hub.conf" 2>&1)" || fail "hubd --check with the rows: $out"
cp "$WORK/keys/mx1.key" "$WORK/keys/mx1.key.good"
cp "$WORK/keys/any.key" "$WORK/keys/mx1.key"
out="$("$HUBD" --check --config "$STATE/hub.conf" 2>&1)" && fail "hubd --check took a wrong key"
expect_match "hubd --check: a key that is not the certificate's" \
    'error: listener certificate smtp-mx1 .*hubctl listener-cert remove smtp-mx1' "$out"
mv "$WORK/keys/mx1.key.good" "$WORK/keys/mx1.key"
say "ok: hubd --check reports a listener certificate whose key does not match"

hub_start
expect_match "start-up log names the SNI row" \
    "listener 127\.0\.0\.1:$SMTP_PORT: listener certificate smtp-default .*SNI mx1\.hub\.test" \
    "$(cat "$HUB_LOG")"
out="$(hubctl_dir status --json)"
expect_match "status: an SNI row's certificate expiry is watched" 'CN=mx1\.hub\.test' "$out"
expect_subject "smtp, no SNI" "/O=Hub Test/CN=smtp.hub.test" "$SMTP_PORT" starttls
expect_subject "smtps, no SNI" "/O=Hub Test/CN=smtps.hub.test" "$SMTPS_PORT" implicit
expect_subject "smtp, SNI mx1.hub.test" "/O=Hub Test/CN=mx1.hub.test" "$SMTP_PORT" starttls \
    mx1.hub.test
expect_subject "smtp, SNI MX1.HUB.TEST (case ignored)" "/O=Hub Test/CN=mx1.hub.test" \
    "$SMTP_PORT" starttls MX1.HUB.TEST
expect_subject "smtps, SNI mx1.hub.test (an smtp-only row)" "/O=Hub Test/CN=smtps.hub.test" \
    "$SMTPS_PORT" implicit mx1.hub.test
expect_subject "smtp, SNI mx2.hub.test (the * row)" "/O=Hub Test/CN=mx2.hub.test" "$SMTP_PORT" \
    starttls mx2.hub.test
expect_subject "smtps, SNI mx2.hub.test (the * row)" "/O=Hub Test/CN=mx2.hub.test" \
    "$SMTPS_PORT" implicit mx2.hub.test
expect_subject "smtp, unknown SNI" "/O=Hub Test/CN=smtp.hub.test" "$SMTP_PORT" starttls \
    unknown.hub.test
expect_subject "smtps, unknown SNI" "/O=Hub Test/CN=smtps.hub.test" "$SMTPS_PORT" implicit \
    unknown.hub.test
# TLS 1.2: a ClientHello of another shape through the same first-record selection.
got="$(timeout 30 openssl s_client -connect "127.0.0.1:$SMTPS_PORT" -tls1_2 -servername mx1.hub.test \
    </dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt compat 2>/dev/null || true)"
expect_eq "smtps, TLS 1.2, SNI mx1.hub.test" "subject=/O=Hub Test/CN=smtps.hub.test" "$got"
got="$(timeout 30 openssl s_client -connect "127.0.0.1:$SMTPS_PORT" -tls1_2 -servername mx2.hub.test \
    </dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt compat 2>/dev/null || true)"
expect_eq "smtps, TLS 1.2, SNI mx2.hub.test" "subject=/O=Hub Test/CN=mx2.hub.test" "$got"
say "ok: TLS 1.2 SNI selection"

# --- 3. relaying still works, client certificates still judged --------------------------------
FROM=alice@partner1.gov.uk
TO=joe@partner2.gov.uk.lgolhub.net
relay() {
    timeout 60 swaks --server 127.0.0.1 --helo mx.test --from "$FROM" --to "$TO" \
        --header "Subject: listener certs" "$@" 2>&1 || true
}
p1=(--tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key")
out="$(relay --port "$SMTP_PORT" --tls --tls-sni mx1.hub.test "${p1[@]}")"
expect_match "smtp, SNI mx1: relayed" '^<~ +250 2\.0\.0 Ok: queued as' "$out"
out="$(relay --port "$SMTPS_PORT" --tlsc --tls-sni mx2.hub.test "${p1[@]}")"
expect_match "smtps, SNI mx2: relayed" '^<~ +250 2\.0\.0 Ok: queued as' "$out"
out="$(relay --port "$SMTP_PORT" --tls)"
expect_match "smtp, no client certificate: still refused" '^<~\*? +530 5\.7\.0' "$out"
out="$(relay --port "$SMTP_PORT" --tls --tls-sni mx1.hub.test)"
expect_match "smtp, SNI mx1, no client certificate: still refused" '^<~\*? +530 5\.7\.0' "$out"
say "ok: relayed over both listeners with a client certificate; none refused wrongly"

# --- 4. remove: back to tls.certificate after a restart -------------------------------------
for name in smtp-default smtps-default smtp-mx1 any-mx2; do
    out="$(hubctl_dir listener-cert remove "$name" 2>&1)" || fail "listener-cert remove $name: $out"
done
out="$(hubctl_dir audit --partner listener-cert:smtp-mx1 --json)"
expect_match "audit: add and remove" '"action":"listener-cert remove"' "$out"
hub_stop
hub_start
expect_subject "after remove: smtp" "$DEFAULT" "$SMTP_PORT" starttls mx1.hub.test
expect_subject "after remove: smtps" "$DEFAULT" "$SMTPS_PORT" implicit mx2.hub.test
