#!/usr/bin/env bash
# smuggling.sh -- SMTP smuggling. Over STARTTLS and over implicit TLS,
# a DATA body carries a fake end of data (\n.\n, \r.\n, \n.\r\n, \r\n.\r) followed by a
# whole second transaction (MAIL FROM:<evil@x.example> ... DATA ... .). The hub must answer
# 521 5.5.2 and close, and the queue must gain nothing: neither the smuggled message nor the
# message that carried it.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init
hub_start
before="$(queue_count)"
out="$(peer smuggling 2>&1)" || fail "smuggling:
$out"
show "$out"

queue="$(queue_tsv)"
after="$(queue_count)"
expect_no_match "queue after the smuggling attempts: a smuggled sender" 'evil@x\.example' "$queue"
expect_no_match "queue after the smuggling attempts: a smuggled Message-ID" 'smuggled-' "$queue"
expect_no_match "queue after the smuggling attempts: the carrier messages" 'legit-' "$queue"
expect_eq "messages in the queue before and after 8 smuggling attempts" "$before" "$after"
say "ok: queue unchanged ($before messages before, $after after); no evil@x.example," \
    "no smuggled Message-ID"

# The hub still serves normally afterwards.
id="$(peer send --subject "after smuggling" 2>&1)" || fail "a normal message after the attempts:
$id"
expect_match "a normal message after the attempts" '^[0-9A-F]{16}$' "$id"
say "ok: a normal message afterwards: queued as $id"
hub_stop
say "PASS"
