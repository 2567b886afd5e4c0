#!/usr/bin/env bash
# disk_full.sh -- issue 2, disk-full test. The spool lives on a 16 MiB tmpfs (root only;
# skipped otherwise).
#   1. Reserve 1 MiB, a 6 MiB filler file beside the spool: 100 KiB messages are sent until
#      the hub answers "452 4.3.1"; every message acknowledged before is still listed.
#   2. The filler is deleted: the hub accepts again (250) within a bounded time.
#   3. Reserve 0 (restart: recovery keeps everything), the filesystem filled to within
#      150 KiB: a 400 KB message meets ENOSPC at write time and gets 452 or 451; nothing
#      acknowledged is lost; after the filler goes, messages are accepted again.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
[[ $EUID -eq 0 ]] || skip "needs root to mount a size-limited tmpfs for the spool"

make_work
fs="$WORK/spoolfs"
mkdir "$fs"
mount -t tmpfs -o size=16m,mode=0755 hubbox-it-spool "$fs" ||
    skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN?)"
MOUNTS+=("$fs")
spool="$fs/spool"
acked="$WORK/acked.log"
: >"$acked"
tls=(--ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key")
free_kib() { df -k --output=avail "$fs" | tail -n1 | tr -d ' '; }

hub_init --spool "$spool" --reserve-bytes $((1024 * 1024))
dd if=/dev/zero of="$fs/filler" bs=1M count=6 status=none
hub_start
say "spool on a 16 MiB tmpfs, reserve 1 MiB, 6 MiB filler: $(free_kib) KiB free"

# 1. Fill up to the reserve.
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 1 --messages 200 --size 102400 \
    --acked-log "$acked" --run-id full1 --time-limit 120 "${tls[@]}" 2>&1)" || true
say "load into a filling spool: $(grep '^loadgen: sent=' <<<"$out" || echo "$out")"
expect_match "replies once the spool reached its reserve" '452 4\.3\.1' "$out"
expect_match "messages accepted before the reserve was reached" '^loadgen: sent=[0-9]+ ok=[1-9]' \
    "$out"
say "ok: the hub answered 452 4.3.1 at $(free_kib) KiB free:" \
    "$(grep -Eo 'error x[0-9]+: .*452 4\.3\.1.*' <<<"$out" | head -n1)"
report="$(check_acked "$acked")" || fail "after 452: expected every acknowledged message listed:
$report"
say "ok: nothing lost: $report"

# 2. Free space: accepted again.
rm -f "$fs/filler"
say "filler deleted: $(free_kib) KiB free"
accepted_again() { peer send --subject "after freeing space" >"$WORK/send.out" 2>&1; }
wait_until 30 "the hub to accept a message again after space was freed" accepted_again
say "ok: accepted again after space was freed: queued as $(cat "$WORK/send.out")"

# 3. Write-time ENOSPC: no reserve, the filesystem nearly full.
hub_stop
hub_init --spool "$spool" --reserve-bytes 0
hub_start
report="$(check_acked "$acked")" || fail "after a restart: expected every acknowledged message:
$report"
say "ok: restarted with reserve 0; all still listed: $report"
fill_kib=$(($(free_kib) - 150))
((fill_kib > 0)) || fail "expected room for a filler, only $(free_kib) KiB free"
dd if=/dev/zero of="$fs/filler2" bs=1K count="$fill_kib" status=none 2>/dev/null || true
say "filler2: $(free_kib) KiB left"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 1 --messages 3 --size 400000 \
    --acked-log "$acked" --run-id full2 --time-limit 60 "${tls[@]}" 2>&1)" || true
say "400 KB messages into $(free_kib) KiB: $(grep '^loadgen: sent=' <<<"$out" || echo "$out")"
expect_match "write-time ENOSPC" '45[12] 4\.3\.[01]' "$out"
expect_match "write-time ENOSPC: nothing acknowledged" '^loadgen: sent=[0-9]+ ok=0 ' "$out"
kill -0 "$HUBD_PID" 2>/dev/null || fail "hubd died on ENOSPC"
say "ok: write-time ENOSPC answered:" \
    "$(grep -Eo 'error x[0-9]+: .*45[12] 4\.3\.[01].*' <<<"$out" | head -n1)"
report="$(check_acked "$acked")" || fail "after ENOSPC: expected every acknowledged message:
$report"
say "ok: nothing lost: $report"
rm -f "$fs/filler2"
wait_until 30 "the hub to accept a message again after ENOSPC" accepted_again
say "ok: accepted again after ENOSPC: queued as $(cat "$WORK/send.out")"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 2 --messages 10 --size 10240 \
    --acked-log "$acked" --run-id full3 --time-limit 60 "${tls[@]}" 2>&1)" ||
    fail "a load after recovery from ENOSPC: expected ok=20, got:
$out"
report="$(check_acked "$acked")" || fail "at the end: expected every acknowledged message:
$report"
say "ok: final figures: $report"
hub_stop
say "PASS"
