"""Whole calls with the workspaces' arrays on cache lines against NumPy's ``np.empty``, in one
process, taking turns: float32 forward+backward, I = H, at points whose per-step products read
their weights from panels (``scratchrnn.kernels.panels``) and at one sequence.

    python benchmarks/results/xeon-avx512-2026-12-07-aligned/aligned_calls.py

Two model objects of the same seed (the same weights and inputs): "np.empty" had
``workspace.empty_aligned`` replaced by ``np.empty`` around every one of its calls, so its
workspaces hold arrays where NumPy put them (the script reports where its panels start); "aligned"
is the package as it is. glibc's settings are left as they are (the grid's harness keeps freed
memory, which moves where ``np.empty`` puts an array from call to call). Each timed call is as many
calls as take about 5 ms; in each of 21 rounds the two take turns, "np.empty" first, each called
once untimed and 5 times timed (``../xeon-avx512-2026-12-07-tried/rounds.py``). Run it with the
package installed.
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn import workspace
from scratchrnn.bench import impls
from scratchrnn.bench.spec import Point

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 21
POINTS = [Point(model, "fwdbwd", "float32", T, N, H)
          for model, T, N, H in (("lstm", 128, 16, 128), ("lstm", 32, 64, 128), ("lstm", 128, 16, 512),
                                 ("lstm", 32, 64, 512), ("gru", 128, 16, 128), ("gru", 32, 64, 512),
                                 ("rnn", 32, 64, 512), ("lstm", 128, 1, 128), ("lstm", 128, 1, 32))]


def with_np_empty(call, repeat):
    """``call`` run ``repeat`` times with ``workspace.empty_aligned`` as ``np.empty``, then restored."""
    def timed():
        kept = workspace.empty_aligned
        workspace.empty_aligned = lambda shape, dtype: np.empty(shape, dtype=dtype)
        try:
            for _ in range(repeat):
                call()
        finally:
            workspace.empty_aligned = kept
    return timed


def repeated(call, repeat):
    def timed():
        for _ in range(repeat):
            call()
    return timed


def panel_offsets(model):
    """Where each panels array of ``model``'s workspaces starts, in bytes past a cache line."""
    return sorted({a.ctypes.data % workspace.CACHE_LINE for ws in model.workspaces.values()
                   for name, a in ws.arrays().items() if "panels" in name})


def main():
    print(header())
    print(f"float32, forward+backward, I = H; {ROUNDS} rounds, the two in turn; ms a call: median over "
          "the rounds; ratios: median over the rounds of the ratio within a round (least – largest)")
    for point in POINTS:
        calls, models = {}, {}
        for name in ("np.empty", "aligned"):
            m, x, d_out = impls.inputs(point, seed=0)
            models[name], calls[name] = m, impls.scratch_impl(point, m, x, d_out).call
        first = with_np_empty(calls["np.empty"], 1)
        first()
        calls["aligned"]()
        repeat = max(1, round(5e-3 / _seconds(calls["aligned"])))
        variants = {"np.empty": with_np_empty(calls["np.empty"], repeat), "aligned": repeated(calls["aligned"], repeat)}
        times = alternate(variants, ROUNDS, pause=0.05)
        ms = {k: np.median(v) / repeat * 1e3 for k, v in times.items()}
        print(f"{point.model} T={point.T} N={point.N} H={point.H}: np.empty {ms['np.empty']:.3f} "
              f"(panels at {panel_offsets(models['np.empty'])} B past a line), aligned {ms['aligned']:.3f} "
              f"({panel_offsets(models['aligned'])}) ms; aligned/np.empty {paired(times, 'aligned', 'np.empty')}",
              flush=True)


def _seconds(call, n=5):
    """Seconds a call of ``call`` takes, the mean of ``n``."""
    t = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t) / n


if __name__ == "__main__":
    main()
