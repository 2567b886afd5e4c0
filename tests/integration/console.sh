#!/usr/bin/env bash
# console.sh -- hub-console driven through a real terminal (tmux: send-keys, capture-pane)
# against a real hubd and hub-ca (root: hub-ca switches to its own account):
#   - every top-level screen is shown and checked at 80x24, and its capture kept in
#     $CONSOLE_ARTIFACTS (build/debug/tests/integration/console/*.txt);
#   - escape attempts fail safely: Ctrl-C, Ctrl-Z, Ctrl-\, Ctrl-D, Ctrl-S, other control
#     characters, `!sh`, `$(id)`, 10,000 characters typed at the menu and into a field,
#     SIGINT/SIGTSTP/SIGQUIT sent from outside, `hub-console -c id` (sshd's form of "ssh
#     console@hub id"); hub-console is still the pane's process, showing the menu, and
#     nothing ran;
#   - real actions end to end: a partner suspended and resumed (hubctl partner show agrees),
#     a test message to partner1's ping address over its connector (a real STARTTLS sink,
#     the transcript on the screen, the message in the sink's store),
#     a queued message held and released (hubctl queue list agrees), a certificate request
#     approved (hubctl ca requests agrees), an enrollment password reset, a form value
#     refused by its check, shutdown in development mode only reported;
#   - the Network and Service access pages against a real hub-netcfg working in a network
#     namespace of its own (--netns): interfaces and routes listed, a link brought up, an
#     address added, a risky one (the SSH session's interface) undone with 'n' and then
#     kept with 'y', the MTU, the default gateway and a static route set (and the route
#     removed), each checked with `ip -j` in the namespace, a ping and a TCP test, SMTP's
#     sources narrowed; hub-netcfg agrees;
#   - the Backup page: the schedule shown, a backup made now (after a question), verified
#     with the box's passphrase file, the schedule and retention set (hub.conf agrees), a
#     restore refused by its typed confirmation and then by hubctl while the hub runs
#     (nothing changed); through hub-console-admin the schedule is shown and a backup made;
#   - a resize redraws the screen at the new size; log out ends the session with status 0;
#     SIGHUP ends it cleanly too;
#   - run as an unprivileged account (nobody), each page refuses with the reason (hubd's
#     socket, the directory, hub-ca, hub-netcfg) and nothing changes; with hub-console-admin
#     (the privileged half, on a socket its group may open) the same account suspends and
#     resumes a partner (audited as console:nobody) and lists the queue, while another
#     account, another action and a bad value are refused by the helper itself;
#   - the hub's own key through the helper: a new key and CSR from Certificates (copied off
#     the screen), signed by a test CA made here, the certificate pasted back (tmux
#     paste-buffer) and installed (hub.pem is it, *.previous kept); a certificate for
#     another key refused with the files byte for byte unchanged.
source "$(dirname "$0")/lib.sh"

need_binaries HUBD HUBCTL HUB_CA HUB_CONSOLE HUB_CONSOLE_ADMIN SMTP_SINK HUB_NETCFG
[[ $EUID -eq 0 ]] || skip "needs root: hub-ca switches to the hubca account"
getent passwd hubca >/dev/null || skip "no 'hubca' account: run tools/setup"
command -v tmux >/dev/null || skip "tmux is not installed (tools/setup installs it)"
command -v systemd-socket-activate >/dev/null || skip "no systemd-socket-activate"

artifacts="${CONSOLE_ARTIFACTS:-$(pwd)/console-captures}"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.txt

make_work
read -r SMTP_PORT SMTPS_PORT out1 out2 < <(pick_ports 4)
install -d -m 0755 "$WORK/ca"  # hub-ca (as hubca) must reach its state directory.
# partner1's smart host is a STARTTLS sink (the console's test message goes there);
# nobody listens on partner2's: mail for it stays queued (deferred).
hub_init --directory --ca "$WORK/ca" --partner1-outbound "127.0.0.1:$out1" \
    --partner2-outbound "127.0.0.1:$out2" --shards 1
conf="$STATE/hub.conf"
hubctl() { "$HUBCTL" --config "$conf" "$@"; }
# Scheduled backups for the Backup page (the last table of hub.conf: hubd ignores it).
mkdir -m 0700 "$WORK/backups"
printf 'console test backup passphrase\n' >"$WORK/backup.passphrase"
chmod 0600 "$WORK/backup.passphrase"
cat >>"$conf" <<CONF

[backup]
dir = "$WORK/backups"
passphrase_file = "$WORK/backup.passphrase"
status_file = "$WORK/backup-status"
CONF

"$HUB_CA" --config "$conf" init >"$WORK/ca-init.log" 2>&1 ||
    fail "hub-ca init: $(cat "$WORK/ca-init.log")"
"$HUB_CA" --config "$conf" serve 2>"$WORK/hub-ca.log" &
ca_pid=$!
wait_until 60 "hub-ca ready" grep -q 'ready on' "$WORK/hub-ca.log"
hub_start
mkdir -p "$WORK/sink"
"$SMTP_SINK" --listen "127.0.0.1:$out1" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" \
    --store-dir "$WORK/sink" 2>"$WORK/sink.log" &
sink_pid=$!
wait_until 30 "the sink to listen" port_listening "$out1"
# hub-netcfg in its own development namespaces (NAME and NAME-peer, veth eth0 <-> eth0, the
# peer 192.0.2.1/24): nothing of this machine's network is touched.
netns="hubcon$$"
"$HUB_NETCFG" serve --socket "$WORK/netcfg.sock" --state-dir "$WORK/netcfg" --netns "$netns" \
    2>"$WORK/netcfg.log" &
netcfg_pid=$!
wait_until 60 "hub-netcfg ready" grep -q 'ready on' "$WORK/netcfg.log"
ask() { "$HUB_NETCFG" ask --socket "$WORK/netcfg.sock" "$@"; }

tmux_socket="$WORK/tmux.sock"
tm() { tmux -S "$tmux_socket" "$@"; }
console_exit() {
    local status=$?
    set +e
    tm kill-server 2>/dev/null
    kill -TERM "$ca_pid" 2>/dev/null && wait "$ca_pid" 2>/dev/null
    kill -TERM "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
    kill -TERM "$netcfg_pid" 2>/dev/null && wait "$netcfg_pid" 2>/dev/null
    [[ -z "${admin_pid:-}" ]] || { kill -TERM "$admin_pid" 2>/dev/null && wait "$admin_pid" 2>/dev/null; }
    ip netns delete "$netns" 2>/dev/null
    ip netns delete "$netns-peer" 2>/dev/null
    (exit $status)
    cleanup
}
trap console_exit EXIT

# --- fixtures: a queued message, a pending certificate request ---------------------------
transcript="$(swaks_hub --port "$SMTP_PORT" --tls --header "Subject: console test")" ||
    fail "swaks: $transcript"
queue_id="$(grep -o 'queued as [0-9a-f]\{16\}' <<<"$transcript" | awk '{print $3}')"
[[ -n "$queue_id" ]] || fail "no queue id in: $transcript"
enroll_password="$(hubctl ca password partner2 2>/dev/null)" || fail "hubctl ca password"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/p2.key" \
    -subj "/CN=mail.partner2.gov.uk" -addext "subjectAltName=DNS:mail.partner2.gov.uk" \
    -out "$WORK/p2.csr" 2>/dev/null || fail "openssl req"
request_id="$(hubctl ca submit partner2 "$WORK/p2.csr" <<<"$enroll_password" 2>/dev/null)" ||
    fail "hubctl ca submit"
say "fixtures: message $queue_id queued, certificate request $request_id pending"

# --- the terminal -------------------------------------------------------------------------
# As if over SSH to 192.0.2.2 on the namespace's eth0: hub-netcfg then treats a change to
# that interface as risky (kept only when confirmed).
session="192.0.2.1 50000 192.0.2.2 22"
tm new-session -d -s console -x 80 -y 24 -e "SSH_CONNECTION=$session" \
    "exec $HUB_CONSOLE --config $conf --dev --netcfg-socket $WORK/netcfg.sock --hubctl $HUBCTL" ||
    fail "tmux new-session"
tm set-option -t console remain-on-exit on >/dev/null
screen() { tm capture-pane -p -t console; }
keys() { tm send-keys -t console "$@"; }
text() { tm send-keys -t console -l -- "$1"; }
# shows REGEX: waits until the screen matches (extended regex); fails showing the screen.
shows() {
    local deadline=$((SECONDS + 30))
    until screen | grep -Eq -- "$1"; do
        ((SECONDS < deadline)) || fail "timed out after 30s waiting for the screen to show /$1/; it shows:
$(screen)"
        sleep 0.1
    done
}
save() { screen >"$artifacts/$1.txt"; }
console_pid="$(tm display-message -p -t console '#{pane_pid}')"
# still_the_menu: the pane's process is hub-console, alive and not stopped.
still_the_menu() {
    [[ "$(tm display-message -p -t console '#{pane_dead}')" == 0 ]] ||
        fail "hub-console exited: $(screen)"
    local comm state
    comm="$(cat "/proc/$console_pid/comm")"
    state="$(awk '{print $3}' "/proc/$console_pid/stat")"
    [[ "$comm" == hub-console ]] || fail "the pane runs '$comm', not hub-console"
    [[ "$state" != T && "$state" != t ]] || fail "hub-console is stopped (state $state)"
    # Nothing started under it (a shell, or anything else).
    [[ -z "$(pgrep -P "$console_pid" || true)" ]] || fail "hub-console has children: $(pgrep -a -P "$console_pid")"
}
main_menu() { shows 'Main menu' && shows '0  Log out'; }

main_menu
for item in "1  Status" "2  Network" "3  Certificates" "4  Partners" "5  Service access" \
    "6  Passwords" "7  Queue" "8  Shutdown" "9  Backup" "0  Log out"; do
    expect_match "main menu" "$item" "$(screen)"
done
[[ "$(screen | wc -l)" -eq 24 ]] || fail "the capture is not 24 lines"
save 00-main-menu
say "ok: main menu at 80x24"

# --- escape attempts ------------------------------------------------------------------------
for pair in "C-c:Ctrl-C" "C-z:Ctrl-Z" 'C-\:Ctrl-\\' "C-d:Ctrl-D" "C-s:Ctrl-S" "C-q:Ctrl-Q" \
    "C-a:Ctrl-A" "C-]:Ctrl-]" "Escape:Escape"; do
    keys "${pair%%:*}"
    shows "Refused: ${pair#*:} is not"
    still_the_menu
done
text '!sh'
shows "Refused: 'h' is not a menu choice"
text '$(id)'
shows "Refused: '\)' is not a menu choice"
text '`id`;sh'
shows "Refused: 'h' is not a menu choice"
expect_no_match "nothing ran" 'uid=|root@|\$ $|# $' "$(screen)"
still_the_menu
text "$(printf 'x%.0s' $(seq 10000))"
wait_until 60 "10,000 characters to be refused" bash -c \
    '[[ "$(ps -o stat= -p "$0")" == S* ]] && tmux -S "$1" capture-pane -p -t console | grep -q "Refused: .x. is not"' \
    "$console_pid" "$tmux_socket"
main_menu
save 00-main-menu-after-escapes
for signal in INT TSTP QUIT; do
    kill -s "$signal" "$console_pid"
done
sleep 0.5
still_the_menu
main_menu
refusal="$("$HUB_CONSOLE" -c id 2>&1)" && fail "hub-console -c id exited 0: $refusal"
expect_match "-c refused" "runs no commands" "$refusal"
expect_no_match "-c ran nothing" "uid=" "$refusal"
# sshd's ForceCommand form is the menu itself, which needs a terminal.
refusal="$("$HUB_CONSOLE" -c /usr/bin/hub-console </dev/null 2>&1)" &&
    fail "hub-console -c /usr/bin/hub-console without a terminal exited 0: $refusal"
expect_match "ForceCommand form without a terminal" "needs a terminal" "$refusal"
say "ok: Ctrl-C/Z/\\/D/S/Q, !sh, \$(id), 10,000 characters, signals and -c all refused; still the menu"

# --- 1 Status -------------------------------------------------------------------------------
keys 1
shows '^ Status'
shows 'Queue +1 messages'
for fact in "Hub +localhost|Hub +hub" "hubd +up" "Shard 0" "Messages +since start: in 1" \
    "Failing partner connectors" "Certificates expiring within 30 days" "Spool +.* free of" \
    "Data +.* free of" "Network interfaces" "lo +"; do
    expect_match "status page" "$fact" "$(screen)"
done
save 01-status
keys Escape
main_menu

# --- 2 Network (hub-netcfg) -------------------------------------------------------------
keys 2
shows '^ Network'
expect_match "network menu" "Interfaces, addresses, routes" "$(screen)"
save 02-network
# form KEY VALUE...: opens the menu item KEY and fills its fields, Enter after each.
form() {
    keys "$1"
    shift
    local value
    for value in "$@"; do
        text "$value"
        keys Enter
    done
}
form 5 eth0
shows 'set_link eth0 up|Keep this change'
if screen | grep -q 'Keep this change'; then keys y; fi
form 3 eth0 192.0.2.2/24
shows 'applied and saved'
keys 1
shows 'Interfaces:'
shows 'eth0 +up .*192\.0\.2\.2/24'
expect_match "network page" "Routes:" "$(screen)"
save 02-network-show
keys Escape
# On the SSH session's interface: live, not saved, undone unless kept.
form 3 eth0 192.0.2.3/24
shows 'Keep this change\?'
expect_match "the confirm timer" "undone in [0-9]+ seconds" "$(screen)"
save 02-network-keep-or-undo
keys n
shows 'reverted'
expect_no_match "undone in hub-netcfg" '192\.0\.2\.3/24' "$(ask interfaces)"
form 3 eth0 192.0.2.3/24
shows 'Keep this change\?'
keys y
shows 'confirmed and saved'
expect_match "kept in hub-netcfg" 'eth0 .*192\.0\.2\.3/24' "$(ask interfaces)"
# MTU, default gateway and a static route from the menu, each seen by the kernel in the
# namespace (ip -j); a change on the session's interface is kept when asked.
# applied: waits for the form's outcome, keeping a change hub-netcfg calls risky.
applied() {
    shows 'applied and saved|Keep this change\?'
    if screen | grep -q 'Keep this change'; then
        keys y
        shows 'confirmed and saved'
    fi
}
# kernel WHAT: the namespace's state as ip -j has it, one fact per line.
kernel() {
    ip -n "$netns" -j "$@" | python3 -c '
import json, sys
for item in json.load(sys.stdin):
    if "mtu" in item:
        print(item["ifname"], "mtu", item["mtu"])
    for a in item.get("addr_info", []):
        print(item["ifname"], "addr", a["local"] + "/" + str(a["prefixlen"]))
    if "dst" in item:
        print("route", item["dst"], "via", item.get("gateway", "-"), "dev", item.get("dev", "-"))'
}
form 7 eth0 1400
applied
expect_match "MTU set from the menu (ip -j link)" '^eth0 mtu 1400$' "$(kernel link show dev eth0)"
expect_match "addresses from the menu (ip -j addr)" 'eth0 addr 192\.0\.2\.3/24' \
    "$(kernel addr show dev eth0)"
form 8 192.0.2.1
applied
expect_match "default gateway from the menu (ip -j route)" '^route default via 192\.0\.2\.1 dev eth0$' \
    "$(kernel route show)"
form 9 198.51.100.0/24 192.0.2.1
applied
expect_match "static route from the menu (ip -j route)" \
    '^route 198\.51\.100\.0/24 via 192\.0\.2\.1 dev eth0$' "$(kernel route show)"
form r 198.51.100.0/24 192.0.2.1
applied
expect_no_match "static route removed from the menu" '198\.51\.100\.0/24' "$(kernel route show)"
form p 192.0.2.1
shows '^ Ping'
shows 'replies from 192\.0\.2\.1'
save 02-network-ping
keys Escape
form t 192.0.2.1 22
shows '^ TCP connect test'
shows '192\.0\.2\.1'
keys Escape
# A value the form refuses never reaches hub-netcfg.
form 7 eth0 '$(reboot)'
shows 'MTU: an MTU from 68 to 9216'
keys Escape Escape
main_menu
say "ok: network pages through hub-netcfg: link up, addresses, a risky change undone then kept, MTU, gateway, a route added and removed (ip -j agrees), ping, TCP test"

# --- 3 Certificates: approve the pending request -------------------------------------------
keys 3
shows '^ Certificates'
save 03-certificates
keys 1
shows 'Hub certificate file: '
shows 'hub\.lgolhub\.net: 20[0-9-]+ [0-9:]+ UTC to 20'
shows 'BEGIN CERTIFICATE'
save 03-certificates-hub-and-ca
keys Escape
keys 2
shows "^ > $request_id +pending +partner2"
save 03-certificates-requests
keys Enter
shows "Certificate request $request_id"
keys 1
shows 'Are you sure'
keys y
shows 'approved|serial'
expect_match "hub-ca approved it" "^$request_id +approved" "$(hubctl ca requests)"
keys Escape
shows "$request_id +approved +partner2"
keys Escape Escape
main_menu
say "ok: certificate request $request_id approved from the console"

# --- 4 Partners: suspend and resume partner1 ---------------------------------------------
keys 4
shows '^ Partners'
save 04-partners
keys 1
shows '^ > partner1 +active'
save 04-partners-list
keys Enter
shows 'Partner partner1'
keys 2
shows 'Are you sure'
keys y
shows 'partner suspend: done; hubd reloaded'
expect_match "directory: suspended" '^state: +suspended' "$(hubctl partner show partner1)"
keys 3
shows 'partner resume: done; hubd reloaded'
expect_match "directory: active again" '^state: +active' "$(hubctl partner show partner1)"
keys 1
shows 'name: +partner1'
keys Escape
keys 4
shows 'Test message to partner1'
shows "accepted the test message"
for line in "C: STARTTLS" "S: 220" "TLS: TLSv1\.[23] " \
    "TLS: server certificate .*partner1.gov.uk.* verified"; do
    expect_match "test message transcript" "$line" "$(screen)"
done
save 04-partners-test-message
keys End
shows 'C: QUIT'
for line in "C: RCPT TO:<lgolhubping@partner1.gov.uk>" "C: DATA" "S: 354" "S: 250"; do
    expect_match "test message transcript (end)" "$line" "$(screen)"
done
wait_until 20 "the sink to store the test message" bash -c \
    'grep -qs "Subject: Hubbox connector test" "$0"/*.eml' "$WORK/sink"
keys Escape Escape
shows '^ > partner1 +active'
keys Escape
# A form value is checked before anything happens: shell syntax as a partner name.
keys 2
shows 'Add a partner'
text '$(id)'
keys Enter Enter Enter Enter Enter
shows 'Name: '
expect_no_match "no partner made" '\$\(id\)' "$(hubctl partner list)"
text "$(printf 'y%.0s' $(seq 10000))"
shows 'holds at most 64 characters'
keys Escape Escape
main_menu
say "ok: partner1 suspended and resumed, a test message over its connector; a bad name and 10,000 characters refused by the form"

# --- 5 Service access (hub-netcfg) --------------------------------------------------------
keys 5
shows '^ Service access'
save 05-service-access
form 3 '192.0.2.0/24, 198.51.100.0/24'
shows 'smtp|Keep this change'
if screen | grep -q 'Keep this change'; then keys y; fi
keys 1
shows 'SERVICE +PORTS +SOURCES'
shows '^ smtp +.*192\.0\.2\.0/24, 198\.51\.100\.0/24'
save 05-service-access-show
keys Escape Escape
main_menu
say "ok: SMTP's sources narrowed through hub-netcfg"

# --- 6 Passwords: reset partner2's enrollment password ----------------------------------
keys 6
shows '^ Passwords'
save 06-passwords
keys 3
shows 'Enrollment password'
text 'partner2'
keys Enter
shows 'It is shown once'
new_password="$(screen | sed -n 's/^ *\([A-Za-z0-9_-]\{24\}\) *$/\1/p' | head -1)"
[[ ${#new_password} -eq 24 ]] || fail "no new password on the screen: $(screen)"
[[ "$new_password" != "$enroll_password" ]] || fail "the password did not change"
keys Escape
keys 1
shows 'Development: would run /usr/bin/passwd'
keys Escape
main_menu
say "ok: enrollment password reset from the console"

# --- 7 Queue: hold and release the queued message ----------------------------------------
keys 7
shows '^ Queue'
save 07-queue
keys 1
shows "^ > $queue_id"
save 07-queue-list
keys Enter
shows "Message $queue_id"
keys 3
shows "^ ok"
wait_until 20 "hubctl to see the message held" bash -c \
    '"$0" --config "$1" queue list --format tsv | grep -q "^$2	.*	1	[^	]*	[^	]*	running$"' \
    "$HUBCTL" "$conf" "$queue_id"
keys 4
shows "^ ok"
wait_until 20 "hubctl to see the message released" bash -c \
    '"$0" --config "$1" queue list --format tsv | grep -q "^$2	.*	0	[^	]*	[^	]*	running$"' \
    "$HUBCTL" "$conf" "$queue_id"
keys 1
shows '\*\*\* ENVELOPE RECORDS'
save 07-queue-message
keys End
shows 'Subject: console test'
keys Escape Escape Escape Escape
main_menu
say "ok: message $queue_id held and released from the console"

# --- 8 Shutdown (development: only said) -------------------------------------------------
keys 8
shows '^ Shutdown'
save 08-shutdown
keys 1
shows 'Are you sure'
keys y
shows 'Development: would run /usr/bin/systemctl reboot'
still_the_menu
keys Escape
main_menu

# --- 9 Backup ---------------------------------------------------------------------------------
keys 9
shows '^ Backup'
save 09-backup
keys 1
shows 'schedule: every 24 hours into'
shows 'No archive in'
keys Escape
keys 2 n
shows '^ Backup'
[[ -z "$(ls "$WORK/backups" | grep '\.hbk$' || true)" ]] || fail "'n' made a backup"
keys 2 y
shows 'backup: /'
archive="$(basename "$(ls "$WORK"/backups/hubbox-*.hbk)")"
expect_match "status file after the console's backup" '^state ok$' "$(cat "$WORK/backup-status")"
keys Escape
keys 3
text "$archive"
keys Enter Enter
shows 'ok: every member authenticated'
keys Escape
keys 5
text 0
keys Enter
text 3
keys Enter
shows 'Refused|from 1 to 8760'
keys BSpace
text 12
keys Tab Enter
shows 'Backup schedule: every 12 hours'
expect_match "hub.conf interval_hours" '^interval_hours = 12$' "$(cat "$conf")"
expect_match "hub.conf keep" '^keep = 3$' "$(cat "$conf")"
keys 4
text "$archive"
keys Enter Enter
text restore
keys Enter
shows 'type RESTORE'
keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace
text RESTORE
keys Enter
shows 'stop them first|could not stop'
save 09-backup-restore-refused
still_the_menu
keys Escape Escape
main_menu
say "ok: Backup page: shown, backup made and verified, schedule set (hub.conf agrees), a restore refused while the hub runs"

# --- resize ---------------------------------------------------------------------------------
tm resize-window -t console -x 100 -y 30
wait_until 20 "a redraw at 100 columns" bash -c \
    '[[ "$(tmux -S "$0" capture-pane -p -t console | head -1 | wc -c)" -gt 90 ]]' "$tmux_socket"
[[ "$(screen | wc -l)" -eq 30 ]] || fail "after the resize the capture is not 30 lines"
main_menu
tm resize-window -t console -x 60 -y 20
shows 'smaller than 80x24'
tm resize-window -t console -x 80 -y 24
wait_until 20 "the note to go" bash -c \
    '! tmux -S "$0" capture-pane -p -t console | grep -q "smaller than"' "$tmux_socket"
save 09-after-resize
say "ok: redrawn after resizes"

# --- log out, SIGHUP -------------------------------------------------------------------------
keys 0
wait_until 20 "hub-console to exit" bash -c \
    '[[ "$(tmux -S "$0" display-message -p -t console "#{pane_dead}")" == 1 ]]' "$tmux_socket"
# tmux marks a pane dead when its terminal closes; tmux 3.3 may reap the process only at a
# later SIGCHLD, so each look first runs a short command in the tmux server (whose exit is one)
# and then asks for the exit status itself.
wait_until 20 "the console's exit status" bash -c \
    'tmux -S "$0" run-shell true; [[ -n "$(tmux -S "$0" display-message -p -t console "#{pane_dead_status}#{pane_dead_signal}")" ]]' \
    "$tmux_socket"
expect_eq "log out status" 0 "$(tm display-message -p -t console '#{pane_dead_status}')"
# A second session first: killing the only one would end the tmux server under us.
tm new-session -d -s hup -x 80 -y 24 \
    "exec $HUB_CONSOLE --config $conf --dev --netcfg-socket $WORK/netcfg.sock"
tm set-option -t hup remain-on-exit on >/dev/null
tm kill-session -t console
wait_until 30 "the second console's menu" bash -c \
    'tmux -S "$0" capture-pane -p -t hup | grep -q "0  Log out"' "$tmux_socket"
kill -HUP "$(tm display-message -p -t hup '#{pane_pid}')"
wait_until 20 "hub-console to exit on SIGHUP" bash -c \
    '[[ "$(tmux -S "$0" display-message -p -t hup "#{pane_dead}")" == 1 ]]' "$tmux_socket"
wait_until 20 "the console's exit status after SIGHUP" bash -c \
    'tmux -S "$0" run-shell true; [[ -n "$(tmux -S "$0" display-message -p -t hup "#{pane_dead_status}#{pane_dead_signal}")" ]]' \
    "$tmux_socket"
expect_eq "SIGHUP status" 0 "$(tm display-message -p -t hup '#{pane_dead_status}')"
say "ok: log out and SIGHUP end the session with status 0; captures in $artifacts"

# --- unprivileged: refusals, not failures -------------------------------------------------
# The menu itself needs no privilege; as an account that may not reach hubd, write the
# directory or ask hub-ca, each page says why and nothing changes.
tm new-session -d -s console -x 80 -y 24 \
    "exec runuser -u nobody -- $HUB_CONSOLE --config $conf --dev --netcfg-socket $WORK/netcfg.sock"
tm set-option -t console remain-on-exit on >/dev/null
console_pid="$(tm display-message -p -t console '#{pane_pid}')"
main_menu
keys 1
shows 'hubd +not reachable'
keys Escape
keys 4 1
shows '^ > partner1 +active'
keys Enter 2 y
shows 'readonly|read-only|ermission'
expect_match "nobody changed nothing" '^state: +active' "$(hubctl partner show partner1)"
keys Escape Escape Escape Escape
main_menu
keys 3 2
shows 'refused|not permitted|ermission|may not'
keys Escape Escape
keys 2 1
shows 'may not ask hub-netcfg|not permitted|ermission|Broken pipe|reset by peer'
keys Escape
main_menu
save 10-unprivileged
keys 0
wait_until 20 "the unprivileged console to exit" bash -c \
    '[[ "$(tmux -S "$0" display-message -p -t console "#{pane_dead}")" == 1 ]]' "$tmux_socket"
say "ok: as an unprivileged account every page refuses with the reason; nothing changed"

# --- unprivileged, with the privileged half (hub-console-admin) --------------------------
# As on the appliance: hub-console-admin started per connection on a socket of root's that
# the console's group may open (systemd-socket-activate stands in for the .socket unit).
console_group="$(id -gn nobody)"
systemd-socket-activate -l "$WORK/admin.sock" --accept --inetd \
    "$HUB_CONSOLE_ADMIN" --config "$conf" --allow-group "$console_group" --hubctl "$HUBCTL" \
    >/dev/null \
    2>"$WORK/admin.log" &
admin_pid=$!
wait_until 30 "hub-console-admin's socket" test -S "$WORK/admin.sock"
chgrp "$console_group" "$WORK/admin.sock"
chmod 0660 "$WORK/admin.sock"
# ask_admin USER REQUEST: one raw request as USER; prints the answer.
ask_admin() {
    runuser -u "$1" -- python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
print(s.makefile().read())' "$WORK/admin.sock" "$2"
}
answer="$(ask_admin root $'hub-console-admin 1\nkind reboot\ntarget \nend\n')"
expect_match "not one of its actions" 'does%20not%20carry%20out' "$answer"
answer="$(ask_admin root $'hub-console-admin 1\nkind partner%20suspend\ntarget $(id)\nend\n')"
expect_match "a bad name refused again" '^ok 0' "$answer"
chmod 0666 "$WORK/admin.sock"
answer="$(ask_admin hubca $'hub-console-admin 1\nkind partner%20list\ntarget \nend\n')"
expect_match "an account outside the group" 'may%20not%20ask' "$answer"
chmod 0660 "$WORK/admin.sock"
expect_match "directory unchanged" '^state: +active' "$(hubctl partner show partner1)"

tm kill-session -t console  # The unprivileged one above, logged out (the hup session stays).
tm new-session -d -s console -x 80 -y 24 \
    "exec runuser -u nobody -- $HUB_CONSOLE --config $conf --dev --admin-socket $WORK/admin.sock"
tm set-option -t console remain-on-exit on >/dev/null
console_pid="$(tm display-message -p -t console '#{pane_pid}')"
main_menu
keys 4 1
shows '^ > partner1 +active'
keys Enter 2 y
shows 'partner suspend: done'
expect_match "suspended through the helper" '^state: +suspended' "$(hubctl partner show partner1)"
expect_match "audited as the console's account" 'console:nobody .*partner suspend' \
    "$(hubctl audit --partner partner1 --limit 1)"
keys 3
shows 'partner resume: done'
expect_match "resumed through the helper" '^state: +active' "$(hubctl partner show partner1)"
keys Escape Escape Escape
main_menu
keys 7 1
shows "^ > $queue_id"
save 11-unprivileged-with-admin-queue
keys Escape Escape
keys 9 1
shows 'schedule: every 12 hours'
shows "$archive"
keys Escape 2 y
shows 'backup: /'
save 12-unprivileged-with-admin-backup
expect_match "status file after the helper's backup" '^state ok$' "$(cat "$WORK/backup-status")"
keys Escape Escape
main_menu

# --- the hub's key from an external CA, through the helper (it writes root's [tls] files) --
# A test CA made here signs the CSR the console shows; the signed certificate is pasted
# back (tmux paste-buffer: each line break arrives as Enter; a line with just "." ends it).
ext="$WORK/external"
mkdir -p "$ext"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ext/root.key" \
    -subj "/CN=Console Test Root" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$ext/root.pem" 2>/dev/null || fail "test root"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:hub.lgolhub.net,DNS:localhost" \
    >"$ext/leaf.ext"
sign() {  # sign CSR OUT
    openssl x509 -req -in "$1" -CA "$ext/root.pem" -CAkey "$ext/root.key" -days 10 \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$ext/leaf.ext" -out "$2" 2>/dev/null ||
        fail "signing $1"
}
# paste FILE: FILE's lines into the field, then "." to end the paste.
paste_file() {
    tm load-buffer -b pem "$1"
    tm paste-buffer -b pem -t console
    text '.'
    keys Enter
}
hub_files() { sha256sum "$STATE/hub.key" "$STATE/hub.pem"; ls "$STATE"; }
keys 3
shows '4  Hub key: new key and request'
save 12-certificates-hub-key
keys 4 1
shows '^ Certificate request for the external CA'
shows 'END CERTIFICATE REQUEST'
save 12-hub-key-request
screen | sed -n '/BEGIN CERTIFICATE REQUEST/,/END CERTIFICATE REQUEST/p' | sed 's/^ //; s/ *$//' \
    >"$WORK/console.csr"
openssl req -in "$WORK/console.csr" -noout -verify 2>&1 | grep -q 'verify OK' ||
    fail "the CSR copied from the screen does not verify: $(cat "$WORK/console.csr")"
[[ -e "$STATE/hub.key.pending" ]] || fail "no pending key after the request"
sign "$WORK/console.csr" "$ext/signed.pem"
# Refused: a certificate for another key (signed by the same CA); nothing changes.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ext/other.key" \
    -subj "/CN=hub.lgolhub.net" -out "$ext/other.csr" 2>/dev/null || fail "other CSR"
sign "$ext/other.csr" "$ext/other.pem"
before="$(hub_files)"
keys Escape Escape 5
shows '^ Hub key: install the signed certificate'
paste_file "$ext/other.pem"
shows '> Intermediates'
text '.'
keys Enter
paste_file "$ext/root.pem"
shows 'refused, nothing changed: the private key does not match'
save 12-hub-key-refused
[[ "$(hub_files)" == "$before" ]] || fail "a refused install changed the hub's files:
$(hub_files)"
keys Escape
# Installed: the signed certificate for the pending key, the test root to check it by.
keys 5
shows '^ Hub key: install the signed certificate'
paste_file "$ext/signed.pem"
shows 'Signed certificate +: \(.* lines, 1 certificate\)'
text '.'
keys Enter
paste_file "$ext/root.pem"
shows '^ Hub key installed'
shows 'installed the hub.s key .*'
save 12-hub-key-installed
cmp -s "$ext/signed.pem" "$STATE/hub.pem" || fail "hub.pem is not the pasted certificate"
for kept in hub.key.previous hub.pem.previous; do
    [[ -e "$STATE/$kept" ]] || fail "no $kept after the install"
done
expect_eq "the previous certificate kept" "$(sed -n 2p <<<"$before" | cut -d' ' -f1)" \
    "$(sha256sum <"$STATE/hub.pem.previous" | cut -d' ' -f1)"
[[ ! -e "$STATE/hub.key.pending" ]] || fail "the pending key is still there after the install"
cmp -s <(openssl x509 -in "$STATE/hub.pem" -noout -pubkey) <(openssl pkey -in "$STATE/hub.key" -pubout) ||
    fail "the installed key is not the one the CSR was made with"
keys Escape Escape
main_menu
say "ok: through the helper, a key and CSR made from the console, a certificate for another key refused (files unchanged), the signed one pasted and installed (*.previous kept)"
keys 0
kill -TERM "$admin_pid" 2>/dev/null && wait "$admin_pid" 2>/dev/null || true
admin_pid=""
say "ok: as nobody, through hub-console-admin: partner1 suspended and resumed (audited as console:nobody), the queue listed, the backup schedule shown and a backup made; strangers and other actions refused"
