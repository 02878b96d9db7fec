"""Timing that notices a busy machine.

A *sample* is a batch of k calls lasting at least ``min_sample_s`` (the kernel counts CPU
time in 10 ms jiffies, so shorter samples could not be judged). Around each sample the
guard reads the machine's busy CPU time (/proc/stat: user + nice + system + irq + softirq
+ steal, all CPUs) and this process's own CPU time (``os.times``, every thread). What is
left is the CPU time *other* processes used while the sample ran; divided by the wall
time it is in cores. A sample where others used more than ``max_other`` cores (default
0.10, a tenth of one core) plus the counters' rounding (CPUs + 1 jiffies over the sample:
each CPU's busy count and this process's own time are whole jiffies) is rejected and
taken again, up to ``max_retries`` times. Before each point, ``wait_quiet`` waits (bounded) for
the machine to be quiet. Where /proc/stat is missing (macOS) the guard is off and every
result says so.

A point reports the median of its samples' per-call times, their spread
((p90 − p10) / median) and the rejected count; if the spread stays above
``max_spread`` after extra samples, the point is flagged.

Where two implementations were timed in turn, round after round, the ratios of their samples
of one round (``paired_ratios``) cancel what moves both within seconds, as the host's speed
does; ``median_interval`` bounds the median of such ratios without assuming their
distribution.
"""

import math
import os
import time
from typing import Callable, NamedTuple

import numpy as np

# -- configuration -----------------------------------------------------------
MAX_OTHER = 0.10           # cores other processes may use during a sample
MIN_SAMPLE_S = 0.2         # a sample lasts at least this long (k calls batched)
MAX_RETRIES = 8            # takes of one sample before the last take is kept (and flagged)
SAMPLES = 5                # samples per point and implementation
EXTRA_SAMPLES = 5          # more samples when the spread is wide
MAX_SPREAD = 0.10          # (p90 − p10) / median above this: the point is flagged
QUIET_WINDOW_S = 0.2       # wait_quiet: length of one look at the machine
QUIET_MAX_S = 10.0         # wait_quiet: give up after this long (and record it)
CONFIDENCE = 0.9           # median_interval: the least probability that it holds the median
# -----------------------------------------------------------------------------


def read_proc_stat(path="/proc/stat"):
    """Busy seconds of all CPUs so far (user+nice+system+irq+softirq+steal), or None."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    """CPU seconds this process has used, all its threads."""
    t = os.times()
    return t.user + t.system


class Guard:
    """Measures what other processes do while a piece of work runs (module docstring).

    ``reader`` returns the machine's busy CPU seconds (None: guard off); ``own`` this
    process's; ``cpus`` the CPUs they are counted over. Tests pass fake ones.
    """

    def __init__(self, max_other=MAX_OTHER, reader=read_proc_stat, own=own_cpu_s, cpus=None,
                 tick_s=None):
        self.max_other = max_other
        self.reader, self.own = reader, own
        self.cpus = cpus or os.cpu_count() or 1
        self.tick_s = tick_s if tick_s is not None else 1 / os.sysconf("SC_CLK_TCK")
        self.on = reader() is not None

    def describe(self):
        if not self.on:
            return {"on": False, "why": "no /proc/stat on this system: samples are not checked "
                                        "for other processes' load"}
        return {"on": True, "max_other_cores": self.max_other, "source": "/proc/stat - os.times()",
                "jiffy_s": self.tick_s, "cpus": self.cpus}

    def run(self, fn):
        """Runs fn(); returns (wall seconds, other processes' cores during it, or None)."""
        b0, o0 = self.reader(), self.own()
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        b1, o1 = self.reader(), self.own()
        if b0 is None or b1 is None:
            return wall, None
        other = max(0.0, (b1 - b0) - (o1 - o0))
        return wall, other / max(wall, 1e-9)

    def limit(self, wall):
        """Cores of others a sample of ``wall`` seconds may show: max_other plus the
        rounding of the counters, CPUs + 1 jiffies."""
        return self.max_other + (self.cpus + 1) * self.tick_s / max(wall, 1e-9)

    def disturbed(self, wall, other):
        return other is not None and other > self.limit(wall)


def wait_quiet(guard, window_s=QUIET_WINDOW_S, max_s=QUIET_MAX_S, sleep=time.sleep):
    """Waits until one ``window_s`` look at the machine shows others under the guard's
    limit, at most ``max_s``. Returns {"waited_s", "quiet", "other_cores"} (last look)."""
    t0 = time.perf_counter()
    other = None
    while guard.on:
        wall, other = guard.run(lambda: sleep(window_s))
        if not guard.disturbed(wall, other):
            return {"waited_s": time.perf_counter() - t0, "quiet": True, "other_cores": other}
        if time.perf_counter() - t0 >= max_s:
            return {"waited_s": time.perf_counter() - t0, "quiet": False, "other_cores": other}
    return {"waited_s": 0.0, "quiet": None, "other_cores": None}


def wall_timer(fn):
    """Seconds one call of fn takes on the host clock (CPU work)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cuda_timer(fn):
    """Seconds one call of fn takes on the GPU, from CUDA events around it (synchronised
    first, so that no earlier work is counted; waits for the end event)."""
    import torch
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3                 # ms -> s


class Sample(NamedTuple):
    per_call_s: float       # the sample's time per call
    calls: int
    wall_s: float           # the whole sample on the host clock
    other_cores: float      # others' load during it (None: guard off)
    rejected: int           # takes thrown away before this one
    kept_disturbed: bool    # True: retries ran out, this take was disturbed too


def calls_per_sample(t_call, min_sample_s=MIN_SAMPLE_S):
    """Calls to batch into one sample so that it lasts at least ``min_sample_s``."""
    return max(1, int(np.ceil(min_sample_s / max(t_call, 1e-9))))


def guarded_sample(guard, call, calls, timer=wall_timer, max_retries=MAX_RETRIES, pause=0.0):
    """One sample of ``calls`` calls, taken again while the guard finds it disturbed.

    With ``timer`` = cuda_timer each call is timed on the GPU and summed; the guard still
    watches the host, where the timed work is launched.
    """
    rejected = 0
    while True:
        times = []
        wall, other = guard.run(lambda: times.extend(timer(call) for _ in range(calls)))
        bad = guard.disturbed(wall, other)
        if not bad or rejected >= max_retries:
            return Sample(sum(times) / calls, calls, wall, other, rejected, bad)
        rejected += 1
        if pause:
            time.sleep(pause)


def spread(values):
    """(p90 − p10) / median of the samples (0 for one sample)."""
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    if len(v) < 2 or med <= 0:
        return 0.0
    return float((np.percentile(v, 90) - np.percentile(v, 10)) / med)


def summarise(samples, max_spread=MAX_SPREAD):
    """A point's numbers from its samples: median, spread, rejected, flags."""
    per_call = [s.per_call_s for s in samples]
    sp = spread(per_call)
    flags = []
    if sp > max_spread:
        flags.append(f"spread {sp:.0%} > {max_spread:.0%}")
    disturbed = sum(s.kept_disturbed for s in samples)
    if disturbed:
        flags.append(f"{disturbed} sample(s) kept while the machine was busy")
    others = [s.other_cores for s in samples if s.other_cores is not None]
    return {"median_s": float(np.median(per_call)), "spread": sp, "samples_s": per_call,
            "calls_per_sample": [s.calls for s in samples],
            "n_samples": len(samples), "n_rejected": sum(s.rejected for s in samples),
            "other_cores_max": max(others) if others else None,
            "flagged": bool(flags), "flags": flags}


def needs_more(samples, max_spread=MAX_SPREAD, extra=EXTRA_SAMPLES, base=SAMPLES):
    """True while the spread is wide and fewer than base + extra samples were taken."""
    return len(samples) < base + extra and spread([s.per_call_s for s in samples]) > max_spread


class Timed(NamedTuple):
    """What ``interleave`` needs of one implementation: a call and its timer."""
    call: Callable[[], object]
    timer: Callable[[Callable], float]


def paired_ratios(mine, theirs):
    """``mine[i] / theirs[i]`` for the samples of two implementations timed in the same rounds.

    ``scratchrnn.bench.measure`` times every implementation once per round, one after the
    other in a fixed order, seconds apart; one that stops taking extra samples (``needs_more``)
    takes none later, so the first ``min(len(mine), len(theirs))`` samples of each are the rounds
    both took part in. What moves both within a round cancels; an effect of going first would not.
    """
    n = min(len(mine), len(theirs))
    return [a / b for a, b in zip(mine[:n], theirs[:n])]


def paired_summary(mine, theirs, confidence=CONFIDENCE):
    """{median, low, high, coverage, rounds} of ``paired_ratios(mine, theirs)``: their median and
    ``median_interval``; None where the rounds are too few for the interval."""
    ratios = paired_ratios(mine, theirs)
    interval = median_interval(ratios, confidence)
    if interval is None:
        return None
    low, high, coverage = interval
    return dict(median=float(np.median(ratios)), low=low, high=high, coverage=coverage, rounds=len(ratios))


def median_interval(values, confidence=CONFIDENCE):
    """(low, high, coverage): the narrowest interval from the k-th smallest to the k-th largest
    of ``values`` that holds the median of the distribution they came from with probability
    ``coverage`` ≥ ``confidence``, whatever that distribution (values independent, drawn from
    one continuous distribution); None where too few values give that confidence (fewer than 5
    for 0.9).

    The interval misses the median only where fewer than k of the n values lie below it, or
    fewer than k above; each has probability P(Binomial(n, ½) ≤ k − 1), so
    coverage = 1 − 2·P(Binomial(n, ½) ≤ k − 1): 15/16 for the least and largest of 5 values,
    0.979 for the second least and second largest of 10 (the third: 0.891). A distribution-free
    interval for a quantile (Conover, *Practical Nonparametric Statistics*, 3rd ed., ch. 3).
    """
    v = sorted(values)
    n, best = len(v), None
    for k in range(1, n // 2 + 1):
        coverage = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if coverage < confidence:
            break
        best = (v[k - 1], v[n - k], coverage)
    return best
