"""How fast the panels' product runs with its output in cache and with it going to memory, and
whether a wider register tile would beat BLAS at the shape of the LSTM's input projection at
H=128 (T·N rows × 128 by 128 × 512) and of its ``dx`` (rows × 512 by 512 × 128). One thread,
float32, 8,064 rows in blocks of 48 (every tile height below divides 48).

- BLAS: ``np.matmul`` on one thread over all rows, into an output of all rows;
- panels, out streams: the package's ``panels.panels_add_into`` block after block, each block
  into its own rows of that output, c = None (as a GEMM stage) or c given (its rows copied into
  the output first, in memory order, as the time loops add the projection);
- panels, out in cache: every block into the first block's rows of the output (which stay in
  L1/L2), reading its own rows of a (and of c);
- wider tiles, out streams: the same sums in tiles of 4 rows × 2 panels, 6 × 2 and 3 × 4 (one
  broadcast of a per 4, 4 and 8 vector FMAs, where the package's 8 rows × 1 panel take one per
  2), c = None.

Medians of 21 calls after one untimed; three runs of the whole table one after the other.
Run it with the package installed:

    python benchmarks/results/zen4-avx512-2026-12-08/panels_output.py
"""
import sys
from pathlib import Path

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from scratchrnn.kernels import panels
from scratchrnn.kernels.jit import jit_fma
from scratchrnn.kernels.vectors import fma_row, store_row, zeroed_tile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header   # noqa: E402  (the tried folder's)

ROWS, BLOCK, CALLS, RUNS = 8064, 48, 21, 3
SHAPES = [(128, 512), (512, 128)]                 # (K, M): the projection's, dx's


def wide(rows, count):
    """A product block by block in tiles of ``rows`` rows × ``count`` panels."""
    tile = zeroed_tile(rows * count)

    @jit_fma
    def group(out, a, b_panels, p, n):
        acc = tile(b_panels[p])
        NR = b_panels.shape[2]
        for k in range(a.shape[1]):
            for i in range(rows):                     # unrolled: constants
                a_ik = a[n + i, k]
                for q in range(count):
                    fma_row(acc[i * count + q], a_ik, b_panels[p + q, k])
        for i in range(rows):
            for q in range(count):
                store_row(out[n + i, (p + q) * NR:(p + q + 1) * NR], acc[i * count + q], False)

    @jit_fma
    def product(out, a, b_panels):
        for n0 in range(0, a.shape[0], BLOCK):
            for p in range(0, b_panels.shape[0], count):
                for n in range(n0, n0 + BLOCK, rows):
                    group(out, a, b_panels, p, n)
    return product


WIDE = {"4 × 2": wide(4, 2), "6 × 2": wide(6, 2), "3 × 4": wide(3, 4)}


@njit
def streams(out, c, a, b_panels):
    for n0 in range(0, a.shape[0], BLOCK):
        panels.panels_add_into(out[n0:n0 + BLOCK], c[n0:n0 + BLOCK] if c.size else None,
                               a[n0:n0 + BLOCK], b_panels)


@njit
def in_cache(out, c, a, b_panels):
    for n0 in range(0, a.shape[0], BLOCK):
        panels.panels_add_into(out[:BLOCK], c[n0:n0 + BLOCK] if c.size else None,
                               a[n0:n0 + BLOCK], b_panels)


def rate(f, flops):
    """GFLOP/s of ``f`` over the median of ``CALLS`` calls after one untimed (one round, no pause)."""
    (median,), = alternate({"f": f}, rounds=1, calls=CALLS, pause=0).values()
    return f"{flops / median / 1e9:.0f}"


def main():
    print(header())
    print("K M | BLAS | panels, out streams: c None, c given | out in cache: c None, c given"
          " | wider tiles, out streams: " + ", ".join(WIDE) + " (GFLOP/s) | largest difference from the panels'")
    rng = np.random.default_rng(0)
    for _ in range(RUNS):
        for K, M in SHAPES:
            a = rng.standard_normal((ROWS, K)).astype(np.float32)
            b = rng.standard_normal((K, M)).astype(np.float32)
            c = rng.standard_normal((ROWS, M)).astype(np.float32)
            none = np.empty((0, M), np.float32)
            b_panels = panels.pack_into(b, np.empty(panels.panels_shape(K, M, np.float32), np.float32))
            out, ref = np.empty((ROWS, M), np.float32), np.empty((ROWS, M), np.float32)
            flops = 2 * ROWS * K * M
            with threadpool_limits(1):
                cols = [rate(lambda: np.matmul(a, b, out=out), flops)]
            cols += [rate(lambda: streams(out, cc, a, b_panels), flops) for cc in (none, c)]
            cols += [rate(lambda: in_cache(out, cc, a, b_panels), flops) for cc in (none, c)]
            streams(ref, none, a, b_panels)
            diffs = []
            for product in WIDE.values():
                cols.append(rate(lambda: product(out, a, b_panels), flops))
                diffs.append(float(np.abs(out - ref).max()))
            print(f"{K} {M} | {cols[0]} | {cols[1]}, {cols[2]} | {cols[3]}, {cols[4]} | "
                  + ", ".join(cols[5:]) + f" | {max(diffs):.1e}", flush=True)


if __name__ == "__main__":
    main()
