"""Which way round to compute a weight gradient: ``daᵀ x`` or ``(xᵀ da)ᵀ`` plus a copy.

    python -m scratchrnn.bench.param_grads [--out benchmarks/results/MACHINE/param_grads_cpu.md]

``dW = Σ_t da_tᵀ x_t`` over all T·N rows is one GEMM, (G·H, T·N) · (T·N, I), and the
layer wants it C-ordered (G·H, I). BLAS can compute it directly from the transposed
view ``daᵀ`` (a flag, no copy), or as ``xᵀ da`` (I, G·H) and copy the transpose back.
This times both through the layer's own ``kernels.matmul`` for T·N from 32 to 32768,
H from 32 to 1024 and G = 1, 3, 4 (RNN, GRU, LSTM; I = H, float32), in alternating
blocks, and prints a Markdown table of GFLOP/s. ``scratchrnn.kernels.passes.param_grads`` uses the winner.
"""

# -- configuration -----------------------------------------------------------
ROWS = (32, 128, 512, 2048, 8192, 32768)   # T·N
HIDDEN = (32, 128, 512, 1024)              # H = I
GATE_ROWS = (1, 3, 4)                      # G: RNN, GRU, LSTM
MAX_ELEMENTS = 1 << 25                     # skip points where da has more elements
FLOP_PER_BLOCK = 2e8                       # repeats per block: about this much work
ROUNDS = 3                                 # alternating blocks per variant; best block counts
SEED = 0
# -----------------------------------------------------------------------------

import argparse
import itertools
import os
import time

import numpy as np

from scratchrnn.kernels import matmul


def _transposed_then_copied(da, x):
    return np.ascontiguousarray(matmul(x.T, da).T)


def _direct(da, x):
    return matmul(da.T, x)


def _block(fn, da, x, repeats):
    """Median seconds of one call over ``repeats`` calls, after a warm-up call."""
    fn(da, x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(da, x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure():
    """Rows (G, T·N, H, GFLOP/s transposed+copy, GFLOP/s direct); the two results are checked equal."""
    rng = np.random.default_rng(SEED)
    rows = []
    for g, tn, h in itertools.product(GATE_ROWS, ROWS, HIDDEN):
        if tn * g * h > MAX_ELEMENTS:
            continue
        x = rng.standard_normal((tn, h), dtype=np.float32)
        da = rng.standard_normal((tn, g * h), dtype=np.float32)
        # Both are sums of tn products, each within tn·eps·Σ|da||x| of the exact one
        # (the standard dot-product bound), so they differ by at most twice that.
        bound = 2 * tn * np.finfo(np.float32).eps * matmul(np.abs(da).T, np.abs(x))
        if not np.all(np.abs(_direct(da, x) - _transposed_then_copied(da, x)) <= bound):
            raise AssertionError(f"the two products disagree at G={g}, T·N={tn}, H={h}")
        flop = 2.0 * tn * g * h * h
        repeats = max(5, int(FLOP_PER_BLOCK / flop))
        best = {_transposed_then_copied: np.inf, _direct: np.inf}
        for _ in range(ROUNDS):
            for fn in best:
                best[fn] = min(best[fn], _block(fn, da, x, repeats))
                time.sleep(0.05)                 # let BLAS workers settle between variants
        rows.append((g, tn, h, flop / best[_transposed_then_copied] / 1e9, flop / best[_direct] / 1e9))
    return rows


def to_markdown(rows):
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset (all cores)")
    lines = ["# Weight-gradient GEMM: `daᵀ x` against `(xᵀ da)ᵀ` + copy",
             "",
             f"`python -m scratchrnn.bench.param_grads`, float32, I = H, "
             f"OPENBLAS_NUM_THREADS {threads}; best of {ROUNDS} alternating blocks, each a median.",
             "",
             "| G | T·N | H | (xᵀ da)ᵀ + copy GFLOP/s | daᵀ x GFLOP/s | time daᵀ x / other |",
             "|---|---|---|---|---|---|"]
    for g, tn, h, other, direct in rows:
        lines.append(f"| {g} | {tn} | {h} | {other:.1f} | {direct:.1f} | {other / direct:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    text = to_markdown(measure())
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
