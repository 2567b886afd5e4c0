#!/usr/bin/env bash
# relay_streamed.sh -- streamed messages (spool format 3) recovered from the spool and relayed
# slice by slice to a real Postfix, byte-identical; a damaged slice never yields a truncated
# message.
#
# The spool is written before hubd starts, by spool-streamed-write (the real
# spool::StreamedMessageEncoder): 256 KiB content_slice records, the slices of all messages
# interleaved, each message's commit after its last slice. The bodies (streamed_bodies.py)
# are 5 MB with dot lines, a lone "." after a CR/LF split by the boundary, and 998-byte lines
# placed exactly on every slice boundary of the stored content; one message's header block
# is ~290 KiB, so it ends in slice 1 (the engine gathers it before rewriting).
#   1. Three messages for joe@partner2 (whose Postfix starts after hubd): recovered,
#      delivered once each (hubd's peak RSS over that is printed), their bodies
#      byte-identical in joe's Maildir (SHA-256 of the body; virtual(8) stores LF line
#      ends, so the expected body has its CRLFs turned into LFs), the header rewritten.
#   2. A message for alice@partner1, whose Postfix is down at first (deferred). A byte of
#      its slice 2 is flipped in the segment file after recovery; partner1 comes up and the
#      message is retried: hubd logs it damaged, aborts the transaction before the final
#      dot (Postfix logs the lost connection in DATA) and keeps it queued; nothing reaches
#      alice. The byte is put back: the next retry delivers it whole.
#   3. spool.stream_bodies (on by default): two more such bodies sent by swaks over TLS to
#      joe while partner2 is down, each written in slices while it arrives (hubd's log says
#      so), the hazards on the slice boundaries of the content hubd stores (a probe gives
#      the length of its Received: field); kill -9, restart, partner2 up: each arrives
#      byte-identical, once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL SPOOL_STREAMED_WRITE
need_postfix
BODIES="$(dirname "$0")/streamed_bodies.py"

read -r P1_PORT P2_PORT < <(pick_ports 2)
hub_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2 \
    --recovery-spread 0
P1="$(partner_dir partner1)"
P2="$(partner_dir partner2)"

# --- the spool: two segments of streamed messages, written with hubd stopped --------------
SPOOL="$STATE/spool"
mkdir -p "$SPOOL/shard-0"
for seed in 1 2 3; do
    header_bytes=0
    [[ $seed -ne 3 ]] || header_bytes=290000
    "$PYTHON" "$BODIES" content "$WORK/content$seed" "$seed" "streamed $seed" \
        --header-bytes "$header_bytes"
done
"$PYTHON" "$BODIES" content "$WORK/content4" 4 "streamed 4"
"$SPOOL_STREAMED_WRITE" "$SPOOL/shard-0/00000001.seg" 0 1 alice@partner1.gov.uk \
    joe@partner2.gov.uk.lgolhub.net "$WORK/content1" "$WORK/content2" "$WORK/content3" \
    >"$WORK/segment1.txt"
"$SPOOL_STREAMED_WRITE" "$SPOOL/shard-0/00000002.seg" 0 2 joe@partner2.gov.uk \
    alice@partner1.gov.uk.lgolhub.net "$WORK/content4" >"$WORK/segment2.txt"
chown -R --reference="$SPOOL" "$SPOOL/shard-0"
say "$(grep -c '^slice' "$WORK/segment1.txt") slices of 3 messages in segment 1," \
    "$(grep -c '^slice' "$WORK/segment2.txt") of 1 in segment 2"
id4="$(awk '$1 == "message" { print $2 }' "$WORK/segment2.txt")"

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
hub_start
# hubd's memory over the deliveries: partner2 starts only now (the first tries are
# deferred), and VmHWM starts again from the current RSS (ASan's quarantine off, as in
# relay_large.sh, so freed slice buffers do not stay resident).
hub_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$HUBD_PID/status"; }
idle_kib="$(hub_kib VmRSS)"
echo 5 >"/proc/$HUBD_PID/clear_refs"
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
    --key "$STATE/partner2.key"

# expected_sha SEED: the body as virtual(8) stores it (LF line ends), hashed.
expected_sha() { tr -d '\r' <"$WORK/content$1.body" | sha256sum | cut -d' ' -f1; }
# arrived USER DIR SUBJECT: the Maildir file of the message with that Subject.
arrived() {
    local file
    for file in $(partner messages "$2" "$1"); do
        # Not grep -q: it would stop reading early, and pipefail would see sed's SIGPIPE.
        if sed '/^$/q' "$file" | grep -x "Subject: $3" >/dev/null; then
            echo "$file"
            return 0
        fi
    done
    return 1
}
check_body() {  # check_body SEED FILE
    local got
    got="$("$PYTHON" "$BODIES" maildir-body "$2" | sha256sum | cut -d' ' -f1)"
    [[ "$got" == "$(expected_sha "$1")" ]] ||
        fail "message $1: the body differs ($("$PYTHON" "$BODIES" maildir-body "$2" | wc -c) bytes arrived)"
    local body="$WORK/got$1"
    "$PYTHON" "$BODIES" maildir-body "$2" >"$body"
    say "ok: streamed message $1 arrived byte-identical ($(grep -c '^\.' "$body") dot lines," \
        "$(grep -c '^.\{998\}$' "$body") 998-byte lines)"
}

# --- 1. recovered and delivered, each once, byte-identical --------------------------------
wait_until 300 "three streamed messages in joe's Maildir" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge 3 ]]"
peak_kib="$(hub_kib VmHWM)"
say "measured: hubd peak RSS $((peak_kib / 1024)) MiB relaying three streamed 5 MB messages" \
    "($((idle_kib / 1024)) MiB before, +$(((peak_kib - idle_kib) / 1024)) MiB)"
for seed in 1 2 3; do
    file="$(arrived joe "$P2" "streamed $seed")" || fail "message $seed: not found by its subject"
    check_body "$seed" "$file"
    expect_match "message $seed: To rewritten for partner2 (bare)" '^To: joe@partner2\.gov\.uk$' \
        "$(sed '/^$/q' "$file")"
done
expect_match "message 3: its 290 KiB header block arrived" '^X-Filler-300: h' \
    "$(sed '/^$/q' "$(arrived joe "$P2" "streamed 3")")"
sleep 3  # Room for a duplicate to show.
expect_eq "joe's messages (each delivered once)" 3 "$(partner count "$P2" joe)"

# --- 2. a slice damaged after recovery: aborted before the dot, kept, then delivered ------
# The damage goes into the page cache hubd reads from: one content byte of slice 2.
read -r _ _ _ offset _ < <(awk -v id="$id4" '$1 == "slice" && $2 == id && $3 == 2' "$WORK/segment2.txt")
[[ -n "$offset" ]] || fail "slice 2 of $id4 not listed"
flip_byte() {
    "$PYTHON" - "$SPOOL/shard-0/00000002.seg" "$((offset + 1000))" <<'PY'
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0x20]))
PY
}
flip_byte
partner_start partner1 --domain partner1.gov.uk --smtp-port "$P1_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" \
    --key "$STATE/partner1.key"
"$HUBCTL" --config "$STATE/hub.conf" queue retry "$id4" >/dev/null 2>&1 || true
wait_until 120 "hubd to log $id4 as damaged" \
    grep -q "$id4: the spooled message is damaged: slice 2 of .* fails its checks; deferred" \
    "$HUB_LOG"
wait_until 60 "partner1 to log the connection lost in DATA" \
    bash -c "'$PARTNER' log '$P1' | grep -q 'lost connection after DATA'"
sleep 2
expect_eq "alice's messages while slice 2 is damaged (none truncated)" 0 "$(partner count "$P1" alice)"
# (hubctl queue list reads the spool too, and sees the damage: hubd's own word here.)
expect_match "the damaged message is deferred, not bounced" \
    "$id4: to=<alice@partner1.gov.uk>.*dsn=4\.3\.0.*status=deferred \(451 4\.3\.0 The spooled message is damaged: slice 2" \
    "$(cat "$HUB_LOG")"
flip_byte  # Whole again: the next retry delivers it.
"$HUBCTL" --config "$STATE/hub.conf" queue retry "$id4" >/dev/null 2>&1 || true
wait_until 180 "the repaired message in alice's Maildir" \
    bash -c "[[ \$('$PARTNER' count '$P1' alice) -ge 1 ]]"
check_body 4 "$(arrived alice "$P1" "streamed 4")"
sleep 2
expect_eq "alice's messages (delivered once)" 1 "$(partner count "$P1" alice)"
expect_no_match "hubd logged no streamed message left undelivered" 'cannot deliver' \
    "$(cat "$HUB_LOG")"

# --- 3. sent by SMTP, streamed while they arrive, queued across kill -9, delivered once ---
# partner2 is down: a probe message gives the length of the Received: field hubd writes
# (the same for every message on this path, the queue id being of fixed length), so the
# bodies' hazards can be placed on the slice boundaries of the content hubd stores.
partner_stop partner2
SWAKS_TLS=(--server 127.0.0.1 --port "$SMTP_PORT" --from alice@partner1.gov.uk
    --to joe@partner2.gov.uk.lgolhub.net --helo mx.partner1.gov.uk
    --tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key"
    --tls-verify --tls-ca-path "$STATE/ca.pem" --tls)
# queued_id LOG: the queue id in the 250 of swaks's transcript.
queued_id() { sed -n 's/^<~* *250 2\.0\.0 Ok: queued as \([0-9A-F]\{16\}\).*/\1/p' "$1" | tail -n1; }
timeout 120 swaks "${SWAKS_TLS[@]}" --header "Subject: probe" --body "probe" \
    >"$WORK/swaks-probe.log" 2>&1 || fail "the probe: swaks failed: $(tail -n 5 "$WORK/swaks-probe.log")"
probe_id="$(queued_id "$WORK/swaks-probe.log")"
[[ -n "$probe_id" ]] || fail "the probe: no queue id"
"$HUBCTL" --config "$STATE/hub.conf" queue show --body "$probe_id" >"$WORK/probe.show" 2>&1 ||
    fail "hubctl queue show $probe_id: $(head -n 5 "$WORK/probe.show")"
received_bytes="$("$PYTHON" - "$WORK/probe.show" <<'PY'
import sys
lines = open(sys.argv[1], encoding="latin-1").read().split("\n")
at = lines.index("*** MESSAGE CONTENTS ***") + 1
assert lines[at].startswith("Received:"), lines[at]
n = len(lines[at]) + 2
at += 1
while lines[at][:1] in (" ", "\t"):
    n += len(lines[at]) + 2
    at += 1
print(n)
PY
)" || fail "no Received: field in hubctl queue show $probe_id"
smtp_seeds=(5 6)
for seed in "${smtp_seeds[@]}"; do
    header="From: alice@partner1.gov.uk\r\nTo: joe@partner2.gov.uk.lgolhub.net\r\nSubject: streamed $seed\r\nMessage-ID: <smtp-$seed@partner1.gov.uk>\r\n\r\n"
    printf "$header" >"$WORK/data$seed"
    "$PYTHON" "$BODIES" body "$WORK/content$seed.body" "$seed" \
        --shift "$((received_bytes + $(stat -c %s "$WORK/data$seed")))"
    # swaks adds CRLF "." itself (and would drop a last line that is a lone "."): the data
    # ends without its last CRLF, so the content is exactly header and body.
    [[ "$(tail -c 3 "$WORK/content$seed.body")" != $'\n.\r' ]] || fail "body $seed ends in a lone dot"
    head -c -2 "$WORK/content$seed.body" >>"$WORK/data$seed"
done
pids=()
for seed in "${smtp_seeds[@]}"; do
    timeout 300 swaks "${SWAKS_TLS[@]}" --data "@$WORK/data$seed" >"$WORK/swaks-$seed.log" 2>&1 &
    pids+=($!)
done
smtp_ids=()
for i in "${!smtp_seeds[@]}"; do
    seed="${smtp_seeds[$i]}"
    wait "${pids[$i]}" || fail "message $seed: swaks failed: $(tail -n 20 "$WORK/swaks-$seed.log")"
    id="$(queued_id "$WORK/swaks-$seed.log")"
    [[ -n "$id" ]] || fail "message $seed: no queue id in swaks's transcript"
    wait_until 30 "hubd to log message $seed ($id) as written in slices while it arrived" \
        grep -qE "$id: a streamed message \(spool format 3\) of [0-9]+ slices" "$HUB_LOG"
    smtp_ids+=("$id")
done
sleep 2  # At least one delivery attempt to the stopped partner2.
hub_kill9
hub_start
partner_start partner2
for id in "$probe_id" "${smtp_ids[@]}"; do
    "$HUBCTL" --config "$STATE/hub.conf" queue retry "$id" >/dev/null 2>&1 || true
done
wait_until 300 "the probe and two streamed messages sent by SMTP in joe's Maildir" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge 6 ]]"
for seed in "${smtp_seeds[@]}"; do
    file="$(arrived joe "$P2" "streamed $seed")" || fail "message $seed: not found by its subject"
    check_body "$seed" "$file"
done
sleep 3  # Room for a duplicate to show.
expect_eq "joe's messages (each delivered once, across kill -9)" 6 "$(partner count "$P2" joe)"
say "ok"
