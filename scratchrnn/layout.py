"""How a layer's pass runs: in how many row blocks, and the form of ``W_hh`` its steps read;
whether the two directions of a bidirectional layer run side by side; in what pieces the
backward's gradient GEMMs walk their rows.

``scratchrnn.functional`` asks this module before each pass, the models before each
bidirectional layer. The rules for row blocks and the per-step products, and the
measurements behind them, are in ``kernels.team`` (row blocks) and ``kernels.products`` and
``kernels.panels`` (the per-step products); those for the directions and the pieces are here. ``w_hh`` is
(G·H, P) throughout: P = H, or the LSTM's projection size.
"""

import math

import numba

from . import kernels
from .kernels import panels, sums, team
from .workspace import take


def blocks(T, N, w_hh):
    """In how many row blocks a pass over T steps of N sequences runs (``kernels.team.blocks``)."""
    return team.blocks(T, N, w_hh.shape[1], w_hh.shape[0], w_hh.dtype)


# The two directions of a bidirectional layer run side by side, one per thread
# (``kernels.team.side_by_side``), for fewer sequences than two row blocks take (where each
# direction's passes are serial for want of rows) and where the products of all of a
# direction's steps have at least this many multiply-adds (T · N · P · G·H). Measured with
# ``python -m scratchrnn.bench.directions`` (benchmarks/results/zen5-avx512-2026-12-03-directions/,
# 2-core AMD EPYC Zen 5, float32, one layer, forward+backward, N = 1 and 4, four runs): from
# 3·10^7 on, side by side took 0.66–0.98x the time of one direction after the other at 40 of 44
# points and 1.02–1.09x at the other four; below it 0.80–2.91x, a loss at most points (handing
# a direction to the other thread, and the two taking turns at the Python around the passes,
# cost more than the second core gives back at that size). The second core of that virtual
# machine was shared with other work on the host at the time (most samples in those tables
# spread by 20–60 %), which the limit does not correct for. Serial passes of more sequences
# (those whose per-step products BLAS runs on all its threads) were not measured: they keep
# one direction after the other.
DIRECTIONS_MIN_WORK = 30_000_000


def directions_side_by_side(T, N, w_hh):
    """Whether a bidirectional layer runs its two directions at once (each of T steps of N
    sequences, weights ``w_hh``): with JIT on, at least 2 Numba threads, fewer than
    2 · ``kernels.team.MIN_ROWS`` sequences (too few for row blocks) and enough work
    (``DIRECTIONS_MIN_WORK``). Numba's threads take one parallel region at a time, so this
    holds only where the passes are serial."""
    GH, P = w_hh.shape
    if N >= 2 * team.MIN_ROWS or T * N * P * GH < DIRECTIONS_MIN_WORK or numba.config.DISABLE_JIT:
        return False
    return numba.get_num_threads() >= 2


def loop_blocks(nblocks, N, w_hh):
    """Row blocks for the time loops of a pass in ``nblocks`` blocks (``kernels.team.loop_blocks``)."""
    return team.loop_blocks(nblocks, N, w_hh.shape[1], w_hh.shape[0], w_hh.dtype)


def _panels(loop_nblocks, N, K, M, dtype):
    """Whether the loops' blocks (the largest: ⌈N / loop_nblocks⌉ rows) multiply a (K, M)
    weight matrix from its panels (``kernels.panels.use_panels``).

    Not in a serial pass of more than ``kernels.SMALL_N`` rows, whose products BLAS runs on
    all its threads (the panels were measured against BLAS on one thread, as in a block; one
    row's against BLAS on all of them, ``kernels.panels.ONE_ROW_MAX_BYTES``), and not with
    ``NUMBA_DISABLE_JIT=1``, where their loops would run as Python in place of one BLAS call
    (the kernel tests still step through them there).
    """
    rows = -(-N // loop_nblocks)
    if (loop_nblocks == 1 and rows > kernels.SMALL_N) or numba.config.DISABLE_JIT:
        return False
    return panels.use_panels(rows, K, M, dtype)


def forward_weights(w_hh, N, loop_nblocks, workspace=None):
    """``W_hhᵀ`` (P, G·H) as a forward's loops over N sequences in ``loop_nblocks`` blocks read it.

    - Packed in panels (``kernels.panels``) where a block's rows pick them: made once per pass.
    - For one sequence whose product BLAS takes: the transposed view.
    - Otherwise a C-contiguous copy, made once per pass.

    ``kernels.matmul_add_into``'s own loops (a few rows) stream through the copy's rows, and
    OpenBLAS's small-matrix kernel (AVX-512 builds, a block's product of at most 10^6
    multiply-adds) multiplied 8×128 rows by a 128×512 ``W_hhᵀ`` at 187–220 GFLOP/s on 2 cores
    from the copy and at 49–66 from the view (Zen 4). One row against a large ``W_hhᵀ`` is a
    matrix-vector product, which ran faster on the view: LSTM T=128 N=1 H=1024 took 83 ms
    with it and 113–121 ms with the copy. Where BLAS packs W_hhᵀ on every call (more rows)
    it multiplied from the copy as fast or faster (1.0–1.24x; 64 × 512 by 512 × 2048: 1.15x).
    """
    GH, P = w_hh.shape
    if _panels(loop_nblocks, N, P, GH, w_hh.dtype):
        shape = panels.panels_shape(P, GH, w_hh.dtype)
        return panels.pack_into(w_hh.T, take(workspace, "w_hh_t_panels", shape, w_hh.dtype))
    if N == 1 and not kernels.own_loops(1, w_hh.size, 0):    # for one row the third argument plays no part
        return w_hh.T
    return kernels.transpose_into(w_hh, take(workspace, "w_hh_t", w_hh.T.shape, w_hh.dtype))   # (P, G·H)


# One row's backward product ``da_t W_hh`` is a matrix-vector product, which BLAS ran up to 3x
# faster on W_hh stored transposed (the forward's way round) than on W_hh itself, for W_hh of
# 3–6 MB. Measured on the Intel Xeon (AVX-512, OpenBLAS SkylakeX, 2 threads, 128 steps of the
# product alone): float32 2048 × 512 4.4 against 10.1 ms, 1536 × 512 2.4 against 7.3, 1024 ×
# 1024 4.5 against 10.3; float64 1536 × 512 12.6 against 17.4. Smaller (2 MB: 1.14 ms both ways)
# or larger (16 MB: 36.8 against 37.7) it did not pay, nor for float64's 8 MB in a whole pass
# (LSTM H=512: 1.03x its time, though the product alone ran 0.72x). The copy cost 0.7–1.5 ms
# when these were measured, what 16–40 steps save, and it is made from ``ONE_ROW_COPY_MIN_T``
# steps; copied through register tiles (``kernels.transpose``) it now costs 0.4–0.5 ms in
# float32 and 0.8 ms in float64 (benchmarks/results/xeon-avx512-2026-12-03-chunks/
# transpose_ab_cpu.md), and shorter sequences were not measured again. Whole passes,
# forward+backward at T=128 N=1: float32 LSTM H=512 0.79x the time on W_hh, GRU H=512 0.67x,
# RNN H=1024 0.80x; float64 GRU H=512 0.91x. Not measured on other BLAS builds, nor between
# 2 and 3 MB.
# On an AMD EPYC Zen 4 (same BLAS, 2 threads; forward+backward at T=128 N=1, the two rules
# interleaved, medians, benchmarks/results/zen4-avx512-2026-12-05-reads/README.md) the copy paid
# further for a tall W_hh (the LSTM's 4H × H, the GRU's 3H × H), whose product BLAS ran slowly
# on W_hh itself: float32 LSTM H=1024 (16 MiB) 0.84–0.96x the time without it in three runs,
# GRU H=1024 (12 MiB) 0.97–0.98x, float64 LSTM H=512 (8 MiB) 0.88–0.96x; not for a square one
# (RNN H=2048, 16 MiB: 1.03x; H=1024, 4 MiB: 1.02x, kept as the Xeon had it). At T=64 the
# LSTM's 16 MiB did not pay (1.02x). On the Xeon, the products alone above (0.9 ms saved at
# 16 MB) against the copy's 2.2 ms there (``kernels.transpose``) put 16 MiB at a loss of about
# 1.3 ms a pass, and its float64 LSTM H=512 lost 3 %. Timed there later as whole calls, without
# the copy the float32 LSTM at T=128 N=1 H=1024 (forward+backward) took 0.863x and 0.880x the
# time with it; the copy alone took 5.4–6.1 ms
# (benchmarks/results/xeon-avx512-2026-12-07-tried/README.md). The limits follow the Zen 4.
ONE_ROW_COPY_BYTES = (2 << 20, 6 << 20)   # W_hh's size: more than the first, at most the second
ONE_ROW_COPY_TALL_MAX = 16 << 20          # ... at most this for a tall W_hh (G·H ≥ 3P)
ONE_ROW_COPY_MIN_T = 64


def backward_weights(w_hh, T, N, loop_nblocks, workspace=None):
    """``W_hh`` (G·H, P) as a backward's loops over T steps of N sequences read it for
    ``δ_{t-1} = da_t W_hh``:

    - packed in panels where a block's rows pick them (made once per pass);
    - for one sequence, with W_hh of the sizes above (``_one_row_copy_pays``) and T long
      enough: the transposed view of a copy of ``W_hhᵀ`` (made once per pass), which BLAS
      multiplies as it does the forward's product;
    - otherwise ``w_hh`` itself.
    """
    GH, P = w_hh.shape
    if _panels(loop_nblocks, N, GH, P, w_hh.dtype):
        shape = panels.panels_shape(GH, P, w_hh.dtype)
        return panels.pack_into(w_hh, take(workspace, "w_hh_panels", shape, w_hh.dtype))
    if N == 1 and T >= ONE_ROW_COPY_MIN_T and _one_row_copy_pays(w_hh):   # past products.SINGLE_ROW_MAX: BLAS
        return kernels.transpose_into(w_hh, take(workspace, "w_hh_t", (P, GH), w_hh.dtype)).T   # (G·H, P), F order
    return w_hh


def _one_row_copy_pays(w_hh):
    """Whether W_hh (G·H, P) has a size where one row's product pays for the copy of ``W_hhᵀ``:
    more than 2 MiB and at most 6 MiB, or at most 16 MiB where W_hh is tall (G·H ≥ 3P)."""
    GH, P = w_hh.shape
    lo, hi = ONE_ROW_COPY_BYTES
    return lo < w_hh.nbytes <= (ONE_ROW_COPY_TALL_MAX if GH >= 3 * P else hi)


# The backward's GEMMs over all T·N rows (dx, dW_ih, dW_hh) each read every row of da. Where
# da, x, h and dx together (R · (G·H + 2·I + P) values) are at least ``PIECES_MIN_BYTES``, they
# walk the rows in pieces of ``PIECE_ROWS`` (rounded up to whole chunks, ``kernels.sums``), all
# three on one piece while its rows of da are in the core's cache, where such a piece of da
# takes at most ``PIECE_MAX_BYTES``. Measured on 2 cores (AMD EPYC Zen 4, L2 1 MiB per core,
# L3 32 MiB; float32, T·N rows in 2 blocks, interleaved with the GEMMs without pieces): 0.85–0.95x
# the time from 16 MiB on (LSTM T·N = 8192 … 32768 with H = 64, 128; the RNN's and GRU's at
# T·N = 32768, H = 32, 128; the GRU's at T·N = 8192, H = 128), 1.00–1.02x below it (7–14
# MiB: H = 32 and 128); where a piece of da took 2 MiB (H = 512), 1.02–1.06x. Where 256 rows
# of da take more than ``PIECE_MAX_BYTES``, a piece has as many rows as fit in it, down to
# ``MIN_PIECE_ROWS``: pieces of 128 rows (512 KiB of da) took 0.925–0.945x the time of a whole
# float64 LSTM forward+backward at H = 128 (T = 128, N = 64 and 256; T = 32, N = 256), 0.99–
# 1.01x at float32 H = 256 and float64 RNN H = 512; pieces of 64 rows (float32 LSTM H = 512,
# T·N = 8192) took 1.07–1.10x. Same machine, in-process, alternating calls (benchmarks/results/
# zen4-avx512-2026-12-04-late/pieces_rows_ab.md).
PIECE_ROWS = 256
MIN_PIECE_ROWS = 128
PIECES_MIN_BYTES = 16 << 20
PIECE_MAX_BYTES = 512 << 10

# Where BLAS has small-matrix kernels (``kernels.team.small_matrix_limit``: OpenBLAS's AVX-512
# builds, products of at most 10^6 multiply-adds, which skip packing), a pass's three GEMMs walk
# pieces those kernels take instead: r rows with r · G·H · max(I, P) within the limit, each weight
# gradient one GEMM per piece (the RNN's and GRU's chunks are then the pieces). A term of a weight
# gradient passes through r + ⌈T·N / r⌉ − 2 additions, at most T + N − 2 (torch's bound for its
# per-step sums, which the RNN's and GRU's chunks of max(T, N) rows keep, ``kernels.sums``) while
# min(T, N) ≤ r ≤ max(T, N): r is kept within them, and at least ``MIN_SMALL_PIECE_ROWS``. In
# float32 (T·N = 2048, pieces of 64 rows; tests/test_float32_accuracy.py) the LSTM's dW_ih and
# dW_hh came 0.62–0.68x torch's RMS distance from the float64 truth, against 0.99–1.07x as one
# GEMM; the RNN's and GRU's dW_ih 0.74–0.79x, against 0.87–0.90x in chunks of 128, their dW_hh the
# same (chunks of 64 either way). Measured on a 2-core AMD EPYC Zen 4: a weight gradient (G·H, K)
# += daᵀ x alone, one thread, through SciPy's BLAS (a throwaway script): 90–107 GFLOP/s in float32
# over pieces of the most rows the kernels take against 58–85 as one GEMM or in chunks of 128–256
# rows (G·H × K = 64 × 64 … 512 × 32, 512 × 28, 384 × 128), 45–55 against 32–46 in float64. Whole
# forward+backward passes against the same without any pieces (``python -m
# scratchrnn.bench.pieces``, float32, benchmarks/results/zen4-avx512-2026-12-05-small-pieces/,
# small_pieces_cpu.md and small_pieces_rnn_gru_cpu.md): the LSTM at H = 32 and 64 with 16–256
# sequences 0.83–0.93x the time, 0.69–0.99x with 2; the RNN and GRU 0.77–0.91x where the pieces
# have fewer rows than max(T, N) (H = 64 and 128), 0.92–1.03x where they have max(T, N) (one point
# with its baseline's spread at 94 %: 0.84x); pieces of 15 rows (the LSTM at H = 128 with all
# columns; it takes groups of columns instead, below) 0.92–1.07x, and one sequence (T = 128,
# H = 64: pieces of 61 of its 128 rows; in-process, alternating) 1.05x, so neither takes them.
MIN_SMALL_PIECE_ROWS = 32

# Where fewer rows than that, or than min(T, N), fit with all G·H columns of da (the LSTM at
# H = 128: 15 rows), each weight gradient of a piece is one GEMM per group of da's columns
# (rows of the gradient), half of them, a quarter …, with as many rows as then fit, and dx one
# GEMM over the block after the pieces (``kernels.sums.gemms_in_pieces``); each element's sum
# runs over the same rows as with all columns. Groups of at least ``MIN_SMALL_PIECE_COLS``.
# Measured on a 2-core AMD EPYC Zen 4: the three gradient GEMMs of 256–2048 rows alone (one
# thread, a throwaway script) at 97–107 GFLOP/s in groups (G·H × K = 512 × 128 in groups of 128
# or 64; 1024 × 256 and 768 × 256 in groups of 64) against 92–97 without; whole forward+backward
# passes, in groups against without (``python -m scratchrnn.bench.groups``, float32, interleaved,
# benchmarks/results/zen4-avx512-2026-12-05-groups/): 0.82–0.99x the time at 17 of 19 points
# with groups of 64–192 columns (H = 128 and 256, T = 32 and 128, N = 16 and 64; MNIST's layer,
# T = 28, N = 100, H = 128), 1.01–1.03x at the other two (32 rows of 64 and 96 columns); groups
# of 32 and 48 columns (H = 256) 0.93–0.98x at three points, but at H = 512 (16–48 columns,
# I = 512) 0.94–1.25x, a loss at 9 of 12.
MIN_SMALL_PIECE_COLS = 64


def _small_pieces(T, N, GH, K):
    """``(rows, columns)`` of the pieces of a pass's gradient GEMMs that BLAS's small-matrix
    kernels take, for weight gradients (G·H, K) over T steps of N sequences (see above): all G·H
    columns of da, else half of them, a quarter …, down to ``MIN_SMALL_PIECE_COLS``; ``(0, G·H)``
    where none fit."""
    limit, cols = team.small_matrix_limit(), GH
    while N > 1 and limit > 0:
        rows = min(limit // (cols * K), max(T, N))
        if rows >= max(min(T, N), MIN_SMALL_PIECE_ROWS):
            return rows, cols
        if cols < 2 * MIN_SMALL_PIECE_COLS or cols == 1:
            break
        cols = -(-cols // 2)
    return 0, GH


def gradient_pieces(T, N, nblocks, chunked, w_ih, w_hh):
    """``(chunk_rows, piece_rows, piece_cols)`` for the gradient GEMMs of a pass over T steps of N
    sequences in ``nblocks`` row blocks (``kernels.passes.param_grads``): dW_hh summed in chunks
    of max(T, N) rows where ``chunked`` (the RNN's and GRU's, ``kernels.sums``), and the pieces
    the three GEMMs walk the rows in (see ``MIN_SMALL_PIECE_ROWS`` first, then ``PIECE_ROWS``,
    ``MIN_PIECE_ROWS``); ``piece_rows`` = T·N: no pieces. ``piece_cols``: the columns of da each
    weight gradient's GEMM takes, all G·H but in some of the pieces for BLAS's small-matrix kernels.
    The LSTM's weight gradients (not ``chunked``) are one GEMM per piece, and so are every
    model's in the pieces for BLAS's small-matrix kernels (one per group of columns)."""
    R = T * N
    GH, P = w_hh.shape
    I = w_ih.shape[1]
    block = -(-R // nblocks)                         # rows of the largest block
    small, cols = _small_pieces(T, N, GH, max(I, P))
    if 0 < small < block:
        return small, small, cols
    chunk = max(T, N) if chunked else R
    whole = math.lcm(chunk, max(chunk, sums.INPUT_CHUNK)) if chunked else 1   # rows of whole chunks
    itemsize = w_hh.dtype.itemsize
    fit = max(MIN_PIECE_ROWS, min(PIECE_ROWS, PIECE_MAX_BYTES // (GH * itemsize)))
    piece = whole * -(-fit // whole)
    if (R * (GH + 2 * I + P) * itemsize < PIECES_MIN_BYTES or piece * GH * itemsize > PIECE_MAX_BYTES
            or piece >= block):
        return chunk, R, GH
    return (chunk if chunked else piece), piece, GH
