#!/usr/bin/env bash
# directory.sh -- the partner directory through the real hubctl and hubd:
#   - tools/dev-init --directory seeds both sample partners (an audited import) and hubd
#     relays for them from the directory (swaks, 250);
#   - bad input to hubctl (an invalid CIDR, an unknown partner, a domain another partner
#     owns, a malformed pin, ...) exits non-zero with a message saying what to fix and leaves
#     directory.db byte-identical (sha256 before and after);
#   - partner add (a third partner known by source address 127.0.0.3) and partner suspend
#     while hubd is stopped (hubctl says they apply at the next start; the live reload is
#     tests/integration/reload.sh), applied at the next start: the new partner sends, the
#     suspended one's domain is unknown (550 5.1.2) and its certificate no longer
#     identifies anybody;
#   - the audit log holds every change with its before and after, as text and --json.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init --directory
DB="$STATE/directory.db"
[[ -f "$DB" ]] || fail "dev-init --directory made no $DB"
expect_no_match "hub.conf names no partners.toml" '^file = "partners.toml"' "$(cat "$STATE/hub.conf")"
hubctl_dir() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }

out="$(hubctl_dir partner list)"
expect_match "partner list: partner1" '^partner1 +active +partner1\.gov\.uk +127\.0\.0\.0/8 ' "$out"
expect_match "partner list: partner2" '^partner2 +active +partner2\.gov\.uk ' "$out"
hub_start
out="$(swaks_hub --port "$SMTP_PORT" --tls)" || fail "relay from the directory's partner1:
$out"
expect_match "partner1 -> partner2 from the directory" '<~ +250 2\.0\.0 .*queued as' "$out"
say "ok: hubd relays for the partners the directory holds"
hub_stop

# --- Bad input: what to fix, exit 1, not one byte changed ------------------------------------
pin64="$(printf 'ab%.0s' {1..32})"
bad_cases=(
    "inbound \"10.0.0.0/33\": must be a network|partner add p3 --domain p3.example --outbound 127.0.0.1 --inbound 10.0.0.0/33"
    "domain partner2.gov.uk is owned by partner partner2; remove it there first|partner add p3 --domain PARTNER2.gov.uk --outbound 127.0.0.1"
    "outbound pin \"ab:cd\": must be 64 hex digits|partner add p3 --domain p3.example --outbound 127.0.0.1 --pin ab:cd"
    "partner nobody: no such partner|partner edit nobody --contact x"
    "partner nobody: no such partner|connector set nobody --outbound 127.0.0.1:25"
    "partner nobody: no such partner|partner suspend nobody"
    "domain partner1.gov.uk is owned by partner partner1|domain add partner2 partner1.gov.uk"
    "partner partner1: does not own partner2.gov.uk|domain remove partner1 partner2.gov.uk"
    "partner partner1 is active but owns no domain|domain remove partner1 partner1.gov.uk"
    "outbound \"mx.example:25\": must be|connector set partner1 --outbound mx.example:25"
    "partner p3 is active but has no outbound connector|partner add p3 --domain p3.example"
    "partner partner1: exists already|partner add partner1 --domain p3.example --outbound 127.0.0.1"
    "partner partner2: already active|partner resume partner2"
    "an outbound name or pin needs an outbound connector|partner add p3 --pending --domain p3.example --pin $pin64"
    "partner partner1 is already in the directory; nothing was imported|partner import $STATE/partners.toml"
)
for case in "${bad_cases[@]}"; do
    message="${case%%|*}"
    read -ra args <<<"${case#*|}"
    before="$(sha256sum <"$DB")"
    wal_before="$(sha256sum <"$DB-wal")"
    status=0
    out="$(hubctl_dir "${args[@]}" 2>&1)" || status=$?
    [[ $status -eq 1 ]] || fail "hubctl ${args[*]}: exit $status, expected 1:
$out"
    [[ "$out" == *"$message"* ]] || fail "hubctl ${args[*]}: expected '$message' in:
$out"
    [[ "$(sha256sum <"$DB")" == "$before" ]] || fail "hubctl ${args[*]} changed $DB"
    # The -wal file stays for hubd's read-only reload (docs/DIRECTORY.md), unchanged.
    [[ "$(sha256sum <"$DB-wal")" == "$wal_before" ]] || fail "hubctl ${args[*]} changed $DB-wal"
done
say "ok: ${#bad_cases[@]} bad inputs refused with their message, $DB and its -wal byte-identical"

# --- Changes, applied at the next start ------------------------------------------------------
out="$(hubctl_dir partner add p3 --domain p3.example --outbound 127.0.0.1:10027 \
    --inbound 127.0.0.3/32 --require-client-cert false --contact "Test desk")"
expect_match "partner add with hubd stopped" \
    '^partner add: done; hubd is not running and reads the directory when it starts$' "$out"
hubctl_dir partner suspend partner1 >/dev/null
out="$(hubctl_dir partner show partner1 --json)"
expect_match "partner show --json: suspended" '"state":"suspended"' "$out"
hub_start
out="$(timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo mx.p3.example \
    --local-interface 127.0.0.3 --from desk@p3.example --to ann@partner2.gov.uk.lgolhub.net 2>&1)" ||
    fail "the added partner p3 could not send:
$out"
expect_match "p3 -> partner2" '<~ +250 2\.0\.0 .*queued as' "$out"
say "ok: the added partner sends"
out="$(timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo mx.partner2.gov.uk \
    --tls-cert "$STATE/partner2.pem" --tls-key "$STATE/partner2.key" \
    --from bob@partner2.gov.uk --to joe@partner1.gov.uk.lgolhub.net --quit-after RCPT 2>&1 || true)"
expect_match "RCPT to the suspended partner1" '<~\* +550 5\.1\.2' "$out"
out="$(swaks_hub --port "$SMTP_PORT" --tls || true)"
expect_no_match "partner1's certificate while suspended" 'queued as' "$out"
say "ok: the suspended partner neither receives (550 5.1.2) nor sends"
hub_stop

# --- The audit log -----------------------------------------------------------------------------
out="$(hubctl_dir audit --json)"
"$PYTHON" - "$out" <<'PYEOF' || fail "audit --json:
$out"
import json, sys
entries = json.loads(sys.argv[1])
actions = [(e["action"], e["subject"]) for e in entries]
assert actions == [("partner import", "partner1"), ("partner import", "partner2"),
                   ("partner add", "p3"), ("partner suspend", "partner1")], actions
suspend = entries[-1]
assert suspend["before"]["state"] == "active" and suspend["after"]["state"] == "suspended", suspend
assert entries[2]["before"] is None and entries[2]["after"]["inbound"] == ["127.0.0.3/32"]
assert all(e["actor"] for e in entries)
PYEOF
say "ok: audit: 4 entries (2 imports, add, suspend) with before and after"

# --- Administrators: yescrypt, never the password or its hash in the log -----------------------
printf '%s\n' 'a long passphrase' | hubctl_dir admin add alice >/dev/null
before="$(sha256sum <"$DB")"
status=0
out="$(printf '%s\n' 'short' | hubctl_dir admin add bob 2>&1)" || status=$?
[[ $status -eq 1 && "$out" == *"the password must be 12..1024 characters"* ]] ||
    fail "admin add with a short password: exit $status: $out"
status=0
out="$(hubctl_dir admin remove alice 2>&1)" || status=$?
[[ $status -eq 1 && "$out" == *"alice is the last administrator"* ]] ||
    fail "removing the last administrator: exit $status: $out"
[[ "$(sha256sum <"$DB")" == "$before" ]] || fail "a refused admin change altered $DB"
expect_match "admin list" '"name":"alice"' "$(hubctl_dir admin list --json)"
hash="$("$PYTHON" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
    "SELECT password_hash FROM admins WHERE name = ?", ("alice",)).fetchone()[0])' "$DB")"
[[ "$hash" == '$y$'* ]] || fail "alice's password is not a yescrypt hash: $hash"
out="$(hubctl_dir audit --partner admin:alice)"
expect_match "audit: admin add" 'admin add admin:alice' "$out"
expect_no_match "audit: no hash" '\$y\$|passphrase' "$out"
say "ok: admin add (yescrypt $(cut -c1-10 <<<"$hash")...), refusals unchanged the file, audit has no secret"
say "PASS"
