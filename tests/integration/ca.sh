#!/usr/bin/env bash
# ca.sh -- hub-ca end to end with real OpenSSL on both sides (root: it is about accounts):
#   - `hub-ca init --key p384` as root: the CA key is 0600 and owned by hubca in a 0700
#     directory that hubca owns; the hubd account (hubbox) and the enrollment account
#     (hubenroll) cannot read it; the hub's own listener key (root 0600) and certificate
#     (SAN = hub.hostname) verify against the published ca.pem; a second init is refused;
#   - `hub-ca serve` started as root runs as hubca with NoNewPrivs;
#   - `openssl req` makes RSA 2048 and P-256 keys and requests; hubenroll submits them
#     through the socket with the partner's enrollment password (issued by
#     `hubctl ca password`), an administrator approves them with `hubctl ca approve`, and
#     hubenroll fetches them (PEM, DER, PKCS#7);
#   - `openssl x509 -text` shows serverAuth + clientAuth, the requested DNS names, a 128-bit
#     serial and the configured validity; `openssl verify -CAfile` accepts both;
#   - `hubctl ca revoke`: the CRL in the public directory is new at once, `openssl crl`
#     checks its signature and lists the serial, and `openssl verify -crl_check` refuses the
#     revoked certificate and still accepts the other;
#   - the refusals: each role asking what it may not (enroll approve, hubd submit, an
#     unknown account anything), a wrong password, a 1024-bit key, a CA:TRUE request;
#   - rejection with a reason that the partner sees, and the audit log of it all;
#   - a CA that the first boot made with openssl (PKCS#8 key, root 0600) is taken over by
#     `hub-ca serve`: handed to hubca, its CRL verifies against it with openssl.
source "$(dirname "$0")/lib.sh"
need_binaries HUBCTL HUB_CA
[[ $EUID -eq 0 ]] || skip "needs root: the test is about which account can read the CA key"
for account in hubca hubenroll hubbox nobody; do
    getent passwd "$account" >/dev/null ||
        skip "no '$account' account: run tools/setup (it makes hubca, hubenroll, hubbox)"
done

make_work
dir="$WORK/box"
mkdir -p "$dir/requests" "$dir/out"
chmod 0755 "$dir" "$dir/requests"
chown hubenroll "$dir/out"  # hubctl ca fetch --out writes as hubenroll
conf="$dir/hub.conf"
cat >"$conf" <<CONF
[hub]
hostname = "hub.ca-test.example"
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
validity_days = 400
CONF
HUB_LOG="$WORK/hub-ca.log"
admin() { "$HUBCTL" --config "$conf" ca "$@"; }
# as ACCOUNT ARGS...: hubctl ca as another account, talking to the socket only.
as() {
    local account="$1"
    shift
    runuser -u "$account" -- "$HUBCTL" --ca-socket "$dir/run/ca.sock" ca "$@"
}

# --- init: the key and who can read it -------------------------------------------------------
"$HUB_CA" --config "$conf" init --key p384 >"$WORK/init.log" 2>&1 || fail "hub-ca init:
$(cat "$WORK/init.log")"
expect_eq "CA key owner and mode" "hubca hubca 600" "$(stat -c '%U %G %a' "$dir/ca/ca.key")"
expect_eq "state directory owner and mode" "hubca 700" "$(stat -c '%U %a' "$dir/ca")"
expect_eq "database owner and mode" "hubca 600" "$(stat -c '%U %a' "$dir/ca/ca.db")"
for account in hubbox hubenroll; do
    if runuser -u "$account" -- cat "$dir/ca/ca.key" >/dev/null 2>&1; then
        fail "$account could read the CA key"
    fi
    if runuser -u "$account" -- ls "$dir/ca" >/dev/null 2>&1; then
        fail "$account could list hub-ca's state directory"
    fi
done
runuser -u hubca -- head -c 30 "$dir/ca/ca.key" | grep -q 'BEGIN EC PRIVATE KEY' ||
    fail "hubca cannot read its own key"
say "ok: ca.key is hubca 0600 in a hubca 0700 directory; hubbox and hubenroll cannot read it"
text="$(openssl x509 -in "$dir/public/ca.pem" -noout -text)"
expect_match "CA: basic constraints critical, CA:TRUE" 'Basic Constraints: critical.{0,40}CA:TRUE' "$(tr '\n' ' ' <<<"$text")"
expect_match "CA: key usage" 'Certificate Sign, CRL Sign' "$text"
expect_match "CA: P-384" 'NIST CURVE: P-384' "$text"
expect_match "CA: name" 'Subject: CN = Hubbox CA hub\.ca-test\.example' "$text"
expect_eq "hub key owner and mode" "root 600" "$(stat -c '%U %a' "$dir/tls/hub.key")"
out="$(openssl verify -CAfile "$dir/public/ca.pem" "$dir/tls/hub.pem" 2>&1)" ||
    fail "the hub's certificate does not verify: $out"
expect_match "hub certificate SAN" 'DNS:hub\.ca-test\.example' \
    "$(openssl x509 -in "$dir/tls/hub.pem" -noout -ext subjectAltName)"
openssl pkey -in "$dir/tls/hub.key" -pubout >"$WORK/hub-key.pub"
openssl x509 -in "$dir/tls/hub.pem" -noout -pubkey >"$WORK/hub-cert.pub"
cmp -s "$WORK/hub-key.pub" "$WORK/hub-cert.pub" || fail "hub.pem is not for hub.key"
say "ok: CA P-384 CA:TRUE (critical) keyCertSign cRLSign; hub.key root 0600, hub.pem verifies, SAN set"
before="$(sha256sum "$dir/ca/ca.key")"
if out="$("$HUB_CA" --config "$conf" init 2>&1)"; then fail "a second init succeeded"; fi
expect_match "second init refused" 'holds a CA already; hub-ca never replaces a CA key' "$out"
expect_eq "CA key unchanged" "$before" "$(sha256sum "$dir/ca/ca.key")"

# --- serve: as hubca --------------------------------------------------------------------------
"$HUB_CA" --config "$conf" serve 2>"$HUB_LOG" &
HUBD_PID=$!  # lib.sh's cleanup kills it.
wait_until 60 "hub-ca's socket" test -S "$dir/run/ca.sock"
wait_until 60 "hub-ca ready" grep -q 'ready on' "$HUB_LOG"
status="$(cat "/proc/$HUBD_PID/status")"
hubca_uid="$(id -u hubca)"
expect_match "hub-ca runs as hubca" "^Uid:[[:space:]]+$hubca_uid[[:space:]]+$hubca_uid[[:space:]]+$hubca_uid" "$status"
expect_match "hub-ca NoNewPrivs" '^NoNewPrivs:[[:space:]]+1$' "$status"
say "ok: hub-ca serves as hubca (uid $hubca_uid) with NoNewPrivs"

# --- requests from real openssl, submitted as the enrollment account -------------------------
password="$(admin password partner2 2>/dev/null)" || fail "hubctl ca password partner2"
[[ ${#password} -eq 24 ]] || fail "enrollment password: expected 24 characters, got '$password'"
req() {  # req NAME KEYSPEC SUBJECT_CN SAN [extra -addext]
    local name="$1" keyspec="$2" cn="$3" san="$4"
    shift 4
    openssl req -new -newkey "$keyspec" "${@}" -nodes -keyout "$WORK/$name.key" \
        -subj "/CN=$cn/O=Partner Two" -addext "subjectAltName=$san" \
        -out "$dir/requests/$name.csr" 2>/dev/null || fail "openssl req $name"
    chmod 0644 "$dir/requests/$name.csr"
}
req rsa rsa:2048 mail.partner2.gov.uk "DNS:mail.partner2.gov.uk,DNS:mx2.partner2.gov.uk"
req ec ec mx.partner2.gov.uk "DNS:mx.partner2.gov.uk" -pkeyopt ec_paramgen_curve:P-256
req weak rsa:1024 weak.partner2.gov.uk "DNS:weak.partner2.gov.uk"
req ca ec ca.partner2.gov.uk "DNS:ca.partner2.gov.uk" -pkeyopt ec_paramgen_curve:P-256 \
    -addext "basicConstraints=critical,CA:TRUE"
submit() { as hubenroll submit partner2 "$dir/requests/$1.csr" <<<"$2"; }
rsa_id="$(submit rsa "$password" 2>/dev/null)" || fail "submit rsa as hubenroll"
ec_id="$(submit ec "$password" 2>/dev/null)" || fail "submit ec as hubenroll"
say "ok: hubenroll submitted requests $rsa_id (RSA 2048) and $ec_id (P-256)"

refused() {  # refused WHAT EXPECTED_MESSAGE COMMAND...: exit 1 and the message.
    local what="$1" message="$2" out status=0
    shift 2
    out="$("$@" 2>&1)" || status=$?
    [[ $status -eq 1 ]] || fail "$what: exit $status, expected 1: $out"
    [[ "$out" == *"$message"* ]] || fail "$what: expected '$message' in: $out"
}
refused "wrong password" "unknown partner or wrong enrollment password" submit rsa "not-it"
refused "unknown partner" "unknown partner or wrong enrollment password" \
    as hubenroll submit partner9 "$dir/requests/rsa.csr" <<<"$password"
refused "1024-bit key" "the request's key is RSA 1024 bits; use RSA 2048" submit weak "$password"
refused "CA:TRUE" "asks for a CA certificate (basicConstraints CA:TRUE)" submit ca "$password"
refused "enroll approves" "the enroll role may not approve" as hubenroll approve "$rsa_id"
refused "enroll revokes" "the enroll role may not revoke" as hubenroll revoke 01 --reason superseded
refused "enroll lists" "the enroll role may not list-requests" as hubenroll requests
refused "enroll sets a password" "the enroll role may not set-password" as hubenroll password partner2
refused "enroll status without password" "unknown partner or wrong enrollment password" \
    as hubenroll status "$rsa_id"
refused "hubd submits" "the hubd role may not submit" \
    as hubbox submit partner2 "$dir/requests/rsa.csr" <<<"$password"
refused "hubd fetches a certificate" "the hubd role may not fetch-certificate" \
    as hubbox fetch "$rsa_id" --partner partner2 <<<"$password"
refused "hubd approves" "the hubd role may not approve" as hubbox approve "$rsa_id"
refused "stranger" "the none role may not fetch-ca" as nobody cacert
as hubbox cacert | grep -q 'BEGIN CERTIFICATE' || fail "hubd role: cacert"
as hubbox crl | grep -q 'BEGIN X509 CRL' || fail "hubd role: crl"
say "ok: 13 refusals by role, password and request content; hubd gets the CA and the CRL"

out="$(admin requests)"
expect_match "requests: RSA pending" "^$rsa_id +pending +partner2 +RSA 2048 " "$out"
expect_match "requests: P-256 pending" "^$ec_id +pending +partner2 +P-256 " "$out"
expect_match "requests --json" "\"id\":$rsa_id,\"partner\":\"partner2\",\"state\":\"pending\"" \
    "$(admin requests --json)"

# --- approve, fetch, check with openssl ------------------------------------------------------
admin approve "$rsa_id" >/dev/null || fail "approve $rsa_id"
admin approve "$ec_id" >/dev/null || fail "approve $ec_id"
expect_match "status as the partner" '^approved: certificate [0-9a-f]{32} valid until' \
    "$(as hubenroll status "$rsa_id" --partner partner2 <<<"$password")"
for id in "$rsa_id" "$ec_id"; do
    as hubenroll fetch "$id" --partner partner2 --format pem --out "$dir/out/$id.chain.pem" \
        <<<"$password" 2>/dev/null || fail "fetch $id (pem) as hubenroll"
    cp "$dir/out/$id.chain.pem" "$WORK/$id.chain.pem"
    as hubenroll fetch "$id" --partner partner2 --format der <<<"$password" >"$WORK/$id.der" ||
        fail "fetch $id (der)"
    as hubenroll fetch "$id" --partner partner2 --format pkcs7 <<<"$password" >"$WORK/$id.p7b" ||
        fail "fetch $id (pkcs7)"
    openssl x509 -inform DER -in "$WORK/$id.der" -out "$WORK/$id.pem"
    count="$(openssl pkcs7 -inform DER -in "$WORK/$id.p7b" -print_certs | grep -c 'BEGIN CERT')"
    expect_eq "PKCS#7 bundle of request $id: certificates" 2 "$count"
    expect_eq "PEM chain of request $id: certificates" 2 "$(grep -c 'BEGIN CERT' "$WORK/$id.chain.pem")"
    text="$(openssl x509 -in "$WORK/$id.pem" -noout -text)"
    expect_match "$id: EKU" 'TLS Web Server Authentication, TLS Web Client Authentication' "$text"
    expect_match "$id: CA:FALSE" 'CA:FALSE' "$text"
    expect_match "$id: issuer" 'Issuer: CN = Hubbox CA hub\.ca-test\.example' "$text"
    serial="$(openssl x509 -in "$WORK/$id.pem" -noout -serial | cut -d= -f2)"
    [[ "$serial" =~ ^[89A-F][0-9A-F]{31}$ ]] || fail "$id: serial $serial is not 128 bits"
    start="$(date -d "$(openssl x509 -in "$WORK/$id.pem" -noout -startdate | cut -d= -f2)" +%s)"
    end="$(date -d "$(openssl x509 -in "$WORK/$id.pem" -noout -enddate | cut -d= -f2)" +%s)"
    expect_eq "$id: validity (400 days + the 1 h backdate)" $((400 * 86400 + 3600)) $((end - start))
    out="$(openssl verify -CAfile "$dir/public/ca.pem" "$WORK/$id.pem" 2>&1)" ||
        fail "openssl verify $id: $out"
done
expect_match "RSA SAN" 'DNS:mail\.partner2\.gov\.uk, DNS:mx2\.partner2\.gov\.uk' \
    "$(openssl x509 -in "$WORK/$rsa_id.pem" -noout -ext subjectAltName)"
expect_match "P-256 SAN" 'DNS:mx\.partner2\.gov\.uk' \
    "$(openssl x509 -in "$WORK/$ec_id.pem" -noout -ext subjectAltName)"
expect_match "RSA subject" 'subject=CN = mail\.partner2\.gov\.uk, O = Partner Two' \
    "$(openssl x509 -in "$WORK/$rsa_id.pem" -noout -subject)"
cmp -s <(openssl pkey -in "$WORK/rsa.key" -pubout) <(openssl x509 -in "$WORK/$rsa_id.pem" -noout -pubkey) ||
    fail "the RSA certificate is not for the requested key"
say "ok: both certificates: serverAuth+clientAuth, SANs, 128-bit serials, 400 days, verify"

# --- revoke: the CRL follows -----------------------------------------------------------------
rsa_serial="$(openssl x509 -in "$WORK/$rsa_id.pem" -noout -serial | cut -d= -f2)"
crl_before="$(openssl crl -in "$dir/public/crl.pem" -noout -crlnumber)"
admin revoke "${rsa_serial,,}" --reason keyCompromise >/dev/null || fail "revoke $rsa_serial"
refused "revoked twice" "is revoked already" admin revoke "${rsa_serial,,}" --reason keyCompromise
refused "unknown reason" "use unspecified, keyCompromise" admin revoke "${rsa_serial,,}" --reason stolen
crl="$dir/public/crl.pem"
out="$(openssl crl -in "$crl" -CAfile "$dir/public/ca.pem" -noout 2>&1)"
expect_match "CRL signature" 'verify OK' "$out"
text="$(openssl crl -in "$crl" -noout -text)"
expect_match "CRL lists the serial" "Serial Number: $rsa_serial" "$text"
expect_match "CRL reason" 'Key Compromise' "$text"
[[ "$(openssl crl -in "$crl" -noout -crlnumber)" != "$crl_before" ]] || fail "the CRL number did not change"
out="$(openssl verify -crl_check -CAfile "$dir/public/ca.pem" -CRLfile "$crl" "$WORK/$rsa_id.pem" 2>&1 || true)"
expect_match "verify -crl_check refuses the revoked one" 'certificate revoked' "$out"
out="$(openssl verify -crl_check -CAfile "$dir/public/ca.pem" -CRLfile "$crl" "$WORK/$ec_id.pem" 2>&1)" ||
    fail "verify -crl_check of the valid one: $out"
as hubbox crl --der >"$WORK/crl.der"
cmp -s "$WORK/crl.der" <(openssl crl -in "$crl" -outform DER) || fail "the socket's CRL differs from the file"
expect_match "list shows it revoked" "^${rsa_serial,,} +partner2 .* revoked " "$(admin list)"
say "ok: revoked at once: crl.pem verifies, lists the serial (keyCompromise), verify -crl_check refuses"

# --- reject, and the audit log ----------------------------------------------------------------
third="$(submit ec "$password" 2>/dev/null)" || fail "third submit"
admin reject "$third" --reason "use the host name mx.partner2.gov.uk" >/dev/null || fail "reject"
expect_eq "status of the rejected request" "rejected: use the host name mx.partner2.gov.uk" \
    "$(as hubenroll status "$third" --partner partner2 <<<"$password")"
refused "approve after reject" "is rejected already" admin approve "$third"
out="$(admin audit)"
for action in "enrollment password partner:partner2" "enroll:partner2 request submit request:$rsa_id" \
    "certificate issue request:$rsa_id" "certificate revoke certificate:${rsa_serial,,}" \
    "request reject request:$third"; do
    expect_match "audit: $action" "$action" "$out"
done
expect_match "audit names the admin's uid" 'root \(uid 0\) certificate issue' "$out"
expect_no_match "audit never holds the password" "$password" "$out"
for listing in requests list audit; do
    admin "$listing" --json | python3 -m json.tool >/dev/null || fail "hubctl ca $listing --json is not JSON"
done
expect_no_match "hub-ca's log never holds the password" "$password" "$(cat "$HUB_LOG")"
say "ok: rejection seen by the partner; issue, reject, revoke and password in the audit log"

# With a partner directory, hubctl ca password checks the name there first.
sed -e 's|^\[partners\]|[directory]|' -e 's|^file = "partners.toml"|path = "directory.db"|' \
    "$conf" >"$dir/hub-directory.conf"
"$HUBCTL" --config "$dir/hub-directory.conf" partner add partner3 --pending >/dev/null 2>&1 ||
    fail "hubctl partner add partner3"
refused "password for a partner the directory lacks" \
    "partner partner9: no such partner in the directory" \
    "$HUBCTL" --config "$dir/hub-directory.conf" ca password partner9
"$HUBCTL" --config "$dir/hub-directory.conf" ca password partner3 >/dev/null 2>&1 ||
    fail "hubctl ca password partner3 (in the directory)"
say "ok: ca password refuses a partner the directory does not hold"

kill -TERM "$HUBD_PID"
wait "$HUBD_PID" || fail "hub-ca exit status after SIGTERM: $?"
HUBD_PID=""
say "ok: hub-ca stops on SIGTERM"

# --- taking over a CA made by openssl (what rootfs' first boot makes) -------------------------
old="$WORK/firstboot"
mkdir -p "$old/ca"
chmod 0755 "$old"
chmod 0700 "$old/ca"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$old/ca/ca.key" 2>/dev/null
openssl req -x509 -new -key "$old/ca/ca.key" -out "$old/ca/ca.pem" -days 3650 -sha256 \
    -subj "/CN=Hubbox CA firstboot" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "subjectKeyIdentifier=hash" 2>/dev/null
sed -e 's|^state_dir = .*|state_dir = "'"$old"'/ca"|' -e 's|^socket = .*|socket = "'"$old"'/ca.sock"|' \
    -e 's|^public_dir = .*|public_dir = "'"$old"'/public"|' "$conf" >"$old/hub.conf"
HUB_LOG="$WORK/hub-ca-firstboot.log"  # A new file: the old one says "ready" already.
"$HUB_CA" --config "$old/hub.conf" serve 2>"$HUB_LOG" &
HUBD_PID=$!
wait_until 60 "hub-ca ready (firstboot CA)" grep -q 'ready on' "$HUB_LOG"
expect_eq "taken-over key owner and mode" "hubca 600" "$(stat -c '%U %a' "$old/ca/ca.key")"
out="$(openssl crl -in "$old/public/crl.pem" -CAfile "$old/ca/ca.pem" -noout 2>&1)"
expect_match "CRL of the taken-over CA" 'verify OK' "$out"
kill -TERM "$HUBD_PID"
wait "$HUBD_PID" || fail "hub-ca (firstboot CA) exit status after SIGTERM: $?"
HUBD_PID=""
say "ok: a CA made by openssl (PKCS#8 key) is taken over: handed to hubca, its CRL verifies"
