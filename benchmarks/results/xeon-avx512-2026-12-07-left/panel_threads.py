"""The per-step product from panels on one core alone, and on both cores at once.

    python benchmarks/results/xeon-avx512-2026-12-07-left/panel_threads.py

``kernels.panels.panels_add`` of N/2 rows by W_hhᵀ (H × 4H, float32, packed in panels once) over
T=64 steps, each adding a new ``xw_t``, as one row block of a forward's time loop runs them. Both
ways run one parallel region of two threads: in "alone" thread 0 runs its block while thread 1
has nothing to do; in "both" each thread runs its own half of the rows (the row blocks of the
passes). Per core, both ways do the same work; where "both" takes longer, the two cores slow
each other down in something they share (the caches and memory behind their own L2s, with every
thread reading all of W_hhᵀ every step, or the host under them); which, these timings do not
say.
"""
import numpy as np
from numba import njit, prange

from scratchrnn.kernels.panels import panels_add

from alternate import alternate, header, spread, step_operands   # this folder's

T = 64
SHAPES = [(64, 128), (100, 128), (16, 512), (64, 512), (16, 1024)]   # (N, H)


@njit
def block_steps(xw, h, panels, r0, r1):
    for t in range(T):
        panels_add(xw[t, r0:r1], h[r0:r1], panels)


@njit(parallel=True)
def blocks(xw, h, panels, working):
    """Thread k runs block k (rows k·N/2 to (k + 1)·N/2) where k < working, else nothing."""
    N = h.shape[0]
    for k in prange(2):
        if k < working:
            block_steps(xw, h, panels, k * N // 2, (k + 1) * N // 2)


print(header())
print(f"T={T}, float32, ms: median of the rounds (least – largest); 5 rounds of 5 calls; GFLOP/s per core")
rng = np.random.default_rng(0)
for N, H in SHAPES:
    panels, xw, h = step_operands(rng, T, N, H)
    times = alternate({"alone": lambda: blocks(xw, h, panels, 1),
                       "both": lambda: blocks(xw, h, panels, 2)})
    ratio = np.array(times["both"]) / np.array(times["alone"])
    per_core = 2 * T * (N // 2) * H * 4 * H / 1e9          # GFLOP of one block
    print(f"N={N:3d} H={H:5d} (W_hhᵀ {4 * H * H * 4 / 2**20:g} MiB): alone {spread(times['alone'])} "
          f"({per_core / np.median(times['alone']):.0f}), both {spread(times['both'])} "
          f"({per_core / np.median(times['both']):.0f}); both over alone {np.median(ratio):.2f} "
          f"({ratio.min():.2f} – {ratio.max():.2f})")
