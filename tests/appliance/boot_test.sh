#!/usr/bin/env bash
# boot_test.sh -- boot the appliance image (test variant; appliance.image builds it, or this
# test when that one has not run for the current tree) under qemu: software
# emulation (accel=tcg), UEFI from Debian's OVMF, user networking with port forwards bound to
# 127.0.0.1 only, in a network namespace of the test's own (vm_common.sh). Checks, from the host and from the guest's report on the serial console:
#   - SMTP on 25 greets and offers STARTTLS; 465 speaks implicit TLS;
#   - a message from partner2's certificate is relayed to partner1's server (sink.py on the
#     host, reached by the guest as 10.0.2.2) over verified TLS;
#   - root is mounted read-only and cannot be written; the spool is its own ext4 partition;
#   - hubd runs as hubbox with no capabilities, no_new_privs and seccomp, and its unit's
#     sandbox properties (systemctl show) are the ones rootfs/ sets;
#   - only 25 and 465 listen and answer (22 and 80 are forwarded too and stay silent); the
#     firewall's input policy is drop; SSH is masked; no account has a usable password;
#     kernel lockdown is "integrity"; the sysctl hardening is applied;
#   - hubd's journal lines carry no doubled "hubd[pid]:" prefix;
#   - snmpd runs and hub-snmp, sandboxed as its own user, has joined it over AgentX and
#     reads hubd's status socket; the SNMPv3 passphrases were made at first boot (root 0600);
#   - hub-ca (its CA made by the first boot) and hub-enroll are active; the CA key is hubca
#     0600, unreadable to hubbox and hubenroll; the enrollment page answers on 443;
#   - hub-backup-now.service makes an archive that `hubctl backup verify` accepts; a restore
#     asked of hub-console-admin as the console account with a wrong passphrase is refused
#     by hub-restore.service, the console shows hubctl's reason and the hub is untouched;
#     hub-restore.service (its request file as hub-console-admin writes it) restores config
#     and pki, the hub restarted and serving with its partners and CA key;
#   - a message queued for an unreachable partner survives a power cut (qemu killed) and is
#     delivered after the second boot.
# The serial console logs stay in $HUB_APPLIANCE_TEST_DIR (build/appliance-test) as
# artifacts: serial-1.log, serial-2.log (the console), report-1.log, report-2.log (the guest's
# report on its second serial port), and the image the test booted.
#
# Needs root, qemu-system-x86, ovmf, swaks, python3, openssl and what appliance/build needs
# (tools/setup --appliance); exits 77 (skip) when one is missing. The image build reuses the
# release build in build/release when there is one.
set -euo pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
HERE="$SRC/tests/appliance"
WORK="${HUB_APPLIANCE_TEST_DIR:-$SRC/build/appliance-test}"
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
BOOT_TIMEOUT_S="${HUB_BOOT_TIMEOUT_S:-420}"
TEST_TAG=boot_test
VM_LOG_GLOBS=("$WORK/serial-*.log" "$WORK/report-*.log")
# shellcheck source=tests/appliance/vm_common.sh
source "$HERE/vm_common.sh"

[[ $EUID -eq 0 ]] || skip "needs root (appliance/build makes root-owned file systems)"
for tool in qemu-system-x86_64 swaks python3 openssl mmdebstrap bmaptool; do
    command -v "$tool" >/dev/null || skip "$tool is missing (bash tools/setup --appliance)"
done
[[ -r "$OVMF_CODE" && -r "$OVMF_VARS" ]] || skip "no OVMF firmware (package ovmf)"

# shellcheck source=tests/appliance/test_image.sh
source "$HERE/test_image.sh"

# --- The seed configuration and the image ---------------------------------------------------
# appliance.image built it (CTest runs that first); alone, or after a change, build it here.
use_or_make_test_image "$WORK"
build_s=$IMAGE_BUILD_S
enter_own_network_namespace "$0" "$@"
rm -rf "$WORK/mail-1" "$WORK/mail-2" "$WORK"/serial-*.log "$WORK"/report-*.log
read -r FWD_SMTP FWD_SMTPS FWD_SSH FWD_HTTP < <(free_ports 4)
cp --sparse=always "$WORK/image/hubbox.img" "$WORK/disk.img"
cp "$OVMF_VARS" "$WORK/ovmf-vars.fd"

# --- Booting ------------------------------------------------------------------------------
boot() {  # boot N: start qemu with serial-N.log, wait for the guest's report
    local n="$1" log="$WORK/serial-$1.log"
    : >"$log"
    local forwards="hostfwd=tcp:127.0.0.1:$FWD_SMTP-:25,hostfwd=tcp:127.0.0.1:$FWD_SMTPS-:465"
    forwards+=",hostfwd=tcp:127.0.0.1:$FWD_SSH-:22,hostfwd=tcp:127.0.0.1:$FWD_HTTP-:80"
    qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 1 -m 1024 \
        -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
        -drive "if=pflash,format=raw,unit=1,file=$WORK/ovmf-vars.fd" \
        -drive "file=$WORK/disk.img,format=raw,if=virtio,cache=writeback" \
        -netdev "user,id=net0,$forwards" -device virtio-net-pci,netdev=net0 \
        -netdev user,id=net1,restrict=on,net=10.0.77.0/24 \
        -device virtio-net-pci,netdev=net1,mac=52:54:00:48:42:02 \
        -device virtio-rng-pci -display none -monitor none -serial "file:$log" \
        -serial "file:$WORK/report-$n.log" \
        >"$WORK/qemu-$n.log" 2>&1 &
    QEMU_PID=$!
    local boot_started=$SECONDS deadline=$((SECONDS + BOOT_TIMEOUT_S))
    until grep -q 'HUBBOX-REPORT-END' "$WORK/report-$n.log" 2>/dev/null; do
        kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited during boot $n: $(cat "$WORK/qemu-$n.log")"
        ((SECONDS < deadline)) || fail "boot $n: no report within ${BOOT_TIMEOUT_S}s"
        sleep 1
    done
    BOOT_S=$((SECONDS - boot_started))
    REPORT="$(tr -d '\r' <"$WORK/report-$n.log" | sed -n '/HUBBOX-REPORT-BEGIN/,/HUBBOX-REPORT-END/p')"
    say "boot $n: report after ${BOOT_S}s (serial log $log)"
}
fact() { sed -n "s/^HUBBOX-REPORT $1=//p" <<<"$REPORT" | tail -n1; }
power_cut() {
    kill -KILL "$QEMU_PID"
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=""
}

# greeting PORT [SECONDS]: the first line the forwarded port sends within SECONDS (default
# 10; empty if none).
greeting() {
    python3 - "$1" "${2:-10}" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2]))
    s.settimeout(float(sys.argv[2]))
    print(s.recv(200).decode("latin-1").splitlines()[0])
except (OSError, IndexError):
    print("")
EOF
}
swaks_hub() {  # swaks_hub PARTNER FROM TO SUBJECT
    swaks --server 127.0.0.1 --port "$FWD_SMTP" --tls --ehlo "$1.gov.uk" \
        --tls-cert "$WORK/seed/$1.pem" --tls-key "$WORK/seed/$1.key" \
        --from "$2" --to "$3" --header "Subject: $4" --body "boot test: $4" --timeout 60 2>&1
}
start_sink() {  # start_sink PARTNER PORT DIR
    mkdir -p "$3"
    python3 "$HERE/sink.py" --port "$2" --cert "$WORK/seed/$1.pem" --key "$WORK/seed/$1.key" \
        --dir "$3" --seconds 900 &
    SINK_PIDS+=($!)
}
wait_mail() {  # wait_mail DIR SECONDS WHAT
    local deadline=$((SECONDS + $2))
    until [[ -f "$1/1.eml" ]]; do
        ((SECONDS < deadline)) || fail "$3: nothing arrived in $1 within $2 s"
        sleep 1
    done
}

boot 1
boot1_s=$BOOT_S
say "report:"
sed 's/^/[boot_test]   /' <<<"$REPORT"

# --- The box as the guest sees it -----------------------------------------------------------
expect_match "root mount options" '(^|,)ro(,|$)' "$(fact root_options)"
[[ "$(fact root_writable)" == no ]] || fail "root file system is writable"
expect_match "spool partition" '^/dev/vda5$' "$(fact spool_source)"
[[ "$(fact spool_source)" != "$(fact root_source)" ]] || fail "spool is on the root"
expect_match "spool file system" '^ext4$' "$(fact spool_fstype)"
expect_match "spool mount options" 'data=ordered' "$(fact spool_options)"
expect_match "data partition" '^/dev/vda4$' "$(fact data_source)"
expect_match "hubd state" '^active$' "$(fact hubd_ActiveState)"
expect_match "hubd NoNewPrivileges" '^yes$' "$(fact hubd_NoNewPrivileges)"
expect_match "hubd ProtectSystem" '^strict$' "$(fact hubd_ProtectSystem)"
expect_match "hubd PrivateTmp" '^yes$' "$(fact hubd_PrivateTmp)"
expect_match "hubd PrivateDevices" '^yes$' "$(fact hubd_PrivateDevices)"
expect_match "hubd ReadWritePaths" '^/var/spool/hubbox /run/hubbox$' "$(fact hubd_ReadWritePaths)"
expect_match "hubd MemoryDenyWriteExecute" '^yes$' "$(fact hubd_MemoryDenyWriteExecute)"
bounding="$(fact hubd_CapabilityBoundingSet)"
expect_match "hubd CapabilityBoundingSet" 'cap_net_bind_service' "$bounding"
if grep -Eq 'cap_sys_admin|cap_net_admin|cap_sys_ptrace|cap_sys_module' <<<"$bounding"; then
    fail "hubd's bounding set is too wide: $bounding"
fi
expect_match "hubd RestrictAddressFamilies" '^AF_INET AF_INET6 AF_UNIX$' \
    "$(fact hubd_RestrictAddressFamilies)"
[[ "$(fact hubd_SystemCallFilter_set)" -gt 100 ]] || fail "hubd has no system call filter"
expect_match "hubd process user" '^hubbox$' "$(fact hubd_user)"
uid="$(fact hubd_uid)"
expect_match "hubd uids (real, effective, saved, fs)" '^990,990,990,990$' "$uid"
expect_match "hubd no_new_privs" '^1$' "$(fact hubd_no_new_privs)"
expect_match "hubd effective capabilities" '^0+$' "$(fact hubd_cap_eff)"
expect_match "hubd permitted capabilities" '^0+$' "$(fact hubd_cap_prm)"
expect_match "hubd seccomp mode" '^2$' "$(fact hubd_seccomp)"
# systemd's SystemCallFilter is one filter; hubd's own allow-list, after the drop, another.
expect_match "hubd's own seccomp filter on top of systemd's" '^([2-9]|[1-9][0-9]+)$' \
    "$(fact hubd_seccomp_filters)"
listening="$(fact listening)"
for address in $listening; do
    [[ "$address" =~ :(22|25|443|465)$ || "$address" == 127.0.0.1:9464 ]] ||
        fail "something else listens in the guest: $listening"
done
# hub-metrics: its own user, sandboxed, on loopback, answering from hubd's status socket.
expect_match "hub-metrics state" '^active$' "$(fact hub_metrics_ActiveState)"
expect_match "hub-metrics process user" '^hubmetrics$' "$(fact hub_metrics_user)"
expect_match "hub-metrics NoNewPrivileges" '^yes$' "$(fact hub_metrics_NoNewPrivileges)"
expect_match "hub-metrics ProtectSystem" '^strict$' "$(fact hub_metrics_ProtectSystem)"
[[ -z "$(fact hub_metrics_CapabilityBoundingSet)" ]] ||
    fail "hub-metrics has capabilities: $(fact hub_metrics_CapabilityBoundingSet)"
expect_match "hub-metrics scrape" '^HTTP/1\.1 200 OK$' "$(fact hub_metrics_status)"
expect_match "hub-metrics: hubd answered" '^hubbox_up 1$' "$(fact hub_metrics_up)"
[[ "$(fact hub_metrics_received)" -ge 1 ]] || fail "hub-metrics: no per-shard received counter"
expect_match "hubctl status" '^hubd up ' "$(fact hubctl_status)"
# SNMP: snmpd up; hub-snmp its own user, sandboxed (AF_UNIX only, no network, no
# capabilities), joined snmpd over AgentX and reading hubd's status socket.
expect_match "snmpd state (journal: $(fact journal_snmpd))" '^active$' "$(fact snmpd_ActiveState)"
expect_match "hub-snmp state" '^active$' "$(fact hub_snmp_ActiveState)"
expect_match "hub-snmp process user" '^hubsnmp$' "$(fact hub_snmp_user)"
expect_match "hub-snmp NoNewPrivileges" '^yes$' "$(fact hub_snmp_NoNewPrivileges)"
expect_match "hub-snmp ProtectSystem" '^strict$' "$(fact hub_snmp_ProtectSystem)"
expect_match "hub-snmp PrivateNetwork" '^yes$' "$(fact hub_snmp_PrivateNetwork)"
expect_match "hub-snmp address families" '^AF_UNIX$' "$(fact hub_snmp_RestrictAddressFamilies)"
[[ -z "$(fact hub_snmp_CapabilityBoundingSet)" ]] ||
    fail "hub-snmp has capabilities: $(fact hub_snmp_CapabilityBoundingSet)"
expect_match "hub-snmp joined snmpd" 'AgentX subagent connected' "$(fact hub_snmp_journal)"
expect_match "hub-snmp reads hubd" 'hubd answers at /run/hubbox/status\.sock' \
    "$(fact hub_snmp_journal)"
expect_match "SNMPv3 credentials made at first boot" '^root 600$' "$(fact snmp_credentials)"
# The CA (hub-ca init at first boot) and the enrollment page.
expect_match "hub-ca state (journal: $(fact journal_hub_ca))" '^active$' "$(fact hub_ca_ActiveState)"
expect_match "hub-enroll state" '^active$' "$(fact hub_enroll_ActiveState)"
expect_match "CA key owner and mode" '^hubca 600$' "$(fact ca_key)"
expect_match "CA directory owner and mode" '^hubca 700$' "$(fact ca_dir)"
expect_match "hubd's account cannot read the CA key" '^no$' "$(fact ca_key_readable_by_hubbox)"
expect_match "hub-enroll's account cannot read the CA key" '^no$' "$(fact ca_key_readable_by_hubenroll)"
expect_match "the first CRL published" '^hubca 644$' "$(fact crl_published)"
expect_match "the enrollment page on 443" '^HTTP/1\.1 200 OK$' "$(fact enroll_page_status)"
say "ok: hub-ca and hub-enroll active, ca.key hubca 0600, the page answers on 443 ($(fact enroll_page_title))"
expect_match "listeners" ':25 .*:465|:465 .*:25' "$listening"
expect_match "firewall input policy" '^policy drop$' "$(fact nft_input_policy)"
expect_match "kernel lockdown" '\[integrity\]' "$(fact lockdown)"
expect_match "sysctl hardening (kptr, dmesg, ptrace, syncookies)" '^2 1 2 1 ?$' "$(fact sysctl)"
expect_match "ssh (running; the firewall keeps 22 closed, checked from the host below)" \
    '^enabled/active$' "$(fact ssh_state)"
[[ "$(fact usable_passwords)" == "console " ]] ||
    fail "accounts with a usable password: '$(fact usable_passwords)' (expected the console's only)"
expect_match "hubd in the journal" 'info: ready: smtp 0\.0\.0\.0:25' "$(fact journal_hubd)"
# The journal took "<6>" as the priority: the text itself must not carry it.
if grep -Eq '(^|\|)<[0-7]>' <<<"$(fact journal_hubd)"; then
    fail "the journal kept hubd's priority prefix as text: $(fact journal_hubd)"
fi
raw="$(fact journal_hubd_raw)"
expect_match "journal line" 'hubd\[[0-9]+\]: ' "$raw"
if grep -Eq 'hubd\[[0-9]+\]: .*hubd\[[0-9]+\]:' <<<"$raw"; then
    fail "doubled prefix in the journal: $raw"
fi
[[ -z "$(fact failed_units | tr -d ' ')" ]] || fail "failed units: $(fact failed_units)"
# The update path (update_test.sh exercises it): GRUB booted slot A on its first attempt and
# hubbox-mark-good confirmed it to RAUC once hubd was ready.
expect_match "booted slot (rauc.slot=)" '^A$' "$(fact cmdline_slot)"
expect_match "boot attempt (hubbox.try=)" '^1$' "$(fact cmdline_try)"
expect_match "hubbox-mark-good" '^active$' "$(fact mark_good)"
expect_match "RAUC's booted slot" "RAUC_SYSTEM_BOOTED_BOOTNAME='?A'?\\|" "$(fact rauc_status)"
expect_match "RAUC's primary slot" "RAUC_BOOT_PRIMARY='?rootfs\\.0'?\\|" "$(fact rauc_status)"
say "ok: read-only root, spool on /dev/vda5 (ext4, data=ordered), hubd as hubbox (uids $uid," \
    "no capabilities, no_new_privs, seccomp), sandbox properties, listeners: $listening;" \
    "slot A marked good"

check_console_account() {  # the account, its shell, its privileged half's socket
    expect_match "console account (uid $CONSOLE_UID)" \
        "^console:x:$CONSOLE_UID:[0-9]+:Hubbox console:/:/usr/bin/hub-console\$" "$(fact console_passwd)"
    expect_match "console's groups" '(^| )hubmon( |$)' "$(fact console_groups)"
    expect_match "console's groups" '(^| )hubadmin( |$)' "$(fact console_groups)"
    expect_match "hub-console in /etc/shells" '^1$' "$(fact console_shell_listed)"
    expect_match "hub-console-admin.socket (owner, group, mode)" \
        '^active root hubadmin 660 socket$' "$(fact console_admin_socket)"
    expect_match "hubbox-accounts" '^active$' "$(fact accounts_ActiveState)"
    expect_match "/etc as the accounts overlay" \
        '^overlay upperdir=/var/lib/hubbox/accounts/etc $' "$(fact etc_mount)"
    expect_match "per-boot machine id still bound over the overlay" '^33 /etc/machine-id$' \
        "$(fact machine_id)"
}
check_network_helper() {  # check_network_helper BOOT: the units, network.conf applied
    expect_match "hub-netcfg.service" '^active/success/yes$' "$(fact hub_netcfg)"
    expect_match "resolv.conf link" '^/var/lib/hubbox/network/resolv\.conf' "$(fact resolv_conf)"
    expect_match "the test's second NIC" '^[a-z0-9]+$' "$(fact nic2)"
    expect_match "static address on $(fact nic2)" '"local":"10\.0\.77\.10","prefixlen":24' \
        "$(fact nic2_addresses)"
    expect_match "MTU on $(fact nic2)" '^"mtu":1400$' "$(fact nic2_mtu)"
    expect_match "$(fact nic2) is up" '^"operstate":"UP"$' "$(fact nic2_operstate)"
    expect_match "network.conf (hubnet's, on the data partition)" '^hubnet 6[0-4][0-4]$' \
        "$(fact network_conf_file)"
    expect_match "network.conf" "\\|address $(fact nic2) 10\\.0\\.77\\.10/24\\|" "|$(fact network_conf)"
    expect_match "network.conf" "\\|interface $(fact nic2) mtu 1400\\|" "|$(fact network_conf)"
    expect_match "network.conf" '\|resolver 10\.0\.2\.3\|' "|$(fact network_conf)"
    expect_match "DHCP on the first NIC" '"local":"10\.0\.2\.15"' "$(fact nic1_addresses)"
}
check_directory() {
    expect_match "directory.db and its WAL files (owner, group, mode)" \
        '^/var/lib/hubbox/directory\.db root hubbox 640\|/var/lib/hubbox/directory\.db-wal root hubbox 640\|/var/lib/hubbox/directory\.db-shm root hubbox 640\|$' \
        "$(fact directory_files)"
    expect_match "hub.conf names the directory, no [partners]" \
        '^"/var/lib/hubbox/directory\.db" partners_section=0$' "$(fact directory_conf)"
    expect_match "hubctl partner list" '(^|\|)partner1 .*\|partner2 ' "$(fact partner_list)"
    expect_match "hub-backup.timer" '^enabled/active$' "$(fact backup_timer)"
    expect_match "hub-tls-record.timer" '^enabled/active$' "$(fact tls_record_timer)"
    expect_match "hub-tls-record.service run once" '^success$' "$(fact tls_record_run)"
}
# The console: the account, the first password changed with passwd by the account itself on
# a terminal (stored on the data partition), the menu on a terminal, no way out of it.
CONSOLE_UID="$(sed -n 's/^u console \([0-9]*\) .*/\1/p' "$SRC/rootfs/usr/lib/sysusers.d/hubbox.conf")"
check_console_account
expect_match "the console's first password file" '^root 600$' "$(fact console_first_password)"
expect_match "the first password at the login prompt" '^Log in as "console" with the first password \(hidden\)' \
    "$(fact console_issue)"
expect_match "the first password is expired" '^0$' "$(fact console_expired)"
expect_match "passwd as console" 'password updated successfully' "$(fact console_passwd_change)"
console_password="$(fact console_password)"
expect_match "the console's new password" '^[0-9a-f]{16} lastchg=[1-9][0-9]*$' "$console_password"
[[ "${console_password%% *}" == "$(fact console_password_on_data)" ]] ||
    fail "the console's password is not the one on the data partition: $console_password vs $(fact console_password_on_data)"
expect_match "the menu's first screen" 'Main menu\|' "$(fact console_menu)"
expect_match "the menu's first screen" '(^|\|)Status\|' "$(fact console_menu)"
expect_match "Ctrl-C and !sh refused" 'Refused' "$(fact console_menu)"
expect_match "the console's processes during the menu (no shell)" '^S[^ ]* hub-console $' \
    "$(fact console_menu_processes)"
[[ -z "$(fact console_menu_left | tr -d ' ')" ]] || fail "processes left after Log out: $(fact console_menu_left)"
say "ok: console (uid $CONSOLE_UID, hub-console, hubmon+hubadmin), admin socket root:hubadmin 0660," \
    "first password changed by passwd on the data partition, menu shown, Ctrl-C and !sh refused"
# The network: hub-netcfg asked as the console account; network.conf applied at once.
expect_match "hub-netcfg-apply.service (no network.conf before this boot)" '^inactive/success/no$' \
    "$(fact hub_netcfg_apply)"
for request in add-address mtu resolvers; do
    expect_match "hub-netcfg ask $request (as console)" 'exit=0$' "$(fact "netcfg_ask_$request")"
done
expect_match "resolv.conf after hub-netcfg ask resolvers" '^nameserver 10\.0\.2\.3 $' "$(fact resolv_conf_after)"
check_network_helper
say "ok: hub-netcfg active; as console: $(fact nic2) got 10.0.77.10/24 and MTU 1400, resolver" \
    "10.0.2.3 (/etc/resolv.conf links to hub-netcfg's); network.conf on the data partition"
check_directory
say "ok: partners imported into directory.db (root:hubbox 0640, -wal, -shm), hub.conf switched;" \
    "hub-backup.timer and hub-tls-record.timer enabled and waiting"
# Backup and restore through their units, as the console's Backup page starts them.
expect_match "hub-backup-now.service" '^success [0-9]+s$' "$(fact backup_now)"
expect_match "the archive (owner, mode, size)" '^root 600 [0-9]+$' "$(fact backup_archive)"
expect_match "the backup status" '^backup: ok at .*hubbox-.*\.hbk$' "$(fact backup_status)"
expect_match "hubctl backup verify" '\|parts: config pki.*\|ok: every member authenticated.*exit=0 ' \
    "$(fact backup_verify)"
expect_match "a wrong passphrase from the console (hub-console-admin, hub-restore.service; journal: $(fact journal_console_admin))" \
    '^hub-console-admin 1\|ok 0\|message hubctl:%20.*wrong%20passphrase%20or%20key.*nothing%20was%20changed\|.* result=exit-code request_left=0 out=.*wrong passphrase or key' \
    "$(fact restore_console_wrong)"
expect_match "the hub after the refused restore" \
    '^active active active same-hubd hub\.conf-unchanged$' "$(fact restore_wrong_hub)"
expect_match "a restore of config and pki through hub-restore.service (journal: $(fact journal_restore))" \
    '^exit=0 [0-9]+s result=success request_left=0 out=.*stopped for the restore: .*hubd\.service.*\|started again\|ok: restored from ' \
    "$(fact restore_good)"
expect_match "the hub after the restore (restarted, hub.conf as backed up)" \
    '^active active active hubd-restarted marker=0$' "$(fact restore_after)"
expect_match "partners after the restore" '(^|\|)partner1 .*\|partner2 ' "$(fact restore_partners)"
expect_match "CA key after the restore" '^hubca 600$' "$(fact restore_ca_key)"
expect_match "hub-tls-record.service after the restore" '^success$' "$(fact restore_tls_record)"
expect_match "the restore's hand-over directory" '^root 700$' "$(fact restore_request_dir)"
say "ok: hub-backup-now.service made $(fact backup_archive | cut -d' ' -f3) bytes ($(fact backup_now |
    cut -d' ' -f2)), verified; a wrong passphrase from the console refused by hub-restore.service" \
    "(hub untouched); config and pki restored ($(fact restore_good | cut -d' ' -f2)), the hub serving again"

# --- From the host ---------------------------------------------------------------------------
banner="$(greeting "$FWD_SMTP")"
expect_match "banner on 25" '^220 hub\.lgolhub\.net' "$banner"
for port in "$FWD_SSH" "$FWD_HTTP"; do
    answer="$(greeting "$port" 5)"
    [[ -z "$answer" ]] || fail "a closed port answered (forwarded from $port): $answer"
done
smtps="$(echo QUIT | timeout 60 openssl s_client -connect "127.0.0.1:$FWD_SMTPS" -quiet \
    -CAfile "$WORK/seed/ca.pem" -verify_return_error -verify_hostname hub.lgolhub.net 2>&1 || true)"
expect_match "implicit TLS on 465" '^220 hub\.lgolhub\.net' "$smtps"
say "ok: 25 greets ($banner), 465 speaks verified TLS, 22 and 80 stay silent"

start_sink partner1 "$SINK1" "$WORK/mail-1"
out="$(swaks_hub partner2 alice@partner2.gov.uk joe@partner1.gov.uk.lgolhub.net relayed)"
expect_match "STARTTLS offered" '<- +250-STARTTLS|<- +250 STARTTLS' "$out"
expect_match "message 1 accepted" '<~ +250 2\.0\.0 Ok: queued as' "$out"
wait_mail "$WORK/mail-1" 120 "relay to partner1"
expect_match "relayed message" '^Subject: relayed' "$(tr -d '\r' <"$WORK/mail-1/1.eml")"
expect_match "relayed envelope" 'to <joe@partner1\.gov\.uk>' "$(cat "$WORK/mail-1/1.env")"
expect_match "relay over TLS" '^tls TLSv1\.[23]$' "$(grep '^tls' "$WORK/mail-1/1.env")"
say "ok: partner2 -> hub -> partner1 relayed over TLS ($(grep '^tls' "$WORK/mail-1/1.env"))"

out="$(swaks_hub partner1 alice@partner1.gov.uk ann@partner2.gov.uk.lgolhub.net queued)"
queue_id="$(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | awk '{print $3}' | head -n1)"
[[ -n "$queue_id" ]] || fail "message 2 not accepted: $out"
say "ok: message $queue_id for partner2 (its server is down) accepted; power cut"
sleep 2  # Let a delivery attempt fail first (the queue then holds a deferral too).
power_cut

# --- Second boot: the queue survived --------------------------------------------------------
boot 2
boot2_s=$BOOT_S
expect_match "queue after the power cut" "$queue_id" "$(fact hubctl_queue)"
expect_match "spool partition after reboot" '^/dev/vda5$' "$(fact spool_source)"
say "ok: $queue_id still queued after the power cut: $(fact hubctl_queue)"
# What boot 1 changed is still there after the power cut, and networkd left the static NIC.
check_console_account
[[ "$(fact console_password)" == "$console_password" ]] ||
    fail "the console's password changed across the reboot: $console_password -> $(fact console_password)"
[[ -z "$(fact console_first_password_left | tr -d ' ')" ]] ||
    fail "the first password is still kept or shown: $(fact console_first_password_left)"
expect_match "hub-netcfg-apply.service (network.conf applied at boot)" '^active/success/yes$' \
    "$(fact hub_netcfg_apply)"
check_network_helper
expect_match "only the static address on $(fact nic2) (no DHCP lease)" \
    '^"local":"10\.0\.77\.10","prefixlen":24 $' "$(fact nic2_addresses)"
expect_match "systemd-networkd leaves $(fact nic2) alone" '/unmanaged$' "$(fact nic2_networkd)"
check_directory
[[ -z "$(fact failed_units | tr -d ' ')" ]] || fail "failed units after the reboot: $(fact failed_units)"
say "ok after the reboot: the console's password, $(fact nic2)'s address and MTU (unmanaged by" \
    "networkd), the resolver and the partners kept"
start_sink partner2 "$SINK2" "$WORK/mail-2"
wait_mail "$WORK/mail-2" 120 "delivery of $queue_id after the reboot"
expect_match "delivered after reboot" '^Subject: queued' "$(tr -d '\r' <"$WORK/mail-2/1.eml")"
say "ok: $queue_id delivered to partner2 once its server came up"
power_cut
say "PASS: image build ${build_s}s, boot 1 ${boot1_s}s, boot 2 ${boot2_s}s," \
    "total $((SECONDS - started))s; serial logs in $WORK"
