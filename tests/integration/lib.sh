# lib.sh -- shared set-up for the integration tests, sourced by each tests/integration/*.sh.
#
# Each test gets a throwaway hub: a temporary state directory made by tools/dev-init on two
# free loopback ports, hubd started in the background with its stderr in a log, and an EXIT
# trap that stops hubd, unmounts anything the test mounted, removes the directory, and on
# failure prints the tail of the hubd log. Tests talk to 127.0.0.1 only, never sleep blindly
# for long, and bound every wait (generous bounds: a slow machine must not fail a test).
#
# Binaries come from CTest ($<TARGET_FILE:...>) or the environment: HUBD, HUBCTL, LOADGEN.
# Exit codes: 0 pass, 1 fail, 77 skip (CTest SKIP_RETURN_CODE).
# KEEP_WORK=1 keeps the temporary directory for a post-mortem.

set -euo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${SRC:-$(cd "$LIB_DIR/../.." && pwd)}"
DEV_INIT="$SRC/tools/dev-init"
PEER="$LIB_DIR/smtp_peer.py"
TEST_NAME="$(basename "$0" .sh)"
PYTHON="${PYTHON:-python3}"

WORK=""
STATE=""
HUB_LOG=""
HUBD_PID=""
SMTP_PORT=""
SMTPS_PORT=""
MOUNTS=()

say() { echo "[$TEST_NAME] $*"; }
show() { sed "s/^/[$TEST_NAME] /" <<<"$1"; }  # A helper's multi-line output, attributed.
fail() {
    echo "[$TEST_NAME] FAIL: $*" >&2
    exit 1
}
skip() {
    echo "[$TEST_NAME] SKIP: $*"
    exit 77
}

# expect_match WHAT REGEX ACTUAL: fail with both sides shown unless ACTUAL matches.
expect_match() {
    local what="$1" regex="$2" actual="$3"
    if ! grep -Eq -- "$regex" <<<"$actual"; then
        fail "$what: expected to match /$regex/, got:
$actual"
    fi
}
expect_no_match() {
    local what="$1" regex="$2" actual="$3"
    if grep -Eq -- "$regex" <<<"$actual"; then
        fail "$what: expected no line matching /$regex/, got:
$actual"
    fi
}
expect_eq() {
    local what="$1" expected="$2" actual="$3"
    [[ "$expected" == "$actual" ]] || fail "$what: expected '$expected', got '$actual'"
}

need_binaries() {
    local name
    for name in "$@"; do
        local path="${!name:-}"
        [[ -n "$path" && -x "$path" ]] || fail "\$$name is not set to an executable ('$path')"
    done
}

# pick_ports N: N distinct free TCP ports on 127.0.0.1 in 20000..60000 (random, so tests
# can run in parallel; each is held while the others are chosen), outside the kernel's
# ephemeral range when possible, so that no client connection can be holding one.
pick_ports() {
    "$PYTHON" - "$1" <<'EOF'
import random, socket, sys
try:
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except (OSError, ValueError):
    low, high = 0, -1
ports = [p for p in range(20000, 60001) if not low <= p <= high] or list(range(20000, 60001))
held = []
while len(held) < int(sys.argv[1]):
    port = random.choice(ports)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# free_udp_ports N: N loopback UDP ports nobody holds (snmpd and snmptrapd bind UDP).
free_udp_ports() {
    "$PYTHON" - "$1" <<'PY'
import random, socket, sys
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", random.randint(20000, 60000)))
    except OSError:
        s.close()
        continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}

# start_net_snmp: a private snmpd (AgentX master, the SNMPv3 user tools/snmp-conf writes) and
# snmptrapd on two free loopback UDP ports, configured in $WORK/snmp. Sets SNMP, SNMP_PORT,
# TRAP_PORT, SNMPD_PID and TRAPD_PID (the caller's cleanup stops the two) and exports the
# client tools' environment: no system snmp.conf, state in $WORK, the MIBs of $SRC/mibs only
# (Debian ships none). Returns once snmpd's AgentX socket is there.
start_net_snmp() {
    read -r SNMP_PORT TRAP_PORT < <(free_udp_ports 2)
    SNMP="$WORK/snmp"
    local out mibs="$SRC/mibs"
    out="$(bash "$SRC/tools/snmp-conf" "$SNMP" --port "$SNMP_PORT" --trap-port "$TRAP_PORT")" ||
        fail "tools/snmp-conf: $out"
    mkdir -p "$WORK/snmp-client"
    export SNMPCONFPATH="$WORK/snmp-client" SNMP_PERSISTENT_DIR="$WORK/snmp-client"
    export MIBDIRS="$mibs:$mibs/ietf"
    export MIBS="SNMPv2-MIB:NETWORK-SERVICES-MIB:MTA-MIB:HUBBOX-MIB"
    # snmpd loads no MIB files (MIBS empty): it serves numbers; names are the clients' business.
    MIBS="" snmpd -f -Lf "$SNMP/snmpd.log" -C -c "$SNMP/snmpd.conf" -I -mta_sendmail \
        -p "$SNMP/snmpd.pid" &
    SNMPD_PID=$!
    snmptrapd -f -Lf "$SNMP/traps.log" -C -c "$SNMP/snmptrapd.conf" -p "$SNMP/snmptrapd.pid" \
        -On &
    TRAPD_PID=$!
    wait_until 30 "snmpd's AgentX socket" test -S "$SNMP/agentx.sock"
}

cleanup() {
    local status=$?
    set +e
    if [[ -n "$HUBD_PID" ]] && kill -0 "$HUBD_PID" 2>/dev/null; then
        kill -KILL "$HUBD_PID" 2>/dev/null
        wait "$HUBD_PID" 2>/dev/null
    fi
    if [[ $status -ne 0 && $status -ne 77 && -n "$HUB_LOG" && -f "$HUB_LOG" ]]; then
        echo "[$TEST_NAME] ---- last 40 lines of the hubd log ($HUB_LOG) ----" >&2
        tail -n 40 "$HUB_LOG" >&2
        echo "[$TEST_NAME] ----" >&2
    fi
    local mount_point
    for mount_point in "${MOUNTS[@]}"; do
        umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null
    done
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "${KEEP_WORK:-0}" == 1 ]]; then
            echo "[$TEST_NAME] kept $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 129' HUP  # Signals end the test through the EXIT trap, so hubd never outlives it.
trap 'exit 130' INT
trap 'exit 143' TERM

# make_work: the temporary directory; searchable by the hub user when run as root.
make_work() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/hubbox-it-$TEST_NAME.XXXXXX")"
    chmod 0755 "$WORK"
    STATE="$WORK/state"
    HUB_LOG="$WORK/hubd.log"
}

# The user hubd drops to when started as root: hubbox when tools/setup made it, else nobody.
hub_user() {
    if getent passwd hubbox >/dev/null; then
        echo hubbox
    else
        echo nobody
    fi
}

# hub_init [dev-init options...]: work dir, ports, state dir (2 shards unless given).
hub_init() {
    [[ -n "$WORK" ]] || make_work
    if [[ -z "$SMTP_PORT" ]]; then
        read -r SMTP_PORT SMTPS_PORT < <(pick_ports 2)
    fi
    local args=(--smtp "127.0.0.1:$SMTP_PORT" --smtps "127.0.0.1:$SMTPS_PORT")
    [[ " $* " == *" --shards "* ]] || args+=(--shards 2)
    [[ $EUID -ne 0 || " $* " == *" --user "* ]] || args+=(--user "$(hub_user)")
    if ! "$DEV_INIT" "$STATE" "${args[@]}" "$@" >"$WORK/dev-init.log" 2>&1; then
        cat "$WORK/dev-init.log" >&2
        fail "tools/dev-init $STATE ${args[*]} $* failed"
    fi
    # HUB_TEST_STREAM_BODIES=1 or 0: the same test with spool.stream_bodies on or off, said
    # in hub.conf (CMakeLists.txt: limits, bounds and smuggling run once each way); unset,
    # the default (on).
    case "${HUB_TEST_STREAM_BODIES:-}" in
        1) sed -i '/^\[spool\]$/a stream_bodies = true' "$STATE/hub.conf" ;;
        0) sed -i '/^\[spool\]$/a stream_bodies = false' "$STATE/hub.conf" ;;
    esac
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s; fail after SECONDS.
wait_until() {
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            fail "timed out after ${seconds}s waiting for $what"
        fi
        sleep 0.1
    done
}

port_listening() {
    [[ "$(ss -Hltn "sport = :$1" 2>/dev/null | grep -c LISTEN || true)" != 0 ]]
}

# The hub greets on the STARTTLS port: proof that a shard is serving, not just bound. (A
# 554 counts: a test may have narrowed the connectors so that 127.0.0.1 is refused.)
hub_greets() {
    if ! kill -0 "$HUBD_PID" 2>/dev/null; then
        fail "hubd exited during start-up (see the log below)"
    fi
    port_listening "$SMTP_PORT" && port_listening "$SMTPS_PORT" &&
        timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT && read -r -t 4 line <&3 &&
            [[ \$line == 220* || \$line == 554* ]] && printf 'QUIT\r\n' >&3" 2>/dev/null
}

hub_start() {
    echo "---- hubd start $(date +%T)" >>"$HUB_LOG"
    "$HUBD" --config "$STATE/hub.conf" >>"$HUB_LOG" 2>&1 &
    HUBD_PID=$!
    wait_until "${HUB_START_TIMEOUT_S:-30}" "hubd to greet on 127.0.0.1:$SMTP_PORT" hub_greets
}

# hub_stop: SIGTERM (graceful), bounded; SIGKILL if it does not go. Warns on a bad status.
hub_stop() {
    [[ -n "$HUBD_PID" ]] || return 0
    kill -TERM "$HUBD_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$HUBD_PID" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$HUBD_PID" 2>/dev/null; then
        say "WARNING: hubd did not stop within 20 s of SIGTERM; killing it"
        kill -KILL "$HUBD_PID" 2>/dev/null || true
    fi
    local status=0
    wait "$HUBD_PID" 2>/dev/null || status=$?
    [[ $status -eq 0 ]] || say "WARNING: hubd exited with status $status after SIGTERM"
    HUBD_PID=""
}

hub_kill9() {
    kill -KILL "$HUBD_PID"
    wait "$HUBD_PID" 2>/dev/null || true
    HUBD_PID=""
}

# queue_tsv: the live queue without its header line (hubctl's tsv format, see CONTRACTS).
queue_tsv() {
    local out
    if ! out="$("$HUBCTL" --config "$STATE/hub.conf" queue list --format tsv 2>&1)"; then
        fail "hubctl queue list failed: $out"
    fi
    grep -v '^#' <<<"$out" || true
}
queue_count() {
    queue_tsv | grep -c . || true
}

# received_header QUEUE_ID: the Received: header (folded lines, CR removed) that names
# QUEUE_ID, read from the spool's segment files (the message is stored as received).
received_header() {
    "$PYTHON" - "$STATE/spool" "$1" <<'EOF'
import os, re, sys
spool, queue_id = sys.argv[1], sys.argv[2].encode()
pattern = re.compile(rb"Received: from [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)+")
for root, _, files in os.walk(spool):
    for name in sorted(files):
        if not name.endswith(".seg"):
            continue  # control.sock and anything else that is not a segment
        with open(os.path.join(root, name), "rb") as segment:
            data = segment.read()
        for match in pattern.finditer(data):
            if re.search(rb"\bid " + re.escape(queue_id) + rb"\b", match.group(0)):
                print(match.group(0).decode("latin-1").replace("\r", ""), end="")
                sys.exit(0)
EOF
}

# peer SCENARIO [args...]: a byte-exact SMTP conversation (smtp_peer.py) with this hub.
peer() {
    local scenario="$1"
    shift
    timeout "${PEER_TIMEOUT_S:-120}" "$PYTHON" "$PEER" "$scenario" --smtp-port "$SMTP_PORT" \
        --smtps-port "$SMTPS_PORT" --state "$STATE" "$@"
}

# swaks_hub ARGS...: swaks at this hub with partner1's client certificate; prints its
# transcript and returns its status.
swaks_hub() {
    timeout 60 swaks --server 127.0.0.1 --from joe@partner1.gov.uk \
        --to ann@partner2.gov.uk.lgolhub.net --helo mx.partner1.gov.uk \
        --tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key" \
        --tls-verify --tls-ca-path "$STATE/ca.pem" "$@" 2>&1
}

raise_fd_limit() {
    local want="$1"
    if (($(ulimit -n) < want)); then
        ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    fi
    (($(ulimit -n) >= want)) || skip "needs $want open files; ulimit -n is $(ulimit -n)"
}

# check_acked ACKED_LOG: every "<token> <queue id>" loadgen logged (a 250 it got) must be in
# the queue with Message-ID <token@loadgen.invalid>; no queue id or Message-ID may appear
# twice. Prints "acked=N present=N lost=N mismatched=N queue=N dup_queue_ids=N dups=N
# dup_acks=N" (and up to 10 offenders); returns 1 if anything was lost or duplicated.
check_acked() {
    local queue="$WORK/queue-check.tsv"
    queue_tsv >"$queue"
    "$PYTHON" - "$1" "$queue" <<'PYEOF'
import collections, sys
acked = [line.split() for line in open(sys.argv[1]) if line.strip()]
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[2]) if line.strip()]
by_id = {row[0]: row for row in rows}
lost, wrong = [], []
for token, queue_id in acked:
    row = by_id.get(queue_id)
    if row is None:
        lost.append(f"{token} {queue_id}")
    elif len(row) < 6 or row[5] != f"<{token}@loadgen.invalid>":
        wrong.append(f"{token} {queue_id} is listed as {row}")
ids = collections.Counter(row[0] for row in rows)
mids = collections.Counter(row[5] for row in rows if len(row) > 5 and row[5])
dup_ids = [k for k, n in ids.items() if n > 1]
dup_mids = [k for k, n in mids.items() if n > 1]
dup_acks = [k for k, n in collections.Counter(t for t, _ in acked).items() if n > 1]
print(f"acked={len(acked)} present={len(acked) - len(lost) - len(wrong)} lost={len(lost)} "
      f"mismatched={len(wrong)} queue={len(rows)} dup_queue_ids={len(dup_ids)} "
      f"dups={len(dup_mids)} dup_acks={len(dup_acks)}")
for line in (lost + wrong)[:10]:
    print("  lost or mismatched:", line)
for line in (dup_ids + dup_mids + dup_acks)[:10]:
    print("  duplicate:", line)
sys.exit(1 if lost or wrong or dup_ids or dup_mids or dup_acks else 0)
PYEOF
}
