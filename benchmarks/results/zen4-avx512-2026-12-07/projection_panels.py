"""The GEMMs around a blocked pass's time loop through the panels, against BLAS as the passes
call it: the input projection ``x W_ihᵀ + b`` (``passes.project_blocks``) and the input gradient
``dx = da W_ih``, T·N rows in two blocks side by side, BLAS on one thread in each. The panels
way packs W_ih once per call (timed with it) and multiplies blocks of at most 64 rows as the
time loops do (``panels.panels_add_into``). float32, 15 rounds taking turns
(``rounds.alternate``); also the largest error of each from the float64 product. Run it with
the package installed:

    python benchmarks/results/zen4-avx512-2026-12-07/projection_panels.py
"""
import sys
from pathlib import Path

import numpy as np
from numba import njit, prange

from scratchrnn.kernels import panels, passes, team

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

BLOCKS, BLOCK_ROWS = 2, panels.MAX_ROWS      # row blocks side by side; rows per panel product
# (T·N rows, I, G·H): the LSTM at H = 128 with T·N from 512 to 32768, the GRU's and RNN's
# H = 128, the LSTM at H = 256, 512 and 1024
SHAPES = [(512, 128, 512), (2048, 128, 512), (8192, 128, 512), (32768, 128, 512), (512, 128, 384),
          (2048, 128, 128), (512, 512, 2048), (2048, 512, 2048), (8192, 512, 2048), (4096, 256, 1024),
          (2048, 1024, 4096)]


@njit(parallel=True)
def project_panels(x2, w_ih, bias, out, packed):
    """``out = x2 W_ihᵀ + bias``: W_ihᵀ packed, then blocks of rows from the panels."""
    panels.pack_into(w_ih.T, packed)
    R = x2.shape[0]
    for k in prange(BLOCKS):
        for q0 in range(R * k // BLOCKS, R * (k + 1) // BLOCKS, BLOCK_ROWS):
            q1 = min(q0 + BLOCK_ROWS, R * (k + 1) // BLOCKS)
            for r in range(q0, q1):
                out[r] = bias                                     # then the product added
            _add_product(out[q0:q1], x2[q0:q1], packed)


@njit
def _add_product(out, a, packed):
    """``out += a @ b`` from the panels: ``panels_add_into``'s loop over groups of rows, copied
    here without its shape checks, adding to out (``panels_add_into`` adds only to a c it first
    copies into out). It calls the module's private group functions, as that loop does."""
    P, _, NR = packed.shape
    N = a.shape[0]
    whole = N - N % panels.ROWS
    for p in range(P):
        for n in range(0, whole, panels.ROWS):
            panels._row_group(out, True, a, packed[p], p * NR, n, N - 1)
        for n in range(whole, N, panels.PAIR):
            panels._row_pair(out, True, a, packed[p], p * NR, n, N - 1)


@njit(parallel=True)
def dx_panels(d_a2, w_ih, dx2, packed):
    panels.pack_into(w_ih, packed)
    R = d_a2.shape[0]
    for k in prange(BLOCKS):
        for q0 in range(R * k // BLOCKS, R * (k + 1) // BLOCKS, BLOCK_ROWS):
            q1 = min(q0 + BLOCK_ROWS, R * (k + 1) // BLOCKS)
            panels.panels_add_into(dx2[q0:q1], None, d_a2[q0:q1], packed)


@njit(parallel=True)
def dx_blas(d_a2, w_ih, dx2):
    """As ``sums.gemms_in_pieces`` takes dx, one GEMM per block."""
    R = d_a2.shape[0]
    for k in prange(BLOCKS):
        r0, r1 = R * k // BLOCKS, R * (k + 1) // BLOCKS
        np.dot(d_a2[r0:r1], w_ih, dx2[r0:r1])


def main():
    print(header())
    print("rows I GH | projection: BLAS GFLOP/s, panels GFLOP/s, panels/BLAS paired, largest error "
          "BLAS/panels | dx: the same")
    rng = np.random.default_rng(0)
    f32 = np.float32
    with team.serial_blas(BLOCKS):
        for R, I, GH in SHAPES:
            x2, da = rng.standard_normal((R, I)).astype(f32), rng.standard_normal((R, GH)).astype(f32)
            w = (rng.standard_normal((GH, I)) * 0.1).astype(f32)                 # W_ih (G·H, I)
            b_ih, b_hh = rng.standard_normal(GH).astype(f32), rng.standard_normal(GH).astype(f32)
            bias = b_ih + b_hh                                                   # as project rounds it
            out = {k: np.empty((R, GH), f32) for k in ("blas", "panels")}
            dx = {k: np.empty((R, I), f32) for k in ("blas", "panels")}
            fwd_packed = np.empty(panels.panels_shape(I, GH, f32), f32)
            bwd_packed = np.empty(panels.panels_shape(GH, I, f32), f32)
            calls = {"proj BLAS": lambda: passes.project_blocks(x2, w, b_ih, b_hh, out["blas"], BLOCKS),
                     "proj panels": lambda: project_panels(x2, w, bias, out["panels"], fwd_packed),
                     "dx BLAS": lambda: dx_blas(da, w, dx["blas"]),
                     "dx panels": lambda: dx_panels(da, w, dx["panels"], bwd_packed)}
            times = alternate(calls, rounds=15, calls=max(5, int(2e8 / (R * I * GH))))
            truth = x2.astype(np.float64) @ w.T.astype(np.float64) + b_ih + b_hh
            dx_truth = da.astype(np.float64) @ w.astype(np.float64)
            gflops = {k: 2 * R * I * GH / min(v) / 1e9 for k, v in times.items()}
            err = [np.abs(out[k] - truth).max() for k in out] + [np.abs(dx[k] - dx_truth).max() for k in dx]
            print(f"{R} {I} {GH} | {gflops['proj BLAS']:.0f}, {gflops['proj panels']:.0f}, "
                  f"{paired(times, 'proj panels', 'proj BLAS')}, {err[0]:.2e}/{err[1]:.2e} | "
                  f"{gflops['dx BLAS']:.0f}, {gflops['dx panels']:.0f}, {paired(times, 'dx panels', 'dx BLAS')}, "
                  f"{err[2]:.2e}/{err[3]:.2e}", flush=True)


if __name__ == "__main__":
    main()
