#!/usr/bin/env bash
# Reruns the committed results on this machine into benchmarks/results/DIR:
#   the float32 grid, what reusing memory buys (a few points with and without workspaces),
#   what the row blocks on all cores buy (a few points, threaded and on one thread),
#   the float64 grid (H ≤ 512), the stage profiles (a few points, and the fixed cost per call),
#   the per-step product ways (own loops against BLAS), the training-time table, then
#   prints summary tables like those of benchmarks/results/README.md.
#                                   Usage: benchmarks/refresh.sh DIR [DATA_ROOT]
# DIR names the machine, e.g. zen4-avx512-2026-12-02; DATA_ROOT holds jaychou_lyrics.txt.zip
# and MNIST/raw (default: SCRATCHRNN_DATA). Run it on a quiet machine, without
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set (the harness warns when they are):
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE benchmarks/refresh.sh DIR
# IMPLS picks the grids' implementations (default "scratchrnn torch_cpu"; the no-JIT and
# explicit-loop rows add hours on 2 cores: IMPLS="scratchrnn scratchrnn_nojit torch_cpu loop_cpu").
set -euo pipefail
dir="benchmarks/results/${1:?usage: benchmarks/refresh.sh DIR [DATA_ROOT]}"
data="${2:-${SCRATCHRNN_DATA:?set SCRATCHRNN_DATA or pass DATA_ROOT}}"
read -r -a impls <<< "${IMPLS:-scratchrnn torch_cpu}"
mkdir -p "$dir"
python -m scratchrnn.bench --dtypes float32 --impls "${impls[@]}" --name grid_cpu --out "$dir"
python -m scratchrnn.bench --dtypes float32 --passes fwdbwd --T 128 --N 16 64 --H 128 512 \
    --impls scratchrnn scratchrnn_fresh torch_cpu --no-compile-time --name memory_cpu --out "$dir"
python -m scratchrnn.bench --dtypes float32 --passes fwdbwd --T 128 --N 4 16 64 256 --H 32 128 512 \
    --impls scratchrnn scratchrnn_serial torch_cpu --no-compile-time --name threads_cpu --out "$dir"
python -m scratchrnn.bench --dtypes float64 --H 32 128 512 --impls "${impls[@]}" \
    --name grid_cpu_float64 --out "$dir"
: > "$dir/stages_cpu.md"
for model in rnn lstm gru; do
    python -m scratchrnn.bench.stages --model "$model" --fixed --out "$dir/stages_cpu.md" --append
    for point in "128 1 32" "128 16 128" "128 64 512" "32 256 1024" "32 16 512" "128 1 512"; do
        read -r T N H <<< "$point"
        python -m scratchrnn.bench.stages --model "$model" --T "$T" --N "$N" --H "$H" \
            --out "$dir/stages_cpu.md" --append
    done
done
python -m scratchrnn.bench.products --out "$dir/products_cpu.md"
python -m scratchrnn.bench train --data-dir "$data" --name train_cpu --out "$dir"
python -m scratchrnn.bench summary "$dir/grid_cpu.json" "$dir/grid_cpu_float64.json" \
    "$dir/train_cpu.json" | tee "$dir/summary.md"
