"""A backward's two weight gradients as two GEMMs (as the passes take them) or as one over the
input and the previous hidden state side by side.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/one_gemm.py

dW_ih = daᵀ x and dW_hh = daᵀ h over the R rows of one row block, BLAS on one thread (as each
block of a pass calls it), float32, I = H: "two" is the two GEMMs into (G·H, H) arrays; "one" is
one GEMM daᵀ [x | h] into a (G·H, 2H) array, from x and h laid side by side in one (R, 2H) array
beforehand, which a pass would have to store or copy ("copy": the time of that copy alone,
``np.concatenate``). 9 rounds of 5 calls each, the three in turn (``rounds.py``).
"""
import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from rounds import alternate, header, paired   # this folder's

# (R, G·H, H): one block's rows (T·N / 2) of the LSTM at T=128 N=16 H=128, MNIST's second layer
# (T=28 N=100), the LSTM at T=128 N=16 H=32 (at these three the passes sum the weight gradients in
# pieces for BLAS's small-matrix kernels instead, which this does not time) and at T=128 N=64
# H=512 (whole GEMMs, as here)
SHAPES = [(1024, 512, 128), (1400, 512, 128), (1024, 128, 32), (4096, 2048, 512)]
ROUNDS, CALLS = 9, 5


@njit   # not cached: a script's cache would outlive a change to it
def two(da, x, h, dw_ih, dw_hh):
    np.dot(da.T, x, dw_ih)
    np.dot(da.T, h, dw_hh)


@njit
def one(da, xh, dw):
    np.dot(da.T, xh, dw)


def main():
    print(header())
    print(f"float32, BLAS on one thread; {ROUNDS} rounds of {CALLS} calls, the three in turn; ms: median "
          "over the rounds; x/two: median over the rounds of the ratio within a round (least – largest)")
    rng = np.random.default_rng(0)
    for R, GH, H in SHAPES:
        da = rng.standard_normal((R, GH), dtype=np.float32)
        x = rng.standard_normal((R, H), dtype=np.float32)
        h = rng.standard_normal((R, H), dtype=np.float32)
        xh = np.concatenate([x, h], axis=1)
        dw_ih, dw_hh, dw = (np.empty(s, np.float32) for s in ((GH, H), (GH, H), (GH, 2 * H)))
        with threadpool_limits(1, user_api="blas"):
            two(da, x, h, dw_ih, dw_hh)
            one(da, xh, dw)
            diff = max(np.abs(dw[:, :H] - dw_ih).max(), np.abs(dw[:, H:] - dw_hh).max()) / np.abs(dw).max()
            times = alternate({"two": lambda: two(da, x, h, dw_ih, dw_hh), "one": lambda: one(da, xh, dw),
                               "copy": lambda: np.concatenate([x, h], axis=1)}, ROUNDS, CALLS)
        gflop = 2 * R * GH * 2 * H / 1e9
        t2, t1, tc = (np.median(times[k]) for k in ("two", "one", "copy"))
        print(f"R={R} G·H={GH} H={H}: two {t2 * 1e3:.3f} ms ({gflop / t2:.0f} GFLOP/s), one {t1 * 1e3:.3f} ms "
              f"({gflop / t1:.0f}), copy {tc * 1e3:.3f} ms; one/two {paired(times, 'one', 'two')}, "
              f"copy/two {paired(times, 'copy', 'two')}; largest difference {diff:.1e} of the largest value",
              flush=True)


if __name__ == "__main__":
    main()
