# shellcheck shell=bash
# postfix/lib.sh -- private Postfix partner instances for an integration test. Source it after
# ../lib.sh:
#
#   source "$(dirname "$0")/../lib.sh"          # or postfix/../lib.sh from a test elsewhere
#   source "$(dirname "$0")/postfix/lib.sh"
#   need_postfix                                # skip (77) unless root with Postfix installed
#   make_work                                   # or hub_init, which makes $WORK and $STATE
#   partner_start partner1 --domain partner1.gov.uk --smtp-port "$P1" \
#       --hub "127.0.0.1:$SMTP_PORT" --ca "$STATE/ca.pem" \
#       --cert "$STATE/partner1.pem" --key "$STATE/partner1.key"
#   partner send "$(partner_dir partner1)" --from alice@partner1.gov.uk --to ...
#   partner_restart partner1 --domain ... --no-starttls   # new options, same port throughout
#
# Instances live in $WORK/postfix-<name>/ (see ./partner for the layout and every command).
# The EXIT trap of ../lib.sh is wrapped: every instance started here is stopped first (no
# master or child process outlives the test), and on failure the end of each instance's log
# is printed beside the hubd log.

POSTFIX_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PARTNER="$POSTFIX_LIB_DIR/partner"
PARTNER_DIRS=()

need_postfix() {
    [[ $EUID -eq 0 ]] || skip "private Postfix instances need root"
    if ! command -v postfix >/dev/null || [[ ! -x /usr/lib/postfix/sbin/master ]]; then
        skip "Postfix is not installed (tools/setup installs it)"
    fi
    command -v swaks >/dev/null || skip "swaks is not installed"
}

# partner ARGS...: the harness command (tests/integration/postfix/partner).
partner() { "$PARTNER" "$@"; }

partner_dir() { echo "$WORK/postfix-$1"; }

# partner_run COMMAND NAME [options...]: `partner COMMAND` on instance NAME in
# $WORK/postfix-NAME, remembered for the cleanup; --name is added to options given.
partner_run() {
    local command="$1" name="$2"
    shift 2
    local dir
    dir="$(partner_dir "$name")"
    [[ " ${PARTNER_DIRS[*]} " == *" $dir "* ]] || PARTNER_DIRS+=("$dir")
    local args=()
    [[ $# -eq 0 ]] || args=(--name "$name" "$@")
    local out
    out="$("$PARTNER" "$command" "$dir" "${args[@]}" 2>&1)" || fail "partner $command $name: $out"
    say "$out"
}

# partner_start NAME [start options...]: start instance NAME (options as for `partner start`;
# none = start again with the same configuration).
partner_start() { partner_run start "$@"; }

# partner_restart NAME [start options...]: instance NAME comes back with the options given
# (none = as before; started if it is not running) without ever giving up its port (`partner
# restart`: postfix reload, the sessions in progress ended). For a partner that changes (its
# TLS offer, its certificate); partner_stop is for a partner that is down.
partner_restart() { partner_run restart "$@"; }

# partner_stop NAME: the instance stops ("the partner is down": a connection to its port is
# refused) and its ports stay reserved for it until partner_start or partner_restart brings it
# back, or the test ends (`partner stop --hold-port`): no test running beside this one can take
# them meanwhile, so the instance can always start again and hubd never reaches a stranger.
partner_stop() {
    local out
    out="$("$PARTNER" stop "$(partner_dir "$1")" --hold-port 2>&1)" || fail "partner stop $1: $out"
}

# partner_log NAME: the instance's maillog (postlogd).
partner_log() { "$PARTNER" log "$(partner_dir "$1")"; }

postfix_cleanup() {
    local status=$?
    set +e
    local dir
    for dir in "${PARTNER_DIRS[@]}"; do
        "$PARTNER" stop "$dir" >/dev/null 2>&1 || echo "[$TEST_NAME] could not stop $dir" >&2
        if [[ $status -ne 0 && $status -ne 77 && -f "$dir/maillog" ]]; then
            echo "[$TEST_NAME] ---- last 30 lines of $dir/maillog ----" >&2
            tail -n 30 "$dir/maillog" >&2
        fi
    done
    (exit "$status")
    cleanup  # ../lib.sh: hubd, mounts, $WORK; exits with $status.
}
trap postfix_cleanup EXIT
