#!/usr/bin/env bash
# backup.sh -- a whole box backed up and restored into a fresh state directory (root):
#   - the box: partners in the directory, hub-ca with two issued certificates and one of them
#     revoked, custom network and SNMP state, and 200 messages queued for partner2 while it
#     is down (loadgen, each acknowledged with 250);
#   - `hubctl backup create --include-queue` while hubd and hub-ca run; `backup verify`;
#   - the archive also opens without Hubbox (tools/backup-open + tar + sha256sum -c);
#   - both hubs stopped, `hubctl backup restore` into an empty directory; then:
#     the directory and hub-ca's database are equal table by table (sqlite3), the CA key and
#     state directory keep hubca 0700/0600, the certificate issued before verifies against
#     the restored ca.pem with the restored CRL, the revoked one is refused and listed, and
#     the restored hub-ca still issues with the same key; network/ and snmp/ are the same
#     files, owners and modes;
#   - the restored hubd delivers all 200 queued messages exactly once when partner2 comes
#     up (counted by Message-ID in partner2's Maildir).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
need_binaries HUBD HUBCTL HUB_CA LOADGEN
need_postfix
need_backup_accounts
raise_fd_limit 1024

read -r P1_PORT P2_PORT < <(pick_ports 2)
backup_box_init --partner1-outbound "$P1_PORT" --partner2-outbound "$P2_PORT" --retry-delay 2
ca_start
hubctl() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
as() {
    local account="$1"
    shift
    runuser -u "$account" -- "$HUBCTL" --ca-socket "$STATE/run/ca.sock" ca "$@"
}

# --- The CA: two certificates issued, one revoked ------------------------------------------
password="$(hubctl ca password partner2 2>/dev/null)" || fail "hubctl ca password partner2"
mkdir -p "$WORK/req"
chmod 0755 "$WORK/req"
issue() {  # issue NAME: a P-256 request for NAME.partner2.gov.uk, approved; its PEM in $WORK
    local name="$1" id
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK/req/$name.key" -subj "/CN=$name.partner2.gov.uk/O=Partner Two" \
        -addext "subjectAltName=DNS:$name.partner2.gov.uk" -out "$WORK/req/$name.csr" \
        2>/dev/null || fail "openssl req $name"
    chmod 0644 "$WORK/req/$name.csr"
    id="$(as hubenroll submit partner2 "$WORK/req/$name.csr" <<<"$password" 2>/dev/null)" ||
        fail "submit $name"
    hubctl ca approve "$id" >/dev/null || fail "approve $id"
    as hubenroll fetch "$id" --partner partner2 --format der <<<"$password" >"$WORK/$name.der" ||
        fail "fetch $id"
    openssl x509 -inform DER -in "$WORK/$name.der" -out "$WORK/$name.pem"
}
issue kept
issue gone
gone_serial="$(openssl x509 -in "$WORK/gone.pem" -noout -serial | cut -d= -f2)"
hubctl ca revoke "${gone_serial,,}" --reason keyCompromise >/dev/null || fail "revoke"
say "ok: issued two certificates, revoked $gone_serial"

# --- 200 messages queued for partner2, which is down -----------------------------------------
hub_start
acked="$WORK/acked.log"
: >"$acked"
out="$("$LOADGEN" --server "127.0.0.1:$SMTP_PORT" --sessions 4 --messages 50 --size 2048 \
    --to joe@partner2.gov.uk.lgolhub.net --acked-log "$acked" --run-id bk --time-limit 180 \
    --ca "$STATE/ca.pem" --cert "$STATE/partner1.pem" --key "$STATE/partner1.key" 2>&1)" ||
    fail "loadgen: $out"
expect_eq "messages acknowledged" 200 "$(wc -l <"$acked")"
wait_until 60 "200 messages in the queue" bash -c \
    "[[ \$('$HUBCTL' --config '$STATE/hub.conf' queue list --format tsv | grep -vc '^#') -eq 200 ]]"
say "ok: 200 messages queued for partner2 (down)"

# --- Backup of the running box -----------------------------------------------------------------
mkdir -p "$WORK/backups"
out="$(hubctl backup create --include-queue --to "$WORK/backups" --passphrase-file "$PASSFILE" 2>&1)" ||
    fail "backup create: $out"
show "$out"
archive="$(ls "$WORK"/backups/hubbox-*.hbk)"
[[ -f "$archive" ]] || fail "no archive in $WORK/backups"
expect_eq "archive mode" "root 600" "$(stat -c '%U %a' "$archive")"
out="$("$HUBCTL" backup verify "$archive" --passphrase-file "$PASSFILE" 2>&1)" || fail "verify: $out"
expect_match "verify" '^ok: every member authenticated' "$out"
expect_match "verify: parts" '^parts: config pki network queue$' "$out"
if grep -aq "BEGIN EC PRIVATE KEY\|partner2.gov.uk" "$archive"; then
    fail "the archive holds plaintext"
fi
# Without Hubbox: Debian's python3-nacl, tar and sha256sum.
if /usr/bin/python3 -c 'import nacl.bindings' 2>/dev/null; then
    mkdir "$WORK/plain"
    /usr/bin/python3 "$SRC/tools/backup-open" "$archive" --passphrase-fd 3 3<"$PASSFILE" |
        tar -x -C "$WORK/plain" || fail "tools/backup-open | tar -x"
    out="$(cd "$WORK/plain" && sha256sum -c SHA256SUMS 2>&1)" || fail "sha256sum -c: $out"
    [[ -f "$WORK/plain/pki/ca-state/ca.key" ]] || fail "no CA key in the opened archive"
    say "ok: opened with tools/backup-open (python3-nacl), tar and sha256sum -c"
else
    say "NOTE: python3-nacl missing: tools/backup-open not exercised"
fi

# What the restored box must equal, taken from the stopped original.
hub_stop
ca_stop
sqlite_tables "$STATE/directory.db" >"$WORK/directory.before"
sqlite_tables "$STATE/ca/ca.db" >"$WORK/ca-db.before"
tree_listing "$STATE/network" >"$WORK/network.before"
tree_listing "$STATE/snmp" >"$WORK/snmp.before"

# --- Restore into a fresh state directory -----------------------------------------------------
FRESH="$WORK/fresh"
mkdir -m 0755 "$FRESH"
out="$("$HUBCTL" --config "$FRESH/hub.conf" backup restore "$archive" \
    --passphrase-file "$PASSFILE" 2>&1)" || fail "restore: $out"
show "$out"
expect_match "restore: network next step" 'hub-netcfg apply-saved' "$out"
cmp -s "$STATE/hub.conf" "$FRESH/hub.conf" || fail "hub.conf differs after the restore"

diff -u "$WORK/directory.before" <(sqlite_tables "$FRESH/directory.db") ||
    fail "the directory differs after the restore"
diff -u "$WORK/ca-db.before" <(sqlite_tables "$FRESH/ca/ca.db") ||
    fail "hub-ca's database differs after the restore"
say "ok: directory.db ($(grep -c '^== ' "$WORK/directory.before") tables) and ca.db equal table by table"
expect_eq "CA directory" "hubca 700" "$(stat -c '%U %a' "$FRESH/ca")"
expect_eq "CA key" "hubca hubca 600" "$(stat -c '%U %G %a' "$FRESH/ca/ca.key")"
cmp -s "$STATE/ca/ca.key" "$FRESH/ca/ca.key" || fail "the CA key differs"
expect_eq "hub key" "root 600" "$(stat -c '%U %a' "$FRESH/hub.key")"
diff -u "$WORK/network.before" <(tree_listing "$FRESH/network") || fail "network/ differs"
diff -u "$WORK/snmp.before" <(tree_listing "$FRESH/snmp") || fail "snmp/ differs"
say "ok: network/ and snmp/ restored with the same files, owners and modes"

crl="$FRESH/ca-public/crl.pem"
out="$(openssl verify -crl_check -CAfile "$FRESH/ca-public/ca.pem" -CRLfile "$crl" \
    "$WORK/kept.pem" 2>&1)" || fail "the certificate issued before does not verify: $out"
out="$(openssl verify -crl_check -CAfile "$FRESH/ca-public/ca.pem" -CRLfile "$crl" \
    "$WORK/gone.pem" 2>&1 || true)"
expect_match "the revoked certificate" 'certificate revoked' "$out"
expect_match "the CRL lists it" "Serial Number: $gone_serial" "$(openssl crl -in "$crl" -noout -text)"
ca_start "$FRESH/hub.conf"
expect_match "restored hub-ca lists it revoked" "^${gone_serial,,} +partner2 .* revoked " \
    "$("$HUBCTL" --config "$FRESH/hub.conf" ca list)"
STATE_ORIGINAL="$STATE"
STATE="$FRESH"
password="$(hubctl ca password partner2 2>/dev/null)" || fail "password on the restored CA"
issue after
out="$(openssl verify -CAfile "$FRESH/ca-public/ca.pem" "$WORK/after.pem" 2>&1)" ||
    fail "a certificate issued after the restore does not verify: $out"
say "ok: same CA: the old certificate verifies, the revoked one is refused, the key still issues"
ca_stop

# --- The restored hub delivers the 200 messages exactly once ---------------------------------
hub_start
expect_eq "restored queue" 200 "$(queue_count)"
partner_start partner2 --domain partner2.gov.uk --smtp-port "$P2_PORT" \
    --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE_ORIGINAL/ca.pem" \
    --cert "$STATE_ORIGINAL/partner2.pem" --key "$STATE_ORIGINAL/partner2.key"
P2="$(partner_dir partner2)"
wait_until 180 "200 messages in joe's Maildir at partner2" \
    bash -c "[[ \$('$PARTNER' count '$P2' joe) -ge 200 ]]"
wait_until 60 "the restored hub's queue to drain" bash -c "[[ \$('$HUBCTL' --config \
    '$FRESH/hub.conf' queue list --format tsv | grep -vc '^#') -eq 0 ]]"
sleep 3  # Two retry intervals: a duplicate would arrive now.
expect_eq "messages at partner2" 200 "$(partner count "$P2" joe)"
find "$P2/mail/joe/new" "$P2/mail/joe/cur" -type f -exec cat {} + |
    grep -Eio '^Message-ID: *<[^>]*>' | sed 's/.*<\(.*\)@.*/\1/' | sort >"$WORK/delivered"
cut -d' ' -f1 "$acked" | sort >"$WORK/expected"
diff -u "$WORK/expected" "$WORK/delivered" >/dev/null ||
    fail "delivered Message-IDs differ from the acknowledged ones:
$(diff -u "$WORK/expected" "$WORK/delivered" | head -20)"
say "ok: the restored hub delivered each of the 200 queued messages exactly once"
hub_stop
say "PASS"
