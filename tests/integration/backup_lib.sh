# shellcheck shell=bash
# backup_lib.sh -- what the backup tests share (source after lib.sh, and postfix/lib.sh if
# used): a box with everything a backup holds, hub-ca started and stopped, and table-by-table
# dumps of the SQLite databases.
#
#   backup_box_init [hub_init options...]  $STATE with the directory (dev-init --directory),
#                                          hub-ca's CA (relative paths in hub.conf, so the
#                                          state directory can move), network/ and snmp/
#                                          trees, and a passphrase file ($PASSFILE)
#   ca_start [CONF] / ca_stop              hub-ca serve, its pid in CA_PID
#   sqlite_tables DB                       every table, dumped in rowid order
#   tree_listing DIR                       path, owner, group, mode, sha256 of each entry

need_backup_accounts() {
    [[ $EUID -eq 0 ]] || skip "needs root: the CA's files belong to hubca"
    local account
    for account in hubca hubenroll hubbox; do
        getent passwd "$account" >/dev/null ||
            skip "no '$account' account: run tools/setup (it makes hubca, hubenroll, hubbox)"
    done
    command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
}

CA_PID=""
backup_cleanup() {
    local status=$?
    set +e
    if [[ -n "$CA_PID" ]] && kill -0 "$CA_PID" 2>/dev/null; then
        kill -TERM "$CA_PID" 2>/dev/null
        wait "$CA_PID" 2>/dev/null
    fi
    if declare -F postfix_cleanup >/dev/null; then
        (exit "$status")
        postfix_cleanup
    else
        (exit "$status")
        cleanup
    fi
}
trap backup_cleanup EXIT

PASSPHRASE="backup test passphrase, long enough"
backup_box_init() {
    hub_init --directory "$@"
    cat >>"$STATE/hub.conf" <<'CONF'

[ca]
state_dir = "ca"
socket = "run/ca.sock"
public_dir = "ca-public"
user = "hubca"
enroll_user = "hubenroll"

[backup]
network_dir = "network"
snmp_dir = "snmp"
CONF
    "$HUB_CA" --config "$STATE/hub.conf" init >"$WORK/ca-init.log" 2>&1 ||
        fail "hub-ca init: $(cat "$WORK/ca-init.log")"
    # Custom network state, as hub-netcfg would keep it (any content is backed up as is).
    mkdir -p "$STATE/network/firewall" "$STATE/snmp"
    printf '[link.eth0]\naddress = "192.0.2.10/24"\ngateway = "192.0.2.1"\nmtu = 1400\n' \
        >"$STATE/network/interfaces.toml"
    printf '[dns]\nservers = ["192.0.2.53"]\n' >"$STATE/network/resolv.toml"
    printf 'table inet hubbox { chain input { tcp dport 2222 accept } }\n' \
        >"$STATE/network/firewall/extra.nft"
    chmod 0640 "$STATE/network/interfaces.toml"
    printf 'agentaddress udp:127.0.0.1:10161\nrocommunity notpublic 127.0.0.1\n' \
        >"$STATE/snmp/snmpd.local.conf"
    PASSFILE="$WORK/passphrase"
    printf '%s\n' "$PASSPHRASE" >"$PASSFILE"
    chmod 0600 "$PASSFILE"
}

ca_start() {
    local conf="${1:-$STATE/hub.conf}"
    "$HUB_CA" --config "$conf" serve 2>>"$WORK/hub-ca.log" &
    CA_PID=$!
    local socket
    socket="$(dirname "$conf")/run/ca.sock"
    wait_until 60 "hub-ca's socket" test -S "$socket"
    wait_until 60 "hub-ca ready" grep -q 'ready on' "$WORK/hub-ca.log"
}

ca_stop() {
    [[ -n "$CA_PID" ]] || return 0
    kill -TERM "$CA_PID" 2>/dev/null || true
    wait "$CA_PID" 2>/dev/null || true
    CA_PID=""
    : >"$WORK/hub-ca.log"
}

sqlite_tables() {
    local db="$1" table
    for table in $(sqlite3 -readonly "$db" \
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"); do
        echo "== $table"
        sqlite3 -readonly -header "$db" "SELECT * FROM \"$table\" ORDER BY rowid"
    done
    echo "== user_version $(sqlite3 -readonly "$db" 'PRAGMA user_version')"
}

tree_listing() {
    (cd "$1" && find . -mindepth 1 -printf '%P %u %g %m %y\n' | sort) || true
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) || true
}
