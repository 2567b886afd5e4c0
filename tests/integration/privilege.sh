#!/usr/bin/env bash
# privilege.sh -- privilege drop: started as root, hubd binds its ports and loads its
# root-only key, then runs as the unprivileged [hub] user with no_new_privs: every thread's
# real, effective, saved and filesystem uid and gid are the user's, no supplementary
# groups, no capabilities, NoNewPrivs 1 -- and it still serves TLS. Skipped when not root.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
[[ $EUID -eq 0 ]] || skip "needs root: the test is about what hubd gives up when started as root"

user="$(hub_user)"
hub_init --user "$user"
expect_eq "owner and mode of hub.key" "root 600" "$(stat -c '%U %a' "$STATE/hub.key")"
hub_start
uid="$(id -u "$user")"
gid="$(id -g "$user")"

check_status() {
    local file="$1" what="$2" text
    text="$(cat "$file")"
    local s='[[:space:]]+'
    expect_match "$what: Uid (real, effective, saved, fs)" "^Uid:$s$uid$s$uid$s$uid$s$uid$" "$text"
    expect_match "$what: Gid (real, effective, saved, fs)" "^Gid:$s$gid$s$gid$s$gid$s$gid$" "$text"
    expect_match "$what: supplementary groups" '^Groups:[[:space:]]*$' "$text"
    expect_match "$what: NoNewPrivs" '^NoNewPrivs:[[:space:]]+1$' "$text"
    expect_match "$what: effective capabilities" '^CapEff:[[:space:]]+0+$' "$text"
    expect_match "$what: permitted capabilities" '^CapPrm:[[:space:]]+0+$' "$text"
}
check_status "/proc/$HUBD_PID/status" "hubd (pid $HUBD_PID)"
threads=0
for task in /proc/"$HUBD_PID"/task/*; do
    check_status "$task/status" "hubd thread ${task##*/}"
    threads=$((threads + 1))
done
say "ok: hubd pid $HUBD_PID and its $threads threads run as $user (uid $uid, gid $gid)," \
    "no groups, no capabilities, NoNewPrivs 1"
say "    $(grep -E '^(Uid|Gid|NoNewPrivs|CapEff)' "/proc/$HUBD_PID/status" | tr '\t\n' '  ')"

out="$("$LOADGEN" --server "127.0.0.1:$SMTPS_PORT" --mode implicit --sessions 2 --messages 3 \
    --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" \
    --time-limit 60 2>&1)" || fail "mail after the privilege drop: expected ok=6, got:
$out"
say "ok: still serving TLS with the root-only key loaded before the drop:" \
    "$(grep '^loadgen: sent=' <<<"$out")"
hub_stop
say "PASS"
