#!/usr/bin/env bash
# kernel_config_test.sh -- kernel-config/check against made-up configs and Debian's own.
#   - a config made from the fragment's own values passes;
#   - the same with io_uring disabled fails, naming CONFIG_IO_URING (and only it);
#   - =m where the fragment says "module ok" passes; =m for a y-only option fails;
#   - a required "is not set" option switched on fails;
#   - Debian's kernel config passes: /boot/config-* when present, else the one the image
#     build kept (HUB_APPLIANCE_DIR/kernel.config); skipped with a note when neither exists.
set -euo pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
CHECK="$SRC/kernel-config/check"
FRAGMENT="$SRC/kernel-config/hubbox.config"
work="$(mktemp -d "${TMPDIR:-/tmp}/hubbox-kconfig.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say() { echo "[kernel_config] $*"; }
fail() {
    echo "[kernel_config] FAIL: $*" >&2
    exit 1
}

# The fragment's own settings, as a kernel would write them.
sed -nE 's/^(CONFIG_[A-Za-z0-9_]+=[^ \t#]+).*/\1/p; s/^(# CONFIG_[A-Za-z0-9_]+ is not set).*/\1/p' \
    "$FRAGMENT" >"$work/good.config"
[[ $(wc -l <"$work/good.config") -gt 50 ]] || fail "too few options read from $FRAGMENT"

expect() {  # expect WHAT STATUS CONFIG [REGEX]
    local what="$1" want_status="$2" config="$3" regex="${4:-}" status=0 out
    out="$("$CHECK" "$config" 2>&1)" || status=$?
    [[ $status -eq $want_status ]] || fail "$what: exit $status, want $want_status:
$out"
    if [[ -n "$regex" ]] && ! grep -Eq -- "$regex" <<<"$out"; then
        fail "$what: output does not match /$regex/:
$out"
    fi
    say "ok: $what (exit $status)"
    LAST_OUT="$out"
}

expect "the fragment's own values" 0 "$work/good.config"

sed 's/^CONFIG_IO_URING=y$/# CONFIG_IO_URING is not set/' "$work/good.config" >"$work/no-uring.config"
expect "io_uring disabled" 1 "$work/no-uring.config" '^wrong +CONFIG_IO_URING: want y, have n'
[[ $(grep -Ec '^(missing|wrong) ' <<<"$LAST_OUT") -eq 1 ]] || fail "more than io_uring reported:
$LAST_OUT"
grep -v '^CONFIG_IO_URING=' "$work/good.config" >"$work/no-uring-line.config"
expect "io_uring absent" 1 "$work/no-uring-line.config" '^missing CONFIG_IO_URING: want y'

sed 's/^CONFIG_NF_TABLES=.*/CONFIG_NF_TABLES=y/; s/^CONFIG_EXT4_FS=.*/CONFIG_EXT4_FS=m/' \
    "$work/good.config" >"$work/modules.config"
expect "=y and =m where module ok" 0 "$work/modules.config"
sed 's/^CONFIG_SECCOMP_FILTER=y/CONFIG_SECCOMP_FILTER=m/' "$work/good.config" >"$work/m.config"
expect "=m where y is required" 1 "$work/m.config" '^wrong +CONFIG_SECCOMP_FILTER: want y, have m'
{ grep -v 'CONFIG_COMPAT_BRK' "$work/good.config"; echo CONFIG_COMPAT_BRK=y; } >"$work/brk.config"
expect "a required-off option on" 1 "$work/brk.config" '^wrong +CONFIG_COMPAT_BRK: want not set'
gzip -c "$work/no-uring.config" >"$work/no-uring.config.gz"
expect "a gzipped config (/proc/config.gz)" 1 "$work/no-uring.config.gz" 'CONFIG_IO_URING'

debian_config=""
for candidate in /boot/config-*-amd64 "${HUB_APPLIANCE_DIR:-$SRC/build/appliance}/kernel.config"; do
    if [[ -r "$candidate" ]]; then
        debian_config="$candidate"
        break
    fi
done
if [[ -n "$debian_config" ]]; then
    expect "Debian's kernel config $debian_config" 0 "$debian_config"
    grep -E '^(wrong|missing) ' <<<"$LAST_OUT" | sed 's/^/[kernel_config]   recommended: /' || true
else
    say "note: no Debian kernel config here (/boot/config-*-amd64, or build/appliance/" \
        "kernel.config after appliance/build); that part was not checked"
fi
say "PASS"
