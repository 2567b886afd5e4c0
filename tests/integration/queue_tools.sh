#!/usr/bin/env bash
# queue_tools.sh -- hubctl's queue tools against a real hubd and a real Postfix partner:
#   - list --format json parses (python3 json) and shows each recipient in delivered form,
#     deferred with its reason and next try while partner2 is down, held once held;
#   - show prints the envelope, the history and the headers, --body the whole message;
#   - several ids at once; one unknown id among them refuses the whole command;
#   - a mistyped subcommand gets "did you mean ...?";
#   - a hold survives SIGTERM and kill -9 restarts; hold ALL --partner on a stopped hub is
#     in effect when it starts; retry on a stopped hub is refused;
#   - delete, restart: the message never comes back;
#   - release ALL --partner partner2: each released message delivered exactly once, counted
#     in joe's Maildir at partner2;
#   - delivery.queue_messages_max = 1: the next message gets 452 4.3.1 at the end of DATA,
#     nothing is left in the spool outside the queue, and a delete makes room again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL
need_postfix

read -r P1_PORT P2_PORT < <(pick_ports 2)
hub_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2
hub_start

hubctl() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }

# send SUBJECT: one message joe@partner1 -> joe@partner2 (hub form); prints its queue id.
send() {
    local out
    out="$(swaks_hub --port "$SMTP_PORT" --tls --to joe@partner2.gov.uk.lgolhub.net \
        --header "Subject: $1" --body "body of $1")" || fail "swaks ($1): $out"
    grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | awk '{print $3}'
}

# json_check PYTHON_EXPR...: parse `queue list --format json` and assert each expression
# (q = the parsed list, m = {queue_id: message}); fails showing the listing.
JSON_CHECK_PY='
import json, sys
q = json.load(sys.stdin)
assert isinstance(q, list)
m = {x["queue_id"]: x for x in q}
for expr in sys.argv[1:]:
    if not eval(expr):
        sys.exit("failed: " + expr)
'
json_check() {
    local json
    json="$(hubctl queue list --format json)" || fail "queue list --format json: $json"
    "$PYTHON" -c "$JSON_CHECK_PY" "$@" <<<"$json" || fail "queue list --format json:
$json"
}
state_of() {  # state_of ID: the first recipient's state, from the JSON listing
    hubctl queue list --format json |
        "$PYTHON" -c 'import json,sys; print(next((x["recipients"][0]["state"] for x in json.load(sys.stdin) if x["queue_id"] == sys.argv[1]), "absent"))' "$1"
}

ID1="$(send qt-one)"
ID2="$(send qt-two)"
ID3="$(send qt-three)"
[[ -n "$ID1" && -n "$ID2" && -n "$ID3" ]] || fail "no queue ids: '$ID1' '$ID2' '$ID3'"
say "queued $ID1 $ID2 $ID3 (partner2 is down)"

# --- list: JSON, deferred with reason and next try -----------------------------------------
wait_until 60 "three deferred messages" bash -c \
    "[[ \$('$HUBCTL' --config '$STATE/hub.conf' queue list --format tsv | grep -c 'deferred') -ge 3 ]]"
json_check "len(q) == 3" "all(x['view'] == 'running' for x in q)" \
    "m['$ID1']['recipients'][0]['address'] == 'joe@partner2.gov.uk'" \
    "m['$ID1']['recipients'][0]['envelope_address'] == 'joe@partner2.gov.uk.lgolhub.net'" \
    "m['$ID1']['recipients'][0]['partner'] == 'partner2'" \
    "m['$ID1']['recipients'][0]['state'] == 'deferred'" \
    "m['$ID1']['recipients'][0]['reason'] != ''" \
    "isinstance(m['$ID1']['recipients'][0]['next_try_unix_s'], int)" \
    "m['$ID1']['sender'] == 'joe@partner1.gov.uk'" \
    "m['$ID1']['size_bytes'] > 0 and m['$ID1']['held'] is False"
say "ok: list --format json: deferred with reason and next try, delivered form"
text="$(hubctl queue list)"
expect_match "text listing: running view" '^-- hubd is running' "$text"
expect_match "text listing: deferred reason" '\(deferred: .*; next try ' "$text"

# --- did you mean ----------------------------------------------------------------------------
status=0
out="$(hubctl queue hodl "$ID1" 2>&1)" || status=$?
expect_eq "queue hodl: exit status" 2 "$status"
expect_match "queue hodl" "did you mean 'hold'\?" "$out"
status=0
out="$(hubctl qeueu list 2>&1)" || status=$?
expect_eq "qeueu list: exit status" 2 "$status"
expect_match "qeueu list" "did you mean 'queue'\?" "$out"
say "ok: did you mean"

# --- several ids; one unknown refuses the whole command -----------------------------------
status=0
out="$(hubctl queue hold "$ID1" FFFFFFFFFFFFFFFF 2>&1)" || status=$?
expect_eq "hold with an unknown id: exit status" 1 "$status"
expect_match "hold with an unknown id" 'not in the queue: FFFFFFFFFFFFFFFF.*nothing was changed' \
    "$out"
expect_eq "after the refused hold, $ID1" deferred "$(state_of "$ID1")"
out="$(hubctl queue hold "$ID1" "$ID2" 2>&1)" || fail "hold $ID1 $ID2: $out"
expect_match "hold two ids" "ok: $ID1 held" "$out"
expect_match "hold two ids" "ok: $ID2 held" "$out"
json_check "m['$ID1']['held'] and m['$ID2']['held'] and not m['$ID3']['held']" \
    "m['$ID1']['recipients'][0]['state'] == 'held'"
expect_match "text listing marks a held message" "^$ID1!" "$(hubctl queue list)"
say "ok: several ids; an unknown one changes nothing; held shown as held"

# --- show -----------------------------------------------------------------------------------
out="$(hubctl queue show "$ID1")" || fail "show $ID1: $out"
expect_match "show: envelope" '^sender: joe@partner1\.gov\.uk$' "$out"
expect_match "show: recipient" \
    '^recipient 0: joe@partner2\.gov\.uk\.lgolhub\.net -> joe@partner2\.gov\.uk via partner2 \(held\)$' \
    "$out"
expect_match "show: history" 'message held$' "$out"
expect_match "show: headers" '^Subject: qt-one$' "$out"
expect_no_match "show: no body without --body" 'body of qt-one' "$out"
out="$(hubctl queue show --body "$ID1")" || fail "show --body $ID1: $out"
expect_match "show --body" '^body of qt-one$' "$out"
say "ok: show (envelope, history, headers) and show --body"

# --- holds survive restarts -----------------------------------------------------------------
hub_stop
hub_start
json_check "m['$ID1']['held'] and m['$ID2']['held'] and not m['$ID3']['held']" \
    "m['$ID1']['view'] == 'running'"
say "ok: held after a SIGTERM restart"
hub_kill9
hub_start
json_check "m['$ID1']['held'] and m['$ID2']['held'] and not m['$ID3']['held']"
say "ok: held after a kill -9 restart"

# --- a stopped hub --------------------------------------------------------------------------
hub_stop
status=0
out="$(hubctl queue retry "$ID3" 2>&1)" || status=$?
expect_eq "retry on a stopped hub: exit status" 1 "$status"
expect_match "retry on a stopped hub" 'retry needs a running hubd' "$out"
out="$(hubctl queue hold ALL --partner partner1 2>&1)" || fail "hold ALL --partner partner1: $out"
expect_match "hold ALL --partner partner1 (nothing routes there)" 'no message matches' "$out"
out="$(hubctl queue hold ALL --partner partner2 2>&1)" || fail "hold ALL --partner partner2: $out"
expect_match "hold ALL on a stopped hub" "ok: $ID3 held" "$out"
expect_match "hold ALL on a stopped hub" "ok: $ID1 already held" "$out"
expect_match "hold ALL on a stopped hub" 'hubd is stopped' "$out"
json_check "all(x['view'] == 'stopped' for x in q)" "m['$ID3']['held']" \
    "m['$ID3']['recipients'][0]['state'] == 'held'"
hub_start
json_check "m['$ID3']['held'] and m['$ID3']['view'] == 'running'"
say "ok: hold ALL --partner on a stopped hub, held once it starts; retry refused"

# --- delete never comes back ----------------------------------------------------------------
out="$(hubctl queue delete "$ID2" 2>&1)" || fail "delete $ID2: $out"
expect_match "delete" "ok: $ID2 deleted" "$out"
json_check "'$ID2' not in m" "len(q) == 2"
hub_kill9
hub_start
json_check "'$ID2' not in m" "len(q) == 2"
status=0
out="$(hubctl queue show "$ID2" 2>&1)" || status=$?
expect_eq "show a deleted message: exit status" 1 "$status"
say "ok: a deleted message does not come back after kill -9"

# --- release delivers exactly once ----------------------------------------------------------
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
    --key "$STATE/partner2.key"
P2="$(partner_dir partner2)"
sleep 3  # Two retry intervals: held mail must not move while partner2 is up.
expect_eq "joe's Maildir while everything is held" 0 "$(partner count "$P2" joe)"
out="$(hubctl queue release ALL --partner partner2 2>&1)" || fail "release ALL: $out"
expect_match "release ALL" "ok: $ID1 released" "$out"
expect_match "release ALL" "ok: $ID3 released" "$out"
wait_until 60 "two messages in joe's Maildir at partner2" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge 2 ]]"
wait_until 30 "the hub's queue to drain" bash -c \
    "[[ -z \$('$HUBCTL' --config '$STATE/hub.conf' queue list --format tsv | grep -v '^#') ]]"
sleep 2
expect_eq "messages in joe's Maildir" 2 "$(partner count "$P2" joe)"
copies() {  # copies SUBJECT: messages with that subject in joe's Maildir at partner2
    { grep -l "^Subject: $1\$" "$P2"/mail/joe/new/* "$P2"/mail/joe/cur/* 2>/dev/null || true; } |
        wc -l
}
expect_eq "copies of qt-one at partner2" 1 "$(copies qt-one)"
expect_eq "copies of qt-three at partner2" 1 "$(copies qt-three)"
expect_eq "copies of the deleted qt-two at partner2" 0 "$(copies qt-two)"
say "ok: release delivered each held message exactly once; the deleted one never"

# --- a full queue answers 452 before DATA is acknowledged ----------------------------------
# One shard whose queue holds one message; partner2 down again, so the first one stays.
hub_stop
partner_stop partner2
sed -i -e 's/^shards = .*/shards = 1/' -e 's/^\[delivery\]$/[delivery]\nqueue_messages_max = 1/' \
    "$STATE/hub.conf"
grep -q '^queue_messages_max = 1$' "$STATE/hub.conf" || fail "could not set queue_messages_max:
$(cat "$STATE/hub.conf")"
hub_start
ID4="$(send qt-four)"
[[ -n "$ID4" ]] || fail "the first message into an empty queue was not accepted"
out="$(swaks_hub --port "$SMTP_PORT" --tls --to joe@partner2.gov.uk.lgolhub.net \
    --header "Subject: qt-five" || true)"
expect_match "a message past queue_messages_max" '<~\* +452 4\.3\.1' "$out"
expect_no_match "a message past queue_messages_max" 'queued as' "$out"
json_check "len(q) == 1" "'$ID4' in m" \
    "m['$ID4']['recipients'][0]['state'] in ('active', 'deferred')"
out="$(hubctl queue delete "$ID4" 2>&1)" || fail "delete $ID4: $out"
ID6="$(send qt-six)"
[[ -n "$ID6" ]] || fail "no room again after a delete"
json_check "len(q) == 1" "'$ID6' in m"
say "ok: a full shard queue answers 452 4.3.1 and strands nothing; room again after a delete"
hub_stop
say "PASS"
