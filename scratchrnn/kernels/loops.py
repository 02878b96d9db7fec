"""Numba time loops: only the inherently sequential part of each recurrence.

Everything that does not depend on the previous hidden state (the input projection, the
weight gradients, ``dx``) is a single GEMM outside these loops (``passes.py``, which runs them
and a loop as one compiled call per pass). What is left here per step is ``h W_hhᵀ`` (or
``da W_hh`` going back) and the elementwise gate maths.

The kernels are plain NumPy that Numba compiles. With ``NUMBA_DISABLE_JIT=1`` the very same
lines run as Python, so a reader can step through BPTT in a debugger. Equation labels, e.g.
``(L7)``, refer to ``docs/derivations.md``.

Conventions: time-major, C-contiguous arrays; one dtype end to end, in every array and all
the maths: float32 data is computed in float32 (sigmoid and tanh without libm, within 2.5
ulp, so that the loops vectorise; see ``gates.py``; ``one`` is 1 in the data's dtype, as
Numba takes ``1 - x`` in float64), float64 data in float64 with libm's exp and tanh.

Indexing (the notation table of ``docs/derivations.md``): states are preallocated as
``(T+1, N, ·)`` with ``h[0] = h_0``, so ``h[t]`` is h_t and ``c[t]`` is c_t for every t, as in
the maths. The loops count steps from 0: loop index ``t`` is maths step t+1, which reads
``h[t]`` (h_t, the state before the step) and per-step entries ``xw[t]``, ``gates[t]``,
``d_a[t]``, and writes ``h[t+1]``. ``s`` is the batch row (sequence), ``r = s − n0`` its row
in a block's own arrays (the GRU's step product ``hw``, ``delta``, ``gamma``, the LSTM's
``dm``), ``j`` the feature. ``GH`` is a width (G·H: H, 4H or 3H), not the gate count G.
``delta`` is δ_t and ``gamma`` γ_t; ``d_h_n``/``d_c_n`` (torch's names) are dh_fin/dc_fin;
``dh_all`` records the total dh_t of every step.

Memory: a step's product goes where the loop already has room (``matmul_add_into``): the rows
of ``h[t+1]`` (RNN) or ``gates[t]`` (LSTM) that the activations then replace, the GRU's ``hw``,
and back ``new_delta``, which takes turns with ``delta``; only a projection's products make
new arrays. The gate loops index elements in place, ``gates[t, s, j]``, not through views of
row s, each of which updates its array's reference count atomically: 0.92–0.97x the time for
the LSTM at H = 32 (benchmarks/results/xeon-avx512-2026-12-03-inplace/inplace_ab_cpu.md).

Rows: every kernel runs the batch rows ``n0:n1`` it is given (``0, N`` for all). A pass in row
blocks (``passes.py``, where ``team.py`` says they pay) runs them on all cores side by side,
each block with its own δ (and γ), whose row r is sequence ``n0 + r``.

The file reads top-down as the maths: the RNN, the LSTM and the GRU, each forward then
backward; the variable-length helpers (V1), (V2) come last. Gate functions: ``gates.py``;
per-step products: ``products.py``, whose weights (``w_hh_t``, ``w_hh``) may come packed in
panels once per pass (``panels.py``, a 3-D array), passed on here as they come.
"""

import numpy as np

from scratchrnn.kernels import shapes
from scratchrnn.kernels.gates import is_single, sigmoid, tanh
from scratchrnn.kernels.jit import jit
from scratchrnn.kernels.products import matmul, matmul_add_into


# ---------------------------------------------------------------------------
# Vanilla RNN:  h_t = φ(x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ),  φ = tanh | relu
# ---------------------------------------------------------------------------

@jit
def rnn_forward_kernel(xw, w_hh_t, h, relu, lengths, blas_small, n0, n1):
    """Run the RNN recurrence in place.

    Implements (R1)–(R2): a_t = x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ (the input part comes
    in as ``xw``), h_t = φ(a_t); past a sequence's end its state is frozen (V1).

    xw:      (T, N, H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t:  (H, H)    ``W_hhᵀ`` (a transposed view is fine)
    h:       (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written (a step's a, then φ(a))
    relu:    bool      φ = relu if True else tanh
    lengths: (N,)      valid steps per sequence (T for all without padding); past its
             end a sequence's state is frozen (V1), so h[T] is its state at its own end
    blas_small: int    products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1:  ints      the batch rows (sequences) to run: ``0, N`` for all of them
    """
    shapes.rnn_forward(xw, w_hh_t, h, lengths, n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, H = xw.shape
    single = is_single(xw)                           # float32 data: tanh in float32, without libm (vectorised)
    for t in range(T):
        # rows n0:n1 of a_{t+1} (R1) where h_{t+1} goes (loop t is maths step t + 1), then φ of each (R2)
        matmul_add_into(h[t + 1, n0:n1], xw[t, n0:n1], h[t, n0:n1], w_hh_t, blas_small)   # (n1−n0, H)
        for s in range(n0, n1):
            if relu:
                for j in range(H):
                    h[t + 1, s, j] = max(h[t + 1, s, j], 0)          # (R2)
            else:
                for j in range(H):
                    h[t + 1, s, j] = tanh(h[t + 1, s, j], single)    # (R2)
        _freeze(h, t, lengths, n0, n1)               # (V1)


@jit
def rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh_all, dh0, blas_small, n0, n1):
    """Carry δ back through time; write every step's ``da`` for the GEMMs after the loop.

    Implements, for t = T … 1: dh_t = dy_t + δ_t (R3), da_t = dh_t ⊙ φ'(a_t) with φ' read
    from h_t (R4), δ_{t-1} = da_t W_hh (R5), with δ_T = dh_fin and dh_0 = δ_0; past a
    sequence's end da_t = 0 and δ_{t-1} = δ_t (V2).

    d_out: (T, N, H) partial gradient dy_t of every output
    d_h_n: (N, H)    partial gradient dh_fin of the final state
    w_hh:  (H, H)    ``W_hh``, not transposed (in any memory order, or its panels): ``δ_{t-1} = da_t W_hh``
    h:     (T+1, N, H) states from the forward
    lengths: (N,)    valid steps per sequence, as in the forward
    d_a:   (T, N, H) output: gradient of the pre-activations
    dh_all: (T, N, H) output: total gradient reaching each h_t (what gradflow plots)
    dh0:   (N, H)    output: dh_0 = δ_0
    blas_small: int  products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1: ints     the batch rows to run: ``0, N`` for all of them
    """
    shapes.rnn_backward(d_out, d_h_n, w_hh, h, lengths, d_a, dh_all, dh0, n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, H = d_out.shape
    one = d_out.dtype.type(1)                        # 1 in the data's dtype (see the top)
    delta = d_h_n[n0:n1].copy()                      # (n1−n0, H)  δ_T = dh_fin (given) (R3); row s is delta[s − n0]
    new_delta = np.empty_like(delta)                 # (n1−n0, H)  δ_{t-1}; the two take turns
    for t in range(T - 1, -1, -1):
        for s in range(n0, n1):
            if t >= lengths[s]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, s] = delta[s - n0]
                d_a[t, s] = 0
                continue
            for j in range(H):
                dh = d_out[t, s, j] + delta[s - n0, j]          # dh_t = dy_t + δ_t  (R3)
                dh_all[t, s, j] = dh
                h_t = h[t + 1, s, j]                            # the h_t this step wrote
                if relu:
                    d_a[t, s, j] = dh if h_t > 0 else 0          # relu' = 1[h_t > 0] (R4)
                else:
                    d_a[t, s, j] = dh * (one - h_t * h_t)        # tanh' = 1 − h_t²   (R4)
        matmul_add_into(new_delta, None, d_a[t, n0:n1], w_hh, blas_small)   # δ_{t-1} = da_t W_hh (R5)
        _pass_through(new_delta, delta, t, lengths, n0)      # (V2)
        delta, new_delta = new_delta, delta          # δ_{t-1} is the next step's δ; δ_t's array is free
    dh0[n0:n1] = delta                               # dh_0 = δ_0 (R5)


# ---------------------------------------------------------------------------
# LSTM, gate order i, f, g, o (torch's)
# ---------------------------------------------------------------------------

@jit
def lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, blas_small, n0, n1):
    """Run the LSTM recurrence in place, caching what the backward needs.

    Implements (L1)–(L4) and, with a projection, (P1): a_t = x_t W_ihᵀ + b_ih + b_hh +
    h_{t-1} W_hhᵀ; i, f, o = σ(·), g = tanh(·); c_t = f ⊙ c_{t-1} + i ⊙ g; m_t = o ⊙ tanh(c_t);
    h_t = m_t W_hrᵀ (h_t = m_t without one); past a sequence's end h and c are frozen (V1).

    xw:     (T, N, 4H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t: (P, 4H)    ``W_hhᵀ`` (a transposed view is fine); P = H without a projection
    w_hr_t: (H, P)     ``W_hrᵀ`` of the projection, or an empty (H, 0) array without one
    h, c:   (T+1, N, P), (T+1, N, H) with ``h[0] = h0``, ``c[0] = c0``; ``[1:]`` is written
    m:      (T, N, H)  output: ``o ⊙ tanh(c_t)``; without a projection pass ``h[1:]``
    gates:  (T, N, 4H) output: post-activation gates [i, f, g, o] (a step's a_t until its gates)
    tanh_c: (T, N, H)  output: tanh(c_t)
    lengths: (N,)      valid steps per sequence; past its end a sequence's h and c are frozen (V1)
    blas_small: int    products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1: ints       the batch rows to run: ``0, N`` for all of them
    """
    shapes.lstm_forward(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, GH = xw.shape                              # GH = 4H
    H = GH // 4
    project = w_hr_t.shape[1] > 0
    single = is_single(xw)                           # float32 data: gate maths in float32, without libm
    # Each inner loop writes one array: LLVM vectorises those (one loop writing six stayed scalar).
    for t in range(T):
        # rows n0:n1 of a_{t+1} (L1) where their gates go, each then replaced by its gate (L2)
        matmul_add_into(gates[t, n0:n1], xw[t, n0:n1], h[t, n0:n1], w_hh_t, blas_small)   # (n1−n0, 4H)
        for s in range(n0, n1):                      # gates[t, s]: row s's a_t, then its [i, f, g, o]
            for j in range(2 * H):
                gates[t, s, j] = sigmoid(gates[t, s, j], single)   # input and forget gates i, f   (L2)
            for j in range(2 * H, 3 * H):
                gates[t, s, j] = tanh(gates[t, s, j], single)      # cell candidate g              (L2)
            # o from j = 0: over range(3H, GH), LLVM kept the check for negative indices and
            # gathered and scattered the values one by one instead of loading them.
            for j in range(H):
                gates[t, s, 3 * H + j] = sigmoid(gates[t, s, 3 * H + j], single)   # output gate o   (L2)
            for j in range(H):                       # c[t + 1] = c_{t+1} from c[t] = c_t (loop t is maths step t + 1)
                c[t + 1, s, j] = gates[t, s, H + j] * c[t, s, j] + gates[t, s, j] * gates[t, s, 2 * H + j]   # (L3)
            for j in range(H):
                tanh_c[t, s, j] = tanh(c[t + 1, s, j], single)
            for j in range(H):
                m[t, s, j] = gates[t, s, 3 * H + j] * tanh_c[t, s, j]   # (L4), m_t of (P1); h[t+1] without a projection
        if project:
            h[t + 1, n0:n1] = matmul(m[t, n0:n1], w_hr_t)   # (n1−n0, P)  h_t = m_t W_hrᵀ  (P1)
        _freeze(h, t, lengths, n0, n1)               # (V1)
        _freeze(c, t, lengths, n0, n1)


@jit
def lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh_all, dh0, dc0,
                         blas_small, n0, n1):
    """Carry δ and γ back through time; write every step's ``da``.

    Implements, for t = T … 1: dh_t = dy_t + δ_t (L5); dm_t = dh_t W_hr (P2), dm_t = dh_t
    without a projection; da^o_t = dm_t ⊙ tanh(c_t) ⊙ o(1−o) (L6); dc_t = γ_t + dm_t ⊙ o ⊙
    (1 − tanh²(c_t)) (L7); da^i, da^f, da^g from dc_t (L8); γ_{t-1} = dc_t ⊙ f_t (L9);
    δ_{t-1} = da_t W_hh (L10); with δ_T = dh_fin, γ_T = dc_fin, dh_0 = δ_0, dc_0 = γ_0. Past a
    sequence's end da_t = 0 and δ, γ pass through (V2). (L7) reads o from ``gates`` and
    ``tanh_c``.

    d_out:  (T, N, P)  partial gradient dy_t of every output (P = H without a projection)
    d_h_n:  (N, P)     partial gradient dh_fin of the final h
    d_c_n:  (N, H)     partial gradient dc_fin of the final c
    w_hh:   (4H, P)    ``W_hh``, not transposed (as the RNN's): ``δ_{t-1} = da_t W_hh``
    w_hr:   (P, H)     the projection ``W_hr``, or an empty (0, H) array without one
    c:      (T+1, N, H) cell states from the forward
    gates:  (T, N, 4H) post-activation gates [i, f, g, o] from the forward
    tanh_c: (T, N, H)  tanh(c_t) from the forward
    lengths: (N,)      valid steps per sequence, as in the forward
    d_a:    (T, N, 4H) output: gradient of the pre-activations
    dh_all: (T, N, P)  output: the total dh_t of every step (gradflow plots it; (P3) uses it)
    dh0, dc0: (N, P), (N, H) output: dh_0 = δ_0 and dc_0 = γ_0
    blas_small: int    products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1: ints       the batch rows to run: ``0, N`` for all of them
    """
    shapes.lstm_backward(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh_all, dh0, dc0,
                         n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, H = tanh_c.shape
    one = d_out.dtype.type(1)                        # 1 in the data's dtype (see the top)
    P = d_out.shape[2]                               # P = H without a projection
    project = w_hr.shape[0] > 0
    rows = slice(n0, n1)
    delta = d_h_n[rows].copy()                       # (n1−n0, P)  δ_T = dh_fin (given)  (L5); row s is delta[s − n0]
    gamma = d_c_n[rows].copy()                       # (n1−n0, H)  γ_T = dc_fin (given)  (L7)
    new_delta = np.empty_like(delta)                 # (n1−n0, P)  δ_{t-1}; the two take turns
    for t in range(T - 1, -1, -1):
        for s in range(n0, n1):
            if t >= lengths[s]:                      # padded step: its output is a constant 0 (V2)
                for j in range(P):
                    dh_all[t, s, j] = delta[s - n0, j]
            else:
                for j in range(P):
                    dh_all[t, s, j] = d_out[t, s, j] + delta[s - n0, j]   # dh_t = dy_t + δ_t  (L5)
        dm = matmul(dh_all[t, rows], w_hr) if project else dh_all[t, rows]   # dm_t = dh_t W_hr  (P2)
        for s in range(n0, n1):
            if t >= lengths[s]:                      # frozen: no gate saw this step, γ passes (V2)
                d_a[t, s] = 0
                continue
            # One array written per loop so that each vectorises, elements indexed in place
            # (as in the forward). gamma[r] holds γ_t, then dc_t after (L7), then γ_{t-1}
            # after (L9); dm[r] is dm_t of row s.
            r = s - n0
            for j in range(H):
                o, tc = gates[t, s, 3 * H + j], tanh_c[t, s, j]
                gamma[r, j] = gamma[r, j] + dm[r, j] * o * (one - tc * tc)        # dc_t  (L7)
            for j in range(H):
                i, g = gates[t, s, j], gates[t, s, 2 * H + j]
                d_a[t, s, j] = gamma[r, j] * g * i * (one - i)                     # da^i  (L8)
            for j in range(H):
                f = gates[t, s, H + j]
                d_a[t, s, H + j] = gamma[r, j] * c[t, s, j] * f * (one - f)        # da^f  (L8); c[t]: the cell state before the step
            for j in range(H):
                i, g = gates[t, s, j], gates[t, s, 2 * H + j]
                d_a[t, s, 2 * H + j] = gamma[r, j] * i * (one - g * g)             # da^g  (L8)
            for j in range(H):
                o = gates[t, s, 3 * H + j]
                d_a[t, s, 3 * H + j] = dm[r, j] * tanh_c[t, s, j] * o * (one - o)  # da^o  (L6)
            for j in range(H):
                gamma[r, j] = gamma[r, j] * gates[t, s, H + j]                     # γ_{t-1} = dc_t ⊙ f_t  (L9)
        matmul_add_into(new_delta, None, d_a[t, rows], w_hh, blas_small)   # (n1−n0, P)  δ_{t-1} = da_t W_hh  (L10)
        _pass_through(new_delta, delta, t, lengths, n0)     # (V2)
        delta, new_delta = new_delta, delta          # δ_{t-1} is the next step's δ; δ_t's array is free
    dh0[rows] = delta                                # dh_0 = δ_0 (L10)
    dc0[rows] = gamma                                # dc_0 = γ_0 (L9)


# ---------------------------------------------------------------------------
# GRU, gate order r, z, n (torch's), with b^n_hh inside r ⊙ (h W^n_hhᵀ + b^n_hh)
# ---------------------------------------------------------------------------

@jit
def gru_forward_kernel(xw, w_hh_t, b_hh, h, gates, a_hn, lengths, blas_small, n0, n1):
    """Run the GRU recurrence in place, caching what the backward needs.

    Implements (G1)–(G4): a^h_t = h_{t-1} W_hhᵀ + b_hh (all of b_hh, here, per step);
    r = σ(a^xr + a^hr), z = σ(a^xz + a^hz); n = tanh(a^xn + r ⊙ a^hn);
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}; past a sequence's end h is frozen (V1).

    xw:     (T, N, 3H) input part a^x_t = ``x W_ihᵀ + b_ih`` for every step (b_hh is NOT in it)
    w_hh_t: (H, 3H)    ``W_hhᵀ`` (a transposed view is fine)
    b_hh:   (3H,)      recurrent bias (zeros without bias)
    h:      (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written
    gates:  (T, N, 3H) output: post-activation gates [r, z, n]
    a_hn:   (T, N, H)  output: a^hn_t = h_{t-1} W^n_hhᵀ + b^n_hh, the term r multiplies
    lengths: (N,)      valid steps per sequence; past its end a sequence's state is frozen (V1)
    blas_small: int    products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1: ints       the batch rows to run: ``0, N`` for all of them
    """
    shapes.gru_forward(xw, w_hh_t, b_hh, h, gates, a_hn, lengths, n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, GH = xw.shape                              # GH = 3H
    H = GH // 3
    single = is_single(xw)                           # float32 data: gate maths in float32, without libm
    one = xw.dtype.type(1)                           # 1 in the data's dtype (see the top)
    # One array written per inner loop, so LLVM vectorises them, and elements indexed in
    # place (see the module docstring).
    hw = np.empty((n1 - n0, GH), dtype=xw.dtype)     # (n1−n0, 3H)  each step's h_{t-1} W_hhᵀ; row s is hw[s − n0]
    for t in range(T):
        matmul_add_into(hw, None, h[t, n0:n1], w_hh_t, blas_small)   # a^h_t less b_hh (G1)
        for s in range(n0, n1):                      # xw[t, s]: row s's a^x
            for j in range(2 * H):
                gates[t, s, j] = sigmoid(xw[t, s, j] + hw[s - n0, j] + b_hh[j], single)     # r, z  (G2)
            for j in range(H):
                a_hn[t, s, j] = hw[s - n0, 2 * H + j] + b_hh[2 * H + j]                     # a^hn_t  (G3)
            for j in range(H):
                gates[t, s, 2 * H + j] = tanh(xw[t, s, 2 * H + j] + gates[t, s, j] * a_hn[t, s, j], single)  # n_t (G3)
            for j in range(H):                       # h[t + 1] = h_{t+1} from h[t] = h_t (loop t is maths step t + 1)
                z = gates[t, s, H + j]
                h[t + 1, s, j] = (one - z) * gates[t, s, 2 * H + j] + z * h[t, s, j]   # (G4)
        _freeze(h, t, lengths, n0, n1)               # (V1)


@jit
def gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh_all, dh0, blas_small, n0, n1):
    """Carry δ back through time; write every step's gradients of both pre-activations.

    Implements, for t = T … 1: dh_t = dy_t + δ_t (G5); dn = dh_t ⊙ (1 − z), dz = dh_t ⊙
    (h_{t-1} − n) (G6); da^xn = dn ⊙ (1 − n²), da^hn = da^xn ⊙ r, dr = da^xn ⊙ a^hn (G7);
    da^r = dr ⊙ r(1−r), da^z = dz ⊙ z(1−z) (G8); δ_{t-1} = dh_t ⊙ z + da^h_t W_hh (G9); with
    δ_T = dh_fin, dh_0 = δ_0. Past a sequence's end da^x_t = da^h_t = 0 and δ passes (V2).

    d_out: (T, N, H)  partial gradient dy_t of every output
    d_h_n: (N, H)     partial gradient dh_fin of the final state
    w_hh:  (3H, H)    ``W_hh``, not transposed (as the RNN's)
    h:     (T+1, N, H) states from the forward
    gates: (T, N, 3H) post-activation [r, z, n] from the forward
    a_hn:  (T, N, H)  a^hn_t from the forward
    lengths: (N,)     valid steps per sequence, as in the forward
    d_ax:  (T, N, 3H) output: gradient of the input part a^x (for dW_ih, db_ih, dx)
    d_ah:  (T, N, 3H) output: gradient of the recurrent part a^h (for dW_hh, db_hh)
    dh_all: (T, N, H) output: the total dh_t of every step (what gradflow plots)
    dh0:   (N, H)     output: dh_0 = δ_0
    blas_small: int   products of at most this many multiply-adds go to BLAS (``matmul_add_into``)
    n0, n1: ints      the batch rows to run: ``0, N`` for all of them
    """
    shapes.gru_backward(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh_all, dh0, n0, n1)
    if n0 == n1:                                     # no rows to run
        return
    T, N, H = d_out.shape
    one = d_out.dtype.type(1)                        # 1 in the data's dtype (see the top)
    delta = d_h_n[n0:n1].copy()                      # (n1−n0, H)  δ_T = dh_fin (given)  (G5); row s is delta[s − n0]
    new_delta = np.empty_like(delta)                 # (n1−n0, H)  δ_{t-1}; the two take turns
    direct = np.empty_like(delta)                    # (n1−n0, H)  dh_t ⊙ z_t, first path of (G9)
    for t in range(T - 1, -1, -1):
        for s in range(n0, n1):
            if t >= lengths[s]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, s] = delta[s - n0]
                d_ax[t, s] = 0
                d_ah[t, s] = 0
                direct[s - n0] = 0                   # no stale value in the product (δ_{t-1} is δ_t: _pass_through)
                continue
            for j in range(H):
                r = gates[t, s, j]
                z = gates[t, s, H + j]
                n = gates[t, s, 2 * H + j]                               # the candidate n_t
                dh = d_out[t, s, j] + delta[s - n0, j]                   # dh_t = dy_t + δ_t  (G5)
                dh_all[t, s, j] = dh
                dn = dh * (one - z)                                      # (G6)
                dz = dh * (h[t, s, j] - n)                               # h[t] is h_{t-1} here  (G6)
                da_xn = dn * (one - n * n)                               # da^xn  (G7)
                dr = da_xn * a_hn[t, s, j]                               # (G7)
                da_r = dr * r * (one - r)                                # da^r   (G8)
                da_z = dz * z * (one - z)                                # da^z   (G8)
                d_ax[t, s, j] = da_r                                     # da^x_t = [da^r | da^z | da^xn]  (G8)
                d_ax[t, s, H + j] = da_z
                d_ax[t, s, 2 * H + j] = da_xn
                d_ah[t, s, j] = da_r                                     # da^h_t = [da^r | da^z | da^hn]  (G8)
                d_ah[t, s, H + j] = da_z
                d_ah[t, s, 2 * H + j] = da_xn * r                        # da^hn  (G7)
                direct[s - n0, j] = dh * z
        matmul_add_into(new_delta, direct, d_ah[t, n0:n1], w_hh, blas_small)  # δ_{t-1} = dh_t ⊙ z_t + da^h_t W_hh (G9)
        _pass_through(new_delta, delta, t, lengths, n0)       # (V2)
        delta, new_delta = new_delta, delta          # δ_{t-1} is the next step's δ; δ_t's array is free
    dh0[n0:n1] = delta                               # dh_0 = δ_0  (G9)


# ---------------------------------------------------------------------------
# Variable lengths: an ended sequence keeps its state (V1); its gradient passes back (V2).
# ---------------------------------------------------------------------------

@jit
def _freeze(state, t, lengths, n0, n1):
    """Sequences n0:n1 that ended before loop step t keep their state: ``state[t+1, s] = state[t, s]`` (V1)."""
    for s in range(n0, n1):
        if t >= lengths[s]:
            state[t + 1, s] = state[t, s]


@jit
def _pass_through(new_delta, delta, t, lengths, n0):
    """A frozen state is a copy, so its gradient passes back unchanged: ``δ_{t-1} = δ_t`` (V2).
    ``delta`` and ``new_delta`` hold batch rows n0, n0 + 1, ...: row r is sequence n0 + r."""
    for r in range(delta.shape[0]):
        if t >= lengths[n0 + r]:
            new_delta[r] = delta[r]
