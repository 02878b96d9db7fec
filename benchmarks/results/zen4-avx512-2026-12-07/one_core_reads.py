"""How fast one core, and both, read the LSTM's W_hh at H = 128 (256 KiB float32) 128 times, as a
time loop at one sequence reads it every step forward and back: the stage profile's compiled sum
(``scratchrnn.bench.stages._read``, the fastest read it found) on one thread over all of it, and on
two threads over half each. Best of 200 calls, three times. Run it with the package installed:

    python benchmarks/results/zen4-avx512-2026-12-07/one_core_reads.py
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn.bench.stages import _read

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

T, H, CALLS = 128, 128, 200


def best(flat, parts, split):
    _read(flat, 1, parts, split)                     # compiled outside the timing
    t_best = np.inf
    for _ in range(CALLS):
        t = time.perf_counter()
        _read(flat, T, parts, split)
        t_best = min(t_best, time.perf_counter() - t)
    return t_best


def main():
    print(header())
    flat = np.random.default_rng(0).standard_normal(4 * H * H).astype(np.float32)   # W_hh's bytes
    print(f"W_hh {flat.nbytes} bytes, read {T} times")
    for round_ in range(3):
        one, two = best(flat, 1, False), best(flat, 2, True)
        print(f"round {round_}: one thread {one * 1e3:.4f} ms ({T * flat.nbytes / one / 1e9:.0f} GB/s), "
              f"two threads, half each {two * 1e3:.4f} ms ({T * flat.nbytes / two / 1e9:.0f} GB/s)", flush=True)


if __name__ == "__main__":
    main()
