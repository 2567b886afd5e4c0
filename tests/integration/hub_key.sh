#!/usr/bin/env bash
# hub_key.sh -- the hub's own key and certificate from an external CA (hubctl ca hub-key):
#   - an external CA made with openssl (root, intermediate, a P-256 leaf for the hub);
#   - import-pkcs12 of a bundle from `openssl pkcs12 -export` (OpenSSL 3's default PBES2,
#     AES-256-CBC): a wrong password is refused with nothing changed; the right one installs
#     the key and leaf + intermediate, keeps the old pair as *.previous, and hubd then serves
#     it (openssl s_client verifies 465 against the external root);
#   - import of a PEM key with a certificate that is not its own, of an expired certificate,
#     and of a chain that does not verify (another root): each refused with its sentence,
#     the files byte for byte unchanged;
#   - request (a key made by hubctl, a CSR for the external CA) and install of what the CA
#     signed: the pending key becomes [tls] key.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init
conf="$STATE/hub.conf"
hub_key() { "$HUBCTL" --config "$conf" ca hub-key "$@"; }
ext="$WORK/external"
mkdir -p "$ext"

# --- an external CA: root, intermediate, the hub's leaf ---------------------------------------
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec "$ext/root.key"
openssl req -x509 -new -key "$ext/root.key" -subj "/CN=External Root" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$ext/root.pem" 2>/dev/null || fail "root"
ec "$ext/inter.key"
openssl req -new -key "$ext/inter.key" -subj "/CN=External Issuing CA" -out "$ext/inter.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
    >"$ext/inter.ext"
openssl x509 -req -in "$ext/inter.csr" -CA "$ext/root.pem" -CAkey "$ext/root.key" -days 30 \
    -set_serial 0x1001 -extfile "$ext/inter.ext" -out "$ext/inter.pem" 2>/dev/null || fail "intermediate"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:hub.lgolhub.net,DNS:localhost,IP:127.0.0.1" \
    >"$ext/leaf.ext"
sign() {  # sign CSR OUT: the intermediate signs a leaf for the hub
    openssl x509 -req -in "$1" -CA "$ext/inter.pem" -CAkey "$ext/inter.key" -days 10 \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$ext/leaf.ext" -out "$2" 2>/dev/null ||
        fail "signing $1"
}
ec "$ext/leaf.key"
openssl req -new -key "$ext/leaf.key" -subj "/CN=hub.lgolhub.net" -out "$ext/leaf.csr" 2>/dev/null
sign "$ext/leaf.csr" "$ext/leaf.pem"
openssl pkcs12 -export -inkey "$ext/leaf.key" -in "$ext/leaf.pem" -certfile "$ext/inter.pem" \
    -passout pass:bundle-secret -out "$ext/hub.p12" 2>/dev/null || fail "openssl pkcs12 -export"

files_state() { sha256sum "$STATE/hub.key" "$STATE/hub.pem"; ls "$STATE"; }
# refused WHAT SENTENCE-REGEX COMMAND...: exit 1, the sentence, nothing changed.
refused() {
    local what="$1" sentence="$2"
    shift 2
    local before out status=0
    before="$(files_state)"
    out="$("$@" 2>&1)" || status=$?
    expect_eq "$what: exit status" 1 "$status"
    expect_match "$what: says why" "$sentence" "$out"
    [[ "$(files_state)" == "$before" ]] || fail "$what changed the hub's files:
$(files_state)"
    say "ok: $what refused: $(head -n1 <<<"$out")"
}

# --- PKCS#12 ------------------------------------------------------------------------------------
refused "PKCS#12 with a wrong password" 'wrong password' \
    bash -c "echo not-the-password | \"\$0\" --config \"\$1\" ca hub-key import-pkcs12 \"\$2\" --ca \"\$3\"" \
    "$HUBCTL" "$conf" "$ext/hub.p12" "$ext/root.pem"
old_key="$(sha256sum <"$STATE/hub.key")"
out="$(echo bundle-secret | hub_key import-pkcs12 "$ext/hub.p12" --ca "$ext/root.pem" 2>&1)" ||
    fail "import-pkcs12: $out"
expect_match "import-pkcs12: installed" 'installed the hub.s key .*CN=hub\.lgolhub\.net.*2 certificates in the chain' "$out"
expect_eq "the served chain: leaf and intermediate" 2 "$(grep -c 'BEGIN CERTIFICATE' "$STATE/hub.pem")"
cmp -s <(openssl pkey -in "$ext/leaf.key" -pubout) <(openssl pkey -in "$STATE/hub.key" -pubout) ||
    fail "hub.key is not the bundle's key"
expect_eq "the old key kept" "$old_key" "$(sha256sum <"$STATE/hub.key.previous")"
expect_eq "key mode" 600 "$(stat -c %a "$STATE/hub.key")"
say "ok: PKCS#12 installed: $(head -n1 <<<"$out")"

hub_start
served="$(echo QUIT | timeout 30 openssl s_client -connect "127.0.0.1:$SMTPS_PORT" -quiet \
    -CAfile "$ext/root.pem" -verify_return_error -verify_hostname hub.lgolhub.net 2>&1 || true)"
expect_match "hubd serves the imported certificate (verified against the external root)" \
    '^220 ' "$served"
hub_stop
say "ok: hubd serves it: s_client verified 465 against the external root"

# --- PEM imports that must be refused ------------------------------------------------------------
ec "$ext/other.key"
refused "a key that is not the certificate's" 'private key does not match the certificate' \
    hub_key import "$ext/other.key" "$ext/leaf.pem" --chain "$ext/inter.pem" --ca "$ext/root.pem"
python3 - "$ext" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
d = sys.argv[1]
inter = x509.load_pem_x509_certificate(open(f"{d}/inter.pem", "rb").read())
inter_key = serialization.load_pem_private_key(open(f"{d}/inter.key", "rb").read(), None)
key = serialization.load_pem_private_key(open(f"{d}/leaf.key", "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.lgolhub.net")]))
        .issuer_name(inter.subject).public_key(key.public_key()).serial_number(0x2002)
        .not_valid_before(now - datetime.timedelta(days=20))
        .not_valid_after(now - datetime.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(inter_key, hashes.SHA256()))
open(f"{d}/expired.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
refused "an expired certificate" 'has expired' \
    hub_key import "$ext/leaf.key" "$ext/expired.pem" --chain "$ext/inter.pem" --ca "$ext/root.pem"
ec "$ext/stranger.key"
openssl req -x509 -new -key "$ext/stranger.key" -subj "/CN=Another Root" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -out "$ext/stranger.pem" 2>/dev/null
refused "a chain that does not verify" 'chain does not verify' \
    hub_key import "$ext/leaf.key" "$ext/leaf.pem" --chain "$ext/inter.pem" --ca "$ext/stranger.pem"
refused "no root to check against" 'give --ca FILE' \
    hub_key import "$ext/leaf.key" "$ext/leaf.pem" --chain "$ext/inter.pem"

# --- a key made here, a CSR for the external CA, the certificate installed --------------------
hub_key request --out "$WORK/hub.csr" 2>"$WORK/request.err" || fail "request: $(cat "$WORK/request.err")"
openssl req -in "$WORK/hub.csr" -noout -verify 2>&1 | grep -q 'verify OK' ||
    fail "the CSR's self-signature does not verify"
expect_match "CSR subject" 'CN ?= ?hub\.lgolhub\.net' "$(openssl req -in "$WORK/hub.csr" -noout -subject)"
expect_eq "pending key mode" 600 "$(stat -c %a "$STATE/hub.key.pending")"
sign "$WORK/hub.csr" "$WORK/signed.pem"
out="$(hub_key install "$WORK/signed.pem" --chain "$ext/inter.pem" --ca "$ext/root.pem" 2>&1)" ||
    fail "install: $out"
[[ ! -e "$STATE/hub.key.pending" ]] || fail "the pending key is still there after install"
cmp -s <(openssl x509 -in "$WORK/signed.pem" -noout -pubkey) <(openssl pkey -in "$STATE/hub.key" -pubout) ||
    fail "the installed key is not the one the CSR was made with"
say "ok: request made a key here and a CSR; install put it in place: $(head -n1 <<<"$out")"
