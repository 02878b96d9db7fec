"""A weight gradient's GEMM in the backward's form, against torch's one GEMM: gradient_gemms.txt.

python gradient_gemms.py (with scratchrnn installed; on an AVX-512 CPU with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset). Each product is dW_hh += daᵀ h, da (T·N, G·H) and h (T·N, H), at a
float32 grid point missed on a 2-core Xeon, taken as the backward of a pass in two row blocks
takes it there (``layout.gradient_pieces`` gives the form): the RNN's and the GRU's in chunks of
max(T, N) rows, the LSTM's as one GEMM per block. Three timings, each the fastest of 3 samples of
3 calls:

- one block alone: the first half of the rows on one core, each chunk's product added into the
  sum by OpenBLAS on one thread (``blas.add_product_t``), the other core idle;
- two blocks at once: both halves so, one on each core, in one parallel region;
- torch: ``torch.mm`` over all rows, on torch's default threads.

7 rounds, the three timings in turn, their order reversed every other round. Printed: the rates
(GFLOP/s, median and range over the rounds), then two ratios taken within each round (median and
range over the rounds, which need not equal the ratio of the medians): two blocks' rate over
torch's, and a core's rate with both blocks at once over its rate alone.
"""
import statistics
import time

import numpy as np
import torch
from numba import njit, prange

from scratchrnn.bench.environment import cpu_record
from scratchrnn.kernels.blas import add_product_t
from scratchrnn.kernels.team import serial_blas

SHAPES = [  # the point, rows (T·N), G·H, H, rows per chunk (the LSTM's: half the rows, one GEMM)
    ("RNN T=32 N=256 H=512", 8192, 512, 512, 256),
    ("GRU T=32 N=256 H=512", 8192, 1536, 512, 256),
    ("GRU T=32 N=64 H=512", 2048, 1536, 512, 64),
    ("LSTM T=128 N=16 H=512", 2048, 2048, 512, 1024),
    ("LSTM T=128 N=64 H=512", 8192, 2048, 512, 4096),
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


def summary(values, digits):
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {cpu_record()['model']}; "
      f"torch on {torch.get_num_threads()} threads; median [range] over {ROUNDS} rounds")
rng = np.random.default_rng(0)
for point, rows, M, K, chunk in SHAPES:
    a = rng.standard_normal((rows, M), dtype=np.float32)
    b = rng.standard_normal((rows, K), dtype=np.float32)
    outs = np.zeros((2, M, K), np.float32)
    ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.zeros(M, K)
    flop = 2 * rows * M * K

    def alone():
        with serial_blas(2):
            one_block(outs[0], a[:rows // 2], b[:rows // 2], chunk)

    def both():
        with serial_blas(2):
            two_blocks(outs, a, b, chunk)

    def in_torch():
        torch.mm(ta.T, tb, out=tout)

    for call in (alone, both, in_torch):                 # compile, warm up
        call()
    rates = {alone: [], both: [], in_torch: []}
    for r in range(ROUNDS):
        order = (alone, both, in_torch) if r % 2 == 0 else (in_torch, both, alone)
        for call in order:
            share = 2 if call is alone else 1               # one block does half the FLOPs
            rates[call].append(flop / share / fastest(call) / 1e9)
    ours_over_torch = [y / z for y, z in zip(rates[both], rates[in_torch])]
    per_core = [y / 2 / x for x, y in zip(rates[alone], rates[both])]
    print(f"{point}: dW_hh {M} x {K} over {rows} rows, {chunk} rows a GEMM")
    print(f"  GFLOP/s: one block alone {summary(rates[alone], 0)}; two blocks at once "
          f"{summary(rates[both], 0)}; torch {summary(rates[in_torch], 0)}")
    print(f"  within each round: two blocks over torch {summary(ours_over_torch, 2)}; "
          f"a core at once over alone {summary(per_core, 2)}", flush=True)
