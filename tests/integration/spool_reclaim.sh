#!/usr/bin/env bash
# spool_reclaim.sh -- the spool gives its disk back: dead segments are deleted, a segment
# pinned by one deferred message is compacted, and kill -9 during all that loses nothing.
# 1 MiB segments (spool.segment_bytes_max), 2 shards, a real Postfix partner2 that answers
# 450 for the user "stuck" (unknown_virtual_mailbox_reject_code), so one message stays live
# while hundreds of others are delivered to joe.
#   1. One message to stuck, then 300 x 20 KB to joe: every acknowledged message reaches
#      joe, the segment files are deleted (at most a few per shard remain, from 3+ each),
#      the stuck message was copied forward (the log says so) and is still queued once,
#      and hubd's open segment descriptors stay bounded.
#   2. Twice: load again and kill -9 hubd right after a compaction copy, restart. Every
#      acknowledged message is at joe at least once (none lost), duplicates stay within the
#      documented window, the stuck message is listed exactly once (recovery de-duplicates
#      its two copies), and the segments are reclaimed again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
need_postfix

read -r P2_PORT < <(pick_ports 1)
hub_init --partner2-outbound "$P2_PORT" --retry-delay 1 --recovery-spread 1
sed -i 's/^reserve_bytes = .*/&\nsegment_bytes_max = 1048576/' "$STATE/hub.conf"
grep -q '^segment_bytes_max = 1048576' "$STATE/hub.conf" || fail "could not set segment_bytes_max"
hub_start
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
    --key "$STATE/partner2.key"
P2="$(partner_dir partner2)"
partner postconf "$P2" -e unknown_virtual_mailbox_reject_code=450 >/dev/null
partner postconf "$P2" -e "smtpd_recipient_restrictions=" >/dev/null 2>&1 || true
"$PARTNER" flush "$P2" >/dev/null 2>&1 || true

ACKED="$WORK/acked.log"
: >"$ACKED"
tls=(--ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key")
segments() { find "$STATE/spool" -name '*.seg' | wc -l; }
created() {  # Segment files ever created: the highest sequence number in each shard.
    local dir last total=0
    for dir in "$STATE"/spool/shard-*; do
        last="$(find "$dir" -name '*.seg' -printf '%f\n' | sort | tail -n 1)"
        [[ -z "$last" ]] || total=$((total + 16#${last%.seg}))
    done
    echo "$total"
}
segment_fds() { find "/proc/$HUBD_PID/fd" -lname '*.seg*' 2>/dev/null | wc -l; }
load() {  # load RUN_ID: 10 sessions x 30 messages of 20 KB to joe.
    "$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --mode starttls --sessions 10 --messages 30 \
        --size 20000 "${tls[@]}" --from alice@partner1.gov.uk \
        --to joe@partner2.gov.uk.lgolhub.net --acked-log "$ACKED" --run-id "$1" \
        --time-limit 120 >"$WORK/loadgen-$1.log" 2>&1
}
delivered_all() {  # Every acknowledged token is in joe's Maildir.
    grep -h -i '^Message-ID:' "$P2"/mail/joe/new/* 2>/dev/null | tr -d '\r' |
        grep -o '<[^@]*@' | tr -d '<@' | sort -u >"$WORK/delivered.txt"
    [[ -z "$(cut -d' ' -f1 "$ACKED" | sort -u | comm -23 - "$WORK/delivered.txt")" ]]
}
queue_is_only_stuck() { [[ "$(queue_tsv | cut -f1)" == "$STUCK" ]]; }
stuck_listed() { queue_tsv | cut -f1 | grep -c "^$STUCK\$" || true; }

# 1. One deferred message, then enough mail to roll several segments per shard.
swaks_hub --port "$SMTP_PORT" --tls --to stuck@partner2.gov.uk.lgolhub.net --header "Subject: stuck" >"$WORK/stuck.out" ||
    fail "the stuck message was not accepted: $(tail -n 5 "$WORK/stuck.out")"
STUCK="$(grep -Eo 'queued as [0-9A-F]{16}' "$WORK/stuck.out" | awk '{print $3}')"
[[ -n "$STUCK" ]] || fail "no queue id for the stuck message"
wait_until 60 "partner2 to defer the stuck message" \
    bash -c "grep -q '$STUCK: to=<stuck@partner2.gov.uk>.*status=deferred' '$HUB_LOG'"
say "stuck message $STUCK deferred by partner2 (450)"
load wave1 || true
acked="$(wc -l <"$ACKED")"
((acked >= 250)) || fail "only $acked of 300 messages acknowledged: $(tail -n 3 "$WORK/loadgen-wave1.log")"
wait_until 180 "joe to have all $acked acknowledged messages" delivered_all
wait_until 60 "the queue to hold only the stuck message" queue_is_only_stuck
wait_until 60 "dead segments to be deleted (now $(segments))" bash -c \
    "(( \$(find '$STATE/spool' -name '*.seg' | wc -l) <= 4 ))"
made="$(created)"
((made >= 6)) || fail "only $made segment files were created: the load did not roll segments"
say "ok: $acked delivered; $made segment files created, $(segments) left:" \
    "$(cd "$STATE/spool" && find . -name '*.seg' | sort | tr '\n' ' ')"
grep -q "compaction copied" "$HUB_LOG" || fail "no compaction was logged"
say "ok: $(grep -c 'compaction copied' "$HUB_LOG") compaction rounds:" \
    "$(grep 'compaction copied' "$HUB_LOG" | tail -n 1 | sed 's/.*spool: //')"
expect_eq "the stuck message listed once" 1 "$(stuck_listed)"
fds="$(segment_fds)"
((fds <= 4)) || fail "hubd holds $fds segment descriptors: $(ls -l "/proc/$HUBD_PID/fd" | grep seg)"
say "ok: hubd holds $fds open segment descriptors"
delivered_before="$(wc -l <"$WORK/delivered.txt")"

# 2. kill -9 right after a compaction copy, twice.
for round in 1 2; do
    copies_before="$(grep -c 'compaction copied' "$HUB_LOG" || true)"
    load "kill$round" &
    LOAD_PID=$!
    wait_until 120 "a compaction during load round $round" bash -c \
        "(( \$(grep -c 'compaction copied' '$HUB_LOG' || true) > $copies_before ))"
    sleep "0.0$((RANDOM % 10))"
    hub_kill9
    say "round $round: killed hubd right after a compaction copy"
    wait "$LOAD_PID" || true
    hub_start
    expect_eq "round $round: the stuck message listed once after recovery" 1 "$(stuck_listed)"
done
acked="$(wc -l <"$ACKED")"
wait_until 240 "joe to have all $acked acknowledged messages" delivered_all
wait_until 60 "the queue to hold only the stuck message" queue_is_only_stuck
copies="$(grep -h -i '^Message-ID:' "$P2"/mail/joe/new/* | tr -d '\r' | wc -l)"
distinct="$(wc -l <"$WORK/delivered.txt")"
duplicates=$((copies - distinct))
say "acked=$acked at joe: $distinct distinct, $duplicates delivered twice, lost=0"
# Only messages delivered while the kill cut their status record's sync can come again:
# at most one batch per outbound connection (10) of 20, per kill.
((duplicates <= 400)) || fail "$duplicates duplicates: more than could have been in flight"
wait_until 60 "dead segments to be deleted after the restarts (now $(segments))" bash -c \
    "(( \$(find '$STATE/spool' -name '*.seg' | wc -l) <= 4 ))"
say "ok: segments after the kills: $(segments); hubd holds $(segment_fds) segment descriptors"
hub_stop
say "PASS"
