#!/usr/bin/env bash
# refusals.sh -- the log an administrator greps (docs/LOGGING.md):
#   1. every refusal leaves exactly one "reject:" line, found by client and reason: one of
#      each (identity refusals included) is provoked with real clients (swaks, Python's socket/ssl via smtp_peer.py),
#      with small limits (1 shard, 4 connections, 2 per partner, 3 recipients, 3 errors,
#      20,000 bytes, a 2 s command timeout); partner1 = 127.0.0.1, partner2 = 127.0.0.3,
#      127.0.0.2 is nobody's;
#   2. the accepted line carries message-id=<...>;
#   3. no log line lost or torn: hubd's stderr is a file opened WITHOUT O_APPEND
#      ("2>file", shared by 4 shards and the supervisor) while loadgen sends 3,000
#      messages; every queue id loadgen got a 250 for has its accepted line, and every line
#      in the file is one whole "hubd[pid]: level: text" line.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL LOADGEN

# --- 1. and 2. one line per refusal; the accepted line ----------------------------------------
one_line_per_refusal() {
hub_init --partners-file --shards 1 --command-timeout 2 --message-bytes-max 20000 \
    --connections-max 4 --connections-per-partner 2
"$PYTHON" - "$STATE/partners.toml" "$STATE/hub.conf" <<'PYEOF'
import re, sys
partners, conf = sys.argv[1], sys.argv[2]
text = open(partners).read()
sources = iter(["127.0.0.1/32", "127.0.0.3/32"])
text, count = re.subn(r'^inbound = \[.*\]$', lambda m: f'inbound = ["{next(sources)}"]', text,
                      flags=re.M)
assert count == 2, f"expected 2 inbound lines in {partners}, found {count}"
open(partners, "w").write(text)
text = open(conf).read()
text, count = re.subn(r'^\[limits\]$', "[limits]\nrecipients_count_max = 3\nerrors_count_max = 3",
                      text, flags=re.M)
assert count == 1, f"no [limits] table in {conf}"
open(conf, "w").write(text)
PYEOF
hub_start

# The conversations, one refusal each (every connection ends before the next starts, so
# the connection limits are only met where they are meant to be).
out="$("$PYTHON" - "$LIB_DIR" "$SMTP_PORT" "$STATE" <<'PYEOF' 2>&1
import socket, sys, time, types
sys.path.insert(0, sys.argv[1])
import smtp_peer
from smtp_peer import Fail, Peer

port, state = int(sys.argv[2]), sys.argv[3]
args = types.SimpleNamespace(state=state)


def session(source="127.0.0.1", tls=False):
    peer = Peer(port, args, source=source)
    peer.expect("greeting", r"^220 ")
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ")
    if tls:
        peer.command("STARTTLS", r"^220 ")
        peer.start_tls()
        peer.command("EHLO mx.partner1.gov.uk", r"^250 ")
    return peer


def closed(peer, what, seconds=15):
    if not peer.closed_within(seconds):
        raise Fail(f"{what}: the hub did not close the connection")


def run():
    peer = session()  # tls_required: MAIL in clear text.
    peer.command("MAIL FROM:<joe@partner1.gov.uk>", r"^530 5\.7\.0")
    peer.command("QUIT", r"^221 ")
    print("ok: 530 5.7.0 before STARTTLS")

    peer = session()  # pipelined_after_starttls
    peer.send(b"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
    peer.expect("STARTTLS", r"^220 ")
    peer.start_tls()
    peer.command("EHLO mx.partner1.gov.uk", r"^250 ")
    peer.command("QUIT", r"^221 ")
    print("ok: MAIL pipelined after STARTTLS discarded")

    peer = session()  # tls_failed: clear text where the ClientHello should be.
    peer.command("STARTTLS", r"^220 ")
    peer.send(b"GARBAGE, NOT A TLS RECORD\r\n" * 4)
    closed(peer, "a bad handshake")
    print("ok: a bad handshake closed")

    for name, body in (("bare_lf", b"x\n.\nMAIL FROM:<evil@x.example>\r\n"),
                       ("bare_cr", b"x\r.\rMAIL FROM:<evil@x.example>\r\n")):
        peer = session(tls=True)
        peer.command("MAIL FROM:<joe@partner1.gov.uk>", r"^250 ")
        peer.command("RCPT TO:<ann@partner2.gov.uk.lgolhub.net>", r"^250 ")
        peer.command("DATA", r"^354 ")
        peer.send(b"Subject: " + name.encode() + b"\r\n\r\n" + body)
        peer.expect(name, r"^521 5\.5\.2")
        closed(peer, name)
        print(f"ok: {name}: 521 5.5.2")

    peer = session()  # timeout: silence after EHLO (command timeout 2 s).
    peer.expect("silence", r"^421 4\.4\.2", timeout=30)
    closed(peer, "timeout")
    print("ok: timeout: 421 4.4.2")

    peer = session()  # too_many_errors: three bad EHLOs (errors_count_max 3).
    peer.command("EHLO", r"^501 ")
    peer.command("EHLO", r"^501 ")
    peer.send(b"EHLO\r\n")
    peer.expect("third error", r"^501 ")
    peer.expect("error limit", r"^421 4\.7\.0")
    closed(peer, "too many errors")
    print("ok: too many errors: 421 4.7.0")

    peer = Peer(port, args, source="127.0.0.2")  # unknown_client
    peer.expect("greeting to 127.0.0.2", r"^554 5\.7\.1")
    closed(peer, "unknown client")
    print("ok: 127.0.0.2: 554 5.7.1")

    # Connection limits (1 shard: 4 in all, 2 per partner): two from partner1 and one from
    # partner2 are held; a third from partner1 is over its partner's limit; one more from
    # partner2 fills the hub; a fifth is over the hub's limit.
    held = [session("127.0.0.1"), session("127.0.0.1"), session("127.0.0.3")]
    peer = Peer(port, args, source="127.0.0.1")
    peer.expect("third from partner1", r"^421 4\.7\.0")
    closed(peer, "third from partner1")
    held.append(session("127.0.0.3"))
    peer = Peer(port, args, source="127.0.0.3")
    peer.expect("fifth connection", r"^421 4\.3\.2")
    closed(peer, "fifth connection")
    for peer in held:
        peer.command("QUIT", r"^221 ")
    print("ok: 421 4.7.0 per partner, 421 4.3.2 in all")


try:
    run()
except Fail as failure:
    print(f"FAIL: {failure}")
    print("\n".join(Peer.transcript[-30:]))
    sys.exit(1)
PYEOF
)" || fail "conversations:
$out"
show "$out"

# swaks: relay denied, unknown partner domain, too big, too many recipients (the fourth of
# four; the message goes to the other three and is accepted).
swaks_hub --port "$SMTP_PORT" --tls --to someone@elsewhere.example >"$WORK/swaks-relay.out" || true
swaks_hub --port "$SMTP_PORT" --tls --to someone@nobody.lgolhub.net >"$WORK/swaks-unknown.out" || true
big="$(head -c 30000 /dev/zero | tr '\0' 'a' | fold -w 70)"
swaks_hub --port "$SMTP_PORT" --tls --body "$big" >"$WORK/swaks-big.out" || true
swaks_hub --port "$SMTP_PORT" --tls --to "a@partner2.gov.uk.lgolhub.net,b@partner2.gov.uk.lgolhub.net,c@partner2.gov.uk.lgolhub.net,d@partner2.gov.uk.lgolhub.net" \
    --header "Message-Id: <refusals-test-1@partner1.gov.uk>" >"$WORK/swaks-rcpt.out" ||
    fail "swaks with 4 recipients: $(cat "$WORK/swaks-rcpt.out")"
# Identity (tests/integration/identity.sh covers every case): no client certificate, and
# partner1 giving a partner2 sender.
timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --from joe@partner1.gov.uk \
    --to ann@partner2.gov.uk.lgolhub.net --helo mx.partner1.gov.uk \
    --tls-verify --tls-ca-path "$STATE/ca.pem" >"$WORK/swaks-nocert.out" 2>&1 || true
swaks_hub --port "$SMTP_PORT" --tls --from alice@partner2.gov.uk >"$WORK/swaks-spoof.out" || true
expect_match "swaks: no client certificate" '530 5\.7\.0' "$(cat "$WORK/swaks-nocert.out")"
expect_match "swaks: partner2's sender from partner1" '550 5\.7\.1' \
    "$(cat "$WORK/swaks-spoof.out")"
expect_match "swaks: 4th recipient" '452 4\.5\.3' "$(cat "$WORK/swaks-rcpt.out")"
expect_match "swaks: relay" '550 5\.7\.1' "$(cat "$WORK/swaks-relay.out")"
expect_match "swaks: unknown partner domain" '550 5\.1\.2' "$(cat "$WORK/swaks-unknown.out")"
expect_match "swaks: 30,000 bytes" '552 5\.3\.4' "$(cat "$WORK/swaks-big.out")"
say "ok: swaks: 530 5.7.0 (no certificate), 550 5.7.1 (sender), 550 5.7.1, 550 5.1.2, 552 5.3.4, 452 4.5.3"
hub_stop  # Flushes every shard's lines.

# Exactly one line per refusal: "STAGE CLIENT REASON".
expected=(
    "mail 127.0.0.1 tls_required"
    "starttls 127.0.0.1 pipelined_after_starttls"
    "tls 127.0.0.1 tls_failed"
    "data 127.0.0.1 bare_lf"
    "data 127.0.0.1 bare_cr"
    "ehlo 127.0.0.1 timeout"
    "ehlo 127.0.0.1 too_many_errors"
    "connect 127.0.0.2 unknown_client"
    "connect 127.0.0.1 too_many_partner_connections"
    "connect 127.0.0.3 too_many_connections"
    "rcpt 127.0.0.1 relay_denied"
    "rcpt 127.0.0.1 unknown_partner_domain"
    "data 127.0.0.1 message_too_big"
    "rcpt 127.0.0.1 too_many_recipients"
    "mail 127.0.0.1 no_client_certificate"
    "mail 127.0.0.1 sender_not_partner"
)
log="$(cat "$HUB_LOG")"
line_re='^hubd\[[0-9]+\]: info: reject: [a-z]+ from \[[0-9.]+\]: [2-5][0-9][0-9] [2-5]\.[0-9]{1,3}\.[0-9]{1,3} [^;]*; reason=[a-z_]+(; (partner|from|to|detail)=[^;]*)*$'
rejects="$(grep -E ': reject: ' <<<"$log" || true)"
for entry in "${expected[@]}"; do
    read -r stage client reason <<<"$entry"
    pattern=": reject: $stage from \\[${client//./\\.}\\]: .*; reason=$reason(;|\$)"
    count="$(grep -Ec -- "$pattern" <<<"$rejects" || true)"
    [[ "$count" == 1 ]] || fail "reject line for $reason from $client at $stage: expected 1, got $count:
$rejects"
    say "ok: one line: $(grep -E -- "$pattern" <<<"$rejects" | sed 's/^hubd\[[0-9]*\]: info: //')"
done
total="$(grep -c . <<<"$rejects")"
expect_eq "reject lines in all (one per refusal provoked)" "${#expected[@]}" "$total"
bad="$(grep -Ev -- "$line_re" <<<"$rejects" || true)"
[[ -z "$bad" ]] || fail "reject lines not in the documented format:
$bad"
detail="$(grep -E 'reason=tls_failed' <<<"$rejects")"
expect_match "tls_failed carries wolfSSL's reason" '; detail=.+' "$detail"
expect_match "relay_denied names the recipient and sender" \
    'from=<joe@partner1\.gov\.uk>; to=<someone@elsewhere\.example>' \
    "$(grep -E 'reason=relay_denied' <<<"$rejects")"
accepted="$(grep -E ': info: [0-9A-F]{16}: client=' <<<"$log" || true)"
expect_match "accepted line with the Message-ID" \
    'message-id=<refusals-test-1@partner1\.gov\.uk>, from=<joe@partner1\.gov\.uk>, nrcpt=3, size=' \
    "$accepted"
say "ok: $total reject lines, each once, all in the documented format; accepted line:" \
    "$(sed 's/^hubd\[[0-9]*\]: info: //' <<<"$accepted")"

}

# LOAD_ONLY=1 runs part 3 alone (e.g. against an older hubd, to see it lose lines).
[[ "${LOAD_ONLY:-0}" == 1 ]] || one_line_per_refusal

# --- 3. no line lost or torn under load, stderr opened without O_APPEND --------------------
LOAD_MESSAGES="${LOAD_MESSAGES:-3000}"
SMTP_PORT="" SMTPS_PORT=""
[[ -z "$STATE" ]] || rm -rf "$STATE"
hub_init --shards "${LOAD_SHARDS:-4}" --connections-max 4096 --connections-per-partner 4096
load_log="$WORK/hubd-load.log"
"$HUBD" --config "$STATE/hub.conf" >"$load_log" 2>&1 &  # ">": no O_APPEND, one position.
HUBD_PID=$!
wait_until 30 "hubd to greet on 127.0.0.1:$SMTP_PORT" hub_greets
acked="$WORK/acked.log"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 30 \
    --messages $((LOAD_MESSAGES / 30)) --size 1500 --acked-log "$acked" --time-limit 240 \
    --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" 2>&1)" ||
    fail "loadgen: $out"
say "ok: $(grep '^loadgen: sent=' <<<"$out")"
hub_stop
result="$("$PYTHON" - "$acked" "$load_log" <<'PYEOF'
import re, sys
acked = {line.split()[1] for line in open(sys.argv[1]) if line.strip()}
data = open(sys.argv[2], "rb").read()
line_re = re.compile(rb"^hubd\[[0-9]+\]: (debug|info|warning|error|fatal): [ -~]*$")
torn, logged = [], set()
for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
    if not line_re.match(line) or line.count(b"hubd[") != 1:
        torn.append(line)
        continue
    m = re.match(rb"^hubd\[[0-9]+\]: info: ([0-9A-F]{16}): client=", line)
    if m:
        logged.add(m.group(1).decode())
missing = sorted(acked - logged)
terminated = data.endswith(b"\n")
print(f"acked={len(acked)} accepted_lines={len(logged)} missing={len(missing)} "
      f"torn={len(torn)} bytes={len(data)} ends_with_newline={terminated}")
for line in torn[:5]:
    print("  torn:", line[:200])
for queue_id in missing[:5]:
    print("  missing:", queue_id)
sys.exit(1 if missing or torn or not acked or not terminated else 0)
PYEOF
)" || fail "hubd's log after $LOAD_MESSAGES messages (stderr without O_APPEND):
$result"
say "ok: stderr without O_APPEND: $result"
say "PASS"
