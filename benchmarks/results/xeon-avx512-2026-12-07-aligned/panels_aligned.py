"""The per-step product from panels (``scratchrnn.kernels.panels.panels_add``) with its panels on a
cache line against the same panels 16 bytes past one, where ``np.empty`` puts large arrays, in
one process, taking turns: float32, one core, shapes of the grid's panel products.

    python benchmarks/results/xeon-avx512-2026-12-07-aligned/panels_aligned.py

Each shape: a (N, K) times b (K, M) plus c (N, M), b packed twice from one buffer each, the two
products checked to the bit. In each of 21 rounds (the first dropped) the two take turns, each
timing a compiled loop of T products. GFLOP/s from the medians; the ratio is the median over
the rounds of the ratio within a round (10th – 90th percentile).
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn.kernels import panels as pn
from scratchrnn.kernels.jit import jit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

ROUNDS = 21
SHAPES = [(8, 128, 512), (16, 128, 512), (32, 128, 512), (16, 512, 128), (16, 512, 2048), (32, 2048, 512),
          (64, 512, 2048), (50, 128, 512)]


def panels_at(shape, past):
    """An empty float32 array of ``shape`` starting ``past`` bytes after a cache line."""
    n = int(np.prod(shape))
    raw = np.empty(n + 32, np.float32)
    start = (-raw.ctypes.data % 64 + past) // 4
    return raw[start:start + n].reshape(shape)


@jit
def products(c, a, panels, T):
    """T products c + a @ b from the panels; returns a sum of their first elements."""
    s = 0.0
    for _ in range(T):
        s += pn.panels_add(c, a, panels)[0, 0]
    return s


def main():
    print(header())
    rng = np.random.default_rng(0)
    for N, K, M in SHAPES:
        a = rng.standard_normal((N, K)).astype(np.float32)
        b = rng.standard_normal((K, M)).astype(np.float32)
        c = rng.standard_normal((N, M)).astype(np.float32)
        shape = pn.panels_shape(K, M, np.float32)
        variants = {"line": pn.pack_into(b, panels_at(shape, 0)), "16 B past": pn.pack_into(b, panels_at(shape, 16))}
        assert [p.ctypes.data % 64 for p in variants.values()] == [0, 16]
        assert np.array_equal(pn.panels_add(c, a, variants["line"]), pn.panels_add(c, a, variants["16 B past"]))
        T = max(20, 4_000_000 // (N * K * M) * 20)
        times = {name: [] for name in variants}
        for _ in range(ROUNDS):
            for name, p in variants.items():
                t = time.perf_counter()
                products(c, a, p, T)
                times[name].append((time.perf_counter() - t) / T)
        line, past = (np.array(times[name][1:]) for name in variants)
        r = line / past
        rate = {name: 2 * N * K * M / np.median(v[1:]) / 1e9 for name, v in times.items()}
        print(f"N={N:3d} K={K:5d} M={M:5d}: on a line {rate['line']:6.1f} GFLOP/s, 16 B past {rate['16 B past']:6.1f}; "
              f"time on a line / 16 B past {np.median(r):.3f} ({np.quantile(r, .1):.3f} – {np.quantile(r, .9):.3f})",
              flush=True)


if __name__ == "__main__":
    main()
