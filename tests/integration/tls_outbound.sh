#!/usr/bin/env bash
# tls_outbound.sh -- outbound TLS endpoint policies (hub as client) against a real Postfix
# partner, the policies managed live by hubctl tls-endpoint on the directory:
#   1. verified chain and name (the default): delivered, Postfix sees the hub's certificate;
#   2. wrong name (a policy naming mx.elsewhere.example): not delivered, the failure logged,
#      the message stays queued; delivered once the policy is unassigned;
#   3. pinned fingerprint: the partner's real SHA-256 delivers, a wrong one does not;
#   4. a partner serving a self-signed certificate: refused under the hub CA, delivered
#      under a policy verifying against it as a named trust anchor (hubctl trust add);
#   5. no STARTTLS: never delivered under the default; delivered in clear text only under an
#      explicit opportunistic policy, and then remembered as failing TLS: in hubd's snapshot,
#      and in the directory by hubctl tls-failures record, whose "since" outlives a hubd
#      restart;
#   6. implicit TLS: the partner's smtpd in wrapper mode (port 465 style); delivered with
#      --out-mode implicit, after which the directory forgets partner2's TLS failures.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
need_binaries HUBD HUBCTL
need_postfix

read -r P2_PORT P2S_PORT < <(pick_ports 2)
hub_init --directory --partner2-outbound "$P2_PORT" --retry-delay 1
hub_start
hubctl_dir() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
tls_change() {
    local out
    out="$(hubctl_dir "$@" 2>&1)" || fail "hubctl $*: $out"
    expect_match "hubctl $1 $2: hubd reloaded" 'hubd reloaded' "$out"
}
# partner2 (re)started with these options; a restart reloads it in place, keeping its port.
start_partner2() {
    partner_restart partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
        --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" --cert "$STATE/partner2.pem" \
        --key "$STATE/partner2.key" "$@"
}
start_partner2
P2="$(partner_dir partner2)"

SENT=0
# send SUBJECT: alice at partner1 -> joe at partner2, through the hub (queued); MARK is the
# hub log's length before it.
send() {
    local out
    MARK="$(wc -l <"$HUB_LOG")"
    out="$(timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo mx.partner1.gov.uk \
        --tls-cert "$STATE/partner1.pem" --tls-key "$STATE/partner1.key" \
        --from alice@partner1.gov.uk --to joe@partner2.gov.uk.lgolhub.net \
        --header "Subject: $1" 2>&1)" || true
    expect_match "$1: queued at the hub" '<~ +250 2\.0\.0 Ok: queued as' "$out"
    SENT=$((SENT + 1))
}
delivered() { partner count "$P2" joe; }
expect_delivered() {
    wait_until 60 "$1: $SENT message(s) in joe's Maildir" \
        bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge $SENT ]]"
    say "ok: $1: delivered"
}
FAILURES=0
# expect_not_delivered WHAT REGEX: since the last send, a "delivery to ... failed" line
# matching REGEX; the message still queued and not in joe's Maildir.
expect_not_delivered() {
    local pattern="delivery to .* failed: .*$2"
    wait_until 60 "$1: a failed delivery logged" \
        bash -c "tail -n +$((MARK + 1)) '$HUB_LOG' | grep -qE -- '$pattern'"
    FAILURES=$((FAILURES + 1))
    local line
    line="$(tail -n +$((MARK + 1)) "$HUB_LOG" | grep -E -- "$pattern" | tail -n1)"
    [[ "$(delivered)" -lt "$SENT" ]] || fail "$1: delivered although the policy forbids it"
    [[ "$(queue_count)" -ge 1 ]] || fail "$1: the message is no longer queued"
    say "ok: $1: not delivered: ${line#*failed: }"
}
retry_now() { hubctl_dir queue retry ALL >/dev/null 2>&1 || true; }

# --- 1. verified chain and name ----------------------------------------------------------------
send "default policy"
expect_delivered "verified chain to the hub CA, name partner2.gov.uk"
expect_match "partner2 saw the hub's trusted client certificate" \
    'Trusted TLS connection established from' "$(partner_log partner2)"

# --- 2. wrong name -------------------------------------------------------------------------------
tls_change tls-endpoint create wrongname --out-server-name mx.elsewhere.example
tls_change tls-endpoint assign wrongname --partner partner2
send "wrong name"
expect_not_delivered "server name mx.elsewhere.example" 'TLS with .* failed.*name mismatch'
tls_change tls-endpoint assign wrongname --unassign --partner partner2
retry_now
expect_delivered "the queued message after the policy was unassigned"

# --- 3. pinned fingerprint -----------------------------------------------------------------------
pin="$(openssl x509 -in "$STATE/partner2.pem" -outform DER | sha256sum | cut -d' ' -f1)"
tls_change tls-endpoint create pinned --out-verify pin --out-pin "$pin"
tls_change tls-endpoint assign pinned --partner partner2
send "pinned"
expect_delivered "pinned to partner2's certificate ($pin)"
tls_change tls-endpoint edit pinned --out-pin "$(printf 'ab%.0s' {1..32})"
send "wrong pin"
expect_not_delivered "a pin that is not partner2's" 'TLS with .* failed.*pin'
tls_change tls-endpoint edit pinned --out-pin "$pin"
retry_now
expect_delivered "the queued message once the pin is right again"
tls_change tls-endpoint assign pinned --unassign --partner partner2

# --- 4. a named trust anchor ---------------------------------------------------------------------
start_partner2 --cert-untrusted
send "self-signed partner, hub CA"
expect_not_delivered "a self-signed server certificate under the hub CA" 'TLS with .* failed'
tls_change trust add partner2-self "$P2/etc/tls/server.pem"
tls_change tls-endpoint create own-ca --out-trust-anchor partner2-self \
    --out-server-name mx.partner2.gov.uk
tls_change tls-endpoint assign own-ca --partner partner2
retry_now
expect_delivered "verified against the trust anchor partner2-self"
tls_change tls-endpoint assign own-ca --unassign --partner partner2

# --- 5. no STARTTLS, and opportunistic TLS --------------------------------------------------------
start_partner2 --no-starttls
send "no STARTTLS"
expect_not_delivered "a partner that offers no STARTTLS" 'no STARTTLS'
tls_change tls-endpoint create opportunistic --out-require-tls false --out-verify none
tls_change tls-endpoint assign opportunistic --partner partner2
retry_now
expect_delivered "opportunistic TLS, the partner without STARTTLS (clear text)"
# The hub remembers that partner2 fails TLS, and since when (the health snapshot).
out="$(hubctl_dir status 2>&1)" || fail "hubctl status: $out"
expect_match "hubctl status: partner2 failing TLS" '^partner2: outbound TLS failing since ' "$out"
expect_match "hubctl status: the clear-text delivery is the last TLS failure" \
    'partner2: last TLS failure .*delivered in clear text \(opportunistic TLS\)' "$out"
since="$(hubctl_dir status --json | "$PYTHON" -c '
import json, sys
rows = [p for p in json.load(sys.stdin)["partners"] if p["name"] == "partner2"]
print(rows[0]["tls_failing_out_since_unix_ms"])')"
[[ "$since" -gt 0 ]] || fail "status --json: partner2 has no tls_failing_out_since_unix_ms"
say "ok: partner2 remembered as failing TLS since $since (Unix ms)"
# The directory remembers it too (hubctl tls-failures record; hub-tls-record.timer on a box).
record() {
    local out
    out="$(hubctl_dir tls-failures record 2>&1)" || fail "hubctl tls-failures record: $out"
    printf '%s\n' "$out"
}
# remembered: partner2's row in the directory as "since count partner", or "none".
remembered() {
    hubctl_dir tls-failures list --json | "$PYTHON" -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["peer"] == "partner2"]
print(" ".join(str(rows[0][k]) for k in ("since_unix_s", "count", "partner")) if rows else "none")'
}
expect_eq "nothing remembered in the directory before a record" none "$(remembered)"
out="$(record)"
expect_match "tls-failures record: partner2 remembered" \
    '^partner2: outbound TLS failing since .*delivered in clear text.*remembered' "$out"
read -r dir_since dir_count dir_partner < <(remembered)
expect_eq "the directory's since is hubd's (in seconds)" "$((since / 1000))" "$dir_since"
expect_eq "the row names the directory's partner" partner2 "$dir_partner"
expect_match "tls-failures list: the last reason" \
    '^partner2 +partner2 .*delivered in clear text' "$(hubctl_dir tls-failures list)"
expect_match "hubctl status shows the directory's row" \
    '^remembered \(directory\): partner2 failing outbound TLS since ' "$(hubctl_dir status)"
out="$(record)"
expect_eq "a second record with nothing new says nothing" "" "$out"
say "ok: the directory remembers partner2 failing TLS since $dir_since (count $dir_count)"
# hubd restarts, forgetting; it fails TLS again and the next record keeps the directory's since.
hub_stop
sleep 1.2  # hubd's new "since" is then a later second than the directory's.
hub_start
send "no STARTTLS after a restart"
expect_delivered "opportunistic TLS after a hubd restart, clear text again"
new_since="$(hubctl_dir status --json | "$PYTHON" -c '
import json, sys
rows = [p for p in json.load(sys.stdin)["partners"] if p["name"] == "partner2"]
print(rows[0]["tls_failing_out_since_unix_ms"] if rows else 0)')"
[[ $((new_since / 1000)) -gt "$dir_since" ]] ||
    fail "hubd's since after the restart ($new_since ms) is not later than $dir_since s"
record >/dev/null
read -r dir_since_after dir_count_after _ < <(remembered)
expect_eq "the directory's since survived the hubd restart" "$dir_since" "$dir_since_after"
[[ "$dir_count_after" -gt "$dir_count" ]] ||
    fail "the count did not grow after the restart ($dir_count -> $dir_count_after)"
say "ok: after a hubd restart: since still $dir_since_after, count $dir_count_after"
tls_change tls-endpoint assign opportunistic --unassign --partner partner2

# --- 6. implicit TLS -----------------------------------------------------------------------------
start_partner2 --smtps-port "$P2S_PORT"
tls_change connector set partner2 --outbound "127.0.0.1:$P2S_PORT"
tls_change tls-endpoint create implicit --out-mode implicit
tls_change tls-endpoint assign implicit --partner partner2
send "implicit TLS"
expect_delivered "implicit TLS to the wrapper-mode smtpd on $P2S_PORT"
since="$(hubctl_dir status --json | "$PYTHON" -c '
import json, sys
rows = [p for p in json.load(sys.stdin)["partners"] if p["name"] == "partner2"]
print(rows[0]["tls_failing_out_since_unix_ms"])')"
expect_eq "partner2 no longer failing TLS once a TLS delivery succeeded" 0 "$since"
expect_match "tls-failures record: partner2 forgotten once TLS works" \
    '^partner2: outbound TLS works again, forgotten' "$(record)"
expect_eq "the directory no longer remembers partner2" none "$(remembered)"
expect_match "the hub delivered over verified TLS to the wrapper-mode port" \
    "relay=partner2\.gov\.uk\[127\.0\.0\.1\]:$P2S_PORT, .*tls=verified TLSv1\.[23] .*status=sent" \
    "$(cat "$HUB_LOG")"
say "ok: $SENT messages, $FAILURES refused deliveries, each as the policy says"
