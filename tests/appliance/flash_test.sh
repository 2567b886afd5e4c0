#!/usr/bin/env bash
# flash_test.sh -- tools/flash against loop-free fakes: a small signed image made here, a
# regular file standing in for the disk, and fake mount tables.
#   - write + verify round trip onto a file: the file equals the image afterwards;
#   - refused before writing: a changed image (SHA-256), a changed manifest (signature),
#     another key, a device that is mounted, a disk holding the running root (sdX and nvme
#     names, /dev/root's disk), and the file when the fake table lists it as mounted.
set -euo pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
FLASH="$SRC/tools/flash"
say() { echo "[flash] $*"; }
fail() {
    echo "[flash] FAIL: $*" >&2
    exit 1
}
command -v bmaptool >/dev/null || { echo "[flash] SKIP: bmaptool missing (tools/setup --appliance)"; exit 77; }
work="$(mktemp -d "${TMPDIR:-/tmp}/hubbox-flash.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A 4 MiB "image" with data at both ends and a hole in the middle, built like appliance/build's.
make_image() {  # make_image DIR
    mkdir -p "$1"
    truncate -s 4M "$1/hubbox.img"
    head -c 300000 /dev/urandom | dd of="$1/hubbox.img" conv=notrunc status=none
    head -c 100000 /dev/urandom | dd of="$1/hubbox.img" bs=1M seek=3 conv=notrunc status=none
    bmaptool -q create -o "$1/hubbox.img.bmap" "$1/hubbox.img"
    (cd "$1" && sha256sum hubbox.img >hubbox.img.sha256)
    printf '# test manifest\nimage %s hubbox.img\n' "$(cut -c1-64 "$1/hubbox.img.sha256")" \
        >"$1/manifest.txt"
    openssl dgst -sha256 -sign "$work/key.pem" -out "$1/manifest.txt.sig" "$1/manifest.txt"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/other.pem" 2>/dev/null
openssl pkey -in "$work/other.pem" -pubout -out "$work/other-pub.pem"
make_image "$work/good"
printf '/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n' >"$work/mounts"

expect() {  # expect WHAT STATUS REGEX flash-args...
    local what="$1" want="$2" regex="$3" status=0 out
    shift 3
    out="$("$FLASH" "$@" 2>&1)" || status=$?
    [[ $status -eq $want ]] || fail "$what: exit $status, want $want:
$out"
    grep -Eq -- "$regex" <<<"$out" || fail "$what: output does not match /$regex/:
$out"
    say "ok: $what (exit $status)"
}

# Round trip onto a new file: afterwards it is the image, byte for byte.
expect "write + verify onto a new file" 0 'written and verified' \
    --pubkey "$work/pub.pem" --mounts "$work/mounts" --yes "$work/good/hubbox.img" "$work/new.raw"
cmp "$work/good/hubbox.img" "$work/new.raw" || fail "the new file differs from the image"
say "ok: the new file equals the image"
# Onto a used "disk" (old contents everywhere): the mapped blocks are the image's.
target="$work/disk.raw"
head -c 4194304 /dev/urandom >"$target"
expect "write + verify over old contents" 0 'written and verified' \
    --pubkey "$work/pub.pem" --mounts "$work/mounts" --yes "$work/good/hubbox.img" "$target"
cmp -n 300000 "$work/good/hubbox.img" "$target" || fail "first block range differs"
cmp -i 3145728 -n 100000 "$work/good/hubbox.img" "$target" || fail "last block range differs"
say "ok: the mapped blocks on the used file equal the image"

refused() {  # refused WHAT STATUS REGEX IMAGE_DIR [PUBKEY] [MOUNTS] [DEVICE]
    local before
    before="$(sha256sum <"$target")"
    expect "$1" "$2" "$3" --pubkey "${5:-$work/pub.pem}" --mounts "${6:-$work/mounts}" --yes \
        "$4/hubbox.img" "${7:-$target}"
    [[ "$(sha256sum <"$target")" == "$before" ]] || fail "$1: the target was written"
}
cp -a "$work/good" "$work/changed-image"
printf 'X' | dd of="$work/changed-image/hubbox.img" bs=1 seek=5 conv=notrunc status=none
refused "a changed image" 1 'SHA-256 of .* is [0-9a-f]{64}, .*sha256 says' "$work/changed-image"
cp -a "$work/good" "$work/changed-manifest"
echo "extra line" >>"$work/changed-manifest/manifest.txt"
refused "a changed manifest" 1 "signature does not verify" "$work/changed-manifest"
refused "another signing key" 1 "signature does not verify" "$work/good" "$work/other-pub.pem"
cp -a "$work/good" "$work/both-changed"
printf 'X' | dd of="$work/both-changed/hubbox.img" bs=1 seek=5 conv=notrunc status=none
(cd "$work/both-changed" && sha256sum hubbox.img >hubbox.img.sha256)
refused "image and .sha256 changed together" 1 'the signed manifest says' "$work/both-changed"

printf '/dev/sdz2 / ext4 rw 0 0\n/dev/sdz1 /boot/efi vfat rw 0 0\n' >"$work/mounts-root"
refused "the running system's disk (sdz)" 3 "holds the running system's root" "$work/good" "" \
    "$work/mounts-root" /dev/sdz
printf '/dev/nvme7n1p3 / ext4 rw 0 0\n' >"$work/mounts-nvme"
refused "the running system's disk (nvme)" 3 "holds the running system's root" "$work/good" "" \
    "$work/mounts-nvme" /dev/nvme7n1
printf '/dev/vda1 / ext4 rw 0 0\n/dev/sdy1 /media/usb vfat rw 0 0\n' >"$work/mounts-usb"
refused "a disk with a mounted partition" 3 'is mounted \(/dev/sdy1 on /media/usb\)' "$work/good" \
    "" "$work/mounts-usb" /dev/sdy
printf '/dev/vda1 / ext4 rw 0 0\n%s /mnt ext4 rw 0 0\n' "$target" >"$work/mounts-file"
refused "the file when mounted" 3 'is mounted' "$work/good" "" "$work/mounts-file"
refused "an unreadable mount table" 3 'cannot read the mount table' "$work/good" "" \
    "$work/no-such-mounts"
say "PASS"
