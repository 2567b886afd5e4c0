#!/usr/bin/env bash
# ca_e2e.sh -- the built-in CA end to end, with hubd enforcing revocation (root):
#   - a hub (tools/dev-init --ca --enroll) with real hub-ca, hub-enroll and hubd; hubd trusts
#     both the dev CA and hub-ca's CA for client certificates and loads hub-ca's crl.pem;
#   - `openssl req` makes a P-256 key and a request for partner2.gov.uk; curl submits it
#     through the enrollment page with partner2's enrollment password; `hubctl ca approve`;
#   - the certificate downloads as PEM, DER and PKCS#7 from the page, each checked with
#     openssl (x509, pkcs7, verify against hub-ca's CA, the requested key);
#   - swaks relays through hubd with it as the client certificate: 250, queued;
#   - `hubctl ca revoke SERIAL --reason keyCompromise` (with --config, so hubctl asks hubd to
#     reload): the very next swaks session with that certificate gets 530 5.7.0 at MAIL FROM,
#     and hubd's log names the revocation; hubd was not restarted;
#   - a second certificate, revoked through the socket only (no reload asked): hubd's own
#     timer takes the new CRL within crl_refresh_interval_s (60 s) and refuses it too;
#   - a CRL that does not verify (hub-ca's signature broken) or that is missing is not
#     taken: the reload says so and the revocation stays in force;
#   - hubd started while crl.pem is missing refuses a valid hub-ca certificate (fail closed,
#     never "no CRL, so accept"), and accepts it within seconds of crl.pem coming back;
#     a certificate of the dev CA, which publishes no CRL, is accepted all along.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL HUB_CA HUB_ENROLL
[[ $EUID -eq 0 ]] || skip "needs root: hub-ca, hub-enroll and hubd each switch to their own account"
command -v swaks >/dev/null || skip "no swaks"

make_work
read -r enroll_port < <(pick_ports 1)
hub_init --ca "$WORK/ca" --enroll "127.0.0.1:$enroll_port"
ENROLL_ON_HUB=1 source "$(dirname "$0")/enroll_setup.sh"

# hubd verifies partners against dev-init's CA (partner1.pem ...) and hub-ca's CA.
cat "$STATE/ca.pem" "$ca_pem" >"$STATE/client-cas.pem"
chmod 0644 "$STATE/client-cas.pem"
sed -i 's/^client_ca = "ca.pem"$/client_ca = "client-cas.pem"/' "$STATE/hub.conf"
grep -q '^client_ca = "client-cas.pem"$' "$STATE/hub.conf" || fail "could not set client_ca"
hub_start
wait_until 10 "hubd to load the CRL" grep -q 'CRL: loaded .*/public/crl.pem' "$HUB_LOG"
say "ok: hubd started with hub-ca's CRL: $(grep -o 'CRL: loaded.*' "$HUB_LOG" | head -1)"

jar="$WORK/cookies"
fetch_form() {
    local page
    page="$(curl -sS --cacert "$page_ca" -c "$jar" -b "$jar" "$url$1")" || fail "GET $1"
    grep -o 'name="token" value="[^"]*"' <<<"$page" | sed 's/.*value="//; s/"$//'
}
post() {  # post PATH OUT FIELD...: prints the HTTP status; the page goes to OUT.
    local path="$1" out="$2"
    shift 2
    local args=()
    for field in "$@"; do
        args+=(--data-urlencode "$field")
    done
    curl -sS --cacert "$page_ca" -c "$jar" -b "$jar" -o "$out" -w '%{http_code}' "${args[@]}" \
        "$url$path"
}

# --- request, submit through the page, approve, download ---------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/p2.key" \
    -subj "/CN=partner2.gov.uk/O=Partner Two" -addext "subjectAltName=DNS:partner2.gov.uk" \
    -out "$WORK/p2.csr" 2>/dev/null || fail "openssl req"
status="$(post /request "$WORK/submitted.html" "token=$(fetch_form /request)" partner=partner2 \
    "password=$password" "csr@$WORK/p2.csr")"
expect_eq "submit through the page: status" 200 "$status"
id="$(sed -n 's/.*<strong id="request-id">\([0-9]*\)<\/strong>.*/\1/p' "$WORK/submitted.html")"
[[ "$id" =~ ^[0-9]+$ ]] || fail "no request number on the page: $(cat "$WORK/submitted.html")"
admin approve "$id" >"$WORK/approve.out" || fail "hubctl ca approve $id"
say "ok: request $id submitted with curl, approved: $(cat "$WORK/approve.out")"

for format in pem der pkcs7; do
    status="$(post /download "$WORK/p2.$format" "token=$(fetch_form /download)" "request_id=$id" \
        partner=partner2 "password=$password" "format=$format")"
    expect_eq "download $format: status" 200 "$status"
done
expect_eq "PEM: certificate and CA" 2 "$(grep -c 'BEGIN CERTIFICATE' "$WORK/p2.pem")"
openssl x509 -inform DER -in "$WORK/p2.der" -out "$WORK/p2-leaf.pem" || fail "the DER does not parse"
cmp -s <(openssl x509 -in "$WORK/p2.pem") "$WORK/p2-leaf.pem" || fail "PEM and DER differ"
chain="$(openssl pkcs7 -inform DER -in "$WORK/p2.pkcs7" -print_certs)" || fail "PKCS#7 does not parse"
expect_eq "PKCS#7: certificate and CA" 2 "$(grep -c 'BEGIN CERTIFICATE' <<<"$chain")"
cmp -s <(openssl x509 <<<"$chain") "$WORK/p2-leaf.pem" || fail "the PKCS#7's first certificate differs"
out="$(openssl verify -CAfile "$ca_pem" "$WORK/p2-leaf.pem" 2>&1)" || fail "openssl verify: $out"
cmp -s <(openssl pkey -in "$WORK/p2.key" -pubout) <(openssl x509 -in "$WORK/p2-leaf.pem" -noout -pubkey) ||
    fail "the certificate is not for the requested key"
serial="$(openssl x509 -in "$WORK/p2-leaf.pem" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f')"
say "ok: PEM (2), DER and PKCS#7 (2) downloaded and verified; serial $serial"

# swaks_with CERT KEY [FROM TO]: one relay attempt over STARTTLS, by default from partner2
# to partner1.
swaks_with() {
    timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --helo mx.partner2.gov.uk \
        --tls-cert "$1" --tls-key "$2" --from "${3:-ann@partner2.gov.uk}" \
        --to "${4:-joe@partner1.gov.uk.lgolhub.net}" 2>&1 || true
}
hubd_pid_before="$HUBD_PID"

# --- relay with the new certificate ------------------------------------------------------------
out="$(swaks_with "$WORK/p2-leaf.pem" "$WORK/p2.key")"
expect_match "issued certificate: MAIL FROM" '^<~ +250 2\.1\.0' "$out"
expect_match "issued certificate: DATA" '^<~ +250 2\.0\.0 Ok: queued as [0-9A-F]{16}$' "$out"
say "ok: relayed with the hub-ca certificate: $(grep -E '^<~ +250 2\.0\.0' <<<"$out")"

# --- revoke (hubctl asks hubd to reload): the next session is refused -------------------------
revoked="$(admin revoke "$serial" --reason keyCompromise 2>&1)" || fail "hubctl ca revoke: $revoked"
expect_match "revoke: hubd reloaded and took the new CRL" 'hubd reloaded: .*CRL: loaded' "$revoked"
out="$(swaks_with "$WORK/p2-leaf.pem" "$WORK/p2.key")"
expect_match "revoked certificate: MAIL FROM refused" '^<~\* +530 5\.7\.0 ' "$out"
expect_no_match "revoked certificate: queued" 'queued as' "$out"
expect_match "hubd's log names the revocation" \
    'reject: mail from \[127\.0\.0\.1\]: 530 5\.7\.0 .*reason=certificate_chain; .*detail=[^;]*revoked' \
    "$(cat "$HUB_LOG")"
expect_eq "hubd was not restarted" "$hubd_pid_before" "$HUBD_PID"
kill -0 "$HUBD_PID" || fail "hubd is gone"
say "ok: after revoke the next session is refused: $(grep -E '^<~\* +530' <<<"$out");" \
    "hubd: $(grep -Eo 'reason=certificate_chain; .*revoked.*' "$HUB_LOG" | head -n1)"

# --- a CRL hubd must not take keeps the last good one ---------------------------------------
crl="$dir/public/crl.pem"
cp "$crl" "$WORK/crl.good"
# Flip a byte of the signature (the last base64 line before END): the CRL no longer verifies.
python3 - "$crl" <<'PY'
import base64, sys
path = sys.argv[1]
text = open(path).read()
body = "".join(l for l in text.splitlines() if not l.startswith("-----"))
der = bytearray(base64.b64decode(body))
der[-3] ^= 0x01
b64 = base64.b64encode(bytes(der)).decode()
lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
open(path + ".tmp", "w").write("-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n")
PY
chmod 0644 "$crl.tmp"
mv "$crl.tmp" "$crl"
reload_out="$("$HUBCTL" --config "$conf" reload 2>&1)" || true
expect_match "a CRL that does not verify is not taken" 'CRL not taken: .*stays in force' "$reload_out"
rm -f "$crl"
reload_out="$("$HUBCTL" --config "$conf" reload 2>&1)" || true
expect_match "a missing CRL is not taken" 'CRL not taken: .*cannot read.*stays in force' "$reload_out"
out="$(swaks_with "$WORK/p2-leaf.pem" "$WORK/p2.key")"
expect_match "still refused with the last good CRL" '^<~\* +530 5\.7\.0 ' "$out"
cp "$WORK/crl.good" "$crl"
chmod 0644 "$crl"
say "ok: a broken or missing crl.pem is not taken; the revocation holds"

# --- revoke through the socket only: hubd's timer takes the CRL -------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/p2b.key" \
    -subj "/CN=partner2.gov.uk/O=Partner Two" -out "$WORK/p2b.csr" 2>/dev/null || fail "openssl req"
id_b="$(printf '%s\n' "$password" | "$HUBCTL" --ca-socket "$dir/run/ca.sock" ca submit partner2 "$WORK/p2b.csr" 2>/dev/null)" ||
    fail "hubctl ca submit"
admin approve "$id_b" >/dev/null || fail "approve $id_b"
admin fetch "$id_b" --format der --out "$WORK/p2b.der" || fail "fetch $id_b"
openssl x509 -inform DER -in "$WORK/p2b.der" -out "$WORK/p2b.pem" || fail "p2b DER"
out="$(swaks_with "$WORK/p2b.pem" "$WORK/p2b.key")"
expect_match "second certificate: DATA" '^<~ +250 2\.0\.0 Ok: queued as' "$out"
serial_b="$(openssl x509 -in "$WORK/p2b.pem" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f')"
"$HUBCTL" --ca-socket "$dir/run/ca.sock" ca revoke "$serial_b" --reason superseded >"$WORK/revoke_b.out" 2>&1 ||
    fail "revoke $serial_b: $(cat "$WORK/revoke_b.out")"
expect_match "revoke without --config asks no reload" 'hubd was not asked to reload' "$(cat "$WORK/revoke_b.out")"
refused_b() { swaks_with "$WORK/p2b.pem" "$WORK/p2b.key" | grep -qE '^<~\* +530 5\.7\.0 '; }
started=$SECONDS
wait_until 150 "hubd's timer to take the CRL that revokes $serial_b" refused_b
grep -q 'CRL: loaded .*(timer)' "$HUB_LOG" || fail "no CRL load by the timer in hubd's log"
say "ok: revoked through the socket only, refused after $((SECONDS - started)) s (hubd's timer)"
expect_eq "hubd was not restarted" "$hubd_pid_before" "$HUBD_PID"

# --- no CRL at start: the hub CA's certificates are refused until one is loaded ----------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/p2c.key" \
    -subj "/CN=partner2.gov.uk/O=Partner Two" -out "$WORK/p2c.csr" 2>/dev/null || fail "openssl req"
id_c="$(printf '%s\n' "$password" | "$HUBCTL" --ca-socket "$dir/run/ca.sock" ca submit partner2 "$WORK/p2c.csr" 2>/dev/null)" ||
    fail "hubctl ca submit"
admin approve "$id_c" >/dev/null || fail "approve $id_c"
admin fetch "$id_c" --format der --out "$WORK/p2c.der" || fail "fetch $id_c"
openssl x509 -inform DER -in "$WORK/p2c.der" -out "$WORK/p2c.pem" || fail "p2c DER"
hub_stop
mv "$crl" "$WORK/crl.aside"
hub_start
wait_until 10 "hubd to report the missing CRL" grep -q 'CRL (start): not taken: .*cannot read.*no CRL is loaded' "$HUB_LOG"
out="$(swaks_with "$WORK/p2c.pem" "$WORK/p2c.key")"
expect_match "no CRL loaded: a valid hub-ca certificate is refused" '^<~\* +530 5\.7\.0 ' "$out"
out="$(swaks_with "$STATE/partner1.pem" "$STATE/partner1.key" alice@partner1.gov.uk joe@partner2.gov.uk.lgolhub.net)"
expect_match "a dev-CA certificate (no CRL published) is accepted" '^<~ +250 2\.0\.0 Ok: queued as' "$out"
mv "$WORK/crl.aside" "$crl"
accepted_c() { swaks_with "$WORK/p2c.pem" "$WORK/p2c.key" | grep -qE '^<~ +250 2\.0\.0 Ok: queued as'; }
started=$SECONDS
wait_until 60 "hubd to load crl.pem once it is back" accepted_c
say "ok: without a CRL the hub CA's certificate is refused; accepted $((SECONDS - started)) s after crl.pem came back; the dev CA's all along"
