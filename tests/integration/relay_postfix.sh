#!/usr/bin/env bash
# relay_postfix.sh -- the hub's whole job, end to end, with real Postfix as both partners.
# Two private Postfix instances on loopback, each with a certificate from the dev CA, relay
# everything for *.lgolhub.net to the hub over verified TLS:
#   1. alice@partner1 -> joe@partner2.gov.uk.lgolhub.net arrives in joe's Maildir with the
#      headers rewritten (other partners' addresses in hub form, partner2's own bare) and a
#      hub Received: line showing TLS; both hops are TLS in the Postfix logs;
#   2. joe's reply to the From address arrives back at partner1 through the hub;
#   3. the ping address answers with what the hub saw;
#   4. a 5xx from partner2 becomes a delivery report at alice naming the hub and the reply;
#   5. partner2 down: messages are deferred, then delivered once it is back, no duplicates;
#   6. a partner without STARTTLS never receives the message; after the (shortened) queue
#      lifetime alice gets a report naming partner2's server;
#   7. the same for a partner whose certificate is not from the hub CA;
#   8. a partner down past the lifetime: a report naming its server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL
need_postfix

read -r P1_PORT P2_PORT < <(pick_ports 2)
hub_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2 \
    --lifetime 25
hub_start

# start_partner N [extra options]: started, or if running restarted in place with these options
# (partner restart: the port stays bound, so no test running beside this one can take it).
start_partner() {
    local n="$1"
    shift
    local port_var="P${n}_PORT"
    partner_restart "partner$n" --domain "partner$n.gov.uk" --smtp-port "${!port_var}" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner$n.pem" \
        --key "$STATE/partner$n.key" --users nobody2 "$@"
}
start_partner 1
start_partner 2
P1="$(partner_dir partner1)"
P2="$(partner_dir partner2)"

# newest USER DIR: the newest message in USER's Maildir (CR removed).
newest() { ls -t "$2/mail/$1/new/"* 2>/dev/null | head -n1 | xargs -r cat | tr -d '\r'; }
count() { partner count "$2" "$1"; }
wait_count() {  # wait_count USER DIR N SECONDS
    wait_until "$4" "$3 message(s) in $1's Maildir at $(basename "$2")" \
        bash -c "[[ \$('$PARTNER' count '$2' '$1') -ge $3 ]]"
}

# --- 1. partner1 -> hub -> partner2, rewritten ---------------------------------------------
partner send "$P1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
    --subject "hello joe" --header "Cc: Bob <bob@partner2.gov.uk.lgolhub.net>, carol@partner1.gov.uk" \
    >/dev/null
wait_count joe "$P2" 1 60
message="$(newest joe "$P2")"
headers="$(sed '/^$/q' <<<"$message")"
expect_match "joe's copy: From" '^From: alice@partner1\.gov\.uk\.lgolhub\.net$' "$headers"
expect_match "joe's copy: To (his own partner's domain, bare)" '^To: joe@partner2\.gov\.uk$' \
    "$headers"
expect_match "joe's copy: Cc" \
    '^Cc: Bob <bob@partner2\.gov\.uk>, carol@partner1\.gov\.uk\.lgolhub\.net$' "$headers"
expect_match "joe's copy: Return-Path" '^Return-Path: <alice@partner1\.gov\.uk\.lgolhub\.net>$' \
    "$headers"
expect_match "joe's copy: the hub's Received: shows TLS" \
    'by hub\.lgolhub\.net \(Hubbox\) with ESMTPS' "$headers"
expect_match "joe's copy: the hub's Received: shows the cipher" \
    'using TLSv1\.[23] with cipher [A-Z0-9_-]+ \((128|256)/(128|256) bits\)' "$headers"
expect_match "partner1 -> hub is verified TLS (partner1's log)" \
    "Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$SMTP_PORT" \
    "$(partner_log partner1)"
expect_match "hub -> partner2 is TLS with a trusted client certificate (partner2's log)" \
    'Trusted TLS connection established from' "$(partner_log partner2)"
say "ok: alice -> joe through the hub, rewritten, TLS on both hops"

# --- 2. joe replies to the From address ----------------------------------------------------
partner send "$P2" --from joe@partner2.gov.uk --to alice@partner1.gov.uk.lgolhub.net \
    --subject "Re: hello joe" >/dev/null
wait_count alice "$P1" 1 60
reply="$(newest alice "$P1")"
expect_match "alice's copy of the reply: From" '^From: joe@partner2\.gov\.uk\.lgolhub\.net$' \
    "$reply"
expect_match "alice's copy of the reply: To" '^To: alice@partner1\.gov\.uk$' "$reply"
say "ok: joe's reply came back to alice through the hub"

# --- 3. the ping address ----------------------------------------------------------------------
before="$(count alice "$P1")"
partner send "$P1" --from alice@partner1.gov.uk \
    --to lgolhubping@partner1.gov.uk.lgolhub.net --subject "ping test" >/dev/null
wait_count alice "$P1" $((before + 1)) 60
ping_reply="$(newest alice "$P1")"
expect_match "ping reply: subject" '^Subject: Hubbox ping reply' "$ping_reply"
expect_match "ping reply: the partner matched" 'partner1' "$ping_reply"
expect_match "ping reply: TLS" 'TLSv1\.[23]' "$ping_reply"
expect_match "ping reply: original subject" 'ping test' "$ping_reply"
say "ok: the ping address answered"

# --- 4. a 5xx from partner2 becomes a report --------------------------------------------------
before="$(count alice "$P1")"
partner send "$P1" --from alice@partner1.gov.uk --to nosuchuser@partner2.gov.uk.lgolhub.net \
    --subject "to nobody" >/dev/null
wait_count alice "$P1" $((before + 1)) 60
report="$(newest alice "$P1")"
expect_match "report: subject" '^Subject: Undelivered Mail Returned to Sender' "$report"
expect_match "report: names the hub" 'hub\.lgolhub\.net' "$report"
expect_match "report: quotes partner2's reply" '550 5\.1\.1' "$report"
expect_match "report: names partner2's server" "127\.0\.0\.1\]:$P2_PORT" "$report"
say "ok: partner2's 550 5.1.1 came back to alice as a delivery report"

# --- 5. partner2 down, then back: delivered once each -----------------------------------------
before="$(count joe "$P2")"
partner_stop partner2
for n in 1 2 3; do
    partner send "$P1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
        --subject "while down $n" >/dev/null
done
wait_until 60 "the hub to defer mail for partner2" \
    bash -c "grep -c 'status=deferred' '$HUB_LOG' | grep -qv '^0$'"
wait_until 30 "three messages in the hub's queue" bash -c "[[ \$('$HUBCTL' --config \
    '$STATE/hub.conf' queue list --format tsv | grep -c 'while down\|joe@') -ge 3 ]]"
held="$(queue_tsv | awk -F'\t' '$3 == "joe@partner2.gov.uk.lgolhub.net" {print $1}' | head -n1)"
out="$("$HUBCTL" --config "$STATE/hub.conf" queue hold "$held" 2>&1)" ||
    fail "hubctl queue hold $held: $out"
expect_match "hubctl queue hold" "^ok: $held held" "$out"
start_partner 2
wait_count joe "$P2" $((before + 2)) 60
sleep 3  # The held one must stay; any duplicate would arrive within the retry delay.
expect_eq "joe's messages with one held" "$((before + 2))" "$(count joe "$P2")"
expect_match "the held message is still queued" "^$held"$'\t' "$(queue_tsv)"
out="$("$HUBCTL" --config "$STATE/hub.conf" queue release "$held" 2>&1)" ||
    fail "hubctl queue release $held: $out"
"$HUBCTL" --config "$STATE/hub.conf" queue retry "$held" >/dev/null 2>&1 || true
wait_count joe "$P2" $((before + 3)) 60
sleep 3
expect_eq "joe's messages after partner2 came back" "$((before + 3))" "$(count joe "$P2")"
say "ok: deferred while partner2 was down, then delivered exactly once each;" \
    "hubctl hold kept one back until release"

# --- 5b. a mail loop: more than 30 Received: fields is bounced, not relayed ----------------------
before="$(count alice "$P1")"
before_joe="$(count joe "$P2")"
loop_headers=()
for n in $(seq 1 31); do
    loop_headers+=(--add-header "Received: from relay$n.example by relay$((n + 1)).example; Wed, 25 Nov 2026 12:00:00 +0000")
done
out="$(swaks_hub --port "$SMTP_PORT" --tls --from alice@partner1.gov.uk \
    --to joe@partner2.gov.uk.lgolhub.net "${loop_headers[@]}")" || fail "swaks loop: $out"
wait_count alice "$P1" $((before + 1)) 60
expect_match "loop report" '5\.4\.6' "$(newest alice "$P1")"
expect_eq "joe got nothing from the loop" "$before_joe" "$(count joe "$P2")"
say "ok: 31 Received: fields -> bounced with 5.4.6, never relayed"

# expect_lifetime_report WHAT WHY_PATTERN [partner2 start options | "down"]: partner2 comes
# back in the given state (or stays down); a message for joe is never delivered, and after
# the lifetime alice gets a report naming partner2's server and the reason.
expect_lifetime_report() {
    local what="$1" why="$2" state="$3"
    if [[ "$state" == down ]]; then
        partner_stop partner2
    else
        start_partner 2 $state
    fi
    local before_joe before report
    before_joe="$(count joe "$P2")"
    before="$(count alice "$P1")"
    partner send "$P1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
        --subject "$what" >/dev/null
    wait_count alice "$P1" $((before + 1)) 90
    report="$(newest alice "$P1")"
    expect_match "$what: report subject" '^Subject: Undelivered Mail Returned to Sender' \
        "$report"
    expect_match "$what: report names partner2's server" "127\.0\.0\.1\]:$P2_PORT" "$report"
    expect_match "$what: report says why" "$why" "$report"
    expect_eq "$what: joe got nothing" "$before_joe" "$(count joe "$P2")"
    say "ok: $what: never sent, reported to alice after the lifetime"
}

# --- 6-8. no STARTTLS, a certificate not from the hub CA, partner2 down for good -------------
expect_lifetime_report "no STARTTLS at partner2" 'STARTTLS' --no-starttls
expect_lifetime_report "partner2's certificate not from the hub CA" 'TLS' --cert-untrusted
expect_match "the hub logged the certificate failure" 'TLS with .* failed' "$(cat "$HUB_LOG")"
expect_lifetime_report "partner2 down" 'refused' down
