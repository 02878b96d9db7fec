"""The per-step product with the weights packed once per pass into column panels.

``c + a @ b`` for a few rows of ``a`` (N, K) and a large ``b`` (K, M) is what every step of a
time loop computes. Read row by row, ``b`` is streamed from memory once per few rows of
``a``; OpenBLAS instead packs all of ``b`` on every call. Here ``b`` is packed once per pass
into panels of ``NR`` columns, ``panels[p, k, j] = b[k, p·NR + j]`` (``pack_into``), and each
step multiplies panel by panel: a panel (K × NR) stays in L2 while every group of eight
rows of ``a`` passes over it, and the 8 × NR sums of a group stay in registers for all K
(``_row_group``; the rows past the last group of eight go in pairs, ``_row_pair``). So ``b`` is
read from memory once per step, whatever the number of rows. Where ``b`` does not stay in the
caches (float64 ``W_hh`` of the LSTM and GRU at H = 1024), that read sets the pace: each step of
a group's sums asks for the panel row ``PREFETCH_ROWS`` ahead (``prefetch_row``); left to
itself, the CPU's prefetcher fetched the rows too late (numbers at ``PREFETCH_ROWS``).

One row (a single sequence) is summed against four panels at a time (``_one_row_group``): its
4 × NR sums stay in registers for all K, and each four panel rows' products are summed before
they are added to them, the order of the own loops' sums (``products._add_one_row``). From
panels, one row reads four panels side by side, each in the order it lies in memory; read as a
matrix by the own loops, ``b`` came four rows at a time from four places, and each four rows'
sums were loaded and stored again.

The sums live in a tile on the stack (``vectors.zeroed_tile``): with a fixed size and no other
pointer to it, LLVM keeps it in vector registers. Each step of the sums is a multiply-add of one
panel row into one tile row (``vectors.fma_row``), compiled as two explicit 512-bit vector FMAs:
Numba's loops get 256-bit vectors on CPUs that prefer them (LLVM's choice for this Xeon), and
at that width the tile of eight rows would not fit the registers. Eight rows in 512-bit
vectors against four in 256-bit ones, one core of the Xeon, float32, timed one after the
other: 128–144 against 99–101 GFLOP/s at 32 × 512 by 512 × 2048, 107–109 against 77–78 at 8
rows (benchmarks/results/xeon-avx512-2026-12-02-wide/wide_ab_cpu.md has the whole passes).
``NUMBA_DISABLE_JIT=1`` runs the same lines with a NumPy tile and loops for the vector steps.
"""


import numpy as np

from scratchrnn.kernels.gates import is_single
from scratchrnn.kernels.jit import jit, jit_fma, jit_inline
from scratchrnn.kernels.transpose import transpose_into, wide_registers
from scratchrnn.kernels.vectors import ROW_BYTES, fma_four_rows, fma_row, prefetch_row, store_row, zeroed_tile

PANEL_BYTES = ROW_BYTES  # a panel row: 32 float32 or 16 float64, two 512-bit vectors either way
ROWS = 8               # rows of a per group: 8 × NR sums, 16 of AVX-512's 32 vector registers
PAIR = 2               # rows of a group past the last whole group of ROWS (``panels_add_into``)
ONE_ROW = 4            # panels a single row is summed against at once: 4 × NR sums in 8 registers
# How far ahead of the row being read each step of the sums prefetches: 64 rows (8 KiB), into
# every cache level (``vectors.PREFETCH_LOCALITY``).
# One core of an AMD EPYC Zen 4, b of 1024 × 4096 (benchmarks/results/zen4-avx512-2026-12-06-
# prefetch/prefetch_cpu.md): float64 (32 MiB, which the shared L3 of 32 MiB did not keep), 8 rows,
# 22.5–23.2 GFLOP/s without, 43.5–45.6 with (54 with b in cache); 37.5 asking 16 rows ahead, 44.0
# at 32 (one run each); float32 (16 MiB) 92.7–93.3 against 110.8–110.9. With b in cache, within
# 2 %. Whole float64 forward+backward passes at T=32 N=16 H=1024: LSTM and GRU about 0.78x the time.
PREFETCH_ROWS = 64

# When a pass packs its weights (``use_panels``). Measured on the Intel Xeon (AVX-512),
# ``python -m scratchrnn.bench.products`` (benchmarks/results/xeon-avx512-2026-12-02-wide/
# products_cpu.md): one thread, 128 steps per shape, H = 128, 256, 512 with G = 1, 3 and 4,
# against the plain weights multiplied the way ``products.matmul_add_into`` picks (own loops, or
# BLAS on one thread, with its small-matrix kernels where they take the product). From 8 to
# 64 rows the panels took 0.33–1.11x the plain time in float32 and 0.47–1.07x in float64
# (e.g. float32 32 × 512 by 512 × 2048: 155 against 85 GFLOP/s); the rule picks the faster
# way or one within 10 % at 178 of 180 cases, the other two 1.11x (8 × 256 by 256 × 256,
# BLAS's small-matrix kernel). With 4 rows, half of a group repeats a row and the panels
# lost (0.85–1.71x, an earlier run). More than 64 rows and b with a side under 128 were not
# measured, so BLAS keeps them.
MIN_ROWS = 8
MAX_ROWS = 64
MIN_SIDE = 128         # rows and columns of b
# One row (``_one_row_group``) takes its b from panels up to ``ONE_ROW_MAX_BYTES``, a b that stays
# in L2. Measured on the Intel Xeon (``python -m scratchrnn.bench.products``, one thread, float32
# and float64, H = 32 … 256 with G = 1, 3 and 4): the panels took 0.48–0.86x the time of the own
# loops (``products._add_one_row``) wherever those take one row (b of at most 2^17 elements; 40
# shapes, benchmarks/results/xeon-avx512-2026-12-07-aligned/products_cpu.md).
# Past that, a serial pass gives one row to BLAS on all cores. Whole forward+backward calls at
# T=128 N=1, the two ways in turn in one process (benchmarks/results/xeon-avx512-2026-12-07-
# aligned/one_row_calls.txt): float32 LSTM, GRU and RNN with 768 KiB–1 MiB of W_hh 0.71–0.74x
# the time with BLAS; float32 LSTM H=512 (4 MiB) 2.2x, one core reading the panels from L3 where
# BLAS reads on both; float64 at 2 MiB 0.91x (LSTM) and 0.95x (RNN), within the host's ±10 %, so
# BLAS keeps those.
ONE_ROW_MAX_BYTES = 1 << 20


def panel_width(dtype):
    """Columns per panel, ``NR``, for arrays of ``dtype``."""
    return PANEL_BYTES // np.dtype(dtype).itemsize


def panels_shape(K, M, dtype):
    """Shape of ``b`` (K, M) packed: (M / NR, K, NR). M must be a multiple of NR."""
    nr = panel_width(dtype)
    if M % nr:
        raise ValueError(f"panels: expected M a multiple of {nr} columns, got M={M}")
    return (M // nr, K, nr)


def use_panels(rows, K, M, dtype):
    """Whether a pass multiplies ``rows`` rows per step by a b (K, M) of ``dtype`` from its
    panels: 8 to 64 rows with both sides of b at least 128, or one row with b of at most
    ``ONE_ROW_MAX_BYTES``; M a multiple of the panels' width either way. Never on a CPU without
    AVX-512 (``wide_registers``): with its 32 vector registers the 16 sums of a group and the
    values they multiply fit in them. The rules above were measured on such CPUs only; with
    AVX2's 16 registers the sums would spill to memory, so there the plain ways stay."""
    if rows == 1:
        nr = panel_width(dtype)
        return K * M * (PANEL_BYTES // nr) <= ONE_ROW_MAX_BYTES and M % nr == 0 and wide_registers()
    if not MIN_ROWS <= rows <= MAX_ROWS or K < MIN_SIDE or M < MIN_SIDE:
        return False                                     # decided without a dtype lookup: rows or b out of range
    return M % panel_width(dtype) == 0 and wide_registers()


@jit
def pack_into(b, panels):
    """``panels[p, k, j] = b[k, p·NR + j]`` for b (K, M) and panels (M / NR, K, NR); returns
    panels. A b with rows in memory (C order) is copied a row at a time; a transposed view
    (``W_hh.T``) holds each panel as NR rows of ``W_hh``, which ``transpose.transpose_into``
    copies a register tile at a time (Intel Xeon, float32, W_hhᵀ of H = 512 and 1024: 0.34
    and 1.45 ms, against 0.66 and 2.6 ms element by element down the columns of the view)."""
    K, M = b.shape
    P, _, NR = panels.shape
    if panels.shape != (M // NR, K, NR) or M % NR:
        raise ValueError("pack_into: expected panels of shape (M / NR, K, NR) for b (K, M)")
    if b.strides[0] < b.strides[1]:                      # b[k + 1, j] is next to b[k, j]: b = aᵀ
        a = b.T                                          # (M, K)
        for p in range(P):
            transpose_into(a[p * NR:(p + 1) * NR], panels[p])
        return panels
    for p in range(P):
        panel = panels[p]
        for k in range(K):
            for j in range(NR):
                panel[k, j] = b[k, p * NR + j]
    return panels


@jit
def columns(panels):
    """(K, M) of the ``b`` that ``panels`` hold."""
    P, K, NR = panels.shape
    return K, P * NR


@jit
def panels_add(c, a, panels):
    """``c + a @ b`` as a new (N, M) array (``panels_add_into``)."""
    out = np.empty((a.shape[0], columns(panels)[1]), dtype=a.dtype)   # (N, M)
    return panels_add_into(out, c, a, panels)


@jit_fma
def panels_add_into(out, c, a, panels):
    """``out[...] = c + a @ b``, b given as its panels (``pack_into``); returns out. c (N, M)
    or None for zero; out (N, M), C-contiguous, overlapping none of the others.

    Rows go in groups of ``ROWS``, the rows past the last whole group in pairs (``PAIR``); an
    odd last pair repeats its row (computed the same way, not written again). Every row is
    summed in the same order whatever its group. One row alone (N = 1, a pass over one
    sequence) goes against four panels at a time instead (``_one_row_group``), each four
    products summed before they join its sum. A group's time is its multiply-adds, so a
    short last group of eight wasted the rows it repeated. 50 rows × 128 by 128 × 512 (a block
    of MNIST's batch of 100; one core of an AMD EPYC Zen 4, float32, 28 steps): 70.7 µs a step
    with a seventh group that repeated six of its rows, 62.9 with a pair (48 rows: 60.3); by
    W_hh (512 × 128) back, 64.5 against 59.6.

    ``c`` is copied into ``out`` first, in memory order, and each group's sums are then added
    in place. A group that read its own block of ``c`` instead (``ROWS`` pieces of ``PANEL_BYTES``,
    a row apart) waited on memory for each piece, where the copy streams ``c`` in order. One
    core of an AMD EPYC Zen 5, float32, 128 steps each adding a different ``c`` as a time loop
    does: 32 × 512 by 512 × 512 ran at 105–109 GFLOP/s reading ``c`` in the groups and at 196–200
    copying it first; 64 × 128 by 128 × 512 at 39–46 against 151; 8 × 512 by 512 × 2048 at
    123–174 against 195–199 (benchmarks/results/zen5-avx512-2026-12-03-evening/
    panels_copy_products.md; whole models: panels_copy_ab.md there).
    """
    N, K = a.shape
    P, _, NR = panels.shape
    if (panels.shape[1] != K or out.shape != (N, P * NR) or not out.flags.c_contiguous
            or (c is not None and c.shape != out.shape)):
        raise ValueError("panels_add_into: expected a (N, K), panels (M / NR, K, NR), c (N, M) or None "
                         "and a C-contiguous out (N, M)")
    if NR * panels.itemsize != PANEL_BYTES:             # the tile's width comes from the dtype
        raise ValueError("panels_add_into: expected panels of PANEL_BYTES // itemsize columns (panels_shape)")
    if is_single(a) != is_single(panels):
        raise ValueError("panels_add_into: expected a and panels of one dtype")
    if c is not None:
        out[...] = c                                   # (N, M)
    if N == 1:
        for p in range(0, P - P % ONE_ROW, ONE_ROW):
            _one_row_group(out, c is not None, a, panels, p)
        for p in range(P - P % ONE_ROW, P):
            _one_row_single(out, c is not None, a, panels, p)
        return out
    whole = N - N % ROWS                               # rows in whole groups
    for p in range(P):
        for n in range(0, whole, ROWS):
            _row_group(out, c is not None, a, panels[p], p * NR, n, N - 1)
        for n in range(whole, N, PAIR):
            _row_pair(out, c is not None, a, panels[p], p * NR, n, N - 1)
    return out


@jit_fma
def _row_group(out, add, a, panel, j0, n, last):
    """``out[r, j0:j0+NR] += a[r] @ panel`` (``add``), else ``=``, for the ``ROWS`` rows
    r = n, n + 1, …; rows past ``last`` sum row ``last`` again and are not written."""
    _sum_rows(_tile(panel), out, add, a, panel, j0, n, last)


@jit_fma
def _row_pair(out, add, a, panel, j0, n, last):
    """``_row_group`` for ``PAIR`` rows."""
    _sum_rows(_pair_tile(panel), out, add, a, panel, j0, n, last)


@jit_fma
def _one_row_group(out, add, a, panels, p):
    """``out[0, cols] += a[0] @ b[:, cols]`` (``add``), else ``=``, for the columns of the
    ``ONE_ROW`` panels p, p + 1, …"""
    _sum_one_row(_one_row_tile(panels[p]), out, add, a, panels, p)


@jit_fma
def _one_row_single(out, add, a, panels, p):
    """``_one_row_group`` for panel p alone."""
    _sum_one_row(_single_tile(panels[p]), out, add, a, panels, p)


@jit_inline
def _sum_one_row(acc, out, add, a, panels, p):
    """One row's sums against the panels p, p + 1, … (a tile row each): each four panel rows'
    products summed first, then added to the row's sum, which starts at zero; the rows past the
    last four multiply-added one by one; the sums then added into ``out`` (``add``: c is there)."""
    count, NR = acc.shape
    K = a.shape[1]
    k = 0
    while k + 4 <= K:
        a0, a1, a2, a3 = a[0, k], a[0, k + 1], a[0, k + 2], a[0, k + 3]
        for i in range(count):                          # unrolled: a constant
            panel = panels[p + i]
            fma_four_rows(acc[i], a0, a1, a2, a3, panel[k], panel[k + 1], panel[k + 2], panel[k + 3])
        k += 4
    for k in range(k, K):
        for i in range(count):
            fma_row(acc[i], a[0, k], panels[p + i, k])
    for i in range(count):
        store_row(out[0, (p + i) * NR:(p + i + 1) * NR], acc[i], add)


@jit_inline
def _sum_rows(acc, out, add, a, panel, j0, n, last):
    """The sums of a group of rows in the tile ``acc`` (rows, NR), zeroed and on the stack of the
    group's function, into which this is inlined: the tile's shape is a constant there, so the
    loop over its rows is unrolled and the sums stay in registers."""
    rows, NR = acc.shape
    for k in range(a.shape[1]):
        prefetch_row(panel, k + PREFETCH_ROWS)
        b_k = panel[k]                                  # (NR,)
        for i in range(rows):                           # unrolled: a constant
            fma_row(acc[i], a[min(n + i, last), k], b_k)
    for i in range(min(rows, last + 1 - n)):
        store_row(out[n + i, j0:j0 + NR], acc[i], add)


# The tiles of the sums, each for one function (``vectors.zeroed_tile``): a group of eight rows
# (``_row_group``), a pair (``_row_pair``), one row against four panels (``_one_row_group``) or one.
_tile = zeroed_tile(ROWS)
_pair_tile = zeroed_tile(PAIR)
_one_row_tile = zeroed_tile(ONE_ROW)
_single_tile = zeroed_tile(1)
