"""What holding BLAS on one thread costs inside a model's calls, where the stage profiles'
"BLAS held on one thread" row puts it: each pass in row blocks enters and exits
``scratchrnn.kernels.team.serial_blas`` once, and here every enter and exit, and every call it
makes to a threadpoolctl controller of a BLAS library (``lib0``, ``lib1``: the order of
``serial_blas.libraries()``), is timed. ``set_num_threads`` is threadpoolctl's method with its
guard on the controlling thread; ``_real_set_num_threads``, which it calls, looks OpenBLAS's
function up and calls it. forward+backward, float32, I = H; 10 calls untimed, then the medians
(and the largest) over 50 calls.

    python benchmarks/results/zen4-avx512-2026-12-07-night/hold_in_call.py
"""
import collections
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn import registry
from scratchrnn.kernels import team

sys.path.insert(0, str(Path(__file__).parent.parent / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

POINTS = [("lstm", 32, 16, 32), ("lstm", 128, 16, 32), ("lstm", 128, 64, 128), ("lstm", 32, 64, 512)]
CALLS = 50
taken = collections.defaultdict(list)           # {what: [seconds of each call]}


def timed(f, what):
    def g(*args):
        t = time.perf_counter()
        result = f(*args)
        taken[what].append(time.perf_counter() - t)
        return result
    return g


def main():
    libs = team.serial_blas.libraries()
    for i, lib in enumerate(libs):
        for name in ("get_num_threads", "set_num_threads", "_real_set_num_threads"):
            setattr(lib, name, timed(getattr(lib, name), f"lib{i}.{name}"))
    team.serial_blas.__enter__ = timed(team.serial_blas.__enter__, "enter")
    team.serial_blas.__exit__ = timed(team.serial_blas.__exit__, "exit")
    print(header())
    print("libraries:", ", ".join(f"lib{i} {Path(lib.filepath).name}" for i, lib in enumerate(libs)))
    for model, T, N, H in POINTS:
        m = registry.model_class(model)(H, H, dtype=np.float32, seed=0)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((T, N, H)).astype(np.float32)          # (T, N, I)
        d_out = rng.standard_normal((T, N, H)).astype(np.float32)      # (T, N, H)
        for _ in range(10):
            m(x)
            m.backward(d_out)
        taken.clear()
        start = time.perf_counter()
        for _ in range(CALLS):
            m(x)
            m.backward(d_out)
        call = (time.perf_counter() - start) / CALLS
        print(f"{model} T={T} N={N} H={H}: {call * 1e3:.3f} ms a call (mean, timers inside)")
        for what, seconds in sorted(taken.items()):
            print(f"  {what}: {len(seconds)} calls, median {np.median(seconds) * 1e6:.1f} µs, "
                  f"largest {max(seconds) * 1e6:.1f}")


if __name__ == "__main__":
    main()
