"""The cross-entropy of a batch of logit rows, row by row in the cache.

In NumPy (``scratchrnn.reference.cross_entropy``: max, shift, exp, sum, log, exp again,
subtract, divide) each step reads and writes the whole (M, C) array, four of them fresh: a
character model's 1,120 rows of 1,027 float32 logits took 2.8 ms that way, 4.6 ms inside a
training step. Here a row of logits is read twice (its max, then its exps into the
gradient's row) and the gradient's row is swept while it is still in L1 (its sum, then
the scaling); the rows run on Numba's threads: 0.9 ms.
"""

import math

import numpy as np
from numba import prange

from scratchrnn.kernels.gates import exp_nonpositive, is_single
from scratchrnn.kernels.jit import jit, jit_inline, jit_parallel, jit_sum

# Maxima a row is reduced in, side by side: their compares do not wait for each other, where one
# running max waits for its last compare at every value. LLVM keeps them scalar (Numba leaves its
# SLP vectoriser off, and a max did not vectorise under fastmath either): 0.39–0.55 ns a value
# against 1.43–1.49 for one running max (Intel Xeon, float32, rows of 1,027; benchmarks/results/
# xeon-avx512-2026-12-07-training/kernels_before_after.txt).
LANES = 16


@jit_inline
def _max(a):
    """The largest value of a 1-D array of finite values, in ``LANES`` interleaved maxima."""
    part = np.full(LANES, a[0])
    n = a.size - a.size % LANES
    for i in range(0, n, LANES):
        for j in range(LANES):
            part[j] = max(part[j], a[i + j])
    top = part.max()
    for i in range(n, a.size):
        top = max(top, a[i])
    return top


@jit_sum
def _sum64(a):
    """Σ a in float64, in the order LLVM picks for the CPU's vectors (``jit_sum``): several
    running sums side by side, added up at the end, each a shorter chain of roundings than one
    running sum; the same bits on every run on one machine. A function of its own, called once a
    row: inlined, it would be compiled with the row loop's flags, which keep a sum in order."""
    s = 0.0
    for i in range(a.size):
        s += np.float64(a[i])
    return s


@jit_parallel
def cross_entropy_rows(logits, targets, nll, d):
    """Per row m of ``logits`` (M, C) (finite values) with target class t = targets[m]:

    nll[m] = log Σ_c e^(l_c − top) − (l_t − top), float64: −log softmax(l)_t, with top the
    row's max so that no exp overflows;
    d[m] = (softmax(l) − onehot(t)) / M: the gradient of the mean of nll, in ``logits``' dtype.

    The exps are ``exp_nonpositive`` for float32 (within 1 ulp, vectorised) and libm's for
    float64; the sum s is taken in float64. d[m, c] = e_c / (s·M), and at the target
    (e_t − s) / (s·M) in float64, which keeps the small 1 − softmax_t of a confident row
    accurate instead of subtracting two numbers near 1.

    Each row is a call of ``_row``, a function of its own: written out in the body of the
    parallel loop, the same lines ran slower (with the row sum vectorised as well, one thread of
    an Intel Xeon took 1.32–1.39 ms for 1,120 float32 rows of 1,027, where that form took
    2.68–3.00: benchmarks/results/xeon-avx512-2026-12-07-training/kernels_before_after.txt), and
    their float32 results differed in the last bit at some values (both within the error bound
    that tests/test_numerics.py checks).
    """
    denominators = np.empty(logits.shape[0], d.dtype)   # s·M of each row (``_row``)
    for m in prange(logits.shape[0]):
        _row(logits, targets, nll, d, denominators, m)


@jit
def _row(logits, targets, nll, d, denominators, m):
    """Row m of ``cross_entropy_rows``."""
    M, C = logits.shape
    row, out = logits[m], d[m]
    top = _max(row)
    if is_single(logits):
        for c in range(C):
            out[c] = exp_nonpositive(row[c] - top)
    else:
        for c in range(C):
            out[c] = math.exp(row[c] - top)
    s = _sum64(out)                              # ≥ 1: the max's own term is e^0
    t = targets[m]
    e_t = np.float64(out[t])
    nll[m] = math.log(s) - (np.float64(row[t]) - np.float64(top))
    # s·M rounded to the data's dtype: read back from an array of that dtype, it keeps the
    # scaling loop's division in float32 for float32 data (a scalar would be a float64)
    denominators[m] = s * M
    den = denominators[m]
    for c in range(C):
        out[c] = out[c] / den
    out[t] = (e_t - s) / (s * M)
