#!/usr/bin/env bash
# On a machine with a CUDA GPU, into benchmarks/results/DIR (or any folder DIR):
#   1. `scratchrnn verify --device cuda`: every output and gradient against torch's cuDNN
#      kernels, float32 (TF32 off) and float64, one and two layers;
#   2. the float32 forward+backward grid at T = 128 with scratchrnn and torch on the CPU
#      beside torch on the GPU (cuDNN), interleaved point by point.
#                                   Usage: benchmarks/gpu.sh DIR [GRID_ARGS...]
# GRID_ARGS go to the grid command after the defaults (e.g. --no-plots, --impls ... loop_cuda).
# PYTHON names the interpreter (default python3). Run it on a quiet machine.
set -uo pipefail
dir="${1:?usage: benchmarks/gpu.sh DIR [GRID_ARGS...]}"
shift
py="${PYTHON:-python3}"
mkdir -p "$dir"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
      --format=csv || true; lscpu; } > "$dir/machine.txt" 2>&1
"$py" -m scratchrnn verify --device cuda --max-layers 2 --no-fd --failures-only \
    --json "$dir/verify_cuda.json" 2>&1 | tee "$dir/verify_cuda.txt"
verify_rc=${PIPESTATUS[0]}
"$py" -m scratchrnn.bench --dtypes float32 --passes fwdbwd --T 128 --long-t-max-nh 0 \
    --impls scratchrnn torch_cpu torch_cuda --no-compile-time --name grid_gpu --out "$dir" "$@"
grid_rc=$?
echo "verify exit $verify_rc, grid exit $grid_rc"
exit $((verify_rc || grid_rc))
