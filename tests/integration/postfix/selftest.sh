#!/usr/bin/env bash
# selftest -- the Postfix partner harness on its own, without hubd: two private instances,
# partner1 and partner2, each other's "hub" (relayhost), with the dev CA's certificates.
#   1. alice@partner1.gov.uk -> joe@partner2.gov.uk arrives in partner2's Maildir for joe;
#      partner1 logs "Verified TLS connection established to", partner2 logs "Trusted TLS
#      connection established from" (client certificate verified), and joe's Received: line
#      shows TLS and the verified client CN. joe's reply comes back to alice the same way.
#   2. partner2 serving a self-signed certificate (--cert-untrusted): partner1 defers, the
#      message stays queued; partner2 restarted with its real certificate and a flush: it
#      arrives, once.
#   3. partner2 offering no STARTTLS (--no-starttls): partner1 defers ("TLS is required").
#   4. `partner start-hub` (the benchmark's Postfix doing the hub's job): TLS required (530
#      5.7.0 in clear), no relay for other domains (554 5.7.1), and
#      joe@partner2.gov.uk.lgolhub.net arrives at partner2 as joe@partner2.gov.uk over
#      verified TLS, its sender and From: in their hub form.
#   5. Stopped instances leave no process and no listening port; none ever listened on 25.
# Ports: random free ones, or PARTNER1_PORT / PARTNER2_PORT.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib.sh"

need_postfix
hub_init --shards 1  # Only for the dev CA and the partners' certificates: no hubd runs here.
read -r port1 port2 port_hub < <(pick_ports 3)
port1="${PARTNER1_PORT:-$port1}"
port2="${PARTNER2_PORT:-$port2}"
dir1="$(partner_dir partner1)"
dir2="$(partner_dir partner2)"
lo='127\.0\.0\.1\[127\.0\.0\.1\]'  # How Postfix logs the peer 127.0.0.1.

tls_args() {  # tls_args NAME: the dev CA and NAME's certificate from tools/dev-init.
    echo --ca "$STATE/ca.pem" --cert "$STATE/$1.pem" --key "$STATE/$1.key"
}
# shellcheck disable=SC2046
start_partner2() {  # Started, or restarted in place (partner restart keeps the port).
    partner_restart partner2 --domain partner2.gov.uk --smtp-port "$port2" \
        --hub "127.0.0.1:$port1" --hub-name partner1.gov.uk $(tls_args partner2) "$@"
}
# shellcheck disable=SC2046
partner_start partner1 --domain partner1.gov.uk --smtp-port "$port1" \
    --hub "127.0.0.1:$port2" --hub-name partner2.gov.uk $(tls_args partner1)
start_partner2

# --- 1. verified TLS both ways, Maildir delivery, a reply --------------------------------
id="$(partner send "$dir1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk \
    --subject "selftest hello")" || fail "send from partner1 failed"
say "partner1 queued $id"
partner wait-delivered "$dir2" joe 1 30 || fail "joe@partner2 did not get the message"
log1="$(partner_log partner1)"
log2="$(partner_log partner2)"
expect_match "partner1 log" \
    "smtp\[[0-9]+\]: Verified TLS connection established to $lo:$port2: TLSv1\.[23]" "$log1"
expect_match "partner1 log" \
    "$id: to=<joe@partner2\.gov\.uk>, relay=$lo:$port2, .*status=sent" "$log1"
expect_match "partner2 log" \
    "smtpd\[[0-9]+\]: Trusted TLS connection established from localhost\[127\.0\.0\.1\]: TLS" \
    "$log2"
expect_match "partner2 log" \
    "virtual\[[0-9]+\]: [0-9A-F]+: to=<joe@partner2\.gov\.uk>, relay=virtual, .*status=sent" "$log2"
message="$(cat "$(partner messages "$dir2" joe | head -n 1)")"
expect_match "joe's message" "^Subject: selftest hello$" "$message"
expect_match "joe's message" "^Delivered-To: joe@partner2\.gov\.uk$" "$message"
received="$(sed -n '/^Received: from mx\.partner1\.gov\.uk/,/^[^[:space:]]/p' <<<"$message" |
    sed '$d')"
expect_match "Received: from partner1" "using TLSv1\.[23] with cipher" "$received"
expect_match "Received: from partner1" \
    'Client CN "partner1\.gov\.uk", Issuer "Hubbox Dev CA" \(verified OK\)' "$received"
expect_match "Received: from partner1" "with ESMTPS id" "$received"
show "$received"

partner send "$dir2" --from joe@partner2.gov.uk --to alice@partner1.gov.uk \
    --subject "Re: selftest hello" >/dev/null || fail "reply from partner2 failed"
partner wait-delivered "$dir1" alice 1 30 || fail "alice@partner1 did not get joe's reply"
expect_match "partner2 log" "Verified TLS connection established to $lo:$port1" \
    "$(partner_log partner2)"
say "1. verified TLS on both sides, delivered to joe's Maildir, reply delivered to alice"

# --- 2. a certificate not from the CA: deferred, then delivered once ---------------------
start_partner2 --cert-untrusted
id="$(partner send "$dir1" --from alice@partner1.gov.uk --to bob@partner2.gov.uk \
    --subject "untrusted")" || fail "send from partner1 failed"
untrusted_deferred() {
    grep -Eq "$id: to=<bob@partner2\.gov\.uk>, .*status=deferred \(Server certificate not" \
        <<<"$(partner_log partner1)"
}
wait_until 30 "partner1 to defer $id (untrusted certificate)" untrusted_deferred
expect_match "partner1 log" \
    "certificate verification failed for $lo:$port2: (untrusted issuer|self-signed certificate)" \
    "$(partner_log partner1)"
expect_match "partner1 queue" "^${id}[ *!]" "$(partner queue "$dir1")"
expect_eq "bob's messages (untrusted certificate)" 0 "$(partner count "$dir2" bob)"
start_partner2
partner flush "$dir1" || fail "partner flush failed"
partner wait-delivered "$dir2" bob 1 30 || fail "bob did not get the message after the flush"
sleep 1
expect_eq "bob's messages (no duplicate)" 1 "$(partner count "$dir2" bob)"
expect_match "partner1 queue after the flush" "Mail queue is empty" "$(partner queue "$dir1")"
say "2. untrusted certificate: deferred and kept; delivered once after the fix and a flush"

# --- 3. no STARTTLS: deferred, never sent in clear ---------------------------------------
start_partner2 --no-starttls
ehlo="$(timeout 30 swaks --server 127.0.0.1 --port "$port2" --quit-after EHLO 2>&1)" || true
expect_no_match "partner2 EHLO with --no-starttls" "STARTTLS" "$ehlo"
id="$(partner send "$dir1" --from alice@partner1.gov.uk --to carol@partner2.gov.uk \
    --subject "no starttls")" || fail "send from partner1 failed"
cleartext_refused() {
    grep -Eq "$id: to=<carol@partner2\.gov\.uk>, .*status=deferred \(TLS is required, but was not" \
        <<<"$(partner_log partner1)"
}
wait_until 30 "partner1 to defer $id (no STARTTLS)" cleartext_refused
expect_eq "carol's messages" 0 "$(partner count "$dir2" carol)"
say "3. no STARTTLS offered: deferred, nothing sent"

# --- 4. start-hub: the hub's job done by Postfix ------------------------------------------
start_partner2
dir_hub="$(partner_dir hub)"
PARTNER_DIRS+=("$dir_hub")
# shellcheck disable=SC2046
out="$(partner start-hub "$dir_hub" --smtp-port "$port_hub" $(tls_args hub) \
    --route "partner1.gov.uk=127.0.0.1:$port1=partner1.gov.uk" \
    --route "partner2.gov.uk=127.0.0.1:$port2=partner2.gov.uk" 2>&1)" ||
    fail "partner start-hub: $out"
# shellcheck disable=SC2046
hub_swaks() {
    timeout 30 swaks --server 127.0.0.1 --port "$port_hub" --helo partner1.gov.uk \
        --from alice@partner1.gov.uk $(printf -- '--tls-cert %s --tls-key %s' \
        "$STATE/partner1.pem" "$STATE/partner1.key") "$@" 2>&1 || true
}
expect_match "hub, MAIL in clear" "530 5\.7\.0 Must issue a STARTTLS" \
    "$(hub_swaks --to joe@partner2.gov.uk.lgolhub.net)"
expect_match "hub, a domain it does not serve" "554 5\.7\.1 .*Relay access denied" \
    "$(hub_swaks --tls --to someone@example.com)"
expect_match "hub, a partner's hub address" "250 2\.0\.0 Ok: queued" \
    "$(hub_swaks --tls --to joe@partner2.gov.uk.lgolhub.net --header "Subject: via hub" \
        --header "To: joe@partner2.gov.uk.lgolhub.net")"
partner wait-delivered "$dir2" joe 2 30 || fail "joe@partner2 did not get the hub's message"
message="$(cat "$(partner messages "$dir2" joe | tail -n 1)")"
expect_match "via hub" "^Subject: via hub$" "$message"
expect_match "via hub" "^Return-Path: <alice@partner1\.gov\.uk\.lgolhub\.net>$" "$message"
expect_match "via hub" "^From: alice@partner1\.gov\.uk\.lgolhub\.net$" "$message"
expect_match "via hub" "^To: joe@partner2\.gov\.uk$" "$message"
expect_match "hub log" \
    "smtp\[[0-9]+\]: Verified TLS connection established to $lo:$port2: TLSv1\.[23]" \
    "$(partner_log hub)"
say "4. start-hub: TLS required, no open relay, rewritten and relayed over verified TLS"

# --- 5. clean stop ------------------------------------------------------------------------
listening="$(ss -Hltnp 2>/dev/null | grep '"master"' || true)"
expect_no_match "ports of the Postfix masters" "[:.]25[[:space:]]" "$listening"
masters="$(cat "$dir1/queue/pid/master.pid" "$dir2/queue/pid/master.pid" \
    "$dir_hub/queue/pid/master.pid" | tr -d ' ')"
partner_stop partner1
partner_stop partner2
partner_stop hub
for pid in $masters; do
    children="$(pgrep -P "$pid" || true)"
    [[ -z "$children" ]] || fail "processes of master $pid left after stop: $children"
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != */master ]] || fail "master $pid still runs"
done
! port_listening "$port1" || fail "port $port1 still listening after stop"
! port_listening "$port2" || fail "port $port2 still listening after stop"
! partner status "$dir1" >/dev/null || fail "partner1 still reports running"
! port_listening "$port_hub" || fail "port $port_hub still listening after stop"
say "5. all stopped: no master, no child, no listening port"
say "PASS"
