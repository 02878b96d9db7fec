"""A small call's forward+backward through the models before this folder's changes and after,
in one process, taking turns: the LSTM's six small-work points of the grid (float32, I = H,
N·H² ≤ 16,384) and T = N = H = 1, the RNN and GRU at T=32 N=1 H=32.

    python benchmarks/results/xeon-avx512-2026-12-07-fixed/fixed_cost.py

"before": the package with ``BEFORE``'s patches, which put back the stamps of the saved states
(``fingerprint``'s ``ravel`` stays); "now": the package as it is
(``scratchrnn.bench.impls.scratch_impl``). One model object serves both, so both call the same
weights and workspaces. Each timed call is as many calls as take about 3 ms; in each of 41 rounds
the two take turns, "before" first, after a pause of 0.05 s, each called once untimed and 5 times
timed (``../xeon-avx512-2026-12-07-tried/rounds.py``). Ratios to torch are the grid's to
give (its guarded harness pauses longer between the two sides, whose idle threads spin for a while
after a call). Run it with the package installed.
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn import functional as F
from scratchrnn.bench import impls
from scratchrnn.bench.spec import Point

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 41
POINTS = [Point("lstm", "fwdbwd", "float32", T, N, H)
          for T, N, H in ((1, 1, 1), (32, 1, 32), (128, 1, 32), (32, 1, 128), (128, 1, 128), (32, 16, 32),
                          (128, 16, 32))]
POINTS += [Point(model, "fwdbwd", "float32", 32, 1, 32) for model in ("rnn", "gru")]

saved_arrays = F.saved_arrays
# (module, attribute, what it was before): each change's way back
BEFORE = [
    # a checked forward stamped its saved states too (h, c), not only x and the weights
    (F, "saved_arrays", lambda cache, states=True: saved_arrays(cache)),
]


def patched(call, patches, repeat):
    """``call`` run ``repeat`` times with the attributes of ``patches`` set, then restored."""
    def timed():
        kept = [(module, name, getattr(module, name)) for module, name, _ in patches]
        for module, name, value in patches:
            setattr(module, name, value)
        try:
            for _ in range(repeat):
                call()
        finally:
            for module, name, value in kept:
                setattr(module, name, value)
    return timed


def main():
    print(header())
    print(f"float32, forward+backward, I = H; {ROUNDS} rounds, the two in turn; µs a call: median over "
          "the rounds; ratios: median over the rounds of the ratio within a round (least – largest)")
    for point in POINTS:
        m, x, d_out = impls.inputs(point, seed=0)
        module = impls.scratch_impl(point, m, x, d_out).call
        module()
        repeat = max(1, round(3e-3 / _seconds(module)))
        variants = {"before": patched(module, BEFORE, repeat), "now": patched(module, [], repeat)}
        times = alternate(variants, ROUNDS, pause=0.05)
        us = {k: np.median(v) / repeat * 1e6 for k, v in times.items()}
        print(f"{point.model} T={point.T} N={point.N} H={point.H}: before {us['before']:.1f}, now {us['now']:.1f} µs; "
              f"now/before {paired(times, 'now', 'before')}", flush=True)


def _seconds(call, n=20):
    """Seconds a call of ``call`` takes, the mean of ``n``."""
    t = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t) / n


if __name__ == "__main__":
    main()
