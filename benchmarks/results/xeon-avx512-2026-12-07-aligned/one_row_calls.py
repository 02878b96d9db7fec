"""Whole calls at one sequence with each step's product from panels (``kernels.panels``, one row
four panels at a time) against the same calls without them, in one process, taking turns:
forward+backward, I = H, T = 128 (and 32), float32 and float64.

    python benchmarks/results/xeon-avx512-2026-12-07-aligned/one_row_calls.py

Two model objects of the same seed (the same weights and inputs): "without" had
``panels.use_panels`` refuse one row around every one of its calls, so its passes multiply as they
did before one row took panels (the own loops up to 2^17 elements of ``W_hh``, BLAS on all
threads past that); "panels" is the package as it is, whose rule (``panels.use_panels``) takes
one row from panels up to ``ONE_ROW_MAX_BYTES``. Points past that rule are run with the rule
widened for the "panels" side too (marked), to show what it left out. Each timed call is as many
calls as take about 5 ms; in each of 21 rounds the two take turns, "without" first, each called
once untimed and 5 times timed (``../xeon-avx512-2026-12-07-tried/rounds.py``). Run it with the
package installed.
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn.bench import impls
from scratchrnn.bench.spec import Point
from scratchrnn.kernels import panels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 21
POINTS = [Point(model, "fwdbwd", dtype, T, 1, H)
          for dtype, model, T, H in (("float32", "lstm", 128, 32), ("float32", "lstm", 32, 32),
                                     ("float32", "lstm", 128, 64), ("float32", "lstm", 128, 128),
                                     ("float32", "lstm", 32, 128), ("float32", "gru", 128, 128),
                                     ("float32", "rnn", 128, 128), ("float32", "gru", 128, 32),
                                     ("float32", "rnn", 128, 32), ("float32", "lstm", 128, 256),
                                     ("float32", "gru", 128, 256), ("float32", "rnn", 128, 512),
                                     ("float32", "lstm", 128, 512), ("float64", "lstm", 128, 128),
                                     ("float64", "gru", 128, 128), ("float64", "rnn", 128, 256),
                                     ("float64", "lstm", 128, 256), ("float64", "rnn", 128, 512))]
WIDER = 8 << 20           # the rule's limit for the points past it


def patched(call, repeat, panels_for_one_row, limit=None):
    """``call`` run ``repeat`` times with one row's panels refused (or allowed up to ``limit``
    bytes), then restored."""
    def timed():
        kept_rule, kept_limit = panels.use_panels, panels.ONE_ROW_MAX_BYTES
        if not panels_for_one_row:
            panels.use_panels = lambda rows, K, M, dtype: rows > 1 and kept_rule(rows, K, M, dtype)
        if limit is not None:
            panels.ONE_ROW_MAX_BYTES = limit
        try:
            for _ in range(repeat):
                call()
        finally:
            panels.use_panels, panels.ONE_ROW_MAX_BYTES = kept_rule, kept_limit
    return timed


def main():
    print(header())
    print(f"forward+backward, N = 1, I = H; {ROUNDS} rounds, the two in turn; ms a call: median over the "
          "rounds; ratios: median over the rounds of the ratio within a round (least – largest)")
    for point in POINTS:
        calls = {}
        for name in ("without", "panels"):
            m, x, d_out = impls.inputs(point, seed=0)
            calls[name] = impls.scratch_impl(point, m, x, d_out).call
        G = {"lstm": 4, "gru": 3}.get(point.model, 1)
        nbytes = G * point.H * point.H * np.dtype(point.dtype).itemsize
        wider = None if panels.use_panels(1, point.H, G * point.H, point.dtype) else WIDER
        patched(calls["without"], 1, False)()
        patched(calls["panels"], 1, True, wider)()
        repeat = max(1, round(5e-3 / _seconds(patched(calls["panels"], 1, True, wider))))
        variants = {"without": patched(calls["without"], repeat, False),
                    "panels": patched(calls["panels"], repeat, True, wider)}
        times = alternate(variants, ROUNDS, pause=0.05)
        ms = {k: np.median(v) / repeat * 1e3 for k, v in times.items()}
        print(f"{point.dtype} {point.model} T={point.T} H={point.H} (W_hh {nbytes / 2**10:,.0f} KiB"
              f"{', past the rule' if wider else ''}): without {ms['without']:.3f}, panels {ms['panels']:.3f} ms; "
              f"panels/without {paired(times, 'panels', 'without')}", flush=True)


def _seconds(call, n=3):
    """Seconds a call of ``call`` takes, the mean of ``n``."""
    t = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t) / n


if __name__ == "__main__":
    main()
