"""float64's floor at a grid's misses: the GEMM peak, and libm's gate functions on every core.

    python -m scratchrnn.bench.bounds RUN/grid_cpu_float64.json [--out FILE]

For float64 data the time loops evaluate the gate functions with libm's ``tanh`` and ``exp``,
one value at a time (``scratchrnn.kernels.gates``: the exact reference, never a vectorised
approximation). That work cannot shrink without giving up libm, so it belongs in the floor of
what a float64 pass can take, next to the GEMMs. For every float64 target the grid missed this
gives:

- "at the GEMM peak": the grid's own bound (every GEMM FLOP at the run's measured float64
  GEMM peak, nothing else; ``report.targets``);
- "libm": the forward's gate functions (the backward reads what the forward saved and calls
  none), timed here on one thread at the point itself: the grid's model and input (its seed)
  go through the readable reference forward (``scratchrnn.reference``), and a compiled loop
  calls the kernels' own ``sigmoid`` and ``tanh`` on the arguments the kernels pass them, in
  the order they pass them (``_rnn_calls``, ``_lstm_calls``, ``_gru_calls``), nothing else,
  step by step with each step's arguments in cache (``libm_seconds``). That time, spread over
  the grid's Numba threads with no overhead, is given as a ratio to torch CPU's time at the
  point.

The arguments matter: libm's ``tanh`` takes longer for some of them than for others (on a
Zen 4, 9 ns a value for normal arguments with σ = 0.1, 16 ns with σ = 1), so a cost timed on
other values overstates the work wherever the point's arguments are cheaper, and a bound built
on it can sit above what a kernel needs.

Their sum is a lower bound on the ratio that a kernel keeping libm reaches on this machine
if each core runs the gate functions and the GEMMs one after the other, as the kernels here do
(the GEMMs are calls of their own). A kernel that ran both at once on a core (in one instruction
stream, or as two hardware threads of it) could overlap them in part: libm's scalar calls leave
the floating-point units idle part of the time, a GEMM at the peak leaves them none. For any
kernel that keeps libm, with GEMMs no faster than the measured peak, the bound is only the
larger of the two (``larger``): the page gives both and counts the misses beyond each.
Run it on the machine that ran the grid, right after it: the libm times are this machine's, at
the time it runs (the page says when and on what CPU, and whether that CPU is the grid's). It
takes about a second a miss, several at the largest points.
"""

# -- configuration -----------------------------------------------------------
REPEATS = 7                # passes over each point's steps; each step's fastest is kept
# -----------------------------------------------------------------------------

import argparse
import sys
import time

import numpy as np
from numba import njit

from scratchrnn.bench import environment, impls, report
from scratchrnn.bench.grid import progress
from scratchrnn.bench.spec import SEED, Point, fmt_ratio
from scratchrnn.kernels.gates import sigmoid, tanh
from scratchrnn.reference import gru as gru_ref, lstm as lstm_ref, rnn as rnn_ref


# -- the forward's gate functions, as the kernels call them (``scratchrnn.kernels.loops``) ------
# Row by row, in each row the same runs of calls in the same order; the results are written to
# ``out`` so that no call can be left out.

@njit(error_model="numpy")
def _rnn_calls(a, out):
    """tanh(a_t) (R2); a: (T, N, H)."""
    T, N, H = a.shape
    for t in range(T):
        for s in range(N):
            for j in range(H):
                out[t, s, j] = tanh(a[t, s, j], False)


@njit(error_model="numpy")
def _lstm_calls(a, c, out, out_c):
    """σ for i and f, tanh for g, σ for o (L2), then tanh(c_t) (L4); a: (T, N, 4H), c: (T, N, H)."""
    T, N, GH = a.shape
    H = GH // 4
    for t in range(T):
        for s in range(N):
            for j in range(2 * H):
                out[t, s, j] = sigmoid(a[t, s, j], False)
            for j in range(2 * H, 3 * H):
                out[t, s, j] = tanh(a[t, s, j], False)
            for j in range(3 * H, GH):
                out[t, s, j] = sigmoid(a[t, s, j], False)
            for j in range(H):
                out_c[t, s, j] = tanh(c[t, s, j], False)


@njit(error_model="numpy")
def _gru_calls(a_rz, a_n, out, out_n):
    """σ for r and z (G2), tanh for n (G3); a_rz: (T, N, 2H), a_n: (T, N, H)."""
    T, N, H = a_n.shape
    for t in range(T):
        for s in range(N):
            for j in range(2 * H):
                out[t, s, j] = sigmoid(a_rz[t, s, j], False)
            for j in range(H):
                out_n[t, s, j] = tanh(a_n[t, s, j], False)


CALLS = {"rnn": _rnn_calls, "lstm": _lstm_calls, "gru": _gru_calls}


def arguments(model, T, N, H, seed):
    """The arguments the float64 forward passes its gate functions at a grid point (I = H), as
    ``CALLS[model]`` takes them: the model and input the grid built there with ``seed``
    (``impls.inputs``), run through the reference forward from zero states.
    RNN (a,), LSTM (a, c_t), GRU (a^r|a^z, a^xn + r ⊙ a^hn); each (T, N, ·)."""
    m, x, _ = impls.inputs(Point(model, "fwdbwd", "float64", T, N, H), seed)
    p = m.state_dict()
    w_ih, w_hh, b_ih, b_hh = (p[f"{k}_l0"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    h0 = np.zeros((N, H))
    if model == "rnn":
        cache = rnn_ref.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh)[2]
    elif model == "lstm":
        cache = lstm_ref.lstm_forward(x, h0, h0, w_ih, w_hh, b_ih, b_hh)[3]
    else:
        cache = gru_ref.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)[2]
    # The reference keeps the states, not the pre-activations: they are computed again here from
    # h_{t-1}, for all steps at once (the GEMMs the forward ran step by step, run twice).
    xw = x @ w_ih.T + b_ih                                       # (T, N, G·H)
    hw = cache.h[:-1] @ w_hh.T + b_hh                            # (T, N, G·H)  from h_{t-1}
    if model == "gru":                                           # (G2), (G3)
        r, a_hn = cache.gates[..., :H], hw[..., 2 * H:]
        return xw[..., :2 * H] + hw[..., :2 * H], xw[..., 2 * H:] + r * a_hn
    a = xw + hw                                                  # (R1), (L1)
    return (a,) if model == "rnn" else (a, np.ascontiguousarray(cache.c[1:]))


def libm_seconds(model, args, repeats=REPEATS, clock=time.perf_counter):
    """``CALLS[model]`` over ``args`` (from ``arguments``) on one thread, in seconds.

    Step by step, as a pass calls them: each step's arguments are first copied into a buffer
    (untimed), so that the calls read them from cache, not from memory (the kernels compute
    most of them just before: the step's product, and the LSTM's c_t by (L3)), then the calls on
    them are timed. ``repeats`` passes over the steps; each step's fastest is kept (a pass that
    other work slowed loses to another), less the fastest call on no arguments (a call's own
    cost). Two other ways read otherwise on a Zen 4: one run over all of a point's arguments took
    longer at the larger points, most likely as it read them from memory (the LSTM at T=32 N=256
    H=1024: 48 ns a cell against 42), and one step's calls repeated on the same values took less
    where a step holds a few thousand (9 ns a tanh against 15; at 32,768 a step, 13.8 against
    14.7), most likely as the branch predictor learned libm's branches for those very values.
    The passes here repeat the values too, but a pass holds the hundreds of thousands of calls
    or more of a float64 miss, and at such sizes whole calls of the kernels took 1.00–1.01 times
    as long on new inputs as repeated on one (T=32 N=16 H=128 and T=128 N=16 H=128)."""
    args = tuple(np.ascontiguousarray(a) for a in args)
    calls, T = CALLS[model], args[0].shape[0]
    bufs = tuple(np.empty_like(a[:1]) for a in args)               # (1, N, ·): one step's
    outs = tuple(np.empty_like(b) for b in bufs)
    nothing = tuple(b[:, :0] for b in bufs + outs)                  # (1, 0, ·): no arguments
    calls(*nothing)                                                  # compile
    best, call = np.full(T, np.inf), np.inf
    for _ in range(repeats):
        for t in range(T):
            for buf, a in zip(bufs, args):
                buf[...] = a[t:t + 1]
            start = clock()
            calls(*bufs, *outs)
            best[t] = min(best[t], clock() - start)
            start = clock()
            calls(*nothing)
            call = min(call, clock() - start)
    return float(np.maximum(best - call, 0.0).sum())


def point_seconds(seed, repeats=REPEATS):
    """libm's seconds on one thread at a point, ``(model, T, N, H) -> s``, from its own arguments."""
    return lambda model, T, N, H: libm_seconds(model, arguments(model, T, N, H, seed), repeats)


def misses(grid):
    """The float64 ratio targets the grid missed (those with a GEMM-peak floor)."""
    return [t for t in report.targets(grid["rows"])
            if t["dtype"] == "float64" and not t["ok"] and t.get("floor") is not None]


def bounds(grid, seconds, found=None):
    """One dict per float64 ratio target the grid missed: the point, measured, the GEMM peak's
    floor, libm's seconds (on the grid's threads), ns a cell and ratio, their sum (``both``) and
    the larger of the two (``larger``). ``grid``: a saved run (its JSON); ``seconds``: libm's
    seconds on one thread at a point, ``(model, T, N, H) -> s`` (``point_seconds``); ``found``:
    the misses to bound, in the order given (default ``misses(grid)``)."""
    threads = _machine(grid)[1]
    out = []
    for t in misses(grid) if found is None else found:
        one_thread = seconds(t["model"], t["T"], t["N"], t["H"])
        libm_s = one_thread / threads
        libm = libm_s / t["torch_s"]
        out.append(dict(t, libm_s=libm_s, cell_ns=one_thread / (t["T"] * t["N"] * t["H"]) * 1e9,
                        libm=libm, both=t["floor"] + libm, larger=max(t["floor"], libm)))
    return out


def _machine(grid):
    """(cpu record, Numba threads, start time) of a saved grid."""
    env = grid["environment"]
    return env["cpu"], env["numba"]["threads"], grid["meta"]["started"]


def grid_seed(grid):
    """The seed the grid built its models and inputs with (``SEED`` where its JSON names none)."""
    return grid["meta"].get("seed", SEED)


def timed_here():
    """When and on what CPU the libm times are taken: now, this machine."""
    return {"at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "cpu": environment.cpu_record()}


def markdown(grid, found, source, timed):
    """The bounds as a Markdown page (``source``: the grid's file name, for the link; ``timed``:
    when and where the libm times were taken, ``timed_here()``)."""
    cpu, threads, started = _machine(grid)
    here = timed["cpu"]
    beyond = {k: sum(_beyond(b, k) for b in found) for k in ("both", "larger")}
    lines = ["# float64: the GEMM peak and libm's gate functions against the target", "",
             f"{_cpu(cpu)}; the float64 misses of "
             f"[`{source}`]({source}) ({started}).", ""]
    if not same_cpu(here, cpu):
        lines += [f"**The gate functions were timed on another CPU than the grid's ({here['model']}, "
                  f"{here['isa']}, its flags {' '.join(here.get('isa_flags', []))}), so these bounds "
                  "do not hold for the grid's times.**", ""]
    lines += [f"libm's gate functions as the kernels call them, timed from {timed['at']} on "
              f"{_cpu(here)}, on one thread at each miss: "
              f"the grid's model and input there (seed {grid_seed(grid)}) through the reference "
              "forward, and the kernels' `sigmoid` and `tanh` called on the arguments the kernels "
              "pass them, in their order, with nothing else, step by step, each step's arguments "
              f"first copied into cache (each step the fastest of {REPEATS} passes, less the cost of "
              "a call; \"ns a cell\": that time over the T·N·H cells). \"libm\" is that time on "
              f"{threads} threads, nothing lost to splitting the work; \"at the GEMM peak\" is the "
              "grid's own bound. Their sum (\"both\"), as a ratio to torch CPU's time, is a lower "
              "bound on what a kernel that keeps libm can reach at the point, if each core runs the "
              "gate functions and the GEMMs one after the other, as the kernels here do; a kernel "
              "that ran both at once on a core (in one instruction stream, or as two hardware "
              "threads of it) could overlap them in part, and for any kernel that keeps libm, with "
              "GEMMs no faster than the measured peak, the bound is the larger of the two (\"the "
              "larger\").", "",
              f"**{beyond['both']} of the {len(found)} float64 misses ask for less than the sum** "
              f"(in bold: above the target), **{beyond['larger']} for less than the larger of "
              f"the two**.", "",
              "| model | T | N | H | measured | at the GEMM peak | libm's gate functions | ns a cell "
              "| as a ratio | both | the larger |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for b in found:
        both, larger = (f"**{_ratio(b[k], b['limit'])}**" if _beyond(b, k)
                        else _ratio(b[k], b["limit"]) for k in ("both", "larger"))
        lines.append(f"| {b['model']} | {b['T']} | {b['N']} | {b['H']} | {_ratio(b['value'], b['limit'])}"
                     f"{report.FLAG if b['flagged'] else ''} | {_ratio(b['floor'], b['limit'])} | "
                     f"{b['libm_s'] * 1e3:.2f} ms | {b['cell_ns']:.1f} | {fmt_ratio(b['libm'])} | "
                     f"{both} | {larger} |")
    return "\n".join(lines) + "\n"


def _cpu(record):
    """A CPU record (``environment.cpu_record``) as the page names it."""
    return f"{record['model']}, {record['cpu_count']} cores, {record['isa']}"


def same_cpu(here, grid_cpu):
    """Whether two CPU records (``environment.cpu_record``) name the same CPU: model, vector ISA
    and its flags where both records have them (AMD's Zen 4 and Zen 5 VMs here share the first
    two). The core count is left out: libm is timed on one thread."""
    keys = ["model", "isa"] + (["isa_flags"] if "isa_flags" in here and "isa_flags" in grid_cpu else [])
    return all(here[k] == grid_cpu[k] for k in keys)


def _ratio(r, limit):
    """``fmt_ratio(r)``, with as many more digits as it takes (up to 8) not to read as the limit."""
    text = fmt_ratio(r)
    digits = 4
    while r != limit and text == fmt_ratio(limit) and digits <= 8:
        text, digits = f"{r:.{digits}g}×", digits + 1
    return text


def _beyond(b, key):
    """Whether bound ``key`` ("both" or "larger") of miss ``b`` lies above its target."""
    return b[key] > b["limit"]


def load(path):
    """A saved grid (its JSON) with float64 rows and the machine's record; ValueError otherwise."""
    grid = report.load_grid(path)
    if not any(r.get("dtype") == "float64" for r in grid["rows"]):
        raise ValueError("expected float64 rows (scratchrnn bench --dtypes float64), found none")
    return grid


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scratchrnn.bench.bounds",
                                description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a float64 grid's JSON (scratchrnn bench --dtypes float64 ...)")
    p.add_argument("--out", help="also write the Markdown to this file")
    args = p.parse_args(argv)
    try:
        grid = load(args.grid)
    except (OSError, ValueError) as e:
        print(f"error: {args.grid}: {e}", file=sys.stderr)
        return 2
    points, _ = progress(misses(grid))               # about a second a miss
    timed = timed_here()
    found = bounds(grid, point_seconds(grid_seed(grid)), points)
    page = markdown(grid, found, args.grid.rsplit("/", 1)[-1], timed)
    print(page)
    if args.out:
        with open(args.out, "w") as f:
            f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
