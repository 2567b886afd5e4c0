#!/usr/bin/env bash
# backup_sftp.sh -- remote copies over OpenSSH's sftp and the scheduled run (root):
#   - a private sshd on 127.0.0.1 (a free high port, its own ed25519 host key, key-only login
#     with a key listed only in its own authorized_keys, internal-sftp only) is the remote
#     (no chroot: sshd refuses one under the world-writable /tmp);
#   - `backup create --to sftp://root@127.0.0.1:PORT/backups` with the host key pinned in a
#     known_hosts file: the archive arrives whole (no .part left) and verifies;
#   - the same with another host key pinned: refused, nothing uploaded;
#   - `backup run` from [backup] in hub.conf three times with keep = 2: two archives kept
#     locally and two of this box's at the remote (the oldest removed there too; another
#     box's archive in the same remote directory untouched), status "ok"; `--if-due` right
#     after: not due;
#   - the remote down: `backup run` exits 1, the status file says failed and `hubctl status`
#     shows "backup: FAILED".
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
need_binaries HUBD HUBCTL HUB_CA
need_backup_accounts
[[ -x /usr/sbin/sshd ]] && command -v sftp >/dev/null ||
    skip "needs openssh-server and openssh-client (tools/setup installs them)"

backup_box_init
read -r SSH_PORT < <(pick_ports 1)
ssh_dir="$WORK/sshd"
mkdir -m 0700 "$ssh_dir"
mkdir -p -m 0755 "$WORK/remote"
mkdir -m 0700 "$WORK/remote/backups"
ssh-keygen -q -t ed25519 -N '' -C hub-test-host -f "$ssh_dir/host_key" || fail "ssh-keygen host"
ssh-keygen -q -t ed25519 -N '' -C hub-test-other -f "$ssh_dir/other_host_key" ||
    fail "ssh-keygen other"
ssh-keygen -q -t ed25519 -N '' -C hub-backup -f "$WORK/backup_key" || fail "ssh-keygen client"
cp "$WORK/backup_key.pub" "$ssh_dir/authorized_keys"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$ssh_dir/host_key.pub")" \
    >"$WORK/known_hosts"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$ssh_dir/other_host_key.pub")" \
    >"$WORK/wrong_known_hosts"
cat >"$ssh_dir/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $ssh_dir/host_key
PidFile $ssh_dir/sshd.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
CONF
mkdir -p /run/sshd  # sshd's privilege separation directory (Debian's tmpfiles make it too)
sshd_start() {
    /usr/sbin/sshd -D -f "$ssh_dir/sshd_config" -E "$WORK/sshd.log" &
    SSHD_PID=$!
    wait_until 30 "sshd on 127.0.0.1:$SSH_PORT" port_listening "$SSH_PORT"
}
sshd_stop() {
    kill -TERM "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=""
}
SSHD_PID=""
sshd_cleanup() {
    local status=$?
    [[ -z "$SSHD_PID" ]] || kill -TERM "$SSHD_PID" 2>/dev/null
    (exit "$status")
    backup_cleanup
}
trap sshd_cleanup EXIT
sshd_start
url="sftp://root@127.0.0.1:$SSH_PORT$WORK/remote/backups"
hubctl() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }

# --- create --to sftp:// with the pinned host key --------------------------------------------
out="$(hubctl backup create --to "$url" --passphrase-file "$PASSFILE" --ssh-key "$WORK/backup_key" \
    --known-hosts "$WORK/known_hosts" 2>&1)" || fail "backup create to sftp: $out
$(tail -5 "$WORK/sshd.log")"
expect_match "create to sftp" "^copied to $url\$" "$out"
remote="$(ls "$WORK"/remote/backups/)"
expect_match "the remote holds one archive, no .part" '^hubbox-[^ ]+\.hbk$' "$remote"
out="$("$HUBCTL" backup verify "$WORK/remote/backups/$remote" --passphrase-file "$PASSFILE" 2>&1)" ||
    fail "the copied archive does not verify: $out"
say "ok: copied over sftp with the pinned host key; the copy verifies"

status=0
out="$(hubctl backup create --to "$url" --passphrase-file "$PASSFILE" --ssh-key "$WORK/backup_key" \
    --known-hosts "$WORK/wrong_known_hosts" 2>&1)" || status=$?
expect_eq "another pinned host key: exit" 1 "$status"
expect_match "another pinned host key" 'sftp to .* failed' "$out"
expect_match "ssh says why" 'HOST IDENTIFICATION HAS CHANGED|Host key verification failed' "$out"
expect_eq "remote archives after the refused copy" 1 "$(ls "$WORK/remote/backups" | wc -l)"
say "ok: a host key other than the pinned one is refused; nothing uploaded"

# --- the scheduled run ------------------------------------------------------------------------
cat >>"$STATE/hub.conf" <<CONF
dir = "backups"
keep = 2
passphrase_file = "$PASSFILE"
remote = "$url"
ssh_key = "$WORK/backup_key"
known_hosts = "$WORK/known_hosts"
CONF
mkdir -m 0700 "$STATE/backups"
# Another box's archive in the same remote directory: never this box's to remove.
other="$WORK/remote/backups/hubbox-other.example-20200101T000000Z.hbk"
echo other >"$other"
for run in 1 2 3; do
    sleep 1  # A new second: each archive its own time stamp.
    out="$(hubctl backup run 2>&1)" || fail "backup run $run: $out"
done
expect_eq "local archives (keep = 2)" 2 "$(ls "$STATE"/backups/hubbox-*.hbk | wc -l)"
expect_match "retention at the remote" 'retention: removed .* at the remote' "$out"
remote_mine="$(ls "$WORK"/remote/backups/ | grep -v other.example)"
expect_eq "this box's archives at the remote (keep = 2)" \
    "$(ls "$STATE"/backups/ | grep '\.hbk$')" "$remote_mine"
[[ -f "$other" ]] || fail "retention removed another box's archive at the remote"
expect_match "status file" '^state ok$' "$(cat "$STATE/backups/status")"
out="$(hubctl backup run --if-due 2>&1)" || fail "backup run --if-due: $out"
expect_match "run --if-due right after" '^not due' "$out"
say "ok: three scheduled runs: 2 kept locally, copied to the remote, status ok; --if-due waits"

sshd_stop
status=0
out="$(hubctl backup run --if-due 2>&1)" || status=$?
expect_eq "run --if-due (still not due, remote down)" 0 "$status"
# As if the last good one were long ago.
sed -i 's/^last_success_unix_s .*/last_success_unix_s 1/' "$STATE/backups/status"
status=0
out="$(hubctl backup run --if-due 2>&1)" || status=$?
expect_eq "run with the remote down: exit" 1 "$status"
expect_match "status file after a failure" '^last_failure_reason sftp to ' \
    "$(cat "$STATE/backups/status")"
expect_match "status file after a failure" '^state failed$' "$(cat "$STATE/backups/status")"
hub_start
out="$(hubctl status 2>&1)" || fail "hubctl status: $out"
expect_match "hubctl status shows it" '^backup: FAILED at .*sftp to ' "$out"
hub_stop
say "ok: a failed run (remote down) is in the status file and in hubctl status"
say "PASS"
