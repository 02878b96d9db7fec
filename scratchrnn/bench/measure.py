"""One grid point measured: every in-process implementation, interleaved and guarded.

1. Each implementation is warmed up: a first call, which may compile (Numba, an empty or
   stale cache) or fill caches, then ``WARMUP_CALLS`` more (one if it takes ``SLOW_CALL_S``
   or more). The fastest of these later calls sets the calls per sample
   (``timing.calls_per_sample``): the first call's time would make a sample one call long
   wherever it compiled.
2. Then rounds of interleaved samples: for A, B, C, ...: one untimed call that wakes the
   thread pools (none for slow calls), one guarded sample, a pause, so that spinning
   BLAS/OpenMP workers of one implementation go idle before the next is timed. At least
   ``timing.SAMPLES`` rounds; more (up to ``timing.EXTRA_SAMPLES``) for an implementation
   whose spread stays wide.
3. Each row's ``max_abs_diff`` compares its first output with scratchrnn's (or torch
   CPU's when scratchrnn is not run).
"""

import time

import numpy as np

from scratchrnn.bench import impls as implementations
from scratchrnn.bench import timing

# -- configuration -----------------------------------------------------------
WARMUP_CALLS = 2           # per implementation and point, after the first call, before any timing
PAUSE_S = 0.3              # between samples, so spinning BLAS/OpenMP workers go idle
SLOW_CALL_S = 0.25         # calls this slow: one warm-up call after the first, no untimed wake-up call
# -----------------------------------------------------------------------------


class Settings:
    """How samples are taken: the guard, sample length, counts, pause (one per run)."""

    def __init__(self, guard, samples=timing.SAMPLES, min_sample_s=timing.MIN_SAMPLE_S,
                 pause=PAUSE_S, max_spread=timing.MAX_SPREAD, extra=timing.EXTRA_SAMPLES,
                 max_retries=timing.MAX_RETRIES):
        self.guard, self.samples, self.min_sample_s = guard, samples, min_sample_s
        self.pause, self.max_spread, self.extra = pause, max_spread, extra
        self.max_retries = max_retries

    def as_dict(self):
        return {"guard": self.guard.describe(), "samples": self.samples,
                "min_sample_s": self.min_sample_s, "pause_s": self.pause,
                "max_spread": self.max_spread, "extra_samples": self.extra,
                "max_retries": self.max_retries, "warmup_calls": WARMUP_CALLS,
                "slow_call_s": SLOW_CALL_S}


def _warm_up(impl):
    """Returns {warmup_s, output, t_call}: the time of every warm-up call, the first output,
    and the time of one call once warm (the fastest after the first)."""
    kept = []
    warm = [impl.timer(lambda: kept.append(impl.call()))]   # may compile: not a call's time
    out = impl.to_numpy(kept.pop())
    warm.append(impl.timer(impl.call))
    if warm[1] < SLOW_CALL_S:
        warm += [impl.timer(impl.call) for _ in range(WARMUP_CALLS - 1)]
    return {"warmup_s": warm, "output": out, "t_call": min(warm[1:])}


def measure(impls, settings):
    """Times each Impl in interleaved guarded samples. Returns {name: dict} with the
    warm-up, the samples (``timing.Sample``) and the first output, or an error."""
    res = {}
    for name, impl in impls.items():                     # warm-up, one implementation at a time
        try:
            r = res[name] = _warm_up(impl)
            r["calls"] = timing.calls_per_sample(r["t_call"], settings.min_sample_s)
            r["wake"] = 0 if r["t_call"] >= SLOW_CALL_S else 1
            r["samples"] = []
        except Exception as e:
            res[name] = {"error": f"{type(e).__name__}: {e}"}
    time.sleep(settings.pause)
    for round_ in range(settings.samples + settings.extra):
        todo = [n for n, r in res.items() if "error" not in r and (
            round_ < settings.samples or timing.needs_more(
                r["samples"], settings.max_spread, settings.extra, settings.samples))]
        if not todo:
            break
        for name in todo:
            impl, r = impls[name], res[name]
            try:
                for _ in range(r["wake"]):
                    impl.call()
                r["samples"].append(timing.guarded_sample(
                    settings.guard, impl.call, r["calls"], impl.timer, settings.max_retries,
                    settings.pause))
            except Exception as e:
                r["error"] = f"{type(e).__name__}: {e}"
            time.sleep(settings.pause)
    return res


def row(point, name, device_name, common, **fields):
    """One result row: the point, the implementation, and what every row records."""
    return {**point.as_dict(), "impl": name, "device_name": device_name, **common, **fields}


def run_point(point, names, seed, settings, common, device_names):
    """Builds, checks and times the in-process implementations at one point. Returns rows."""
    quiet = timing.wait_quiet(settings.guard)
    built, errors = implementations.build(point, names, seed)
    res = measure(built, settings)
    ref_name = next((n for n in ("scratchrnn", "torch_cpu") if "output" in res.get(n, {})), None)
    ref = res[ref_name]["output"].astype(np.float64) if ref_name else None
    rows = []
    for name in names:
        device = built[name].device if name in built else None
        error = errors.get(name) or res.get(name, {}).get("error")
        if error:
            rows.append(row(point, name, device_names.get(name), common, device=device,
                            status="error", reason=error))
            continue
        r = res[name]
        diff = None if ref is None else float(np.max(np.abs(r["output"] - ref)))
        stats = timing.summarise(r["samples"], settings.max_spread)
        if quiet["quiet"] is False:
            stats["flags"].append(f"machine not quiet before the point (others "
                                  f"{quiet['other_cores']:.2f} cores after {quiet['waited_s']:.0f} s)")
            stats["flagged"] = True
        rows.append(row(point, name, device_names.get(name), common, device=device,
                        status="ok", reason=None, **stats, warmup_s=r["warmup_s"],
                        wake_calls=r["wake"], quiet_wait=quiet, interleaved=True,
                        max_abs_diff=diff, diff_ref=ref_name))
    return rows
