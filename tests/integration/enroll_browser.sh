#!/usr/bin/env bash
# enroll_browser.sh -- the enrollment page in a real browser (root; slow: Chromium starts):
# Debian's headless Chromium, driven over its DevTools protocol by enroll_browser.py, types
# partner2's request (made by `openssl req`) and enrollment password into the form and clicks
# the button; the page answers "pending approval" with a number; `hubctl ca approve` issues
# it; the browser's status page says approved and its download (PEM) holds the certificate
# for the requested key, verified with openssl; a wrong password typed in the browser gets
# the 403 page. Each page's screenshot is kept in $ENROLL_ARTIFACTS (CTest: the build tree's
# tests/integration/enroll_browser/, files 01-index.png .. 08-wrong-password.png).
source "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || skip "no chromium: run tools/setup"
/usr/bin/python3 -c 'import websocket' 2>/dev/null || skip "no python3-websocket: run tools/setup"
ENROLL_POSTS_PER_MINUTE=10  # The default: a person in a browser stays well inside it.
source "$(dirname "$0")/enroll_setup.sh"

shots="${ENROLL_ARTIFACTS:-$WORK/screenshots}"
mkdir -p "$shots"
rm -f "$shots"/*.png
openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/browser.key" \
    -subj "/CN=mx.partner2.gov.uk/O=Partner Two" \
    -addext "subjectAltName=DNS:mx.partner2.gov.uk" -out "$WORK/browser.csr" 2>/dev/null ||
    fail "openssl req"
printf '%s\n' "$password" >"$WORK/password"
chmod 0600 "$WORK/password"
spki="$(openssl x509 -in "$dir/tls/hub.pem" -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha256 -binary | base64)"

before="$(admin requests --json)"
seen="$(timeout 400 /usr/bin/python3 "$LIB_DIR/enroll_browser.py" "$url" "$spki" partner2 \
    "$WORK/password" "$WORK/browser.csr" "$shots" "$HUBCTL" --config "$conf" ca approve '{id}')" ||
    fail "the browser run failed (chromium's log: $shots/chromium.log)"
show "$seen"
field() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$seen" "$1"; }
expect_eq "start page" 200 "$(field index_status)"
expect_eq "request form" 200 "$(field request_form_status)"
expect_eq "submitted" 200 "$(field submit_status)"
expect_eq "title after submitting" "Request received: pending approval" "$(field submit_title)"
id="$(field request_id)"
expect_match "hub-ca has the browser's request (now approved)" "^$id +approved +partner2 +RSA 2048 " \
    "$(admin requests)"
expect_eq "status page" 200 "$(field status_status)"
expect_match "status: approved" '^approved: certificate [0-9a-f]{32} valid until' "$(field state)"
pem="$(field download)"
[[ "$pem" == *request-$id.pem ]] || fail "the download is named '$pem', expected request-$id.pem"
expect_eq "downloaded PEM: certificate and CA" 2 "$(grep -c 'BEGIN CERTIFICATE' "$pem")"
openssl x509 -in "$pem" -out "$WORK/browser.pem" || fail "the downloaded PEM does not parse"
out="$(openssl verify -CAfile "$ca_pem" "$WORK/browser.pem" 2>&1)" || fail "openssl verify: $out"
cmp -s <(openssl pkey -in "$WORK/browser.key" -pubout) <(openssl x509 -in "$WORK/browser.pem" -noout -pubkey) ||
    fail "the downloaded certificate is not for the browser's key"
expect_eq "wrong password in the browser" 403 "$(field wrong_password_status)"
expect_match "wrong password page" 'unknown partner or wrong enrollment password' \
    "$(field wrong_password_alert)"
expect_eq "scripts on the page" 0 "$(field scripts)"
after="$(admin requests --json)"
expect_eq "requests added by the browser run" 1 \
    "$(( $(grep -o '"id":' <<<"$after" | wc -l) - $(grep -o '"id":' <<<"$before" | wc -l) ))"
for name in 01-index 02-request-form 03-request-filled 04-request-pending 05-status-filled \
    06-status-approved 07-download-filled 08-wrong-password; do
    [[ "$(head -c 8 "$shots/$name.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
        fail "no PNG screenshot $shots/$name.png"
done
say "ok: Chromium typed and sent the form: request $id pending, approved, downloaded (PEM verifies, right key); wrong password 403"
say "screenshots: $shots/01-index.png .. 08-wrong-password.png"
