#!/usr/bin/env bash
# enroll.sh -- the enrollment page end to end with curl over HTTPS (root):
#   - real hub-ca and hub-enroll (enroll_setup.sh); the page verifies against the CA's ca.pem;
#   - `openssl req` makes an RSA 2048 key and request; curl fetches /request (cookie and
#     form token), posts the request with partner2's enrollment password: "pending approval"
#     and a request number; `hubctl ca requests` shows it pending;
#   - `hubctl ca approve`; /status says approved; /download gives PEM, DER and the PKCS#7
#     chain, checked with openssl x509 / pkcs7 / verify and against the requested key;
#     /crl (DER) and /crl.pem verify with openssl crl; /ca.pem is the CA;
#   - security headers on every answer; bad input, each with its status and page, and
#     hub-ca's requests, certificates and audit log unchanged by all of them: a malformed
#     request (422), a 1024-bit key (422), a wrong password (403), an oversized upload (413),
#     also when the client writes its body on after the answer, paced or all at once
#     (enroll_early_answer.py; the lingering close), and bounded for one that never stops,
#     the first form replayed (403), a forged token (403), a post from another site (403),
#     HTTP smuggling shapes (400/501), too many forms from one address (429);
#   - hub-enroll's log holds no password.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/enroll_setup.sh"

jar="$WORK/cookies"
# fetch_form PATH: GETs the form page (keeping the cookie) and prints its token.
fetch_form() {
    local page
    page="$(curl -sS --cacert "$ca_pem" -c "$jar" -b "$jar" "$url$1")" || fail "GET $1"
    grep -o 'name="token" value="[^"]*"' <<<"$page" | sed 's/.*value="//; s/"$//'
}
# post PATH OUT ARGS...: posts a form (curl --data-urlencode ARGS); prints the HTTP status,
# the page in OUT.
post() {
    local path="$1" out="$2"
    shift 2
    local args=()
    for field in "$@"; do
        args+=(--data-urlencode "$field")
    done
    curl -sS --cacert "$ca_pem" -c "$jar" -b "$jar" -o "$out" -w '%{http_code}' "${args[@]}" \
        "$url$path"
}
# problem FILE: the sentence of a page's "Not done" block.
problem() { sed -n '/role="alert"/,/<\/div>/p' "$1" | sed -n 's/^<p>\(.*\)<\/p>$/\1/p'; }

openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/mail.key" \
    -subj "/CN=mail.partner2.gov.uk/O=Partner Two" \
    -addext "subjectAltName=DNS:mail.partner2.gov.uk" -out "$WORK/mail.csr" 2>/dev/null ||
    fail "openssl req"

# --- the pages and their headers --------------------------------------------------------------
headers="$(curl -sS --cacert "$ca_pem" -D - -o "$WORK/index.html" "$url/")" || fail "GET /"
for header in "HTTP/1.1 200 OK" \
    "Content-Security-Policy: default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'" \
    "X-Frame-Options: DENY" "Cache-Control: no-store" "X-Content-Type-Options: nosniff"; do
    expect_match "GET / header" "^$header" "$headers"
done
expect_no_match "no script on the page" '<script' "$(cat "$WORK/index.html")"
token="$(fetch_form /request)"
[[ ${#token} -eq 56 ]] || fail "form token: expected 56 characters, got '$token'"
expect_match "cookie" '__Host-enroll	[A-Za-z0-9_-]{24}$' "$(cat "$jar")"
say "ok: pages served over TLS with CSP, X-Frame-Options, no-store; form token and cookie"

# --- submit, approve, download -----------------------------------------------------------------
first_form=("token=$token" "partner=partner2" "password=$password" "csr@$WORK/mail.csr")
status="$(post /request "$WORK/submitted.html" "${first_form[@]}")"
expect_eq "submit: status" 200 "$status"
expect_match "submit: pending" 'pending approval' "$(cat "$WORK/submitted.html")"
id="$(sed -n 's/.*<strong id="request-id">\([0-9]*\)<\/strong>.*/\1/p' "$WORK/submitted.html")"
[[ "$id" =~ ^[0-9]+$ ]] || fail "no request number on the page: $(cat "$WORK/submitted.html")"
expect_match "hub-ca has it pending" "^$id +pending +partner2 +RSA 2048 " "$(admin requests)"
say "ok: request $id submitted through the page, pending at hub-ca"

status="$(post /download "$WORK/early.html" "token=$(fetch_form /download)" "request_id=$id" \
    "partner=partner2" "password=$password" "format=pem")"
expect_eq "download before approval: status" 409 "$status"
expect_match "download before approval: page" "has no certificate: it is pending" \
    "$(problem "$WORK/early.html")"

admin approve "$id" >/dev/null || fail "hubctl ca approve $id"
status="$(post /status "$WORK/status.html" "token=$(fetch_form /status)" "request_id=$id" \
    "partner=partner2" "password=$password")"
expect_eq "status: status" 200 "$status"
expect_match "status: approved" 'id="request-state">approved: certificate [0-9a-f]{32} valid until' \
    "$(cat "$WORK/status.html")"
for format in pem der pkcs7; do
    status="$(post /download "$WORK/cert.$format" "token=$(fetch_form /download)" \
        "request_id=$id" "partner=partner2" "password=$password" "format=$format")"
    expect_eq "download $format: status" 200 "$status"
done
openssl x509 -in "$WORK/cert.pem" -noout -subject >/dev/null || fail "the PEM does not parse"
expect_eq "PEM: certificate and CA" 2 "$(grep -c 'BEGIN CERTIFICATE' "$WORK/cert.pem")"
openssl x509 -inform DER -in "$WORK/cert.der" -out "$WORK/cert-from-der.pem" ||
    fail "the DER does not parse"
cmp -s <(openssl x509 -in "$WORK/cert.pem") "$WORK/cert-from-der.pem" ||
    fail "PEM and DER hold different certificates"
chain="$(openssl pkcs7 -inform DER -in "$WORK/cert.pkcs7" -print_certs)" ||
    fail "the PKCS#7 does not parse"
expect_eq "PKCS#7: certificate and CA" 2 "$(grep -c 'BEGIN CERTIFICATE' <<<"$chain")"
expect_match "PKCS#7 holds the certificate" 'subject=CN = mail.partner2.gov.uk, O = Partner Two' "$chain"
out="$(openssl verify -CAfile "$ca_pem" "$WORK/cert-from-der.pem" 2>&1)" || fail "openssl verify: $out"
cmp -s <(openssl pkey -in "$WORK/mail.key" -pubout) \
    <(openssl x509 -in "$WORK/cert-from-der.pem" -noout -pubkey) ||
    fail "the certificate is not for the requested key"
say "ok: approved; PEM (2 certificates), DER and PKCS#7 (2 certificates) download and verify"

curl -sS --cacert "$ca_pem" -o "$WORK/crl.der" "$url/crl" || fail "GET /crl"
out="$(openssl crl -inform DER -in "$WORK/crl.der" -CAfile "$ca_pem" -noout 2>&1)"
expect_match "CRL (DER) signature" 'verify OK' "$out"
curl -sS --cacert "$ca_pem" -o "$WORK/crl.pem" "$url/crl.pem" || fail "GET /crl.pem"
cmp -s "$WORK/crl.der" <(openssl crl -in "$WORK/crl.pem" -outform DER) || fail "CRL PEM and DER differ"
curl -sS --cacert "$ca_pem" -o "$WORK/ca.pem" "$url/ca.pem" || fail "GET /ca.pem"
cmp -s "$WORK/ca.pem" "$ca_pem" || fail "/ca.pem is not the published CA certificate"
say "ok: CRL (DER and PEM) verifies against the CA; /ca.pem is the CA"

# --- bad input: a clear page, the right status, nothing changed -------------------------------
before="$(ca_state)"
openssl req -new -newkey rsa:1024 -nodes -keyout "$WORK/weak.key" -subj "/CN=weak.partner2.gov.uk" \
    -out "$WORK/weak.csr" 2>/dev/null || fail "openssl req 1024"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nnot a request at all\n-----END CERTIFICATE REQUEST-----\n' \
    >"$WORK/malformed.csr"
head -c 100000 /dev/zero | tr '\0' 'A' >"$WORK/huge.csr"
check_refused() {  # check_refused WHAT STATUS SENTENCE-REGEX FILE-OF-PAGE STATUS-GOT
    local what="$1" want="$2" sentence="$3" page="$4" got="$5"
    expect_eq "$what: status" "$want" "$got"
    expect_match "$what: the page says" "$sentence" "$(problem "$page")"
    [[ "$(ca_state)" == "$before" ]] || fail "$what changed hub-ca's state"
}
got="$(post /request "$WORK/bad1.html" "token=$(fetch_form /request)" partner=partner2 \
    "password=$password" "csr@$WORK/malformed.csr")"
check_refused "malformed request" 422 'not a well-formed PKCS#10 certificate request' "$WORK/bad1.html" "$got"
got="$(post /request "$WORK/bad2.html" "token=$(fetch_form /request)" partner=partner2 \
    "password=$password" "csr@$WORK/weak.csr")"
check_refused "1024-bit key" 422 'RSA 1024 bits; use RSA 2048' "$WORK/bad2.html" "$got"
got="$(post /request "$WORK/bad3.html" "token=$(fetch_form /request)" partner=partner2 \
    "password=not-the-password" "csr@$WORK/mail.csr")"
check_refused "wrong password" 403 'unknown partner or wrong enrollment password' "$WORK/bad3.html" "$got"
got="$(post /request "$WORK/bad4.html" "token=$(fetch_form /request)" partner=partner2 \
    "password=$password" "csr@$WORK/huge.csr")"
expect_eq "oversized upload: status" 413 "$got"
expect_match "oversized upload: the page says" 'at most [0-9]+ are accepted' "$(problem "$WORK/bad4.html")"
# The page answers 413 (and a framing 400) before reading the body; that answer must reach a
# client still writing it (the page's lingering close), and a client that never stops writing
# must not hold the connection past the drain bound (2 s after the answer).
out="$("$PYTHON" "$SRC/tests/integration/enroll_early_answer.py" "$enroll_port" "$ca_pem" \
    refused-bodies 2>&1)" || fail "an answer given before the body was read was lost:
$out"
show "$out"
held_s="$("$PYTHON" "$SRC/tests/integration/enroll_early_answer.py" "$enroll_port" "$ca_pem" \
    hold 2>&1)" || fail "a client writing forever after a 413: $held_s"
wait_until 20 "hub-enroll logs the end of the held connection" \
    grep -q 'closed 2000 ms after the answer; the visitor had not closed' "$ENROLL_LOG"
[[ "$(ca_state)" == "$before" ]] || fail "the oversized upload changed hub-ca's state"
say "ok: 413 and 400 reach a client still writing 100 KB (6 of 6); a client writing on is cut off after ${held_s} s"
got="$(post /request "$WORK/bad5.html" "${first_form[@]}")"
check_refused "replayed form" 403 'already sent once' "$WORK/bad5.html" "$got"
got="$(post /request "$WORK/bad6.html" "token=${token:0:50}AAAAAA" partner=partner2 \
    "password=$password" "csr@$WORK/mail.csr")"
check_refused "forged token" 403 'not made by this page' "$WORK/bad6.html" "$got"
got="$(curl -sS --cacert "$ca_pem" -b "$jar" -o "$WORK/bad7.html" -w '%{http_code}' \
    -H "Origin: https://evil.example" --data-urlencode "token=$(fetch_form /request)" \
    --data-urlencode partner=partner2 --data-urlencode "password=$password" \
    --data-urlencode "csr@$WORK/mail.csr" "$url/request")"
check_refused "post from another site" 403 'came from another site' "$WORK/bad7.html" "$got"
say "ok: malformed 422, 1024-bit 422, wrong password 403, 100 KB upload 413, replay 403, forged 403, cross-site 403; hub-ca unchanged"

# Request smuggling shapes, over TLS with openssl s_client (curl would fix them up).
raw() {  # raw BYTES: sends them, prints the status line of the answer.
    printf '%b' "$1" | timeout 20 openssl s_client -quiet -connect "127.0.0.1:$enroll_port" \
        -servername localhost 2>/dev/null | head -n 1 | tr -d '\r'
}
expect_match "Transfer-Encoding" '^HTTP/1.1 501 ' \
    "$(raw 'POST /request HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')"
expect_match "bare LF" '^HTTP/1.1 400 ' "$(raw 'GET / HTTP/1.1\nHost: x\n\n')"
expect_match "two lengths" '^HTTP/1.1 400 ' \
    "$(raw 'POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')"
[[ "$(ca_state)" == "$before" ]] || fail "the smuggling shapes changed hub-ca's state"
say "ok: Transfer-Encoding 501, bare LF 400, two Content-Lengths 400"

# The form limit (posts_per_minute = 60 here): a burst past it from one address gets 429.
limited=0
for ((i = 0; i < 70 && limited == 0; i++)); do
    got="$(curl -sS --cacert "$ca_pem" -o /dev/null -w '%{http_code}' -d 'x=1' "$url/status")"
    [[ "$got" != 429 ]] || limited=1
done
((limited == 1)) || fail "70 forms in a burst were never answered 429"
[[ "$(ca_state)" == "$before" ]] || fail "the burst changed hub-ca's state"
say "ok: a burst of forms from one address is answered 429 after the per-minute allowance"

expect_no_match "hub-enroll's log holds no password" "$password" "$(cat "$ENROLL_LOG")"
kill -TERM "$ENROLL_PID"
wait "$ENROLL_PID" || fail "hub-enroll exit status after SIGTERM: $?"
ENROLL_PID=""
expect_match "hub-enroll says it stopped" 'info: stopped' "$(cat "$ENROLL_LOG")"
say "ok: hub-enroll stops on SIGTERM"
