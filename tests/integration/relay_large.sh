#!/usr/bin/env bash
# relay_large.sh -- 5 MB bodies through the hub between real Postfix partners, byte-identical.
#
# partner1 (Postfix) -> hub -> partner2 (Postfix), TLS on both hops, as relay_postfix.sh. The
# body is built so that dot lines, a line that is only a dot, CR/LF pairs and 998-byte lines
# sit exactly on the boundaries of the engine's slices: every multiple of the slice size
# (recv_buffer_bytes in src/engine/limits.h, the same as smtp::inbox_bytes and one TLS record:
# 16 KiB), six placements in turn:
#   0 a dot line starts at the boundary         3 the CRLF of a 998-byte line starts there
#   1 the boundary falls between CR and LF      4 the boundary follows the dot of a dot line
#   2 the boundary cuts a 998-byte line         5 a 997-byte line starting with a dot starts there
# The multiples of 16 KiB include every boundary of the outbound dot-stuffer's 64 KiB slices
# and of the spool's 256 KiB content slices (spool::slice_content_bytes_max) in body offsets.
# Offsets are body offsets; the header block and dot-stuffing shift them by a few bytes in
# each layer, so everything between the placements is itself dot lines (one in four lines)
# and lines of up to 998 bytes: whatever the shift, boundaries land on such lines. The
# bodies must arrive byte-identical in partner2's Maildir (Postfix's virtual(8) stores LF
# line ends, so the comparison is with the body's CRLFs turned into LFs).
# Then four such messages at once: all must arrive byte-identical too, and the test prints
# hubd's peak resident memory over that phase (VmHWM, reset before it) and its CPU time per
# message, the figures docs/ARCHITECTURE.md ("Copies") quotes. In the sanitizer build ASan's
# quarantine would keep every freed buffer resident, so it is switched off for this hubd:
# what is left over the release figure is ASan's shadow (1/8) and its allocator.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL
need_postfix
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"

read -r P1_PORT P2_PORT < <(pick_ports 2)
hub_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2
hub_start

for n in 1 2; do
    port_var="P${n}_PORT"
    partner_start "partner$n" --domain "partner$n.gov.uk" --smtp-port "${!port_var}" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner$n.pem" \
        --key "$STATE/partner$n.key"
done
P1="$(partner_dir partner1)"
P2="$(partner_dir partner2)"

slice="$(sed -n 's/^inline constexpr std::size_t recv_buffer_bytes = \([0-9 *]*\);.*/\1/p' \
    "$SRC/src/engine/limits.h")"
[[ -n "$slice" ]] || fail "recv_buffer_bytes not found in src/engine/limits.h"
slice=$((slice))
say "slice size $slice bytes"

# make_body FILE SEED: a 5,000,000-byte body (no final line end: swaks adds one) with the
# placements above at every multiple of the slice size (large_body.py).
make_body() {
    python3 "$SRC/tests/integration/large_body.py" "$1" "$2" "$slice"
}

# body_of FILE: a Maildir message's body (after the first empty line).
body_of() {
    python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(d[d.index(b"\n\n") + 2:])' "$1"
}

# sent_empty_lines SEED: how many empty lines swaks sent between the body's last line and
# the end-of-data dot, in its transcript of the message "large SEED" (partner1's send.log).
sent_empty_lines() {
    python3 - "$P1/send.log" "$1" <<'EOF'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
subject = b" ~> Subject: large " + sys.argv[2].encode()
start = next(i for i, line in enumerate(lines) if line.rstrip(b"\r") == subject)
dot = next(i for i in range(start, len(lines)) if lines[i].rstrip(b"\r") == b" ~> .")
empty = 0
while lines[dot - 1 - empty].rstrip(b"\r") in (b" ~> ", b" ~>"):
    empty += 1
print(empty)
EOF
}

# check_arrived SEED FILE: the Maildir message FILE carries body SEED byte for byte.
check_arrived() {
    local seed="$1" got="$2" body="$STATE/body$1"
    expect_match "message $seed: the hub's Received: shows TLS" \
        'by hub\.lgolhub\.net \(Hubbox\) with ESMTPS' "$(sed '/^$/q' "$got")"
    # swaks's message template ends "%BODY%\n", and the end of data adds a line end of
    # its own: the body arrives with an empty line after its last one. (Not always: body 6
    # went out with two, in swaks's own transcript, and the hub relayed both; so the empty
    # lines are counted in the transcript of "large SEED".)
    local empty_lines
    empty_lines="$(sent_empty_lines "$seed")"
    { tr -d '\r' <"$body"; printf '\n'; printf '%*s' "$empty_lines" '' | tr ' ' '\n'; } \
        >"$body.expected"
    body_of "$got" >"$body.got"
    if ! cmp -s "$body.expected" "$body.got"; then
        cmp "$body.expected" "$body.got" | head -n1 >&2 || true
        fail "message $seed: the body differs ($(wc -c <"$body.got") bytes arrived," \
            "$(wc -c <"$body.expected") expected)"
    fi
    say "ok: 5 MB body $seed arrived byte-identical" \
        "($(grep -c '^\.' "$body.got") dot lines, $(grep -c '^.\{998\}$' "$body.got") 998-byte lines)"
}

# The message in joe's Maildir whose Subject is "large SEED".
arrived_file() {
    local file
    for file in $(partner messages "$P2" joe); do
        if sed '/^$/q' "$file" | grep -qx "Subject: large $1"; then
            echo "$file"
            return 0
        fi
    done
    return 1
}

for seed in 1 2; do
    make_body "$STATE/body$seed" "$seed"
    before="$(partner count "$P2" joe)"
    partner send "$P1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
        --subject "large $seed" --body "$STATE/body$seed" >/dev/null
    wait_until 240 "the 5 MB message $seed in joe's Maildir" \
        bash -c "[[ \$('$PARTNER' count '$P2' joe) -gt $before ]]"
    check_arrived "$seed" "$(partner messages "$P2" joe | tail -n1)"
done

# hubd's CPU time so far in clock ticks (utime + stime of every thread).
hub_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$HUBD_PID/stat"; }
hub_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$HUBD_PID/status"; }

for seed in 3 4 5 6; do
    make_body "$STATE/body$seed" "$seed"
done
before="$(partner count "$P2" joe)"
idle_kib="$(hub_kib VmRSS)"
echo 5 >"/proc/$HUBD_PID/clear_refs"  # VmHWM starts again from the current RSS.
cpu_before="$(hub_cpu_ticks)"
senders=()
for seed in 3 4 5 6; do
    partner send "$P1" --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
        --subject "large $seed" --body "$STATE/body$seed" >/dev/null &
    senders+=($!)
done
for pid in "${senders[@]}"; do  # Not a bare wait: hubd is a child of this shell too.
    wait "$pid" || fail "a send to partner1 failed"
done
wait_until 300 "four 5 MB messages sent at once in joe's Maildir" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge $((before + 4)) ]]"
cpu_ms=$((($(hub_cpu_ticks) - cpu_before) * 1000 / $(getconf CLK_TCK)))
peak_kib="$(hub_kib VmHWM)"
say "measured: hubd peak RSS $((peak_kib / 1024)) MiB with four 5 MB messages at once" \
    "($((idle_kib / 1024)) MiB before them, +$(((peak_kib - idle_kib) / 1024)) MiB)," \
    "CPU $((cpu_ms / 4)) ms per message"
for seed in 3 4 5 6; do
    file="$(arrived_file "$seed")" || fail "message $seed: not found by its subject"
    check_arrived "$seed" "$file"
done
expect_match "hub -> partner2 is TLS (partner2's log)" 'Trusted TLS connection established from' \
    "$(partner_log partner2)"
