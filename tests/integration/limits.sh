#!/usr/bin/env bash
# limits.sh -- message size and line length limits:
#   - MAIL FROM ... SIZE=6000000 (limit 5242880): 552 5.3.4; the session goes on;
#   - a 6 MiB body without SIZE: read to the end, one 552 5.3.4, then the same connection
#     sends a small message (250);
#   - a 10,000-byte command line, before TLS and over TLS: 500 5.5.2 once, then NOOP 250
#     (smtp_peer.py), and the same over openssl s_client.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init
hub_start
out="$(peer size 2>&1)" || fail "size limits:
$out"
show "$out"
out="$(peer long-line 2>&1)" || fail "10,000-byte command line:
$out"
show "$out"

# The same long line through openssl s_client (it sends EHLO and STARTTLS itself).
long="NOOP $(head -c 9993 /dev/zero | tr '\0' 'y')"
out="$(printf 'EHLO s-client.partner1.gov.uk\r\n%s\r\nNOOP\r\nQUIT\r\n' "$long" |
    timeout 60 openssl s_client -quiet -connect "127.0.0.1:$SMTP_PORT" -starttls smtp \
        -CAfile "$STATE/ca.pem" -cert "$STATE/partner1.pem" -key "$STATE/partner1.key" 2>&1 |
    tr -d '\r' | grep -E '^[0-9]{3}[ -]' || true)"
# Final reply lines only: s_client's own EHLO (before STARTTLS), then ours, the long line,
# NOOP and QUIT.
codes="$(grep -E '^[0-9]{3} ' <<<"$out" | cut -c1-3 | tr '\n' ' ')"
expect_eq "openssl s_client: reply codes (EHLO, EHLO, 10,000-byte line, NOOP, QUIT)" \
    "250 250 500 250 221 " "$codes"
expect_match "openssl s_client: the 10,000-byte line" '^500 5\.5\.2' "$out"
say "ok: openssl s_client: 10,000-byte line -> $(grep -E '^500 ' <<<"$out");" \
    "then NOOP 250, QUIT 221"
hub_stop
say "PASS"
