"""The kernels this run changed, timed alone: run it with ``PYTHONPATH`` at a checkout of the code
before (1e2dacc) and again with the code after.

    PYTHONPATH=CHECKOUT python benchmarks/results/xeon-avx512-2026-12-07-training/kernels_before_after.py

float32 throughout, arrays of the char-LM's sizes, medians of 41 calls each (after one to
compile). ``sum_of_squares`` over W_ih's 263,168 values; the cross-entropy's rows over 1,120 rows
of 1,027 logits on one and on two of Numba's threads; the NaN and inf scan (``checks.all_finite``)
of 1, 2 and 4 MiB; the row maximum of the cross-entropy (``softmax._max``) against one running
max, per value.
"""
import os
import time

import numba
import numpy as np
from numba import njit

import scratchrnn
from scratchrnn import checks
from scratchrnn.bench import environment
from scratchrnn.kernels import softmax, updates

from medians import median_seconds   # this folder's


def median_us(f):
    return median_seconds(f) * 1e6


@njit
def row_maxima(rows):                  # softmax._max over every row
    s = 0.0
    for m in range(rows.shape[0]):
        s += softmax._max(rows[m])
    return s


@njit
def running_max(rows):                 # one running max a row
    s = 0.0
    for m in range(rows.shape[0]):
        row = rows[m]
        top = row[0]
        for i in range(row.size):
            top = max(top, row[i])
        s += top
    return s


cpu = environment.cpu_record()
print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"{cpu['model']}, {cpu['isa']},",
      f"{cpu['usable_cpus']} CPUs; scratchrnn from {os.path.dirname(scratchrnn.__file__)}")
rng = np.random.default_rng(0)
g = rng.standard_normal(263_168).astype(np.float32)
print(f"sum_of_squares: {median_us(lambda: updates.sum_of_squares(g)) * 1e3 / g.size:.3f} ns a value")
logits = (rng.standard_normal((1120, 1027)) * 3).astype(np.float32)
targets = rng.integers(0, 1027, 1120).astype(np.intp)
nll, d = np.empty(1120), np.empty_like(logits)
threads = numba.get_num_threads()
for n in (1, threads):
    numba.set_num_threads(n)
    t = median_us(lambda: softmax.cross_entropy_rows(logits, targets, nll, d))
    print(f"cross_entropy_rows, {n} thread(s): {t / 1e3:.3f} ms")
numba.set_num_threads(threads)
for mib in (1, 2, 4):
    a = rng.standard_normal(mib * (1 << 20) // 4).astype(np.float32)
    print(f"all_finite, {mib} MiB: {median_us(lambda: checks.all_finite(a)):.1f} µs")
print(f"softmax._max: {median_us(lambda: row_maxima(logits)) * 1e3 / logits.size:.3f} ns a value; "
      f"one running max: {median_us(lambda: running_max(logits)) * 1e3 / logits.size:.3f}")
