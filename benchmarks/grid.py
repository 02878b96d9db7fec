"""Grid benchmark of the recurrent core: every implementation on this machine, side by side.

    python -m benchmarks [--quick] [--tf32] [--out benchmarks/results] [--name STEM] ...
    scratchrnn bench [same arguments]          (--help lists them all)

What one timed call is
----------------------
One-layer, one-direction model, I = H, at a grid point (model, pass, dtype, T, N, H):

- ``fwd``: the training forward: autograd records its graph for torch, scratchrnn keeps
  its caches;
- ``fwdbwd``: that forward, then the backward of a fixed random upstream gradient on every
  output (seeded): weight, bias and input gradients.

Implementations, each timed wherever it is present (``--impls`` picks):

- ``scratchrnn``: scratchrnn's modules with their Numba kernels;
- ``scratchrnn_nojit``: the same code under ``NUMBA_DISABLE_JIT=1``, so the kernels run
  as plain Python/NumPy loops. Very slow, so it runs in a subprocess of its own with a
  per-call budget (``--nojit-max-s``, see ``nojit_rows``); its times are NOT interleaved
  with the others';
- ``torch_cpu``: ``torch.nn.RNN``/``LSTM``/``GRU`` on the CPU;
- ``loop_cpu``: ``torch_ref.LoopRNN``/``LoopLSTM``/``LoopGRU``, a Python loop over time
  on torch, differentiated by autograd;
- ``torch_cuda`` (cuDNN) and ``loop_cuda``: the same two on the GPU, when there is one
  (otherwise recorded as skipped, "no CUDA device"). TF32 is off unless ``--tf32``.

Every implementation starts from scratchrnn's weights (its ``state_dict`` loaded into
each torch module) and reads the same input; the first warm-up output of each is
compared with scratchrnn's and the largest difference is recorded.

The full grid (the default)
---------------------------
models rnn (tanh), lstm, gru; T ∈ {32, 128}; N ∈ {1, 16, 64, 256}; H = I ∈ {32, 128,
512, 1024}; passes fwd and fwdbwd; dtypes float32 and float64. T=32 covers every (N, H);
T=128 runs only where N·H ≤ 32768 (``grid_points``, ``--long-t-max-nh``). Why: past that
size every step's GEMMs are big enough that the core is GEMM-bound and the time grows
linearly in T, so T=128 would cost 4× the time of T=32 and show nothing new; below it the
per-step overheads that T=128 exposes are what differs between implementations. The target
point T=128 N=64 H=512 (N·H = 32768) is inside. That is 348 points, each timed for
scratchrnn, torch_cpu and loop_cpu in-process (plus the GPU pair where present) and for
scratchrnn_nojit where its budget allows. By a rough model of this 2-core machine's
speed (not yet measured end to end) the full grid takes 45–60 minutes: about 17 of them
are the pauses between blocks (3 s a point), most of the rest the large float64 points.
The progress bar shows the real remaining time; ``--repeats 2`` or a narrower grid
(``--dtypes float32``, ``--impls``) shortens it.

``--quick``: rnn, lstm, gru; T=32; N ∈ {1, 16}; H ∈ {32, 128}; fwdbwd; float32 only;
2 rounds; no-JIT budget 0.5 s per call. It finishes in under 2 minutes here, compile
time included.

Method
------
1. Numba compile time is measured on its own: a fresh process with an empty
   ``NUMBA_CACHE_DIR`` times the first forward and backward of each model and dtype at a
   tiny size (``compile_seconds``). The in-process first calls (which load the on-disk
   cache) are the rows' ``warmup_s``.
2. GEMM peak, per dtype and device, measured at the start of the same run: an n³ product
   (n = ``--peak-n``) through ``scratchrnn.kernels.matmul`` on the CPU (the BLAS binding the
   kernels use) and ``torch.matmul`` on the GPU (honouring ``--tf32``); best of
   ``PEAK_REPEATS``. ``torch.matmul`` on the CPU is recorded too, for information.
3. Per grid point, all in-process implementations are built and warmed up one after the
   other (``WARMUP_CALLS`` calls each; one if a call takes ``SLOW_CALL_S`` or more), then
   timed in interleaved blocks: implementation A × b calls, pause, B × b calls, pause, ...,
   for ``--repeats`` rounds (A B C A B C ...). The pause
   (``--pause``) lets the spinning BLAS/OpenMP workers of one implementation go idle
   before the next is timed (PERF_NOTES.md, point 5); the first call of each block is not
   timed, as it wakes the thread pools. Block size adapts to the call time (``plan_block``):
   about ``BLOCK_S`` of timed calls per block, and for calls of ``SLOW_CALL_S`` or more no
   untimed call and one timed call per block, at least ``MIN_TIMED_TOTAL`` in all. What was
   used is recorded per row. GPU work is timed with CUDA events after a
   ``torch.cuda.synchronize()``; CPU work with ``time.perf_counter``. We report medians.
4. FLOP model (``flops``): only the GEMMs. Forward: ``2·T·N·(I + H)·G·H`` (G = 1 RNN,
   4 LSTM, 3 GRU: the input projection plus the recurrent product of every step).
   Forward+backward: 3× that (the backward has two GEMMs of each forward GEMM's size: the
   weight gradient and the gradient flowing to its input). Elementwise gate maths are
   ignored, so small-H points look less efficient than they are.

Output (``--out``/``--name``): ``STEM.json`` (raw: environment, peaks, compile times and
every row with every timed call), ``STEM.md`` (tables, a Targets section with PASS/MISS
for the points that were run, skips with their reasons, the method), and PNG plots
(``benchmarks/plots.py``): time against size, speed-up over torch CPU, GFLOP/s against
the measured peak.

Every row records the thread counts, dtype, device name and library versions.
"""

# -- configuration -----------------------------------------------------------
MODELS = ["rnn", "lstm", "gru"]
T_VALUES = [32, 128]
N_VALUES = [1, 16, 64, 256]
H_VALUES = [32, 128, 512, 1024]           # I = H
PASSES = ["fwdbwd", "fwd"]                # fwdbwd first: the targets are about it
DTYPES = ["float32", "float64"]
LONG_T_MAX_NH = 32768                     # T > min(T) only where N·H ≤ this (0: no limit)
IMPLS = ["scratchrnn", "scratchrnn_nojit", "torch_cpu", "loop_cpu", "torch_cuda", "loop_cuda"]

QUICK = dict(models=["rnn", "lstm", "gru"], T=[32], N=[1, 16], H=[32, 128],
             passes=["fwdbwd"], dtypes=["float32"], repeats=2)
QUICK_NOJIT_MAX_S = 0.5    # --quick's default --nojit-max-s

REPEATS = 3                # interleaved rounds per point
WARMUP_CALLS = 2           # per implementation and point, before any timing
PAUSE_S = 0.3              # between blocks, so spinning BLAS/OpenMP workers go idle
BLOCK_S = 0.1              # aim for about this many seconds of timed calls per block
MIN_TIMED, MAX_TIMED = 2, 20   # timed calls per block for fast calls
SLOW_CALL_S = 0.25         # calls this slow: one warm-up, no untimed call, 1 timed per block
MIN_TIMED_TOTAL = 3        # never fewer timed calls than this per row
NOJIT_MAX_S = 2.0          # per-call budget of the no-JIT implementation
NOJIT_MIN_TOTAL_S = 0.3    # no-JIT: timed calls until at least this much time (3 to 10 calls)
PEAK_N = 2048              # GEMM peak: n³ products on the CPU
PEAK_N_CUDA = {"float32": 8192, "float64": 4096}
PEAK_REPEATS = 5
SEED = 0

# scratchrnn's targets against torch CPU (forward+backward, float32, one run)
TARGET_SMALL_NH = 2048         # where N·H ≤ this ...
TARGET_SMALL_RATIO = 0.3       # ... at most 0.3× torch's time
TARGET_RATIO = 1.0             # at most 1.0× everywhere
TARGET_PEAK_POINT = (128, 64, 512)   # (T, N, H) where ...
TARGET_PEAK_FRACTION = 0.8           # ... at least 80 % of the measured GEMM peak

CUDA_DEVICE = "cuda"       # torch device of the *_cuda implementations (tests point it at "cpu")
# -----------------------------------------------------------------------------

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Callable, NamedTuple

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}                      # G: rows of W_ih per hidden unit
GPU_IMPLS = ("torch_cuda", "loop_cuda")
TORCH_IMPLS = ("torch_cpu", "loop_cpu") + GPU_IMPLS
IMPL_LABELS = {"scratchrnn": "scratchrnn", "scratchrnn_nojit": "scratchrnn no-JIT",
               "torch_cpu": "torch CPU", "loop_cpu": "loop CPU", "torch_cuda": "torch CUDA",
               "loop_cuda": "loop CUDA"}
PASS_LABELS = {"fwd": "forward", "fwdbwd": "forward+backward"}


# -- the grid -----------------------------------------------------------------
class Point(NamedTuple):
    """One grid point; I = H."""
    model: str
    pass_: str           # "fwd" | "fwdbwd"
    dtype: str           # "float32" | "float64"
    T: int
    N: int
    H: int

    @property
    def I(self):
        return self.H

    def as_dict(self):
        return {"model": self.model, "pass": self.pass_, "dtype": self.dtype,
                "T": self.T, "N": self.N, "H": self.H, "I": self.I}

    @classmethod
    def from_dict(cls, d):
        return cls(d["model"], d["pass"], d["dtype"], int(d["T"]), int(d["N"]), int(d["H"]))

    def label(self):
        return f"{self.model} {self.pass_} {self.dtype} T={self.T} N={self.N} H={self.H}"


def grid_points(models=MODELS, Ts=T_VALUES, Ns=N_VALUES, Hs=H_VALUES, passes=PASSES,
                dtypes=DTYPES, long_t_max_nh=LONG_T_MAX_NH):
    """Returns the list of Points to run, in running order.

    The shortest T runs at every (N, H). Longer T run only where N·H ≤ ``long_t_max_nh``
    (0 or None: everywhere): beyond that the core is GEMM-bound and time is linear in T,
    so a longer sequence costs time and adds no information (module docstring).
    """
    short = min(Ts)
    points = []
    for dtype in dtypes:
        for pass_ in passes:
            for model in models:
                for T in sorted(Ts):
                    for N in sorted(Ns):
                        for H in sorted(Hs):
                            if T > short and long_t_max_nh and N * H > long_t_max_nh:
                                continue
                            points.append(Point(model, pass_, dtype, T, N, H))
    return points


def flops(model, pass_, T, N, I, H):
    """GEMM floating-point operations of one call (multiply-adds × 2; elementwise work ignored).

    Forward: the input projection (T·N × I)·(I × G·H) and T recurrent products
    (N × H)·(H × G·H): 2·T·N·(I + H)·G·H. Backward: for each of those, one GEMM of the same
    size for the weight gradient and one for the gradient of its input (dx, or δ carried to
    the previous step), so forward+backward = 3 × forward.
    """
    fwd = 2 * T * N * (I + H) * GATES[model] * H
    return fwd if pass_ == "fwd" else 3 * fwd


# -- environment --------------------------------------------------------------
def cpu_model():
    """Returns the CPU's "model name" from /proc/cpuinfo (or platform's guess)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def affinity_cpus():
    """Returns how many CPUs this process may run on (taskset), or os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def _torch():
    """Returns the torch module, or None if it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def cuda_available():
    """Returns True if torch sees a CUDA device."""
    torch = _torch()
    return bool(torch is not None and torch.cuda.is_available())


def cuda_info():
    """Returns the GPU's name, capability, CUDA and cuDNN versions (call only with a GPU)."""
    import torch
    return {"device_name": torch.cuda.get_device_name(0),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def thread_counts():
    """Returns the thread settings that decide these timings (no thread pool is started)."""
    import numba
    torch = _torch()
    env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                          "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    blas = env["OPENBLAS_NUM_THREADS"] or env["OMP_NUM_THREADS"]
    return {"affinity_cpus": affinity_cpus(), "cpu_count": os.cpu_count(),
            # OpenBLAS (SciPy's, used by the kernels' np.dot) takes OPENBLAS_NUM_THREADS,
            # else OMP_NUM_THREADS, else one thread per CPU it may run on
            "blas": int(blas) if blas else affinity_cpus(),
            "torch": torch.get_num_threads() if torch else None,
            "torch_interop": torch.get_num_interop_threads() if torch else None,
            "numba": numba.config.NUMBA_NUM_THREADS,
            # the layer requested; scratchrnn's kernels are not parallel, so none is started
            "numba_threading_layer": numba.config.THREADING_LAYER, **env}


def versions():
    """Returns the versions of Python and the libraries that are timed."""
    import numba
    import scipy
    torch = _torch()
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__,
            "torch": torch.__version__ if torch else None}


def tf32_state(requested):
    """Sets torch's TF32 switches to ``requested`` and returns what they read back."""
    torch = _torch()
    if torch is None:
        return {"requested": requested}
    torch.backends.cuda.matmul.allow_tf32 = requested
    torch.backends.cudnn.allow_tf32 = requested          # torch's default is True: set it
    return {"requested": requested,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}


def environment(tf32, cuda):
    """Returns the run's environment: CPU, threads, versions, GPU, TF32, JIT state."""
    import numba
    torch = _torch()
    return {"cpu_model": cpu_model(), "platform": platform.platform(),
            "threads": thread_counts(), "versions": versions(),
            "torch_cuda_build": torch.version.cuda if torch else None,
            "cuda": cuda_info() if cuda else None,
            "cudnn_benchmark": torch.backends.cudnn.benchmark if torch else None,
            "tf32": tf32, "numba_disable_jit": bool(numba.config.DISABLE_JIT)}


# -- timing -------------------------------------------------------------------
def wall_timer(fn):
    """Seconds one call of fn takes on the host clock (CPU work)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cuda_timer(fn):
    """Seconds one call of fn takes on the GPU, from CUDA events around it.

    Synchronises first so that no earlier work is counted, and waits for the end event so
    that all the work fn queued is.
    """
    import torch
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3                 # ms -> s


def plan_block(t_call, rounds):
    """Returns (untimed, timed) calls per block for a call of ``t_call`` seconds.

    Fast calls: one untimed call that wakes the thread pools, then about BLOCK_S of timed
    calls (MIN_TIMED..MAX_TIMED). Slow calls (≥ SLOW_CALL_S): waking the pools is noise
    next to the call, so no untimed call and one timed call per block. Either way at least
    MIN_TIMED_TOTAL timed calls over all rounds.
    """
    at_least = math.ceil(MIN_TIMED_TOTAL / rounds)
    if t_call >= SLOW_CALL_S:
        return 0, max(1, at_least)
    timed = int(min(MAX_TIMED, max(MIN_TIMED, round(BLOCK_S / max(t_call, 1e-9)))))
    return 1, max(timed, at_least)


class Impl(NamedTuple):
    """One implementation built at one point."""
    name: str
    device: str                          # torch device ("cpu", "cuda") or "cpu" for NumPy
    call: Callable[[], object]           # one timed call; returns the output (T, N, H)
    timer: Callable[[Callable], float]   # wall_timer or cuda_timer
    to_numpy: Callable[[object], np.ndarray]


def _inputs(point, seed):
    """Returns (scratchrnn model, x (T, N, I), d_out (T, N, H)), all seeded."""
    import scratchrnn as sr
    cls = {"rnn": sr.RNN, "lstm": sr.LSTM, "gru": sr.GRU}[point.model]
    m = cls(point.I, point.H, dtype=point.dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((point.T, point.N, point.I)).astype(point.dtype)     # (T, N, I)
    d_out = rng.standard_normal((point.T, point.N, point.H)).astype(point.dtype)  # (T, N, H)
    return m, x, d_out


def scratch_impl(point, m, x, d_out, name="scratchrnn"):
    """scratchrnn's module m as an Impl: forward (caches kept), then backward for fwdbwd."""
    if point.pass_ == "fwd":
        def call():
            return m(x)[0]                               # (T, N, H)
    else:
        def call():
            out, _ = m(x)                                # (T, N, H)
            m.backward(d_out)                            # grads accumulate, as torch's do
            return out
    return Impl(name, "cpu", call, wall_timer, np.asarray)


def torch_impl(name, point, state, x, d_out):
    """torch.nn.* (``torch_*``) or torch_ref's Loop* (``loop_*``) as an Impl.

    Weights from ``state`` (scratchrnn's state_dict); x requires grad, as scratchrnn
    always computes dx; autograd records the graph in both passes.
    """
    import torch
    from torch_ref import LoopGRU, LoopLSTM, LoopRNN, as_numpy
    on_gpu = name in GPU_IMPLS
    device = CUDA_DEVICE if on_gpu else "cpu"
    dtype = getattr(torch, point.dtype)
    if name.startswith("torch_"):
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[point.model]
    else:
        cls = {"rnn": LoopRNN, "lstm": LoopLSTM, "gru": LoopGRU}[point.model]
    module = cls(point.I, point.H, device=device, dtype=dtype)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    if hasattr(module, "flatten_parameters"):
        module.flatten_parameters()                      # cuDNN wants one weight buffer
    tx = torch.from_numpy(x).to(device).requires_grad_()     # (T, N, I)
    t_d_out = torch.from_numpy(d_out).to(device)             # (T, N, H)

    def call():
        out, _ = module(tx)                              # (T, N, H)
        if point.pass_ == "fwdbwd":
            out.backward(t_d_out)
        return out
    return Impl(name, device, call, cuda_timer if on_gpu else wall_timer, as_numpy)


def build_impls(point, names, seed):
    """Returns {name: Impl} for the in-process implementations at this point, all with
    scratchrnn's weights and the same input, and {name: error message} for those that failed."""
    m, x, d_out = _inputs(point, seed)
    state = m.state_dict()
    impls, errors = {}, {}
    for name in names:
        try:
            impls[name] = (scratch_impl(point, m, x, d_out) if name == "scratchrnn"
                           else torch_impl(name, point, state, x, d_out))
        except Exception as e:                           # e.g. out of memory: record, go on
            errors[name] = f"{type(e).__name__}: {e}"
    return impls, errors


def measure(impls, rounds=REPEATS, pause=PAUSE_S):
    """Times each Impl in interleaved blocks (module docstring, Method 3).

    Returns {name: dict(warmup_s, untimed_s, times_s, plan, output or error)}; ``output``
    is the first warm-up's output as a NumPy array.
    """
    res = {}
    for name, impl in impls.items():                     # warm-up, one implementation at a time
        r = res[name] = {"warmup_s": [], "untimed_s": [], "times_s": []}
        try:
            kept = []
            r["warmup_s"].append(impl.timer(lambda: kept.append(impl.call())))
            r["output"] = impl.to_numpy(kept.pop())
            if r["warmup_s"][0] < SLOW_CALL_S:
                r["warmup_s"].extend(impl.timer(impl.call) for _ in range(WARMUP_CALLS - 1))
            r["plan"] = plan_block(r["warmup_s"][-1], rounds)
        except Exception as e:
            r["error"] = f"{type(e).__name__}: {e}"
    time.sleep(pause)                                    # the warm-ups only set the block plans
    for _ in range(rounds):                              # interleaved blocks
        for name, impl in impls.items():
            r = res[name]
            if "error" in r:
                continue
            untimed, timed = r["plan"]
            try:
                r["untimed_s"].extend(impl.timer(impl.call) for _ in range(untimed))
                r["times_s"].extend(impl.timer(impl.call) for _ in range(timed))
            except Exception as e:
                r["error"] = f"{type(e).__name__}: {e}"
            time.sleep(pause)
    return res


def _row(point, name, device_name, common, **fields):
    """Returns one result row: the point, the implementation, and what every row records."""
    return {**point.as_dict(), "impl": name, "device_name": device_name, **common, **fields}


def run_point(point, names, seed, rounds, pause, common, device_names):
    """Builds, checks and times the in-process implementations at one point. Returns rows.

    Each row's ``max_abs_diff`` compares its first output with scratchrnn's (or torch
    CPU's when scratchrnn is not run): all start from the same weights and input.
    """
    impls, errors = build_impls(point, names, seed)
    res = measure(impls, rounds, pause)
    ref_name = next((n for n in ("scratchrnn", "torch_cpu") if "output" in res.get(n, {})), None)
    ref = res[ref_name]["output"].astype(np.float64) if ref_name else None
    rows = []
    for name in names:
        device = impls[name].device if name in impls else None
        error = errors.get(name) or res.get(name, {}).get("error")
        if error:
            rows.append(_row(point, name, device_names.get(name), common, device=device,
                             status="error", reason=error))
            continue
        r = res[name]
        untimed, timed = r["plan"]
        diff = None if ref is None else float(np.max(np.abs(r["output"] - ref)))
        rows.append(_row(point, name, device_names.get(name), common, device=device,
                         status="ok", reason=None, median_s=float(np.median(r["times_s"])),
                         times_s=r["times_s"], untimed_s=r["untimed_s"], warmup_s=r["warmup_s"],
                         rounds=rounds, untimed_per_block=untimed, timed_per_block=timed,
                         n_timed=len(r["times_s"]), interleaved=True,
                         max_abs_diff=diff, diff_ref=ref_name))
    return rows


# -- the no-JIT implementation (a subprocess) ---------------------------------
def _nojit_estimate(p, last):
    """Seconds one no-JIT call at p should take, scaled from a measured (point, seconds).

    The Python loops cost per element of T·N·H, and per multiply-add wherever a kernel
    loops over H inside a step; so take the larger of the two scalings (a safe side).
    """
    q, t = last
    scale_elements = (p.T * p.N * p.H) / (q.T * q.N * q.H)
    scale_flops = flops(p.model, p.pass_, p.T, p.N, p.I, p.H) / flops(q.model, q.pass_, q.T, q.N, q.I, q.H)
    return t * max(scale_elements, scale_flops)


def nojit_rows(points, budget_s, seed, common, device_name):
    """Times scratchrnn with the JIT disabled; call in a process with NUMBA_DISABLE_JIT=1.

    Points run from small to large within each (model, pass, dtype). Before each, its call
    time is estimated (``_nojit_estimate``) from the last point measured in the same group,
    or, for a group's first point, as the largest estimate from any group's last point. A
    point estimated over ``budget_s``, or coming after (so at least as large as) one in its
    group whose call exceeded it, is skipped, with the reason in its row. One warm-up call,
    then timed calls until NOJIT_MIN_TOTAL_S (3 to 10 calls); a warm-up call over the
    budget is reported as the only call. Returns rows (no-JIT ones are not interleaved).
    """
    rows, last, over = [], {}, {}
    order = sorted(points, key=lambda p: (p.model, p.pass_, p.dtype, p.T * p.N * p.H,
                                          flops(p.model, p.pass_, p.T, p.N, p.I, p.H)))
    for p in order:
        group = (p.model, p.pass_, p.dtype)
        row = dict(device="cpu", interleaved=False)
        if group in over:                            # sorted: p is at least as large as q
            q, t = over[group]
            rows.append(_row(p, "scratchrnn_nojit", device_name, common, **row, status="skipped",
                             reason=f"at least as large as {q.label()}, whose call took "
                                    f"{t:.2f} s > --nojit-max-s {budget_s:g}"))
            continue
        refs = [last[group]] if group in last else list(last.values())
        est = max((_nojit_estimate(p, ref) for ref in refs), default=None)
        if est is not None and est > budget_s:
            rows.append(_row(p, "scratchrnn_nojit", device_name, common, **row, status="skipped",
                             reason=f"estimated {est:.2f} s per call > --nojit-max-s {budget_s:g}"))
            continue
        m, x, d_out = _inputs(p, seed)
        impl = scratch_impl(p, m, x, d_out, name="scratchrnn_nojit")
        t_w = impl.timer(impl.call)
        last[group] = (p, t_w)
        if t_w > budget_s:
            over[group] = (p, t_w)
            times, note = [t_w], "only the warm-up call: it took longer than --nojit-max-s"
        else:
            n = int(min(10, max(MIN_TIMED_TOTAL, math.ceil(NOJIT_MIN_TOTAL_S / max(t_w, 1e-9)))))
            times, note = [impl.timer(impl.call) for _ in range(n)], None
        rows.append(_row(p, "scratchrnn_nojit", device_name, common, **row, status="ok",
                         reason=note, median_s=float(np.median(times)), times_s=times,
                         untimed_s=[], warmup_s=[t_w] if note is None else [], rounds=1,
                         untimed_per_block=0, timed_per_block=len(times), n_timed=len(times)))
        print(f"  no-JIT {p.label()}: {np.median(times) * 1e3:.1f} ms", file=sys.stderr, flush=True)
    return rows


def _worker():
    """``--_worker``: reads a job (JSON) on stdin, writes {"rows": [...]} on stdout."""
    import numba
    job = json.load(sys.stdin)
    common = job["common"]
    common = {**common, "jit_disabled": bool(numba.config.DISABLE_JIT)}
    points = [Point.from_dict(d) for d in job["points"]]
    rows = nojit_rows(points, job["budget_s"], job["seed"], common, job["device_name"])
    json.dump({"rows": rows}, sys.stdout)
    return 0


def run_nojit(points, budget_s, seed, common, device_name):
    """Runs ``nojit_rows`` in a subprocess with NUMBA_DISABLE_JIT=1. Returns its rows.

    If the subprocess fails, every point gets an error row with the end of its stderr.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    job = {"points": [p.as_dict() for p in points], "budget_s": budget_s, "seed": seed,
           "common": common, "device_name": device_name}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.grid", "--_worker"], env=env,
                          input=json.dumps(job), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    sys.stderr.write(proc.stderr)
    try:
        if proc.returncode != 0:
            raise ValueError(f"exit status {proc.returncode}")
        return json.loads(proc.stdout)["rows"]
    except ValueError as e:
        reason = f"no-JIT subprocess failed ({e}): {proc.stderr[-500:]}"
        return [_row(p, "scratchrnn_nojit", device_name, common, device="cpu", status="error",
                     reason=reason) for p in points]


# -- compile time and GEMM peak ---------------------------------------------------
_COMPILE_CODE = textwrap.dedent("""\
    import json, sys, time
    import numpy as np
    import scratchrnn as sr
    res = {}
    for model, dtype in json.loads(sys.argv[1]):
        M = {"rnn": sr.RNN, "lstm": sr.LSTM, "gru": sr.GRU}[model]
        m = M(2, 3, dtype=dtype, seed=0)
        x = np.ones((2, 1, 2), dtype)                                   # (T, N, I)
        t0 = time.perf_counter()
        out, _ = m(x)
        t1 = time.perf_counter()
        m.backward(np.ones_like(out))
        t2 = time.perf_counter()
        res[model + "/" + dtype] = {"forward_s": t1 - t0, "backward_s": t2 - t1}
    print(json.dumps(res))
""")


def compile_seconds(models, dtypes):
    """First forward and backward of each model and dtype with an empty Numba cache, in a fresh
    process, at T=2 N=1 H=3 (so the time is compilation). Returns {"lstm/float32": {...}}.

    In run order: the first entry also compiles the helpers the others share (matmul, sigmoid).
    """
    pairs = [(m, d) for d in dtypes for m in models]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("NUMBA_DISABLE_JIT", None)
        res = subprocess.run([sys.executable, "-c", _COMPILE_CODE, json.dumps(pairs)], env=env,
                             capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"the compile-time process failed (exit {res.returncode}):\n"
                           f"{res.stderr[-2000:]}")
    return json.loads(res.stdout.splitlines()[-1])


def _gemm_peak(matmul, a, b, timer, repeats):
    """Returns {"gflops", "n", "times_s"} of a @ b (n × n), best of ``repeats`` after one warm-up."""
    n = a.shape[0]
    matmul(a, b)
    times = [timer(lambda: matmul(a, b)) for _ in range(repeats)]
    # a ceiling, so the best time, not the median
    return {"gflops": 2 * n ** 3 / min(times) / 1e9, "n": n, "times_s": times}


def gemm_peaks(dtypes, n=PEAK_N, cuda=False, n_cuda=None, repeats=PEAK_REPEATS, seed=SEED):
    """GEMM peaks measured now: {"cpu": {dtype: ...}, "cpu_torch": ..., "cuda": ...}.

    "cpu" goes through ``scratchrnn.kernels.matmul`` (the kernels' BLAS) and is the peak
    every CPU row is compared with; "cpu_torch" (torch.matmul) is for information; "cuda"
    is torch.matmul on the GPU under the TF32 setting in force, n_cuda × n_cuda (None:
    PEAK_N_CUDA, large enough to reach the GPU's peak).
    """
    from scratchrnn.kernels import matmul
    torch = _torch()
    rng = np.random.default_rng(seed)
    peaks = {"cpu": {}, "cpu_torch": {}, "cuda": {}}
    for dtype in dtypes:
        a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))    # (n, n)
        peaks["cpu"][dtype] = {**_gemm_peak(matmul, a, b, wall_timer, repeats),
                               "via": "scratchrnn.kernels.matmul"}
        time.sleep(PAUSE_S)
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            peaks["cpu_torch"][dtype] = {**_gemm_peak(torch.matmul, ta, tb, wall_timer, repeats),
                                         "via": "torch.matmul"}
            time.sleep(PAUSE_S)
        if cuda:
            m = n_cuda or PEAK_N_CUDA[dtype]
            ta, tb = (torch.randn(m, m, dtype=getattr(torch, dtype), device=CUDA_DEVICE)
                      for _ in range(2))
            peaks["cuda"][dtype] = {**_gemm_peak(torch.matmul, ta, tb, cuda_timer, repeats),
                                    "via": "torch.matmul"}
            del ta, tb
    return peaks


# -- derived numbers and targets --------------------------------------------------
def _key(r):
    return (r["model"], r["pass"], r["dtype"], r["T"], r["N"], r["H"])


def _combos(rows):
    """(dtype, pass) pairs present, float32 and fwdbwd first."""
    return sorted({(r["dtype"], r["pass"]) for r in rows},
                  key=lambda c: (DTYPES.index(c[0]) if c[0] in DTYPES else 9,
                                 PASSES.index(c[1]) if c[1] in PASSES else 9))


def _impls(rows):
    """Implementations present in ``rows``, in IMPLS order."""
    return [i for i in IMPLS if any(r["impl"] == i for r in rows)]


def annotate(rows, peaks):
    """Adds flops, gflops, peak_gflops, peak_fraction and time_over_torch_cpu to ok rows."""
    torch_cpu = {_key(r): r["median_s"] for r in rows
                 if r["impl"] == "torch_cpu" and r["status"] == "ok"}
    for r in rows:
        r["flops"] = flops(r["model"], r["pass"], r["T"], r["N"], r["I"], r["H"])
        if r["status"] != "ok":
            continue
        r["gflops"] = r["flops"] / r["median_s"] / 1e9
        peak = peaks.get("cuda" if r["impl"] in GPU_IMPLS else "cpu", {}).get(r["dtype"])
        r["peak_gflops"] = peak["gflops"] if peak else None
        r["peak_fraction"] = r["gflops"] / peak["gflops"] if peak else None
        t = torch_cpu.get(_key(r))
        r["time_over_torch_cpu"] = r["median_s"] / t if t else None
    return rows


def targets(rows):
    """Returns the targets at the points that were run (scratchrnn vs torch_cpu, fwdbwd,
    float32): one dict per (target, point) with the measured value, the limit and ok."""
    ok = {(r["impl"], _key(r)): r for r in rows if r["status"] == "ok"}
    out = []
    for (impl, key), r in ok.items():
        model, pass_, dtype, T, N, H = key
        if impl != "scratchrnn" or pass_ != "fwdbwd" or dtype != "float32":
            continue
        point = dict(model=model, T=T, N=N, H=H)
        theirs = ok.get(("torch_cpu", key))
        if theirs is not None:
            ratio = r["median_s"] / theirs["median_s"]
            if N * H <= TARGET_SMALL_NH:
                out.append(dict(point, target=f"time ≤ {TARGET_SMALL_RATIO}× torch CPU "
                                              f"(N·H ≤ {TARGET_SMALL_NH})",
                                value=ratio, limit=TARGET_SMALL_RATIO, ok=ratio <= TARGET_SMALL_RATIO))
            out.append(dict(point, target=f"time ≤ {TARGET_RATIO}× torch CPU", value=ratio,
                            limit=TARGET_RATIO, ok=ratio <= TARGET_RATIO))
        if (T, N, H) == TARGET_PEAK_POINT and r.get("peak_fraction") is not None:
            frac = r["peak_fraction"]
            out.append(dict(point, target=f"≥ {TARGET_PEAK_FRACTION:.0%} of the float32 GEMM peak",
                            value=frac, limit=TARGET_PEAK_FRACTION, ok=frac >= TARGET_PEAK_FRACTION))
    return out


# -- Markdown ------------------------------------------------------------------
def _fmt_ms(s):
    return f"{s * 1e3:.3g}" if s * 1e3 < 100 else f"{s * 1e3:.0f}"


def targets_section(rows):
    """Returns the "Targets" section (Markdown lines) for these rows."""
    ts = targets(rows)
    lines = ["## Targets", "",
             "scratchrnn against torch CPU, forward+backward, float32, measured side by side in "
             "this run; only points that were run are listed.", ""]
    if not ts:
        return lines + ["No target point was run (they need float32 fwdbwd rows of scratchrnn "
                        "and torch_cpu).", ""]
    passed = sum(t["ok"] for t in ts)
    lines += [f"**{passed} of {len(ts)} PASS.**", "",
              "| target | model | T | N | H | measured | result |", "|---|---|---|---|---|---|---|"]
    for t in ts:
        value = f"{t['value']:.0%}" if "peak" in t["target"] else f"{t['value']:.2f}×"
        lines.append(f"| {t['target']} | {t['model']} | {t['T']} | {t['N']} | {t['H']} | "
                     f"{value} | {'PASS' if t['ok'] else '**MISS**'} |")
    return lines + [""]


def _results_tables(rows, impls):
    lines = []
    combos = _combos(rows)
    by = {(r["impl"], _key(r)): r for r in rows}
    for dtype, pass_ in combos:
        keys = sorted({_key(r) for r in rows if r["dtype"] == dtype and r["pass"] == pass_},
                      key=lambda k: (MODELS.index(k[0]) if k[0] in MODELS else 9, k[3:]))
        head = "| model | T | N | H | GFLOP | " + " | ".join(IMPL_LABELS[i] for i in impls) + " |"
        rule = "|---" * (5 + len(impls)) + "|"
        lines += [f"### {dtype}, {PASS_LABELS[pass_]}", "",
                  "Median ms per call (time over torch CPU's in brackets):", "", head, rule]
        flop_rows = []
        for k in keys:
            cells, gcells = [], []
            for impl in impls:
                r = by.get((impl, k))
                if r is None:
                    cells.append(""), gcells.append("")
                elif r["status"] != "ok":
                    cells.append(r["status"]), gcells.append("")
                else:
                    ratio = r.get("time_over_torch_cpu")
                    mark = "*" if not r.get("interleaved", True) else ""
                    cells.append(_fmt_ms(r["median_s"]) + mark +
                                 (f" ({ratio:.2f}×)" if ratio is not None and impl != "torch_cpu" else ""))
                    frac = r.get("peak_fraction")
                    gcells.append(f"{r['gflops']:.3g}" + (f" ({frac:.0%})" if frac is not None else ""))
            f = flops(k[0], k[1], k[3], k[4], k[5], k[5]) / 1e9
            lines.append(f"| {k[0]} | {k[3]} | {k[4]} | {k[5]} | {f:.3g} | " + " | ".join(cells) + " |")
            flop_rows.append(f"| {k[0]} | {k[3]} | {k[4]} | {k[5]} | {f:.3g} | " + " | ".join(gcells) + " |")
        lines += ["", "Achieved GFLOP/s (fraction of the measured GEMM peak for the dtype and "
                      "device in brackets):", "", head, rule, *flop_rows, ""]
    return lines


def markdown(result):
    """Returns the Markdown report of a run (the dict that is also written as JSON)."""
    meta, env, rows = result["meta"], result["environment"], result["rows"]
    impls = _impls(rows)
    th, v = env["threads"], env["versions"]
    lines = [f"# Grid benchmark `{meta['name']}`", "",
             f"{meta['started']}, {meta['wall_s'] / 60:.1f} min; `{meta['command']}`; "
             f"{meta['n_points']} grid points.", ""]
    if meta.get("interrupted"):
        lines += ["**Interrupted: only the points finished before the interruption are here.**", ""]
    lines += targets_section(rows)
    cuda = env.get("cuda")
    gpu = (f"{cuda['device_name']} (compute capability {cuda['capability']}, CUDA {cuda['cuda']}, "
           f"cuDNN {cuda['cudnn']})" if cuda else "no CUDA device")
    tf32 = ", ".join(f"{k}={x}" for k, x in env["tf32"].items() if k != "requested")
    lines += ["## Environment", "", "| | |", "|---|---|",
              f"| CPU | {env['cpu_model']}, {th['affinity_cpus']} of {th['cpu_count']} CPUs usable |",
              f"| threads | BLAS (OpenBLAS) {th['blas']}, torch {th['torch']} (inter-op "
              f"{th['torch_interop']}), Numba {th['numba']} (layer {th['numba_threading_layer']}) |",
              "| thread variables | " + ", ".join(f"{k}={th[k]}" for k in
                                                  ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")) + " |",
              "| versions | " + ", ".join(f"{k} {v[k]}" for k in v) + " |",
              f"| GPU | {gpu} |",
              f"| TF32 | {'on' if env['tf32'].get('requested') else 'off'} ({tf32}) |", ""]
    lines += ["## GEMM peak, measured in this run", "",
              "| device | dtype | GFLOP/s | n | via |", "|---|---|---|---|---|"]
    for dev, label in (("cpu", "CPU (the peak CPU rows are compared with)"),
                       ("cpu_torch", "CPU (information)"), ("cuda", "GPU")):
        for dtype, p in result["gemm_peak"].get(dev, {}).items():
            lines.append(f"| {label} | {dtype} | {p['gflops']:.1f} | {p['n']} | {p['via']} |")
    lines += [""]
    comp = result.get("compile_s")
    lines += ["## Numba compile time", ""]
    if comp:
        lines += ["First forward and backward in a fresh process with an empty Numba cache "
                  "(the first entry also compiles the shared helpers):", "",
                  "| model/dtype | forward s | backward s |", "|---|---|---|"]
        lines += [f"| {k} | {c['forward_s']:.2f} | {c['backward_s']:.2f} |" for k, c in comp.items()]
    else:
        lines += ["Not measured in this run."]
    lines += ["", "## Results", "",
              "`*`: scratchrnn no-JIT runs in a separate process after the others, so its times are "
              "not interleaved with theirs. GFLOP counts only the GEMMs (flops() in grid.py).", ""]
    lines += _results_tables(rows, impls)
    skipped = [r for r in rows if r["status"] != "ok"]
    lines += ["## Skipped and failed", ""]
    for impl, reason in result.get("skipped_impls", {}).items():
        lines.append(f"- {IMPL_LABELS[impl]}: every point skipped: {reason}")
    for r in skipped:
        lines.append(f"- {IMPL_LABELS[r['impl']]} {r['model']} {r['pass']} {r['dtype']} "
                     f"T={r['T']} N={r['N']} H={r['H']}: {r['status']}: {r['reason']}")
    if not skipped and not result.get("skipped_impls"):
        lines.append("Nothing.")
    m = meta["method"]
    lines += ["", "## Method", "",
              f"Per point, every in-process implementation is built from the same weights and input, "
              f"warmed up ({m['warmup_calls']} calls; 1 when a call takes ≥ {m['slow_call_s']} s), then "
              f"timed in interleaved blocks over {meta['repeats']} rounds with a {m['pause_s']} s pause "
              f"between blocks; the first call of a block is not timed (none for calls ≥ "
              f"{m['slow_call_s']} s). Medians of all timed calls; every call is in the JSON. "
              f"GPU work is timed with CUDA events after synchronising. T > {min(meta['grid']['T'])} "
              f"runs only where N·H ≤ {meta['grid']['long_t_max_nh'] or '∞'}. The no-JIT budget is "
              f"{meta['nojit_max_s']} s per call. See the docstring of benchmarks/grid.py.", ""]
    return "\n".join(lines) + "\n"


# -- main -----------------------------------------------------------------------
def _device_slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _parser():
    p = argparse.ArgumentParser(prog="scratchrnn bench",
                                description=__doc__.split("\n\n")[0].strip(),
                                epilog="The full grid, the method and the outputs are described "
                                       "in the docstring of benchmarks/grid.py.")
    p.add_argument("--quick", action="store_true",
                   help="a handful of small float32 points, 2 rounds (under 2 minutes)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (off by default)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="folder for the JSON, Markdown and PNG files (default benchmarks/results)")
    p.add_argument("--name", help="file stem (default grid_cpu, grid_<gpu name> with a GPU; "
                                  "_quick appended with --quick)")
    p.add_argument("--repeats", type=int, help=f"interleaved rounds per point (default {REPEATS})")
    p.add_argument("--models", nargs="+", choices=MODELS)
    p.add_argument("--T", nargs="+", type=int, help=f"sequence lengths (default {T_VALUES})")
    p.add_argument("--N", nargs="+", type=int, help=f"batch sizes (default {N_VALUES})")
    p.add_argument("--H", nargs="+", type=int, help=f"hidden sizes, I = H (default {H_VALUES})")
    p.add_argument("--passes", nargs="+", choices=["fwd", "fwdbwd"])
    p.add_argument("--dtypes", nargs="+", choices=["float32", "float64"])
    p.add_argument("--impls", nargs="+", choices=IMPLS, metavar="IMPL",
                   help=f"any of {', '.join(IMPLS)} (default: all present)")
    p.add_argument("--long-t-max-nh", type=int, default=LONG_T_MAX_NH,
                   help=f"run T > min(T) only where N·H ≤ this; 0: everywhere (default {LONG_T_MAX_NH})")
    p.add_argument("--nojit-max-s", type=float,
                   help=f"per-call budget of scratchrnn_nojit (default {NOJIT_MAX_S} s, "
                        f"{QUICK_NOJIT_MAX_S} s with --quick)")
    p.add_argument("--pause", type=float, default=PAUSE_S,
                   help=f"seconds between blocks (default {PAUSE_S})")
    p.add_argument("--peak-n", type=int, default=PEAK_N,
                   help=f"CPU GEMM peak: n × n products (default {PEAK_N})")
    p.add_argument("--peak-n-cuda", type=int,
                   help=f"GPU GEMM peak: n × n products (default {PEAK_N_CUDA})")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--no-compile-time", action="store_true",
                   help="skip the fresh-process Numba compile measurement")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    return p


def _iterate(points):
    """Returns points wrapped in a tqdm progress bar (stderr) when tqdm is installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return points, print
    bar = tqdm(points, unit="point", file=sys.stderr, dynamic_ncols=True)
    return bar, bar.write


def _point_line(i, n, point, rows):
    parts = []
    for r in rows:
        if r["status"] != "ok":
            parts.append(f"{r['impl']} {r['status']}")
            continue
        ratio = r.get("time_over_torch_cpu")
        parts.append(f"{r['impl']} {_fmt_ms(r['median_s'])} ms"
                     + (f" ({ratio:.2f}×)" if ratio is not None and r["impl"] != "torch_cpu" else ""))
    return f"[{i}/{n}] {point.label()}: " + " · ".join(parts)


def main(argv=None):
    """Runs the grid and writes STEM.json, STEM.md and the PNGs. Returns the exit status."""
    args = _parser().parse_args(argv)
    if args._worker:
        return _worker()
    t_start, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %z")
    base = QUICK if args.quick else dict(models=MODELS, T=T_VALUES, N=N_VALUES, H=H_VALUES,
                                         passes=PASSES, dtypes=DTYPES, repeats=REPEATS)
    cfg = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}
    rounds = cfg.pop("repeats")
    if args.nojit_max_s is None:
        args.nojit_max_s = QUICK_NOJIT_MAX_S if args.quick else NOJIT_MAX_S
    points = grid_points(cfg["models"], cfg["T"], cfg["N"], cfg["H"], cfg["passes"],
                         cfg["dtypes"], args.long_t_max_nh)

    # which implementations can run here
    torch = _torch()
    cuda = cuda_available()
    skipped_impls = {}
    wanted = args.impls or IMPLS
    for name in wanted:
        if name in TORCH_IMPLS and torch is None:
            skipped_impls[name] = "torch not installed"
        elif name in GPU_IMPLS and not cuda:
            skipped_impls[name] = "no CUDA device"
    impls = [n for n in wanted if n not in skipped_impls]
    cuda = cuda and any(n in GPU_IMPLS for n in impls)
    in_process = [n for n in impls if n != "scratchrnn_nojit"]

    tf32 = tf32_state(args.tf32)
    env = environment(tf32, cuda)
    name = args.name or ("grid_" + (_device_slug(env["cuda"]["device_name"]) if cuda else "cpu")
                         + ("_quick" if args.quick else ""))
    cpu_name = env["cpu_model"]
    device_names = {n: (env["cuda"]["device_name"] if n in GPU_IMPLS else cpu_name) for n in impls}
    common = {"threads": env["threads"], "versions": env["versions"], "tf32": tf32,
              "jit_disabled": env["numba_disable_jit"]}
    print(f"{len(points)} points × {', '.join(impls)}; skipped: {skipped_impls or 'none'}", flush=True)

    compile_s = None
    if not args.no_compile_time and any(n.startswith("scratchrnn") for n in impls):
        compile_s = compile_seconds(cfg["models"], cfg["dtypes"])
        print("Numba compile, empty cache (s): " + ", ".join(
            f"{k} {v['forward_s']:.2f}+{v['backward_s']:.2f}" for k, v in compile_s.items()), flush=True)
    peaks = gemm_peaks(cfg["dtypes"], args.peak_n, cuda=cuda, n_cuda=args.peak_n_cuda,
                       seed=args.seed)
    print("GEMM peak (GFLOP/s): " + ", ".join(f"{dev} {dt} {p['gflops']:.1f}"
                                              for dev, d in peaks.items() for dt, p in d.items()),
          flush=True)

    rows, interrupted = [], False
    try:
        if in_process:
            bar, say = _iterate(points)
            for i, point in enumerate(bar, 1):
                point_rows = run_point(point, in_process, args.seed, rounds, args.pause,
                                       common, device_names)
                rows += annotate(point_rows, peaks)
                say(_point_line(i, len(points), point, point_rows))
            if hasattr(bar, "close"):
                bar.close()
        if "scratchrnn_nojit" in impls:
            print(f"scratchrnn with NUMBA_DISABLE_JIT=1 (subprocess, budget "
                  f"{args.nojit_max_s:g} s per call) ...", flush=True)
            rows += run_nojit(points, args.nojit_max_s, args.seed, common, cpu_name)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: writing what was measured", file=sys.stderr)
    rows = annotate(rows, peaks)          # again: the no-JIT rows' ratios use torch_cpu's rows

    result = {"meta": {"name": name, "command": "scratchrnn bench " + " ".join(
                           sys.argv[1:] if argv is None else argv),
                       "started": started,
                       "wall_s": time.perf_counter() - t_start, "interrupted": interrupted,
                       "quick": args.quick, "n_points": len(points), "repeats": rounds,
                       "grid": {**cfg, "long_t_max_nh": args.long_t_max_nh}, "impls": impls,
                       "nojit_max_s": args.nojit_max_s, "seed": args.seed,
                       "method": {"warmup_calls": WARMUP_CALLS, "pause_s": args.pause,
                                  "block_s": BLOCK_S, "min_timed": MIN_TIMED,
                                  "max_timed": MAX_TIMED, "slow_call_s": SLOW_CALL_S,
                                  "min_timed_total": MIN_TIMED_TOTAL,
                                  "flops": "GEMMs only: fwd 2·T·N·(I+H)·G·H, fwdbwd 3× fwd"}},
              "environment": env, "gemm_peak": peaks, "compile_s": compile_s,
              "skipped_impls": skipped_impls, "targets": None, "rows": rows}
    result["targets"] = targets(rows)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, name)
    _write(stem + ".json", json.dumps(result, indent=1))
    table = markdown(result)
    _write(stem + ".md", table)
    written = [stem + ".json", stem + ".md"]
    if not args.no_plots:
        try:
            from benchmarks import plots
        except ImportError as e:
            print(f"no plots: {e}", file=sys.stderr)
        else:
            written += plots.write_plots(result, args.out, name)
    print("\n".join(targets_section(rows)))
    print("wrote " + ", ".join(written) + f" in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 130 if interrupted else 0


def _write(path, text):
    """Writes text to path through a temporary file, so a crash leaves no half file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
