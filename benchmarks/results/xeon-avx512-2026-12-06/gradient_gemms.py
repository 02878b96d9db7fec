"""A weight gradient's GEMM in the backward's form, against torch's one GEMM: gradient_gemms.txt.

python gradient_gemms.py (from anywhere, with scratchrnn installed; with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset on an AVX-512 CPU). For each shape, 7 rounds of three timings, each the
best of 3 samples of 3 calls:

- one block alone: half of the rows on one core, in chunks, each chunk's product added into the
  sum by OpenBLAS on one thread (``blas.add_product_t``), the other core idle;
- two blocks at once: both halves so, one on each core, in one parallel region (as the row
  blocks of a backward pass run their weight gradients);
- torch: ``torch.mm`` over all rows, on torch's default threads.

Each product is dW_hh += daᵀ h, da (T·N, G·H) and h (T·N, H), at a float32 grid point the grid
missed on a 2-core Xeon (I = H): the RNN's and the GRU's in chunks of max(T, N) rows, as their
backward sums them; the LSTM's as one GEMM per block (its backward takes one GEMM per piece of
rows, the whole block or less, ``layout.gradient_pieces``).
"""
import statistics
import time

import numpy as np
import torch
from numba import njit, prange

from scratchrnn.kernels.blas import add_product_t
from scratchrnn.kernels.team import serial_blas

SHAPES = [  # the point, rows (T·N), G·H, H, rows per chunk
    ("RNN T=32 N=256 H=512", 8192, 512, 512, 256),
    ("GRU T=32 N=256 H=512", 8192, 1536, 512, 256),
    ("LSTM T=32 N=256 H=128", 8192, 512, 128, 4096),
    ("LSTM T=128 N=16 H=512", 2048, 2048, 512, 1024),
]
ROUNDS = 7


@njit(cache=False)
def one_block(out, a, b, chunk):
    for c0 in range(0, a.shape[0], chunk):
        add_product_t(out, a[c0:c0 + chunk], b[c0:c0 + chunk])


@njit(parallel=True, cache=False)
def two_blocks(outs, a, b, chunk):
    half = a.shape[0] // 2
    for t in prange(2):
        for c0 in range(t * half, (t + 1) * half, chunk):
            add_product_t(outs[t], a[c0:c0 + chunk], b[c0:c0 + chunk])


def fastest(call, samples=3, calls=3):
    best = float("inf")
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def spread(values):
    return f"{statistics.median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"


rng = np.random.default_rng(0)
for point, rows, M, K, chunk in SHAPES:
    a = rng.standard_normal((rows, M), dtype=np.float32)
    b = rng.standard_normal((rows, K), dtype=np.float32)
    outs = np.zeros((2, M, K), np.float32)
    ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.zeros(M, K)
    flop = 2 * rows * M * K

    def alone():
        one_block(outs[0], a[:rows // 2], b[:rows // 2], chunk)

    def both():
        two_blocks(outs, a, b, chunk)

    def in_torch():
        torch.mm(ta.T, tb, out=tout)

    with serial_blas(2):
        alone(), both()                                  # compile, warm up
    in_torch()
    one, two, tor = [], [], []
    for _ in range(ROUNDS):
        with serial_blas(2):
            one.append(flop / 2 / fastest(alone) / 1e9)
            two.append(flop / fastest(both) / 1e9)
        tor.append(flop / fastest(in_torch) / 1e9)
    per_core = [y / 2 / x for x, y in zip(one, two)]
    ours_over_torch = [y / z for y, z in zip(two, tor)]
    print(f"{point}, dW_hh {M} x {K} over {rows} rows, {chunk} a chunk; GFLOP/s, median [range] "
          f"over {ROUNDS} rounds: "
          f"one block alone {spread(one)}; two blocks at once {spread(two)}; torch {spread(tor)}; "
          f"a core's rate at once over alone {statistics.median(per_core):.2f} "
          f"[{min(per_core):.2f}-{max(per_core):.2f}]; two blocks over torch "
          f"{statistics.median(ours_over_torch):.2f} "
          f"[{min(ours_over_torch):.2f}-{max(ours_over_torch):.2f}]", flush=True)
