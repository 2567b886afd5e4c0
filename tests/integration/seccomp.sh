#!/usr/bin/env bash
# seccomp.sh -- after start-up every hubd thread (supervisor, shards, io_uring workers) runs
# under the seccomp allow-list (/proc: "Seccomp: 2", one filter), the hub still serves TLS
# mail under it, stops cleanly on SIGTERM (exit 0, nothing forbidden in the log), and with
# [hub] seccomp = false no filter is installed. A live reload runs under the filter too: SIGHUP
# (partners.toml read again) and, with the directory, a hubctl write (SQLite read read-only,
# its opens for writing refused with EACCES); run it with the release build
# (`ctest --preset release -R integration.seccomp`), whose filter has no sanitizer extras. The refusal of a call outside the list is
# shown by engine_seccomp_test, which installs the same filter (install_seccomp_filter).
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL LOADGEN

hub_init --partners-file  # A SIGHUP reload of partners.toml first; the directory below.
hub_start
expect_match "ready line" 'ready: .*seccomp on' "$(cat "$HUB_LOG")"
threads=0
for task in /proc/"$HUBD_PID"/task/*; do
    status="$(cat "$task/status")"
    expect_match "thread ${task##*/} ($(cat "$task/comm")): Seccomp" '^Seccomp:[[:space:]]+2$' "$status"
    expect_match "thread ${task##*/}: Seccomp_filters" '^Seccomp_filters:[[:space:]]+1$' "$status"
    threads=$((threads + 1))
done
say "ok: all $threads threads of hubd (pid $HUBD_PID) run under the filter (Seccomp: 2)"

out="$("$LOADGEN" --server "127.0.0.1:$SMTPS_PORT" --mode implicit --sessions 2 --messages 3 \
    --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" \
    --time-limit 60 2>&1)" || fail "mail under the filter: expected ok=6, got:
$out"
say "ok: serving TLS under the filter: $(grep '^loadgen: sent=' <<<"$out")"

kill -HUP "$HUBD_PID"
wait_until 10 "the SIGHUP reload under the filter" \
    bash -c "grep -q 'reload (SIGHUP): partner table 2: 2 active partners' '$HUB_LOG'"
kill -0 "$HUBD_PID" 2>/dev/null || fail "hubd died in a reload under the filter"
say "ok: a SIGHUP reload (partners.toml) under the filter"

kill -TERM "$HUBD_PID"
status=0
for _ in $(seq 1 200); do
    kill -0 "$HUBD_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$HUBD_PID" || status=$?
HUBD_PID=""
expect_eq "exit status after SIGTERM under the filter" 0 "$status"
expect_no_match "no forbidden call in the log" 'seccomp: forbidden' "$(cat "$HUB_LOG")"
say "ok: stopped cleanly under the filter"

# The directory: a hubctl write has hubd read it through SQLite under the filter.
STATE="$WORK/state-directory"
hub_init --directory
hub_start
out="$("$HUBCTL" --config "$STATE/hub.conf" partner add p3 --domain p3.example \
    --outbound 127.0.0.1:10027 2>&1)" || fail "partner add under the filter: $out"
expect_match "hubd reloaded the directory under the filter" 'done; hubd reloaded: partner table 2' \
    "$out"
kill -0 "$HUBD_PID" 2>/dev/null || fail "hubd died reading the directory under the filter"
expect_no_match "no forbidden call in the log" 'seccomp: forbidden' "$(cat "$HUB_LOG")"
say "ok: a directory reload (SQLite, read-only) under the filter"
hub_stop

sed -i 's/^\[hub\]$/[hub]\nseccomp = false/' "$STATE/hub.conf"
hub_start
expect_match "Seccomp off when hub.seccomp = false" '^Seccomp:[[:space:]]+0$' \
    "$(cat "/proc/$HUBD_PID/status")"
hub_stop
say "PASS"
