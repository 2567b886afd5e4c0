#!/usr/bin/env bash
# image_test.sh -- builds the test variant of the appliance image (test_image.sh) into
# $HUB_APPLIANCE_TEST_DIR once, for the two qemu tests that boot it (boot_test.sh,
# update_test.sh), and checks what they rely on: the disk image, its signed manifest with the
# build id and the boot tries, the update bundle, and the stamp that lets them reuse it.
# A test of its own so that the release build inside it (the suite's longest compile) ends
# before the first VM starts: integration.first_run, which reads the same compiler cache,
# can then run beside the emulated boots instead of after them.
#
# Needs root and what appliance/build needs (tools/setup --appliance); exits 77 (skip) when
# one is missing, as the boot test does.
set -euo pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
HERE="$SRC/tests/appliance"
WORK="${HUB_APPLIANCE_TEST_DIR:-$SRC/build/appliance-test}"
TEST_TAG=image_test
VM_LOG_GLOBS=()
# shellcheck source=tests/appliance/vm_common.sh
source "$HERE/vm_common.sh"

[[ $EUID -eq 0 ]] || skip "needs root (appliance/build makes root-owned file systems)"
for tool in mmdebstrap bmaptool rauc mksquashfs python3; do
    command -v "$tool" >/dev/null || skip "$tool is missing (bash tools/setup --appliance)"
done
# shellcheck source=tests/appliance/test_image.sh
source "$HERE/test_image.sh"

lock_test_image "$WORK"
read -r SINK1 SINK2 < <(free_ports 2)
say "building the test image (appliance/build --overlay tests/appliance/guest)"
make_test_image "$WORK" "$SINK1" "$SINK2" "$WORK/build.log" || fail "the test image build failed"
unlock_test_image
say "image built: $(tail -n1 "$WORK/build.log")"

image="$WORK/image"
for file in hubbox.img hubbox.raucb manifest.txt partitions/root-a.img keys/rauc-signing.pem; do
    [[ -s "$image/$file" ]] || fail "the build left no $image/$file"
done
grep -Eq '^build_id [0-9a-f]{12}' "$image/manifest.txt" || fail "the manifest has no build_id"
grep -Eq '^boot_tries 1$' "$image/manifest.txt" ||
    fail "the test image should allow one boot try per slot: $(grep boot_tries "$image/manifest.txt")"
sinks="$(test_image_current "$WORK")" || fail "the image just built is not taken as current"
[[ "$sinks" == "$SINK1 $SINK2" ]] || fail "the stamp names sinks '$sinks', not '$SINK1 $SINK2'"
say "PASS: $(du -h --apparent-size "$image/hubbox.img" | cut -f1) image, bundle" \
    "$(du -h "$image/hubbox.raucb" | cut -f1), reusable by the boot and update tests"
