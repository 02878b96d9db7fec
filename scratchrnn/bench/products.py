"""Which way to run a per-step product: our own loops, BLAS, or the weights packed in panels.

    python -m scratchrnn.bench.products [--out benchmarks/results/MACHINE/products_cpu.md]

Every step of a time loop multiplies the state of a block of rows by the recurrent weights:
forward ``h (rows, H) · W_hhᵀ (H, G·H)``, backward ``da (rows, G·H) · W_hh (G·H, H)``.
``kernels.matmul_add_into`` runs it with its own loops (up to ``SMALL_N`` rows) or with BLAS;
which one is decided by ``kernels.own_loops`` from the rows, the size of the weights and
the limit of BLAS's small-matrix kernels (``kernels.team.small_matrix_limit``).

This times both for 1–8 rows, H = I from 32 to 512 and G = 1, 3, 4 (RNN, GRU, LSTM), in
float32 and float64, with BLAS on one thread (as inside a pass in row blocks) and on all of
them (a serial pass): ``T_STEPS`` products in one compiled loop, as the kernels make them,
the two ways alternating, best of ``ROUNDS``. The table says which way the rule picks and
how much slower the other way was.

One row is a matrix-vector product: it reads all of the weights once per step and does one
multiply-add per element read, so what bounds it is how fast the core reads them. A second
table (float32, one thread) gives the bytes of weights read per second by each way next to a
plain streaming read of an array of the same size (``_stream``): a sum in one vector register,
which the add's latency can hold below the cache's rate (one row from panels outran it at
H = 128 on the Intel Xeon), so a reference, not a bound.

A third table times the weights packed in panels once per pass (``kernels.panels``) against
the way ``matmul_add_into`` takes the plain weights (own loops or BLAS, as its rule picks), for
``PANEL_ROWS`` rows and ``PANEL_HIDDEN`` sizes, BLAS on one thread (as in a row block), and
says which way ``panels.use_panels`` picks; the packing itself, once per pass, is timed apart.
"""

# -- configuration -----------------------------------------------------------
ROWS = (1, 2, 4, 8)
HIDDEN = (32, 128, 512)
GATE_ROWS = (1, 3, 4)                      # G: RNN, GRU, LSTM
DTYPES = ("float32", "float64")
PANEL_ROWS = (1, 4, 8, 16, 32, 64)
PANEL_HIDDEN = (32, 64, 128, 256, 512)
PANEL_GATE_ROWS = (1, 3, 4)
T_STEPS = 128                              # products per timed call (one per step)
ROUNDS = 3                                 # alternating calls per way; the best counts
SEED = 0
# -----------------------------------------------------------------------------

import argparse
import itertools
import time

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from scratchrnn import kernels
from scratchrnn.bench.environment import describe, environment
from scratchrnn.kernels import panels, team
from scratchrnn.kernels.products import operand_shape
from scratchrnn.workspace import empty_aligned

DIRECTIONS = ("forward", "backward")


# no cache=True: Numba's cache would not notice a change to kernels.matmul_add_into
@njit
def _steps(a, b, steps, blas_small):
    """``steps`` calls of ``matmul_add_into(out, None, a, b, blas_small)`` into one output, as a
    time loop keeps its own: with ``blas_small`` 0 and few enough rows, the own loops; with a
    limit above rows·K·M (2 rows or more), BLAS; b in panels (3-D), the panels."""
    out = np.empty((a.shape[0], operand_shape(b)[1]), dtype=a.dtype)   # (rows, M)
    for _ in range(steps):
        kernels.matmul_add_into(out, None, a, b, blas_small)


@njit(fastmath=True)
def _stream(flat, steps):
    """``steps`` sums of all of ``flat``'s elements in any order (so that they vectorise): how
    fast one core reads an array of that size into one vector of sums, whose adds' latency can
    hold it below the rate of the cache that holds the array."""
    total = flat[0] - flat[0]                        # 0 in the array's dtype (an int 0 would widen it)
    for _ in range(steps):
        for i in range(flat.size):
            total += flat[i]
    return total


@njit
def _steps_blas(a, b, steps):
    """``steps`` BLAS products ``a @ b`` through the kernels' binding (one row included)."""
    for _ in range(steps):
        kernels.matmul(a, b)


def _operands(rng, rows, H, G, direction, dtype):
    """The kernels' operands: forward h (rows, H) and W_hhᵀ (H, G·H) as the C-contiguous copy the
    forward makes; backward da (rows, G·H) and W_hh (G·H, H)."""
    K, M = (H, G * H) if direction == "forward" else (G * H, H)
    return rng.standard_normal((rows, K)).astype(dtype), rng.standard_normal((K, M)).astype(dtype)


def _check_agree(got, a, b, way):
    """AssertionError unless ``got`` (``way``'s a @ b) agrees with BLAS's within the rounding
    bound of a dot product of length K (the two sum in different orders)."""
    K, M = b.shape
    bound = 2 * K * np.finfo(a.dtype).eps * (np.abs(a) @ np.abs(b))
    if not np.all(np.abs(got - kernels.matmul(a, b)) <= bound):
        raise AssertionError(f"{way} and BLAS disagree at rows={a.shape[0]}, {K}x{M}")


def _best(fn, *args):
    fn(*args)                                    # compiles, warms the caches
    best = np.inf
    for _ in range(ROUNDS):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def measure():
    """Rows of (threads, dtype, G, H, direction, rows, own seconds, BLAS seconds, the rule's pick).

    Before timing, each case's two results are checked to agree within the rounding bound of
    a dot product of length K (the two sum in different orders)."""
    rng = np.random.default_rng(SEED)
    limit = team.small_matrix_limit()
    out = []
    for threads in (1, None):
        with threadpool_limits(threads):
            for dtype, G, H, direction, rows in itertools.product(DTYPES, GATE_ROWS, HIDDEN, DIRECTIONS, ROWS):
                a, b = _operands(rng, rows, H, G, direction, dtype)
                if not kernels.own_loops(rows, b.size, 0):
                    continue                     # one row with a large b: only BLAS runs it
                _check_agree(kernels.matmul_add(None, a, b, 0), a, b, "own loops")
                own, blas = np.inf, np.inf
                for _ in range(ROUNDS):
                    own = min(own, _best(_steps, a, b, T_STEPS, 0))
                    blas = min(blas, _best(_steps_blas, a, b, T_STEPS))
                pick = "own loops" if kernels.own_loops(rows, b.size, limit) else "BLAS"
                out.append((threads, dtype, G, H, direction, rows, own, blas, pick))
    return out


def measure_panels():
    """Rows of (dtype, G, H, direction, rows, panels seconds, plain seconds, the plain way,
    packing seconds, whether ``use_panels`` picks the panels), BLAS on one thread.

    The two results are first checked to agree within the rounding bound of a length-K dot
    product, as in ``measure``."""
    rng = np.random.default_rng(SEED)
    limit = team.small_matrix_limit()
    out = []
    with threadpool_limits(1):
        for dtype, G, H, direction, rows in itertools.product(DTYPES, PANEL_GATE_ROWS, PANEL_HIDDEN, DIRECTIONS,
                                                              PANEL_ROWS):
            a, b = _operands(rng, rows, H, G, direction, dtype)
            K, M = b.shape
            packed = empty_aligned(panels.panels_shape(K, M, dtype), dtype)   # as a workspace holds them
            source = np.ascontiguousarray(b.T).T if direction == "forward" else b   # as the passes: W_hh.T, W_hh
            pack = _best(panels.pack_into, source, packed)
            _check_agree(kernels.matmul_add(None, a, packed, 0), a, b, "panels")
            on, off = np.inf, np.inf
            for _ in range(ROUNDS):
                on = min(on, _best(_steps, a, packed, T_STEPS, limit))
                off = min(off, _best(_steps, a, b, T_STEPS, limit))
            plain = "own loops" if kernels.own_loops(rows, b.size, limit) else "BLAS"
            out.append((dtype, G, H, direction, rows, on, off, plain, pack, panels.use_panels(rows, K, M, dtype)))
    return out


def measure_one_row():
    """Rows of (G, H, direction, bytes of b, own seconds, BLAS seconds, streaming read seconds,
    panels seconds) for one float32 row against each b, BLAS on one thread; own and panels NaN
    where the rule leaves b to BLAS and where b's columns are not whole panels."""
    rng = np.random.default_rng(SEED)
    out = []
    with threadpool_limits(1):
        for G, H, direction in itertools.product(GATE_ROWS, HIDDEN, DIRECTIONS):
            a, b = _operands(rng, 1, H, G, direction, "float32")
            own = _best(_steps, a, b, T_STEPS, 0) if kernels.own_loops(1, b.size, 0) else np.nan
            blas = _best(_steps_blas, a, b, T_STEPS)
            stream = _best(_stream, b.reshape(b.size), T_STEPS)
            on = np.nan                                  # b's columns not whole panels: none
            if b.shape[1] % panels.panel_width(b.dtype) == 0:
                packed = panels.pack_into(b, empty_aligned(panels.panels_shape(*b.shape, b.dtype), b.dtype))
                on = _best(_steps, a, packed, T_STEPS, 0)
            out.append((G, H, direction, b.nbytes, own, blas, stream, on))
    return out


def to_markdown(rows, one_row=(), env=None):
    env = environment() if env is None else env
    limit = team.small_matrix_limit()
    lines = ["# Per-step products: own loops, BLAS and weights packed in panels", "",
             f"`python -m scratchrnn.bench.products`; {describe(env)}", "",
             f"{T_STEPS} products per timed call, best of {ROUNDS} alternating rounds of {ROUNDS} calls. "
             f"BLAS small-matrix limit here: {limit:,} multiply-adds"
             f"{' (none: these BLAS kernels have no small-matrix path)' if not limit else ''}. "
             "`own / BLAS`: the own loops' time over BLAS's (below 1: the own loops are faster). "
             "`rule`: the way `kernels.own_loops` picks; `ok` where it picked the faster way or "
             "the two are within 10 %.", "",
             "| BLAS threads | dtype | G | H | product | rows | rows·K·M | own GFLOP/s | BLAS GFLOP/s "
             "| own / BLAS | rule | |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    right = 0
    for threads, dtype, G, H, direction, n, own, blas, pick in rows:
        K, M = (H, G * H) if direction == "forward" else (G * H, H)
        flop = 2.0 * n * K * M * T_STEPS
        ratio = own / blas
        ok = (ratio <= 1.1) if pick == "own loops" else (ratio >= 1 / 1.1)
        right += ok
        lines.append(f"| {threads or 'all'} | {dtype} | {G} | {H} | {direction} {n}×{K} · {K}×{M} | {n} "
                     f"| {n * K * M:,} | {flop / own / 1e9:.1f} | {flop / blas / 1e9:.1f} | {ratio:.2f} "
                     f"| {pick} | {'ok' if ok else '**slower**'} |")
    lines += ["", f"The rule picked the faster way, or one within 10 %, at {right} of {len(rows)} cases."]
    if one_row:
        lines += ["", "## One row: how fast the weights are read", "",
                  "float32, BLAS on one thread. Each step reads all of b once; GB/s is b's bytes over the "
                  "time of one product. `stream`: a vectorised sum over an array of b's size, in one vector "
                  "of sums, whose adds can hold it below the rate of the cache that holds b: a reference, "
                  "not a bound. "
                  "`own loops` is empty where the rule leaves one row to BLAS (b over SINGLE_ROW_MAX elements). "
                  "`panels`: b packed in panels (on cache lines, as a workspace holds them; `panels.use_panels` "
                  "picks them where it says `panels`).", "",
                  "| G | H | product | b KiB | own loops GB/s | BLAS GB/s | panels GB/s | stream GB/s "
                  "| best of the three / stream | rule |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for G, H, direction, nbytes, own, blas, stream, on in one_row:
            K, M = (H, G * H) if direction == "forward" else (G * H, H)
            rate = {name: nbytes * T_STEPS / t / 1e9
                    for name, t in (("own", own), ("blas", blas), ("stream", stream), ("panels", on))}
            best = np.nanmax([rate["own"], rate["blas"], rate["panels"]])
            own_text, panels_text = ("" if np.isnan(t) else f"{rate[k]:.0f}" for k, t in (("own", own), ("panels", on)))
            pick = "panels" if panels.use_panels(1, K, M, "float32") else "plain"
            lines.append(f"| {G} | {H} | {direction} 1×{K} · {K}×{M} | {nbytes // 1024:,} | {own_text} "
                         f"| {rate['blas']:.0f} | {panels_text} | {rate['stream']:.0f} "
                         f"| {best / rate['stream']:.2f} | {pick} |")
    return "\n".join(lines) + "\n"


def panels_markdown(rows):
    """The third table (``measure_panels``) as Markdown."""
    lines = ["", "## Weights packed in panels once per pass", "",
             f"BLAS on one thread (as in a row block). `plain`: the weights as a matrix, multiplied the way "
             f"`matmul_add_into` picks for them (named). `pack ms`: packing the weights, once per pass (per "
             f"{T_STEPS} steps here). `rule`: whether `panels.use_panels` picks the panels; `ok` where it "
             "picked the faster way or the two are within 10 %.", "",
             "| dtype | G | H | product | rows | panels GFLOP/s | plain GFLOP/s | plain way | panels / plain "
             "| pack ms | rule | |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    right = 0
    for dtype, G, H, direction, n, on, off, plain, pack, pick in rows:
        K, M = (H, G * H) if direction == "forward" else (G * H, H)
        flop = 2.0 * n * K * M * T_STEPS
        ratio = on / off
        ok = (ratio <= 1.1) if pick else (ratio >= 1 / 1.1)
        right += ok
        lines.append(f"| {dtype} | {G} | {H} | {direction} {n}×{K} · {K}×{M} | {n} | {flop / on / 1e9:.1f} "
                     f"| {flop / off / 1e9:.1f} | {plain} | {ratio:.2f} | {pack * 1e3:.2f} "
                     f"| {'panels' if pick else 'plain'} | {'ok' if ok else '**slower**'} |")
    lines += ["", f"The rule picked the faster way, or one within 10 %, at {right} of {len(rows)} cases."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    text = to_markdown(measure(), measure_one_row()) + panels_markdown(measure_panels())
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
