#!/usr/bin/env bash
# relay.sh -- never an open relay.
#   - RCPT to user@example.com (outside the hub domain): 550 5.7.1 (swaks);
#   - RCPT to user@unknown.gov.uk.lgolhub.net (hub domain, no such partner): 550 5.1.2;
#   - RCPT to ann@partner2.gov.uk.lgolhub.net: accepted (the control);
#   - with every connector narrowed to 127.0.0.2/32, a connection from 127.0.0.1 gets
#     554 5.7.1 at greeting and is closed, while 127.0.0.2 is still greeted.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init --partners-file  # Narrowed below by editing partners.toml.
hub_start

rcpt_reply() {
    swaks_hub --port "$SMTP_PORT" --tls --to "$1" --quit-after RCPT || true
}
out="$(rcpt_reply user@example.com)"
expect_match "RCPT TO:<user@example.com> (not the hub domain)" '<~\* +550 5\.7\.1' "$out"
say "ok: RCPT TO:<user@example.com>: $(grep -Eo '550 5\.7\.1.*' <<<"$out")"
out="$(rcpt_reply user@unknown.gov.uk.lgolhub.net)"
expect_match "RCPT TO:<user@unknown.gov.uk.lgolhub.net> (no such partner)" '<~\* +550 5\.1\.2' \
    "$out"
say "ok: RCPT TO:<user@unknown.gov.uk.lgolhub.net>: $(grep -Eo '550 5\.1\.2.*' <<<"$out")"
out="$(rcpt_reply ann@partner2.gov.uk.lgolhub.net)"
expect_match "RCPT TO:<ann@partner2.gov.uk.lgolhub.net> (the control)" '<~ +250 2\.1\.5' "$out"
say "ok: RCPT TO:<ann@partner2.gov.uk.lgolhub.net>: 250 (control)"
# Pipelined relay attempt inside an accepted transaction: the bad recipient alone is refused
# and nothing is queued for it.
before="$(queue_count)"
out="$(swaks_hub --port "$SMTP_PORT" --tls --to user@example.com,ann@partner2.gov.uk.lgolhub.net \
    --pipeline || true)"
expect_match "mixed recipients: user@example.com" '550 5\.7\.1' "$out"
expect_no_match "queue: a recipient outside the hub domain" 'example\.com' "$(queue_tsv)"
say "ok: mixed recipients: example.com refused, nothing queued for it" \
    "($before -> $(queue_count) messages)"
hub_stop

# Connector ACL: every partner accepts only 127.0.0.2 from now on.
sed -i 's#^inbound = \["127.0.0.0/8"\]#inbound = ["127.0.0.2/32"]#' "$STATE/partners.toml"
grep -q '"127.0.0.2/32"' "$STATE/partners.toml" ||
    fail "could not narrow the connectors in $STATE/partners.toml:
$(cat "$STATE/partners.toml")"
expect_no_match "partners.toml after narrowing" '127\.0\.0\.0/8' "$(cat "$STATE/partners.toml")"
hub_start
out="$(peer reject-source --source 127.0.0.1 2>&1)" || fail "connection from outside:
$out"
show "$out"
out="$(peer accept-source --source 127.0.0.2 2>&1)" || fail "connection from 127.0.0.2:
$out"
show "$out"
hub_stop
say "PASS"
