#!/bin/bash
# ring_prep_only_in_ring.sh -- src/engine/ring.cc is the only code that prepares io_uring
# submissions. Every other file submits through the typed RingOps methods, each of which is
# checked against the one operation list (HUB_RING_OPERATIONS in src/engine/ring.h) that the
# start-up probe and the 6.1 feature table are generated from. A direct io_uring_prep_* call
# elsewhere would bypass both, so this fails on any.
# Usage: ring_prep_only_in_ring.sh <source root>
set -u
root=${1:?usage: ring_prep_only_in_ring.sh <source root>}
if [[ ! -f $root/src/engine/ring.cc ]]; then
    echo "no $root/src/engine/ring.cc: wrong source root" >&2
    exit 2
fi
# Comments may name the functions; code may not call them.
found=$(grep -rn --include='*.cc' --include='*.h' -E 'io_uring_prep_[a-z0-9_]+[[:space:]]*\(' \
            "$root/src" | grep -v "^$root/src/engine/ring\.cc:" |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*//')
if [[ -n $found ]]; then
    echo "io_uring_prep_* outside src/engine/ring.cc (add a typed Ring method instead):" >&2
    echo "$found" >&2
    exit 1
fi
count=$(grep -c -E 'io_uring_prep_[a-z0-9_]+\(' "$root/src/engine/ring.cc")
if (( count == 0 )); then
    echo "no io_uring_prep_* in src/engine/ring.cc: the check is looking at the wrong file" >&2
    exit 1
fi
echo "ok: $count io_uring_prep_* calls, all in src/engine/ring.cc"
