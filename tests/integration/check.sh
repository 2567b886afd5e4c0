#!/usr/bin/env bash
# check.sh -- hubd --check reports every problem start-up would hit, each with file and
# line, and exits 1 on any error, 0 with warnings only: a good dev-init state passes; a
# missing certificate, a key of another certificate, an expired certificate (signed by the
# dev CA with `openssl ca -startdate/-enddate`, as OpenSSL 3.0's x509 cannot backdate) and
# a malformed partner pin are errors at their lines; a certificate expiring in 10 days is a
# warning; listeners held by a running hubd are errors; several problems come out at once;
# a status group that does not exist and a status socket directory that is not there are
# errors at their lines.
# Also: hubd --help lists every option.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD

hub_init --partners-file  # The variants below edit partners.file.
conf="$STATE/hub.conf"

# check CONF: runs hubd --check; sets out and status.
check() {
    status=0
    out="$("$HUBD" --config "$1" --check 2>&1)" || status=$?
}
line_of() { grep -n "$1" "$2" | head -1 | cut -d: -f1; }
# variant NAME SED-EXPRESSION: a copy of hub.conf beside it, edited.
variant() {
    sed "$2" "$conf" >"$STATE/$1.conf"
    echo "$STATE/$1.conf"
}

help="$("$HUBD" --help)" || fail "hubd --help exited non-zero"
for option in --config --check --help; do
    expect_match "hubd --help names $option" "$option" "$help"
done
say "ok: hubd --help lists --config, --check, --help"

check "$conf"
expect_eq "exit status of a good configuration" 0 "$status"
expect_match "summary of a good configuration" '^hubd --check: 0 errors, 0 warnings$' "$out"
say "ok: the dev-init state passes: $(tail -1 <<<"$out")"

cert_line="$(line_of '^certificate = ' "$conf")"
key_line="$(line_of '^key = ' "$conf")"
missing="$(variant missing 's|^certificate = .*|certificate = "nowhere.pem"|')"
check "$missing"
expect_eq "exit status with a missing certificate" 1 "$status"
expect_match "missing certificate named with file and line" \
    "^$missing:$cert_line: error: tls.certificate = \"$STATE/nowhere.pem\": cannot read .*No such file" "$out"
say "ok: missing certificate: $(grep -m1 'error:' <<<"$out")"

# The status socket (docs/HEALTH.md): a group that does not exist and a directory that is
# not there, each at its line.
nogroup="$STATE/nogroup.conf"
{
    cat "$conf"
    printf '\n[health]\nstatus_socket = "%s/no-such-dir/status.sock"\n' "$WORK"
    printf 'status_group = "hubbox-no-such-group"\n'
} >"$nogroup"
check "$nogroup"
expect_eq "exit status with a missing status group and directory" 1 "$status"
expect_match "missing status group named with file and line" \
    "^$nogroup:$(line_of '^status_group' "$nogroup"): error: health.status_group = \"hubbox-no-such-group\": no such group" \
    "$out"
expect_match "missing status socket directory named with file and line" \
    "^$nogroup:$(line_of '^status_socket' "$nogroup"): error: health.status_socket = .*no-such-dir is not a directory" \
    "$out"
say "ok: status socket: $(grep -c 'error: health\.' <<<"$out") errors at their lines"

mismatch="$(variant mismatch 's|^key = .*|key = "partner1.key"|')"
check "$mismatch"
expect_eq "exit status with a key of another certificate" 1 "$status"
expect_match "key mismatch named with file and line" \
    "^$mismatch:$key_line: error: tls.key = \"$STATE/partner1.key\": .*does not" "$out"
say "ok: key not matching: $(grep -m1 'error:' <<<"$out")"

# Certificates for the hub's own key signed by the dev CA with chosen dates.
openssl req -new -key "$STATE/hub.key" -subj /CN=hub.lgolhub.net -out "$WORK/hub.csr" 2>/dev/null
touch "$WORK/index.txt"
echo 01 >"$WORK/serial"
cat >"$WORK/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
database = $WORK/index.txt
new_certs_dir = $WORK
serial = $WORK/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
sign() {  # sign OUT -startdate X -enddate Y | -days N
    local out_file="$1"
    shift
    openssl ca -config "$WORK/ca.cnf" -batch -notext -cert "$STATE/ca.pem" -keyfile "$STATE/ca.key" \
        -in "$WORK/hub.csr" -out "$out_file" "$@" >"$WORK/openssl-ca.log" 2>&1 ||
        fail "openssl ca $*: $(cat "$WORK/openssl-ca.log")"
}
sign "$STATE/expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z
expired="$(variant expired 's|^certificate = .*|certificate = "expired.pem"|')"
check "$expired"
expect_eq "exit status with an expired certificate" 1 "$status"
expect_match "expired certificate named with file and line" \
    "^$expired:$cert_line: error: tls.certificate = \"$STATE/expired.pem\": certificate 1 .*expired on 2020-02-01" "$out"
say "ok: expired: $(grep -m1 'error:' <<<"$out")"

sign "$STATE/soon.pem" -days 10
soon="$(variant soon 's|^certificate = .*|certificate = "soon.pem"|')"
check "$soon"
expect_eq "exit status with a certificate expiring in 10 days (warning only)" 0 "$status"
expect_match "expiring certificate is a warning at its line" \
    "^$soon:$cert_line: warning: tls.certificate = \"$STATE/soon.pem\": .*expires on .*, in (9|10) days" "$out"
expect_match "summary counts the warning" '^hubd --check: 0 errors, 1 warning$' "$out"
say "ok: expiring soon: $(grep -m1 'warning:' <<<"$out")"

partners="$STATE/partners.toml"
outbound_line="$(line_of '^outbound = ' "$partners")"
[[ -n "$outbound_line" ]] || fail "no 'outbound =' line in $partners"
sed "${outbound_line}a outbound_pin_sha256 = \"not-a-pin\"" "$partners" >"$STATE/partners-bad.toml"
pin_line=$((outbound_line + 1))
bad_partner="$(variant bad-partner 's|^file = "partners.toml"|file = "partners-bad.toml"|')"
check "$bad_partner"
expect_eq "exit status with a malformed pin" 1 "$status"
expect_match "malformed pin named with file and line" \
    "^$STATE/partners-bad.toml:$pin_line: error: partner\\[0\\] .*outbound_pin_sha256" "$out"
say "ok: bad partner entry: $(grep -m1 'error:' <<<"$out")"

# Several at once, with the listeners taken by a running hub: all of them in one report.
hub_start
several="$STATE/several.conf"
sed -e 's|^key = .*|key = "partner1.key"|' \
    -e 's|^file = "partners.toml"|file = "partners-bad.toml"|' "$conf" >"$several"
check "$several"
expect_eq "exit status with several problems" 1 "$status"
expect_match "several: the key" "^$several:$key_line: error: tls.key" "$out"
expect_match "several: the pin" "^$STATE/partners-bad.toml:$pin_line: error: " "$out"
smtp_line="$(line_of '^smtp = ' "$conf")"
smtps_line="$(line_of '^smtps = ' "$conf")"
expect_match "several: listen.smtp taken" \
    "^$several:$smtp_line: error: listen.smtp = 127.0.0.1:$SMTP_PORT: cannot listen there: Address already in use" "$out"
expect_match "several: listen.smtps taken" \
    "^$several:$smtps_line: error: listen.smtps = 127.0.0.1:$SMTPS_PORT: cannot listen there" "$out"
expect_match "several: the count" '^hubd --check: 4 errors, 0 warnings$' "$out"
show "$out"
hub_stop
say "PASS"
