#!/usr/bin/env bash
# health.sh -- the health counters end to end (docs/HEALTH.md), with real Postfix partners:
#   1. partner1's Postfix relays N messages through the hub to partner2's Postfix, and swaks
#      makes one relay attempt that is refused (relay_denied);
#   2. hub-metrics, run as an unprivileged user in the status group (as on the appliance),
#      is scraped with curl; a strict parser of the Prometheus text format checks every
#      line (HELP/TYPE before samples, names, labels, values, one TYPE per family, counter
#      names ending in _total, no duplicate series), and the counts must equal what was
#      relayed: received and delivered messages and recipients by partner and in total,
#      the refusal by reason, TLS handshakes in both directions;
#   3. hubctl status --json says the same, parsed strictly (no duplicate keys, no NaN);
#   4. partner2 down: the message for it is queued (the queue gauges and its oldest message)
#      and deferred, its connections fail, and at the end of the (shortened) queue lifetime
#      it bounces: counted by partner, with the failure;
#   4b. hubctl reload: every counter series is still there afterwards, none went down;
#   5. permissions: a user outside the status group cannot connect to the status socket;
#      a member can ask "status" but not "hold" there; the control socket stays 0600;
#   6. hub-metrics answers anything but GET /metrics with a 4xx, and hubbox_up 0 (not an
#      error) while hubd is down; the counters start again from zero only with a restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL HUB_METRICS
need_postfix
command -v curl >/dev/null || skip "curl is not installed (tools/setup installs it)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"

N=5                 # messages relayed partner1 -> partner2
MONITOR_UID=65010   # hub-metrics' user: not the hub user, in the status group only
STRANGER_UID=65011  # neither the hub user nor in the status group
STATUS_GROUP=nogroup

read -r P1_PORT P2_PORT METRICS_PORT < <(pick_ports 3)
# A short queue lifetime and retry delay for section 4 (a message to a partner that is down).
hub_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2 \
    --lifetime 15
# The status socket outside the spool (which is the hub user's, 0700), in a directory anyone
# may search, as /run/hubbox is on the appliance; the socket itself is 0660 hubuser:nogroup.
mkdir -m 0755 "$WORK/run"
STATUS_SOCKET="$WORK/run/status.sock"
cat >>"$STATE/hub.conf" <<EOF

[health]
status_socket = "$STATUS_SOCKET"
status_group = "$STATUS_GROUP"
EOF
hub_start

METRICS_PID=""
stop_metrics() {
    if [[ -n "$METRICS_PID" ]]; then
        kill -TERM "$METRICS_PID" 2>/dev/null || true
        wait "$METRICS_PID" 2>/dev/null || true
        METRICS_PID=""
    fi
}
# The test's status must reach postfix_cleanup (and lib.sh's cleanup), which exit with it.
trap 'status=$?; stop_metrics; (exit "$status"); postfix_cleanup' EXIT
setpriv --reuid="$MONITOR_UID" --regid="$STATUS_GROUP" --clear-groups -- \
    "$HUB_METRICS" --listen "127.0.0.1:$METRICS_PORT" --socket "$STATUS_SOCKET" \
    >>"$WORK/hub-metrics.log" 2>&1 &
METRICS_PID=$!
wait_until 20 "hub-metrics on 127.0.0.1:$METRICS_PORT" port_listening "$METRICS_PORT"

start_partner() {  # start_partner N
    local port_var="P${1}_PORT"
    partner_start "partner$1" --domain "partner$1.gov.uk" --smtp-port "${!port_var}" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner$1.pem" \
        --key "$STATE/partner$1.key" --users nobody2
}
start_partner 1
start_partner 2
P1="$(partner_dir partner1)"
P2="$(partner_dir partner2)"

# The strict parser of the Prometheus text exposition format (0.0.4), and the checks. Reads
# the scrape on stdin; prints "name{labels} value" for every sample (labels sorted) after
# checking the whole text; exits 1 with the line number and the problem otherwise.
parse_prometheus() {
    "$PYTHON" -c '
import math, re, sys
text = sys.stdin.read()
def die(n, what, line=""):
    sys.exit(f"prometheus text line {n}: {what}: {line!r}")
if not text.endswith("\n"):
    die(0, "the text does not end with a line feed")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)"
LABELVALUE = r"\"(?:[^\"\\\n]|\\[\\\"n])*\""
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL}={LABELVALUE})(?:,{LABEL}={LABELVALUE})*,?)?\}})? ({VALUE})(?: (-?[0-9]+))?$")
helps, types, seen_families, series = {}, {}, [], set()
current = None
out = []
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        m = re.match(rf"^# HELP ({NAME}) (.*)$", line)
        if not m: die(n, "bad HELP line", line)
        if m[1] in helps: die(n, "second HELP for " + m[1], line)
        helps[m[1]] = m[2]
        if m[1] in seen_families: die(n, "HELP after the family had samples", line)
        continue
    if line.startswith("# TYPE "):
        m = re.match(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$", line)
        if not m: die(n, "bad TYPE line", line)
        if m[1] in types: die(n, "second TYPE for " + m[1], line)
        if m[1] in seen_families: die(n, "TYPE after the family had samples", line)
        if m[1] not in helps: die(n, "TYPE without HELP first (our exporter writes both)", line)
        types[m[1]] = m[2]
        if m[2] == "counter" and not m[1].endswith("_total"):
            die(n, "a counter family not named *_total", line)
        if not m[1].startswith("hubbox_"):
            die(n, "a family outside the hubbox_ namespace", line)
        current = m[1]
        continue
    if line.startswith("#") or line == "":
        die(n, "comment or blank line our exporter never writes", line)
    m = SAMPLE.match(line)
    if not m: die(n, "not a sample line", line)
    name, labels, value = m[1], m[2] or "", m[3]
    if name != current: die(n, f"sample of {name} outside its family block ({current})", line)
    if name not in types: die(n, "sample without TYPE", line)
    if name not in seen_families: seen_families.append(name)
    pairs = re.findall(rf"({LABEL})=({LABELVALUE})", labels)
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)): die(n, "a label given twice", line)
    v = float(value.replace("Inf", "inf"))
    if math.isnan(v) or math.isinf(v): die(n, "NaN or Inf where a count or time belongs", line)
    if types[name] == "counter" and v < 0: die(n, "a negative counter", line)
    key = name + "{" + ",".join(f"{k}={val}" for k, val in sorted(pairs)) + "}"
    if key in series: die(n, "the same series twice", line)
    series.add(key)
    out.append(f"{key} {value}")
if "hubbox_up" not in types: die(0, "no hubbox_up family")
print("\n".join(out))
'
}

# metric SAMPLES NAME [LABEL=VALUE]: the sum of NAME over the samples whose labels include
# LABEL=VALUE (all samples of NAME without one); 0 when there are none.
metric() {
    "$PYTHON" -c '
import re, sys
name, want = sys.argv[1], sys.argv[2]
total = 0.0
for line in sys.stdin:
    key, value = line.rsplit(" ", 1)
    metric, labels = key.split("{", 1)
    if metric != name: continue
    if want:
        k, v = want.split("=", 1)
        if f"{k}=\"{v}\"" not in labels[:-1].split(","): continue
    total += float(value)
print(int(total) if total == int(total) else total)
' "$2" "${3:-}" <<<"$1"
}

scrape() {
    local out
    out="$(curl -sS --max-time 30 -D "$WORK/scrape.headers" \
        "http://127.0.0.1:$METRICS_PORT/metrics")" || fail "curl /metrics: $out"
    grep -q '^HTTP/1.1 200 ' "$WORK/scrape.headers" ||
        fail "GET /metrics: $(head -n1 "$WORK/scrape.headers")"
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/scrape.headers" ||
        fail "GET /metrics: content type: $(grep -i content-type "$WORK/scrape.headers")"
    printf '%s\n' "$out" >"$WORK/scrape.txt"
    parse_prometheus <"$WORK/scrape.txt" || fail "the scrape is not valid Prometheus text
(saved in $WORK/scrape.txt; KEEP_WORK=1 keeps it)"
}

# --- 1. known traffic -------------------------------------------------------------------
for i in $(seq 1 "$N"); do
    partner send "$P1" --from alice@partner1.gov.uk --to "joe@partner2.gov.uk.lgolhub.net" \
        --subject "health $i" >/dev/null
done
out="$(swaks_hub --port "$SMTP_PORT" --tls --to user@example.com --quit-after RCPT || true)"
expect_match "relay attempt to user@example.com" '<~\* +550 5\.7\.1' "$out"
wait_until 120 "$N messages in joe's Maildir at partner2" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge $N ]]"
# Delivered means counted: the transaction's outcome is counted as its 250 arrives, before
# Postfix files the message, so no wait is needed beyond the Maildir.

# --- 2. hub-metrics ---------------------------------------------------------------------
samples="$(scrape)"
families="$(grep -c '^# TYPE ' "$WORK/scrape.txt")"
say "ok: scrape parsed strictly: $(wc -l <<<"$samples") samples in $families families"
check() {  # check WHAT EXPECTED NAME [LABEL=VALUE]
    local got
    got="$(metric "$samples" "$3" "${4:-}")"
    [[ "$got" == "$2" ]] || fail "$1: $3${4:+{$4\}} is $got, expected $2"
}
check "hubd answered" 1 hubbox_up
check "messages received (all shards)" "$N" hubbox_messages_received_total
check "messages received from partner1" "$N" hubbox_partner_messages_received_total partner=partner1
check "recipients received" "$N" hubbox_recipients_received_total
check "messages delivered (all shards)" "$N" hubbox_messages_delivered_total
check "messages delivered to partner2" "$N" hubbox_partner_messages_delivered_total \
    partner=partner2
check "recipients delivered to partner2" "$N" hubbox_partner_recipients_delivered_total \
    partner=partner2
check "messages bounced" 0 hubbox_messages_bounced_total
check "queue after delivery" 0 hubbox_queue_messages
check "relay refusals" 1 hubbox_refusals_total reason=relay_denied
check "messages rejected (the refused RCPT)" 1 hubbox_messages_rejected_total
check "refused connections" 0 hubbox_inbound_connections_refused_total
[[ "$(metric "$samples" hubbox_tls_handshakes_total direction=in)" -ge 2 ]] ||
    fail "inbound TLS handshakes: expected at least 2 (Postfix and swaks)"
[[ "$(metric "$samples" hubbox_tls_handshakes_total direction=out)" -ge 1 ]] ||
    fail "outbound TLS handshakes: expected at least 1"
[[ "$(metric "$samples" hubbox_inbound_connections_total)" -ge 2 ]] ||
    fail "inbound connections: expected at least 2"
received_bytes="$(metric "$samples" hubbox_received_bytes_total)"
delivered_bytes="$(metric "$samples" hubbox_delivered_bytes_total)"
((received_bytes > 0 && delivered_bytes > 0)) ||
    fail "bytes: received $received_bytes, delivered $delivered_bytes"
expect_match "the listener certificate's expiry" \
    'hubbox_certificate_expiry_timestamp_seconds\{partner="",role="listener"' "$samples"
expect_match "partner2's server certificate (seen on delivery)" \
    'hubbox_certificate_expiry_timestamp_seconds\{partner="partner2",role="partner_server",subject="[^"]*partner2' \
    "$samples"
expect_match "partner1's client certificate (seen on receipt)" \
    'hubbox_certificate_expiry_timestamp_seconds\{partner="partner1",role="partner_client",subject="[^"]*partner1' \
    "$samples"
expect_match "partner2's last delivery time" \
    'hubbox_partner_last_delivery_timestamp_seconds\{partner="partner2"\} [0-9]+\.[0-9]{3}' \
    "$samples"
say "ok: hub-metrics counts what was relayed: $N received from partner1, $N delivered to" \
    "partner2, 1 relay_denied; bytes in $received_bytes, out $delivered_bytes"

# --- 3. hubctl status --json ------------------------------------------------------------
json="$("$HUBCTL" --config "$STATE/hub.conf" status --json)" || fail "hubctl status --json: $json"
"$PYTHON" -c '
import json, sys
n = int(sys.argv[1])
def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        sys.exit(f"duplicate key in {keys}")
    return dict(pairs)
def no_constants(name):
    sys.exit(f"{name} is not JSON")
s = json.loads(sys.stdin.read(), object_pairs_hook=no_duplicates, parse_constant=no_constants)
t = s["total"]
partners = {p["name"]: p for p in s["partners"]}
checks = [
    ("total messages_received", t["messages_received"], n),
    ("total messages_delivered", t["messages_delivered"], n),
    ("total recipients_delivered", t["recipients_delivered"], n),
    ("partner1 messages_received", partners["partner1"]["messages_received"], n),
    ("partner2 messages_delivered", partners["partner2"]["messages_delivered"], n),
    ("refusals relay_denied", s["refusals"].get("relay_denied"), 1),
    ("total queue_messages", t["queue_messages"], 0),
    ("sum of shards", sum(x["messages_received"] for x in s["shards"]), n),
]
for what, got, want in checks:
    if got != want:
        sys.exit(f"hubctl status --json: {what} is {got}, expected {want}")
if not all(isinstance(x["cpu_ns"], int) and x["cpu_ns"] > 0 for x in s["shards"]):
    sys.exit("hubctl status --json: a shard without CPU time")
if partners["partner2"]["last_outbound_unix_ms"] < s["started_unix_ms"]:
    sys.exit("hubctl status --json: partner2 last_outbound_unix_ms before the start")
' "$N" <<<"$json" || fail "hubctl status --json does not match what was relayed:
$json"
text="$("$HUBCTL" --config "$STATE/hub.conf" status)" || fail "hubctl status: $text"
expect_match "hubctl status (text): partner2's row" "^partner2 +0 +0 +$N " "$text"
say "ok: hubctl status --json and text agree"

# --- 4. partner2 down: deferred, failed connections, then a bounce at the lifetime --------
partner_stop partner2
partner send "$P1" --from alice@partner1.gov.uk --to "ann@partner2.gov.uk.lgolhub.net" \
    --subject "to a partner that is down" >/dev/null
deferred() {
    [[ "$(metric "$(scrape)" hubbox_partner_recipients_deferred_total partner=partner2)" -ge 1 ]]
}
wait_until 60 "a deferral for partner2" deferred
samples="$(scrape)"
check "queued for partner2 while it is down" 1 hubbox_partner_queue_messages partner=partner2
check "queued recipients for partner2" 1 hubbox_partner_queue_recipients partner=partner2
check "queued in all (shards)" 1 hubbox_queue_messages
expect_match "the oldest queued message's arrival, for partner2" \
    'hubbox_partner_queue_oldest_message_timestamp_seconds\{partner="partner2"\} [0-9]{10}\.[0-9]{3}' \
    "$samples"
bounced() { [[ "$(metric "$(scrape)" hubbox_partner_recipients_bounced_total partner=partner2)" == 1 ]]; }
wait_until 120 "partner2's recipient to bounce at the queue lifetime" bounced
samples="$(scrape)"
check "recipients bounced (the queue lifetime, not a transaction)" 1 \
    hubbox_recipients_bounced_total
check "messages received from partner1, one more" "$((N + 1))" \
    hubbox_partner_messages_received_total partner=partner1
[[ "$(metric "$samples" hubbox_partner_recipients_deferred_total partner=partner2)" -ge 1 ]] ||
    fail "partner2 down: no deferred recipient counted"
[[ "$(metric "$samples" hubbox_partner_outbound_connections_failed_total partner=partner2)" -ge 1 ]] ||
    fail "partner2 down: no failed connection counted"
expect_match "partner2's last delivery failure" \
    'hubbox_partner_last_outbound_failure_timestamp_seconds\{partner="partner2",reason="connect to [^"]*refused' \
    "$samples"
say "ok: partner2 down: deferred $(metric "$samples" hubbox_partner_recipients_deferred_total \
    partner=partner2), failed connections $(metric "$samples" \
    hubbox_partner_outbound_connections_failed_total partner=partner2), then 1 bounced"

# --- 4b. a live reload does not reset or drop a counter --------------------------------
# The partner table is replaced; the counters are kept by partner name for the process's
# life, so every counter series of the scrape before the reload is still there after it,
# with a value at least as large.
scrape >/dev/null
cp "$WORK/scrape.txt" "$WORK/scrape-before-reload.txt"
reloaded="$("$HUBCTL" --config "$STATE/hub.conf" reload 2>&1)" || fail "hubctl reload: $reloaded"
scrape >/dev/null
python3 -c '
import sys
def counters(path):
    kinds, values = {}, {}
    for line in open(path):
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            kinds[name] = kind
        elif line.strip() and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            values[series] = (name, float(value))
    return {s: v for s, (n, v) in values.items() if kinds.get(n) == "counter"}
before, after = counters(sys.argv[1]), counters(sys.argv[2])
if not before:
    sys.exit("no counter series in the scrape before the reload")
for series, value in before.items():
    if series not in after:
        sys.exit(f"{series} is gone after the reload")
    if after[series] < value:
        sys.exit(f"{series} went down across the reload: {value} -> {after[series]}")
print(len(before))
' "$WORK/scrape-before-reload.txt" "$WORK/scrape.txt" >"$WORK/monotonic.txt" ||
    fail "counters across a reload: $(cat "$WORK/monotonic.txt")"
say "ok: $(cat "$WORK/monotonic.txt") counter series kept or grew across hubctl reload ($reloaded)"

# --- 5. who may ask -----------------------------------------------------------------------
# Another user's python: the system one (a $PYTHON under root's home is out of its reach).
USER_PYTHON=/usr/bin/python3
ask() {  # ask UID GID SOCKET LINE: one request, the answer's first line (or the error)
    setpriv --reuid="$1" --regid="$2" --clear-groups -- "$USER_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(f"connect: {e.strerror}"); sys.exit(0)
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().rstrip())
' "$3" "$4"
}
out="$(ask "$STRANGER_UID" "$STRANGER_UID" "$STATUS_SOCKET" status)"
expect_eq "status from a user outside $STATUS_GROUP" "connect: Permission denied" "$out"
out="$(setpriv --reuid="$STRANGER_UID" --regid="$STRANGER_UID" --clear-groups -- \
    "$HUBCTL" status --socket "$STATUS_SOCKET" 2>&1 || true)"
expect_match "hubctl status as a stranger says why" 'Permission denied.*monitoring group' "$out"
out="$(ask "$MONITOR_UID" "$STATUS_GROUP" "$STATUS_SOCKET" status)"
expect_eq "status from a member of $STATUS_GROUP" "hubbox-health 1" "$out"
out="$(ask "$MONITOR_UID" "$STATUS_GROUP" "$STATUS_SOCKET" "hold 0100000007000002")"
expect_match "hold on the status socket" "^error: the status socket answers only 'status'" "$out"
out="$(ask "$MONITOR_UID" "$STATUS_GROUP" "$STATE/spool/control.sock" list)"
expect_eq "the control socket from a member of $STATUS_GROUP" "connect: Permission denied" "$out"
mode="$(stat -c '%a %G' "$STATUS_SOCKET")"
expect_eq "status socket mode and group" "660 $STATUS_GROUP" "$mode"
out="$("$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"status\n")
print(s.makefile().readline().rstrip())' "$STATE/spool/control.sock")"
expect_eq "status on the control socket (root)" "hubbox-health 1" "$out"
say "ok: status socket: $mode; a stranger is refused, a member reads status but cannot hold"

# --- 6. hub-metrics' HTTP boundary, hubd down, restart ------------------------------------
http_status() {  # http_status CURL_ARGS...: the status code only
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@"
}
expect_eq "GET /" 404 "$(http_status "http://127.0.0.1:$METRICS_PORT/")"
expect_eq "POST /metrics" 405 "$(http_status -X POST "http://127.0.0.1:$METRICS_PORT/metrics")"
expect_eq "GET /metrics?x" 404 "$(http_status "http://127.0.0.1:$METRICS_PORT/metrics?x=1")"
expect_eq "an 9 KB header" 431 "$(http_status -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" \
    "http://127.0.0.1:$METRICS_PORT/metrics")"
out="$(printf 'NONSENSE\r\n\r\n' | timeout 30 "$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().rstrip())' "$METRICS_PORT")"
expect_eq "a request that is not HTTP" "HTTP/1.1 400 Bad Request" "$out"
say "ok: hub-metrics: 404, 405, 404, 431, 400 for what is not GET /metrics"

partner_stop partner1
hub_stop
samples="$(scrape)"
expect_eq "hubbox_up while hubd is down" 0 "$(metric "$samples" hubbox_up)"
expect_eq "families while hubd is down" 1 "$(grep -c '^# TYPE ' "$WORK/scrape.txt")"
hub_start
samples="$(scrape)"
expect_eq "hubbox_up after the restart" 1 "$(metric "$samples" hubbox_up)"
expect_eq "messages received after the restart (counters start at start)" 0 \
    "$(metric "$samples" hubbox_messages_received_total)"
say "ok: hubd down: hubbox_up 0; after a restart the counters count from the new start"
kill -0 "$METRICS_PID" || fail "hub-metrics died: $(tail -n 20 "$WORK/hub-metrics.log")"
stop_metrics
hub_stop
say "PASS"
