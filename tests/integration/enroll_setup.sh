# enroll_setup.sh -- a real hub-ca and a real hub-enroll for the enrollment page's tests,
# sourced by enroll.sh and enroll_browser.sh after lib.sh (root: the test is about accounts).
#
# Makes hub.conf with [ca] and [enroll] on a free loopback port, runs `hub-ca init` (which
# also makes the hub's TLS key and certificate, the page's by default), starts `hub-ca serve`
# (as hubca) and `hub-enroll` (started as root, it drops to hubenroll, the account hub-ca
# gives the enroll role), and issues partner2's enrollment password with hubctl ca password.
# Sets: conf, dir, url, ca_pem, page_ca, password, ENROLL_PID, ENROLL_LOG, CA_PID; admin()
# runs hubctl ca.
#
# With ENROLL_ON_HUB=1 the caller has made a hub first with lib.sh's hub_init and
# `--ca "$WORK/ca" --enroll 127.0.0.1:PORT` (tools/dev-init writes [ca] and [enroll] into
# $STATE/hub.conf): hub-ca and the page then run on that hub.conf, beside the caller's hubd.
# hub.pem is dev-init's there, so the page verifies with the dev CA (page_ca), while ca_pem
# is still hub-ca's CA.

need_binaries HUBCTL HUB_CA HUB_ENROLL
[[ $EUID -eq 0 ]] || skip "needs root: hub-ca and hub-enroll each switch to their own account"
for account in hubca hubenroll; do
    getent passwd "$account" >/dev/null ||
        skip "no '$account' account: run tools/setup (it makes hubca and hubenroll)"
done

if [[ "${ENROLL_ON_HUB:-0}" == 1 ]]; then
    conf="$STATE/hub.conf"
    dir="$WORK/ca"
    mkdir -p "$dir"
    chmod 0755 "$dir"  # hub-ca's account must reach its state directory inside.
    enroll_port="$(sed -n '/^\[enroll\]/,/^\[/s/^listen = "127\.0\.0\.1:\([0-9]*\)"$/\1/p' "$conf")"
    [[ -n "$enroll_port" ]] || fail "$conf has no [enroll] listen on 127.0.0.1 (hub_init --ca --enroll)"
    page_ca="$STATE/ca.pem"
else
make_work
dir="$WORK/box"
mkdir -p "$dir"
chmod 0755 "$dir"
read -r enroll_port < <(pick_ports 1)
conf="$dir/hub.conf"
cat >"$conf" <<CONF
[hub]
hostname = "localhost"
user = "hubbox"
[tls]
certificate = "tls/hub.pem"
key = "tls/hub.key"
client_ca = "tls/ca.pem"
[spool]
dir = "spool"
[partners]
file = "partners.toml"
[ca]
state_dir = "ca"
socket = "run/ca.sock"
public_dir = "public"
user = "hubca"
enroll_user = "hubenroll"
[enroll]
listen = "127.0.0.1:$enroll_port"
posts_per_minute = ${ENROLL_POSTS_PER_MINUTE:-60}
CONF
page_ca="$dir/public/ca.pem"
fi
url="https://localhost:$enroll_port"
ca_pem="$dir/public/ca.pem"
[[ "${ENROLL_ON_HUB:-0}" == 1 ]] || HUB_LOG="$WORK/hub-ca.log"  # No hubd: lib.sh shows hub-ca's.
ENROLL_LOG="$WORK/hub-enroll.log"
ENROLL_PID=""
admin() { "$HUBCTL" --config "$conf" ca "$@"; }

stop_enroll() {
    if [[ -n "$ENROLL_PID" ]] && kill -0 "$ENROLL_PID" 2>/dev/null; then
        kill -TERM "$ENROLL_PID" 2>/dev/null
        wait "$ENROLL_PID" 2>/dev/null
    fi
    ENROLL_PID=""
}

CA_PID=""
CA_LOG="$WORK/hub-ca.log"
enroll_exit() {
    local status=$?
    set +e  # Under set -e, "(exit 1)" below would end the trap before cleanup.
    stop_enroll
    if [[ -n "$CA_PID" ]] && kill -0 "$CA_PID" 2>/dev/null; then
        kill -TERM "$CA_PID" 2>/dev/null
        wait "$CA_PID" 2>/dev/null
    fi
    if [[ $status -ne 0 && $status -ne 77 && "$CA_LOG" != "$HUB_LOG" && -f "$CA_LOG" ]]; then
        echo "[$TEST_NAME] ---- last 20 lines of the hub-ca log ($CA_LOG) ----" >&2
        tail -n 20 "$CA_LOG" >&2
    fi
    if [[ $status -ne 0 && $status -ne 77 && -f "$ENROLL_LOG" ]]; then
        echo "[$TEST_NAME] ---- last 30 lines of the hub-enroll log ($ENROLL_LOG) ----" >&2
        tail -n 30 "$ENROLL_LOG" >&2
    fi
    (exit $status)
    cleanup
}
trap enroll_exit EXIT

"$HUB_CA" --config "$conf" init >"$WORK/init.log" 2>&1 || fail "hub-ca init:
$(cat "$WORK/init.log")"
"$HUB_CA" --config "$conf" serve 2>"$CA_LOG" &
CA_PID=$!
wait_until 60 "hub-ca ready" grep -q 'ready on' "$CA_LOG"

"$HUB_ENROLL" --config "$conf" 2>"$ENROLL_LOG" &
ENROLL_PID=$!
wait_until 60 "hub-enroll ready" grep -q 'ready: https://' "$ENROLL_LOG"
enroll_uid="$(id -u hubenroll)"
expect_match "hub-enroll runs as hubenroll" \
    "^Uid:[[:space:]]+$enroll_uid[[:space:]]+$enroll_uid[[:space:]]+$enroll_uid" \
    "$(cat "/proc/$ENROLL_PID/status")"
expect_match "hub-enroll NoNewPrivs" '^NoNewPrivs:[[:space:]]+1$' "$(cat "/proc/$ENROLL_PID/status")"

password="$(admin password partner2 2>/dev/null)" || fail "hubctl ca password partner2"
[[ ${#password} -eq 24 ]] || fail "enrollment password: expected 24 characters, got '$password'"
say "ok: hub-ca serves as hubca, hub-enroll on $url as hubenroll (uid $enroll_uid), password issued"

# ca_state: what an enrollment could change at hub-ca (requests, certificates, audit log).
ca_state() {
    admin requests --json
    admin list --json
    admin audit --json
}
