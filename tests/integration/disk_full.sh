#!/usr/bin/env bash
# disk_full.sh -- disk-full test. The spool lives on a 16 MiB tmpfs (root only;
# skipped otherwise).
#   1. Reserve 1 MiB, a 6 MiB filler file beside the spool: 100 KiB messages are sent until
#      the hub answers "452 4.3.1"; every message acknowledged before is still listed.
#   2. The filler is deleted: the hub accepts again (250) within a bounded time.
#   3. Reserve 0 (restart: recovery keeps everything), the filesystem filled to within
#      150 KiB: a 400 KB message meets ENOSPC at write time and gets 452 or 451; nothing
#      acknowledged is lost; after the filler goes, messages are accepted again.
#   4. A full disk survived: a fresh hub, its spool alone on a 24 MiB tmpfs (reserve 4 MiB,
#      1 MiB segments), partner2 (real Postfix) down. 50 KB messages until 452 4.3.1; a
#      client that keeps trying (12 x MAIL/RCPT/DATA refused) is not dropped and still gets
#      NOOP and EHLO answered. A filler keeps free space below the reserve from then on.
#      partner2 comes up: every accepted message is delivered
#      exactly once (status records written below the reserve), "removed" is logged for
#      each; hubd restarts: nothing is delivered again; the delivered mail's segments are
#      deleted and new mail is accepted again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
[[ $EUID -eq 0 ]] || skip "needs root to mount a size-limited tmpfs for the spool"
need_postfix

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

# 4. A full disk survived, end to end with a partner.
fs="$WORK/spoolfs2"
mkdir "$fs"
mount -t tmpfs -o size=24m,mode=0755 hubbox-it-spool2 "$fs" || fail "cannot mount a second tmpfs"
MOUNTS+=("$fs")
STATE="$WORK/state2"
SMTP_PORT=""
read -r P2_PORT < <(pick_ports 1)
reserve=$((4 * 1024 * 1024))
hub_init --spool "$fs/spool" --reserve-bytes "$reserve" --partner2-outbound "$P2_PORT" \
    --retry-delay 1 --recovery-spread 1
sed -i 's/^reserve_bytes = .*/&\nsegment_bytes_max = 1048576/' "$STATE/hub.conf"
hub_start
tls=(--ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key")
acked4="$WORK/acked4.log"
: >"$acked4"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 1 --messages 600 --size 51200 \
    --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
    --acked-log "$acked4" --run-id full4 --time-limit 180 "${tls[@]}" 2>&1)" || true
accepted="$(wc -l <"$acked4")"
say "partner2 down, 50 KB messages into a 24 MiB spool: $(grep '^loadgen: sent=' <<<"$out")"
expect_match "452 once the reserve is reached" '452 4\.3\.1' "$out"
((accepted > 100)) || fail "only $accepted messages accepted before the reserve"
say "ok: $accepted accepted, then 452 4.3.1 at $(free_kib) KiB free (reserve $((reserve / 1024)) KiB)"

# Below the reserve for sure (a filler takes whatever is above it), a patient client.
above_kib=$(($(free_kib) - reserve / 1024 + 512))
((above_kib <= 0)) || dd if=/dev/zero of="$fs/filler" bs=1K count="$above_kib" status=none
sleep 0.5  # The supervisor polls free space every 200 ms.
cat >"$WORK/patient.py" <<'PYEOF'
import smtplib, ssl, sys
port, ca, cert, key = sys.argv[1:5]
context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
context.load_cert_chain(cert, key)
client = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
client.ehlo("mx.partner1.gov.uk")
client.starttls(context=context)
client.ehlo("mx.partner1.gov.uk")
codes = []
for _ in range(12):
    codes.append(client.mail("alice@partner1.gov.uk")[0])
    codes.append(client.rcpt("joe@partner2.gov.uk.lgolhub.net")[0])
    codes.append(client.docmd("DATA")[0])
codes.append(client.noop()[0])
codes.append(client.ehlo("mx.partner1.gov.uk")[0])
codes.append(client.quit()[0])
print(" ".join(str(code) for code in codes))
PYEOF
session="$("$PYTHON" "$WORK/patient.py" "$SMTP_PORT" "$STATE/ca.pem" "$STATE/partner1.pem" \
    "$STATE/partner1.key" 2>&1)" || fail "the patient session failed: $session"
expect_eq "12 refusals for space, then NOOP, EHLO and QUIT answered" \
    "$(printf '452 503 503 %.0s' {1..12})250 250 221" "$session"
say "ok: 12 x (452, 503, 503) did not end the session; NOOP, EHLO, QUIT answered"
say "the filler stays: the status records of the deliveries below are written below the reserve"
log_start=$(($(wc -l <"$HUB_LOG") + 1))

# partner2 comes back: everything accepted is delivered, once.
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
    --key "$STATE/partner2.key"
P2="$(partner_dir partner2)"
joe_count() { "$PARTNER" count "$P2" joe; }
wait_until 300 "joe to have the $accepted accepted messages" \
    bash -c "(( \$('$PARTNER' count '$P2' joe) >= $accepted ))"
wait_until 60 "the queue to drain" bash -c \
    "[[ -z \$('$HUBCTL' --config '$STATE/hub.conf' queue list --format tsv | grep -v '^#') ]]"
removed="$(grep -c 'removed: delivered=1' "$HUB_LOG" || true)"
failures="$(tail -n "+$log_start" "$HUB_LOG" | grep -c 'status records to .* failed' || true)"
say "delivered: joe has $(joe_count); 'removed' logged $removed times; failed status batches: $failures"
expect_eq "messages at joe (each accepted one exactly once)" "$accepted" "$(joe_count)"
expect_eq "'removed' lines (only once the status is durable)" "$accepted" "$removed"

# A restart delivers nothing again.
hub_stop
hub_start
sleep 4  # Recovery spread is 1 s and the retry delay 1 s: anything left would go now.
expect_eq "messages at joe after a restart" "$accepted" "$(joe_count)"
expect_eq "messages recovered after the restart" 0 \
    "$(grep -Eo 'recovered [0-9]+ messages' "$HUB_LOG" | tail -n 1 | awk '{print $2}')"
say "ok: restarted: nothing recovered, nothing delivered again"

# The delivered mail's segments are gone: space is back and new mail is accepted.
wait_until 30 "segments of delivered mail to be deleted" bash -c \
    "(( \$(find '$fs/spool' -name '*.seg' | wc -l) <= 3 ))"
say "ok: $(find "$fs/spool" -name '*.seg' | wc -l) segment files left, $(free_kib) KiB free"
wait_until 30 "the hub to accept a message again" accepted_again
say "ok: accepted again after delivery: queued as $(cat "$WORK/send.out")"
hub_stop
say "PASS"
