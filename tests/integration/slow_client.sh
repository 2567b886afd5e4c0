#!/usr/bin/env bash
# slow_client.sh -- a client that sends one byte every 2 s, with
# [limits] command_timeout_s = 5, gets "421 4.4.2" and is disconnected within a bounded
# time (before TLS and over TLS).
source "$(dirname "$0")/lib.sh"
need_binaries HUBD HUBCTL

hub_init --command-timeout 5
hub_start
out="$(peer slow --timeout 5 2>&1)" || fail "slow client:
$out"
show "$out"
hub_stop
say "PASS"
