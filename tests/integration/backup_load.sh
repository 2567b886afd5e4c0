#!/usr/bin/env bash
# backup_load.sh -- a backup (with the spool) of a hub under relay load (root, heavy):
#   - loadgen keeps 8 sessions sending to partner2 (down, so everything stays queued) while
#     `hubctl backup create --include-queue` runs, bounded in count (2,400) and time;
#   - a probe session sends NOOP every 20 ms throughout and records its longest wait for a
#     reply: the longest stall a session saw, printed with loadgen's p99.9; it must stay
#     under 5 s (the target is 1 s; the margin is for a loaded 2-core test machine);
#   - no message lost: every 250 loadgen got is in the hub's queue afterwards, and every
#     message acknowledged before the backup started is in the archive (restored into a
#     fresh directory and listed there).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
need_binaries HUBD HUBCTL HUB_CA LOADGEN
need_backup_accounts
raise_fd_limit 1024

read -r P2_PORT < <(pick_ports 1)
backup_box_init --partner2-outbound "$P2_PORT" --retry-delay 600
hub_start

# The probe: one plaintext session (NOOP is allowed before STARTTLS), a NOOP every 20 ms,
# the longest reply wait in ms written to its output when the stop file appears.
probe_out="$WORK/probe.out"
"$PYTHON" - "$SMTP_PORT" "$WORK/probe.stop" >"$probe_out" 2>&1 <<'PY' &
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 300
longest, count, reconnects = 0.0, 0, 0
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    f.readline()  # greeting
    return s, f
s, f = connect()
while not os.path.exists(stop) and time.monotonic() < deadline:
    start = time.monotonic()
    try:
        s.sendall(b"NOOP\r\n")
        line = f.readline()
        if not line:
            raise OSError("closed")
    except OSError:
        reconnects += 1
        s, f = connect()
        continue
    longest = max(longest, time.monotonic() - start)
    count += 1
    time.sleep(0.02)
print(f"probe: noops={count} longest_ms={longest * 1000:.1f} reconnects={reconnects}")
PY
probe_pid=$!

acked="$WORK/acked.log"
: >"$acked"
"$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 8 --messages 300 --size 4096 \
    --acked-log "$acked" --run-id load --time-limit 300 --ca "$STATE/ca.pem" \
    --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" >"$WORK/load.out" 2>&1 &
load_pid=$!
wait_until 120 "500 acknowledged messages" bash -c "[[ \$(wc -l <'$acked') -ge 500 ]]"
acked_before="$(wc -l <"$acked")"
mkdir -p "$WORK/backups"
started=$SECONDS
out="$("$HUBCTL" --config "$STATE/hub.conf" backup create --include-queue --to "$WORK/backups" \
    --passphrase-file "$PASSFILE" 2>&1)" || fail "backup create under load: $out"
took=$((SECONDS - started))
acked_after="$(wc -l <"$acked")"
show "$out"
say "backup took ~${took}s under load; acknowledged: $acked_before before, $acked_after after"
wait "$load_pid" || fail "loadgen: $(cat "$WORK/load.out")"
touch "$WORK/probe.stop"
wait "$probe_pid" || fail "probe: $(cat "$probe_out")"
load_line="$(grep '^loadgen: sent=' "$WORK/load.out")"
probe_line="$(cat "$probe_out")"
say "figures: $load_line"
say "figures: $probe_line"
longest_ms="$(grep -Eo 'longest_ms=[0-9.]+' <<<"$probe_line" | cut -d= -f2)"
[[ -n "$longest_ms" ]] || fail "no probe figure: $probe_line"
awk -v ms="$longest_ms" 'BEGIN { exit !(ms < 5000) }' ||
    fail "a session stalled ${longest_ms} ms during the backup"

report="$(check_acked "$acked")" || fail "messages lost from the live queue: $report"
say "live queue: $report"

# The archive holds every message acknowledged before the backup began.
archive="$(ls "$WORK"/backups/hubbox-*.hbk)"
FRESH="$WORK/fresh"
mkdir -m 0755 "$FRESH"
out="$("$HUBCTL" --config "$FRESH/hub.conf" backup restore "$archive" --only config \
    --only queue --passphrase-file "$PASSFILE" 2>&1)" || fail "restore: $out"
restored="$("$HUBCTL" --config "$FRESH/hub.conf" queue list --format tsv 2>/dev/null |
    grep -v '^#' | cut -f6 | sed 's/^<\(.*\)@loadgen.invalid>$/\1/' | sort)"
missing="$(head -n "$acked_before" "$acked" | cut -d' ' -f1 | sort | comm -23 - <(echo "$restored"))"
[[ -z "$missing" ]] || fail "acknowledged before the backup but not in it: $(head -5 <<<"$missing")"
say "ok: all $acked_before messages acknowledged before the backup are in it" \
    "($(grep -c . <<<"$restored") restored in all)"
hub_stop
say "PASS"
