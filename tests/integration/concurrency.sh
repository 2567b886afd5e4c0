#!/usr/bin/env bash
# concurrency.sh -- 1,000 concurrent connections served.
#   1. loadgen --hold 1000: 1,000 TLS sessions opened (STARTTLS, EHLO) and held at once;
#      the hub holds >= 1,000 established connections (ss), and while they are held a
#      further load of 20 sessions x 5 messages is served (the held ones starve nothing).
#   2. loadgen --sessions 1000 --messages 1: 1,000 sessions start together and each gets
#      its message accepted: ok=1000.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
raise_fd_limit 4096
sessions=1000

hub_init --connections-max 4096 --connections-per-partner 4096
hub_start
tls=(--ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key")

# 1. Hold 1,000 sessions.
hold_out="$WORK/hold.out"
: >"$hold_out"
"$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --hold "$sessions" --time-limit 150 "${tls[@]}" \
    >"$hold_out" 2>&1 &
hold_pid=$!
held() {
    kill -0 "$hold_pid" 2>/dev/null || fail "loadgen --hold exited early:
$(cat "$hold_out")"
    grep -q '^loadgen: holding' "$hold_out"
}
wait_until 120 "loadgen to open $sessions sessions" held
expect_match "loadgen --hold $sessions" "^loadgen: holding established=$sessions failed=0" \
    "$(cat "$hold_out")"
established="$(ss -Htn state established "sport = :$SMTP_PORT" | wc -l)"
((established >= sessions)) ||
    fail "ss: expected >= $sessions established connections to hubd's port, got $established"
say "ok: $sessions TLS sessions held at once ($established established connections on :$SMTP_PORT)"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 20 --messages 5 --time-limit 120 \
    "${tls[@]}" 2>&1)" || fail "a load beside the held sessions: expected ok=100, got:
$out"
say "ok: beside them: $(grep '^loadgen: sent=' <<<"$out")"
kill -TERM "$hold_pid"
wait "$hold_pid" || fail "loadgen --hold: expected status 0, got $?:
$(cat "$hold_out")"
expect_match "held sessions at the end" "^loadgen: held=$sessions failed=0" "$(cat "$hold_out")"

# 2. 1,000 sessions sending one message each, all started together.
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions "$sessions" --messages 1 \
    --time-limit 170 "${tls[@]}" 2>&1)" && status=0 || status=$?
expect_match "loadgen --sessions $sessions --messages 1" \
    "^loadgen: sent=$sessions ok=$sessions failed=0 " "$out"
expect_eq "loadgen exit status" 0 "$status"
say "ok: $(grep '^loadgen: sent=' <<<"$out")"
hub_stop
say "PASS"
