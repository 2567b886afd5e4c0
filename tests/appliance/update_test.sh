#!/usr/bin/env bash
# update_test.sh -- the appliance's A/B update path under qemu, with RAUC and GRUB's boot
# counting (appliance/README.md, "Updates"). One VM, never restarted by the test:
#   1. the test image boots slot A; a message for partner2 (whose server is down) is queued in
#      the spool partition;
#   2. the test plugs in an update disk holding a good bundle of a newer build (its own
#      IMAGE_VERSION); the box installs it into slot B and reboots itself; the test checks the
#      box now runs slot B with the new version, marked good, and the message is still queued;
#   3. the test plugs in a disk with a broken bundle (hubd's ExecStart exits 1); the box
#      installs it into slot A and reboots into it; hubd never gets ready, so
#      hubbox-mark-good reboots, GRUB counts the attempts and after the configured tries
#      boots slot B again, all on its own; the test only waits. Slot B must be running the
#      good version, marked good and primary again, and the message still queued; then
#      partner2's server comes up and the message is delivered.
# The bundles are made here from the test image's root (appliance/bundle, same keys). The
# disks are hot-plugged through qemu's monitor (a stand-in for a USB stick: the box has no
# command channel); the guest's test-only installer (tests/appliance/guest) installs a
# bundle from a disk whose serial starts with "hubbox-update", once per bundle.
#
# Reuses the test image appliance.image (image_test.sh) built in $HUB_APPLIANCE_TEST_DIR when
# it is from the same tree, else builds it the same way (tests/appliance/test_image.sh).
# Artifacts in $HUB_APPLIANCE_TEST_DIR/update/: serial.log (the console across all boots),
# report.log (the guest's reports and the installer's lines), bundles, the disk.
# Software emulation (accel=tcg), like the boot test, and like it in a network namespace of
# its own, so that the two can run at once.
#
# Needs root, qemu-system-x86, ovmf, swaks, python3, openssl, rauc, squashfs-tools, e2fsprogs
# and what appliance/build needs; exits 77 (skip) when one is missing.
set -euo pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
HERE="$SRC/tests/appliance"
SHARED="${HUB_APPLIANCE_TEST_DIR:-$SRC/build/appliance-test}"
WORK="$SHARED/update"
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
STAGE_TIMEOUT_S="${HUB_UPDATE_STAGE_TIMEOUT_S:-1800}"
TEST_TAG=update_test
VM_LOG_GLOBS=("$WORK/serial.log" "$WORK/report.log")
# shellcheck source=tests/appliance/vm_common.sh
source "$HERE/vm_common.sh"

[[ $EUID -eq 0 ]] || skip "needs root (appliance/build makes root-owned file systems)"
for tool in qemu-system-x86_64 swaks python3 openssl mmdebstrap bmaptool rauc mksquashfs \
    debugfs mkfs.ext4; do
    command -v "$tool" >/dev/null || skip "$tool is missing (bash tools/setup)"
done
[[ -r "$OVMF_CODE" && -r "$OVMF_VARS" ]] || skip "no OVMF firmware (package ovmf)"
# shellcheck source=tests/appliance/test_image.sh
source "$HERE/test_image.sh"

# --- The image (shared with the boot test) ---------------------------------------------------
use_or_make_test_image "$SHARED"
build_s=$IMAGE_BUILD_S
enter_own_network_namespace "$0" "$@"
rm -rf "$WORK"
mkdir -p "$WORK"
image="$SHARED/image"
base_version="$(sed -n 's/^build_id //p' "$image/manifest.txt")"
tries="$(sed -n 's/^boot_tries //p' "$image/manifest.txt")"
[[ -n "$base_version" && "$tries" =~ ^[1-9]$ ]] ||
    fail "$image/manifest.txt has no build_id or boot_tries (an image from before RAUC?)"
keys="$image/keys"

# --- The VM (started first: the bundles are made while it boots) ----------------------------
cp --sparse=always "$image/hubbox.img" "$WORK/disk.img"
cp "$OVMF_VARS" "$WORK/ovmf-vars.fd"
# Software emulation, as in the boot test: this machine's /dev/kvm is nested and stops OVMF at
# its first FPU instruction (an "emulation failure"), with -bios and pflash alike.
accel=tcg cpu=max
read -r FWD_SMTP < <(free_ports 1)
: >"$WORK/serial.log"
: >"$WORK/report.log"
# The chipset's TCO watchdog resets the machine when it expires, as on hardware: systemd arms
# it for every reboot (10 min), so a firmware that hangs after a reset (seen once under heavy
# load: OVMF spinning in DXE after a guest reboot) is reset instead of waiting forever.
# Two empty PCIe root ports take the update disks later (q35 hot-plug). The firmware boots
# the system disk only (bootindex; no network boot ROM): once disks have been plugged in, its
# default order would try the network first.
qemu-system-x86_64 -machine "q35,accel=$accel" -cpu "$cpu" -smp 1 -m 1024 \
    -global ICH9-LPC.noreboot=false -watchdog-action reset \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
    -drive "if=pflash,format=raw,unit=1,file=$WORK/ovmf-vars.fd" \
    -drive "file=$WORK/disk.img,format=raw,if=none,id=disk0,cache=writeback" \
    -device virtio-blk-pci,drive=disk0,bootindex=0 \
    -device pcie-root-port,id=hp1,chassis=1,port=0x10 \
    -device pcie-root-port,id=hp2,chassis=2,port=0x11 \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$FWD_SMTP-:25" \
    -device virtio-net-pci,netdev=net0,romfile= -device virtio-rng-pci -display none \
    -monitor "unix:$WORK/monitor.sock,server=on,wait=off" \
    -serial "file:$WORK/serial.log" -serial "file:$WORK/report.log" \
    >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
vm_started=$SECONDS
say "qemu started (accel=$accel), serial log $WORK/serial.log"

# --- Bundles: a newer good build and a broken one, from the image's root --------------------
bundles_started=$SECONDS
good_version="$base_version.next"
broken_version="$base_version.broken"
# set_in_root IMAGE PATH FILE: replace PATH in the ext4 IMAGE by FILE (root-owned, 0644),
# without mounting (debugfs).
set_in_root() {
    local dir="${2%/*}" name="${2##*/}"
    debugfs -w -f - "$1" >"$WORK/debugfs.log" 2>&1 <<EOF
cd $dir
rm $name
write $3 $name
sif $name mode 0100644
sif $name uid 0
sif $name gid 0
EOF
    debugfs -R "cat $2" "$1" 2>/dev/null | cmp -s - "$3" ||
        fail "debugfs could not replace $2 in $1: $(cat "$WORK/debugfs.log")"
}
os_release_path="$(debugfs -R 'stat /etc/os-release' "$image/partitions/root-a.img" 2>/dev/null |
    sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')"
[[ "$os_release_path" == ../usr/lib/os-release ]] ||
    fail "/etc/os-release in the image is not a link to ../usr/lib/os-release: $os_release_path"
debugfs -R 'cat /usr/lib/os-release' "$image/partitions/root-a.img" 2>/dev/null \
    >"$WORK/os-release.base"
grep -qx "IMAGE_VERSION=$base_version" "$WORK/os-release.base" ||
    fail "the image's os-release does not say IMAGE_VERSION=$base_version"

cp --sparse=always "$image/partitions/root-a.img" "$WORK/root-good.img"
sed "s/^IMAGE_VERSION=.*/IMAGE_VERSION=$good_version/" "$WORK/os-release.base" >"$WORK/os-release.good"
set_in_root "$WORK/root-good.img" /usr/lib/os-release "$WORK/os-release.good"

cp --sparse=always "$WORK/root-good.img" "$WORK/root-broken.img"
sed "s/^IMAGE_VERSION=.*/IMAGE_VERSION=$broken_version/" "$WORK/os-release.base" \
    >"$WORK/os-release.broken"
set_in_root "$WORK/root-broken.img" /usr/lib/os-release "$WORK/os-release.broken"
debugfs -R 'cat /usr/lib/systemd/system/hubd.service' "$WORK/root-broken.img" 2>/dev/null |
    sed 's|^ExecStart=.*|ExecStart=/bin/sh -c "exit 1"|' >"$WORK/hubd.service.broken"
grep -q '^ExecStart=/bin/sh -c "exit 1"$' "$WORK/hubd.service.broken" ||
    fail "no ExecStart= line to break in hubd.service"
set_in_root "$WORK/root-broken.img" /usr/lib/systemd/system/hubd.service "$WORK/hubd.service.broken"

medium() {  # medium NAME VERSION ROOT: bundle ROOT as VERSION, on an ext4 disk image NAME.img
    "$SRC/appliance/bundle" --root-image "$3" --version "$2" --cert "$keys/rauc-signing.pem" \
        --key "$keys/rauc-signing.key" --keyring "$keys/rauc-ca.pem" "$WORK/$1.raucb" \
        >"$WORK/bundle-$1.log" 2>&1 || { cat "$WORK/bundle-$1.log" >&2; fail "bundle $1 failed"; }
    mkdir -p "$WORK/medium-$1"
    ln "$WORK/$1.raucb" "$WORK/medium-$1/update.raucb"
    local mib=$(($(stat -c %s "$WORK/$1.raucb") / 1048576 + 64))
    truncate -s "${mib}M" "$WORK/$1.img"
    mkfs.ext4 -q -F -L hubbox-update -d "$WORK/medium-$1" "$WORK/$1.img" ||
        fail "mkfs.ext4 for the $1 update disk failed"
    rm -rf "$WORK/medium-$1"
}
medium good "$good_version" "$WORK/root-good.img"
medium broken "$broken_version" "$WORK/root-broken.img"
rm -f "$WORK/root-good.img" "$WORK/root-broken.img"
bundles_s=$((SECONDS - bundles_started))
say "bundles made in ${bundles_s}s: good $good_version ($(du -h "$WORK/good.raucb" | cut -f1))," \
    "broken $broken_version (hubd's ExecStart exits 1)"


monitor() {  # monitor COMMAND: one human-monitor command; prints its answer
    python3 - "$WORK/monitor.sock" "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
def until_prompt():
    data = b""
    while not data.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
answer = until_prompt()
print("\n".join(l for l in answer.replace("\r", "").splitlines()[1:] if l and l != "(qemu) "))
EOF
}
plug() {  # plug NAME PORT: the update disk NAME.img on root port PORT, read-only
    local answer
    answer="$(monitor "drive_add 0 if=none,id=$1,file=$WORK/$1.img,format=raw,readonly=on")"
    [[ "$answer" == *OK* ]] || fail "drive_add $1: $answer"
    answer="$(monitor "device_add virtio-blk-pci,drive=$1,id=$1-disk,bus=$2,serial=hubbox-update-$1")"
    [[ "$answer" != *rror* ]] || fail "device_add $1: $answer"
}

count_in() { grep -c -- "$1" "$2" 2>/dev/null || true; }
# wait_for WHAT FILE PATTERN N: until FILE has N lines matching PATTERN; fails on the stage
# timeout or when qemu exits.
wait_for() {
    local deadline=$((SECONDS + STAGE_TIMEOUT_S))
    until (($(tr -d '\r' <"$2" | count_in "$3" -) >= $4)); do
        kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited waiting for $1: $(cat "$WORK/qemu.log")"
        ((SECONDS < deadline)) || fail "$1: not seen within ${STAGE_TIMEOUT_S}s"
        sleep 1
    done
}
# report N: the Nth complete report
report() {
    tr -d '\r' <"$WORK/report.log" |
        awk -v n="$1" '/HUBBOX-REPORT-BEGIN/ {k++} k == n {print} /HUBBOX-REPORT-END/ && k == n {exit}'
}
fact() { sed -n "s/^HUBBOX-REPORT $2=//p" <<<"$1" | tail -n1; }
# slot_field REPORT BOOTNAME FIELD: a RAUC_SLOT_<FIELD>_<n> of the slot with that bootname
slot_field() {
    local status n
    status="$(fact "$1" rauc_status | tr '|' '\n')"
    n="$(sed -n "s/^RAUC_SLOT_BOOTNAME_\([0-9]*\)='\{0,1\}$2'\{0,1\}$/\1/p" <<<"$status")"
    [[ -n "$n" ]] || return 0
    sed -n "s/^RAUC_SLOT_$3_$n='\{0,1\}\([^']*\)'\{0,1\}$/\1/p" <<<"$status"
}
kernel_boots() { tr -d '\r' <"$WORK/serial.log" | count_in "Command line:.*rauc\.slot=$1 " -; }

# --- 1. Slot A, a message queued for partner2 ------------------------------------------------
wait_for "report of the first boot" "$WORK/report.log" HUBBOX-REPORT-END 1
boot1_s=$((SECONDS - vm_started))
R1="$(report 1)"
expect_match "first boot: slot" '^A$' "$(fact "$R1" cmdline_slot)"
expect_match "first boot: version" "^$base_version\$" "$(fact "$R1" image_version)"
expect_match "first boot: hubd" '^active$' "$(fact "$R1" hubd_ActiveState)"
expect_match "first boot: marked good" '^active$' "$(fact "$R1" mark_good)"
# Across the updates: the console's password (changed by the report's first run, on the data
# partition) and the partners (imported from the seed's partners.toml into directory.db by
# the first boot, the way a box coming from an image with partners.file is switched).
expect_match "first boot: passwd as console" 'password updated successfully' \
    "$(fact "$R1" console_passwd_change)"
console_password="$(fact "$R1" console_password)"
expect_match "first boot: the console's password" '^[0-9a-f]{16} lastchg=[1-9]' "$console_password"
expect_match "first boot: partners in the directory" '(^|\|)partner1 .*\|partner2 ' \
    "$(fact "$R1" partner_list)"
check_kept() {  # check_kept REPORT WHEN: the password and the partners are still there
    [[ "$(fact "$1" console_password)" == "$console_password" ]] ||
        fail "$2: the console's password changed: $console_password -> $(fact "$1" console_password)"
    expect_match "$2: partners in the directory" '(^|\|)partner1 .*\|partner2 ' \
        "$(fact "$1" partner_list)"
    expect_match "$2: hub.conf names the directory" '^"/var/lib/hubbox/directory\.db" partners_section=0$' \
        "$(fact "$1" directory_conf)"
}
say "boot 1 (slot A, $base_version) reported after ${boot1_s}s"

out="$(swaks --server 127.0.0.1 --port "$FWD_SMTP" --tls --ehlo partner1.gov.uk \
    --tls-cert "$SHARED/seed/partner1.pem" --tls-key "$SHARED/seed/partner1.key" \
    --from alice@partner1.gov.uk --to ann@partner2.gov.uk.lgolhub.net \
    --header "Subject: survives updates" --body "update test" --timeout 60 2>&1)"
queue_id="$(grep -Eo 'queued as [0-9A-F]{16}' <<<"$out" | awk '{print $3}' | head -n1)"
[[ -n "$queue_id" ]] || fail "the message for partner2 was not accepted: $out"
say "message $queue_id for partner2 (server down) queued in the spool partition"

# --- 2. The good bundle: installed into B, booted, confirmed --------------------------------
stage_started=$SECONDS
plug good hp1
wait_for "the good bundle's install" "$WORK/report.log" 'HUBBOX-UPDATE result=' 1
result="$(tr -d '\r' <"$WORK/report.log" | grep 'HUBBOX-UPDATE result=' | sed -n 1p)"
expect_match "good bundle install" 'result=installed' "$result"
install1_s="$(sed -n 's/.*seconds=\([0-9]*\).*/\1/p' <<<"$result")"
wait_for "report of the boot into the new slot" "$WORK/report.log" HUBBOX-REPORT-END 2
update_s=$((SECONDS - stage_started))
R2="$(report 2)"
expect_match "after the update: slot" '^B$' "$(fact "$R2" cmdline_slot)"
expect_match "after the update: version" "^$good_version\$" "$(fact "$R2" image_version)"
expect_match "after the update: attempt" '^1$' "$(fact "$R2" cmdline_try)"
expect_match "after the update: marked good" '^active$' "$(fact "$R2" mark_good)"
expect_match "after the update: hubd" '^active$' "$(fact "$R2" hubd_ActiveState)"
expect_match "after the update: RAUC's primary" "RAUC_BOOT_PRIMARY='?rootfs\\.1'?\\|" \
    "$(fact "$R2" rauc_status)"
expect_match "after the update: slot B's bundle" "^$good_version\$" \
    "$(slot_field "$R2" B STATUS_BUNDLE_VERSION)"
expect_match "after the update: slot B's boot status" '^good$' "$(slot_field "$R2" B BOOT_STATUS)"
expect_match "after the update: the queue" "$queue_id" "$(fact "$R2" hubctl_queue)"
expect_match "after the update: spool partition" '^/dev/vda5$' "$(fact "$R2" spool_source)"
check_kept "$R2" "after the update"
say "ok: installed in ${install1_s}s, rebooted into slot B ($good_version), marked good;" \
    "$queue_id still queued, the console's password and the partners kept (${update_s}s)"

# --- 3. The broken bundle: installed into A, fails, falls back to B on its own --------------
stage_started=$SECONDS
boots_a_before="$(kernel_boots A)"
plug broken hp2
wait_for "the broken bundle's install" "$WORK/report.log" 'HUBBOX-UPDATE result=installed' 2
install2_s="$(tr -d '\r' <"$WORK/report.log" | grep 'HUBBOX-UPDATE result=installed' |
    sed -n '2s/.*seconds=\([0-9]*\).*/\1/p')"
say "broken bundle installed into slot A in ${install2_s}s; waiting (nothing else from here)"
wait_for "report after the fallback" "$WORK/report.log" HUBBOX-REPORT-END 3
fallback_s=$((SECONDS - stage_started))
R3="$(report 3)"
broken_boots=$(($(kernel_boots A) - boots_a_before))
expect_match "after the fallback: slot" '^B$' "$(fact "$R3" cmdline_slot)"
expect_match "after the fallback: version" "^$good_version\$" "$(fact "$R3" image_version)"
# GRUB still preferred A (ORDER "A B") and passed it over: A had used its tries.
expect_match "after the fallback: ORDER's first slot" '^A$' "$(fact "$R3" cmdline_first)"
((broken_boots == tries)) ||
    fail "slot A was booted $broken_boots times, expected $tries (the configured tries)"
rebooted="$(tr -d '\r' <"$WORK/serial.log" | count_in 'hubbox-mark-good: .*slot A.*not marked good, rebooting' -)"
((rebooted == tries)) || fail "hubbox-mark-good rebooted slot A $rebooted times, expected $tries"
expect_match "after the fallback: marked good" '^active$' "$(fact "$R3" mark_good)"
expect_match "after the fallback: hubd" '^active$' "$(fact "$R3" hubd_ActiveState)"
expect_match "after the fallback: RAUC's primary" "RAUC_BOOT_PRIMARY='?rootfs\\.1'?\\|" \
    "$(fact "$R3" rauc_status)"
expect_match "after the fallback: slot A's boot status" '^bad$' "$(slot_field "$R3" A BOOT_STATUS)"
expect_match "after the fallback: slot A holds the broken bundle" "^$broken_version\$" \
    "$(slot_field "$R3" A STATUS_BUNDLE_VERSION)"
expect_match "after the fallback: the queue" "$queue_id" "$(fact "$R3" hubctl_queue)"
check_kept "$R3" "after the fallback"
# Neither bundle is installed again while its disk stays plugged in: after the fallback the
# installer looks at both disks (once in the boot into B, twice now) and installs nothing.
wait_for "the installer's pass after the fallback" "$WORK/report.log" \
    'HUBBOX-UPDATE result=already-tried' 3
expect_match "no third install" '^2$' \
    "$(tr -d '\r' <"$WORK/report.log" | count_in 'HUBBOX-UPDATE result=installed' -)"
say "ok: slot A (broken) booted $broken_boots times, not marked good; GRUB fell back to slot B" \
    "($good_version) with no help; $queue_id still queued (${fallback_s}s)"

# --- 4. The message is delivered once partner2's server is up --------------------------------
mkdir -p "$WORK/mail-2"
python3 "$HERE/sink.py" --port "$SINK2" --cert "$SHARED/seed/partner2.pem" \
    --key "$SHARED/seed/partner2.key" --dir "$WORK/mail-2" --seconds 600 &
SINK_PIDS+=($!)
deadline=$((SECONDS + 180))
until [[ -f "$WORK/mail-2/1.eml" ]]; do
    ((SECONDS < deadline)) || fail "$queue_id was not delivered to partner2 within 180 s"
    sleep 1
done
expect_match "delivered after the updates" '^Subject: survives updates' \
    "$(tr -d '\r' <"$WORK/mail-2/1.eml")"
say "ok: $queue_id delivered to partner2 after both updates"

kill -KILL "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
say "PASS ($accel): image build ${build_s}s, bundles ${bundles_s}s, boot 1 ${boot1_s}s," \
    "good update ${update_s}s (install ${install1_s}s), broken update and fallback" \
    "${fallback_s}s (install ${install2_s}s, $broken_boots boots of slot A)," \
    "total $((SECONDS - started))s; logs in $WORK"
