#!/usr/bin/env bash
# Runs kept_calls.py with the package at BEFORE (default 30f29bf, the last commit whose time loops
# made a new array for every step's product) importable as ``scratchrnn_before``, beside the
# package as it is. Run it from anywhere with the package installed:
#
#     bash benchmarks/results/xeon-avx512-2026-12-07-kept/kept_calls.sh [BEFORE [small]] > kept_calls.txt
set -euo pipefail
before=${1:-30f29bf}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$repo" archive "$before" scratchrnn | tar -x -C "$tmp"
mv "$tmp/scratchrnn" "$tmp/scratchrnn_before"
# its own imports name the renamed package (the apps' ``import scratchrnn as sr`` are not run here)
find "$tmp/scratchrnn_before" -name '*.py' -exec sed -i -E \
    's/\bscratchrnn\./scratchrnn_before./g; s/from scratchrnn import/from scratchrnn_before import/g' {} +
cd "$repo"
PYTHONPATH="$tmp" python "$here/kept_calls.py" "$before" "${@:2}"
