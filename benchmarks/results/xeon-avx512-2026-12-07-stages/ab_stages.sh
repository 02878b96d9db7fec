#!/bin/bash
# The stage profile before and after it timed the per-step products in each call's round,
# alternating, with torch interleaved:
#
#   git worktree add /tmp/before 83dc619
#   BEFORE=/tmp/before AFTER=$PWD bash benchmarks/results/xeon-avx512-2026-12-07-stages/ab_stages.sh
#
# Each version runs from its own checkout's folder, so Python imports that checkout's package.
# Writes old_T*_N*_H*_R.md (before) and new_T*_N*_H*_R.md (after) next to this script.
set -e
here=$(cd "$(dirname "$0")" && pwd)
run() {          # version folder, T, N, H, output file
    (cd "$1" && PYTHONPATH="$1" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python -m scratchrnn.bench.stages --model lstm --T "$2" --N "$3" --H "$4" --torch \
        --repeats 15 --out "$5" > /dev/null)
}
for r in 1 2 3; do
    for v in old new; do
        dir=$([ $v = old ] && echo "$BEFORE" || echo "$AFTER")
        run "$dir" 128 16 128 "$here/${v}_T128_N16_H128_$r.md"
    done
done
for r in 1 2; do
    for point in "28 100 128" "128 1 128"; do
        set -- $point
        for v in old new; do
            dir=$([ $v = old ] && echo "$BEFORE" || echo "$AFTER")
            run "$dir" "$1" "$2" "$3" "$here/${v}_T$1_N$2_H$3_$r.md"
        done
    done
done
