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
trap vm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
