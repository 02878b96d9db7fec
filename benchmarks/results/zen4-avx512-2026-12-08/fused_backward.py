"""The backward's counterpart of ``fused_projection.py``: the LSTM's input gradient ``dx`` taken in
each step's product with ``dh``, against after the loop, on one thread's block of rows (float32,
panels, the products alone: no elementwise work, a made-up ``da`` for every step).

- apart: each step ``dh = da_t W_hh`` from the panels of ``W_hh`` (K = 4H, M = H), then
  ``dx = da W_ih`` for all steps after the loop, block after block of 64 rows, from the panels
  of ``W_ih``: a GEMM stage over T·rows rows, as a pass runs it;
- fused: each step ``[dx_t | dh] = da_t [W_ih | W_hh]`` from the panels of the side-by-side
  weights (M = I + H), ``dx_t`` copied out of the step's result.

9 rounds taking turns (``rounds.alternate``); the two ways' dx against each other. Run it with
the package installed:

    python benchmarks/results/zen4-avx512-2026-12-08/fused_backward.py
"""
import sys
from pathlib import Path

import numpy as np
from numba import njit

from scratchrnn.kernels import panels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 9
BLOCK = panels.MAX_ROWS
# (T, rows of the block, H, I): as in fused_projection.py, less MNIST's first layer (I = 28 is no
# multiple of the panels' 32 columns)
SHAPES = [(128, 32, 128, 128), (32, 128, 128, 128), (28, 50, 128, 128), (128, 32, 512, 512)]


@njit(error_model="numpy")
def apart(da, w_hh_panels, w_ih_panels, dh, dx):
    T, R, G = da.shape
    for t in range(T - 1, -1, -1):
        panels.panels_add_into(dh, None, da[t], w_hh_panels)
    da2 = da.reshape(T * R, G)
    dx2 = dx.reshape(T * R, dx.shape[2])
    for n0 in range(0, T * R, BLOCK):
        n1 = min(T * R, n0 + BLOCK)
        panels.panels_add_into(dx2[n0:n1], None, da2[n0:n1], w_ih_panels)


@njit(error_model="numpy")
def fused(da, w_cat_panels, both, dx):
    I = dx.shape[2]
    for t in range(da.shape[0] - 1, -1, -1):
        panels.panels_add_into(both, None, da[t], w_cat_panels)
        dx[t] = both[:, :I]


def packed(b):
    return panels.pack_into(b, np.empty(panels.panels_shape(*b.shape, b.dtype), b.dtype))


def run(T, R, H, I):
    rng = np.random.default_rng(0)
    G = 4 * H
    da = rng.standard_normal((T, R, G)).astype(np.float32)
    w_ih = rng.standard_normal((G, I)).astype(np.float32)
    w_hh = rng.standard_normal((G, H)).astype(np.float32)
    w_ih_panels, w_hh_panels = packed(w_ih), packed(w_hh)
    w_cat_panels = packed(np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1)))
    dh, both = np.empty((R, H), np.float32), np.empty((R, I + H), np.float32)
    dx_apart, dx_fused = np.empty((T, R, I), np.float32), np.empty((T, R, I), np.float32)
    ways = {"apart": lambda: apart(da, w_hh_panels, w_ih_panels, dh, dx_apart),
            "fused": lambda: fused(da, w_cat_panels, both, dx_fused)}
    for f in ways.values():
        f()
    diff = float(np.abs(dx_apart - dx_fused).max())
    times = alternate(ways, ROUNDS)
    flops = 2 * T * R * G * (I + H)
    print(f"{T} {R} {H} {I} | {np.median(times['apart']) * 1e3:.3f}, {np.median(times['fused']) * 1e3:.3f} ms"
          f" ({flops / np.median(times['apart']) / 1e9:.0f}, {flops / np.median(times['fused']) / 1e9:.0f}"
          f" GFLOP/s), {paired(times, 'fused', 'apart')} | {diff:.1e}", flush=True)


def main():
    print(header())
    print("T rows H I | apart, fused (GFLOP/s), fused/apart paired | largest |dx difference|")
    for shape in SHAPES:
        run(*shape)


if __name__ == "__main__":
    main()
