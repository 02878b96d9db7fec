"""What this folder's scripts share: the output's header, and variants timed in turn, round after
round."""
import time

import numpy as np

from scratchrnn.bench import environment, measure


def header():
    """The lines each script's output starts with: when, on what CPU, with which versions."""
    cpu = environment.cpu_record()
    return "\n".join([time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
                      + f" {cpu['model']}, {cpu['isa']}, {cpu['usable_cpus']} CPUs",
                      " | ".join(f"{name} {version}" for name, version in environment.versions().items())])


def alternate(variants, rounds, calls=5, pause=measure.PAUSE_S):
    """{name: [seconds of each round]} for ``variants`` {name: function}: in every round each
    variant waits ``pause`` seconds (so that threads the one before left spinning go idle), is
    called once untimed, then ``calls`` times timed, and keeps the median of those; the variants
    take turns within a round, so that what moves the host's speed for seconds moves them all."""
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


def paired(times, name, base):
    """'median (least – largest)' over the rounds of ``name``'s time over ``base``'s in the same round."""
    r = np.asarray(times[name]) / np.asarray(times[base])
    return f"{np.median(r):.3f} ({r.min():.3f} – {r.max():.3f})"
