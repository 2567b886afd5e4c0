#!/usr/bin/env bash
# snmp.sh -- hub-snmp end to end with real net-snmp peers and a real Postfix partner.
#
# Debian's snmpd runs as the AgentX master (private config from tools/snmp-conf: a loopback
# UDP port, a private AgentX socket, SNMPv3 user with authPriv, snmpd's sendmail module
# off) with an snmptrapd receiving its informs; hub-snmp connects to it and reads hubd's
# status socket. partner1 (loadgen) relays through the hub to a private Postfix partner2.
#   1. the IETF modules and HUBBOX-MIB load in net-snmp; HUBBOX-MIB passes smilint;
#   2. SNMPv3 authPriv walks of MTA-MIB, applTable and HUBBOX-MIB return what hubd's own
#      snapshot (read from the status socket in the same quiet moment) says, in RFC 2789's
#      units (kilo-octets), for the hub and for each partner group; noAuth and v2c get
#      nothing;
#   3. snmpget of partner2's mtaGroupTransmittedMessages grows by one after one more
#      delivery;
#   4. partner2's group index is the same after hub-snmp restarts (the state file);
#   5. partner2 restarted without STARTTLS (reloaded in place, keeping its port): the hub's
#      next delivery fails for want of TLS and snmptrapd receives hubboxPartnerTlsFailing
#      naming partner2 (once);
#      partner2 fixed, the queued message is delivered and hubboxPartnerTlsRecovered follows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL HUB_SNMP LOADGEN
need_postfix
for tool in snmpd snmptrapd snmpwalk snmpget; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (tools/setup installs it)"
done

MESSAGES=5
MIBS_DIR="$SRC/mibs"

SNMPD_PID="" TRAPD_PID="" HUB_SNMP_PID=""
snmp_cleanup() {
    local status=$?
    set +e
    for pid in "$HUB_SNMP_PID" "$SNMPD_PID" "$TRAPD_PID"; do
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [[ $status -ne 0 && $status -ne 77 && -n "$WORK" ]]; then
        for log in hub-snmp.log snmp/snmpd.log snmp/snmptrapd.log; do
            [[ -f "$WORK/$log" ]] || continue
            echo "[$TEST_NAME] ---- last 30 lines of $WORK/$log ----" >&2
            tail -n 30 "$WORK/$log" >&2
        done
    fi
    (exit "$status")
    postfix_cleanup
}
trap snmp_cleanup EXIT

read -r P2_PORT < <(pick_ports 1)
hub_init --partner2-outbound "$P2_PORT" --retry-delay 1 --recovery-spread 1
hub_start
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
    --key "$STATE/partner2.key"
P2="$(partner_dir partner2)"

# hubd's read-only status socket: hub.conf's health.status_socket, else beside the spool.
STATUS_SOCKET="$(sed -n 's/^status_socket = "\(.*\)"$/\1/p' "$STATE/hub.conf")"
[[ -n "$STATUS_SOCKET" ]] || STATUS_SOCKET="$STATE/spool/status.sock"
wait_until 30 "hubd's status socket $STATUS_SOCKET" test -S "$STATUS_SOCKET"

# --- net-snmp: snmpd (AgentX master) and snmptrapd ------------------------------------------
start_net_snmp
mkdir -p "$WORK/hub-snmp-state"

start_hub_snmp() {
    "$HUB_SNMP" --status-socket "$STATUS_SOCKET" --agentx-socket "$SNMP/agentx.sock" \
        --state-dir "$WORK/hub-snmp-state" --poll-ms 500 --cache-ms 200 \
        >>"$WORK/hub-snmp.log" 2>&1 &
    HUB_SNMP_PID=$!
}
start_hub_snmp

V3=(-v3 -l authPriv -u hubmon -a SHA-256 -A hubmon-auth-dev -x AES -X hubmon-priv-dev
    -t 5 -r 1)
# Numeric names, bare values: no enum labels (-Oe), no units (-OU), ticks as numbers (-Ot),
# and strings without the quotes net-snmp adds when a MIB gives no display hint.
unquote() { sed -E 's/^(\S+ )?"(.*)"$/\1\2/'; }
snmp_get() { snmpget "${V3[@]}" -On -Oqv -Oe -OU -Ot "127.0.0.1:$SNMP_PORT" "$@" | unquote; }
snmp_walk() { snmpwalk "${V3[@]}" -On -Oq -Oe -OU -Ot "127.0.0.1:$SNMP_PORT" "$@" | unquote; }
appl_up() { [[ "$(snmp_get .1.3.6.1.2.1.27.1.1.6.1 2>/dev/null)" == 1 ]]; }
wait_until 60 "applOperStatus.1 = up(1) through snmpd" appl_up
say "ok: hub-snmp registered with snmpd over AgentX; applOperStatus up"

# --- 1. the MIBs load -------------------------------------------------------------------------
out="$(snmptranslate -On HUBBOX-MIB::hubboxPartnerTlsFailing MTA-MIB::mtaGroupName \
    NETWORK-SERVICES-MIB::applName 2>&1)" || fail "snmptranslate: $out"
out="$(grep . <<<"$out")"  # It separates its answers with empty lines.
expect_eq "OIDs of hubboxPartnerTlsFailing, mtaGroupName, applName" \
    ".1.3.6.1.4.1.32473.1.0.1
.1.3.6.1.2.1.28.2.1.25
.1.3.6.1.2.1.27.1.1.2" "$out"
errors="$(snmptranslate -Pe -IR -On hubboxMIB 2>&1 >/dev/null || true)"
expect_eq "net-snmp's errors loading our MIB modules" "" "$errors"
if command -v smilint >/dev/null; then
    lint="$(SMIPATH="$MIBS_DIR/ietf" smilint -c /dev/null -s -l 6 "$MIBS_DIR/HUBBOX-MIB.txt" 2>&1)"
    expect_eq "smilint -l 6 HUBBOX-MIB" "" "$lint"
    say "ok: HUBBOX-MIB passes smilint -l 6; net-snmp loads it without an error"
else
    say "ok: net-snmp loads HUBBOX-MIB without an error (smilint not installed: skipped)"
fi

# --- 2. relay, then compare what SNMP says with what hubd says ------------------------------
"$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --mode starttls --sessions 1 --messages "$MESSAGES" \
    --size 3000 --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" \
    --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
    --time-limit 60 >"$WORK/loadgen.log" 2>&1 || fail "loadgen: $(tail -5 "$WORK/loadgen.log")"
out="$("$PARTNER" wait-delivered "$P2" joe "$MESSAGES" 120 2>&1)" ||
    fail "partner2 did not receive $MESSAGES messages: $out"
queue_empty() { [[ "$(queue_count)" == 0 ]]; }
wait_until 60 "the hub's queue to drain" queue_empty

# snapshot_value KIND NAME KEY: a number from hubd's status answer (the line format of
# src/health/snapshot.h): KIND hub|total|partner, NAME the partner (else "").
snapshot() {
    "$PYTHON" - "$STATUS_SOCKET" <<'PY'
import socket, sys, urllib.parse
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"status\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for line in data.decode().splitlines():
    kind, _, rest = line.partition(" ")
    fields = dict(f.split("=", 1) for f in rest.split(" ") if "=" in f)
    if kind == "partner":
        name = urllib.parse.unquote(fields.pop("name"))
        for k, v in fields.items():
            print(f"partner {name} {k} {urllib.parse.unquote(v)}")
    elif kind in ("hub", "shard"):
        prefix = kind if kind == "hub" else f"shard {fields.pop('index')}"
        for k, v in fields.items():
            print(f"{prefix} {k} {v}")
PY
}
snapshot >"$WORK/snapshot.txt" || fail "could not read hubd's status socket"
sum_shards() { awk -v k="$1" '$1 == "shard" && $3 == k { s += $4 } END { print s + 0 }' "$WORK/snapshot.txt"; }
partner_value() { awk -v p="$1" -v k="$2" '$1 == "partner" && $2 == p && $3 == k { print $4 }' "$WORK/snapshot.txt"; }
hub_value() { awk -v k="$1" '$1 == "hub" && $2 == k { print $3 }' "$WORK/snapshot.txt"; }

snmp_walk .1.3.6.1.2.1.28 >"$WORK/mta.txt"
snmp_walk .1.3.6.1.2.1.27.1 >"$WORK/appl.txt"
snmp_walk .1.3.6.1.4.1.32473.1 >"$WORK/hubbox.txt"
show "$(head -n 12 "$WORK/mta.txt")"
value_of() { awk -v o="$1" '$1 == o { $1 = ""; sub(/^ /, ""); print }' "$2"; }
mta() { value_of ".1.3.6.1.2.1.28.1.1.$1.1" "$WORK/mta.txt"; }

expect_eq "mtaReceivedMessages.1 (hubd: total messages_received)" \
    "$(sum_shards messages_received)" "$(mta 1)"
expect_eq "mtaReceivedMessages.1 (messages relayed)" "$MESSAGES" "$(mta 1)"
expect_eq "mtaStoredMessages.1 (queue drained)" 0 "$(mta 2)"
expect_eq "mtaTransmittedMessages.1" "$(sum_shards messages_delivered)" "$(mta 3)"
expect_eq "mtaReceivedVolume.1 (kilo-octets)" "$(($(sum_shards bytes_received) / 1024))" "$(mta 4)"
expect_eq "mtaTransmittedVolume.1 (kilo-octets)" "$(($(sum_shards bytes_delivered) / 1024))" \
    "$(mta 6)"
expect_eq "mtaReceivedRecipients.1" "$(sum_shards recipients_received)" "$(mta 7)"
expect_eq "mtaTransmittedRecipients.1" "$(sum_shards recipients_delivered)" "$(mta 9)"
(($(mta 4) >= MESSAGES * 3000 / 1024)) || fail "mtaReceivedVolume.1 $(mta 4) KB is too small"
say "ok: mtaTable = hubd's totals: received $(mta 1), transmitted $(mta 3), volume $(mta 4) KB"

# Groups: one per partner, named by mtaGroupName; find partner2's and partner1's indexes.
group_of() {
    awk -v n="$1" '$1 ~ /^\.1\.3\.6\.1\.2\.1\.28\.2\.1\.25\.1\./ && $2 == n {
        sub(/.*\./, "", $1); print $1 }' "$WORK/mta.txt"
}
G2="$(group_of partner2)"
G1="$(group_of partner1)"
[[ "$G2" =~ ^[0-9]+$ && "$G1" =~ ^[0-9]+$ ]] ||
    fail "no mtaGroupName rows for partner1/partner2 in:
$(grep '28\.2\.1\.25\.' "$WORK/mta.txt")"
group() { value_of ".1.3.6.1.2.1.28.2.1.$1.1.$2" "$WORK/mta.txt"; }
expect_eq "mtaGroupTransmittedMessages (partner2)" \
    "$(partner_value partner2 messages_delivered)" "$(group 5 "$G2")"
expect_eq "mtaGroupTransmittedMessages (partner2, relayed)" "$MESSAGES" "$(group 5 "$G2")"
expect_eq "mtaGroupTransmittedVolume (partner2, KB)" \
    "$(($(partner_value partner2 bytes_delivered) / 1024))" "$(group 8 "$G2")"
expect_eq "mtaGroupStoredMessages (partner2)" 0 "$(group 4 "$G2")"
expect_eq "mtaGroupReceivedMessages (partner1)" \
    "$(partner_value partner1 messages_received)" "$(group 2 "$G1")"
expect_eq "mtaGroupReceivedMessages (partner1, relayed)" "$MESSAGES" "$(group 2 "$G1")"
expect_eq "mtaGroupMailProtocol (SMTP: applTCPProtoID 25)" ".1.3.6.1.2.1.27.4.25" \
    "$(group 24 "$G2")"
say "ok: group $G2 partner2 transmitted $(group 5 "$G2") ($(group 8 "$G2") KB)," \
    "group $G1 partner1 received $(group 2 "$G1")"

expect_eq "applName.1" hubd "$(value_of .1.3.6.1.2.1.27.1.1.2.1 "$WORK/appl.txt")"
hubbox() { value_of ".1.3.6.1.4.1.32473.1.1.$1" "$WORK/hubbox.txt"; }
expect_eq "hubboxHubReachable.0" 1 "$(hubbox 1.1.0)"
expect_eq "hubboxSpoolReserveMBytes.0" "$(($(hub_value spool_reserve_bytes) >> 20))" \
    "$(hubbox 2.3.0)"
expect_eq "hubboxSpoolTotalMBytes.0" "$(($(hub_value spool_total_bytes) >> 20))" "$(hubbox 2.2.0)"
expect_eq "hubboxPartnerName.$G2 (same index as the MTA group)" partner2 \
    "$(hubbox "3.1.2.$G2")"
expect_eq "hubboxPartnerTlsIsFailing.$G2" 2 "$(hubbox "3.1.5.$G2")"
shards="$(grep -c '^\.1\.3\.6\.1\.4\.1\.32473\.1\.1\.5\.1\.2\.' "$WORK/hubbox.txt" || true)"
expect_eq "hubboxShardTable rows" 2 "$shards"
say "ok: HUBBOX-MIB: reachable, spool total $(hubbox 2.2.0) MiB, reserve $(hubbox 2.3.0) MiB," \
    "$shards shards, partner2 TLS not failing"

named="$(snmpwalk "${V3[@]}" "127.0.0.1:$SNMP_PORT" HUBBOX-MIB::hubboxPartnerName 2>&1)"
expect_match "hubboxPartnerName by name" "^HUBBOX-MIB::hubboxPartnerName\.$G2 = STRING: \"?partner2" "$named"

# Only SNMPv3 with privacy reads anything; no community exists.
out="$(snmpget -v3 -l authNoPriv -u hubmon -a SHA-256 -A hubmon-auth-dev -t 2 -r 0 -On \
    "127.0.0.1:$SNMP_PORT" .1.3.6.1.2.1.28.1.1.1.1 2>&1 || true)"
expect_match "authNoPriv is refused" "authorizationError|No Such|Timeout" "$out"
expect_no_match "authNoPriv reads no counter" "Counter32" "$out"
out="$(snmpget -v2c -c public -t 1 -r 0 -On "127.0.0.1:$SNMP_PORT" .1.3.6.1.2.1.28.1.1.1.1 2>&1 || true)"
expect_no_match "v2c public reads no counter" "Counter32" "$out"
say "ok: authNoPriv and v2c read nothing"

# --- 3. one more delivery moves partner2's counter -----------------------------------------
TX=".1.3.6.1.2.1.28.2.1.5.1.$G2"
before="$(snmp_get "$TX")"
swaks_hub --port "$SMTP_PORT" --tls --to joe@partner2.gov.uk.lgolhub.net >"$WORK/swaks.log" ||
    fail "swaks: $(tail -5 "$WORK/swaks.log")"
out="$("$PARTNER" wait-delivered "$P2" joe "$((MESSAGES + 1))" 120 2>&1)" ||
    fail "the extra message did not reach partner2: $out"
tx_grew() { [[ "$(snmp_get "$TX")" == "$((before + 1))" ]]; }
wait_until 30 "mtaGroupTransmittedMessages.1.$G2 to go from $before to $((before + 1))" tx_grew
say "ok: snmpget mtaGroupTransmittedMessages.1.$G2: $before -> $(snmp_get "$TX") after a delivery"

# --- 4. the group index survives a restart of hub-snmp --------------------------------------
kill -TERM "$HUB_SNMP_PID"
wait "$HUB_SNMP_PID" || fail "hub-snmp did not stop cleanly on SIGTERM"
HUB_SNMP_PID=""
grep -q "partner2" "$WORK/hub-snmp-state/group-indexes" ||
    fail "no partner2 in $WORK/hub-snmp-state/group-indexes"
start_hub_snmp
name_again() { [[ "$(snmp_get ".1.3.6.1.2.1.28.2.1.25.1.$G2" 2>/dev/null)" == partner2 ]]; }
wait_until 60 "mtaGroupName.1.$G2 = partner2 after hub-snmp restarted" name_again
say "ok: partner2 is still group $G2 after hub-snmp restarted"

# --- 5. TLS with partner2 fails: a trap; it works again: another -----------------------------
# partner2 comes back without offering STARTTLS (a partner's server misconfigured, or a
# downgrade on the way): the hub's next delivery refuses to send in clear, counts it as a TLS
# failure of partner2 and keeps the message queued.
# partner_restart reloads Postfix in place: the port stays bound throughout (a stop and a start
# would free it for a moment, and a test running beside this one could take it).
restart_partner2() {
    partner_restart partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
        --key "$STATE/partner2.key" "$@"
}
restart_partner2 --no-starttls
swaks_hub --port "$SMTP_PORT" --tls --to joe@partner2.gov.uk.lgolhub.net >"$WORK/swaks2.log" ||
    fail "swaks: $(tail -5 "$WORK/swaks2.log")"
# trap_count N: notifications .1.3.6.1.4.1.32473.1.0.N snmptrapd has logged.
trap_count() { grep -c "\.1\.3\.6\.1\.4\.1\.32473\.1\.0\.$1\b" "$SNMP/traps.log" || true; }
trap_seen() { (($(trap_count "$1") >= $2)); }
wait_until 90 "snmptrapd to receive hubboxPartnerTlsFailing" trap_seen 1 1
trap_text="$(grep -A3 '32473\.1\.0\.1\b' "$SNMP/traps.log" | tr '\t' '\n')"
show "$trap_text"
expect_match "the notification names partner2" "32473\.1\.1\.3\.1\.2\.$G2 = STRING: \"?partner2" \
    "$trap_text"
expect_match "the notification carries the TLS error" "32473\.1\.1\.3\.1\.6\.$G2 = STRING: \"?out: " \
    "$trap_text"
expect_eq "hubboxPartnerTlsIsFailing.$G2 after the trap" 1 \
    "$(snmp_get ".1.3.6.1.4.1.32473.1.1.3.1.5.$G2")"
tls_failures="$(snmp_get ".1.3.6.1.4.1.32473.1.1.3.1.3.$G2")"
[[ "$tls_failures" =~ ^[0-9]+$ ]] && ((tls_failures >= 1)) ||
    fail "hubboxPartnerTlsFailuresOutbound.$G2 is '$tls_failures', expected at least 1"
expect_eq "hubboxPartnerTlsFailuresInbound.$G2" 0 "$(snmp_get ".1.3.6.1.4.1.32473.1.1.3.1.4.$G2")"
grep -q "notification hubboxPartnerTlsFailing: partner partner2" "$WORK/hub-snmp.log" ||
    fail "hub-snmp did not log the notification"
say "ok: hubboxPartnerTlsFailing received by snmptrapd for partner2 (group $G2)"

# partner2 fixed: the queued message goes out and TLS is reported working again, once.
restart_partner2
out="$("$PARTNER" wait-delivered "$P2" joe "$((MESSAGES + 2))" 120 2>&1)" ||
    fail "the deferred message did not reach partner2 once it offered STARTTLS again: $out"
wait_until 60 "snmptrapd to receive hubboxPartnerTlsRecovered" trap_seen 2 1
expect_eq "hubboxPartnerTlsFailing notifications (one per episode)" 1 "$(trap_count 1)"
expect_eq "hubboxPartnerTlsIsFailing.$G2 after recovery" 2 \
    "$(snmp_get ".1.3.6.1.4.1.32473.1.1.3.1.5.$G2")"
say "ok: hubboxPartnerTlsRecovered once the message was delivered"
say "PASS"
