"""Sums over many rows that keep float32's digits: the bias gradients, and ``W_hh``'s.

A bias gradient is the column sum of every step's ``da`` over all T·N rows. Added row after
row, as NumPy's ``a.sum(axis=0)`` does, each term passes through up to R − 1 roundings, so
the error bound grows with R: |error| ≤ γ_{R−1}·Σ|a| with γ_n = n·u/(1 − n·u), u the unit
roundoff (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2). In float32 over
R = 2048 rows the RNN's and GRU's bias gradients were 2.4–3.4× further (RMS) from the float64
truth than torch's, whose sums are cascaded, and ``Linear``'s 6.4× (benchmarks/results/
xeon-avx512-2026-12-02-wide/accuracy_f32.md).

``column_sums`` adds the rows in blocks of ``BLOCK`` and then the block sums pairwise, as a
binary counter: after every second block the two newest sums of equal size are merged, so
``stack`` holds one sum per set bit of the number of blocks done. A term then passes through
at most ``BLOCK − 1`` additions in its block and ``⌊log₂ nblocks⌋ + 1`` after: in the merges
of its sum, then the last adding up of the sums left, which are as many as the set bits of
``nblocks``. ``pairwise_depth`` states that bound; the cost is a few rows more to read and
write, in cache.

``product_in_chunks`` takes ``aᵀ b`` over R rows as the sum of products over C rows each,
added one after another: a term passes through at most C + ⌈R/C⌉ − 2 additions instead of
R − 1 (or, where BLAS blocks its inner dimension, about block + R/block). torch's RNN and GRU
take ``dW_hh`` per step (N rows) and add the T steps' products one after another: N + T − 2
additions. With C = max(N, T) rows, the largest chunk that stays within that, the bound is
torch's. Measured in one GEMM, the float32 RNN's and GRU's ``dW_hh`` were 1.16–1.50x (RMS)
further from the float64 truth than torch's. BLAS adds each chunk's product into the sum as
it stores it (``blas.add_product_t``), so a chunk costs its GEMM and no pass of its own; a
GEMM over few rows still runs slower than one over many, so the LSTM, whose ``dW_hh`` torch
(oneDNN) takes in one GEMM too, keeps one (one per piece where the backward's GEMMs walk the
rows in pieces, ``scratchrnn.layout.gradient_pieces``). The exception is a product small enough
for BLAS's small-matrix kernels: there every model's backward walks pieces of C rows with
min(T, N) ≤ C ≤ max(T, N), as those kernels take them, within the same bound (``layout``).

The RNN's and GRU's ``dW_ih`` and ``Linear``'s ``dW`` are taken over chunks of at least
``INPUT_CHUNK`` rows: with OpenBLAS's AVX-512 (SkylakeX) kernels, one GEMM over T·N = 2048
rows left them 1.24–1.35x (RMS) further from the float64 truth than torch's, with its AVX2
kernels 1.01–1.08x (a 2-core AMD EPYC Zen 4).

``gemms_in_pieces`` runs a backward's three gradient GEMMs over a block's rows with these chunks,
in the pieces of rows (and groups of columns) that ``scratchrnn.layout.gradient_pieces`` gives.
Where the block's input rows are one-hot, ``dW_ih`` is no GEMM: ``weight_grad_one_hot`` sums
each column's rows of ``da`` pairwise, as ``column_sums`` sums a bias gradient's.
"""

import numpy as np

from scratchrnn.kernels.blas import add_product_t
from scratchrnn.kernels.jit import jit
from scratchrnn.kernels.one_hot import one_hot_columns

BLOCK = 8          # rows added in sequence before the pairwise stage: one row stays in L1 for them
# The fewest rows per chunk of the RNN's and GRU's dW_ih and Linear's dW (the LSTM's dW_ih
# stays one GEMM, or one per piece, as oneDNN's in torch: 0.99x torch's error on the Zen 4). Over 2048 rows,
# Linear's float32 dW in one GEMM was 1.35x (RMS) further from the truth than torch's, in
# chunks of 256 rows 1.14x, of 128 0.83x, of 64 0.65x; the RNN's and GRU's dW_ih in chunks
# of 128 0.87–0.90x (tests/test_float32_accuracy.py). Linear's backward took 0.75–1.04x the
# time of one GEMM (M × I × O = 1120 × 256 × 80 … 8192 × 512 × 512, same run).
INPUT_CHUNK = 128


@jit
def column_sums(a, out, r0, r1):
    """``out[...] = Σ_{r0 ≤ r < r1} a[r]``, in blocks of ``BLOCK`` rows added pairwise.

    a (R, W), out (W,); rows r0:r1 of a. No rows: zeros.
    """
    sum_of_rows(a, np.empty(0, np.int64), out, r0, r1)


@jit
def sum_of_rows(a, rows, out, i0, i1):
    """``out[...] = Σ_{i0 ≤ i < i1} a[rows[i]]`` (``a[i]`` where ``rows`` is empty), in blocks of
    ``BLOCK`` rows added pairwise (``column_sums``)."""
    nblocks = (i1 - i0 + BLOCK - 1) // BLOCK
    stack = np.empty((_levels(nblocks), out.size), dtype=out.dtype)   # one sum per set bit of blocks done
    depth = 0
    for b in range(nblocks):
        _block_sum(a, rows, stack[depth], i0 + b * BLOCK, min(i0 + (b + 1) * BLOCK, i1))
        depth += 1
        done = b + 1
        while done % 2 == 0:                  # the two newest sums cover as many rows: merge them
            add_into(stack[depth - 2], stack[depth - 1])
            depth -= 1
            done //= 2
    out[:] = 0
    for d in range(depth - 1, -1, -1):        # the rest, smallest first
        add_into(out, stack[d])


@jit
def product_in_chunks(a, b, out, r0, r1, chunk, add):
    """``out[...] = a[r0:r1]ᵀ b[r0:r1]`` as the sum of the products over ``chunk`` rows at a
    time, added in order; a (R, M), b (R, K) with their rows contiguous, out (M, K). With
    ``add`` the sum is added into ``out`` (a gradient accumulating), the first chunk too."""
    c1 = min(r0 + chunk, r1)
    if add:
        add_product_t(out, a[r0:c1], b[r0:c1])
    else:
        np.dot(a[r0:c1].T, b[r0:c1], out)
    for c0 in range(c1, r1, chunk):
        c1 = min(c0 + chunk, r1)
        add_product_t(out, a[c0:c1], b[c0:c1])


def chunked_depth(R, chunk):
    """The most additions a term goes through in ``product_in_chunks`` over R rows."""
    return max(min(R, chunk) + -(-R // chunk) - 2, 0)


def pairwise_depth(R):
    """A bound on the additions a term goes through in ``column_sums`` over R rows: its error
    is at most γ_depth·Σ|a| per column (see the module's docstring)."""
    nblocks = -(-R // BLOCK)
    return BLOCK - 1 + nblocks.bit_length() if R else 0


@jit
def _levels(nblocks):
    """Rows the stack needs for ``nblocks`` blocks: one per bit of the count, and one more."""
    levels = 1
    while nblocks > 0:
        levels += 1
        nblocks //= 2
    return levels


@jit
def _block_sum(a, rows, out, i0, i1):
    """``out[...] = Σ_{i0 ≤ i < i1} a[rows[i]]`` (``a[i]`` where ``rows`` is empty) row after
    row, i1 > i0.

    Elements indexed in place, not by handing a view of each row to ``add_into``: the views
    made for each such call (the row and its reshaped forms, each updating the array's
    reference count) cost more than a row's additions: this took 0.34x the time at 128 columns
    (benchmarks/results/zen4-avx512-2026-12-05/bias_sums_ab.md).
    """
    r = rows[i0] if rows.size else i0
    for j in range(out.size):
        out[j] = a[r, j]
    for i in range(i0 + 1, i1):
        r = rows[i] if rows.size else i
        for j in range(out.size):
            out[j] += a[r, j]


@jit
def add_into(out, a):
    """``out += a`` for two arrays of one shape, ``out`` contiguous, on the calling thread."""
    o, b = out.reshape(out.size), a.reshape(a.size)
    for j in range(o.size):
        o[j] += b[j]


@jit
def gemms_in_pieces(x2, h2, w_ih, d_a2, d_rec, dx2, out_ih, out_hh, chunk_rows, piece_rows, piece_cols,
                    r0, r1, add):
    """Rows r0:r1 of a backward's three gradient GEMMs (``passes.param_grads``): dx2 = d_a2 W_ih
    (where dx2 is not empty), out_ih (+)= d_a2ᵀ x2, out_hh (+)= d_recᵀ h2 (where out_hh is not
    empty), added with ``add``.

    Each GEMM reads every row of d_a2 once. Where d_a2 is too big for the caches, all three
    run on ``piece_rows`` rows at a time, which are still in the core's cache for the second
    and third; the weight gradients add the pieces' products in order. A piece is a whole
    number of dw_hh's chunks (``chunk_rows``) and dw_ih's (``INPUT_CHUNK`` or more), so each
    sum is the one the chunks give without pieces. Where ``piece_cols`` is less than d_a2's G·H
    columns, a piece's weight gradients are one GEMM per group of so many columns of d_a2 (rows
    of the gradient), products BLAS's small-matrix kernels take; there a piece is one chunk
    (``layout.gradient_pieces`` makes it so, and ``chunk_rows`` plays no part), and dx2, whose
    product per piece would be too big for those kernels, is one GEMM over rows r0:r1 after.
    Where rows r0:r1 of x2 are one-hot (or zero), out_ih is sums of rows of d_a2 instead
    (``weight_grad_one_hot``).
    """
    ih_chunk = max(chunk_rows, INPUT_CHUNK)          # see passes.param_grads
    columns = np.empty(r1 - r0, np.int64)
    one_hot = one_hot_columns(x2, columns, r0, r1)
    if one_hot:                                      # out_ih as sums of rows, no GEMM (``one_hot``)
        weight_grad_one_hot(d_a2, columns, out_ih, r0, r1, add)
    groups = piece_cols < d_a2.shape[1]
    p0 = r0
    while True:                                      # at least once: no rows still set the sums (to 0)
        p1 = min(p0 + max(piece_rows, 1), r1)
        if groups:
            if not one_hot:
                _weight_grad_in_groups(d_a2, x2, out_ih, piece_cols, p0, p1, add or p0 > r0)
            if out_hh.shape[0]:
                _weight_grad_in_groups(d_rec, h2, out_hh, piece_cols, p0, p1, add or p0 > r0)
        else:
            if dx2.shape[0]:
                np.dot(d_a2[p0:p1], w_ih, dx2[p0:p1])
            if not one_hot:
                _weight_grad(d_a2, x2, out_ih, ih_chunk, p0, p1, add or p0 > r0)
            if out_hh.shape[0]:
                _weight_grad(d_rec, h2, out_hh, chunk_rows, p0, p1, add or p0 > r0)
        if p1 >= r1:
            break
        p0 = p1
    if dx2.shape[0] and groups:
        np.dot(d_a2[r0:r1], w_ih, dx2[r0:r1])


@jit
def _weight_grad(d_a, inputs, out, chunk_rows, r0, r1, add):
    """``out += d_a[r0:r1]ᵀ inputs[r0:r1]`` (``add``), else ``out[...] = …``: one GEMM, or in
    chunks of ``chunk_rows`` where the rows are more (see ``passes.param_grads``)."""
    if chunk_rows < r1 - r0:
        product_in_chunks(d_a, inputs, out, r0, r1, chunk_rows, add)
    elif add:
        add_product_t(out, d_a[r0:r1], inputs[r0:r1])
    else:
        np.dot(d_a[r0:r1].T, inputs[r0:r1], out)


@jit
def _weight_grad_in_groups(d_a, inputs, out, cols, r0, r1, add):
    """``out += d_a[r0:r1]ᵀ inputs[r0:r1]`` (``add``), else ``out[...] = …``: one GEMM per group
    of ``cols`` columns of d_a, the rows of out they give."""
    for c0 in range(0, out.shape[0], cols):
        c1 = min(c0 + cols, out.shape[0])
        if not add:
            out[c0:c1] = 0
        add_product_t(out[c0:c1], d_a[r0:r1, c0:c1], inputs[r0:r1])


@jit
def weight_grad_one_hot(d_a, columns, out, r0, r1, add):
    """``out (+)= d_a[r0:r1]ᵀ x2[r0:r1]`` for rows of x2 that are one-hot or zero (``columns``:
    the column of row r's 1 at r − r0, or -1; ``one_hot.one_hot_columns``), out (G·H, I): column
    k of out gains the sum of the rows of d_a whose 1 is in column k, summed pairwise
    (``sum_of_rows``) and then added once. Set, not added, without ``add``.

    The rows are first put in order of their column (a counting sort, row order kept within a
    column), so each column's rows are one run of ``order``.
    """
    GH, I = out.shape
    if not add:
        out[...] = 0
    start = np.zeros(I + 1, np.int64)                # the run of column k: order[start[k]:start[k + 1]]
    for i in range(r1 - r0):
        if columns[i] >= 0:
            start[columns[i] + 1] += 1
    for k in range(I):
        start[k + 1] += start[k]
    order = np.empty(start[I], np.int64)
    filled = start[:I].copy()
    for i in range(r1 - r0):
        k = columns[i]
        if k >= 0:
            order[filled[k]] = r0 + i
            filled[k] += 1
    column = np.empty(GH, dtype=out.dtype)
    for k in range(I):
        if start[k + 1] > start[k]:
            sum_of_rows(d_a, order, column, start[k], start[k + 1])
            for j in range(GH):
                out[j, k] += column[j]
