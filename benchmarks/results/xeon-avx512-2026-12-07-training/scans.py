"""The NaN and inf scan of a float32 array on one thread against two blocks on Numba's threads.

    python benchmarks/results/xeon-avx512-2026-12-07-training/scans.py

``kernels.finite.any_non_finite`` over the whole array against ``any_non_finite_blocks`` with
two blocks, for arrays of 256 KiB to 16 MiB (in cache: each is scanned again and again), medians
of 41 scans each after one, the two alternating by size; two rounds.
"""
import time

import numpy as np

from scratchrnn.bench import environment
from scratchrnn.kernels import finite

from medians import median_seconds   # this folder's


def median_us(f):
    return median_seconds(f) * 1e6


cpu = environment.cpu_record()
print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"{cpu['model']}, {cpu['isa']},",
      f"{cpu['usable_cpus']} CPUs")
exponent = np.uint32(0x7F800000)
rng = np.random.default_rng(0)
for round_ in (1, 2):
    for kib in (256, 512, 1024, 2048, 4096, 16384):
        bits = rng.standard_normal(kib * 1024 // 4).astype(np.float32).view(np.uint32)
        one = median_us(lambda: finite.any_non_finite(bits, exponent))
        two = median_us(lambda: finite.any_non_finite_blocks(bits, exponent, 2))
        print(f"round {round_}, {kib:6d} KiB: one thread {one:8.1f} µs, two blocks {two:8.1f} µs, "
              f"{two / one:.2f}x")
