"""The per-step product on two cores: each thread all columns of half the rows (the row blocks the
passes run), or all rows of half the columns.

    python benchmarks/results/xeon-avx512-2026-12-07-left/column_split.py

``kernels.panels.panels_add`` (the product the time loops use for 8 to 64 rows per block) over T=32
steps, each adding a new ``xw_t`` as the forward's loop does, with W_hhᵀ (H × 4H, float32) packed
in panels once:

- rows: one parallel region for the whole loop; thread k multiplies its N/2 rows by all of W_hhᵀ
  every step (so each thread reads all of it every step);
- columns: one parallel region per step (the next step needs all of h); thread k multiplies all N
  rows by its half of the panels (half of W_hhᵀ).

Each step then writes a new h from the product, one value per hidden unit clipped to ±0.5
(cheap, and no value grows or fades into denormals), so that the next step reads what this one
wrote, as in a time loop; the two ways take it from different columns of the product, so their h
differ, which changes no time. The columns' way writes the new h apart and copies it over the old
after each step (every thread reads all of the old h during the step), on the calling thread. Not
the LSTM's gate maths: only the products' two ways of sharing the work are compared. The ratio is
columns over rows, per round. Two threads only: on more cores a block of rows per thread leaves
fewer rows to each, which this does not measure.
"""
import numpy as np
from numba import njit, prange

from scratchrnn.kernels.panels import panels_add

from alternate import alternate, header, spread, step_operands   # this folder's

T = 32
SHAPES = [(16, 128), (64, 128), (16, 256), (16, 512), (64, 512), (16, 1024)]   # (N, H)


@njit(inline="always")
def _bounded(v):
    return min(max(v, np.float32(-0.5)), np.float32(0.5))


@njit(parallel=True)
def rows_split(xw, h, panels):
    N, H = h.shape
    for k in prange(2):
        r0, r1 = k * N // 2, (k + 1) * N // 2
        for t in range(T):
            a = panels_add(xw[t, r0:r1], h[r0:r1], panels)       # (N/2, 4H)
            for r in range(r1 - r0):
                for j in range(H):
                    h[r0 + r, j] = _bounded(a[r, j])


@njit(parallel=True)
def _column_step(xw_t, h, panels, h_next):
    N, H = h.shape
    P, NR = panels.shape[0], panels.shape[2]
    for k in prange(2):
        p0, p1 = k * P // 2, (k + 1) * P // 2
        a = panels_add(xw_t[:, p0 * NR:p1 * NR], h, panels[p0:p1])   # (N, 2H): half the columns
        for r in range(N):
            for j in range(H // 2):
                h_next[r, k * (H // 2) + j] = _bounded(a[r, j])


@njit
def columns_split(xw, h, panels, h_next):
    for t in range(T):
        _column_step(xw[t], h, panels, h_next)
        h[...] = h_next


print(header())
print(f"T={T}, float32, ms per loop: median of the rounds (least – largest); 5 rounds of 5 calls")
rng = np.random.default_rng(0)
for N, H in SHAPES:
    panels, xw, h = step_operands(rng, T, N, H)
    h_next = h.copy()
    times = alternate({"rows": lambda: rows_split(xw, h, panels),
                       "columns": lambda: columns_split(xw, h, panels, h_next)})
    ratio = np.array(times["columns"]) / np.array(times["rows"])
    gflop = 2 * T * N * H * 4 * H / 1e9
    print(f"N={N:3d} H={H:5d}: rows {spread(times['rows'])}, columns {spread(times['columns'])}; "
          f"columns over rows {np.median(ratio):.2f} ({ratio.min():.2f} – {ratio.max():.2f}); "
          f"rows at {gflop / np.median(times['rows']):.0f} GFLOP/s")
