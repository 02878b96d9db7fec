"""The timing this folder's scripts share: variants timed in turn, round after round."""
import time

import numpy as np

from scratchrnn.bench import environment, measure


def header():
    """The line each script's output starts with: when, and on what CPU."""
    cpu = environment.cpu_record()
    return (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            + f" {cpu['model']}, {cpu['isa']}, {cpu['usable_cpus']} CPUs")


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


def spread(seconds):
    """'median (least – largest)' of a variant's rounds, in ms."""
    s = np.asarray(seconds) * 1e3
    return f"{np.median(s):.2f} ({s.min():.2f} – {s.max():.2f})"
