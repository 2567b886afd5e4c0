#!/usr/bin/env bash
# backup_health.sh -- a failed backup is a health alert, and a good one clears it (root).
#
# hubd, hub-metrics, and Debian's snmpd (AgentX master, private config from tools/snmp-conf)
# with hub-snmp and an snmptrapd receiving snmpd's informs, all on loopback; hub-metrics and
# hub-snmp read the backup status file (--backup-status) that `hubctl backup run` writes.
#   1. before any backup: hubbox_backup_failing 0, hubboxBackupIsFailing.0 false(2);
#   2. backup.dir is a read-only file system (a tmpfs mounted ro): `hubctl backup run` exits
#      1; /metrics shows hubbox_backup_failing 1 and the reason; an SNMPv3 walk of
#      hubboxBackup shows IsFailing true(1) and the reason; snmptrapd receives
#      hubboxBackupFailed (.0.8) with the reason; `hubctl status` shows "backup: FAILED";
#   3. the target writable again: the next run succeeds; failing 0 with the last success's
#      time and archive, IsFailing false(2), hubboxBackupRecovered (.0.9), one Failed trap;
#   4. `hubctl backup schedule --keep 1 --interval-hours 6` sets [backup] in hub.conf (the
#      comments kept), and the next run leaves one archive (retention).
# Archives are sealed to a public key (no Argon2id), so each run takes about a second.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
need_binaries HUBD HUBCTL HUB_CA HUB_METRICS HUB_SNMP
need_backup_accounts
for tool in snmpd snmptrapd snmpwalk snmpget curl; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (tools/setup installs it)"
done

SNMPD_PID="" TRAPD_PID="" HUB_SNMP_PID="" METRICS_PID="" TARGET=""
health_cleanup() {
    local status=$?
    set +e
    for pid in "$HUB_SNMP_PID" "$METRICS_PID" "$SNMPD_PID" "$TRAPD_PID"; do
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [[ -n "$TARGET" ]] && mountpoint -q "$TARGET" && umount "$TARGET"
    if [[ $status -ne 0 && $status -ne 77 && -n "$WORK" ]]; then
        for log in hub-snmp.log hub-metrics.log snmp/snmpd.log snmp/traps.log; do
            [[ -f "$WORK/$log" ]] || continue
            echo "[$TEST_NAME] ---- last 20 lines of $WORK/$log ----" >&2
            tail -n 20 "$WORK/$log" >&2
        done
    fi
    (exit "$status")
    backup_cleanup
}
trap health_cleanup EXIT

backup_box_init
"$HUBCTL" backup keygen --out "$WORK/admin.key" >/dev/null || fail "backup keygen"
TARGET="$WORK/target"
STATUS_FILE="$WORK/health/backup-status"
mkdir -p -m 0700 "$TARGET"
mkdir -p -m 0755 "$WORK/health"
# The target: a small tmpfs, mounted read-only for the failure, read-write for the recovery.
mount -t tmpfs -o ro,size=64m,mode=0700 hub-backup-target "$TARGET" ||
    skip "cannot mount a tmpfs (needs root in a mount namespace that allows it)"
# [backup] is the last table of hub.conf (backup_box_init): these lines belong to it.
cat >>"$STATE/hub.conf" <<CONF
# the administrator's comment, kept by backup schedule
dir = "$TARGET"
keep = 3
public_key = "$WORK/admin.key.pub"
status_file = "$STATUS_FILE"
CONF
hub_start
hubctl() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
STATUS_SOCKET="$(sed -n 's/^status_socket = "\(.*\)"$/\1/p' "$STATE/hub.conf")"
[[ -n "$STATUS_SOCKET" ]] || STATUS_SOCKET="$STATE/spool/status.sock"
wait_until 30 "hubd's status socket" test -S "$STATUS_SOCKET"

# --- hub-metrics --------------------------------------------------------------------------------
read -r METRICS_PORT < <(pick_ports 1)
"$HUB_METRICS" --listen "127.0.0.1:$METRICS_PORT" --socket "$STATUS_SOCKET" \
    --backup-status "$STATUS_FILE" >>"$WORK/hub-metrics.log" 2>&1 &
METRICS_PID=$!
wait_until 20 "hub-metrics on 127.0.0.1:$METRICS_PORT" port_listening "$METRICS_PORT"
scrape() { curl -sS --max-time 10 "http://127.0.0.1:$METRICS_PORT/metrics"; }

# --- snmpd, snmptrapd, hub-snmp -----------------------------------------------------------------
start_net_snmp
mkdir -p "$WORK/hub-snmp-state"
"$HUB_SNMP" --status-socket "$STATUS_SOCKET" --agentx-socket "$SNMP/agentx.sock" \
    --state-dir "$WORK/hub-snmp-state" --poll-ms 500 --cache-ms 200 \
    --backup-status "$STATUS_FILE" >>"$WORK/hub-snmp.log" 2>&1 &
HUB_SNMP_PID=$!
V3=(-v3 -l authPriv -u hubmon -a SHA-256 -A hubmon-auth-dev -x AES -X hubmon-priv-dev
    -t 5 -r 1)
unquote() { sed -E 's/^(\S+ )?"(.*)"$/\1\2/'; }
snmp_get() { snmpget "${V3[@]}" -On -Oqv -Oe -OU -Ot "127.0.0.1:$SNMP_PORT" "$@" | unquote; }
snmp_walk() { snmpwalk "${V3[@]}" -On -Oq -Oe -OU -Ot "127.0.0.1:$SNMP_PORT" "$@" | unquote; }
BACKUP_OID=.1.3.6.1.4.1.32473.1.1.6
backup_failing_is() { [[ "$(snmp_get "$BACKUP_OID.1.0" 2>/dev/null)" == "$1" ]]; }
trap_count() { grep -c "\.1\.3\.6\.1\.4\.1\.32473\.1\.0\.$1\b" "$SNMP/traps.log" || true; }
trap_seen() { (($(trap_count "$1") >= 1)); }

# --- 1. nothing has run yet ------------------------------------------------------------------------
wait_until 60 "hubboxBackupIsFailing.0 = false(2) through snmpd" backup_failing_is 2
out="$(scrape)" || fail "scrape: $out"
expect_match "before any backup: /metrics" '^hubbox_backup_failing 0$' "$out"
expect_match "before any backup: hubd up" '^hubbox_up 1$' "$out"
expect_no_match "before any backup: no success time" 'hubbox_backup_last_success' "$out"
say "ok: before any backup: not failing in /metrics and in SNMP"

# --- 2. the target is read-only: the run fails -------------------------------------------------
status=0
out="$(hubctl backup run 2>&1)" || status=$?
expect_eq "backup run onto a read-only target: exit" 1 "$status"
expect_match "backup run says why" 'scheduled backup failed: .*Read-only file system' "$out"
expect_match "status file" '^state failed$' "$(cat "$STATUS_FILE")"
expect_eq "status file mode" 644 "$(stat -c %a "$STATUS_FILE")"
out="$(scrape)" || fail "scrape: $out"
expect_match "/metrics after the failure" '^hubbox_backup_failing 1$' "$out"
expect_match "/metrics: the failure's time and reason" \
    '^hubbox_backup_last_failure_timestamp_seconds\{reason=".*Read-only file system"\} [0-9]+$' \
    "$out"
wait_until 30 "hubboxBackupIsFailing.0 = true(1)" backup_failing_is 1
walk="$(snmp_walk "$BACKUP_OID")"
show "$walk"
expect_match "hubboxBackupLastFailureReason.0" "^$BACKUP_OID\.5\.0 .*Read-only file system" "$walk"
expect_match "hubboxBackupLastFailure.0 (DateAndTime)" "^$BACKUP_OID\.4\.0 " "$walk"
expect_no_match "hubboxBackupLastSuccess.0 (never)" "^$BACKUP_OID\.2\.0 " "$walk"
wait_until 60 "snmptrapd to receive hubboxBackupFailed" trap_seen 8
trap_text="$(grep -A3 '32473\.1\.0\.8\b' "$SNMP/traps.log" | tr '\t' '\n')"
expect_match "the trap carries the reason" "$BACKUP_OID\.5\.0 .*Read-only file system" \
    "$trap_text"
status=0
out="$(hubctl status 2>&1)" || status=$?
expect_match "hubctl status" '^backup: FAILED at .*Read-only file system; no good backup yet' \
    "$out"
say "ok: a failed backup: hubbox_backup_failing 1, hubboxBackupIsFailing true, trap" \
    "hubboxBackupFailed received, hubctl status FAILED"

# --- 3. writable again: the next run succeeds and clears it -----------------------------------
mount -o remount,rw "$TARGET" || fail "remount the target read-write"
out="$(hubctl backup run 2>&1)" || fail "backup run onto a writable target: $out"
archive="$(ls "$TARGET"/hubbox-*.hbk)"
expect_match "status file" '^state ok$' "$(cat "$STATUS_FILE")"
out="$(scrape)" || fail "scrape: $out"
expect_match "/metrics after the good run" '^hubbox_backup_failing 0$' "$out"
expect_match "/metrics: the last success" \
    "^hubbox_backup_last_success_timestamp_seconds\\{archive=\"$(basename "$archive")\"\\} [0-9]+\$" \
    "$out"
expect_match "/metrics: the last failure is kept" '^hubbox_backup_last_failure_timestamp' "$out"
wait_until 30 "hubboxBackupIsFailing.0 = false(2)" backup_failing_is 2
walk="$(snmp_walk "$BACKUP_OID")"
expect_match "hubboxBackupLastArchive.0" "^$BACKUP_OID\.3\.0 $archive\$" "$walk"
expect_match "hubboxBackupLastSuccess.0" "^$BACKUP_OID\.2\.0 " "$walk"
wait_until 60 "snmptrapd to receive hubboxBackupRecovered" trap_seen 9
expect_eq "hubboxBackupFailed notifications (one per episode)" 1 "$(trap_count 8)"
out="$(hubctl status 2>&1)" || fail "hubctl status: $out"
expect_match "hubctl status" "^backup: ok at .*$archive" "$out"
say "ok: the next good backup clears it: failing 0, IsFailing false, hubboxBackupRecovered"

# --- 4. the schedule from hubctl, and retention ----------------------------------------------
out="$(hubctl backup schedule --keep 1 --interval-hours 6 2>&1)" || fail "backup schedule: $out"
expect_match "backup schedule" "^schedule: every 6 hours into $TARGET, keeping 1\$" "$out"
conf="$(cat "$STATE/hub.conf")"
expect_match "hub.conf keep" '^keep = 1$' "$conf"
expect_match "hub.conf interval_hours" '^interval_hours = 6$' "$conf"
expect_match "hub.conf comment kept" "^# the administrator's comment, kept by backup schedule\$" \
    "$conf"
status=0
out="$(hubctl backup schedule --keep 0 2>&1)" || status=$?
expect_eq "backup schedule --keep 0: exit" 2 "$status"
sleep 1  # A later second: a new archive name, not "-2".
out="$(hubctl backup run 2>&1)" || fail "backup run with keep = 1: $out"
expect_eq "archives kept (keep = 1)" 1 "$(ls "$TARGET"/hubbox-*.hbk | wc -l)"
expect_no_match "the oldest archive went" "^$archive\$" "$(ls "$TARGET"/hubbox-*.hbk)"
out="$(hubctl backup run --if-due 2>&1)" || fail "backup run --if-due: $out"
expect_match "run --if-due right after" '^not due' "$out"
say "ok: hubctl backup schedule sets keep and interval_hours; retention keeps 1"
say "PASS"
