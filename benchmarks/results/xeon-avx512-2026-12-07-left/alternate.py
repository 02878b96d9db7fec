"""What this folder's scripts share: variants timed in turn, round after round, the output's
header, and the per-step product's operands."""
import sys
import time

import numpy as np

from scratchrnn.bench import environment, measure
from scratchrnn.kernels.panels import pack_into, panels_shape


def header():
    """The lines each script's output starts with: when, on what CPU, with which versions, and
    torch's thread count (``environment.versions`` imports torch, so every script's process has
    it loaded, whether or not the script calls it)."""
    cpu = environment.cpu_record()
    lines = [time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
             + f" {cpu['model']}, {cpu['isa']}, {cpu['usable_cpus']} CPUs",
             " | ".join(f"{name} {version}" for name, version in environment.versions().items())]
    if "torch" in sys.modules:
        lines.append(f"torch on {sys.modules['torch'].get_num_threads()} threads")
    return "\n".join(lines)


def alternate(variants, rounds=5, calls=5, pause=measure.PAUSE_S):
    """{name: [seconds of each round]} for ``variants`` {name: function}: in every round each
    variant waits ``pause`` seconds (so that the threads the one before left spinning, BLAS's or
    OpenMP's, go idle, as the benchmark's rounds wait), is called once untimed, then ``calls``
    times timed, and keeps the median of those; the variants take turns within a round, so that
    what moves the host's speed for seconds at a time moves them all."""
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, f in variants.items():
            time.sleep(pause)
            f()
            taken = []
            for _ in range(calls):
                t = time.perf_counter()
                f()
                taken.append(time.perf_counter() - t)
            times[name].append(float(np.median(taken)))
    return times


def step_operands(rng, T, N, H):
    """A forward's per-step product operands, float32: W_hhᵀ (H, 4H) packed in panels
    (``kernels.panels``), an ``xw_t`` (N, 4H) for each of T steps, and h (N, H) in ±0.5."""
    w_t = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)   # W_hhᵀ
    panels = pack_into(w_t, np.empty(panels_shape(H, 4 * H, np.float32), np.float32))
    xw = rng.standard_normal((T, N, 4 * H)).astype(np.float32)
    h = rng.uniform(-0.5, 0.5, (N, H)).astype(np.float32)
    return panels, xw, h


def spread(seconds):
    """'median (least – largest)' of a variant's rounds, in ms."""
    s = np.asarray(seconds) * 1e3
    return f"{np.median(s):.2f} ({s.min():.2f} – {s.max():.2f})"
