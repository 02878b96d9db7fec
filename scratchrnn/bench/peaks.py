"""The GEMM peak: the best n × n product rate this machine reaches now, per dtype.

Measured at the start of a run with the same guard as every point: for each dtype, n³
products at several sizes (``SIZES``), ``REPEATS`` guarded samples each, through the BLAS
the kernels call (``scratchrnn.kernels.matmul``, SciPy's OpenBLAS), through
``torch.matmul`` (MKL) and, where the time loops use it (AVX-512), through scratchrnn's
own per-step product (``kernels.panels``: ``panel_product``), with one thread and with all
threads. The CPU peak of a dtype is the best of all of these at all threads (the rows run
with all threads); the one-thread peak is recorded beside it. A ceiling, so the best sample,
not the median.

The panel product can be the fastest of them: on a 2-core AMD EPYC Zen 4 (AVX-512) its n × n
products, b packed beforehand, peaked at 112.8 GFLOP/s on one thread and 225.6 on two in
float32, and 55.4 and 110.5 in float64, where OpenBLAS's peaked at 105.8, 211.8, 52.5 and 104.4
(the grids' peak tables in benchmarks/results/zen4-avx512-2026-12-06-peak/). On an Intel Xeon
torch's MKL reached 335–380 GFLOP/s on two cores in float32, more than the panels' products
did in its passes (253–307). Without it the peak would sit below what the time loops' own
products reach, and "every GEMM FLOP at the peak" (``report``) would be no bound.

``check`` holds every row to it: a row above 100 % of the peak means the peak was
measured on a disturbed machine, so the run measures the peak again (``remeasure``) and
says so; if a row still exceeds it, the peak is raised to that row's rate and the report
names the row (no row ever reports more than 100 %).
"""

import time
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

from scratchrnn.bench import timing
from scratchrnn.bench.spec import GPU_IMPLS
from scratchrnn.kernels import panels

# -- configuration -----------------------------------------------------------
SIZES = (256, 512, 1024, 2048)
REPEATS = 3
SIZES_CUDA = {"float32": (4096, 8192), "float64": (2048, 4096)}
SEED = 0
# -----------------------------------------------------------------------------


@contextmanager
def threads(n):
    """Limits the BLAS/OpenMP pools (threadpoolctl), torch and Numba to n threads (None: as
    they are)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    try:
        import torch
        saved = torch.get_num_threads()
    except ImportError:
        torch = None
    saved_numba = numba.get_num_threads()
    with threadpool_limits(n):
        try:
            if torch:
                torch.set_num_threads(n)
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            yield
        finally:
            numba.set_num_threads(saved_numba)
            if torch:
                torch.set_num_threads(saved)


# no cache=True: Numba's cache would not notice a change to kernels.panels
@njit(parallel=True)
def panel_product(a, packed, out):
    """``out[...] = a @ b`` with b given as its panels (``kernels.panels.pack_into``), as the
    time loops multiply: ``panels_add_into`` on blocks of at most ``panels.MAX_ROWS`` rows of a,
    the blocks shared among Numba's threads, each writing its rows of ``out``, as the loops
    write theirs. a (n, K), out (n, M)."""
    n = a.shape[0]
    blocks = -(-n // panels.MAX_ROWS)
    for k in prange(blocks):
        r0, r1 = n * k // blocks, n * (k + 1) // blocks
        panels.panels_add_into(out[r0:r1], None, a[r0:r1], packed)


def _best(guard, matmul, a, b, timer, repeats, min_sample_s):
    """{"gflops", "n", "samples_s", "n_rejected"} of a @ b, best of ``repeats`` samples."""
    n = a.shape[0]
    t = timer(lambda: matmul(a, b))                                   # warm-up
    calls = timing.calls_per_sample(t, min_sample_s)
    samples = [timing.guarded_sample(guard, lambda: matmul(a, b), calls, timer)
               for _ in range(repeats)]
    best = min(s.per_call_s for s in samples)
    return {"gflops": 2 * n ** 3 / best / 1e9, "n": n,
            "samples_s": [s.per_call_s for s in samples],
            "n_rejected": sum(s.rejected for s in samples),
            "disturbed": sum(s.kept_disturbed for s in samples)}


def _library_peaks(guard, dtype, sizes, repeats, min_sample_s, rng, pause):
    """Per (library, threads): the best size's record, for one dtype on the CPU."""
    from scratchrnn.kernels import matmul
    try:
        import torch
    except ImportError:
        torch = None
    out = {}
    for n in sizes:
        a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))    # (n, n)
        libs = [("openblas", "scratchrnn.kernels.matmul", matmul, a, b)]
        if torch is not None:
            libs.append(("torch", "torch.matmul", torch.matmul, torch.from_numpy(a),
                         torch.from_numpy(b)))
        if panels.use_panels(panels.MAX_ROWS, n, n, dtype):   # where the time loops take them
            packed = panels.pack_into(b, np.empty(panels.panels_shape(n, n, dtype), dtype))
            result = np.empty((n, n), dtype)
            panel_product(a, packed, result)         # compiled here, not in the warm-up call
            libs.append(("scratchrnn panels", "scratchrnn.bench.peaks.panel_product (b packed once)",
                         lambda x, y, result=result: panel_product(x, y, result), a, packed))
        for lib, via, fn, x, y in libs:
            for nthreads, label in ((1, "1 thread"), (None, "all threads")):
                with threads(nthreads):
                    rec = _best(guard, fn, x, y, timing.wall_timer, repeats, min_sample_s)
                time.sleep(pause)
                k = f"{lib}, {label}"
                if k not in out or rec["gflops"] > out[k]["gflops"]:
                    out[k] = {**rec, "via": via}
    return out


def measure_cpu(guard, dtypes, sizes=SIZES, repeats=REPEATS, min_sample_s=timing.MIN_SAMPLE_S,
                seed=SEED, pause=0.2):
    """{dtype: {"gflops", "via", "n", "one_thread_gflops", "by_library": {...}}}."""
    rng = np.random.default_rng(seed)
    res = {}
    for dtype in dtypes:
        libs = _library_peaks(guard, dtype, sizes, repeats, min_sample_s, rng, pause)
        allt = {k: v for k, v in libs.items() if k.endswith("all threads")}
        one = {k: v for k, v in libs.items() if k.endswith("1 thread")}
        best = max(allt, key=lambda k: allt[k]["gflops"])
        best1 = max(one, key=lambda k: one[k]["gflops"])
        res[dtype] = {"gflops": allt[best]["gflops"], "via": allt[best]["via"] + " (all threads)",
                      "n": allt[best]["n"], "one_thread_gflops": one[best1]["gflops"],
                      "one_thread_via": one[best1]["via"], "by_library": libs, "notes": []}
    return res


def measure_cuda(guard, dtypes, sizes=None, repeats=REPEATS, min_sample_s=timing.MIN_SAMPLE_S,
                 device="cuda"):
    """{dtype: {...}}: torch.matmul on the GPU under the TF32 setting in force."""
    import torch
    res = {}
    for dtype in dtypes:
        best = None
        for n in (sizes or SIZES_CUDA[dtype]):
            a, b = (torch.randn(n, n, dtype=getattr(torch, dtype), device=device) for _ in range(2))
            rec = _best(guard, torch.matmul, a, b, timing.cuda_timer, repeats, min_sample_s)
            if best is None or rec["gflops"] > best["gflops"]:
                best = {**rec, "via": "torch.matmul", "notes": []}
            del a, b
        res[dtype] = best
    return res


def peak_for(peaks, row):
    """The peak record a row is compared with (GPU rows: the GPU's), or None."""
    return peaks.get("cuda" if row["impl"] in GPU_IMPLS else "cpu", {}).get(row["dtype"])


def over_peak(rows, peaks):
    """Rows whose GEMM rate exceeds the peak they are compared with."""
    out = []
    for r in rows:
        p = peak_for(peaks, r)
        if r.get("status") == "ok" and p and r["flops"] / r["median_s"] / 1e9 > p["gflops"]:
            out.append(r)
    return out


def check(rows, peaks, remeasure, say=print):
    """Holds rows to the peaks (module docstring). ``remeasure(device, dtypes)`` returns
    fresh peak records; ``peaks`` is updated in place. Returns the messages said."""
    messages = []
    high = over_peak(rows, peaks)
    if not high:
        return messages
    pairs = sorted({("cuda" if r["impl"] in GPU_IMPLS else "cpu", r["dtype"]) for r in high})
    for dev, dtype in pairs:
        names = [f"{r['impl']} {r['model']} T={r['T']} N={r['N']} H={r['H']}" for r in high
                 if r["dtype"] == dtype and (r["impl"] in GPU_IMPLS) == (dev == "cuda")]
        old = peaks[dev][dtype]["gflops"]
        fresh = remeasure(dev, [dtype])[dtype]
        msg = (f"{len(names)} row(s) above 100 % of the {dev} {dtype} GEMM peak "
               f"({old:.1f} GFLOP/s; {', '.join(names[:3])}): measured the peak again: "
               f"{fresh['gflops']:.1f} GFLOP/s")
        notes = peaks[dev][dtype].get("notes", [])
        if fresh["gflops"] > old:
            peaks[dev][dtype] = {**fresh, "notes": notes}
        peaks[dev][dtype]["notes"] = notes + [msg]
        say(msg)
        messages.append(msg)
    for r in over_peak(rows, peaks):
        dev = "cuda" if r["impl"] in GPU_IMPLS else "cpu"
        rate = r["flops"] / r["median_s"] / 1e9
        p = peaks[dev][r["dtype"]]
        msg = (f"{r['impl']} {r['model']} T={r['T']} N={r['N']} H={r['H']} still reaches "
               f"{rate:.1f} GFLOP/s, above the {dev} {r['dtype']} GEMM peak "
               f"{p['gflops']:.1f}: the peak is raised to that rate")
        p["notes"].append(msg)
        p["gflops"], p["via"] = rate, f"raised to the rate of {r['impl']} {r['model']} " \
                                      f"T={r['T']} N={r['N']} H={r['H']}"
        say(msg)
        messages.append(msg)
    return messages
