"""Where one scratchrnn forward+backward spends its time, stage by stage.

    python -m scratchrnn.bench.stages --model lstm --T 128 --N 16 --H 128 [--dtype float32]
        [--repeats 7] [--torch] [--out benchmarks/results/MACHINE/stages_cpu.md] [--append]

The profile behind the benchmark's misses: where a target is missed, it says where the time goes.
One call of the module's forward and backward runs with each compiled pass
(``scratchrnn.kernels.passes``: one call per layer and pass) wrapped in a timer, and the costlier
pieces outside them too (``scratchrnn.bench.stage_timers``); the wrappers replace the module
attributes that the library looks up at call time, so the code measured is the code the benchmark
runs. Right after each pass, its GEMM stages run again alone, timed, on the same arrays (they
recompute what the pass wrote, and add the weight gradients into the profiled model's ``grads`` a
second time), and the time loop is the pass's time less theirs:

- input projection: ``x W_ihᵀ + b`` for all steps, one GEMM (``passes.project``);
- forward loop: the time loop (per-step product + gate maths), all row blocks
  (``scratchrnn.kernels.team``);
- backward loop: the time loop going back (per-step product + elementwise);
- weight/input gradients: ``dW_ih``, ``dW_hh``, ``dx`` (three GEMMs) and the bias sums
  (``passes.param_grads``; and ``passes.projection_grad`` for a projected LSTM);
- rest: everything in the module call outside the two compiled passes, in four parts: the
  scans of the input, the output's gradient and the states for NaN and inf; the weights laid
  out for the per-step products (transposed copies, panels: ``scratchrnn.layout``); BLAS held
  on one thread around each pass in row blocks (``team.serial_blas``); and the remainder:
  Python (argument checks, the workspace, bookkeeping) and the output's copy.

After each call, in the same round, the kernels' per-step products are timed alone (the same
``matmul_add_into`` calls, same shapes, into outputs laid out as the loops' are, T times with a
new ``xw_t`` each, in the same row blocks on the same threads), so each kernel splits into
"per-step products" and "gate maths" (forward) or "elementwise" (backward) by difference.
Medians over ``--repeats`` calls; the stages add up to the total. A split that comes out below
zero (the products alone took longer than the loop that runs them) is printed as measured, and a
line under the table says that there only the loop's time stands, not its split.

Under the table, the weights the per-step products read: each step, each row block reads all of
``W_hhᵀ`` forward and ``W_hh`` back (as the loops get them: a matrix, a transposed view, or
panels), which for a few rows is most of what a product does. The line gives their rate in the
products and the time of reading the same bytes alone, as often, on the threads the products run
on (``read_floor``: a compiled sum, the fastest way found in the package; a reference, not a bound),
so the ratio of the two says how far the products are from reading alone.

``--fixed`` profiles the same stages at T = N = H = I = 1, where the work itself is nil, in µs:
the fixed cost every module call pays (Python validation, bookkeeping, the compiled calls'
dispatch), stage by stage.

``--torch`` also times torch CPU's forward+backward at the point (``torch.nn.LSTM`` … with the same
weights and input, the input requiring grad), interleaved with the profiled calls as the grid
interleaves them: before each profiled call, a pause, one untimed call of torch and three timed, a
pause and one call of ours unprofiled, so that no timed call starts while the other library's
threads still spin; torch's time is the median of its timed calls. Under the table it then gives
the ratio of the two totals, and that of the GEMM stages alone: the ratio this profile would have
if everything but its GEMM stages (gate maths, elementwise, the rest) took no time, a bound on what
the other stages can win. It needs torch installed.
"""

# -- configuration -----------------------------------------------------------
REPEATS = 7
TORCH_CALLS = 3            # --torch: torch's timed calls per repeat
FIXED_REPEATS = 301        # --fixed: calls per median (each takes tens of µs)
SEED = 0
# -----------------------------------------------------------------------------

import argparse
import importlib.util
import os
import sys
import time

import numba
import numpy as np
from numba import njit, prange

from scratchrnn import registry
from scratchrnn.bench import environment, measure
from scratchrnn.bench.stage_timers import passes_timed, rest_timed
from scratchrnn.bench.spec import gates
from scratchrnn import kernels, layout
from scratchrnn.kernels import team

MODELS = {name: registry.model_class(name) for name in registry.NAMES}


def _per_step_products(c, a, b, out, T, nblocks, blas_small):
    """``matmul_add_into`` for t < T per row block, as the kernels make them, one per step: with
    c (T, N, ·), ``c[t] + a @ b`` into ``out[t]`` (T, N, ·); without (None), ``a @ b`` into the
    same ``out`` (N, ·) every step; a (N, ·). In a parallel region for blocks, outside one for
    a serial pass, where BLAS may run the products on its own threads (inside a region it ran them
    on one: LSTM T=128 N=1 H=512, 7.4 ms against 4.2 for the backward's products, Intel Xeon)."""
    steps = _steps_into_one_out if c is None else _steps_into_own_rows
    if nblocks == 1:
        steps(c, a, b, out, T, blas_small, 0, a.shape[0])   # all N rows
    else:
        _steps_in_blocks(steps, c, a, b, out, T, nblocks, blas_small)


# Two functions, not one with ``if c is None``: Numba compiled both branches for an array c, and
# ``out[n0:n1]`` of a (T, N, ·) out failed to compile where the products come from panels. The
# second takes c (None) unused, so that ``_steps_in_blocks`` calls either the same way.
# no cache=True: Numba's cache would not notice a change to kernels.matmul_add_into
@njit
def _steps_into_own_rows(c, a, b, out, T, blas_small, n0, n1):
    """With c: each step's ``c[t] + a @ b`` into its own ``out[t]`` (the RNN's, LSTM's forward)."""
    for t in range(T):
        kernels.matmul_add_into(out[t, n0:n1], c[t, n0:n1], a[n0:n1], b, blas_small)


@njit
def _steps_into_one_out(c, a, b, out, T, blas_small, n0, n1):
    """Without c: each step's ``a @ b`` into one ``out`` (the GRU's forward, every backward)."""
    for t in range(T):
        kernels.matmul_add_into(out[n0:n1], None, a[n0:n1], b, blas_small)


@njit(parallel=True)
def _steps_in_blocks(steps, c, a, b, out, T, nblocks, blas_small):
    N = a.shape[0]
    for k in prange(nblocks):
        steps(c, a, b, out, T, blas_small, N * k // nblocks, N * (k + 1) // nblocks)


# fastmath: the sum may be taken in any order, so that it runs in vectors; it only has to read
# every element (the result is returned so that the reads cannot be left out)
@njit(parallel=True, fastmath=True)
def _read(flat, times, parts, split):
    """Read the 1-D ``flat`` ``times`` times on ``parts`` threads side by side: each thread all of
    it, or with ``split`` a ``1/parts`` share. Returns the sum of all the elements read."""
    sums = np.zeros(parts, dtype=flat.dtype)
    for k in prange(parts):
        # a slice, read from its start: with the bounds of a range instead, the loop ran as
        # scalar adds, 6-13x slower (Zen 4)
        share = flat[flat.size * k // parts:flat.size * (k + 1) // parts] if split else flat
        s = sums[k]
        for _ in range(times):
            for i in range(share.size):
                s += share[i]
        sums[k] = s
    return sums.sum()


def read_floor(w, T, nblocks, repeats=REPEATS, one_thread=False):
    """The least time found for reading a per-step product's weights ``w`` (as the loop gets them:
    a matrix, its transposed view, or panels) as often as a pass over T steps in ``nblocks`` row
    blocks reads them: every step, every block all of them. Blocks run on Numba's threads (``_read``
    on as many threads as run blocks, each its blocks' share of the reads). A serial pass whose
    products BLAS runs may split one among its threads: there, the faster of one thread reading all
    of ``w`` and every thread a share of it; where they run on one thread (own loops, panels:
    ``one_thread``), one thread. The fastest of ``repeats`` timings: a reference, not a bound."""
    flat = w.ravel(order="K")                        # the bytes as stored: a view of any of the three
    threads = numba.get_num_threads()
    if nblocks > 1:
        parts = min(nblocks, threads)
        ways = [(parts, False, T * -(-nblocks // parts))]
    else:
        ways = [(1, False, T)] if one_thread else [(1, False, T), (threads, True, T)]
    best = float("inf")
    for parts, split, times in ways:
        _read(flat[:parts], 1, parts, split)         # compile, outside the timing
        for _ in range(repeats):
            t = time.perf_counter()
            _read(flat, times, parts, split)
            best = min(best, time.perf_counter() - t)
    return best


def profile(model, T, N, H, dtype="float32", repeats=REPEATS, torch_side=False):
    """Median seconds per stage of one forward+backward; a dict, stage -> seconds. With
    ``torch_side``, also "torch CPU": the median of torch's forward+backward, timed between
    ours (not a stage: not part of the total)."""
    cls, G = MODELS[model], gates(model)
    m = cls(H, H, dtype=dtype, seed=SEED)
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((T, N, H)).astype(dtype)              # (T, N, I)
    d_out = rng.standard_normal((T, N, H)).astype(dtype)          # (T, N, H)
    torch_call = _torch_call(model, T, N, H, dtype, m, x, d_out) if torch_side else None
    # The per-step products alone, with the kernels' operands: forward h_{t-1} (N, H) times
    # W_hhᵀ (H, G·H) plus xw_t (none for the GRU), backward da_t (N, G·H) times W_hh (G·H, H).
    # As in the time loop, each step adds a new xw_t, which the input projection wrote for all
    # steps before the loop; one xw_t used T times stays in cache and makes the products look
    # faster than they run in the loop (benchmarks/results/zen5-avx512-2026-12-03-evening/
    # panels_copy_products.md has how much, for the panels before they copied xw_t first).
    # h_{t-1} and da_t, which the loop wrote just before, are one array used every step. The
    # products go where the loops put theirs: forward into each step's own rows, as the LSTM's
    # gates[t] and the RNN's h[t+1] (the GRU's into one array, its hw); back into one array,
    # as δ_{t-1} (two taking turns in the loops).
    w_hh = m.state_dict()["weight_hh_l0"]
    h = rng.standard_normal((N, H)).astype(dtype)
    da = rng.standard_normal((N, G * H)).astype(dtype)
    xw = None if model == "gru" else rng.standard_normal((T, N, G * H)).astype(dtype)
    out_fwd = np.empty((N, G * H) if xw is None else (T, N, G * H), dtype)   # (N, G·H) or (T, N, G·H)
    out_bwd = np.empty((N, H), dtype)                                          # (N, H)
    nb, w_t, w = _product_weights(w_hh, T, N)
    logs, torch_times = [], []
    for i in range(repeats + 1):                                 # the first call warms up
        # As in the grid's rounds (``measure``): a pause, so that the other library's spinning
        # BLAS/OpenMP workers go idle, and one untimed call that wakes this one's thread pools,
        # before each library's timed calls. Without them, one call each, alternating, made
        # calls of a fraction of a millisecond up to 20x slower than in the grid.
        if torch_call is not None:
            time.sleep(measure.PAUSE_S)
            torch_call()
            for _ in range(TORCH_CALLS):
                t = time.perf_counter()
                torch_call()
                torch_times.append(time.perf_counter() - t)
            time.sleep(measure.PAUSE_S)
            m(x)
            m.backward(d_out)
        log = {}
        with passes_timed(model, log), rest_timed(log):
            t = time.perf_counter()
            m(x)
            m.backward(d_out)
            log["total"] = time.perf_counter() - t - log["rerun"]
        # The products alone right after the call, in the same round: what slows the round
        # (other load on a shared machine, the other library's threads) slows both. Timed in
        # rounds of their own after all the calls, back to back, they ran under other conditions
        # than the loops (benchmarks/results/xeon-avx512-2026-12-07-stages/). A split can still
        # come out below zero where the run's noise exceeds the loop's other stage, the gate
        # maths or the elementwise work (``_below_zero_lines``).
        with team.serial_blas(nb):
            t = time.perf_counter()
            _per_step_products(xw, h, w_t, out_fwd, T, nb, team.small_matrix_limit())
            t1 = time.perf_counter()
            _per_step_products(None, da, w, out_bwd, T, nb, team.small_matrix_limit())
            log["forward products"], log["backward products"] = t1 - t, time.perf_counter() - t1
        if i:
            logs.append(log)
    med = {k: float(np.median([log[k] for log in logs])) for k in logs[0]}
    fp, bp = med["forward products"], med["backward products"]
    stages = {
        "input projection (1 GEMM)": med["projection"],
        "forward: per-step products": fp,
        "forward: gate maths": med["forward pass"] - med["projection"] - fp,
        "backward: per-step products": bp,
        "backward: elementwise": med["backward pass"] - med["gradients"] - bp,
        "weight/input gradients (3 GEMMs + bias sums)": med["gradients"],
        "rest: NaN and inf scans": med["scans"],
        "rest: weights laid out (transposes, panels)": med["layout"],
        "rest: BLAS held on one thread": med["blas hold"],
        "rest: Python and the output's copy": (med["total"] - med["forward pass"] - med["backward pass"]
                                         - med["scans"] - med["layout"] - med["blas hold"]),
        "total": med["total"],
    }
    if torch_call is not None:
        stages[TORCH] = float(np.median(torch_times[TORCH_CALLS:]))   # the first repeat warms up
    return stages


TORCH = "torch CPU"        # profile's key for torch's forward+backward (--torch)
# The profile's stages by kind: the GEMMs (the bias sums ride with the gradient GEMMs), the
# elementwise work of the time loops, and everything outside the compiled passes ("rest: ").
GEMM_STAGES = ("input projection (1 GEMM)", "forward: per-step products", "backward: per-step products",
               "weight/input gradients (3 GEMMs + bias sums)")
ELEMENTWISE_STAGES = ("forward: gate maths", "backward: elementwise")
# The stages taken from a time loop by difference -> (the loop's products, timed alone; the loop).
SPLIT_FROM_LOOPS = dict(zip(ELEMENTWISE_STAGES,
                            (("forward: per-step products", "the forward's time loop"),
                             ("backward: per-step products", "the backward's time loop"))))
REST = "rest: "


def seconds(profiled, kind):
    """The seconds of a profile's stages of one kind: "gemms", "elementwise" or "outside"."""
    names = {"gemms": GEMM_STAGES, "elementwise": ELEMENTWISE_STAGES,
             "outside": [name for name in profiled if name.startswith(REST)]}[kind]
    return sum(profiled[name] for name in names)


def _product_weights(w_hh, T, N):
    """(row blocks of the time loops, W_hhᵀ as the forward's products read it, W_hh as the
    backward's read it) for a pass over T steps of N sequences (``scratchrnn.layout``)."""
    nb = layout.loop_blocks(layout.blocks(T, N, w_hh), N, w_hh)
    return nb, layout.forward_weights(w_hh, N, nb), layout.backward_weights(w_hh, T, N, nb)


def weight_reads(model, T, N, H, dtype="float32", repeats=REPEATS):
    """What the per-step products read at the point: {"forward": (bytes, seconds), "backward":
    (bytes, seconds)}, the bytes of weights all row blocks read per step and the ``read_floor``
    of reading them over the T steps."""
    w_hh = np.random.default_rng(SEED).standard_normal((gates(model) * H, H)).astype(dtype)
    nb, w_t, w = _product_weights(w_hh, T, N)
    return {"forward": (w_t.nbytes * nb, read_floor(w_t, T, nb, repeats, _one_thread(w_t, N))),
            "backward": (w.nbytes * nb, read_floor(w, T, nb, repeats, _one_thread(w, N)))}


def _one_thread(w, N):
    """Whether a serial pass's products by ``w`` run on one thread: from panels, or in the own
    loops (``takes_own_loops``); else BLAS may share them among its threads."""
    return w.ndim == 3 or kernels.takes_own_loops(N, w, team.small_matrix_limit())


def _torch_call(model, T, N, H, dtype, m, x, d_out):
    """One forward+backward of torch's module at the point, with m's weights and the same x
    (requiring grad) and d_out: the grid's ``torch_cpu`` (``impls.torch_impl``)."""
    from scratchrnn.bench import impls
    from scratchrnn.bench.spec import Point
    point = Point(model, "fwdbwd", dtype, T, N, H)
    return impls.torch_impl("torch_cpu", point, m.state_dict(), x, d_out).call


def gemm_gflops(model, T, N, H):
    """GFLOP of each GEMM stage (I = H): a dict keyed like ``profile``'s stages."""
    G = gates(model)
    one = 2 * T * N * H * G * H / 1e9                            # one (T·N)×H×(G·H) product
    return dict(zip(GEMM_STAGES, (one, one, one, 3 * one)))


def markdown(model, T, N, H, dtype, stages, fixed=False, reads=None):
    """The profile as a Markdown table: ms and GFLOP/s, or µs for the fixed cost (``fixed``);
    with ``reads`` (``weight_reads``) a line on the per-step products' rate of reading weights."""
    flop = gemm_gflops(model, T, N, H)
    total = stages["total"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", f"unset ({os.cpu_count()} cores)")
    title = "fixed cost per module call (forward+backward at T = N = H = I = 1)" if fixed else \
        f"T={T} N={N} H={H} (I = H), {team.blocks(T, N, H, gates(model) * H, dtype)} row block(s) (threads)"
    unit, scale = ("µs", 1e6) if fixed else ("ms", 1e3)
    lines = [f"### {model}, {title}, {dtype}, OPENBLAS_NUM_THREADS {threads}",
             "", f"| stage | {unit} | share | GFLOP/s |", "|---|---|---|---|"]
    for name, s in stages.items():
        if name == TORCH:
            continue
        rate = f"{flop[name] / s:.1f}" if name in flop and s > 0 and not fixed else ""
        share = "" if name == "total" else f"{100 * s / total:.0f} %"
        lines.append(f"| {name} | {s * scale:.2f} | {share} | {rate} |")
    lines += _below_zero_lines(stages, scale, unit)
    if TORCH in stages:
        torch_s = stages[TORCH]
        gemms = seconds(stages, "gemms")
        lines += ["", f"torch CPU forward+backward, interleaved with these: {torch_s * scale:.2f} {unit}. "
                      f"Total over torch's: {total / torch_s:.3g}x; the GEMM stages alone "
                      f"({gemms * scale:.2f} {unit}) over torch's: {gemms / torch_s:.3g}x."]
    if reads is not None:
        lines += ["", _reads_line(T, stages, reads)]
    return "\n".join(lines) + "\n"


def _below_zero_lines(stages, scale, unit):
    """A line for each loop's stage that came out below zero (``SPLIT_FROM_LOOPS``): what the
    loop took in all is measured, its split is not."""
    lines = []
    for name, (products, loop) in SPLIT_FROM_LOOPS.items():
        if stages.get(name, 0.0) < 0:
            whole = round(stages[name] * scale, 2) + round(stages[products] * scale, 2)   # as the rows print
            lines += ["", f"{name} came out below zero: the per-step products timed alone took longer than "
                          f"{loop}, which runs them. Here only the loop's time ({whole:.2f} {unit}, the two "
                          f"rows' sum) stands; the split between them is not measured well enough to stand."]
    return lines


def _reads_line(T, stages, reads):
    """The per-step products against reading their weights alone (``weight_reads``)."""
    parts = []
    for direction, name in (("forward", "forward: per-step products"), ("backward", "backward: per-step products")):
        nbytes, floor = reads[direction]
        took = stages[name]
        parts.append(f"{direction} {nbytes / 2**20:.3g} MiB, {T * nbytes / took / 1e9:.0f} GB/s in the products, "
                     f"{floor * 1e3:.2f} ms ({T * nbytes / floor / 1e9:.0f} GB/s) read alone, the products "
                     f"{took / floor:.2f}x that")
    return ("Weights the per-step products read every step (all row blocks), and the same bytes read alone "
            "T times (a compiled sum, the fastest way found here; a reference, not a bound): "
            + "; ".join(parts) + ".")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scratchrnn.bench.stages", description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="lstm")
    p.add_argument("--T", type=int, default=128)
    p.add_argument("--N", type=int, default=16)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--repeats", type=int, help=f"calls per median (default {REPEATS}; "
                                               f"{FIXED_REPEATS} with --fixed)")
    p.add_argument("--fixed", action="store_true",
                   help="the fixed cost per call instead: the stages at T = N = H = I = 1, in µs")
    p.add_argument("--torch", action="store_true",
                   help="also time torch CPU's forward+backward, interleaved with the profiled calls, "
                        "and give both totals' ratio and the GEMM stages' over torch's")
    p.add_argument("--out", help="also write the Markdown table to this file")
    p.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    args = p.parse_args(argv)
    environment.give_torch_huge_pages()         # as the grid does, before torch is imported
    environment.keep_freed_memory()             # as the grid does
    T, N, H = (1, 1, 1) if args.fixed else (args.T, args.N, args.H)
    repeats = args.repeats or (FIXED_REPEATS if args.fixed else REPEATS)
    if args.torch and importlib.util.find_spec("torch") is None:
        print("error: --torch needs torch, which is not installed (pip install '.[torch]')",
              file=sys.stderr)
        return 2
    stages = profile(args.model, T, N, H, args.dtype, repeats, torch_side=args.torch)
    reads = None if args.fixed else weight_reads(args.model, T, N, H, args.dtype, repeats)
    table = markdown(args.model, T, N, H, args.dtype, stages, fixed=args.fixed, reads=reads)
    print(table)
    if args.out:
        with open(args.out, "a" if args.append else "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
