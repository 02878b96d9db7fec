#!/usr/bin/env bash
# The LSTM's float32 forward+backward at N = 1, 16 and H = 32, 128, both T (six of the eight points
# are small-work ones), the package at two checkouts taking turns, each run a `scratchrnn bench` of
# its own with torch CPU alongside:
#     bash benchmarks/results/xeon-avx512-2026-12-07-fixed/two_grids.sh NEW_CHECKOUT OLD_CHECKOUT OUT
# with the package's dependencies and torch installed. Each run starts in its checkout's folder
# with PYTHONPATH set to it (`python -m` puts the current folder first on the path, so a run
# started in the other checkout would import that one), and writes its source folder beside its
# results. Writes OUT/new_1, old_1, new_2, old_2 (.md, .json and .source).
set -euo pipefail
new="$(cd "$1" && pwd)"; old="$(cd "$2" && pwd)"; mkdir -p "$3"; out="$(cd "$3" && pwd)"
for i in 1 2; do
    for which in new old; do
        checkout="$new"
        if [ "$which" = old ]; then checkout="$old"; fi
        cd "$checkout"
        PYTHONPATH="$checkout" python -c "import scratchrnn; print(scratchrnn.__file__)" > "$out/${which}_$i.source"
        PYTHONPATH="$checkout" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m scratchrnn.bench \
            --models lstm --dtypes float32 --passes fwdbwd --N 1 16 --H 32 128 \
            --impls scratchrnn torch_cpu --name "${which}_$i" --no-compile-time --no-plots --out "$out"
    done
done
