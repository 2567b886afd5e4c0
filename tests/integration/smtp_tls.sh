#!/usr/bin/env bash
# smtp_tls.sh -- end to end with real swaks and openssl s_client:
#   - swaks over STARTTLS with partner1's client certificate: "250 2.0.0 Ok: queued as <ID>",
#     and hubctl lists that ID with its sender and recipient;
#   - swaks over implicit TLS (smtps port): the same;
#   - the stored message carries a Received: header with the TLS version, the cipher and
#     its bits, and the client-certificate verdict ("verified OK" only when one was sent);
#   - before TLS, MAIL FROM gets "530 5.7.0";
#   - openssl s_client: TLS 1.3 by default, TLS 1.2 with an AEAD cipher, no TLS 1.1, no
#     CBC-only cipher list.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

# --no-client-cert: one message below is sent without a client certificate on purpose, to
# check what its Received: header says; identity.sh tests the default that refuses it.
hub_init --no-client-cert
hub_start

queued_id() { grep -Eo 'queued as [0-9A-F]{16}' <<<"$1" | head -n1 | awk '{print $3}'; }

# --- a) STARTTLS with a client certificate ------------------------------------------------
out="$(swaks_hub --port "$SMTP_PORT" --tls --header "Subject: swaks starttls")" ||
    fail "swaks STARTTLS exited with $?; expected 0. Transcript:
$out"
expect_match "swaks STARTTLS: reply to DATA" '<~  250 2\.0\.0 Ok: queued as [0-9A-F]{16}$' "$out"
id_starttls="$(queued_id "$out")"
say "ok: swaks STARTTLS + client cert: 250 2.0.0 Ok: queued as $id_starttls"

line="$(queue_tsv | awk -F'\t' -v id="$id_starttls" '$1 == id')"
[[ -n "$line" ]] || fail "hubctl queue list: expected queue id $id_starttls, got:
$(queue_tsv)"
expect_eq "hubctl: sender of $id_starttls" "joe@partner1.gov.uk" "$(cut -f2 <<<"$line")"
expect_eq "hubctl: recipients of $id_starttls" "ann@partner2.gov.uk.lgolhub.net" \
    "$(cut -f3 <<<"$line")"
say "ok: hubctl queue list shows $id_starttls from joe@partner1.gov.uk" \
    "to ann@partner2.gov.uk.lgolhub.net"

# --- a) implicit TLS --------------------------------------------------------------------------
out="$(swaks_hub --port "$SMTPS_PORT" --tls-on-connect --header "Subject: swaks smtps")" ||
    fail "swaks implicit TLS exited with $?; expected 0. Transcript:
$out"
expect_match "swaks implicit TLS: reply to DATA" '<~  250 2\.0\.0 Ok: queued as [0-9A-F]{16}$' \
    "$out"
id_smtps="$(queued_id "$out")"
grep -qx "$id_smtps" <<<"$(queue_tsv | cut -f1)" ||
    fail "hubctl queue list: expected queue id $id_smtps (implicit TLS), got:
$(queue_tsv)"
say "ok: swaks implicit TLS: queued as $id_smtps and listed"

# Without a client certificate, for the verdict below.
out="$(timeout 60 swaks --server 127.0.0.1 --port "$SMTPS_PORT" --tls-on-connect \
    --from joe@partner1.gov.uk --to ann@partner2.gov.uk.lgolhub.net 2>&1)" ||
    fail "swaks implicit TLS without a client certificate exited with $?. Transcript:
$out"
id_nocert="$(queued_id "$out")"
[[ -n "$id_nocert" ]] || fail "swaks without client certificate: expected 'queued as', got:
$out"

# --- a) Received: header ---------------------------------------------------------------------
for id in "$id_starttls" "$id_smtps" "$id_nocert"; do
    header="$(received_header "$id")"
    expect_match "Received: header of $id" '^Received: from ' "$header"
    expect_match "Received: header of $id: TLS version, cipher and bits" \
        '\(using TLSv1\.[23] with cipher [A-Za-z0-9_-]+ \([0-9]+/[0-9]+ bits\)\)' "$header"
done
header="$(received_header "$id_starttls")"
expect_match "Received: header of $id_starttls: client certificate verdict" \
    'CN "partner1\.gov\.uk".*verified OK' "$header"
say "ok: Received: header of $id_starttls:"
sed 's/^/    /' <<<"$header"
header="$(received_header "$id_nocert")"
expect_no_match "Received: header of $id_nocert (no client certificate sent)" 'verified OK' \
    "$header"
say "ok: Received: header without a client certificate does not claim a verified one:"
sed 's/^/    /' <<<"$header"

# --- b) no mail before TLS -------------------------------------------------------------------
out="$(timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --from joe@partner1.gov.uk \
    --to ann@partner2.gov.uk.lgolhub.net 2>&1)" && status=0 || status=$?
expect_match "swaks without STARTTLS: reply to MAIL FROM" '<\*\* 530 5\.7\.0' "$out"
expect_no_match "swaks without STARTTLS" 'queued as' "$out"
say "ok: MAIL FROM before TLS: $(grep -Eo '530 5\.7\.0.*' <<<"$out" | head -n1)" \
    "(swaks status $status)"

# --- TLS policy with openssl s_client --------------------------------------------------------
s_client() {
    timeout 30 openssl s_client -connect "127.0.0.1:$SMTP_PORT" -starttls smtp \
        -servername hub.lgolhub.net -CAfile "$STATE/ca.pem" -verify_return_error -brief \
        "$@" </dev/null 2>&1 || true
}
out="$(s_client)"
expect_match "openssl s_client -starttls smtp (defaults)" '^Protocol version: TLSv1\.3' "$out"
expect_match "openssl s_client: certificate verification" '^Verification: OK' "$out"
say "ok: s_client default: $(grep -E '^(Protocol version|Ciphersuite)' <<<"$out" | tr '\n' ' ')"
out="$(s_client -tls1_2)"
expect_match "openssl s_client -tls1_2" '^Protocol version: TLSv1\.2' "$out"
expect_match "openssl s_client -tls1_2: an AEAD cipher" '^Ciphersuite: .*(GCM|CHACHA20|CCM)' "$out"
say "ok: s_client -tls1_2: $(grep -E '^Ciphersuite' <<<"$out")"
out="$(s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')"
expect_no_match "openssl s_client -tls1_1 (TLS 1.2 is the minimum)" '^CONNECTION ESTABLISHED' "$out"
say "ok: s_client -tls1_1: refused"
out="$(s_client -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA')"
expect_no_match "openssl s_client -tls1_2 with CBC ciphers only (AEAD only)" \
    '^CONNECTION ESTABLISHED' "$out"
say "ok: s_client -tls1_2 with only CBC ciphers: refused"

hub_stop
say "PASS"
