"""float64's floor at a grid's misses: the GEMM peak, and libm's gate functions on every core.

    python -m scratchrnn.bench.bounds RUN/grid_cpu_float64.json [--out FILE]

For float64 data the time loops evaluate the gate functions with libm's ``tanh`` and ``exp``,
one value at a time (``scratchrnn.kernels.gates``: the exact reference, never a vectorised
approximation). That work cannot shrink without giving up libm, so it belongs in the floor of
what a float64 pass can take, next to the GEMMs. This times the kernels' own gate functions
here, in a compiled loop over ``VALUES`` values (normal, σ = 2) on one thread, and for every
float64 target the grid missed gives:

- "at the GEMM peak": the grid's own bound (every GEMM FLOP at the run's measured float64
  GEMM peak, nothing else; ``report.targets``);
- "libm": the forward's gate functions of all T·N·H cells (``GATE_FUNCTIONS``; the backward
  reads what the forward saved and calls none) at the times measured here, spread over the
  grid's Numba threads with no overhead, as a ratio to torch CPU's time at the point.

Their sum is a lower bound on the ratio that a kernel keeping libm reaches on this machine
if each core runs the gate functions and the GEMMs one after the other, as the kernels here do
(the GEMMs are calls of their own). A kernel that ran both at once on a core (in one instruction
stream, or as two hardware threads of it) could overlap them in part: libm's scalar calls leave
the floating-point units idle part of the time, a GEMM at the peak leaves them none. For any
kernel that keeps libm, with GEMMs no faster than the measured peak, the bound is only the
larger of the two (``larger``): the page gives both and counts the misses beyond each.
Run it on the machine that ran the grid: the libm times are this machine's.
"""

# -- configuration -----------------------------------------------------------
VALUES = 1 << 20           # gate function arguments timed
REPEATS = 7                # timings of the loop; the fastest is kept
SEED = 0
# Sigmoids and tanhs per cell in the forward: the RNN's tanh (R2), the GRU's r, z and n (G2)–(G3),
# the LSTM's i, f, o, g and tanh(c_t) (L2), (L4).
GATE_FUNCTIONS = {"rnn": (0, 1), "gru": (2, 1), "lstm": (3, 2)}
# -----------------------------------------------------------------------------

import argparse
import sys
import time

import numpy as np
from numba import njit

from scratchrnn.bench import report
from scratchrnn.bench.spec import fmt_ratio
from scratchrnn.kernels.gates import sigmoid, tanh


@njit(error_model="numpy")
def _sigmoids(a, out):
    for i in range(a.size):
        out[i] = sigmoid(a[i], False)


@njit(error_model="numpy")
def _tanhs(a, out):
    for i in range(a.size):
        out[i] = tanh(a[i], False)


def libm_ns(values=VALUES, repeats=REPEATS):
    """{"sigmoid": ns, "tanh": ns}: one float64 value's gate function, as the kernels call it, on
    one thread (the fastest of ``repeats`` loops over ``values`` values)."""
    a = np.random.default_rng(SEED).standard_normal(values) * 2.0
    out = np.empty_like(a)
    times = {}
    for name, loop in (("sigmoid", _sigmoids), ("tanh", _tanhs)):
        loop(a[:16], out[:16])                       # compile
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            loop(a, out)
            best = min(best, time.perf_counter() - t)
        times[name] = best / values * 1e9
    return times


def cell_ns(model, ns):
    """The forward's gate functions of one cell of ``model``, in ns (``ns`` from ``libm_ns``)."""
    sigmoids, tanhs = GATE_FUNCTIONS[model]
    return sigmoids * ns["sigmoid"] + tanhs * ns["tanh"]


def bounds(grid, ns):
    """One dict per float64 ratio target the grid missed: the point, measured, the GEMM peak's
    floor, libm's seconds and ratio, their sum (``both``) and the larger of the two (``larger``).
    ``grid``: a saved run (its JSON)."""
    threads = _machine(grid)[1]
    out = []
    for t in report.targets(grid["rows"]):
        if t["dtype"] != "float64" or t["ok"] or t.get("floor") is None:
            continue
        libm_s = t["T"] * t["N"] * t["H"] * cell_ns(t["model"], ns) * 1e-9 / threads
        libm = libm_s / t["torch_s"]
        out.append(dict(t, libm_s=libm_s, libm=libm, both=t["floor"] + libm,
                        larger=max(t["floor"], libm)))
    return out


def _machine(grid):
    """(cpu record, Numba threads, start time) of a saved grid."""
    env = grid["environment"]
    return env["cpu"], env["numba"]["threads"], grid["meta"]["started"]


def markdown(grid, ns, found, source):
    """The bounds as a Markdown page (``source``: the grid's file name, for the link)."""
    cpu, threads, started = _machine(grid)
    beyond = {k: sum(_beyond(b, k) for b in found) for k in ("both", "larger")}
    lines = ["# float64: the GEMM peak and libm's gate functions against the target", "",
             f"{cpu['model']}, {cpu['cpu_count']} cores, {cpu['isa']}; the float64 misses of "
             f"[`{source}`]({source}) ({started}).", "",
             f"libm's gate functions as the kernels call them, timed here on one thread over "
             f"{VALUES:,} values (normal, σ = 2): sigmoid {ns['sigmoid']:.2f} ns, tanh "
             f"{ns['tanh']:.2f} ns a value. Per cell the forward evaluates "
             + ", ".join(f"the {m.upper()}'s {s} sigmoid(s) and {k} tanh(s): {cell_ns(m, ns):.1f} ns"
                         for m, (s, k) in GATE_FUNCTIONS.items())
             + f". \"libm\" is T·N·H cells at that cost on {threads} threads, nothing else running "
               "and nothing lost to splitting the work; \"at the GEMM peak\" is the grid's own bound. "
               "Their sum (\"both\"), as a ratio to torch CPU's time, is a lower bound on what a "
               "kernel that keeps libm can reach at the point, if each core runs the gate functions "
               "and the GEMMs one after the other, as the kernels here do; a kernel that ran both at "
               "once on a core (in one instruction stream, or as two hardware threads of it) could "
               "overlap them in part, and for any kernel that keeps libm, with GEMMs no faster than "
               "the measured peak, the bound is the larger of the two (\"the larger\").", "",
             f"**{beyond['both']} of the {len(found)} float64 misses ask for less than the sum** "
             f"(in bold: above the target), **{beyond['larger']} for less than the larger of "
             f"the two**.", "",
             "| model | T | N | H | measured | at the GEMM peak | libm's gate functions | as a ratio "
             "| both | the larger |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for b in found:
        both, larger = (f"**{fmt_ratio(b[k])}**" if _beyond(b, k) else fmt_ratio(b[k])
                        for k in ("both", "larger"))
        lines.append(f"| {b['model']} | {b['T']} | {b['N']} | {b['H']} | {fmt_ratio(b['value'])}"
                     f"{report.FLAG if b['flagged'] else ''} | {fmt_ratio(b['floor'])} | "
                     f"{b['libm_s'] * 1e3:.2f} ms | {fmt_ratio(b['libm'])} | {both} | {larger} |")
    return "\n".join(lines) + "\n"


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
    ns = libm_ns()
    found = bounds(grid, ns)
    page = markdown(grid, ns, found, args.grid.rsplit("/", 1)[-1])
    print(page)
    if args.out:
        with open(args.out, "w") as f:
            f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
