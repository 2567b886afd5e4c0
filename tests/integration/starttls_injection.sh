#!/usr/bin/env bash
# starttls_injection.sh -- "STARTTLS\r\nRSET\r\n" sent in clear in ONE
# packet; after the TLS handshake the hub must not answer the injected RSET (RFC 3207 4.2,
# CVE-2011-0411 class). The conversation itself is in smtp_peer.py (scenario injection).
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init
hub_start
out="$(peer injection 2>&1)" || fail "STARTTLS injection:
$out"
show "$out"
hub_stop
say "PASS"
