#!/bin/bash
# One of this folder's scripts run at two versions of the package in turn, a fresh process each
# time, so that what moves the host's speed for minutes moves both:
#
#   bash benchmarks/results/xeon-avx512-2026-12-07-tried/two_ways.sh ROUNDS A B SCRIPT [ARGS...]
#
# A and B: two commits (e.g. 5526403 26e3ee4), each checked out in a detached worktree in a
# temporary folder (removed at the end). Each process imports its worktree's package (PYTHONPATH)
# and keeps its compiled code in a cache folder of its own (NUMBA_CACHE_DIR: a script's own
# compiled functions would otherwise be cached once, with whichever package's gates they inline
# first). Every output line is prefixed with its round and version (a or b). Unset
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
rounds=$1 a=$2 b=$3 script=$4
shift 4
tmp=$(mktemp -d)
cleanup() {
    for v in a b; do
        [ -d "$tmp/$v" ] && git -C "$root" worktree remove --force "$tmp/$v"
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
for v in a b; do
    git -C "$root" worktree add -q --detach "$tmp/$v" "${!v}"
done
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC') $script $*: a = $a, b = $b"
for round in $(seq 1 "$rounds"); do
    for v in a b; do
        sleep 0.3
        (cd "$tmp" && PYTHONPATH="$tmp/$v" NUMBA_CACHE_DIR="$tmp/cache-$v" python "$here/$script" "$@") \
            | sed "s/^/round $round $v: /"
    done
done
echo "# ended $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
