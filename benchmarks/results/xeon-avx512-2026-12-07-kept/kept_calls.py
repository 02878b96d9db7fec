"""Whole module calls with each step's product written into memory the time loop keeps
(``kernels.products.matmul_add_into``) against the package before, whose loops made a new array
for every step's product, in one process, taking turns: forward+backward, I = H.

    bash benchmarks/results/xeon-avx512-2026-12-07-kept/kept_calls.sh [BEFORE [small]]

``kept_calls.sh`` makes the package at BEFORE importable as ``scratchrnn_before``. Two models of
the same seed (the same weights), one from each package, get the same input and output
gradient; their outputs and every gradient are checked equal to the bit first (the sums are the
same, in the same order). Each timed call is as many calls as take about 5 ms; in each of 21
rounds (41 with ``small``: the points where N·H² ≤ 16,384 alone) the two take turns, "before"
first, each called once untimed and 5 times timed (``../xeon-avx512-2026-12-07-tried/rounds.py``).
The table gives the median over the rounds of "kept" over "before" within a round, with its least
and largest, and the best round's time of each, kept over before ("best").
"""
import sys
import time
from pathlib import Path

import numpy as np

import scratchrnn
import scratchrnn_before

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 21
POINTS = [  # (model, dtype, T, N, H)
    ("LSTM", "float32", 32, 1, 32), ("LSTM", "float32", 128, 1, 32), ("LSTM", "float32", 32, 1, 128),
    ("LSTM", "float32", 128, 1, 128), ("LSTM", "float32", 32, 16, 32), ("LSTM", "float32", 128, 16, 32),
    ("GRU", "float32", 128, 1, 32), ("RNN", "float32", 128, 1, 32), ("GRU", "float32", 128, 16, 32),
    ("LSTM", "float32", 128, 16, 128), ("LSTM", "float32", 28, 100, 128), ("GRU", "float32", 128, 64, 128),
    ("LSTM", "float32", 32, 64, 512), ("LSTM", "float64", 128, 1, 32), ("GRU", "float64", 128, 16, 128),
    ("LSTM", "float32", 128, 4, 32), ("LSTM", "float32", 128, 4, 64), ("GRU", "float32", 128, 4, 32),
    ("RNN", "float32", 128, 4, 64),
]


def grads(m):
    return [g.copy() for g in m.grads.values()]


def main():
    before = sys.argv[1] if len(sys.argv) > 1 else "?"
    small = sys.argv[2:3] == ["small"]
    points = [p for p in POINTS if p[3] * p[4] ** 2 <= 16_384] if small else POINTS
    rounds = 41 if small else ROUNDS
    print(header())
    print(f"kept: {Path(scratchrnn.__file__).parent}; before: {before} ({Path(scratchrnn_before.__file__).parent})")
    print(f"{rounds} rounds")
    print("model dtype T N H | before ms | kept ms | kept / before, paired rounds (least – largest) | best")
    for name, dtype, T, N, H in points:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, N, H)).astype(dtype)          # (T, N, I)
        d_out = rng.standard_normal((T, N, H)).astype(dtype)      # (T, N, H)
        models = {"before": getattr(scratchrnn_before, name)(H, H, dtype=dtype, seed=0),
                  "kept": getattr(scratchrnn, name)(H, H, dtype=dtype, seed=0)}
        results = {}
        for key, m in models.items():
            out, _ = m(x)
            dx, _ = m.backward(d_out)
            results[key] = [out, dx] + grads(m)
            m.zero_grad()
        for a, b in zip(results["before"], results["kept"]):
            assert np.array_equal(a, b), f"{name} {dtype} T={T} N={N} H={H}: results differ"
        start = time.perf_counter()
        models["kept"](x)
        models["kept"].backward(d_out)
        repeat = max(1, int(5e-3 / (time.perf_counter() - start)))

        def calls(m):
            def f():
                for _ in range(repeat):
                    m(x)
                    m.backward(d_out)
            return f
        times = alternate({key: calls(m) for key, m in models.items()}, rounds)
        b, k = (np.median(times[key]) / repeat * 1e3 for key in ("before", "kept"))
        best = min(times["kept"]) / min(times["before"])
        print(f"{name} {dtype} {T} {N} {H} | {b:.3f} | {k:.3f} | {paired(times, 'kept', 'before')} | {best:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
