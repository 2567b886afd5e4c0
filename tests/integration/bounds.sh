#!/usr/bin/env bash
# bounds.sh -- the session bounds not covered by limits.sh, against the real daemon:
#   - before TLS only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT: MAIL, RCPT, DATA, VRFY, HELP get
#     530 5.7.0, and the session can still upgrade and send;
#   - recipients per message (100): the 101st RCPT gets 452 4.5.3, the message goes to 100;
#   - errors per session (10): then 421 4.7.0 and the connection is closed;
#   - a text line longer than 1000 bytes in DATA is refused, the session goes on;
#   - connections per partner (2) and overall (3), one shard, partner1 = 127.0.0.1 and
#     partner2 = 127.0.0.2: 421 4.7.0 and 421 4.3.2, and a freed slot is usable again.
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init
hub_start
for scenario in before-tls "recipients --count 100" "errors --count 10" text-line; do
    # shellcheck disable=SC2086 # scenario names carry their own options
    out="$(peer $scenario 2>&1)" || fail "$scenario:
$out"
    show "$out"
done
line="$(queue_tsv | awk -F'\t' '{ n = split($3, r, ","); if (n == 100) print $1 }')"
[[ -n "$line" ]] || fail "hubctl: expected a message with 100 recipients, got:
$(queue_tsv | cut -f1,3 | cut -c1-200)"
say "ok: hubctl lists message $line with 100 recipients"
hub_stop

hub_init --partners-file --shards 1 --connections-max 3 --connections-per-partner 2
"$PYTHON" - "$STATE/partners.toml" <<'PYEOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
sources = iter(["127.0.0.1/32", "127.0.0.2/32"])
text, count = re.subn(r'^inbound = \[.*\]$', lambda m: f'inbound = ["{next(sources)}"]', text,
                      flags=re.M)
assert count == 2, f"expected 2 inbound lines in {path}, found {count}"
open(path, "w").write(text)
PYEOF
hub_start
out="$(peer connection-limits 2>&1)" || fail "connection limits:
$out"
show "$out"
hub_stop
say "PASS"
