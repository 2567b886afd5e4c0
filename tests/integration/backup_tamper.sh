#!/usr/bin/env bash
# backup_tamper.sh -- archives that must be refused, each with a clear message, while the
# hub runs, and nothing of the running hub or its state changes (root):
#   - a byte flipped in the magic, the key kind, the Argon2id salt, the header MAC, the
#     first chunk, the middle and the last byte; the format version raised (a newer Hubbox);
#   - truncated inside the header, at half, one byte short; one byte appended;
#   - the wrong passphrase; a passphrase for an archive sealed to a public key, and the
#     wrong secret key for it;
#   - a good archive while hubd and hub-ca run: refused (stop them first), nothing changed;
#   - the same through a restore request (hub-restore.service's --request): a wrong typed
#     passphrase, a file others may read, an unknown line; the file deleted each time;
# each as `backup verify` and as `backup restore`, then every file under the state
# directory is byte-identical (sha256) and hubd still answers with the same queue.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
need_binaries HUBD HUBCTL HUB_CA
need_backup_accounts

read -r P2_PORT < <(pick_ports 1)
backup_box_init --partner2-outbound "$P2_PORT" --retry-delay 60
ca_start
hub_start
for i in 1 2 3; do
    swaks_hub --port "$SMTP_PORT" --tls --header "Subject: tamper $i" >/dev/null ||
        fail "swaks $i"
done
wait_until 30 "three queued messages" bash -c \
    "[[ \$('$HUBCTL' --config '$STATE/hub.conf' queue list --format tsv | grep -vc '^#') -eq 3 ]]"
hubctl() { "$HUBCTL" --config "$STATE/hub.conf" "$@"; }
mkdir -p "$WORK/backups" "$WORK/bad"
out="$(hubctl backup create --include-queue --to "$WORK/backups" --passphrase-file "$PASSFILE" 2>&1)" ||
    fail "backup create: $out"
good="$(ls "$WORK"/backups/hubbox-*.hbk)"
size="$(stat -c %s "$good")"
"$HUBCTL" backup keygen --out "$WORK/admin.key" >/dev/null || fail "keygen"
out="$(hubctl backup create --to "$WORK/backups" --public-key "$WORK/admin.key.pub" 2>&1)" ||
    fail "backup create --public-key: $out"
sealed="$(ls "$WORK"/backups/hubbox-*.hbk | grep -v "^$good\$")"
out="$("$HUBCTL" backup verify "$sealed" --secret-key "$WORK/admin.key" 2>&1)" ||
    fail "verify the sealed archive with its secret key: $out"
"$HUBCTL" backup keygen --out "$WORK/other.key" >/dev/null || fail "keygen (other)"
say "archives: $good ($size bytes), $sealed (sealed to a public key)"

# Every file of the box, with its hash (sockets and the logs of this test excluded).
state_hashes() {
    (cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
# (The queue first: listing it reads the directory, and SQLite readers update its -shm.)
queue_before="$(queue_tsv | cut -f1 | sort)"
before="$(state_hashes)"

flip() {  # flip OFFSET NAME: a copy of the good archive with the byte at OFFSET inverted
    cp "$good" "$WORK/bad/$2"
    "$PYTHON" - "$WORK/bad/$2" "$1" <<'PY'
import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(offset)
    byte = f.read(1)
    f.seek(offset)
    f.write(bytes([byte[0] ^ 0xFF]))
PY
    echo "$WORK/bad/$2"
}
# refused WHAT REGEX FILE [OPTIONS...]: verify and restore both exit 1 with the message.
refused() {
    local what="$1" regex="$2" file="$3" command out status
    shift 3
    local key=(--passphrase-file "$PASSFILE")
    [[ $# -eq 0 ]] || key=("$@")
    for command in verify restore; do
        status=0
        out="$(hubctl backup "$command" "$file" "${key[@]}" 2>&1)" || status=$?
        [[ $status -eq 1 ]] || fail "$what ($command): exit $status, expected 1: $out"
        expect_match "$what ($command)" "$regex" "$out"
    done
    expect_match "$what (restore)" 'nothing was changed' "$out"
    say "ok: $what: $(tail -n1 <<<"$out")"
}
refused "flipped magic" 'not a Hubbox backup' "$(flip 0 magic.hbk)"
refused "flipped key kind" 'header is not valid' "$(flip 9 kind.hbk)"
refused "flipped salt" 'wrong passphrase or key' "$(flip 25 salt.hbk)"
refused "flipped header MAC" 'wrong passphrase or key' "$(flip 150 mac.hbk)"
refused "flipped first chunk" 'damaged or truncated archive: the data at byte 172 ' \
    "$(flip 200 first.hbk)"
refused "flipped middle" 'damaged or truncated archive: the data at byte' \
    "$(flip $((size / 2)) middle.hbk)"
refused "flipped last byte" 'damaged or truncated archive: the data at byte' \
    "$(flip $((size - 1)) last.hbk)"
cp "$good" "$WORK/bad/newer.hbk"
printf '\x02' | dd of="$WORK/bad/newer.hbk" bs=1 seek=8 conv=notrunc status=none
refused "a newer format" 'made by a newer Hubbox' "$WORK/bad/newer.hbk"
head -c 100 "$good" >"$WORK/bad/cut-header.hbk"
refused "cut in the header" 'truncated archive' "$WORK/bad/cut-header.hbk"
head -c $((size / 2)) "$good" >"$WORK/bad/cut-half.hbk"
refused "cut at half" 'damaged or truncated archive' "$WORK/bad/cut-half.hbk"
head -c $((size - 1)) "$good" >"$WORK/bad/cut-one.hbk"
refused "one byte short" 'damaged or truncated archive' "$WORK/bad/cut-one.hbk"
{ cat "$good"; printf 'x'; } >"$WORK/bad/longer.hbk"
refused "one byte appended" 'damaged or truncated archive' "$WORK/bad/longer.hbk"
printf 'not the passphrase at all\n' >"$WORK/wrong-passphrase"
refused "wrong passphrase" 'wrong passphrase or key' "$good" --passphrase-file "$WORK/wrong-passphrase"
refused "passphrase for a sealed archive" 'sealed the other way' "$sealed"
refused "another secret key" 'wrong passphrase or key' "$sealed" --secret-key "$WORK/other.key"

# A good archive, but the hub runs: a restore must not pull the files from under it.
status=0
out="$(hubctl backup restore "$good" --passphrase-file "$PASSFILE" 2>&1)" || status=$?
expect_eq "restore while the hub runs: exit" 1 "$status"
expect_match "restore while the hub runs" 'running on this box; stop them first.*nothing was changed' "$out"
say "ok: a good archive is refused while hubd and hub-ca run"

# The console's hand-over to hub-restore.service: a root 0600 request file, deleted once
# read whatever it holds; the same refusals as from the command line.
request="$WORK/restore-request"
by_request() {  # by_request MODE LINES...: restore --request; sets out and status
    local mode="$1"
    shift
    (umask 077 && printf '%s\n' "$@" >"$request")
    chmod "$mode" "$request"
    status=0
    out="$(hubctl backup restore --request "$request" 2>&1)" || status=$?
    [[ ! -e "$request" ]] || fail "the request file is still there after: $out"
}
by_request 600 "archive=$good" "passphrase=not the passphrase at all"
expect_eq "request, wrong passphrase: exit" 1 "$status"
expect_match "request, wrong passphrase" 'wrong passphrase or key.*nothing was changed' "$out"
by_request 644 "archive=$good" "passphrase_file=$PASSFILE"
expect_eq "request others may read: exit" 1 "$status"
expect_match "request others may read" 'mode 0600; nothing was changed' "$out"
by_request 600 "archive=$good" "passphrase_file=$PASSFILE" "to=/etc"
expect_match "request with an unknown line" '"to" is not expected here' "$out"
by_request 600 "archive=$good" "only=config" "passphrase=$(cat "$PASSFILE")"
expect_eq "request, good archive while the hub runs: exit" 1 "$status"
expect_match "request, good archive while the hub runs" 'stop them first.*nothing was changed' "$out"
status=0
out="$(hubctl backup restore "$good" --request "$request" 2>&1)" || status=$?
expect_eq "restore with both FILE and --request: exit" 2 "$status"
say "ok: restore --request: wrong passphrase, mode 0644 and an unknown line refused, the" \
    "request deleted each time; the typed passphrase gets as far as the running hub"

after="$(state_hashes)"
[[ "$before" == "$after" ]] || fail "the state changed:
$(diff <(echo "$before") <(echo "$after"))"
hub_greets || fail "hubd no longer answers"
expect_eq "queue after the refusals" "$queue_before" "$(queue_tsv | cut -f1 | sort)"
say "ok: $(wc -l <<<"$before") files byte-identical; hubd serves the same 3 queued messages"
hub_stop
say "PASS"
