# vm_common.sh -- what the qemu tests (boot_test.sh, update_test.sh) share: their messages,
# and a cleanup that stops qemu and the host's sinks and, on failure, shows the guest's logs.
# Source it after setting TEST_TAG (the message prefix) and VM_LOG_GLOBS (the logs to show,
# as glob patterns); the caller keeps QEMU_PID and SINK_PIDS up to date.
# shellcheck shell=bash
started=$SECONDS
QEMU_PID=""
SINK_PIDS=()

say() { echo "[$TEST_TAG] [$((SECONDS - started))s] $*"; }
fail() {
    echo "[$TEST_TAG] FAIL: $*" >&2
    exit 1
}
skip() {
    echo "[$TEST_TAG] SKIP: $*"
    exit 77
}
vm_cleanup() {
    local status=$?
    set +e
    [[ -z "$QEMU_PID" ]] || { kill -KILL "$QEMU_PID" 2>/dev/null; wait "$QEMU_PID" 2>/dev/null; }
    for pid in "${SINK_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ $status -ne 0 && $status -ne 77 ]]; then
        local pattern log
        for pattern in "${VM_LOG_GLOBS[@]}"; do
            for log in $pattern; do
                [[ -f "$log" ]] || continue
                echo "[$TEST_TAG] ---- last 60 lines of $log ----" >&2
                tail -n 60 "$log" | tr -d '\r' >&2
            done
        done
    fi
    exit $status
}
expect_match() {
    grep -Eq -- "$2" <<<"$3" || fail "$1: expected to match /$2/, got: $3"
}
free_ports() {  # free_ports N: N TCP ports free on 127.0.0.1 right now
    python3 -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}

# enter_own_network_namespace "$0" "$@": runs the test again from the top inside a network
# namespace of its own (loopback only), unless it already runs in one. The test image sends
# to its partners at 10.0.2.2:SINK1 and :SINK2, which qemu's user networking maps to
# 127.0.0.1 of the namespace qemu runs in; with a namespace each, the boot and update tests
# run at once without one's sinks taking the other's mail. Call it after the image is
# ready (the build needs the network; the second pass then reuses the image).
enter_own_network_namespace() {
    if [[ -n "${HUB_VM_OWN_NETNS:-}" ]]; then
        ip link set lo up
        return 0
    fi
    command -v unshare >/dev/null || skip "unshare is missing (package util-linux)"
    trap - EXIT
    exec unshare --net -- env HUB_VM_OWN_NETNS=1 HUB_VM_IMAGE_BUILD_S="${IMAGE_BUILD_S:-0}" bash "$@"
}
trap vm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
