# test_image.sh -- sourced by image_test.sh, boot_test.sh and update_test.sh: the test variant
# of the appliance image, built once into a shared directory (by appliance.image) and reused
# by the tests that boot it.
#
# make_test_image DIR SINK1 SINK2 LOG
#   tools/dev-init makes a CA, the hub's and two partners' certificates in DIR/seed; the hub's
#   part goes into the data partition (appliance/build --data-seed DIR/data-seed) with the
#   partners' servers at 10.0.2.2:SINK1 and :SINK2 (qemu's address for the host); then
#   appliance/build --overlay tests/appliance/guest into DIR/image. DIR/image/test-image.stamp
#   records what it was built from (test_image_current reads it).
# test_image_current DIR
#   true when DIR/image was built by make_test_image from the current commit and the same
#   uncommitted changes (none, in a clean clone), and its seed is still there; prints
#   "SINK1 SINK2" then.
# use_or_make_test_image DIR
#   the image in DIR/image, reused when current, else built with two free sink ports; sets
#   SINK1, SINK2 and IMAGE_BUILD_S (0 when reused). Holds DIR/image.lock meanwhile (as
#   image_test.sh does while it builds): the boot and update tests run at once, and when
#   appliance.image did not leave a current image only the first of them builds one.
# Needs vm_common.sh (say, fail, free_ports).

make_test_image() {
    local dir="$1" sink1="$2" sink2="$3" log="$4"
    rm -rf "$dir/seed" "$dir/data-seed" "$dir/image/test-image.stamp"
    # --partners-file: the seed is a box from before the directory, so the first boot's
    # migration (import into directory.db, hub.conf switched) runs in every image test.
    "$SRC/tools/dev-init" "$dir/seed" --partners-file --smtp 0.0.0.0:25 --smtps 0.0.0.0:465 --shards 1 \
        --user hubbox --partner1-outbound "10.0.2.2:$sink1" \
        --partner2-outbound "10.0.2.2:$sink2" --retry-delay 5 --recovery-spread 1 \
        >"$dir/dev-init.log" 2>&1 || { cat "$dir/dev-init.log" >&2; return 1; }
    # What the box holds: its configuration, its certificate and key, the CA partners chain
    # to. The CA key and the partners' keys stay on the host (the partners are the test).
    mkdir -p "$dir/data-seed"
    cp "$dir/seed/hub.pem" "$dir/seed/hub.key" "$dir/seed/ca.pem" "$dir/data-seed/"
    sed -e 's#^dir = .*#dir = "/var/spool/hubbox"#' "$dir/seed/hub.conf" \
        >"$dir/data-seed/hub.conf"
    # Forwarded connections reach the guest from qemu's host address 10.0.2.2.
    sed -e 's#^inbound = .*#inbound = ["10.0.2.0/24"]#' "$dir/seed/partners.toml" \
        >"$dir/data-seed/partners.toml"
    grep -q '^dir = "/var/spool/hubbox"' "$dir/data-seed/hub.conf" || {
        echo "spool dir not set in $dir/data-seed/hub.conf" >&2
        return 1
    }
    # The [health] section as the image's template writes it (one source: the template), so
    # that hub-metrics and hub-snmp reach hubd's status socket in /run/hubbox (docs/HEALTH.md).
    sed -n '/^\[health\]/,/^$/p' "$SRC/rootfs/usr/share/hubbox/hub.conf.template" \
        >"$dir/health.conf"
    grep -q '^status_group = "hubmon"' "$dir/health.conf" || {
        echo "no [health] section in rootfs/usr/share/hubbox/hub.conf.template" >&2
        return 1
    }
    printf '\n' >>"$dir/data-seed/hub.conf"
    cat "$dir/health.conf" >>"$dir/data-seed/hub.conf"
    # [ca] and [enroll] too, so the first boot runs `hub-ca init` and the enrollment page
    # listens on 443 as on a real box. The partners' certificates stay the dev CA's (the
    # seed's client_ca), so hubd reads no CRL here: hub-ca's own CA is not a client CA.
    sed -n '/^\[ca\]/,/^$/p; /^\[enroll\]/,/^$/p' "$SRC/rootfs/usr/share/hubbox/hub.conf.template" \
        >"$dir/ca.conf"
    grep -q '^state_dir = "/var/lib/hubbox/ca"' "$dir/ca.conf" && grep -q '^listen = "0.0.0.0:443"' "$dir/ca.conf" || {
        echo "no [ca] or [enroll] section in rootfs/usr/share/hubbox/hub.conf.template" >&2
        return 1
    }
    printf '\n' >>"$dir/data-seed/hub.conf"
    cat "$dir/ca.conf" >>"$dir/data-seed/hub.conf"
    # One boot try per slot (the product's default is 2): the update test's fallback then
    # costs one emulated boot of the broken slot instead of two, and the counting is the same.
    source "$SRC/tests/release_ccache.sh"
    use_release_ccache "$SRC"
    "$SRC/appliance/build" --overlay "$SRC/tests/appliance/guest" --boot-tries 1 \
        --data-seed "$dir/data-seed" "$dir/image" >"$log" 2>&1 || {
        tail -30 "$log" >&2
        return 1
    }
    echo "$sink1 $sink2 $(git -C "$SRC" rev-parse HEAD)$(test_image_dirty)" \
        >"$dir/image/test-image.stamp"
}

# test_image_dirty: empty for a clean tree, else "+dirty-" and a hash of the uncommitted
# changes (tracked diffs and untracked files), so the tests of one run share an image built
# from the same uncommitted tree and never one built from another.
test_image_dirty() {
    local untracked
    untracked="$(git -C "$SRC" ls-files -o --exclude-standard | head -c 1)"
    if git -C "$SRC" diff --quiet HEAD -- 2>/dev/null && [[ -z "$untracked" ]]; then
        return 0
    fi
    printf '+dirty-%s\n' "$({
        git -C "$SRC" diff HEAD --binary --
        cd "$SRC" && git ls-files -o --exclude-standard -z | sort -z | xargs -0r sha256sum
    } | sha256sum | cut -c1-16)"
}

lock_test_image() {  # lock_test_image DIR: waits for DIR/image.lock (fd in TEST_IMAGE_LOCK_FD)
    mkdir -p "$1"
    exec {TEST_IMAGE_LOCK_FD}>"$1/image.lock"
    flock "$TEST_IMAGE_LOCK_FD"
}
unlock_test_image() {
    exec {TEST_IMAGE_LOCK_FD}>&-
}

use_or_make_test_image() {
    local dir="$1" sinks build_started
    lock_test_image "$dir"
    if sinks="$(test_image_current "$dir")"; then
        read -r SINK1 SINK2 <<<"$sinks"
        IMAGE_BUILD_S="${HUB_VM_IMAGE_BUILD_S:-0}"  # the first pass's (enter_own_network_namespace)
        say "reusing the test image appliance.image built in $dir/image"
    else
        read -r SINK1 SINK2 < <(free_ports 2)
        say "building the test image (missing, or from another tree)"
        build_started=$SECONDS
        make_test_image "$dir" "$SINK1" "$SINK2" "$dir/build.log" ||
            fail "the test image build failed"
        IMAGE_BUILD_S=$((SECONDS - build_started))
        say "image built in ${IMAGE_BUILD_S}s: $(tail -n1 "$dir/build.log")"
    fi
    unlock_test_image
}

test_image_current() {
    local dir="$1" sink1 sink2 built
    [[ -f "$dir/image/test-image.stamp" && -f "$dir/image/hubbox.img" &&
        -f "$dir/seed/partner1.pem" && -f "$dir/seed/partner2.key" ]] || return 1
    read -r sink1 sink2 built <"$dir/image/test-image.stamp"
    [[ "$built" == "$(git -C "$SRC" rev-parse HEAD)$(test_image_dirty)" ]] || return 1
    echo "$sink1 $sink2"
}
