#!/usr/bin/env bash
# stream_bodies.sh -- spool.stream_bodies: 5 MB messages written to the spool in slices while
# they arrive (docs/ARCHITECTURE.md, "Streamed messages"), read back byte-identical.
#
# swaks sends four 5 MB bodies at once (large_body.py: dot lines, a lone dot, CR/LF pairs and
# 998-byte lines on every multiple of 16 KiB, so on every 256 KiB slice edge whatever the
# header block's shift) to a hubd whose partner is down, so the messages stay queued. Once
# with stream_bodies off, then, after a restart, on: each time every body read back from the
# spool by `hubctl queue show --body` must hash the same as the file sent, and the test
# prints hubd's peak resident memory over the phase (VmHWM, reset before it). With streaming
# on the hub must have written them as streams (its log says so for each) and they must
# survive a kill -9 and restart whole (delivery to a real Postfix: relay_streamed.sh).
# ASan's quarantine is off for this hubd, as in relay_large.sh.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL
command -v swaks >/dev/null || skip "swaks not installed"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"

read -r DOWN_PORT < <(pick_ports 1)  # Nothing listens there: partner2 is down.
hub_init --partner2-outbound "$DOWN_PORT" --retry-delay 3600 --shards 1

# set_streaming true|false: [spool] stream_bodies in hub.conf.
set_streaming() {
    sed -i '/^stream_bodies = /d' "$STATE/hub.conf"
    sed -i "/^\[spool\]$/a stream_bodies = $1" "$STATE/hub.conf"
}

for seed in 1 2 3 4; do
    python3 "$SRC/tests/integration/large_body.py" "$STATE/body$seed" "$seed" 16384
done

hub_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$HUBD_PID/status"; }

# send_four PHASE: the four bodies at once; prints each queue id as "SEED ID".
send_four() {
    local phase="$1" seed pids=()
    for seed in 1 2 3 4; do
        # swaks_hub's arguments with a longer timeout: 5 MB through TLS four at once in
        # the sanitizer build on a busy machine.
        timeout 300 swaks --server 127.0.0.1 --port "$SMTP_PORT" --from joe@partner1.gov.uk \
            --to ann@partner2.gov.uk.lgolhub.net --helo mx.partner1.gov.uk \
            --tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key" \
            --tls-verify --tls-ca-path "$STATE/ca.pem" --tls \
            --body "@$STATE/body$seed" --header "Subject: $phase $seed" \
            >"$WORK/swaks-$phase-$seed.log" 2>&1 &
        pids+=($!)
    done
    for seed in 1 2 3 4; do
        wait "${pids[$((seed - 1))]}" || {
            tail -n 20 "$WORK/swaks-$phase-$seed.log" >&2
            fail "$phase: swaks $seed failed"
        }
    done
}

# queued_id PHASE SEED: the queue id in the 250 to swaks PHASE SEED's message.
queued_id() {
    sed -n 's/^<~* *250 2\.0\.0 Ok: queued as \([0-9A-F]\{16\}\).*/\1/p' \
        "$WORK/swaks-$1-$2.log" | tail -n1
}

# check_stored PHASE SEED: hubctl queue show --body gives the body sent, byte for byte (CRs
# are not printed, so both sides are compared by lines: sha256 of the LF form).
check_stored() {
    local phase="$1" seed="$2" id shown
    id="$(queued_id "$phase" "$seed")"
    [[ -n "$id" ]] || fail "$phase $seed: no queue id in swaks's transcript"
    shown="$WORK/show-$phase-$seed"
    "$HUBCTL" --config "$STATE/hub.conf" queue show --body "$id" >"$shown" 2>&1 ||
        fail "$phase $seed: hubctl queue show $id failed: $(head -n 5 "$shown")"
    python3 - "$shown" "$STATE/body$seed" "$phase $seed" <<'EOF' || fail "$phase $seed ($id): stored body differs"
import hashlib, sys
shown = open(sys.argv[1], "rb").read().split(b"\n")
sent = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
subject = b"Subject: " + sys.argv[3].encode()
start = next(i for i, line in enumerate(shown) if line == subject)
body_start = next(i for i in range(start, len(shown)) if shown[i] == b"") + 1
end = max(i for i, line in enumerate(shown) if line == b"*** END ***")  # hubctl's last line.
body = b"\n".join(shown[body_start:end])
# swaks ends the body with a line end, and sometimes an empty line more (relay_large.sh).
if not body.startswith(sent) or body[len(sent):].strip(b"\n") != b"":
    print(f"sent {len(sent)} bytes, stored {len(body)}", file=sys.stderr)
    sys.exit(1)
print(f"[stream_bodies] ok: {sys.argv[3]} stored byte-identical: sha256 "
      f"{hashlib.sha256(sent).hexdigest()[:16]} sent, "
      f"{hashlib.sha256(body[:len(sent)]).hexdigest()[:16]} read back")
EOF
}

# phase NAME STREAMING: a fresh start, four 5 MB messages at once, the peak, the bodies.
phase() {
    local name="$1" streaming="$2" idle_kib peak_kib seed
    set_streaming "$streaming"
    hub_start
    idle_kib="$(hub_kib VmRSS)"
    echo 5 >"/proc/$HUBD_PID/clear_refs"  # VmHWM starts again from the current RSS.
    send_four "$name"
    peak_kib="$(hub_kib VmHWM)"
    say "measured ($name, stream_bodies = $streaming): hubd peak RSS $((peak_kib / 1024)) MiB" \
        "with four 5 MB messages at once ($((idle_kib / 1024)) MiB before," \
        "+$(((peak_kib - idle_kib) / 1024)) MiB)"
    for seed in 1 2 3 4; do
        check_stored "$name" "$seed"
    done
}

phase whole false
hub_stop
phase streamed true
streamed_lines="$(grep -c 'a streamed message (spool format 3)' "$HUB_LOG" || true)"
((streamed_lines >= 4)) || fail "the four messages were not written as streams ($streamed_lines)"
say "ok: the hub wrote the four as streamed messages"

# Torn and whole: a fifth message cut off mid-content leaves only dead bytes; after kill -9
# every message answered 250 is still there whole.
python3 - "$SMTP_PORT" "$STATE" <<'EOF' || fail "the cut-off sender failed"
import socket, ssl, sys, time
port, state = int(sys.argv[1]), sys.argv[2]
def reply(f):
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
def command(s, f, text):
    s.sendall(text + b"\r\n")
    line = reply(f)
    if not line.startswith((b"2", b"3")):
        raise RuntimeError(f"{text!r}: {line!r}")
def cut_off():
    plain = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = plain.makefile("rb")
    reply(f)
    command(plain, f, b"EHLO cut.partner1.gov.uk")
    command(plain, f, b"STARTTLS")
    context = ssl.create_default_context(cafile=f"{state}/ca.pem")
    context.check_hostname = False
    context.load_cert_chain(f"{state}/partner1.pem", f"{state}/partner1.key")
    s = context.wrap_socket(plain)
    f = s.makefile("rb")
    command(s, f, b"EHLO cut.partner1.gov.uk")
    command(s, f, b"MAIL FROM:<joe@partner1.gov.uk>")
    command(s, f, b"RCPT TO:<ann@partner2.gov.uk.lgolhub.net>")
    command(s, f, b"DATA")
    s.sendall(b"Subject: cut\r\n\r\n" + open(f"{state}/body1", "rb").read()[:1_500_000])
    time.sleep(1)  # Slices of it reach the spool; then the sender is gone, without the dot.
    s.close()
for attempt in range(3):  # A busy machine may drop one; the point is the cut, not the send.
    try:
        cut_off()
        sys.exit(0)
    except (OSError, RuntimeError) as error:
        print(f"cut-off sender, attempt {attempt + 1}: {error}", file=sys.stderr)
        time.sleep(1)
sys.exit(1)
EOF
hub_kill9
hub_start
say "after kill -9 and a restart:"
for seed in 1 2 3 4; do
    check_stored streamed "$seed"
done
expect_no_match "no cut-off message was recovered" 'Subject: cut' \
    "$("$HUBCTL" --config "$STATE/hub.conf" queue list 2>&1)"
hub_stop
say "PASS"
