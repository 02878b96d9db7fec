"""One compiled call per layer pass: the GEMMs around a time loop and the loop itself.

A forward pass of one layer is the input projection for all steps (one GEMM, or a look-up
where the input is one-hot: ``one_hot``) and then the time loop; a backward pass is the loop
going back and then the gradient GEMMs over all steps. Each runs as a single call into
compiled code, so a module call pays Python's dispatch once per pass instead of once per
stage:

- ``rnn_forward_pass`` … ``gru_backward_pass``: the serial pass, on one thread but for
  BLAS's own threads in the GEMMs;
- ``rnn_forward_blocks`` … ``gru_backward_blocks``: the same pass in row blocks side by
  side on Numba's threads (``scratchrnn.kernels.team``, which decides where they pay):
  ``nblocks`` blocks of rows for the GEMMs, ``loop_nblocks`` blocks of sequences for the
  time loop; the caller holds BLAS on one thread (``team.serial_blas``).

They are separate functions because Numba compiles everything a function may call: one
function for both would compile the parallel code (seconds per model and dtype) for every
pass that never runs it. The stages are the functions below them (``project``,
``param_grads``, ``projection_grad`` and their ``_blocks`` forms) and the time loop's kernel;
the stage profile (``scratchrnn.bench.stages``) times them one by one. An absent bias, and
the projection gradient of a layer without one, are empty arrays: one compiled version
serves layers with and without them.

Arguments, in order: a forward pass takes ``project``'s, then its kernel's (without the row
range: the last is ``blas_small``, ``team.small_matrix_limit()``); a backward pass takes
``param_grads``'s, for the LSTM then ``projection_grad``'s, then its kernel's. The
``_blocks`` forms take ``nblocks, loop_nblocks`` first. In blocks, the time loop first calls
its kernel over no rows: that checks the shapes here, where an error reaches the caller (one
raised inside a parallel block would be lost).
"""

import numpy as np
from numba import prange

from scratchrnn.kernels.blas import add_product_bt, add_product_t
from scratchrnn.kernels.jit import jit, jit_parallel
from scratchrnn.kernels.loops import (gru_backward_kernel, gru_forward_kernel, lstm_backward_kernel,
                                      lstm_forward_kernel, rnn_backward_kernel, rnn_forward_kernel)
from scratchrnn.kernels.one_hot import add_columns, one_hot_columns
from scratchrnn.kernels.sums import add_into, column_sums, gemms_in_pieces


# -- the serial passes -----------------------------------------------------------------------

@jit
def rnn_forward_pass(x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, h, relu, lengths, blas_small):
    """The input part of (R1) for every step, then (R1)–(R2) step by step."""
    project(x2, w_ih, b_ih, b_hh, xw2)
    rnn_forward_kernel(xw, w_hh_t, h, relu, lengths, blas_small, *_all_rows(xw))


@jit
def rnn_backward_pass(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                      chunk_rows, piece_rows, piece_cols,
                      d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh, dh0, blas_small):
    """(R3)–(R5) back through time, then (R6)–(R8) over all steps at once."""
    rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh, dh0, blas_small, *_all_rows(d_out))
    param_grads(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                chunk_rows, piece_rows, piece_cols)


@jit
def lstm_forward_pass(x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths,
                      blas_small):
    """The input part of (L1) for every step, then (L1)–(L4) and (P1) step by step."""
    project(x2, w_ih, b_ih, b_hh, xw2)
    lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, blas_small, *_all_rows(xw))


@jit
def lstm_backward_pass(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                       chunk_rows, piece_rows, piece_cols,
                       dh_p, m, lengths_p, dh_valid, dw_hr, partial_hr,
                       d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh, dh0, dc0,
                       blas_small):
    """(L5)–(L10) and (P2) back through time, then (L11) and, with a projection (``dw_hr`` not
    empty), (P3) over all steps at once."""
    lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh, dh0, dc0,
                         blas_small, *_all_rows(d_out))
    param_grads(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                chunk_rows, piece_rows, piece_cols)
    if dw_hr.size:
        projection_grad(dh_p, m, lengths_p, dh_valid, dw_hr, partial_hr)


@jit
def gru_forward_pass(x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, b_hh_n, h, gates, a_hn, lengths, blas_small):
    """a^x of (G1) for every step (``b_hh`` empty: b_ih alone joins it), then (G1)–(G4) step by
    step, with b_hh (``b_hh_n``) inside the kernel."""
    project(x2, w_ih, b_ih, b_hh, xw2)
    gru_forward_kernel(xw, w_hh_t, b_hh_n, h, gates, a_hn, lengths, blas_small, *_all_rows(xw))


@jit
def gru_backward_pass(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                      chunk_rows, piece_rows, piece_cols,
                      d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh, dh0, blas_small):
    """(G5)–(G9) back through time, then (G10) over all steps at once."""
    gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh, dh0, blas_small,
                        *_all_rows(d_out))
    param_grads(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                chunk_rows, piece_rows, piece_cols)


# -- the same passes in row blocks -----------------------------------------------------------

@jit_parallel
def rnn_forward_blocks(nblocks, loop_nblocks, x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, h, relu, lengths,
                       blas_small):
    project_blocks(x2, w_ih, b_ih, b_hh, xw2, nblocks)
    N = xw.shape[1]
    rnn_forward_kernel(xw, w_hh_t, h, relu, lengths, blas_small, *_no_rows())
    for k in prange(loop_nblocks):
        rnn_forward_kernel(xw, w_hh_t, h, relu, lengths, blas_small, *_rows(N, k, loop_nblocks))


@jit_parallel
def rnn_backward_blocks(nblocks, loop_nblocks, x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh,
                        partial_ih, partial_hh, chunk_rows, piece_rows, piece_cols,
                        d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh, dh0, blas_small):
    N = d_out.shape[1]
    rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh, dh0, blas_small, *_no_rows())
    for k in prange(loop_nblocks):
        rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh, dh0, blas_small,
                            *_rows(N, k, loop_nblocks))
    param_grads_blocks(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                       chunk_rows, piece_rows, piece_cols, nblocks)


@jit_parallel
def lstm_forward_blocks(nblocks, loop_nblocks, x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, w_hr_t, h, c, m, gates,
                        tanh_c, lengths, blas_small):
    project_blocks(x2, w_ih, b_ih, b_hh, xw2, nblocks)
    N = xw.shape[1]
    lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, blas_small, *_no_rows())
    for k in prange(loop_nblocks):
        lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, blas_small,
                            *_rows(N, k, loop_nblocks))


@jit_parallel
def lstm_backward_blocks(nblocks, loop_nblocks, x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh,
                         partial_ih, partial_hh, chunk_rows, piece_rows, piece_cols,
                         dh_p, m, lengths_p, dh_valid, dw_hr, partial_hr,
                         d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh, dh0, dc0,
                         blas_small):
    N = d_out.shape[1]
    lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh, dh0, dc0,
                         blas_small, *_no_rows())
    for k in prange(loop_nblocks):
        lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh, dh0, dc0,
                             blas_small, *_rows(N, k, loop_nblocks))
    param_grads_blocks(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                       chunk_rows, piece_rows, piece_cols, nblocks)
    if dw_hr.size:
        projection_grad_blocks(dh_p, m, lengths_p, dh_valid, dw_hr, partial_hr, nblocks)


@jit_parallel
def gru_forward_blocks(nblocks, loop_nblocks, x2, w_ih, b_ih, b_hh, xw2, xw, w_hh_t, b_hh_n, h, gates, a_hn,
                       lengths, blas_small):
    project_blocks(x2, w_ih, b_ih, b_hh, xw2, nblocks)
    N = xw.shape[1]
    gru_forward_kernel(xw, w_hh_t, b_hh_n, h, gates, a_hn, lengths, blas_small, *_no_rows())
    for k in prange(loop_nblocks):
        gru_forward_kernel(xw, w_hh_t, b_hh_n, h, gates, a_hn, lengths, blas_small, *_rows(N, k, loop_nblocks))


@jit_parallel
def gru_backward_blocks(nblocks, loop_nblocks, x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh,
                        partial_ih, partial_hh, chunk_rows, piece_rows, piece_cols,
                        d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh, dh0, blas_small):
    N = d_out.shape[1]
    gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh, dh0, blas_small,
                        *_no_rows())
    for k in prange(loop_nblocks):
        gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh, dh0,
                            blas_small, *_rows(N, k, loop_nblocks))
    param_grads_blocks(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                       chunk_rows, piece_rows, piece_cols, nblocks)


# Row ranges as functions, not ``0`` written at the call: Numba would compile each kernel
# once more for a literal argument (what a function returns is typed plain int64).
@jit
def _all_rows(a):
    """Rows ``(0, N)`` of a (T, N, ·) array: all of them."""
    return 0, a.shape[1]


@jit
def _no_rows():
    """The row range ``(0, 0)``: a kernel call that only checks its shapes."""
    return 0, 0


@jit
def _rows(N, k, nblocks):
    """Rows ``(n0, n1)`` of block k of ``nblocks``: sizes differ by at most one."""
    return N * k // nblocks, N * (k + 1) // nblocks


# -- the stages ------------------------------------------------------------------------------

@jit
def project(x2, w_ih, b_ih, b_hh, out):
    """``out[...] = x2 W_ihᵀ + b_ih + b_hh``: the input part of every step's pre-activations, one GEMM.

    The biases' sum (rounded once) is written into ``out`` and BLAS adds the product into it
    as it stores it (``blas.add_product_bt``; beta = 0 cleared ``out`` and the biases were a
    pass of their own). Where BLAS takes x2 W_ihᵀ in one inner block (I up to a few hundred)
    the bits are those of the product rounded and then added to the biases; past it, the
    biases join the first block's sum. Empty b_hh: b_ih alone; empty b_ih: no bias. Rows that
    are all one-hot (or zero) take W_ih's columns instead, the same bits (``one_hot``).
    """
    _project_rows(x2, w_ih, b_ih, b_hh, out, 0, out.shape[0])


@jit_parallel
def project_blocks(x2, w_ih, b_ih, b_hh, out, nblocks):
    """``project`` with the rows in ``nblocks`` blocks side by side."""
    R = x2.shape[0]
    for k in prange(nblocks):
        _project_rows(x2, w_ih, b_ih, b_hh, out, *_rows(R, k, nblocks))


@jit
def _project_rows(x2, w_ih, b_ih, b_hh, out, r0, r1):
    """Rows r0:r1 of ``project``; where they are all one-hot (or zero), W_ih's columns are
    looked up instead of multiplied (``one_hot``), with the same bits."""
    columns = np.empty(r1 - r0, np.int64)
    one_hot = one_hot_columns(x2, columns, r0, r1)
    if b_ih.size == 0 and not one_hot:
        np.dot(x2[r0:r1], w_ih.T, out[r0:r1])
        return
    zero = out.dtype.type(0)
    for r in range(r0, r1):
        for j in range(out.shape[1]):
            out[r, j] = (b_ih[j] + b_hh[j] if b_hh.size else b_ih[j]) if b_ih.size else zero
    if one_hot:
        add_columns(columns, w_ih, out, r0, r1)
    else:
        add_product_bt(out[r0:r1], x2[r0:r1], w_ih)


@jit
def param_grads(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                chunk_rows, piece_rows, piece_cols):
    """Input, weight and bias gradients from every step's ``da`` at once:

    dx2 = d_a2 W_ih (T·N, I), skipped where dx2 is empty (0, I): no input gradient wanted;
    dw_ih += d_a2ᵀ x2 (G·H, I); dw_hh += d_ah2ᵀ h2 (G·H, P), skipped where dw_hh is empty
    (0, 0): ``Linear``'s gradients are the input half alone;
    db_ih, db_hh += the column sums of d_a2 and d_ah2 (G·H,), skipped where empty; pairwise
    (``sums.column_sums``): summed row after row, float32 would lose digits over T·N rows.
    ``d_ah2`` is the gradient of the recurrent part where it differs from d_a2 (the GRU's n
    gate), else empty (0, G·H): the RNN and LSTM then take dw_hh from d_a2, and db_hh gets
    db_ih's column sums, summed once. ``partial_ih``, ``partial_hh``: see
    ``param_grads_blocks`` (unused here).
    ``chunk_rows``: dw_hh is summed over chunks of so many rows (``sums.product_in_chunks``, the
    RNN's and GRU's), one GEMM where they are all its rows or more; dw_ih over chunks of at
    least ``sums.INPUT_CHUNK`` rows. ``piece_rows``, ``piece_cols``: the three GEMMs walk the
    rows in pieces of so many, each weight gradient in groups of so many columns of da
    (``sums.gemms_in_pieces``; ``scratchrnn.layout.gradient_pieces`` says where that pays); a
    piece is a whole number of both chunks, so the sums are the same as without pieces.

    The weight and bias gradients are *added* into the arrays given, as a module's ``grads``
    accumulate (zeros for the gradients of this pass alone): BLAS adds each product into its
    output as it stores it (``blas.add_product_t``), where a product into fresh memory and then
    a pass of ``grads += dw`` read and wrote every weight gradient once more and touched the
    fresh pages: a module's forward+backward took 0.78–0.94x the time at one sequence with
    H ≥ 512, 0.96x at N=16 H=512–1024 (Intel Xeon, float32; benchmarks/results/
    xeon-avx512-2026-12-03-accumulate/accumulate_ab_cpu.md).

    The weight gradients are taken as ``daᵀ x`` straight into C order: measured against the
    transposed product ``xᵀ da`` plus a copy back (``python -m scratchrnn.bench.param_grads``,
    benchmarks/results/zen3-2026-11-22/param_grads_cpu.md, G = 1, 3, 4), it is never more
    than 4 % slower, and up to 12× faster where T·N is small and the copy dominates.
    """
    d_rec = d_a2 if d_ah2.shape[0] == 0 else d_ah2   # (T·N, G·H) the recurrent part's gradient
    gemms_in_pieces(x2, h2, w_ih, d_a2, d_rec, dx2, dw_ih, dw_hh, chunk_rows, piece_rows, piece_cols,
                    0, x2.shape[0], True)
    if db_ih.size:
        sums = np.empty((2, db_ih.size), dtype=db_ih.dtype)   # this pass's bias sums
        column_sums(d_a2, sums[0], 0, d_a2.shape[0])
        if d_ah2.shape[0]:
            column_sums(d_ah2, sums[1], 0, d_a2.shape[0])
        _add_bias_sums(db_ih, db_hh, sums, d_ah2.shape[0] > 0)


@jit_parallel
def param_grads_blocks(x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
                       chunk_rows, piece_rows, piece_cols, nblocks):
    """``param_grads`` with the T·N rows in ``nblocks`` blocks side by side.

    Block 0 adds its share into the gradients, blocks 1… their shares of the sums over rows
    into ``partial_ih``, ``partial_hh`` (nblocks − 1, G·H, ·), added after: the sums are taken
    in another order than by one GEMM, and differ from the serial pass by rounding.
    """
    R = d_a2.shape[0]
    separate = d_ah2.shape[0] > 0                    # see param_grads
    d_rec = d_ah2 if separate else d_a2              # (T·N, G·H)
    partial_b = np.empty((nblocks, 2, db_ih.size), dtype=d_a2.dtype)   # each block's bias sums
    for k in prange(nblocks):
        r0, r1 = _rows(R, k, nblocks)
        out_ih = dw_ih if k == 0 else partial_ih[k - 1]
        out_hh = dw_hh if k == 0 or dw_hh.shape[0] == 0 else partial_hh[k - 1]
        gemms_in_pieces(x2, h2, w_ih, d_a2, d_rec, dx2, out_ih, out_hh, chunk_rows, piece_rows, piece_cols,
                        r0, r1, k == 0)
        if db_ih.size:
            column_sums(d_a2, partial_b[k, 0], r0, r1)
            if separate:
                column_sums(d_ah2, partial_b[k, 1], r0, r1)
    for k in range(nblocks - 1):
        add_into(dw_ih, partial_ih[k])
        if dw_hh.shape[0]:
            add_into(dw_hh, partial_hh[k])
    if db_ih.size:
        for k in range(1, nblocks):
            add_into(partial_b[0, 0], partial_b[k, 0])
            if separate:                             # else row 1 was never written
                add_into(partial_b[0, 1], partial_b[k, 1])
        _add_bias_sums(db_ih, db_hh, partial_b[0], separate)


@jit
def _add_bias_sums(db_ih, db_hh, sums, separate):
    """db_ih += sums[0]; db_hh += sums[1] where the recurrent part has its own gradient
    (``separate``), else sums[0] too (the RNN's and LSTM's b_hh gets the same gradient)."""
    add_into(db_ih, sums[0])
    add_into(db_hh, sums[1] if separate else sums[0])


@jit
def projection_grad(dh, m, lengths, dh_valid, dw_hr, partial_hr):
    """The LSTM projection's gradient ``dw_hr += Σ_t dh_tᵀ m_t`` over valid steps (P3), (V2).

    dh (T, N, P), m (T, N, H); ``dh_valid`` (T, N, P) receives dh with each sequence's
    padded steps zeroed (they were never projected), dw_hr (P, H) the sum added in (as in
    ``param_grads``); ``partial_hr``: see ``projection_grad_blocks`` (unused here).
    """
    T, N, P = dh.shape
    _valid_steps(dh, lengths, dh_valid)
    add_product_t(dw_hr, dh_valid.reshape(T * N, P), m.reshape(T * N, m.shape[2]))


@jit_parallel
def projection_grad_blocks(dh, m, lengths, dh_valid, dw_hr, partial_hr, nblocks):
    """``projection_grad`` with the T·N rows in blocks, partial sums in ``partial_hr``
    (nblocks − 1, P, H) as in ``param_grads_blocks``."""
    T, N, P = dh.shape
    _valid_steps(dh, lengths, dh_valid)
    a = dh_valid.reshape(T * N, P)                   # (T·N, P)
    b = m.reshape(T * N, m.shape[2])                 # (T·N, H)
    for k in prange(nblocks):
        r0, r1 = _rows(T * N, k, nblocks)
        if k == 0:
            add_product_t(dw_hr, a[r0:r1], b[r0:r1])
        else:
            np.dot(a[r0:r1].T, b[r0:r1], partial_hr[k - 1])
    for k in range(nblocks - 1):
        add_into(dw_hr, partial_hr[k])


@jit
def _valid_steps(dh, lengths, dh_valid):
    """``dh_valid[t, s]`` = ``dh[t, s]`` at step t of sequence s, 0 past its length."""
    for t in range(dh.shape[0]):
        for s in range(dh.shape[1]):
            if t < lengths[s]:
                dh_valid[t, s] = dh[t, s]
            else:
                dh_valid[t, s] = 0
