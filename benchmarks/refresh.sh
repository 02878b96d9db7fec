#!/usr/bin/env bash
# Reruns the committed results on this machine into benchmarks/results/DIR:
#   the float32 grid, the float64 grid (H ≤ 512), the training-time table, then prints
#   the README's summary tables.      Usage: benchmarks/refresh.sh DIR [DATA_ROOT]
# DIR names the machine, e.g. zen3-avx2-2026-12-01; DATA_ROOT holds jaychou_lyrics.txt.zip
# and MNIST/raw (default: SCRATCHRNN_DATA). Run it on a quiet machine, without
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set (the harness warns when they are).
set -euo pipefail
dir="benchmarks/results/${1:?usage: benchmarks/refresh.sh DIR [DATA_ROOT]}"
data="${2:-${SCRATCHRNN_DATA:?set SCRATCHRNN_DATA or pass DATA_ROOT}}"
mkdir -p "$dir"
python -m scratchrnn.bench --dtypes float32 --name grid_cpu --out "$dir"
python -m scratchrnn.bench --dtypes float64 --H 32 128 512 --name grid_cpu_float64 --out "$dir"
python -m scratchrnn.bench train --data-dir "$data" --name train_cpu --out "$dir"
python -m scratchrnn.bench summary "$dir/grid_cpu.json" "$dir/grid_cpu_float64.json" \
    "$dir/train_cpu.json" | tee "$dir/summary.md"
