#!/usr/bin/env bash
# netcfg.sh -- hub-netcfg against a real kernel, inside network namespaces made here (root):
#   - namespaces BOX (the hub: eth0, eth1) and PEER (its neighbours: 192.0.2.1 and .2 on
#     eth0's link, 198.51.100.1 on eth1's), joined by two veth pairs; BOX loads
#     rootfs/etc/nftables.conf, and `hub-netcfg serve` runs there as an unprivileged
#     account whose one capability is CAP_NET_ADMIN (as its unit has it on the box);
#   - addresses (IPv4 and IPv6), MTU, up/down, the default gateway and a static route, each
#     through `hub-netcfg ask` (netcfg::Client, as the console) and checked with
#     `ip -j addr` / `ip -j route` in BOX; a route waits while its interface is down;
#   - bad input (an invalid address, a prefix out of range, a gateway on no connected
#     network, a duplicate route) is refused with its message and changes nothing;
#   - network.conf applied by `hub-netcfg apply-saved --netns` in a fresh namespace pair gives the
#     same addresses, routes and access table, and when the kernel refuses one part (an
#     IPv6 address with IPv6 off) the others are applied all the same;
#   - the roll-back timer (3 s here): a change to the SSH session's address is undone when
#     not confirmed, and kept (and saved) when confirmed;
#   - service access: `nft -j list ruleset` in BOX has the rules, and a TCP connection from
#     PEER is let through or dropped by its source address (SSH and SMTP), and SSH off closes it;
#   - the probes (ping, TCP connect) and who may ask (SO_PEERCRED: root and the console's
#     account only);
#   - development mode: `serve --netns NAME` makes NAME and NAME-peer with a veth pair and
#     does everything inside NAME.
# The host's interfaces, routes and firewall are never touched.
source "$(dirname "$0")/lib.sh"
need_binaries HUB_NETCFG
[[ $EUID -eq 0 ]] || skip "needs root: it makes network namespaces"
command -v nft >/dev/null || skip "no nft: run tools/setup (nftables)"
command -v setpriv >/dev/null || skip "no setpriv: run tools/setup (util-linux)"
ip netns add "hubnc-probe-$$" 2>/dev/null || skip "cannot make network namespaces here"
ip netns del "hubnc-probe-$$"

make_work
BOX="hubnc-$$-box"
PEER="hubnc-$$-peer"
BOX2="hubnc-$$-box2"
PEER2="hubnc-$$-peer2"
DEV="hubnc-$$-dev"
SOCKET="$WORK/run/netcfg.sock"
HUB_LOG="$WORK/hub-netcfg.log"
LISTENERS=()

netcfg_cleanup() {
    local status=$?
    set +e
    local pid
    for pid in "${LISTENERS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if [[ -n "$HUBD_PID" ]]; then
        kill -TERM "$HUBD_PID" 2>/dev/null
        wait "$HUBD_PID" 2>/dev/null
        HUBD_PID=""
    fi
    local ns
    for ns in "$BOX" "$PEER" "$BOX2" "$PEER2" "$DEV" "$DEV-peer"; do
        ip netns del "$ns" 2>/dev/null
    done
    (exit "$status")
    cleanup
}
trap netcfg_cleanup EXIT

# make_pair BOX PEER: the two namespaces and their veth pairs, as described above.
make_pair() {
    local box="$1" peer="$2"
    ip netns add "$box"
    ip netns add "$peer"
    ip -n "$box" link add eth0 type veth peer name eth0 netns "$peer"
    ip -n "$box" link add eth1 type veth peer name eth1 netns "$peer"
    ip -n "$box" link set lo up
    ip -n "$peer" link set lo up
    ip -n "$peer" address add 192.0.2.1/24 dev eth0
    ip -n "$peer" address add 192.0.2.2/24 dev eth0
    ip -n "$peer" address add 2001:db8::1/64 dev eth0 nodad
    ip -n "$peer" address add 198.51.100.1/24 dev eth1
    ip -n "$peer" link set eth0 up
    ip -n "$peer" link set eth1 up
    ip netns exec "$box" nft -f "$SRC/rootfs/etc/nftables.conf"
}

ask() { "$HUB_NETCFG" ask --socket "$SOCKET" "$@"; }
# refused WHAT REGEX ASK-ARGS...: the request is refused with a message matching REGEX.
refused() {
    local what="$1" regex="$2"
    shift 2
    local out
    if out="$(ask "$@" 2>&1)"; then
        fail "$what: accepted, expected a refusal: $out"
    fi
    expect_match "$what" "$regex" "$out"
}

# facts NS: the state the test compares, one line each, from ip -j and nft -j.
facts() {
    local ns="$1"
    "$PYTHON" - "$(ip -n "$ns" -j addr)" "$(ip -n "$ns" -j route)" "$(ip -n "$ns" -6 -j route)" \
        "$(ip netns exec "$ns" nft -j list table inet hubbox_access)" <<'PY'
import json, sys
links, routes4, routes6, table = (json.loads(a) for a in sys.argv[1:5])
for link in sorted(links, key=lambda l: l["ifname"]):
    if link["ifname"] == "lo":
        continue
    up = "UP" in link["flags"]
    print(f'link {link["ifname"]} {"up" if up else "down"} mtu {link["mtu"]}')
    for a in link.get("addr_info", []):
        if a.get("scope") != "link":
            print(f'address {link["ifname"]} {a["local"]}/{a["prefixlen"]}')
for r in routes4 + routes6:
    if r.get("protocol") == "static":
        print(f'route {r["dst"]} via {r.get("gateway", "-")} dev {r.get("dev", "-")}')
for item in table["nftables"]:
    rule = item.get("rule")
    if rule:
        print("rule " + json.dumps(rule["expr"], sort_keys=True))
PY
}

# connects NS SOURCE ADDRESS PORT: a TCP connection from SOURCE in NS gets through (2 s).
connects() {
    ip netns exec "$1" "$PYTHON" - "$2" "$3" "$4" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(2)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], int(sys.argv[3])))
except OSError:
    sys.exit(1)
PY
}

# listen NS PORT: a TCP listener in NS that accepts and closes, in the background.
listen() {
    ip netns exec "$1" "$PYTHON" - "$2" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
for _ in range(200):
    try:
        c, _ = s.accept()
        c.close()
    except OSError:
        pass
PY
    LISTENERS+=($!)
}

say "namespaces $BOX and $PEER"
make_pair "$BOX" "$PEER"
host_routes_before="$(ip -j route; ip -j addr)"

# As on the box: an unprivileged account (nobody here, hubnet there) with CAP_NET_ADMIN as
# its one capability, in BOX. (The box's sysctl lets every group open ping sockets; a new
# namespace lets none.)
say "hub-netcfg serve in $BOX as nobody with only CAP_NET_ADMIN"
ip netns exec "$BOX" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
mkdir -p "$WORK/run" "$WORK/state"
chown nobody "$WORK/run" "$WORK/state"
ip netns exec "$BOX" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin \
    "$HUB_NETCFG" serve --socket "$SOCKET" --state-dir "$WORK/state" \
    --confirm-window-s 3 --console-user nobody >"$HUB_LOG" 2>&1 &
HUBD_PID=$!
wait_until 30 "hub-netcfg's socket" test -S "$SOCKET"
expect_eq "its capabilities (CAP_NET_ADMIN only)" "0000000000001000 0000000000001000" \
    "$(awk '/^CapEff|^CapBnd/ {print $2}' "/proc/$HUBD_PID/status" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "its uid" "65534" "$(awk '/^Uid/ {print $2}' "/proc/$HUBD_PID/status")"

say "interfaces, addresses, MTU, up/down"
expect_match "interfaces" '^interface eth0 [0-9a-f:]+ down ' "$(ask interfaces)"
ask link eth0 up >/dev/null
ask set-address eth0 192.0.2.10/24 >/dev/null
ask add-address eth0 2001:db8::10/64 >/dev/null
ask mtu eth0 1400 >/dev/null
ask link eth1 up >/dev/null
ask set-address eth1 198.51.100.2/24 >/dev/null
facts_now="$(facts "$BOX")"
expect_match "eth0 up, MTU 1400" '^link eth0 up mtu 1400$' "$facts_now"
expect_match "eth0's IPv4 address" '^address eth0 192.0.2.10/24$' "$facts_now"
expect_match "eth0's IPv6 address" '^address eth0 2001:db8::10/64$' "$facts_now"
expect_match "eth1's address" '^address eth1 198.51.100.2/24$' "$facts_now"
ask set-address eth0 192.0.2.11/24 >/dev/null
facts_now="$(facts "$BOX")"
expect_match "set-address replaces" '^address eth0 192.0.2.11/24$' "$facts_now"
expect_no_match "the old address is gone" '^address eth0 192.0.2.10/24$' "$facts_now"
expect_match "set-address keeps the other family" '^address eth0 2001:db8::10/64$' "$facts_now"
ask set-address eth0 192.0.2.10/24 >/dev/null

say "default gateway and a static route"
ask gateway 192.0.2.1 >/dev/null
ask gateway 2001:db8::1 >/dev/null
ask route-add 203.0.113.0/24 198.51.100.1 >/dev/null
facts_now="$(facts "$BOX")"
expect_match "IPv4 default route" '^route default via 192.0.2.1 dev eth0$' "$facts_now"
expect_match "IPv6 default route" '^route default via 2001:db8::1 dev eth0$' "$facts_now"
expect_match "static route" '^route 203.0.113.0/24 via 198.51.100.1 dev eth1$' "$facts_now"
expect_match "routes listing" '^route 203.0.113.0/24 via 198.51.100.1 dev eth1 proto static managed$' \
    "$(ask routes)"
ask link eth1 down >/dev/null
facts_now="$(facts "$BOX")"
expect_match "eth1 down" '^link eth1 down mtu' "$facts_now"
expect_no_match "the route waits while eth1 is down" '^route 203.0.113.0/24' "$facts_now"
expect_match "but stays in the settings" '^route 203.0.113.0/24 via 198.51.100.1$' \
    "$(cat "$WORK/state/network.conf")"
ask link eth1 up >/dev/null
expect_match "the route is back with eth1" '^route 203.0.113.0/24 via 198.51.100.1 dev eth1$' \
    "$(facts "$BOX")"

say "bad input is refused and changes nothing"
before="$(facts "$BOX"; cat "$WORK/state/network.conf")"
refused "an invalid address" 'refused \(invalid_value\).*"192\.0\.2\.300" is not an IPv4 or IPv6 address' \
    set-address eth0 192.0.2.300/24
refused "a prefix out of range" 'prefix length 33 is out of range: an IPv4 prefix is 0\.\.32' \
    set-address eth0 192.0.2.10/33
refused "a gateway on no connected network" 'refused \(conflict\).*not on any connected network' \
    gateway 203.0.113.1
refused "a duplicate route" 'refused \(conflict\): the route 203\.0\.113\.0/24 via 198\.51\.100\.1 exists already' \
    route-add 203.0.113.0/24 198.51.100.1
refused "a second route to one destination" 'two routes to 203\.0\.113\.0/24' \
    route-add 203.0.113.0/24 192.0.2.2
refused "an MTU out of range" 'MTU 100 is out of range 1280\.\.9216' mtu eth0 100
refused "no such interface" 'refused \(not_found\): there is no interface eth7' link eth7 up
refused "an address the route needs" 'the gateway is not on any connected network' \
    delete-address eth1 198.51.100.2/24
expect_eq "nothing changed by the refusals" "$before" "$(facts "$BOX"; cat "$WORK/state/network.conf")"

say "service access: nft rules and connections from $PEER"
ask ssh on >/dev/null
ask access ssh 192.0.2.1/32 >/dev/null
ask access smtp 192.0.2.2/32 2001:db8::/64 >/dev/null
ruleset="$(ip netns exec "$BOX" nft -j list ruleset)"
rules="$("$PYTHON" - "$ruleset" <<'PY'
import json, sys
for item in json.loads(sys.argv[1])["nftables"]:
    rule = item.get("rule")
    if rule and rule["table"] == "hubbox_access":
        text = json.dumps(rule["expr"], sort_keys=True)
        port = "22" if '"right": 22' in text else "smtp" if "465" in text else "443" if "443" in text else "?"
        nets = [e["match"]["right"] for e in rule["expr"]
                if "match" in e and e["match"]["left"].get("payload", {}).get("field") == "saddr"]
        print(port, rule["family"], rule.get("comment", ""), json.dumps(nets, sort_keys=True))
PY
)"
show "$rules"
expect_match "the SSH rule" '^22 inet ssh \["192.0.2.1"\]$' "$rules"
expect_match "the SMTP rule (IPv4)" '^smtp inet smtp .*"192.0.2.2"' "$rules"
expect_match "the SMTP rule (IPv6)" '^smtp inet smtp .*"addr": "2001:db8::", "len": 64' "$rules"
expect_match "the enrollment rule" '^443 inet enrollment \[\]$' "$rules"
listen "$BOX" 22
listen "$BOX" 25
wait_until 10 "the listeners in $BOX" bash -c \
    "[[ \$(ip netns exec $BOX ss -Hltn '( sport = :22 or sport = :25 )' | wc -l) -ge 2 ]]"
connects "$PEER" 192.0.2.1 192.0.2.10 22 || fail "SSH from 192.0.2.1 (allowed) was dropped"
! connects "$PEER" 192.0.2.2 192.0.2.10 22 || fail "SSH from 192.0.2.2 (not allowed) got through"
connects "$PEER" 192.0.2.2 192.0.2.10 25 || fail "SMTP from 192.0.2.2 (allowed) was dropped"
! connects "$PEER" 192.0.2.1 192.0.2.10 25 || fail "SMTP from 192.0.2.1 (not allowed) got through"
connects "$PEER" 2001:db8::1 2001:db8::10 25 || fail "SMTP from 2001:db8::1 (allowed) was dropped"
ask access ssh 192.0.2.0/24 >/dev/null
connects "$PEER" 192.0.2.2 192.0.2.10 22 || fail "SSH from 192.0.2.2 (now allowed) was dropped"
ask ssh off >/dev/null
! connects "$PEER" 192.0.2.1 192.0.2.10 22 || fail "SSH got through while switched off"
ask ssh on >/dev/null
connects "$PEER" 192.0.2.1 192.0.2.10 22 || fail "SSH from 192.0.2.1 dropped after ssh on"

say "the roll-back timer"
session="192.0.2.1 40000 192.0.2.10 22"
out="$(ask --session "$session" set-address eth0 192.0.2.20/24)"
expect_match "a risky change gets a token" '^token [0-9a-f]{16} [1-3]$' "$out"
expect_match "it says why" 'the SSH session arrives on eth0' "$out"
expect_match "the new address is live" '^address eth0 192.0.2.20/24$' "$(facts "$BOX")"
expect_match "network.conf still has the old one" '^address eth0 192.0.2.10/24$' \
    "$(cat "$WORK/state/network.conf")"
refused "another change waits" 'refused \(pending\)' mtu eth0 1500
old_address_back() { facts "$BOX" | grep -qx 'address eth0 192.0.2.10/24'; }
wait_until 15 "the roll-back to 192.0.2.10" old_address_back
expect_no_match "the unconfirmed address is gone" '^address eth0 192.0.2.20/24$' "$(facts "$BOX")"
expect_match "the gateway survived the roll-back" '^route default via 192.0.2.1 dev eth0$' \
    "$(facts "$BOX")"
expect_match "the roll-back is logged" 'not confirmed within 3 s; rolled back' "$(cat "$HUB_LOG")"
out="$(ask --session "$session" set-address eth0 192.0.2.20/24)"
token="$(awk '/^token / {print $2}' <<<"$out")"
ask --session "192.0.2.1 40001 192.0.2.20 22" confirm "$token" >/dev/null
sleep 4  # Past the window: a confirmed change stays.
expect_match "the confirmed address stays" '^address eth0 192.0.2.20/24$' "$(facts "$BOX")"
expect_match "and is saved" '^address eth0 192.0.2.20/24$' "$(cat "$WORK/state/network.conf")"
refused "a token twice" 'refused \(not_found\)' confirm "$token"
out="$(ask --always mtu eth1 1400)"
token="$(awk '/^token / {print $2}' <<<"$out")"
[[ -n "$token" ]] || fail "--always gave no token: $out"
ask revert "$token" >/dev/null
expect_match "revert restores at once" '^link eth1 up mtu 1500$' "$(facts "$BOX")"

say "probes"
expect_match "ping" 'replies from 192.0.2.1' "$(ask ping 192.0.2.1 2 2)"
expect_match "ping IPv6" 'replies from 2001:db8::1' "$(ask ping 2001:db8::1 2 2)"
if out="$(ask ping 192.0.2.99 1 1)"; then fail "ping to nobody answered: $out"; fi
expect_match "ping to nobody" 'no reply from 192.0.2.99' "$out"
listen "$PEER" 2525
wait_until 10 "the partner's listener in $PEER" bash -c \
    "[[ \$(ip netns exec $PEER ss -Hltn 'sport = :2525' | wc -l) -ge 1 ]]"
expect_match "tcp to the partner's connector" '^connected to 192\.0\.2\.1:2525 in [0-9]+ ms$' \
    "$(ask tcp 192.0.2.1 2525 2)"
if out="$(ask tcp 192.0.2.1 9 2)"; then fail "tcp to a closed port connected: $out"; fi
expect_match "tcp to a closed port" 'Connection refused' "$out"

say "who may ask"
out="$(runuser -u nobody -- "$HUB_NETCFG" ask --socket "$SOCKET" status 2>&1)" ||
    fail "the console's account (nobody here) was refused: $out"
if out="$(runuser -u daemon -- "$HUB_NETCFG" ask --socket "$SOCKET" status 2>&1)"; then
    fail "another account was answered: $out"
fi
expect_match "another account" 'refused \(not_permitted\)' "$out"

say "resolvers and host name"
ask resolvers 192.0.2.53 2001:db8::53 >/dev/null
ask hostname hub-test >/dev/null
expect_eq "resolv.conf" $'# resolv.conf -- written by hub-netcfg from network.conf.\nnameserver 192.0.2.53\nnameserver 2001:db8::53' \
    "$(cat "$WORK/state/resolv.conf")"
expect_eq "hostname" "hub-test" "$(cat "$WORK/state/hostname")"

say "network.conf applied to a fresh namespace pair gives the same state"
make_pair "$BOX2" "$PEER2"
mkdir -p "$WORK/state2"
cp "$WORK/state/network.conf" "$WORK/state2/"
"$HUB_NETCFG" apply-saved --netns "$BOX2" --state-dir "$WORK/state2" >"$WORK/apply.log" 2>&1 ||
    fail "apply-saved: $(cat "$WORK/apply.log")"
expect_eq "the same addresses, routes and access rules" "$(facts "$BOX")" "$(facts "$BOX2")"
show "$(facts "$BOX2" | grep -v '^rule')"

say "apply-saved: a part the kernel refuses does not stop the others"
ip netns exec "$BOX2" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1  # IPv6 addresses refused.
ip -n "$BOX2" address flush dev eth0
ip netns exec "$BOX2" nft delete table inet hubbox_access
if "$HUB_NETCFG" apply-saved --netns "$BOX2" --state-dir "$WORK/state2" >"$WORK/apply.log" 2>&1; then
    fail "apply-saved succeeded although the kernel refused an IPv6 address"
fi
expect_match "the refusal is reported" 'add address 2001:db8::10/64 to eth0: the kernel refused' \
    "$(cat "$WORK/apply.log")"
expect_match "the IPv4 address is there all the same" '^address eth0 192.0.2.20/24$' "$(facts "$BOX2")"
expect_match "and the access table" 'comment "ssh"' \
    "$(ip netns exec "$BOX2" nft list table inet hubbox_access)"

say "development mode: serve --netns makes its namespace pair and works inside it"
"$HUB_NETCFG" serve --netns "$DEV" --socket "$WORK/dev.sock" --state-dir "$WORK/dev-state" \
    --base-ruleset "$SRC/rootfs/etc/nftables.conf" >"$WORK/dev.log" 2>&1 &
dev_pid=$!
wait_until 30 "the development socket" test -S "$WORK/dev.sock"
dev_ask() { "$HUB_NETCFG" ask --socket "$WORK/dev.sock" "$@"; }
dev_ask link eth0 up >/dev/null
dev_ask set-address eth0 192.0.2.10/24 >/dev/null
expect_match "the development box's address" '^address eth0 192.0.2.10/24$' "$(facts "$DEV")"
expect_match "its neighbour answers" '1 of 1 replies from 192.0.2.1' "$(dev_ask ping 192.0.2.1 1 2)"
expect_match "its base firewall" 'meta mark 0x00004842 accept' \
    "$(ip netns exec "$DEV" nft list table inet hubbox)"
out="$(dev_ask --always set-address eth0 192.0.2.11/24)"
expect_match "a change waiting for confirmation" '^token ' "$out"
expect_match "is live" '^address eth0 192.0.2.11/24$' "$(facts "$DEV")"
kill -TERM "$dev_pid"
wait "$dev_pid" || fail "the development hub-netcfg did not stop cleanly: $(cat "$WORK/dev.log")"
expect_match "stopping drops the unconfirmed change" '^address eth0 192.0.2.10/24$' "$(facts "$DEV")"
expect_match "and says so" 'not confirmed before hub-netcfg stopped' "$(cat "$WORK/dev.log")"

say "the host was not touched"
expect_eq "host routes and addresses" "$host_routes_before" "$(ip -j route; ip -j addr)"
say "PASS"
