#!/usr/bin/env bash
# first_run.sh -- the README's run command as a new user meets it: `bash tools/run` from a
# checkout under a 0700 directory (like /root/hubbox), as root, so hubd drops to the hub user
# who cannot search that directory. It must build, start the sinks and the hub, print
# "Hubbox is running" only once the hub greets, relay a first message (the swaks command
# exactly as it printed it) to the partner2 sink, which stores it under
# .hub-dev/delivered/partner2/, answer the printed hubctl commands (queue list, and the
# control socket in the spool under /var/lib/hubbox-dev/), reload the partners (the state is
# there too, .hub-dev a link to it; they are in the directory, which hub.conf names), and
# stop cleanly on SIGTERM.
# Then two start-up failures must end the run non-zero with the reason and without the
# "running" text: a sink's port taken, and the hub's port taken (with --no-sink).
#
# The checkout is a copy of this tree's tracked files (working-tree contents). tools/run
# builds the release preset there (gcc, LTO: the slow part, hence the label "slow"; about
# 2.5 minutes cold on 2 cores, a unity build); the AES-NI wolfSSL is shared with this tree through a link to $SRC/build/wolfssl-aesni (built there on the
# first run, then reused from its stamp). Root only (skip otherwise).
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || skip "needs root: the run command as root, hubd dropping to the hub user"
getent passwd hubbox >/dev/null || skip "no user 'hubbox' (tools/setup creates it)"
for tool in git swaks sha256sum setsid; do
    command -v "$tool" >/dev/null || skip "$tool is missing (tools/setup installs it)"
done
git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1 || skip "$SRC is not a git checkout"

BUILD_TIMEOUT_S="${FIRST_RUN_BUILD_TIMEOUT_S:-1500}"
make_work
home="$WORK/home"
mkdir -m 0700 "$home"
checkout="$home/hubbox"
mkdir "$checkout"
# Tracked files as they are in the working tree (a file deleted but not yet committed is
# skipped); no build/, no .hub-dev/.
(cd "$SRC" && git ls-files -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
    tar -C "$checkout" -xf -
[[ -f "$checkout/tools/run" ]] || fail "copying the tracked files of $SRC to $checkout failed"
# The AES-NI wolfSSL is this tree's, linked to where tools/run looks for it (its default
# prefix, a path inside the checkout).
mkdir -p "$SRC/build/wolfssl-aesni" "$checkout/build"
ln -s "$SRC/build/wolfssl-aesni" "$checkout/build/wolfssl-aesni"
state="$checkout/.hub-dev"
var_dir="/var/lib/hubbox-dev/$(printf '%s' "$checkout" | sha256sum | cut -c1-12)"

read -r smtp_port smtps_port p1_port p2_port snmp_port enroll_port < <(pick_ports 6)
run_args=(--smtp "$smtp_port" --smtps "$smtps_port" --partner1-outbound "$p1_port"
    --partner2-outbound "$p2_port" --shards 1 --retry-delay 2 --snmp-port "$snmp_port"
    --enroll "$enroll_port")
run_log="$WORK/run.log"
run_pid=""
holder=""

# start_run LOG ARGS...: tools/run in its own session (so that it and everything it started
# can be stopped as one group), niced so the build leaves room for tests beside it.
start_run() {
    local log="$1"
    shift
    HUB_WOLFSSL_CACHE="$SRC/build/wolfssl-src" \
        setsid nice -n 10 bash "$checkout/tools/run" "$@" >"$log" 2>&1 </dev/null &
    run_pid=$!
}
stop_run_group() {
    [[ -n "$run_pid" ]] || return 0
    kill -TERM -- "-$run_pid" 2>/dev/null
    local deadline=$((SECONDS + 30))
    while kill -0 -- "-$run_pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    kill -KILL -- "-$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
    run_pid=""
}
first_run_cleanup() {
    local status=$?
    set +e
    stop_run_group
    [[ -z "$holder" ]] || kill "$holder" 2>/dev/null
    if [[ $status -ne 0 && $status -ne 77 && -f "$run_log" ]]; then
        echo "[$TEST_NAME] ---- last 60 lines of the tools/run output ($run_log) ----" >&2
        tail -n 60 "$run_log" >&2
    fi
    [[ "${KEEP_WORK:-0}" == 1 ]] || rm -rf "$var_dir"
    (exit $status)
    cleanup
}
trap first_run_cleanup EXIT

# wait_run_end SECONDS: waits (bounded) for the run to end; its exit status in run_status.
run_status=""
wait_run_end() {
    local deadline=$((SECONDS + $1))
    while kill -0 "$run_pid" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "tools/run did not end within $1 s"
        sleep 0.2
    done
    run_status=0
    wait "$run_pid" || run_status=$?
    run_pid=""
}

say "bash $checkout/tools/run ${run_args[*]} (checkout under a 0700 directory)"
start_s=$SECONDS
start_run "$run_log" "${run_args[@]}"
running() {
    kill -0 "$run_pid" 2>/dev/null || fail "tools/run ended before the hub was running"
    grep -q '^Hubbox is running' "$run_log"
}
wait_until "$BUILD_TIMEOUT_S" "tools/run to say 'Hubbox is running'" running
say "running after $((SECONDS - start_s)) s (setup, wolfSSL, release build, dev-init, sinks, hub)"
expect_match "tools/run built the release preset" 'configure \+ build \(release preset' \
    "$(cat "$run_log")"

# Where the run said things are, and what must stay private.
expect_match "spool location printed" "^Spool \\(and hubctl's control socket\\): $var_dir/spool\$" \
    "$(cat "$run_log")"
expect_eq "spool owner and mode" "hubbox 750" "$(stat -c '%U %a' "$var_dir/spool")"
[[ -S "$var_dir/spool/control.sock" ]] || fail "no control socket in $var_dir/spool"
for key in ca hub partner1 partner2; do
    expect_eq "$key.key owner and mode" "root 600" "$(stat -c '%U %a' "$state/$key.key")"
done

# The swaks command exactly as printed (continuation lines joined).
swaks_command="$(sed -n '/^ *swaks --server/,/--to /p' "$run_log" | sed 's/\\$//' | tr -d '\n')"
expect_match "printed swaks command" "^ *swaks --server 127\\.0\\.0\\.1:$smtp_port " "$swaks_command"
say "as printed: $swaks_command"
swaks_out="$(eval "timeout 60 $swaks_command" 2>&1)" || fail "swaks failed: $swaks_out"
expect_match "swaks: queued" '<~ *250 2\.0\.0 Ok: queued as [0-9A-F]{16}' "$swaks_out"

delivered="$state/delivered/partner2/1.eml"
wait_until 60 "the message to arrive at the partner2 sink ($delivered)" test -f "$delivered"
message="$(tr -d '\r' <"$delivered")"
expect_match "stored message: envelope recipient (hub suffix stripped)" \
    '^Delivered-To: <joe@partner2\.gov\.uk>$' "$message"
expect_match "stored message: the hub's Received: line" '^Received: from .*' "$message"
expect_match "stored message: swaks's body" '^This is a test mailing' "$message"
# The run names it by the state directory's real place (.hub-dev is a link to it as root).
expect_match "the run's output names the delivery" \
    "sink: delivered .* $var_dir/state/delivered/partner2/1.eml\$" \
    "$(cat "$run_log")"

# The printed hubctl commands, paths as printed: queue list, and one through the socket.
hubctl_command="$(sed -n 's/^ *\(.*hubctl --config .*hub\.conf queue list\)$/\1/p' "$run_log")"
[[ -n "$hubctl_command" ]] || fail "no hubctl queue list command in the run's output"
list_out="$(eval "$hubctl_command" 2>&1)" || fail "$hubctl_command failed: $list_out"
control_out="$(eval "${hubctl_command% list} retry 0123456789abcdef" 2>&1 || true)"
expect_no_match "hubctl reaches hubd's control socket" 'cannot reach|did not answer' "$control_out"
say "hubctl queue retry (unknown id) answered by hubd: $control_out"
# A reload reads hub.conf and the partners again as the hub user: the state must be where
# that user can read it, although the checkout is under a 0700 directory.
expect_eq ".hub-dev is a link to the state under $var_dir" "$var_dir/state" "$(readlink "$state")"
reload_out="$(eval "${hubctl_command% queue list} reload" 2>&1)" ||
    fail "hubctl reload under tools/run as root failed: $reload_out"
expect_match "hubctl reload applied" 'reloaded' "$reload_out"
say "hubctl reload: $reload_out"
# The partners are in the directory, as on a box: hub.conf names it and no partner file.
expect_match "hub.conf names the directory" '^path = "directory\.db"$' "$(cat "$state/hub.conf")"
expect_no_match "hub.conf names no partner file" '^\[partners\]' "$(cat "$state/hub.conf")"
partner_list="$(eval "${hubctl_command% queue list} partner list" 2>&1)" ||
    fail "hubctl partner list: $partner_list"
expect_match "the directory holds partner1" '^partner1 +active ' "$partner_list"
expect_match "the directory holds partner2" '^partner2 +active ' "$partner_list"
say "ok: the partners are in the directory"

# The printed snmpwalk command (SNMPv3 through the private snmpd to hub-snmp) sees the
# message in the hub's MTA-MIB row.
snmpwalk_command="$(sed -n '/^ *snmpwalk -v3/,/ mta$/p' "$run_log" | sed 's/\\$//' | tr -d '\n')"
expect_match "printed snmpwalk command" "127\\.0\\.0\\.1:$snmp_port mta\$" "$snmpwalk_command"
received_one() {
    eval "timeout 30 $snmpwalk_command" 2>/dev/null | grep -q 'mtaReceivedMessages.1 = Counter32: 1$'
}
wait_until 30 "the printed snmpwalk to show mtaReceivedMessages.1 = 1" received_one
say "ok: the printed snmpwalk shows the message in mtaReceivedMessages"

# The enrollment page tools/run started (hub-enroll, with hub-ca behind it): its address as
# printed, verified with the dev CA, and hub-ca answering through it (the CRL).
expect_match "enrollment page printed" "The enrollment page: https://127\\.0\\.0\\.1:$enroll_port/" \
    "$(cat "$run_log")"
page_status="$(curl -sS --cacert "$state/ca.pem" -o /dev/null -w '%{http_code}' \
    "https://127.0.0.1:$enroll_port/request")" || fail "curl to the enrollment page failed"
expect_eq "enrollment page /request" 200 "$page_status"
curl -sS --cacert "$state/ca.pem" -o "$WORK/crl.der" "https://127.0.0.1:$enroll_port/crl" ||
    fail "curl /crl failed"
openssl crl -inform DER -in "$WORK/crl.der" -noout || fail "the page's /crl is not a CRL"
say "enrollment page on $enroll_port answers (request form 200, CRL from hub-ca)"

say "SIGTERM to tools/run"
kill -TERM "$run_pid"
wait_run_end 30
expect_eq "tools/run's exit status after SIGTERM" 0 "$run_status"
expect_match "the hub stopped" '^=== run: hubd stopped' "$(cat "$run_log")"
for port in "$smtp_port" "$p1_port" "$p2_port" "$enroll_port"; do
    ! port_listening "$port" || fail "port $port still listening after tools/run stopped"
done

# hold_port PORT: a listener on 127.0.0.1:PORT that never greets, pid in holder. SO_REUSEADDR,
# because the first run's connections may still be in TIME_WAIT on that port.
hold_port() {
    "$PYTHON" -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(120)' "$1" &
    holder=$!
    wait_until 10 "a listener on $1" port_listening "$1"
}

# A sink cannot start: its port is taken. The run must end non-zero, saying so.
say "partner1's sink port taken: tools/run must fail with the reason"
hold_port "$p1_port"
start_run "$WORK/run-sink-fails.log" "${run_args[@]}"
wait_run_end 600
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
out="$(cat "$WORK/run-sink-fails.log")"
[[ "$run_status" != 0 ]] || fail "tools/run exited 0 with partner1's sink port taken: $out"
expect_match "the reason" '!! run: error: the sink for partner1 .*(exited|did not answer)' "$out"
expect_no_match "no running text" '^Hubbox is running' "$out"

# The hub cannot start: its port is taken (no sinks: --no-sink).
say "the hub's port taken (--no-sink): tools/run must fail with the reason"
hold_port "$smtp_port"
start_run "$WORK/run-hub-fails.log" --no-sink "${run_args[@]}"
wait_run_end 600
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
out="$(cat "$WORK/run-hub-fails.log")"
[[ "$run_status" != 0 ]] || fail "tools/run exited 0 with the hub's port taken: $out"
expect_match "the reason" '!! run: error: hubd exited with status [1-9]' "$out"
expect_no_match "no running text" '^Hubbox is running' "$out"
expect_no_match "no sink with --no-sink" '=== run: sink for' "$out"

say "PASS (first run ready after the build; $((SECONDS - start_s)) s in all)"
