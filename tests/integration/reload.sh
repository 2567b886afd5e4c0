#!/usr/bin/env bash
# reload.sh -- live reload of the partner directory into a running hubd (real hubd, hubctl,
# swaks, Python's ssl client, loadgen; Postfix as the new partner's server when root):
#   1. `hubctl partner add p3` while hubd runs: hubctl reports the reload, and without a
#      restart p3 sends (from 127.0.0.3) and receives (RCPT accepted; delivered to its
#      Postfix when available). `hubctl partner suspend p3` while a session p3 opened before
#      is at MAIL: that session completes its transaction (250 queued), a new one is
#      refused, and mail to p3 gets 550 5.1.2; the queued mail for p3 waits with the reason,
#      also after hubd restarts while p3 is suspended.
#   2. Reload under load: loadgen runs 20 concurrent TLS sessions while ten directory
#      changes are applied, each reported by hubctl as reloaded: no message fails, and new
#      sessions afterwards see the final table.
#   3. Refused reloads change nothing: a hub.conf change that needs a restart (hub.shards;
#      hubctl reload, a hubctl write and SIGHUP all refuse it, saying so), and an unreadable
#      directory (root only); after undoing them a reload applies what was written.
#   4. partners.file mode: SIGHUP and hubctl reload read partners.toml again the same way; a
#      broken file is refused with the loader's message and nothing changes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL LOADGEN
command -v swaks >/dev/null || skip "swaks is not installed"

with_postfix=0
if [[ $EUID -eq 0 ]] && command -v postfix >/dev/null && [[ -x /usr/lib/postfix/sbin/master ]]; then
    with_postfix=1
fi

read -r P3_PORT < <(pick_ports 1)
hub_init --directory --retry-delay 1
hubctl_dir() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
hub_start

# swaks_from SOURCE FROM TO [swaks options...]: one transaction over STARTTLS, no client
# certificate, from a loopback SOURCE address; prints the transcript (never fails).
swaks_from() {
    local source="$1" from="$2" to="$3"
    shift 3
    timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo "mx.test" \
        --local-interface "$source" --from "$from" --to "$to" "$@" 2>&1 || true
}
# rcpt_as_partner1 TO: partner1 (its certificate) as far as RCPT; prints the transcript.
rcpt_as_partner1() {
    swaks_hub --port "$SMTP_PORT" --tls --to "$1" --quit-after RCPT || true
}
reloads_logged() { grep -c 'reload (hubctl): partner table' "$HUB_LOG" || true; }

# --- 1. a partner added live sends and receives; suspended live, it is refused ---------------
out="$(rcpt_as_partner1 joe@p3.example.lgolhub.net)"
expect_match "before the add: p3's domain is unknown" '<~\* +550 5\.1\.2' "$out"

# p3's server presents partner2's certificate (issued by the hub CA), so its outbound name is
# partner2.gov.uk: the hub verifies the chain and the name as for any partner.
out="$(hubctl_dir partner add p3 --domain p3.example --inbound 127.0.0.3/32 \
    --outbound "127.0.0.1:$P3_PORT" --outbound-name partner2.gov.uk \
    --require-client-cert false --contact "p3 desk" 2>&1)" || fail "partner add p3: $out"
expect_match "hubctl partner add reports the reload" \
    '^partner add: done; hubd reloaded: partner table 2: 3 active partners; added p3$' "$out"
wait_until 10 "both shards to take table 2" \
    bash -c "[[ \$(grep -c 'partner table 2 in use: 3 active partners' '$HUB_LOG') -ge 2 ]]"
say "ok: $out"

out="$(swaks_from 127.0.0.3 desk@p3.example ann@partner2.gov.uk.lgolhub.net)"
expect_match "p3 sends without a restart" '<~ +250 2\.0\.0 .*queued as' "$out"
say "ok: the added partner p3 sends"

if ((with_postfix)); then
    partner_start p3 --domain p3.example --smtp-port "$P3_PORT" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
        --key "$STATE/partner2.key"
fi
out="$(swaks_hub --port "$SMTP_PORT" --tls --to joe@p3.example.lgolhub.net)"
expect_match "p3 receives without a restart" '<~ +250 2\.0\.0 .*queued as' "$out"
to_p3_id="$(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | grep -Eo '[0-9A-F]{16}$')"
if ((with_postfix)); then
    wait_until 60 "joe's copy at p3's Postfix" \
        bash -c "[[ \$('$PARTNER' count '$(partner_dir p3)' joe) -ge 1 ]]"
    expect_match "the hub relayed to p3's connector" \
        "$to_p3_id: to=<joe@p3\\.example>, relay=partner2\\.gov\\.uk\\[127\\.0\\.0\\.1\\]:$P3_PORT, .*status=sent" \
        "$(cat "$HUB_LOG")"
    say "ok: mail to the added partner p3 delivered to its server (Postfix)"
    partner_stop p3
else
    wait_until 30 "a delivery attempt to p3's connector" \
        bash -c "grep -q '$to_p3_id: to=<joe@p3\\.example>, relay=partner2\\.gov\\.uk\\[127\\.0\\.0\\.1\\]:$P3_PORT' '$HUB_LOG'"
    say "ok: mail to the added partner p3 routed to its connector (no Postfix: not delivered)"
fi
# One more for p3, which now waits in the queue: its server is down.
out="$(swaks_hub --port "$SMTP_PORT" --tls --to carol@p3.example.lgolhub.net)"
expect_match "a second message for p3" '<~ +250 2\.0\.0 .*queued as' "$out"
waiting_id="$(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | grep -Eo '[0-9A-F]{16}$')"
wait_until 30 "$waiting_id to be deferred (p3's server is down)" \
    bash -c "grep -q '$waiting_id: to=<carol@p3\\.example>, .*status=deferred' '$HUB_LOG'"

# A session p3 opens now, under the table that has p3, and holds at MAIL while p3 is
# suspended; it must then complete its transaction.
held="$WORK/held-session"
mkdir -p "$held"
export STATE
"$PYTHON" - "$SMTP_PORT" "$held" >"$held/out" 2>&1 <<'PYEOF' &
import os, socket, ssl, sys, time
port, flags = int(sys.argv[1]), sys.argv[2]
sock = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=("127.0.0.3", 0))
reader = sock.makefile("rb")
def reply():
    lines = []
    while True:
        line = reader.readline().decode()
        lines.append(line.rstrip())
        if len(line) < 4 or line[3] != "-":
            return "\n".join(lines)
def command(line):
    sock.sendall((line + "\r\n").encode())
    answer = reply()
    print(f"> {line}\n< {answer}", flush=True)
    return answer
print("< " + reply())
command("EHLO mx.p3.example")
command("STARTTLS")
context = ssl.create_default_context(cafile=os.path.join(os.environ["STATE"], "ca.pem"))
context.check_hostname = False
sock = context.wrap_socket(sock, server_hostname="hub.lgolhub.net")
reader = sock.makefile("rb")
command("EHLO mx.p3.example")
if not command("MAIL FROM:<desk@p3.example>").startswith("250"):
    sys.exit(2)
open(os.path.join(flags, "at-mail"), "w").close()
for _ in range(600):  # Bounded: 60 s for the test to suspend p3.
    if os.path.exists(os.path.join(flags, "go")):
        break
    time.sleep(0.1)
command("RCPT TO:<ann@partner2.gov.uk.lgolhub.net>")
command("DATA")
sock.sendall(b"Subject: held across a reload\r\n\r\nbegun before the suspension\r\n.\r\n")
answer = reply()
print(f"< {answer}", flush=True)
command("QUIT")
sys.exit(0 if answer.startswith("250") else 1)
PYEOF
held_pid=$!
wait_until 30 "the held session to reach MAIL" test -e "$held/at-mail"
out="$(hubctl_dir partner suspend p3 2>&1)" || fail "partner suspend p3: $out"
expect_match "suspend reported as reloaded" \
    '^partner suspend: done; hubd reloaded: .*gone \(suspended or removed\) p3$' "$out"
out="$(swaks_from 127.0.0.3 desk@p3.example ann@partner2.gov.uk.lgolhub.net)"
expect_match "a new session from p3's address is refused" '<~\* +530 5\.7\.0' "$out"
expect_no_match "nothing queued for the new session" 'queued as' "$out"
out="$(rcpt_as_partner1 joe@p3.example.lgolhub.net)"
expect_match "mail to the suspended p3: unknown partner" '<~\* +550 5\.1\.2' "$out"
touch "$held/go"
status=0
wait "$held_pid" || status=$?
[[ $status -eq 0 ]] || fail "the session opened before the suspension did not complete:
$(cat "$held/out")"
expect_match "the held session was queued" '^< 250 2\.0\.0 .*queued as' "$(cat "$held/out")"
say "ok: after suspend p3: new sessions refused (530), mail to p3 550 5.1.2, and the session" \
    "p3 opened before completed: $(grep -Eo 'queued as [0-9A-F]{16}' "$held/out")"

# Only to hurry it along: it may be in flight or gone already.
hubctl_dir queue retry "$waiting_id" >/dev/null 2>&1 || true
wait_until 60 "the queued mail for p3 to wait with the reason" \
    bash -c "grep -q '$waiting_id: deferred 1 recipients: partner p3 is not active' '$HUB_LOG'"
expect_match "hubctl queue list shows why it waits" 'partner p3 is not active' \
    "$(hubctl_dir queue list --format json)"
say "ok: the mail queued for p3 stays queued: $(grep -m1 -Eo "$waiting_id: deferred .*" "$HUB_LOG")"

# A restart while p3 is suspended: the mail queued for it is read back from the spool and
# waits with the same reason, so that resuming p3 later lets it go without another restart.
hub_stop
restart_line=$(($(wc -l <"$HUB_LOG") + 1))
hub_start
hubctl_dir queue retry "$waiting_id" >/dev/null 2>&1 || true
wait_until 60 "after a restart, the mail queued for p3 to wait with the reason" \
    bash -c "tail -n +$restart_line '$HUB_LOG' |
        grep -q '$waiting_id: deferred 1 recipients: partner p3 is not active'"
expect_no_match "after a restart, nothing left unrouted in the spool" 'left in the spool' \
    "$(tail -n +"$restart_line" "$HUB_LOG")"
say "ok: after a restart with p3 suspended, its queued mail waits with the reason"

# --- 2. reload under load -------------------------------------------------------------------
before="$(reloads_logged)"
load_out="$WORK/loadgen.out"
"$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --mode starttls --sessions 20 --messages 40 \
    --rate 40 --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" \
    --from alice@partner1.gov.uk --to bob@partner2.gov.uk.lgolhub.net \
    --time-limit 180 >"$load_out" 2>&1 &
load_pid=$!
sleep 2
changes=(
    "partner add p4 --domain p4.example --inbound 127.0.0.4/32 --outbound 127.0.0.1:$P3_PORT --require-client-cert false"
    "domain add p4 p4b.example"
    "connector set p4 --outbound 127.0.0.1:10099"
    "partner suspend p4"
    "partner resume p4"
    "partner edit partner2 --contact partner2-desk"
    "partner add p5 --domain p5.example --outbound 127.0.0.1:10098"
    "partner remove p5"
    "partner resume p3"
    "domain remove p4 p4.example"
)
for change in "${changes[@]}"; do
    read -ra args <<<"$change"
    out="$(hubctl_dir "${args[@]}" 2>&1)" || fail "hubctl $change: $out"
    expect_match "hubctl $change" 'done; hubd reloaded: partner table' "$out"
done
kill -0 "$load_pid" 2>/dev/null ||
    fail "the load ended before the ten changes were applied; it did not overlap them:
$(cat "$load_out")"
say "ok: ten directory changes applied while the load ran"
status=0
wait "$load_pid" || status=$?
summary="$(grep '^loadgen: sent=' "$load_out" || true)"
[[ $status -eq 0 ]] || fail "loadgen exit $status: $(cat "$load_out")"
expect_match "every message of the load accepted" '^loadgen: sent=800 ok=800 failed=0 ' "$summary"
expect_eq "reloads logged during the load" 10 "$(($(reloads_logged) - before))"
say "ok: 20 concurrent sessions through ten reloads: $summary"

out="$(rcpt_as_partner1 joe@p4b.example.lgolhub.net)"
expect_match "new session after the load: p4b.example (added, p4 resumed) accepted" \
    '<~ +250 2\.1\.5' "$out"
out="$(rcpt_as_partner1 joe@p4.example.lgolhub.net)"
expect_match "new session after the load: p4.example (removed) unknown" '<~\* +550 5\.1\.2' "$out"
out="$(rcpt_as_partner1 joe@p5.example.lgolhub.net)"
expect_match "new session after the load: p5 (removed) unknown" '<~\* +550 5\.1\.2' "$out"
out="$(swaks_from 127.0.0.3 desk@p3.example ann@partner2.gov.uk.lgolhub.net)"
expect_match "new session after the load: p3 (resumed) sends" '<~ +250 2\.0\.0 .*queued as' "$out"
say "ok: the final table holds for new sessions (p4b.example routed, p4.example and p5 gone," \
    "p3 back)"
# p3 is back: the mail that waited for it goes out.
if ((with_postfix)); then
    partner_start p3
fi
# Only to hurry it along: it may be in flight or gone already.
hubctl_dir queue retry "$waiting_id" >/dev/null 2>&1 || true
if ((with_postfix)); then
    wait_until 60 "$waiting_id delivered to p3 after its resume" \
        bash -c "grep -q '$waiting_id: to=<carol@p3\\.example>, .*status=sent' '$HUB_LOG'"
    partner_stop p3
    say "ok: the mail that waited while p3 was suspended was delivered after its resume"
else
    wait_until 30 "a new attempt for $waiting_id after p3's resume" \
        bash -c "[[ \$(grep -c '$waiting_id: to=<carol@p3\\.example>, relay=' '$HUB_LOG') -ge 2 ]]"
    say "ok: the mail that waited while p3 was suspended is attempted again after its resume"
fi

# --- 3. refused reloads change nothing --------------------------------------------------------
generation() { grep -Eo 'partner table [0-9]+' "$HUB_LOG" | tail -n1 | grep -Eo '[0-9]+$'; }
table_before="$(generation)"
cp "$STATE/hub.conf" "$WORK/hub.conf.orig"
sed -i 's/^shards = 2$/shards = 3/' "$STATE/hub.conf"
grep -q '^shards = 3$' "$STATE/hub.conf" || fail "could not change hub.shards in hub.conf"
status=0
out="$(hubctl_dir reload 2>&1)" || status=$?
[[ $status -eq 1 ]] || fail "hubctl reload with a restart-needed change: exit $status: $out"
expect_match "hubctl reload names the setting and the restart" \
    'refused the reload and runs unchanged: .*hub\.conf changed hub\.shards; these settings need a restart' \
    "$out"
status=0
out="$(hubctl_dir partner add p6 --domain p6.example --outbound 127.0.0.1:10097 2>&1)" ||
    status=$?
[[ $status -eq 1 ]] || fail "a hubctl write while hub.conf needs a restart: exit $status: $out"
expect_match "the write is kept but not applied, and hubctl says so" \
    'written to the directory, but the running hubd refused the reload.*hub\.shards' "$out"
kill -HUP "$HUBD_PID"
wait_until 10 "SIGHUP's refusal in the log" \
    bash -c "grep -q 'reload (SIGHUP) refused, nothing changed: .*hub\\.shards' '$HUB_LOG'"
expect_eq "partner table after three refused reloads" "$table_before" "$(generation)"
out="$(rcpt_as_partner1 joe@p6.example.lgolhub.net)"
expect_match "p6 (written, not applied) is still unknown" '<~\* +550 5\.1\.2' "$out"
say "ok: a restart-needed hub.conf change: hubctl reload, a hubctl write and SIGHUP refused," \
    "table $table_before kept"
cp "$WORK/hub.conf.orig" "$STATE/hub.conf"

if [[ $EUID -eq 0 && "$(hub_user)" != root ]]; then
    chmod 0600 "$STATE/directory.db"
    status=0
    out="$(hubctl_dir reload 2>&1)" || status=$?
    chmod 0644 "$STATE/directory.db"
    [[ $status -eq 1 ]] || fail "hubctl reload of an unreadable directory: exit $status: $out"
    expect_match "an unreadable directory is refused with the reason" \
        'refused the reload and runs unchanged: directory .*directory\.db: cannot open.*must be readable by that user' \
        "$out"
    expect_eq "partner table after the unreadable directory" "$table_before" "$(generation)"
    out="$(rcpt_as_partner1 joe@p4b.example.lgolhub.net)"
    expect_match "the table still routes p4b.example" '<~ +250 2\.1\.5' "$out"
    say "ok: an unreadable directory: refused with the reason, table $table_before kept"
fi

reloaded="$(hubctl_dir reload 2>&1)" || fail "hubctl reload after undoing: $reloaded"
expect_match "hubctl reload applies what was written meanwhile" \
    '^reloaded: partner table [0-9]+: [0-9]+ active partners; added p6$' "$reloaded"
out="$(rcpt_as_partner1 joe@p6.example.lgolhub.net)"
expect_match "p6 routed after the reload" '<~ +250 2\.1\.5' "$out"
say "ok: after undoing, hubctl reload applied the pending change: $reloaded"
expect_no_match "no forbidden system call" 'seccomp: forbidden' "$(cat "$HUB_LOG")"
hub_stop

# --- 4. partners.file mode: the file is read again the same way --------------------------------
STATE="$WORK/state-file"
hub_init --partners-file --retry-delay 1
hub_start
cat >>"$STATE/partners.toml" <<'EOF'

[[partner]]
name = "p7"
domains = ["p7.example"]
outbound = "127.0.0.1:10096"
EOF
kill -HUP "$HUBD_PID"
wait_until 10 "SIGHUP's reload of partners.toml" \
    bash -c "grep -q 'reload (SIGHUP): partner table 2: 3 active partners; added p7' '$HUB_LOG'"
out="$(rcpt_as_partner1 joe@p7.example.lgolhub.net)"
expect_match "p7 from partners.toml routed after SIGHUP" '<~ +250 2\.1\.5' "$out"
printf '\n[[partner]]\nname = "p8"\ndomains = ["p8..example"]\n' >>"$STATE/partners.toml"
status=0
refused="$(hubctl_dir reload 2>&1)" || status=$?
[[ $status -eq 1 ]] || fail "hubctl reload of a broken partners.toml: exit $status: $refused"
expect_match "the loader's message" 'refused the reload and runs unchanged: .*partners\.toml.*p8' \
    "$refused"
out="$(rcpt_as_partner1 joe@p7.example.lgolhub.net)"
expect_match "p7 still routed after the refused reload" '<~ +250 2\.1\.5' "$out"
say "ok: partners.file: SIGHUP applied an added partner; a broken file was refused: $refused"
expect_no_match "no forbidden system call" 'seccomp: forbidden' "$(cat "$HUB_LOG")"
hub_stop
say "PASS"
