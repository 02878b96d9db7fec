"""scratchrnn with the JIT off, and Numba's compile time: both in processes of their own.

``run_nojit`` starts ``python -m scratchrnn.bench.nojit`` with ``NUMBA_DISABLE_JIT=1``
(the kernels then run as plain Python/NumPy loops); its rows are guarded like the others'
but not interleaved with them. ``compile_seconds`` times the first forward and backward in
a fresh process with an empty ``NUMBA_CACHE_DIR``.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

from scratchrnn.bench import impls, measure, timing
from scratchrnn.bench.spec import Point, flops

# -- configuration -----------------------------------------------------------
NOJIT_MAX_S = 2.0          # per-call budget of the no-JIT implementation
QUICK_NOJIT_MAX_S = 0.5    # --quick's default
# -----------------------------------------------------------------------------


def estimate(p, last):
    """Seconds one no-JIT call at p should take, scaled from a measured (point, seconds).

    The Python loops cost per element of T·N·H, and per multiply-add wherever a kernel
    loops over H inside a step; so take the larger of the two scalings (a safe side).
    """
    q, t = last
    scale_elements = (p.T * p.N * p.H) / (q.T * q.N * q.H)
    scale_flops = flops(p.model, p.pass_, p.T, p.N, p.I, p.H) / flops(q.model, q.pass_, q.T, q.N, q.I, q.H)
    return t * max(scale_elements, scale_flops)


def nojit_rows(points, budget_s, seed, common, device_name, settings):
    """Times scratchrnn with the JIT disabled; call in a process with NUMBA_DISABLE_JIT=1.

    Points run from small to large within each (model, pass, dtype). Before each, its call
    time is estimated (``estimate``) from the last point measured in the same group, or,
    for a group's first point, as the largest estimate from any group's last point. A
    point estimated over ``budget_s``, or at least as large as one in its group whose call
    exceeded it, is skipped with the reason in its row. A warm-up call over the budget is
    reported as the only sample (flagged: one sample has no spread).
    """
    rows, last, over = [], {}, {}
    order = sorted(points, key=lambda p: (p.model, p.pass_, p.dtype, p.T * p.N * p.H,
                                          flops(p.model, p.pass_, p.T, p.N, p.I, p.H)))
    for p in order:
        group = (p.model, p.pass_, p.dtype)
        base = dict(device="cpu", interleaved=False)
        if group in over:
            q, t = over[group]
            rows.append(measure.row(p, "scratchrnn_nojit", device_name, common, **base,
                                    status="skipped", reason=f"at least as large as {q.label()}, "
                                    f"whose call took {t:.2f} s > --nojit-max-s {budget_s:g}"))
            continue
        refs = [last[group]] if group in last else list(last.values())
        est = max((estimate(p, ref) for ref in refs), default=None)
        if est is not None and est > budget_s:
            rows.append(measure.row(p, "scratchrnn_nojit", device_name, common, **base,
                                    status="skipped", reason=f"estimated {est:.2f} s per call "
                                    f"> --nojit-max-s {budget_s:g}"))
            continue
        m, x, d_out = impls.inputs(p, seed)
        impl = impls.scratch_impl(p, m, x, d_out, name="scratchrnn_nojit")
        t_w = impl.timer(impl.call)
        last[group] = (p, t_w)
        if t_w > budget_s:
            over[group] = (p, t_w)
            samples = [timing.Sample(t_w, 1, t_w, None, 0, False)]
            note = "only the warm-up call: it took longer than --nojit-max-s"
        else:
            calls = timing.calls_per_sample(t_w, settings.min_sample_s)
            samples = [timing.guarded_sample(settings.guard, impl.call, calls, impl.timer,
                                             settings.max_retries) for _ in range(settings.samples)]
            note = None
        stats = timing.summarise(samples, settings.max_spread)
        if note:
            stats["flags"].append("one sample only")
            stats["flagged"] = True
        rows.append(measure.row(p, "scratchrnn_nojit", device_name, common, **base, status="ok",
                                reason=note, **stats, warmup_s=[t_w]))
        print(f"  no-JIT {p.label()}: {stats['median_s'] * 1e3:.1f} ms", file=sys.stderr, flush=True)
    return rows


def worker():
    """Reads a job (JSON) on stdin, writes {"rows": [...]} on stdout."""
    import numba
    job = json.load(sys.stdin)
    common = {**job["common"], "jit_disabled": bool(numba.config.DISABLE_JIT)}
    s = job["settings"]
    settings = measure.Settings(timing.Guard(s["max_other"]), samples=s["samples"],
                                min_sample_s=s["min_sample_s"], max_spread=s["max_spread"],
                                max_retries=s["max_retries"])
    points = [Point.from_dict(d) for d in job["points"]]
    rows = nojit_rows(points, job["budget_s"], job["seed"], common, job["device_name"], settings)
    json.dump({"rows": rows}, sys.stdout)
    return 0


def run_nojit(points, budget_s, seed, common, device_name, settings):
    """Runs ``nojit_rows`` in a subprocess with NUMBA_DISABLE_JIT=1. Returns its rows.

    If the subprocess fails, every point gets an error row with the end of its stderr.
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    job = {"points": [p.as_dict() for p in points], "budget_s": budget_s, "seed": seed,
           "common": common, "device_name": device_name,
           "settings": {"max_other": settings.guard.max_other, "samples": settings.samples,
                        "min_sample_s": settings.min_sample_s, "max_spread": settings.max_spread,
                        "max_retries": settings.max_retries}}
    proc = subprocess.run([sys.executable, "-m", "scratchrnn.bench.nojit"], env=env,
                          input=json.dumps(job), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    sys.stderr.write(proc.stderr)
    try:
        if proc.returncode != 0:
            raise ValueError(f"exit status {proc.returncode}")
        return json.loads(proc.stdout)["rows"]
    except ValueError as e:
        reason = f"no-JIT subprocess failed ({e}): {proc.stderr[-500:]}"
        return [measure.row(p, "scratchrnn_nojit", device_name, common, device="cpu",
                            status="error", reason=reason) for p in points]


COMPILE_CODE = textwrap.dedent("""\
    import json, sys, time
    import numpy as np
    from scratchrnn import registry
    res = {}
    for model, dtype in json.loads(sys.argv[1]):
        m = registry.model_class(model)(2, 3, dtype=dtype, seed=0)
        x = np.ones((2, 1, 2), dtype)                                   # (T, N, I)
        t0 = time.perf_counter()
        out, _ = m(x)
        t1 = time.perf_counter()
        m.backward(np.ones_like(out))
        t2 = time.perf_counter()
        res[model + "/" + dtype] = {"forward_s": t1 - t0, "backward_s": t2 - t1}
    print(json.dumps(res))
""")


def compile_seconds(models, dtypes, code=None):
    """First forward and backward of each model and dtype with an empty Numba cache, in a
    fresh process, at T=2 N=1 H=3 (so the time is compilation). Returns
    {"lstm/float32": {...}}; the first entry also compiles the shared helpers."""
    pairs = [(m, d) for d in dtypes for m in models]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("NUMBA_DISABLE_JIT", None)
        res = subprocess.run([sys.executable, "-c", code or COMPILE_CODE, json.dumps(pairs)],
                             env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"the compile-time process failed (exit {res.returncode}):\n"
                           f"{res.stderr[-2000:]}")
    return json.loads(res.stdout.splitlines()[-1])


if __name__ == "__main__":
    sys.exit(worker())
