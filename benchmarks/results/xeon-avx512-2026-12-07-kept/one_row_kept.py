"""One sequence's per-step product from panels (``kernels.panels.panels_add_into``), 128 steps in
a compiled loop: into a new array each step, as the time loops did, against into one array kept
for all steps, and two taking turns (as δ's do now). float32, H = 32 and 128, the LSTM's shapes:
forward 1 × H by H × 4H plus a different c each step, back 1 × 4H by 4H × H. Each variant: the
best of 2000 calls, three times in turn. Run it with the package installed:

    python benchmarks/results/xeon-avx512-2026-12-07-kept/one_row_kept.py
"""
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from scratchrnn.kernels.panels import pack_into, panels_add_into, panels_shape

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

T, CALLS = 128, 2000


@njit
def fresh(C, A, p):
    s = 0.0
    for t in range(A.shape[0]):
        out = np.empty((1, p.shape[0] * p.shape[2]), A.dtype)       # (1, M), a new one each step
        panels_add_into(out, C[t] if C.shape[0] else None, A[t], p)
        s += out[0, 0]
    return s


@njit
def kept(C, A, p, out):
    s = 0.0
    for t in range(A.shape[0]):
        panels_add_into(out, C[t] if C.shape[0] else None, A[t], p)
        s += out[0, 0]
    return s


@njit
def taking_turns(C, A, p):
    d = np.empty((1, p.shape[0] * p.shape[2]), A.dtype)             # (1, M)
    nd = np.empty_like(d)
    s = 0.0
    for t in range(A.shape[0]):
        panels_add_into(nd, C[t] if C.shape[0] else None, A[t], p)
        s += nd[0, 0]
        d, nd = nd, d
    return s


def best_ns(f):
    for _ in range(50):
        f()
    best = float("inf")
    for _ in range(CALLS):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best / T * 1e9


def main():
    print(header())
    print("product | new array each step | one kept | two taking turns  (ns a step, best of "
          f"{CALLS} calls of {T} steps)")
    rng = np.random.default_rng(0)
    for H in (32, 128):
        for name, K, M, with_c in (("forward", H, 4 * H, True), ("back", 4 * H, H, False)):
            A = rng.standard_normal((T, 1, K)).astype(np.float32)                       # (T, 1, K)
            C = rng.standard_normal((T, 1, M) if with_c else (0, 1, M)).astype(np.float32)   # (T, 1, M)
            b = rng.standard_normal((K, M)).astype(np.float32)
            p = pack_into(b, np.empty(panels_shape(K, M, np.float32), np.float32))
            out = np.empty((1, M), np.float32)                                          # (1, M)
            assert fresh(C, A, p) == kept(C, A, p, out) == taking_turns(C, A, p)
            for _ in range(3):
                f, k, tt = (best_ns(g) for g in (lambda: fresh(C, A, p), lambda: kept(C, A, p, out),
                                                  lambda: taking_turns(C, A, p)))
                print(f"{name} 1 × {K} by {K} × {M}{' + c' if with_c else ''} | {f:.0f} | {k:.0f} | {tt:.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
